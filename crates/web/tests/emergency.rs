//! Emergency ("break-glass") access over HTTP on both engines: a company admin designates a role
//! in the settings; a designated clinic admin takes emergency access in the console and through
//! the API with a personal token; the company admin sees the open reviews on the home page and
//! closes them through the API and the console. Bad input is a problem that says what to fix.

mod common;

use common::{marked, post_form, spawn_app, staff};
use reqwest::Method;
use rollcall_store::testing::TestDb;
use serde_json::json;

rollcall_store::engine_tests!(break_glass_over_http);

async fn break_glass_over_http(t: TestDb) {
    let app = spawn_app(t).await;
    let s = staff(&app).await;
    let northside = s.northside.to_string();
    let admin = app.signed_in_admin().await;

    // The company admin designates clinic admins, for two hours at most; a maximum out of range
    // is refused on its field.
    let settings = "/settings/emergency-access";
    let (status, html) = post_form(
        &app,
        &admin,
        "/settings",
        settings,
        &[("role", "Clinic Admin"), ("max_minutes", "5")],
    )
    .await;
    assert_eq!(status, 422, "{html}");
    assert!(html.contains(&marked("em-f-max_minutes")), "{html}");
    let (status, _) = post_form(
        &app,
        &admin,
        "/settings",
        settings,
        &[("role", "Clinic Admin"), ("max_minutes", "120")],
    )
    .await;
    assert_eq!(status, 303);

    // Morgan, a clinic admin, takes emergency access in the console.
    let morgan = app.browser();
    let signed = app
        .sign_in(
            &morgan,
            &app.org.slug,
            "morgan@alpha.example",
            common::PASSWORD,
        )
        .await;
    assert_eq!(signed.status(), 303);
    let page = "/emergency-access";
    let (status, html) = post_form(
        &app,
        &morgan,
        page,
        page,
        &[
            ("permission", "clinical.charts"),
            ("location", &northside),
            ("minutes", "60"),
            ("reason", "  "),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(html.contains(&marked("f-reason")), "{html}");
    let csrf = app.csrf_of(&morgan, page).await;
    let taken = morgan
        .post(app.url(page))
        .form(&[
            ("csrf", csrf.as_str()),
            ("permission", "clinical.charts"),
            ("location", &northside),
            ("minutes", "60"),
            ("reason", "Covering the Northside evening clinic for Dr Lee"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), 303);
    let location = taken.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/emergency-access/"), "{location}");
    let html = app.page(&morgan, &location).await;
    assert!(
        html.contains("Covering the Northside evening clinic"),
        "{html}"
    );
    // The profile shows which access is emergency access, and until when.
    let profile = app
        .page(&admin, &format!("/users/{}", s.clinic_admin))
        .await;
    assert_eq!(
        profile.matches("emergency access until").count(),
        2,
        "{profile}"
    );
    let shown = location.split('?').next().unwrap().to_string();
    let by_console = shown["/emergency-access/".len()..].to_string();

    // And through the API with a personal token: the same refusals as problems.
    let token = app.api_token(&morgan, &["users:read", "users:write"]).await;
    let api = "/api/v1/emergency-access";
    let (status, body) = app
        .api(
            &token,
            Method::POST,
            api,
            Some(&json!({
                "permission": "clinical.charts",
                "reason": "Covering the Northside evening clinic for Dr Lee",
            })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["errors"][0]["code"], "emergency_access_already_held",
        "{body}"
    );
    let (status, body) = app
        .api(
            &token,
            Method::POST,
            api,
            Some(&json!({
                "permission": "billing.refunds",
                "reason": "Refund for a patient charged twice tonight",
                "minutes": 180,
            })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["errors"][0]["code"], "emergency_duration_range",
        "{body}"
    );
    let (status, body) = app
        .api(
            &token,
            Method::POST,
            api,
            Some(&json!({
                "permission": "billing.refunds",
                "reason": "Refund for a patient charged twice tonight",
                "minutes": 30,
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let by_api = body["id"].as_str().unwrap().to_string();
    assert_eq!(body["review_state"], "open");
    // Morgan cannot review their own use.
    let review = format!("{api}/{by_api}/review");
    let (status, _) = app
        .api(
            &token,
            Method::POST,
            &review,
            Some(&json!({ "decision": "accepted" })),
        )
        .await;
    assert_eq!(status, 403);

    // The emergency is over sooner: Morgan ends both, one by the API and one in the console; the
    // access goes at once, a second end is refused, and both uses still wait for review.
    let end = format!("{api}/{by_api}/end");
    let (status, body) = app.api(&token, Method::POST, &end, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["live"], false, "{body}");
    assert!(body["ended_at"].is_string(), "{body}");
    let (status, body) = app.api(&token, Method::POST, &end, None).await;
    assert_eq!(status, 409, "{body}");
    let (status, _) = post_form(&app, &morgan, &shown, &format!("{shown}/end"), &[]).await;
    assert_eq!(status, 303);
    let html = app.page(&morgan, &format!("{shown}?saved=ended")).await;
    assert!(
        html.contains("Emergency access ended") && !html.contains("End now"),
        "{html}"
    );
    let profile = app
        .page(&admin, &format!("/users/{}", s.clinic_admin))
        .await;
    assert!(!profile.contains("emergency access until"), "{profile}");
    let audit = app.api_token(&admin, &["users:read"]).await;
    let (_, trail) = app
        .api(
            &audit,
            Method::GET,
            "/api/v1/audit?action=emergency_access.ended",
            None,
        )
        .await;
    let ended = trail["events"].as_array().unwrap();
    assert_eq!(ended.len(), 2, "{trail}");
    assert!(ended.iter().all(|e| e["after"]["early"] == true), "{trail}");

    // The company admin's home page shows both uses waiting; the API lists them.
    let home = app.page(&admin, "/users").await;
    assert!(home.contains("id=\"emergency-reviews\""), "{home}");
    assert!(home.contains("2 uses of emergency access wait"), "{home}");
    let reviewer = app.api_token(&admin, &["users:read", "users:write"]).await;
    let (status, open) = app
        .api(
            &reviewer,
            Method::GET,
            &format!("{api}?review_state=open"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{open}");
    assert_eq!(open.as_array().unwrap().len(), 2);
    let (status, body) = app
        .api(
            &reviewer,
            Method::GET,
            &format!("{api}?review_state=closed"),
            None,
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // A flag needs a note; then the review is made, once.
    let (status, body) = app
        .api(
            &reviewer,
            Method::POST,
            &review,
            Some(&json!({ "decision": "flagged" })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["code"], "review_note_missing", "{body}");
    let (status, body) = app
        .api(
            &reviewer,
            Method::POST,
            &review,
            Some(&json!({
                "decision": "flagged", "note": "No refund was due",
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["review_state"], "flagged");
    let (status, _) = app
        .api(
            &reviewer,
            Method::POST,
            &review,
            Some(&json!({ "decision": "accepted" })),
        )
        .await;
    assert_eq!(status, 409);

    // The console use is accepted in the console; the home page is clear again.
    let (status, _) = post_form(
        &app,
        &admin,
        &shown,
        &format!("{shown}/review"),
        &[
            ("decision", "accepted"),
            ("note", "Confirmed with the charge nurse"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let home = app.page(&admin, "/users").await;
    assert!(!home.contains("id=\"emergency-reviews\""), "{home}");
    let (_, one) = app
        .api(&reviewer, Method::GET, &format!("{api}/{by_console}"), None)
        .await;
    assert_eq!(one["review_state"], "accepted", "{one}");
}
