//! What an import is: the admin's choices at commit, its counts, what its job keeps, and the
//! organization's names and rules its rows are checked against.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

use rollcall_domain::import::{Catalogue, Checked, Column, Issue};
use rollcall_domain::{Change, Email, Path, Permission, Policy, Subject};
use rollcall_store::jobs::Job;
use rollcall_store::orgs::Organization;
use rollcall_store::{Conn, locations, roles, users};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::OrgScope;
use crate::onboarding::writer::{Inviter, Schedule};
use crate::{AppError, Principal};

/// Rows per staging batch and per transaction when the import runs.
pub(crate) const CHUNK: usize = 1_000;

/// The largest file the console and the API take (the command line streams any size).
pub const MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024;

/// Reader errors that stop the whole file rather than mark one row.
pub(super) const FATAL: [&str; 2] = ["file_too_large", "file_unreadable"];

/// How far ahead invitations may be scheduled.
pub(super) const MAX_SCHEDULE_DAYS: i64 = 365;

/// How the created users get their access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Access {
    /// The same roles for every row.
    Roles { role_ids: Vec<Uuid> },
    /// A copy of an existing user's roles, direct permissions and locations.
    Mirror { user_id: Uuid },
    /// Each row's own `roles`, `permissions` and `locations` columns.
    Customize,
}

/// What the admin chose when committing an import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(examples(json!({
    "access": { "mode": "roles", "role_ids": ["0190c6d1-2c3d-7e4f-8a5b-6c7d8e9f0a1b"] },
    "location_id": "0190c6d1-0b2c-7d3e-9f40-5a6b7c8d9e0f",
    "send_at": "2026-12-01T09:00",
    "notifications": [["appointments", "email"], ["messages", "sms"]]
})))]
pub struct Commit {
    pub access: Access,
    /// Primary location of rows that name none.
    pub location_id: Option<Uuid>,
    /// When to send the invitations: local date and time in the organization's zone
    /// (`2026-12-01T09:00`); none (`null` or absent) sends them now.
    pub send_at: Option<String>,
    /// Notification preferences every created user starts with: (category, medium).
    pub notifications: Vec<(String, String)>,
}

/// An import's counts, kept as its job's summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Summary {
    /// The file's name, or where the rows came from.
    pub label: String,
    pub rows: i64,
    pub in_error: i64,
    pub with_warnings: i64,
    /// Importable rows that name no default location (the commit must give one).
    pub without_location: i64,
    /// Rows that fill the `roles`, `permissions` or `locations` column: only the per-row access
    /// mode reads them.
    #[serde(default)]
    pub with_access_columns: i64,
    /// Distinct user types of the rows, for the rule checks at commit.
    pub user_types: Vec<Option<String>>,
    /// The columns some row fills, so the review shows the same columns on every page.
    #[serde(default)]
    pub columns: std::collections::BTreeSet<rollcall_domain::import::Column>,
    /// Users created so far.
    #[serde(default)]
    pub created: i64,
    /// Rows that passed the review but could not be imported when the import ran.
    #[serde(default)]
    pub not_imported: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Summary {
    pub fn of(job: &Job) -> Summary {
        serde_json::from_str(&job.summary).unwrap_or_default()
    }

    pub fn importable(&self) -> i64 {
        self.rows - self.in_error
    }

    /// A warning when the file's access columns are filled but the chosen access ignores them.
    pub fn ignored_access_columns(&self, access: &Access) -> Option<String> {
        let how = match access {
            Access::Customize => return None,
            _ if self.with_access_columns == 0 => return None,
            Access::Roles { .. } => "the roles chosen for everyone",
            Access::Mirror { .. } => "the mirrored user's access",
        };
        Some(format!(
            "{} rows fill the roles, permissions or locations column; they get {how} instead and those columns are ignored (choose per-row access, --customize, to apply them)",
            self.with_access_columns
        ))
    }
}

/// What the import job keeps to run (and resume).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Params {
    pub commit: Commit,
    pub schedule: Schedule,
    pub inviter: Inviter,
    pub actor_label: String,
    /// Access every row gets (roles and mirror modes).
    pub shared: Option<SharedAccess>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SharedAccess {
    pub roles: BTreeSet<Uuid>,
    pub permissions: BTreeSet<Permission>,
    pub locations: BTreeSet<Uuid>,
    pub default_location: Option<Uuid>,
}

/// The organization's names and rules that rows are checked against.
pub(crate) struct Context {
    pub org: Organization,
    pub policy: Policy,
    pub catalogue: Catalogue,
    pub role_permissions: BTreeMap<Uuid, BTreeSet<Permission>>,
    /// Location and role names.
    pub names: BTreeMap<Uuid, String>,
}

impl Context {
    pub(crate) async fn load(conn: &mut Conn, org_id: Uuid, now: i64) -> Result<Context, AppError> {
        let OrgScope { org, policy } = OrgScope::load(conn, org_id).await?;
        let locs = locations::list(conn, org_id).await?;
        let roles = roles::list(conn, org_id).await?;
        let taxonomy = rollcall_store::taxonomy::codes(conn, org_id).await?;
        let mut names = BTreeMap::new();
        names.extend(locs.iter().map(|l| (l.id, l.name.clone())));
        names.extend(roles.iter().map(|r| (r.id, r.name.clone())));
        let catalogue = Catalogue {
            user_types: policy.user_types.clone(),
            locations: locs
                .iter()
                .map(|l| (l.id, l.name.clone(), l.code.clone(), l.active))
                .collect(),
            roles: roles.iter().map(|r| (r.id, r.name.clone())).collect(),
            taxonomy: taxonomy.into_iter().collect(),
            region: Some("US".into()),
            now: crate::access::leaving::local_now(now, &org.time_zone),
        };
        let role_permissions = roles
            .iter()
            .map(|r| (r.id, r.permissions.iter().copied().collect()))
            .collect();
        Ok(Context {
            org,
            policy,
            catalogue,
            role_permissions,
            names,
        })
    }

    /// What the rule engine refuses of a row's own access columns, as row issues.
    pub(super) fn rule_issues(&self, who: &Principal, row: &Checked) -> Vec<Issue> {
        let subject = Subject {
            user_type: row.user_type.clone(),
            display_name: format!("{} {}", row.first_name, row.last_name),
            locations: row.locations.clone(),
            ..Subject::default()
        };
        let actor = who.actor();
        let mut out = Vec::new();
        let mut check = |change: Change, path: Path, column: Column| {
            if let Err(r) = self
                .policy
                .check(&actor, &subject, &change, path, None, &self.names)
            {
                out.push(Issue::error(Some(column), r.code, r.message));
            }
        };
        for l in &row.locations {
            check(
                Change::GrantLocation(*l),
                Path::CsvImport,
                Column::Locations,
            );
        }
        for p in &row.permissions {
            check(
                Change::GrantPermission(*p),
                Path::CsvImport,
                Column::Permissions,
            );
        }
        // A role's grants are filtered by the member's type rather than refused (rules 1–2);
        // what the actor may hand out is still checked (rule 4).
        let through_roles: BTreeSet<Permission> = row
            .roles
            .iter()
            .flat_map(|r| self.role_permissions.get(r).into_iter().flatten().copied())
            .collect();
        for p in through_roles {
            check(Change::GrantPermission(p), Path::RoleEdit, Column::Roles);
        }
        out.dedup();
        out
    }
}

/// Addresses (match keys) and usernames of a batch that already belong to users of the
/// organization, looked up for the whole batch at once.
pub(super) struct Taken {
    emails: BTreeSet<String>,
    usernames: BTreeSet<String>,
}

impl Taken {
    pub(super) async fn look_up(
        conn: &mut Conn,
        org_id: Uuid,
        email_keys: &[String],
        usernames: &[String],
    ) -> Result<Taken, AppError> {
        let emails = users::existing_email_keys(conn, org_id, email_keys)
            .await?
            .into_iter()
            .collect();
        let usernames = if usernames.is_empty() {
            BTreeSet::new()
        } else {
            users::existing_usernames(conn, org_id, usernames)
                .await?
                .into_iter()
                .collect()
        };
        Ok(Taken { emails, usernames })
    }

    /// Why a person cannot be added next to the organization's users: their address first,
    /// then their username.
    pub(super) fn issues(
        &self,
        email: &Email,
        username: Option<&str>,
        org_name: &str,
    ) -> Vec<Issue> {
        let mut out = Vec::new();
        if self.emails.contains(email.match_key()) {
            out.push(Issue::already_in_organization(email.as_str(), org_name));
        }
        if let Some(u) = username
            && self.usernames.contains(u)
        {
            out.push(Issue::username_taken(u));
        }
        out
    }
}

/// A 64-bit digest of a match key: remembering every address of a million-row file as digests
/// keeps the duplicate check to a few megabytes.
pub(super) fn digest(key: &str) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}
