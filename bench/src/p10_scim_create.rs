//! P10: SCIM creates of new staff, one request a person (Entra ID's pattern) and through
//! `/Bulk` (1,000 operations a request), against P8's single invitation through the JSON API in
//! the same run and database. Each person created is a Pending user with an invitation.

mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use rollcall_app::audit::Meta;
use rollcall_app::identity::api_tokens::{self, NewToken};
use serde_json::{Value, json};

/// Requests in flight at once for single creates (Entra sends a few at a time per tenant).
const CONNECTIONS: usize = 8;
/// Operations per bulk request (the server's `maxOperations`).
const PER_BULK: usize = 1_000;
const ROLLCALL: &str = "urn:ietf:params:scim:schemas:extension:rollcall:2.0:User";

fn arg(name: &str) -> Option<String> {
    std::env::args().skip_while(|a| a != name).nth(1)
}

fn person(tag: &str, n: u64) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ROLLCALL],
        "userName": format!("{tag}{n}@clinic.example"),
        "externalId": format!("{tag}-{n}"),
        "name": {"givenName": "Scim", "familyName": format!("Person{n}")},
        "active": true,
        ROLLCALL: {"defaultLocation": "MC"},
    })
}

async fn token(s: &harness::Setup, scopes: &str, owner: &str) -> Result<String> {
    let req = NewToken {
        name: format!("bench {scopes}"),
        scopes: scopes.into(),
        owner: owner.into(),
        expires_in_days: None,
    };
    let operator = rollcall_app::Principal::operator(&s.app, s.org_id, "bench").await?;
    let who = if owner == "person" {
        &s.admin
    } else {
        &operator
    };
    Ok(
        api_tokens::create(&s.app, who, &req, &Meta::system("bench"))
            .await?
            .secret,
    )
}

/// `count` POSTs to `url`, `CONNECTIONS` at a time: (elapsed, failures).
async fn posts(
    url: String,
    token: String,
    count: u64,
    content_type: &'static str,
    body: impl Fn(u64) -> Value + Send + Sync + 'static,
) -> (Duration, u64) {
    let client = reqwest::Client::new();
    let next = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let body = Arc::new(body);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (client, url, token, next, failures, body) = (
            client.clone(),
            url.clone(),
            token.clone(),
            next.clone(),
            failures.clone(),
            body.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                let r = client
                    .post(&url)
                    .bearer_auth(&token)
                    .header("content-type", content_type)
                    .body(body(n).to_string())
                    .send()
                    .await;
                if !matches!(r, Ok(r) if r.status().is_success()) {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    (start.elapsed(), failures.load(Ordering::Relaxed))
}

/// Every person through `/Bulk`, one request after the other: (elapsed, operations refused).
async fn bulk(url: String, token: String, users: u64) -> Result<(Duration, u64)> {
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut refused = 0;
    let mut n = 0;
    while n < users {
        let ops: Vec<Value> = (n..(n + PER_BULK as u64).min(users))
            .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": person("bulk", i)}))
            .collect();
        n += ops.len() as u64;
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
        let r = client
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/scim+json")
            .body(body.to_string())
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "bulk request: {}", r.status());
        let answer: Value = r.json().await?;
        refused += answer["Operations"].as_array().map_or(0, |o| {
            o.iter()
                .filter(|o| o["status"].as_str().is_none_or(|s| !s.starts_with('2')))
                .count()
        }) as u64;
    }
    Ok((start.elapsed(), refused))
}

#[tokio::main]
async fn main() -> Result<()> {
    let users: u64 = arg("--users")
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let (db, dir) = harness::database(arg("--database-url").as_deref()).await?;
    let s = harness::setup(db, dir, "p10").await?;
    let scim = token(&s, "scim", "organization").await?;
    let api = token(&s, "users:read users:write", "person").await?;
    let addr = harness::serve(s.app.clone()).await?;
    println!(
        "P10 SCIM create: {users} people each way, database {:?}",
        s.app.db().engine()
    );

    let (loc, role) = (s.location_id, s.role_id);
    let (p8, p8_failed) = posts(
        format!("http://{addr}/api/v1/invitations"),
        api,
        users,
        "application/json",
        move |n| json!({ "email": format!("api{n}@clinic.example"), "full_name": format!("Api Person{n}"), "location_id": loc, "role_id": role }),
    )
    .await;
    let p8_rate = users as f64 / p8.as_secs_f64();
    println!(
        "P8 single invite (same run, {CONNECTIONS} connections): {users} in {:.2} s = {p8_rate:.0}/s ({p8_failed} failed)",
        p8.as_secs_f64()
    );

    let (single, single_failed) = posts(
        format!("http://{addr}/scim/v2/Users"),
        scim.clone(),
        users,
        "application/scim+json",
        |n| person("single", n),
    )
    .await;
    let single_rate = users as f64 / single.as_secs_f64();
    println!(
        "P10 one SCIM request a person ({CONNECTIONS} connections): {users} in {:.2} s = {single_rate:.0}/s ({single_failed} failed); {:.2}× P8",
        single.as_secs_f64(),
        single_rate / p8_rate
    );

    let (bulked, refused) = bulk(format!("http://{addr}/scim/v2/Bulk"), scim, users).await?;
    let bulk_rate = users as f64 / bulked.as_secs_f64();
    println!(
        "P10 /Bulk ({PER_BULK} operations a request, one at a time): {users} in {:.2} s = {bulk_rate:.0}/s ({refused} refused); {:.2}× P8, {:.2}× single SCIM",
        bulked.as_secs_f64(),
        bulk_rate / p8_rate,
        bulk_rate / single_rate
    );
    println!(
        "| P10 | SCIM create of {users} | single {single_rate:.0}/s; /Bulk {bulk_rate:.0}/s | P8 single invite {p8_rate:.0}/s | {:.2} / {:.2} | single ≥ P8; /Bulk ≥ 10× P8 |",
        single_rate / p8_rate,
        bulk_rate / p8_rate
    );
    Ok(())
}
