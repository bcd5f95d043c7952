//! CSV import end to end, on SQLite and PostgreSQL: upload, review, fix a row, commit, the job's
//! outcome; licence seats (never oversold, even by racing batches); scheduled invitations.

mod common;

use std::time::Duration;

use common::{TestApp, spawn_app};
use rollcall_app::audit::Meta;
use rollcall_app::domain::{JobState, UserStatus};
use rollcall_app::onboarding::import::{self, Access, Commit};
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use rollcall_store::{jobs, profiles, users};
use serde_json::{Value, json};
use uuid::Uuid;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../domain/tests/fixtures/csv");

/// Uploads a file through the console form; answers the redirect target or the page shown.
async fn upload(
    app: &TestApp,
    client: &reqwest::Client,
    name: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let csrf = app.csrf_of(client, "/import").await;
    let form = reqwest::multipart::Form::new().text("csrf", csrf).part(
        "file",
        reqwest::multipart::Part::bytes(body).file_name(name.to_string()),
    );
    let r = client
        .post(app.url("/import/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status == 303 {
        return (
            status,
            r.headers()["location"].to_str().unwrap().to_string(),
        );
    }
    (status, r.text().await.unwrap())
}

async fn wait_finished(app: &TestApp, id: Uuid) -> jobs::Job {
    for _ in 0..200 {
        let mut conn = app.app.db().read_conn().await.unwrap();
        let job = jobs::get(&mut conn, app.org.id, id).await.unwrap().unwrap();
        if job.is_finished() {
            return job;
        }
        drop(conn);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("import {id} did not finish");
}

async fn role_id(app: &TestApp, name: &str) -> Uuid {
    let mut conn = app.app.db().read_conn().await.unwrap();
    rollcall_store::roles::list(&mut conn, app.org.id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == name)
        .unwrap()
        .id
}

async fn location_id(app: &TestApp, code: &str) -> Uuid {
    let mut conn = app.app.db().read_conn().await.unwrap();
    rollcall_store::locations::list(&mut conn, app.org.id)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.code == code)
        .unwrap()
        .id
}

async fn user_by_email(app: &TestApp, email: &str) -> Option<users::User> {
    let key = rollcall_domain::Email::parse(email).unwrap();
    let mut conn = app.app.db().read_conn().await.unwrap();
    users::get_by_email_key(&mut conn, app.org.id, key.match_key())
        .await
        .unwrap()
}

async fn console_upload_review_fix_and_commit(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let file = "\u{feff}First_Name , last_name,EMAIL,user_type,default_location\r\n\
        Dana,Lee,dana@alpha.example,PT,DT\r\n\
        Dana,Lee,DANA@alpha.example,PT,DT\r\n\
        \"Kim, Jr.\",Park,kim-at-alpha.example,PTA,NS\r\n\
        Ada,Again,admin@alpha.example,,\r\n\
        Sam,Ortiz,sam@alpha.example,front desk,\r\n";
    let (status, to) = upload(&app, &admin, "staff.csv", file.as_bytes().to_vec()).await;
    assert_eq!(status, 303, "{to}");
    let id: Uuid = to.trim_start_matches("/import/").parse().unwrap();

    // The review: every row with its marks; the filter keeps the rows in error.
    let page = app.page(&admin, &to).await;
    assert!(page.contains("id=\"count-rows\">5<"), "{page}");
    assert!(
        !page.contains("id=\"access-columns\""),
        "no access column is filled, so nothing is said of them"
    );
    assert!(page.contains("id=\"count-valid\">2<"), "{page}");
    assert!(
        page.contains("id=\"count-errors\" class=\"text-error\">3<"),
        "{page}"
    );
    assert!(
        page.contains("is already on line 2 of this file"),
        "duplicate differing in case"
    );
    assert!(page.contains("data-code=\"already_in_organization\""));
    assert!(page.contains("Kim, Jr."), "quoted field with a comma");
    let errors = app
        .page(&admin, &format!("/import/{id}?filter=errors"))
        .await;
    assert_eq!(errors.matches("class=\"row-error\"").count(), 3, "{errors}");
    assert!(!errors.contains("sam@alpha.example"));
    assert!(
        user_by_email(&app, "dana@alpha.example").await.is_none(),
        "nothing written before commit"
    );

    // Fix Kim's address in the table: the row becomes valid.
    let row = app.page(&admin, &format!("/import/{id}/rows/2")).await;
    assert!(row.contains("kim-at-alpha.example"));
    let csrf = common::csrf_in(&row);
    let r = admin
        .post(app.url(&format!("/import/{id}/rows/2")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("first_name", "Kim, Jr."),
            ("last_name", "Park"),
            ("email", "kim@alpha.example"),
            ("user_type", "PTA"),
            ("default_location", "NS"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = app.page(&admin, &format!("/import/{id}")).await;
    assert!(page.contains("id=\"count-valid\">3<"), "{page}");

    // Commit without a location for Sam's row: refused, nothing created.
    let front_desk = role_id(&app, "Front Desk").await;
    let csrf = common::csrf_in(&page);
    let commit = |location: String| {
        let csrf = csrf.clone();
        let admin = admin.clone();
        let url = app.url(&format!("/import/{id}/commit"));
        async move {
            admin
                .post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("mode", "roles"),
                    ("roles", &front_desk.to_string()),
                    ("location", &location),
                    ("notifications", "schedule:email"),
                    ("notifications", "messages:sms"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let r = commit(String::new()).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("1 row name no default location"), "{html}");
    assert!(user_by_email(&app, "sam@alpha.example").await.is_none());

    let downtown = location_id(&app, "DT").await;
    let r = commit(downtown.to_string()).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("/jobs/{id}").as_str());
    let job = wait_finished(&app, id).await;
    assert_eq!(job.state, JobState::PartiallySucceeded);
    let page = app.page(&admin, &format!("/jobs/{id}")).await;
    assert!(page.contains("3 people created as Pending"), "{page}");
    assert!(page.contains("2 of 5 rows not imported"), "{page}");

    // The people exist as Pending with the role, the locations and the preferences chosen.
    let kim = user_by_email(&app, "kim@alpha.example").await.unwrap();
    assert_eq!(kim.status, UserStatus::Pending);
    assert_eq!(kim.first_name, "Kim, Jr.");
    assert_eq!(kim.user_type.as_deref(), Some("pta"));
    assert_eq!(kim.source, "csv_import");
    let sam = user_by_email(&app, "sam@alpha.example").await.unwrap();
    assert_eq!(sam.default_location_id, Some(downtown));
    let mut conn = app.app.db().read_conn().await.unwrap();
    let grants = rollcall_store::roles::grants_of(&mut conn, sam.id)
        .await
        .unwrap();
    assert!(grants.roles.contains_key(&front_desk));
    let prefs = profiles::notifications_of(&mut conn, sam.id).await.unwrap();
    assert_eq!(
        prefs,
        vec![
            ("messages".into(), "sms".into()),
            ("schedule".into(), "email".into())
        ]
    );
    drop(conn);

    // The report lists every row not imported with its reason.
    let report = admin
        .get(app.url(&format!("/jobs/{id}/report.csv")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        report.contains("3,DANA@alpha.example,not imported,duplicate_in_file"),
        "{report}"
    );
    assert!(report.contains("already_in_organization"), "{report}");

    // The review page of a committed import sends people to the job.
    let r = admin
        .get(app.url(&format!("/import/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

async fn bad_files_say_what_is_wrong_and_create_nothing(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let (status, page) = upload(&app, &admin, "empty.csv", Vec::new()).await;
    assert_eq!(status, 200);
    assert!(page.contains("id=\"upload-error\""), "{page}");
    assert!(
        page.contains("template"),
        "the empty-file message points to the template: {page}"
    );

    let (status, page) = upload(
        &app,
        &admin,
        "odd.csv",
        b"first_name,last_name,email,Phone,Dept\nA,B,a@b.example,1,2\n".to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Phone") && page.contains("Dept"),
        "both unknown columns named: {page}"
    );
    assert!(
        page.contains("default_location"),
        "expected columns listed: {page}"
    );

    // The console refuses a file over the limit with the limit in the message.
    let big = vec![b'a'; import::MAX_UPLOAD_BYTES as usize + 10];
    let (status, page) = upload(&app, &admin, "big.csv", big).await;
    assert_eq!(status, 200);
    assert!(page.contains("larger than 64 MB"), "{page}");

    let mut conn = app.app.db().read_conn().await.unwrap();
    assert_eq!(
        users::count(&mut conn, app.org.id).await.unwrap(),
        1,
        "only the admin"
    );

    // The awkward files of the corpus read the same through the app: two addresses that differ
    // only in case are one person.
    let file = std::fs::read(format!("{FIXTURES}/emails_differing_in_case.csv")).unwrap();
    let (status, to) = upload(&app, &admin, "case.csv", file).await;
    assert_eq!(status, 303);
    let page = app.page(&admin, &to).await;
    assert!(page.contains("data-code=\"duplicate_in_file\""), "{page}");
}

async fn stage(app: &TestApp, csv: &str) -> Uuid {
    let who = admin_principal(app).await;
    import::upload(
        &app.app,
        &who,
        csv.as_bytes(),
        "t.csv",
        None,
        &Meta::system("test"),
    )
    .await
    .unwrap()
    .id
}

async fn admin_principal(app: &TestApp) -> rollcall_app::Principal {
    let admin = user_by_email(app, &app.admin_email).await.unwrap();
    rollcall_app::Principal::of_user(&app.app, app.org.id, admin.id)
        .await
        .unwrap()
        .unwrap()
}

fn people(prefix: &str, n: usize) -> String {
    let mut csv = String::from("first_name,last_name,email\n");
    for i in 0..n {
        csv.push_str(&format!("P{i},{prefix},{prefix}{i}@alpha.example\n"));
    }
    csv
}

async fn seats(app: &TestApp, n: i64) {
    let mut conn = app.app.db().write_conn().await.unwrap();
    rollcall_store::orgs::set_seats(&mut conn, app.org.id, "portal", n)
        .await
        .unwrap();
}

async fn seated(app: &TestApp) -> i64 {
    let mut conn = app.app.db().read_conn().await.unwrap();
    rollcall_store::seats::used(&mut conn, app.org.id)
        .await
        .unwrap()
}

async fn too_few_seats_create_nothing_and_racing_batches_never_oversell(t: TestDb) {
    let app = spawn_app(t).await;
    let who = admin_principal(&app).await;
    let commit = Commit {
        access: Access::Roles {
            role_ids: vec![role_id(&app, "Front Desk").await],
        },
        location_id: Some(location_id(&app, "DT").await),
        send_at: None,
        notifications: vec![],
    };
    // 1 seat used (the admin) of 6: an import of 8 needs more than the 5 free.
    seats(&app, 6).await;
    let big = stage(&app, &people("big", 8)).await;
    let err = import::commit(&app.app, &who, big, &commit, &Meta::system("test"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "This needs 8 licence seats but only 5 are free (1 of 6 in use). Nothing was created."
        ),
        "{err}"
    );
    assert_eq!(seated(&app).await, 1);

    // Two batches of 4 race for the 5 free seats: exactly one gets them.
    let a = stage(&app, &people("a", 4)).await;
    let b = stage(&app, &people("b", 4)).await;
    let meta = Meta::system("test");
    let (ra, rb) = tokio::join!(
        import::commit(&app.app, &who, a, &commit, &meta),
        import::commit(&app.app, &who, b, &commit, &meta),
    );
    assert!(ra.is_ok() != rb.is_ok(), "one batch wins: {ra:?} {rb:?}");
    let loser = ra.err().or(rb.err()).unwrap();
    assert!(loser.to_string().contains("only 1 is free"), "{loser}");
    // A paste racing the running import cannot take the seats it holds.
    let pasted = rollcall_app::onboarding::invite::paste_invite(
        &app.app,
        &who,
        "x1@alpha.example x2@alpha.example",
        Some(location_id(&app, "DT").await),
        role_id(&app, "Front Desk").await,
        None,
        &meta,
    )
    .await;
    assert!(
        matches!(pasted, Err(rollcall_app::AppError::SeatsExhausted(_))),
        "{pasted:?}"
    );
    for id in [a, b] {
        let mut conn = app.app.db().read_conn().await.unwrap();
        let job = jobs::get(&mut conn, app.org.id, id).await.unwrap().unwrap();
        drop(conn);
        if job.state != JobState::Validated {
            wait_finished(&app, id).await;
        }
    }
    assert_eq!(
        seated(&app).await,
        5,
        "the admin and the 4 of the winning batch"
    );
    let mut conn = app.app.db().read_conn().await.unwrap();
    assert_eq!(users::count(&mut conn, app.org.id).await.unwrap(), 5);
}

async fn api_import_with_scheduled_invitations(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/imports"))
        .bearer_auth(&token)
        .header("content-type", "text/csv")
        .header("x-file-name", "api.csv")
        .body("first_name,last_name,email,roles,default_location\nRey,Cole,rey@alpha.example,Front Desk,NS\nBad,Row,not-an-address,,NS\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["summary"]["rows"], 2);
    assert_eq!(body["summary"]["in_error"], 1);
    assert_eq!(
        body["summary"]["with_access_columns"], 1,
        "the API says how many rows only per-row access reads"
    );
    assert_eq!(body["rows_in_error"][0]["line"], 3);
    let id = body["import"]["id"].as_str().unwrap().to_string();

    // An edit changes only the cells it names.
    let seq = &body["rows_in_error"][0]["seq"];
    let (status, row) = app
        .api(
            &token,
            reqwest::Method::PATCH,
            &format!("/api/v1/imports/{id}/rows/{seq}"),
            Some(&json!({ "cells": { "email": "still not an address" } })),
        )
        .await;
    assert_eq!(status, 200, "{row}");
    assert_eq!(row["cells"]["email"], "still not an address");
    assert_eq!(row["cells"]["first_name"], "Bad", "{row}");
    assert_eq!(row["cells"]["default_location"], "NS", "{row}");
    assert_eq!(row["in_error"], true);

    // Nine in the morning, organization time, in three days.
    let zone = jiff::tz::TimeZone::get("America/Chicago").unwrap();
    let day = jiff::Timestamp::now()
        .to_zoned(zone)
        .date()
        .checked_add(jiff::Span::new().days(3))
        .unwrap();
    let when = format!("{day}T09:00");
    let commit = json!({ "access": { "mode": "customize" }, "location_id": null, "send_at": when, "notifications": [] });
    let (status, answer) = app
        .api(
            &token,
            reqwest::Method::POST,
            &format!("/api/v1/imports/{id}/commit"),
            Some(&commit),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    // The same commit again answers the same job.
    let (status, again) = app
        .api(
            &token,
            reqwest::Method::POST,
            &format!("/api/v1/imports/{id}/commit"),
            Some(&commit),
        )
        .await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["job"]["id"], answer["job"]["id"]);
    let job = wait_finished(&app, id.parse().unwrap()).await;
    assert_eq!(job.state, JobState::PartiallySucceeded);
    let (_, view) = app
        .api(
            &token,
            reqwest::Method::GET,
            &format!("/api/v1/jobs/{id}"),
            None,
        )
        .await;
    assert_eq!(view["outcome"], "partially_succeeded", "{view}");
    assert_eq!(view["not_imported"][0]["line"], 3);

    // The invitation waits for its time: nothing is sent now, then exactly one message.
    let rey = user_by_email(&app, "rey@alpha.example").await.unwrap();
    assert_eq!(rey.status, UserStatus::Pending);
    let drained = rollcall_app::delivery::drain_once(&app.app).await.unwrap();
    assert_eq!(drained.sent, 0, "scheduled for later");
    let mut conn = app.app.db().read_conn().await.unwrap();
    let inv = rollcall_store::invitations::live_for_user(&mut conn, rey.id)
        .await
        .unwrap();
    assert_eq!(inv.len(), 1);
    assert_eq!(
        inv[0].send_at_local.as_deref(),
        Some(when.replace('T', " ").as_str())
    );
    assert_eq!(inv[0].send_zone.as_deref(), Some("America/Chicago"));
    assert_eq!(
        rollcall_app::clock::local(inv[0].send_at, "America/Chicago"),
        format!(
            "{day} 09:00 {}",
            rollcall_app::clock::local(inv[0].send_at, "America/Chicago")
                .rsplit(' ')
                .next()
                .unwrap()
        )
    );
    drop(conn);
    app.app.clock.advance_minutes(4 * 24 * 60);
    let drained = rollcall_app::delivery::drain_once(&app.app).await.unwrap();
    assert_eq!(drained.sent, 1);
    let drained = rollcall_app::delivery::drain_once(&app.app).await.unwrap();
    assert_eq!(drained.sent, 0, "sent once");
}

/// The row editor offers the organization's roles as choices and keeps what it does not
/// recognise; after a save the review shows the page holding the row, with every column of the
/// file, the way back to earlier rows and how far in it is.
async fn the_row_editor_offers_choices_and_the_review_keeps_its_bearings(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let mut csv = String::from("first_name,last_name,email,username,roles\n");
    for i in 0..120 {
        let username = if i == 0 { "first.one" } else { "" };
        let roles = if i == 69 { "Provider; Wizard" } else { "" };
        csv.push_str(&format!(
            "P{i},Row,row{i}@alpha.example,{username},{roles}\n"
        ));
    }
    let id = stage(&app, &csv).await;
    let seq = 69;
    let editor = app.page(&admin, &format!("/import/{id}/rows/{seq}")).await;
    assert!(
        editor.contains("error-summary") && editor.contains("href=\"#f-roles\""),
        "{editor}"
    );
    assert!(
        editor.contains("type=\"checkbox\" name=\"roles\" value=\"Provider\" checked"),
        "the role the cell names is ticked: {editor}"
    );
    assert!(
        editor.contains("name=\"roles\" value=\"Wizard\""),
        "what is not a role stays, as typed"
    );
    let csrf = common::csrf_in(&editor);
    let r = admin
        .post(app.url(&format!("/import/{id}/rows/{seq}")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("first_name", "P69"),
            ("last_name", "Row"),
            ("email", "row69@alpha.example"),
            ("roles", ""),
            ("roles", "Provider"),
            ("roles", "Front Desk"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let back = r.headers()["location"].to_str().unwrap().to_string();
    assert!(
        back.contains("saved=") && back.contains(&format!("#row-{seq}")),
        "{back}"
    );
    let page = app.page(&admin, &back).await;
    assert!(
        page.contains(&format!("id=\"row-{seq}\"")),
        "the edited row is on the page"
    );
    assert!(page.contains("Rows 51–100 of 120"), "{page}");
    assert!(
        page.contains("id=\"prev-page\""),
        "a way back to the earlier rows"
    );
    assert!(
        page.contains("data-column=\"username\""),
        "the username column stays though no row of this page fills it"
    );
    let mut conn = app.app.db().read_conn().await.unwrap();
    let row = rollcall_store::imports::get(&mut conn, id, seq)
        .await
        .unwrap()
        .unwrap();
    assert!(!row.in_error, "{:?}", row.issues);
    assert!(row.cells.contains("Provider; Front Desk"), "{}", row.cells);
}

engine_tests!(
    the_row_editor_offers_choices_and_the_review_keeps_its_bearings,
    console_upload_review_fix_and_commit,
    bad_files_say_what_is_wrong_and_create_nothing,
    too_few_seats_create_nothing_and_racing_batches_never_oversell,
    api_import_with_scheduled_invitations,
);
