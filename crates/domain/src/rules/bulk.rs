//! A bulk update: the same permission and location changes asked for many users, each user
//! planned by the rule engine, and the tally that says whether it all went through.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Change, Plan};
use crate::error::ValueError;
use crate::permission::Permission;

/// What a bulk update asks for every selected user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BulkChanges {
    /// Permissions granted directly to every selected user.
    #[serde(default)]
    pub grant_permissions: BTreeSet<Permission>,
    /// Direct grants taken from every selected user.
    #[serde(default)]
    pub revoke_permissions: BTreeSet<Permission>,
    /// Locations (ids) added to every selected user.
    #[serde(default)]
    pub grant_locations: BTreeSet<Uuid>,
    /// Locations (ids) taken from every selected user.
    #[serde(default)]
    pub revoke_locations: BTreeSet<Uuid>,
}

impl BulkChanges {
    /// Refuses an empty request and one that both adds and removes the same thing.
    pub fn validate(&self) -> Result<(), ValueError> {
        if self.is_empty() {
            return Err(ValueError::new(
                "changes",
                "bulk_update_empty",
                "Choose at least one permission or location to add or remove.",
            ));
        }
        if let Some(p) = self
            .grant_permissions
            .intersection(&self.revoke_permissions)
            .next()
        {
            return Err(ValueError::new(
                "changes",
                "bulk_update_contradiction",
                format!("“{}” is both added and removed; choose one.", p.label()),
            ));
        }
        if !self.grant_locations.is_disjoint(&self.revoke_locations) {
            return Err(ValueError::new(
                "changes",
                "bulk_update_contradiction",
                "A location is both added and removed; choose one.",
            ));
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.grant_permissions.is_empty()
            && self.revoke_permissions.is_empty()
            && self.grant_locations.is_empty()
            && self.revoke_locations.is_empty()
    }

    /// The changes in the order they are checked: locations are given before permissions and
    /// taken after them, so a user gains the place before the rights that go with it.
    pub fn changes(&self) -> Vec<Change> {
        let mut out = Vec::new();
        out.extend(
            self.grant_locations
                .iter()
                .map(|l| Change::GrantLocation(*l)),
        );
        out.extend(
            self.grant_permissions
                .iter()
                .map(|p| Change::GrantPermission(*p)),
        );
        out.extend(
            self.revoke_permissions
                .iter()
                .map(|p| Change::RevokePermission(*p)),
        );
        out.extend(
            self.revoke_locations
                .iter()
                .map(|l| Change::RevokeLocation(*l)),
        );
        out
    }
}

/// How a bulk update ended, as the console colours it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every change was applied to every user.
    Succeeded,
    /// Some changes were refused by the rules; the rest were applied.
    PartiallySucceeded,
    /// Nothing was applied.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::PartiallySucceeded => "partially_succeeded",
            Outcome::Failed => "failed",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Succeeded => "Succeeded",
            Outcome::PartiallySucceeded => "Partially succeeded",
            Outcome::Failed => "Failed",
        }
    }
}

/// Running counts over the users of a bulk update.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Tally {
    pub users: u64,
    /// Users whose access actually changed (a grant they already held changes nothing).
    pub users_changed: u64,
    pub users_with_refusals: u64,
    pub permission_changes_applied: u64,
    pub permission_changes_refused: u64,
    pub location_changes_applied: u64,
    pub location_changes_refused: u64,
    /// Refused changes per rule code.
    pub refused_by_rule: BTreeMap<String, u64>,
}

impl Tally {
    pub fn add(&mut self, plan: &Plan, changed: bool) {
        self.users += 1;
        self.users_changed += changed as u64;
        self.users_with_refusals += !plan.refused.is_empty() as u64;
        for change in &plan.applied {
            match change {
                Change::GrantPermission(_) | Change::RevokePermission(_) => {
                    self.permission_changes_applied += 1
                }
                _ => self.location_changes_applied += 1,
            }
        }
        for (change, why) in &plan.refused {
            match change {
                Change::GrantPermission(_) | Change::RevokePermission(_) => {
                    self.permission_changes_refused += 1
                }
                _ => self.location_changes_refused += 1,
            }
            *self
                .refused_by_rule
                .entry(why.rule.code().to_owned())
                .or_default() += 1;
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        self.users += other.users;
        self.users_changed += other.users_changed;
        self.users_with_refusals += other.users_with_refusals;
        self.permission_changes_applied += other.permission_changes_applied;
        self.permission_changes_refused += other.permission_changes_refused;
        self.location_changes_applied += other.location_changes_applied;
        self.location_changes_refused += other.location_changes_refused;
        for (rule, n) in &other.refused_by_rule {
            *self.refused_by_rule.entry(rule.clone()).or_default() += n;
        }
    }

    pub fn refused(&self) -> u64 {
        self.permission_changes_refused + self.location_changes_refused
    }

    pub fn applied(&self) -> u64 {
        self.permission_changes_applied + self.location_changes_applied
    }

    pub fn outcome(&self) -> Outcome {
        match (self.applied(), self.refused()) {
            (_, 0) if self.users > 0 => Outcome::Succeeded,
            (0, _) => Outcome::Failed,
            _ => Outcome::PartiallySucceeded,
        }
    }

    /// One sentence for the outcome banner.
    pub fn sentence(&self) -> String {
        let users = plural(self.users, "user", "users");
        match self.outcome() {
            Outcome::Succeeded => format!("Every change was applied to {users}."),
            Outcome::Failed if self.users == 0 => "No user was selected.".to_owned(),
            Outcome::Failed => format!(
                "No change was applied: the rules refused all {} for {users}.",
                plural(self.refused(), "change", "changes")
            ),
            Outcome::PartiallySucceeded => format!(
                "{} and {} were not applied, for {} of {users}; everything else was applied.",
                plural(
                    self.permission_changes_refused,
                    "permission change",
                    "permission changes"
                ),
                plural(
                    self.location_changes_refused,
                    "location change",
                    "location changes"
                ),
                self.users_with_refusals
            ),
        }
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
