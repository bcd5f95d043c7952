//! The one rule engine: every path that changes someone's access asks it first, so the six rules
//! of the specification hold whichever screen, file or API the change comes from.
//! The rules are data — tags on user types and permissions and a list of forbidden pairings —
//! which an organization can extend.

mod bulk;
mod census;
mod check;
mod names;
mod policy;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::permission::Permission;

pub use bulk::{BulkChanges, Outcome, Tally};
pub use census::AdminCensus;
pub use names::Names;
pub use policy::Policy;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RuleId {
    #[serde(rename = "rule_1_no_soap_for_non_clinical")]
    NoSoapForNonClinical,
    #[serde(rename = "rule_2_no_soap_finish_for_supervised")]
    NoSoapFinishForSupervised,
    #[serde(rename = "rule_3_keep_admins")]
    KeepAdmins,
    #[serde(rename = "rule_4_actor_scope")]
    ActorScope,
    #[serde(rename = "rule_5_default_location_kept")]
    DefaultLocationKept,
    #[serde(rename = "rule_6_viewer_read_only")]
    ViewerReadOnly,
}

impl RuleId {
    pub const ALL: [RuleId; 6] = [
        RuleId::NoSoapForNonClinical,
        RuleId::NoSoapFinishForSupervised,
        RuleId::KeepAdmins,
        RuleId::ActorScope,
        RuleId::DefaultLocationKept,
        RuleId::ViewerReadOnly,
    ];

    pub fn number(self) -> u8 {
        match self {
            RuleId::NoSoapForNonClinical => 1,
            RuleId::NoSoapFinishForSupervised => 2,
            RuleId::KeepAdmins => 3,
            RuleId::ActorScope => 4,
            RuleId::DefaultLocationKept => 5,
            RuleId::ViewerReadOnly => 6,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            RuleId::NoSoapForNonClinical => "rule_1_no_soap_for_non_clinical",
            RuleId::NoSoapFinishForSupervised => "rule_2_no_soap_finish_for_supervised",
            RuleId::KeepAdmins => "rule_3_keep_admins",
            RuleId::ActorScope => "rule_4_actor_scope",
            RuleId::DefaultLocationKept => "rule_5_default_location_kept",
            RuleId::ViewerReadOnly => "rule_6_viewer_read_only",
        }
    }

    /// The rule in a few words, for lists and for the forbidden-pairing messages.
    pub fn summary(self) -> &'static str {
        match self {
            RuleId::NoSoapForNonClinical => {
                "clerical and billing staff cannot hold SOAP note permissions"
            }
            RuleId::NoSoapFinishForSupervised => "assistants and students cannot finish SOAP notes",
            RuleId::KeepAdmins => {
                "bulk updates keep admin rights, and every clinic and the company keep an active admin"
            }
            RuleId::ActorScope => {
                "you can change access only to your own locations and grant only permissions you hold"
            }
            RuleId::DefaultLocationKept => {
                "a user's default location stays among the locations they can access"
            }
            RuleId::ViewerReadOnly => "viewers can read user management but change nothing",
        }
    }
}

/// A forbidden pairing, as data: users whose type carries `user_type_tag` may not hold
/// permissions carrying `permission_tag`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forbidden {
    pub rule: RuleId,
    pub user_type_tag: String,
    pub permission_tag: String,
}

/// Where a change comes from. The rules are the same on every path; the path only tells bulk
/// updates apart (rule 3) and role edits, whose grants are filtered rather than refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Path {
    Console,
    Api,
    PasteInvite,
    CsvImport,
    DirectoryAdd,
    BulkUpdate,
    Scim,
    /// A role's permissions change for its members, or a role is given to or taken from a user.
    /// Permission changes then apply to `Subject::role_permissions`: pass the role's permissions
    /// there and everything else the member holds (direct grants, other roles) in `direct`.
    RoleEdit,
}

/// Who makes the change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user_id: Uuid,
    pub permissions: BTreeSet<Permission>,
    /// Every location the actor can access; for a company admin, all of the organization's.
    pub locations: BTreeSet<Uuid>,
}

impl Actor {
    pub fn holds(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }
}

/// Whose access changes, as it stands before the change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub user_id: Uuid,
    pub display_name: String,
    pub user_type: Option<String>,
    /// Only active users count as admins for rule 3.
    pub active: bool,
    pub default_location: Option<Uuid>,
    pub locations: BTreeSet<Uuid>,
    pub direct: BTreeSet<Permission>,
    pub role_permissions: BTreeSet<Permission>,
}

impl Subject {
    /// Makes the change, without asking the rules: the caller has done that.
    pub fn apply(&mut self, change: &Change, path: Path) {
        let granted = if path == Path::RoleEdit {
            &mut self.role_permissions
        } else {
            &mut self.direct
        };
        match change {
            Change::GrantPermission(p) => {
                granted.insert(*p);
            }
            Change::RevokePermission(p) => {
                granted.remove(p);
            }
            Change::GrantLocation(l) => {
                self.locations.insert(*l);
            }
            Change::RevokeLocation(l) => {
                self.locations.remove(l);
            }
            Change::SetUserType(t) => self.user_type = Some(t.clone()),
            Change::SetDefaultLocation(l) => self.default_location = Some(*l),
            Change::Deactivate => self.active = false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", content = "value", rename_all = "snake_case")]
pub enum Change {
    GrantPermission(Permission),
    RevokePermission(Permission),
    GrantLocation(Uuid),
    RevokeLocation(Uuid),
    /// A user type code (see `user_type::parse_code`).
    SetUserType(String),
    SetDefaultLocation(Uuid),
    /// The account stops being active (rule 3 must still leave an admin everywhere).
    Deactivate,
}

/// Why a change was not made: the rule, a reason code for machines, the user, and a sentence
/// that names the rule, the user and the permission or location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub rule: RuleId,
    pub code: &'static str,
    pub user_id: Uuid,
    pub message: String,
}

/// The outcome of a list of changes to one user: what was applied, in order, what was refused
/// and why, and the user as they stand afterwards.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub applied: Vec<Change>,
    pub refused: Vec<(Change, Refusal)>,
    pub after: Subject,
}
