//! The edge of the service: the client's real address behind trusted reverse proxies, and API
//! rate limits per credential and per client address (shared by every process on the
//! database), announced in `RateLimit-*` headers and enforced with 429 + `Retry-After`.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use rollcall_app::App;
use rollcall_app::rate_limit::{Limit, Verdict};

use crate::api::Problem;

/// How the service meets the network: rate limits and the proxies it trusts.
#[derive(Debug, Clone)]
pub struct Edge {
    /// API requests a minute one credential (bearer token) may make, in bursts up to this many.
    pub per_token_per_minute: NonZeroU32,
    /// API requests a minute from one client address, whatever the credentials.
    pub per_address_per_minute: NonZeroU32,
    /// Reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// The bearer token that opens `/metrics` on the main port; without it the page is not
    /// there (404).
    pub metrics_token: Option<String>,
}

impl Default for Edge {
    fn default() -> Edge {
        Edge {
            per_token_per_minute: NonZeroU32::new(1_200).expect("non-zero"),
            per_address_per_minute: NonZeroU32::new(3_000).expect("non-zero"),
            trusted_proxies: Vec::new(),
            metrics_token: None,
        }
    }
}

impl Edge {
    fn real_client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let trusted = |ip: &IpAddr| self.trusted_proxies.iter().any(|n| n.contains(ip));
        if !trusted(&peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        forwarded
            .into_iter()
            .rev()
            .find(|ip| !trusted(ip))
            .unwrap_or(peer)
    }
}

/// The client's address as the audit trail, the sign-in pause and the limits see it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// Finds the client's address: the peer, or — when the peer is a trusted proxy — the nearest
/// address in `X-Forwarded-For` that is not one.
pub async fn client_address(
    State(edge): State<Arc<Limits>>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let addr = edge.edge.real_client(peer, req.headers());
        req.extensions_mut().insert(ClientAddr(addr));
    }
    next.run(req).await
}

/// The API's limits: one allowance per credential, one per client address and one per sign-in
/// app, each shared by every process on the database (see `rollcall_app::rate_limit`).
pub struct Limits {
    edge: Edge,
    by_token: Limit,
    by_address: Limit,
    /// Token requests per sign-in app (OpenID Connect client), as many as a bearer token's.
    by_client: Limit,
}

impl Limits {
    pub fn new(edge: Edge, app: &App) -> Arc<Limits> {
        let per_token = edge.per_token_per_minute.get();
        Arc::new(Limits {
            by_token: app.shared_limit("api-token", per_token),
            by_address: app.shared_limit("api-address", edge.per_address_per_minute.get()),
            by_client: app.shared_limit("oidc-client", per_token),
            edge,
        })
    }

    /// Counts one token request of the sign-in app `client_id`; the seconds to wait when it is
    /// over its limit.
    pub async fn per_client(&self, client_id: &str) -> Option<u64> {
        let v = self.by_client.check(client_id.as_bytes()).await;
        v.refused.then_some(v.reset_secs)
    }
}

/// Applies the API's rate limits: the client address's first, then the credential's.
pub async fn rate_limits(State(limits): State<Arc<Limits>>, req: Request, next: Next) -> Response {
    let by_address = match req.extensions().get::<ClientAddr>() {
        Some(a) => Some(limits.by_address.check(a.0.to_string().as_bytes()).await),
        None => None,
    };
    let credential = req.headers().get(header::AUTHORIZATION).cloned();
    let by_token = match &credential {
        Some(c) if !by_address.as_ref().is_some_and(|v| v.refused) => {
            Some(limits.by_token.check(c.as_bytes()).await)
        }
        _ => None,
    };
    // The credential's limit is the one a client plans by; the address's when it sent none.
    let Some(shown) = by_token.or(by_address) else {
        return next.run(req).await;
    };
    let mut res = if shown.refused {
        refusal(&shown, credential.is_some())
    } else {
        next.run(req).await
    };
    announce(res.headers_mut(), &shown);
    res
}

fn refusal(v: &Verdict, by_credential: bool) -> Response {
    let whose = if by_credential {
        "this API token"
    } else {
        "this address"
    };
    let detail = format!(
        "Too many requests from {whose}: the limit is {} a minute. Wait {} s (Retry-After) and send fewer requests, or spread the work over time.",
        v.limit, v.reset_secs
    );
    let mut res =
        Problem::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", detail).into_response();
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(v.reset_secs));
    res
}

fn announce(headers: &mut HeaderMap, v: &Verdict) {
    headers.insert("ratelimit-limit", HeaderValue::from(v.limit));
    headers.insert("ratelimit-remaining", HeaderValue::from(v.remaining));
    headers.insert("ratelimit-reset", HeaderValue::from(v.reset_secs));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trusted_proxy_forwards_the_client_address() {
        let edge = Edge {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..Edge::default()
        };
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.2".parse().unwrap());
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            edge.real_client(proxy, &headers),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        // A client that is not a trusted proxy cannot claim another address.
        let stranger: IpAddr = "198.51.100.9".parse().unwrap();
        assert_eq!(edge.real_client(stranger, &headers), stranger);
    }
}
