//! Access review campaigns below HTTP, on SQLite and PostgreSQL with a moved clock: each person
//! is reviewed by the clinic admins who reach them; decisions go through the rules (a refusal is
//! kept with the rule's sentence); reminders go out once before the due date; at it the
//! unreviewed are escalated to the company admins, or by the organization's setting lose their
//! elevated permissions; a recurring campaign starts its next one; the evidence exports.

mod common;

use common::fixtures::{Clinic, clinic, json};
use rollcall_app::Principal;
use rollcall_app::access::profile::{self, ProfileEdit};
use rollcall_app::audit::Meta;
use rollcall_app::clock::DAY;
use rollcall_app::domain::Path;
use rollcall_app::reviews::decide::{self, DecisionRequest};
use rollcall_app::reviews::start::NewCampaign;
use rollcall_app::reviews::{self, due, evidence, queue};
use rollcall_store::testing::TestDb;
use uuid::Uuid;

rollcall_store::engine_tests!(
    each_reviewer_sees_whom_they_reach_and_decisions_go_through_the_rules,
    reminders_once_then_escalation_and_the_next_campaign,
    the_due_date_revokes_elevated_permissions_by_setting,
    a_campaign_that_does_not_parse_changes_nothing,
    a_selection_is_judged_with_the_admins_its_earlier_decisions_leave,
);

/// Alpha with Dee (clinic admin, Downtown), Nora (clinic admin, Northside only), Pat (Downtown)
/// and Sam (Northside only).
struct Staff {
    dee: Principal,
    nora: Principal,
    pat: Uuid,
    sam: Uuid,
}

async fn staff(c: &Clinic) -> Staff {
    let dee = c
        .active_staff("dee@alpha.example", ("Dee", "Park"), "Clinic Admin", "PT")
        .await;
    let nora = c
        .active_staff(
            "nora@alpha.example",
            ("Nora", "Reyes"),
            "Clinic Admin",
            "PT",
        )
        .await;
    let pat = c
        .active_staff("pat@alpha.example", ("Pat", "Chen"), "Provider", "PT")
        .await
        .user_id;
    let sam = c
        .active_staff("sam@alpha.example", ("Sam", "Diaz"), "Provider", "PT")
        .await
        .user_id;
    for id in [nora.user_id, sam] {
        move_to_northside(c, id).await;
    }
    let nora = Principal::of_user(&c.app, c.org.id, nora.user_id)
        .await
        .unwrap()
        .unwrap();
    Staff {
        dee,
        nora,
        pat,
        sam,
    }
}

async fn move_to_northside(c: &Clinic, id: Uuid) {
    let edit = ProfileEdit {
        locations: Some(["NS".to_string()].into()),
        default_location: Some("NS".into()),
        ..Default::default()
    };
    profile::update(&c.app, &c.admin, id, &edit, None, Path::Console, &c.meta())
        .await
        .unwrap();
}

fn due_in(c: &Clinic, days: i64) -> String {
    rollcall_app::clock::local(c.app.clock.now() + days * DAY, &c.org.time_zone)[..16].to_string()
}

async fn start(c: &Clinic, days: i64, recurrence: Option<&str>) -> reviews::CampaignView {
    let req = NewCampaign {
        name: "Q1 access review".into(),
        due_date: due_in(c, days),
        recurrence: recurrence.map(str::to_string),
        ..Default::default()
    };
    reviews::start::start(&c.app, &c.admin, &req, &c.meta())
        .await
        .unwrap()
}

async fn queue_of(c: &Clinic, who: &Principal, campaign: Uuid) -> Vec<queue::Card> {
    queue::mine(&c.app, who, campaign, None, Some(200))
        .await
        .unwrap()
        .cards
}

fn ids(cards: &[queue::Card]) -> Vec<Uuid> {
    cards.iter().map(|c| c.item.user_id).collect()
}

async fn each_reviewer_sees_whom_they_reach_and_decisions_go_through_the_rules(t: TestDb) {
    let c = clinic(t).await;
    let s = staff(&c).await;
    let campaign = start(&c, 30, None).await;
    // Ana, Dee, Nora, Pat, Sam.
    assert_eq!(campaign.counts.total, 5);
    assert_eq!(campaign.counts.pending, 5);

    let dees = queue_of(&c, &s.dee, campaign.id).await;
    let noras = queue_of(&c, &s.nora, campaign.id).await;
    assert!(ids(&dees).contains(&s.pat) && !ids(&dees).contains(&s.sam));
    assert!(ids(&noras).contains(&s.sam) && !ids(&noras).contains(&s.pat));
    assert!(
        !ids(&dees).contains(&s.dee.user_id),
        "nobody reviews themself"
    );
    let pat = dees.iter().find(|x| x.item.user_id == s.pat).unwrap();
    let held = &pat.effective[0];
    assert_eq!(held.sources[0].to_string(), "Provider");
    assert_eq!(pat.locations, ["Downtown"]);

    // Dee takes a permission from Pat: his role carrying it goes, through the profile edit.
    let decided = decide::decide(
        &c.app,
        &s.dee,
        campaign.id,
        &DecisionRequest {
            users: vec![s.pat, s.sam],
            decision: "remove_permission".into(),
            permission: Some(held.key.clone()),
            note: Some("Moved to the front desk".into()),
            ..Default::default()
        },
        Path::Console,
        &Meta::of(&s.dee, None, None),
    )
    .await
    .unwrap();
    assert_eq!(decided[0].outcome, "applied", "{decided:?}");
    assert_eq!(decided[1].outcome, "skipped", "Sam is not Dee's to review");
    let after = profile::get(&c.app, &c.admin, s.pat).await.unwrap();
    assert!(after.effective.iter().all(|e| e.key != held.key));
    assert_eq!(
        c.events("user.updated").await[0].event.actor_id,
        Some(s.dee.user_id)
    );

    // Nora removes Northside from Sam: it is his default location, so rule 5 refuses.
    let refused = decide::decide(
        &c.app,
        &s.nora,
        campaign.id,
        &DecisionRequest {
            users: vec![s.sam],
            decision: "remove_location".into(),
            location: Some("NS".into()),
            ..Default::default()
        },
        Path::Console,
        &Meta::of(&s.nora, None, None),
    )
    .await
    .unwrap();
    assert_eq!(refused[0].outcome, "refused");
    assert!(refused[0].message.as_deref().unwrap().starts_with("Rule 5"));
    let again = decide::decide(
        &c.app,
        &s.nora,
        campaign.id,
        &DecisionRequest {
            users: vec![s.sam],
            decision: "keep".into(),
            ..Default::default()
        },
        Path::Console,
        &Meta::of(&s.nora, None, None),
    )
    .await
    .unwrap();
    assert_eq!(again[0].message.as_deref(), Some("Already decided."));

    let record = evidence::json(&c.app, &c.admin, campaign.id).await.unwrap();
    assert_eq!(record.campaign.counts.decided, 2);
    let sam = record.items.iter().find(|i| i.user_id == s.sam).unwrap();
    assert_eq!(sam.outcome.as_deref(), Some("refused"));
    assert_eq!(sam.target.as_deref(), Some("Northside"));
    assert_eq!(sam.decided_by.as_deref(), Some("Nora Reyes"));
    let sheet = evidence::csv(&c.app, &c.admin, campaign.id).await.unwrap();
    assert!(sheet.starts_with("campaign,person,email,state,reviewers"));
    assert!(sheet.contains("Moved to the front desk") && sheet.contains("Rule 5"));
    let events = c.events("access_review.decided").await;
    assert_eq!(events.len(), 2);
    assert_eq!(json(&events[0].event.after)["outcome"], "refused");
    assert_eq!(c.events("access_review.started").await.len(), 1);
}

async fn mails_to(c: &Clinic, email: &str) -> usize {
    rollcall_app::delivery::drain_once(&c.app).await.unwrap();
    let mut conn = c.app.db().read_conn().await.unwrap();
    rollcall_store::mailbox::list(&mut conn, None, Some(email), 100)
        .await
        .unwrap()
        .iter()
        .filter(|m| m.subject.contains("Access review"))
        .count()
}

async fn reminders_once_then_escalation_and_the_next_campaign(t: TestDb) {
    let c = clinic(t).await;
    let s = staff(&c).await;
    let campaign = start(&c, 5, Some("quarterly")).await;
    assert_eq!(due::run(&c.app).await.unwrap(), due::Round::default());

    // Three days before: one reminder per reviewer with people waiting, once.
    c.app.clock.advance_minutes(2 * 24 * 60 + 1);
    let round = due::run(&c.app).await.unwrap();
    assert!(round.reminders >= 3, "{round:?}");
    assert_eq!(due::run(&c.app).await.unwrap().reminders, 0);
    assert_eq!(mails_to(&c, "dee@alpha.example").await, 1);
    assert_eq!(mails_to(&c, "nora@alpha.example").await, 1);

    // At the due date the unreviewed go to the company admins; a quarterly campaign starts
    // the next one.
    c.app.clock.advance_minutes(3 * 24 * 60);
    let round = due::run(&c.app).await.unwrap();
    assert_eq!((round.escalated, round.started), (1, 1), "{round:?}");
    assert_eq!(due::run(&c.app).await.unwrap().escalated, 0);
    let after = reviews::get(&c.app, &c.admin, campaign.id).await.unwrap();
    assert_eq!(after.counts.escalated, 5);
    assert_eq!(after.overdue_action.as_deref(), Some("escalate"));
    let anas = queue_of(&c, &c.admin, campaign.id).await;
    assert!(ids(&anas).contains(&s.pat) && ids(&anas).contains(&s.sam));
    assert_eq!(mails_to(&c, "ana@alpha.example").await, 2);
    let next = reviews::get(&c.app, &c.admin, after.next_campaign_id.unwrap())
        .await
        .unwrap();
    assert_eq!(next.counts.pending, 5);
    assert_eq!(next.recurrence_months, Some(3));
    assert_eq!(c.events("access_review.overdue").await.len(), 1);

    // The compliance summary names the campaign as each clinic's last finished review (nobody
    // decided; its due date ended it), not the next one still open.
    let summary = rollcall_app::compliance::summary(&c.app, &c.admin)
        .await
        .unwrap();
    let downtown = summary.clinics.iter().find(|l| l.code == "DT").unwrap();
    let last = downtown.last_review.as_ref().expect("a finished review");
    assert_eq!((last.campaign_id, last.reviewed), (campaign.id, 0));
}

async fn the_due_date_revokes_elevated_permissions_by_setting(t: TestDb) {
    let c = clinic(t).await;
    let s = staff(&c).await;
    let cal = c
        .active_staff("cal@alpha.example", ("Cal", "Ito"), "Clinic Admin", "PT")
        .await;
    reviews::set_overdue_revokes(&c.app, &c.admin, true, &c.meta())
        .await
        .unwrap();
    let req = NewCampaign {
        name: "Admins".into(),
        due_date: due_in(&c, 2),
        role: Some("Clinic Admin".into()),
        ..Default::default()
    };
    let campaign = reviews::start::start(&c.app, &c.admin, &req, &c.meta())
        .await
        .unwrap();
    assert_eq!(campaign.counts.total, 3);
    c.app.clock.advance_minutes(2 * 24 * 60 + 1);
    let round = due::run(&c.app).await.unwrap();
    assert_eq!((round.escalated, round.revoked), (1, 3), "{round:?}");
    let record = evidence::json(&c.app, &c.admin, campaign.id).await.unwrap();
    assert!(record.items.iter().all(|i| i.state == "revoked"));
    // Ana, a company admin, still holds every clinic: rule 3 lets the clinic admin role go.
    assert!(
        record
            .items
            .iter()
            .all(|i| i.outcome.as_deref() == Some("applied")),
        "{:?}",
        record.items
    );
    for id in [s.dee.user_id, cal.user_id, s.nora.user_id] {
        let p = profile::get(&c.app, &c.admin, id).await.unwrap();
        assert!(p.effective.iter().all(|e| e.key != "admin.clinic"), "{id}");
    }
    assert_eq!(c.events("access_review.decided").await.len(), 3);
    assert_eq!(due::run(&c.app).await.unwrap(), due::Round::default());
}

async fn a_campaign_that_does_not_parse_changes_nothing(t: TestDb) {
    let c = clinic(t).await;
    let req = NewCampaign {
        name: " ".into(),
        due_date: "2001-01-01".into(),
        location: Some("Uptown".into()),
        recurrence: Some("fortnightly".into()),
        ..Default::default()
    };
    let err = reviews::start::start(&c.app, &c.admin, &req, &c.meta())
        .await
        .unwrap_err();
    let codes: Vec<&str> = match &err {
        rollcall_app::AppError::InvalidFields(all) => all.iter().map(|e| e.code).collect(),
        other => panic!("{other}"),
    };
    assert_eq!(
        codes,
        [
            "name_invalid",
            "due_date_past",
            "recurrence_unknown",
            "location_unknown"
        ]
    );
    assert!(reviews::list(&c.app, &c.admin).await.unwrap().is_empty());
}

/// Selections are judged in one go, each person with the admins the earlier ones left: of
/// Northside's two clinic admins deactivated together, the second stays (rule 3); a reviewer's
/// selection applies what the rules allow and says why not for the rest.
async fn a_selection_is_judged_with_the_admins_its_earlier_decisions_leave(t: TestDb) {
    let c = clinic(t).await;
    let s = staff(&c).await;
    let nia = c
        .active_staff("nia@alpha.example", ("Nia", "Ford"), "Clinic Admin", "PT")
        .await
        .user_id;
    move_to_northside(&c, nia).await;
    // Ana, the company admin, keeps Downtown only: Nora and Nia are Northside's clinic admins.
    let operator = Principal::operator(&c.app, c.org.id, "test").await.unwrap();
    let downtown_only = ProfileEdit {
        locations: Some(["DT".to_string()].into()),
        default_location: Some("DT".into()),
        ..Default::default()
    };
    let ana = c.admin.user_id;
    profile::update(
        &c.app,
        &operator,
        ana,
        &downtown_only,
        None,
        Path::Console,
        &c.meta(),
    )
    .await
    .unwrap();
    let campaign = start(&c, 30, None).await;
    let nora = s.nora.clone();
    let mine = ids(&queue_of(&c, &nora, campaign.id).await);
    assert!(mine.contains(&nia) && mine.contains(&s.sam), "{mine:?}");

    let listed = rollcall_app::access::lifecycle::deactivate_many(
        &c.app,
        &c.admin,
        &[nia, nora.user_id],
        &c.meta(),
    )
    .await
    .unwrap();
    assert_eq!(listed[0].refused, None, "{listed:?}");
    let why = listed[1].refused.as_deref().unwrap_or_default();
    assert!(
        why.starts_with("Rule 3") && why.contains("Northside"),
        "{why}"
    );
    assert_eq!(c.user(nora.user_id).await.status.as_str(), "active");

    let decided = decide::decide(
        &c.app,
        &nora,
        campaign.id,
        &DecisionRequest {
            users: vec![s.sam, nia],
            decision: "deactivate".into(),
            note: Some("Northside closes".into()),
            ..Default::default()
        },
        Path::Console,
        &Meta::of(&nora, None, None),
    )
    .await
    .unwrap();
    assert_eq!(decided[0].outcome, "applied", "{decided:?}");
    assert_eq!(decided[1].outcome, "refused", "Nia is already inactive");
    assert_eq!(c.user(s.sam).await.status.as_str(), "inactive");
    assert_eq!(c.events("user.deactivated").await.len(), 2);
    let record = evidence::json(&c.app, &c.admin, campaign.id).await.unwrap();
    assert_eq!(record.campaign.counts.decided, 2);
}
