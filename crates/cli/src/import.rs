//! `rollcall import FILE`: the CSV import from the command line (streams files of any size),
//! and `rollcall jobs resume`: finishes the bulk jobs a stopped process left.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use rollcall_app::audit::Meta;
use rollcall_app::domain::{JobState, Outcome};
use rollcall_app::model::ImportFilter as Filter;
use rollcall_app::model::Job;
use rollcall_app::onboarding::import::{self, Access, Commit, Review, Summary};
use rollcall_app::{App, Principal};
use uuid::Uuid;

use crate::lookup;
use crate::output::{self, Output};

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The CSV file (see `rollcall import --template`); `-` reads standard input.
    pub(crate) file: Option<PathBuf>,
    /// The organization's short code (see `rollcall org list`).
    #[arg(long)]
    pub(crate) org: Option<String>,
    /// Check every row and print the review; create nothing. Exits non-zero when any row is in
    /// error, so a script can stop before the real import.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Give everyone these roles (names, comma-separated).
    #[arg(long, conflicts_with_all = ["mirror", "customize"])]
    pub(crate) roles: Option<String>,
    /// Give everyone the roles, permissions and locations of this user (email).
    #[arg(long, conflicts_with = "customize")]
    pub(crate) mirror: Option<String>,
    /// Use each row's own roles, permissions and locations columns.
    #[arg(long)]
    pub(crate) customize: bool,
    /// Primary location (code or name) of rows that name none.
    #[arg(long)]
    pub(crate) location: Option<String>,
    /// Send the invitations at this local time of the organization ("2026-12-01 09:00").
    #[arg(long)]
    pub(crate) send_at: Option<String>,
    /// Notification preference every imported person starts with, as category:medium
    /// (repeat the flag for more).
    #[arg(long = "notify")]
    pub(crate) notify: Vec<String>,
    /// The address of the user who imports: the invitations name them, and they may grant only
    /// what they hold [default: the operator, and the invitations name the organization only].
    #[arg(long)]
    pub(crate) inviter: Option<String>,
    /// Print the template's header and example rows, and exit.
    #[arg(long)]
    pub template: bool,
}

pub async fn run(app: &App, args: ImportArgs, operator: &Meta, out: Output) -> anyhow::Result<()> {
    let (Some(file), Some(org)) = (&args.file, &args.org) else {
        bail!(
            "give the file and the organization: rollcall import FILE --org SLUG (or --template for the template)"
        );
    };
    let org = rollcall_app::org::find(app, org).await?;
    let (who, meta) = lookup::actor(app, &org, args.inviter.as_deref(), operator).await?;
    let operator = &meta;
    // Asked before the file is read, so a wrong flag does not wait for a large file.
    let access = if args.dry_run {
        None
    } else {
        Some(access_of(app, &who, &args).await?)
    };
    let location_id = match &args.location {
        None => None,
        Some(l) => Some(rollcall_app::org::find_location(app, &who, l).await?.id),
    };

    let job = upload(app, &who, file, operator).await?;
    let review = import::review(app, &who, job.id, Filter::Errors, -1, Some(100)).await?;
    if !out.json() {
        print_review(&review);
    }
    let summary = review.summary.clone();
    let Some(access) = access else {
        if out.json() {
            output::print_json(&serde_json::json!({ "review": review }))?;
        }
        return end_dry_run(&summary, out);
    };
    if let Some(warning) = summary.ignored_access_columns(&access) {
        eprintln!("warning: {warning}");
    }
    let commit = Commit {
        access,
        location_id,
        send_at: args.send_at.clone(),
        notifications: notifications(&args.notify)?,
    };
    let job = import::commit(app, &who, job.id, &commit, operator).await?;
    let job = follow(app, &who, job.id).await?;
    if out.json() {
        let result = json_result(app, &who, &job).await?;
        output::print_json(&serde_json::json!({ "review": review, "result": result }))?;
    }
    finish(&job, out)
}

/// A finished import as `GET /api/v1/jobs/{id}` answers it.
async fn json_result(app: &App, who: &Principal, job: &Job) -> anyhow::Result<serde_json::Value> {
    let (outcome, message) = import::run::outcome_of(job);
    let not_imported = import::run::not_imported(app, who, job.id, 100).await?;
    Ok(serde_json::json!({
        "job": rollcall_app::jobs::JobView::from(job),
        "outcome": outcome,
        "message": message,
        "not_imported": not_imported,
    }))
}

/// Stages the file (`-` is standard input) as an import job whose rows are checked.
async fn upload(
    app: &App,
    who: &Principal,
    file: &std::path::Path,
    operator: &Meta,
) -> anyhow::Result<Job> {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "stdin".into());
    eprintln!("Reading {name}…");
    if file.as_os_str() == "-" {
        let stdin = std::io::BufReader::new(std::io::stdin());
        return Ok(import::upload(app, who, stdin, &name, None, operator).await?);
    }
    let f = std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    import::upload(
        app,
        who,
        std::io::BufReader::with_capacity(1 << 20, f),
        &name,
        None,
        operator,
    )
    .await
    .with_context(|| file.display().to_string())
}

/// A dry run fails when rows are in error, so that a script stops before the real import.
fn end_dry_run(summary: &Summary, out: Output) -> anyhow::Result<()> {
    if !out.json() {
        println!("Dry run: nothing was created.");
    }
    if summary.in_error > 0 {
        bail!(
            "{} rows are in error: fix them in the file, or they will not be imported",
            summary.in_error
        );
    }
    Ok(())
}

/// The `--notify category:medium` flags as (category, medium) pairs.
pub(crate) fn notifications(flags: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    flags
        .iter()
        .map(|n| {
            n.split_once(':')
                .map(|(c, m)| (c.trim().to_string(), m.trim().to_string()))
                .with_context(|| {
                    format!("--notify “{n}”: write category:medium, e.g. schedule:email")
                })
        })
        .collect()
}

async fn access_of(app: &App, who: &Principal, args: &ImportArgs) -> anyhow::Result<Access> {
    if args.customize {
        return Ok(Access::Customize);
    }
    if let Some(email) = &args.mirror {
        let user = rollcall_app::users::list::find_by_email(app, who, email)
            .await?
            .with_context(|| format!("no user with the address “{email}” to mirror"))?;
        return Ok(Access::Mirror { user_id: user });
    }
    let Some(names) = &args.roles else {
        bail!(
            "say how the imported people get their access: --roles \"Front Desk\", --mirror EMAIL or --customize (each row's own columns)"
        );
    };
    let mut role_ids = Vec::new();
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        role_ids.push(
            rollcall_app::access::roles::find_by_name(app, who, name)
                .await?
                .id,
        );
    }
    Ok(Access::Roles { role_ids })
}

fn print_review(review: &Review) {
    let s = &review.summary;
    println!(
        "{} rows read: {} can be imported, {} in error (never imported), {} with warnings.",
        s.rows,
        s.importable(),
        s.in_error,
        s.with_warnings
    );
    for row in review.rows.iter().take(20) {
        for i in row.issues.iter().filter(|i| i.is_error()) {
            let column = i.column.map(|c| format!(" {c}")).unwrap_or_default();
            println!("  line {}{column}: {}", row.line, i.message);
        }
    }
    let shown = review.rows.len().min(20) as i64;
    if review.matching > shown {
        println!(
            "  … and {} more rows in error (see the review at /import/{}).",
            review.matching - shown,
            review.job.id
        );
    }
}

/// Waits for a job, drawing its progress on standard error.
pub async fn follow(app: &App, who: &Principal, id: Uuid) -> anyhow::Result<Job> {
    let tty = std::io::stderr().is_terminal();
    let mut last_percent = -1;
    loop {
        let job = rollcall_app::jobs::get(app, who, id).await?;
        let percent = rollcall_app::jobs::percent_done(&job);
        if percent != last_percent || job.is_finished() {
            let width = 30;
            let filled = (percent * width / 100) as usize;
            let bar = format!(
                "[{}{}] {percent:>3}% {} / {} rows",
                "=".repeat(filled),
                " ".repeat(width as usize - filled),
                job.done,
                job.total
            );
            if tty {
                eprint!("\r{bar}");
            } else if percent / 10 != last_percent / 10 || job.is_finished() {
                eprintln!("{bar}");
            }
            let _ = std::io::stderr().flush();
            last_percent = percent;
        }
        if job.is_finished() {
            if tty {
                eprintln!();
            }
            return Ok(job);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prints a finished job's outcome, whatever its kind; fails when the job failed and ends
/// "partly done" when some rows were not imported.
fn finish(job: &Job, out: Output) -> anyhow::Result<()> {
    let outcome = rollcall_app::jobs::kinds::outcome_of(job);
    if !out.json() {
        if let Some((outcome, sentence)) = &outcome {
            println!("{}: {sentence}", outcome.label());
        }
        if Summary::of(job).created > 0 {
            println!("Invitations go out while `rollcall serve` runs.");
        }
    }
    if job.state == JobState::Failed {
        bail!("the import failed");
    }
    match outcome {
        Some((Outcome::PartiallySucceeded, _)) => {
            Err(crate::exit::Partly("some rows were not imported".into()).into())
        }
        _ => Ok(()),
    }
}

/// `rollcall jobs resume`: takes over the unfinished jobs whose runner stopped (once their
/// lease has run out) and waits until they are done.
pub async fn resume(app: &App, out: Output) -> anyhow::Result<()> {
    let orphans = rollcall_app::jobs::kinds::take_over_orphans(app).await?;
    if orphans.is_empty() && !out.json() {
        println!("No unfinished job is waiting to be resumed.");
    }
    let mut jobs = Vec::new();
    for (org_id, id) in &orphans {
        eprintln!("Resuming job {id}…");
        let who = Principal::operator(app, *org_id, "operator").await?;
        jobs.push(follow(app, &who, *id).await?);
    }
    if out.json() {
        let docs: Vec<serde_json::Value> = jobs
            .iter()
            .map(|job| {
                let (outcome, message) = rollcall_app::jobs::kinds::outcome_of(job).unzip();
                serde_json::json!({
                    "job": rollcall_app::jobs::JobView::from(job),
                    "outcome": outcome,
                    "message": message,
                })
            })
            .collect();
        output::print_json(&serde_json::Value::Array(docs))?;
    }
    // Every job is reported before the first one that did not fully succeed ends the command.
    for job in &jobs {
        finish(job, out)?;
    }
    Ok(())
}
