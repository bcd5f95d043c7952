//! Access review campaigns (HIPAA's periodic recertification of access): a company admin starts
//! a campaign over everyone or a part of the organization; each person is reviewed by the
//! clinic admins who reach them (rule 4's reach), or by the company admins; reviewers keep,
//! narrow or end each person's access, applied through the same use cases (and rules) as every
//! other change; reminders go out before the due date and, at it, the unreviewed are escalated
//! or their elevated permissions revoked. The evidence exports as CSV and JSON.
//!
//! - `start`: the campaign, its items and their reviewers (set-based).
//! - `queue`: what a reviewer sees.
//! - `decide`: decisions, applied through the profile edit and the lifecycle.
//! - `due`: reminders, escalation and the next campaign of a recurring one.
//! - `evidence`: who reviewed whom, when, what they decided and what was applied.

pub mod decide;
pub mod due;
pub mod evidence;
pub mod queue;
pub mod start;

use rollcall_domain::Capability;
use rollcall_store::reviews::{self, Campaign};
use rollcall_store::{Conn, locations, roles};
use serde::Serialize;
use uuid::Uuid;

use crate::clock::rfc3339;
use crate::{App, AppError, Principal};

/// A campaign as front ends show it, with how far it got.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CampaignView {
    pub id: Uuid,
    pub name: String,
    /// Whom it covers, in words ("everyone", "Downtown", "role Provider, type PT").
    pub scope: String,
    #[schema(format = DateTime)]
    pub due_at: String,
    /// The due date in the organization's zone.
    pub due_local: String,
    /// Months between campaigns of a recurring one (3: quarterly).
    pub recurrence_months: Option<i64>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub reminded_at: Option<String>,
    #[schema(format = DateTime)]
    pub escalated_at: Option<String>,
    /// What the due date did: `escalate` or `revoke`.
    pub overdue_action: Option<String>,
    /// The campaign a recurring one started at its due date.
    pub next_campaign_id: Option<Uuid>,
    pub counts: Counts,
}

/// Items by state.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Counts {
    pub total: i64,
    pub pending: i64,
    pub decided: i64,
    pub escalated: i64,
    pub revoked: i64,
}

/// The most campaigns a list shows.
const LIST_LIMIT: i64 = 200;

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn list(app: &App, who: &Principal) -> Result<Vec<CampaignView>, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let mut out = Vec::new();
    for c in reviews::list_campaigns(&mut conn, who.org_id, LIST_LIMIT).await? {
        out.push(view(&mut conn, who, &c).await?);
    }
    Ok(out)
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn get(app: &App, who: &Principal, id: Uuid) -> Result<CampaignView, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let c = campaign_in(&mut conn, who.org_id, id).await?;
    view(&mut conn, who, &c).await
}

pub(crate) async fn campaign_in(
    conn: &mut Conn,
    org_id: Uuid,
    id: Uuid,
) -> Result<Campaign, AppError> {
    reviews::get_campaign(conn, org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("access review campaign"))
}

pub(crate) async fn view(
    conn: &mut Conn,
    who: &Principal,
    c: &Campaign,
) -> Result<CampaignView, AppError> {
    let mut counts = Counts::default();
    for (state, n) in reviews::counts(conn, c.id).await? {
        counts.total += n;
        match state.as_str() {
            "pending" => counts.pending = n,
            "decided" => counts.decided = n,
            "escalated" => counts.escalated = n,
            "revoked" => counts.revoked = n,
            _ => {}
        }
    }
    Ok(CampaignView {
        id: c.id,
        name: c.name.clone(),
        scope: scope_words(conn, c.org_id, &c.scope).await?,
        due_at: rfc3339(c.due_at),
        due_local: crate::clock::local(c.due_at, &who.time_zone),
        recurrence_months: c.recurrence_months,
        created_at: rfc3339(c.created_at),
        reminded_at: c.reminded_at.map(rfc3339),
        escalated_at: c.escalated_at.map(rfc3339),
        overdue_action: c.overdue_action.clone(),
        next_campaign_id: c.next_campaign_id,
        counts,
    })
}

/// The scope in words, with the names of its location and role.
async fn scope_words(
    conn: &mut Conn,
    org_id: Uuid,
    scope: &reviews::Scope,
) -> Result<String, AppError> {
    let mut parts = Vec::new();
    if let Some(l) = scope.location {
        let name = locations::list(conn, org_id)
            .await?
            .into_iter()
            .find(|x| x.id == l)
            .map(|x| x.name)
            .unwrap_or_else(|| l.to_string());
        parts.push(format!("location {name}"));
    }
    if let Some(r) = scope.role {
        let name = roles::list(conn, org_id)
            .await?
            .into_iter()
            .find(|x| x.id == r)
            .map(|x| x.name)
            .unwrap_or_else(|| r.to_string());
        parts.push(format!("role {name}"));
    }
    if let Some(t) = &scope.user_type {
        parts.push(format!("user type {t}"));
    }
    Ok(if parts.is_empty() {
        "everyone".into()
    } else {
        parts.join(", ")
    })
}

/// The organization's setting for what a due date does to the unreviewed: `true` revokes their
/// elevated permissions, `false` escalates them to the company admins. Returns the old value.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn set_overdue_revokes(
    app: &App,
    who: &Principal,
    revokes: bool,
    meta: &crate::audit::Meta,
) -> Result<bool, AppError> {
    who.require(Capability::ManageSettings)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let org = rollcall_store::orgs::get(&mut tx, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let before = org.settings.review_overdue_revokes;
    if before != revokes {
        let mut after = org.settings.clone();
        after.review_overdue_revokes = revokes;
        rollcall_store::orgs::update_settings(&mut tx, org.id, &after).await?;
        let value = |v: bool| serde_json::json!({ "review_overdue_revokes": v });
        let event = meta.change(
            "org.settings_changed",
            "organization",
            Some(org.id),
            Some(&value(before)),
            Some(&value(revokes)),
        );
        rollcall_store::audit::append(&mut tx, org.id, now, &[event]).await?;
    }
    tx.commit().await?;
    Ok(before)
}

/// An optional text field, trimmed; `None` when absent or blank.
pub(crate) fn filled(o: &Option<String>) -> Option<&str> {
    o.as_deref().map(str::trim).filter(|t| !t.is_empty())
}
