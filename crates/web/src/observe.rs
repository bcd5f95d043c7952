//! Every request gets an id (returned as `x-request-id`, written into its audit events and its
//! log lines), one log line when it is answered (route template, status, duration, and the
//! organization and actor once known) and its count and latency in `/metrics`.
//!
//! Only ids are logged: never a body, a query string, a header or a cookie, so no password,
//! token, code or TOTP secret reaches the log.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rollcall_app::{App, Principal};
use tracing::Instrument;
use tracing::field::Empty;

use crate::headers::RequestId;

pub async fn observe(mut req: Request, next: Next) -> Response {
    // The template ("/api/v1/users/{id}"), so one person's page is not a series of its own.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = req.method().clone();
    let request_id = rollcall_app::secret::new_token()[..16].to_string();
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = %route,
        org = Empty,
        actor = Empty,
    );
    let started = Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    let took = started.elapsed();
    let status = res.status().as_u16();
    rollcall_app::ops::metrics::http_request(method.as_str(), &route, status, took);
    span.in_scope(|| {
        tracing::info!(
            status,
            duration_ms = (took.as_secs_f64() * 1000.0 * 100.0).round() / 100.0,
            "answered"
        )
    });
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), v);
    }
    res
}

/// Names the organization and the actor (ids only) in the request's log line.
pub fn identify(p: &Principal) {
    let span = tracing::Span::current();
    span.record("org", tracing::field::display(p.org_id));
    span.record("actor", tracing::field::display(p.actor_id()));
}

/// Who may read `/metrics` on the main port: nobody without a token (404, as if absent).
#[derive(Clone)]
pub struct MetricsToken(pub Option<String>);

/// `/metrics` on the main port: only with `Authorization: Bearer <--metrics-token>`.
pub async fn metrics_with_token(
    State((app, MetricsToken(token))): State<(App, MetricsToken)>,
    headers: HeaderMap,
) -> Response {
    let Some(token) = token else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let sent = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !sent.is_some_and(|s| rollcall_app::secret::same(s, &token)) {
        let mut r = (
            StatusCode::UNAUTHORIZED,
            "Send the metrics token as Authorization: Bearer …\n",
        )
            .into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    metrics(State(app)).await
}

/// The metrics in the Prometheus text format.
pub async fn metrics(State(app): State<App>) -> Response {
    match rollcall_app::ops::metrics::render(&app).await {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read the metrics");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}
