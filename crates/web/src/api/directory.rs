//! The staff directory over the API: replace the roster (scope users:write), read its groups
//! (scope users:read).

use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use rollcall_app::App;
use rollcall_app::idempotency::Key;
use rollcall_app::onboarding::directory::{self, Loaded, Overview, Roster};

use crate::error::ApiError;
use crate::session::ApiCaller;

/// Largest roster body: a large practice's roster as JSON.
const BODY_LIMIT: usize = 2 * directory::MAX_FILE_BYTES as usize;

pub fn routes() -> Router<App> {
    Router::new().route(
        "/directory",
        get(overview)
            .put(replace)
            .layer(DefaultBodyLimit::max(BODY_LIMIT)),
    )
}

/// Replace the organization's whole roster (scope users:write): people absent from the body
/// leave the directory; accounts are never touched. Any bad person refuses the whole roster.
/// An optional `Idempotency-Key` makes a retry answer as the first call did.
async fn replace(
    State(app): State<App>,
    caller: ApiCaller,
    headers: HeaderMap,
    Json(roster): Json<Roster>,
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

/// The roster's size and its groups with member counts (scope users:read).
async fn overview(State(app): State<App>, caller: ApiCaller) -> Result<Json<Overview>, ApiError> {
    Ok(Json(directory::groups(&app, &caller.principal).await?))
}
