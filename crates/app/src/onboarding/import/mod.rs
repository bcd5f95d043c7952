//! Imports: rows from a CSV file or picked from the directory are staged and checked for review,
//! then committed as a bulk job that creates Pending users and queues their invitations.
//!
//! Staging writes only the import's own rows (in batches, so memory stays bounded whatever the
//! file size); the review reads them back page by page; committing checks access and licence
//! seats once for the whole batch, then `import_run` creates the users chunk by chunk.

pub mod run;

use rollcall_domain::Capability;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};

use rollcall_domain::import::{Catalogue, Checked, Column, Issue, RawRow, RowError, check_row};
use rollcall_domain::{Change, Path, Permission, Policy, Subject, ValueError, notifications};
use rollcall_store::imports::{self, Filter, StagedRow};
use rollcall_store::jobs::{self, Job};
use rollcall_store::orgs::Organization;
use rollcall_store::{Conn, audit, locations, roles, users};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::{parse_permissions, policy_of};
use crate::audit::Meta;
use crate::clock::{DAY, parse_local};
use crate::onboarding::writer::{Inviter, Schedule};
use crate::{App, AppError, Principal};

pub const KIND_CSV: &str = "csv_import";
pub const KIND_DIRECTORY: &str = "directory_add";

/// Rows per staging batch and per transaction when the import runs.
pub(crate) const CHUNK: usize = 1_000;

/// The largest file the console and the API take (the command line streams any size).
pub const MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024;

/// Reader errors that stop the whole file rather than mark one row.
const FATAL: [&str; 2] = ["file_too_large", "file_unreadable"];

/// How far ahead invitations may be scheduled.
const MAX_SCHEDULE_DAYS: i64 = 365;

/// How the created users get their access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Access {
    /// The same roles for every row.
    Roles { role_ids: Vec<Uuid> },
    /// A copy of an existing user's roles, direct permissions and locations.
    Mirror { user_id: Uuid },
    /// Each row's own `roles`, `permissions` and `locations` columns.
    Customize,
}

/// What the admin chose when committing an import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    pub access: Access,
    /// Primary location of rows that name none.
    pub location_id: Option<Uuid>,
    /// When to send the invitations: local date and time in the organization's zone
    /// (`2026-12-01T09:00`); `None` sends them now.
    pub send_at: Option<String>,
    /// Notification preferences every created user starts with: (category, medium).
    pub notifications: Vec<(String, String)>,
}

/// An import's counts, kept as its job's summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The file's name, or where the rows came from.
    pub label: String,
    pub rows: i64,
    pub in_error: i64,
    pub with_warnings: i64,
    /// Importable rows that name no default location (the commit must give one).
    pub without_location: i64,
    /// Rows that fill the `roles`, `permissions` or `locations` column: only the per-row access
    /// mode reads them.
    #[serde(default)]
    pub with_access_columns: i64,
    /// Distinct user types of the rows, for the rule checks at commit.
    pub user_types: Vec<Option<String>>,
    /// Users created so far.
    #[serde(default)]
    pub created: i64,
    /// Rows that passed the review but could not be imported when the import ran.
    #[serde(default)]
    pub not_imported: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Summary {
    pub fn of(job: &Job) -> Summary {
        serde_json::from_str(&job.summary).unwrap_or_default()
    }

    pub fn importable(&self) -> i64 {
        self.rows - self.in_error
    }

    /// A warning when the file's access columns are filled but the chosen access ignores them.
    pub fn ignored_access_columns(&self, access: &Access) -> Option<String> {
        let how = match access {
            Access::Customize => return None,
            _ if self.with_access_columns == 0 => return None,
            Access::Roles { .. } => "the roles chosen for everyone",
            Access::Mirror { .. } => "the mirrored user's access",
        };
        Some(format!(
            "{} rows fill the roles, permissions or locations column; they get {how} instead and those columns are ignored (choose per-row access, --customize, to apply them)",
            self.with_access_columns
        ))
    }
}

/// What the import job keeps to run (and resume).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Params {
    pub commit: Commit,
    pub schedule: Schedule,
    pub inviter: Inviter,
    pub actor_label: String,
    /// Access every row gets (roles and mirror modes).
    pub shared: Option<SharedAccess>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SharedAccess {
    pub roles: BTreeSet<Uuid>,
    pub permissions: BTreeSet<Permission>,
    pub locations: BTreeSet<Uuid>,
    pub default_location: Option<Uuid>,
}

/// The organization's names and rules that rows are checked against.
pub(crate) struct Context {
    pub org: Organization,
    pub policy: Policy,
    pub catalogue: Catalogue,
    pub role_permissions: BTreeMap<Uuid, BTreeSet<Permission>>,
    /// Location and role names.
    pub names: BTreeMap<Uuid, String>,
}

impl Context {
    pub(crate) async fn load(conn: &mut Conn, org_id: Uuid) -> Result<Context, AppError> {
        let org = rollcall_store::orgs::get(conn, org_id)
            .await?
            .ok_or_else(|| AppError::not_found("organization"))?;
        let policy = policy_of(conn, org_id).await?;
        let locs = locations::list(conn, org_id).await?;
        let roles = roles::list(conn, org_id).await?;
        let taxonomy = rollcall_store::taxonomy::codes(conn, org_id).await?;
        let mut names = BTreeMap::new();
        names.extend(locs.iter().map(|l| (l.id, l.name.clone())));
        names.extend(roles.iter().map(|r| (r.id, r.name.clone())));
        let catalogue = Catalogue {
            user_types: policy.user_types.clone(),
            locations: locs
                .iter()
                .map(|l| (l.id, l.name.clone(), l.code.clone(), l.active))
                .collect(),
            roles: roles.iter().map(|r| (r.id, r.name.clone())).collect(),
            taxonomy: taxonomy.into_iter().collect(),
            region: Some("US".into()),
        };
        let role_permissions = roles
            .iter()
            .map(|r| (r.id, parse_permissions(&r.permissions)))
            .collect();
        Ok(Context {
            org,
            policy,
            catalogue,
            role_permissions,
            names,
        })
    }

    /// What the rule engine refuses of a row's own access columns, as row issues.
    fn rule_issues(&self, who: &Principal, row: &Checked) -> Vec<Issue> {
        let subject = Subject {
            user_type: row.user_type.clone(),
            display_name: format!("{} {}", row.first_name, row.last_name),
            locations: row.locations.clone(),
            ..Subject::default()
        };
        let actor = who.actor();
        let mut out = Vec::new();
        let mut check = |change: Change, path: Path, column: Column| {
            if let Err(r) = self
                .policy
                .check(&actor, &subject, &change, path, None, &self.names)
            {
                out.push(Issue::error(Some(column), r.code, r.message));
            }
        };
        for l in &row.locations {
            check(
                Change::GrantLocation(*l),
                Path::CsvImport,
                Column::Locations,
            );
        }
        for p in &row.permissions {
            check(
                Change::GrantPermission(*p),
                Path::CsvImport,
                Column::Permissions,
            );
        }
        // A role's grants are filtered by the member's type rather than refused (rules 1–2);
        // what the actor may hand out is still checked (rule 4).
        let through_roles: BTreeSet<Permission> = row
            .roles
            .iter()
            .flat_map(|r| self.role_permissions.get(r).into_iter().flatten().copied())
            .collect();
        for p in through_roles {
            check(Change::GrantPermission(p), Path::RoleEdit, Column::Roles);
        }
        out.dedup();
        out
    }
}

/// A 64-bit digest of a match key: remembering every address of a million-row file as digests
/// keeps the duplicate check to a few megabytes.
fn digest(key: &str) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// Stages rows for review: each row is checked alone, against the rest of the batch and against
/// the organization; nothing but the import's own record is written. Returns the import's job
/// (state `validated`).
pub async fn stage(
    app: &App,
    who: &Principal,
    kind: &str,
    label: &str,
    rows: impl Iterator<Item = Result<RawRow, RowError>> + Send,
    meta: &Meta,
) -> Result<Job, AppError> {
    who.require(Capability::BulkAdd)?;
    let ctx = {
        let mut conn = app.db.read_conn().await?;
        Context::load(&mut conn, who.org_id).await?
    };
    let now = app.clock.now();
    let mut job = Job {
        id: rollcall_store::new_id(),
        org_id: who.org_id,
        kind: kind.to_string(),
        actor_id: who.user_ref(),
        idempotency_key: None,
        state: "draft".into(),
        total: 0,
        done: 0,
        summary: "{}".into(),
        created_at: now,
        updated_at: now,
    };
    {
        let mut tx = app.db.begin().await?;
        jobs::insert(&mut tx, &job, "{}").await?;
        tx.commit().await?;
    }
    let mut summary = Summary {
        label: label.to_string(),
        ..Summary::default()
    };
    let mut stager = Stager {
        ctx: &ctx,
        who,
        emails: HashMap::new(),
        usernames: HashMap::new(),
        types: BTreeSet::new(),
    };
    let mut batch: Vec<Result<RawRow, RowError>> = Vec::with_capacity(CHUNK);
    let mut seq = 0i64;
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        batch.extend(rows.by_ref().take(CHUNK));
        // A file too large or unreadable stops the whole import: nothing of it is kept.
        if let Some(Err(fatal)) = batch
            .iter()
            .find(|r| matches!(r, Err(e) if FATAL.contains(&e.issue.code.as_str())))
        {
            let fatal = fatal.clone();
            let mut tx = app.db.begin().await?;
            imports::delete(&mut tx, job.id).await?;
            summary.error = Some(fatal.issue.message.clone());
            jobs::finish(
                &mut tx,
                job.id,
                "failed",
                &serde_json::to_string(&summary).expect("summary serializes"),
                app.clock.now(),
            )
            .await?;
            tx.commit().await?;
            return Err(ValueError::new(
                "file",
                if fatal.issue.code == "file_too_large" {
                    "file_too_large"
                } else {
                    "file_unreadable"
                },
                format!("{} Nothing was imported.", fatal.issue.message),
            )
            .into());
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
    job.total = summary.rows;
    job.state = "validated".into();
    job.summary = serde_json::to_string(&summary).expect("summary serializes");
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
                "kind": kind, "label": label, "rows": summary.rows,
                "in_error": summary.in_error, "with_warnings": summary.with_warnings,
            })),
        )],
    )
    .await?;
    tx.commit().await?;
    Ok(job)
}

/// Checks rows against each other across batches (by digest) and against the organization.
struct Stager<'a> {
    ctx: &'a Context,
    who: &'a Principal,
    /// Digest of each address seen → the line it was first on.
    emails: HashMap<u64, u64>,
    usernames: HashMap<u64, u64>,
    types: BTreeSet<Option<String>>,
}

impl Stager<'_> {
    async fn check_batch(
        &mut self,
        conn: &mut Conn,
        batch: &mut Vec<Result<RawRow, RowError>>,
        first_seq: i64,
        summary: &mut Summary,
    ) -> Result<Vec<StagedRow>, AppError> {
        let mut checked_rows = Vec::with_capacity(batch.len());
        for (i, item) in batch.drain(..).enumerate() {
            let seq = first_seq + i as i64;
            let (row, checked, issues) = match item {
                Ok(raw) => {
                    let (checked, mut issues) = check_row(&raw, &self.ctx.catalogue);
                    if let Some(c) = &checked {
                        issues.extend(self.ctx.rule_issues(self.who, c));
                        if let Some(&first) = self.emails.get(&digest(c.email.match_key())) {
                            issues.push(Issue::duplicate_in_file(c.email.as_str(), first));
                        } else {
                            self.emails.insert(digest(c.email.match_key()), raw.line);
                        }
                        if let Some(u) = &c.username {
                            match self.usernames.get(&digest(u.as_str())) {
                                Some(&first) => {
                                    issues.push(Issue::username_in_file(u.as_str(), first))
                                }
                                None => {
                                    self.usernames.insert(digest(u.as_str()), raw.line);
                                }
                            }
                        }
                    }
                    (raw, checked, issues)
                }
                Err(RowError { line, issue }) => (
                    RawRow {
                        line,
                        cells: BTreeMap::new(),
                    },
                    None,
                    vec![issue],
                ),
            };
            checked_rows.push((seq, row, checked, issues));
        }
        // The organization's addresses and usernames, for the whole batch at once.
        let keys: Vec<String> = checked_rows
            .iter()
            .filter_map(|(_, _, c, _)| c.as_ref().map(|c| c.email.match_key().to_string()))
            .collect();
        let taken_emails: BTreeSet<String> =
            users::existing_email_keys(conn, self.who.org_id, &keys)
                .await?
                .into_iter()
                .collect();
        let wanted: Vec<String> = checked_rows
            .iter()
            .filter_map(|(_, _, c, _)| {
                c.as_ref()?
                    .username
                    .as_ref()
                    .map(|u| u.as_str().to_string())
            })
            .collect();
        let taken_usernames: BTreeSet<String> = if wanted.is_empty() {
            BTreeSet::new()
        } else {
            users::existing_usernames(conn, self.who.org_id, &wanted)
                .await?
                .into_iter()
                .collect()
        };
        let mut out = Vec::with_capacity(checked_rows.len());
        for (seq, row, checked, mut issues) in checked_rows {
            if let Some(c) = &checked {
                if taken_emails.contains(c.email.match_key()) {
                    issues.push(Issue::already_in_organization(
                        c.email.as_str(),
                        &self.ctx.org.name,
                    ));
                }
                if let Some(u) = &c.username
                    && taken_usernames.contains(u.as_str())
                {
                    issues.push(Issue::username_taken(u.as_str()));
                }
            }
            out.push(self.staged(seq, &row, checked.as_ref(), issues, summary));
        }
        Ok(out)
    }

    fn staged(
        &mut self,
        seq: i64,
        row: &RawRow,
        checked: Option<&Checked>,
        issues: Vec<Issue>,
        summary: &mut Summary,
    ) -> StagedRow {
        let in_error = issues.iter().any(Issue::is_error);
        summary.rows += 1;
        if [Column::Roles, Column::Permissions, Column::Locations]
            .iter()
            .any(|&c| row.get(c).is_some_and(|v| !v.trim().is_empty()))
        {
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

/// One row as the review table shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewRow {
    pub seq: i64,
    pub line: i64,
    pub cells: BTreeMap<Column, String>,
    pub issues: Vec<Issue>,
    pub in_error: bool,
}

impl ReviewRow {
    fn of(r: StagedRow) -> ReviewRow {
        ReviewRow {
            seq: r.seq,
            line: r.line,
            cells: serde_json::from_str(&r.cells).unwrap_or_default(),
            issues: r
                .issues
                .as_deref()
                .and_then(|i| serde_json::from_str(i).ok())
                .unwrap_or_default(),
            in_error: r.in_error,
        }
    }

    pub fn cell(&self, c: Column) -> &str {
        self.cells.get(&c).map_or("", String::as_str)
    }

    /// The issues of one column.
    pub fn issues_of(&self, c: Column) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(move |i| i.column == Some(c))
    }
}

/// A page of the review table.
#[derive(Debug, Clone, Serialize)]
pub struct Review {
    pub job: crate::jobs::JobView,
    pub summary: Summary,
    pub rows: Vec<ReviewRow>,
    /// How many rows the filter matches.
    pub matching: i64,
    /// The `after` of the next page, if there is one.
    pub next_after: Option<i64>,
}

pub async fn review(
    app: &App,
    who: &Principal,
    job_id: Uuid,
    filter: Filter,
    after: i64,
    limit: u32,
) -> Result<Review, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let job = import_job(&mut conn, who, job_id).await?;
    let limit = limit.clamp(1, 500);
    let mut rows = imports::page(&mut conn, job.id, filter, after, limit + 1).await?;
    let next_after = (rows.len() > limit as usize).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.seq).unwrap_or(after)
    });
    let matching = imports::count(&mut conn, job.id, filter).await?;
    Ok(Review {
        job: crate::jobs::JobView::from(&job),
        summary: Summary::of(&job),
        rows: rows.into_iter().map(ReviewRow::of).collect(),
        matching,
        next_after,
    })
}

async fn import_job(conn: &mut Conn, who: &Principal, job_id: Uuid) -> Result<Job, AppError> {
    let job = jobs::get(conn, who.org_id, job_id)
        .await?
        .filter(|j| j.kind == KIND_CSV || j.kind == KIND_DIRECTORY)
        .ok_or_else(|| AppError::not_found("import"))?;
    Ok(job)
}

fn not_editable(job: &Job) -> AppError {
    AppError::Conflict(match job.state.as_str() {
        "draft" => "This import is still being read; wait a moment and reload.".to_string(),
        _ => "This import was already committed: its rows can no longer be changed. Upload the file again to start a new import.".to_string(),
    })
}

/// Edits one row in the review table and checks it again (alone, against the other rows'
/// addresses and against the organization).
pub async fn edit_row(
    app: &App,
    who: &Principal,
    job_id: Uuid,
    seq: i64,
    cells: BTreeMap<Column, String>,
    meta: &Meta,
) -> Result<ReviewRow, AppError> {
    who.require(Capability::BulkAdd)?;
    let mut conn = app.db.read_conn().await?;
    let job = import_job(&mut conn, who, job_id).await?;
    if job.state != "validated" {
        return Err(not_editable(&job));
    }
    let old = imports::get(&mut conn, job.id, seq)
        .await?
        .ok_or_else(|| AppError::not_found("row"))?;
    let ctx = Context::load(&mut conn, who.org_id).await?;
    let cells: BTreeMap<Column, String> = cells
        .into_iter()
        .map(|(c, v)| (c, v.trim().to_string()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let raw = RawRow {
        line: old.line as u64,
        cells,
    };
    let (checked, mut issues) = check_row(&raw, &ctx.catalogue);
    if let Some(c) = &checked {
        issues.extend(ctx.rule_issues(who, c));
        let others = imports::same_email(&mut conn, job.id, c.email.match_key(), seq).await?;
        if let Some(first) = others.iter().find(|o| o.seq < seq) {
            issues.push(Issue::duplicate_in_file(
                c.email.as_str(),
                first.line as u64,
            ));
        }
        if users::get_by_email_key(&mut conn, who.org_id, c.email.match_key())
            .await?
            .is_some()
        {
            issues.push(Issue::already_in_organization(
                c.email.as_str(),
                &ctx.org.name,
            ));
        }
        if let Some(u) = &c.username
            && !users::existing_usernames(&mut conn, who.org_id, &[u.as_str().to_string()])
                .await?
                .is_empty()
        {
            issues.push(Issue::username_taken(u.as_str()));
        }
    }
    drop(conn);
    let mut summary = Summary::of(&job);
    let mut types: BTreeSet<Option<String>> = summary.user_types.iter().cloned().collect();
    let mut stager = Stager {
        ctx: &ctx,
        who,
        emails: HashMap::new(),
        usernames: HashMap::new(),
        types: BTreeSet::new(),
    };
    let mut scratch = Summary::default();
    let row = stager.staged(seq, &raw, checked.as_ref(), issues, &mut scratch);
    types.extend(stager.types);
    // The counts move by the difference between the old row and the new.
    let was_valid = !old.in_error;
    let had_warnings = was_valid && old.issues.is_some();
    summary.in_error += row.in_error as i64 - old.in_error as i64;
    summary.with_warnings += (!row.in_error && row.issues.is_some()) as i64 - had_warnings as i64;
    let old_without = was_valid && !cells_name_location(&old.cells);
    summary.without_location += scratch.without_location - old_without as i64;
    summary.user_types = types.into_iter().collect();
    let mut tx = app.db.begin().await?;
    imports::update(&mut tx, job.id, &row).await?;
    jobs::set_summary(
        &mut tx,
        job.id,
        &serde_json::to_string(&summary).expect("summary serializes"),
        app.clock.now(),
    )
    .await?;
    audit::append(
        &mut tx,
        who.org_id,
        app.clock.now(),
        &[meta.change(
            "import.row_edited",
            "job",
            Some(job.id),
            Some(&serde_json::json!({ "line": old.line, "cells": serde_json::from_str::<serde_json::Value>(&old.cells).unwrap_or_default() })),
            Some(&serde_json::json!({ "line": row.line, "cells": raw.cells })),
        )],
    )
    .await?;
    tx.commit().await?;
    Ok(ReviewRow::of(row))
}

fn cells_name_location(cells: &str) -> bool {
    serde_json::from_str::<BTreeMap<Column, String>>(cells)
        .map(|c| c.contains_key(&Column::DefaultLocation))
        .unwrap_or(false)
}

/// Commits a staged import: checks access and licence seats, then queues and starts the job
/// that creates the users. Nothing is created when a check fails.
pub async fn commit(
    app: &App,
    who: &Principal,
    job_id: Uuid,
    commit: &Commit,
    meta: &Meta,
) -> Result<Job, AppError> {
    who.require(Capability::BulkAdd)?;
    let (job, ctx, shared) = {
        let mut conn = app.db.read_conn().await?;
        let job = import_job(&mut conn, who, job_id).await?;
        if job.state != "validated" {
            // The same commit again (a retried request) answers the job it started.
            let earlier: Option<Params> =
                serde_json::from_str(&jobs::input(&mut conn, job.id).await?).ok();
            if earlier.is_some_and(|p| p.commit == *commit) {
                return Ok(job);
            }
            return Err(not_editable(&job));
        }
        let ctx = Context::load(&mut conn, who.org_id).await?;
        let shared = resolve_access(&mut conn, who, &ctx, &job, commit).await?;
        (job, ctx, shared)
    };
    let summary = Summary::of(&job);
    let needed = summary.importable();
    if needed == 0 {
        return Err(ValueError::new(
            "rows",
            "import_nothing_valid",
            "No row of this import can be imported: every row has an error. Fix the file and upload it again.",
        )
        .into());
    }
    let now = app.clock.now();
    let schedule = match commit
        .send_at
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => Schedule::default(),
        Some(text) => {
            let zone = &ctx.org.time_zone;
            let at = parse_local(text, zone)?;
            if at <= now {
                return Err(ValueError::new(
                    "send_at",
                    "send_at_past",
                    format!("{} ({zone}) has already passed: choose a later time, or leave it empty to send now.", text.replace('T', " ")),
                )
                .into());
            }
            if at > now + MAX_SCHEDULE_DAYS * DAY {
                return Err(ValueError::new(
                    "send_at",
                    "send_at_too_far",
                    format!("Invitations can be scheduled up to {MAX_SCHEDULE_DAYS} days ahead."),
                )
                .into());
            }
            Schedule {
                send_at: Some(at),
                local: Some(text.replace('T', " ")),
                zone: Some(zone.clone()),
            }
        }
    };
    let mut notifications_on = commit
        .notifications
        .iter()
        .map(|(c, m)| {
            notifications::parse_choice(
                &format!("{c}:{m}"),
                &ctx.org.settings.notification_categories,
                &ctx.org.settings.notification_media,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    notifications_on.sort();
    notifications_on.dedup();
    let mut commit = commit.clone();
    commit.notifications = notifications_on;
    let params = Params {
        commit,
        schedule: schedule.clone(),
        inviter: Inviter {
            user_id: who.user_ref(),
            name: who.display_name.clone(),
        },
        actor_label: who.label.clone(),
        shared,
    };
    let mut tx = app.db.begin().await?;
    crate::onboarding::writer::check_seats(&mut tx, &ctx.org, needed).await?;
    if !jobs::queue(&mut tx, job.id, "validated", now).await? {
        return Err(AppError::Conflict(
            "This import was committed a moment ago by another request; see its progress on the Jobs page.".into(),
        ));
    }
    rollcall_store::seats::hold(&mut tx, job.id, needed).await?;
    jobs::set_input(
        &mut tx,
        job.id,
        &serde_json::to_string(&params).expect("params serialize"),
    )
    .await?;
    let mut summary = summary;
    summary.send_at = schedule
        .local
        .as_ref()
        .map(|l| format!("{l} {}", ctx.org.time_zone));
    jobs::set_summary(
        &mut tx,
        job.id,
        &serde_json::to_string(&summary).expect("summary serializes"),
        now,
    )
    .await?;
    audit::append(
        &mut tx,
        who.org_id,
        now,
        &[meta.change(
            "import.committed",
            "job",
            Some(job.id),
            None::<&()>,
            Some(&serde_json::json!({
                "rows": needed, "access": params.commit.access, "location": params.commit.location_id.map(|l| ctx.names.get(&l).cloned().unwrap_or_default()),
                "send_at": summary.send_at, "notifications": params.commit.notifications,
            })),
        )],
    )
    .await?;
    tx.commit().await?;
    crate::jobs::spawn(app, job.org_id, job.id);
    let mut conn = app.db.read_conn().await?;
    jobs::get(&mut conn, who.org_id, job.id)
        .await?
        .ok_or_else(|| AppError::not_found("import"))
}

/// The access a commit gives every row (roles or mirror), checked by the rule engine for each
/// user type among the rows; `None` for per-row access.
async fn resolve_access(
    conn: &mut Conn,
    who: &Principal,
    ctx: &Context,
    job: &Job,
    commit: &Commit,
) -> Result<Option<SharedAccess>, AppError> {
    let summary = Summary::of(job);
    let location = match commit.location_id {
        None => None,
        Some(id) => {
            let l = locations::get(conn, who.org_id, id)
                .await?
                .ok_or_else(|| AppError::not_found("location"))?;
            if !l.active {
                return Err(ValueError::new(
                    "location",
                    "location_inactive",
                    format!("{} is deactivated; choose an active location.", l.name),
                )
                .into());
            }
            Some(l.id)
        }
    };
    let mut shared = match &commit.access {
        Access::Customize => None,
        Access::Roles { role_ids } => {
            if role_ids.is_empty() {
                return Err(ValueError::new(
                    "roles",
                    "roles_missing",
                    "Choose at least one role for the imported people, or mirror a user, or use the file's own columns.",
                )
                .into());
            }
            for r in role_ids {
                if !ctx.role_permissions.contains_key(r) {
                    return Err(AppError::NotFound(format!(
                        "No role with id {r} in this organization; nothing was imported."
                    )));
                }
            }
            Some(SharedAccess {
                roles: role_ids.iter().copied().collect(),
                ..SharedAccess::default()
            })
        }
        Access::Mirror { user_id } => {
            let user = users::get(conn, who.org_id, *user_id)
                .await?
                .ok_or_else(|| AppError::not_found("user"))?;
            let grants = roles::grants_of(conn, user.id).await?;
            Some(SharedAccess {
                roles: grants.roles.keys().copied().collect(),
                permissions: parse_permissions(&grants.direct),
                locations: locations::of_user(conn, user.id)
                    .await?
                    .into_iter()
                    .map(|l| l.id)
                    .collect(),
                default_location: user.default_location_id,
            })
        }
    };
    if let Some(s) = shared.as_mut()
        && let Some(l) = location
    {
        s.locations.insert(l);
        s.default_location = Some(l);
    }
    let default_given = location.is_some()
        || shared
            .as_ref()
            .is_some_and(|s| s.default_location.is_some());
    if summary.without_location > 0 && !default_given {
        return Err(ValueError::new(
            "location",
            "location_required",
            format!(
                "{} row{} name no default location: choose the location {} will work at.",
                summary.without_location,
                if summary.without_location == 1 {
                    ""
                } else {
                    "s"
                },
                if summary.without_location == 1 {
                    "that person"
                } else {
                    "those people"
                }
            ),
        )
        .into());
    }
    // The rules, once per user type among the rows: every row of a type gets the same access.
    let actor = who.actor();
    for user_type in &summary.user_types {
        let mut subject = Subject {
            user_type: user_type.clone(),
            display_name: "The imported people".into(),
            ..Subject::default()
        };
        if let Some(l) = location {
            subject.locations.insert(l);
            ctx.policy
                .check(
                    &actor,
                    &subject,
                    &Change::GrantLocation(l),
                    Path::CsvImport,
                    None,
                    &ctx.names,
                )
                .map_err(AppError::Refused)?;
        }
        let Some(s) = &shared else { continue };
        for l in &s.locations {
            ctx.policy
                .check(
                    &actor,
                    &subject,
                    &Change::GrantLocation(*l),
                    Path::CsvImport,
                    None,
                    &ctx.names,
                )
                .map_err(AppError::Refused)?;
        }
        subject.locations.extend(s.locations.iter().copied());
        for p in &s.permissions {
            ctx.policy
                .check(
                    &actor,
                    &subject,
                    &Change::GrantPermission(*p),
                    Path::CsvImport,
                    None,
                    &ctx.names,
                )
                .map_err(AppError::Refused)?;
        }
        let through_roles = s
            .roles
            .iter()
            .flat_map(|r| ctx.role_permissions.get(r).into_iter().flatten().copied());
        crate::access::check_role_grants(&ctx.policy, who, &subject, through_roles, &ctx.names)?;
    }
    Ok(shared)
}

/// What the commit form offers: active locations, roles, the notification grid and the zone
/// scheduled times are read in.
#[derive(Debug, Clone, Serialize)]
pub struct CommitOptions {
    pub locations: Vec<(Uuid, String)>,
    pub roles: Vec<(Uuid, String)>,
    pub categories: Vec<(String, String)>,
    pub media: Vec<(String, String)>,
    pub time_zone: String,
    pub seats_free: Option<i64>,
}

pub async fn commit_options(app: &App, who: &Principal) -> Result<CommitOptions, AppError> {
    who.require(Capability::BulkAdd)?;
    let mut conn = app.db.read_conn().await?;
    let ctx = Context::load(&mut conn, who.org_id).await?;
    let seats = rollcall_store::seats::all(&mut conn, who.org_id).await?;
    let settings = &ctx.org.settings;
    Ok(CommitOptions {
        locations: ctx
            .catalogue
            .locations
            .iter()
            .filter(|l| l.3 && who.locations.contains(&l.0))
            .map(|l| (l.0, l.1.clone()))
            .collect(),
        roles: ctx.catalogue.roles.clone(),
        categories: settings
            .notification_categories
            .iter()
            .map(|c| (c.clone(), notifications::category_label(c).to_string()))
            .collect(),
        media: settings
            .notification_media
            .iter()
            .map(|m| (m.clone(), notifications::medium_label(m).to_string()))
            .collect(),
        time_zone: ctx.org.time_zone.clone(),
        seats_free: seats
            .iter()
            .find(|(p, _)| p == rollcall_store::seats::PORTAL)
            .map(|(_, s)| s.free()),
    })
}

/// Reads a CSV byte stream and stages its rows (console upload, API, command line).
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
    stage(app, who, KIND_CSV, file_name, rows, meta).await
}
