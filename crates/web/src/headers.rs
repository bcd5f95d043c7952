//! Security headers on every response. (The request id is made in `observe`.)

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Whether the server is reached over HTTPS (it sets secure cookies): then browsers are told to
/// use HTTPS only, so a later visit cannot be downgraded to plain HTTP.
#[derive(Clone, Copy)]
pub struct Https(pub bool);

pub async fn security_headers(
    State(Https(https)): State<Https>,
    req: Request,
    next: Next,
) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    let mut set = |name: header::HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    set(header::CONTENT_SECURITY_POLICY, CSP);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::CACHE_CONTROL, "no-store");
    set(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        header::HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=()",
    );
    if https {
        set(header::STRICT_TRANSPORT_SECURITY, "max-age=31536000");
    }
    res
}

#[derive(Clone)]
pub struct RequestId(pub String);
