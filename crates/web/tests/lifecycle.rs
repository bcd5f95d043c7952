//! Deactivation and reactivation over HTTP, on SQLite and PostgreSQL.

mod common;

use common::{PASSWORD, TestApp, add_user, csrf_in, spawn_app};
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use serde_json::Value;

async fn row_id(app: &TestApp, c: &reqwest::Client, q: &str) -> (String, String) {
    let html = app.page(c, &format!("/users?q={q}")).await;
    let id = html
        .split("data-user=\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no row for {q}"))
        .split('"')
        .next()
        .unwrap()
        .to_string();
    (id, csrf_in(&html))
}

async fn deactivation_ends_access_and_keeps_history(t: TestDb) {
    let app = spawn_app(t).await;
    add_user(
        &app.app,
        &app.org,
        "leaving@alpha.example",
        ("Lee", "Leaving"),
        "User Manager",
        Some(PASSWORD),
    )
    .await;
    let leaver = app.browser();
    assert_eq!(
        app.sign_in(&leaver, "alpha", "leaving@alpha.example", PASSWORD)
            .await
            .status(),
        303
    );
    let token = app.api_token(&leaver, &["users:read"]).await;
    let api = reqwest::Client::new();
    assert_eq!(
        api.get(app.url("/api/v1/users"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let admin = app.signed_in_admin().await;
    let (id, csrf) = row_id(&app, &admin, "leaving").await;
    // The row's button asks first, saying what deactivation does; nothing changes yet.
    let r = admin
        .post(app.url(&format!("/users/{id}/deactivate")))
        .form(&[("csrf", csrf.as_str()), ("back", "q=leaving")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let asked = r.text().await.unwrap();
    assert!(
        asked.contains("Deactivate Lee Leaving (leaving@alpha.example)?")
            && asked.contains("Their licence seat is freed.")
            && asked.contains("name=\"confirmed\" value=\"yes\""),
        "{asked}"
    );
    let still = app.page(&admin, "/users?q=leaving").await;
    assert!(
        still.contains("status-active"),
        "nothing changed before the answer"
    );
    let r = admin
        .post(app.url(&format!("/users/{id}/deactivate")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("back", "q=leaving"),
            ("confirmed", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        "/users?q=leaving&notice=deactivated"
    );

    assert_eq!(
        leaver.get(app.url("/users")).send().await.unwrap().status(),
        303,
        "their session ended"
    );
    assert_eq!(
        api.get(app.url("/api/v1/users"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "their API token stopped working"
    );
    assert_eq!(
        app.sign_in(&app.browser(), "alpha", "leaving@alpha.example", PASSWORD)
            .await
            .status(),
        401,
        "they cannot sign in"
    );
    let html = app.page(&admin, "/users?status=inactive").await;
    assert!(html.contains("leaving@alpha.example"), "kept, as Inactive");
    let audit = app.page(&admin, "/audit").await;
    assert!(audit.contains("user.deactivated"));

    let (id, csrf) = row_id(&app, &admin, "leaving").await;
    let r = admin
        .post(app.url(&format!("/users/{id}/reactivate")))
        .form(&[("csrf", csrf.as_str()), ("confirmed", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        app.sign_in(&app.browser(), "alpha", "leaving@alpha.example", PASSWORD)
            .await
            .status(),
        303,
        "access restored"
    );
}

async fn the_last_company_admin_cannot_be_deactivated(t: TestDb) {
    let app = spawn_app(t).await;
    add_user(
        &app.app,
        &app.org,
        "manager@alpha.example",
        ("Man", "Ager"),
        "User Manager",
        Some(PASSWORD),
    )
    .await;
    let manager = app.browser();
    app.sign_in(&manager, "alpha", "manager@alpha.example", PASSWORD)
        .await;
    let (id, csrf) = row_id(&app, &manager, "admin%40alpha").await;
    let r = manager
        .post(app.url(&format!("/users/{id}/deactivate")))
        .form(&[("csrf", csrf.as_str()), ("confirmed", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("Rule 3") && html.contains("last active admin"),
        "{html}"
    );
    let admin = app.signed_in_admin().await;
    let (own, csrf) = row_id(&app, &admin, "admin%40alpha").await;
    let r = admin
        .post(app.url(&format!("/users/{own}/deactivate")))
        .form(&[("csrf", csrf.as_str()), ("confirmed", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "nobody deactivates themselves");
}

async fn reactivating_someone_who_never_registered_invites_again(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;
    let mut conn = app.app.db().read_conn().await.unwrap();
    let loc = rollcall_store::locations::list(&mut conn, app.org.id)
        .await
        .unwrap()[0]
        .id;
    let role = rollcall_store::roles::list(&mut conn, app.org.id)
        .await
        .unwrap()[0]
        .id;
    drop(conn);
    let api = reqwest::Client::new();
    let invited: Value = api
        .post(app.url("/api/v1/invitations"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "email": "never@clinic.example", "full_name": "Nev Er", "location_id": loc, "role_id": role }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = invited["user_id"].as_str().unwrap();
    let r = api
        .post(app.url(&format!("/api/v1/users/{id}/deactivate")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = api
        .post(app.url(&format!("/api/v1/users/{id}/deactivate")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "already inactive");
    let r: Value = api
        .post(app.url(&format!("/api/v1/users/{id}/reactivate")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "pending");
    rollcall_app::delivery::drain_once(&app.app).await.unwrap();
    let mut conn = app.app.db().read_conn().await.unwrap();
    let messages = rollcall_store::mailbox::list(&mut conn, None, Some("never@clinic.example"), 10)
        .await
        .unwrap();
    assert_eq!(
        messages.len(),
        1,
        "the first invitation was revoked before it went out; the new one did"
    );
}

/// Deactivating a selection from the list: each user judged alone; the page lists who was not
/// deactivated and why.
async fn bulk_deactivation_from_the_list(t: TestDb) {
    let app = spawn_app(t).await;
    let a = add_user(
        &app.app,
        &app.org,
        "one@alpha.example",
        ("One", "Leaver"),
        "Front Desk",
        None,
    )
    .await;
    let b = add_user(
        &app.app,
        &app.org,
        "two@alpha.example",
        ("Two", "Leaver"),
        "Front Desk",
        None,
    )
    .await;
    let admin = app.signed_in_admin().await;
    let list = app.page(&admin, "/users").await;
    let csrf = csrf_in(&list);
    let me = list
        .split("data-user=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_string())
        .find(|id| *id != a.to_string() && *id != b.to_string())
        .unwrap();
    let page = admin
        .post(app.url("/users/bulk/deactivate"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("ids", &a.to_string()),
            ("ids", &b.to_string()),
            ("ids", &me),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("2 deactivated, 1 not."), "{page}");
    assert!(
        page.contains("You cannot deactivate your own account"),
        "{page}"
    );
    let inactive = app.page(&admin, "/users?status=inactive").await;
    assert!(inactive.contains("One Leaver") && inactive.contains("Two Leaver"));
}

engine_tests!(
    bulk_deactivation_from_the_list,
    deactivation_ends_access_and_keeps_history,
    the_last_company_admin_cannot_be_deactivated,
    reactivating_someone_who_never_registered_invites_again,
);
