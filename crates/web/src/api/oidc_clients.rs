//! Sign-in apps (OpenID Connect clients) through the API: a company admin's token with the
//! `users:write` scope lists, registers, changes, rotates the secret of and deletes them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rollcall_app::App;
use rollcall_app::oidc::clients::{self, ClientChange, ClientView, CreatedClient, NewClient};
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
        .routes(routes!(update, delete))
        .routes(routes!(rotate_secret))
}

/// The organization's sign-in apps
///
/// The apps that sign staff in through Rollcall (OpenID Connect clients). Never a secret.
/// Company admins only. Scope `users:write`.
#[utoipa::path(
    get,
    path = "/oidc-clients",
    tag = "sign-in apps",
    operation_id = "list_oidc_clients",
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The apps, by name", body = Vec<ClientView>),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    )
)]
async fn list(
    State(app): State<App>,
    caller: ApiCaller,
) -> Result<Json<Vec<ClientView>>, ApiError> {
    Ok(Json(clients::list(&app, &caller.principal).await?))
}

/// Register a sign-in app
///
/// A confidential app (a server that keeps a secret; the secret is in this answer only) or a
/// public one (PKCE alone). Redirect URIs are compared exactly. Company admins only. Scope
/// `users:write`.
#[utoipa::path(
    post,
    path = "/oidc-clients",
    tag = "sign-in apps",
    operation_id = "create_oidc_client",
    request_body(content = NewClient, example = json!({
        "name": "Scheduling", "redirect_uris": ["https://scheduling.clinic.example/callback"],
        "post_logout_redirect_uris": ["https://scheduling.clinic.example/"],
        "confidential": true, "scopes": ["profile", "email", "rollcall", "offline_access"]
    })),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 201, description = "The app and, for a confidential one, its secret, shown this once", body = CreatedClient),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Every field that is wrong: a missing name, a redirect URI that is not a full https address, an unknown scope", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn create(
    State(app): State<App>,
    caller: ApiCaller,
    StrictJson(req): StrictJson<NewClient>,
) -> Result<(StatusCode, Json<CreatedClient>), ApiError> {
    let created = clients::create(&app, &caller.principal, &req, &caller.meta()).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Delete a sign-in app
///
/// Every sign-in made through it ends at once. Company admins only. Scope `users:write`.
#[utoipa::path(
    delete,
    path = "/oidc-clients/{id}",
    tag = "sign-in apps",
    operation_id = "delete_oidc_client",
    params(("id" = Uuid, Path, description = "The app's client_id")),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    )
)]
async fn delete(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    clients::delete(&app, &caller.principal, id, &caller.meta()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change a sign-in app
///
/// Its name, redirect URIs, post-logout URIs or scopes; what is absent stays as it is. Whether
/// the app is confidential or public stays as it was registered. Sign-ins already made stay
/// valid. Company admins only. Scope `users:write`.
#[utoipa::path(
    patch,
    path = "/oidc-clients/{id}",
    tag = "sign-in apps",
    operation_id = "update_oidc_client",
    params(("id" = Uuid, Path, description = "The app's client_id")),
    request_body(content = ClientChange, example = json!({
        "redirect_uris": ["https://scheduling.clinic.example/callback", "https://scheduling.clinic.example/auth"]
    })),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The app as it now is (never its secret)", body = ClientView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Every field that is wrong: a blank name, a redirect URI that is not a full https address, an unknown scope", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn update(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    StrictJson(req): StrictJson<ClientChange>,
) -> Result<Json<ClientView>, ApiError> {
    Ok(Json(
        clients::update(&app, &caller.principal, id, &req, &caller.meta()).await?,
    ))
}

/// Rotate a sign-in app's client secret
///
/// A confidential app gets a new secret, in this answer only. The old secret stops working at
/// once; sign-ins already made and their refresh tokens stay valid. Company admins only. Scope
/// `users:write`.
#[utoipa::path(
    post,
    path = "/oidc-clients/{id}/rotate-secret",
    tag = "sign-in apps",
    operation_id = "rotate_oidc_client_secret",
    params(("id" = Uuid, Path, description = "The app's client_id")),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The app and its new secret, shown this once", body = CreatedClient),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "A public app has no secret to rotate", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn rotate_secret(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<CreatedClient>, ApiError> {
    Ok(Json(
        clients::rotate_secret(&app, &caller.principal, id, &caller.meta()).await?,
    ))
}
