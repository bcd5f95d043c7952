//! Taking emergency access: a designated person grants themselves a permission and/or a
//! location for a bounded time, with a reason. The grant is judged by the rule engine as the
//! organization would judge it (a permission the person's type forbids is refused, naming the
//! rule), written as ordinary access so every front door and app sees it at once, and recorded
//! with its expiry; the company admins get a message and webhooks an event, in the same
//! transaction.
//!
//! Access the person already has is refused rather than recorded: an emergency grant is only
//! ever access they did not have, so its end removes exactly what it gave.

use std::collections::BTreeMap;

use rollcall_domain::emergency::{self, ReviewState};
use rollcall_domain::{Actor, Change, Path, Permission, Scope, Subject, ValueError};
use rollcall_store::emergency::Grant;
use rollcall_store::locations::Location;
use rollcall_store::outbox::{self, OutboxMessage};
use rollcall_store::{Conn, access, audit, locations, new_id, roles, users};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{EmergencyGrant, views, what};
use crate::access::{OrgScope, location_names, names, subject_of};
use crate::audit::Meta;
use crate::clock::MINUTE;
use crate::error::FieldErrors;
use crate::{App, AppError, Principal};

/// A request for emergency access, for oneself.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(examples(json!({
    "permission": "clinical.charts",
    "location": "NS",
    "reason": "Covering Dr Lee's patients at Northside tonight",
    "minutes": 120
})))]
pub struct EmergencyRequest {
    /// A permission key of the catalogue (not an administration permission).
    pub permission: Option<String>,
    /// A location by id, code or name.
    pub location: Option<String>,
    /// Why, in 10 to 500 characters (once trimmed); company admins review every use.
    #[schema(min_length = 10, max_length = 500)]
    pub reason: String,
    /// How long, 15 minutes up to the organization's maximum (the maximum when absent).
    #[serde(deserialize_with = "crate::schema::whole")]
    #[schema(minimum = 15, maximum = 4320)]
    pub minutes: Option<i64>,
}

/// What a request asks for, each part parsed and checked against the organization.
struct Asked {
    permission: Option<Permission>,
    location: Option<Location>,
    reason: String,
    minutes: u32,
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn grant(
    app: &App,
    who: &Principal,
    req: &EmergencyRequest,
    path: Path,
    meta: &Meta,
) -> Result<EmergencyGrant, AppError> {
    let user_id = taken_by_a_person(who)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    users::lock(&mut tx, who.org_id, user_id).await?;
    let scope = OrgScope::load(&mut tx, who.org_id).await?;
    require_designated(&mut tx, &scope, user_id).await?;
    let all_locations = locations::list(&mut tx, who.org_id).await?;
    let asked = parse(
        req,
        &all_locations,
        scope.org.settings.emergency_max_minutes,
    )?;
    let user = crate::access::user_in(&mut tx, who.org_id, user_id).await?;
    let subject = subject_of(&mut tx, &user).await?;
    let names = location_names(&mut tx, who.org_id).await?;
    refuse_what_is_held(&scope, &subject, &asked, &names)?;
    judge(&scope, &subject, &asked, &all_locations, path, &names)?;

    let grant = Grant {
        id: new_id(),
        org_id: who.org_id,
        user_id,
        permission: asked.permission,
        location_id: asked.location.as_ref().map(|l| l.id),
        reason: asked.reason.clone(),
        granted_at: now,
        expires_at: now + i64::from(asked.minutes) * MINUTE,
        ended_at: None,
        review_state: ReviewState::Open.as_str().into(),
        reviewed_by: None,
        reviewer_name: None,
        reviewed_at: None,
        review_note: None,
    };
    if let Some(p) = grant.permission {
        access::grant_permissions(&mut tx, &[(user_id, p)]).await?;
    }
    if let Some(l) = grant.location_id {
        locations::grant(&mut tx, user_id, &[l]).await?;
    }
    rollcall_store::emergency::insert(&mut tx, &grant).await?;
    let view = views(
        &mut tx,
        who.org_id,
        &scope.org.time_zone,
        vec![grant.clone()],
    )
    .await?
    .remove(0);
    let event = meta.change(
        "emergency_access.granted",
        "user",
        Some(user_id),
        None::<&()>,
        Some(&recorded(&view, asked.minutes)),
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tell_company_admins(&mut tx, &scope, &view, now).await?;
    tx.commit().await?;
    tracing::warn!(grant = %view.id, user = %user_id, "emergency access granted");
    Ok(view)
}

/// Emergency access is taken by a person for themselves: not by a service account or the
/// operator, and through an API token only with the scope that changes users.
fn taken_by_a_person(who: &Principal) -> Result<Uuid, AppError> {
    let Some(user_id) = who.user_ref() else {
        return Err(AppError::Forbidden(
            "Emergency access is taken by a person for themselves; a service account or the operator cannot take it.".into(),
        ));
    };
    if who
        .scopes
        .as_ref()
        .is_some_and(|s| !s.contains(&Scope::UsersWrite))
    {
        return Err(AppError::Forbidden(
            "Taking emergency access through the API needs a personal token with the users:write scope.".into(),
        ));
    }
    Ok(user_id)
}

/// Only members of the role the organization designates may take emergency access.
async fn require_designated(
    conn: &mut Conn,
    scope: &OrgScope,
    user_id: Uuid,
) -> Result<(), AppError> {
    let designated = super::settings::designated_role(&scope.org.settings);
    let held = roles::grants_of(conn, user_id).await?;
    if designated.is_some_and(|role| held.roles.contains_key(&role)) {
        return Ok(());
    }
    Err(AppError::Forbidden(
        "You are not designated for emergency access. A company admin designates people by giving them the role chosen under Settings → Emergency access.".into(),
    ))
}

/// Every part of the request that does not parse is reported at once.
fn parse(
    req: &EmergencyRequest,
    all_locations: &[Location],
    max_minutes: u32,
) -> Result<Asked, AppError> {
    let mut errors = FieldErrors::default();
    let permission = match blank_to_none(&req.permission) {
        Some(key) => errors.take(Permission::parse(key).and_then(emergency::may_be_granted)),
        None => None,
    };
    let location = match blank_to_none(&req.location) {
        Some(text) => errors.take(active_location(all_locations, text)),
        None => None,
    };
    let reason = errors.take(emergency::reason(&req.reason));
    let minutes = errors.take(emergency::duration(req.minutes, max_minutes));
    if blank_to_none(&req.permission).is_none() && blank_to_none(&req.location).is_none() {
        errors.take::<()>(Err(ValueError::new(
            "permission",
            "emergency_access_empty",
            "Choose the permission or the location (or both) you need in this emergency.",
        )));
    }
    errors.into_result()?;
    Ok(Asked {
        permission,
        location,
        reason: reason.unwrap_or_default(),
        minutes: minutes.unwrap_or(max_minutes),
    })
}

fn blank_to_none(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn active_location(all: &[Location], text: &str) -> Result<Location, ValueError> {
    let id = names::location_id(all, "location", "location_unknown", text)?;
    let location = all.iter().find(|l| l.id == id).cloned().expect("found");
    if !location.active {
        return Err(ValueError::new(
            "location",
            "location_inactive",
            format!(
                "{} is deactivated: emergency access can only open an active location.",
                location.name
            ),
        ));
    }
    Ok(location)
}

/// Access the person already has is not emergency access: say so, and record nothing.
fn refuse_what_is_held(
    scope: &OrgScope,
    subject: &Subject,
    asked: &Asked,
    names: &BTreeMap<Uuid, String>,
) -> Result<(), AppError> {
    let mut errors = FieldErrors::default();
    let (effective, _) = scope.policy.effective(subject, names);
    if let Some(p) = asked.permission.filter(|p| effective.contains(p)) {
        errors.take::<()>(Err(ValueError::new(
            "permission",
            "emergency_access_already_held",
            format!(
                "You already hold “{}” ({}): there is nothing to grant. Ask only for what you lack.",
                p.label(),
                p.key()
            ),
        )));
    }
    if let Some(l) = asked
        .location
        .as_ref()
        .filter(|l| subject.locations.contains(&l.id))
    {
        errors.take::<()>(Err(ValueError::new(
            "location",
            "emergency_access_already_held",
            format!(
                "You already have access to {}: there is nothing to grant.",
                l.name
            ),
        )));
    }
    errors.into_result()
}

/// The rule engine judges the grant as the organization would grant it: every location and
/// permission in reach (so rule 4 does not stand in the way, which is what emergency access is
/// for), while the rules on who may hold what still hold.
fn judge(
    scope: &OrgScope,
    subject: &Subject,
    asked: &Asked,
    all_locations: &[Location],
    path: Path,
    names: &BTreeMap<Uuid, String>,
) -> Result<(), AppError> {
    let organization = Actor {
        user_id: Uuid::nil(),
        permissions: Permission::ALL.into_iter().collect(),
        locations: all_locations.iter().map(|l| l.id).collect(),
    };
    let mut subject = subject.clone();
    let changes = asked
        .location
        .as_ref()
        .map(|l| Change::GrantLocation(l.id))
        .into_iter()
        .chain(asked.permission.map(Change::GrantPermission));
    for change in changes {
        scope
            .policy
            .check(&organization, &subject, &change, path, None, names)
            .map_err(AppError::Refused)?;
        subject.apply(&change, path);
    }
    Ok(())
}

/// What the audit trail (and so the webhook event) records of a grant.
fn recorded(view: &EmergencyGrant, minutes: u32) -> serde_json::Value {
    serde_json::json!({
        "emergency_grant": view.id,
        "permission": view.permission,
        "location": view.location_name,
        "location_id": view.location_id,
        "reason": view.reason,
        "minutes": minutes,
        "expires_at": view.expires_at,
    })
}

/// Every active company admin but the grantee gets a message at once.
async fn tell_company_admins(
    conn: &mut Conn,
    scope: &OrgScope,
    view: &EmergencyGrant,
    now: i64,
) -> Result<(), AppError> {
    let admins = users::active_holding(conn, scope.org.id, &[Permission::AdminCompany]).await?;
    let public = crate::delivery::messages::PUBLIC_URL;
    let notices: Vec<OutboxMessage> = admins
        .iter()
        .filter(|a| a.id != view.user_id)
        .map(|admin| {
            OutboxMessage::notice(
                scope.org.id,
                &admin.email,
                format!("Emergency access used by {}", view.user_name),
                format!(
                "{name} granted themselves emergency access at {org}: {what}, until {until}.\n\nTheir reason: {reason}\n\nThe access ends by itself then. Every use is reviewed afterwards by a company admin: accept it, or flag it for a follow-up, at {public}/emergency-access/{id}\n",
                name = view.user_name,
                org = scope.org.name,
                what = what(view),
                until = view.expires_local,
                reason = view.reason,
                id = view.id,
            ),
                now,
            )
        })
        .collect();
    outbox::enqueue(conn, &notices).await?;
    Ok(())
}
