//! The inactivity rule below HTTP, on SQLite and PostgreSQL with a moved clock: people idle
//! for the set period are warned once by email, then deactivated; signing in again starts the
//! count afresh; the last admin is flagged instead of deactivated, with the rule's reason; a
//! rule out of range changes nothing.

mod common;

use common::fixtures::{Clinic, clinic, json};
use rollcall_app::AppError;
use rollcall_app::access::inactivity::{self, Inactive};
use rollcall_app::domain::UserStatus;
use rollcall_store::testing::TestDb;
use rollcall_store::{mailbox, orgs, users};

rollcall_store::engine_tests!(
    idle_people_are_warned_once_then_deactivated_and_the_last_admin_flagged,
    a_rule_out_of_range_changes_nothing,
);

const DAY_MINUTES: i64 = 24 * 60;

async fn mail_to(c: &Clinic, email: &str) -> Vec<String> {
    rollcall_app::delivery::drain_once(&c.app).await.unwrap();
    let mut conn = c.app.db().read_conn().await.unwrap();
    mailbox::list(&mut conn, None, Some(email), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.subject)
        .filter(|s| s.contains("to keep your account"))
        .collect()
}

async fn idle_people_are_warned_once_then_deactivated_and_the_last_admin_flagged(t: TestDb) {
    let c = clinic(t).await;
    let pat = c
        .active_staff("pat@alpha.example", ("Pat", "Chen"), "Provider", "PT")
        .await;
    let quinn = c
        .active_staff(
            "quinn@alpha.example",
            ("Quinn", "Ray"),
            "Front Desk",
            "Front desk",
        )
        .await;
    inactivity::set_rule(&c.app, &c.admin, 30, "deactivate", &c.meta())
        .await
        .unwrap();

    // Three weeks on: not yet (the warning goes a week before the end).
    c.app.clock.advance_minutes(22 * DAY_MINUTES);
    assert_eq!(inactivity::run(&c.app).await.unwrap(), Inactive::default());

    // Twenty-four days on: everyone idle is warned, once.
    c.app.clock.advance_minutes(2 * DAY_MINUTES);
    let round = inactivity::run(&c.app).await.unwrap();
    assert_eq!(round.warned, 3, "Ana, Pat and Quinn");
    assert_eq!(inactivity::run(&c.app).await.unwrap(), Inactive::default());
    let warned = mail_to(&c, "pat@alpha.example").await;
    assert_eq!(warned.len(), 1, "{warned:?}");
    assert!(
        warned[0].starts_with("Sign in to Alpha Therapy before"),
        "{warned:?}"
    );
    assert_eq!(c.events("user.inactivity_warned").await.len(), 3);

    // Quinn signs in: the count starts again for her.
    let mut conn = c.app.db().begin().await.unwrap();
    users::record_sign_in(&mut conn, quinn.user_id, c.app.clock.now())
        .await
        .unwrap();
    conn.commit().await.unwrap();

    // Thirty-one days on: Pat is deactivated; Ana, the last company admin, is flagged with the
    // reason; Quinn keeps her access.
    c.app.clock.advance_minutes(7 * DAY_MINUTES);
    let round = inactivity::run(&c.app).await.unwrap();
    assert_eq!((round.deactivated, round.flagged), (1, 1), "{round:?}");
    assert_eq!(c.user(pat.user_id).await.status, UserStatus::Inactive);
    assert_eq!(c.user(quinn.user_id).await.status, UserStatus::Active);
    assert_eq!(c.user(c.admin.user_id).await.status, UserStatus::Active);
    let off = c.events("user.deactivated").await;
    assert_eq!(off.len(), 1);
    assert_eq!(json(&off[0].event.after)["upstream"], "inactivity");
    let flagged = c.events("user.inactivity_flagged").await;
    assert_eq!(flagged.len(), 1);
    assert!(
        json(&flagged[0].event.after)["reason"].is_string(),
        "{:?}",
        flagged[0].event.after
    );
    let summary = rollcall_app::compliance::summary(&c.app, &c.admin)
        .await
        .unwrap();
    let names: Vec<&str> = summary
        .flagged_inactive
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["Ana Silva"]);
    assert_eq!(summary.inactive_after_days, 30);

    // Nothing more to do, however often the round runs.
    assert_eq!(inactivity::run(&c.app).await.unwrap(), Inactive::default());
}

async fn a_rule_out_of_range_changes_nothing(t: TestDb) {
    let c = clinic(t).await;
    let refused = inactivity::set_rule(&c.app, &c.admin, 3, "delete", &c.meta())
        .await
        .unwrap_err();
    let AppError::InvalidFields(errors) = &refused else {
        panic!("{refused:?}");
    };
    let codes: Vec<&str> = errors.iter().map(|e| e.code).collect();
    assert_eq!(codes, ["inactive_days_range", "inactive_action_unknown"]);
    let mut conn = c.app.db().read_conn().await.unwrap();
    let org = orgs::get(&mut conn, c.org.id).await.unwrap().unwrap();
    assert_eq!(org.settings.inactive_after_days, 0);
    // Off again is always accepted.
    drop(conn);
    inactivity::set_rule(&c.app, &c.admin, 0, "flag", &c.meta())
        .await
        .unwrap();
}
