//! P8: single invitations through the JSON API (`POST /api/v1/invitations`), with the dispatcher
//! delivering them to the local mailbox meanwhile, as a real install does. Saturation throughput
//! (closed loop), then latency at a fixed rate of 1,000/s (open loop, timed from each request's
//! scheduled start). Baseline in the same run: a bare axum handler taking and answering JSON.

mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use axum::routing::post;
use axum::{Json, Router};
use harness::{ms, percentile};
use rollcall_app::audit::Meta;
use serde_json::{Value, json};

const CONNECTIONS: usize = 16;

fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

/// Closed loop: `CONNECTIONS` clients each send the next request as soon as the last answers.
async fn saturation(
    url: String,
    token: Option<String>,
    seconds: u64,
    body: impl Fn(u64) -> Value + Send + Sync + 'static,
) -> (f64, u64) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let body = Arc::new(body);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, url, token, counter, failures, body) = (
            client.clone(),
            url.clone(),
            token.clone(),
            counter.clone(),
            failures.clone(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let mut req = client.post(&url).json(&body(n));
                if let Some(t) = &token {
                    req = req.bearer_auth(t);
                }
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let done = counter.load(Ordering::Relaxed);
    (
        done as f64 / seconds as f64,
        failures.load(Ordering::Relaxed),
    )
}

/// Open loop at `rate`/s: latency from each request's scheduled start.
async fn fixed_rate(
    url: String,
    token: String,
    rate: f64,
    seconds: u64,
    offset: u64,
    body: impl Fn(u64) -> Value,
) -> (Vec<Duration>, u64, f64) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let total = (rate * seconds as f64) as u64;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = start + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(scheduled.into()).await;
        let req = client
            .post(&url)
            .bearer_auth(&token)
            .json(&body(offset + i));
        tasks.push(tokio::spawn(async move {
            let ok = matches!(req.send().await, Ok(r) if r.status().is_success());
            (scheduled.elapsed(), ok)
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut failed = 0;
    for t in tasks {
        let (d, ok) = t.await.unwrap();
        latencies.push(d);
        if !ok {
            failed += 1;
        }
    }
    let achieved = total as f64 / start.elapsed().as_secs_f64();
    (latencies, failed, achieved)
}

/// Statements the server runs for one call, averaged over sequential calls: authentication alone
/// (`GET /me` reads nothing else) and one invitation.
async fn statements_per_call(
    statements: &harness::Statements,
    addr: std::net::SocketAddr,
    token: &str,
    s: &harness::Setup,
) -> Result<(f64, f64)> {
    const CALLS: u64 = 200;
    let client = reqwest::Client::new();
    let mut per = Vec::new();
    for invite in [false, true] {
        let before = statements.count();
        for n in 0..CALLS {
            let r = if invite {
                client
                    .post(format!("http://{addr}/api/v1/invitations"))
                    .json(&json!({ "email": format!("count{n}@clinic.example"), "full_name": "Count Me", "location_id": s.location_id, "role_id": s.role_id }))
            } else {
                client.get(format!("http://{addr}/api/v1/me"))
            };
            let status = r.bearer_auth(token).send().await?.status();
            anyhow::ensure!(status.is_success(), "a counted call failed: {status}");
        }
        per.push((statements.count() - before) as f64 / CALLS as f64);
    }
    Ok((per[0], per[1]))
}

#[tokio::main]
async fn main() -> Result<()> {
    let statements = harness::Statements::install();
    let seconds: u64 = arg("--seconds").and_then(|s| s.parse().ok()).unwrap_or(5);
    let rate: f64 = arg("--rate").and_then(|s| s.parse().ok()).unwrap_or(1000.0);
    let (db, dir) = harness::database(arg("--database-url").as_deref()).await?;
    let s = harness::setup(db, dir, "p8").await?;
    let token = rollcall_app::identity::api_tokens::create(
        &s.app,
        &s.admin,
        &rollcall_app::identity::api_tokens::NewToken {
            name: "bench".into(),
            scopes: "users:read users:write".into(),
            owner: "person".into(),
            expires_in_days: None,
        },
        &Meta::system("bench"),
    )
    .await?
    .secret;
    let addr = harness::serve(s.app.clone()).await?;
    let (per_auth, per_invite) = statements_per_call(&statements, addr, &token, &s).await?;
    println!(
        "P8 statements: {per_auth:.1} per authenticated call (GET /me: the token's checks alone), {per_invite:.1} per invitation (sequential, dispatcher stopped)"
    );
    let dispatcher = rollcall_app::delivery::spawn_dispatcher(s.app.clone());
    println!(
        "P8 invite through the JSON API: {CONNECTIONS} connections, {seconds} s per measurement, database {:?}",
        s.app.db().engine()
    );

    let (loc, role) = (s.location_id, s.role_id);
    let invite = move |n: u64| json!({ "email": format!("api{n}@clinic.example"), "full_name": format!("Api Person{n}"), "location_id": loc, "role_id": role });
    let url = format!("http://{addr}/api/v1/invitations");
    let (sat, sat_failed) = saturation(url.clone(), Some(token.clone()), seconds, invite).await;

    let bare = Router::new().route(
        "/invitations",
        post(|Json(v): Json<Value>| async move {
            (
                axum::http::StatusCode::CREATED,
                Json(json!({ "user_id": uuid::Uuid::now_v7(), "email": v["email"] })),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, bare).await });
    let (bare_sat, _) = saturation(
        format!("http://{bare_addr}/invitations"),
        None,
        seconds,
        invite,
    )
    .await;
    println!(
        "P8 saturation: {sat:.0} invitations/s ({sat_failed} failed); bare axum JSON handler {bare_sat:.0} req/s; ratio {:.3}",
        sat / bare_sat
    );

    let offset = 10_000_000;
    let (lat, failed, achieved) = fixed_rate(url, token, rate, seconds, offset, invite).await;
    println!(
        "P8 at {rate:.0}/s for {seconds} s: achieved {achieved:.0}/s, {failed} failed, p50 {} p99 {} max {} (target ≥ 1,000/s sustained, p99 ≤ 10 ms)",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(percentile(&lat, 1.0))
    );
    println!(
        "| P8 | single invite, JSON API | {sat:.0}/s saturated; at {rate:.0}/s p99 {} | bare axum {bare_sat:.0}/s | {:.3} | ≥ 1,000/s, p99 ≤ 10 ms |",
        ms(percentile(&lat, 0.99)),
        sat / bare_sat
    );
    dispatcher.abort();
    Ok(())
}
