use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use uuid::Uuid;

use super::*;
use crate::permission::Permission::{self, *};

const DOWNTOWN: Uuid = Uuid::from_u128(1);
const UPTOWN: Uuid = Uuid::from_u128(2);
const ELSEWHERE: Uuid = Uuid::from_u128(3);

fn names() -> BTreeMap<Uuid, String> {
    BTreeMap::from([
        (DOWNTOWN, "Downtown Clinic".to_owned()),
        (UPTOWN, "Uptown Clinic".to_owned()),
        (ELSEWHERE, "Lakeside Clinic".to_owned()),
    ])
}

fn set<T: Ord + Clone>(items: &[T]) -> BTreeSet<T> {
    items.iter().cloned().collect()
}

/// A user manager at Downtown and Uptown who holds the calendar and SOAP permissions.
fn manager() -> Actor {
    Actor {
        user_id: Uuid::from_u128(100),
        permissions: set(&[
            UsersManage,
            UsersView,
            CalendarView,
            CalendarCreate,
            SoapStart,
            SoapForward,
            SoapFinish,
            AdminClinic,
        ]),
        locations: set(&[DOWNTOWN, UPTOWN]),
    }
}

fn company_admin() -> Actor {
    Actor {
        user_id: Uuid::from_u128(101),
        permissions: set(&[AdminCompany]),
        locations: set(&[DOWNTOWN, UPTOWN, ELSEWHERE]),
    }
}

fn viewer() -> Actor {
    Actor {
        user_id: Uuid::from_u128(102),
        permissions: set(&[UsersView, CalendarView]),
        locations: set(&[DOWNTOWN]),
    }
}

fn user(name: &str, user_type: &str) -> Subject {
    Subject {
        user_id: Uuid::from_u128(200),
        display_name: name.to_owned(),
        user_type: Some(user_type.to_owned()),
        active: true,
        default_location: Some(DOWNTOWN),
        locations: set(&[DOWNTOWN]),
        ..Subject::default()
    }
}

fn check(actor: &Actor, subject: &Subject, change: Change) -> Result<(), Refusal> {
    Policy::standard().check(actor, subject, &change, Path::Console, None, &names())
}

fn refused(result: Result<(), Refusal>) -> (RuleId, &'static str, String) {
    let r = result.expect_err("the change should be refused");
    (r.rule, r.code, r.message)
}

// Rule 1 and 2: forbidden pairings of user type and permission.

#[test]
fn rule_1_refuses_soap_permissions_to_billing_and_clerical() {
    let dana = user("Dana Lee", "billing");
    let (rule, code, message) =
        refused(check(&manager(), &dana, Change::GrantPermission(SoapStart)));
    assert_eq!(
        (rule, code),
        (
            RuleId::NoSoapForNonClinical,
            "rule_1_no_soap_for_non_clinical"
        )
    );
    assert_eq!(
        message,
        "Rule 1: Dana Lee is a Billing user; clerical and billing staff cannot hold SOAP note permissions (Start SOAP notes)."
    );
    for p in [SoapStart, SoapForward, SoapFinish] {
        let r = check(
            &manager(),
            &user("Cy", "clerical"),
            Change::GrantPermission(p),
        );
        assert_eq!(refused(r).0, RuleId::NoSoapForNonClinical);
    }
    check(&manager(), &dana, Change::GrantPermission(CalendarView)).unwrap();
    check(
        &manager(),
        &user("Fred", "front_desk"),
        Change::GrantPermission(SoapStart),
    )
    .unwrap();
}

#[test]
fn rule_2_refuses_soap_finish_to_assistants_and_students() {
    for t in ["pta", "cota", "slpa", "rtt", "spt", "sot", "sslp"] {
        let sam = user("Sam Roe", t);
        let (rule, _, message) =
            refused(check(&manager(), &sam, Change::GrantPermission(SoapFinish)));
        assert_eq!(rule, RuleId::NoSoapFinishForSupervised, "{t}");
        assert!(message.starts_with("Rule 2: Sam Roe is "), "{message}");
        assert!(message.contains("(Finish SOAP notes)"), "{message}");
        check(&manager(), &sam, Change::GrantPermission(SoapStart)).unwrap();
    }
    for t in ["pt", "ot", "slp", "physician", "np"] {
        check(
            &manager(),
            &user("Pat", t),
            Change::GrantPermission(SoapFinish),
        )
        .unwrap();
    }
    let r = check(
        &manager(),
        &user("Al", "pta"),
        Change::GrantPermission(SoapFinish),
    );
    assert!(refused(r).2.contains("is a PTA user"));
    let r = check(
        &manager(),
        &user("Al", "slpa"),
        Change::GrantPermission(SoapFinish),
    );
    assert!(refused(r).2.contains("is an SLPA user"));
}

#[test]
fn forbidden_for_type_reads_the_tags() {
    let policy = Policy::standard();
    assert_eq!(
        policy.forbidden_for_type(Some("billing"), SoapStart),
        Some(RuleId::NoSoapForNonClinical)
    );
    assert_eq!(
        policy.forbidden_for_type(Some("billing"), SoapFinish),
        Some(RuleId::NoSoapForNonClinical)
    );
    assert_eq!(
        policy.forbidden_for_type(Some("PTA"), SoapFinish),
        Some(RuleId::NoSoapFinishForSupervised)
    );
    assert_eq!(policy.forbidden_for_type(Some("pta"), SoapForward), None);
    assert_eq!(policy.forbidden_for_type(Some("pt"), SoapFinish), None);
    assert_eq!(policy.forbidden_for_type(None, SoapFinish), None);
    assert_eq!(policy.forbidden_for_type(Some("unknown"), SoapFinish), None);
}

#[test]
fn rules_are_data_an_organization_can_extend() {
    let mut policy = Policy::standard();
    let front_desk = policy
        .user_types
        .iter_mut()
        .find(|t| t.code == "front_desk")
        .unwrap();
    front_desk.tags.insert("non_clinical".to_owned());
    let fred = user("Fred", "front_desk");
    let r = policy.check(
        &manager(),
        &fred,
        &Change::GrantPermission(SoapStart),
        Path::Api,
        None,
        &names(),
    );
    assert_eq!(refused(r).0, RuleId::NoSoapForNonClinical);
}

#[test]
fn changing_the_type_is_refused_while_a_direct_grant_clashes() {
    let mut kim = user("Kim Ito", "pt");
    kim.direct.insert(SoapFinish);
    let (rule, _, message) = refused(check(&manager(), &kim, Change::SetUserType("pta".into())));
    assert_eq!(rule, RuleId::NoSoapFinishForSupervised);
    assert!(
        message.contains("Kim Ito holds “Finish SOAP notes”"),
        "{message}"
    );
    assert!(message.contains("cannot become a PTA user"), "{message}");
    assert_eq!(
        refused(check(
            &manager(),
            &kim,
            Change::SetUserType("Billing".into())
        ))
        .0,
        RuleId::NoSoapForNonClinical
    );

    // A role grant does not block the change: it is filtered for the new type instead.
    let mut kim = user("Kim Ito", "pt");
    kim.role_permissions.insert(SoapFinish);
    check(&manager(), &kim, Change::SetUserType("pta".into())).unwrap();
}

#[test]
fn effective_permissions_filter_role_grants_and_say_why() {
    let policy = Policy::standard();
    let mut al = user("Al Park", "pta");
    al.role_permissions = set(&[SoapStart, SoapForward, SoapFinish, CalendarView]);
    al.direct = set(&[ClinicalNotes]);
    let (kept, filtered) = policy.effective(&al, &names());
    assert_eq!(
        kept,
        set(&[CalendarView, ClinicalNotes, SoapStart, SoapForward])
    );
    assert_eq!(filtered.len(), 1);
    let (p, why) = &filtered[0];
    assert_eq!(*p, SoapFinish);
    assert_eq!(why.rule, RuleId::NoSoapFinishForSupervised);
    assert_eq!(why.user_id, al.user_id);
    assert!(
        why.message.starts_with("Rule 2: Al Park is a PTA user"),
        "{}",
        why.message
    );
    assert!(
        why.message.contains("“Finish SOAP notes” is not in effect"),
        "{}",
        why.message
    );

    let mut pat = user("Pat", "pt");
    pat.role_permissions = set(&[SoapFinish]);
    assert_eq!(
        policy.effective(&pat, &names()),
        (set(&[SoapFinish]), vec![])
    );
}

#[test]
fn a_role_edit_is_filtered_rather_than_refused() {
    let policy = Policy::standard();
    let al = user("Al Park", "pta");
    let plan = policy.plan(
        &manager(),
        &al,
        &[Change::GrantPermission(SoapFinish)],
        Path::RoleEdit,
        None,
        &names(),
    );
    assert_eq!(plan.applied, [Change::GrantPermission(SoapFinish)]);
    assert_eq!(plan.after.role_permissions, set(&[SoapFinish]));
    assert!(plan.after.direct.is_empty());
    assert!(policy.effective(&plan.after, &names()).0.is_empty());
    // Escalation still counts on a role edit.
    let r = policy.check(
        &manager(),
        &al,
        &Change::GrantPermission(BillingRefunds),
        Path::RoleEdit,
        None,
        &names(),
    );
    assert_eq!(refused(r).1, "rule_4_escalation");
}

// Rule 3: admins are kept.

#[test]
fn rule_3_bulk_update_cannot_remove_admin_rights() {
    let policy = Policy::standard();
    let mut ann = user("Ann Wu", "administrator");
    ann.direct = set(&[AdminClinic, AdminCompany, CalendarView]);
    for p in [AdminClinic, AdminCompany] {
        let r = policy.check(
            &company_admin(),
            &ann,
            &Change::RevokePermission(p),
            Path::BulkUpdate,
            None,
            &names(),
        );
        let (rule, code, message) = refused(r);
        assert_eq!(
            (rule, code),
            (RuleId::KeepAdmins, "rule_3_bulk_keeps_admin")
        );
        assert!(
            message.contains(p.label()) && message.contains("Ann Wu"),
            "{message}"
        );
        policy
            .check(
                &company_admin(),
                &ann,
                &Change::RevokePermission(p),
                Path::Console,
                None,
                &names(),
            )
            .unwrap();
    }
    policy
        .check(
            &company_admin(),
            &ann,
            &Change::RevokePermission(CalendarView),
            Path::BulkUpdate,
            None,
            &names(),
        )
        .unwrap();
}

fn clinic_admin(id: u128, name: &str, at: &[Uuid]) -> Subject {
    Subject {
        user_id: Uuid::from_u128(id),
        display_name: name.to_owned(),
        user_type: Some("administrator".into()),
        active: true,
        default_location: at.first().copied(),
        locations: set(at),
        direct: set(&[AdminClinic, UsersManage]),
        role_permissions: BTreeSet::new(),
    }
}

#[test]
fn rule_3_keeps_the_last_clinic_admin_of_a_location() {
    let policy = Policy::standard();
    let ann = clinic_admin(1, "Ann Wu", &[UPTOWN, DOWNTOWN]);
    let bo = clinic_admin(2, "Bo Chan", &[UPTOWN]);
    let census = policy.census([&ann, &bo]);
    assert_eq!(
        census.clinic_admins,
        BTreeMap::from([(DOWNTOWN, 1), (UPTOWN, 2)])
    );

    let check = |change: Change| {
        policy.check(
            &company_admin(),
            &ann,
            &change,
            Path::Console,
            Some(&census),
            &names(),
        )
    };
    for change in [
        Change::RevokePermission(AdminClinic),
        Change::RevokeLocation(DOWNTOWN),
        Change::Deactivate,
    ] {
        let (rule, code, message) = refused(check(change.clone()));
        assert_eq!(
            (rule, code),
            (RuleId::KeepAdmins, "rule_3_last_clinic_admin"),
            "{change:?}"
        );
        assert_eq!(
            message,
            "Rule 3: Ann Wu is the last active clinic admin of Downtown Clinic, so this change would leave it without one; make someone else a clinic admin there first."
        );
    }
    // Uptown keeps Bo, so Ann may leave it.
    let mut ann_based_downtown = ann.clone();
    ann_based_downtown.default_location = Some(DOWNTOWN);
    policy
        .check(
            &company_admin(),
            &ann_based_downtown,
            &Change::RevokeLocation(UPTOWN),
            Path::Console,
            Some(&census),
            &names(),
        )
        .unwrap();
    // Without a census only the bulk part of rule 3 applies.
    policy
        .check(
            &company_admin(),
            &ann,
            &Change::Deactivate,
            Path::Console,
            None,
            &names(),
        )
        .unwrap();
    // An inactive admin is not counted, so removing their rights leaves the count unchanged.
    let mut idle = ann.clone();
    idle.active = false;
    policy
        .check(
            &company_admin(),
            &idle,
            &Change::RevokePermission(AdminClinic),
            Path::Console,
            Some(&census),
            &names(),
        )
        .unwrap();
}

#[test]
fn rule_3_keeps_the_last_company_admin() {
    let policy = Policy::standard();
    let mut cy = clinic_admin(3, "Cy Diaz", &[DOWNTOWN]);
    cy.direct = set(&[AdminCompany]);
    let census = policy.census([&cy]);
    assert_eq!(census.company_admins, 1);
    for change in [Change::RevokePermission(AdminCompany), Change::Deactivate] {
        let r = policy.check(
            &company_admin(),
            &cy,
            &change,
            Path::Api,
            Some(&census),
            &names(),
        );
        assert_eq!(refused(r).1, "rule_3_last_company_admin");
    }
    let mut two = census.clone();
    two.company_admins = 2;
    policy
        .check(
            &company_admin(),
            &cy,
            &Change::Deactivate,
            Path::Api,
            Some(&two),
            &names(),
        )
        .unwrap();
}

#[test]
fn rule_3_census_follows_a_bulk_run_from_user_to_user() {
    let policy = Policy::standard();
    let ann = clinic_admin(1, "Ann Wu", &[UPTOWN, DOWNTOWN]);
    let bo = clinic_admin(2, "Bo Chan", &[UPTOWN, DOWNTOWN]);
    let mut census = policy.census([&ann, &bo]);
    let leave_downtown = [Change::RevokeLocation(DOWNTOWN)];
    let mut outcomes = Vec::new();
    for subject in [&ann, &bo] {
        let plan = policy.plan(
            &company_admin(),
            subject,
            &leave_downtown,
            Path::BulkUpdate,
            Some(&census),
            &names(),
        );
        policy.update_census(&mut census, subject, &plan.after);
        outcomes.push(plan.refused.len());
    }
    // Ann's default is Uptown so she may leave Downtown; Bo is then its last admin.
    assert_eq!(outcomes, [0, 1]);
    assert_eq!(census.clinic_admins_at(DOWNTOWN), 1);
}

// Rule 4: the actor's scope.

#[test]
fn rule_4_locations_outside_the_actor_scope() {
    let dana = user("Dana Lee", "pt");
    for change in [
        Change::GrantLocation(ELSEWHERE),
        Change::RevokeLocation(ELSEWHERE),
        Change::SetDefaultLocation(ELSEWHERE),
    ] {
        let mut dana = dana.clone();
        dana.locations.insert(ELSEWHERE);
        let (rule, code, message) = refused(check(&manager(), &dana, change.clone()));
        assert_eq!(
            (rule, code),
            (RuleId::ActorScope, "rule_4_location_out_of_scope"),
            "{change:?}"
        );
        assert!(
            message.contains("Lakeside Clinic") && message.contains("Dana Lee"),
            "{message}"
        );
    }
    let (_, _, message) = refused(check(&manager(), &dana, Change::GrantLocation(ELSEWHERE)));
    assert_eq!(
        message,
        "Rule 4: you do not have access to Lakeside Clinic, so you cannot give Dana Lee access to it."
    );
    check(&manager(), &dana, Change::GrantLocation(UPTOWN)).unwrap();
    check(&company_admin(), &dana, Change::GrantLocation(ELSEWHERE)).unwrap();
}

#[test]
fn rule_4_no_escalation() {
    let dana = user("Dana Lee", "billing");
    let (rule, code, message) = refused(check(
        &manager(),
        &dana,
        Change::GrantPermission(BillingRefunds),
    ));
    assert_eq!((rule, code), (RuleId::ActorScope, "rule_4_escalation"));
    assert_eq!(
        message,
        "Rule 4: you do not hold “Issue refunds” yourself, so you cannot grant it to Dana Lee."
    );
    let mut cashier_manager = manager();
    cashier_manager.permissions.insert(BillingRefunds);
    check(
        &cashier_manager,
        &dana,
        Change::GrantPermission(BillingRefunds),
    )
    .unwrap();
    check(
        &company_admin(),
        &dana,
        Change::GrantPermission(BillingRefunds),
    )
    .unwrap();
    check(
        &company_admin(),
        &dana,
        Change::GrantPermission(AdminCompany),
    )
    .unwrap();
    assert_eq!(
        refused(check(
            &manager(),
            &dana,
            Change::GrantPermission(AdminCompany)
        ))
        .1,
        "rule_4_escalation"
    );
    // Removing is not escalation.
    let mut with_refunds = dana.clone();
    with_refunds.direct.insert(BillingRefunds);
    check(
        &manager(),
        &with_refunds,
        Change::RevokePermission(BillingRefunds),
    )
    .unwrap();
}

#[test]
fn rule_4_users_outside_the_actor_scope() {
    let mut far = user("Lou Fenn", "pt");
    far.locations = set(&[ELSEWHERE]);
    far.default_location = Some(ELSEWHERE);
    let (rule, code, _) = refused(check(
        &manager(),
        &far,
        Change::GrantPermission(CalendarView),
    ));
    assert_eq!(
        (rule, code),
        (RuleId::ActorScope, "rule_4_user_out_of_scope")
    );
    check(
        &company_admin(),
        &far,
        Change::GrantPermission(CalendarView),
    )
    .unwrap();
    // A new account has no location yet and is in everyone's scope.
    let mut new = user("New Person", "pt");
    new.locations.clear();
    new.default_location = None;
    check(&manager(), &new, Change::GrantLocation(DOWNTOWN)).unwrap();
}

// Rule 5: the default location is kept.

#[test]
fn rule_5_default_location_stays_accessible() {
    let mut dana = user("Dana Lee", "pt");
    dana.locations.insert(UPTOWN);
    let (rule, code, message) = refused(check(&manager(), &dana, Change::RevokeLocation(DOWNTOWN)));
    assert_eq!(
        (rule, code),
        (RuleId::DefaultLocationKept, "rule_5_default_location_kept")
    );
    assert!(
        message.contains("Downtown Clinic is Dana Lee's default location"),
        "{message}"
    );
    check(&manager(), &dana, Change::RevokeLocation(UPTOWN)).unwrap();

    let dana = user("Dana Lee", "pt");
    let (_, code, _) = refused(check(&manager(), &dana, Change::SetDefaultLocation(UPTOWN)));
    assert_eq!(code, "rule_5_default_not_accessible");
    let plan = Policy::standard().plan(
        &manager(),
        &dana,
        &[
            Change::GrantLocation(UPTOWN),
            Change::SetDefaultLocation(UPTOWN),
            Change::RevokeLocation(DOWNTOWN),
        ],
        Path::Console,
        None,
        &names(),
    );
    assert!(plan.refused.is_empty(), "{:?}", plan.refused);
    assert_eq!(plan.after.default_location, Some(UPTOWN));
    assert_eq!(plan.after.locations, set(&[UPTOWN]));
}

// Rule 6: viewers change nothing.

#[test]
fn rule_6_viewers_change_nothing() {
    let r = Policy::may_change_users(&viewer()).unwrap_err();
    assert_eq!(
        (r.rule, r.code),
        (RuleId::ViewerReadOnly, "rule_6_viewer_read_only")
    );
    assert!(r.message.contains("view users but not change them"));
    let dana = user("Dana Lee", "pt");
    let r = check(&viewer(), &dana, Change::GrantPermission(CalendarView)).unwrap_err();
    assert_eq!((r.rule, r.user_id), (RuleId::ViewerReadOnly, dana.user_id));
    assert!(Policy::may_change_users(&Actor::default()).is_err());
    for p in [
        UsersManage,
        AdminCompany,
        AdminClinic,
        UsersInvite,
        UsersBulkAdd,
    ] {
        let actor = Actor {
            permissions: set(&[UsersView, p]),
            ..Actor::default()
        };
        Policy::may_change_users(&actor).unwrap();
    }
}

// The plan and the rule ids.

#[test]
fn plan_applies_what_it_may_and_reports_the_rest() {
    let policy = Policy::standard();
    let dana = user("Dana Lee", "billing");
    let changes = [
        Change::GrantPermission(CalendarView),
        Change::GrantPermission(SoapStart),
        Change::GrantPermission(BillingRefunds),
        Change::GrantLocation(UPTOWN),
        Change::GrantLocation(ELSEWHERE),
        Change::RevokeLocation(DOWNTOWN),
    ];
    let plan = policy.plan(
        &manager(),
        &dana,
        &changes,
        Path::BulkUpdate,
        None,
        &names(),
    );
    assert_eq!(
        plan.applied,
        [
            Change::GrantPermission(CalendarView),
            Change::GrantLocation(UPTOWN)
        ]
    );
    let rules: Vec<RuleId> = plan.refused.iter().map(|(_, r)| r.rule).collect();
    assert_eq!(
        rules,
        [
            RuleId::NoSoapForNonClinical,
            RuleId::ActorScope,
            RuleId::ActorScope,
            RuleId::DefaultLocationKept
        ]
    );
    assert_eq!(plan.after.direct, set(&[CalendarView]));
    assert_eq!(plan.after.locations, set(&[DOWNTOWN, UPTOWN]));

    let plan = policy.plan(&viewer(), &dana, &changes, Path::Console, None, &names());
    assert!(plan.applied.is_empty());
    assert!(
        plan.refused
            .iter()
            .all(|(_, r)| r.rule == RuleId::ViewerReadOnly)
    );
    assert_eq!(plan.after, dana);
}

#[test]
fn rule_ids_are_numbered_and_serialize_as_their_code() {
    use serde::de::{Deserialize, IntoDeserializer, value::Error};
    for (i, rule) in RuleId::ALL.into_iter().enumerate() {
        assert_eq!(usize::from(rule.number()), i + 1);
        assert!(rule.code().starts_with(&format!("rule_{}_", i + 1)));
        let back = RuleId::deserialize(IntoDeserializer::<Error>::into_deserializer(rule.code()));
        assert_eq!(back.unwrap(), rule);
    }
}

#[test]
fn names_come_from_maps_or_closures() {
    let by_closure = |id: Uuid| format!("site {}", id.as_u128());
    assert_eq!(by_closure.location_name(UPTOWN), "site 2");
    assert_eq!(names().location_name(UPTOWN), "Uptown Clinic");
    assert!(
        names()
            .location_name(Uuid::from_u128(9))
            .contains("location")
    );
}

// Whatever the actor asks, a plan never breaks the invariants the rules protect.

fn any_change() -> impl Strategy<Value = Change> {
    let permission = proptest::sample::select(Permission::ALL.to_vec());
    let location = proptest::sample::select(vec![DOWNTOWN, UPTOWN, ELSEWHERE]);
    let user_type = proptest::sample::select(vec!["pt", "pta", "billing", "sot", "administrator"]);
    prop_oneof![
        permission.clone().prop_map(Change::GrantPermission),
        permission.prop_map(Change::RevokePermission),
        location.clone().prop_map(Change::GrantLocation),
        location.clone().prop_map(Change::RevokeLocation),
        location.prop_map(Change::SetDefaultLocation),
        user_type.prop_map(|t| Change::SetUserType(t.to_owned())),
        Just(Change::Deactivate),
    ]
}

proptest! {
    #[test]
    fn plans_keep_the_invariants(
        changes in proptest::collection::vec(any_change(), 0..25),
        by_company_admin in any::<bool>(),
        path in proptest::sample::select(vec![Path::Console, Path::BulkUpdate, Path::Api, Path::CsvImport]),
    ) {
        let policy = Policy::standard();
        let actor = if by_company_admin { company_admin() } else { manager() };
        let mut subject = clinic_admin(1, "Ann Wu", &[DOWNTOWN]);
        subject.direct.insert(AdminCompany);
        subject.user_type = Some("pt".into());
        let colleague = clinic_admin(2, "Bo Chan", &[UPTOWN]);
        let census = policy.census([&subject, &colleague]);

        let plan = policy.plan(&actor, &subject, &changes, path, Some(&census), &names());
        let after = &plan.after;
        prop_assert_eq!(plan.applied.len() + plan.refused.len(), changes.len());
        for p in &after.direct {
            prop_assert!(policy.forbidden_for_type(after.user_type.as_deref(), *p).is_none());
            prop_assert!(subject.direct.contains(p) || actor.holds(*p) || actor.holds(AdminCompany));
        }
        if let Some(default) = after.default_location {
            prop_assert!(after.locations.contains(&default));
        }
        if !by_company_admin {
            prop_assert!(after.locations.iter().all(|l| *l != ELSEWHERE));
        }
        if path == Path::BulkUpdate {
            prop_assert!(after.direct.contains(&AdminClinic) && after.direct.contains(&AdminCompany));
        }
        let now = policy.census([after, &colleague]);
        prop_assert!(now.company_admins >= 1);
        prop_assert!(now.clinic_admins_at(DOWNTOWN) >= 1 && now.clinic_admins_at(UPTOWN) >= 1);
    }
}

// Bulk updates: one set of changes planned for each user, tallied into an outcome.

fn bulk(changes: &BulkChanges, subjects: &[Subject]) -> Tally {
    let policy = Policy::standard();
    let mut tally = Tally::default();
    for s in subjects {
        let plan = policy.plan(
            &manager(),
            s,
            &changes.changes(),
            Path::BulkUpdate,
            None,
            &names(),
        );
        tally.add(&plan, plan.after != *s);
    }
    tally
}

#[test]
fn bulk_update_over_a_mixed_selection_is_partially_applied_with_reasons() {
    let changes = BulkChanges {
        grant_permissions: set(&[CalendarCreate, SoapFinish]),
        revoke_permissions: set(&[AdminClinic]),
        grant_locations: set(&[UPTOWN]),
        ..BulkChanges::default()
    };
    let pt = user("Pat Chen", "pt");
    let pta = user("Avery Stone", "pta");
    let clerk = user("Casey Ruiz", "clerical");
    let mut admin = user("Morgan Diaz", "administrator");
    admin.direct = set(&[AdminClinic]);
    let tally = bulk(&changes, &[pt, pta, clerk, admin]);
    assert_eq!(tally.users, 4);
    assert_eq!(tally.outcome(), Outcome::PartiallySucceeded);
    // SOAP finish refused for the assistant (rule 2) and the clerk (rule 1); removing the
    // admin's clinic-admin right refused (rule 3, bulk updates keep admin rights).
    assert_eq!(tally.permission_changes_refused, 3);
    assert_eq!(tally.location_changes_refused, 0);
    assert_eq!(tally.location_changes_applied, 4);
    assert_eq!(tally.users_with_refusals, 3);
    assert_eq!(
        tally.refused_by_rule,
        BTreeMap::from([
            ("rule_1_no_soap_for_non_clinical".to_owned(), 1),
            ("rule_2_no_soap_finish_for_supervised".to_owned(), 1),
            ("rule_3_keep_admins".to_owned(), 1),
        ])
    );
    assert!(
        tally.sentence().starts_with(
            "3 permission changes and 0 location changes were not applied, for 3 of 4 users"
        ),
        "{}",
        tally.sentence()
    );
}

#[test]
fn bulk_update_outcomes() {
    let grant = BulkChanges {
        grant_permissions: set(&[CalendarView]),
        ..BulkChanges::default()
    };
    assert_eq!(
        bulk(&grant, &[user("Pat Chen", "pt")]).outcome(),
        Outcome::Succeeded
    );
    let forbidden = BulkChanges {
        grant_permissions: set(&[SoapStart]),
        ..BulkChanges::default()
    };
    let t = bulk(&forbidden, &[user("Dana Lee", "billing")]);
    assert_eq!(t.outcome(), Outcome::Failed);
    assert!(
        t.sentence().contains("refused all 1 change"),
        "{}",
        t.sentence()
    );
    assert_eq!(bulk(&grant, &[]).outcome(), Outcome::Failed);
}

#[test]
fn bulk_changes_must_ask_for_something_consistent() {
    assert_eq!(
        BulkChanges::default().validate().unwrap_err().code,
        "bulk_update_empty"
    );
    let both = BulkChanges {
        grant_permissions: set(&[CalendarView]),
        revoke_permissions: set(&[CalendarView]),
        ..BulkChanges::default()
    };
    assert_eq!(
        both.validate().unwrap_err().code,
        "bulk_update_contradiction"
    );
}
