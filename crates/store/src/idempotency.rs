//! Idempotency keys of API calls: the first response is kept and replayed for a retry.

use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql};

#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub request_hash: String,
    pub status: i64,
    pub response: String,
}

pub async fn get(
    conn: &mut Conn,
    org_id: Uuid,
    endpoint: &str,
    key: &str,
) -> Result<Option<Stored>> {
    let mut q =
        Sql::new("SELECT request_hash, status, response FROM idempotency_keys WHERE org_id = ");
    q.bind(org_id.to_string())
        .push(" AND endpoint = ")
        .bind(endpoint.to_string())
        .push(" AND key = ")
        .bind(key.to_string());
    let Some(r) = q.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    Ok(Some(Stored {
        request_hash: r.try_get(0)?,
        status: r.try_get(1)?,
        response: r.try_get(2)?,
    }))
}

/// Records the response in the same transaction as the change; a concurrent duplicate fails
/// on the primary key and rolls its whole change back.
pub async fn put(
    conn: &mut Conn,
    org_id: Uuid,
    endpoint: &str,
    key: &str,
    stored: &Stored,
    now: i64,
) -> Result<()> {
    let mut q = Sql::insert_into(
        "idempotency_keys",
        "org_id, endpoint, key, request_hash, status, response, created_at",
    );
    q.values_row(|row| {
        row.bind(org_id.to_string())
            .bind(endpoint.to_string())
            .bind(key.to_string())
            .bind(stored.request_hash.clone())
            .bind(stored.status)
            .bind(stored.response.clone())
            .bind(now);
    });
    q.execute(&mut *conn).await?;
    Ok(())
}
