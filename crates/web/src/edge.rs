//! The edge of the service: the client's real address behind trusted reverse proxies, and API
//! rate limits per credential and per client address, announced in `RateLimit-*` headers and
//! enforced with 429 + `Retry-After`.

use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;

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
        let addr = edge.real_client(peer, req.headers());
        req.extensions_mut().insert(ClientAddr(addr));
    }
    next.run(req).await
}

type Limiter<K> = DefaultKeyedRateLimiter<K, StateInformationMiddleware>;

/// The limits' state: one bucket per credential and one per address.
pub struct Limits {
    edge: Edge,
    by_token: Limiter<u64>,
    by_address: Limiter<IpAddr>,
    /// Token requests per sign-in app (OpenID Connect client), as many as a bearer token's.
    by_client: Limiter<u64>,
    hasher: RandomState,
    seen: AtomicU64,
}

impl Limits {
    pub fn new(edge: Edge) -> Arc<Limits> {
        Arc::new(Limits {
            by_token: DefaultKeyedRateLimiter::keyed(Quota::per_minute(edge.per_token_per_minute))
                .with_middleware(),
            by_address: DefaultKeyedRateLimiter::keyed(Quota::per_minute(
                edge.per_address_per_minute,
            ))
            .with_middleware(),
            by_client: DefaultKeyedRateLimiter::keyed(Quota::per_minute(edge.per_token_per_minute))
                .with_middleware(),
            hasher: RandomState::new(),
            seen: AtomicU64::new(0),
            edge,
        })
    }

    /// Counts one token request of the sign-in app `client_id`; the seconds to wait when it is
    /// over its limit.
    pub fn per_client(&self, client_id: &str) -> Option<u64> {
        let key = self.hasher.hash_one(client_id.as_bytes());
        let v = verdict(&self.by_client, &key, self.edge.per_token_per_minute.get());
        v.refused.then_some(v.reset_secs)
    }

    fn real_client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let trusted = |ip: &IpAddr| self.edge.trusted_proxies.iter().any(|n| n.contains(ip));
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

/// What a limit said about one request.
struct Verdict {
    limit: u32,
    remaining: u32,
    /// Seconds until the bucket is full again, or until the next request passes when refused.
    reset_secs: u64,
    refused: bool,
}

fn verdict<K: Clone + std::hash::Hash + Eq>(
    limiter: &Limiter<K>,
    key: &K,
    per_minute: u32,
) -> Verdict {
    let per_request = 60.0 / f64::from(per_minute);
    match limiter.check_key(key) {
        Ok(state) => {
            let remaining = state.remaining_burst_capacity();
            Verdict {
                limit: per_minute,
                remaining,
                reset_secs: (f64::from(per_minute - remaining) * per_request).ceil() as u64,
                refused: false,
            }
        }
        Err(not_until) => Verdict {
            limit: per_minute,
            remaining: 0,
            reset_secs: not_until
                .wait_time_from(DefaultClock::default().now())
                .as_secs()
                .max(1),
            refused: true,
        },
    }
}

/// Applies the API's rate limits: the client address's first, then the credential's.
pub async fn rate_limits(State(limits): State<Arc<Limits>>, req: Request, next: Next) -> Response {
    if limits.seen.fetch_add(1, Ordering::Relaxed) % 10_000 == 9_999 {
        limits.by_token.retain_recent();
        limits.by_address.retain_recent();
    }
    let address = req.extensions().get::<ClientAddr>().map(|c| c.0);
    let by_address = address.map(|a| {
        verdict(
            &limits.by_address,
            &a,
            limits.edge.per_address_per_minute.get(),
        )
    });
    let credential = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| limits.hasher.hash_one(v.as_bytes()));
    let by_token = credential
        .filter(|_| !by_address.as_ref().is_some_and(|v| v.refused))
        .map(|c| verdict(&limits.by_token, &c, limits.edge.per_token_per_minute.get()));
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
        let limits = Limits::new(Edge {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            ..Edge::default()
        });
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.2".parse().unwrap());
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(
            limits.real_client(proxy, &headers),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        // A client that is not a trusted proxy cannot claim another address.
        let stranger: IpAddr = "198.51.100.9".parse().unwrap();
        assert_eq!(limits.real_client(stranger, &headers), stranger);
    }
}
