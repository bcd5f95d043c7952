//! Bulk update over the JSON API, on SQLite and PostgreSQL: the rules decide per user, the
//! outcome says what was not applied and why, retries are idempotent, jobs resume.

mod common;

use common::{PASSWORD, TestApp, spawn_app, staff};
use rollcall_app::audit::Meta;
use rollcall_app::domain::{JobState, UserStatus};
use rollcall_store::audit;
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use serde_json::{Value, json};
use uuid::Uuid;

async fn post(app: &TestApp, token: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
    let mut r = reqwest::Client::new()
        .post(app.url("/api/v1/bulk-updates"))
        .bearer_auth(token)
        .json(body);
    if let Some(k) = key {
        r = r.header("Idempotency-Key", k);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The tally a finished bulk update job keeps.
async fn job_tally(app: &TestApp, job: &Value) -> Value {
    let id: Uuid = job["id"].as_str().unwrap().parse().unwrap();
    let mut conn = app.app.db().read_conn().await.unwrap();
    let job = rollcall_store::jobs::get(&mut conn, app.org.id, id)
        .await
        .unwrap()
        .unwrap();
    serde_json::from_str(&job.summary).unwrap()
}

async fn events(app: &TestApp, action: &str) -> Vec<audit::Event> {
    let mut conn = app.app.db().read_conn().await.unwrap();
    audit::list(
        &mut conn,
        app.org.id,
        &audit::AuditQuery {
            action: Some(audit::ActionMatch::Exact(action.into())),
            limit: 10_000,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

async fn mixed_selection_is_partially_applied_with_reasons(t: TestDb) {
    let app = spawn_app(t).await;
    let s = staff(&app).await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;
    let body = json!({
        "user_ids": [s.pt, s.pta, s.clerk, s.clinic_admin],
        "grant_permissions": ["calendar.create", "soap.finish"],
        "revoke_permissions": ["admin.clinic"],
        "grant_locations": [s.northside],
    });
    // A dry run says what would happen and changes nothing.
    let (status, dry) = app
        .api(
            &token,
            reqwest::Method::POST,
            "/api/v1/bulk-updates/dry-run",
            Some(&body),
        )
        .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["selected"], 4);
    assert_eq!(dry["refused"].as_array().unwrap().len(), 3, "{dry}");
    assert!(events(&app, "user.access_changed").await.is_empty());
    assert!(events(&app, "bulk_update.started").await.is_empty());

    let (status, answer) = post(&app, &token, Some("mixed-1"), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "partially_succeeded");
    let job = &answer["job"];
    assert_eq!(
        dry["tally"]["permission_changes_refused"],
        job_tally(&app, job).await["permission_changes_refused"]
    );
    let message = answer["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "3 permission changes and 0 location changes were not applied, for 3 of 4 users"
        ),
        "{message}"
    );
    let refused: Vec<(String, String)> = answer["refused"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|u| {
            let name = u["name"].as_str().unwrap().to_string();
            u["changes"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |c| (name.clone(), c["rule"].as_str().unwrap().to_string()))
        })
        .collect();
    assert_eq!(
        refused,
        vec![
            (
                "Avery Stone".into(),
                "rule_2_no_soap_finish_for_supervised".into()
            ),
            (
                "Casey Ruiz".into(),
                "rule_1_no_soap_for_non_clinical".into()
            ),
            ("Morgan Diaz".into(), "rule_3_keep_admins".into()),
        ]
    );
    let clerk = &answer["refused"][1];
    assert_eq!(clerk["email"], "casey@alpha.example");
    assert!(
        clerk["changes"][0]["message"]
            .as_str()
            .unwrap()
            .contains("Casey Ruiz"),
        "the reason names the user: {clerk}"
    );

    // Everyone now works at Northside too, as the user list shows.
    let list: Value = reqwest::Client::new()
        .get(app.url(&format!("/api/v1/users?location={}", s.northside)))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        list["users"].as_array().unwrap().len(),
        5,
        "the four selected join the company admin there: {list}"
    );
    let changed = events(&app, "user.access_changed").await;
    assert_eq!(changed.len(), 4, "one audit event per changed user");
    let pat = changed
        .iter()
        .find(|e| e.event.target_id == Some(s.pt))
        .unwrap();
    let after: Value = serde_json::from_str(pat.event.after.as_deref().unwrap()).unwrap();
    assert_eq!(
        after["added_permissions"],
        json!(["calendar.create", "soap.finish"])
    );
    assert_eq!(after["added_locations"], json!(["alpha Northside"]));

    // A retry with the same key returns the same job and changes nothing twice.
    let (status, again) = post(&app, &token, Some("mixed-1"), &body).await;
    assert_eq!(status, 200);
    assert_eq!(again["job"]["id"], answer["job"]["id"]);
    assert_eq!(events(&app, "user.access_changed").await.len(), 4);
    // The same key with another request is refused; no key at all is refused.
    let other = json!({ "user_ids": [s.pt], "grant_permissions": ["calendar.view"] });
    assert_eq!(post(&app, &token, Some("mixed-1"), &other).await.0, 409);
    let (status, err) = post(&app, &token, None, &other).await;
    assert_eq!(status, 422);
    assert_eq!(err["code"], "idempotency_key_missing");

    // The job and its report are there to read later.
    let job: Value = reqwest::Client::new()
        .get(app.url(&format!(
            "/api/v1/jobs/{}",
            answer["job"]["id"].as_str().unwrap()
        )))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(job["outcome"], "partially_succeeded");
    assert_eq!(job["job"]["done"], 4);
}

async fn bad_requests_change_nothing(t: TestDb) {
    let app = spawn_app(t).await;
    let s = staff(&app).await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;
    let cases = [
        (json!({ "user_ids": [s.pt] }), 422, "bulk_update_empty"),
        (
            json!({ "user_ids": [s.pt], "grant_permissions": ["calendar.view"], "revoke_permissions": ["calendar.view"] }),
            422,
            "bulk_update_contradiction",
        ),
        (
            json!({ "user_ids": [], "grant_permissions": ["calendar.view"] }),
            422,
            "selection_empty",
        ),
        (
            json!({ "user_ids": [s.pt, Uuid::now_v7()], "grant_permissions": ["calendar.view"] }),
            404,
            "not_found",
        ),
        (
            json!({ "user_ids": [s.pt], "grant_locations": [Uuid::now_v7()] }),
            422,
            "location_unknown",
        ),
        // A mistyped filter key, an empty filter and an unknown filter value select nobody.
        (
            json!({ "filter": { "usertype": "pt" }, "grant_permissions": ["calendar.view"] }),
            422,
            "body_invalid",
        ),
        (
            json!({ "filter": {}, "grant_permissions": ["calendar.view"] }),
            422,
            "filter_empty",
        ),
        (
            json!({ "filter": { "user_type": "physio" }, "grant_permissions": ["calendar.view"] }),
            422,
            "filter_value_unknown",
        ),
        (
            json!({ "filter": { "location": "Uptown" }, "grant_permissions": ["calendar.view"] }),
            422,
            "filter_value_unknown",
        ),
        (
            json!({ "user_ids": [s.pt], "filter": { "user_type": "pt" }, "grant_permissions": ["calendar.view"] }),
            422,
            "selection_ambiguous",
        ),
        (
            json!({ "user_ids": [s.pt], "grant_permission": ["calendar.view"], "revoke_permissions": ["calendar.view"] }),
            422,
            "field_unknown",
        ),
    ];
    for (i, (body, status, code)) in cases.iter().enumerate() {
        let (got, err) = post(&app, &token, Some(&format!("bad-{i}")), body).await;
        assert_eq!(got, *status, "{body} → {err}");
        assert_eq!(err["code"], *code, "{err}");
        assert!(!err["detail"].as_str().unwrap().is_empty());
        assert_eq!(err["status"], *status, "{err}");
    }
    let (_, typo) = post(&app, &token, Some("typo"), &cases[5].0).await;
    let detail = typo["detail"].as_str().unwrap();
    assert!(detail.contains("unknown field `usertype`"), "{detail}");
    assert!(
        detail.contains("`user_type`"),
        "lists the valid keys: {detail}"
    );
    assert_eq!(typo["errors"][0]["field"], "filter.usertype", "{typo}");
    let (_, unknown) = post(&app, &token, Some("physio"), &cases[7].0).await;
    let detail = unknown["detail"].as_str().unwrap();
    assert!(
        detail.contains("“physio”") && detail.contains("pta"),
        "{detail}"
    );
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/bulk-updates"))
        .bearer_auth(&token)
        .header("Idempotency-Key", "garbled")
        .header("content-type", "application/json")
        .body(r#"{"user_ids": ["#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(events(&app, "user.access_changed").await.is_empty());
    assert!(events(&app, "bulk_update.started").await.is_empty());
}

async fn clinic_admin_cannot_escalate_or_reach_other_locations(t: TestDb) {
    let app = spawn_app(t).await;
    let s = staff(&app).await;
    // Morgan is a clinic admin at Downtown only.
    let morgan = app.browser();
    assert_eq!(
        app.sign_in(&morgan, "alpha", "morgan@alpha.example", PASSWORD)
            .await
            .status(),
        303
    );
    let token = app.api_token(&morgan, &["users:read", "users:write"]).await;
    let body = json!({
        "user_ids": [s.pt],
        "grant_permissions": ["admin.company", "billing.refunds"],
        "grant_locations": [s.northside],
    });
    let (status, answer) = post(&app, &token, Some("escalate"), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "failed", "{answer}");
    let rules: Vec<&str> = answer["refused"][0]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, vec!["rule_4_actor_scope"; 3]);
    assert!(events(&app, "user.access_changed").await.is_empty());

    // A viewer token cannot start one at all (rule 6).
    let read_only = app.api_token(&morgan, &["users:read"]).await;
    let (status, err) = post(
        &app,
        &read_only,
        Some("viewer"),
        &json!({"user_ids": [s.pt], "grant_permissions": ["calendar.view"]}),
    )
    .await;
    assert_eq!(status, 403, "{err}");
}

async fn select_all_matching_a_filter(t: TestDb) {
    let app = spawn_app(t).await;
    let s = staff(&app).await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;
    let body =
        json!({ "filter": { "user_type": "pta" }, "grant_permissions": ["calendar.delete"] });
    let (status, answer) = post(&app, &token, Some("ptas"), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "succeeded");
    assert_eq!(answer["job"]["total"], 1);
    let changed = events(&app, "user.access_changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].event.target_id, Some(s.pta));

    // Everyone takes an explicit "all"; a location may be named by its name as well as its id.
    let body = json!({ "filter": { "all": true }, "grant_permissions": ["calendar.view"] });
    let (status, answer) = post(&app, &token, Some("everyone"), &body).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["job"]["total"].as_i64().unwrap() >= 4, "{answer}");
    let mut totals = Vec::new();
    for (key, location) in [("by-id", s.northside.to_string()), ("by-code", "ns".into())] {
        let body =
            json!({ "filter": { "location": location }, "grant_permissions": ["calendar.delete"] });
        let (status, answer) = post(&app, &token, Some(key), &body).await;
        assert_eq!(status, 200, "{answer}");
        totals.push(answer["job"]["total"].clone());
    }
    assert_eq!(totals[0], totals[1]);
}

engine_tests!(
    mixed_selection_is_partially_applied_with_reasons,
    bad_requests_change_nothing,
    clinic_admin_cannot_escalate_or_reach_other_locations,
    select_all_matching_a_filter,
    console_select_review_save_and_read_the_outcome,
    a_stopped_job_resumes_without_doing_anyone_twice,
);

async fn console_select_review_save_and_read_the_outcome(t: TestDb) {
    let app = spawn_app(t).await;
    let s = staff(&app).await;
    let admin = app.signed_in_admin().await;
    let list = app.page(&admin, "/users").await;
    assert!(list.contains("id=\"pick-page\""), "a page checkbox");
    assert!(list.contains(&format!("name=\"ids\" value=\"{}\"", s.pta)));
    let csrf = common::csrf_in(&list);

    // Tick two rows, review them.
    let review = admin
        .post(app.url("/users/bulk"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("ids", &s.pta.to_string()),
            ("ids", &s.pt.to_string()),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(review.contains("2 users selected"), "{review}");
    assert!(review.contains("Avery Stone") && review.contains("Pat Chen"));
    let key = review
        .split("name=\"key\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();

    // Save: SOAP finish is refused for the assistant only.
    let form = [
        ("csrf", csrf.as_str()),
        ("key", key.as_str()),
        ("ids", &s.pta.to_string()),
        ("ids", &s.pt.to_string()),
        ("grant_permission", "soap.finish"),
        ("grant_location", &s.northside.to_string()),
    ];
    let r = admin
        .post(app.url("/users/bulk/apply"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let job_url = r.headers()["location"].to_str().unwrap().to_string();
    let page = app.page(&admin, &job_url).await;
    assert!(page.contains("outcome-partially_succeeded"), "{page}");
    assert!(
        page.contains(
            "1 permission change and 0 location changes were not applied, for 1 of 2 users"
        ),
        "{page}"
    );
    assert!(
        page.contains("Rule 2: Avery Stone"),
        "the reason is on the page"
    );
    // Saving twice (a double click) does not run it twice.
    let again = admin
        .post(app.url("/users/bulk/apply"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(again.headers()["location"].to_str().unwrap(), job_url);
    assert_eq!(events(&app, "user.access_changed").await.len(), 2);

    let report = app.page(&admin, &format!("{job_url}/report.csv")).await;
    assert!(
        report.starts_with("user,email,change,outcome,rule,code,reason"),
        "{report}"
    );
    assert!(
        report.contains("Avery Stone,avery@alpha.example,add permission “SOAP notes: finish”")
            || report.contains("Avery Stone,avery@alpha.example,add permission"),
        "{report}"
    );
    assert!(report.contains("rule_2_no_soap_finish_for_supervised"));
    let jobs = app.page(&admin, "/jobs").await;
    assert!(jobs.contains(&job_url), "listed on the jobs page");

    // Select all matching a filter: the review counts them.
    let review = app
        .page(&admin, "/users/bulk?all=1&user_type=clerical")
        .await;
    assert!(review.contains("1 user selected"), "{review}");
    assert!(review.contains("Casey Ruiz"));
    // Nothing asked: back to the review with the reason, nothing written.
    let none = admin
        .post(app.url("/users/bulk/apply"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("key", "k2"),
            ("all", "1"),
            ("user_type", "clerical"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(none.status(), 200);
    assert!(
        none.text()
            .await
            .unwrap()
            .contains("Choose at least one permission or location")
    );
}

/// A runner stopped in the middle of a large job: the job is taken over once its lease runs
/// out and finishes with every user changed exactly once.
async fn a_stopped_job_resumes_without_doing_anyone_twice(t: TestDb) {
    use rollcall_app::access::bulk_update;
    use rollcall_store::users::{self, User};
    let app = spawn_app(t).await;
    let s = staff(&app).await;
    let a = &app.app;
    let now = a.clock.now();
    let people: Vec<User> = (0..4_500)
        .map(|i| User {
            id: rollcall_store::new_id(),
            org_id: app.org.id,
            email: format!("p{i}@alpha.example"),
            email_key: format!("p{i}@alpha.example"),
            username: format!("p{i}"),
            first_name: "Person".into(),
            last_name: format!("{i}"),
            display_name: format!("Person {i}"),
            mobile: None,
            user_type: Some("pt".into()),
            status: UserStatus::Active,
            default_location_id: None,
            source: "test".into(),
            password_hash: None,
            invite_expires_at: None,
            failed_sign_ins: 0,
            locked_until: None,
            created_at: now,
            created_by: None,
            activated_at: Some(now),
            deactivated_at: None,
            last_sign_in_at: None,
        })
        .collect();
    let mut tx = a.db().begin().await.unwrap();
    users::insert_many(&mut tx, &people).await.unwrap();
    tx.commit().await.unwrap();

    let mut conn = a.db().read_conn().await.unwrap();
    let admin_id = users::get_by_email_key(&mut conn, app.org.id, "admin@alpha.example")
        .await
        .unwrap()
        .unwrap()
        .id;
    let who = rollcall_app::Principal::of_user(a, app.org.id, admin_id)
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    let req = BulkUpdateRequestFor::pts(s.northside);
    let job = bulk_update::start(a, &who, &req, Some("big"), &Meta::system("test"))
        .await
        .unwrap();
    assert_eq!(job.total, 4_501, "every PT: the 4,500 and Pat");

    // Run until the first chunk has committed, then stop the runner where it stands.
    let runner = rollcall_app::jobs::kinds::spawn(a, app.org.id, job.id)
        .await
        .unwrap();
    let done = loop {
        let j = rollcall_app::jobs::get(a, &who, job.id).await.unwrap();
        if j.done > 0 {
            break j.done;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    runner.abort();
    let _ = runner.await;
    assert!(done < 4_501, "stopped part-way ({done} done)");
    // Nobody takes it over while the lease lasts; after it, the sweep does.
    assert_eq!(
        rollcall_app::jobs::kinds::resume_orphans(a).await.unwrap(),
        0
    );
    a.clock.advance_minutes(2);
    assert_eq!(
        rollcall_app::jobs::kinds::resume_orphans(a).await.unwrap(),
        1
    );
    let finished = loop {
        let j = rollcall_app::jobs::get(a, &who, job.id).await.unwrap();
        if j.is_finished() {
            break j;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(
        (finished.state, finished.done),
        (JobState::Succeeded, 4_501)
    );
    let (tally, _, _) = bulk_update::outcome_of(&finished);
    assert_eq!(tally.users, 4_501, "each user counted once");
    assert_eq!(
        events(&app, "user.access_changed").await.len(),
        4_501,
        "one audit event per user, none twice"
    );
}

struct BulkUpdateRequestFor;

impl BulkUpdateRequestFor {
    fn pts(location: Uuid) -> rollcall_app::access::bulk_update::BulkUpdateRequest {
        rollcall_app::access::bulk_update::BulkUpdateRequest {
            filter: Some(rollcall_app::users::list::UserFilter {
                user_type: Some("pt".into()),
                ..Default::default()
            }),
            changes: rollcall_app::domain::BulkChanges {
                grant_locations: [location].into_iter().collect(),
                ..Default::default()
            }
            .into(),
            ..Default::default()
        }
    }
}
