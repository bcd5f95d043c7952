//! What an operator's checks read: an online copy of a SQLite database, its integrity, its
//! schema version, how many rows it holds, and the gauges `/metrics` shows.

use sqlx::Row;

use crate::{Conn, Db, Result, StoreError};

/// Rows of the tables an operator recognises, read in one transaction so they agree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub orgs: i64,
    pub users: i64,
    pub invitations: i64,
    pub outbox: i64,
    pub audit_events: i64,
}

/// Writes a consistent copy of a SQLite database to `dest` (which must not exist) while other
/// connections go on writing: `VACUUM INTO` reads one snapshot of the database.
pub async fn vacuum_into(db: &Db, dest: &str) -> Result<()> {
    let mut conn = db.read_conn().await?;
    sqlx::query("VACUUM INTO $1")
        .bind(dest)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Whether the database answers a query now.
pub async fn answers(db: &Db) -> bool {
    match db.read_conn().await {
        Ok(mut conn) => sqlx::query("SELECT 1").execute(&mut *conn).await.is_ok(),
        Err(_) => false,
    }
}

/// SQLite's own check of every page and index: empty when the file is sound.
pub async fn integrity_problems(conn: &mut Conn) -> Result<Vec<String>> {
    let rows = sqlx::query("PRAGMA integrity_check")
        .fetch_all(&mut *conn)
        .await?;
    let found: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
    Ok(found.into_iter().filter(|p| p != "ok").collect())
}

/// The newest migration applied, `None` for a database Rollcall never migrated.
pub async fn schema_version(conn: &mut Conn) -> Result<Option<i64>> {
    let table: Option<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
    )
    .fetch_optional(&mut *conn)
    .await?;
    if table.is_none() {
        return Ok(None);
    }
    Ok(
        sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Counts the rows of each table in one read transaction.
pub async fn counts(conn: &mut Conn) -> Result<Counts> {
    let row = sqlx::query(
        "SELECT (SELECT COUNT(*) FROM organizations), (SELECT COUNT(*) FROM users), \
         (SELECT COUNT(*) FROM invitations), (SELECT COUNT(*) FROM outbox), \
         (SELECT COUNT(*) FROM audit_events)",
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(Counts {
        orgs: row.try_get(0)?,
        users: row.try_get(1)?,
        invitations: row.try_get(2)?,
        outbox: row.try_get(3)?,
        audit_events: row.try_get(4)?,
    })
}

/// Messages waiting to be sent and when the oldest of them was written (microseconds).
pub async fn outbox_backlog(conn: &mut Conn) -> Result<(i64, Option<i64>)> {
    let row = sqlx::query("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE state = 'queued'")
        .fetch_one(&mut *conn)
        .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Jobs per kind and state, with the items they have done.
pub async fn jobs_by_kind_and_state(conn: &mut Conn) -> Result<Vec<(String, String, i64, i64)>> {
    let rows = sqlx::query(
        "SELECT kind, state, COUNT(*), CAST(COALESCE(SUM(done), 0) AS BIGINT) FROM jobs GROUP BY kind, state",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
        .collect()
}

/// Connections of each pool: (pool, open, idle).
pub fn pool_use(db: &Db) -> Vec<(&'static str, u32, u32)> {
    db.pool_use()
}

/// A copy that is not a SQLite database at all is reported in words, not as a driver error.
pub fn not_a_database(e: &StoreError) -> bool {
    let text = e.to_string();
    text.contains("file is not a database") || text.contains("database disk image is malformed")
}
