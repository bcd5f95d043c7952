//! What a campaign's due date brings, done by a serving process's upkeep round: a reminder to
//! each reviewer with people still to review a few days before (once per campaign and
//! reviewer), and at the due date the escalation of the unreviewed to the company admins — or,
//! by the organization's setting, the revocation of their elevated permissions — and the next
//! campaign of a recurring one. Each step is claimed by a conditional update, so several
//! processes running the round do it once.

use rollcall_domain::{Path, Permission};
use rollcall_store::outbox::{self, OutboxMessage};
use rollcall_store::reviews::{self, Campaign, Decision};
use rollcall_store::{Conn, roles};
use uuid::Uuid;

use crate::access::lifecycle;
use crate::access::profile::{self, ProfileEdit};
use crate::access::{Batch, OrgScope};
use crate::audit::Meta;
use crate::clock::DAY;
use crate::{App, AppError, Principal};

/// How long before the due date reviewers are reminded.
pub const REMIND_BEFORE: i64 = 3 * DAY;
/// Campaigns handled per round at most; the rest wait a minute.
const PER_ROUND: i64 = 50;
/// People whose elevated permissions are revoked per round at most (one transaction per
/// organization).
const REVOKES_PER_ROUND: i64 = 500;
/// What the due date takes from the unreviewed when the organization chose revocation.
pub const ELEVATED: [Permission; 5] = [
    Permission::AdminCompany,
    Permission::AdminClinic,
    Permission::UsersManage,
    Permission::UsersInvite,
    Permission::UsersBulkAdd,
];

/// What one round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Reminder messages queued.
    pub reminders: usize,
    /// Campaigns past their due date handled.
    pub escalated: usize,
    /// People whose elevated permissions the due date revoked (or tried to: see the items).
    pub revoked: usize,
    /// Campaigns started by recurring ones.
    pub started: usize,
}

pub async fn run(app: &App) -> Result<Round, AppError> {
    let mut round = Round::default();
    let now = app.clock.now();
    let (reminding, overdue) = {
        let mut conn = app.db.read_conn().await?;
        (
            reviews::due_reminders(&mut conn, now + REMIND_BEFORE, PER_ROUND).await?,
            reviews::overdue(&mut conn, now, PER_ROUND).await?,
        )
    };
    for c in reminding.iter().filter(|c| c.due_at > now) {
        round.reminders += remind(app, c).await?;
    }
    for c in &overdue {
        if let Some(started) = escalate(app, c).await? {
            round.escalated += 1;
            round.started += usize::from(started);
        }
    }
    round.revoked = revoke_overdue(app).await?;
    Ok(round)
}

/// Ends a campaign before its due date (a company admin's decision, e.g. an audit brought
/// forward): the due date becomes now and what it brings happens at once, as the upkeep round
/// would do it.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn close_now(
    app: &App,
    who: &Principal,
    campaign: Uuid,
    meta: &Meta,
) -> Result<super::CampaignView, AppError> {
    who.require(rollcall_domain::Capability::RunAccessReviews)?;
    let now = app.clock.now();
    let c = {
        let mut tx = app.db.begin().await?;
        let c = super::campaign_in(&mut tx, who.org_id, campaign).await?;
        if !reviews::close_now(&mut tx, c.id, now).await? {
            return Err(AppError::Conflict(
                "This campaign is already past its due date: its unreviewed people were escalated then.".into(),
            ));
        }
        let event = meta.change(
            "access_review.closed",
            "access_review",
            Some(c.id),
            Some(&serde_json::json!({ "due_at": crate::clock::rfc3339(c.due_at) })),
            Some(&serde_json::json!({ "due_at": crate::clock::rfc3339(now) })),
        );
        rollcall_store::audit::append(&mut tx, who.org_id, now, &[event]).await?;
        tx.commit().await?;
        Campaign { due_at: now, ..c }
    };
    escalate(app, &c).await?;
    revoke_overdue(app).await?;
    let mut conn = app.db.read_conn().await?;
    let c = super::campaign_in(&mut conn, who.org_id, campaign).await?;
    super::view(&mut conn, who, &c).await
}

/// Queues one reminder per reviewer with people still pending; `0` if another process did.
async fn remind(app: &App, c: &Campaign) -> Result<usize, AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    if !reviews::claim_reminders(&mut tx, c.id, now).await? {
        return Ok(0);
    }
    let scope = OrgScope::load(&mut tx, c.org_id).await?;
    let due = crate::clock::local(c.due_at, &scope.org.time_zone);
    let messages: Vec<OutboxMessage> = reviews::waiting_reviewers(&mut tx, c.id, "pending")
        .await?
        .into_iter()
        .map(|(_, email, name)| {
            message(
                c,
                now,
                email,
                format!("Access review “{}” is due {due}", c.name),
                format!(
                    "Hello {name},\n\nPeople of {} are waiting for your review in “{}”, due {due}. Open Access reviews in Rollcall to keep, narrow or end their access.\n\nPeople not reviewed by then are escalated to the company admins.\n",
                    scope.org.name, c.name
                ),
            )
        })
        .collect();
    outbox::enqueue(&mut tx, &messages).await?;
    tx.commit().await?;
    crate::delivery::wake(app);
    Ok(messages.len())
}

fn message(c: &Campaign, now: i64, to: String, subject: String, text: String) -> OutboxMessage {
    OutboxMessage::notice(c.org_id, &to, subject, text, now)
}

/// Past the due date: the unreviewed go to the company admins (or wait for revocation), and a
/// recurring campaign starts its next one. `None` if another process did it; `Some(true)` when
/// a next campaign started.
async fn escalate(app: &App, c: &Campaign) -> Result<Option<bool>, AppError> {
    let now = app.clock.now();
    let meta = Meta::system("access review due date");
    let mut tx = app.db.begin().await?;
    let scope = OrgScope::load(&mut tx, c.org_id).await?;
    let action = if scope.org.settings.review_overdue_revokes {
        "revoke"
    } else {
        "escalate"
    };
    if !reviews::claim_escalation(&mut tx, c.id, now, action).await? {
        return Ok(None);
    }
    let (company, _) = super::start::admins(&mut tx, &scope).await?;
    let escalated = if action == "escalate" {
        reviews::escalate_pending(&mut tx, c.id, &company).await?;
        escalation_notices(&mut tx, &scope, c, &company, now).await?
    } else {
        0
    };
    let event = meta.change(
        "access_review.overdue",
        "access_review",
        Some(c.id),
        None::<&()>,
        Some(&serde_json::json!({ "action": action, "notified": escalated })),
    );
    rollcall_store::audit::append(&mut tx, c.org_id, now, &[event]).await?;
    let started = match next_of(c, &scope.org.time_zone, now) {
        Some(next) => {
            super::start::create_in(&mut tx, &scope, &next, &meta, now).await?;
            reviews::set_next(&mut tx, c.id, next.id).await?;
            true
        }
        None => false,
    };
    tx.commit().await?;
    crate::delivery::wake(app);
    Ok(Some(started))
}

/// Tells each company admin how many people are now theirs to review.
async fn escalation_notices(
    tx: &mut Conn,
    scope: &OrgScope,
    c: &Campaign,
    company: &[Uuid],
    now: i64,
) -> Result<usize, AppError> {
    let messages: Vec<OutboxMessage> = reviews::waiting_reviewers(tx, c.id, "escalated")
        .await?
        .into_iter()
        .filter(|(id, ..)| company.contains(id))
        .map(|(_, email, name)| {
            message(
                c,
                now,
                email,
                format!("Access review “{}” is overdue", c.name),
                format!(
                    "Hello {name},\n\nPeople of {} were not reviewed by the due date of “{}” and now wait for your review. Open Access reviews in Rollcall.\n",
                    scope.org.name, c.name
                ),
            )
        })
        .collect();
    outbox::enqueue(tx, &messages).await?;
    Ok(messages.len())
}

/// The next campaign of a recurring one: the same scope, due the same span later.
fn next_of(c: &Campaign, zone: &str, now: i64) -> Option<Campaign> {
    let months = c.recurrence_months?;
    let mut due_at = super::start::months_later(c.due_at, months, zone)?;
    // A campaign escalated long after its due date (a server that was off) starts one that is
    // still ahead.
    while due_at <= now {
        due_at = super::start::months_later(due_at, months, zone)?;
    }
    Some(Campaign {
        id: rollcall_store::new_id(),
        due_at,
        created_by: None,
        created_at: now,
        reminded_at: None,
        escalated_at: None,
        overdue_action: None,
        next_campaign_id: None,
        ..c.clone()
    })
}

/// Revokes the elevated permissions of people nobody reviewed in campaigns whose due date
/// revokes, through the profile edit (rule 3 keeps the last admins; that refusal is recorded).
/// Each organization's people are done in one transaction, judged against one admin census.
async fn revoke_overdue(app: &App) -> Result<usize, AppError> {
    let due = {
        let mut conn = app.db.read_conn().await?;
        reviews::overdue_to_revoke(&mut conn, REVOKES_PER_ROUND).await?
    };
    let mut by_org = std::collections::BTreeMap::<Uuid, Vec<(Uuid, Uuid)>>::new();
    for (org_id, campaign, user) in due {
        by_org.entry(org_id).or_default().push((campaign, user));
    }
    let meta = Meta::system("access review due date");
    let mut done = 0;
    for (org_id, people) in by_org {
        let who = Principal::operator(app, org_id, "access review due date").await?;
        let mut tx = app.db.begin().await?;
        let all_roles = roles::list(&mut tx, org_id).await?;
        let mut batch = Batch::open(&mut tx, &who, app.clock.now()).await?;
        for (campaign, user) in &people {
            revoke_one(&mut tx, &mut batch, &all_roles, (*campaign, *user), &meta).await?;
        }
        tx.commit().await?;
        done += people.len();
    }
    Ok(done)
}

async fn revoke_one(
    tx: &mut Conn,
    batch: &mut Batch<'_>,
    all_roles: &[roles::Role],
    (campaign, user): (Uuid, Uuid),
    meta: &Meta,
) -> Result<(), AppError> {
    let (who, now) = (batch.who, batch.now);
    let Some(item) = reviews::item(tx, campaign, user).await? else {
        return Ok(());
    };
    let card = super::queue::card(tx, now, who, item).await?;
    let grants = roles::grants_of(tx, user).await?;
    let edit = without_elevated(&grants, all_roles);
    let decision = Decision {
        decision: "revoke_elevated".into(),
        target: None,
        note: Some("Not reviewed by the due date.".into()),
        decided_by: None,
        decided_at: now,
        reviewed: serde_json::to_string(&card).expect("a card serializes"),
    };
    if !reviews::claim_decision(tx, campaign, user, "revoked", &decision).await? {
        return Ok(());
    }
    let refusal = match edit {
        None => None,
        Some(edit) => lifecycle::refusal_of(
            profile::apply(tx, batch, user, &edit, None, Path::Console, meta).await,
        )?,
    };
    super::decide::record(tx, who, (campaign, user), &decision, refusal, meta, now).await
}

/// The edit that takes every elevated permission away (direct grants, and the roles carrying
/// one); `None` when the person holds none.
fn without_elevated(grants: &roles::Grants, all_roles: &[roles::Role]) -> Option<ProfileEdit> {
    let elevated = |p: &Permission| ELEVATED.contains(p);
    let carrying: Vec<Uuid> = all_roles
        .iter()
        .filter(|r| grants.roles.contains_key(&r.id) && r.permissions.iter().any(elevated))
        .map(|r| r.id)
        .collect();
    let direct = grants.direct.iter().any(elevated);
    if !direct && carrying.is_empty() {
        return None;
    }
    let mut edit = ProfileEdit::default();
    if direct {
        edit.permissions = Some(
            grants
                .direct
                .iter()
                .copied()
                .filter(|p| !elevated(p))
                .collect(),
        );
    }
    if !carrying.is_empty() {
        edit.roles = Some(
            grants
                .roles
                .keys()
                .filter(|r| !carrying.contains(r))
                .map(Uuid::to_string)
                .collect(),
        );
    }
    Some(edit)
}
