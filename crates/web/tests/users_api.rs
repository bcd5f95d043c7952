//! The users API as an integrator scripts it, on SQLite and PostgreSQL: lookups, "changed
//! since", versions that stop lost updates, the streaming export, and one way every list pages.

mod common;

use common::{TestApp, add_user, spawn_app};
use reqwest::StatusCode;
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use serde_json::{Value, json};

async fn get(app: &TestApp, token: &str, path: &str) -> (StatusCode, Value) {
    let r = reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status(), r.json().await.unwrap())
}

fn emails(page: &Value) -> Vec<&str> {
    page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect()
}

async fn an_integrator_finds_follows_and_edits_users_safely(t: TestDb) {
    let app = spawn_app(t).await;
    let kim = add_user(
        &app.app,
        &app.org,
        "Kim.Lee@alpha.example",
        ("Kim", "Lee"),
        "Front Desk",
        None,
    )
    .await;
    add_user(
        &app.app,
        &app.org,
        "kimberly@alpha.example",
        ("Kimberly", "Ode"),
        "Front Desk",
        None,
    )
    .await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;

    // A lookup by exact address: case does not matter, a longer address that contains it is
    // not matched, and an address that does not parse says so.
    let (status, page) = get(&app, &token, "/api/v1/users?email=KIM.LEE%40ALPHA.EXAMPLE").await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(emails(&page), ["Kim.Lee@alpha.example"]);
    let (status, page) = get(&app, &token, "/api/v1/users?email=kim").await;
    assert_eq!(
        (status.as_u16(), page["errors"][0]["field"].as_str()),
        (422, Some("email"))
    );
    let (_, page) = get(&app, &token, "/api/v1/users?external_id=E404").await;
    assert_eq!(
        emails(&page),
        Vec::<&str>::new(),
        "no directory person has that id"
    );

    // Changed since: nobody after the fixtures were written, then the one user edited.
    let since = jiff::Timestamp::now().to_string();
    let (status, page) = get(
        &app,
        &token,
        &format!("/api/v1/users?updated_since={since}"),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(emails(&page), Vec::<&str>::new());

    // A version read with the profile guards the edit: the first edit with it saves, a second
    // edit made on the same (now stale) copy is refused and changes nothing.
    let r = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/users/{kim}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    let patch = |name: &'static str, tag: String| {
        let (url, token) = (app.url(&format!("/api/v1/users/{kim}")), token.clone());
        async move {
            let r = reqwest::Client::new()
                .patch(url)
                .bearer_auth(token)
                .header("If-Match", tag)
                .json(&json!({ "first_name": name }))
                .send()
                .await
                .unwrap();
            let etag = r
                .headers()
                .get("etag")
                .map(|t| t.to_str().unwrap().to_string());
            (r.status().as_u16(), etag, r.json::<Value>().await.unwrap())
        }
    };
    let (status, new_tag, saved) = patch("Kimi", etag.clone()).await;
    assert_eq!(status, 200, "{saved}");
    assert_ne!(new_tag.as_deref(), Some(etag.as_str()), "the version moved");
    let (status, _, stale) = patch("Kimmy", etag.clone()).await;
    assert_eq!(
        (status, stale["code"].as_str()),
        (412, Some("version_stale")),
        "{stale}"
    );
    let (_, profile) = get(&app, &token, &format!("/api/v1/users/{kim}")).await;
    assert_eq!(
        profile["first_name"], "Kimi",
        "the stale edit changed nothing"
    );
    let (status, _, _) = patch("Kimberley", new_tag.unwrap()).await;
    assert_eq!(status, 200, "the current version saves");
    let (status, _, _) = patch("Kim", "*".into()).await;
    assert_eq!(status, 200, "If-Match: * takes any version");

    let (_, page) = get(
        &app,
        &token,
        &format!("/api/v1/users?updated_since={since}"),
    )
    .await;
    assert_eq!(
        emails(&page),
        ["Kim.Lee@alpha.example"],
        "the edited user changed since"
    );
    let (status, page) = get(&app, &token, "/api/v1/users?updated_since=yesterday").await;
    assert_eq!(
        (status.as_u16(), page["code"].as_str()),
        (422, Some("time_invalid"))
    );
}

async fn the_export_streams_every_matching_user_with_ids_and_access(t: TestDb) {
    let app = spawn_app(t).await;
    for i in 0..230 {
        let email = format!("staff{i:03}@alpha.example");
        add_user(
            &app.app,
            &app.org,
            &email,
            ("Staff", "Member"),
            "Front Desk",
            None,
        )
        .await;
    }
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read"]).await;
    let export = |query: &'static str| {
        let (url, token) = (
            app.url(&format!("/api/v1/users/export{query}")),
            token.clone(),
        );
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let kind = r.headers()["content-type"].to_str().unwrap().to_string();
            (r.status().as_u16(), kind, r.text().await.unwrap())
        }
    };
    let (status, kind, body) = export("?format=ndjson").await;
    assert_eq!((status, kind.as_str()), (200, "application/x-ndjson"));
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        231,
        "every user across more than one page, once"
    );
    let staff = lines
        .iter()
        .find(|u| u["email"] == "staff007@alpha.example")
        .unwrap();
    assert_eq!(staff["roles"], json!(["Front Desk"]));
    assert_eq!(staff["status"], "active");
    assert_eq!(staff["locations"].as_array().unwrap().len(), 1);
    assert!(staff["id"].as_str().unwrap().len() == 36);

    let (status, kind, body) = export("?email=staff007%40alpha.example").await;
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
    let mut rows = csv::Reader::from_reader(body.as_bytes());
    let header = rows.headers().unwrap().clone();
    assert_eq!(&header[0], "id");
    assert!(header.iter().any(|h| h == "roles"));
    assert_eq!(rows.records().count(), 1, "the filters apply");

    let (status, _, body) = export("?format=xml").await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("csv or ndjson"));
    let (status, _, body) = export("?limit=5").await;
    assert_eq!(status, 422, "the export does not page: {body}");
}

/// Every list takes `limit` and `after`, answers an opaque `next` and the same `Link`, and
/// refuses a page size out of range or a cursor it did not give.
async fn every_list_pages_the_same_way(t: TestDb) {
    let app = spawn_app(t).await;
    let mut pagers = Vec::new();
    for i in 0..3 {
        let email = format!("pager{i}@alpha.example");
        let id = add_user(
            &app.app,
            &app.org,
            &email,
            ("Pa", "Ger"),
            "Front Desk",
            None,
        )
        .await;
        pagers.push(id);
    }
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;
    let csv = "first_name,last_name,email\nAna,One,ana@alpha.example\nBo,Two,bo@alpha.example\nCy,Three,cy@alpha.example\n";
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/imports"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let import: Value = r.json().await.unwrap();
    let rows = import["rows_url"].as_str().unwrap().to_string();
    // SOAP notes for front-desk staff: the rules refuse it for each of them.
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/bulk-updates"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "soap-for-all")
        .json(&json!({ "user_ids": pagers, "grant_permissions": ["soap.finish"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let job: Value = r.json().await.unwrap();
    let refused = format!(
        "/api/v1/jobs/{}/refused",
        job["job"]["id"].as_str().unwrap()
    );

    let lists = [
        ("/api/v1/users?limit=1".to_string(), "users"),
        ("/api/v1/audit?limit=1".to_string(), "events"),
        (format!("{rows}?limit=1"), "rows"),
        (format!("{refused}?limit=1"), "refused"),
    ];
    let mut cursors = Vec::new();
    for (first, items) in &lists {
        let mut url = first.clone();
        let mut seen = 0;
        loop {
            let r = reqwest::Client::new()
                .get(app.url(&url))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "{url}");
            let link = r
                .headers()
                .get("link")
                .map(|l| l.to_str().unwrap().to_string());
            let page: Value = r.json().await.unwrap();
            seen += page[items].as_array().unwrap().len();
            match (page["next"].as_str(), link) {
                (Some(next), Some(link)) => {
                    cursors.push((first.clone(), next.to_string()));
                    assert!(link.ends_with("; rel=\"next\""), "{link}");
                    url = link[1..link.find('>').unwrap()].to_string();
                    assert!(url.contains(&format!("after={next}")), "{url}");
                }
                (None, None) => break,
                other => panic!("{first}: next and Link disagree: {other:?}"),
            }
        }
        assert!(
            seen >= 3,
            "{first}: every item reached through the links ({seen})"
        );
    }
    for (first, _) in &lists {
        let base = first.split('?').next().unwrap();
        for bad in ["limit=0", "limit=100000"] {
            let (status, p) = get(&app, &token, &format!("{base}?{bad}")).await;
            assert_eq!(
                (status.as_u16(), p["code"].as_str()),
                (422, Some("limit_out_of_range")),
                "{base}?{bad}"
            );
        }
        // A cursor another list gave is not misread as one of this list's.
        let (_, foreign) = cursors.iter().find(|(f, _)| f != first).unwrap();
        let (status, p) = get(&app, &token, &format!("{base}?after={foreign}")).await;
        assert_eq!(
            (status.as_u16(), p["code"].as_str()),
            (422, Some("cursor_invalid")),
            "{base}"
        );
    }
}

/// Locations and roles are named in a body the way the CSV and the command line name them.
async fn an_edit_names_locations_and_roles_by_code_or_name(t: TestDb) {
    let app = spawn_app(t).await;
    let kim = add_user(
        &app.app,
        &app.org,
        "kim@alpha.example",
        ("Kim", "Lee"),
        "Front Desk",
        None,
    )
    .await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;
    let patch = |body: Value| {
        let (url, token) = (app.url(&format!("/api/v1/users/{kim}")), token.clone());
        async move {
            let r = reqwest::Client::new()
                .patch(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, saved) = patch(json!({
        "locations": ["dt", "alpha Northside"],
        "default_location": "NS",
        "roles": ["front desk"],
    }))
    .await;
    assert_eq!(status, 200, "{saved}");
    let held: Vec<&str> = saved["locations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["granted"] == true)
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(held, ["alpha Downtown", "alpha Northside"], "{saved}");

    let (status, refused) =
        patch(json!({ "roles": ["Front Desk", "Astronaut"], "locations": ["XX"] })).await;
    assert_eq!(status, 422, "{refused}");
    let fields: Vec<(&str, &str)> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        fields,
        [("locations", "location_unknown"), ("roles", "role_unknown")],
        "every unknown name at once"
    );
    assert!(
        refused.to_string().contains("Use one of: DT, NS"),
        "{refused}"
    );
    let (_, now) = get(&app, &token, &format!("/api/v1/users/{kim}")).await;
    assert_eq!(
        now["roles"], saved["roles"],
        "a refused edit changes nothing"
    );

    // A bulk update names its locations the same way.
    let dry_run = |body: Value| {
        let (url, token) = (app.url("/api/v1/bulk-updates/dry-run"), token.clone());
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, plan) =
        dry_run(json!({ "user_ids": [kim], "revoke_locations": ["alpha downtown"] })).await;
    assert_eq!(
        (status, plan["tally"]["users_changed"].as_u64()),
        (200, Some(1)),
        "{plan}"
    );
    let (status, refused) =
        dry_run(json!({ "user_ids": [kim], "grant_locations": ["Uptown"] })).await;
    assert_eq!(
        (status, refused["errors"][0]["code"].as_str()),
        (422, Some("location_unknown")),
        "{refused}"
    );
}

/// Two managers on one profile: the console form saved on top of another edit is refused
/// instead of silently undoing it.
async fn a_console_save_on_a_stale_profile_is_refused(t: TestDb) {
    let app = spawn_app(t).await;
    let kim = add_user(
        &app.app,
        &app.org,
        "kim@alpha.example",
        ("Kim", "Lee"),
        "Front Desk",
        None,
    )
    .await;
    let admin = app.signed_in_admin().await;
    let page = app.page(&admin, &format!("/users/{kim}")).await;
    let csrf = common::csrf_in(&page);
    let version = page
        .split("name=\"version\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries the version it was filled from")
        .to_string();
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;
    let r = reqwest::Client::new()
        .patch(app.url(&format!("/api/v1/users/{kim}")))
        .bearer_auth(&token)
        .json(&json!({ "first_name": "Kimberly" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "meanwhile, another edit");
    let r = admin
        .post(app.url(&format!("/users/{kim}")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("version", version.as_str()),
            ("first_name", "Kim"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("changed since you read them")
    );
    let (_, now) = get(&app, &token, &format!("/api/v1/users/{kim}")).await;
    assert_eq!(now["first_name"], "Kimberly", "the other edit stands");
}

/// The user list pages back as well as forwards: `prev` of a page, passed as `before`, gives
/// the page before it exactly; the first page has none; `after` with `before` is refused.
async fn the_user_list_pages_both_ways(t: TestDb) {
    let app = spawn_app(t).await;
    for i in 0..5 {
        let email = format!("both{i}@alpha.example");
        add_user(&app.app, &app.org, &email, ("Bo", "Th"), "Front Desk", None).await;
    }
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read"]).await;
    let base = "/api/v1/users?q=both&sort=email&limit=2";
    let (_, first) = get(&app, &token, base).await;
    assert_eq!(
        first["prev"],
        Value::Null,
        "the first page has no previous one"
    );
    let next = first["next"].as_str().unwrap();
    let (_, second) = get(&app, &token, &format!("{base}&after={next}")).await;
    assert_eq!(
        emails(&second),
        ["both2@alpha.example", "both3@alpha.example"]
    );
    let next = second["next"].as_str().unwrap();
    let (_, third) = get(&app, &token, &format!("{base}&after={next}")).await;
    assert_eq!(emails(&third), ["both4@alpha.example"]);
    let prev = third["prev"].as_str().unwrap();
    let (_, back) = get(&app, &token, &format!("{base}&before={prev}")).await;
    assert_eq!(emails(&back), emails(&second), "back one page");
    let prev = back["prev"].as_str().unwrap();
    let (_, start) = get(&app, &token, &format!("{base}&before={prev}")).await;
    assert_eq!(
        emails(&start),
        ["both0@alpha.example", "both1@alpha.example"]
    );
    assert_eq!(start["prev"], Value::Null, "back at the start");
    assert!(start["next"].is_string(), "and forwards again from there");
    let (status, refused) = get(&app, &token, &format!("{base}&before={prev}&after={next}")).await;
    assert_eq!(
        (status.as_u16(), refused["code"].as_str()),
        (422, Some("cursor_invalid"))
    );
}

engine_tests!(
    the_user_list_pages_both_ways,
    a_console_save_on_a_stale_profile_is_refused,
    an_edit_names_locations_and_roles_by_code_or_name,
    an_integrator_finds_follows_and_edits_users_safely,
    the_export_streams_every_matching_user_with_ids_and_access,
    every_list_pages_the_same_way
);
