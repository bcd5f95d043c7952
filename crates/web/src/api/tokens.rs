//! API tokens through the API (scope tokens:write): service accounts and personal tokens made,
//! listed, rotated and revoked by integrations themselves.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use rollcall_app::App;
use rollcall_app::identity::api_tokens::{self, Issued, NewToken, TokenView};
use uuid::Uuid;

use crate::error::ApiError;
use crate::session::ApiCaller;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/tokens", get(list).post(create))
        .route("/tokens/{id}", delete(revoke))
        .route("/tokens/{id}/rotate", post(rotate))
}

/// The tokens the caller manages: every token for a company admin's token or a service
/// account, the caller's own personal tokens otherwise.
async fn list(State(app): State<App>, caller: ApiCaller) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(api_tokens::list(&app, &caller.principal).await?))
}

/// Make a token; its secret is in this answer only. A token never gives a scope it lacks.
async fn create(
    State(app): State<App>,
    caller: ApiCaller,
    Json(req): Json<NewToken>,
) -> Result<(StatusCode, Json<Issued>), ApiError> {
    let issued = api_tokens::create(&app, &caller.principal, &req, &caller.meta()).await?;
    Ok((StatusCode::CREATED, Json(issued)))
}

/// Give a token a new secret (in this answer only); the old secret stops working at once.
async fn rotate(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<Issued>, ApiError> {
    Ok(Json(
        api_tokens::rotate(&app, &caller.principal, id, &caller.meta()).await?,
    ))
}

/// Revoke a token at once; revoking it again changes nothing.
async fn revoke(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<TokenView>, ApiError> {
    Ok(Json(
        api_tokens::revoke(&app, &caller.principal, id, &caller.meta()).await?,
    ))
}
