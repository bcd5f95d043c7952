//! `rollcall import FILE --url …`: the file uploaded to `POST /api/v1/imports` (checked, nothing
//! created), then committed and its job followed at `GET /api/v1/jobs/{id}`.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::Method;
use rollcall_app::domain::Outcome;
use rollcall_app::domain::import::Issue;
use rollcall_app::onboarding::import::{Access, Commit, Summary};
use serde_json::{Value, json};

use crate::import::{ImportArgs, notifications};
use crate::invite::find;
use crate::output::{self, Output, s};
use crate::remote::Client;

/// Largest file one upload takes; `rollcall import` on the server takes any size.
const MAX_UPLOAD: u64 = 64 * 1024 * 1024;

pub async fn run(client: &Client, args: ImportArgs, out: Output) -> anyhow::Result<()> {
    let Some(file) = &args.file else {
        bail!("give the file: rollcall import FILE (or --template for the template)");
    };
    if args.inviter.is_some() {
        bail!("--inviter works on the server only: remote imports are made by the token");
    }
    client.check_org(args.org.as_deref()).await?;
    // Asked before the file is sent, so a wrong flag does not wait for a large upload.
    let commit = if args.dry_run {
        None
    } else {
        Some(commit_of(client, &args).await?)
    };
    let review = upload(client, file).await?;
    let summary: Summary = serde_json::from_value(review["summary"].clone())
        .context("the server's review is not what this version reads")?;
    if !out.json() {
        print_review(&review, &summary);
    }
    let Some(commit) = commit else {
        if out.json() {
            output::print_json(&json!({ "review": review }))?;
        } else {
            println!("Dry run: nothing was created.");
        }
        if summary.in_error > 0 {
            bail!(
                "{} rows are in error: fix them in the file, or they will not be imported",
                summary.in_error
            );
        }
        return Ok(());
    };
    if let Some(warning) = summary.ignored_access_columns(&commit.access) {
        eprintln!("warning: {warning}");
    }
    let path = format!("/imports/{}/commit", s(&review["import"], "id"));
    let committed = client.post(&path, &serde_json::to_value(&commit)?).await?;
    let job = follow(client, s(&committed["job"], "id")).await?;
    finish(&review, &job, out)
}

async fn upload(client: &Client, file: &std::path::Path) -> anyhow::Result<Value> {
    let body = if file.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        buf
    } else {
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    if body.len() as u64 > MAX_UPLOAD {
        bail!(
            "{} is larger than the 64 MB one upload takes: split it, or run `rollcall import` on the server",
            file.display()
        );
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "stdin.csv".into());
    eprintln!("Sending {name}…");
    let req = client
        .request(Method::POST, "/imports")
        .header("Content-Type", "text/csv")
        .header("X-File-Name", name)
        .body(body);
    client.send(req).await
}

/// The commit's choices, with names looked up in the server's reference lists.
async fn commit_of(client: &Client, args: &ImportArgs) -> anyhow::Result<Commit> {
    let access = if args.customize {
        Access::Customize
    } else if let Some(email) = &args.mirror {
        Access::Mirror {
            user_id: client.user_id(email).await?,
        }
    } else if let Some(names) = &args.roles {
        let roles = client.get("/roles").await?;
        let mut role_ids = Vec::new();
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            role_ids.push(find(&roles, name, "role")?.parse()?);
        }
        Access::Roles { role_ids }
    } else {
        bail!(
            "say how the imported people get their access: --roles \"Front Desk\", --mirror EMAIL or --customize (each row's own columns)"
        );
    };
    let location_id = match &args.location {
        None => None,
        Some(l) => Some(find(&client.get("/locations").await?, l, "location")?.parse()?),
    };
    Ok(Commit {
        access,
        location_id,
        send_at: args.send_at.clone(),
        notifications: notifications(&args.notify)?,
    })
}

fn print_review(review: &Value, s: &Summary) {
    println!(
        "{} rows read: {} can be imported, {} in error (never imported), {} with warnings.",
        s.rows,
        s.importable(),
        s.in_error,
        s.with_warnings
    );
    let rows = review["rows_in_error"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    for row in rows {
        let issues: Vec<Issue> = serde_json::from_value(row["issues"].clone()).unwrap_or_default();
        for i in issues.iter().filter(|i| i.is_error()) {
            let column = i.column.map(|c| format!(" {c}")).unwrap_or_default();
            println!("  line {}{column}: {}", row["line"], i.message);
        }
    }
    if s.in_error > rows.len() as i64 {
        println!(
            "  … and {} more rows in error (see them at {}).",
            s.in_error - rows.len() as i64,
            output::s(review, "rows_url")
        );
    }
}

/// Polls the job until it ends, drawing its progress on standard error.
async fn follow(client: &Client, id: &str) -> anyhow::Result<Value> {
    let tty = std::io::stderr().is_terminal();
    let mut last = -1;
    loop {
        let answer = client.get(&format!("/jobs/{id}")).await?;
        let job = &answer["job"];
        let percent = job["percent"].as_i64().unwrap_or(0);
        let finished = job["finished"].as_bool().unwrap_or(false);
        if percent / 10 != last / 10 || finished {
            let bar = format!(
                "{percent:>3}% {} / {} rows",
                job["done"].as_i64().unwrap_or(0),
                job["total"].as_i64().unwrap_or(0)
            );
            if tty {
                eprint!("\r{bar}");
            } else {
                eprintln!("{bar}");
            }
            let _ = std::io::stderr().flush();
            last = percent;
        }
        if finished {
            if tty {
                eprintln!();
            }
            return Ok(answer);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The job's outcome and the rows not imported; partly done when some were not.
fn finish(review: &Value, job: &Value, out: Output) -> anyhow::Result<()> {
    let outcome: Option<Outcome> = serde_json::from_value(job["outcome"].clone()).ok();
    if out.json() {
        output::print_json(&json!({ "review": review, "result": job }))?;
    } else {
        let label = outcome.map(|o| o.label()).unwrap_or("Finished");
        println!("{label}: {}", s(job, "message"));
        for n in job["not_imported"].as_array().into_iter().flatten() {
            println!(
                "  line {} {}: {}",
                n["line"],
                s(n, "email"),
                s(n, "message")
            );
        }
        if job["job"]["summary"]["created"].as_i64().unwrap_or(0) > 0 {
            println!("The server sends the invitations.");
        }
    }
    match outcome {
        Some(Outcome::Failed) => bail!("the import failed"),
        Some(Outcome::PartiallySucceeded) => {
            Err(crate::exit::Partly("some rows were not imported".into()).into())
        }
        _ => Ok(()),
    }
}
