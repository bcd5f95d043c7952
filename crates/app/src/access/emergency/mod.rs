//! Emergency ("break-glass") access (HIPAA 164.312(a)(2)(ii)): people the organization
//! designates (members of one role it chooses) grant themselves a permission and/or a location
//! at once, with a reason, for a bounded time; company admins are told at once; the grant ends
//! by itself at expiry; and every use is reviewed afterwards by a company admin.
//!
//! - `grant`: the grant itself, judged by the rule engine and written as ordinary access.
//! - `expiry`: the end of a grant, exactly once: at its expiry, by the upkeep round, or sooner
//!   by the person or a company admin.
//! - `review`: reading grants and the after-the-fact review.
//! - `settings`: who is designated and the longest a grant may last.

pub mod expiry;
pub mod grant;
pub mod review;
pub mod settings;

use std::collections::BTreeMap;

use rollcall_domain::emergency::ReviewState;
use rollcall_store::emergency::Grant;
use rollcall_store::{Conn, locations, users};
use serde::Serialize;
use uuid::Uuid;

use crate::AppError;
use crate::clock::{local, rfc3339};

/// One emergency grant as people and clients read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EmergencyGrant {
    pub id: Uuid,
    /// Who took it (for themselves).
    pub user_id: Uuid,
    pub user_name: String,
    /// The permission granted (key), if one was.
    pub permission: Option<String>,
    pub permission_label: Option<String>,
    /// The location granted, if one was.
    pub location_id: Option<Uuid>,
    pub location_name: Option<String>,
    pub reason: String,
    #[schema(format = DateTime)]
    pub granted_at: String,
    #[schema(format = DateTime)]
    pub expires_at: String,
    /// When it ended (at its expiry, or sooner when ended early); `None` while it is in effect.
    #[schema(format = DateTime)]
    pub ended_at: Option<String>,
    /// Whether the grant is still in effect.
    pub live: bool,
    /// `expires_at` in the organization's zone, for people.
    pub expires_local: String,
    pub granted_local: String,
    /// `ended_at` in the organization's zone.
    pub ended_local: Option<String>,
    pub review_state: ReviewState,
    pub reviewer_name: Option<String>,
    #[schema(format = DateTime)]
    pub reviewed_at: Option<String>,
    pub review_note: Option<String>,
}

/// The grants as shown, with the names of their people and locations.
pub(crate) async fn views(
    conn: &mut Conn,
    org_id: Uuid,
    zone: &str,
    grants: Vec<Grant>,
) -> Result<Vec<EmergencyGrant>, AppError> {
    let ids: Vec<Uuid> = grants.iter().map(|g| g.user_id).collect();
    let people = users::display_names(conn, org_id, &ids).await?;
    let places: BTreeMap<Uuid, String> = locations::list(conn, org_id)
        .await?
        .into_iter()
        .map(|l| (l.id, l.name))
        .collect();
    Ok(grants
        .into_iter()
        .map(|g| view(g, zone, &people, &places))
        .collect())
}

fn view(
    g: Grant,
    zone: &str,
    people: &BTreeMap<Uuid, String>,
    places: &BTreeMap<Uuid, String>,
) -> EmergencyGrant {
    EmergencyGrant {
        id: g.id,
        user_id: g.user_id,
        user_name: people.get(&g.user_id).cloned().unwrap_or_default(),
        permission: g.permission.map(|p| p.key().to_string()),
        permission_label: g.permission.map(|p| p.label().to_string()),
        location_id: g.location_id,
        location_name: g.location_id.and_then(|l| places.get(&l).cloned()),
        reason: g.reason,
        granted_at: rfc3339(g.granted_at),
        expires_at: rfc3339(g.expires_at),
        ended_at: g.ended_at.map(rfc3339),
        live: g.ended_at.is_none(),
        expires_local: local(g.expires_at, zone),
        granted_local: local(g.granted_at, zone),
        ended_local: g.ended_at.map(|at| local(at, zone)),
        review_state: ReviewState::parse(&g.review_state).unwrap_or(ReviewState::Open),
        reviewer_name: g.reviewer_name,
        reviewed_at: g.reviewed_at.map(rfc3339),
        review_note: g.review_note,
    }
}

/// What a grant gives, in words: "Clinical charts (clinical.charts) and Northside".
pub(crate) fn what(g: &EmergencyGrant) -> String {
    let permission = g
        .permission
        .as_ref()
        .map(|k| format!("{} ({k})", g.permission_label.clone().unwrap_or_default()));
    match (permission, &g.location_name) {
        (Some(p), Some(l)) => format!("{p} and {l}"),
        (Some(p), None) => p,
        (None, Some(l)) => l.clone(),
        (None, None) => "nothing".into(),
    }
}
