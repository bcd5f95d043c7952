//! The provider's groups: stored per organization with their members, and mapped by a company
//! admin to roles and locations. A member who joins gets what the group gives and one who leaves
//! loses what no other group of theirs gives, each through the profile edit (the rule engine
//! judges every change; a refusal names its rule).

use std::collections::BTreeSet;

use rollcall_domain::{Capability, Path, ValueError};
use rollcall_store::scim::{self, Group};
use rollcall_store::{Conn, audit, locations, new_id, roles};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::names;
use crate::access::profile::{self, ProfileEdit};
use crate::audit::Meta;
use crate::{App, AppError, Principal};

/// A group as the provider sees it, with what its membership gives.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScimGroup {
    pub id: Uuid,
    pub display_name: String,
    pub external_id: Option<String>,
    /// (user id, display name), by display name.
    pub members: Vec<(Uuid, String)>,
    pub roles: Vec<Uuid>,
    pub locations: Vec<Uuid>,
    pub created_at: i64,
    pub last_modified: i64,
}

impl ScimGroup {
    pub fn version(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_vec(self).expect("a group serializes");
        hex::encode(&Sha256::digest(json)[..12])
    }
}

/// A group as the provider wants it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupState {
    pub display_name: String,
    pub external_id: Option<String>,
    pub members: BTreeSet<Uuid>,
}

impl GroupState {
    pub fn of(g: &ScimGroup) -> GroupState {
        GroupState {
            display_name: g.display_name.clone(),
            external_id: g.external_id.clone(),
            members: g.members.iter().map(|m| m.0).collect(),
        }
    }
}

/// What a group's membership gives, as a company admin names it: roles by id or name,
/// locations by id, code or name.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub locations: Vec<String>,
}

async fn view(conn: &mut Conn, org_id: Uuid, g: Group) -> Result<ScimGroup, AppError> {
    let mut members = Vec::with_capacity(g.members.len());
    for id in &g.members {
        if let Some(u) = rollcall_store::users::get(conn, org_id, *id).await? {
            members.push((u.id, u.display_name));
        }
    }
    members.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    Ok(ScimGroup {
        id: g.id,
        display_name: g.display_name,
        external_id: g.external_id,
        members,
        roles: g.roles.into_iter().collect(),
        locations: g.locations.into_iter().collect(),
        created_at: g.created_at,
        last_modified: g.updated_at,
    })
}

/// Every group of the organization, oldest first.
#[tracing::instrument(skip_all, fields(org = %who.org_id))]
pub async fn groups(app: &App, who: &Principal) -> Result<Vec<ScimGroup>, AppError> {
    who.require(Capability::ViewUsers)?;
    let conn = &mut *app.db.read_conn().await?;
    let mut out = Vec::new();
    for g in scim::groups(conn, who.org_id).await? {
        out.push(view(conn, who.org_id, g).await?);
    }
    Ok(out)
}

#[tracing::instrument(skip_all, fields(org = %who.org_id))]
pub async fn group(app: &App, who: &Principal, id: Uuid) -> Result<ScimGroup, AppError> {
    who.require(Capability::ViewUsers)?;
    let conn = &mut *app.db.read_conn().await?;
    let g = stored(conn, who.org_id, id).await?;
    view(conn, who.org_id, g).await
}

async fn stored(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<Group, AppError> {
    scim::group(conn, org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("group"))
}

/// A display name given, nobody else's group's (without regard to case), and members who are
/// all users of the organization.
async fn check_state(
    conn: &mut Conn,
    org_id: Uuid,
    state: &GroupState,
    except: Option<Uuid>,
) -> Result<(), AppError> {
    let name = state.display_name.trim();
    if name.is_empty() {
        return Err(ValueError::new(
            "displayName",
            "display_name_missing",
            "Give the group a displayName.",
        )
        .into());
    }
    let key = scim::user_name_key(name);
    if scim::groups(conn, org_id)
        .await?
        .iter()
        .any(|g| Some(g.id) != except && scim::user_name_key(&g.display_name) == key)
    {
        return Err(AppError::Conflict(format!(
            "The organization already has a group named “{name}”."
        )));
    }
    for m in &state.members {
        if rollcall_store::users::get(conn, org_id, *m)
            .await?
            .is_none()
        {
            return Err(ValueError::new(
                "members",
                "member_unknown",
                format!("The member {m} is not a user of this organization: give the id of one."),
            )
            .into());
        }
    }
    Ok(())
}

/// Creates a group; its members get what it gives (nothing until a company admin maps it).
#[tracing::instrument(skip_all, fields(org = %who.org_id))]
pub async fn create_group(
    app: &App,
    who: &Principal,
    state: &GroupState,
    meta: &Meta,
) -> Result<ScimGroup, AppError> {
    who.require(Capability::Provision)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    check_state(&mut tx, who.org_id, state, None).await?;
    let group = Group {
        id: new_id(),
        display_name: state.display_name.trim().to_string(),
        external_id: state.external_id.clone().filter(|e| !e.is_empty()),
        created_at: now,
        updated_at: now,
        members: state.members.clone(),
        roles: BTreeSet::new(),
        locations: BTreeSet::new(),
    };
    scim::save_group(&mut tx, who.org_id, &group).await?;
    let event = meta.change(
        "group.created",
        "group",
        Some(group.id),
        None::<&()>,
        Some(&audit_view(&group)),
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    let id = group.id;
    tx.commit().await?;
    self::group(app, who, id).await
}

fn audit_view(g: &Group) -> serde_json::Value {
    serde_json::json!({
        "display_name": g.display_name,
        "external_id": g.external_id,
        "members": g.members,
        "roles": g.roles,
        "locations": g.locations,
    })
}

/// Brings a group to the state the provider wants. Members who join get what it gives and
/// members who leave lose what no other group of theirs gives, each judged by the rules first;
/// a refusal refuses the change with the rule's reason and the group stays as it was.
#[tracing::instrument(skip_all, fields(org = %who.org_id))]
pub async fn update_group(
    app: &App,
    who: &Principal,
    id: Uuid,
    state: &GroupState,
    expected: Option<&str>,
    meta: &Meta,
) -> Result<ScimGroup, AppError> {
    who.require(Capability::Provision)?;
    let current = group(app, who, id).await?;
    if expected.is_some_and(|v| v != current.version()) {
        return Err(AppError::Stale(
            "The group changed since this version was read: read it again and send the change on the new version.".into(),
        ));
    }
    let mut stored_group = {
        let conn = &mut *app.db.read_conn().await?;
        check_state(conn, who.org_id, state, Some(id)).await?;
        stored(conn, who.org_id, id).await?
    };
    let joined: Vec<Uuid> = state
        .members
        .difference(&stored_group.members)
        .copied()
        .collect();
    let left: Vec<Uuid> = stored_group
        .members
        .difference(&state.members)
        .copied()
        .collect();
    for m in &joined {
        give(app, who, *m, &stored_group, meta).await?;
    }
    for m in &left {
        take_back(app, who, *m, &stored_group, meta).await?;
    }
    let before = audit_view(&stored_group);
    stored_group.display_name = state.display_name.trim().to_string();
    stored_group.external_id = state.external_id.clone().filter(|e| !e.is_empty());
    stored_group.members = state.members.clone();
    let after = audit_view(&stored_group);
    if before != after {
        let now = app.clock.now();
        stored_group.updated_at = now;
        let mut tx = app.db.begin().await?;
        scim::save_group(&mut tx, who.org_id, &stored_group).await?;
        let event = meta.change(
            "group.updated",
            "group",
            Some(id),
            Some(&before),
            Some(&after),
        );
        audit::append(&mut tx, who.org_id, now, &[event]).await?;
        tx.commit().await?;
    }
    group(app, who, id).await
}

/// Removes a group: its members lose what no other group of theirs gives.
#[tracing::instrument(skip_all, fields(org = %who.org_id))]
pub async fn delete_group(
    app: &App,
    who: &Principal,
    id: Uuid,
    meta: &Meta,
) -> Result<(), AppError> {
    who.require(Capability::Provision)?;
    let g = stored(&mut *app.db.read_conn().await?, who.org_id, id).await?;
    for m in &g.members {
        take_back(app, who, *m, &g, meta).await?;
    }
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    scim::delete_group(&mut tx, id).await?;
    let event = meta.change(
        "group.deleted",
        "group",
        Some(id),
        Some(&audit_view(&g)),
        None::<&()>,
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(())
}

/// Sets what a group's membership gives (a company admin); every member gets it at once, each
/// judged by the rules.
#[tracing::instrument(skip_all, fields(org = %who.org_id))]
pub async fn set_mapping(
    app: &App,
    who: &Principal,
    id: Uuid,
    mapping: &Mapping,
    meta: &Meta,
) -> Result<ScimGroup, AppError> {
    who.require(Capability::ManageSettings)?;
    let mut g = {
        let conn = &mut *app.db.read_conn().await?;
        let mut g = stored(conn, who.org_id, id).await?;
        let all_roles = roles::list(conn, who.org_id).await?;
        let all_locations = locations::list(conn, who.org_id).await?;
        let mut errors = crate::error::FieldErrors::default();
        g.roles = mapping
            .roles
            .iter()
            .filter_map(|r| errors.take(names::role_id(&all_roles, "roles", "role_unknown", r)))
            .collect();
        g.locations = mapping
            .locations
            .iter()
            .filter_map(|l| {
                errors.take(names::location_id(
                    &all_locations,
                    "locations",
                    "location_unknown",
                    l,
                ))
            })
            .collect();
        errors.into_result()?;
        g
    };
    for m in g.members.clone() {
        give(app, who, m, &g, meta).await?;
    }
    let now = app.clock.now();
    g.updated_at = now;
    let before = stored(&mut *app.db.read_conn().await?, who.org_id, id).await?;
    let mut tx = app.db.begin().await?;
    scim::save_group(&mut tx, who.org_id, &g).await?;
    let event = meta.change(
        "group.mapped",
        "group",
        Some(id),
        Some(&audit_view(&before)),
        Some(&audit_view(&g)),
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    group(app, who, id).await
}

/// A member's roles and locations now, as ids.
async fn access_of(
    app: &App,
    who: &Principal,
    user: Uuid,
) -> Result<(BTreeSet<Uuid>, BTreeSet<Uuid>, Option<Uuid>), AppError> {
    let p = profile::get(app, who, user).await?;
    let roles = p.roles.iter().filter(|r| r.member).map(|r| r.id).collect();
    let locations = p
        .locations
        .iter()
        .filter(|l| l.granted)
        .map(|l| l.id)
        .collect();
    Ok((roles, locations, p.default_location))
}

/// The member gets the group's roles and locations (a profile edit, judged by the rules).
async fn give(
    app: &App,
    who: &Principal,
    user: Uuid,
    g: &Group,
    meta: &Meta,
) -> Result<(), AppError> {
    if g.roles.is_empty() && g.locations.is_empty() {
        return Ok(());
    }
    let (roles, locations, _) = access_of(app, who, user).await?;
    let want_roles: BTreeSet<Uuid> = roles.union(&g.roles).copied().collect();
    let want_locations: BTreeSet<Uuid> = locations.union(&g.locations).copied().collect();
    apply(
        app,
        who,
        user,
        (&roles, &want_roles),
        (&locations, &want_locations),
        meta,
    )
    .await
}

/// The member loses the group's roles and locations that none of their other groups gives
/// (never their default location).
async fn take_back(
    app: &App,
    who: &Principal,
    user: Uuid,
    g: &Group,
    meta: &Meta,
) -> Result<(), AppError> {
    if g.roles.is_empty() && g.locations.is_empty() {
        return Ok(());
    }
    let others: Vec<Group> = scim::groups(&mut *app.db.read_conn().await?, who.org_id)
        .await?
        .into_iter()
        .filter(|o| o.id != g.id && o.members.contains(&user))
        .collect();
    let kept_roles: BTreeSet<Uuid> = others
        .iter()
        .flat_map(|o| o.roles.iter().copied())
        .collect();
    let kept_locations: BTreeSet<Uuid> = others
        .iter()
        .flat_map(|o| o.locations.iter().copied())
        .collect();
    let (roles, locations, default) = access_of(app, who, user).await?;
    let want_roles = roles
        .iter()
        .filter(|r| !g.roles.contains(r) || kept_roles.contains(r))
        .copied()
        .collect();
    let want_locations = locations
        .iter()
        .filter(|l| !g.locations.contains(l) || kept_locations.contains(l) || Some(**l) == default)
        .copied()
        .collect();
    apply(
        app,
        who,
        user,
        (&roles, &want_roles),
        (&locations, &want_locations),
        meta,
    )
    .await
}

async fn apply(
    app: &App,
    who: &Principal,
    user: Uuid,
    roles: (&BTreeSet<Uuid>, &BTreeSet<Uuid>),
    locations: (&BTreeSet<Uuid>, &BTreeSet<Uuid>),
    meta: &Meta,
) -> Result<(), AppError> {
    if roles.0 == roles.1 && locations.0 == locations.1 {
        return Ok(());
    }
    let ids = |s: &BTreeSet<Uuid>| Some(s.iter().map(Uuid::to_string).collect());
    let edit = ProfileEdit {
        roles: ids(roles.1),
        locations: ids(locations.1),
        ..ProfileEdit::default()
    };
    profile::update(app, who, user, &edit, None, Path::Scim, meta).await?;
    Ok(())
}

/// A provider's group as an integrator reads its mapping: what membership gives, by name.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MappedGroup {
    pub id: Uuid,
    pub display_name: String,
    pub external_id: Option<String>,
    /// How many people the provider has put in the group.
    pub members: usize,
    /// Roles every member gets.
    pub roles: Vec<Named>,
    /// Locations every member gets.
    pub locations: Vec<Named>,
}

/// A role or location by id, with its name (and a location's code).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Named {
    pub id: Uuid,
    pub name: String,
    pub code: Option<String>,
}

/// Every group with its mapping, oldest first.
pub async fn mapped_groups(app: &App, who: &Principal) -> Result<Vec<MappedGroup>, AppError> {
    let all = groups(app, who).await?;
    let (roles, locations) = catalogue(app, who).await?;
    Ok(all.iter().map(|g| mapped(g, &roles, &locations)).collect())
}

/// Sets a group's mapping (see [`set_mapping`]) and answers it as [`mapped_groups`] shows it.
pub async fn map(
    app: &App,
    who: &Principal,
    id: Uuid,
    mapping: &Mapping,
    meta: &Meta,
) -> Result<MappedGroup, AppError> {
    let g = set_mapping(app, who, id, mapping, meta).await?;
    let (roles, locations) = catalogue(app, who).await?;
    Ok(mapped(&g, &roles, &locations))
}

async fn catalogue(app: &App, who: &Principal) -> Result<(Vec<Named>, Vec<Named>), AppError> {
    let conn = &mut *app.db.read_conn().await?;
    let roles = roles::list(conn, who.org_id)
        .await?
        .into_iter()
        .map(|r| Named {
            id: r.id,
            name: r.name,
            code: None,
        })
        .collect();
    let locations = locations::list(conn, who.org_id)
        .await?
        .into_iter()
        .map(|l| Named {
            id: l.id,
            name: l.name,
            code: Some(l.code),
        })
        .collect();
    Ok((roles, locations))
}

fn mapped(g: &ScimGroup, roles: &[Named], locations: &[Named]) -> MappedGroup {
    let pick = |all: &[Named], ids: &[Uuid]| -> Vec<Named> {
        all.iter()
            .filter(|n| ids.contains(&n.id))
            .cloned()
            .collect()
    };
    MappedGroup {
        id: g.id,
        display_name: g.display_name.clone(),
        external_id: g.external_id.clone(),
        members: g.members.len(),
        roles: pick(roles, &g.roles),
        locations: pick(locations, &g.locations),
    }
}
