//! A user's profile below HTTP, on SQLite and PostgreSQL: one edit saved with one audit event,
//! an edit with any refused change refused whole, and where each permission comes from.

mod common;

use std::collections::BTreeSet;

use common::fixtures::{Clinic, clinic, json};
use rollcall_app::AppError;
use rollcall_app::access::profile::{self, Profile, ProfileEdit};
use rollcall_app::domain::{Path, Permission, RuleId};
use rollcall_store::testing::TestDb;
use serde_json::json;
use uuid::Uuid;

rollcall_store::engine_tests!(
    a_valid_edit_is_saved_with_one_audit_event_of_before_and_after,
    an_edit_with_refused_changes_is_refused_whole_and_writes_nothing,
    effective_permissions_say_where_they_come_from,
);

async fn view(c: &Clinic, id: Uuid) -> Profile {
    profile::get(&c.app, &c.admin, id).await.unwrap()
}

async fn save(c: &Clinic, id: Uuid, edit: &ProfileEdit) -> Result<Profile, AppError> {
    profile::update(&c.app, &c.admin, id, edit, None, Path::Console, &c.meta()).await
}

fn granted(p: &Profile) -> Vec<&str> {
    p.locations
        .iter()
        .filter(|l| l.granted)
        .map(|l| l.name.as_str())
        .collect()
}

async fn a_valid_edit_is_saved_with_one_audit_event_of_before_and_after(t: TestDb) {
    let c = clinic(t).await;
    let pat = c
        .invite("pat@alpha.example", "Pat Chen", "Provider", "PT")
        .await;
    let edit = ProfileEdit {
        first_name: Some("Patricia".into()),
        mobile: Some("(415) 555-2671".into()),
        locations: Some([c.downtown.code.clone(), c.northside.name.clone()].into()),
        permissions: Some([Permission::BillingPayments].into()),
        npi: Some("1234567893".into()),
        ..Default::default()
    };
    let saved = save(&c, pat, &edit).await.unwrap();
    assert_eq!(saved.first_name, "Patricia");
    assert_eq!(saved.last_name, "Chen");
    assert_eq!(saved.mobile.as_deref(), Some("+14155552671"));
    assert_eq!(granted(&saved), vec!["Downtown", "Northside"]);
    assert_eq!(saved.direct, vec!["billing.payments"]);
    assert_eq!(saved.provider.npi.as_deref(), Some("1234567893"));
    // What was saved is what is read back.
    let read = view(&c, pat).await;
    assert_eq!(
        (
            read.first_name.as_str(),
            read.direct.clone(),
            granted(&read)
        ),
        (
            "Patricia",
            vec!["billing.payments".to_string()],
            granted(&saved)
        )
    );

    let events = c.events("user.updated").await;
    assert_eq!(events.len(), 1);
    let e = &events[0].event;
    assert_eq!(e.target_id, Some(pat));
    assert_eq!(e.actor_id, Some(c.admin.user_id));
    let (before, after) = (json(&e.before), json(&e.after));
    assert_eq!(before["first_name"], "Pat");
    assert_eq!(after["first_name"], "Patricia");
    assert_eq!(before["mobile"], json!(null));
    assert_eq!(after["mobile"], "+14155552671");
    assert_eq!(before["locations"], json!(["Downtown"]));
    assert_eq!(after["locations"], json!(["Downtown", "Northside"]));
    assert_eq!(before["permissions"], json!([]));
    assert_eq!(after["permissions"], json!(["billing.payments"]));
    assert_eq!(before["provider"]["npi"], json!(null));
    assert_eq!(after["provider"]["npi"], "1234567893");
    // Only what changed is recorded.
    assert!(before.get("last_name").is_none() && after.get("user_type").is_none());

    // Saving the same values again changes nothing and records nothing.
    save(&c, pat, &edit).await.unwrap();
    assert_eq!(c.events("user.updated").await.len(), 1);
}

async fn an_edit_with_refused_changes_is_refused_whole_and_writes_nothing(t: TestDb) {
    let c = clinic(t).await;
    let casey = c
        .invite(
            "casey@alpha.example",
            "Casey Ruiz",
            "Front Desk",
            "Clerical",
        )
        .await;
    let before = view(&c, casey).await;

    // Two changes the rules refuse, next to a name change they would allow.
    let edit = ProfileEdit {
        first_name: Some("Cassandra".into()),
        default_location: Some(c.northside.id.to_string()),
        permissions: Some([Permission::SoapStart].into()),
        ..Default::default()
    };
    let err = save(&c, casey, &edit).await.unwrap_err();
    let AppError::Refused(why) = &err else {
        panic!("expected a refusal, got {err:?}");
    };
    assert_eq!(why.rule, RuleId::DefaultLocationKept);
    assert_eq!(
        why.message,
        "Rule 5: Casey Ruiz does not have access to Northside, so it cannot be their default location; give them access to it first. \
         Rule 1: Casey Ruiz is a Clerical user; clerical and billing staff cannot hold SOAP note permissions (Start SOAP notes)."
    );

    // A mistyped NPI refuses the edit before any rule is asked.
    let edit = ProfileEdit {
        first_name: Some("Cassandra".into()),
        npi: Some("1234567890".into()),
        ..Default::default()
    };
    let err = save(&c, casey, &edit).await.unwrap_err();
    let AppError::Invalid(bad) = &err else {
        panic!("expected the NPI to be refused, got {err:?}");
    };
    assert_eq!((bad.field, bad.code), ("npi", "npi_invalid_check_digit"));

    let after = view(&c, casey).await;
    assert_eq!(after.first_name, "Casey");
    assert_eq!(after.default_location, before.default_location);
    assert_eq!(after.default_location, Some(c.downtown.id));
    assert!(after.direct.is_empty());
    assert_eq!(after.provider.npi, None);
    assert!(c.events("user.updated").await.is_empty());
}

async fn effective_permissions_say_where_they_come_from(t: TestDb) {
    let c = clinic(t).await;
    let avery = c
        .invite("avery@alpha.example", "Avery Stone", "Provider", "PTA")
        .await;
    let edit = ProfileEdit {
        permissions: Some([Permission::CalendarView, Permission::BillingPayments].into()),
        ..Default::default()
    };
    save(&c, avery, &edit).await.unwrap();

    let p = view(&c, avery).await;
    let sources = |key: &str| -> Vec<String> {
        p.effective
            .iter()
            .find(|e| e.key == key)
            .unwrap_or_else(|| panic!("{key} is not in effect: {:?}", p.effective))
            .sources
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(sources("calendar.view"), vec!["direct", "Provider"]);
    assert_eq!(sources("billing.payments"), vec!["direct"]);
    assert_eq!(sources("soap.start"), vec!["Provider"]);
    let in_effect: BTreeSet<&str> = p.effective.iter().map(|e| e.key.as_str()).collect();
    assert!(!in_effect.contains("soap.finish"), "{in_effect:?}");
    let provider_role = c.role("Provider").await;
    assert!(
        p.roles
            .iter()
            .any(|r| r.id == provider_role && r.member && r.name == "Provider")
    );

    // The role's grant that an assistant cannot hold is shown apart, with the rule that filters it.
    assert_eq!(p.filtered.len(), 1, "{:?}", p.filtered);
    let f = &p.filtered[0];
    assert_eq!(f.key, "soap.finish");
    assert_eq!(
        f.sources
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        vec!["Provider"]
    );
    assert_eq!(f.rule, "rule_2_no_soap_finish_for_supervised");
    assert_eq!(
        f.reason,
        "Rule 2: Avery Stone is a PTA user; assistants and students cannot finish SOAP notes, so “Finish SOAP notes” is not in effect for them."
    );
}
