//! How every list of the API pages: `limit` and `after` in, the items and an opaque `next`
//! out, and a `Link: <…>; rel="next"` header that carries the same query on.

use axum::Json;
use axum::extract::OriginalUri;
use axum::http::header::LINK;
use axum::http::{HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// A page answered as JSON, with a link to the next page when `next` is set.
pub fn paged<T: Serialize>(uri: &OriginalUri, next: Option<&str>, body: T) -> Response {
    let mut res = Json(body).into_response();
    if let Some(link) = next
        .map(|n| next_link(&uri.0, n))
        .and_then(|l| HeaderValue::from_str(&l).ok())
    {
        res.headers_mut().insert(LINK, link);
    }
    res
}

/// The request's own query with `after` set to `next`, as an RFC 8288 link.
fn next_link(uri: &Uri, next: &str) -> String {
    let mut pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(uri.query().unwrap_or_default()).unwrap_or_default();
    pairs.retain(|(k, _)| k != "after");
    pairs.push(("after".into(), next.into()));
    let query = serde_urlencoded::to_string(&pairs).unwrap_or_default();
    format!("<{}?{query}>; rel=\"next\"", uri.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_keeps_the_query_and_replaces_the_cursor() {
        let uri: Uri = "/api/v1/users?status=active&after=aa&limit=2"
            .parse()
            .unwrap();
        assert_eq!(
            next_link(&uri, "bb"),
            "</api/v1/users?status=active&limit=2&after=bb>; rel=\"next\""
        );
    }
}
