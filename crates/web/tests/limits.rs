//! API rate limits, on SQLite and PostgreSQL: per token and per client address, announced in
//! RateLimit headers, refused with 429 + Retry-After, and the client's address believed only
//! from a trusted proxy.

mod common;

use std::num::NonZeroU32;

use common::{TestApp, spawn_app_with};
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use rollcall_web::Edge;
use serde_json::Value;

fn per_minute(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

async fn me(app: &TestApp, token: &str, forwarded: Option<&str>) -> reqwest::Response {
    let mut r = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(token);
    if let Some(f) = forwarded {
        r = r.header("x-forwarded-for", f);
    }
    r.send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> u64 {
    r.headers()[name].to_str().unwrap().parse().unwrap()
}

async fn each_token_has_its_own_limit(t: TestDb) {
    let app = spawn_app_with(
        t,
        Edge {
            per_token_per_minute: per_minute(5),
            ..Edge::default()
        },
    )
    .await;
    let admin = app.signed_in_admin().await;
    let first = app.api_token(&admin, &["users:read"]).await;
    let second = app.api_token(&admin, &["users:read"]).await;
    let mut remaining = Vec::new();
    for _ in 0..5 {
        let r = me(&app, &first, None).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "ratelimit-limit"), 5);
        remaining.push(header(&r, "ratelimit-remaining"));
    }
    assert_eq!(remaining, [4, 3, 2, 1, 0]);
    let r = me(&app, &first, None).await;
    assert_eq!(r.status(), 429);
    assert!(header(&r, "retry-after") >= 1);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "rate_limited");
    assert!(problem["detail"].as_str().unwrap().contains("5 a minute"));
    // Another token is not slowed by the first.
    assert_eq!(me(&app, &second, None).await.status(), 200);
}

async fn the_client_address_comes_from_a_trusted_proxy_only(t: TestDb) {
    let app = spawn_app_with(
        t,
        Edge {
            per_address_per_minute: per_minute(2),
            trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
            ..Edge::default()
        },
    )
    .await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read"]).await;
    let a = Some("203.0.113.1");
    assert_eq!(me(&app, &token, a).await.status(), 200);
    assert_eq!(me(&app, &token, a).await.status(), 200);
    assert_eq!(
        me(&app, &token, a).await.status(),
        429,
        "two a minute from one client"
    );
    // Behind the proxy, another client has its own allowance.
    assert_eq!(
        me(&app, &token, Some("198.51.100.4, 127.0.0.1"))
            .await
            .status(),
        200
    );
}

async fn an_untrusted_peer_cannot_claim_another_address(t: TestDb) {
    let app = spawn_app_with(
        t,
        Edge {
            per_address_per_minute: per_minute(2),
            ..Edge::default()
        },
    )
    .await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read"]).await;
    assert_eq!(me(&app, &token, Some("203.0.113.1")).await.status(), 200);
    assert_eq!(me(&app, &token, Some("203.0.113.2")).await.status(), 200);
    assert_eq!(
        me(&app, &token, Some("203.0.113.3")).await.status(),
        429,
        "a forged X-Forwarded-For does not buy a new allowance"
    );
}

engine_tests!(
    each_token_has_its_own_limit,
    the_client_address_comes_from_a_trusted_proxy_only,
    an_untrusted_peer_cannot_claim_another_address,
);
