//! The JSON API under /api/v1, authenticated by scoped bearer tokens.

mod directory;
mod imports;
mod invitations;
mod jobs;
mod openapi;
mod problem;
mod query;
mod reference;
mod responses;
mod tokens;

pub use problem::Problem;

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::{Json, Router};
use rollcall_app::App;
use rollcall_app::access::profile::{self, Profile, ProfileEdit};
use rollcall_app::audit::{self, AuditPage, AuditParams};
use rollcall_app::domain::{Capability, Permission, Scope};
use rollcall_app::users::list::{self as user_list, ListParams, UserPage};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::ApiError;
use crate::session::ApiCaller;
use problem::CONTENT_TYPE as PROBLEM;
use query::{StrictQuery, params};
use responses::{
    BadRequest, Forbidden, Internal, NotFound, PayloadTooLarge, Unauthenticated,
    UnsupportedMediaType,
};

params!(ListParams: "q", "status", "user_type", "location", "role", "sort", "after", "limit");
params!(AuditParams: "actor", "action", "target", "from", "to", "before_seq", "after_seq", "limit");

pub fn routes() -> Router<App> {
    let (router, _) = documented().split_for_parts();
    router
        .fallback(|| async {
            ApiError(rollcall_app::AppError::NotFound(
                "No such API endpoint. The OpenAPI document at /api/v1/openapi.json lists them."
                    .into(),
            ))
        })
        .layer(axum::middleware::from_fn(problem::every_error_a_problem))
}

/// Every route of the API with its OpenAPI description: the document is generated from these.
fn documented() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(<openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(openapi::serve))
        .routes(routes!(me))
        .routes(routes!(list_users))
        .routes(routes!(get_user, update_user))
        .routes(routes!(list_audit))
        .routes(routes!(invitations::create))
        .routes(routes!(invitations::batch))
        .routes(routes!(invitations::resend))
        .routes(routes!(invitations::revoke))
        .routes(routes!(invitations::deactivate))
        .routes(routes!(invitations::reactivate))
        .routes(routes!(jobs::create))
        .routes(routes!(jobs::dry_run))
        .merge(imports::routes())
        .merge(directory::routes())
        .merge(tokens::routes())
        .merge(reference::routes())
        .routes(routes!(jobs::get))
        .routes(routes!(jobs::refused))
}

/// The caller as the API sees them: who, in which organization, and what they may do.
#[derive(Debug, Serialize, ToSchema)]
struct Me {
    user_id: Uuid,
    /// The organization's name.
    organization: String,
    name: String,
    /// The permissions the user holds (keys).
    permissions: BTreeSet<Permission>,
    /// The token's scopes.
    scopes: Option<BTreeSet<Scope>>,
    can_view_users: bool,
    can_manage_users: bool,
    /// What the caller may do through this token, e.g. `view_users`, `edit_access`.
    capabilities: Vec<&'static str>,
}

/// The caller's identity and access profile
///
/// The token's user, organization, permissions, scopes and capabilities. Any valid token.
#[utoipa::path(
    get,
    path = "/me",
    tag = "meta",
    operation_id = "get_me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, response = Unauthenticated),
        (status = 500, response = Internal),
    )
)]
async fn me(caller: ApiCaller) -> Json<Me> {
    let p = caller.principal;
    Json(Me {
        user_id: p.user_id,
        organization: p.org_name.clone(),
        name: p.display_name.clone(),
        can_view_users: p.can(Capability::ViewUsers),
        can_manage_users: p.can(Capability::EditAccess),
        capabilities: Capability::ALL
            .into_iter()
            .filter(|&c| p.can(c))
            .map(Capability::key)
            .collect(),
        permissions: p.permissions,
        scopes: p.scopes,
    })
}

/// One page of the user list
///
/// Searched, filtered and sorted; page with `after`. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    operation_id = "list_users",
    params(ListParams),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "A page of users", body = UserPage),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 422, description = "A parameter this endpoint does not take (`parameter_unknown`), or a value that is not valid: an unknown status, user type, location or role, a bad cursor or limit", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn list_users(
    State(app): State<App>,
    caller: ApiCaller,
    StrictQuery(params): StrictQuery<ListParams>,
) -> Result<Json<UserPage>, ApiError> {
    Ok(Json(
        user_list::list(&app, &caller.principal, &params).await?,
    ))
}

/// A user's profile
///
/// Details, roles, locations, direct and effective permissions with their sources, the
/// permissions the rules filter out and why, provider credentials and notification choices.
/// Scope `users:read`.
#[utoipa::path(
    get,
    path = "/users/{id}",
    tag = "users",
    operation_id = "get_user",
    params(("id" = Uuid, Path, description = "The user's id")),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The profile", body = Profile),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    )
)]
async fn get_user(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<Profile>, ApiError> {
    Ok(Json(profile::get(&app, &caller.principal, id).await?))
}

/// Edit a profile
///
/// Names, mobile, user type, locations, default location, roles, direct permissions, provider
/// credentials and notifications; absent fields stay as they are. Every access change is judged
/// by the rules, and a refused one refuses the whole edit. Scope `users:write`.
#[utoipa::path(
    patch,
    path = "/users/{id}",
    tag = "users",
    operation_id = "update_user",
    params(("id" = Uuid, Path, description = "The user's id")),
    request_body = ProfileEdit,
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The profile as saved", body = Profile),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such user, location or role in the organization", body = Problem, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "A value is not valid (NPI check digit, taxonomy code, mobile, …), an unknown field, or a rule refused a change (`rule` names it)", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn update_user(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    Json(edit): Json<ProfileEdit>,
) -> Result<Json<Profile>, ApiError> {
    let meta = caller.meta();
    Ok(Json(
        profile::update(
            &app,
            &caller.principal,
            id,
            &edit,
            rollcall_app::domain::Path::Api,
            &meta,
        )
        .await?,
    ))
}

/// The `Idempotency-Key` header bulk calls require, so a retry never acts twice.
fn idempotency_key(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError(
                rollcall_domain::ValueError::new(
                    "Idempotency-Key",
                    "idempotency_key_missing",
                    "Bulk calls need an Idempotency-Key header (e.g. a new UUID per request) so a retry never acts twice.",
                )
                .into(),
            )
        })
}

/// One page of the audit log, newest first
///
/// Filtered by actor, action, target and days; page with `before_seq`. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    operation_id = "list_audit_events",
    params(AuditParams),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "A page of events", body = AuditPage),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 422, description = "A parameter this endpoint does not take, or a filter that is not valid (a target that is not an id, a date that does not parse)", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn list_audit(
    State(app): State<App>,
    caller: ApiCaller,
    StrictQuery(params): StrictQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(audit::list(&app, &caller.principal, &params).await?))
}
