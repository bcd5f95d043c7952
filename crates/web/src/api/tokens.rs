//! API tokens through the API (scope tokens:write): service accounts and personal tokens made,
//! listed, rotated and revoked by integrations themselves.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rollcall_app::App;
use rollcall_app::identity::api_tokens::{self, Issued, NewToken, TokenView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::problem::{CONTENT_TYPE as PROBLEM, Problem};
use super::query::StrictJson;
use super::responses::{
    BadRequest, Forbidden, Internal, NotFound, PayloadTooLarge, Unauthenticated,
    UnsupportedMediaType,
};
use crate::error::ApiError;
use crate::session::ApiCaller;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
        .routes(routes!(rotate))
}

/// The API tokens the caller manages
///
/// Every token for a company admin's token or a service account; the caller's own personal
/// tokens otherwise. Never a secret. Scope `tokens:write`.
#[utoipa::path(
    get,
    path = "/tokens",
    tag = "tokens",
    operation_id = "list_tokens",
    security(("bearer" = ["tokens:write"])),
    responses(
        (status = 200, description = "The tokens, newest first", body = Vec<TokenView>),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    )
)]
async fn list(State(app): State<App>, caller: ApiCaller) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(api_tokens::list(&app, &caller.principal).await?))
}

/// Make an API token
///
/// A service account (`owner: organization`, company admins only) or a personal token
/// (`owner: person`). Its secret is in this answer only. A token never gives a scope it lacks.
/// Scope `tokens:write`.
#[utoipa::path(
    post,
    path = "/tokens",
    tag = "tokens",
    operation_id = "create_token",
    request_body(content = NewToken, example = json!({
        "name": "HR sync", "scopes": "users:read users:write", "owner": "organization", "expires_in_days": 365
    })),
    security(("bearer" = ["tokens:write"])),
    responses(
        (status = 201, description = "The token and its secret, shown this once", body = Issued),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Every field that is wrong: a missing name, an unknown scope or one the calling token lacks, an expiry out of range", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn create(
    State(app): State<App>,
    caller: ApiCaller,
    StrictJson(req): StrictJson<NewToken>,
) -> Result<(StatusCode, Json<Issued>), ApiError> {
    let issued = api_tokens::create(&app, &caller.principal, &req, &caller.meta()).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Give a token a new secret
///
/// The new secret is in this answer only; the old one stops working at once. Scope
/// `tokens:write`.
#[utoipa::path(
    post,
    path = "/tokens/{id}/rotate",
    tag = "tokens",
    operation_id = "rotate_token",
    params(("id" = Uuid, Path, description = "The token's id")),
    security(("bearer" = ["tokens:write"])),
    responses(
        (status = 200, description = "The token and its new secret", body = Issued),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "The token is revoked", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn rotate(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<Issued>, ApiError> {
    Ok(Json(
        api_tokens::rotate(&app, &caller.principal, id, &caller.meta()).await?,
    ))
}

/// Revoke a token
///
/// It stops working at once; revoking it again changes nothing. Scope `tokens:write`.
#[utoipa::path(
    delete,
    path = "/tokens/{id}",
    tag = "tokens",
    operation_id = "revoke_token",
    params(("id" = Uuid, Path, description = "The token's id")),
    security(("bearer" = ["tokens:write"])),
    responses(
        (status = 200, description = "The token, revoked", body = TokenView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    )
)]
async fn revoke(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(
        api_tokens::revoke(&app, &caller.principal, id, &caller.meta()).await?,
    ))
}
