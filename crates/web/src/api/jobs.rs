//! Bulk updates and the jobs that run them.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rollcall_app::App;
use rollcall_app::access::bulk_update::{self, BulkUpdateRequest, Refused};
use rollcall_app::jobs::{self, JobView};
use rollcall_app::model::Job;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::query::{StrictQuery, params};
use crate::error::ApiError;
use crate::session::ApiCaller;

params!(Page: "after", "limit");

/// How long a request waits for its bulk update before answering 202 with the running job.
const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize)]
pub struct BulkUpdateAnswer {
    pub job: JobView,
    /// succeeded, partially_succeeded or failed; absent while the job runs.
    pub outcome: Option<&'static str>,
    pub message: String,
    /// The first users not fully updated; page through the rest at `refused_url`.
    pub refused: Vec<Refused>,
    pub refused_url: String,
}

async fn answer(app: &App, caller: &ApiCaller, job: &Job) -> Result<BulkUpdateAnswer, ApiError> {
    let (_, outcome, message) = bulk_update::outcome_of(job);
    let refused = bulk_update::refused(app, &caller.principal, job.id, -1, 100)
        .await?
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    Ok(BulkUpdateAnswer {
        job: JobView::from(job),
        outcome: job.is_finished().then_some(outcome.as_str()),
        message,
        refused,
        refused_url: format!("/api/v1/jobs/{}/refused", job.id),
    })
}

/// What a bulk update would do, changing nothing (scope users:write): how many users it
/// selects, the tally of changes it would apply and refuse, and the first 100 users with a
/// refused change and why.
pub async fn dry_run(
    State(app): State<App>,
    caller: ApiCaller,
    Json(req): Json<BulkUpdateRequest>,
) -> Result<Json<bulk_update::DryRun>, ApiError> {
    Ok(Json(
        bulk_update::dry_run(&app, &caller.principal, &req).await?,
    ))
}

/// Start a bulk update (scope users:write); requires an `Idempotency-Key` header. Small
/// selections answer 200 when done; large ones 202 with the running job to poll.
pub async fn create(
    State(app): State<App>,
    caller: ApiCaller,
    headers: HeaderMap,
    Json(req): Json<BulkUpdateRequest>,
) -> Result<Response, ApiError> {
    let key = super::idempotency_key(&headers)?;
    let meta = caller.meta();
    let job = bulk_update::run(&app, &caller.principal, &req, Some(key), &meta, WAIT).await?;
    let status = if job.is_finished() {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let location = format!("/api/v1/jobs/{}", job.id);
    Ok((
        status,
        [(header::LOCATION, location)],
        Json(answer(&app, &caller, &job).await?),
    )
        .into_response())
}

/// One job's state and progress (scope users:read).
pub async fn get(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let job = jobs::get(&app, &caller.principal, id).await?;
    if job.kind.is_import() {
        let (outcome, message) = rollcall_app::onboarding::import::run::outcome_of(&job);
        let not_imported = if job.is_finished() {
            rollcall_app::onboarding::import::run::not_imported(&app, &caller.principal, id, 100)
                .await?
        } else {
            Vec::new()
        };
        return Ok(Json(serde_json::json!({
            "job": JobView::from(&job),
            "outcome": job.is_finished().then_some(outcome.as_str()),
            "message": message,
            "not_imported": not_imported,
            "report_url": format!("/jobs/{id}/report.csv"),
        })));
    }
    Ok(Json(
        serde_json::to_value(answer(&app, &caller, &job).await?).expect("answer serializes"),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Page {
    pub after: Option<i64>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct RefusedPage {
    pub refused: Vec<Refused>,
    /// Pass as `after` for the next page.
    pub next: Option<i64>,
}

/// Every user a job did not fully update, with each refused change and its rule.
pub async fn refused(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    StrictQuery(page): StrictQuery<Page>,
) -> Result<Json<RefusedPage>, ApiError> {
    let limit = page.limit.unwrap_or(500).clamp(1, 5_000);
    let items =
        bulk_update::refused(&app, &caller.principal, id, page.after.unwrap_or(-1), limit).await?;
    let next = (items.len() == limit as usize)
        .then(|| items.last().map(|(seq, _)| *seq))
        .flatten();
    Ok(Json(RefusedPage {
        refused: items.into_iter().map(|(_, r)| r).collect(),
        next,
    }))
}
