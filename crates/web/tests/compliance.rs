//! The compliance summary as an auditor reads it, on SQLite and PostgreSQL: people by status,
//! who administers each clinic, second-factor coverage, and how long leavers kept access, in
//! the API (JSON and CSV) and on the console page.

mod common;

use common::{post_form, spawn_app, staff};
use reqwest::Method;
use rollcall_app::clock::{HOUR, MINUTE};
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use rollcall_store::users;

engine_tests!(an_auditor_reads_admins_coverage_and_leaver_times);

async fn an_auditor_reads_admins_coverage_and_leaver_times(t: TestDb) {
    let app = spawn_app(t).await;
    let s = staff(&app).await;
    let now = app.app.clock.now();
    // Pat left two hours ago and the round has ended her access since; Avery left half an hour
    // ago and still has access.
    let mut conn = app.app.db().begin().await.unwrap();
    users::set_leaving(&mut conn, s.pt, Some(now - 2 * HOUR))
        .await
        .unwrap();
    conn.commit().await.unwrap();
    rollcall_app::access::leaving::deactivate_leavers(&app.app)
        .await
        .unwrap();
    let mut conn = app.app.db().begin().await.unwrap();
    users::set_leaving(&mut conn, s.pta, Some(now - 30 * MINUTE))
        .await
        .unwrap();
    conn.commit().await.unwrap();

    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read"]).await;
    let (status, summary) = app
        .api(&token, Method::GET, "/api/v1/compliance", None)
        .await;
    assert_eq!(status, 200, "{summary}");
    let count = |status: &str| {
        summary["people"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["status"] == status)
            .map_or(0, |p| p["count"].as_i64().unwrap())
    };
    // The company admin and four staff, Pat now inactive.
    assert_eq!((count("active"), count("inactive")), (4, 1), "{summary}");
    assert_eq!(summary["second_factor"]["active"], 4);
    assert_eq!(summary["second_factor"]["enrolled"], 0);
    assert_eq!(summary["second_factor"]["coverage_percent"], 0);
    let company = summary["company_admins"].as_array().unwrap();
    assert_eq!(company.len(), 1, "{summary}");
    let downtown = summary["clinics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "DT")
        .unwrap()
        .clone();
    assert_eq!(
        downtown["clinic_admins"],
        serde_json::json!(["Morgan Diaz"])
    );
    assert_eq!(downtown["leavers"]["count"], 2, "{downtown}");
    assert_eq!(downtown["leavers"]["still_with_access"], 1);
    // Pat kept access two hours (the round ran late on purpose); Avery's half hour is still running.
    assert_eq!(downtown["leavers"]["worst_seconds"], 2 * 3600);
    let northside = summary["clinics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["code"] == "NS")
        .unwrap();
    assert_eq!(northside["leavers"]["count"], 0);
    assert!(northside["leavers"]["median_seconds"].is_null());

    // CSV, one row per clinic; a format it does not know is named.
    let csv = reqwest::Client::new()
        .get(app.url("/api/v1/compliance?format=csv"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("generated_at,clinic,code,"), "{csv}");
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(csv.contains(",DT,true,Morgan Diaz,"), "{csv}");
    let (status, problem) = app
        .api(&token, Method::GET, "/api/v1/compliance?format=xml", None)
        .await;
    assert_eq!(status, 422);
    assert!(problem.to_string().contains("use json or csv"), "{problem}");

    // A token that may not read users reads no summary.
    let tokens_only = app.api_token(&admin, &["tokens:write"]).await;
    let (status, _) = app
        .api(&tokens_only, Method::GET, "/api/v1/compliance", None)
        .await;
    assert_eq!(status, 403);

    // The console page says the same in words.
    let page = app.page(&admin, "/compliance").await;
    assert!(page.contains("Morgan Diaz"), "{page}");
    assert!(page.contains("0 %</strong> of active people"), "{page}");
    assert!(page.contains("2 h 0 min"), "{page}");
    assert!(page.contains("href=\"/compliance.csv\""), "{page}");
    assert!(page.contains("No inactivity rule is set"), "{page}");
    assert!(
        page.contains("Nobody has taken emergency access."),
        "{page}"
    );
    assert_eq!(summary["emergency"]["grants"], 0);

    // A company admin sets the inactivity rule in Settings; a period out of range is refused
    // with the reason beside the field, and nothing is saved.
    let (status, refused) = post_form(
        &app,
        &admin,
        "/settings",
        "/settings/inactivity",
        &[
            ("inactive_after_days", "2"),
            ("inactive_action", "deactivate"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(refused.contains("7 to 730 days"), "{refused}");
    let (status, _) = post_form(
        &app,
        &admin,
        "/settings",
        "/settings/inactivity",
        &[
            ("inactive_after_days", "90"),
            ("inactive_action", "deactivate"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let page = app.page(&admin, "/compliance").await;
    assert!(
        page.contains("not signed in for 90 days are warned, then deactivated"),
        "{page}"
    );
}
