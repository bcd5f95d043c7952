//! Attempt counters shared by every process on the database: a count per key within a fixed
//! window. Keys are digests made by the caller; the store never sees what was counted.

use sqlx::Row;

use crate::{Conn, Result, Sql};

/// Adds `n` to `key`'s count unless that would pass `max` within the window of `window`
/// microseconds that started at its first hit (a window that has run out starts again at `now`).
/// `None` when counted; otherwise when the window ends (nothing is counted).
pub async fn take(
    conn: &mut Conn,
    key: &str,
    n: i64,
    max: i64,
    now: i64,
    window: i64,
) -> Result<Option<i64>> {
    let stale = now - window;
    let mut q = Sql::new("INSERT INTO rate_counters (key, hits, window_start) VALUES (");
    q.bind(key.to_string())
        .push(", ")
        .bind(n)
        .push(", ")
        .bind(now)
        .push(
            ") ON CONFLICT (key) DO UPDATE SET hits = CASE WHEN rate_counters.window_start <= ",
        )
        .bind(stale)
        .push(" THEN excluded.hits ELSE rate_counters.hits + excluded.hits END, window_start = CASE WHEN rate_counters.window_start <= ")
        .bind(stale)
        .push(" THEN excluded.window_start ELSE rate_counters.window_start END WHERE rate_counters.window_start <= ")
        .bind(stale)
        .push(" OR rate_counters.hits + excluded.hits <= ")
        .bind(max)
        .push(" RETURNING hits");
    if q.fetch_optional(&mut *conn).await?.is_some() {
        return Ok(None);
    }
    let mut q = Sql::new("SELECT window_start FROM rate_counters WHERE key = ");
    q.bind(key.to_string());
    let start: i64 = q.fetch_one(&mut *conn).await?.try_get(0)?;
    Ok(Some(start + window))
}

/// Counts one more event under `key`, remembering when it happened (`window_start` is then the
/// last event's time); a count whose last event came before `forget_before` starts again.
/// Returns the count.
pub async fn note(conn: &mut Conn, key: &str, now: i64, forget_before: i64) -> Result<i64> {
    let mut q = Sql::new("INSERT INTO rate_counters (key, hits, window_start) VALUES (");
    q.bind(key.to_string())
        .push(", 1, ")
        .bind(now)
        .push(
            ") ON CONFLICT (key) DO UPDATE SET hits = CASE WHEN rate_counters.window_start < ",
        )
        .bind(forget_before)
        .push(" THEN 1 ELSE rate_counters.hits + 1 END, window_start = excluded.window_start RETURNING hits");
    Ok(q.fetch_one(&mut *conn).await?.try_get(0)?)
}

/// `key`'s count and when its window started (for [`note`]: when the last event happened).
pub async fn get(conn: &mut Conn, key: &str) -> Result<Option<(i64, i64)>> {
    let mut q = Sql::new("SELECT hits, window_start FROM rate_counters WHERE key = ");
    q.bind(key.to_string());
    q.fetch_optional_as(&mut *conn, |r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .await
}

/// Forgets `key`'s count (e.g. after a successful sign-in).
pub async fn clear(conn: &mut Conn, key: &str) -> Result<()> {
    let mut q = Sql::new("DELETE FROM rate_counters WHERE key = ");
    q.bind(key.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Drops counters whose window started before `before`; returns how many.
pub async fn prune(conn: &mut Conn, before: i64) -> Result<u64> {
    let mut q = Sql::new("DELETE FROM rate_counters WHERE window_start < ");
    q.bind(before);
    Ok(q.execute(&mut *conn).await?)
}
