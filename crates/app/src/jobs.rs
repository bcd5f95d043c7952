//! Running bulk jobs: claim, advance chunk by chunk, finish; resume what a stopped process left.
//!
//! Each kind of job owns its chunk step (see `bulk_update::step`); this module owns the lease,
//! the loop and what people see of a job.

use std::time::Duration;

use rollcall_domain::Capability;
use rollcall_store::jobs::{self, Job};
use serde::Serialize;
use uuid::Uuid;

use crate::clock::rfc3339;
use crate::{App, AppError, Principal};

/// How long a runner holds a job between chunks before another may take it over: a chunk
/// commits in well under a second, so a job whose runner died is resumed within this time.
/// `ROLLCALL_JOB_LEASE_SECS` shortens it (tests that kill a process mid-job).
pub fn lease_micros() -> i64 {
    static LEASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *LEASE.get_or_init(|| {
        std::env::var("ROLLCALL_JOB_LEASE_SECS")
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|s| *s > 0)
            .unwrap_or(30)
            * 1_000_000
    })
}

/// A job as people and clients see it.
#[derive(Debug, Clone, Serialize)]
pub struct JobView {
    pub id: Uuid,
    pub kind: String,
    pub state: String,
    pub finished: bool,
    pub total: i64,
    pub done: i64,
    pub percent: i64,
    pub summary: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Job> for JobView {
    fn from(job: &Job) -> Self {
        JobView {
            id: job.id,
            kind: job.kind.clone(),
            state: job.state.clone(),
            finished: job.is_finished(),
            total: job.total,
            done: job.done,
            percent: if job.total > 0 {
                job.done * 100 / job.total
            } else {
                100
            },
            summary: serde_json::from_str(&job.summary).unwrap_or(serde_json::Value::Null),
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
        }
    }
}

/// A finished job's outcome and the sentence that says it, whatever its kind.
pub fn outcome_of(job: &Job) -> Option<(rollcall_domain::Outcome, String)> {
    if !job.is_finished() {
        return None;
    }
    Some(match job.kind.as_str() {
        crate::onboarding::import::KIND_CSV | crate::onboarding::import::KIND_DIRECTORY => {
            crate::onboarding::import::run::outcome_of(job)
        }
        _ => {
            let (_, outcome, sentence) = crate::bulk_update::outcome_of(job);
            (outcome, sentence)
        }
    })
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
pub async fn run(app: &App, org_id: Uuid, id: Uuid) -> Result<(), AppError> {
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
    let result = match job.kind.as_str() {
        crate::bulk_update::KIND => crate::bulk_update::run_job(app, &job).await,
        crate::onboarding::import::KIND_CSV | crate::onboarding::import::KIND_DIRECTORY => {
            crate::onboarding::import::run::run_job(app, &job).await
        }
        other => Err(AppError::Internal(format!(
            "no runner for jobs of kind {other}"
        ))),
    };
    if let Err(e) = result {
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

/// Marks a job failed with the reason, keeping what its committed chunks did.
async fn fail(app: &App, job: &Job, why: &str) -> Result<(), AppError> {
    let mut summary: serde_json::Value =
        serde_json::from_str(&job.summary).unwrap_or_else(|_| serde_json::json!({}));
    summary["error"] = serde_json::Value::String(why.to_string());
    let mut conn = app.db.write_conn().await?;
    jobs::finish(
        &mut conn,
        job.id,
        "failed",
        &summary.to_string(),
        app.clock.now(),
    )
    .await?;
    Ok(())
}

/// Runs a job in the background.
pub fn spawn(app: &App, org_id: Uuid, id: Uuid) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(e) = run(&app, org_id, id).await {
            tracing::warn!(job = %id, error = %e, "job failed");
        }
    })
}

/// Runs jobs up to `wait`; returns the job as it then stands (finished or still running).
pub async fn run_for(app: &App, org_id: Uuid, id: Uuid, wait: Duration) -> Result<Job, AppError> {
    let handle = spawn(app, org_id, id);
    let _ = tokio::time::timeout(wait, handle).await;
    let mut conn = app.db.read_conn().await?;
    jobs::get(&mut conn, org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("job"))
}

/// Picks up jobs that a stopped process left queued or running; call at start-up.
pub async fn resume_orphans(app: &App) -> Result<usize, AppError> {
    Ok(take_over_orphans(app).await?.len())
}

/// Picks up jobs that a stopped process left queued or running (once their lease has run
/// out); returns each one's (organization, job) so a caller can follow them.
pub async fn take_over_orphans(app: &App) -> Result<Vec<(Uuid, Uuid)>, AppError> {
    let orphans = {
        let mut conn = app.db.read_conn().await?;
        jobs::orphaned(&mut conn, app.clock.now()).await?
    };
    for (org_id, id) in &orphans {
        spawn(app, *org_id, *id);
    }
    Ok(orphans)
}

pub async fn get(app: &App, who: &Principal, id: Uuid) -> Result<Job, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    jobs::get(&mut conn, who.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("job"))
}

pub async fn recent(app: &App, who: &Principal) -> Result<Vec<Job>, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    Ok(jobs::recent(&mut conn, who.org_id, 50).await?)
}

/// Resumes orphaned jobs now and every half minute: a job whose runner died is taken over once
/// its lease runs out. A job running here holds a live lease, so it is never run twice.
pub fn spawn_sweeper(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = resume_orphans(&app).await {
                tracing::warn!(error = %e, "could not look for unfinished jobs");
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    })
}
