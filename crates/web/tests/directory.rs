//! The staff directory, on SQLite and PostgreSQL: loading the roster (console upload and API),
//! replacing it, refusing a bad one whole, and the bulk add wizard from group to job.

mod common;

use std::time::Duration;

use common::{PASSWORD, TestApp, add_user, csrf_in, spawn_app};
use rollcall_app::domain::{JobState, UserStatus};
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use rollcall_store::{audit, invitations, jobs, mailbox, profiles, roles, users};
use serde_json::{Value, json};
use uuid::Uuid;

const ROSTER: &[u8] = include_bytes!("fixtures/roster.csv");

/// Posts a roster file through the Directory page's upload form.
async fn upload(app: &TestApp, c: &reqwest::Client, file: &[u8]) -> (u16, String) {
    let csrf = app.csrf_of(c, "/directory").await;
    let boundary = "rollcallTestBoundary7MA4YWxk";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"roster\"; filename=\"roster.csv\"\r\n\
         Content-Type: text/csv\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = c
        .post(app.url("/directory/load"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Posts one step of the add wizard: the fields the page carried plus what was chosen.
async fn step(
    app: &TestApp,
    c: &reqwest::Client,
    carried: &[(String, String)],
    chosen: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(String, String)> = carried.to_vec();
    form.extend(chosen.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    c.post(app.url("/directory/add"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

/// The hidden fields of the wizard form on a page (csrf, batch, and what earlier steps chose).
fn carried(html: &str) -> Vec<(String, String)> {
    let form = &html[html.find("id=\"wizard\"").expect("the wizard form")..];
    let form = &form[..form.find("</form>").unwrap()];
    form.split("<input type=\"hidden\" ")
        .skip(1)
        .map(|tag| {
            let attr = |name: &str| {
                let start = tag.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                tag[start..].split('"').next().unwrap().to_string()
            };
            (attr("name"), unescape(&attr("value")))
        })
        .collect()
}

fn unescape(s: &str) -> String {
    s.replace("&#32;", " ")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn batch_of(fields: &[(String, String)]) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| k == "batch")
        .map(|(_, v)| v.clone())
        .collect()
}

/// The section of a page with this id, up to its end.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[start..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

async fn overview(app: &TestApp, token: &str) -> Value {
    let (status, body) = app
        .api(token, reqwest::Method::GET, "/api/v1/directory", None)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn members_of(overview: &Value, group: &str) -> i64 {
    overview["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == group)
        .map(|g| g["members"].as_i64().unwrap())
        .unwrap_or(0)
}

async fn loads(app: &TestApp) -> Vec<audit::Event> {
    let mut conn = app.app.db().read_conn().await.unwrap();
    audit::list(
        &mut conn,
        app.org.id,
        &audit::AuditQuery {
            action: Some(audit::ActionMatch::Exact("directory.loaded".into())),
            limit: 100,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

async fn user_by_email(app: &TestApp, email: &str) -> Option<users::User> {
    let mut conn = app.app.db().read_conn().await.unwrap();
    users::get_by_email_key(&mut conn, app.org.id, email)
        .await
        .unwrap()
}

/// The fixture as JSON, with `edit` applied to its people.
fn roster_json(edit: impl Fn(&mut Vec<Value>)) -> Value {
    let text = String::from_utf8(ROSTER.to_vec()).unwrap();
    let mut rdr = csv::Reader::from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    let mut people: Vec<Value> = rdr
        .records()
        .map(|r| {
            let r = r.unwrap();
            let active = !matches!(r[5].trim().to_lowercase().as_str(), "false" | "no" | "0");
            json!({
                "external_id": r[0], "first_name": r[1], "last_name": r[2], "email": r[3],
                "user_type": r[4], "active": active,
                "groups": r[6].split(['|', ';']).collect::<Vec<_>>(),
            })
        })
        .collect();
    edit(&mut people);
    json!({ "people": people })
}

/// With no roster yet, the page offers a template, and the template loads as it is.
async fn the_roster_template_loads_as_it_is(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let page = app.page(&admin, "/directory").await;
    assert!(
        page.contains("/directory/roster-template.csv"),
        "a template is offered"
    );
    let template = admin
        .get(app.url("/directory/roster-template.csv"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let (status, loaded) = upload(&app, &admin, template.as_bytes()).await;
    assert_eq!(status, 200, "the template loads as it is: {loaded}");
    assert!(loaded.contains("Directory loaded: 2 people"), "{loaded}");
}

async fn loading_replacing_and_refusing_a_roster(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read", "users:write"]).await;

    // Nothing loaded yet.
    let page = app.page(&admin, "/directory").await;
    assert!(page.contains("No roster loaded yet"), "{page}");

    // The fixture through the upload form: BOM, CRLF, quotes and loose header names are fine.
    let (status, page) = upload(&app, &admin, ROSTER).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(
            "Directory loaded: 12 people in 3 groups (12 new, 0 removed, 1 deactivated upstream)"
        ),
        "{page}"
    );
    let groups = section(&page, "groups");
    for g in ["Therapy", "Front Desk", "Billing"] {
        assert!(groups.contains(g), "{groups}");
    }
    let o = overview(&app, &token).await;
    assert_eq!(
        (o["people"].as_i64(), o["inactive"].as_i64()),
        (Some(12), Some(1))
    );
    assert_eq!(members_of(&o, "Therapy"), 5);
    assert_eq!(members_of(&o, "Front Desk"), 5, "Kim is in two groups");

    // The API replaces it: Lou left the practice, Mia moved from the front desk to billing.
    let changed = roster_json(|people| {
        people.retain(|p| p["external_id"] != "E004");
        for p in people.iter_mut() {
            if p["external_id"] == "E009" {
                p["groups"] = json!(["Billing"]);
            }
        }
    });
    let put = || async {
        let r = reqwest::Client::new()
            .put(app.url("/api/v1/directory"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "roster-2")
            .json(&changed)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    };
    let (status, loaded) = put().await;
    assert_eq!(status, 200, "{loaded}");
    // A retry with the same key answers the same and loads nothing twice (see the audit below).
    assert_eq!(put().await, (200, loaded.clone()));
    assert_eq!(
        (&loaded["people"], &loaded["added"], &loaded["removed"]),
        (&json!(11), &json!(0), &json!(1))
    );
    let o = overview(&app, &token).await;
    assert_eq!(members_of(&o, "Therapy"), 4);
    assert_eq!(members_of(&o, "Front Desk"), 4);
    assert_eq!(members_of(&o, "Billing"), 4);
    let therapy = app.page(&admin, "/directory?group=Therapy").await;
    let members = section(&therapy, "members");
    assert!(!members.contains("Lou Park"), "{members}");
    assert!(members.contains("Dana Lee"));
    let billing = app.page(&admin, "/directory?group=Billing").await;
    assert!(section(&billing, "members").contains("Mia Chen"));

    // A file with bad lines is refused whole, with each line and its fix; the roster stays.
    let mut bad = ROSTER.to_vec();
    bad.extend_from_slice(
        b"E013,Tess,Hale,tess.hale(at)alpha.example,PT,true,Therapy\r\nE001,Dup,Licate,dup@alpha.example,PT,true,Therapy\r\n,No,Id,noid@alpha.example,PT,true,Therapy\r\n",
    );
    let (status, page) = upload(&app, &admin, &bad).await;
    assert_eq!(status, 422, "{page}");
    let error = section(&page, "directory-error");
    assert!(error.contains("Nothing was loaded"), "{error}");
    assert!(error.contains("line 14"), "the bad address: {error}");
    assert!(error.contains("tess.hale(at)alpha.example"), "{error}");
    assert!(
        error.contains("line 15: the external id “E001” is already used on line 2"),
        "{error}"
    );
    assert!(
        error.contains("line 16: the external id is missing"),
        "{error}"
    );
    let o = overview(&app, &token).await;
    assert_eq!(o["people"], 11, "the previous roster is intact");
    assert_eq!(members_of(&o, "Billing"), 4);

    // The same through the API: 422 naming the person, nothing changed.
    let bad = roster_json(|people| people[2]["email"] = json!("kim.ng(at)alpha.example"));
    let (status, err) = app
        .api(
            &token,
            reqwest::Method::PUT,
            "/api/v1/directory",
            Some(&bad),
        )
        .await;
    assert_eq!(status, 422, "{err}");
    // Each problem has a code of its kind, so a client can tell a bad address from the rest.
    assert_eq!(err["code"], "email_invalid");
    assert_eq!(err["errors"][0]["code"], "email_invalid");
    let message = err["detail"].as_str().unwrap();
    assert!(
        message.contains("person 3 (external id “E003”)"),
        "{message}"
    );
    assert_eq!(overview(&app, &token).await["people"], 11);

    // A header Rollcall does not know is refused with the columns it expects.
    let (status, page) = upload(&app, &admin, b"id,name,mail\r\n1,A,a@alpha.example\r\n").await;
    assert_eq!(status, 422);
    assert!(
        section(&page, "directory-error").contains("external_id, first_name, last_name, email"),
        "{page}"
    );

    // One audit event per load that changed the roster, with its counts.
    let events = loads(&app).await;
    assert_eq!(events.len(), 2, "two loads succeeded");
    let newest: Value = serde_json::from_str(events[0].event.after.as_deref().unwrap()).unwrap();
    assert_eq!(
        (&newest["people"], &newest["removed"], &newest["source"]),
        (&json!(11), &json!(1), &json!("api"))
    );
    // No account of the roster's people existed, so none was touched.
    assert!(
        user_by_email(&app, "dana.lee@alpha.example")
            .await
            .is_none()
    );
}

async fn adding_a_batch_from_two_groups(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    assert_eq!(upload(&app, &admin, ROSTER).await.0, 200);

    // Step 1: Therapy lists its members minus Ann (deactivated upstream).
    let page = app.page(&admin, "/directory").await;
    let r = step(&app, &admin, &carried(&page), &[("go", "group:Therapy")]).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    let members = section(&page, "members");
    for name in ["Dana Lee", "Sam Ward", "Kim Ng", "Lou Park"] {
        assert!(members.contains(name), "{name} in {members}");
    }
    assert!(!members.contains("Ann Ray"), "{members}");
    assert!(members.contains("1 is deactivated upstream"), "{members}");

    // Add all four, then remove Sam.
    let page = step(&app, &admin, &carried(&page), &[("go", "add_all")])
        .await
        .text()
        .await
        .unwrap();
    let mut batch = batch_of(&carried(&page));
    batch.sort();
    assert_eq!(batch, ["E001", "E002", "E003", "E004"]);
    assert!(section(&page, "batch").contains("Batch: 4 people"));
    let page = step(&app, &admin, &carried(&page), &[("go", "remove:E002")])
        .await
        .text()
        .await
        .unwrap();
    assert!(!section(&page, "batch").contains("Sam Ward"));

    // Front Desk lists Kim as already added and leaves out Ada, who has an account.
    let page = step(&app, &admin, &carried(&page), &[("go", "group:Front Desk")])
        .await
        .text()
        .await
        .unwrap();
    let members = section(&page, "members");
    assert!(!members.contains("Admin@Alpha.example"), "{members}");
    assert!(members.contains("1 already has an account"), "{members}");
    assert!(members.contains("Rosa Diaz") && members.contains("Jo, Jr Quinn"));
    assert!(
        !members.contains("value=\"E003\""),
        "Kim cannot be ticked twice"
    );
    // Tick Rosa and Jo (and Kim once more, as a stale form could): nobody is added twice.
    let page = step(
        &app,
        &admin,
        &carried(&page),
        &[
            ("pick", "E007"),
            ("pick", "E008"),
            ("pick", "E003"),
            ("go", "add_selected"),
        ],
    )
    .await
    .text()
    .await
    .unwrap();
    let mut batch = batch_of(&carried(&page));
    batch.sort();
    assert_eq!(batch, ["E001", "E003", "E004", "E007", "E008"]);
    assert!(section(&page, "batch").contains("Batch: 5 people"));

    // Step 2: role, location and a time in the organization's zone.
    let page = step(&app, &admin, &carried(&page), &[("go", "access")])
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Time zone: America/Chicago"), "{page}");
    let mut conn = app.app.db().read_conn().await.unwrap();
    let front_desk = roles::list(&mut conn, app.org.id)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == "Front Desk")
        .unwrap()
        .id;
    let downtown = rollcall_store::locations::list(&mut conn, app.org.id)
        .await
        .unwrap()
        .into_iter()
        .find(|l| l.name.ends_with("Downtown"))
        .unwrap()
        .id;
    drop(conn);
    let zone = jiff::tz::TimeZone::get("America/Chicago").unwrap();
    let day = jiff::Timestamp::now().to_zoned(zone.clone()).date() + jiff::Span::new().days(3);
    let (date, time) = (day.to_string(), "09:30");
    // A time already past is refused on the step itself.
    let r = step(
        &app,
        &admin,
        &carried(&page),
        &[
            ("role_id", &front_desk.to_string()),
            ("location_id", &downtown.to_string()),
            ("date", "2020-01-06"),
            ("time", time),
            ("go", "notifications"),
        ],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("has already passed in America/Chicago")
    );
    let page = step(
        &app,
        &admin,
        &carried(&page),
        &[
            ("role_id", &front_desk.to_string()),
            ("location_id", &downtown.to_string()),
            ("date", &date),
            ("time", time),
            ("go", "notifications"),
        ],
    )
    .await
    .text()
    .await
    .unwrap();

    // Step 3: the grid of what the organization offers.
    let grid = section(&page, "notifications");
    assert!(grid.contains("value=\"appointments:email\""), "{grid}");
    assert!(grid.contains("value=\"messages:sms\""));
    let page = step(
        &app,
        &admin,
        &carried(&page),
        &[
            ("notifications", "appointments:email"),
            ("notifications", "messages:sms"),
            ("go", "confirm"),
        ],
    )
    .await
    .text()
    .await
    .unwrap();

    // Step 4: everything chosen, in words.
    assert!(
        page.contains("Invite 5 people from the directory"),
        "{page}"
    );
    assert!(
        page.contains(&format!("{date} 09:30 (America/Chicago)")),
        "{page}"
    );
    let choices = section(&page, "confirm-choices");
    assert!(
        choices.contains("Front Desk") && choices.contains("alpha Downtown"),
        "{choices}"
    );
    assert!(
        choices.contains("Appointment reminders by email"),
        "{choices}"
    );
    assert!(choices.contains("Messages by text message"), "{choices}");

    // Confirm: on to the job.
    let r = step(&app, &admin, &carried(&page), &[("go", "commit")]).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let job_url = r.headers()["location"].to_str().unwrap().to_string();
    let job_id: Uuid = job_url.strip_prefix("/jobs/").unwrap().parse().unwrap();
    let job = finished(&app, job_id).await;
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    // Confirming the same page again (a double click, a reload) starts nothing new.
    let again = step(&app, &admin, &carried(&page), &[("go", "commit")]).await;
    assert_eq!(again.status(), 303);
    assert_eq!(again.headers()["location"].to_str().unwrap(), job_url);
    let job_page = admin.get(app.url(&job_url)).send().await.unwrap();
    assert_eq!(job_page.status(), 200, "the job's page shows its outcome");

    // Five pending users with the role, the location and the preferences; nobody else.
    let expected_send = day
        .to_datetime(jiff::civil::time(9, 30, 0, 0))
        .to_zoned(zone)
        .unwrap()
        .timestamp()
        .as_microsecond();
    let mut conn = app.app.db().read_conn().await.unwrap();
    for email in [
        "dana.lee@alpha.example",
        "kim.ng@alpha.example",
        "lou.park@alpha.example",
        "rosa.diaz@alpha.example",
        "jo.quinn@alpha.example",
    ] {
        let u = user_by_email(&app, email)
            .await
            .unwrap_or_else(|| panic!("{email} was created"));
        assert_eq!(u.status, UserStatus::Pending, "{email}");
        assert_eq!(u.default_location_id, Some(downtown), "{email}");
        let grants = roles::grants_of(&mut conn, u.id).await.unwrap();
        assert_eq!(
            grants.roles.keys().collect::<Vec<_>>(),
            [&front_desk],
            "{email}"
        );
        assert_eq!(
            profiles::notifications_of(&mut conn, u.id).await.unwrap(),
            [
                ("appointments".to_string(), "email".to_string()),
                ("messages".to_string(), "sms".to_string())
            ],
            "{email}"
        );
        let invitation = invitations::latest_for_user(&mut conn, u.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            invitation.send_at, expected_send,
            "{email}: sent at 09:30 Chicago time"
        );
    }
    let jo = user_by_email(&app, "jo.quinn@alpha.example").await.unwrap();
    assert_eq!(
        (jo.first_name.as_str(), jo.last_name.as_str()),
        ("Jo, Jr", "Quinn")
    );
    for email in [
        "sam.ward@alpha.example",
        "ann.ray@alpha.example",
        "mia.chen@alpha.example",
    ] {
        assert!(user_by_email(&app, email).await.is_none(), "{email}");
    }
    // The invitations wait for their time: nothing goes out now.
    rollcall_app::delivery::drain_once(&app.app).await.unwrap();
    assert!(
        mailbox::list(&mut conn, None, Some("dana.lee@alpha.example"), 1)
            .await
            .unwrap()
            .is_empty()
    );

    // Back on the Directory page, the people now with accounts are no longer offered.
    let therapy = app.page(&admin, "/directory?group=Therapy").await;
    let members = section(&therapy, "members");
    assert!(members.contains("Sam Ward"), "{members}");
    assert!(
        !members.contains("Dana Lee") && !members.contains("Kim Ng"),
        "{members}"
    );
    assert!(members.contains("3 already have accounts"), "{members}");
}

/// Runs until the job is finished (or fails the test after 60 s).
async fn finished(app: &TestApp, id: Uuid) -> jobs::Job {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let job = {
            let mut conn = app.app.db().read_conn().await.unwrap();
            jobs::get(&mut conn, app.org.id, id).await.unwrap().unwrap()
        };
        if job.is_finished() {
            return job;
        }
        assert!(std::time::Instant::now() < deadline, "job still {job:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn too_few_seats_creates_nobody(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    assert_eq!(upload(&app, &admin, ROSTER).await.0, 200);
    {
        let mut conn = app.app.db().write_conn().await.unwrap();
        rollcall_store::orgs::set_seats(&mut conn, app.org.id, "portal", 3)
            .await
            .unwrap();
    }
    let page = app.page(&admin, "/directory?group=Therapy").await;
    let page = step(&app, &admin, &carried(&page), &[("go", "add_all")])
        .await
        .text()
        .await
        .unwrap();
    let mut conn = app.app.db().read_conn().await.unwrap();
    let role = roles::list(&mut conn, app.org.id).await.unwrap()[0].id;
    let location = rollcall_store::locations::list(&mut conn, app.org.id)
        .await
        .unwrap()[0]
        .id;
    drop(conn);
    let mut fields = carried(&page);
    fields.push(("role_id".into(), role.to_string()));
    fields.push(("location_id".into(), location.to_string()));
    let r = step(&app, &admin, &fields, &[("go", "confirm")]).await;
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Invite 4 people"), "{page}");
    let r = step(&app, &admin, &carried(&page), &[("go", "commit")]).await;
    assert_eq!(r.status(), 422, "refused on the confirm page");
    let page = r.text().await.unwrap();
    let error = section(&page, "directory-error");
    // The admin holds one of the three seats: four are needed, two are free.
    assert!(
        error.contains("seat") && error.contains('4') && error.contains('2'),
        "{error}"
    );
    assert!(page.contains("id=\"confirm\""), "still on the confirm page");
    for email in ["dana.lee@alpha.example", "kim.ng@alpha.example"] {
        assert!(user_by_email(&app, email).await.is_none(), "{email}");
    }
    // No batch is left waiting for a review that could only fail: the refused one is closed
    // with its reason.
    let jobs = app.page(&admin, "/jobs").await;
    assert!(!jobs.contains("awaiting review"), "{jobs}");
    let mut conn = app.app.db().read_conn().await.unwrap();
    let job = jobs::recent(&mut conn, app.org.id, 1)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(job.state, JobState::Failed);
    assert!(
        job.summary.contains("Nothing was created") && job.summary.contains("seat"),
        "{}",
        job.summary
    );
}

async fn a_viewer_can_look_but_not_load_or_add(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    assert_eq!(upload(&app, &admin, ROSTER).await.0, 200);
    add_user(
        &app.app,
        &app.org,
        "vera@alpha.example",
        ("Vera", "Viewer"),
        "Read-only",
        Some(PASSWORD),
    )
    .await;
    let viewer = app.browser();
    assert_eq!(
        app.sign_in(&viewer, "alpha", "vera@alpha.example", PASSWORD)
            .await
            .status(),
        303
    );
    let page = app.page(&viewer, "/directory").await;
    assert!(section(&page, "groups").contains("Therapy"), "{page}");
    assert!(!page.contains("id=\"load\""), "no upload form");
    assert!(!page.contains("id=\"wizard\""), "no wizard");

    // The upload and the wizard refuse, and nothing changes.
    let (status, page) = upload(
        &app,
        &viewer,
        b"external_id,first_name,last_name,email\r\nX1,Al,Bo,al@alpha.example\r\n",
    )
    .await;
    assert_eq!(status, 403, "{page}");
    let csrf = csrf_in(&app.page(&viewer, "/directory").await);
    let r = step(
        &app,
        &viewer,
        &[("csrf".into(), csrf), ("batch".into(), "E001".into())],
        &[("go", "commit")],
    )
    .await;
    assert_eq!(r.status(), 403);
    let admin_token = app.api_token(&admin, &["users:read", "users:write"]).await;
    assert_eq!(overview(&app, &admin_token).await["people"], 12);
    assert!(
        user_by_email(&app, "dana.lee@alpha.example")
            .await
            .is_none()
    );

    // A token without users:write cannot replace the roster either.
    let read_only = app.api_token(&admin, &["users:read"]).await;
    let (status, err) = app
        .api(
            &read_only,
            reqwest::Method::PUT,
            "/api/v1/directory",
            Some(&json!({ "people": [] })),
        )
        .await;
    assert_eq!(status, 403, "{err}");
    assert_eq!(loads(&app).await.len(), 1);
}

/// A batch outlives leaving the page: the admin comes back to it (in another tab, too); Start
/// over empties it, and another admin never sees it.
async fn the_batch_is_kept_when_the_admin_leaves_the_page(t: TestDb) {
    let app = spawn_app(t).await;
    let admin = app.signed_in_admin().await;
    assert_eq!(upload(&app, &admin, ROSTER).await.0, 200);
    let page = app.page(&admin, "/directory?group=Therapy").await;
    let page = step(&app, &admin, &carried(&page), &[("go", "add_all")])
        .await
        .text()
        .await
        .unwrap();
    assert!(section(&page, "batch").contains("Batch: 4 people"));

    let elsewhere = app.page(&admin, "/users").await;
    assert!(elsewhere.contains("Users"));
    let back = app.page(&admin, "/directory").await;
    assert!(
        section(&back, "batch").contains("Batch: 4 people"),
        "{}",
        section(&back, "batch")
    );
    let other_tab = app.browser();
    app.sign_in(&other_tab, "alpha", &app.admin_email, PASSWORD)
        .await;
    assert!(
        section(&app.page(&other_tab, "/directory").await, "batch").contains("Batch: 4 people")
    );

    add_user(
        &app.app,
        &app.org,
        "other.admin@alpha.example",
        ("Otto", "Admin"),
        "Clinic Admin",
        Some(PASSWORD),
    )
    .await;
    let other = app.browser();
    app.sign_in(&other, "alpha", "other.admin@alpha.example", PASSWORD)
        .await;
    assert!(
        section(&app.page(&other, "/directory").await, "batch").contains("Batch: 0 people"),
        "a draft is its admin's own"
    );

    let page = step(&app, &admin, &carried(&back), &[("go", "start_over")])
        .await
        .text()
        .await
        .unwrap();
    assert!(section(&page, "batch").contains("Batch: 0 people"));
    assert!(section(&app.page(&admin, "/directory").await, "batch").contains("Batch: 0 people"));
}

/// A service account of the organization with users:write, made by the admin in the console:
/// an HR integration that loads the roster every night.
async fn hr_sync_token(app: &TestApp, admin: &reqwest::Client) -> String {
    app.console_token(
        admin,
        &[
            ("name", "HR sync"),
            ("owner", "organization"),
            ("scope", "users:read"),
            ("scope", "users:write"),
        ],
    )
    .await
}

async fn load_json(app: &TestApp, token: &str, method: reqwest::Method, roster: &Value) -> Value {
    let (status, loaded) = app
        .api(token, method, "/api/v1/directory", Some(roster))
        .await;
    assert_eq!(status, 200, "{loaded}");
    loaded
}

/// The fixture with these people marked inactive upstream.
fn with_inactive(ids: &[&str]) -> Value {
    roster_json(|people| {
        for p in people.iter_mut() {
            if ids.iter().any(|id| p["external_id"] == *id) {
                p["active"] = json!(false);
            }
        }
    })
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect()
}

async fn status_of(app: &TestApp, email: &str) -> UserStatus {
    user_by_email(app, email).await.unwrap().status
}

/// The seats in use, as the Settings page shows them.
async fn seats_used(app: &TestApp, admin: &reqwest::Client) -> String {
    let page = app.page(admin, "/settings").await;
    common::shown(&page, "seats-portal-used")
}

async fn marking_people_inactive_upstream_deactivates_them_but_never_the_last_admin(t: TestDb) {
    let app = spawn_app(t).await;
    let operator = rollcall_app::Principal::operator(&app.app, app.org.id, "test")
        .await
        .unwrap();
    let meta = rollcall_app::audit::Meta::system("test");
    rollcall_app::org::set_seats(&app.app, &operator, "portal", 10, &meta)
        .await
        .unwrap();
    for (email, name) in [
        ("dana.lee@alpha.example", ("Dana", "Lee")),
        ("kim.ng@alpha.example", ("Kim", "Ng")),
        ("sam.ward@alpha.example", ("Sam", "Ward")),
    ] {
        add_user(
            &app.app,
            &app.org,
            email,
            name,
            "Front Desk",
            Some(PASSWORD),
        )
        .await;
    }
    let kim = app.browser();
    assert_eq!(
        app.sign_in(&kim, "alpha", "kim.ng@alpha.example", PASSWORD)
            .await
            .status(),
        303
    );
    let admin = app.signed_in_admin().await;
    let token = hr_sync_token(&app, &admin).await;
    assert_eq!(seats_used(&app, &admin).await, "4");

    // Dana and Kim left; the roster also marks Ada, the only company admin, inactive.
    let loaded = load_json(
        &app,
        &token,
        reqwest::Method::PUT,
        &with_inactive(&["E001", "E003", "E006"]),
    )
    .await;
    assert_eq!(loaded["full"], true);
    assert_eq!(names(&loaded["deactivated"]), ["Dana Lee", "Kim Ng"]);
    assert_eq!(loaded["deactivated"][0]["reason"], "inactive_upstream");
    assert_eq!(loaded["reactivated"], json!([]));
    let refused = &loaded["refused"];
    assert_eq!(refused.as_array().unwrap().len(), 1, "{refused}");
    assert_eq!(refused[0]["email"], app.admin_email.as_str(), "{refused}");
    assert_eq!(refused[0]["rule"], "rule_3_keep_admins", "{refused}");
    assert!(
        refused[0]["detail"].as_str().unwrap().contains("admin"),
        "the reason says why: {refused}"
    );

    assert_eq!(
        kim.get(app.url("/home")).send().await.unwrap().status(),
        303,
        "Kim's session ended"
    );
    assert_eq!(
        app.sign_in(&app.browser(), "alpha", "kim.ng@alpha.example", PASSWORD)
            .await
            .status(),
        401,
        "Kim cannot sign in"
    );
    assert_eq!(seats_used(&app, &admin).await, "2", "two seats freed");
    assert_eq!(
        status_of(&app, "dana.lee@alpha.example").await,
        UserStatus::Inactive
    );
    assert_eq!(
        status_of(&app, "sam.ward@alpha.example").await,
        UserStatus::Active
    );
    assert_eq!(status_of(&app, &app.admin_email).await, UserStatus::Active);

    // The Directory page shows what the sync changed, and what it could not, with the reason.
    let page = app.page(&admin, "/directory").await;
    let sync = section(&page, "last-sync");
    assert!(
        sync.contains("Dana Lee") && sync.contains("Kim Ng"),
        "{sync}"
    );
    assert!(sync.contains("marked inactive upstream"), "{sync}");
    assert!(sync.contains("Not deactivated"), "{sync}");
    assert!(sync.contains(&app.admin_email), "{sync}");

    // Audited as the directory sync, naming who loaded it.
    let mut conn = app.app.db().read_conn().await.unwrap();
    let dana = user_by_email(&app, "dana.lee@alpha.example").await.unwrap();
    let events = audit::list(
        &mut conn,
        app.org.id,
        &audit::AuditQuery {
            action: Some(audit::ActionMatch::Exact("user.deactivated".into())),
            target_id: Some(dana.id),
            limit: 10,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    drop(conn);
    assert_eq!(events.len(), 1);
    assert!(
        events[0].event.actor_label.starts_with("Directory sync"),
        "{}",
        events[0].event.actor_label
    );
    assert!(
        events[0]
            .event
            .after
            .as_deref()
            .unwrap()
            .contains("\"upstream\":\"directory\"")
    );

    // Loading the same roster again changes nothing more, and reports the admin again.
    let again = load_json(
        &app,
        &token,
        reqwest::Method::PUT,
        &with_inactive(&["E001", "E003", "E006"]),
    )
    .await;
    assert_eq!(again["deactivated"], json!([]));
    assert_eq!(again["refused"][0]["email"], app.admin_email.as_str());
}

async fn a_full_load_deactivates_who_left_and_reactivation_follows_upstream(t: TestDb) {
    let app = spawn_app(t).await;
    for (email, name) in [
        ("dana.lee@alpha.example", ("Dana", "Lee")),
        ("sam.ward@alpha.example", ("Sam", "Ward")),
        ("rosa.diaz@alpha.example", ("Rosa", "Diaz")),
    ] {
        add_user(
            &app.app,
            &app.org,
            email,
            name,
            "Front Desk",
            Some(PASSWORD),
        )
        .await;
    }
    let admin = app.signed_in_admin().await;
    let token = hr_sync_token(&app, &admin).await;
    let loaded = load_json(&app, &token, reqwest::Method::PUT, &roster_json(|_| {})).await;
    assert_eq!(loaded["deactivated"], json!([]), "everyone is active");

    // A full roster without Dana: her account is deactivated.
    let without_dana = roster_json(|people| people.retain(|p| p["external_id"] != "E001"));
    let loaded = load_json(&app, &token, reqwest::Method::PUT, &without_dana).await;
    assert_eq!(names(&loaded["deactivated"]), ["Dana Lee"]);
    assert_eq!(loaded["deactivated"][0]["reason"], "left_roster");
    assert_eq!(
        status_of(&app, "dana.lee@alpha.example").await,
        UserStatus::Inactive
    );

    // A partial load that lists only Sam takes nobody else for gone.
    let sam_only = roster_json(|people| people.retain(|p| p["external_id"] == "E002"));
    let loaded = load_json(&app, &token, reqwest::Method::PATCH, &sam_only).await;
    assert_eq!(loaded["full"], false);
    assert_eq!(
        (&loaded["deactivated"], &loaded["removed"]),
        (&json!([]), &json!(0))
    );
    assert_eq!(
        overview(&app, &token).await["people"],
        11,
        "nobody left the roster"
    );
    assert_eq!(
        status_of(&app, "rosa.diaz@alpha.example").await,
        UserStatus::Active
    );

    // Dana is back upstream (a partial load with her alone): the directory reactivates her.
    let dana_only = roster_json(|people| people.retain(|p| p["external_id"] == "E001"));
    let loaded = load_json(&app, &token, reqwest::Method::PATCH, &dana_only).await;
    assert_eq!(names(&loaded["reactivated"]), ["Dana Lee"]);
    assert_eq!(loaded["reactivated"][0]["reason"], "active_upstream");
    assert_eq!(
        app.sign_in(&app.browser(), "alpha", "dana.lee@alpha.example", PASSWORD)
            .await
            .status(),
        303,
        "Dana can sign in again"
    );

    // A manager deactivates Rosa by hand; the roster still lists her as active, and the
    // manager's decision stands.
    let rosa = user_by_email(&app, "rosa.diaz@alpha.example")
        .await
        .unwrap();
    let (status, _) = app
        .api(
            &token,
            reqwest::Method::POST,
            &format!("/api/v1/users/{}/deactivate", rosa.id),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let loaded = load_json(&app, &token, reqwest::Method::PUT, &roster_json(|_| {})).await;
    assert_eq!(loaded["reactivated"], json!([]), "{loaded}");
    assert_eq!(
        status_of(&app, "rosa.diaz@alpha.example").await,
        UserStatus::Inactive
    );

    // A partial load marking Sam inactive deactivates him.
    let sam_leaves = roster_json(|people| {
        people.retain(|p| p["external_id"] == "E002");
        people[0]["active"] = json!(false);
    });
    let loaded = load_json(&app, &token, reqwest::Method::PATCH, &sam_leaves).await;
    assert_eq!(names(&loaded["deactivated"]), ["Sam Ward"]);

    // The console's upload is a full load too, and says what it changed.
    let file = String::from_utf8(ROSTER.to_vec())
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("E012"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let raj = "raj.patel@alpha.example";
    add_user(
        &app.app,
        &app.org,
        raj,
        ("Raj", "Patel"),
        "Billing Manager",
        None,
    )
    .await;
    let (status, page) = upload(&app, &admin, file.as_bytes()).await;
    assert_eq!(status, 200, "{page}");
    let notice = section(&page, "directory-notice");
    assert!(notice.contains("Deactivated 1: Raj Patel."), "{notice}");
    assert!(notice.contains("Reactivated 1: Sam Ward."), "{notice}");
    assert!(section(&page, "last-sync").contains("no longer in the roster"));
}

engine_tests!(
    marking_people_inactive_upstream_deactivates_them_but_never_the_last_admin,
    a_full_load_deactivates_who_left_and_reactivation_follows_upstream,
    the_batch_is_kept_when_the_admin_leaves_the_page,
    the_roster_template_loads_as_it_is,
    loading_replacing_and_refusing_a_roster,
    adding_a_batch_from_two_groups,
    too_few_seats_creates_nobody,
    a_viewer_can_look_but_not_load_or_add,
    a_roster_sets_leaving_dates_on_accounts_and_refuses_one_it_cannot_read,
);

/// The HR roster names when people leave: a load sets that date on their accounts (as the day
/// ends in the clinic's zone), once; a date that does not read refuses the load with its place
/// and the fix, and changes nothing.
async fn a_roster_sets_leaving_dates_on_accounts_and_refuses_one_it_cannot_read(t: TestDb) {
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
    let person = |leaving: &str| {
        json!({"people": [{
            "external_id": "E-7", "first_name": "Kim", "last_name": "Lee",
            "email": "kim@alpha.example", "leaving_date": leaving
        }]})
    };
    let (status, loaded) = app
        .api(
            &token,
            reqwest::Method::PATCH,
            "/api/v1/directory",
            Some(&person("2030-01-31")),
        )
        .await;
    assert_eq!(status, 200, "{loaded}");
    assert_eq!(loaded["leaving_dates_set"], 1, "{loaded}");
    let mut conn = app.app.db().read_conn().await.unwrap();
    let at = users::leaving_of(&mut conn, kim).await.unwrap();
    drop(conn);
    assert_eq!(
        at.map(rollcall_app::clock::rfc3339).as_deref(),
        Some("2030-02-01T06:00:00Z")
    );

    // The same roster again sets nothing.
    let (_, again) = app
        .api(
            &token,
            reqwest::Method::PATCH,
            "/api/v1/directory",
            Some(&person("2030-01-31")),
        )
        .await;
    assert_eq!(again["leaving_dates_set"], 0, "{again}");

    let (status, refused) = app
        .api(
            &token,
            reqwest::Method::PATCH,
            "/api/v1/directory",
            Some(&person("31/01/2030")),
        )
        .await;
    assert_eq!(status, 422, "{refused}");
    let text = refused.to_string();
    assert!(
        text.contains("leaving_date_invalid") && text.contains("person 1"),
        "{text}"
    );
    let mut conn = app.app.db().read_conn().await.unwrap();
    assert_eq!(
        users::leaving_of(&mut conn, kim).await.unwrap(),
        at,
        "nothing changed"
    );
}
