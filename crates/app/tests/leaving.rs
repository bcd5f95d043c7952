//! Leaving dates below HTTP, on SQLite and PostgreSQL with a moved clock: a person's access ends
//! at the instant they leave (once, however often the round runs), the last admin is never
//! deactivated by a date (the refusal is audited and the date cleared), and a date that does
//! not parse changes nothing.

mod common;

use common::fixtures::{clinic, json};
use rollcall_app::AppError;
use rollcall_app::access::leaving::{self, Leavers};
use rollcall_app::access::profile::{self, ProfileEdit};
use rollcall_app::domain::import::Column;
use rollcall_app::domain::{Path, UserStatus};
use rollcall_app::onboarding::import::{self, Access, Commit};
use rollcall_store::imports::Filter;
use rollcall_store::testing::TestDb;

rollcall_store::engine_tests!(
    access_ends_at_the_leaving_instant_once,
    the_last_admin_is_not_deactivated_by_a_leaving_date,
    an_imported_leaving_date_ends_access_when_that_day_ends,
);

fn leaving_on(text: &str) -> ProfileEdit {
    ProfileEdit {
        leaving_date: Some(text.into()),
        ..Default::default()
    }
}

async fn access_ends_at_the_leaving_instant_once(t: TestDb) {
    let c = clinic(t).await;
    let pat = c
        .active_staff("pat@alpha.example", ("Pat", "Chen"), "Provider", "PT")
        .await;
    // Two hours from now, as a manager in the clinic's zone types it.
    let in_two_hours = rollcall_app::clock::local(
        c.app.clock.now() + 2 * rollcall_app::clock::HOUR,
        &c.org.time_zone,
    )[..16]
        .to_string();
    let set = |edit: ProfileEdit| {
        let c = &c;
        async move {
            profile::update(
                &c.app,
                &c.admin,
                pat.user_id,
                &edit,
                None,
                Path::Console,
                &c.meta(),
            )
            .await
        }
    };
    let refused = set(leaving_on("next friday")).await.unwrap_err();
    assert!(
        matches!(&refused, AppError::Invalid(e) if e.code == "leaving_date_invalid"),
        "{refused}"
    );
    let saved = set(leaving_on(&in_two_hours)).await.unwrap();
    assert_eq!(
        saved.leaving_at.as_deref().map(|s| &s[..16]),
        Some(in_two_hours.as_str())
    );
    let event = &c.events("user.updated").await[0];
    assert!(
        json(&event.event.after)["leaving_at"].is_string(),
        "{:?}",
        event.event.after
    );

    // Not yet: nothing happens.
    assert_eq!(
        leaving::deactivate_leavers(&c.app).await.unwrap(),
        Leavers::default()
    );
    assert_eq!(c.user(pat.user_id).await.status, UserStatus::Active);

    // Once the time has come, the next round deactivates them, and only once.
    c.app.clock.advance_minutes(121);
    let round = leaving::deactivate_leavers(&c.app).await.unwrap();
    assert_eq!(round.deactivated, 1);
    assert_eq!(c.user(pat.user_id).await.status, UserStatus::Inactive);
    let events = c.events("user.deactivated").await;
    assert_eq!(events.len(), 1);
    assert_eq!(json(&events[0].event.after)["upstream"], "leaving_date");
    assert_eq!(
        leaving::deactivate_leavers(&c.app).await.unwrap(),
        Leavers::default()
    );
    assert_eq!(c.events("user.deactivated").await.len(), 1);
    // The date stays on the profile, as a record of when they left.
    let after = profile::get(&c.app, &c.admin, pat.user_id).await.unwrap();
    assert!(after.leaving_micros.is_some());
}

async fn the_last_admin_is_not_deactivated_by_a_leaving_date(t: TestDb) {
    let c = clinic(t).await;
    let operator = rollcall_app::access::Principal::operator(&c.app, c.org.id, "test")
        .await
        .unwrap();
    // A date alone: access would end when that day ends.
    let today = rollcall_app::clock::local_date(c.app.clock.now(), &c.org.time_zone);
    profile::update(
        &c.app,
        &operator,
        c.admin.user_id,
        &leaving_on(&today),
        None,
        Path::Console,
        &c.meta(),
    )
    .await
    .unwrap();
    c.app.clock.advance_minutes(25 * 60);
    let round = leaving::deactivate_leavers(&c.app).await.unwrap();
    assert_eq!(
        round,
        Leavers {
            deactivated: 0,
            refused: 1
        }
    );
    assert_eq!(c.user(c.admin.user_id).await.status, UserStatus::Active);
    let refusal = &c.events("user.leaving_refused").await[0];
    assert!(
        json(&refusal.event.after)["reason"]
            .as_str()
            .unwrap()
            .contains("admin"),
        "{:?}",
        refusal.event.after
    );
    // Cleared, so it is not tried every minute: a company admin decides.
    let p = profile::get(&c.app, &c.admin, c.admin.user_id)
        .await
        .unwrap();
    assert_eq!(p.leaving_micros, None);
    assert_eq!(
        leaving::deactivate_leavers(&c.app).await.unwrap(),
        Leavers::default()
    );
}

async fn an_imported_leaving_date_ends_access_when_that_day_ends(t: TestDb) {
    let c = clinic(t).await;
    let zone = c.org.time_zone.clone();
    let day = |days: i64| {
        rollcall_app::clock::local_date(c.app.clock.now() + days * rollcall_app::clock::DAY, &zone)
    };
    let (tomorrow, yesterday) = (day(1), day(-1));
    let csv = format!(
        "first_name,last_name,email,default_location,leaving_date\n\
         Tia,Ross,tia@alpha.example,DT,{tomorrow}\n\
         Ugo,Bell,ugo@alpha.example,DT,\n\
         Val,Ames,val@alpha.example,DT,{yesterday}\n\
         Wes,Hart,wes@alpha.example,DT,end of term\n"
    );
    let id = import::upload(
        &c.app,
        &c.admin,
        csv.as_bytes(),
        "staff.csv",
        None,
        &c.meta(),
    )
    .await
    .unwrap()
    .id;
    let review = import::review(&c.app, &c.admin, id, Filter::Errors, -1, None)
        .await
        .unwrap();
    let issue = |line: i64| {
        let row = review.rows.iter().find(|r| r.line == line).unwrap();
        (row.issues[0].column, row.issues[0].code.clone())
    };
    assert_eq!(review.rows.len(), 2, "{:?}", review.rows);
    assert_eq!(
        issue(4),
        (Some(Column::LeavingDate), "leaving_date_passed".into())
    );
    assert_eq!(
        issue(5),
        (Some(Column::LeavingDate), "leaving_date_invalid".into())
    );

    let commit = Commit {
        access: Access::Roles {
            role_ids: vec![c.role("Provider").await],
        },
        location_id: None,
        send_at: None,
        notifications: vec![],
    };
    import::commit(&c.app, &c.admin, id, &commit, &c.meta())
        .await
        .unwrap();
    c.finished(id).await;
    let tia = c.user_by_email("tia@alpha.example").await.unwrap();
    let ugo = c.user_by_email("ugo@alpha.example").await.unwrap();
    let leaving = profile::get(&c.app, &c.admin, tia.id).await.unwrap();
    // Access ends as tomorrow ends, in the clinic's zone.
    assert_eq!(
        leaving
            .leaving_micros
            .map(|at| rollcall_app::clock::local(at, &zone)[..16].to_string()),
        Some(format!("{} 00:00", day(2)))
    );
    assert_eq!(
        profile::get(&c.app, &c.admin, ugo.id)
            .await
            .unwrap()
            .leaving_micros,
        None
    );

    // Two days on, the round ends Tia's access (still pending: her invitation dies with it).
    c.app.clock.advance_minutes(2 * 24 * 60 + 1);
    assert_eq!(
        leaving::deactivate_leavers(&c.app)
            .await
            .unwrap()
            .deactivated,
        1
    );
    assert_eq!(c.user(tia.id).await.status, UserStatus::Inactive);
    assert_eq!(c.user(ugo.id).await.status, UserStatus::Pending);
}
