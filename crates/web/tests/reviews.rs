//! Access review campaigns over HTTP, on SQLite and PostgreSQL: started through the API (a
//! wrong field refused with every problem), reviewed in the console by the clinic admin who
//! reaches the people (a rule's refusal shown), the evidence exported through both.

mod common;

use common::{PASSWORD, TestApp, post_form, spawn_app, staff};
use reqwest::Method;
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use serde_json::json;

engine_tests!(a_campaign_through_the_api_and_the_console);

async fn text(app: &TestApp, token: &str, path: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn a_campaign_through_the_api_and_the_console(t: TestDb) {
    let app = spawn_app(t).await;
    let s = staff(&app).await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;

    let (status, refused) = app
        .api(
            &token,
            Method::POST,
            "/api/v1/access-reviews",
            Some(&json!({ "name": "Q1", "due_date": "yesterday", "role": "Astronaut" })),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    let codes: Vec<&str> = refused["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["due_date_invalid", "role_unknown"]);

    let (status, campaign) = app
        .api(
            &token,
            Method::POST,
            "/api/v1/access-reviews",
            Some(&json!({ "name": "Q1 access review", "due_date": "2030-06-30", "recurrence": "quarterly" })),
        )
        .await;
    assert_eq!(status, 201, "{campaign}");
    let id = campaign["id"].as_str().unwrap().to_string();
    assert_eq!(campaign["recurrence_months"], 3);
    let (_, listed) = app
        .api(&token, Method::GET, "/api/v1/access-reviews", None)
        .await;
    assert_eq!(listed[0]["id"], campaign["id"]);

    // Morgan, Downtown's clinic admin, reviews Downtown's people in the console.
    let morgan = app.browser();
    app.sign_in(&morgan, "alpha", "morgan@alpha.example", PASSWORD)
        .await;
    let page = format!("/access-reviews/{id}");
    let html = app.page(&morgan, &page).await;
    assert!(
        html.contains("Pat Chen") && html.contains("Provider"),
        "{html}"
    );
    let decide = format!("/access-reviews/{id}/decide");
    // Taking the company's last company admin's right is refused by rule 3, and shown.
    let (_, me) = app.api(&token, Method::GET, "/api/v1/me", None).await;
    let ada = me["user_id"].as_str().unwrap().to_string();
    let (status, html) = post_form(
        &app,
        &morgan,
        &page,
        &decide,
        &[
            ("user", &ada),
            ("decision", "remove_permission"),
            ("permission", "admin.company"),
            ("note", "too much access"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("refused") && html.contains("Rule 3"),
        "{html}"
    );
    let pta = s.pta.to_string();
    let clerk = s.clerk.to_string();
    let (_, html) = post_form(
        &app,
        &morgan,
        &page,
        &decide,
        &[("user", &pta), ("user", &clerk), ("decision", "keep")],
    )
    .await;
    assert!(
        html.contains("Avery Stone: applied") && html.contains("Casey Ruiz: applied"),
        "{html}"
    );

    let (status, sheet) = text(
        &app,
        &token,
        &format!("/api/v1/access-reviews/{id}/evidence.csv"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        sheet.starts_with("campaign,person,email,state,reviewers"),
        "{sheet}"
    );
    assert!(
        sheet.contains("Rule 3") && sheet.contains("too much access"),
        "{sheet}"
    );
    let (_, record) = app
        .api(
            &token,
            Method::GET,
            &format!("/api/v1/access-reviews/{id}/evidence"),
            None,
        )
        .await;
    assert_eq!(record["campaign"]["counts"]["decided"], 3, "{record}");
    let (_, queue) = app
        .api(
            &token,
            Method::GET,
            &format!("/api/v1/access-reviews/{id}/items?limit=5"),
            None,
        )
        .await;
    assert!(queue["cards"].is_array(), "{queue}");
    // The company admin chooses in Settings that the due date revokes elevated permissions;
    // a clinic admin may not.
    let choose = [("overdue", "revoke")];
    let (status, _) = post_form(
        &app,
        &morgan,
        "/settings",
        "/settings/access-reviews",
        &choose,
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = post_form(
        &app,
        &admin,
        "/settings",
        "/settings/access-reviews",
        &choose,
    )
    .await;
    assert_eq!(status, 303);
    let html = app.page(&admin, "/settings?saved=access-reviews").await;
    assert!(
        html.contains("Access review setting saved.")
            && html.contains(r#"name="overdue" value="revoke" checked"#),
        "{html}"
    );
    // Ended now: the due date comes at once, and revokes; once.
    let close = format!("/api/v1/access-reviews/{id}/close");
    let (status, closed) = app.api(&token, Method::POST, &close, None).await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["overdue_action"], "revoke");
    let pending = record["campaign"]["counts"]["pending"].clone();
    assert_eq!(closed["counts"]["revoked"], pending);
    assert_eq!(app.api(&token, Method::POST, &close, None).await.0, 409);
    let csv = app
        .page(&admin, &format!("/access-reviews/{id}/evidence.csv"))
        .await;
    assert!(
        csv.starts_with("campaign,person,") && csv.contains(",revoked,"),
        "{csv}"
    );
}
