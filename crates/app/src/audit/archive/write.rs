//! Writing an archive: the events moved out of the live table into a signed file, safely.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use rollcall_store::audit::{self, Anchor, Event};
use rollcall_store::orgs::Organization;
use serde::Serialize;

use super::check::read_archive;
use super::*;
use crate::audit::Meta;
use crate::clock::rfc3339;
use crate::{App, AppError};
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
