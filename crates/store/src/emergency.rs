//! Emergency ("break-glass") grants: which of a person's access is emergency access, until when,
//! whether it has ended, and its review by a company admin.

use rollcall_domain::Permission;
use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql, parse_id, parse_opt_id};

/// One emergency grant as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub id: Uuid,
    pub org_id: Uuid,
    pub user_id: Uuid,
    /// `None` when the stored key is one this version does not know, or for a location only.
    pub permission: Option<Permission>,
    pub location_id: Option<Uuid>,
    pub reason: String,
    pub granted_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
    /// `open`, `accepted` or `flagged`.
    pub review_state: String,
    pub reviewed_by: Option<Uuid>,
    pub reviewer_name: Option<String>,
    pub reviewed_at: Option<i64>,
    pub review_note: Option<String>,
}

/// What a list of grants is narrowed to; `None` leaves a filter out.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub user_id: Option<Uuid>,
    pub review_state: Option<String>,
    /// `Some(true)`: not ended yet; `Some(false)`: ended.
    pub live: Option<bool>,
    pub limit: i64,
}

const COLUMNS: &str = "id, org_id, user_id, permission, location_id, reason, granted_at, \
    expires_at, ended_at, review_state, reviewed_by, reviewer_name, reviewed_at, review_note";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Grant> {
    let permission: Option<String> = r.try_get("permission")?;
    Ok(Grant {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        org_id: parse_id(&r.try_get::<String, _>("org_id")?)?,
        user_id: parse_id(&r.try_get::<String, _>("user_id")?)?,
        permission: permission.as_deref().and_then(crate::known_permission),
        location_id: parse_opt_id(r.try_get("location_id")?)?,
        reason: r.try_get("reason")?,
        granted_at: r.try_get("granted_at")?,
        expires_at: r.try_get("expires_at")?,
        ended_at: r.try_get("ended_at")?,
        review_state: r.try_get("review_state")?,
        reviewed_by: parse_opt_id(r.try_get("reviewed_by")?)?,
        reviewer_name: r.try_get("reviewer_name")?,
        reviewed_at: r.try_get("reviewed_at")?,
        review_note: r.try_get("review_note")?,
    })
}

pub async fn insert(conn: &mut Conn, g: &Grant) -> Result<()> {
    let mut q = Sql::insert_into(
        "emergency_grants",
        "id, org_id, user_id, permission, location_id, reason, granted_at, expires_at, review_state",
    );
    q.values_row(|row| {
        row.bind(g.id.to_string())
            .bind(g.org_id.to_string())
            .bind(g.user_id.to_string())
            .bind(g.permission.map(|p| p.key().to_string()))
            .bind(g.location_id.map(|l| l.to_string()))
            .bind(g.reason.clone())
            .bind(g.granted_at)
            .bind(g.expires_at)
            .bind(g.review_state.clone());
    });
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<Option<Grant>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM emergency_grants WHERE id = "
    ));
    q.bind(id.to_string())
        .push(" AND org_id = ")
        .bind(org_id.to_string());
    q.fetch_optional_as(&mut *conn, from_row).await
}

/// The organization's grants, newest first.
pub async fn list(conn: &mut Conn, org_id: Uuid, filter: &Filter) -> Result<Vec<Grant>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM emergency_grants WHERE org_id = "
    ));
    q.bind(org_id.to_string());
    if let Some(user) = filter.user_id {
        q.push(" AND user_id = ").bind(user.to_string());
    }
    if let Some(state) = &filter.review_state {
        q.push(" AND review_state = ").bind(state.clone());
    }
    match filter.live {
        Some(true) => {
            q.push(" AND ended_at IS NULL");
        }
        Some(false) => {
            q.push(" AND ended_at IS NOT NULL");
        }
        None => {}
    }
    q.push(" ORDER BY granted_at DESC, id DESC LIMIT ")
        .bind(filter.limit);
    q.fetch_all_as(&mut *conn, from_row).await
}

/// The grants still in effect for one person.
pub async fn live_of(conn: &mut Conn, user_id: Uuid) -> Result<Vec<Grant>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM emergency_grants WHERE ended_at IS NULL AND user_id = "
    ));
    q.bind(user_id.to_string()).push(" ORDER BY granted_at");
    q.fetch_all_as(&mut *conn, from_row).await
}

/// How many grants of the organization wait for their review.
pub async fn count_open(conn: &mut Conn, org_id: Uuid) -> Result<i64> {
    let mut q =
        Sql::new("SELECT COUNT(*) FROM emergency_grants WHERE review_state = 'open' AND org_id = ");
    q.bind(org_id.to_string());
    Ok(q.fetch_one(&mut *conn).await?.try_get(0)?)
}

/// Up to `limit` grants whose time is up and that have not ended, as (organization, grant),
/// earliest first.
pub async fn due(conn: &mut Conn, now: i64, limit: i64) -> Result<Vec<(Uuid, Uuid)>> {
    let mut q = Sql::new(
        "SELECT org_id, id FROM emergency_grants WHERE ended_at IS NULL AND expires_at <= ",
    );
    q.bind(now).push(" ORDER BY expires_at LIMIT ").bind(limit);
    crate::id_pairs(&q.fetch_all(&mut *conn).await?)
}

/// Marks a grant ended, only if it has not ended yet: `true` for the one caller that ended it.
pub async fn end(conn: &mut Conn, id: Uuid, now: i64) -> Result<bool> {
    let mut q = Sql::update("emergency_grants", |set| {
        set.set("ended_at", now);
    });
    q.push(" WHERE id = ")
        .bind(id.to_string())
        .push(" AND ended_at IS NULL");
    Ok(q.execute(&mut *conn).await? == 1)
}

/// A company admin's review of a grant.
#[derive(Debug, Clone)]
pub struct Review {
    pub state: String,
    pub by: Uuid,
    pub by_name: String,
    pub at: i64,
    pub note: String,
}

/// Records a review, only if the grant's review is still open: `true` when it was recorded.
pub async fn review(conn: &mut Conn, org_id: Uuid, id: Uuid, r: &Review) -> Result<bool> {
    let mut q = Sql::update("emergency_grants", |set| {
        set.set("review_state", r.state.clone())
            .set("reviewed_by", r.by.to_string())
            .set("reviewer_name", r.by_name.clone())
            .set("reviewed_at", r.at)
            .set("review_note", r.note.clone());
    });
    q.push(" WHERE id = ")
        .bind(id.to_string())
        .push(" AND org_id = ")
        .bind(org_id.to_string())
        .push(" AND review_state = 'open'");
    Ok(q.execute(&mut *conn).await? == 1)
}
