//! The console and API over a real socket, on SQLite and on PostgreSQL.

mod common;

use common::{PASSWORD, TestApp, add_user, csrf_in, org_with_admin, spawn_app};
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use serde_json::Value;

async fn sign_in_needs_the_right_password_and_a_fresh_form(t: TestDb) {
    let app = spawn_app(t).await;
    let c = app.browser();
    let r = c.get(app.url("/users")).send().await.unwrap();
    assert_eq!(r.status(), 303, "signed-out visitors are sent to sign-in");
    assert_eq!(
        r.headers()["location"],
        "/sign-in",
        "a first visit is not told its session ended"
    );

    let r = app
        .sign_in(
            &c,
            &app.org.slug,
            &app.admin_email,
            "not the password at all",
        )
        .await;
    assert_eq!(r.status(), 401);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("The email address or password is not right"),
        "{html}"
    );

    // A form posted without the token the page handed out is refused.
    let r = c
        .post(app.url("/sign-in"))
        .form(&[
            ("csrf", "forged"),
            ("organization", app.org.slug.as_str()),
            ("email", app.admin_email.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // Login CSRF: a page elsewhere that planted its own pre-session cookie and posts the same
    // value as the form's token (to sign the victim in as the attacker) is refused too.
    let planted = "a".repeat(64);
    let r = reqwest::Client::new()
        .post(app.url("/sign-in"))
        .header("cookie", format!("rc_presession={planted}"))
        .form(&[
            ("csrf", planted.as_str()),
            ("organization", app.org.slug.as_str()),
            ("email", app.admin_email.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a planted cookie signs nobody in");

    let r = app
        .sign_in(&c, &app.org.slug, &app.admin_email, PASSWORD)
        .await;
    assert_eq!(r.status(), 303);
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("rc_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    let r = c.get(app.url("/users")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    for h in [
        "content-security-policy",
        "x-content-type-options",
        "x-frame-options",
        "referrer-policy",
    ] {
        assert!(r.headers().contains_key(h), "security header {h}");
    }
    assert!(
        !r.headers().contains_key("strict-transport-security"),
        "no HTTPS pinning when served over plain HTTP"
    );
    assert!(r.text().await.unwrap().contains(&app.admin_email));

    // Sign-out needs the session's CSRF token, then ends the session.
    let r = c
        .post(app.url("/sign-out"))
        .form(&[("csrf", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let csrf = app.csrf_of(&c, "/users").await;
    let r = c
        .post(app.url("/sign-out"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(c.get(app.url("/users")).send().await.unwrap().status(), 303);
}

async fn repeated_failures_pause_an_address_whether_or_not_it_exists(t: TestDb) {
    let app = spawn_app(t).await;
    for email in [app.admin_email.clone(), "nobody@alpha.example".to_string()] {
        let c = app.browser();
        for _ in 0..5 {
            let r = app
                .sign_in(&c, &app.org.slug, &email, "wrong password here")
                .await;
            assert_eq!(r.status(), 401, "{email}");
        }
        let r = app.sign_in(&c, &app.org.slug, &email, PASSWORD).await;
        assert_eq!(
            r.status(),
            429,
            "{email}: paused, even with the right password"
        );
        assert!(
            r.text()
                .await
                .unwrap()
                .contains("paused after repeated failures")
        );
    }
    // The pause ends.
    app.app.clock.advance_minutes(20);
    let c = app.browser();
    assert_eq!(
        app.sign_in(&c, &app.org.slug, &app.admin_email, PASSWORD)
            .await
            .status(),
        303
    );
}

async fn the_pause_grows_alike_for_known_and_unknown_addresses(t: TestDb) {
    let app = spawn_app(t).await;
    let mut answers = Vec::new();
    for email in [app.admin_email.clone(), "nobody@alpha.example".to_string()] {
        let c = app.browser();
        let mut seen = Vec::new();
        for minutes in [0, 0, 0, 0, 0, 0, 2, 0, 3, 0] {
            app.app.clock.advance_minutes(minutes);
            let r = app
                .sign_in(&c, &app.org.slug, &email, "wrong password here")
                .await;
            seen.push(r.status().as_u16());
        }
        answers.push(seen);
        app.app.clock.advance_minutes(120);
    }
    // Five failures pause for a minute; each failure after a pause pauses for twice as long.
    assert_eq!(
        answers[0],
        [401, 401, 401, 401, 401, 429, 401, 429, 401, 429]
    );
    assert_eq!(answers[0], answers[1]);
}

/// One person opening the console in several tabs at once is not taken for an attacker: only
/// failures count towards a pause.
async fn concurrent_correct_sign_ins_all_succeed(t: TestDb) {
    let app = spawn_app(t).await;
    // Every tab has its form first, then all of them are sent at once.
    let mut tabs = Vec::new();
    for _ in 0..12 {
        let c = app.browser();
        let csrf = app.csrf_of(&c, "/sign-in").await;
        tabs.push((c, csrf));
    }
    let sent = tabs.iter().map(|(c, csrf)| {
        c.post(app.url("/sign-in"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("organization", app.org.slug.as_str()),
                ("email", app.admin_email.as_str()),
                ("password", PASSWORD),
            ])
            .send()
    });
    let statuses: Vec<u16> = futures::future::join_all(sent)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(statuses, [303; 12]);
}

async fn idle_sessions_end(t: TestDb) {
    let app = spawn_app(t).await;
    let c = app.signed_in_admin().await;
    app.app.clock.advance_minutes(10);
    assert_eq!(
        c.get(app.url("/users")).send().await.unwrap().status(),
        200,
        "10 minutes idle is within the 15-minute default"
    );
    app.app.clock.advance_minutes(16);
    let r = c.get(app.url("/users")).send().await.unwrap();
    assert_eq!(r.status(), 303, "16 minutes idle signs out");
}

async fn sessions_end_after_the_absolute_timeout_even_when_busy(t: TestDb) {
    let app = spawn_app(t).await;
    let c = app.signed_in_admin().await;
    // Busy all day: a request every 10 minutes keeps the idle clock fresh...
    for _ in 0..(11 * 6) {
        app.app.clock.advance_minutes(10);
        assert_eq!(c.get(app.url("/users")).send().await.unwrap().status(), 200);
    }
    // ...but after 12 hours the session ends all the same.
    app.app.clock.advance_minutes(70);
    assert_eq!(c.get(app.url("/users")).send().await.unwrap().status(), 303);
}

async fn one_organization_never_sees_another(t: TestDb) {
    let app = spawn_app(t).await;
    let (beta, _) = org_with_admin(&app.app, "beta").await;
    add_user(
        &app.app,
        &beta,
        "secret.person@beta.example",
        ("Secret", "Person"),
        "Provider",
        None,
    )
    .await;
    add_user(
        &app.app,
        &app.org,
        "own.person@alpha.example",
        ("Own", "Person"),
        "Provider",
        None,
    )
    .await;
    let c = app.signed_in_admin().await;

    let html = c
        .get(app.url("/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("own.person@alpha.example"));
    assert!(
        !html.contains("beta.example"),
        "console list shows only this organization"
    );
    let html = c
        .get(app.url("/users?q=secret"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("secret.person"));
    let html = c
        .get(app.url("/audit"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("beta"),
        "audit log shows only this organization"
    );

    // Filters by the other organization's ids find nothing.
    let mut conn = app.app.db().read_conn().await.unwrap();
    let beta_loc = rollcall_store::locations::list(&mut conn, beta.id)
        .await
        .unwrap()[0]
        .id;
    let beta_role = rollcall_store::roles::list(&mut conn, beta.id)
        .await
        .unwrap()[0]
        .id;
    drop(conn);
    let token = app.api_token(&c, &["users:read"]).await;
    let api = reqwest::Client::new();
    for q in [
        String::new(),
        format!("?location={beta_loc}"),
        format!("?role={beta_role}"),
        "?q=beta.example".into(),
    ] {
        let body: Value = api
            .get(app.url(&format!("/api/v1/users{q}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if body["users"].is_null() {
            // Another organization's location or role is unknown here, and the answer lists
            // only this organization's.
            assert_eq!(body["code"], "filter_value_unknown", "{q}: {body}");
            assert!(!body["detail"].as_str().unwrap().contains("beta"), "{body}");
            continue;
        }
        let emails: Vec<&str> = body["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        assert!(
            emails.iter().all(|e| e.ends_with("alpha.example")),
            "{q}: {emails:?}"
        );
    }
    let csv = c
        .get(app.url("/users/export.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!csv.contains("beta.example"));
}

async fn viewers_read_and_change_nothing(t: TestDb) {
    let app = spawn_app(t).await;
    add_user(
        &app.app,
        &app.org,
        "viewer@alpha.example",
        ("Vera", "Viewer"),
        "Read-only",
        Some(PASSWORD),
    )
    .await;
    let c = app.browser();
    assert_eq!(
        app.sign_in(&c, &app.org.slug, "viewer@alpha.example", PASSWORD)
            .await
            .status(),
        303
    );
    let html = c
        .get(app.url("/users"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains(&app.admin_email), "the viewer sees the list");
    assert!(!html.contains("API tokens"), "no admin links for a viewer");
    assert_eq!(
        c.get(app.url("/settings/api-tokens"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let csrf = csrf_in(&html);
    let r = c
        .post(app.url("/settings/api-tokens"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "x"),
            ("scope", "users:read"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a viewer cannot create tokens");
    assert_eq!(
        c.get(app.url("/users/export.csv"))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "a viewer may export"
    );

    // A provider without user-management permissions sees nothing.
    add_user(
        &app.app,
        &app.org,
        "pat@alpha.example",
        ("Pat", "Provider"),
        "Provider",
        Some(PASSWORD),
    )
    .await;
    let c = app.browser();
    assert_eq!(
        app.sign_in(&c, &app.org.slug, "pat@alpha.example", PASSWORD)
            .await
            .status(),
        303
    );
    assert_eq!(c.get(app.url("/users")).send().await.unwrap().status(), 403);
}

async fn api_tokens_are_scoped_and_the_list_pages(t: TestDb) {
    let app = spawn_app(t).await;
    for i in 0..120 {
        add_user(
            &app.app,
            &app.org,
            &format!("staff{i:03}@alpha.example"),
            ("Staff", &format!("Member{i:03}")),
            "Front Desk",
            None,
        )
        .await;
    }
    let c = app.signed_in_admin().await;
    let api = reqwest::Client::new();
    let r = api.get(app.url("/api/v1/users")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], "unauthenticated");
    assert_eq!(
        api.get(app.url("/api/v1/users"))
            .bearer_auth("rc_forged")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let write_only = app.api_token(&c, &["users:write"]).await;
    let r = api
        .get(app.url("/api/v1/users"))
        .bearer_auth(&write_only)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a token without users:read cannot list");

    let token = app.api_token(&c, &["users:read"]).await;
    let mut after: Option<String> = None;
    let mut seen = std::collections::BTreeSet::new();
    loop {
        let url = match &after {
            Some(a) => app.url(&format!("/api/v1/users?sort=email&limit=50&after={a}")),
            None => app.url("/api/v1/users?sort=email&limit=50"),
        };
        let body: Value = api
            .get(url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for u in body["users"].as_array().unwrap() {
            assert!(
                seen.insert(u["email"].as_str().unwrap().to_string()),
                "no user twice"
            );
        }
        match body["next"].as_str() {
            Some(n) => after = Some(n.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 121, "every user once across the pages");
    let sorted: Vec<_> = seen.iter().cloned().collect();
    assert_eq!(sorted.first().unwrap(), "admin@alpha.example");

    let r = api
        .get(app.url("/api/v1/users?status=sleeping"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("sleeping"),
        "{body}"
    );

    let doc: Value = api
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/invitations/batch"));
    for (path, ops) in paths.iter().filter(|(_, ops)| ops.get("get").is_some()) {
        // The token reads users; an operation that needs another scope refuses it.
        let needs_more = ops["get"]["security"][0]["bearer"]
            .as_array()
            .is_some_and(|scopes| scopes.iter().any(|s| s != "users:read"));
        // A templated path gets an id that exists nowhere: routed, it answers "no such job"
        // rather than the fallback's "no such endpoint".
        let templated = path.contains('{');
        let concrete = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
        let r = api
            .get(app.url(&format!("/api/v1{concrete}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        if needs_more {
            assert_eq!(status, 403, "documented path {path}: {body}");
        } else if templated {
            assert_eq!(status, 404, "documented path {path}: {body}");
            assert!(!body.contains("No such API endpoint"), "{path} is routed");
        } else {
            assert_eq!(status, 200, "documented path {path} answers: {body}");
        }
    }
}

async fn export_neutralises_formulas(t: TestDb) {
    let app = spawn_app(t).await;
    add_user(
        &app.app,
        &app.org,
        "formula@alpha.example",
        ("=HYPERLINK(\"http://evil\")", "+Sum"),
        "Front Desk",
        None,
    )
    .await;
    let c = app.signed_in_admin().await;
    let csv = c
        .get(app.url("/users/export.csv?q=formula"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(!csv.contains(",=HYPERLINK"), "{csv}");
}

async fn oversized_bodies_are_refused(t: TestDb) {
    let app = spawn_app(t).await;
    let c = app.browser();
    let big = "x".repeat(rollcall_web::BODY_LIMIT + 1);
    let r = c
        .post(app.url("/sign-in"))
        .form(&[
            ("csrf", "x"),
            ("organization", "alpha"),
            ("email", big.as_str()),
            ("password", "y"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
}

async fn every_change_is_audited_and_the_chain_verifies(t: TestDb) {
    let app = spawn_app(t).await;
    let c = app.signed_in_admin().await;
    app.api_token(&c, &["users:read"]).await;
    let html = c
        .get(app.url("/audit"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for action in [
        "org.created",
        "location.created",
        "user.admin_created",
        "registration.completed",
        "auth.signed_in",
        "api_token.created",
    ] {
        assert!(html.contains(action), "audit log shows {action}");
    }
    let results = rollcall_app::audit::verify(&app.app, Some("alpha"))
        .await
        .unwrap();
    assert!(results[0].1.breaks.is_empty());
    assert!(results[0].1.checked >= 10);
}

async fn sign_out_everywhere_ends_every_session(t: TestDb) {
    let app = spawn_app(t).await;
    let (laptop, desk) = (app.signed_in_admin().await, app.signed_in_admin().await);
    let csrf = app.csrf_of(&laptop, "/users").await;
    let r = laptop
        .post(app.url("/sign-out"))
        .form(&[("csrf", csrf.as_str()), ("everywhere", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        desk.get(app.url("/users")).send().await.unwrap().status(),
        303,
        "the other device is signed out too"
    );
}

/// Browsers are told to keep to HTTPS only where the server is reached over HTTPS.
async fn https_deployments_pin_browsers_to_https(t: TestDb) {
    let https = common::spawn_app_https(t).await;
    let r = reqwest::get(https.url("/sign-in")).await.unwrap();
    assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
    let r = reqwest::get(https.url("/api/v1/me")).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers().contains_key("strict-transport-security"),
        "the API too"
    );
}

/// The local mailbox holds registration links: without a session it sends to sign-in, a
/// clinic admin is refused, and a company admin reads their own organization's messages only.
async fn the_local_mailbox_is_for_company_admins_only(t: TestDb) {
    let app = spawn_app(t).await;
    let anonymous = app.browser();
    let r = anonymous.get(app.url("/mailbox")).send().await.unwrap();
    assert_eq!(r.status(), 303, "no session: to sign-in");
    add_user(
        &app.app,
        &app.org,
        "clinic.admin@alpha.example",
        ("Cli", "Nic"),
        "Clinic Admin",
        Some(PASSWORD),
    )
    .await;
    let clinic = app.browser();
    app.sign_in(&clinic, "alpha", "clinic.admin@alpha.example", PASSWORD)
        .await;
    let r = clinic.get(app.url("/mailbox")).send().await.unwrap();
    assert_eq!(r.status(), 403, "a clinic admin does not read the mailbox");
    let admin = app.signed_in_admin().await;
    let page = app.page(&admin, "/mailbox").await;
    assert!(page.contains("Local mailbox"), "{page}");
}

/// With several organizations the sign-in page asks for the organization code: a link from the
/// invitation fills it in, and the browser remembers it after a sign-in.
async fn the_sign_in_page_fills_in_the_organization_code(t: TestDb) {
    let app = spawn_app(t).await;
    org_with_admin(&app.app, "beta").await;
    let c = app.browser();
    let html = app.page(&c, "/sign-in").await;
    assert!(
        html.contains("name=\"organization\" value=\"\"") && html.contains("invitation email"),
        "asks for the code and says where to find it: {html}"
    );
    let html = app.page(&c, "/sign-in?org=alpha").await;
    assert!(
        html.contains("name=\"organization\" value=\"alpha\""),
        "{html}"
    );
    let html = app.page(&c, "/sign-in?org=%22%3E%3Cb%3E").await;
    assert!(
        html.contains("name=\"organization\" value=\"\"") && !html.contains("<b>"),
        "a code that cannot be one is ignored"
    );
    let r = app.sign_in(&c, "alpha", &app.admin_email, PASSWORD).await;
    assert_eq!(r.status(), 303);
    let fresh_tab = app.page(&c, "/sign-in").await;
    assert!(
        fresh_tab.contains("name=\"organization\" value=\"alpha\""),
        "remembered: {fresh_tab}"
    );
}

/// A load balancer's readiness check says whether the database answers, not only whether the
/// process serves HTTP.
async fn readiness_follows_the_database(t: TestDb) {
    let app = spawn_app(t).await;
    let c = app.browser();
    let r = c.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ready");
    app.app.db().close().await;
    let r = c.get(app.url("/health/ready")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.text().await.unwrap(), "database unreachable");
    let r = c.get(app.url("/health/live")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the process itself still lives");
}

engine_tests!(
    readiness_follows_the_database,
    the_sign_in_page_fills_in_the_organization_code,
    the_local_mailbox_is_for_company_admins_only,
    https_deployments_pin_browsers_to_https,
    concurrent_correct_sign_ins_all_succeed,
    sessions_end_after_the_absolute_timeout_even_when_busy,
    sign_out_everywhere_ends_every_session,
    sign_in_needs_the_right_password_and_a_fresh_form,
    repeated_failures_pause_an_address_whether_or_not_it_exists,
    the_pause_grows_alike_for_known_and_unknown_addresses,
    idle_sessions_end,
    one_organization_never_sees_another,
    viewers_read_and_change_nothing,
    api_tokens_are_scoped_and_the_list_pages,
    export_neutralises_formulas,
    oversized_bodies_are_refused,
    every_change_is_audited_and_the_chain_verifies,
);

#[allow(dead_code)]
fn _uses(_: &TestApp) {}
