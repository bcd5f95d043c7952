//! Secrets the server keeps for itself, one per name, made once and shared by every process.

use sqlx::Row;

use crate::{Conn, Result, Sql, StoreError};

/// The secret stored under `name`, storing `candidate` first if there is none yet (the first
/// process to ask wins; the others read its secret).
pub async fn get_or_create(
    conn: &mut Conn,
    name: &str,
    candidate: &str,
    now: i64,
) -> Result<String> {
    let mut q = Sql::new("INSERT INTO server_keys (name, secret, created_at) VALUES (");
    q.bind(name.to_string())
        .push(", ")
        .bind(candidate.to_string())
        .push(", ")
        .bind(now)
        .push(") ON CONFLICT (name) DO NOTHING");
    q.execute(&mut *conn).await?;
    let mut q = Sql::new("SELECT secret FROM server_keys WHERE name = ");
    q.bind(name.to_string());
    Ok(q.fetch_one(&mut *conn).await?.try_get(0)?)
}

/// The secret stored under `name`, if one was ever made.
pub async fn get(conn: &mut Conn, name: &str) -> Result<Option<String>> {
    let mut q = Sql::new("SELECT secret FROM server_keys WHERE name = ");
    q.bind(name.to_string());
    q.fetch_optional_as(&mut *conn, |r| {
        Ok::<_, StoreError>(r.try_get::<String, _>(0)?)
    })
    .await
}
