//! Sign-in apps (OpenID Connect clients) through the API: a company admin's token with the
//! `users:write` scope lists, registers and deletes them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rollcall_app::App;
use rollcall_app::oidc::clients::{self, ClientView, CreatedClient, NewClient};
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
        .routes(routes!(delete))
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
