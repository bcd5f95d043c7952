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
    /// Check the hash chain; exits non-zero if any event was edited or deleted.
    Verify {
        /// Only this organization (short code).
        #[arg(long)]
        org: Option<String>,
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

pub async fn audit_verify(app: &App, command: AuditCommand, out: Output) -> anyhow::Result<()> {
    let AuditCommand::Verify { org } = command;
    let results = rollcall_app::audit::verify(app, org.as_deref()).await?;
    let broken = results.iter().any(|(_, v)| !v.breaks.is_empty());
    let doc = results
        .iter()
        .map(|(slug, v)| {
            let breaks: Vec<Value> = v
                .breaks
                .iter()
                .map(|b| json!({ "seq": b.seq, "problem": b.problem.to_string() }))
                .collect();
            json!({ "org": slug, "checked": v.checked, "intact": breaks.is_empty(), "problems": breaks })
        })
        .collect();
    say(out, Value::Array(doc), || {
        for (slug, v) in &results {
            if v.breaks.is_empty() {
                println!("{slug}: {} events, chain intact", v.checked);
                continue;
            }
            println!(
                "{slug}: {} events checked, {} problems:",
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
