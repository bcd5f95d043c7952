//! What someone may do in Rollcall, derived in one place from the permissions they hold and, for
//! an API token, its scopes. Every use case starts by requiring one capability; front ends ask
//! the same question to decide what to show.

use std::collections::BTreeSet;

use serde::{Serialize, Serializer};

use crate::{Permission, ValueError};

/// A scope an API token is limited to. A token never does more than its owner may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    UsersRead,
    UsersWrite,
    TokensWrite,
    /// Provisioning from an identity provider over SCIM 2.0 (`/scim/v2`).
    Scim,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::UsersRead,
        Scope::UsersWrite,
        Scope::TokensWrite,
        Scope::Scim,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Scope::UsersRead => "users:read",
            Scope::UsersWrite => "users:write",
            Scope::TokensWrite => "tokens:write",
            Scope::Scim => "scim",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Scope::UsersRead => "read users, roles, locations and the audit log",
            Scope::UsersWrite => "invite, import, change and deactivate users",
            Scope::TokensWrite => {
                "create, rotate and revoke API tokens (never with scopes the token lacks)"
            }
            Scope::Scim => {
                "provision users and groups from an identity provider over SCIM 2.0 (read, create, change and deactivate users)"
            }
        }
    }

    pub fn parse(key: &str) -> Result<Scope, ValueError> {
        Scope::ALL
            .into_iter()
            .find(|s| s.key() == key.trim())
            .ok_or_else(|| {
                ValueError::new(
                    "scopes",
                    "scope_unknown",
                    format!(
                        "“{key}” is not a scope: use users:read, users:write, tokens:write or scim."
                    ),
                )
            })
    }
}

key_schema!(Scope, key, "A scope an API token is limited to.");

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.key())
    }
}

/// Whom an API token belongs to, and so whom it acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenOwner {
    /// Acts as the person who made it, with their access; ends when they are deactivated.
    Person,
    /// A service account: acts as the organization (every location), audited as itself, and
    /// outlives any one admin.
    Organization,
}

impl TokenOwner {
    pub fn key(self) -> &'static str {
        match self {
            TokenOwner::Person => "person",
            TokenOwner::Organization => "organization",
        }
    }

    pub fn parse(key: &str) -> Result<TokenOwner, ValueError> {
        match key.trim() {
            "person" => Ok(TokenOwner::Person),
            "organization" => Ok(TokenOwner::Organization),
            other => Err(ValueError::new(
                "owner",
                "owner_unknown",
                format!(
                    "“{other}” is not a token owner: use organization (a service account) or person (acts as you)."
                ),
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Capability {
    /// Read user management: people, roles, locations, jobs, the directory, the audit trail.
    ViewUsers,
    /// Change people's profiles and access: profile edits, role edits, bulk updates.
    EditAccess,
    /// Deactivate and reactivate people; resend and revoke their invitations.
    ManageUsers,
    /// Invite people one at a time or by pasting addresses.
    Invite,
    /// Add people in bulk: CSV imports and the directory.
    BulkAdd,
    /// Create, rotate and revoke API tokens that act as oneself.
    ManageTokens,
    /// Create, rotate and revoke service accounts: tokens that act as the whole organization.
    ManageServiceAccounts,
    /// The organization's settings, locations and licence seats.
    ManageSettings,
    /// Drive users and groups from an identity provider (SCIM 2.0).
    Provision,
    /// Start access review campaigns (reviewing is changing access, `EditAccess`).
    RunAccessReviews,
}

impl Capability {
    pub const ALL: [Capability; 10] = [
        Capability::ViewUsers,
        Capability::EditAccess,
        Capability::ManageUsers,
        Capability::Invite,
        Capability::BulkAdd,
        Capability::ManageTokens,
        Capability::ManageServiceAccounts,
        Capability::ManageSettings,
        Capability::Provision,
        Capability::RunAccessReviews,
    ];

    /// The stable name clients see (`GET /api/v1/me`).
    pub fn key(self) -> &'static str {
        match self {
            Capability::ViewUsers => "view_users",
            Capability::EditAccess => "edit_access",
            Capability::ManageUsers => "manage_users",
            Capability::Invite => "invite",
            Capability::BulkAdd => "bulk_add",
            Capability::ManageTokens => "manage_tokens",
            Capability::ManageServiceAccounts => "manage_service_accounts",
            Capability::ManageSettings => "manage_settings",
            Capability::Provision => "provision",
            Capability::RunAccessReviews => "run_access_reviews",
        }
    }
}

const ADMINS: [Permission; 3] = [
    Permission::UsersManage,
    Permission::AdminClinic,
    Permission::AdminCompany,
];

impl Capability {
    /// Holding any one of these grants the capability.
    pub fn permissions(self) -> &'static [Permission] {
        match self {
            Capability::ViewUsers => &[
                Permission::UsersView,
                Permission::UsersManage,
                Permission::AdminClinic,
                Permission::AdminCompany,
            ],
            Capability::Invite => &[
                Permission::UsersInvite,
                Permission::UsersManage,
                Permission::AdminClinic,
                Permission::AdminCompany,
            ],
            Capability::BulkAdd => &[
                Permission::UsersBulkAdd,
                Permission::UsersManage,
                Permission::AdminClinic,
                Permission::AdminCompany,
            ],
            Capability::EditAccess | Capability::ManageUsers | Capability::ManageTokens => &ADMINS,
            Capability::ManageSettings
            | Capability::ManageServiceAccounts
            | Capability::Provision
            | Capability::RunAccessReviews => &[Permission::AdminCompany],
        }
    }

    /// The scope a token needs for it.
    pub fn scope(self) -> Scope {
        match self {
            Capability::ViewUsers => Scope::UsersRead,
            Capability::ManageTokens | Capability::ManageServiceAccounts => Scope::TokensWrite,
            Capability::Provision => Scope::Scim,
            _ => Scope::UsersWrite,
        }
    }

    /// What a `scim` token may do besides provisioning: the user use cases SCIM calls (read,
    /// invite, change and deactivate), so it goes through the same checks as every other path.
    fn provisioning_uses(self) -> bool {
        matches!(
            self,
            Capability::ViewUsers
                | Capability::Invite
                | Capability::EditAccess
                | Capability::ManageUsers
        )
    }

    /// Whether `permissions`, used through a token limited to `scopes` (`None`: a console
    /// session), grant this capability.
    pub fn granted(
        self,
        permissions: &BTreeSet<Permission>,
        scopes: Option<&BTreeSet<Scope>>,
    ) -> bool {
        scopes.is_none_or(|s| {
            s.contains(&self.scope()) || (self.provisioning_uses() && s.contains(&Scope::Scim))
        }) && self.permissions().iter().any(|p| permissions.contains(p))
    }

    /// What is missing, and whom to ask: shown when the capability is not granted.
    pub fn missing(self) -> &'static str {
        match self {
            Capability::ViewUsers => {
                "Your access profile does not include user management. Ask a company admin for the User-management viewer or admin role."
            }
            Capability::EditAccess => {
                "Your access profile cannot change users; it needs “Manage users” (and an API token needs the users:write scope)."
            }
            Capability::ManageUsers => {
                "Your access profile cannot deactivate, reactivate or change the invitations of users; it needs “Manage users” (and an API token needs the users:write scope)."
            }
            Capability::Invite => {
                "Your access profile cannot invite people. Ask a company admin for the User Manager or Clinic Admin role."
            }
            Capability::BulkAdd => {
                "Your access profile cannot add people in bulk; it needs “Bulk add users” or “Manage users” (and an API token needs the users:write scope)."
            }
            Capability::ManageTokens => {
                "Only a user-management admin can manage API tokens (and an API token needs the tokens:write scope)."
            }
            Capability::ManageServiceAccounts => {
                "Only a company admin can manage service accounts, tokens that act as the whole organization."
            }
            Capability::ManageSettings => {
                "Only a company admin can change the organization's settings, locations and seats."
            }
            Capability::Provision => {
                "SCIM provisioning needs a service account with the scim scope; a company admin makes one under Settings → API tokens."
            }
            Capability::RunAccessReviews => {
                "Only a company admin can start an access review campaign (and an API token needs the users:write scope)."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holding(p: &[Permission]) -> BTreeSet<Permission> {
        p.iter().copied().collect()
    }

    #[test]
    fn a_viewer_reads_and_changes_nothing() {
        let viewer = holding(&[Permission::UsersView]);
        assert!(Capability::ViewUsers.granted(&viewer, None));
        for c in Capability::ALL
            .into_iter()
            .filter(|&c| c != Capability::ViewUsers)
        {
            assert!(!c.granted(&viewer, None), "{c:?}");
        }
    }

    #[test]
    fn invite_and_bulk_add_permissions_grant_only_their_own_capability() {
        let inviter = holding(&[Permission::UsersInvite]);
        assert!(Capability::Invite.granted(&inviter, None));
        assert!(!Capability::BulkAdd.granted(&inviter, None));
        assert!(!Capability::EditAccess.granted(&inviter, None));
        let bulk = holding(&[Permission::UsersBulkAdd]);
        assert!(Capability::BulkAdd.granted(&bulk, None));
        assert!(!Capability::Invite.granted(&bulk, None));
    }

    #[test]
    fn a_token_is_narrowed_to_its_scopes() {
        let admin = holding(&[Permission::AdminCompany]);
        let read: BTreeSet<Scope> = [Scope::UsersRead].into();
        assert!(Capability::ViewUsers.granted(&admin, Some(&read)));
        assert!(!Capability::EditAccess.granted(&admin, Some(&read)));
        assert!(!Capability::ManageSettings.granted(&admin, Some(&read)));
        let write: BTreeSet<Scope> = [Scope::UsersWrite].into();
        assert!(!Capability::ViewUsers.granted(&admin, Some(&write)));
        assert!(Capability::Invite.granted(&admin, Some(&write)));
    }

    #[test]
    fn a_scim_token_provisions_and_nothing_else() {
        let admin = holding(&[Permission::AdminCompany]);
        let scim: BTreeSet<Scope> = [Scope::Scim].into();
        assert!(Capability::Provision.granted(&admin, Some(&scim)));
        assert!(Capability::Invite.granted(&admin, Some(&scim)));
        assert!(Capability::ManageUsers.granted(&admin, Some(&scim)));
        assert!(!Capability::ManageTokens.granted(&admin, Some(&scim)));
        assert!(!Capability::BulkAdd.granted(&admin, Some(&scim)));
        let write: BTreeSet<Scope> = [Scope::UsersRead, Scope::UsersWrite].into();
        assert!(!Capability::Provision.granted(&admin, Some(&write)));
    }

    #[test]
    fn scopes_parse_by_key() {
        assert_eq!(Scope::parse("users:write").unwrap(), Scope::UsersWrite);
        assert_eq!(Scope::parse("users:all").unwrap_err().code, "scope_unknown");
    }
}
