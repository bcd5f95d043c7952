//! The staff directory over the API: replace the roster (scope users:write), read its groups
//! (scope users:read).

use axum::Json;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use rollcall_app::App;
use rollcall_app::idempotency::Key;
use rollcall_app::onboarding::directory::{self, Loaded, Overview, Roster};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

use super::problem::{CONTENT_TYPE as PROBLEM, Problem};
use super::query::StrictJson;
use super::responses::{
    BadRequest, Forbidden, Internal, PayloadTooLarge, Unauthenticated, UnsupportedMediaType,
};
use crate::error::ApiError;
use crate::session::ApiCaller;

/// Largest roster body: a large practice's roster as JSON.
const BODY_LIMIT: usize = 2 * directory::MAX_FILE_BYTES as usize;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new().routes(routes!(overview, replace).layer(DefaultBodyLimit::max(BODY_LIMIT)))
}

/// Replace the organization's whole roster
///
/// People absent from the body leave the directory; accounts are never touched. Any bad person
/// refuses the whole roster. An optional `Idempotency-Key` makes a retry answer as the first
/// call did. Scope `users:write`.
#[utoipa::path(
    put,
    path = "/directory",
    tag = "directory",
    operation_id = "replace_directory",
    params(("Idempotency-Key" = Option<String>, Header, description = "A new key per request (1–200 visible ASCII characters, with spaces or tabs only inside); a retry with the same key and body answers as the first call did", pattern = r"^[!-~]([\t -~]{0,198}[!-~])?$")),
    request_body = Roster,
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "What the load did", body = Loaded),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 409, description = "The key was used with a different roster", body = Problem, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "A person is not valid; the detail says which (by position) and why", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn replace(
    State(app): State<App>,
    caller: ApiCaller,
    headers: HeaderMap,
    StrictJson(roster): StrictJson<Roster>,
) -> Result<Json<Loaded>, ApiError> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(Key::new(
            &caller.principal,
            "directory.replace",
            v.to_str().unwrap_or_default(),
            &roster,
        )?),
        None => None,
    };
    let meta = caller.meta();
    Ok(Json(
        directory::load_people(&app, &caller.principal, roster, key.as_ref(), &meta).await?,
    ))
}

/// The roster at a glance
///
/// Its size, the people deactivated upstream, and its groups with member counts. Scope
/// `users:read`.
#[utoipa::path(
    get,
    path = "/directory",
    tag = "directory",
    operation_id = "get_directory",
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The roster's counts and groups", body = Overview),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    )
)]
async fn overview(State(app): State<App>, caller: ApiCaller) -> Result<Json<Overview>, ApiError> {
    Ok(Json(directory::groups(&app, &caller.principal).await?))
}
