//! Who is acting, and what their access profile lets them do.
//!
//! A principal's permissions are the user's effective permissions (roles and direct grants,
//! filtered by the rule engine); an API token narrows them further to its scopes.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_domain::{Actor, Capability, Permission, Policy, Scope, Subject, UserStatus};
use rollcall_store::{Conn, locations, orgs, users};
use uuid::Uuid;

use crate::access::rules::{OrgScope, to_subject};
use crate::{App, AppError};

#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub org_id: Uuid,
    pub user_id: Uuid,
    /// "Dana Lee <dana@clinic.org>", as audit events name the actor.
    pub label: String,
    pub display_name: String,
    pub org_name: String,
    /// The organization's short code (its sign-in slug), as the command line names it.
    pub org_code: String,
    /// The organization's IANA zone, for showing times.
    pub time_zone: String,
    /// How long a console session may sit unused before it ends (the organization's setting).
    pub idle_timeout_minutes: i64,
    pub permissions: BTreeSet<Permission>,
    pub locations: BTreeSet<Uuid>,
    /// Scopes of the API token in use; `None` in a console session.
    pub scopes: Option<BTreeSet<Scope>>,
    /// The API token in use; `None` in a console session and at the command line.
    pub token_id: Option<Uuid>,
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
        let scope = OrgScope::load(&mut conn, org_id).await?;
        Principal::load(&mut conn, &scope, user_id).await
    }

    /// Loads a signed-in user's principal under the organization's rules (read by the caller,
    /// who needs them too); `None` if the user cannot act (not active, or not of it).
    pub(crate) async fn load(
        conn: &mut Conn,
        scope: &OrgScope,
        user_id: Uuid,
    ) -> Result<Option<Principal>, AppError> {
        let org = &scope.org;
        let Some(row) = rollcall_store::access::load(conn, org.id, &[user_id])
            .await?
            .pop()
        else {
            return Ok(None);
        };
        if row.status != UserStatus::Active {
            return Ok(None);
        }
        let label = format!("{} <{}>", row.display_name, row.email);
        let subject = to_subject(row);
        let (permissions, _filtered) = scope
            .policy
            .effective(&subject, &BTreeMap::<Uuid, String>::new());
        // A company admin reaches every location of the organization.
        let locations = if permissions.contains(&Permission::AdminCompany) {
            locations::list(conn, org.id)
                .await?
                .into_iter()
                .map(|l| l.id)
                .collect()
        } else {
            subject.locations.clone()
        };
        Ok(Some(Principal {
            org_id: org.id,
            org_name: org.name.clone(),
            org_code: org.slug.clone(),
            time_zone: org.time_zone.clone(),
            idle_timeout_minutes: org.settings.idle_timeout_minutes as i64,
            user_id,
            label,
            display_name: subject.display_name,
            permissions,
            locations,
            scopes: None,
            token_id: None,
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
            org_code: org.slug,
            time_zone: org.time_zone,
            idle_timeout_minutes: org.settings.idle_timeout_minutes as i64,
            permissions: Permission::ALL.into_iter().collect(),
            locations: locations::list(conn, org_id)
                .await?
                .into_iter()
                .map(|l| l.id)
                .collect(),
            scopes: None,
            token_id: None,
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
        let scope = OrgScope::load(conn, org_id).await?;
        Principal::load(conn, &scope, user.id)
            .await?
            .ok_or_else(|| {
                AppError::Forbidden(format!(
                    "{email} is {}, not active: only an active user can invite.",
                    user.status.as_str()
                ))
            })
    }

    /// The user behind this principal (`None` for the operator).
    pub fn user_ref(&self) -> Option<Uuid> {
        (!self.user_id.is_nil()).then_some(self.user_id)
    }

    /// The principal as an API token acts: its scopes narrow what the person may do.
    pub fn with_token(mut self, token_id: Uuid, scopes: BTreeSet<Scope>) -> Principal {
        self.scopes = Some(scopes);
        self.token_id = Some(token_id);
        self
    }

    /// Whom the audit trail names as the actor: the person, or a service account's token.
    pub fn actor_id(&self) -> Uuid {
        match (self.user_ref(), self.token_id) {
            (None, Some(token)) => token,
            _ => self.user_id,
        }
    }

    /// The credential that acts: an API token, a person's session, or the operator. Keys that
    /// make a retry safe belong to it, so nobody else's retry can replay its answer.
    pub fn credential(&self) -> String {
        match (self.token_id, self.user_ref()) {
            (Some(token), _) => format!("token:{token}"),
            (None, Some(user)) => format!("user:{user}"),
            (None, None) => "operator".into(),
        }
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

    /// Rule 4 for permissions handed out through a role: the actor must hold each one. `subject`
    /// stands for whoever receives them (a stand-in when there is nobody yet).
    pub fn check_role_grants(
        &self,
        policy: &Policy,
        subject: &Subject,
        permissions: impl IntoIterator<Item = Permission>,
        names: &BTreeMap<Uuid, String>,
    ) -> Result<(), AppError> {
        for p in permissions {
            policy
                .check(
                    &self.actor(),
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
}
