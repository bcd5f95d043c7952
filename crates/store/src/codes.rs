//! Short-lived one-time codes (email/SMS second factor) and recovery codes, stored hashed.

use sqlx::Row;
use uuid::Uuid;

use crate::sql::{insert_rows, rows_per_statement};
use crate::{Conn, Result, Sql, new_id, parse_id};

#[derive(Debug, Clone, PartialEq)]
pub struct OneTimeCode {
    pub id: Uuid,
    pub user_id: Uuid,
    pub purpose: String,
    pub code_hash: String,
    pub expires_at: i64,
    pub attempts: i64,
}

pub async fn insert(
    conn: &mut Conn,
    user_id: Uuid,
    purpose: &str,
    code_hash: &str,
    expires_at: i64,
    now: i64,
) -> Result<()> {
    let mut q = Sql::insert_into(
        "one_time_codes",
        "id, user_id, purpose, code_hash, expires_at, created_at",
    );
    q.values_row(|row| {
        row.bind(new_id().to_string())
            .bind(user_id.to_string())
            .bind(purpose.to_string())
            .bind(code_hash.to_string())
            .bind(expires_at)
            .bind(now);
    });
    q.execute(&mut *conn).await?;
    Ok(())
}

/// The newest unused, unexpired code of a user for a purpose.
pub async fn latest(
    conn: &mut Conn,
    user_id: Uuid,
    purpose: &str,
    now: i64,
) -> Result<Option<OneTimeCode>> {
    let mut q = Sql::new(
        "SELECT id, user_id, purpose, code_hash, expires_at, attempts FROM one_time_codes WHERE used_at IS NULL AND user_id = ",
    );
    q.bind(user_id.to_string())
        .push(" AND purpose = ")
        .bind(purpose.to_string())
        .push(" AND expires_at > ")
        .bind(now)
        .push(" ORDER BY created_at DESC LIMIT 1");
    let Some(r) = q.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    Ok(Some(OneTimeCode {
        id: parse_id(&r.try_get::<String, _>(0)?)?,
        user_id: parse_id(&r.try_get::<String, _>(1)?)?,
        purpose: r.try_get(2)?,
        code_hash: r.try_get(3)?,
        expires_at: r.try_get(4)?,
        attempts: r.try_get(5)?,
    }))
}

pub async fn count_since(conn: &mut Conn, user_id: Uuid, since: i64) -> Result<i64> {
    let mut q = Sql::new("SELECT COUNT(*) FROM one_time_codes WHERE user_id = ");
    q.bind(user_id.to_string())
        .push(" AND created_at >= ")
        .bind(since);
    Ok(q.fetch_one(&mut *conn).await?.try_get(0)?)
}

pub async fn record_attempt(conn: &mut Conn, id: Uuid) -> Result<()> {
    let mut q = Sql::new("UPDATE one_time_codes SET attempts = attempts + 1 WHERE id = ");
    q.bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Uses a code once: `false` if it was used meanwhile.
pub async fn use_code(conn: &mut Conn, id: Uuid, now: i64) -> Result<bool> {
    let mut q = Sql::new("UPDATE one_time_codes SET used_at = ");
    q.bind(now)
        .push(" WHERE used_at IS NULL AND id = ")
        .bind(id.to_string());
    Ok(q.execute(&mut *conn).await? == 1)
}

/// Replaces a user's recovery codes.
pub async fn set_recovery(conn: &mut Conn, user_id: Uuid, hashes: &[String]) -> Result<()> {
    let mut q = Sql::new("DELETE FROM recovery_codes WHERE user_id = ");
    q.bind(user_id.to_string());
    q.execute(&mut *conn).await?;
    Ok(insert_rows(
        conn,
        "recovery_codes",
        "user_id, code_hash",
        hashes,
        rows_per_statement(2),
        |h, row| {
            row.bind(user_id.to_string()).bind(h.clone());
        },
    )
    .await?)
}

/// Uses a recovery code once; `false` if it is unknown or already used.
pub async fn use_recovery(conn: &mut Conn, user_id: Uuid, hash: &str, now: i64) -> Result<bool> {
    let mut q = Sql::new("UPDATE recovery_codes SET used_at = ");
    q.bind(now)
        .push(" WHERE used_at IS NULL AND user_id = ")
        .bind(user_id.to_string())
        .push(" AND code_hash = ")
        .bind(hash.to_string());
    Ok(q.execute(&mut *conn).await? == 1)
}
