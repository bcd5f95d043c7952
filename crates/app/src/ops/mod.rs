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

/// A timestamp for file names: `20261130T192500Z`.
fn stamp() -> String {
    jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}
