//! Running a committed import: chunk by chunk, each chunk one transaction that creates its users
//! (with access, invitations, messages and audit events), records the rows it could not import,
//! releases their seats and advances the job. A job resumed after a crash starts at the first
//! chunk that did not commit, so no row is ever imported twice.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_domain::import::{Checked, Column, Issue, RawRow, check_row};
use rollcall_store::imports::{self, StagedRow};
use rollcall_store::jobs::{self, Item, Job};
use rollcall_store::{Conn, seats, users};
use uuid::Uuid;

use crate::audit::Meta;
use futures::future::BoxFuture;
use rollcall_domain::{JobKind, JobState};

use super::plan::Taken;
use crate::jobs::{Kind, Step, lease_micros};
use crate::onboarding::import::{CHUNK, Context, Params, SharedAccess, Summary};
use crate::onboarding::writer::{self as onboard, Newcomer};
use crate::{App, AppError};

/// Chunks between refreshes of the database's statistics on the users table (see
/// `users::refresh_statistics`).
const STATISTICS_EVERY: i64 = 10;

/// Imports (from a file or from the directory) as a kind of job.
pub(crate) struct ImportKind;
pub(crate) const IMPORT: ImportKind = ImportKind;

impl Kind for ImportKind {
    fn kinds(&self) -> &'static [JobKind] {
        &[JobKind::CsvImport, JobKind::DirectoryAdd]
    }

    fn report_name(&self) -> &'static str {
        "import"
    }

    fn run<'a>(&'a self, app: &'a App, job: &'a Job) -> BoxFuture<'a, Result<(), AppError>> {
        Box::pin(run_job(app, job))
    }

    fn outcome(&self, job: &Job) -> (rollcall_domain::Outcome, String) {
        outcome_of(job)
    }

    fn report<'a>(
        &'a self,
        app: &'a App,
        who: &'a crate::Principal,
        job: &'a Job,
    ) -> BoxFuture<'a, Result<String, AppError>> {
        Box::pin(report_csv(app, who, job.id))
    }
}

async fn run_job(app: &App, job: &Job) -> Result<(), AppError> {
    let params: Params = {
        let mut conn = app.db.read_conn().await?;
        serde_json::from_str(&jobs::input(&mut conn, job.id).await?).map_err(|e| {
            AppError::Internal(format!("import {} has unreadable input: {e}", job.id))
        })?
    };
    let ctx = {
        let mut conn = app.db.read_conn().await?;
        Context::load(&mut conn, job.org_id, app.clock.now()).await?
    };
    let mut summary = Summary::of(job);
    let mut done = job.done;
    loop {
        match step(app, job, &params, &ctx, &mut summary, &mut done).await? {
            Step::Continue if crate::jobs::stop_here(app, job, done).await? => return Ok(()),
            Step::Continue => continue,
            Step::Lost => return Ok(()),
            Step::Done => break,
        }
    }
    // Rows left out at review count too: the file was not imported whole.
    let state = if summary.not_imported + summary.in_error == 0 {
        JobState::Succeeded
    } else if summary.created > 0 {
        JobState::PartiallySucceeded
    } else {
        JobState::Failed
    };
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    jobs::finish(
        &mut tx,
        job.id,
        state,
        &serde_json::to_string(&summary).expect("summary serializes"),
        now,
    )
    .await?;
    let meta = crate::audit::Meta {
        actor_id: job.actor_id,
        ..crate::audit::Meta::system("Rollcall")
    };
    let after =
        serde_json::json!({ "kind": job.kind.key(), "outcome": state.key(), "summary": summary });
    let event = meta.change(
        "import.finished",
        "job",
        Some(job.id),
        None::<&()>,
        Some(&after),
    );
    rollcall_store::audit::append(&mut tx, job.org_id, now, &[event]).await?;
    tx.commit().await?;
    crate::delivery::wake(app);
    Ok(())
}

/// One chunk of rows: read, turned into people, checked again against the organization and
/// committed with the job's progress. `Lost` when another runner took the job meanwhile.
async fn step(
    app: &App,
    job: &Job,
    params: &Params,
    ctx: &Context,
    summary: &mut Summary,
    done: &mut i64,
) -> Result<Step, AppError> {
    if *done >= job.total {
        return Ok(Step::Done);
    }
    let from = *done;
    let to = (from + CHUNK as i64).min(job.total);
    let rows = read_chunk(app, job.id, from, to).await?;
    let mut refused = Vec::new();
    let mut candidates = Vec::with_capacity(rows.len());
    for row in &rows {
        match newcomer(row, params, ctx) {
            Ok(n) => candidates.push((row, n)),
            Err(issue) => refused.push(item(row, &issue)),
        }
    }
    let people = {
        let mut conn = app.db.read_conn().await?;
        still_free(&mut conn, job.org_id, ctx, candidates, &mut refused).await?
    };
    let created = people.len() as i64;
    let mut next = summary.clone();
    next.created += created;
    next.not_imported += refused.len() as i64;
    let chunk = Chunk {
        from,
        to,
        rows: rows.len() as i64,
        refused,
    };
    if !commit_chunk(app, job, params, ctx, people, &chunk, &next).await? {
        return Ok(Step::Lost);
    }
    tracing::debug!(job = %job.id, from, to, created, "import chunk committed");
    *summary = next;
    *done = to;
    crate::delivery::wake(app);
    Ok(Step::Continue)
}

/// The valid staged rows from `from` to `to`, now and then refreshing the users table's
/// statistics as it grows.
async fn read_chunk(
    app: &App,
    job_id: Uuid,
    from: i64,
    to: i64,
) -> Result<Vec<StagedRow>, AppError> {
    let mut conn = app.db.read_conn().await?;
    if (from / CHUNK as i64) % STATISTICS_EVERY == 0 {
        users::refresh_statistics(&mut conn).await?;
    }
    Ok(imports::valid_between(&mut conn, job_id, from, to).await?)
}

/// What changed since the review: someone may have added one of these people meanwhile. Those
/// are refused with the reason; the others are returned.
async fn still_free(
    conn: &mut Conn,
    org_id: Uuid,
    ctx: &Context,
    candidates: Vec<(&StagedRow, Newcomer)>,
    refused: &mut Vec<Item>,
) -> Result<Vec<Newcomer>, AppError> {
    let keys: Vec<String> = candidates
        .iter()
        .map(|(_, p)| p.email.match_key().to_string())
        .collect();
    let wanted: Vec<String> = candidates
        .iter()
        .filter_map(|(_, p)| p.username.clone())
        .collect();
    let taken = Taken::look_up(conn, org_id, &keys, &wanted).await?;
    let mut people = Vec::with_capacity(candidates.len());
    for (row, p) in candidates {
        let issues = taken.issues(&p.email, p.username.as_deref(), &ctx.org.name);
        match issues.first() {
            Some(issue) => refused.push(item(row, issue)),
            None => people.push(p),
        }
    }
    Ok(people)
}

/// The rows of a chunk and the items of those refused.
struct Chunk {
    from: i64,
    to: i64,
    rows: i64,
    refused: Vec<Item>,
}

/// Creates the chunk's people, records its refused rows, releases its seats and advances the
/// job, in one transaction. `false` (and nothing written) when the job's lease was lost.
async fn commit_chunk(
    app: &App,
    job: &Job,
    params: &Params,
    ctx: &Context,
    people: Vec<Newcomer>,
    chunk: &Chunk,
    next: &Summary,
) -> Result<bool, AppError> {
    let source = if job.kind == JobKind::DirectoryAdd {
        "directory"
    } else {
        "csv_import"
    };
    let meta = Meta {
        actor_id: job.actor_id,
        actor_label: params.actor_label.clone(),
        request_id: Some(format!("job:{}", job.id)),
        source_ip: None,
    };
    let mut tx = app.db.begin().await?;
    onboard::write(
        app,
        &mut tx,
        &onboard::Batch {
            org: &ctx.org,
            inviter: &params.inviter,
            source,
            schedule: &params.schedule,
            notifications: &params.commit.notifications,
            names: &ctx.names,
            context: Some(serde_json::json!({ "job": job.id })),
        },
        people.into_iter().map(|p| (p, &meta)).collect(),
    )
    .await?;
    jobs::insert_items(&mut tx, job.id, &chunk.refused).await?;
    seats::release(&mut tx, job.id, chunk.rows).await?;
    let now = app.clock.now();
    let advanced = jobs::advance(
        &mut tx,
        job.id,
        chunk.from,
        chunk.to,
        &serde_json::to_string(next).expect("summary serializes"),
        now,
        now + lease_micros(),
    )
    .await?;
    if advanced {
        tx.commit().await?;
        crate::ops::metrics::job_rows(job.kind.key(), chunk.to - chunk.from);
    }
    Ok(advanced)
}

/// A staged row turned into a person with all their access, or the first reason it cannot be.
fn newcomer(row: &StagedRow, params: &Params, ctx: &Context) -> Result<Newcomer, Issue> {
    let cells: BTreeMap<Column, String> = serde_json::from_str(&row.cells).unwrap_or_default();
    let raw = RawRow {
        line: row.line as u64,
        cells,
    };
    // Checked again: a location or role may have been removed since the review.
    let (checked, issues) = check_row(&raw, &ctx.catalogue);
    let Some(c) = checked else {
        return Err(issues
            .into_iter()
            .find(Issue::is_error)
            .unwrap_or_else(|| Issue::error(None, "row_invalid", "The row is no longer valid.")));
    };
    let batch_location = params.commit.location_id;
    let leaves_at = c
        .leaving
        .map(|d| crate::access::leaving::instant_in(d, &ctx.org.time_zone));
    let mut person = match &params.shared {
        Some(shared) => with_shared(c, shared, batch_location),
        None => {
            let default_location = c.default_location.or(batch_location).ok_or_else(|| {
                Issue::error(
                    Some(Column::DefaultLocation),
                    "location_required",
                    "The row names no default location and none was chosen for the import.",
                )
            })?;
            let mut locations = c.locations.clone();
            locations.insert(default_location);
            person(c, default_location, locations, None)
        }
    };
    person.leaves_at = leaves_at;
    Ok(person)
}

fn with_shared(c: Checked, shared: &SharedAccess, batch_location: Option<Uuid>) -> Newcomer {
    let mut locations = shared.locations.clone();
    locations.extend(c.locations.iter().copied());
    // The row's own default location first, then the one chosen for the batch, then the
    // mirrored user's.
    let default_location = c
        .default_location
        .or(batch_location)
        .or(shared.default_location)
        .expect("the commit checked every row has a default location");
    locations.insert(default_location);
    person(c, default_location, locations, Some(shared))
}

fn person(
    c: Checked,
    default_location: Uuid,
    locations: BTreeSet<Uuid>,
    shared: Option<&SharedAccess>,
) -> Newcomer {
    let (roles, permissions) = match shared {
        Some(s) => (s.roles.clone(), s.permissions.clone()),
        None => (c.roles.clone(), c.permissions.clone()),
    };
    Newcomer {
        email: c.email,
        first_name: c.first_name,
        last_name: c.last_name,
        display_name: None,
        username: c.username.map(|u| u.as_str().to_string()),
        mobile: c.mobile.map(|m| m.as_str().to_string()),
        user_type: c.user_type,
        default_location,
        locations,
        roles,
        permissions,
        npi: c.npi.map(|n| n.as_str().to_string()),
        taxonomy: c.taxonomy.iter().map(|t| t.as_str().to_string()).collect(),
        leaves_at: None,
    }
}

fn item(row: &StagedRow, issue: &Issue) -> Item {
    Item {
        seq: row.seq,
        state: "not_imported".into(),
        reason_code: Some(issue.code.clone()),
        message: Some(issue.message.clone()),
        payload: serde_json::json!({ "line": row.line, "email_key": row.email_key }).to_string(),
    }
}

/// A row that was not imported, as the outcome page and the report list it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct NotImported {
    pub line: i64,
    pub email: String,
    pub code: String,
    pub message: String,
}

/// The outcome of an import job and the sentence that says it.
pub fn outcome_of(job: &Job) -> (rollcall_domain::Outcome, String) {
    use rollcall_domain::Outcome;
    let s = Summary::of(job);
    let skipped = s.in_error + s.not_imported;
    let scheduled = s
        .send_at
        .as_ref()
        .map(|at| format!(" Their invitations go out at {at}."))
        .unwrap_or_default();
    let people = |n: i64| format!("{n} {}", if n == 1 { "person" } else { "people" });
    let rows = |n: i64| format!("{n} row{}", if n == 1 { "" } else { "s" });
    match job.state {
        JobState::Failed if s.error.is_some() || s.created == 0 => {
            let why = s.error.clone().unwrap_or_else(|| {
                "no row could be imported; the table below says why.".to_string()
            });
            (
                Outcome::Failed,
                format!(
                    "The import stopped: {why} {} were created before it stopped.",
                    people(s.created)
                ),
            )
        }
        _ if skipped == 0 => (
            Outcome::Succeeded,
            format!(
                "{} created as Pending, with invitations queued.{scheduled}",
                people(s.created)
            ),
        ),
        _ => (
            Outcome::PartiallySucceeded,
            format!(
                "{} created as Pending, with invitations queued; {skipped} of {} not imported ({} in error at review, {} refused when the import ran).{scheduled}",
                people(s.created),
                rows(s.rows),
                s.in_error,
                s.not_imported
            ),
        ),
    }
}

/// Rows not imported, in file order: those in error at review, then those refused as the
/// import ran. At most `limit` of each.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn not_imported(
    app: &App,
    who: &crate::Principal,
    job_id: Uuid,
    limit: u32,
) -> Result<Vec<NotImported>, AppError> {
    let job = crate::jobs::get(app, who, job_id).await?;
    let mut conn = app.db.read_conn().await?;
    let mut out = Vec::new();
    let mut after = -1;
    while out.len() < limit as usize {
        let page = imports::page(&mut conn, job.id, imports::Filter::Errors, after, 1_000).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in page {
            let cells: BTreeMap<Column, String> =
                serde_json::from_str(&r.cells).unwrap_or_default();
            let issues: Vec<Issue> = r
                .issues
                .as_deref()
                .and_then(|i| serde_json::from_str(i).ok())
                .unwrap_or_default();
            let errors: Vec<&Issue> = issues.iter().filter(|i| i.is_error()).collect();
            out.push(NotImported {
                line: r.line,
                email: cells.get(&Column::Email).cloned().unwrap_or_default(),
                code: errors
                    .iter()
                    .map(|i| i.code.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                message: errors
                    .iter()
                    .map(|i| i.message.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            });
        }
    }
    out.truncate(limit as usize);
    let items = jobs::items(&mut conn, job.id, -1, limit).await?;
    for it in items {
        let payload: serde_json::Value = serde_json::from_str(&it.payload).unwrap_or_default();
        let row = imports::get(&mut conn, job.id, it.seq).await?;
        let cells: BTreeMap<Column, String> = row
            .map(|r| serde_json::from_str(&r.cells).unwrap_or_default())
            .unwrap_or_default();
        out.push(NotImported {
            line: payload["line"].as_i64().unwrap_or_default(),
            email: cells.get(&Column::Email).cloned().unwrap_or_default(),
            code: it.reason_code.unwrap_or_default(),
            message: it.message.unwrap_or_default(),
        });
    }
    Ok(out)
}

/// The import's report: one line per row not imported with every reason, then the outcome.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn report_csv(
    app: &App,
    who: &crate::Principal,
    job_id: Uuid,
) -> Result<String, AppError> {
    let job = crate::jobs::get(app, who, job_id).await?;
    let (outcome, sentence) = outcome_of(&job);
    let rows = not_imported(app, who, job_id, u32::MAX).await?;
    let mut sheet =
        crate::sheet::Sheet::with_header(&["line", "email", "outcome", "code", "reason"])?;
    for r in rows {
        sheet.row([
            r.line.to_string(),
            r.email,
            "not imported".to_string(),
            r.code,
            r.message,
        ])?;
    }
    sheet.row(["", "", outcome.label(), "", &sentence])?;
    sheet.into_text()
}
