//! Operating an installation: online backups and their checks, restores, the copy taken before
//! an upgrade, the lock a serving process holds on its SQLite file, and the figures `/metrics`
//! shows.

pub(crate) mod backup;
mod lock;
pub mod metrics;
mod restore;

pub use backup::{Report, backup, check_file, upgrade_backup_path};
pub use lock::{Held, ServerLock};
pub use restore::restore;

/// The newest schema version (migration) this binary carries.
pub fn schema_version() -> i64 {
    rollcall_store::latest_version()
}

/// Whether the database answers within two seconds: a process whose database does not is not
/// ready for traffic, however well it serves HTTP.
pub async fn database_answers(app: &crate::App) -> bool {
    let wait = std::time::Duration::from_secs(2);
    tokio::time::timeout(wait, rollcall_store::ops::answers(&app.db))
        .await
        .unwrap_or(false)
}

/// A timestamp for file names: `20261130T192500Z`.
fn stamp() -> String {
    jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}
