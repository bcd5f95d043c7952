//! The counts an auditor reads: people by status, second factors, who holds an admin grant,
//! and how long leavers kept access. Aggregates over one organization; the rules' verdict on
//! who is really an admin is the app's.

use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql, parse_id};

/// How many people have each status; a pending person whose invitation has lapsed counts as
/// `expired` (as the user list shows them).
pub async fn people_by_status(
    conn: &mut Conn,
    org_id: Uuid,
    now: i64,
) -> Result<Vec<(String, i64)>> {
    let mut q = Sql::new("SELECT CASE WHEN status = 'pending' AND invite_expires_at < ");
    q.bind(now)
        .push(" THEN 'expired' ELSE status END AS shown, COUNT(*) FROM users WHERE org_id = ")
        .bind(org_id.to_string())
        .push(" GROUP BY shown ORDER BY shown");
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Active people per second-factor method (`None`: none enrolled).
pub async fn second_factors(conn: &mut Conn, org_id: Uuid) -> Result<Vec<(Option<String>, i64)>> {
    let mut q = Sql::new("SELECT mfa_method, COUNT(*) FROM users WHERE org_id = ");
    q.bind(org_id.to_string())
        .push(" AND status = 'active' GROUP BY mfa_method ORDER BY mfa_method");
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// A person whose leaving instant has come, at one of their locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaverAt {
    pub user_id: Uuid,
    pub location_id: Uuid,
    pub leaves_at: i64,
    /// `None` while they still have access.
    pub deactivated_at: Option<i64>,
}

/// Everyone whose leaving instant is at or before `now`, once per location they had.
pub async fn leavers(conn: &mut Conn, org_id: Uuid, now: i64) -> Result<Vec<LeaverAt>> {
    let mut q = Sql::new(
        "SELECT u.id, ul.location_id, u.leaves_at, CASE WHEN u.status = 'inactive' THEN u.deactivated_at END \
         FROM users u JOIN user_locations ul ON ul.user_id = u.id WHERE u.org_id = ",
    );
    q.bind(org_id.to_string())
        .push(" AND u.leaves_at IS NOT NULL AND u.leaves_at <= ")
        .bind(now);
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            Ok(LeaverAt {
                user_id: parse_id(&r.try_get::<String, _>(0)?)?,
                location_id: parse_id(&r.try_get::<String, _>(1)?)?,
                leaves_at: r.try_get(2)?,
                deactivated_at: r.try_get(3)?,
            })
        })
        .collect()
}

/// Emergency grants by review state (`open`, `accepted`, `flagged`): (state, all, still in
/// effect).
pub async fn emergency_grants(conn: &mut Conn, org_id: Uuid) -> Result<Vec<(String, i64, i64)>> {
    let mut q = Sql::new(
        "SELECT review_state, COUNT(*), COUNT(CASE WHEN ended_at IS NULL THEN 1 END) \
         FROM emergency_grants WHERE org_id = ",
    );
    q.bind(org_id.to_string())
        .push(" GROUP BY review_state ORDER BY review_state");
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
        .collect()
}

/// An access review campaign as it touched one clinic: its people who have that location now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewAt {
    pub location_id: Uuid,
    pub campaign_id: Uuid,
    pub name: String,
    /// When its due date was handled (escalation or revocation), if it has been.
    pub ended_at: Option<i64>,
    pub people: i64,
    pub decided: i64,
    pub last_decided_at: Option<i64>,
}

/// Every campaign of the organization, per clinic its people are at.
pub async fn reviews_by_clinic(conn: &mut Conn, org_id: Uuid) -> Result<Vec<ReviewAt>> {
    let mut q = Sql::new(
        "SELECT ul.location_id, c.id, c.name, c.escalated_at, COUNT(*), \
         COUNT(CASE WHEN i.state = 'decided' THEN 1 END), MAX(i.decided_at) \
         FROM review_items i JOIN review_campaigns c ON c.id = i.campaign_id \
         JOIN user_locations ul ON ul.user_id = i.user_id WHERE c.org_id = ",
    );
    q.bind(org_id.to_string())
        .push(" GROUP BY ul.location_id, c.id, c.name, c.escalated_at");
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            Ok(ReviewAt {
                location_id: parse_id(&r.try_get::<String, _>(0)?)?,
                campaign_id: parse_id(&r.try_get::<String, _>(1)?)?,
                name: r.try_get(2)?,
                ended_at: r.try_get(3)?,
                people: r.try_get(4)?,
                decided: r.try_get(5)?,
                last_decided_at: r.try_get(6)?,
            })
        })
        .collect()
}
