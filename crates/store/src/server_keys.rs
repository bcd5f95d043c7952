//! Secrets the server keeps for itself, one per name, made once and shared by every process.

use sqlx::Row;

use crate::{Conn, Result, Sql};

/// The secret stored under `name`, storing `candidate` first if there is none yet (the first
/// process to ask wins; the others read its secret).
pub async fn get_or_create(
    conn: &mut Conn,
    name: &str,
    candidate: &str,
    now: i64,
) -> Result<String> {
    insert(conn, name, candidate, now, "DO NOTHING").await?;
    let stored = get(conn, name).await?;
    Ok(stored.expect("inserted or already there"))
}

/// The secret stored under `name`, if any.
pub async fn get(conn: &mut Conn, name: &str) -> Result<Option<String>> {
    let mut q = Sql::new("SELECT secret FROM server_keys WHERE name = ");
    q.bind(name.to_string());
    let row = q.fetch_optional(&mut *conn).await?;
    Ok(row.map(|r| r.try_get(0)).transpose()?)
}

/// Stores `secret` under `name`, in place of any secret there.
pub async fn put(conn: &mut Conn, name: &str, secret: &str, now: i64) -> Result<()> {
    insert(
        conn,
        name,
        secret,
        now,
        "DO UPDATE SET secret = excluded.secret",
    )
    .await
}

/// Forgets the secret stored under `name`.
pub async fn remove(conn: &mut Conn, name: &str) -> Result<()> {
    let mut q = Sql::new("DELETE FROM server_keys WHERE name = ");
    q.bind(name.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Inserts the secret; `on_conflict` says what an existing one under `name` gets.
async fn insert(
    conn: &mut Conn,
    name: &str,
    secret: &str,
    now: i64,
    on_conflict: &str,
) -> Result<()> {
    let mut q = Sql::insert_into("server_keys", "name, secret, created_at");
    q.values_row(|row| {
        row.bind(name.to_string())
            .bind(secret.to_string())
            .bind(now);
    })
    .push(&format!(" ON CONFLICT (name) {on_conflict}"));
    q.execute(&mut *conn).await?;
    Ok(())
}
