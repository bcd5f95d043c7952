//! The organization's reference data as integrators look it up: locations, roles, user types and
//! the permission catalogue, so requests can name them by id, code or name.

use rollcall_domain::{Capability, Permission};
use serde::Serialize;
use uuid::Uuid;

use crate::access::OrgScope;
use crate::{App, AppError, Principal};

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LocationView {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    /// The location's IANA zone when it differs from the organization's.
    pub time_zone: Option<String>,
    /// A deactivated location keeps its history but takes no new people.
    pub active: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct UserTypeView {
    pub code: String,
    pub label: String,
    /// What the rules read: therapist, assistant, student, non_clinical…
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PermissionView {
    pub key: &'static str,
    pub label: &'static str,
    pub module: &'static str,
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn locations(app: &App, who: &Principal) -> Result<Vec<LocationView>, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    Ok(rollcall_store::locations::list(&mut conn, who.org_id)
        .await?
        .into_iter()
        .map(|l| LocationView {
            id: l.id,
            code: l.code,
            name: l.name,
            time_zone: l.time_zone,
            active: l.active,
        })
        .collect())
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn user_types(app: &App, who: &Principal) -> Result<Vec<UserTypeView>, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let scope = OrgScope::load(&mut conn, who.org_id).await?;
    Ok(scope
        .policy
        .user_types
        .into_iter()
        .map(|t| UserTypeView {
            code: t.code,
            label: t.label,
            tags: t.tags.into_iter().collect(),
        })
        .collect())
}

/// Every permission Rollcall knows, by module (the same for every organization).
pub fn permissions(who: &Principal) -> Result<Vec<PermissionView>, AppError> {
    who.require(Capability::ViewUsers)?;
    Ok(Permission::ALL
        .into_iter()
        .map(|p| PermissionView {
            key: p.key(),
            label: p.label(),
            module: p.module().label(),
        })
        .collect())
}
