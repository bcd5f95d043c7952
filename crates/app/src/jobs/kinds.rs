//! The registry of job kinds: finds a stored job's kind by its `JobKind`, for the work that does
//! not know it (resuming jobs a stopped process left, outcomes and reports on the Jobs pages).

use std::time::Duration;

use rollcall_domain::{JobKind, Outcome};
use rollcall_store::jobs::{self, Job};
use uuid::Uuid;

use super::Kind;
use crate::{App, AppError, Principal, access::bulk_update, onboarding::import};

/// How often unfinished jobs without a live lease are looked for.
const SWEEP: Duration = Duration::from_secs(10);

/// Every kind Rollcall runs.
const KINDS: [&dyn Kind; 2] = [&bulk_update::BULK_UPDATE, &import::run::IMPORT];

fn of(job: &Job) -> Result<&'static dyn Kind, AppError> {
    runner_of(job.kind)
}

fn runner_of(kind: JobKind) -> Result<&'static dyn Kind, AppError> {
    KINDS
        .into_iter()
        .find(|k| k.kinds().contains(&kind))
        .ok_or_else(|| AppError::Internal(format!("no runner for jobs of kind {kind}")))
}

/// A finished job's outcome and the sentence that says it, whatever its kind.
pub fn outcome_of(job: &Job) -> Option<(Outcome, String)> {
    if !job.is_finished() {
        return None;
    }
    of(job).ok().map(|k| k.outcome(job))
}

/// A job's report as CSV, and a file name for it.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn report_csv(
    app: &App,
    who: &Principal,
    job_id: Uuid,
) -> Result<(String, String), AppError> {
    let job = super::get(app, who, job_id).await?;
    let kind = of(&job)?;
    let name = format!("{}-{job_id}.csv", kind.report_name());
    Ok((name, kind.report(app, who, &job).await?))
}

/// Runs a stored job in the background, whatever its kind.
pub async fn spawn(
    app: &App,
    org_id: Uuid,
    id: Uuid,
) -> Result<tokio::task::JoinHandle<()>, AppError> {
    let job = jobs::get(&mut *app.db.read_conn().await?, org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("job"))?;
    Ok(super::spawn(app, org_id, id, of(&job)?))
}

/// Picks up jobs that a stopped process left queued or running; call at start-up.
pub async fn resume_orphans(app: &App) -> Result<usize, AppError> {
    Ok(take_over_orphans(app).await?.len())
}

/// Picks up jobs that a stopped process left queued or running (once their lease has run
/// out); returns each one's (organization, job) so a caller can follow them.
pub async fn take_over_orphans(app: &App) -> Result<Vec<(Uuid, Uuid)>, AppError> {
    let orphans = jobs::orphaned(&mut *app.db.read_conn().await?, app.clock.now()).await?;
    let mut taken = Vec::with_capacity(orphans.len());
    for (org_id, id, kind) in orphans {
        super::spawn(app, org_id, id, runner_of(kind)?);
        taken.push((org_id, id));
    }
    Ok(taken)
}

/// Resumes orphaned jobs now and every ten seconds, until the process drains: a job whose runner
/// died is taken over once its lease runs out, one given back by a draining process at once. A
/// job running here holds a live lease, so it is never run twice. Also forgets old attempt
/// counters and whole API allowances.
pub fn spawn_sweeper(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = app.shutdown.clone();
        while !shutdown.is_draining() {
            if let Err(e) = resume_orphans(&app).await {
                tracing::warn!(error = %e, "could not look for unfinished jobs");
            }
            if let Err(e) = app.limits.forget_old(app.clock.now()).await {
                tracing::warn!(error = %e, "could not forget old sign-in attempts");
            }
            if let Err(e) = crate::rate_limit::forget_whole(&app).await {
                tracing::warn!(error = %e, "could not forget whole API allowances");
            }
            tokio::select! {
                _ = tokio::time::sleep(SWEEP) => {}
                _ = shutdown.draining() => {}
            }
        }
    })
}
