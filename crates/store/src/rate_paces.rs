//! The paces of the API's rate limits, shared by every process on the database: per key, when
//! its allowance is whole again (the generic cell rate algorithm's "theoretical arrival time",
//! in microseconds). Keys are digests made by the caller.

use sqlx::Row;

use crate::{Conn, Result, Sql};

/// Adds `cost` microseconds of requests to `key`'s pace, which becomes `max(pace, since) +
/// cost` (`since`: when the first of those requests came). Returns the new pace, every
/// process's requests in it.
pub async fn add(conn: &mut Conn, key: &str, since: i64, cost: i64) -> Result<i64> {
    let mut q = Sql::new("INSERT INTO api_rate_paces (key, pace) VALUES (");
    q.bind(key.to_string())
        .push(", ")
        .bind(since + cost)
        .push(") ON CONFLICT (key) DO UPDATE SET pace = CASE WHEN api_rate_paces.pace > ")
        .bind(since)
        .push(" THEN api_rate_paces.pace + ")
        .bind(cost)
        .push(" ELSE excluded.pace END RETURNING pace");
    Ok(q.fetch_one(&mut *conn).await?.try_get(0)?)
}

/// `key`'s pace, if it has one.
pub async fn get(conn: &mut Conn, key: &str) -> Result<Option<i64>> {
    let mut q = Sql::new("SELECT pace FROM api_rate_paces WHERE key = ");
    q.bind(key.to_string());
    q.fetch_optional_as(&mut *conn, |r| Ok(r.try_get(0)?)).await
}

/// Forgets the paces whose allowance was whole again before `before` (an absent pace is a whole
/// allowance); returns how many.
pub async fn forget_before(conn: &mut Conn, before: i64) -> Result<u64> {
    let mut q = Sql::new("DELETE FROM api_rate_paces WHERE pace < ");
    q.bind(before);
    Ok(q.execute(&mut *conn).await?)
}
