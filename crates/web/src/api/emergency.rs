//! Emergency ("break-glass") access through the API: a designated person takes it for
//! themselves (a personal token, scope `users:write`); company admins read every use and review
//! it afterwards, and set who is designated and for how long a grant may last.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rollcall_app::App;
use rollcall_app::access::emergency::EmergencyGrant;
use rollcall_app::access::emergency::expiry;
use rollcall_app::access::emergency::grant::{self, EmergencyRequest};
use rollcall_app::access::emergency::review::{self, GrantFilter, ReviewDecision};
use rollcall_app::access::emergency::settings::{self, EmergencySettings, EmergencySettingsChange};
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

params!(GrantFilter: "review_state", "live", "user", "limit");

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get))
        .routes(routes!(decide))
        .routes(routes!(end))
        .routes(routes!(get_settings, update_settings))
}

/// Take emergency access
///
/// For oneself, at once: a permission (not an administration one) and/or a location, with a
/// reason, for 15 minutes up to the organization's maximum. The rule engine judges it as for
/// any grant (a permission the person's user type forbids is refused, naming the rule); access
/// already held is refused, not recorded. Company admins are told at once (email, and the
/// `emergency_access.granted` webhook event); the access ends by itself at expiry
/// (`emergency_access.ended`), and a company admin reviews every use afterwards. Only members of
/// the organization's designated role, through a personal token. Scope `users:write`.
#[utoipa::path(
    post,
    path = "/emergency-access",
    tag = "emergency access",
    operation_id = "grant_emergency_access",
    request_body(content = EmergencyRequest),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 201, description = "The grant, in effect until `expires_at`", body = EmergencyGrant),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Every field that is wrong (an unknown or administration permission, an unknown location, a missing reason, a duration out of range, access already held), or the rule that refuses the grant", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn create(
    State(app): State<App>,
    caller: ApiCaller,
    StrictJson(req): StrictJson<EmergencyRequest>,
) -> Result<(StatusCode, Json<EmergencyGrant>), ApiError> {
    let made = grant::grant(
        &app,
        &caller.principal,
        &req,
        rollcall_app::domain::Path::Api,
        &caller.meta(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// Uses of emergency access
///
/// Newest first. A company admin reads every use of the organization; anyone else their own.
/// Scope `users:read` or `users:write`.
#[utoipa::path(
    get,
    path = "/emergency-access",
    tag = "emergency access",
    operation_id = "list_emergency_access",
    params(GrantFilter),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The grants, newest first", body = Vec<EmergencyGrant>),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 422, description = "A parameter this endpoint does not take, an unknown review state or a limit out of range", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn list(
    State(app): State<App>,
    caller: ApiCaller,
    StrictQuery(filter): StrictQuery<GrantFilter>,
) -> Result<Json<Vec<EmergencyGrant>>, ApiError> {
    Ok(Json(review::list(&app, &caller.principal, &filter).await?))
}

/// One use of emergency access
///
/// A company admin reads any; anyone else their own. Scope `users:read` or `users:write`.
#[utoipa::path(
    get,
    path = "/emergency-access/{id}",
    tag = "emergency access",
    operation_id = "get_emergency_access",
    params(("id" = Uuid, Path, description = "The grant's id")),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The grant and its review", body = EmergencyGrant),
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
) -> Result<Json<EmergencyGrant>, ApiError> {
    Ok(Json(review::get(&app, &caller.principal, id).await?))
}

/// Review a use of emergency access
///
/// `accepted` (the use was justified) or `flagged` (it needs a follow-up; a note says why).
/// Once; never one's own use. Company admins only. Scope `users:write`.
#[utoipa::path(
    post,
    path = "/emergency-access/{id}/review",
    tag = "emergency access",
    operation_id = "review_emergency_access",
    params(("id" = Uuid, Path, description = "The grant's id")),
    request_body(content = ReviewDecision),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The grant with its review", body = EmergencyGrant),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "The use was reviewed already", body = Problem, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "An unknown decision, a flag without a note, a note too long", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn decide(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    StrictJson(req): StrictJson<ReviewDecision>,
) -> Result<Json<EmergencyGrant>, ApiError> {
    Ok(Json(
        review::review(&app, &caller.principal, id, &req, &caller.meta()).await?,
    ))
}

/// End emergency access now
///
/// Once the emergency is over: the access the grant gave is taken back at once (a location that
/// has since become the person's default location stays, and the record says so), as at its
/// expiry (`emergency_access.ended`, marked `early`). The person who took it, or a company admin.
/// The use still waits for its review. Scope `users:write`.
#[utoipa::path(
    post,
    path = "/emergency-access/{id}/end",
    tag = "emergency access",
    operation_id = "end_emergency_access",
    params(("id" = Uuid, Path, description = "The grant's id")),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The grant, ended", body = EmergencyGrant),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "The grant has already ended", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn end(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<EmergencyGrant>, ApiError> {
    Ok(Json(
        expiry::end_now(&app, &caller.principal, id, &caller.meta()).await?,
    ))
}

/// Emergency-access settings
///
/// The role whose members may take emergency access, and the longest a grant may last.
/// Scope `users:read`.
#[utoipa::path(
    get,
    path = "/settings/emergency-access",
    tag = "emergency access",
    operation_id = "get_emergency_access_settings",
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The settings", body = EmergencySettings),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    )
)]
async fn get_settings(
    State(app): State<App>,
    caller: ApiCaller,
) -> Result<Json<EmergencySettings>, ApiError> {
    Ok(Json(settings::get(&app, &caller.principal).await?))
}

/// Change the emergency-access settings
///
/// The designating role (by id or name; empty: nobody may take emergency access) and the
/// longest a grant may last (15 minutes to 72 hours). Company admins only. Scope `users:write`.
#[utoipa::path(
    put,
    path = "/settings/emergency-access",
    tag = "emergency access",
    operation_id = "update_emergency_access_settings",
    request_body(content = EmergencySettingsChange, example = json!({ "role": "Emergency access", "max_minutes": 240 })),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The settings as changed", body = EmergencySettings),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "An unknown role, a maximum out of range", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn update_settings(
    State(app): State<App>,
    caller: ApiCaller,
    StrictJson(req): StrictJson<EmergencySettingsChange>,
) -> Result<Json<EmergencySettings>, ApiError> {
    Ok(Json(
        settings::update(&app, &caller.principal, &req, &caller.meta()).await?,
    ))
}
