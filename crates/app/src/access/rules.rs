//! The rule engine's view of stored people: the organization's policy, subjects with their
//! access and grants, the admin census (rule 3) and location names for its sentences.

use std::collections::BTreeMap;

use rollcall_domain::{Permission, Policy, Subject, UserStatus};
use rollcall_store::{Conn, locations, orgs, users};
use uuid::Uuid;

use crate::AppError;

/// The organization a use case works in and its rules, read once on the use case's connection.
pub(crate) struct OrgScope {
    pub org: orgs::Organization,
    pub policy: Policy,
}

impl OrgScope {
    pub(crate) async fn load(conn: &mut Conn, org_id: Uuid) -> Result<OrgScope, AppError> {
        let org = orgs::get(conn, org_id)
            .await?
            .ok_or_else(|| AppError::not_found("organization"))?;
        let policy = parse_policy(&org.policy)?;
        Ok(OrgScope { org, policy })
    }
}

/// The organization's rule data.
pub(crate) async fn policy_of(conn: &mut Conn, org_id: Uuid) -> Result<Policy, AppError> {
    Ok(OrgScope::load(conn, org_id).await?.policy)
}

/// A stored policy that does not parse is a fault, never a reason to fall back to other rules.
pub fn parse_policy(json: &str) -> Result<Policy, AppError> {
    serde_json::from_str(json).map_err(|e| {
        AppError::Internal(format!("the organization's rule data does not parse: {e}"))
    })
}

/// A user of the organization, or the answer that there is none (the same whether the id
/// exists in another organization or not).
pub(crate) async fn user_in(
    conn: &mut Conn,
    org_id: Uuid,
    id: Uuid,
) -> Result<users::User, AppError> {
    users::get(conn, org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("user"))
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
        active: row.status == UserStatus::Active,
        default_location: row.default_location,
        locations: row.locations.into_iter().collect(),
        direct: row.direct,
        role_permissions: row.role_permissions,
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
        &[Permission::AdminCompany, Permission::AdminClinic],
    )
    .await?
    .into_iter()
    .map(|u| u.id)
    .collect();
    let subjects = subjects(conn, org_id, &admins).await?;
    Ok(policy.census(subjects.iter()))
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
