//! Audit retention: older events moved out of the live table into signed archive files, the
//! chain verified across the archives and the live table, and the organization's retention
//! period.
//!
//! An archive is JSON Lines: a header (organization, first and last sequence numbers, the hash
//! the first event follows and the hash the live chain continues from), every archived event
//! exactly as stored, chain hashes included, and a last line with an HMAC-SHA256 signature over
//! every byte before it. The signing key is a server key kept in the database, never in the
//! file: an archive proves its integrity for as long as that key is kept.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use rollcall_domain::{Capability, ValueError};
use rollcall_store::audit::{self, Anchor, Event, NewEvent, Verification};
use rollcall_store::orgs::{self, MIN_AUDIT_RETENTION_YEARS, Organization};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Meta;
use crate::clock::rfc3339;
use crate::vault::Purpose;
use crate::{App, AppError, Principal};

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

/// What `archive` did.
#[derive(Debug, Clone, Serialize)]
pub struct Archived {
    pub org: String,
    pub org_name: String,
    pub file: PathBuf,
    pub first_seq: i64,
    pub last_seq: i64,
    pub events: i64,
    /// Events still in the live table.
    pub live: i64,
    /// The archive file was already written by an earlier run that stopped before removing the
    /// events from the live table; this run finished it.
    pub finished_earlier_file: bool,
}

/// Moves the organization's events older than `before` (the unbroken run from its oldest live
/// event) into a new signed archive `file`, then removes them from the live table.
///
/// The file is written beside its final name, flushed to disk, put in place without replacing
/// anything and read back and checked before one transaction removes the events and moves the
/// organization's anchor. A run stopped between the two leaves both the file and the events; run
/// again with the same file to finish.
#[tracing::instrument(skip_all, fields(org = org_slug))]
pub async fn archive(
    app: &App,
    org_slug: &str,
    before: &str,
    file: &Path,
    meta: &Meta,
) -> Result<Archived, AppError> {
    let org = crate::org::find(app, org_slug).await?;
    let now = app.clock.now();
    let before_at = parse_before(before, &org.time_zone, now)?;
    let anchor = {
        let mut conn = app.db.read_conn().await?;
        audit::anchor(&mut conn, org.id).await?
    }
    .unwrap_or_else(Anchor::start);
    if file.exists() || file.is_symlink() {
        let key = existing_key(app).await?;
        return finish_earlier(app, &org, file, &anchor, key.as_deref(), meta).await;
    }
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(bad_input(
            "file",
            "directory_missing",
            format!(
                "{} is not an existing directory: create it first, or give a file in a directory that exists.",
                dir.display()
            ),
        ));
    }
    let Some(name) = file.file_name().map(|n| n.to_string_lossy().to_string()) else {
        return Err(bad_input(
            "file",
            "file_invalid",
            format!("{} is not a file name.", file.display()),
        ));
    };

    let last = {
        let mut conn = app.db.read_conn().await?;
        audit::last_older_than(&mut conn, org.id, anchor.seq, before_at).await?
    };
    let Some(last) = last else {
        return Err(AppError::Conflict(format!(
            "No event of {} older than {before} is left in the live table: nothing to archive. Give a later --before date.",
            org.name
        )));
    };
    let first_seq = anchor.seq + 1;

    // Made the first time an archive is written; every later archive is signed with it too.
    let key = signing_key(app).await?;
    let partial = dir.join(format!(".{name}.partial-{}", rollcall_store::new_id()));
    let written = write(app, &org, &anchor, &last, before_at, now, &key, &partial).await;
    // A link cannot replace a file that appeared meanwhile; where the file system has no links,
    // a rename after checking the name is still free.
    let placed = written.and_then(|()| match std::fs::hard_link(&partial, file) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists || file.exists() => {
            Err(AppError::Conflict(format!(
                "{} already exists: give a new file name (an archive is never overwritten).",
                file.display()
            )))
        }
        Err(_) => std::fs::rename(&partial, file)
            .map_err(|e| io_error(format!("cannot write {}", file.display()), e)),
    });
    let _ = std::fs::remove_file(&partial);
    placed?;
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }

    // Read back what is on disk before anything leaves the live table.
    let check = read_archive(file, Some(key.as_bytes())).map_err(|e| {
        io_error(
            format!("cannot read back {} after writing it", file.display()),
            e,
        )
    })?;
    let sound = check.as_ref().is_some_and(|c| {
        c.problems.is_empty()
            && c.header.as_ref().is_some_and(|h| {
                h.org_id == org.id && h.first_seq == first_seq && h.last_hash == last.hash
            })
    });
    if !sound {
        let _ = std::fs::remove_file(file);
        return Err(AppError::Internal(format!(
            "{} did not read back as written (a disk or file system fault?): it was removed and no event was archived.",
            file.display()
        )));
    }
    remove_from_live(app, &org, file, first_seq, &last, meta, false).await
}

/// An existing `file`: an archive an earlier run wrote but did not finish (its events are all
/// still live) is finished; anything else is refused.
async fn finish_earlier(
    app: &App,
    org: &Organization,
    file: &Path,
    anchor: &Anchor,
    key: Option<&str>,
    meta: &Meta,
) -> Result<Archived, AppError> {
    let exists = || {
        AppError::Conflict(format!(
            "{} already exists: give a new file name (an archive is never overwritten).",
            file.display()
        ))
    };
    if !file.is_file() {
        return Err(exists());
    }
    let Some(key) = key else {
        return Err(exists());
    };
    let Ok(Some(check)) = read_archive(file, Some(key.as_bytes())) else {
        return Err(exists());
    };
    let Some(h) = check.header.filter(|_| check.problems.is_empty()) else {
        return Err(exists());
    };
    if h.org_id != org.id {
        return Err(exists());
    }
    if h.last_seq <= anchor.seq {
        return Err(AppError::Conflict(format!(
            "{} already exists and holds events {}–{} of {}, which are already archived: give a new file name for the next archive.",
            file.display(),
            h.first_seq,
            h.last_seq,
            org.name
        )));
    }
    if h.first_seq != anchor.seq + 1 || h.follows_hash != anchor.hash {
        return Err(exists());
    }
    let last = {
        let mut conn = app.db.read_conn().await?;
        audit::range(&mut conn, org.id, h.last_seq - 1, h.last_seq, 1)
            .await?
            .pop()
    };
    match last {
        Some(last) if last.hash == h.last_hash => {
            remove_from_live(app, org, file, h.first_seq, &last, meta, true).await
        }
        _ => Err(exists()),
    }
}

/// Writes the archive of events `anchor.seq + 1 ..= last.seq` to `path`, checking the chain as
/// it goes, and flushes it to disk.
#[allow(clippy::too_many_arguments)]
async fn write(
    app: &App,
    org: &Organization,
    anchor: &Anchor,
    last: &Event,
    before_at: i64,
    now: i64,
    key: &str,
    path: &Path,
) -> Result<(), AppError> {
    let cannot = |e: std::io::Error| {
        let dir = parent_of(path);
        match e.kind() {
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                bad_input(
                    "file",
                    "directory_unwritable",
                    format!(
                        "Cannot write in {}: permission denied. Give a directory the user running rollcall can write to.",
                        dir.display()
                    ),
                )
            }
            _ => io_error(format!("cannot write in {}", dir.display()), e),
        }
    };
    let f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(cannot)?;
    let mut out = Signed::new(BufWriter::new(f), key);
    let mut conn = app.db.read_conn().await?;
    let first = audit::range(&mut conn, org.id, anchor.seq, last.seq, 1)
        .await?
        .pop()
        .ok_or_else(|| AppError::Internal("the events to archive were removed meanwhile".into()))?;
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        org_id: org.id,
        org: org.slug.clone(),
        first_seq: anchor.seq + 1,
        last_seq: last.seq,
        events: last.seq - anchor.seq,
        follows_hash: anchor.hash.clone(),
        last_hash: last.hash.clone(),
        oldest_at: rfc3339(first.at),
        newest_at: rfc3339(last.at),
        before: rfc3339(before_at),
        created_at: rfc3339(now),
    };
    out.line(&header).map_err(cannot)?;
    let (mut expected, mut prev) = (anchor.seq + 1, anchor.hash.clone());
    while expected <= last.seq {
        let page = audit::range(&mut conn, org.id, expected - 1, last.seq, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for e in page {
            if e.seq != expected || e.prev_hash != prev || e.computed_hash() != e.hash {
                return Err(AppError::Conflict(format!(
                    "Event {} of {} does not verify, so nothing was archived: run `rollcall audit verify --org {}` and settle the damage first.",
                    expected.min(e.seq),
                    org.name,
                    org.slug
                )));
            }
            out.line(&Line::of(&e)).map_err(cannot)?;
            prev = e.hash;
            expected += 1;
        }
    }
    if expected != last.seq + 1 {
        return Err(AppError::Conflict(format!(
            "Events {expected}–{} of {} are missing from the live table, so nothing was archived: run `rollcall audit verify --org {}`.",
            last.seq, org.name, org.slug
        )));
    }
    out.seal().map_err(cannot)
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A file being written whose every byte goes into its signature.
struct Signed {
    out: BufWriter<File>,
    mac: ring::hmac::Context,
}

impl Signed {
    fn new(out: BufWriter<File>, key: &str) -> Signed {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
        Signed {
            out,
            mac: ring::hmac::Context::with_key(&key),
        }
    }

    fn line<T: Serialize>(&mut self, value: &T) -> std::io::Result<()> {
        let mut bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        self.mac.update(&bytes);
        self.out.write_all(&bytes)
    }

    fn seal(self) -> std::io::Result<()> {
        let Signed { mut out, mac } = self;
        let seal = Seal {
            signature: hex::encode(mac.sign().as_ref()),
            algorithm: ALGORITHM.into(),
            key: KEY_NAME.into(),
        };
        let mut bytes = serde_json::to_vec(&seal).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        out.write_all(&bytes)?;
        let f = out.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()
    }
}

async fn remove_from_live(
    app: &App,
    org: &Organization,
    file: &Path,
    first_seq: i64,
    last: &Event,
    meta: &Meta,
    finished_earlier_file: bool,
) -> Result<Archived, AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    if !audit::remove_archived(&mut tx, org.id, first_seq, last, now).await? {
        drop(tx);
        return Err(AppError::Conflict(format!(
            "The live trail of {} changed while {} was written (another archive ran at the same time?), so no event was removed: delete {} and run the command again.",
            org.name,
            file.display(),
            file.display()
        )));
    }
    let events = last.seq - first_seq + 1;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    audit::append(
        &mut tx,
        org.id,
        now,
        &[meta.change::<(), _>(
            "audit.archived",
            "organization",
            Some(org.id),
            None,
            Some(&serde_json::json!({
                "file": name,
                "first_seq": first_seq,
                "last_seq": last.seq,
                "events": events,
                "last_hash": last.hash,
            })),
        )],
    )
    .await?;
    tx.commit().await?;
    let live = {
        let mut conn = app.db.read_conn().await?;
        let (head, _) = audit::head(&mut conn, org.id).await?;
        head - last.seq
    };
    Ok(Archived {
        org: org.slug.clone(),
        org_name: org.name.clone(),
        file: file.to_path_buf(),
        first_seq,
        last_seq: last.seq,
        events,
        live,
        finished_earlier_file,
    })
}

/// What reading one archive file found.
#[derive(Debug, Clone, Serialize)]
pub struct ArchiveCheck {
    pub file: PathBuf,
    /// `None` when the header is damaged.
    pub header: Option<Header>,
    /// The events the file holds, in order.
    pub events: i64,
    /// Each problem in a sentence that names the event where there is one.
    pub problems: Vec<String>,
}

/// Reads and checks one file: `None` when it is not an audit archive at all. The signature is
/// checked with `key` (`None`: this installation never signed an archive).
fn read_archive(path: &Path, key: Option<&[u8]>) -> std::io::Result<Option<ArchiveCheck>> {
    let mut input = BufReader::new(File::open(path)?);
    let mut raw = Vec::new();
    input.read_until(b'\n', &mut raw)?;
    let Ok(first) = serde_json::from_slice::<serde_json::Value>(&raw) else {
        return Ok(None);
    };
    if first.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Ok(None);
    }
    let mac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.unwrap_or_default());
    let mut mac = ring::hmac::Context::with_key(&mac_key);
    mac.update(&raw);
    let mut check = ArchiveCheck {
        file: path.to_path_buf(),
        header: None,
        events: 0,
        problems: Vec::new(),
    };
    let header = match serde_json::from_value::<Header>(first) {
        Ok(h) if h.version == VERSION => Some(h),
        Ok(h) => {
            check.problems.push(format!(
                "format version {} is not one this version of Rollcall reads",
                h.version
            ));
            return Ok(Some(check));
        }
        Err(_) => {
            check
                .problems
                .push("the header (first line) was changed or damaged".into());
            None
        }
    };
    let (mut expected, mut prev) = match &header {
        Some(h) => (h.first_seq, Some(h.follows_hash.clone())),
        None => (0, None),
    };
    let mut last_hash = None;
    let mut seal = None;
    let mut line_no = 1;
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw)? == 0 {
            break;
        }
        line_no += 1;
        if seal.is_some() {
            if !raw.iter().all(u8::is_ascii_whitespace) {
                check.problems.push(format!(
                    "line {line_no}: text was added after the signature"
                ));
                break;
            }
            continue;
        }
        let value: Option<serde_json::Value> = serde_json::from_slice(&raw).ok();
        if let Some(v) = value.as_ref().filter(|v| v.get("signature").is_some()) {
            match serde_json::from_value::<Seal>(v.clone()) {
                Ok(s) => seal = Some(s),
                Err(_) => check
                    .problems
                    .push(format!("line {line_no}: the signature line is damaged")),
            }
            if seal.is_none() {
                break;
            }
            continue;
        }
        mac.update(&raw);
        let Some(line) = value.and_then(|v| serde_json::from_value::<Line>(v).ok()) else {
            check.problems.push(format!(
                "line {line_no} (event {expected}): not an audit event as Rollcall writes them (edited or damaged)"
            ));
            expected += 1;
            prev = None;
            continue;
        };
        let e = line.event();
        check.events += 1;
        if header.is_some() && e.seq != expected {
            check.problems.push(format!(
                "event {}: found where event {expected} belongs (events were removed or reordered)",
                e.seq
            ));
        }
        if prev.as_ref().is_some_and(|p| *p != e.prev_hash) {
            check.problems.push(format!(
                "event {}: does not follow the event before it",
                e.seq
            ));
        }
        if e.computed_hash() != e.hash {
            check.problems.push(format!(
                "event {}: content was changed after it was written",
                e.seq
            ));
        }
        expected = e.seq + 1;
        prev = Some(e.hash.clone());
        last_hash = Some(e.hash);
    }
    match (&seal, key) {
        (None, _) => check.problems.push(
            "the signature line is missing: the file is incomplete or was cut short".into(),
        ),
        (Some(_), None) => check.problems.push(
            "the signature cannot be checked: this installation never signed an archive (verify on the installation that wrote it)".into(),
        ),
        (Some(s), Some(_)) => {
            let tag = mac.sign();
            let same = hex::decode(&s.signature).is_ok_and(|sig| {
                crate::secret::same(&hex::encode(tag.as_ref()), &hex::encode(sig))
            });
            if s.algorithm != ALGORITHM || !same {
                check.problems.push(
                    "the signature does not match: the file was changed after it was signed, or another installation signed it".into(),
                );
            }
        }
    }
    if let Some(h) = &header
        && (check.events != h.events
            || expected != h.last_seq + 1
            || last_hash.as_deref() != Some(h.last_hash.as_str()))
    {
        check.problems.push(format!(
            "the header says events {}–{} ({} events) but the file holds {} events ending at event {}",
            h.first_seq,
            h.last_seq,
            h.events,
            check.events,
            expected - 1
        ));
    }
    check.header = header;
    Ok(Some(check))
}

/// One organization's chain checked across its archives and the live table.
#[derive(Debug, Clone, Serialize)]
pub struct ChainCheck {
    pub org: String,
    pub org_id: Uuid,
    /// The live table from its anchor.
    #[serde(skip)]
    pub live: Verification,
    /// The organization's archives in DIR, oldest first.
    pub archives: Vec<ArchiveCheck>,
    /// Where archives and the live table do not join: gaps, overlaps, a broken link.
    pub joins: Vec<String>,
    pub retention_years: u32,
    /// Events dropped after the retention period (the first ones, up to this sequence number).
    pub dropped: i64,
}

impl ChainCheck {
    pub fn intact(&self) -> bool {
        self.live.breaks.is_empty()
            && self.joins.is_empty()
            && self.archives.iter().all(|a| a.problems.is_empty())
    }

    /// Events held by the archives in DIR.
    pub fn archived_events(&self) -> i64 {
        self.archives.iter().map(|a| a.events).sum()
    }
}

/// What `verify --archives DIR` found.
#[derive(Debug, Clone, Serialize)]
pub struct ArchivesReport {
    pub orgs: Vec<ChainCheck>,
    /// Files in DIR that are not audit archives.
    pub skipped: Vec<PathBuf>,
}

/// Checks every organization's chain (or one) across the archives in `dir` and the live table:
/// each archive's signature and inner chain, and that the archives and the live table join
/// without gap or overlap from the first event to the newest.
pub async fn verify_with_archives(
    app: &App,
    org_slug: Option<&str>,
    dir: &Path,
) -> Result<ArchivesReport, AppError> {
    if !dir.is_dir() {
        return Err(bad_input(
            "archives",
            "directory_missing",
            format!(
                "{} is not a directory: give --archives the directory that holds the archive files.",
                dir.display()
            ),
        ));
    }
    let live = super::verify(app, org_slug).await?;
    let key = existing_key(app).await?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io_error(format!("cannot read {}", dir.display()), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    let mut archives = Vec::new();
    let mut skipped = Vec::new();
    for path in entries {
        match read_archive(&path, key.as_deref().map(str::as_bytes)) {
            Ok(Some(check)) => archives.push(check),
            Ok(None) => skipped.push(path),
            Err(e) => return Err(io_error(format!("cannot read {}", path.display()), e)),
        }
    }
    let mut conn = app.db.read_conn().await?;
    let mut orgs_out = Vec::new();
    for (slug, live) in live {
        let org = crate::org::find_org(&mut conn, &slug).await?;
        let anchor = audit::anchor(&mut conn, org.id).await?;
        let mut own: Vec<ArchiveCheck> = archives
            .iter()
            .filter(|a| a.header.as_ref().is_some_and(|h| h.org_id == org.id))
            .cloned()
            .collect();
        own.sort_by_key(|a| a.header.as_ref().map(|h| h.first_seq));
        let joins = joins(&own, anchor.as_ref());
        orgs_out.push(ChainCheck {
            org: slug,
            org_id: org.id,
            live,
            archives: own,
            joins,
            retention_years: org.settings.audit_retention_years,
            dropped: anchor.map_or(0, |a| a.dropped_seq),
        });
    }
    // An archive whose header is damaged belongs to no organization: say so once, for all.
    let orphans: Vec<ArchiveCheck> = archives
        .into_iter()
        .filter(|a| a.header.is_none())
        .collect();
    if !orphans.is_empty()
        && let Some(first) = orgs_out.first_mut()
    {
        first.archives.extend(orphans);
    }
    Ok(ArchivesReport {
        orgs: orgs_out,
        skipped,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| p.display().to_string())
}

/// Where the archives (sorted by first event) and the live table's anchor do not join.
fn joins(archives: &[ArchiveCheck], anchor: Option<&Anchor>) -> Vec<String> {
    let mut problems = Vec::new();
    let (mut expected, mut prev) = match anchor {
        Some(a) => (a.dropped_seq + 1, a.dropped_hash.clone()),
        None => (1, String::new()),
    };
    for a in archives {
        let Some(h) = &a.header else { continue };
        if h.last_seq < expected - 1 || (h.last_seq == expected - 1 && h.last_hash == prev) {
            // Dropped after the retention period: the file may still be around.
            continue;
        }
        let name = file_name(&a.file);
        if h.first_seq > expected {
            problems.push(format!(
                "events {expected}–{} are in no archive in this directory: an archive was deleted or moved (the archive before {name} is missing)",
                h.first_seq - 1
            ));
        } else if h.first_seq < expected {
            problems.push(format!(
                "{name} repeats events {}–{} that another archive holds",
                h.first_seq,
                h.last_seq.min(expected - 1)
            ));
            if h.last_seq < expected {
                continue;
            }
        } else if h.follows_hash != prev {
            problems.push(format!(
                "{name} does not continue the chain from event {}: its first event follows another hash",
                h.first_seq - 1
            ));
        }
        expected = h.last_seq + 1;
        prev = h.last_hash.clone();
    }
    let archived = anchor.map_or(0, |a| a.seq);
    let anchor_hash = anchor.map(|a| a.hash.as_str()).unwrap_or("");
    if expected - 1 < archived {
        problems.push(format!(
            "events {expected}–{archived} were archived but are in no archive in this directory: an archive was deleted or moved"
        ));
    } else if expected - 1 > archived {
        problems.push(format!(
            "events {}–{} are in an archive and still in the live table: an archive run did not finish; run `rollcall audit archive` again with the same file to finish it",
            archived + 1,
            expected - 1
        ));
    } else if prev != anchor_hash {
        problems.push(format!(
            "the live table does not continue from the last archive: event {archived} in the archives has another hash than the one the live table continues from"
        ));
    }
    problems
}

/// The retention period of the organization, in years.
pub async fn retention(app: &App, who: &Principal) -> Result<u32, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let org = orgs::get(&mut conn, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    Ok(org.settings.audit_retention_years)
}

/// Sets how many years audit events are kept (6 to 100); returns the previous period.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn set_retention(
    app: &App,
    who: &Principal,
    years: u32,
    meta: &Meta,
) -> Result<u32, AppError> {
    who.require(Capability::ManageSettings)?;
    if !(MIN_AUDIT_RETENTION_YEARS..=MAX_RETENTION_YEARS).contains(&years) {
        return Err(bad_input(
            "years",
            "retention_range",
            format!(
                "Audit events are kept {MIN_AUDIT_RETENTION_YEARS} to {MAX_RETENTION_YEARS} years ({MIN_AUDIT_RETENTION_YEARS} is what HIPAA requires, 45 CFR 164.316(b)(2)): give --years between {MIN_AUDIT_RETENTION_YEARS} and {MAX_RETENTION_YEARS}."
            ),
        ));
    }
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let org = orgs::get(&mut tx, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let before = org.settings.audit_retention_years;
    if before != years {
        let mut after = org.settings.clone();
        after.audit_retention_years = years;
        orgs::update_settings(&mut tx, org.id, &after).await?;
        audit::append(
            &mut tx,
            org.id,
            now,
            &[meta.change(
                "org.audit_retention_changed",
                "organization",
                Some(org.id),
                Some(&serde_json::json!({ "audit_retention_years": before })),
                Some(&serde_json::json!({ "audit_retention_years": years })),
            )],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(before)
}

/// The instant an archive's newest event has been kept `years`, in microseconds.
fn kept_until_at(header: &Header, years: u32) -> Option<i64> {
    let newest: jiff::Timestamp = header.newest_at.parse().ok()?;
    let until = newest
        .to_zoned(jiff::tz::TimeZone::UTC)
        .checked_add(jiff::Span::new().years(i64::from(years)))
        .ok()?;
    Some(until.timestamp().as_microsecond())
}

/// What `expire` did, oldest archive first.
#[derive(Debug, Clone, Serialize)]
pub struct Expired {
    pub org: String,
    pub org_name: String,
    pub retention_years: u32,
    /// Archives dropped: file, first and last sequence numbers.
    pub dropped: Vec<(PathBuf, i64, i64)>,
    /// The oldest archive kept (younger than the retention period) and the day it may go.
    pub kept: Option<(PathBuf, String)>,
}

/// Drops the organization's oldest archives in `dir` whose newest event is older than the
/// retention period: records how far events were dropped (so the chain still verifies from
/// there), audits it, then deletes the files. Nothing is dropped unless the whole chain —
/// archives and live table — verifies; events still in the live table are never dropped, nor is
/// an archive younger than the period, nor one after a kept one.
#[tracing::instrument(skip_all, fields(org = org_slug))]
pub async fn expire(
    app: &App,
    org_slug: &str,
    dir: &Path,
    meta: &Meta,
) -> Result<Expired, AppError> {
    let org = crate::org::find(app, org_slug).await?;
    let report = verify_with_archives(app, Some(org_slug), dir).await?;
    let Some(chain) = report.orgs.into_iter().next() else {
        return Err(AppError::not_found("organization"));
    };
    if !chain.intact() {
        return Err(AppError::Conflict(format!(
            "The audit trail of {} does not verify, so nothing was dropped: run `rollcall audit verify --org {} --archives {}` and settle its problems first.",
            org.name,
            org.slug,
            dir.display()
        )));
    }
    let years = org.settings.audit_retention_years;
    let mut out = Expired {
        org: org.slug.clone(),
        org_name: org.name.clone(),
        retention_years: years,
        dropped: Vec::new(),
        kept: None,
    };
    let mut dropped_seq = chain.dropped;
    for a in &chain.archives {
        let Some(h) = &a.header else { continue };
        if h.last_seq <= dropped_seq {
            continue;
        }
        let now = app.clock.now();
        match kept_until_at(h, years) {
            Some(until) if until <= now => {}
            _ => {
                out.kept = Some((a.file.clone(), kept_until(h, years).unwrap_or_default()));
                break;
            }
        }
        let mut tx = app.db.begin().await?;
        if !audit::record_dropped(&mut tx, org.id, dropped_seq, h.last_seq, &h.last_hash, now)
            .await?
        {
            return Err(AppError::Conflict(format!(
                "The archives of {} changed while they were being dropped (another run?): run the command again.",
                org.name
            )));
        }
        audit::append(
            &mut tx,
            org.id,
            now,
            &[meta.change::<(), _>(
                "audit.archive_dropped",
                "organization",
                Some(org.id),
                None,
                Some(&serde_json::json!({
                    "file": file_name(&a.file),
                    "first_seq": h.first_seq,
                    "last_seq": h.last_seq,
                    "newest_at": h.newest_at,
                    "retention_years": years,
                })),
            )],
        )
        .await?;
        tx.commit().await?;
        std::fs::remove_file(&a.file).map_err(|e| {
            io_error(
                format!(
                    "events {}–{} are recorded as dropped but {} could not be deleted; delete it by hand",
                    h.first_seq,
                    h.last_seq,
                    a.file.display()
                ),
                e,
            )
        })?;
        dropped_seq = h.last_seq;
        out.dropped.push((a.file.clone(), h.first_seq, h.last_seq));
    }
    Ok(out)
}

/// The day an archive's events may be dropped: its newest event's time plus the retention
/// period, as a UTC date.
pub fn kept_until(header: &Header, years: u32) -> Option<String> {
    let until = jiff::Timestamp::from_microsecond(kept_until_at(header, years)?).ok()?;
    Some(until.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
}
