//! The JSON API under /api/v1, authenticated by scoped bearer tokens.

mod directory;
mod imports;
mod invitations;
mod jobs;
mod openapi;
mod problem;
mod query;
mod reference;
mod tokens;

pub use problem::Problem;

use axum::extract::State;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use rollcall_app::App;
use rollcall_app::audit::{self, AuditPage, AuditParams};
use rollcall_app::domain::Capability;
use rollcall_app::users::list::{self as user_list, ListParams, UserPage};
use serde_json::{Value, json};

use axum::http::HeaderMap;

use crate::error::ApiError;
use query::{StrictQuery, params};

params!(ListParams: "q", "status", "user_type", "location", "role", "sort", "after", "limit");
params!(AuditParams: "actor", "action", "target", "from", "to", "before_seq", "after_seq", "limit");
use crate::session::ApiCaller;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/me", get(me))
        .route("/users", get(list_users))
        .route("/users/{id}", get(get_user).patch(update_user))
        .route("/audit", get(list_audit))
        .route("/invitations", post(invitations::create))
        .route("/invitations/batch", post(invitations::batch))
        .route("/users/{id}/invitation/resend", post(invitations::resend))
        .route("/users/{id}/invitation", delete(invitations::revoke))
        .route("/users/{id}/deactivate", post(invitations::deactivate))
        .route("/users/{id}/reactivate", post(invitations::reactivate))
        .route("/bulk-updates", post(jobs::create))
        .route("/bulk-updates/dry-run", post(jobs::dry_run))
        .merge(imports::routes())
        .merge(directory::routes())
        .merge(tokens::routes())
        .merge(reference::routes())
        .route("/jobs/{id}", get(jobs::get))
        .route("/jobs/{id}/refused", get(jobs::refused))
        .fallback(|| async {
            ApiError(rollcall_app::AppError::NotFound(
                "No such API endpoint. The OpenAPI document at /api/v1/openapi.json lists them."
                    .into(),
            ))
        })
        .layer(axum::middleware::from_fn(problem::every_error_a_problem))
}

/// The caller's identity and access profile.
async fn me(caller: ApiCaller) -> Json<Value> {
    let p = caller.principal;
    Json(json!({
        "user_id": p.user_id,
        "organization": p.org_name,
        "name": p.display_name,
        "permissions": p.permissions.iter().map(|x| x.key()).collect::<Vec<_>>(),
        "scopes": p.scopes,
        "can_view_users": p.can(Capability::ViewUsers),
        "can_manage_users": p.can(Capability::EditAccess),
        "capabilities": Capability::ALL
            .into_iter()
            .filter(|&c| p.can(c))
            .map(Capability::key)
            .collect::<Vec<_>>(),
    }))
}

/// One page of the user list (scope users:read).
async fn list_users(
    State(app): State<App>,
    caller: ApiCaller,
    StrictQuery(params): StrictQuery<ListParams>,
) -> Result<Json<UserPage>, ApiError> {
    Ok(Json(
        user_list::list(&app, &caller.principal, &params).await?,
    ))
}

/// A user's profile: details, access with sources, filtered grants, provider credentials.
async fn get_user(
    State(app): State<App>,
    caller: ApiCaller,
    axum::extract::Path(id): axum::extract::Path<uuid::Uuid>,
) -> Result<Json<rollcall_app::access::profile::Profile>, ApiError> {
    Ok(Json(
        rollcall_app::access::profile::get(&app, &caller.principal, id).await?,
    ))
}

/// Edit a profile (scope users:write); absent fields stay as they are. Every access change is
/// judged by the rules, and a refused one refuses the whole edit.
async fn update_user(
    State(app): State<App>,
    caller: ApiCaller,
    axum::extract::Path(id): axum::extract::Path<uuid::Uuid>,
    Json(edit): Json<rollcall_app::access::profile::ProfileEdit>,
) -> Result<Json<rollcall_app::access::profile::Profile>, ApiError> {
    let meta = caller.meta();
    Ok(Json(
        rollcall_app::access::profile::update(
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

/// One page of the audit log, newest first (scope users:read).
async fn list_audit(
    State(app): State<App>,
    caller: ApiCaller,
    StrictQuery(params): StrictQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(audit::list(&app, &caller.principal, &params).await?))
}
