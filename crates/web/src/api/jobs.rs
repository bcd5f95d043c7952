//! Bulk updates and the jobs that run them.

use std::time::Duration;

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rollcall_app::App;
use rollcall_app::access::bulk_update::{self, BulkUpdateRequest, Refused, RefusedPage};
use rollcall_app::domain::Outcome;
use rollcall_app::jobs::{self, JobView};
use rollcall_app::model::Job;
use rollcall_app::onboarding::import::run::{self as import_run, NotImported};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::problem::{CONTENT_TYPE as PROBLEM, Problem};
use super::query::{StrictJson, StrictQuery, params};
use super::responses::{
    BadRequest, Forbidden, Internal, NotFound, PayloadTooLarge, Unauthenticated,
    UnsupportedMediaType,
};
use crate::error::ApiError;
use crate::session::ApiCaller;

params!(Page: "after", "limit");

/// How long a request waits for its bulk update before answering 202 with the running job.
const WAIT: Duration = Duration::from_secs(10);

/// A bulk update: its job, and once it ends, its outcome and the users not fully updated.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkUpdateAnswer {
    pub job: JobView,
    /// How the job ended; `null` while it runs.
    pub outcome: Option<Outcome>,
    /// The outcome or the progress in a sentence.
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
        outcome: job.is_finished().then_some(outcome),
        message,
        refused,
        refused_url: format!("/api/v1/jobs/{}/refused", job.id),
    })
}

/// What a bulk update would do, changing nothing
///
/// How many users it selects, the tally of changes it would apply and refuse, and the first
/// 100 users with a refused change and why. The same body as a bulk update; no
/// `Idempotency-Key` needed. Scope `users:write`.
#[utoipa::path(
    post,
    path = "/bulk-updates/dry-run",
    tag = "users",
    operation_id = "dry_run_bulk_update",
    request_body = BulkUpdateRequest,
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "What would happen", body = bulk_update::DryRun),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "A user or location id is not in the organization", body = Problem, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Nothing selected or both `user_ids` and `filter`, nothing asked, a contradiction, an unknown field, filter key or value", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
pub async fn dry_run(
    State(app): State<App>,
    caller: ApiCaller,
    StrictJson(req): StrictJson<BulkUpdateRequest>,
) -> Result<Json<bulk_update::DryRun>, ApiError> {
    Ok(Json(
        bulk_update::dry_run(&app, &caller.principal, &req).await?,
    ))
}

/// Add or remove permissions and locations for many users
///
/// Select users by `user_ids` or by `filter` (the user list's search and filters; `"all": true`
/// selects everyone it matches). Every change is judged by the rules. Small selections answer
/// 200 when done; large ones 202 with the running job to poll at `Location`. Requires an
/// `Idempotency-Key` header: a retry with the same key and body answers the same job and
/// changes nothing twice. Scope `users:write`.
#[utoipa::path(
    post,
    path = "/bulk-updates",
    tag = "users",
    operation_id = "create_bulk_update",
    params(("Idempotency-Key" = String, Header, description = "A new key (e.g. a UUID; 1–200 visible ASCII characters, with spaces or tabs only inside) per request; a retry sends the same one", pattern = r"^[!-~]([\t -~]{0,198}[!-~])?$")),
    request_body = BulkUpdateRequest,
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "Done: the outcome and the users not fully updated", body = BulkUpdateAnswer, headers(("Location" = String, description = "The job, at /api/v1/jobs/{id}"))),
        (status = 202, description = "Still running: poll the job at `Location`", body = BulkUpdateAnswer, headers(("Location" = String, description = "The job, at /api/v1/jobs/{id}"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "A user or location id is not in the organization", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The key was used with a different request", body = Problem, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "No `Idempotency-Key` header, nothing selected or both `user_ids` and `filter`, nothing asked, a contradiction, an unknown field or permission, or the caller is a viewer (rule 6)", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
pub async fn create(
    State(app): State<App>,
    caller: ApiCaller,
    headers: HeaderMap,
    StrictJson(req): StrictJson<BulkUpdateRequest>,
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

/// An import (from a CSV file or the directory): its job, and once it ends, its outcome and the
/// rows not imported.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportAnswer {
    pub job: JobView,
    /// How the job ended; `null` while it runs.
    pub outcome: Option<Outcome>,
    /// The outcome or the progress in a sentence.
    pub message: String,
    /// The first rows not imported, in file order; empty while the job runs.
    pub not_imported: Vec<NotImported>,
    /// The full report as CSV, in the console (a signed-in session).
    pub report_url: String,
}

/// A job as `GET /jobs/{id}` answers it: an import or a bulk update, told apart by `job.kind`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum JobAnswer {
    Import(ImportAnswer),
    BulkUpdate(BulkUpdateAnswer),
}

/// One job's state, progress and outcome
///
/// An import answers its rows not imported; a bulk update the users it did not fully update.
/// Scope `users:read`.
#[utoipa::path(
    get,
    path = "/jobs/{id}",
    tag = "jobs",
    operation_id = "get_job",
    params(("id" = Uuid, Path, description = "The job's id")),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The job", body = JobAnswer),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    )
)]
pub async fn get(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<JobAnswer>, ApiError> {
    let job = jobs::get(&app, &caller.principal, id).await?;
    if !job.kind.is_import() {
        return Ok(Json(JobAnswer::BulkUpdate(
            answer(&app, &caller, &job).await?,
        )));
    }
    let (outcome, message) = import_run::outcome_of(&job);
    let not_imported = if job.is_finished() {
        import_run::not_imported(&app, &caller.principal, id, 100).await?
    } else {
        Vec::new()
    };
    Ok(Json(JobAnswer::Import(ImportAnswer {
        job: JobView::from(&job),
        outcome: job.is_finished().then_some(outcome),
        message,
        not_imported,
        report_url: format!("/jobs/{id}/report.csv"),
    })))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Users a page, 1 to 5000 (500 when absent; other values are refused).
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<u32>,
}

/// The users a bulk update did not fully update
///
/// Each with every refused change and the rule that refused it; page with `after` = `next`.
/// Scope `users:read`.
#[utoipa::path(
    get,
    path = "/jobs/{id}/refused",
    tag = "jobs",
    operation_id = "list_job_refusals",
    params(("id" = Uuid, Path, description = "The job's id"), Page),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "A page of refused users", body = RefusedPage, headers(("Link" = String, description = "`<…>; rel=\"next\"` when another page follows"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, description = "A parameter this endpoint does not take, a bad cursor or limit", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
pub async fn refused(
    State(app): State<App>,
    caller: ApiCaller,
    uri: OriginalUri,
    Path(id): Path<Uuid>,
    StrictQuery(page): StrictQuery<Page>,
) -> Result<Response, ApiError> {
    let page = bulk_update::refused_page(
        &app,
        &caller.principal,
        id,
        page.after.as_deref(),
        page.limit,
    )
    .await?;
    Ok(super::paging::paged(
        &uri,
        page.next.clone().as_deref(),
        page,
    ))
}
