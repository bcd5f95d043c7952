//! The operator's commands on the server's database: organizations, locations, company
//! admins, seats, the audit chain and the taxonomy list. Each says what it did in a sentence, or
//! in one JSON document with `--output json`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Subcommand;
use rollcall_app::App;
use rollcall_app::audit::Meta;
use serde_json::{Value, json};

use crate::lookup;
use crate::output::{self, Output};

#[derive(Subcommand)]
pub enum SeatsCommand {
    /// Show the seats of an organization: total, in use, free.
    Show {
        /// The organization's short code.
        #[arg(long)]
        org: String,
    },
    /// Set the number of seats of a product.
    Set {
        /// The organization's short code.
        #[arg(long)]
        org: String,
        /// The licensed product.
        #[arg(long, default_value = "portal")]
        product: String,
        /// How many accounts may hold a seat (pending, expired and active users).
        seats: i64,
    },
}

#[derive(Subcommand)]
pub enum TaxonomyCommand {
    /// Load the NUCC code list (the CSV file as published, or `code,name` lines), replacing the
    /// organization's current list. A file with any bad row loads nothing.
    Load {
        /// The CSV file; `-` reads standard input.
        file: PathBuf,
        /// The organization's short code.
        #[arg(long)]
        org: String,
    },
}

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organization with the predefined roles.
    Create {
        /// Short code used at sign-in, e.g. riverside-therapy.
        slug: String,
        /// The name people see, e.g. "Riverside Therapy".
        #[arg(long)]
        name: String,
        /// IANA time zone.
        #[arg(long, default_value = "America/Chicago")]
        time_zone: String,
    },
    /// List organizations.
    List,
}

#[derive(Subcommand)]
pub enum LocationCommand {
    /// Add a location.
    Create {
        /// The organization's short code.
        #[arg(long)]
        org: String,
        /// The clinic's name, e.g. "Downtown Clinic".
        #[arg(long)]
        name: String,
        /// A short code for files and commands, e.g. DT.
        #[arg(long)]
        code: String,
    },
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a company admin and print a one-time set-up link.
    Create {
        /// The organization's short code.
        #[arg(long)]
        org: String,
        /// The admin's email address; they sign in with it.
        #[arg(long)]
        email: String,
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; exits non-zero if any event was edited or deleted. With
    /// --archives, also checks every archive file in DIR (signature and chain) and that the
    /// archives and the live table join without gap.
    Verify {
        /// Only this organization (short code).
        #[arg(long)]
        org: Option<String>,
        /// The directory holding the files `rollcall audit archive` wrote.
        #[arg(long, value_name = "DIR")]
        archives: Option<PathBuf>,
    },
    /// Move the events older than --before out of the live table into a new signed archive
    /// FILE (JSON Lines). The file is written, flushed and checked before the events are
    /// removed; run again with the same FILE to finish a run that stopped in between.
    Archive {
        /// The organization's short code (may be left out when there is only one).
        #[arg(long)]
        org: Option<String>,
        /// Archive events written before this date: 2020-01-31 (the start of that day in the
        /// organization's time zone) or an RFC 3339 time such as 2020-01-31T00:00:00Z.
        #[arg(long, value_name = "DATE")]
        before: String,
        /// The archive file to write; it must not exist.
        file: PathBuf,
    },
    /// Drop (delete) the oldest archives in DIR whose events have all been kept the retention
    /// period. Nothing is dropped unless the whole chain verifies; events still in the live
    /// table and younger archives are never dropped.
    Expire {
        /// The organization's short code (may be left out when there is only one).
        #[arg(long)]
        org: Option<String>,
        /// The directory holding the organization's archive files.
        #[arg(long, value_name = "DIR")]
        archives: PathBuf,
    },
    /// Show how many years the organization keeps audit events (6 by default), or change it.
    Retention {
        /// The organization's short code (may be left out when there is only one).
        #[arg(long)]
        org: Option<String>,
        /// The new retention period in years (6 to 100).
        #[arg(long)]
        years: Option<u32>,
    },
}

/// A sentence for people, or the JSON document for scripts.
fn say(out: Output, doc: Value, sentence: impl FnOnce()) -> anyhow::Result<()> {
    if out.json() {
        return output::print_json(&doc);
    }
    sentence();
    Ok(())
}

pub async fn org(
    app: &App,
    command: OrgCommand,
    operator: &Meta,
    out: Output,
) -> anyhow::Result<()> {
    match command {
        OrgCommand::Create {
            slug,
            name,
            time_zone,
        } => {
            let org =
                rollcall_app::org::create_org(app, &slug, &name, &time_zone, operator).await?;
            let doc = json!({ "code": org.slug, "name": org.name, "time_zone": org.time_zone });
            say(out, doc, || {
                println!(
                    "Created organization “{}” (code {}). Next: rollcall location create --org {} --name … --code …",
                    org.name, org.slug, org.slug
                )
            })
        }
        OrgCommand::List => {
            let orgs = rollcall_app::org::list(app).await?;
            let doc = orgs
                .iter()
                .map(|o| json!({ "code": o.slug, "name": o.name, "time_zone": o.time_zone }))
                .collect();
            say(out, Value::Array(doc), || {
                for o in &orgs {
                    println!("{}\t{}\t{}", o.slug, o.name, o.time_zone);
                }
            })
        }
    }
}

pub async fn location(
    app: &App,
    command: LocationCommand,
    operator: &Meta,
    out: Output,
) -> anyhow::Result<()> {
    let LocationCommand::Create { org, name, code } = command;
    let who = lookup::operator(app, &org, operator).await?;
    let loc = rollcall_app::org::create_location(app, &who, &name, &code, operator).await?;
    let doc = json!({ "id": loc.id, "code": loc.code, "name": loc.name });
    say(out, doc, || {
        println!(
            "Added location “{}” ({}) to {}.",
            loc.name, loc.code, who.org_name
        )
    })
}

pub async fn admin_create(
    app: &App,
    command: AdminCommand,
    explicit_public_url: bool,
    operator: &Meta,
    out: Output,
) -> anyhow::Result<()> {
    let AdminCommand::Create {
        org,
        email,
        first_name,
        last_name,
    } = command;
    let org = rollcall_app::org::find(app, &org).await?;
    let (user, token) =
        rollcall_app::org::create_admin(app, &org, &email, &first_name, &last_name, operator)
            .await?;
    let link = format!("{}/register/{token}", app.config.public_url);
    let days = org.settings.invitation_days;
    let doc =
        json!({ "id": user.id, "email": user.email, "set_up_link": link, "valid_days": days });
    say(out, doc, || {
        println!("Created company admin {} in {}.", user.email, org.name);
        println!("One-time set-up link (valid {days} days):");
        println!("  {link}");
        if !explicit_public_url {
            println!(
                "If people reach the console at another address, put it in place of {} (or give --public-url).",
                app.config.public_url
            );
        }
    })
}

pub async fn audit(
    app: &App,
    command: AuditCommand,
    operator: &Meta,
    out: Output,
) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify {
            org,
            archives: None,
        } => audit_verify(app, org.as_deref(), out).await,
        AuditCommand::Verify {
            org,
            archives: Some(dir),
        } => audit_verify_archives(app, org.as_deref(), &dir, out).await,
        AuditCommand::Archive { org, before, file } => {
            let org = one_org(app, org).await?;
            let done =
                rollcall_app::audit::archive::archive(app, &org, &before, &file, operator).await?;
            let doc = json!({
                "org": done.org,
                "file": done.file,
                "first_seq": done.first_seq,
                "last_seq": done.last_seq,
                "archived": done.events,
                "live": done.live,
                "finished_earlier_run": done.finished_earlier_file,
            });
            say(out, doc, || {
                if done.finished_earlier_file {
                    println!(
                        "{} was already written by an earlier run; its events are now removed from the live table.",
                        done.file.display()
                    );
                }
                println!(
                    "Archived events {}–{} of {} ({}) to {}; {} in the live table.",
                    done.first_seq,
                    done.last_seq,
                    done.org_name,
                    count(done.events, "event"),
                    done.file.display(),
                    match done.live {
                        1 => "1 event remains".to_string(),
                        n => format!("{n} events remain"),
                    }
                );
                let dir = match done.file.parent() {
                    Some(p) if !p.as_os_str().is_empty() => p.display().to_string(),
                    _ => ".".into(),
                };
                println!(
                    "Keep the file with the other archives: check them all with `rollcall audit verify --org {} --archives {dir}`.",
                    done.org
                );
            })
        }
        AuditCommand::Expire { org, archives } => {
            let org = one_org(app, org).await?;
            let done = rollcall_app::audit::archive::expire(app, &org, &archives, operator).await?;
            let doc = json!({
                "org": done.org,
                "retention_years": done.retention_years,
                "dropped": done.dropped.iter().map(|(f, a, b)| json!({ "file": f, "first_seq": a, "last_seq": b })).collect::<Vec<_>>(),
                "kept": done.kept.as_ref().map(|(f, until)| json!({ "file": f, "kept_until": until })),
            });
            say(out, doc, || {
                for (f, a, b) in &done.dropped {
                    println!(
                        "Dropped {} (events {a}–{b}): kept the {} years {} requires.",
                        f.display(),
                        done.retention_years,
                        done.org_name
                    );
                }
                if done.dropped.is_empty() {
                    println!(
                        "Nothing was dropped: no archive of {} has been kept {} years yet.",
                        done.org_name, done.retention_years
                    );
                }
                if let Some((f, until)) = &done.kept {
                    println!(
                        "{} is kept until {until} ({} years after its newest event).",
                        f.display(),
                        done.retention_years
                    );
                }
            })
        }
        AuditCommand::Retention { org, years } => {
            let org = one_org(app, org).await?;
            let who = lookup::operator(app, &org, operator).await?;
            match years {
                None => {
                    let years = rollcall_app::audit::archive::retention(app, &who).await?;
                    let doc = json!({ "org": org, "audit_retention_years": years });
                    say(out, doc, || {
                        println!("{} keeps audit events {years} years.", who.org_name)
                    })
                }
                Some(years) => {
                    let was =
                        rollcall_app::audit::archive::set_retention(app, &who, years, operator)
                            .await?;
                    let doc =
                        json!({ "org": org, "audit_retention_years": years, "previous": was });
                    say(out, doc, || {
                        println!(
                            "{} now keeps audit events {years} years (was {was}).",
                            who.org_name
                        )
                    })
                }
            }
        }
    }
}

/// `1 event`, `2 events`.
fn count(n: i64, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

/// `--org`, or the installation's only organization when it is left out.
async fn one_org(app: &App, org: Option<String>) -> anyhow::Result<String> {
    if let Some(org) = org {
        return Ok(org);
    }
    let orgs = rollcall_app::org::list(app).await?;
    match orgs.as_slice() {
        [only] => Ok(only.slug.clone()),
        [] => bail!("there is no organization yet: create one with `rollcall org create`"),
        _ => bail!(
            "this installation has {} organizations: say which with --org CODE (`rollcall org list` shows them)",
            orgs.len()
        ),
    }
}

async fn audit_verify(app: &App, org: Option<&str>, out: Output) -> anyhow::Result<()> {
    let results = rollcall_app::audit::verify(app, org).await?;
    let broken = results.iter().any(|(_, v)| !v.breaks.is_empty());
    let doc = results
        .iter()
        .map(|(slug, v)| {
            let breaks: Vec<Value> = v
                .breaks
                .iter()
                .map(|b| json!({ "seq": b.seq, "problem": b.problem.to_string() }))
                .collect();
            json!({ "org": slug, "checked": v.checked, "archived": v.archived, "intact": breaks.is_empty(), "problems": breaks })
        })
        .collect();
    say(out, Value::Array(doc), || {
        for (slug, v) in &results {
            let archived = match v.archived {
                0 => String::new(),
                n => format!(" ({n} older events are archived: check them with --archives DIR)"),
            };
            if v.breaks.is_empty() {
                println!("{slug}: {} events, chain intact{archived}", v.checked);
                continue;
            }
            println!(
                "{slug}: {} events checked, {} problems{archived}:",
                v.checked,
                v.breaks.len()
            );
            for b in &v.breaks {
                println!("  event {}: {}", b.seq, b.problem);
            }
        }
    })?;
    if broken {
        bail!("the audit trail was tampered with");
    }
    Ok(())
}

async fn audit_verify_archives(
    app: &App,
    org: Option<&str>,
    dir: &std::path::Path,
    out: Output,
) -> anyhow::Result<()> {
    use rollcall_app::audit::archive::kept_until;
    let report = rollcall_app::audit::archive::verify_with_archives(app, org, dir).await?;
    let name = |p: &std::path::Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| p.display().to_string())
    };
    let doc = report
        .orgs
        .iter()
        .map(|c| {
            let archives: Vec<Value> = c
                .archives
                .iter()
                .map(|a| {
                    json!({
                        "file": a.file,
                        "first_seq": a.header.as_ref().map(|h| h.first_seq),
                        "last_seq": a.header.as_ref().map(|h| h.last_seq),
                        "events": a.events,
                        "kept_until": a.header.as_ref().and_then(|h| kept_until(h, c.retention_years)),
                        "intact": a.problems.is_empty(),
                        "problems": a.problems,
                    })
                })
                .collect();
            let live: Vec<Value> = c
                .live
                .breaks
                .iter()
                .map(|b| json!({ "seq": b.seq, "problem": b.problem }))
                .collect();
            json!({
                "org": c.org,
                "intact": c.intact(),
                "live_events": c.live.checked,
                "archived_events": c.archived_events(),
                "archives": archives,
                "joins": c.joins,
                "dropped_through_seq": c.dropped,
                "live_problems": live,
            })
        })
        .collect();
    say(out, Value::Array(doc), || {
        for c in &report.orgs {
            if c.intact() {
                println!(
                    "{}: chain intact across {} ({}) and the live table ({})",
                    c.org,
                    count(c.archives.len() as i64, "archive"),
                    count(c.archived_events(), "event"),
                    count(c.live.checked, "event")
                );
            } else {
                println!(
                    "{}: {} archived and {} live checked; the chain does not verify:",
                    c.org,
                    count(c.archived_events(), "event"),
                    count(c.live.checked, "event")
                );
            }
            for a in &c.archives {
                let file = name(&a.file);
                match &a.header {
                    Some(h) if a.problems.is_empty() => println!(
                        "  archive {file}: events {}–{}, signature valid, may be dropped after {} ({} years)",
                        h.first_seq,
                        h.last_seq,
                        kept_until(h, c.retention_years).unwrap_or_default(),
                        c.retention_years
                    ),
                    _ => {
                        for p in &a.problems {
                            println!("  archive {file}: {p}");
                        }
                    }
                }
            }
            if c.dropped > 0 {
                println!(
                    "  events 1–{} were dropped after the retention period",
                    c.dropped
                );
            }
            for j in &c.joins {
                println!("  {j}");
            }
            for b in &c.live.breaks {
                println!("  live event {}: {}", b.seq, b.problem);
            }
        }
        for s in &report.skipped {
            println!("(skipped {}: not an audit archive)", name(s));
        }
    })?;
    if report.orgs.iter().any(|c| !c.intact()) {
        bail!("the audit trail does not verify: see the problems above");
    }
    Ok(())
}

pub async fn seats(
    app: &App,
    command: SeatsCommand,
    operator: &Meta,
    out: Output,
) -> anyhow::Result<()> {
    match command {
        SeatsCommand::Show { org } => {
            let who = lookup::operator(app, &org, operator).await?;
            let seats = rollcall_app::org::settings_view(app, &who).await?.seats;
            let doc = seats
                .iter()
                .map(|(product, s)| {
                    json!({ "product": product, "total": s.total, "used": s.used, "free": s.free() })
                })
                .collect();
            say(out, Value::Array(doc), || {
                for (product, s) in &seats {
                    println!(
                        "{product}: {} seats, {} in use, {} free",
                        s.total,
                        s.used,
                        s.free()
                    );
                }
            })
        }
        SeatsCommand::Set {
            org,
            product,
            seats,
        } => {
            let who = lookup::operator(app, &org, operator).await?;
            rollcall_app::org::set_seats(app, &who, &product, seats, operator).await?;
            let doc = json!({ "product": product, "total": seats });
            say(out, doc, || {
                println!("{}: {product} has {seats} seats.", who.org_name)
            })
        }
    }
}

pub async fn taxonomy_load(
    app: &App,
    command: TaxonomyCommand,
    operator: &Meta,
    out: Output,
) -> anyhow::Result<()> {
    let TaxonomyCommand::Load { file, org } = command;
    let who = lookup::operator(app, &org, operator).await?;
    let loaded = if file.as_os_str() == "-" {
        rollcall_app::org::taxonomy::load(app, &who, std::io::stdin().lock(), operator).await?
    } else {
        let f = std::fs::File::open(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        rollcall_app::org::taxonomy::load(app, &who, std::io::BufReader::new(f), operator)
            .await
            .with_context(|| file.display().to_string())?
    };
    let doc = json!({ "loaded": loaded.count, "replaced": loaded.replaced });
    say(out, doc, || {
        let replaced = match loaded.replaced {
            0 => String::new(),
            n => format!(" (replacing the previous list of {n})"),
        };
        println!(
            "Loaded {} taxonomy codes into {}{replaced}.",
            loaded.count, who.org_name
        );
    })
}
