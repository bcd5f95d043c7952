//! A campaign's evidence for an auditor: every person in it, who reviews them, who decided
//! what and when, with the reviewer's note, and what was applied (or why a rule refused it).
//! The same record sits in the audit trail (`access_review.*` events).

use rollcall_domain::Capability;
use rollcall_store::reviews;
use serde::Serialize;
use uuid::Uuid;

use super::queue::ItemView;
use crate::sheet::Sheet;
use crate::{App, AppError, Principal};

/// Items read per query while exporting.
const CHUNK: i64 = 1_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Evidence {
    pub campaign: super::CampaignView,
    pub items: Vec<ItemView>,
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn json(app: &App, who: &Principal, campaign: Uuid) -> Result<Evidence, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let c = super::campaign_in(&mut conn, who.org_id, campaign).await?;
    let names: Vec<_> = rollcall_store::locations::list(&mut conn, who.org_id)
        .await?
        .into_iter()
        .map(|l| crate::access::profile::LocationAccess {
            id: l.id,
            name: l.name,
            granted: false,
            in_reach: false,
            emergency_until: None,
        })
        .collect();
    let mut items = Vec::new();
    let mut after = None;
    loop {
        let chunk = reviews::items(&mut conn, c.id, None, after, CHUNK).await?;
        let last = chunk.last().map(|i| i.user_id);
        items.extend(
            chunk
                .into_iter()
                .map(|i| super::queue::item_view(i, &names)),
        );
        match last {
            Some(id) if items.len() as i64 % CHUNK == 0 => after = Some(id),
            _ => break,
        }
    }
    Ok(Evidence {
        campaign: super::view(&mut conn, who, &c).await?,
        items,
    })
}

pub const CSV_HEADER: [&str; 12] = [
    "campaign",
    "person",
    "email",
    "state",
    "reviewers",
    "decided_by",
    "decided_at",
    "decision",
    "target",
    "note",
    "outcome",
    "refusal",
];

pub async fn csv(app: &App, who: &Principal, campaign: Uuid) -> Result<String, AppError> {
    let evidence = json(app, who, campaign).await?;
    let mut sheet = Sheet::with_header(&CSV_HEADER)?;
    let name = evidence.campaign.name.clone();
    for i in evidence.items {
        let opt = |o: Option<String>| o.unwrap_or_default();
        sheet.row([
            name.clone(),
            i.name,
            i.email,
            i.state,
            i.reviewers,
            opt(i.decided_by),
            opt(i.decided_at),
            opt(i.decision),
            opt(i.target),
            opt(i.note),
            opt(i.outcome),
            opt(i.refusal),
        ])?;
    }
    sheet.into_text()
}
