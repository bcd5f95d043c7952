//! Emergency ("break-glass") access below HTTP, on SQLite and PostgreSQL with a moved clock: a
//! designated person takes access at once (judged by the rule engine, shown as emergency on the
//! profile), the company admins get a message, the access ends at expiry exactly once even with
//! two processes after a restart, and a company admin reviews every use afterwards.

mod common;

use common::fixtures::{Clinic, clinic, json};
use rollcall_app::access::emergency::grant::{self, EmergencyRequest};
use rollcall_app::access::emergency::review::{self, Decision, GrantFilter, ReviewDecision};
use rollcall_app::access::emergency::settings::{self, EmergencySettingsChange};
use rollcall_app::access::emergency::{EmergencyGrant, expiry};
use rollcall_app::access::profile;
use rollcall_app::audit::Meta;
use rollcall_app::domain::emergency::ReviewState;
use rollcall_app::domain::{Path, Permission};
use rollcall_app::{App, AppError, Config, Principal, delivery, upkeep};
use rollcall_store::mailbox;
use rollcall_store::testing::TestDb;

rollcall_store::engine_tests!(
    emergency_access_is_granted_at_once_and_ends_once_across_a_restart,
    what_emergency_access_refuses_changes_nothing,
    every_use_is_reviewed_afterwards_by_a_company_admin,
);

/// Providers are designated; four hours at most.
async fn designate_providers(c: &Clinic) {
    let change = EmergencySettingsChange {
        role: Some("Provider".into()),
        max_minutes: Some(240),
    };
    let saved = settings::update(&c.app, &c.admin, &change, &c.meta())
        .await
        .unwrap();
    assert_eq!(saved.role_name.as_deref(), Some("Provider"));
}

fn refunds_at_northside(minutes: i64) -> EmergencyRequest {
    EmergencyRequest {
        permission: Some("billing.refunds".into()),
        location: Some("NS".into()),
        reason: "Refund for a patient at Northside, billing desk closed".into(),
        minutes: Some(minutes),
    }
}

async fn take(
    c: &Clinic,
    who: &Principal,
    req: &EmergencyRequest,
) -> Result<EmergencyGrant, AppError> {
    grant::grant(&c.app, who, req, Path::Console, &Meta::of(who, None, None)).await
}

async fn designated_pat(c: &Clinic) -> Principal {
    designate_providers(c).await;
    c.active_staff("pat@alpha.example", ("Pat", "Chen"), "Provider", "PT")
        .await
}

async fn emergency_access_is_granted_at_once_and_ends_once_across_a_restart(t: TestDb) {
    let c = clinic(t).await;
    let pat = designated_pat(&c).await;

    let g = take(&c, &pat, &refunds_at_northside(60)).await.unwrap();
    assert!(g.live);
    assert_eq!(g.review_state, ReviewState::Open);

    // In effect at once, and shown as emergency access on the profile.
    let now = Principal::of_user(&c.app, c.org.id, pat.user_id)
        .await
        .unwrap()
        .unwrap();
    assert!(now.permissions.contains(&Permission::BillingRefunds));
    assert!(now.locations.contains(&c.northside.id));
    let p = profile::get(&c.app, &c.admin, pat.user_id).await.unwrap();
    let refunds = p
        .effective
        .iter()
        .find(|e| e.key == "billing.refunds")
        .unwrap();
    let source = refunds.sources[0].to_string();
    assert!(source.starts_with("emergency access until"), "{source}");
    let northside = p.locations.iter().find(|l| l.id == c.northside.id).unwrap();
    assert!(northside.granted && northside.emergency_until.is_some());

    // Audited, and the company admin is told at once.
    let granted = c.events("emergency_access.granted").await;
    assert_eq!(granted.len(), 1);
    assert_eq!(
        json(&granted[0].event.after)["permission"],
        "billing.refunds"
    );
    delivery::drain_once(&c.app).await.unwrap();
    let mut conn = c.app.db().read_conn().await.unwrap();
    let mail = mailbox::list(&mut conn, Some(c.org.id), Some("ana@alpha.example"), 5)
        .await
        .unwrap();
    drop(conn);
    let notice = mail
        .iter()
        .find(|m| m.subject == "Emergency access used by Pat Chen")
        .expect("the company admin is told");
    assert!(
        notice.body_text.contains("Refund for a patient"),
        "{}",
        notice.body_text
    );

    // Not yet due: nothing ends.
    assert_eq!(expiry::end_expired(&c.app).await.unwrap(), 0);

    // An hour later, after a restart, two processes run their rounds at once: it ends once.
    c.app.clock.advance_minutes(61);
    let restarted = App::with_db(
        c.app.db().clone(),
        Config::for_tests(c.db.url()),
        c.app.clock.clone(),
    );
    let (one, round) = tokio::join!(expiry::end_expired(&c.app), upkeep::run_once(&restarted));
    assert_eq!(one.unwrap() + round.emergency_ended, 1);
    assert_eq!(expiry::end_expired(&restarted).await.unwrap(), 0);
    assert_eq!(upkeep::run_once(&c.app).await.emergency_ended, 0);
    let ended = c.events("emergency_access.ended").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].event.target_id, Some(pat.user_id));

    // Exactly what it gave is gone; what Pat had otherwise stays.
    let after = Principal::of_user(&c.app, c.org.id, pat.user_id)
        .await
        .unwrap()
        .unwrap();
    assert!(!after.permissions.contains(&Permission::BillingRefunds));
    assert!(!after.locations.contains(&c.northside.id));
    assert!(after.permissions.contains(&Permission::ClinicalCharts));
    assert!(after.locations.contains(&c.downtown.id));
    let g = review::get(&c.app, &c.admin, g.id).await.unwrap();
    assert!(!g.live && g.ended_at.is_some());
    // Ended, it still waits for its review.
    assert_eq!(g.review_state, ReviewState::Open);
}

async fn what_emergency_access_refuses_changes_nothing(t: TestDb) {
    let c = clinic(t).await;
    let pat = designated_pat(&c).await;
    let refused = |r: Result<EmergencyGrant, AppError>| r.unwrap_err();
    let codes = |e: &AppError| match e {
        AppError::Invalid(v) => vec![v.code],
        AppError::InvalidFields(all) => all.iter().map(|v| v.code).collect(),
        other => panic!("{other:?}"),
    };

    // Every field that is wrong, at once.
    let bad = EmergencyRequest {
        permission: Some("admin.company".into()),
        location: Some("Atlantis".into()),
        reason: "because".into(),
        minutes: Some(241),
    };
    let e = refused(take(&c, &pat, &bad).await);
    assert_eq!(
        codes(&e),
        [
            "emergency_permission_not_allowed",
            "location_unknown",
            "emergency_reason_missing",
            "emergency_duration_range"
        ]
    );
    let nothing = EmergencyRequest {
        reason: "A patient waits in the lobby".into(),
        ..Default::default()
    };
    assert_eq!(
        codes(&refused(take(&c, &pat, &nothing).await)),
        ["emergency_access_empty"]
    );

    // Access already held is not emergency access.
    let held = EmergencyRequest {
        permission: Some("clinical.charts".into()),
        location: Some("DT".into()),
        reason: "A patient waits in the lobby".into(),
        minutes: None,
    };
    assert_eq!(
        codes(&refused(take(&c, &pat, &held).await)),
        [
            "emergency_access_already_held",
            "emergency_access_already_held"
        ]
    );

    // The rule engine: an assistant cannot finish SOAP notes, emergency or not.
    let sam = c
        .active_staff("sam@alpha.example", ("Sam", "Ruiz"), "Provider", "PTA")
        .await;
    let finish = EmergencyRequest {
        permission: Some("soap.finish".into()),
        reason: "Sign off the notes of a discharged patient".into(),
        ..Default::default()
    };
    match take(&c, &sam, &finish).await.unwrap_err() {
        AppError::Refused(why) => {
            assert_eq!(why.rule.code(), "rule_2_no_soap_finish_for_supervised")
        }
        other => panic!("{other:?}"),
    }

    // Someone not designated, and the operator, are refused.
    let fay = c
        .active_staff(
            "fay@alpha.example",
            ("Fay", "Ng"),
            "Front Desk",
            "front_desk",
        )
        .await;
    assert!(matches!(
        take(&c, &fay, &refunds_at_northside(30)).await,
        Err(AppError::Forbidden(_))
    ));
    let operator = Principal::operator(&c.app, c.org.id, "test").await.unwrap();
    assert!(matches!(
        take(&c, &operator, &refunds_at_northside(30)).await,
        Err(AppError::Forbidden(_))
    ));

    // Nothing was written.
    assert!(c.events("emergency_access.granted").await.is_empty());
    let all = review::list(&c.app, &c.admin, &GrantFilter::default())
        .await
        .unwrap();
    assert!(all.is_empty());
    let p = Principal::of_user(&c.app, c.org.id, sam.user_id)
        .await
        .unwrap()
        .unwrap();
    assert!(!p.locations.contains(&c.northside.id));
}

async fn every_use_is_reviewed_afterwards_by_a_company_admin(t: TestDb) {
    let c = clinic(t).await;
    let pat = designated_pat(&c).await;
    let g = take(&c, &pat, &refunds_at_northside(30)).await.unwrap();
    assert_eq!(review::open_count(&c.app, &c.admin).await.unwrap(), Some(1));
    assert_eq!(review::open_count(&c.app, &pat).await.unwrap(), None);

    // Pat reads their own uses, and reviews none.
    let own = review::list(&c.app, &pat, &GrantFilter::default())
        .await
        .unwrap();
    assert_eq!(own.len(), 1);
    let accept = ReviewDecision {
        decision: Decision::Accepted,
        note: String::new(),
    };
    assert!(matches!(
        review::review(&c.app, &pat, g.id, &accept, &Meta::of(&pat, None, None)).await,
        Err(AppError::Forbidden(_))
    ));

    // A flag says why; a review is made once.
    let flag = |note: &str| ReviewDecision {
        decision: Decision::Flagged,
        note: note.into(),
    };
    match review::review(&c.app, &c.admin, g.id, &flag(" "), &c.meta()).await {
        Err(AppError::Invalid(e)) => assert_eq!(e.code, "review_note_missing"),
        other => panic!("{other:?}"),
    }
    let reviewed = review::review(
        &c.app,
        &c.admin,
        g.id,
        &flag("No refund was due"),
        &c.meta(),
    )
    .await
    .unwrap();
    assert_eq!(reviewed.review_state, ReviewState::Flagged);
    assert_eq!(reviewed.reviewer_name.as_deref(), Some("Ana Silva"));
    assert!(matches!(
        review::review(&c.app, &c.admin, g.id, &accept, &c.meta()).await,
        Err(AppError::Conflict(_))
    ));
    assert_eq!(review::open_count(&c.app, &c.admin).await.unwrap(), Some(0));
    let events = c.events("emergency_access.reviewed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(json(&events[0].event.after)["review"], "flagged");

    // Filters.
    let by_state = |state: ReviewState| GrantFilter {
        review_state: Some(state),
        ..Default::default()
    };
    let flagged = review::list(&c.app, &c.admin, &by_state(ReviewState::Flagged))
        .await
        .unwrap();
    assert_eq!(flagged.len(), 1);
    assert!(
        review::list(&c.app, &c.admin, &by_state(ReviewState::Open))
            .await
            .unwrap()
            .is_empty()
    );
    // The compliance summary counts the use and its review.
    let summary = rollcall_app::compliance::summary(&c.app, &c.admin)
        .await
        .unwrap();
    assert_eq!(
        (
            summary.emergency.grants,
            summary.emergency.flagged,
            summary.emergency.awaiting_review
        ),
        (1, 1, 0)
    );

    // Another organization sees nothing of it.
    let beta = rollcall_app::org::create_org(
        &c.app,
        "beta",
        "Beta Rehab",
        "America/New_York",
        &Meta::system("test"),
    )
    .await
    .unwrap();
    let other = Principal::operator(&c.app, beta.id, "test").await.unwrap();
    assert!(matches!(
        review::get(&c.app, &other, g.id).await,
        Err(AppError::NotFound(_))
    ));
    assert!(matches!(
        review::review(&c.app, &other, g.id, &accept, &Meta::system("test")).await,
        Err(AppError::NotFound(_))
    ));
}
