//! The audit log over HTTP: filters, paging, exports, a user's history, the API; on SQLite and
//! on PostgreSQL.

mod common;

use common::{PASSWORD, TestApp, add_user, org_with_admin, spawn_app};
use rollcall_store::audit::{self, NewEvent};
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use serde_json::Value;

async fn get(c: &reqwest::Client, app: &TestApp, path: &str) -> (u16, String) {
    let r = c.get(app.url(path)).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Only the rows, the way the filter form asks for them.
async fn rows(c: &reqwest::Client, app: &TestApp, query: &str) -> String {
    let r = c
        .get(app.url(&format!("/audit?{query}")))
        .header("hx-request", "true")
        .header("hx-target", "audit-rows")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{query}");
    let html = r.text().await.unwrap();
    assert!(!html.contains("<html"), "a fragment, not a page");
    html
}

/// The actions of the rows shown, top to bottom.
fn actions_in(html: &str) -> Vec<String> {
    html.split("<tr data-seq=")
        .skip(1)
        .map(|row| {
            row.split("data-action=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// An attribute's text as the browser reads it (the templates escape `&`).
fn unescape(html: &str) -> String {
    html.replace("&#38;", "&").replace("&amp;", "&")
}

fn today_in_chicago(app: &TestApp) -> String {
    jiff::Timestamp::from_microsecond(app.app.clock.now())
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("America/Chicago").unwrap())
        .date()
        .to_string()
}

async fn deactivate(app: &TestApp, c: &reqwest::Client, id: uuid::Uuid) {
    let csrf = app.csrf_of(c, "/users").await;
    let r = c
        .post(app.url(&format!("/users/{id}/deactivate")))
        .form(&[("csrf", csrf.as_str()), ("back", ""), ("confirmed", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

async fn filters_narrow_the_log_and_a_user_has_a_history(t: TestDb) {
    let app = spawn_app(t).await;
    let first_day = today_in_chicago(&app);
    let dee = add_user(
        &app.app,
        &app.org,
        "dee@alpha.example",
        ("Dee", "Parting"),
        "Front Desk",
        None,
    )
    .await;
    add_user(
        &app.app,
        &app.org,
        "vera@alpha.example",
        ("Vera", "Viewer"),
        "Read-only",
        Some(PASSWORD),
    )
    .await;
    let vera = app.browser();
    app.sign_in(&vera, "alpha", "vera@alpha.example", PASSWORD)
        .await;

    // Ten days later the admin deactivates Dee.
    app.app.clock.advance_minutes(10 * 24 * 60);
    let last_day = today_in_chicago(&app);
    let c = app.signed_in_admin().await;
    deactivate(&app, &c, dee).await;

    let all = actions_in(&rows(&c, &app, "").await);
    assert_eq!(all[0], "user.deactivated", "newest first: {all:?}");
    assert!(all.contains(&"org.created".to_string()), "{all:?}");

    let html = rows(&c, &app, "action=user.deactivated").await;
    assert_eq!(actions_in(&html), ["user.deactivated"]);
    assert!(
        html.contains(&format!("href=\"/audit?target={dee}\"")),
        "the target links to everything about it"
    );
    assert!(
        html.contains(">Dee "),
        "the target is shown by name: {html}"
    );
    assert!(
        html.contains("Was Active") && html.contains("Status: Inactive"),
        "before and after in words: {html}"
    );
    assert!(
        !html.contains(&format!(">{dee}<")),
        "no id is shown as text: {html}"
    );

    let by_prefix = actions_in(&rows(&c, &app, "action=user.").await);
    assert!(
        by_prefix.iter().all(|a| a.starts_with("user.")) && by_prefix.len() >= 2,
        "{by_prefix:?}"
    );

    let by_admin = actions_in(&rows(&c, &app, "actor=ADMIN%40alpha").await);
    assert!(
        by_admin.contains(&"user.deactivated".into())
            && by_admin.contains(&"auth.signed_in".into()),
        "{by_admin:?}"
    );
    assert!(
        !by_admin.contains(&"org.created".into()),
        "set-up was done by someone else: {by_admin:?}"
    );
    let by_vera = rows(&c, &app, "actor=vera").await;
    assert_eq!(actions_in(&by_vera), ["auth.signed_in"], "{by_vera}");

    let on_dee = actions_in(&rows(&c, &app, &format!("target={dee}")).await);
    assert_eq!(on_dee, ["user.deactivated"]);

    let today = actions_in(&rows(&c, &app, &format!("from={last_day}&to={last_day}")).await);
    assert!(today.contains(&"user.deactivated".into()), "{today:?}");
    assert!(!today.contains(&"org.created".into()), "{today:?}");
    let early = actions_in(&rows(&c, &app, &format!("to={first_day}")).await);
    assert!(early.contains(&"org.created".into()), "{early:?}");
    assert!(!early.contains(&"user.deactivated".into()), "{early:?}");

    let html = rows(&c, &app, "from=31%2F12%2F2025").await;
    assert!(
        html.contains("is not a date"),
        "a bad date is explained: {html}"
    );

    // The full page keeps the filters in its form and offers the actions present.
    let (status, page) = get(&c, &app, "/audit?action=user.deactivated&actor=admin").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"<option value="user.deactivated" selected>"#),
        "{page}"
    );
    assert!(
        page.contains(r#"<option value="user." >User: all</option>"#),
        "{page}"
    );
    assert!(page.contains(r#"name="actor" value="admin""#));
    assert!(
        unescape(&page).contains("/audit/export.csv?actor=admin&action=user.deactivated"),
        "exports keep the filters: {page}"
    );

    // Dee's history: a fragment for a profile page, or a page of its own.
    let r = c
        .get(app.url(&format!("/users/{dee}/history")))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let fragment = r.text().await.unwrap();
    assert!(
        fragment.starts_with("<div id=\"user-history\""),
        "{fragment}"
    );
    assert!(fragment.contains("data-action=\"user.deactivated\""));
    assert!(fragment.contains("User: deactivated"));
    assert!(
        !fragment.contains("auth.signed_in"),
        "only events about Dee"
    );
    let (status, page) = get(&c, &app, &format!("/users/{dee}/history")).await;
    assert_eq!(status, 200);
    assert!(page.contains("<html") && page.contains("History of Dee Parting"));
    app.sign_in(&vera, "alpha", "vera@alpha.example", PASSWORD)
        .await;
    let (status, _) = get(&vera, &app, &format!("/users/{dee}/history")).await;
    assert_eq!(status, 200, "a viewer reads histories");
    let (status, _) = get(
        &c,
        &app,
        &format!("/users/{}/history", uuid::Uuid::now_v7()),
    )
    .await;
    assert_eq!(status, 404);
}

fn event(label: &str, action: &str) -> NewEvent {
    NewEvent {
        actor_label: label.into(),
        action: action.into(),
        target_type: "user".into(),
        ..Default::default()
    }
}

async fn pages_and_exports_cover_every_matching_event(t: TestDb) {
    let app = spawn_app(t).await;
    let events: Vec<NewEvent> = (0..260)
        .map(|_| event("directory sync", "directory.synced"))
        .collect();
    let mut tx = app.app.db().begin().await.unwrap();
    audit::append(&mut tx, app.org.id, app.app.clock.now(), &events)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Someone whose name a spreadsheet would run as a formula signs in.
    add_user(
        &app.app,
        &app.org,
        "formula@alpha.example",
        ("=HYPERLINK(\"http://evil\")", "Sum"),
        "Read-only",
        Some(PASSWORD),
    )
    .await;
    let f = app.browser();
    app.sign_in(&f, "alpha", "formula@alpha.example", PASSWORD)
        .await;
    let c = app.signed_in_admin().await;

    // Older pages in the console, following the link as a person would.
    let mut seen = 0;
    let mut html = rows(&c, &app, "action=directory.synced").await;
    let mut pages = 1;
    loop {
        seen += actions_in(&html)
            .iter()
            .filter(|a| *a == "directory.synced")
            .count();
        let Some(link) = html.split("id=\"older\" href=\"/audit?").nth(1) else {
            break;
        };
        let query = unescape(link.split('"').next().unwrap());
        html = rows(&c, &app, &query).await;
        pages += 1;
        assert!(pages < 10, "the older link moves on: {query}");
    }
    assert_eq!((seen, pages), (260, 6), "50 a page, each event once");

    // Exports hold every matching event, not one page.
    let r = c
        .get(app.url("/audit/export.csv?action=directory."))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("audit.csv")
    );
    let csv = r.text().await.unwrap();
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    let records: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 260);
    assert!(records.iter().all(|r| &r[4] == "directory.synced"));

    let (status, body) = get(&c, &app, "/audit/export.json?action=directory.synced").await;
    assert_eq!(status, 200);
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 260);
    let seqs: std::collections::BTreeSet<i64> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 260, "no event twice");

    let (_, csv) = get(&c, &app, "/audit/export.csv?actor=hyperlink").await;
    let mut rdr = csv::Reader::from_reader(csv.as_bytes());
    let records: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(records.len(), 1, "{csv}");
    assert_eq!(&records[0][4], "auth.signed_in");
    assert!(
        records[0][3].starts_with("'=HYPERLINK("),
        "the formula stays text: {csv}"
    );
    assert!(
        records
            .iter()
            .flat_map(|r| r.iter())
            .all(|cell| !cell.starts_with('=')),
        "{csv}"
    );
    let (_, json) = get(&c, &app, "/audit/export.json?actor=hyperlink").await;
    let json: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json[0]["action"], "auth.signed_in");
    assert!(
        json[0]["actor"].as_str().unwrap().starts_with("=HYPERLINK"),
        "JSON keeps the value as recorded"
    );
    let (_, empty) = get(&c, &app, "/audit/export.json?action=nothing.like.this").await;
    assert_eq!(
        serde_json::from_str::<Value>(&empty).unwrap(),
        Value::Array(vec![])
    );
}

async fn one_organization_never_sees_anothers_events(t: TestDb) {
    let app = spawn_app(t).await;
    let (beta, _) = org_with_admin(&app.app, "beta").await;
    let beta_user = add_user(
        &app.app,
        &beta,
        "secret.person@beta.example",
        ("Secret", "Person"),
        "Provider",
        None,
    )
    .await;
    let mut tx = app.app.db().begin().await.unwrap();
    audit::append(
        &mut tx,
        beta.id,
        app.app.clock.now(),
        &[NewEvent {
            target_id: Some(beta_user),
            ..event("Beta Boss <boss@beta.example>", "user.secretly_changed")
        }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let c = app.signed_in_admin().await;

    for query in [
        String::new(),
        format!("target={beta_user}"),
        "actor=beta".into(),
        "action=user.secretly_changed".into(),
    ] {
        let html = rows(&c, &app, &query).await;
        let shown = actions_in(&html);
        assert!(
            !shown.contains(&"user.secretly_changed".into())
                && !html.contains("beta.example")
                && !html.contains("Beta Boss"),
            "{query}: {html}"
        );
        if !query.is_empty() {
            assert!(shown.is_empty(), "{query}: {shown:?}");
        }
        for path in ["/audit/export.csv", "/audit/export.json"] {
            let (status, body) = get(&c, &app, &format!("{path}?{query}")).await;
            assert_eq!(status, 200);
            assert!(!body.contains("beta"), "{path}?{query}: {body}");
        }
    }
    let (_, page) = get(&c, &app, "/audit").await;
    assert!(
        !page.contains("secretly_changed"),
        "not even as a filter choice"
    );
    let (status, _) = get(&c, &app, &format!("/users/{beta_user}/history")).await;
    assert_eq!(
        status, 404,
        "another organization's user has no history here"
    );

    let token = app.api_token(&c, &["users:read"]).await;
    let api = reqwest::Client::new();
    for query in [
        format!("target={beta_user}"),
        "actor=beta".into(),
        String::new(),
    ] {
        let body: Value = api
            .get(app.url(&format!("/api/v1/audit?{query}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(!body.to_string().contains("beta"), "{query}: {body}");
        if !query.is_empty() {
            assert_eq!(body["events"], Value::Array(vec![]), "{query}");
        }
    }
}

async fn viewers_read_the_log_and_the_api_needs_users_read(t: TestDb) {
    let app = spawn_app(t).await;
    add_user(
        &app.app,
        &app.org,
        "vera@alpha.example",
        ("Vera", "Viewer"),
        "Read-only",
        Some(PASSWORD),
    )
    .await;
    add_user(
        &app.app,
        &app.org,
        "pat@alpha.example",
        ("Pat", "Provider"),
        "Provider",
        Some(PASSWORD),
    )
    .await;
    let vera = app.browser();
    app.sign_in(&vera, "alpha", "vera@alpha.example", PASSWORD)
        .await;
    let (status, html) = get(&vera, &app, "/audit").await;
    assert_eq!(status, 200, "a viewer reads the log");
    assert!(html.contains("org.created"));
    for path in ["/audit/export.csv", "/audit/export.json"] {
        assert_eq!(
            get(&vera, &app, path).await.0,
            200,
            "a viewer exports {path}"
        );
    }
    let pat = app.browser();
    app.sign_in(&pat, "alpha", "pat@alpha.example", PASSWORD)
        .await;
    for path in ["/audit", "/audit/export.csv", "/audit/export.json"] {
        assert_eq!(get(&pat, &app, path).await.0, 403, "{path}");
    }

    let c = app.signed_in_admin().await;
    let api = reqwest::Client::new();
    assert_eq!(
        api.get(app.url("/api/v1/audit"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let write_only = app.api_token(&c, &["users:write"]).await;
    let r = api
        .get(app.url("/api/v1/audit"))
        .bearer_auth(&write_only)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "users:write alone does not read the log");

    let token = app.api_token(&c, &["users:read"]).await;
    let read = |q: &'static str| {
        let (api, token, url) = (
            api.clone(),
            token.clone(),
            app.url(&format!("/api/v1/audit{q}")),
        );
        async move {
            let r = api.get(url).bearer_auth(&token).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = read("?limit=3").await;
    assert_eq!(status, 200);
    let events = first["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["action"], "api_token.created", "newest first");
    let next = first["next"].as_str().expect("an older page exists");
    let r = api
        .get(app.url(&format!("/api/v1/audit?limit=3&after={next}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let second: Value = r.json().await.unwrap();
    let first_seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    let second_seqs: Vec<i64> = second["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    assert!(
        second_seqs.iter().all(|s| *s < *first_seqs.last().unwrap()),
        "{first_seqs:?} then {second_seqs:?}"
    );
    let (status, body) = read("?action=org.created").await;
    assert_eq!(status, 200);
    assert_eq!(body["events"].as_array().unwrap().len(), 1);
    assert_eq!(body["next"], Value::Null);
    assert_eq!(
        body["events"][0]["after"]["name"], "alpha Therapy",
        "{body}"
    );
    let (status, body) = read("?target=not-an-id").await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["field"], "target");
    let (status, body) = read("?from=2026-02-30").await;
    assert_eq!(status, 422, "{body}");

    // A feed that follows changes: oldest first from a sequence number, page by page, to the
    // same events the log holds.
    let (_, everything) = read("?limit=500").await;
    let mut all: Vec<i64> = everything["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect();
    all.reverse();
    // The feed starts after a sequence number and carries on with the `Link` of each page.
    let mut followed = Vec::new();
    let mut url = app.url("/api/v1/audit?limit=2&after_seq=0");
    loop {
        let r = api.get(&url).bearer_auth(&token).send().await.unwrap();
        let link = r
            .headers()
            .get("link")
            .map(|l| l.to_str().unwrap().to_string());
        let page: Value = r.json().await.unwrap();
        followed.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["seq"].as_i64().unwrap()),
        );
        match (page["next"].as_str(), link) {
            (Some(next), Some(link)) => {
                assert!(
                    link.ends_with(&format!("after={next}>; rel=\"next\"")),
                    "{link}"
                );
                let target = link.trim_start_matches('<').split('>').next().unwrap();
                assert!(
                    target.contains("after_seq=0"),
                    "the link keeps the query: {link}"
                );
                url = app.url(target);
            }
            (None, None) => break,
            other => panic!("next and Link disagree: {other:?}"),
        }
    }
    assert_eq!(followed, all);
    let (status, body) = read("?after=00ff").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("cursor_invalid"))
    );
    let (status, body) = read("?after_seq=1&before_seq=9").await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = read("?from=2020-01-01T00:00:00Z&limit=500").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"], everything["events"], "an RFC 3339 instant");
    let (status, _) = read("?from=2099-01-01T00:00:00Z").await;
    assert_eq!(status, 200);
}

engine_tests!(
    filters_narrow_the_log_and_a_user_has_a_history,
    pages_and_exports_cover_every_matching_event,
    one_organization_never_sees_anothers_events,
    viewers_read_the_log_and_the_api_needs_users_read,
);
