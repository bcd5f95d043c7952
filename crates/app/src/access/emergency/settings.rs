//! The organization's emergency-access settings: which role designates the people who may take
//! emergency access, and the longest a grant may last. Company admins change them; a change
//! is audited with the other settings' changes.

use rollcall_domain::{Capability, Module, Permission, emergency};
use rollcall_store::orgs::{self, OrgSettings};
use rollcall_store::{audit, locations, roles};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::names;
use crate::audit::Meta;
use crate::error::FieldErrors;
use crate::{App, AppError, Principal};

/// The emergency-access settings as read and written.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EmergencySettings {
    /// The role whose members may take emergency access; `None`: nobody may.
    pub role_id: Option<Uuid>,
    pub role_name: Option<String>,
    /// The longest a grant may last, in minutes (15 to 4320).
    pub max_minutes: u32,
}

/// A change of the emergency-access settings; what is absent stays as it is.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EmergencySettingsChange {
    /// The designating role by id or name; empty: nobody may take emergency access.
    pub role: Option<String>,
    /// The longest a grant may last, in minutes: 15 to 4320 (72 hours).
    #[serde(deserialize_with = "crate::schema::whole")]
    #[schema(minimum = 15, maximum = 4320)]
    pub max_minutes: Option<i64>,
}

/// The role the settings designate, if any.
pub(crate) fn designated_role(settings: &OrgSettings) -> Option<Uuid> {
    settings
        .emergency_role
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok())
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn get(app: &App, who: &Principal) -> Result<EmergencySettings, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let org = orgs::get(&mut conn, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let all = roles::list(&mut conn, who.org_id).await?;
    Ok(view(&org.settings, &all))
}

fn view(settings: &OrgSettings, all: &[roles::Role]) -> EmergencySettings {
    let role = designated_role(settings).and_then(|id| all.iter().find(|r| r.id == id));
    EmergencySettings {
        role_id: role.map(|r| r.id),
        role_name: role.map(|r| r.name.clone()),
        max_minutes: settings.emergency_max_minutes,
    }
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn update(
    app: &App,
    who: &Principal,
    change: &EmergencySettingsChange,
    meta: &Meta,
) -> Result<EmergencySettings, AppError> {
    who.require(Capability::ManageSettings)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let org = orgs::get(&mut tx, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let all = roles::list(&mut tx, who.org_id).await?;
    let before = org.settings.clone();
    let mut errors = FieldErrors::default();
    let role = match change.role.as_deref().map(str::trim) {
        None => Some(designated_role(&before)),
        Some("") => Some(None),
        Some(text) => errors
            .take(names::role_id(&all, "role", "role_unknown", text))
            .map(Some),
    };
    let max = match change.max_minutes {
        None => Some(before.emergency_max_minutes),
        Some(minutes) => errors.take(emergency::max_minutes(minutes)),
    };
    errors.into_result()?;
    let after = OrgSettings {
        emergency_role: role.flatten().map(|r| r.to_string()),
        emergency_max_minutes: max.unwrap_or(before.emergency_max_minutes),
        ..before.clone()
    };
    orgs::update_settings(&mut tx, org.id, &after).await?;
    let event = meta.change(
        "org.settings_changed",
        "organization",
        Some(org.id),
        Some(&view(&before, &all)),
        Some(&view(&after, &all)),
    );
    audit::append(&mut tx, org.id, now, &[event]).await?;
    tx.commit().await?;
    Ok(view(&after, &all))
}

/// What the emergency-access form offers a person: whether they are designated, the longest
/// grant, the permissions emergency access covers and the active locations.
pub struct Offer {
    pub designated: bool,
    pub max_minutes: u32,
    pub permissions: Vec<Permission>,
    /// (id, name) of the active locations.
    pub locations: Vec<(Uuid, String)>,
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn offer(app: &App, who: &Principal) -> Result<Offer, AppError> {
    let mut conn = app.db.read_conn().await?;
    let org = orgs::get(&mut conn, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let designated = match (designated_role(&org.settings), who.user_ref()) {
        (Some(role), Some(user)) => roles::grants_of(&mut conn, user)
            .await?
            .roles
            .contains_key(&role),
        _ => false,
    };
    Ok(Offer {
        designated,
        max_minutes: org.settings.emergency_max_minutes,
        permissions: Permission::ALL
            .into_iter()
            .filter(|p| p.module() != Module::Administration)
            .collect(),
        locations: locations::list(&mut conn, who.org_id)
            .await?
            .into_iter()
            .filter(|l| l.active)
            .map(|l| (l.id, l.name))
            .collect(),
    })
}
