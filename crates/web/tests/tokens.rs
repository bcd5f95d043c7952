//! API tokens, on SQLite and PostgreSQL: service accounts outlive the admin who made them and
//! are audited as themselves; personal tokens act as their person; secrets are shown once,
//! rotated and revoked; a token never gives more than it has.

mod common;

use common::{PASSWORD, add_user, spawn_app, staff};
use reqwest::Method;
use rollcall_app::domain::Permission;
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use serde_json::json;

async fn service_accounts_outlive_their_maker_and_are_audited_as_themselves(t: TestDb) {
    let app = spawn_app(t).await;
    // Sam, a second company admin, makes the integration's tokens.
    let sam = add_user(
        &app.app,
        &app.org,
        "sam@alpha.example",
        ("Sam", "Ruiz"),
        "User Manager",
        Some(PASSWORD),
    )
    .await;
    let mut conn = app.app.db().write_conn().await.unwrap();
    rollcall_store::roles::grant_direct(&mut conn, sam, &[Permission::AdminCompany])
        .await
        .unwrap();
    drop(conn);
    let sam_browser = app.browser();
    let r = app
        .sign_in(&sam_browser, &app.org.slug, "sam@alpha.example", PASSWORD)
        .await;
    assert_eq!(r.status(), 303);
    let service = app
        .console_token(
            &sam_browser,
            &[
                ("name", "HR sync"),
                ("owner", "organization"),
                ("scope", "users:read"),
                ("scope", "users:write"),
                ("expires_in_days", "90"),
            ],
        )
        .await;
    assert!(service.starts_with("rollcall_sa_"), "{service}");
    let personal = app.api_token(&sam_browser, &["users:read"]).await;
    assert!(personal.starts_with("rollcall_pat_"), "{personal}");
    let page = app.page(&sam_browser, "/settings/api-tokens").await;
    assert!(page.contains("Service account") && page.contains("Personal"));

    // The service account invites someone; the audit names it, not Sam.
    let (status, me) = app.api(&service, Method::GET, "/api/v1/me", None).await;
    assert_eq!(status, 200);
    let location =
        rollcall_store::locations::list(&mut app.app.db().read_conn().await.unwrap(), app.org.id)
            .await
            .unwrap()[0]
            .id;
    let role =
        rollcall_store::roles::list(&mut app.app.db().read_conn().await.unwrap(), app.org.id)
            .await
            .unwrap()
            .into_iter()
            .find(|r| r.name == "Front Desk")
            .unwrap()
            .id;
    let invite = json!({ "email": "new.hire@alpha.example", "full_name": "New Hire", "location_id": location, "role_id": role });
    let (status, body) = app
        .api(&service, Method::POST, "/api/v1/invitations", Some(&invite))
        .await;
    assert_eq!(status, 201, "{body}");
    let (_, audit) = app
        .api(
            &service,
            Method::GET,
            "/api/v1/audit?action=user.invited",
            None,
        )
        .await;
    let event = &audit["events"][0];
    assert_eq!(event["actor"], "Service account “HR sync”", "{event}");
    assert_ne!(event["actor_id"], json!(sam), "{event}");
    assert!(
        me["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("invite"))
    );

    // Sam leaves: the personal token stops, the service account keeps working.
    let admin = app.signed_in_admin().await;
    let admin_token = app.api_token(&admin, &["users:read", "users:write"]).await;
    let (status, body) = app
        .api(
            &admin_token,
            Method::POST,
            &format!("/api/v1/users/{sam}/deactivate"),
            Some(&json!({})),
        )
        .await;
    assert!(status < 300, "{status} {body}");
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/me"))
        .bearer_auth(&personal)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let (status, _) = app.api(&service, Method::GET, "/api/v1/users", None).await;
    assert_eq!(status, 200);
}

async fn tokens_are_rotated_revoked_and_never_widened(t: TestDb) {
    let app = spawn_app(t).await;
    staff(&app).await;
    let admin = app.signed_in_admin().await;
    let manager = app.api_token(&admin, &["users:read", "tokens:write"]).await;

    // Every field error at once, and nothing made.
    let bad = json!({ "name": " ", "scopes": "users:write", "owner": "organization", "expires_in_days": 0 });
    let (status, problem) = app
        .api(&manager, Method::POST, "/api/v1/tokens", Some(&bad))
        .await;
    assert_eq!(status, 422, "{problem}");
    let codes: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        codes,
        ["name_missing", "scope_not_held", "expiry_out_of_range"],
        "{problem}"
    );

    let ask = json!({ "name": "Nightly export", "scopes": "users:read", "owner": "organization", "expires_in_days": 30 });
    let (status, issued) = app
        .api(&manager, Method::POST, "/api/v1/tokens", Some(&ask))
        .await;
    assert_eq!(status, 201, "{issued}");
    let first = issued["secret"].as_str().unwrap().to_string();
    let id = issued["token"]["id"].as_str().unwrap().to_string();
    assert!(issued["token"]["expires_at"].is_string());
    let (status, list) = app.api(&manager, Method::GET, "/api/v1/tokens", None).await;
    assert_eq!(status, 200);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|t| t["id"] == json!(id))
    );
    assert!(
        !list.to_string().contains(&first),
        "lists never show a secret"
    );

    // Rotation: the old secret stops at once, the new one works.
    let (status, rotated) = app
        .api(
            &manager,
            Method::POST,
            &format!("/api/v1/tokens/{id}/rotate"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let second = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(first, second);
    let me = |token: String| {
        let app = &app;
        async move { app.api(&token, Method::GET, "/api/v1/me", None).await.0 }
    };
    assert_eq!(me(first.clone()).await, 401);
    assert_eq!(me(second.clone()).await, 200);

    // Revocation stops it; the audit has each step.
    let (status, revoked) = app
        .api(
            &manager,
            Method::DELETE,
            &format!("/api/v1/tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(revoked["state"], "revoked");
    assert_eq!(me(second).await, 401);
    let (_, audit) = app
        .api(
            &manager,
            Method::GET,
            &format!("/api/v1/audit?target={id}"),
            None,
        )
        .await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "api_token.revoked",
            "api_token.rotated",
            "api_token.created"
        ]
    );

    // A clinic admin may make personal tokens but not service accounts, and sees only their own.
    let morgan = app.browser();
    let r = app
        .sign_in(&morgan, &app.org.slug, "morgan@alpha.example", PASSWORD)
        .await;
    assert_eq!(r.status(), 303);
    let csrf = app.csrf_of(&morgan, "/settings/api-tokens").await;
    let page = app.page(&morgan, "/settings/api-tokens").await;
    assert!(
        !page.contains("value=\"organization\""),
        "no service-account choice"
    );
    assert!(
        !page.contains("Nightly export"),
        "not another admin's token"
    );
    let r = morgan
        .post(app.url("/settings/api-tokens"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("name", "Sneaky"),
            ("owner", "organization"),
            ("scope", "users:write"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let mine = app.api_token(&morgan, &["users:read"]).await;
    assert!(mine.starts_with("rollcall_pat_"));
}

engine_tests!(
    service_accounts_outlive_their_maker_and_are_audited_as_themselves,
    tokens_are_rotated_revoked_and_never_widened,
);
