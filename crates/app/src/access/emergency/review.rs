//! Reading emergency grants and reviewing them afterwards. Company admins read every grant of
//! the organization and review each one, accepted or flagged with a note, never their own;
//! anyone else reads only their own grants. Open reviews stay on the company admins' home page
//! until closed.

use rollcall_domain::emergency::{self, ReviewState};
use rollcall_domain::{Capability, Permission};
use rollcall_store::emergency::{self as stored, Filter, Review};
use rollcall_store::{audit, orgs};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{EmergencyGrant, views};
use crate::audit::Meta;
use crate::error::FieldErrors;
use crate::{App, AppError, Principal};

/// Most grants one list answers.
pub const MAX_LIMIT: i64 = 500;

const REVIEWERS_ONLY: &str =
    "Only a company admin reviews emergency access (and an API token needs the users:write scope).";

/// Which grants to list; absent filters leave nothing out.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GrantFilter {
    /// `open`, `accepted` or `flagged`.
    pub review_state: Option<ReviewState>,
    /// `true`: still in effect; `false`: ended.
    pub live: Option<bool>,
    /// One person's grants (id).
    pub user: Option<Uuid>,
    /// At most this many, newest first (1 to 500; 100 when absent).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A company admin's decision on one use of emergency access.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({ "decision": "accepted", "note": "Confirmed with the ED charge nurse." })))]
pub struct ReviewDecision {
    /// `accepted` (the use was justified) or `flagged` (it needs a follow-up).
    pub decision: Decision,
    /// Up to 1,000 characters; required when flagging.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub note: String,
}

/// What a reviewer decides.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The use was justified.
    #[default]
    Accepted,
    /// The use needs a follow-up.
    Flagged,
}

impl Decision {
    /// A decision as a form sends it.
    pub fn parse(input: &str) -> Result<Decision, rollcall_domain::ValueError> {
        Ok(match ReviewState::decision(input)? {
            ReviewState::Flagged => Decision::Flagged,
            _ => Decision::Accepted,
        })
    }

    fn state(self) -> ReviewState {
        match self {
            Decision::Accepted => ReviewState::Accepted,
            Decision::Flagged => ReviewState::Flagged,
        }
    }
}

pub(super) fn company_admin(who: &Principal) -> bool {
    who.can(Capability::ManageSettings)
}

/// A company admin reading (a token with users:read is enough to read every use).
fn reads_all(who: &Principal) -> bool {
    who.permissions.contains(&Permission::AdminCompany) && who.can(Capability::ViewUsers)
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn list(
    app: &App,
    who: &Principal,
    filter: &GrantFilter,
) -> Result<Vec<EmergencyGrant>, AppError> {
    let mut errors = FieldErrors::default();
    let state = filter.review_state;
    let limit = filter.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        errors.take::<()>(Err(rollcall_domain::ValueError::new(
            "limit",
            "limit_range",
            format!("limit must be between 1 and {MAX_LIMIT}."),
        )));
    }
    errors.into_result()?;
    // Anyone else sees only their own grants.
    let user_id = if reads_all(who) {
        filter.user
    } else {
        Some(own(who)?)
    };
    let query = Filter {
        user_id,
        review_state: state.map(|s| s.as_str().to_string()),
        live: filter.live,
        limit,
    };
    let mut conn = app.db.read_conn().await?;
    let grants = stored::list(&mut conn, who.org_id, &query).await?;
    views(&mut conn, who.org_id, &who.time_zone, grants).await
}

/// The person behind the principal, whose own grants they may read.
fn own(who: &Principal) -> Result<Uuid, AppError> {
    who.user_ref()
        .ok_or_else(|| AppError::Forbidden(REVIEWERS_ONLY.into()))
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn get(app: &App, who: &Principal, id: Uuid) -> Result<EmergencyGrant, AppError> {
    let mut conn = app.db.read_conn().await?;
    let grant = stored::get(&mut conn, who.org_id, id)
        .await?
        .filter(|g| reads_all(who) || who.user_ref() == Some(g.user_id))
        .ok_or_else(|| AppError::not_found("emergency grant"))?;
    Ok(views(&mut conn, who.org_id, &who.time_zone, vec![grant])
        .await?
        .remove(0))
}

/// How many uses wait for a company admin's review; `None` for anyone else.
pub async fn open_count(app: &App, who: &Principal) -> Result<Option<i64>, AppError> {
    if !company_admin(who) {
        return Ok(None);
    }
    let mut conn = app.db.read_conn().await?;
    Ok(Some(stored::count_open(&mut conn, who.org_id).await?))
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn review(
    app: &App,
    who: &Principal,
    id: Uuid,
    decision: &ReviewDecision,
    meta: &Meta,
) -> Result<EmergencyGrant, AppError> {
    who.require(Capability::ManageSettings)
        .map_err(|_| AppError::Forbidden(REVIEWERS_ONLY.into()))?;
    let state = decision.decision.state();
    let note = emergency::review_note(&decision.note, state)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let grant = stored::get(&mut tx, who.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("emergency grant"))?;
    if who.user_ref() == Some(grant.user_id) {
        return Err(AppError::Forbidden(
            "You cannot review your own use of emergency access: another company admin reviews it."
                .into(),
        ));
    }
    let review = Review {
        state: state.as_str().into(),
        by: who.actor_id(),
        by_name: who.display_name.clone(),
        at: now,
        note: note.clone(),
    };
    if !stored::review(&mut tx, who.org_id, id, &review).await? {
        return Err(AppError::Conflict(format!(
            "This use of emergency access was already reviewed ({}{}); a review is not changed afterwards.",
            grant.review_state,
            grant
                .reviewer_name
                .as_deref()
                .map(|n| format!(" by {n}"))
                .unwrap_or_default()
        )));
    }
    let event = meta.change(
        "emergency_access.reviewed",
        "user",
        Some(grant.user_id),
        Some(&serde_json::json!({ "emergency_grant": id, "review": "open" })),
        Some(&serde_json::json!({ "emergency_grant": id, "review": state.as_str(), "note": note })),
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    let zone = orgs::get(&mut tx, who.org_id)
        .await?
        .map(|o| o.time_zone)
        .unwrap_or_else(|| who.time_zone.clone());
    let grant = stored::get(&mut tx, who.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("emergency grant"))?;
    let view = views(&mut tx, who.org_id, &zone, vec![grant])
        .await?
        .remove(0);
    tx.commit().await?;
    Ok(view)
}
