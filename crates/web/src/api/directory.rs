//! The staff directory over the API: replace the roster (`PUT`, a full load) or update part of
//! it (`PATCH`, a partial load), scope users:write; read its groups (scope users:read).

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
    OpenApiRouter::new()
        .routes(routes!(overview, replace, update).layer(DefaultBodyLimit::max(BODY_LIMIT)))
}

/// Replace the organization's whole roster (a full load)
///
/// People absent from the body leave the directory, and so do their accounts: an account whose
/// person the roster marks inactive, or no longer lists, is deactivated (sessions end, tokens
/// are revoked, the seat is freed); an account the directory deactivated is reactivated when
/// its person is active again (a deactivation made by a manager stands). Each change is judged
/// by the rules: one refused (the last company admin) is listed in `refused` with the reason.
/// Accounts match roster people by email address. Any bad person refuses the whole roster and
/// changes nothing. An optional `Idempotency-Key` makes a retry answer as the first call did.
/// Scope `users:write`.
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
    let key = idempotency_key(&caller, &headers, "directory.replace", &roster)?;
    let meta = caller.meta();
    Ok(Json(
        directory::load_people(&app, &caller.principal, roster, key.as_ref(), &meta).await?,
    ))
}

/// Add or update some people of the roster (a partial load)
///
/// The people of the body are added to the roster or replace their earlier entry (matched by
/// `external_id`, with their groups); everyone else stays as they are, and nobody is taken for
/// gone. Accounts follow as with a full load: a person marked inactive is deactivated, one the
/// directory deactivated and now active is reactivated, and refusals are listed with the
/// reason. Any bad person refuses the whole body and changes nothing. Scope `users:write`.
#[utoipa::path(
    patch,
    path = "/directory",
    tag = "directory",
    operation_id = "update_directory",
    params(("Idempotency-Key" = Option<String>, Header, description = "A new key per request (1–200 visible ASCII characters, with spaces or tabs only inside); a retry with the same key and body answers as the first call did", pattern = r"^[!-~]([\t -~]{0,198}[!-~])?$")),
    request_body = Roster,
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "What the load did", body = Loaded),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 409, description = "The key was used with a different body", body = Problem, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "A person is not valid; the detail says which (by position) and why", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn update(
    State(app): State<App>,
    caller: ApiCaller,
    headers: HeaderMap,
    StrictJson(roster): StrictJson<Roster>,
) -> Result<Json<Loaded>, ApiError> {
    let key = idempotency_key(&caller, &headers, "directory.update", &roster)?;
    let meta = caller.meta();
    Ok(Json(
        directory::load_some_people(&app, &caller.principal, roster, key.as_ref(), &meta).await?,
    ))
}

/// The call's `Idempotency-Key`, if it sent one.
fn idempotency_key(
    caller: &ApiCaller,
    headers: &HeaderMap,
    endpoint: &'static str,
    roster: &Roster,
) -> Result<Option<Key>, ApiError> {
    Ok(match headers.get("idempotency-key") {
        Some(v) => Some(Key::new(
            &caller.principal,
            endpoint,
            v.to_str().unwrap_or_default(),
            roster,
        )?),
        None => None,
    })
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
