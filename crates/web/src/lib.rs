#![recursion_limit = "256"]
//! Rollcall's HTTP face: the console (server-rendered HTML with htmx) and the JSON API.
//! Handlers authorize, parse and call one use case; they hold no SQL and no rules.

mod api;
mod console;
mod cookies;
mod edge;
mod error;
mod headers;
mod health;
mod observe;
mod oidc;
mod scim;
mod session;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use rollcall_app::App;

pub use edge::Edge;
pub use error::{ApiError, PageError};

/// Largest request body accepted anywhere (forms and JSON); larger ones get a 413 that says so.
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The whole application as a `Router` with the default limits, for tests.
pub fn router(app: App) -> Router {
    router_with(app, Edge::default())
}

/// The whole application as a `Router`, with the given rate limits and trusted proxies.
pub fn router_with(app: App, edge: Edge) -> Router {
    let token = observe::MetricsToken(edge.metrics_token.clone());
    let metrics = Router::new()
        .route("/metrics", get(observe::metrics_with_token))
        .with_state((app.clone(), token));
    let limits = edge::Limits::new(edge, &app);
    let https = headers::Https(app.config.secure_cookies);
    let api = api::routes().layer(from_fn_with_state(limits.clone(), edge::rate_limits));
    let scim = scim::routes()
        .layer(from_fn_with_state(app.clone(), scim::log_requests))
        .layer(from_fn_with_state(limits.clone(), edge::rate_limits));
    Router::new()
        .merge(console::routes())
        .merge(health::routes())
        .merge(oidc::routes(limits.clone()))
        .merge(metrics)
        .nest("/api/v1", api)
        .nest("/scim/v2", scim)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(from_fn_with_state(limits, edge::client_address))
        .layer(from_fn_with_state(https, headers::security_headers))
        .layer(from_fn(observe::observe))
        .with_state(app)
}

/// The metrics alone, for a listener of their own (`--metrics-listen`), with no token.
pub fn metrics_router(app: App) -> Router {
    Router::new()
        .route("/metrics", get(observe::metrics))
        .with_state(app)
}

/// Serves until `stop` resolves, then answers the requests in flight and returns (axum's
/// graceful shutdown: no new connection is taken).
pub async fn serve(
    app: App,
    edge: Edge,
    listener: tokio::net::TcpListener,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router_with(app, edge).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stop)
    .await
}

/// Serves `/metrics` alone on a listener of its own until `stop` resolves.
pub async fn serve_metrics(
    app: App,
    listener: tokio::net::TcpListener,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, metrics_router(app))
        .with_graceful_shutdown(stop)
        .await
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
