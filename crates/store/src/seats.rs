//! Licence seats: how many an organization has and how many are taken.
//!
//! Pending, expired and active users hold a seat; so does every user an unfinished import has
//! yet to create (`jobs.seats_held`), so that two batches checked one after the other cannot
//! both count the same free seats.

use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql};

/// The product every staff account uses.
pub const PORTAL: &str = "portal";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seats {
    pub total: i64,
    pub used: i64,
}

impl Seats {
    pub fn free(&self) -> i64 {
        (self.total - self.used).max(0)
    }
}

/// Seats of a product, read under a lock held until the transaction ends: a check and the
/// writes it allows happen as one step on both engines (PostgreSQL locks the seats row;
/// SQLite's one writer runs write transactions one at a time).
pub async fn lock(conn: &mut Conn, org_id: Uuid, product: &str) -> Result<Option<Seats>> {
    let mut q = Sql::new("SELECT seats FROM seats WHERE org_id = ");
    q.bind(org_id.to_string())
        .push(" AND product = ")
        .bind(product.to_string());
    if !crate::sql::is_sqlite(conn) {
        q.push(" FOR UPDATE");
    }
    let Some(row) = q.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let total: i64 = row.try_get(0)?;
    Ok(Some(Seats {
        total,
        used: used(conn, org_id).await?,
    }))
}

/// Seats taken: seated users plus those unfinished imports will create.
pub async fn used(conn: &mut Conn, org_id: Uuid) -> Result<i64> {
    // The sum is cast back: PostgreSQL sums BIGINTs as NUMERIC.
    let mut q = Sql::new("SELECT CAST((SELECT COUNT(*) FROM users WHERE org_id = ");
    q.bind(org_id.to_string())
        .push(" AND status IN ('pending', 'active')) + (SELECT COALESCE(SUM(seats_held), 0) FROM jobs WHERE org_id = ")
        .bind(org_id.to_string())
        .push(" AND state IN ('queued', 'running')) AS BIGINT)");
    Ok(q.fetch_one(&mut *conn).await?.try_get(0)?)
}

/// Every product's seats, read without a lock (settings page).
pub async fn all(conn: &mut Conn, org_id: Uuid) -> Result<Vec<(String, Seats)>> {
    let used = used(conn, org_id).await?;
    Ok(crate::orgs::seats(conn, org_id)
        .await?
        .into_iter()
        .map(|(product, total)| (product, Seats { total, used }))
        .collect())
}

/// Releases seats an import held for users it has now created (or will not create).
pub async fn release(conn: &mut Conn, job_id: Uuid, n: i64) -> Result<()> {
    let mut q = Sql::new("UPDATE jobs SET seats_held = CASE WHEN seats_held > ");
    q.bind(n)
        .push(" THEN seats_held - ")
        .bind(n)
        .push(" ELSE 0 END WHERE id = ")
        .bind(job_id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Holds seats for an import about to run.
pub async fn hold(conn: &mut Conn, job_id: Uuid, n: i64) -> Result<()> {
    let mut q = Sql::new("UPDATE jobs SET seats_held = ");
    q.bind(n).push(" WHERE id = ").bind(job_id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}
