//! Bulk update below HTTP, on SQLite and PostgreSQL: changes applied to a selection with one
//! audit event per changed user, refusals listed with the rule's sentence, viewers refused.

mod common;

use std::time::Duration;

use common::fixtures::{Clinic, clinic, json};
use rollcall_app::AppError;
use rollcall_app::access::bulk_update::{self, BulkUpdateRequest};
use rollcall_app::access::profile;
use rollcall_app::domain::{BulkChanges, JobState, Outcome, Permission, RuleId};
use rollcall_store::jobs::Job;
use rollcall_store::testing::TestDb;
use serde_json::json;
use uuid::Uuid;

rollcall_store::engine_tests!(
    adding_a_permission_and_a_location_changes_every_selected_user,
    a_soap_permission_for_clerical_staff_is_refused_and_the_rest_applied,
    taking_a_clinics_last_admin_away_is_refused,
    a_viewer_cannot_start_a_bulk_update,
);

struct Staff {
    pat: Uuid,
    casey: Uuid,
}

/// A physical therapist and a clerk at Downtown, invited and not yet registered.
async fn staff(c: &Clinic) -> Staff {
    Staff {
        pat: c
            .invite("pat@alpha.example", "Pat Chen", "Provider", "PT")
            .await,
        casey: c
            .invite(
                "casey@alpha.example",
                "Casey Ruiz",
                "Front Desk",
                "Clerical",
            )
            .await,
    }
}

fn request(users: &[Uuid], changes: BulkChanges) -> BulkUpdateRequest {
    BulkUpdateRequest {
        user_ids: users.to_vec(),
        changes: changes.into(),
        ..BulkUpdateRequest::default()
    }
}

async fn run(c: &Clinic, req: &BulkUpdateRequest) -> Job {
    let job = bulk_update::run(
        &c.app,
        &c.admin,
        req,
        None,
        &c.meta(),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert!(job.is_finished(), "a small selection comes back finished");
    job
}

async fn direct_and_locations(c: &Clinic, id: Uuid) -> (Vec<String>, Vec<String>) {
    let p = profile::get(&c.app, &c.admin, id).await.unwrap();
    let at = p
        .locations
        .into_iter()
        .filter(|l| l.granted)
        .map(|l| l.name)
        .collect();
    (p.direct, at)
}

async fn adding_a_permission_and_a_location_changes_every_selected_user(t: TestDb) {
    let c = clinic(t).await;
    let s = staff(&c).await;
    let req = request(
        &[s.pat, s.casey],
        BulkChanges {
            grant_permissions: [Permission::CalendarDelete].into(),
            grant_locations: [c.northside.id].into(),
            ..Default::default()
        },
    );
    let (selected, sample) = bulk_update::preview(&c.app, &c.admin, &req, 10)
        .await
        .unwrap();
    assert_eq!(selected, 2);
    let names: Vec<&str> = sample.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, vec!["Pat Chen", "Casey Ruiz"]);

    let job = run(&c, &req).await;
    assert_eq!(job.state, JobState::Succeeded);
    let (tally, outcome, sentence) = bulk_update::outcome_of(&job);
    assert_eq!(outcome, Outcome::Succeeded);
    assert_eq!(sentence, "Every change was applied to 2 users.");
    assert_eq!((tally.users_changed, tally.applied()), (2, 4));

    for id in [s.pat, s.casey] {
        let (direct, at) = direct_and_locations(&c, id).await;
        assert_eq!(direct, vec!["calendar.delete"]);
        assert_eq!(at, vec!["Downtown", "Northside"]);
    }
    let changed = c.events("user.access_changed").await;
    assert_eq!(changed.len(), 2, "one audit event per changed user");
    let mut targets: Vec<Uuid> = changed.iter().filter_map(|e| e.event.target_id).collect();
    targets.sort();
    let mut expected = vec![s.pat, s.casey];
    expected.sort();
    assert_eq!(targets, expected);
    for e in &changed {
        let after = json(&e.event.after);
        assert_eq!(after["added_permissions"], json!(["calendar.delete"]));
        assert_eq!(after["added_locations"], json!(["Northside"]));
        assert_eq!(after["job"], json!(job.id.to_string()));
    }
    assert!(
        bulk_update::refused(&c.app, &c.admin, job.id, -1, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Asked again, nobody changes: a grant already held writes no event.
    let again = run(&c, &req).await;
    assert_eq!(bulk_update::outcome_of(&again).0.users_changed, 0);
    assert_eq!(c.events("user.access_changed").await.len(), 2);
}

async fn a_soap_permission_for_clerical_staff_is_refused_and_the_rest_applied(t: TestDb) {
    let c = clinic(t).await;
    let s = staff(&c).await;
    let req = request(
        &[s.pat, s.casey],
        BulkChanges {
            grant_permissions: [Permission::SoapStart].into(),
            ..Default::default()
        },
    );
    let job = run(&c, &req).await;
    assert_eq!(job.state, JobState::PartiallySucceeded);
    let (_, outcome, sentence) = bulk_update::outcome_of(&job);
    assert_eq!(outcome, Outcome::PartiallySucceeded);
    assert_eq!(
        sentence,
        "1 permission change and 0 location changes were not applied, for 1 of 2 users; everything else was applied."
    );

    let refused = bulk_update::refused(&c.app, &c.admin, job.id, -1, 10)
        .await
        .unwrap();
    assert_eq!(refused.len(), 1);
    let casey = &refused[0].1;
    assert_eq!(
        (casey.user_id, casey.name.as_str(), casey.email.as_str()),
        (s.casey, "Casey Ruiz", "casey@alpha.example")
    );
    assert_eq!(casey.applied, 0);
    assert_eq!(casey.changes.len(), 1);
    let why = &casey.changes[0];
    assert_eq!(why.change, "add permission “Start SOAP notes”");
    assert_eq!(why.rule, "rule_1_no_soap_for_non_clinical");
    assert_eq!(
        why.message,
        "Rule 1: Casey Ruiz is a Clerical user; clerical and billing staff cannot hold SOAP note permissions (Start SOAP notes)."
    );

    // Pat got it, Casey did not; only Pat's change is in the audit trail.
    assert_eq!(direct_and_locations(&c, s.pat).await.0, vec!["soap.start"]);
    assert!(direct_and_locations(&c, s.casey).await.0.is_empty());
    let changed = c.events("user.access_changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].event.target_id, Some(s.pat));

    let report = bulk_update::report_csv(&c.app, &c.admin, job.id)
        .await
        .unwrap();
    assert!(
        report.contains("Casey Ruiz,casey@alpha.example,add permission “Start SOAP notes”,not applied,rule_1_no_soap_for_non_clinical"),
        "{report}"
    );
}

async fn taking_a_clinics_last_admin_away_is_refused(t: TestDb) {
    let c = clinic(t).await;
    let s = staff(&c).await;
    // Morgan administers Downtown alongside Ana; at Northside, Ana is the only admin.
    let morgan = c
        .active_staff(
            "morgan@alpha.example",
            ("Morgan", "Diaz"),
            "Clinic Admin",
            "Administrator",
        )
        .await;
    let to_northside = request(
        &[s.pat],
        BulkChanges {
            grant_locations: [c.northside.id].into(),
            ..Default::default()
        },
    );
    assert_eq!(run(&c, &to_northside).await.state, JobState::Succeeded);

    let req = request(
        &[c.admin.user_id, s.pat],
        BulkChanges {
            revoke_locations: [c.northside.id].into(),
            ..Default::default()
        },
    );
    let job = run(&c, &req).await;
    assert_eq!(bulk_update::outcome_of(&job).1, Outcome::PartiallySucceeded);
    let refused = bulk_update::refused(&c.app, &c.admin, job.id, -1, 10)
        .await
        .unwrap();
    assert_eq!(refused.len(), 1);
    let ana = &refused[0].1;
    assert_eq!(ana.user_id, c.admin.user_id);
    assert_eq!(ana.changes[0].rule, "rule_3_keep_admins");
    assert_eq!(ana.changes[0].code, "rule_3_last_clinic_admin");
    assert_eq!(
        ana.changes[0].message,
        "Rule 3: Ana Silva is the last active clinic admin of Northside, so this change would leave it without one; make someone else a clinic admin there first."
    );
    assert_eq!(
        direct_and_locations(&c, c.admin.user_id).await.1,
        vec!["Downtown", "Northside"]
    );
    assert_eq!(direct_and_locations(&c, s.pat).await.1, vec!["Downtown"]);

    // A bulk update never takes admin rights away, even where another admin would remain.
    let req = request(
        &[morgan.user_id],
        BulkChanges {
            revoke_permissions: [Permission::AdminClinic].into(),
            ..Default::default()
        },
    );
    let job = run(&c, &req).await;
    assert_eq!(bulk_update::outcome_of(&job).1, Outcome::Failed);
    let refused = bulk_update::refused(&c.app, &c.admin, job.id, -1, 10)
        .await
        .unwrap();
    assert_eq!(refused[0].1.changes[0].code, "rule_3_bulk_keeps_admin");
    assert_eq!(
        refused[0].1.changes[0].message,
        "Rule 3: a bulk update cannot remove “Administer clinics” from Morgan Diaz; change it on their profile instead."
    );
}

async fn a_viewer_cannot_start_a_bulk_update(t: TestDb) {
    let c = clinic(t).await;
    let s = staff(&c).await;
    let viewer = c
        .active_staff(
            "robin@alpha.example",
            ("Robin", "Hale"),
            "Read-only",
            "Clerical",
        )
        .await;
    let req = request(
        &[s.pat],
        BulkChanges {
            grant_permissions: [Permission::CalendarView].into(),
            ..Default::default()
        },
    );
    // A viewer may look at who a selection holds…
    assert_eq!(
        bulk_update::preview(&c.app, &viewer, &req, 5)
            .await
            .unwrap()
            .0,
        1
    );
    // …but not change them.
    let err = bulk_update::start(&c.app, &viewer, &req, None, &c.meta())
        .await
        .unwrap_err();
    let AppError::Refused(why) = &err else {
        panic!("expected rule 6, got {err:?}");
    };
    assert_eq!(why.rule, RuleId::ViewerReadOnly);
    assert_eq!(
        why.message,
        "Rule 6: you can view users but not change them; ask an administrator for the “Manage users” permission."
    );
    assert!(c.events("bulk_update.started").await.is_empty());
    assert!(c.events("user.access_changed").await.is_empty());
    assert!(direct_and_locations(&c, s.pat).await.0.is_empty());
}
