//! Invitations and registration, end to end over HTTP, on SQLite and PostgreSQL: a new user's
//! whole journey from an admin's invitation to their first sign-in.

mod common;

use std::collections::BTreeMap;

use common::{PASSWORD, TestApp, csrf_in, spawn_app};
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use rollcall_store::{mailbox, roles};
use serde_json::{Value, json};

/// Delivers what is queued (to the local mailbox: no SMTP server in these tests).
async fn deliver(app: &TestApp) {
    rollcall_app::delivery::drain_once(&app.app).await.unwrap();
}

/// The newest message to an address, as kept in the local mailbox.
async fn last_message(app: &TestApp, to: &str) -> mailbox::MailboxMessage {
    deliver(app).await;
    let mut conn = app.app.db().read_conn().await.unwrap();
    mailbox::list(&mut conn, None, Some(to), 1)
        .await
        .unwrap()
        .pop()
        .unwrap_or_else(|| panic!("no message to {to}"))
}

fn link_in(body: &str) -> String {
    let start = body.find("http").expect("message has a link");
    body[start..].split_whitespace().next().unwrap().to_string()
}

fn path_of(link: &str) -> String {
    let after_scheme = &link[link.find("://").unwrap() + 3..];
    after_scheme[after_scheme.find('/').unwrap()..].to_string()
}

async fn ids(app: &TestApp) -> (String, BTreeMap<String, String>) {
    let mut conn = app.app.db().read_conn().await.unwrap();
    let loc = rollcall_store::locations::list(&mut conn, app.org.id)
        .await
        .unwrap()[0]
        .id
        .to_string();
    let roles = roles::list(&mut conn, app.org.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.name, r.id.to_string()))
        .collect();
    (loc, roles)
}

async fn invite_one(
    app: &TestApp,
    c: &reqwest::Client,
    email: &str,
    name: &str,
) -> reqwest::Response {
    let (loc, roles) = ids(app).await;
    let csrf = app.csrf_of(c, "/users/invite").await;
    c.post(app.url("/users/invite/one"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("full_name", name),
            ("location", &loc),
            ("role", &roles["Front Desk"]),
            ("user_type", "front_desk"),
        ])
        .send()
        .await
        .unwrap()
}

/// Fills in the registration form of an invitation link; returns the response.
async fn register(
    app: &TestApp,
    c: &reqwest::Client,
    path: &str,
    password: &str,
) -> reqwest::Response {
    let csrf = app.csrf_of(c, path).await;
    c.post(app.url(path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("first_name", "Rita"),
            ("last_name", "Moreno"),
            ("mobile", "+1 415 555 2671"),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

async fn accept_terms(app: &TestApp, c: &reqwest::Client) -> reqwest::Response {
    let html = c
        .get(app.url("/register/terms"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Terms of use"), "{html}");
    let csrf = csrf_in(&html);
    c.post(app.url("/register/terms"))
        .form(&[("csrf", csrf.as_str()), ("version", "1")])
        .send()
        .await
        .unwrap()
}

async fn an_invited_person_registers_and_signs_in(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let r = invite_one(&app, &admin, "Rita.Moreno@Clinic.example", "Rita Moreno").await;
    assert_eq!(r.status(), 303);
    let html = admin
        .get(app.url("/users?q=rita"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("status-pending"), "the new user is Pending");

    let m = last_message(&app, "Rita.Moreno@Clinic.example").await;
    assert!(
        m.subject.contains("alpha Therapy"),
        "names the organization: {}",
        m.subject
    );
    assert!(
        m.body_text.contains("Ada Lovelace"),
        "names the inviting person: {}",
        m.body_text
    );
    assert!(
        m.body_html
            .as_deref()
            .is_some_and(|h| h.contains("<a href=")),
        "has an HTML part"
    );
    let path = path_of(&link_in(&m.body_text));

    let invitee = app.browser();
    for _ in 0..2 {
        assert_eq!(
            invitee.get(app.url(&path)).send().await.unwrap().status(),
            200,
            "opening the link (a mail scanner) does not use it"
        );
    }
    let r = register(&app, &invitee, &path, "short").await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("at least 12 characters"));
    let r = register(&app, &invitee, &path, "password1234").await;
    assert!(r.text().await.unwrap().contains("commonly used"));
    let r = register(&app, &invitee, &path, PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/register/terms");
    assert_eq!(
        invitee
            .get(app.url("/users"))
            .send()
            .await
            .unwrap()
            .status(),
        303,
        "not signed in before accepting the terms"
    );

    let r = accept_terms(&app, &invitee).await;
    assert_eq!(r.status(), 303);
    let html = invitee
        .get(app.url("/home"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("You're all set, Rita"), "{html}");

    // The link is used up: another look says so, another submission changes nothing.
    let r = app.browser().get(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 410);
    assert!(r.text().await.unwrap().contains("already used"));
    let html = admin
        .get(app.url("/users?q=rita"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("status-active") && html.contains("Rita Moreno"));
    assert_eq!(
        app.sign_in(
            &app.browser(),
            "alpha",
            "rita.moreno@clinic.example",
            PASSWORD
        )
        .await
        .status(),
        303
    );

    let audit = admin
        .get(app.url("/audit"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for action in [
        "user.invited",
        "registration.details",
        "registration.completed",
    ] {
        assert!(audit.contains(action), "audit has {action}");
    }
}

async fn one_registration_wins_on_a_shared_token(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    invite_one(&app, &admin, "twice@clinic.example", "Tw Ice").await;
    let path = path_of(&link_in(
        &last_message(&app, "twice@clinic.example").await.body_text,
    ));
    let token = path.trim_start_matches("/register/").to_string();
    let details = rollcall_app::identity::register::Details {
        first_name: "T".into(),
        last_name: "I".into(),
        mobile: "+14155552671".into(),
        password: PASSWORD.into(),
    };
    let (a, b) = tokio::join!(
        rollcall_app::identity::register::submit(&app.app, &token, &details, None),
        rollcall_app::identity::register::submit(&app.app, &token, &details, None)
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|x| **x).count(),
        1,
        "exactly one of two concurrent registrations wins"
    );
}

async fn links_expire_and_resend_replaces_them(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    invite_one(&app, &admin, "late@clinic.example", "Lee Late").await;
    let old = path_of(&link_in(
        &last_message(&app, "late@clinic.example").await.body_text,
    ));

    app.app.clock.advance_minutes(8 * 24 * 60);
    let admin = app.signed_in_admin().await; // the earlier session has long timed out
    let r = app.browser().get(app.url(&old)).send().await.unwrap();
    assert_eq!(r.status(), 410);
    assert!(r.text().await.unwrap().contains("expired"));
    let html = admin
        .get(app.url("/users?status=expired"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("late@clinic.example"), "listed as Expired");

    let user_id = html
        .split("data-user=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let csrf = csrf_in(&html);
    let r = admin
        .post(app.url(&format!("/users/{user_id}/resend")))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let new = path_of(&link_in(
        &last_message(&app, "late@clinic.example").await.body_text,
    ));
    assert_ne!(old, new);
    let r = app.browser().get(app.url(&old)).send().await.unwrap();
    assert_eq!(r.status(), 410, "the old link no longer works");
    assert_eq!(
        app.browser()
            .get(app.url(&new))
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "the new one does"
    );
    let html = admin
        .get(app.url("/users?status=pending"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("late@clinic.example"),
        "Pending again with a fresh validity"
    );

    let csrf = csrf_in(&html);
    let r = admin
        .post(app.url(&format!("/users/{user_id}/revoke")))
        .form(&[("csrf", csrf.as_str()), ("confirmed", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        app.browser()
            .get(app.url(&new))
            .send()
            .await
            .unwrap()
            .status(),
        410,
        "revoked"
    );
    let html = admin
        .get(app.url("/users?status=inactive"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("late@clinic.example"));
}

async fn a_paste_invites_the_valid_new_addresses_and_explains_the_rest(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    invite_one(&app, &admin, "existing@clinic.example", "Ex Isting").await;
    let text = "a@clinic.example, B@clinic.example; Dana Lee <dana@clinic.example>\nnot-an-address b@clinic.example\nexisting@clinic.example admin@alpha.example";
    let r = admin
        .post(app.url("/users/invite/count"))
        .form(&[("addresses", text)])
        .send()
        .await
        .unwrap();
    let count = r.text().await.unwrap();
    assert!(
        count.contains("<strong id=\"recognised\">5</strong>"),
        "{count}"
    );

    let (loc, roles) = ids(&app).await;
    let csrf = app.csrf_of(&admin, "/users/invite").await;
    let r = admin
        .post(app.url("/users/invite/paste"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("addresses", text),
            ("location", &loc),
            ("role", &roles["Provider"]),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("<strong>3</strong> invitations sent"),
        "{html}"
    );
    for reason in [
        "not an email address",
        "more than once in this batch",
        "already in alpha Therapy",
    ] {
        assert!(html.contains(reason), "reason “{reason}” listed");
    }
    assert!(html.contains("admin@alpha.example") && html.contains("existing@clinic.example"));
    assert!(html.contains("Send more invites"));
    let users = admin
        .get(app.url("/users?q=dana"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        users.contains("Dana Lee"),
        "the name of a `Name <addr>` entry is kept"
    );
}

async fn inviting_needs_a_location_and_respects_the_rules(t: TestDb) {
    let app = spawn_app(t).await;
    let meta = rollcall_app::audit::Meta::system("test");
    let bare = rollcall_app::org::create_org(&app.app, "bare", "Bare Clinic", "UTC", &meta)
        .await
        .unwrap();
    let mut conn = app.app.db().read_conn().await.unwrap();
    let who = rollcall_app::Principal::operator(&app.app, bare.id, "operator")
        .await
        .unwrap();
    let role = roles::list(&mut conn, bare.id).await.unwrap()[0].id;
    drop(conn);
    let req = rollcall_app::onboarding::invite::InviteOne {
        email: "x@y.org".into(),
        full_name: "X Y".into(),
        location: None,
        role: role.to_string(),
        user_type: None,
    };
    let e = rollcall_app::onboarding::invite::invite_one(&app.app, &who, &req, &meta)
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("has no location yet") && e.to_string().contains("Add a location"),
        "{e}"
    );

    // A clinic admin cannot hand out a role carrying permissions they do not hold (rule 4).
    common::add_user(
        &app.app,
        &app.org,
        "clinic.admin@alpha.example",
        ("Cli", "Nic"),
        "Clinic Admin",
        Some(PASSWORD),
    )
    .await;
    let c = app.browser();
    assert_eq!(
        app.sign_in(&c, "alpha", "clinic.admin@alpha.example", PASSWORD)
            .await
            .status(),
        303
    );
    let (loc, roles) = ids(&app).await;
    let csrf = app.csrf_of(&c, "/users/invite").await;
    let r = c
        .post(app.url("/users/invite/one"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "biller@clinic.example"),
            ("full_name", "Bill Er"),
            ("location", &loc),
            ("role", &roles["Billing Manager"]),
            ("user_type", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Rule 4"),
        "the refusal names the rule: {html}"
    );
    let r = invite_one(
        &app,
        &app.signed_in_admin().await,
        "admin@alpha.example",
        "Dup",
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("already has an account"));
}

async fn the_api_invites_and_a_retried_batch_invites_nobody_twice(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;
    let (loc, roles) = ids(&app).await;
    let api = reqwest::Client::new();
    let r = api
        .post(app.url("/api/v1/invitations"))
        .bearer_auth(&token)
        .json(&json!({ "email": "api.one@clinic.example", "full_name": "Api One", "location": loc, "role": roles["Front Desk"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // The names of older clients, `location_id` and `role_id`, are still read.
    let body = json!({ "addresses": "b1@clinic.example b2@clinic.example bad", "location_id": loc, "role_id": roles["Front Desk"] });
    let r = api
        .post(app.url("/api/v1/invitations/batch"))
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "bulk calls need an idempotency key");
    let mut answers = Vec::new();
    for _ in 0..2 {
        let r = api
            .post(app.url("/api/v1/invitations/batch"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "batch-1")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        answers.push(r.json::<Value>().await.unwrap());
    }
    assert_eq!(answers[0]["invited"].as_array().unwrap().len(), 2);
    assert_eq!(
        answers[0], answers[1],
        "the retry answers as the first call did"
    );
    let list: Value = api
        .get(app.url("/api/v1/users?q=b1@"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["users"].as_array().unwrap().len(), 1, "invited once");
    let other = json!({ "addresses": "b3@clinic.example", "location_id": loc, "role_id": roles["Front Desk"] });
    let r = api
        .post(app.url("/api/v1/invitations/batch"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "batch-1")
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "same key, other body");

    // A key belongs to the token that used it: a read-only token is refused rather than
    // replayed, and another writing token's call with the same key is a call of its own.
    let reader = app.api_token(&admin, &["users:read"]).await;
    let writer = app.api_token(&admin, &["users:read", "users:write"]).await;
    let send = |token: &str| {
        api.post(app.url("/api/v1/invitations/batch"))
            .bearer_auth(token)
            .header("Idempotency-Key", "batch-1")
            .json(&body)
            .send()
    };
    let r = send(&reader).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["content-type"],
        "application/problem+json",
        "errors are problem details"
    );
    let own: Value = send(&writer).await.unwrap().json().await.unwrap();
    assert_eq!(own["invited"].as_array().unwrap().len(), 0, "{own}");
    assert_ne!(own, answers[0], "not the other token's stored answer");

    // Every documented operation is routed (not the API's unknown-endpoint answer).
    let doc: Value = api
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            let url = app.url(&format!(
                "/api/v1{}",
                path.replace("{id}", &uuid::Uuid::now_v7().to_string())
            ));
            let req = api
                .request(method.to_uppercase().parse().unwrap(), url)
                .bearer_auth(&token)
                .header("Idempotency-Key", "probe")
                .json(&json!({}));
            let r = req.send().await.unwrap();
            let status = r.status();
            let text = r.text().await.unwrap();
            assert!(
                status != 405 && !text.contains("No such API endpoint"),
                "{method} {path}: {status} {text}"
            );
        }
    }
}

async fn second_factor_by_authenticator_app_and_recovery_codes(t: TestDb) {
    let app = spawn_app(t).await;
    let mut conn = app.app.db().read_conn().await.unwrap();
    let mut settings = rollcall_store::orgs::get(&mut conn, app.org.id)
        .await
        .unwrap()
        .unwrap()
        .settings;
    drop(conn);
    settings.require_2fa = true;
    rollcall_store::orgs::update_settings(
        &mut app.app.db().write_conn().await.unwrap(),
        app.org.id,
        &settings,
    )
    .await
    .unwrap();

    let admin = app.signed_in_admin().await;
    invite_one(&app, &admin, "totp@clinic.example", "To Tp").await;
    let path = path_of(&link_in(
        &last_message(&app, "totp@clinic.example").await.body_text,
    ));
    let c = app.browser();
    let r = register(&app, &c, &path, PASSWORD).await;
    assert_eq!(r.headers()["location"], "/register/2fa");
    let html = c
        .get(app.url("/register/2fa"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("authenticator app") && html.contains("A code sent to my email"));
    let csrf = csrf_in(&html);
    let html = c
        .post(app.url("/register/2fa/start"))
        .form(&[("csrf", csrf.as_str()), ("method", "totp")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<svg"), "a QR code is shown");
    let secret = html
        .split("id=\"totp-secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let r = c
        .post(app.url("/register/2fa/confirm"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "totp"),
            ("code", "000000"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "a wrong code is refused");
    let code = rollcall_app::identity::mfa::totp_now(&secret, app.app.clock.now());
    let html = c
        .post(app.url("/register/2fa/confirm"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "totp"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let recovery: Vec<String> = html
        .split("<li><code>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().to_string())
        .collect();
    assert_eq!(recovery.len(), 10, "{html}");
    assert_eq!(accept_terms(&app, &c).await.status(), 303);

    // Signing in now takes the second step.
    let c = app.browser();
    let r = app
        .sign_in(&c, "alpha", "totp@clinic.example", PASSWORD)
        .await;
    assert_eq!(r.headers()["location"], "/sign-in/code");
    assert_eq!(
        c.get(app.url("/users")).send().await.unwrap().status(),
        303,
        "half-way is not signed in"
    );
    let csrf = app.csrf_of(&c, "/sign-in/code").await;
    let r = c
        .post(app.url("/sign-in/code"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "totp"),
            ("code", "123456"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let code = rollcall_app::identity::mfa::totp_now(&secret, app.app.clock.now());
    let r = c
        .post(app.url("/sign-in/code"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "totp"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/home");
    assert_eq!(c.get(app.url("/home")).send().await.unwrap().status(), 200);

    // A recovery code works once.
    for expected in [303, 401] {
        let c = app.browser();
        app.sign_in(&c, "alpha", "totp@clinic.example", PASSWORD)
            .await;
        let csrf = app.csrf_of(&c, "/sign-in/code").await;
        let r = c
            .post(app.url("/sign-in/code"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("method", "totp"),
                ("code", recovery[0].as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), expected);
    }
}

async fn second_factor_by_emailed_code(t: TestDb) {
    let app = spawn_app(t).await;
    let mut conn = app.app.db().read_conn().await.unwrap();
    let mut settings = rollcall_store::orgs::get(&mut conn, app.org.id)
        .await
        .unwrap()
        .unwrap()
        .settings;
    drop(conn);
    settings.require_2fa = true;
    rollcall_store::orgs::update_settings(
        &mut app.app.db().write_conn().await.unwrap(),
        app.org.id,
        &settings,
    )
    .await
    .unwrap();
    let admin = app.signed_in_admin().await;
    invite_one(&app, &admin, "mailcode@clinic.example", "Mail Code").await;
    let path = path_of(&link_in(
        &last_message(&app, "mailcode@clinic.example")
            .await
            .body_text,
    ));
    let c = app.browser();
    register(&app, &c, &path, PASSWORD).await;
    let csrf = app.csrf_of(&c, "/register/2fa").await;
    let html = c
        .post(app.url("/register/2fa/start"))
        .form(&[("csrf", csrf.as_str()), ("method", "email")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("We sent a 6-digit code"));
    let m = last_message(&app, "mailcode@clinic.example").await;
    let code: String = m
        .body_text
        .split_whitespace()
        .find(|w| w.len() == 6 && w.chars().all(|c| c.is_ascii_digit()))
        .unwrap()
        .to_string();
    let r = c
        .post(app.url("/register/2fa/confirm"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "email"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(accept_terms(&app, &c).await.status(), 303);
    // Signing in sends a fresh code by email.
    let c = app.browser();
    app.sign_in(&c, "alpha", "mailcode@clinic.example", PASSWORD)
        .await;
    let m = last_message(&app, "mailcode@clinic.example").await;
    let code: String = m
        .body_text
        .split_whitespace()
        .find(|w| w.len() == 6 && w.chars().all(|c| c.is_ascii_digit()))
        .unwrap()
        .to_string();
    let csrf = app.csrf_of(&c, "/sign-in/code").await;
    let r = c
        .post(app.url("/sign-in/code"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "email"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/home");
}

async fn the_api_names_the_location_by_code_and_the_role_by_name(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;
    let mut conn = app.app.db().read_conn().await.unwrap();
    let location = rollcall_store::locations::list(&mut conn, app.org.id)
        .await
        .unwrap()
        .remove(0);
    drop(conn);
    let api = reqwest::Client::new();
    let invite = |body: Value| {
        api.post(app.url("/api/v1/invitations"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = invite(json!({ "email": "by.name@clinic.example", "full_name": "By Name", "location": location.code.to_lowercase(), "role": "front desk" }))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let invited: Value = r.json().await.unwrap();
    let mut conn = app.app.db().read_conn().await.unwrap();
    let user_id = invited["user_id"].as_str().unwrap().parse().unwrap();
    let user = rollcall_store::users::get(&mut conn, app.org.id, user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.default_location_id, Some(location.id));
    drop(conn);

    // An unknown role is refused with the names there are; nobody is invited.
    let r = invite(json!({ "email": "nobody@clinic.example", "full_name": "No Body", "location": location.name, "role": "Janitor" }))
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "role_unknown", "{problem}");
    assert_eq!(problem["errors"][0]["field"], "role", "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("“Janitor”")
            && detail.contains("Front Desk")
            && detail.contains("Provider"),
        "{detail}"
    );
    let r = api
        .post(app.url("/api/v1/invitations/batch"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "by-name")
        .json(&json!({ "addresses": "nobody@clinic.example", "location": "Nowhere", "role": "Provider" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let problem: Value = r.json().await.unwrap();
    assert_eq!(problem["code"], "location_unknown", "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains(&location.code),
        "{problem}"
    );
}

/// A name is 1 to 100 characters on one line whichever way the person is invited: a name of
/// 2,000 characters or with a line break in it invites nobody and says why.
async fn names_are_checked_the_same_on_every_invitation_path(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;
    let long = "Kim ".repeat(500);
    let r = invite_one(&app, &admin, "long@clinic.example", &long).await;
    assert_eq!(r.status(), 422, "the console's form");
    assert!(r.text().await.unwrap().contains("at most 100 are allowed"));
    let api = reqwest::Client::new();
    for name in [long.as_str(), "Kim\u{7}Lee"] {
        let r = api
            .post(app.url("/api/v1/invitations"))
            .bearer_auth(&token)
            .json(&json!({ "email": "api@clinic.example", "full_name": name, "location": "DT", "role": "Front Desk" }))
            .send()
            .await
            .unwrap();
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], "full_name", "{problem}");
    }
    let pasted = format!("{long} <pasted@clinic.example>, Kim Lee <fine@clinic.example>");
    let r = api
        .post(app.url("/api/v1/invitations/batch"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "names")
        .json(&json!({ "addresses": pasted, "location": "DT", "role": "Front Desk" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let batch: Value = r.json().await.unwrap();
    assert_eq!(batch["invited"].as_array().unwrap().len(), 1, "{batch}");
    assert!(
        batch.to_string().contains("at most 100 are allowed"),
        "{batch}"
    );
    let list: Value = api
        .get(app.url("/api/v1/users?status=pending"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let emails: Vec<&str> = list["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["fine@clinic.example"],
        "only the well-named person was invited"
    );
}

/// Someone who sent their details but left before the terms comes back through sign-in and
/// carries on where they stopped; the used link says so. With a second factor set up, sign-in
/// asks for it before the terms.
async fn an_abandoned_registration_carries_on_at_sign_in(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    invite_one(&app, &admin, "later@clinic.example", "Lee Later").await;
    let body = last_message(&app, "later@clinic.example").await.body_text;
    assert!(
        body.contains("/sign-in?org=alpha") && body.contains("organization code: alpha"),
        "the invitation says how to sign in later: {body}"
    );
    let path = path_of(&link_in(&body));
    let r = register(&app, &app.browser(), &path, PASSWORD).await;
    assert_eq!(r.headers()["location"], "/register/terms");

    // The tab is closed. The link now says it was used, and what to do.
    let r = app.browser().get(app.url(&path)).send().await.unwrap();
    assert_eq!(r.status(), 410);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("carry on where you left off")
    );

    let c = app.browser();
    let r = app
        .sign_in(&c, "alpha", "later@clinic.example", "not the password!")
        .await;
    assert_eq!(r.status(), 401, "a wrong password is refused as ever");
    let r = app
        .sign_in(&c, "alpha", "later@clinic.example", PASSWORD)
        .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/register/terms");
    assert_eq!(
        c.get(app.url("/users")).send().await.unwrap().status(),
        303,
        "not signed in before the terms"
    );
    assert_eq!(accept_terms(&app, &c).await.status(), 303);
    let html = app.page(&c, "/home").await;
    assert!(html.contains("You're all set"), "{html}");
    assert!(
        app.page(&admin, "/audit")
            .await
            .contains("registration.resumed")
    );
}

async fn a_registration_left_after_its_second_factor_asks_for_it_first(t: TestDb) {
    let app = spawn_app(t).await;
    let mut conn = app.app.db().write_conn().await.unwrap();
    let mut settings = rollcall_store::orgs::get(&mut conn, app.org.id)
        .await
        .unwrap()
        .unwrap()
        .settings;
    settings.require_2fa = true;
    rollcall_store::orgs::update_settings(&mut conn, app.org.id, &settings)
        .await
        .unwrap();
    drop(conn);
    let admin = app.signed_in_admin().await;
    invite_one(&app, &admin, "half@clinic.example", "Hal Fway").await;
    let path = path_of(&link_in(
        &last_message(&app, "half@clinic.example").await.body_text,
    ));
    let c = app.browser();
    register(&app, &c, &path, PASSWORD).await;
    let csrf = app.csrf_of(&c, "/register/2fa").await;
    let html = c
        .post(app.url("/register/2fa/start"))
        .form(&[("csrf", csrf.as_str()), ("method", "totp")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = html
        .split("id=\"totp-secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let code = rollcall_app::identity::mfa::totp_now(&secret, app.app.clock.now());
    c.post(app.url("/register/2fa/confirm"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "totp"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    // Left at the terms. Back through sign-in: the second factor first, then the terms.
    let c = app.browser();
    let r = app
        .sign_in(&c, "alpha", "half@clinic.example", PASSWORD)
        .await;
    assert_eq!(r.headers()["location"], "/sign-in/code");
    let csrf = app.csrf_of(&c, "/sign-in/code").await;
    let code = rollcall_app::identity::mfa::totp_now(&secret, app.app.clock.now());
    let r = c
        .post(app.url("/sign-in/code"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("method", "totp"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/register/terms");
    assert_eq!(accept_terms(&app, &c).await.status(), 303);
    assert!(app.page(&c, "/home").await.contains("You're all set"));
}

/// A registration with several mistakes names them all at once, each at its field, and keeps
/// what was typed.
async fn registration_names_every_mistake_at_once(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    invite_one(&app, &admin, "typo@clinic.example", "Ty Po").await;
    let path = path_of(&link_in(
        &last_message(&app, "typo@clinic.example").await.body_text,
    ));
    let c = app.browser();
    let csrf = app.csrf_of(&c, &path).await;
    let r = c
        .post(app.url(&path))
        .form(&[
            ("csrf", csrf.as_str()),
            ("first_name", "Tyrone"),
            ("last_name", "Po"),
            ("mobile", "12"),
            ("password", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(html.contains("id=\"error-summary\""), "{html}");
    assert!(html.contains("2 things to fix"), "{html}");
    for field in ["mobile", "password"] {
        assert!(
            html.contains(&format!("href=\"#f-{field}\"")),
            "the summary links to {field}"
        );
        assert!(
            html.contains(&format!("id=\"f-{field}\" aria-invalid=\"true\"")),
            "{field} is marked"
        );
    }
    assert!(html.contains("value=\"Tyrone\""), "what was typed is kept");
}

/// Invitations an integrator's script sends at the same moment are written together, yet each
/// request gets the answer it would have had alone and its own audit event.
async fn invitations_sent_at_once_each_get_their_own_answer(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;
    let (loc, roles) = ids(&app).await;
    {
        // The admin holds one seat: six are free.
        let mut conn = app.app.db().write_conn().await.unwrap();
        rollcall_store::orgs::set_seats(&mut conn, app.org.id, "portal", 7)
            .await
            .unwrap();
    }
    let api = reqwest::Client::new();
    // Eight new addresses, the first of them twice.
    let addresses: Vec<String> = (0..8)
        .map(|n| format!("at.once{n}@clinic.example"))
        .chain(["at.once0@clinic.example".to_string()])
        .collect();
    let sent = addresses.iter().map(|email| {
        api.post(app.url("/api/v1/invitations"))
            .bearer_auth(&token)
            .json(&json!({ "email": email, "full_name": "At Once", "location": loc, "role": roles["Front Desk"] }))
            .send()
    });
    let answers = futures::future::join_all(sent).await;
    let mut invited = BTreeMap::new();
    let mut refused = Vec::new();
    for (email, r) in addresses.iter().zip(answers) {
        let r = r.unwrap();
        let status = r.status().as_u16();
        let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        let body: Value = r.json().await.unwrap();
        match status {
            201 => {
                assert_eq!(body["email"], email.as_str());
                assert!(
                    invited
                        .insert(email.clone(), (body["user_id"].clone(), request_id))
                        .is_none(),
                    "{email} invited twice"
                );
            }
            409 => refused.push(body["detail"].as_str().unwrap_or_default().to_string()),
            other => panic!("{email}: {other} {body}"),
        }
    }
    assert_eq!(
        invited.len(),
        6,
        "as many as the seats free: {invited:?} {refused:?}"
    );
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|d| d.contains("seat") || d.contains("already") || d.contains("a moment ago")),
        "each refusal says why: {refused:?}"
    );
    // Each person's audit event names the request that invited them, in one unbroken chain.
    let mut conn = app.app.db().read_conn().await.unwrap();
    for (email, (user_id, request_id)) in &invited {
        let query = rollcall_store::audit::AuditQuery {
            target_id: Some(user_id.as_str().unwrap().parse().unwrap()),
            action: Some(rollcall_store::audit::ActionMatch::Exact(
                "user.invited".into(),
            )),
            limit: 10,
            ..Default::default()
        };
        let events = rollcall_store::audit::list(&mut conn, app.org.id, &query)
            .await
            .unwrap();
        assert_eq!(events.len(), 1, "{email}");
        assert_eq!(
            events[0].event.request_id.as_deref(),
            Some(request_id.as_str()),
            "{email}"
        );
    }
    let verified = rollcall_store::audit::verify(&mut conn, app.org.id)
        .await
        .unwrap();
    assert!(verified.breaks.is_empty(), "{:?}", verified.breaks);
}

engine_tests!(
    invitations_sent_at_once_each_get_their_own_answer,
    registration_names_every_mistake_at_once,
    an_abandoned_registration_carries_on_at_sign_in,
    a_registration_left_after_its_second_factor_asks_for_it_first,
    names_are_checked_the_same_on_every_invitation_path,
    an_invited_person_registers_and_signs_in,
    the_api_names_the_location_by_code_and_the_role_by_name,
    one_registration_wins_on_a_shared_token,
    links_expire_and_resend_replaces_them,
    a_paste_invites_the_valid_new_addresses_and_explains_the_rest,
    inviting_needs_a_location_and_respects_the_rules,
    the_api_invites_and_a_retried_batch_invites_nobody_twice,
    second_factor_by_authenticator_app_and_recovery_codes,
    second_factor_by_emailed_code,
);
