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

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
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
    /// The user type as the organization names it.
    pub user_type_label: Option<String>,
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
            user_type_label: subject.user_type.as_deref().map(|code| {
                policy
                    .user_types
                    .iter()
                    .find(|t| t.code == code)
                    .map_or_else(|| code.to_string(), |t| t.label.clone())
            }),
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

/// Refuses a name another role of the organization has (letter case ignored); `except` is the
/// role being renamed.
fn check_name_free(all: &[Role], name: &str, except: Option<Uuid>) -> Result<(), AppError> {
    if all
        .iter()
        .any(|r| Some(r.id) != except && r.name.eq_ignore_ascii_case(name))
    {
        return Err(AppError::Conflict(format!(
            "There is already a role called “{name}”; choose another name."
        )));
    }
    Ok(())
}

/// What every role edit starts with: the capability, checked before anything is read, then the
/// name, checked before the transaction begins. Returns the name, the time and the transaction.
async fn begin_edit(
    app: &App,
    who: &Principal,
    name: &str,
) -> Result<(String, i64, rollcall_store::Tx), AppError> {
    who.require(Capability::EditAccess)?;
    let name = role_name(name)?;
    let now = app.clock.now();
    let tx = app.db.begin().await?;
    Ok((name, now, tx))
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
    let (name, now, mut tx) = begin_edit(app, who, name).await?;
    let policy = crate::access::policy_of(&mut tx, who.org_id).await?;
    let names = location_names(&mut tx, who.org_id).await?;
    // No members yet: only the actor's own grants bound what the role may carry.
    who.check_role_grants(
        &policy,
        &Subject::default(),
        permissions.iter().copied(),
        &names,
    )?;
    check_name_free(&roles::list(&mut tx, who.org_id).await?, &name, None)?;
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
    let (name, now, mut tx) = begin_edit(app, who, name).await?;
    let OrgScope { org, policy } = OrgScope::load(&mut tx, who.org_id).await?;
    let all = roles::list(&mut tx, org.id).await?;
    let role = all
        .iter()
        .find(|r| r.id == id)
        .cloned()
        .ok_or_else(|| AppError::not_found("role"))?;
    check_name_free(&all, &name, Some(id))?;
    let before: BTreeSet<Permission> = role.permissions.iter().copied().collect();
    let names = location_names(&mut tx, org.id).await?;
    let gained = permissions.difference(&before).copied();
    who.check_role_grants(&policy, &Subject::default(), gained, &names)?;
    let member_ids = roles::members(&mut tx, id).await?;
    let census = admin_census(&mut tx, org.id, &policy).await?;
    let members = members_of(&mut tx, org.id, &all, id, &member_ids).await?;
    let change = PermissionChange {
        policy: &policy,
        names: &names,
        before: &before,
        after: permissions,
    };
    let saved = Saved {
        id,
        filtered: change.judge(&who.actor(), &members, census)?,
    };
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

/// A member of a role as the rules see them, with what they hold through their other roles
/// (kept whatever this role does).
struct RoleMember {
    subject: Subject,
    other_roles: BTreeSet<Permission>,
}

async fn members_of(
    conn: &mut rollcall_store::Conn,
    org_id: Uuid,
    all: &[Role],
    role_id: Uuid,
    member_ids: &[Uuid],
) -> Result<Vec<RoleMember>, AppError> {
    Ok(rollcall_store::access::load(conn, org_id, member_ids)
        .await?
        .into_iter()
        .map(|row| {
            let other_roles = all
                .iter()
                .filter(|r| r.id != role_id && row.role_ids.contains(&r.id))
                .flat_map(|r| r.permissions.iter().copied())
                .collect();
            RoleMember {
                subject: crate::access::to_subject(row),
                other_roles,
            }
        })
        .collect())
}

/// A role's permissions going from `before` to `after`, judged for each of its members.
struct PermissionChange<'a> {
    policy: &'a rollcall_domain::Policy,
    names: &'a BTreeMap<Uuid, String>,
    before: &'a BTreeSet<Permission>,
    after: &'a BTreeSet<Permission>,
}

impl PermissionChange<'_> {
    /// Only what changes for this member: a permission they hold anyway is not at stake.
    fn changes_for(&self, member: &RoleMember) -> Vec<Change> {
        let kept = &member.other_roles;
        self.after
            .difference(self.before)
            .filter(|p| !kept.contains(p) && !member.subject.direct.contains(p))
            .map(|p| Change::GrantPermission(*p))
            .chain(
                self.before
                    .difference(self.after)
                    .filter(|p| !kept.contains(p))
                    .map(|p| Change::RevokePermission(*p)),
            )
            .collect()
    }

    /// Judges the change member by member, the admin census following each one; the first
    /// refusal refuses it all. Returns, per permission, how many members' types filter it out.
    fn judge(
        &self,
        actor: &rollcall_domain::Actor,
        members: &[RoleMember],
        mut census: rollcall_domain::AdminCensus,
    ) -> Result<BTreeMap<String, usize>, AppError> {
        let mut filtered = BTreeMap::new();
        for member in members {
            let changes = self.changes_for(member);
            if changes.is_empty() {
                continue;
            }
            let subject = &member.subject;
            let plan = self.policy.plan(
                actor,
                subject,
                &changes,
                Path::RoleEdit,
                Some(&census),
                self.names,
            );
            if let Some((_, why)) = plan.refused.into_iter().next() {
                return Err(AppError::Refused(why));
            }
            self.policy.update_census(&mut census, subject, &plan.after);
            for (p, _) in self.policy.effective(&plan.after, self.names).1 {
                if self.after.contains(&p) {
                    *filtered.entry(p.key().to_string()).or_default() += 1;
                }
            }
        }
        Ok(filtered)
    }
}
