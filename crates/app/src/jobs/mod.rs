//! Bulk jobs: claim, run under a lease, finish; resume what a stopped process left.
//!
//! This module owns the lease, the claim and what people see of a job, and knows no kind of job:
//! each kind (a bulk update, an import) implements [`Kind`] beside its own use case, and
//! `kinds` is the registry that finds a job's kind by its `JobKind`.

pub mod kinds;

use std::time::Duration;

use futures::future::BoxFuture;
use rollcall_domain::{Capability, JobKind, JobState, Outcome};
use rollcall_store::jobs::{self, Job};
use serde::Serialize;
use uuid::Uuid;

use crate::clock::rfc3339;
use crate::{App, AppError, Principal};

pub use crate::config::lease_micros;

/// A job as people and clients see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobView {
    pub id: Uuid,
    pub kind: JobKind,
    pub state: JobState,
    /// Whether the job has ended (succeeded, partially succeeded or failed).
    pub finished: bool,
    /// Items to do: rows of an import, users of a bulk update.
    pub total: i64,
    /// Items done so far.
    pub done: i64,
    /// `done` of `total` in whole percent (an empty job is done).
    pub percent: i64,
    /// The kind's counts: an import's rows, errors and users created; a bulk update's tally.
    pub summary: serde_json::Value,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// How far a job has come, in whole percent (an empty job is done).
pub fn percent_done(job: &Job) -> i64 {
    if job.total > 0 {
        job.done * 100 / job.total
    } else {
        100
    }
}

impl From<&Job> for JobView {
    fn from(job: &Job) -> Self {
        JobView {
            id: job.id,
            kind: job.kind,
            state: job.state,
            finished: job.is_finished(),
            total: job.total,
            done: job.done,
            percent: percent_done(job),
            summary: serde_json::from_str(&job.summary).unwrap_or(serde_json::Value::Null),
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
        }
    }
}

/// What the runner needs of a kind of job.
pub(crate) trait Kind: Sync {
    /// The kinds of stored job this runs.
    fn kinds(&self) -> &'static [JobKind];

    /// How its report file is named.
    fn report_name(&self) -> &'static str;

    /// Runs the job's remaining chunks; the caller holds its claim. Each chunk commits its
    /// writes with the advance of `done`, so a run taken over after a crash does nothing twice.
    fn run<'a>(&'a self, app: &'a App, job: &'a Job) -> BoxFuture<'a, Result<(), AppError>>;

    /// A finished job's outcome and the sentence that says it.
    fn outcome(&self, job: &Job) -> (Outcome, String);

    /// The job's report as CSV: what was not done and why, then the outcome.
    fn report<'a>(
        &'a self,
        app: &'a App,
        who: &'a Principal,
        job: &'a Job,
    ) -> BoxFuture<'a, Result<String, AppError>>;
}

/// What one chunk reports back to its runner.
pub enum Step {
    /// More to do.
    Continue,
    /// Every item is done.
    Done,
    /// Another runner advanced the job first: leave it to them.
    Lost,
}

/// Runs a job until it is finished, unless another runner holds it.
pub(crate) async fn run(
    app: &App,
    org_id: Uuid,
    id: Uuid,
    kind: &dyn Kind,
) -> Result<(), AppError> {
    let _running = app.shutdown.job_running();
    if app.shutdown.is_draining() {
        return Ok(());
    }
    {
        let now = app.clock.now();
        let mut conn = app.db.write_conn().await?;
        if !jobs::claim(&mut conn, id, now, now + lease_micros()).await? {
            return Ok(());
        }
    }
    let job = {
        let mut conn = app.db.read_conn().await?;
        jobs::get(&mut conn, org_id, id)
            .await?
            .ok_or_else(|| AppError::not_found("job"))?
    };
    if job.is_finished() {
        return Ok(());
    }
    if let Err(e) = kind.run(app, &job).await {
        // The job as it now stands: its committed chunks are kept and counted.
        let now = {
            let mut conn = app.db.read_conn().await?;
            jobs::get(&mut conn, org_id, id).await?.unwrap_or(job)
        };
        fail(app, &now, &e.to_string()).await?;
        return Err(e);
    }
    Ok(())
}

/// Whether a runner should stop before its next chunk (the process is draining); if so, the
/// job is given back first, so another runner takes it at once instead of after the lease.
pub(crate) async fn stop_here(app: &App, job: &Job, done: i64) -> Result<bool, AppError> {
    if !app.shutdown.is_draining() {
        return Ok(false);
    }
    let mut conn = app.db.write_conn().await?;
    if jobs::release(&mut conn, job.id, done, app.clock.now()).await? {
        tracing::info!(job = %job.id, done, total = job.total, "job given back while draining");
    }
    Ok(true)
}

/// Marks a job failed with the reason, keeping what its committed chunks did.
async fn fail(app: &App, job: &Job, why: &str) -> Result<(), AppError> {
    let mut summary: serde_json::Value =
        serde_json::from_str(&job.summary).unwrap_or_else(|_| serde_json::json!({}));
    summary["error"] = serde_json::Value::String(why.to_string());
    let mut conn = app.db.write_conn().await?;
    jobs::finish(
        &mut conn,
        job.id,
        JobState::Failed,
        &summary.to_string(),
        app.clock.now(),
    )
    .await?;
    Ok(())
}

/// Runs a job in the background.
pub(crate) fn spawn(
    app: &App,
    org_id: Uuid,
    id: Uuid,
    kind: &'static dyn Kind,
) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(e) = run(&app, org_id, id, kind).await {
            tracing::warn!(job = %id, error = %e, "job failed");
        }
    })
}

/// Runs a job up to `wait`; returns the job as it then stands (finished or still running).
pub(crate) async fn run_for(
    app: &App,
    org_id: Uuid,
    id: Uuid,
    kind: &'static dyn Kind,
    wait: Duration,
) -> Result<Job, AppError> {
    let handle = spawn(app, org_id, id, kind);
    let _ = tokio::time::timeout(wait, handle).await;
    let mut conn = app.db.read_conn().await?;
    jobs::get(&mut conn, org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("job"))
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn get(app: &App, who: &Principal, id: Uuid) -> Result<Job, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    jobs::get(&mut conn, who.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("job"))
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn recent(app: &App, who: &Principal) -> Result<Vec<Job>, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    Ok(jobs::recent(&mut conn, who.org_id, 50).await?)
}
