//! `rollcall backup`: an online copy of the SQLite database, checked before it is called good;
//! the check a restore makes of a file first; and the copy taken before an upgrade.

use std::path::{Path, PathBuf};

use rollcall_store::ops::{self, Counts};
use rollcall_store::{Db, Engine, StoreError};
use serde::Serialize;

use crate::{App, AppError};

/// What a checked copy holds.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub path: PathBuf,
    pub bytes: u64,
    pub schema_version: i64,
    pub counts: Counts,
    /// Organizations whose audit chain was verified, and their events.
    pub audit_chains: usize,
}

pub(crate) const PG_DUMP: &str = "This database is PostgreSQL: back it up with pg_dump, e.g. \
    pg_dump --format=custom --file rollcall.dump \"$ROLLCALL_DATABASE_URL\", and restore it with \
    pg_restore (see the README's “Running in production”).";

/// Copies the database to `dest` while the server goes on serving, then checks the copy.
pub async fn backup(app: &App, dest: &Path) -> Result<Report, AppError> {
    if app.db.engine() == Engine::Postgres {
        return Err(AppError::Conflict(PG_DUMP.into()));
    }
    if dest.exists() {
        return Err(AppError::Conflict(format!(
            "{} already exists: a backup never replaces a file. Choose a new name, e.g. rollcall-{}.db",
            dest.display(),
            super::stamp()
        )));
    }
    if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(AppError::Conflict(format!(
            "cannot write {}: the directory {} does not exist",
            dest.display(),
            dir.display()
        )));
    }
    ops::vacuum_into(&app.db, &dest.to_string_lossy()).await?;
    match check_file(dest).await {
        Ok(report) => Ok(report),
        Err(e) => {
            let _ = std::fs::remove_file(dest);
            Err(AppError::Internal(format!(
                "the copy failed its check and was removed: {e}"
            )))
        }
    }
}

/// Opens a copy and checks it: SQLite's integrity check, a schema this binary knows, and every
/// organization's audit chain (the check `rollcall audit verify` makes). Opening it may turn
/// it to WAL mode, so it is given a file Rollcall owns (a fresh backup, or a restore's copy).
pub async fn check_file(path: &Path) -> Result<Report, AppError> {
    check_file_named(path, path).await
}

/// [`check_file`] of a working copy, its messages naming the file the operator gave.
pub(crate) async fn check_file_named(path: &Path, shown: &Path) -> Result<Report, AppError> {
    check_header(path, shown)?;
    let unreadable = |e: StoreError| {
        let reason = match &e {
            StoreError::Config(text) => text.clone(),
            other => other.to_string(),
        };
        AppError::Conflict(format!(
            "{} is not a usable Rollcall backup: SQLite cannot read it ({reason}). Choose a file `rollcall backup` wrote.",
            shown.display()
        ))
    };
    let url = format!("sqlite://{}?mode=rw", path.display());
    let db = Db::connect(&url).await.map_err(unreadable)?;
    let checked = check_open(&db, path, shown).await;
    db.close().await;
    match checked {
        Err(AppError::Store(e)) => Err(unreadable(e)),
        other => other,
    }
}

/// A file that does not start as a SQLite database does is refused before SQLite opens it.
fn check_header(path: &Path, shown: &Path) -> Result<(), AppError> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head));
    if read.is_err() || &head != b"SQLite format 3\0" {
        return Err(AppError::Conflict(format!(
            "{} is not a Rollcall backup: it is not a SQLite database (damaged, truncated, or another kind of file). Choose a file `rollcall backup` wrote.",
            shown.display()
        )));
    }
    Ok(())
}

async fn check_open(db: &Db, path: &Path, shown: &Path) -> Result<Report, AppError> {
    let mut conn = db.read_conn().await?;
    let problems = ops::integrity_problems(&mut conn).await?;
    if let Some(first) = problems.first() {
        return Err(AppError::Conflict(format!(
            "{} is damaged: SQLite's integrity check found {} problem(s), the first: {first}. Use another backup.",
            shown.display(),
            problems.len()
        )));
    }
    let Some(version) = ops::schema_version(&mut conn).await? else {
        return Err(AppError::Conflict(format!(
            "{} is a SQLite database but not Rollcall's (it has no schema versions). Choose a file `rollcall backup` wrote.",
            shown.display()
        )));
    };
    let known = super::schema_version();
    if version > known {
        return Err(AppError::Conflict(format!(
            "{} was written by a newer Rollcall (schema {version}; this binary knows up to {known}). Restore it with that version or a later one.",
            shown.display()
        )));
    }
    let counts = ops::counts(&mut conn).await?;
    let chains = crate::audit::verify_on(&mut conn, None).await?;
    if let Some((slug, v)) = chains.iter().find(|(_, v)| !v.breaks.is_empty()) {
        let b = &v.breaks[0];
        return Err(AppError::Conflict(format!(
            "{}: the audit trail of {slug} is broken at event {} ({}). Use another backup.",
            shown.display(),
            b.seq,
            b.problem
        )));
    }
    Ok(Report {
        path: path.to_path_buf(),
        bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        schema_version: version,
        counts,
        audit_chains: chains.len(),
    })
}

/// Where the copy taken before applying migration `version` to `db_path` goes.
pub fn upgrade_backup_path(db_path: &Path, version: i64) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(format!(".pre-{version:04}.{}.bak", super::stamp()));
    PathBuf::from(name)
}

/// Copies a SQLite database that has migrations to apply, beside itself; `None` when there is
/// nothing to apply (or it is a new database, or PostgreSQL, which `pg_dump` backs up).
pub(crate) async fn before_upgrade(db: &Db) -> Result<Option<PathBuf>, AppError> {
    let Some(db_path) = db.sqlite_path() else {
        return Ok(None);
    };
    let pending = rollcall_store::pending(db).await?;
    let Some((first, _)) = pending.first() else {
        return Ok(None);
    };
    let dest = upgrade_backup_path(&db_path, *first);
    ops::vacuum_into(db, &dest.to_string_lossy()).await?;
    tracing::info!(backup = %dest.display(), migrations = pending.len(), "copied the database before upgrading it");
    Ok(Some(dest))
}

/// A failed migration's error, with where the copy from before the upgrade is.
pub(crate) fn upgrade_failed(e: StoreError, backup: Option<&Path>) -> AppError {
    let StoreError::Migration(failed) = e else {
        return e.into();
    };
    let copy = match backup {
        Some(p) => format!(
            " A copy of the database from before the upgrade is at {} (`rollcall restore {} --force` puts it back).",
            p.display(),
            p.display()
        ),
        None => " No copy was taken before the upgrade (--no-backup-before-migrate).".into(),
    };
    AppError::Internal(format!(
        "{failed}. The database is as the previous migration left it.{copy}"
    ))
}
