//! Console sessions. The cookie carries a random token; only its hash is stored.

use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql, parse_id};

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub id_hash: String,
    pub org_id: Uuid,
    pub user_id: Uuid,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    /// `None` for a full session; otherwise the step in progress ("mfa", "register_2fa", "register_eula").
    pub stage: Option<String>,
}

pub async fn insert(conn: &mut Conn, s: &Session, source_ip: Option<String>) -> Result<()> {
    let mut q = Sql::insert_into(
        "sessions",
        "id_hash, org_id, user_id, csrf_token, created_at, last_seen_at, expires_at, stage, \
         source_ip",
    );
    q.values_row(|row| {
        row.bind(s.id_hash.clone())
            .bind(s.org_id.to_string())
            .bind(s.user_id.to_string())
            .bind(s.csrf_token.clone())
            .bind(s.created_at)
            .bind(s.last_seen_at)
            .bind(s.expires_at)
            .bind(s.stage.clone())
            .bind(source_ip);
    });
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, id_hash: &str) -> Result<Option<Session>> {
    let mut q = Sql::new(
        "SELECT id_hash, org_id, user_id, csrf_token, created_at, last_seen_at, expires_at, stage FROM sessions WHERE id_hash = ",
    );
    q.bind(id_hash.to_string());
    let Some(r) = q.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    Ok(Some(Session {
        id_hash: r.try_get(0)?,
        org_id: parse_id(&r.try_get::<String, _>(1)?)?,
        user_id: parse_id(&r.try_get::<String, _>(2)?)?,
        csrf_token: r.try_get(3)?,
        created_at: r.try_get(4)?,
        last_seen_at: r.try_get(5)?,
        expires_at: r.try_get(6)?,
        stage: r.try_get(7)?,
    }))
}

pub async fn touch(conn: &mut Conn, id_hash: &str, now: i64) -> Result<()> {
    let mut q = Sql::new("UPDATE sessions SET last_seen_at = ");
    q.bind(now)
        .push(" WHERE id_hash = ")
        .bind(id_hash.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn delete(conn: &mut Conn, id_hash: &str) -> Result<()> {
    let mut q = Sql::new("DELETE FROM sessions WHERE id_hash = ");
    q.bind(id_hash.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Sign-out everywhere, and part of deactivation.
pub async fn delete_for_user(conn: &mut Conn, user_id: Uuid) -> Result<u64> {
    let mut q = Sql::new("DELETE FROM sessions WHERE user_id = ");
    q.bind(user_id.to_string());
    Ok(q.execute(&mut *conn).await?)
}

/// Moves a part-way session to its next step (`None`: a full session).
pub async fn set_stage(
    conn: &mut Conn,
    id_hash: &str,
    stage: Option<&str>,
    now: i64,
) -> Result<()> {
    let mut q = Sql::update("sessions", |set| {
        set.set("stage", stage.map(str::to_string))
            .set("last_seen_at", now);
    });
    q.push(" WHERE id_hash = ").bind(id_hash.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}
