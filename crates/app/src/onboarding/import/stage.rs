//! Reading a file: every row checked alone, against the rest of the file (by digest, so memory
//! stays bounded) and against the organization, and staged for review in batches.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rollcall_domain::import::{Checked, Column, Issue, RawRow, RowError, check_row};
use rollcall_domain::{Capability, JobKind, JobState, ValueError};
use rollcall_store::imports::{self, StagedRow};
use rollcall_store::jobs::{self, Job};
use rollcall_store::{Conn, audit};
use uuid::Uuid;

use super::plan::*;
use crate::audit::Meta;
use crate::{App, AppError, Principal};

/// Stages rows for review: each row is checked alone, against the rest of the batch and against
/// the organization; nothing but the import's own record is written. Returns the import's job
/// (state `validated`).
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn stage(
    app: &App,
    who: &Principal,
    kind: JobKind,
    label: &str,
    rows: impl Iterator<Item = Result<RawRow, RowError>> + Send,
    meta: &Meta,
) -> Result<Job, AppError> {
    who.require(Capability::BulkAdd)?;
    let ctx = {
        let mut conn = app.db.read_conn().await?;
        Context::load(&mut conn, who.org_id, app.clock.now()).await?
    };
    let mut job = insert_draft(app, who, kind).await?;
    let mut summary = Summary {
        label: label.to_string(),
        ..Summary::default()
    };
    let mut stager = Stager::new(&ctx, who);
    let mut batch: Vec<Result<RawRow, RowError>> = Vec::with_capacity(CHUNK);
    let mut seq = 0i64;
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        batch.extend(rows.by_ref().take(CHUNK));
        // A file too large or unreadable stops the whole import: nothing of it is kept.
        if let Some(fatal) = fatal_error(&batch) {
            abandon(app, job.id, &mut summary, &fatal.issue.message).await?;
            return Err(file_refused(&fatal));
        }
        let staged = {
            let mut conn = app.db.read_conn().await?;
            stager
                .check_batch(&mut conn, &mut batch, seq, &mut summary)
                .await?
        };
        seq += staged.len() as i64;
        let mut tx = app.db.begin().await?;
        imports::insert(&mut tx, job.id, &staged).await?;
        tx.commit().await?;
    }
    summary.user_types = stager.types.into_iter().collect();
    mark_validated(app, who, &mut job, &summary, meta).await?;
    Ok(job)
}

/// The import's record, a draft until its rows are staged.
async fn insert_draft(app: &App, who: &Principal, kind: JobKind) -> Result<Job, AppError> {
    let now = app.clock.now();
    let job = Job {
        id: rollcall_store::new_id(),
        org_id: who.org_id,
        kind,
        actor_id: who.user_ref(),
        idempotency_key: None,
        state: JobState::Draft,
        total: 0,
        done: 0,
        summary: "{}".into(),
        created_at: now,
        updated_at: now,
    };
    let mut tx = app.db.begin().await?;
    jobs::insert(&mut tx, &job, "{}").await?;
    tx.commit().await?;
    Ok(job)
}

/// The first error of a batch that stops the whole file.
fn fatal_error(batch: &[Result<RawRow, RowError>]) -> Option<RowError> {
    batch.iter().find_map(|r| match r {
        Err(e) if FATAL.contains(&e.issue.code.as_str()) => Some(e.clone()),
        _ => None,
    })
}

/// Ends an import still under review as failed, its staged rows dropped: the batch it held was
/// refused as a whole, so nothing is left waiting for a commit that would fail.
pub(crate) async fn withdraw(app: &App, job: &Job, reason: &str) -> Result<(), AppError> {
    abandon(app, job.id, &mut Summary::of(job), reason).await
}

/// Drops the rows staged so far and ends the import failed, with the reason in its summary.
async fn abandon(
    app: &App,
    job_id: Uuid,
    summary: &mut Summary,
    reason: &str,
) -> Result<(), AppError> {
    let mut tx = app.db.begin().await?;
    imports::delete(&mut tx, job_id).await?;
    summary.error = Some(reason.to_string());
    jobs::finish(
        &mut tx,
        job_id,
        JobState::Failed,
        &serde_json::to_string(&summary).expect("summary serializes"),
        app.clock.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The answer to a file that stops the import.
fn file_refused(fatal: &RowError) -> AppError {
    ValueError::new(
        "file",
        if fatal.issue.code == "file_too_large" {
            "file_too_large"
        } else {
            "file_unreadable"
        },
        format!("{} Nothing was imported.", fatal.issue.message),
    )
    .into()
}

/// Every row staged: the job waits for review (`validated`), with its counts.
async fn mark_validated(
    app: &App,
    who: &Principal,
    job: &mut Job,
    summary: &Summary,
    meta: &Meta,
) -> Result<(), AppError> {
    job.total = summary.rows;
    job.state = JobState::Validated;
    job.summary = serde_json::to_string(summary).expect("summary serializes");
    let mut tx = app.db.begin().await?;
    jobs::set_staged(&mut tx, job.id, job.total, &job.summary, app.clock.now()).await?;
    audit::append(
        &mut tx,
        who.org_id,
        app.clock.now(),
        &[meta.change(
            "import.staged",
            "job",
            Some(job.id),
            None::<&()>,
            Some(&serde_json::json!({
                "kind": job.kind, "label": summary.label, "rows": summary.rows,
                "in_error": summary.in_error, "with_warnings": summary.with_warnings,
            })),
        )],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Checks rows against each other across batches (by digest) and against the organization.
/// Whether a row fills a column that only per-row access reads.
pub(super) fn fills_access_columns<'a>(cell: impl Fn(Column) -> Option<&'a str>) -> bool {
    [Column::Roles, Column::Permissions, Column::Locations]
        .into_iter()
        .any(|c| cell(c).is_some_and(|v| !v.trim().is_empty()))
}

pub(super) struct Stager<'a> {
    pub(super) ctx: &'a Context,
    pub(super) who: &'a Principal,
    /// Digest of each address seen → the line it was first on.
    pub(super) emails: HashMap<u64, u64>,
    pub(super) usernames: HashMap<u64, u64>,
    pub(super) types: BTreeSet<Option<String>>,
}

impl<'a> Stager<'a> {
    pub(super) fn new(ctx: &'a Context, who: &'a Principal) -> Stager<'a> {
        Stager {
            ctx,
            who,
            emails: HashMap::new(),
            usernames: HashMap::new(),
            types: BTreeSet::new(),
        }
    }

    pub(super) async fn check_batch(
        &mut self,
        conn: &mut Conn,
        batch: &mut Vec<Result<RawRow, RowError>>,
        first_seq: i64,
        summary: &mut Summary,
    ) -> Result<Vec<StagedRow>, AppError> {
        let checked_rows: Vec<_> = batch
            .drain(..)
            .enumerate()
            .map(|(i, item)| (first_seq + i as i64, self.check_alone(item)))
            .collect();
        // The organization's addresses and usernames, for the whole batch at once.
        let keys: Vec<String> = checked_rows
            .iter()
            .filter_map(|(_, (_, c, _))| c.as_ref().map(|c| c.email.match_key().to_string()))
            .collect();
        let wanted: Vec<String> = checked_rows
            .iter()
            .filter_map(|(_, (_, c, _))| {
                c.as_ref()?
                    .username
                    .as_ref()
                    .map(|u| u.as_str().to_string())
            })
            .collect();
        let taken = Taken::look_up(conn, self.who.org_id, &keys, &wanted).await?;
        let mut out = Vec::with_capacity(checked_rows.len());
        for (seq, (row, checked, mut issues)) in checked_rows {
            if let Some(c) = &checked {
                let username = c.username.as_ref().map(|u| u.as_str());
                issues.extend(taken.issues(&c.email, username, &self.ctx.org.name));
            }
            out.push(self.staged(seq, &row, checked.as_ref(), issues, summary));
        }
        Ok(out)
    }

    /// A row checked alone, against the organization's rules and against the rows before it
    /// (by digest). A row that could not be read keeps its line and its one issue.
    fn check_alone(
        &mut self,
        item: Result<RawRow, RowError>,
    ) -> (RawRow, Option<Checked>, Vec<Issue>) {
        let raw = match item {
            Ok(raw) => raw,
            Err(RowError { line, issue }) => {
                let row = RawRow {
                    line,
                    cells: BTreeMap::new(),
                };
                return (row, None, vec![issue]);
            }
        };
        let (checked, mut issues) = check_row(&raw, &self.ctx.catalogue);
        if let Some(c) = &checked {
            issues.extend(self.ctx.rule_issues(self.who, c));
            issues.extend(self.seen_before(c, raw.line));
        }
        (raw, checked, issues)
    }

    /// The address and username already on an earlier line of the file; a first sighting is
    /// remembered.
    fn seen_before(&mut self, c: &Checked, line: u64) -> Vec<Issue> {
        let mut issues = Vec::new();
        if let Some(&first) = self.emails.get(&digest(c.email.match_key())) {
            issues.push(Issue::duplicate_in_file(c.email.as_str(), first));
        } else {
            self.emails.insert(digest(c.email.match_key()), line);
        }
        if let Some(u) = &c.username {
            match self.usernames.get(&digest(u.as_str())) {
                Some(&first) => issues.push(Issue::username_in_file(u.as_str(), first)),
                None => {
                    self.usernames.insert(digest(u.as_str()), line);
                }
            }
        }
        issues
    }

    pub(super) fn staged(
        &mut self,
        seq: i64,
        row: &RawRow,
        checked: Option<&Checked>,
        issues: Vec<Issue>,
        summary: &mut Summary,
    ) -> StagedRow {
        let in_error = issues.iter().any(Issue::is_error);
        summary.rows += 1;
        summary.columns.extend(
            row.cells
                .iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .map(|(c, _)| *c),
        );
        if fills_access_columns(|c| row.get(c)) {
            summary.with_access_columns += 1;
        }
        if in_error {
            summary.in_error += 1;
        } else {
            if !issues.is_empty() {
                summary.with_warnings += 1;
            }
            if let Some(c) = checked {
                if c.default_location.is_none() {
                    summary.without_location += 1;
                }
                self.types.insert(c.user_type.clone());
            }
        }
        StagedRow {
            seq,
            line: row.line as i64,
            cells: serde_json::to_string(&row.cells).expect("cells serialize"),
            email_key: checked
                .map(|c| c.email.match_key().to_string())
                .or_else(|| {
                    row.get(Column::Email)
                        .and_then(|e| rollcall_domain::Email::parse(e).ok())
                        .map(|e| e.match_key().to_string())
                }),
            issues: (!issues.is_empty())
                .then(|| serde_json::to_string(&issues).expect("issues serialize")),
            in_error,
        }
    }
}

/// Reads a CSV byte stream and stages its rows (console upload, API, command line).
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn upload<R: std::io::Read + Send>(
    app: &App,
    who: &Principal,
    input: R,
    file_name: &str,
    max_bytes: Option<u64>,
    meta: &Meta,
) -> Result<Job, AppError> {
    who.require(Capability::BulkAdd)?;
    let mut reader = match max_bytes {
        Some(max) => rollcall_domain::import::Reader::with_limit(input, max)?,
        None => rollcall_domain::import::Reader::new(input)?,
    };
    let rows = std::iter::from_fn(move || reader.next_row());
    stage(app, who, JobKind::CsvImport, file_name, rows, meta).await
}
