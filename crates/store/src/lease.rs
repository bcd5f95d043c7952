//! Claiming queued rows under a lease, shared by the queues a dispatcher drains (the email
//! outbox, webhook deliveries). Such a table has `id`, `state` ('queued' while work is left),
//! `next_attempt_at`, `claim_id` and `claimed_until`.
//!
//! A claim writes a claim id of its own and a lease expiry that its holder renews while it
//! lives; every outcome it records is fenced on the claim id, so a holder whose lease ran out
//! cannot overwrite the outcome of whoever retook the row.

use uuid::Uuid;

use crate::{Conn, Db, Engine, Result, Sql};

/// Ids per `IN (…)` list.
const BATCH: usize = 400;

/// Claims up to `limit` queued rows of `table` due at `now` whose lease (if any) has run out,
/// leases them until `lease_until` under `claim`, and answers them (`columns`, read by
/// `from_row`) in the order they fell due.
///
/// Commits on its own, before any work is done. Several processes sharing one PostgreSQL each
/// get different rows (`FOR UPDATE SKIP LOCKED`); on SQLite the single-writer pool and the
/// database lock serialise claims.
#[allow(clippy::too_many_arguments)]
pub async fn claim_due<T>(
    db: &Db,
    table: &str,
    columns: &str,
    claim: Uuid,
    now: i64,
    lease_until: i64,
    limit: usize,
    from_row: impl Fn(&sqlx::any::AnyRow) -> Result<T>,
) -> Result<Vec<T>> {
    let due = |q: &mut Sql| {
        q.push(&format!(
            "SELECT id FROM {table} WHERE state = 'queued' AND next_attempt_at <= "
        ))
        .bind(now)
        .push(" AND (claimed_until IS NULL OR claimed_until <= ")
        .bind(now)
        .push(") ORDER BY next_attempt_at LIMIT ")
        .bind(limit as i64);
    };
    let mut q = Sql::default();
    match db.engine() {
        // A CTE is evaluated once, so the set locked is exactly the set updated.
        Engine::Postgres => {
            q.push("WITH due AS (");
            due(&mut q);
            q.push(&format!(
                " FOR UPDATE SKIP LOCKED) UPDATE {table} SET claim_id = "
            ))
            .bind(claim.to_string())
            .push(", claimed_until = ")
            .bind(lease_until)
            .push(&format!(" FROM due WHERE {table}.id = due.id RETURNING "))
            .push(&qualified(table, columns));
        }
        Engine::Sqlite => {
            q.push(&format!("UPDATE {table} SET claim_id = "))
                .bind(claim.to_string())
                .push(", claimed_until = ")
                .bind(lease_until)
                .push(" WHERE id IN (");
            due(&mut q);
            q.push(") RETURNING ").push(columns);
        }
    }
    let mut conn = db.write_conn().await?;
    q.fetch_all_as(&mut conn, from_row).await
}

fn qualified(table: &str, columns: &str) -> String {
    columns
        .split(", ")
        .map(|c| format!("{table}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Extends the lease of `claim`'s rows still queued to `lease_until` (the holder's heartbeat).
/// Returns how many rows it still holds.
pub async fn renew(db: &Db, table: &str, claim: Uuid, lease_until: i64) -> Result<u64> {
    let mut q = Sql::new(&format!("UPDATE {table} SET claimed_until = "));
    q.bind(lease_until)
        .push(" WHERE claim_id = ")
        .bind(claim.to_string())
        .push(" AND state = 'queued'");
    Ok(q.execute(&mut *db.write_conn().await?).await?)
}

/// Gives claimed rows back without an attempt (the holder is stopping, or did not get to them
/// in time), so the next claim, in any process, can take them at once.
pub async fn release(conn: &mut Conn, table: &str, claim: Uuid, ids: &[Uuid]) -> Result<u64> {
    let mut released = 0;
    for chunk in ids.chunks(BATCH) {
        let mut q = Sql::new(&format!(
            "UPDATE {table} SET claim_id = NULL, claimed_until = NULL WHERE claim_id = "
        ));
        q.bind(claim.to_string())
            .push(" AND id IN (")
            .bind_list(chunk.iter().map(|id| id.to_string()))
            .push(")");
        released += q.execute(&mut *conn).await?;
    }
    Ok(released)
}
