//! Rollcall's storage: one query layer for SQLite and PostgreSQL.
//!
//! Functions take a connection or transaction (`&mut Conn`) so a use case composes them into one
//! transaction. The store holds no rules: it reads and writes what the app layer decided.

mod db;
mod migrate;
mod sql;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub mod access;
pub mod api_tokens;
pub mod audit;
pub mod codes;
pub mod compliance;
pub mod directory;
pub mod drafts;
pub mod emergency;
pub mod idempotency;
pub mod imports;
pub mod inactivity;
pub mod invitations;
pub mod jobs;
pub mod lease;
pub mod locations;
pub mod mailbox;
pub mod oidc;
pub mod ops;
pub mod orgs;
pub mod outbox;
pub mod profiles;
pub mod rate_counters;
pub mod rate_paces;
pub mod reviews;
pub mod roles;
pub mod scim;
pub mod sealed;
pub mod seats;
pub mod server_keys;
pub mod sessions;
pub mod taxonomy;
pub mod users;
pub mod webhooks;

#[cfg(test)]
mod tests;

pub use db::{Conn, Db, Engine, Tx};
#[cfg(any(test, feature = "testing"))]
pub use migrate::migrate_with;
pub use migrate::{MigrationFailed, latest_version, migrate, pending};
pub use sql::{List, Sql};
pub use sqlx::Error as SqlxError;

use rollcall_domain::Permission;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    #[error("{0}")]
    Config(String),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Migration(#[from] MigrationFailed),
}

impl StoreError {
    /// The name of the unique constraint a write violated, if that is why it failed.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Sqlx(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Microseconds since the Unix epoch: the one time representation in storage.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

pub(crate) fn parse_id(s: &str) -> Result<Uuid> {
    Uuid::parse_str(s).map_err(|_| StoreError::Corrupt(format!("bad id “{s}”")))
}

/// Rows of two ids, e.g. (organization, user) of the people a round has to handle.
pub(crate) fn id_pairs(rows: &[sqlx::any::AnyRow]) -> Result<Vec<(Uuid, Uuid)>> {
    use sqlx::Row;
    rows.iter()
        .map(|r| {
            let first: String = r.try_get(0)?;
            let second: String = r.try_get(1)?;
            Ok((parse_id(&first)?, parse_id(&second)?))
        })
        .collect()
}

pub(crate) fn parse_opt_id(s: Option<String>) -> Result<Option<Uuid>> {
    s.as_deref().map(parse_id).transpose()
}

/// A domain value read from `table.column`. Only valid values are ever written, so one that
/// does not parse means the data is corrupt.
pub(crate) fn parse_stored<T, E>(
    table: &str,
    column: &str,
    stored: String,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T> {
    parse(&stored).map_err(|_| StoreError::Corrupt(format!("{table}.{column} holds “{stored}”")))
}

/// The permission a stored key names, if this version knows it. A key it does not know (retired,
/// or written by a newer version) grants nothing here, so readers skip it rather than fail.
pub(crate) fn known_permission(key: &str) -> Option<Permission> {
    Permission::parse(key).ok()
}

/// SHA-256 in hex: tokens are stored only as their hash.
pub fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}
