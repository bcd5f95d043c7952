//! Access review campaigns through the API: start one, follow it, review the people it gives the
//! caller (one or a selection at once), and export its evidence.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use rollcall_app::App;
use rollcall_app::reviews::decide::{self, DecisionOutcome, DecisionRequest};
use rollcall_app::reviews::evidence::{self, Evidence};
use rollcall_app::reviews::queue::{self, Queue};
use rollcall_app::reviews::start::{self, NewCampaign};
use rollcall_app::reviews::{self, CampaignView};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::problem::{CONTENT_TYPE as PROBLEM, Problem};
use super::query::{StrictJson, StrictQuery, params};
use super::responses::{
    BadRequest, Forbidden, Internal, NotFound, PayloadTooLarge, Unauthenticated,
    UnsupportedMediaType,
};
use crate::error::ApiError;
use crate::session::ApiCaller;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get))
        .routes(routes!(items))
        .routes(routes!(decide))
        .routes(routes!(close))
        .routes(routes!(evidence))
        .routes(routes!(evidence_csv))
}

/// The organization's access review campaigns
///
/// Newest first, each with how many people are pending, decided, escalated or revoked. Scope
/// `users:read`.
#[utoipa::path(
    get,
    path = "/access-reviews",
    tag = "access reviews",
    operation_id = "list_access_reviews",
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The campaigns", body = Vec<CampaignView>),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    )
)]
async fn list(
    State(app): State<App>,
    caller: ApiCaller,
) -> Result<Json<Vec<CampaignView>>, ApiError> {
    Ok(Json(reviews::list(&app, &caller.principal).await?))
}

/// Start an access review campaign
///
/// Over everyone not deactivated, or those of a location, role or user type; due on a date in
/// the organization's zone; optionally recurring. Each person is reviewed by the clinic admins
/// who reach them, or by the company admins. Company admins only. Scope `users:write`.
#[utoipa::path(
    post,
    path = "/access-reviews",
    tag = "access reviews",
    operation_id = "create_access_review",
    request_body(content = NewCampaign, example = json!({
        "name": "Q1 access review", "due_date": "2027-03-31", "recurrence": "quarterly"
    })),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 201, description = "The campaign", body = CampaignView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Every field that is wrong: a missing name, a due date that is not a date or has passed, an unknown location, role, user type or recurrence", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn create(
    State(app): State<App>,
    caller: ApiCaller,
    StrictJson(req): StrictJson<NewCampaign>,
) -> Result<(StatusCode, Json<CampaignView>), ApiError> {
    let view = start::start(&app, &caller.principal, &req, &caller.meta()).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// An access review campaign
///
/// Its scope, due date, recurrence, what its due date did, and its counts. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/access-reviews/{id}",
    tag = "access reviews",
    operation_id = "get_access_review",
    params(("id" = Uuid, Path, description = "The campaign's id")),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The campaign", body = CampaignView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    )
)]
async fn get(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<CampaignView>, ApiError> {
    Ok(Json(reviews::get(&app, &caller.principal, id).await?))
}

/// A page of the caller's review queue.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
struct ItemsQuery {
    /// The `next` of the previous page.
    after: Option<Uuid>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

params!(ItemsQuery: "after", "limit");

/// The people the caller reviews in a campaign
///
/// Each with their effective permissions and where each comes from, their locations, last
/// sign-in, second factor, and the decision taken so far. Page with `after`. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/access-reviews/{id}/items",
    tag = "access reviews",
    operation_id = "list_access_review_items",
    params(("id" = Uuid, Path, description = "The campaign's id"), ItemsQuery),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "A page of the caller's queue", body = Queue),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, description = "A parameter this endpoint does not take, or a value that is not valid", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn items(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    StrictQuery(q): StrictQuery<ItemsQuery>,
) -> Result<Json<Queue>, ApiError> {
    Ok(Json(
        queue::mine(&app, &caller.principal, id, q.after, q.limit).await?,
    ))
}

/// Decide on one person or a selection
///
/// `keep`, `remove_permission` (its direct grant and the roles carrying it go), `remove_location`
/// or `deactivate`, with a note; applied through the same rules as any change. Each person's
/// outcome says whether it was applied, refused by a rule (and why) or skipped (not the
/// caller's, already decided, nothing to remove). Scope `users:write`.
#[utoipa::path(
    post,
    path = "/access-reviews/{id}/decisions",
    tag = "access reviews",
    operation_id = "decide_access_review",
    params(("id" = Uuid, Path, description = "The campaign's id")),
    request_body(content = DecisionRequest, example = json!({
        "users": ["0190c6d2-5f4e-7a31-9b8e-1f2a3b4c5d6e"], "decision": "keep", "note": "Still on the team"
    })),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "Each person's outcome", body = Vec<DecisionOutcome>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Every field that is wrong: an empty or too large selection, an unknown decision, permission or location, a missing target, a note too long", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn decide(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    StrictJson(req): StrictJson<DecisionRequest>,
) -> Result<Json<Vec<DecisionOutcome>>, ApiError> {
    let meta = caller.meta();
    let path = rollcall_app::domain::Path::Api;
    Ok(Json(
        decide::decide(&app, &caller.principal, id, &req, path, &meta).await?,
    ))
}

/// End a campaign now
///
/// Its due date becomes now, and what the due date brings happens at once: the unreviewed are
/// escalated to the company admins, or lose their elevated permissions by the organization's
/// setting; a recurring campaign starts its next one. Company admins only. Scope `users:write`.
#[utoipa::path(
    post,
    path = "/access-reviews/{id}/close",
    tag = "access reviews",
    operation_id = "close_access_review",
    params(("id" = Uuid, Path, description = "The campaign's id")),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The campaign, past its due date", body = CampaignView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "The campaign is already past its due date", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn close(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<CampaignView>, ApiError> {
    let meta = caller.meta();
    Ok(Json(
        reviews::due::close_now(&app, &caller.principal, id, &meta).await?,
    ))
}

/// A campaign's evidence
///
/// Every person in it, their reviewers, who decided what and when, the note, and what was
/// applied or why a rule refused it. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/access-reviews/{id}/evidence",
    tag = "access reviews",
    operation_id = "export_access_review_evidence",
    params(("id" = Uuid, Path, description = "The campaign's id")),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The evidence", body = Evidence),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    )
)]
async fn evidence(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<Evidence>, ApiError> {
    Ok(Json(evidence::json(&app, &caller.principal, id).await?))
}

/// A campaign's evidence as CSV
///
/// The evidence of `export_access_review_evidence`, one person a row under a header row (every
/// cell safe to open in a spreadsheet). Scope `users:read`.
#[utoipa::path(
    get,
    path = "/access-reviews/{id}/evidence.csv",
    tag = "access reviews",
    operation_id = "export_access_review_evidence_csv",
    params(("id" = Uuid, Path, description = "The campaign's id")),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The evidence", content((String = "text/csv"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    )
)]
async fn evidence_csv(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    let text = evidence::csv(&app, &caller.principal, id).await?;
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"access-review-{id}.csv\""),
            ),
        ],
        text,
    )
        .into_response())
}
