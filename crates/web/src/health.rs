//! Health checks for a load balancer or an orchestrator.
//!
//! `/health/live` (and the older `/healthz`) answers 200 as long as the process serves HTTP.
//! `/health/ready` answers 200 "ready" once the process has migrated its database and serves
//! (the router exists only then) and its database answers; 503 "database unreachable" while it
//! does not, and 503 "draining" from the moment the process was told to stop, so a load
//! balancer sends it nothing new while it finishes what it holds.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use rollcall_app::App;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/health/live", get(live))
        .route("/healthz", get(live))
        .route("/health/ready", get(ready))
}

async fn live() -> &'static str {
    "ok"
}

async fn ready(State(app): State<App>) -> (StatusCode, &'static str) {
    if app.shutdown.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if !rollcall_app::ops::database_answers(&app).await {
        (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
    } else {
        (StatusCode::OK, "ready")
    }
}
