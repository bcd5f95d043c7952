//! Audit retention: older events moved out of the live table into signed archive files, the
//! chain verified across the archives and the live table, and the organization's retention
//! period.
//!
//! An archive is JSON Lines: a header (organization, first and last sequence numbers, the hash
//! the first event follows and the hash the live chain continues from), every archived event
//! exactly as stored, chain hashes included, and a last line with an HMAC-SHA256 signature over
//! every byte before it. The signing key is kept in the database sealed under the operator's
//! secret key, never in the file: an archive proves its integrity for as long as that key is kept.
//!
//! `write` moves events into an archive, `check` reads archives back and joins them to the live
//! table, `retention` keeps the period and drops archives kept beyond it.

mod check;
mod retention;
mod write;

pub use check::{ArchiveCheck, ArchivesReport, ChainCheck, verify_with_archives};
pub use retention::{Expired, expire, kept_until, retention, set_retention};
pub use write::{Archived, archive};

use rollcall_domain::ValueError;
use rollcall_store::audit::{Event, NewEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::vault::Purpose;
use crate::{App, AppError};

/// The first line's `format`: what marks a file as an audit archive.
pub const FORMAT: &str = "rollcall-audit-archive";
const VERSION: u32 = 1;
/// The server key that signs archives.
const KEY_NAME: &str = "audit_archives";
const ALGORITHM: &str = "HMAC-SHA256";
const PAGE: u32 = 1_000;
/// The longest retention period accepted, in years.
pub const MAX_RETENTION_YEARS: u32 = 100;

/// The first line of an archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: String,
    pub version: u32,
    pub org_id: Uuid,
    /// The organization's short code when the archive was written.
    pub org: String,
    pub first_seq: i64,
    pub last_seq: i64,
    pub events: i64,
    /// The hash the first archived event follows (empty for the organization's first event).
    pub follows_hash: String,
    /// The hash of the last archived event: the live chain (or the next archive) continues
    /// from it.
    pub last_hash: String,
    /// RFC 3339, UTC.
    pub oldest_at: String,
    pub newest_at: String,
    /// The `--before` the archive was made with.
    pub before: String,
    pub created_at: String,
}

/// One archived event, exactly as the live table stored it (`at` in microseconds).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Line {
    seq: i64,
    id: Uuid,
    at: i64,
    actor_id: Option<Uuid>,
    actor_label: String,
    action: String,
    target_type: String,
    target_id: Option<Uuid>,
    before: Option<String>,
    after: Option<String>,
    request_id: Option<String>,
    source_ip: Option<String>,
    prev_hash: String,
    hash: String,
}

impl Line {
    fn of(e: &Event) -> Line {
        Line {
            seq: e.seq,
            id: e.id,
            at: e.at,
            actor_id: e.event.actor_id,
            actor_label: e.event.actor_label.clone(),
            action: e.event.action.clone(),
            target_type: e.event.target_type.clone(),
            target_id: e.event.target_id,
            before: e.event.before.clone(),
            after: e.event.after.clone(),
            request_id: e.event.request_id.clone(),
            source_ip: e.event.source_ip.clone(),
            prev_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }

    fn event(self) -> Event {
        Event {
            seq: self.seq,
            id: self.id,
            at: self.at,
            event: NewEvent {
                actor_id: self.actor_id,
                actor_label: self.actor_label,
                action: self.action,
                target_type: self.target_type,
                target_id: self.target_id,
                before: self.before,
                after: self.after,
                request_id: self.request_id,
                source_ip: self.source_ip,
            },
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

/// The last line of an archive.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Seal {
    /// Hex HMAC over every byte of the file before this line.
    signature: String,
    algorithm: String,
    /// The name of the server key that signed it.
    key: String,
}

fn bad_input(field: &'static str, code: &'static str, message: String) -> AppError {
    AppError::Invalid(ValueError::new(field, code, message))
}

fn io_error(what: String, e: std::io::Error) -> AppError {
    let why = match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::StorageFull => "the disk is full".to_string(),
        _ => e.to_string(),
    };
    AppError::Internal(format!("{what}: {why}"))
}

/// `--before`: a date (the start of that day in the organization's zone) or an RFC 3339 time,
/// in microseconds; never later than `now`.
fn parse_before(text: &str, zone: &str, now: i64) -> Result<i64, AppError> {
    let text = text.trim();
    let bad = || {
        bad_input(
            "before",
            "date_invalid",
            format!(
                "“{text}” is not a date: give --before as 2020-01-31 (the start of that day in the organization's time zone) or as 2020-01-31T00:00:00Z."
            ),
        )
    };
    let at = match crate::clock::instant(text) {
        Some(at) => at,
        None => {
            let date: jiff::civil::Date = text.parse().map_err(|_| bad())?;
            let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
            date.to_zoned(tz)
                .map_err(|_| bad())?
                .timestamp()
                .as_microsecond()
        }
    };
    if at > now {
        return Err(bad_input(
            "before",
            "date_in_future",
            format!(
                "--before {text} is in the future: only events already written can be archived; give a date up to today."
            ),
        ));
    }
    Ok(at)
}

/// The archives' signing key, made on first use; kept sealed under the operator's key, so a
/// copy of the database cannot sign a forged archive.
async fn signing_key(app: &App) -> Result<String, AppError> {
    let candidate = app.vault.seal(
        Purpose::AuditArchiveKey,
        crate::secret::new_token().as_bytes(),
    )?;
    let mut conn = app.db.write_conn().await?;
    let stored = rollcall_store::server_keys::get_or_create(
        &mut conn,
        KEY_NAME,
        &candidate,
        app.clock.now(),
    )
    .await?;
    app.vault.unseal_text(Purpose::AuditArchiveKey, &stored)
}

/// The archives' signing key, if one was ever made.
async fn existing_key(app: &App) -> Result<Option<String>, AppError> {
    let mut conn = app.db.read_conn().await?;
    rollcall_store::server_keys::get(&mut conn, KEY_NAME)
        .await?
        .map(|stored| app.vault.unseal_text(Purpose::AuditArchiveKey, &stored))
        .transpose()
}
