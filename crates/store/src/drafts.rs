//! Unfinished work in forms of several steps, one per person and form. The body is the form's
//! own; the store keeps it as text.

use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql};

/// Keeps `body` as the person's draft of `form`, replacing the one before.
pub async fn save(
    conn: &mut Conn,
    org_id: Uuid,
    user_id: Uuid,
    form: &str,
    body: &str,
    now: i64,
) -> Result<()> {
    let mut q = Sql::new("INSERT INTO drafts (org_id, user_id, form, body, updated_at) VALUES (");
    q.bind(org_id.to_string())
        .push(", ")
        .bind(user_id.to_string())
        .push(", ")
        .bind(form.to_string())
        .push(", ")
        .bind(body.to_string())
        .push(", ")
        .bind(now)
        .push(
            ") ON CONFLICT (org_id, user_id, form) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at",
        );
    q.execute(&mut *conn).await?;
    Ok(())
}

/// The person's draft of `form`, if there is one.
pub async fn get(
    conn: &mut Conn,
    org_id: Uuid,
    user_id: Uuid,
    form: &str,
) -> Result<Option<String>> {
    let mut q = Sql::new("SELECT body FROM drafts WHERE org_id = ");
    q.bind(org_id.to_string())
        .push(" AND user_id = ")
        .bind(user_id.to_string())
        .push(" AND form = ")
        .bind(form.to_string());
    Ok(match q.fetch_optional(&mut *conn).await? {
        Some(row) => Some(row.try_get(0)?),
        None => None,
    })
}

/// Drops the person's draft of `form` (finished or started over).
pub async fn delete(conn: &mut Conn, org_id: Uuid, user_id: Uuid, form: &str) -> Result<()> {
    let mut q = Sql::new("DELETE FROM drafts WHERE org_id = ");
    q.bind(org_id.to_string())
        .push(" AND user_id = ")
        .bind(user_id.to_string())
        .push(" AND form = ")
        .bind(form.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}
