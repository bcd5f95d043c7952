//! People who have not signed in for a while. Their last activity is their last sign-in, else
//! their activation, else their account's creation; a warning or a flag older than that
//! activity no longer counts, so signing in again starts the count afresh. Each mark is a
//! conditional update: several processes running the same round mark each person once.

use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql, parse_id};

const LAST_ACTIVE: &str = "COALESCE(last_sign_in_at, activated_at, created_at)";

/// An active person idle since `last_active`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idle {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub last_active: i64,
}

fn idle_from(r: &sqlx::any::AnyRow) -> Result<Idle> {
    Ok(Idle {
        id: parse_id(&r.try_get::<String, _>(0)?)?,
        email: r.try_get(1)?,
        display_name: r.try_get(2)?,
        last_active: r.try_get(3)?,
    })
}

fn select_idle(org_id: Uuid, before: i64) -> Sql {
    let mut q = Sql::new(&format!(
        "SELECT id, email, display_name, {LAST_ACTIVE} FROM users WHERE org_id = "
    ));
    q.bind(org_id.to_string())
        .push(&format!(" AND status = 'active' AND {LAST_ACTIVE} < "))
        .bind(before);
    q
}

/// Up to `limit` active people idle since before `before` and not warned since.
pub async fn unwarned(conn: &mut Conn, org_id: Uuid, before: i64, limit: i64) -> Result<Vec<Idle>> {
    let mut q = select_idle(org_id, before);
    q.push(&format!(
        " AND (inactivity_warned_at IS NULL OR inactivity_warned_at < {LAST_ACTIVE}) ORDER BY {LAST_ACTIVE} LIMIT "
    ))
    .bind(limit);
    q.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(idle_from)
        .collect()
}

/// Marks a person warned now, unless another process did since their last activity; true
/// when this call marked them.
pub async fn mark_warned(conn: &mut Conn, id: Uuid, now: i64) -> Result<bool> {
    mark(conn, "inactivity_warned_at", id, now).await
}

/// Sets `column` (a mark of this idle spell) to now, unless it was set since the person's last
/// activity; true when this call set it.
async fn mark(conn: &mut Conn, column: &str, id: Uuid, now: i64) -> Result<bool> {
    let mut q = Sql::new(&format!("UPDATE users SET {column} = "));
    q.bind(now)
        .push(" WHERE id = ")
        .bind(id.to_string())
        .push(&format!(
            " AND ({column} IS NULL OR {column} < {LAST_ACTIVE})"
        ));
    Ok(q.execute(&mut *conn).await? == 1)
}

/// Up to `limit` active people idle since before `before`, warned since their last activity
/// and no later than `warned_by`, and not flagged since.
pub async fn due(
    conn: &mut Conn,
    org_id: Uuid,
    before: i64,
    warned_by: i64,
    limit: i64,
) -> Result<Vec<Idle>> {
    let mut q = select_idle(org_id, before);
    q.push(&format!(" AND inactivity_warned_at >= {LAST_ACTIVE} AND inactivity_warned_at <= "))
        .bind(warned_by)
        .push(&format!(
            " AND (inactivity_flagged_at IS NULL OR inactivity_flagged_at < {LAST_ACTIVE}) ORDER BY {LAST_ACTIVE} LIMIT "
        ))
        .bind(limit);
    q.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(idle_from)
        .collect()
}

/// Flags a person for review now, unless already flagged since their last activity.
pub async fn mark_flagged(conn: &mut Conn, id: Uuid, now: i64) -> Result<bool> {
    mark(conn, "inactivity_flagged_at", id, now).await
}

/// Active people flagged since their last activity, longest idle first.
pub async fn flagged(conn: &mut Conn, org_id: Uuid) -> Result<Vec<Idle>> {
    let mut q = Sql::new(&format!(
        "SELECT id, email, display_name, {LAST_ACTIVE} FROM users WHERE org_id = "
    ));
    q.bind(org_id.to_string()).push(&format!(
        " AND status = 'active' AND inactivity_flagged_at >= {LAST_ACTIVE} ORDER BY {LAST_ACTIVE}"
    ));
    q.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(idle_from)
        .collect()
}
