//! What a reviewer sees: the people of a campaign they review, each with their effective
//! permissions and where each comes from, their locations, last sign-in and second factor, and
//! the decision taken so far.

use rollcall_domain::Capability;
use rollcall_store::reviews::{self, Item};
use rollcall_store::{Conn, users};
use serde::Serialize;
use uuid::Uuid;

use crate::access::profile::{self, Effective};
use crate::clock::rfc3339;
use crate::{App, AppError, Principal};

/// One person's item.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemView {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    /// `pending`, `decided`, `escalated` (overdue, now with the company admins) or `revoked`
    /// (overdue, elevated permissions taken).
    pub state: String,
    /// `keep`, `remove_permission`, `remove_location` or `deactivate`.
    pub decision: Option<String>,
    /// The permission key or location name a removal named.
    pub target: Option<String>,
    pub note: Option<String>,
    pub decided_by: Option<String>,
    #[schema(format = DateTime)]
    pub decided_at: Option<String>,
    /// `applied` or `refused`.
    pub outcome: Option<String>,
    /// Why a rule refused the decision.
    pub refusal: Option<String>,
    /// Who reviews the person: `clinic admins` (those who reach them), `company admins` (nobody
    /// else reaches them), or `clinic admins, then company admins` (escalated).
    pub reviewers: String,
}

/// A person under review, as their reviewer sees them now.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Card {
    pub item: ItemView,
    pub status: String,
    pub user_type: Option<String>,
    /// Effective permissions, each with its sources (`direct` or a role's name).
    pub effective: Vec<Effective>,
    /// Names of the locations the person has access to.
    pub locations: Vec<String>,
    /// The same locations' ids.
    pub location_ids: Vec<Uuid>,
    #[schema(format = DateTime)]
    pub last_sign_in_at: Option<String>,
    /// `email`, `sms`, `totp`, or none.
    pub second_factor: Option<String>,
}

/// A page of a reviewer's queue.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Queue {
    pub campaign: super::CampaignView,
    pub cards: Vec<Card>,
    /// Pass as `after` for the next page; absent on the last.
    pub next: Option<Uuid>,
}

pub const PAGE: i64 = 50;

/// The people of `campaign` the principal reviews, from after `after`.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn mine(
    app: &App,
    who: &Principal,
    campaign: Uuid,
    after: Option<Uuid>,
    limit: Option<i64>,
) -> Result<Queue, AppError> {
    who.require(Capability::ViewUsers)?;
    let limit = limit.unwrap_or(PAGE);
    if !(1..=200).contains(&limit) {
        return Err(rollcall_domain::ValueError::new(
            "limit",
            "limit_out_of_range",
            format!("A page holds 1 to 200 people; {limit} is out of range."),
        )
        .into());
    }
    let now = app.clock.now();
    let mut conn = app.db.read_conn().await?;
    let c = super::campaign_in(&mut conn, who.org_id, campaign).await?;
    let items = reviews::items(&mut conn, c.id, Some(who.user_id), after, limit + 1).await?;
    let more = items.len() as i64 > limit;
    let mut cards = Vec::new();
    for item in items.into_iter().take(limit as usize) {
        cards.push(card(&mut conn, now, who, item).await?);
    }
    let next = more.then(|| cards.last().map(|c| c.item.user_id)).flatten();
    Ok(Queue {
        campaign: super::view(&mut conn, who, &c).await?,
        cards,
        next,
    })
}

/// The person as they stand now, read with the profile's own reader.
pub(crate) async fn card(
    conn: &mut Conn,
    now: i64,
    who: &Principal,
    item: Item,
) -> Result<Card, AppError> {
    let profile = profile::load(conn, now, who, item.user_id).await?;
    let (second_factor, _) = users::mfa_of(conn, item.user_id).await?;
    Ok(Card {
        item: item_view(item, &profile.locations),
        status: profile.status.as_str().into(),
        user_type: profile.user_type,
        effective: profile.effective,
        locations: profile
            .locations
            .iter()
            .filter(|l| l.granted)
            .map(|l| l.name.clone())
            .collect(),
        location_ids: profile
            .locations
            .iter()
            .filter(|l| l.granted)
            .map(|l| l.id)
            .collect(),
        last_sign_in_at: profile.last_sign_in_at,
        second_factor,
    })
}

pub(crate) fn item_view(item: Item, locations: &[profile::LocationAccess]) -> ItemView {
    let reviewers = match (item.by_company, item.state.as_str()) {
        (true, _) => "company admins",
        (false, "escalated") => "clinic admins, then company admins",
        // Decided or revoked: the decider says who.
        (false, _) => "clinic admins",
    }
    .to_string();
    let target = match (item.decision.as_deref(), item.target) {
        (Some("remove_location"), Some(id)) => Some(
            locations
                .iter()
                .find(|l| l.id.to_string() == id)
                .map(|l| l.name.clone())
                .unwrap_or(id),
        ),
        (_, t) => t,
    };
    ItemView {
        user_id: item.user_id,
        name: item.display_name,
        email: item.email,
        state: item.state,
        decision: item.decision,
        target,
        note: item.note,
        decided_by: item.decided_by_name,
        decided_at: item.decided_at.map(rfc3339),
        outcome: item.outcome,
        refusal: item.refusal,
        reviewers,
    }
}
