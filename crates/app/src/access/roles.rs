//! Roles (permission groups): create, rename, change their permissions, see their members.
//!
//! A role's change reaches every member at once, so the rule engine judges it for each member
//! (path `RoleEdit`): the actor must hold what the role gains (rule 4) and reach its members,
//! and no clinic or the company may lose its last active admin (rule 3). A permission a
//! member's type forbids is not refused but filtered for that member (rules 1 and 2); the
//! answer says for how many.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_domain::{Capability, Change, Path, Permission, Subject, ValueError};
use rollcall_store::roles::{self, Role};
use serde::Serialize;
use uuid::Uuid;

use crate::access::OrgScope;
use crate::access::{admin_census, location_names};
use crate::audit::Meta;
use crate::{App, AppError, Principal};

#[derive(Debug, Clone, Serialize)]
pub struct RoleView {
    pub id: Uuid,
    pub name: String,
    pub predefined: bool,
    pub permissions: Vec<Permission>,
    pub members: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Member {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub user_type: Option<String>,
    /// Permissions of this role not in effect for this member, with the reason.
    pub filtered: Vec<String>,
}

/// What saving a role did beyond the role itself.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Saved {
    pub id: Uuid,
    /// Per permission, how many members' types keep it from taking effect.
    pub filtered: BTreeMap<String, usize>,
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn list(app: &App, who: &Principal) -> Result<Vec<RoleView>, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let counts = roles::member_counts(&mut conn, who.org_id).await?;
    Ok(roles::list(&mut conn, who.org_id)
        .await?
        .into_iter()
        .map(|r| RoleView {
            members: counts.get(&r.id).copied().unwrap_or(0),
            id: r.id,
            name: r.name,
            predefined: r.predefined,
            permissions: r.permissions,
        })
        .collect())
}

/// A role by name (letter case ignored); a miss lists the roles.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn find_by_name(app: &App, who: &Principal, name: &str) -> Result<Role, AppError> {
    who.require(Capability::ViewUsers)?;
    let all = roles::list(&mut *app.db.read_conn().await?, who.org_id).await?;
    all.iter()
        .find(|r| r.name.eq_ignore_ascii_case(name.trim()))
        .cloned()
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "No role “{name}” in {}: the roles are {}.",
                who.org_name,
                all.iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn get(
    app: &App,
    who: &Principal,
    id: Uuid,
) -> Result<(RoleView, Vec<Member>), AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let role = roles::get(&mut conn, who.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("role"))?;
    let policy = crate::access::policy_of(&mut conn, who.org_id).await?;
    let ids = roles::members(&mut conn, id).await?;
    let rows = rollcall_store::access::load(&mut conn, who.org_id, &ids).await?;
    let names = location_names(&mut conn, who.org_id).await?;
    let mut members = Vec::new();
    for row in rows {
        let (name, email) = (row.display_name.clone(), row.email.clone());
        let subject = crate::access::to_subject(row);
        let (_, filtered) = policy.effective(&subject, &names);
        members.push(Member {
            id: subject.user_id,
            name,
            email,
            user_type: subject.user_type.clone(),
            filtered: filtered
                .into_iter()
                .filter(|(p, _)| role.permissions.contains(p))
                .map(|(_, why)| why.message)
                .collect(),
        });
    }
    members.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((
        RoleView {
            members: members.len() as i64,
            id: role.id,
            name: role.name,
            predefined: role.predefined,
            permissions: role.permissions,
        },
        members,
    ))
}

fn role_name(input: &str) -> Result<String, ValueError> {
    let name = input.trim();
    if name.is_empty() || name.chars().count() > 60 {
        return Err(ValueError::new(
            "name",
            "role_name_invalid",
            "A role's name must be 1–60 characters.",
        ));
    }
    Ok(name.to_string())
}

fn taken(name: &str) -> AppError {
    AppError::Conflict(format!(
        "There is already a role called “{name}”; choose another name."
    ))
}

/// Creates a role. The actor must hold every permission it carries (rule 4).
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn create(
    app: &App,
    who: &Principal,
    name: &str,
    permissions: &BTreeSet<Permission>,
    meta: &Meta,
) -> Result<Saved, AppError> {
    who.require(Capability::EditAccess)?;
    let name = role_name(name)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let policy = crate::access::policy_of(&mut tx, who.org_id).await?;
    let names = location_names(&mut tx, who.org_id).await?;
    // No members yet: only the actor's own grants bound what the role may carry.
    who.check_role_grants(
        &policy,
        &Subject::default(),
        permissions.iter().copied(),
        &names,
    )?;
    if roles::list(&mut tx, who.org_id)
        .await?
        .iter()
        .any(|r| r.name.eq_ignore_ascii_case(&name))
    {
        return Err(taken(&name));
    }
    let role = Role {
        id: rollcall_store::new_id(),
        org_id: who.org_id,
        name: name.clone(),
        predefined: false,
        permissions: permissions.iter().copied().collect(),
    };
    roles::insert(&mut tx, &role, now).await?;
    rollcall_store::audit::append(
        &mut tx,
        who.org_id,
        now,
        &[meta.change(
            "role.created",
            "role",
            Some(role.id),
            None::<&()>,
            Some(&serde_json::json!({ "name": name, "permissions": role.permissions })),
        )],
    )
    .await?;
    tx.commit().await?;
    Ok(Saved {
        id: role.id,
        ..Saved::default()
    })
}

/// Renames a role and sets its permissions; the change reaches every member, each judged by the
/// rules. A refusal for any member refuses the whole change.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn update(
    app: &App,
    who: &Principal,
    id: Uuid,
    name: &str,
    permissions: &BTreeSet<Permission>,
    meta: &Meta,
) -> Result<Saved, AppError> {
    who.require(Capability::EditAccess)?;
    let name = role_name(name)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let OrgScope { org, policy } = OrgScope::load(&mut tx, who.org_id).await?;
    let all = roles::list(&mut tx, org.id).await?;
    let role = all
        .iter()
        .find(|r| r.id == id)
        .cloned()
        .ok_or_else(|| AppError::not_found("role"))?;
    if all
        .iter()
        .any(|r| r.id != id && r.name.eq_ignore_ascii_case(&name))
    {
        return Err(taken(&name));
    }
    let before: BTreeSet<Permission> = role.permissions.iter().copied().collect();
    let names = location_names(&mut tx, org.id).await?;
    let gained = permissions.difference(&before).copied();
    who.check_role_grants(&policy, &Subject::default(), gained, &names)?;
    // Each member as the rules see them, with what this role gives them and what they hold
    // otherwise (direct grants and other roles).
    let member_ids = roles::members(&mut tx, id).await?;
    let mut census = admin_census(&mut tx, org.id, &policy).await?;
    // Each member, and what they hold through their other roles (kept whatever this role does).
    let (members, others): (Vec<Subject>, BTreeMap<Uuid, BTreeSet<Permission>>) =
        rollcall_store::access::load(&mut tx, org.id, &member_ids)
            .await?
            .into_iter()
            .map(|row| {
                let other: BTreeSet<Permission> = all
                    .iter()
                    .filter(|r| r.id != id && row.role_ids.contains(&r.id))
                    .flat_map(|r| r.permissions.iter().copied())
                    .collect();
                let subject = crate::access::to_subject(row);
                let user = subject.user_id;
                (subject, (user, other))
            })
            .unzip();
    let mut saved = Saved {
        id,
        ..Saved::default()
    };
    for member in &members {
        let kept = others.get(&member.user_id).cloned().unwrap_or_default();
        // Only what changes for this member: a permission they hold anyway is not at stake.
        let changes: Vec<Change> = permissions
            .difference(&before)
            .filter(|p| !kept.contains(p) && !member.direct.contains(p))
            .map(|p| Change::GrantPermission(*p))
            .chain(
                before
                    .difference(permissions)
                    .filter(|p| !kept.contains(p))
                    .map(|p| Change::RevokePermission(*p)),
            )
            .collect();
        if changes.is_empty() {
            continue;
        }
        let plan = policy.plan(
            &who.actor(),
            member,
            &changes,
            Path::RoleEdit,
            Some(&census),
            &names,
        );
        if let Some((_, why)) = plan.refused.into_iter().next() {
            return Err(AppError::Refused(why));
        }
        policy.update_census(&mut census, member, &plan.after);
        for (p, _) in policy.effective(&plan.after, &names).1 {
            if permissions.contains(&p) {
                *saved.filtered.entry(p.key().to_string()).or_default() += 1;
            }
        }
    }
    let keys: Vec<Permission> = permissions.iter().copied().collect();
    if name != role.name {
        roles::rename(&mut tx, org.id, id, &name).await?;
    }
    roles::set_permissions(&mut tx, id, &keys).await?;
    rollcall_store::audit::append(
        &mut tx,
        org.id,
        now,
        &[meta.change(
            "role.updated",
            "role",
            Some(id),
            Some(&serde_json::json!({ "name": role.name, "permissions": role.permissions })),
            Some(
                &serde_json::json!({ "name": name, "permissions": keys, "members": members.len() }),
            ),
        )],
    )
    .await?;
    tx.commit().await?;
    Ok(saved)
}
