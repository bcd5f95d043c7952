//! Reading archives back: each one's signature and chain, and how they join the live table.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use rollcall_store::audit::{self, Anchor, Verification};
use serde::Serialize;
use uuid::Uuid;

use super::*;
use crate::{App, AppError};
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
pub(super) fn read_archive(
    path: &Path,
    key: Option<&[u8]>,
) -> std::io::Result<Option<ArchiveCheck>> {
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
    let live = crate::audit::verify(app, org_slug).await?;
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

pub(super) fn file_name(p: &Path) -> String {
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
