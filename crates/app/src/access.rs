//! Who is acting, and what their access profile lets them do.
//!
//! A principal's permissions are the user's effective permissions (roles and direct grants,
//! filtered by the rule engine); an API token narrows them further to its scopes.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_domain::{Actor, Capability, Permission, Policy, Scope, Subject};
use rollcall_store::{Conn, locations, orgs, users};
use uuid::Uuid;

use crate::{App, AppError};

#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub org_id: Uuid,
    pub user_id: Uuid,
    /// "Dana Lee <dana@clinic.org>", as audit events name the actor.
    pub label: String,
    pub display_name: String,
    pub org_name: String,
    /// The organization's IANA zone, for showing times.
    pub time_zone: String,
    pub permissions: BTreeSet<Permission>,
    pub locations: BTreeSet<Uuid>,
    /// Scopes of the API token in use; `None` in a console session.
    pub scopes: Option<BTreeSet<Scope>>,
}

impl Principal {
    /// A user's principal under the organization's rules; `None` if the user cannot act (not
    /// active).
    pub async fn of_user(
        app: &App,
        org_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<Principal>, AppError> {
        let mut conn = app.db.read_conn().await?;
        let policy = policy_of(&mut conn, org_id).await?;
        Principal::load(&mut conn, &policy, org_id, user_id).await
    }

    /// Loads a signed-in user's principal; `None` if the user cannot act (not active).
    pub(crate) async fn load(
        conn: &mut Conn,
        policy: &Policy,
        org_id: Uuid,
        user_id: Uuid,
    ) -> Result<Option<Principal>, AppError> {
        let Some(user) = users::get(conn, org_id, user_id).await? else {
            return Ok(None);
        };
        if user.status != "active" {
            return Ok(None);
        }
        let subject = subject_of(conn, &user).await?;
        let locs = subject.locations.clone();
        let (permissions, _filtered) = policy.effective(&subject, &BTreeMap::<Uuid, String>::new());
        // A company admin reaches every location of the organization.
        let locations = if permissions.contains(&Permission::AdminCompany) {
            locations::list(conn, org_id)
                .await?
                .into_iter()
                .map(|l| l.id)
                .collect()
        } else {
            locs
        };
        let (org_name, time_zone) = orgs::get(conn, org_id)
            .await?
            .map(|o| (o.name, o.time_zone))
            .unwrap_or_default();
        Ok(Some(Principal {
            org_id,
            org_name,
            time_zone,
            user_id,
            label: format!("{} <{}>", user.display_name, user.email),
            display_name: user.display_name,
            permissions,
            locations,
            scopes: None,
        }))
    }

    /// The operator at the command line: every permission and location of one organization,
    /// acting as no user (audit events name the operator instead).
    pub async fn operator(app: &App, org_id: Uuid, label: &str) -> Result<Principal, AppError> {
        let mut conn = app.db.read_conn().await?;
        Principal::operator_on(&mut conn, org_id, label).await
    }

    pub(crate) async fn operator_on(
        conn: &mut Conn,
        org_id: Uuid,
        label: &str,
    ) -> Result<Principal, AppError> {
        let org = orgs::get(conn, org_id)
            .await?
            .ok_or_else(|| AppError::not_found("organization"))?;
        Ok(Principal {
            org_id,
            user_id: Uuid::nil(),
            label: label.to_string(),
            display_name: label.to_string(),
            org_name: org.name,
            time_zone: org.time_zone,
            permissions: Permission::ALL.into_iter().collect(),
            locations: locations::list(conn, org_id)
                .await?
                .into_iter()
                .map(|l| l.id)
                .collect(),
            scopes: None,
        })
    }

    /// The operator at the command line acting as a user of the organization (`--inviter`):
    /// the messages name that person and the rule engine judges the change by their access.
    pub async fn acting_as(app: &App, org_id: Uuid, email: &str) -> Result<Principal, AppError> {
        let email = rollcall_domain::Email::parse(email)?;
        let conn = &mut *app.db.read_conn().await?;
        let user = users::get_by_email_key(conn, org_id, email.match_key())
            .await?
            .ok_or_else(|| {
                AppError::NotFound(format!(
                    "Nobody with the address {email} is in this organization: name an active user who may invite."
                ))
            })?;
        let policy = policy_of(conn, org_id).await?;
        Principal::load(conn, &policy, org_id, user.id)
            .await?
            .ok_or_else(|| {
                AppError::Forbidden(format!(
                    "{email} is {}, not active: only an active user can invite.",
                    user.status
                ))
            })
    }

    /// The user behind this principal (`None` for the operator).
    pub fn user_ref(&self) -> Option<Uuid> {
        (!self.user_id.is_nil()).then_some(self.user_id)
    }

    pub fn with_scopes(mut self, scopes: BTreeSet<Scope>) -> Principal {
        self.scopes = Some(scopes);
        self
    }

    /// Whether this principal has the capability (what a front end asks to decide what to show).
    pub fn can(&self, capability: Capability) -> bool {
        capability.granted(&self.permissions, self.scopes.as_ref())
    }

    /// The one check every use case starts with. Changing access is also rule 6 of the rule
    /// engine, so a viewer is told that rule rather than only that access is missing.
    pub fn require(&self, capability: Capability) -> Result<(), AppError> {
        if capability == Capability::EditAccess {
            Policy::may_change_users(&self.actor()).map_err(AppError::Refused)?;
        }
        if self.can(capability) {
            Ok(())
        } else {
            Err(AppError::Forbidden(capability.missing().into()))
        }
    }

    /// The rule engine's view of this actor.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.user_id,
            permissions: self.permissions.clone(),
            locations: self.locations.clone(),
        }
    }
}

pub fn parse_permissions(keys: &[String]) -> BTreeSet<Permission> {
    keys.iter()
        .filter_map(|k| Permission::parse(k).ok())
        .collect()
}

/// The organization's rule data.
pub(crate) async fn policy_of(conn: &mut Conn, org_id: Uuid) -> Result<Policy, AppError> {
    let org = orgs::get(conn, org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    parse_policy(&org.policy)
}

/// A stored policy that does not parse is a fault, never a reason to fall back to other rules.
pub fn parse_policy(json: &str) -> Result<Policy, AppError> {
    serde_json::from_str(json).map_err(|e| {
        AppError::Internal(format!("the organization's rule data does not parse: {e}"))
    })
}

/// The rule engine's view of a stored user: type, status, access and grants.
pub(crate) async fn subject_of(conn: &mut Conn, user: &users::User) -> Result<Subject, AppError> {
    subjects(conn, user.org_id, &[user.id])
        .await?
        .pop()
        .ok_or_else(|| AppError::not_found("user"))
}

/// The rule engine's view of many users of one organization, in the order of `ids`.
pub(crate) async fn subjects(
    conn: &mut Conn,
    org_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Subject>, AppError> {
    Ok(rollcall_store::access::load(conn, org_id, ids)
        .await?
        .into_iter()
        .map(to_subject)
        .collect())
}

pub fn to_subject(row: rollcall_store::access::AccessRow) -> Subject {
    Subject {
        user_id: row.user_id,
        display_name: row.display_name,
        user_type: row.user_type,
        active: row.status == "active",
        default_location: row.default_location,
        locations: row.locations.into_iter().collect(),
        direct: parse_permissions(&row.direct),
        role_permissions: parse_permissions(&row.role_permissions),
    }
}

/// How many active admins the company and each location have (rule 3).
pub(crate) async fn admin_census(
    conn: &mut Conn,
    org_id: Uuid,
    policy: &Policy,
) -> Result<rollcall_domain::AdminCensus, AppError> {
    let admins: Vec<Uuid> = users::active_holding(
        conn,
        org_id,
        &[
            Permission::AdminCompany.key(),
            Permission::AdminClinic.key(),
        ],
    )
    .await?
    .into_iter()
    .map(|u| u.id)
    .collect();
    let subjects = subjects(conn, org_id, &admins).await?;
    Ok(policy.census(subjects.iter()))
}

/// Rule 4 for permissions handed out through a role: the actor must hold each one. `subject`
/// stands for whoever receives them (a stand-in when there is nobody yet).
pub fn check_role_grants(
    policy: &Policy,
    who: &Principal,
    subject: &Subject,
    permissions: impl IntoIterator<Item = Permission>,
    names: &BTreeMap<Uuid, String>,
) -> Result<(), AppError> {
    for p in permissions {
        policy
            .check(
                &who.actor(),
                subject,
                &rollcall_domain::Change::GrantPermission(p),
                rollcall_domain::Path::RoleEdit,
                None,
                names,
            )
            .map_err(AppError::Refused)?;
    }
    Ok(())
}

/// Location names for the rule engine's messages.
pub(crate) async fn location_names(
    conn: &mut Conn,
    org_id: Uuid,
) -> Result<BTreeMap<Uuid, String>, AppError> {
    Ok(locations::list(conn, org_id)
        .await?
        .into_iter()
        .map(|l| (l.id, l.name))
        .collect())
}
