//! Webhooks over the JSON API, on SQLite and PostgreSQL: endpoints and their validation, tenant
//! isolation, refusal of internal addresses, events queued with the change that causes them,
//! and real deliveries to a receiver that verifies them with the Standard Webhooks reference
//! library (the `standardwebhooks` crate).

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use common::{
    TestApp, marked, org_with_admin, post_form, shown, spawn_app, spawn_app_local_webhooks, staff,
};
use reqwest::Method;
use rollcall_app::webhooks::WebhookDispatcher;
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use serde_json::{Value, json};

/// What a receiver got: the headers and the body of each request.
type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A receiver on `listener` answering 204 to everything and keeping what it got.
fn receive_on(listener: tokio::net::TcpListener) -> Received {
    let got: Received = Arc::default();
    let kept = got.clone();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push((headers, body));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    got
}

async fn receiver() -> (SocketAddr, Received) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, receive_on(listener))
}

async fn admin_token(app: &TestApp) -> String {
    let admin = app.signed_in_admin().await;
    app.api_token(&admin, &["users:read", "users:write"]).await
}

async fn create(app: &TestApp, token: &str, url: &str, types: &[&str]) -> (u16, Value) {
    app.api(
        token,
        Method::POST,
        "/api/v1/webhooks",
        Some(&json!({ "url": url, "description": "Scheduling app", "event_types": types })),
    )
    .await
}

async fn deliveries(app: &TestApp, token: &str, endpoint: &str) -> Vec<Value> {
    let (status, page) = app
        .api(
            token,
            Method::GET,
            &format!("/api/v1/webhooks/{endpoint}/deliveries?limit=200"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    page["deliveries"].as_array().unwrap().clone()
}

fn codes(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|es| {
            es.iter()
                .map(|e| e["code"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_else(|| vec![problem["code"].as_str().unwrap_or_default().to_string()])
}

async fn endpoints_are_managed_and_checked_through_the_api(t: TestDb) {
    let app = spawn_app_local_webhooks(t).await;
    let token = admin_token(&app).await;
    // Every wrong field at once, and nothing is created.
    let (status, problem) = create(&app, &token, "ftp://x", &["user.deleted"]).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(codes(&problem), vec!["url_scheme", "event_type_unknown"]);
    let (status, problem) = create(&app, &token, "https://hooks.example.com/x", &[]).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("user.access_changed"),
        "the message lists the event types: {problem}"
    );
    let (_, list) = app.api(&token, Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list, json!([]));

    let (rx, _) = receiver().await;
    let url = format!("http://{rx}/hook");
    let (status, made) = create(&app, &token, &url, &["user.deactivated"]).await;
    assert_eq!(status, 201, "{made}");
    let secret = made["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = made["endpoint"]["id"].as_str().unwrap().to_string();
    let (_, list) = app.api(&token, Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(
        !list.to_string().contains(secret),
        "a list never shows the secret"
    );

    let path = format!("/api/v1/webhooks/{id}");
    let change = json!({ "event_types": ["user.deactivated", "job.finished"], "enabled": false });
    let (status, changed) = app.api(&token, Method::PATCH, &path, Some(&change)).await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["enabled"], false);
    assert_eq!(
        changed["event_types"],
        json!(["user.deactivated", "job.finished"])
    );
    let (status, _) = app
        .api(&token, Method::POST, &format!("{path}/test"), None)
        .await;
    assert_eq!(status, 409, "a disabled endpoint takes no test event");

    let (status, rotated) = app
        .api(&token, Method::POST, &format!("{path}/rotate"), None)
        .await;
    assert_eq!(status, 200, "{rotated}");
    assert_ne!(rotated["secret"], made["secret"]);
    assert!(rotated["endpoint"]["previous_secret_valid_until"].is_string());

    let (status, _) = app.api(&token, Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    let (status, _) = app.api(&token, Method::GET, &path, None).await;
    assert_eq!(status, 404);
    let mut conn = app.app.db().read_conn().await.unwrap();
    let trail = rollcall_store::audit::actions(&mut conn, app.org.id)
        .await
        .unwrap();
    for action in [
        "webhook_endpoint.created",
        "webhook_endpoint.disabled",
        "webhook_endpoint.secret_rotated",
        "webhook_endpoint.deleted",
    ] {
        assert!(trail.iter().any(|a| a == action), "{action} in {trail:?}");
    }
}

async fn internal_addresses_are_refused(t: TestDb) {
    let app = spawn_app(t).await;
    let token = admin_token(&app).await;
    for (url, code) in [
        ("https://127.0.0.1/hook", "url_not_public"),
        ("https://10.1.2.3/hook", "url_not_public"),
        ("https://169.254.169.254/latest", "url_not_public"),
        ("https://[::1]/hook", "url_not_public"),
        ("https://localhost/hook", "url_not_public"),
        ("http://127.0.0.1:9/hook", "url_not_https"),
        ("http://hooks.example.com/hook", "url_not_https"),
    ] {
        let (status, problem) = create(&app, &token, url, &["user.invited"]).await;
        assert_eq!(status, 422, "{url}: {problem}");
        assert_eq!(codes(&problem), vec![code], "{url}: {problem}");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("HTTPS") || detail.contains("--webhooks-allow-private"),
            "{url}: {detail}"
        );
    }
}

async fn another_organization_sees_and_changes_nothing(t: TestDb) {
    let app = spawn_app_local_webhooks(t).await;
    let token = admin_token(&app).await;
    let (rx, _) = receiver().await;
    let (_, made) = create(
        &app,
        &token,
        &format!("http://{rx}/hook"),
        &["user.invited"],
    )
    .await;
    let id = made["endpoint"]["id"].as_str().unwrap().to_string();
    let (_, test) = app
        .api(
            &token,
            Method::POST,
            &format!("/api/v1/webhooks/{id}/test"),
            None,
        )
        .await;
    let delivery = test["id"].as_str().unwrap().to_string();

    let (_, other_admin) = org_with_admin(&app.app, "beta").await;
    let other = app.browser();
    let r = app
        .sign_in(&other, "beta", &other_admin, common::PASSWORD)
        .await;
    assert_eq!(r.status(), 303);
    let other_token = app.api_token(&other, &["users:read", "users:write"]).await;
    let (_, list) = app
        .api(&other_token, Method::GET, "/api/v1/webhooks", None)
        .await;
    assert_eq!(list, json!([]), "another organization lists none of them");
    let path = format!("/api/v1/webhooks/{id}");
    for (method, p, body) in [
        (Method::GET, path.clone(), None),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({ "enabled": false })),
        ),
        (Method::POST, format!("{path}/rotate"), None),
        (Method::POST, format!("{path}/test"), None),
        (Method::GET, format!("{path}/deliveries"), None),
        (
            Method::POST,
            format!("/api/v1/webhooks/deliveries/{delivery}/redeliver"),
            None,
        ),
        (Method::DELETE, path.clone(), None),
    ] {
        let (status, answer) = app.api(&other_token, method, &p, body.as_ref()).await;
        assert_eq!(status, 404, "{p}: {answer}");
    }
    let (_, still) = app.api(&token, Method::GET, &path, None).await;
    assert_eq!(still["enabled"], true);
}

async fn a_deactivation_queues_exactly_one_event_and_a_refusal_none(t: TestDb) {
    let app = spawn_app_local_webhooks(t).await;
    let s = staff(&app).await;
    let token = admin_token(&app).await;
    let (rx, _) = receiver().await;
    let (_, made) = create(
        &app,
        &token,
        &format!("http://{rx}/hook"),
        &["user.deactivated"],
    )
    .await;
    let id = made["endpoint"]["id"].as_str().unwrap().to_string();

    // A company admin cannot deactivate their own account: refused, and nothing is queued.
    let (_, me) = app.api(&token, Method::GET, "/api/v1/me", None).await;
    let (status, _) = app
        .api(
            &token,
            Method::POST,
            &format!(
                "/api/v1/users/{}/deactivate",
                me["user_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 409);
    assert!(deliveries(&app, &token, &id).await.is_empty());

    let (status, _) = app
        .api(
            &token,
            Method::POST,
            &format!("/api/v1/users/{}/deactivate", s.clerk),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let queued = deliveries(&app, &token, &id).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let event = &queued[0]["payload"];
    assert_eq!(event["type"], "user.deactivated");
    assert_eq!(event["data"]["user"]["id"], s.clerk.to_string());
    assert_eq!(event["data"]["user"]["email"], "casey@alpha.example");
    assert_eq!(event["data"]["user"]["status"], "inactive");
    assert_eq!(queued[0]["state"], "queued");
}

async fn a_bulk_update_gives_one_access_event_per_user_with_before_and_after(t: TestDb) {
    let app = spawn_app_local_webhooks(t).await;
    let s = staff(&app).await;
    let token = admin_token(&app).await;
    let (rx, _) = receiver().await;
    let (_, made) = create(
        &app,
        &token,
        &format!("http://{rx}/hook"),
        &["user.access_changed", "job.finished"],
    )
    .await;
    let id = made["endpoint"]["id"].as_str().unwrap().to_string();
    let users = [s.pt, s.pta, s.clerk];
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/bulk-updates"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "webhooks-bulk-1")
        .json(&json!({
            "user_ids": users,
            "grant_permissions": ["calendar.create"],
            "grant_locations": [s.northside],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let queued = deliveries(&app, &token, &id).await;
    let access: Vec<&Value> = queued
        .iter()
        .filter(|d| d["event_type"] == "user.access_changed")
        .collect();
    assert_eq!(access.len(), users.len(), "{queued:?}");
    for d in &access {
        let data = &d["payload"]["data"];
        let before = data["before"]["locations"].to_string();
        let after = data["after"]["locations"].to_string();
        assert!(!before.contains("Northside"), "{data}");
        assert!(
            after.contains("Northside") && after.contains("Downtown"),
            "{data}"
        );
        assert!(
            data["after"]["permissions"]
                .as_array()
                .unwrap()
                .contains(&json!("calendar.create")),
            "{data}"
        );
    }
    assert_eq!(
        queued
            .iter()
            .filter(|d| d["event_type"] == "job.finished")
            .count(),
        1
    );
}

/// What the reference library says of each request a receiver got.
fn verified(secret: &str, got: &[(HeaderMap, String)]) -> Vec<Value> {
    let wh = standardwebhooks::Webhook::new(secret).unwrap();
    got.iter()
        .map(|(headers, body)| {
            wh.verify(body.as_bytes(), headers)
                .unwrap_or_else(|e| panic!("signature does not verify: {e:?}"));
            let tampered = body.replacen("\"type\"", "\"Type\"", 1);
            assert_ne!(&tampered, body);
            assert!(
                wh.verify(tampered.as_bytes(), headers).is_err(),
                "a tampered body fails"
            );
            serde_json::from_str(body).unwrap()
        })
        .collect()
}

async fn deliveries_are_signed_retried_and_recorded(t: TestDb) {
    let app = spawn_app_local_webhooks(t).await;
    let s = staff(&app).await;
    let token = admin_token(&app).await;
    // The receiver is down: its port is taken and let go.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rx = listener.local_addr().unwrap();
    drop(listener);
    let (_, made) = create(
        &app,
        &token,
        &format!("http://{rx}/hook"),
        &["user.deactivated"],
    )
    .await;
    let secret = made["secret"].as_str().unwrap().to_string();
    let id = made["endpoint"]["id"].as_str().unwrap().to_string();
    app.api(
        &token,
        Method::POST,
        &format!("/api/v1/users/{}/deactivate", s.clerk),
        None,
    )
    .await;
    let dispatcher = WebhookDispatcher::new(app.app.clone());
    assert_eq!(dispatcher.drain().await.unwrap(), 1);
    let log = deliveries(&app, &token, &id).await;
    assert_eq!(log[0]["state"], "queued", "retried later: {log:?}");
    assert_eq!(log[0]["attempt_log"][0]["attempt"], 1);
    assert!(log[0]["attempt_log"][0]["error"].is_string(), "{log:?}");
    // Not due yet: nothing is sent again before the back-off.
    assert_eq!(dispatcher.drain().await.unwrap(), 0);

    let got = receive_on(tokio::net::TcpListener::bind(rx).await.unwrap());
    app.app.clock.advance_minutes(1);
    assert_eq!(dispatcher.drain().await.unwrap(), 1);
    let events = verified(&secret, &got.lock().unwrap());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "user.deactivated");
    let log = deliveries(&app, &token, &id).await;
    assert_eq!(log[0]["state"], "delivered");
    assert_eq!(log[0]["attempt_log"][1]["status_code"], 204);

    // A redelivery carries the same webhook-id: a receiver keeps the event once.
    let delivery = log[0]["id"].as_str().unwrap();
    let (status, _) = app
        .api(
            &token,
            Method::POST,
            &format!("/api/v1/webhooks/deliveries/{delivery}/redeliver"),
            None,
        )
        .await;
    assert_eq!(status, 202);
    dispatcher.drain().await.unwrap();
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0["webhook-id"], got[1].0["webhook-id"]);
}

async fn an_endpoint_taking_batches_gets_a_bulk_update_in_few_signed_requests(t: TestDb) {
    let app = spawn_app_local_webhooks(t).await;
    let s = staff(&app).await;
    let token = admin_token(&app).await;
    let (rx, got) = receiver().await;
    let body = |batch: Value| {
        json!({
            "url": format!("http://{rx}/hook"),
            "event_types": ["user.access_changed"],
            "batch_max": batch,
        })
    };
    // Out of range: refused with the field named, nothing made.
    for wrong in [json!(0), json!(101)] {
        let (status, problem) = app
            .api(&token, Method::POST, "/api/v1/webhooks", Some(&body(wrong)))
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(codes(&problem), ["batch_max_out_of_range"]);
    }
    let (status, made) = app
        .api(
            &token,
            Method::POST,
            "/api/v1/webhooks",
            Some(&body(json!(2))),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["endpoint"]["batch_max"], 2);
    let secret = made["secret"].as_str().unwrap().to_string();
    let id = made["endpoint"]["id"].as_str().unwrap().to_string();
    let users = [s.pt, s.pta, s.clerk];
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/bulk-updates"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "webhooks-batch-1")
        .json(&json!({ "user_ids": users, "grant_permissions": ["calendar.create"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let dispatcher = WebhookDispatcher::new(app.app.clone());
    assert_eq!(dispatcher.drain().await.unwrap(), 3);
    let batches = verified(&secret, &got.lock().unwrap());
    // Three events in two requests (two, then one), each a signed `webhook.batch`.
    assert_eq!(batches.len(), 2, "{batches:?}");
    let mut ids = Vec::new();
    let mut people = Vec::new();
    for b in &batches {
        assert_eq!(b["type"], "webhook.batch", "{b}");
        for e in b["data"]["events"].as_array().unwrap() {
            assert_eq!(e["type"], "user.access_changed", "{e}");
            ids.push(e["id"].as_str().unwrap().to_string());
            people.push(e["data"]["user"]["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(ids.len(), 3);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "every event once, with its own id");
    people.sort();
    let mut expected: Vec<String> = users.iter().map(|u| u.to_string()).collect();
    expected.sort();
    assert_eq!(people, expected);
    // Each event's own log says it was delivered, under the id the batch listed.
    let log = deliveries(&app, &token, &id).await;
    assert!(log.iter().all(|d| d["state"] == "delivered"), "{log:?}");
    assert!(
        log.iter()
            .all(|d| ids.contains(&d["event_id"].as_str().unwrap().to_string()))
    );
}

async fn a_gone_endpoint_is_disabled_and_admins_are_told(t: TestDb) {
    let app = spawn_app_local_webhooks(t).await;
    let token = admin_token(&app).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rx = listener.local_addr().unwrap();
    let router = axum::Router::new().route(
        "/hook",
        axum::routing::post(|| async { axum::http::StatusCode::GONE }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let (_, made) = create(
        &app,
        &token,
        &format!("http://{rx}/hook"),
        &["user.invited"],
    )
    .await;
    let id = made["endpoint"]["id"].as_str().unwrap().to_string();
    app.api(
        &token,
        Method::POST,
        &format!("/api/v1/webhooks/{id}/test"),
        None,
    )
    .await;
    WebhookDispatcher::new(app.app.clone())
        .drain()
        .await
        .unwrap();
    let (_, endpoint) = app
        .api(&token, Method::GET, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(endpoint["enabled"], false);
    assert!(
        endpoint["disabled_reason"]
            .as_str()
            .unwrap()
            .contains("410 Gone"),
        "{endpoint}"
    );
    let mut conn = app.app.db().read_conn().await.unwrap();
    let trail = rollcall_store::audit::actions(&mut conn, app.org.id)
        .await
        .unwrap();
    assert!(trail.iter().any(|a| a == "webhook_endpoint.disabled"));
    let count: i64 = {
        use sqlx::Row;
        sqlx::query("SELECT COUNT(*) FROM outbox WHERE kind = 'notice' AND recipient = 'admin@alpha.example'")
            .fetch_one(app.app.db().reader())
            .await
            .unwrap()
            .try_get(0)
            .unwrap()
    };
    assert_eq!(count, 1, "the company admin gets a notice");
}

/// A company admin adds an endpoint in the console (a bad address is refused beside its field,
/// with what was typed kept), sees its secret once and its event types as sentences, rotates
/// the secret (asked first), sends a test event, reads it in the delivery log and redelivers it.
async fn the_console_adds_tests_and_redelivers_an_endpoint(t: TestDb) {
    let app = spawn_app_local_webhooks(t).await;
    let (rx, got) = receiver().await;
    let admin = app.signed_in_admin().await;
    let list = "/settings/webhooks";
    assert!(
        app.page(&admin, "/settings")
            .await
            .contains("href=\"/settings/webhooks\""),
        "Settings leads to the webhooks"
    );

    let (_, html) = post_form(
        &app,
        &admin,
        list,
        list,
        &[
            ("url", "not an address"),
            ("description", "Scheduling app"),
            ("event_type", "user.deactivated"),
        ],
    )
    .await;
    assert!(html.contains(&marked("f-url")), "{html}");
    assert!(html.contains("value=\"not an address\""), "typed kept");
    assert!(html.contains("value=\"Scheduling app\""), "typed kept");
    assert!(
        html.contains("value=\"user.deactivated\" checked"),
        "choice kept"
    );
    let (_, html) = post_form(
        &app,
        &admin,
        list,
        list,
        &[("url", "http://127.0.0.1:9/hook")],
    )
    .await;
    assert!(html.contains(&marked("f-event_types")), "{html}");

    let url = format!("http://{rx}/hook");
    let (_, html) = post_form(
        &app,
        &admin,
        list,
        list,
        &[
            ("url", &url),
            ("description", "Scheduling app"),
            ("event_type", "user.deactivated"),
            ("event_type", "user.access_changed"),
        ],
    )
    .await;
    let secret = shown(&html, "new-webhook-secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert!(html.contains("copy it now"));
    assert!(html.contains("A person is deactivated"), "{html}");
    assert!(
        html.contains("A person&#39;s permissions, roles or locations change")
            || html.contains("A person&#x27;s permissions"),
        "{html}"
    );
    assert!(!html.contains("user.access_changed</"), "no internal codes");
    let start =
        html.find("href=\"/settings/webhooks/").unwrap() + "href=\"/settings/webhooks/".len();
    let id = html[start..start + 36].to_string();
    let page = format!("/settings/webhooks/{id}");

    // A bad address in an edit is refused beside its field; the stored one stays.
    let (_, html) = post_form(
        &app,
        &admin,
        &page,
        &page,
        &[
            ("url", "ftp:nowhere"),
            ("event_type", "user.deactivated"),
            ("enabled", "on"),
        ],
    )
    .await;
    assert!(html.contains(&marked("f-url")), "{html}");
    assert!(html.contains("value=\"ftp:nowhere\""));
    // A batch size out of range is refused beside its field too.
    let (_, html) = post_form(
        &app,
        &admin,
        &page,
        &page,
        &[
            ("url", &url),
            ("event_type", "user.deactivated"),
            ("enabled", "on"),
            ("batch_max", "many"),
        ],
    )
    .await;
    assert!(html.contains(&marked("f-batch_max")), "{html}");
    // A good change is saved and the list says so.
    let html = followed(
        &app,
        &admin,
        &page,
        &page,
        &[
            ("url", &url),
            ("description", "Scheduling app"),
            ("event_type", "user.deactivated"),
            ("enabled", "on"),
            ("batch_max", "1"),
        ],
    )
    .await;
    assert!(html.contains("“Scheduling app” is saved."), "{html}");

    // Rotation: asked first, then the new secret once, the old one signing for a day.
    let rotate = format!("{page}/rotate");
    let (_, ask) = post_form(&app, &admin, &page, &rotate, &[]).await;
    assert!(ask.contains("For one day"), "{ask}");
    let (_, html) = post_form(&app, &admin, &page, &rotate, &[("confirmed", "yes")]).await;
    let rotated = shown(&html, "new-webhook-secret");
    assert!(rotated.starts_with("whsec_") && rotated != secret);
    assert!(html.contains("keeps signing every delivery too for one day"));

    // A test event: queued, then delivered, in the log; redelivered on request. Each answer
    // sends the browser on to the log, so a reload queues nothing again.
    let html = followed(&app, &admin, &page, &format!("{page}/test"), &[]).await;
    assert!(
        html.contains("Test event") && html.contains("Waiting to be sent"),
        "{html}"
    );
    let dispatcher = WebhookDispatcher::new(app.app.clone());
    dispatcher.drain().await.unwrap();
    let log = app.page(&admin, &format!("{page}/deliveries")).await;
    assert!(log.contains("Delivered") && log.contains("204"), "{log}");
    assert_eq!(got.lock().unwrap().len(), 1);
    let start = log.find("/deliveries/").unwrap() + "/deliveries/".len();
    let delivery = &log[start..start + 36];
    let html = followed(
        &app,
        &admin,
        &page,
        &format!("{page}/deliveries/{delivery}/redeliver"),
        &[],
    )
    .await;
    assert!(
        html.contains("is queued to be sent again") && html.contains("Waiting to be sent"),
        "{html}"
    );
    dispatcher.drain().await.unwrap();
    assert_eq!(got.lock().unwrap().len(), 2);

    // Deletion: asked first.
    let delete = format!("{page}/delete");
    let (_, ask) = post_form(&app, &admin, &page, &delete, &[]).await;
    assert!(ask.contains("its delivery log is deleted with it"), "{ask}");
    let html = followed(&app, &admin, &page, &delete, &[("confirmed", "yes")]).await;
    assert!(html.contains("The webhook endpoint is deleted."), "{html}");
    assert!(!html.contains(&page));
}

/// Posts a console form that answers with a redirect (303) and reads the page it leads to.
async fn followed(
    app: &TestApp,
    client: &reqwest::Client,
    page: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> String {
    let csrf = app.csrf_of(client, page).await;
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    let r = client.post(app.url(path)).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let to = r.headers()["location"].to_str().unwrap().to_string();
    app.page(client, &to).await
}

engine_tests!(
    the_console_adds_tests_and_redelivers_an_endpoint,
    endpoints_are_managed_and_checked_through_the_api,
    internal_addresses_are_refused,
    another_organization_sees_and_changes_nothing,
    a_deactivation_queues_exactly_one_event_and_a_refusal_none,
    a_bulk_update_gives_one_access_event_per_user_with_before_and_after,
    deliveries_are_signed_retried_and_recorded,
    an_endpoint_taking_batches_gets_a_bulk_update_in_few_signed_requests,
    a_gone_endpoint_is_disabled_and_admins_are_told,
);
