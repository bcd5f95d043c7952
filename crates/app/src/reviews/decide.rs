//! A reviewer's decisions, one person or a selection at once: keep, remove a permission, remove
//! a location, or deactivate, with a note. Each is applied through the profile edit or the
//! lifecycle, so the rules judge it as any other change and it is audited as one; a refusal is
//! kept on the item with the rule's sentence.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_domain::{Capability, Path, Permission, ValueError};
use rollcall_store::reviews::{self, Decision};
use rollcall_store::{Conn, audit, locations, roles};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::Batch;
use crate::access::lifecycle::{self, Origin};
use crate::access::names;
use crate::access::profile::{self, ProfileEdit};
use crate::audit::Meta;
use crate::error::FieldErrors;
use crate::{App, AppError, Principal};

/// The most people one request decides on.
pub const MAX_SELECTION: usize = 500;
const MAX_NOTE: usize = 1_000;

/// A decision for one person or a selection.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "users": ["0190c6d2-5f4e-7a31-9b8e-1f2a3b4c5d6e"],
    "decision": "remove_permission",
    "permission": "billing.refunds",
    "note": "No longer handles refunds"
})))]
pub struct DecisionRequest {
    /// The people decided on (1 to 500), each one the caller reviews in the campaign.
    #[schema(min_items = 1, max_items = 500)]
    pub users: Vec<Uuid>,
    /// `keep`, `remove_permission`, `remove_location` or `deactivate`.
    #[schema(pattern = "^(keep|remove_permission|remove_location|deactivate)$")]
    pub decision: String,
    /// The permission to remove (its key), for `remove_permission`.
    #[serde(default)]
    pub permission: Option<String>,
    /// The location to remove (id, code or name), for `remove_location`.
    #[serde(default)]
    pub location: Option<String>,
    /// Why, in the reviewer's words (at most 1000 characters).
    #[schema(max_length = 1000)]
    #[serde(default)]
    pub note: Option<String>,
}

/// A decision, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Keep,
    RemovePermission(Permission),
    RemoveLocation(Uuid),
    Deactivate,
}

impl Verdict {
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Keep => "keep",
            Verdict::RemovePermission(_) => "remove_permission",
            Verdict::RemoveLocation(_) => "remove_location",
            Verdict::Deactivate => "deactivate",
        }
    }

    fn target(self) -> Option<String> {
        match self {
            Verdict::RemovePermission(p) => Some(p.key().to_string()),
            Verdict::RemoveLocation(l) => Some(l.to_string()),
            _ => None,
        }
    }
}

/// What became of the decision for one person.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DecisionOutcome {
    pub user_id: Uuid,
    pub name: String,
    /// `applied` (kept, or the change made), `refused` (a rule said no: see `message`),
    /// `skipped` (not the caller's to decide, already decided, or nothing to remove).
    pub outcome: String,
    pub message: Option<String>,
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn decide(
    app: &App,
    who: &Principal,
    campaign: Uuid,
    req: &DecisionRequest,
    path: Path,
    meta: &Meta,
) -> Result<Vec<DecisionOutcome>, AppError> {
    who.require(Capability::EditAccess)?;
    let (verdict, note) = {
        let mut conn = app.db.read_conn().await?;
        super::campaign_in(&mut conn, who.org_id, campaign).await?;
        let all = locations::list(&mut conn, who.org_id).await?;
        parse(req, &all)?
    };
    // The whole selection in one transaction, judged against one admin census.
    let mut tx = app.db.begin().await?;
    let mine: BTreeSet<Uuid> = reviews::reviewed_by(&mut tx, campaign, who.user_id, &req.users)
        .await?
        .into_iter()
        .collect();
    let all_roles = roles::list(&mut tx, who.org_id).await?;
    let mut batch = Batch::open(&mut tx, who, app.clock.now()).await?;
    let asked = Asked {
        campaign,
        verdict,
        note: &note,
        path,
        meta,
        all_roles: &all_roles,
    };
    let mut out = Vec::with_capacity(req.users.len());
    for &user in &req.users {
        out.push(if mine.contains(&user) {
            decide_one(&mut tx, &mut batch, &asked, user).await?
        } else {
            skipped(
                user,
                String::new(),
                "You do not review this person in this campaign.",
            )
        });
    }
    tx.commit().await?;
    Ok(out)
}

/// One decision as asked, for each person of the selection.
struct Asked<'a> {
    campaign: Uuid,
    verdict: Verdict,
    note: &'a Option<String>,
    path: Path,
    meta: &'a Meta,
    all_roles: &'a [roles::Role],
}

fn skipped(user_id: Uuid, name: String, why: &str) -> DecisionOutcome {
    DecisionOutcome {
        user_id,
        name,
        outcome: "skipped".into(),
        message: Some(why.into()),
    }
}

/// Every field checked, every wrong one reported.
fn parse(
    req: &DecisionRequest,
    all: &[locations::Location],
) -> Result<(Verdict, Option<String>), AppError> {
    let mut errors = FieldErrors::default();
    if req.users.is_empty() || req.users.len() > MAX_SELECTION {
        errors.take::<()>(Err(ValueError::new(
            "users",
            "selection_size",
            format!(
                "{} people are selected: decide on 1 to {MAX_SELECTION} at once.",
                req.users.len()
            ),
        )));
    }
    let needs = |field: &'static str, what: &str| {
        ValueError::new(
            field,
            "decision_target_missing",
            format!("Say which {what} to remove: give “{field}” with this decision."),
        )
    };
    let verdict = match req.decision.trim() {
        "keep" => Some(Verdict::Keep),
        "deactivate" => Some(Verdict::Deactivate),
        "remove_permission" => errors
            .take(
                super::filled(&req.permission)
                    .ok_or_else(|| needs("permission", "permission"))
                    .and_then(|t| {
                        Permission::parse(t).map_err(|e| ValueError {
                            field: "permission",
                            ..e
                        })
                    }),
            )
            .map(Verdict::RemovePermission),
        "remove_location" => errors
            .take(
                super::filled(&req.location)
                    .ok_or_else(|| needs("location", "location"))
                    .and_then(|t| names::location_id(all, "location", "location_unknown", t)),
            )
            .map(Verdict::RemoveLocation),
        other => errors.take(Err(ValueError::new(
            "decision",
            "decision_unknown",
            format!(
                "“{}” is not a decision: use keep, remove_permission, remove_location or deactivate.",
                other.chars().take(40).collect::<String>()
            ),
        ))),
    };
    let note = super::filled(&req.note).map(str::to_string);
    if note.as_ref().is_some_and(|n| n.chars().count() > MAX_NOTE) {
        errors.take::<()>(Err(ValueError::new(
            "note",
            "too_long",
            format!("The note is longer than {MAX_NOTE} characters; shorten it."),
        )));
    }
    errors.into_result()?;
    Ok((verdict.expect("checked above"), note))
}

/// Snapshots what the reviewer sees, records the decision (once: of two reviewers deciding at
/// once one wins), applies it and records what came of it.
async fn decide_one(
    tx: &mut Conn,
    batch: &mut Batch<'_>,
    asked: &Asked<'_>,
    user: Uuid,
) -> Result<DecisionOutcome, AppError> {
    let (who, now, verdict, campaign) = (batch.who, batch.now, asked.verdict, asked.campaign);
    let Some(item) = reviews::item(tx, campaign, user).await? else {
        return Ok(skipped(user, String::new(), "Not in this campaign."));
    };
    let card = super::queue::card(tx, now, who, item).await?;
    let grants = roles::grants_of(tx, user).await?;
    let name = card.item.name.clone();
    let edit = match removal(verdict, &card, &grants, asked.all_roles) {
        Ok(edit) => edit,
        Err(why) => return Ok(skipped(user, name, &why)),
    };
    let decision = Decision {
        decision: verdict.key().into(),
        target: verdict.target(),
        note: asked.note.clone(),
        decided_by: who.user_ref(),
        decided_at: now,
        reviewed: serde_json::to_string(&card).expect("a card serializes"),
    };
    if !reviews::claim_decision(tx, campaign, user, "decided", &decision).await? {
        return Ok(skipped(user, name, "Already decided."));
    }
    let applied = match (verdict, edit) {
        (Verdict::Deactivate, _) => {
            lifecycle::deactivate_in(tx, batch, user, Origin::Manager, asked.meta).await
        }
        (_, Some(edit)) => {
            profile::apply(tx, batch, user, &edit, None, asked.path, asked.meta).await
        }
        (_, None) => Ok(()),
    };
    let refusal = lifecycle::refusal_of(applied)?;
    record(
        tx,
        who,
        (campaign, user),
        &decision,
        refusal.clone(),
        asked.meta,
        now,
    )
    .await?;
    Ok(DecisionOutcome {
        user_id: user,
        name,
        outcome: if refusal.is_some() {
            "refused"
        } else {
            "applied"
        }
        .into(),
        message: refusal,
    })
}

/// The profile edit a removal makes: the direct grant and the roles carrying the permission
/// go, or the location; `None` for keep and deactivate. `Err` when there is nothing to remove.
fn removal(
    verdict: Verdict,
    card: &super::queue::Card,
    grants: &roles::Grants,
    all_roles: &[roles::Role],
) -> Result<Option<ProfileEdit>, String> {
    let name = &card.item.name;
    match verdict {
        Verdict::RemovePermission(p) => {
            let carrying: BTreeMap<Uuid, &str> = all_roles
                .iter()
                .filter(|r| grants.roles.contains_key(&r.id) && r.permissions.contains(&p))
                .map(|r| (r.id, r.name.as_str()))
                .collect();
            if !grants.direct.contains(&p) && carrying.is_empty() {
                return Err(format!("{name} does not hold “{}”.", p.label()));
            }
            let mut edit = ProfileEdit::default();
            if grants.direct.contains(&p) {
                edit.permissions =
                    Some(grants.direct.iter().copied().filter(|d| *d != p).collect());
            }
            if !carrying.is_empty() {
                edit.roles = Some(
                    grants
                        .roles
                        .keys()
                        .filter(|r| !carrying.contains_key(r))
                        .map(Uuid::to_string)
                        .collect(),
                );
            }
            Ok(Some(edit))
        }
        Verdict::RemoveLocation(l) => {
            let kept = &card.location_ids;
            if !kept.contains(&l) {
                return Err(format!("{name} does not have access to that location."));
            }
            Ok(Some(ProfileEdit {
                locations: Some(
                    kept.iter()
                        .filter(|x| **x != l)
                        .map(Uuid::to_string)
                        .collect(),
                ),
                ..Default::default()
            }))
        }
        Verdict::Keep | Verdict::Deactivate => Ok(None),
    }
}

/// What came of the decision, on the item and in the audit trail.
pub(super) async fn record(
    tx: &mut Conn,
    who: &Principal,
    (campaign, user): (Uuid, Uuid),
    d: &Decision,
    refusal: Option<String>,
    meta: &Meta,
    now: i64,
) -> Result<(), AppError> {
    let outcome = if refusal.is_some() {
        "refused"
    } else {
        "applied"
    };
    reviews::set_outcome(tx, campaign, user, outcome, refusal.clone()).await?;
    let event = meta.change(
        "access_review.decided",
        "user",
        Some(user),
        None::<&()>,
        Some(&serde_json::json!({
            "campaign": campaign,
            "decision": d.decision,
            "target": d.target,
            "note": d.note,
            "outcome": outcome,
            "refusal": refusal,
        })),
    );
    audit::append(tx, who.org_id, now, &[event]).await?;
    Ok(())
}
