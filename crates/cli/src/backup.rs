//! `rollcall backup` and `rollcall restore`: a checked online copy of the SQLite database, and
//! putting one back while the server is stopped.

use std::path::{Path, PathBuf};

use anyhow::bail;
use rollcall_app::App;
use rollcall_app::ops::Report;
use serde_json::json;

use crate::output::{self, Output};

pub async fn backup(app: &App, file: &Path, out: Output) -> anyhow::Result<()> {
    let report = rollcall_app::ops::backup(app, file).await?;
    show(&report, "Backed up to", out)
}

/// Restores into the SQLite database the global options name (`--data-dir` or a
/// `sqlite://` `--database-url`); PostgreSQL is restored with `pg_restore`.
pub async fn restore(
    file: &Path,
    data_dir: &Path,
    database_url: Option<&str>,
    force: bool,
    out: Output,
) -> anyhow::Result<()> {
    let db_path = match database_url {
        None => data_dir.join("rollcall.db"),
        Some(url) if url.starts_with("sqlite:") => sqlite_file(url),
        Some(_) => bail!(
            "the database is PostgreSQL: restore a pg_dump file with pg_restore, e.g. pg_restore --clean --if-exists --dbname \"$ROLLCALL_DATABASE_URL\" rollcall.dump"
        ),
    };
    let report = rollcall_app::ops::restore(file, &db_path, force).await?;
    show(&report, "Restored", out)?;
    if !out.json() {
        println!("Start the server (rollcall serve) to use it.");
    }
    Ok(())
}

fn sqlite_file(url: &str) -> PathBuf {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    PathBuf::from(rest.split('?').next().unwrap_or(rest))
}

fn show(r: &Report, done: &str, out: Output) -> anyhow::Result<()> {
    let c = &r.counts;
    if out.json() {
        return output::print_json(&json!({
            "path": r.path,
            "bytes": r.bytes,
            "schema_version": r.schema_version,
            "integrity": "ok",
            "audit_chains_intact": r.audit_chains,
            "counts": c,
        }));
    }
    println!(
        "{done} {} ({}, schema {}).",
        r.path.display(),
        size(r.bytes),
        r.schema_version
    );
    println!(
        "Checked: integrity ok; audit chains intact for {} organization(s).",
        r.audit_chains
    );
    println!(
        "Holds {} organization(s), {} users, {} invitations, {} outbox messages, {} audit events.",
        c.orgs, c.users, c.invitations, c.outbox, c.audit_events
    );
    Ok(())
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}
