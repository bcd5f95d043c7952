//! `rollcall restore`: puts a checked backup in place of a stopped server's database.

use std::path::{Path, PathBuf};

use super::backup::{Report, check_file_named};
use super::lock::ServerLock;
use crate::AppError;

/// Checks `file` on a copy beside `db_path`, then moves the copy into place. Refuses while a
/// server holds the database, and refuses to replace an existing one without `force`; the
/// replaced database is kept beside it.
pub async fn restore(file: &Path, db_path: &Path, force: bool) -> Result<Report, AppError> {
    if !file.is_file() {
        return Err(AppError::NotFound(format!(
            "no file {}: give the path of a file `rollcall backup` wrote",
            file.display()
        )));
    }
    if let Some(dir) = db_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
    }
    let _lock = match ServerLock::take(db_path).map_err(|e| io("lock", db_path, e))? {
        Ok(lock) => lock,
        Err(held) => {
            return Err(AppError::Conflict(format!(
                "{} is live: {held}. Stop the server first (e.g. systemctl stop rollcall), then restore.",
                db_path.display()
            )));
        }
    };
    if db_path.exists() && !force {
        return Err(AppError::Conflict(format!(
            "{} already exists. Restoring replaces it: with the server stopped, add --force (the current database is kept beside it as a .replaced file).",
            db_path.display()
        )));
    }
    let copy = sibling(db_path, &format!("restoring-{}", super::stamp()));
    std::fs::copy(file, &copy).map_err(|e| io("copy", file, e))?;
    let report = match check_file_named(&copy, file).await {
        Ok(r) => r,
        Err(e) => {
            remove_with_sidecars(&copy);
            return Err(e);
        }
    };
    if db_path.exists() {
        let kept = sibling(db_path, &format!("replaced-{}", super::stamp()));
        move_with_sidecars(db_path, &kept)?;
        tracing::info!(kept = %kept.display(), "kept the replaced database");
    }
    move_with_sidecars(&copy, db_path)?;
    Ok(Report {
        path: db_path.to_path_buf(),
        ..report
    })
}

fn sibling(db_path: &Path, suffix: &str) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(format!(".{suffix}"));
    PathBuf::from(name)
}

/// The write-ahead log belongs to its database: it moves with it, never stays to be replayed
/// into another.
fn move_with_sidecars(from: &Path, to: &Path) -> Result<(), AppError> {
    std::fs::rename(from, to).map_err(|e| io("move", from, e))?;
    let wal = sibling_raw(from, "-wal");
    if wal.exists() {
        std::fs::rename(&wal, sibling_raw(to, "-wal")).map_err(|e| io("move", &wal, e))?;
    }
    let _ = std::fs::remove_file(sibling_raw(from, "-shm"));
    Ok(())
}

fn remove_with_sidecars(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(sibling_raw(path, suffix));
    }
}

fn sibling_raw(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn io(what: &str, path: &Path, e: std::io::Error) -> AppError {
    AppError::Internal(format!("cannot {what} {}: {e}", path.display()))
}
