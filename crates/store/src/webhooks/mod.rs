//! Webhook endpoints and their deliveries.
//!
//! A delivery row is written per event and subscribed, enabled endpoint in the transaction of
//! the change ([`events::enqueue_for_audit`], called where audit events are written), then
//! claimed under a lease ([`crate::lease`]) and POSTed by the webhook dispatcher, which records
//! every attempt.

pub mod events;

use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Db, Result, Sql, parse_id};

const TABLE: &str = "webhook_deliveries";

#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: Uuid,
    pub org_id: Uuid,
    pub url: String,
    pub description: String,
    /// Event type keys, space-separated.
    pub event_types: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// The signing secret, sealed with the server's key (never in clear here).
    pub secret_sealed: String,
    /// The secret before the last rotation, still signed with until `previous_until`.
    pub previous_sealed: Option<String>,
    pub previous_until: Option<i64>,
    pub failing_since: Option<i64>,
    /// Events sent in one request at most (1: each event alone).
    pub batch_max: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Endpoint {
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.split(' ').any(|t| t == event_type)
    }
}

const ENDPOINT_COLUMNS: &str = "id, org_id, url, description, event_types, enabled, disabled_reason, \
    secret_sealed, previous_sealed, previous_until, failing_since, batch_max, created_at, updated_at";

fn endpoint_of(r: &sqlx::any::AnyRow) -> Result<Endpoint> {
    Ok(Endpoint {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        org_id: parse_id(&r.try_get::<String, _>("org_id")?)?,
        url: r.try_get("url")?,
        description: r.try_get("description")?,
        event_types: r.try_get("event_types")?,
        enabled: r.try_get::<i64, _>("enabled")? != 0,
        disabled_reason: r.try_get("disabled_reason")?,
        secret_sealed: r.try_get("secret_sealed")?,
        previous_sealed: r.try_get("previous_sealed")?,
        previous_until: r.try_get("previous_until")?,
        failing_since: r.try_get("failing_since")?,
        batch_max: r.try_get("batch_max")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn insert(conn: &mut Conn, e: &Endpoint) -> Result<()> {
    let mut q = Sql::insert_into("webhook_endpoints", ENDPOINT_COLUMNS);
    q.values_row(|row| {
        row.bind(e.id.to_string())
            .bind(e.org_id.to_string())
            .bind(e.url.clone())
            .bind(e.description.clone())
            .bind(e.event_types.clone())
            .bind(i64::from(e.enabled))
            .bind(e.disabled_reason.clone())
            .bind(e.secret_sealed.clone())
            .bind(e.previous_sealed.clone())
            .bind(e.previous_until)
            .bind(e.failing_since)
            .bind(e.batch_max)
            .bind(e.created_at)
            .bind(e.updated_at);
    });
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Writes back what a person may change and what Rollcall keeps about the endpoint.
pub async fn update(conn: &mut Conn, e: &Endpoint) -> Result<()> {
    let mut q = Sql::update("webhook_endpoints", |set| {
        set.set("url", e.url.clone())
            .set("description", e.description.clone())
            .set("event_types", e.event_types.clone())
            .set("enabled", i64::from(e.enabled))
            .set("disabled_reason", e.disabled_reason.clone())
            .set("secret_sealed", e.secret_sealed.clone())
            .set("previous_sealed", e.previous_sealed.clone())
            .set("previous_until", e.previous_until)
            .set("failing_since", e.failing_since)
            .set("batch_max", e.batch_max)
            .set("updated_at", e.updated_at);
    });
    q.push(" WHERE id = ")
        .bind(e.id.to_string())
        .push(" AND org_id = ")
        .bind(e.org_id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn list(conn: &mut Conn, org_id: Uuid) -> Result<Vec<Endpoint>> {
    let mut q = Sql::new(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = "
    ));
    q.bind(org_id.to_string()).push(" ORDER BY created_at, id");
    q.fetch_all_as(&mut *conn, endpoint_of).await
}

/// The enabled endpoints of an organization: who hears about its changes.
pub async fn enabled(conn: &mut Conn, org_id: Uuid) -> Result<Vec<Endpoint>> {
    let mut q = Sql::new(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE org_id = "
    ));
    q.bind(org_id.to_string()).push(" AND enabled = 1");
    q.fetch_all_as(&mut *conn, endpoint_of).await
}

/// One endpoint of the organization; another organization's is not found.
pub async fn get(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<Option<Endpoint>> {
    let mut q = Sql::new(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = "
    ));
    q.bind(id.to_string())
        .push(" AND org_id = ")
        .bind(org_id.to_string());
    q.fetch_optional_as(&mut *conn, endpoint_of).await
}

/// Removes an endpoint with its deliveries and their attempts.
pub async fn delete(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<()> {
    let mut q = Sql::new(
        "DELETE FROM webhook_attempts WHERE delivery_id IN \
         (SELECT id FROM webhook_deliveries WHERE endpoint_id = ",
    );
    q.bind(id.to_string()).push(")");
    q.execute(&mut *conn).await?;
    let mut q = Sql::new("DELETE FROM webhook_deliveries WHERE endpoint_id = ");
    q.bind(id.to_string());
    q.execute(&mut *conn).await?;
    let mut q = Sql::new("DELETE FROM webhook_endpoints WHERE id = ");
    q.bind(id.to_string())
        .push(" AND org_id = ")
        .bind(org_id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Cancels the queued deliveries of an endpoint (it was disabled): they will not be sent.
pub async fn cancel_queued(conn: &mut Conn, endpoint_id: Uuid) -> Result<u64> {
    let mut q = Sql::new(
        "UPDATE webhook_deliveries SET state = 'cancelled', claim_id = NULL, claimed_until = NULL \
         WHERE state = 'queued' AND endpoint_id = ",
    );
    q.bind(endpoint_id.to_string());
    Ok(q.execute(&mut *conn).await?)
}

/// A delivery to write: one event for one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: Uuid,
    pub org_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    pub created_at: i64,
}

pub async fn enqueue(conn: &mut Conn, deliveries: &[NewDelivery]) -> Result<()> {
    Ok(crate::sql::insert_rows(
        conn,
        TABLE,
        "id, org_id, endpoint_id, event_id, event_type, payload, state, next_attempt_at, created_at",
        deliveries,
        crate::sql::rows_per_statement(9),
        |d, row| {
            row.bind(d.id.to_string())
                .bind(d.org_id.to_string())
                .bind(d.endpoint_id.to_string())
                .bind(d.event_id.clone())
                .bind(d.event_type.clone())
                .bind(d.payload.clone())
                .sql("'queued'")
                .bind(d.created_at)
                .bind(d.created_at);
        },
    )
    .await?)
}

/// A stored delivery with where it stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: Uuid,
    pub org_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: String,
    pub event_type: String,
    pub payload: String,
    /// queued, delivered, failed or cancelled.
    pub state: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

const DELIVERY_COLUMNS: &str = "id, org_id, endpoint_id, event_id, event_type, payload, state, attempts, \
    next_attempt_at, last_status, last_error, created_at, delivered_at";

fn delivery_of(r: &sqlx::any::AnyRow) -> Result<Delivery> {
    Ok(Delivery {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        org_id: parse_id(&r.try_get::<String, _>("org_id")?)?,
        endpoint_id: parse_id(&r.try_get::<String, _>("endpoint_id")?)?,
        event_id: r.try_get("event_id")?,
        event_type: r.try_get("event_type")?,
        payload: r.try_get("payload")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_status: r.try_get("last_status")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        delivered_at: r.try_get("delivered_at")?,
    })
}

/// Claims due deliveries for a dispatcher (see [`crate::lease::claim_due`]).
pub async fn claim_due(
    db: &Db,
    claim: Uuid,
    now: i64,
    lease_until: i64,
    limit: usize,
) -> Result<Vec<Delivery>> {
    let mut claimed = crate::lease::claim_due(
        db,
        TABLE,
        DELIVERY_COLUMNS,
        claim,
        now,
        lease_until,
        limit,
        delivery_of,
    )
    .await?;
    claimed.sort_by_key(|d| (d.next_attempt_at, d.id));
    Ok(claimed)
}

pub async fn renew(db: &Db, claim: Uuid, lease_until: i64) -> Result<u64> {
    crate::lease::renew(db, TABLE, claim, lease_until).await
}

pub async fn release(conn: &mut Conn, claim: Uuid, ids: &[Uuid]) -> Result<u64> {
    crate::lease::release(conn, TABLE, claim, ids).await
}

/// One HTTP attempt as the dispatcher saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub delivery_id: Uuid,
    pub endpoint_id: Uuid,
    pub at: i64,
    pub status_code: Option<i64>,
    pub response_ms: i64,
    pub error: Option<String>,
    /// Delivered (a 2xx), or else when to try again (`None`: give up).
    pub delivered: bool,
    pub retry_at: Option<i64>,
}

/// Records an attempt, fenced on the claim: a delivery no longer held under `claim` is left
/// alone (and `false` answered). The attempt is logged, the delivery moves on and its
/// endpoint's health is kept (failing since when, or healthy again).
pub async fn record_attempt(conn: &mut Conn, claim: Uuid, a: &Attempt) -> Result<bool> {
    let state = match (a.delivered, a.retry_at) {
        (true, _) => "delivered",
        (false, Some(_)) => "queued",
        (false, None) => "failed",
    };
    let mut q = Sql::update(TABLE, |set| {
        set.sql("attempts = attempts + 1")
            .set("state", state.to_string())
            .set("last_status", a.status_code)
            .set("last_error", a.error.clone())
            .sql("claim_id = NULL, claimed_until = NULL");
    });
    if let Some(at) = a.retry_at {
        q.push(", next_attempt_at = ").bind(at);
    }
    if a.delivered {
        q.push(", delivered_at = ").bind(a.at);
    }
    q.push(" WHERE id = ")
        .bind(a.delivery_id.to_string())
        .push(" AND state = 'queued' AND claim_id = ")
        .bind(claim.to_string())
        .push(" RETURNING attempts");
    let Some(row) = q.fetch_optional(&mut *conn).await? else {
        return Ok(false);
    };
    let attempt: i64 = row.try_get(0)?;
    let mut q = Sql::insert_into(
        "webhook_attempts",
        "delivery_id, attempt, at, status_code, response_ms, error",
    );
    q.values_row(|row| {
        row.bind(a.delivery_id.to_string())
            .bind(attempt)
            .bind(a.at)
            .bind(a.status_code)
            .bind(a.response_ms)
            .bind(a.error.clone());
    });
    q.execute(&mut *conn).await?;
    let health = if a.delivered {
        "failing_since = NULL"
    } else {
        "failing_since = COALESCE(failing_since, "
    };
    let mut q = Sql::new(&format!("UPDATE webhook_endpoints SET {health}"));
    if !a.delivered {
        q.bind(a.at).push(")");
    }
    q.push(" WHERE id = ").bind(a.endpoint_id.to_string());
    q.execute(&mut *conn).await?;
    Ok(true)
}

/// Enabled endpoints failing without a success since before `before` (any organization).
pub async fn failing_since_before(conn: &mut Conn, before: i64) -> Result<Vec<Endpoint>> {
    let mut q = Sql::new(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE enabled = 1 AND failing_since <= "
    ));
    q.bind(before);
    q.fetch_all_as(&mut *conn, endpoint_of).await
}

/// The deliveries of an endpoint, newest first, older than `before` (a delivery id) if given.
pub async fn deliveries(
    conn: &mut Conn,
    endpoint_id: Uuid,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Vec<Delivery>> {
    let mut q = Sql::new(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE endpoint_id = "
    ));
    q.bind(endpoint_id.to_string());
    if let Some(b) = before {
        q.push(" AND id < ").bind(b.to_string());
    }
    q.push(&format!(" ORDER BY id DESC LIMIT {}", limit.clamp(1, 500)));
    q.fetch_all_as(&mut *conn, delivery_of).await
}

pub async fn delivery(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<Option<Delivery>> {
    let mut q = Sql::new(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = "
    ));
    q.bind(id.to_string())
        .push(" AND org_id = ")
        .bind(org_id.to_string());
    q.fetch_optional_as(&mut *conn, delivery_of).await
}

/// A logged attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedAttempt {
    pub attempt: i64,
    pub at: i64,
    pub status_code: Option<i64>,
    pub response_ms: i64,
    pub error: Option<String>,
}

/// The attempts of the listed deliveries, oldest first.
pub async fn attempts(conn: &mut Conn, ids: &[Uuid]) -> Result<Vec<(Uuid, LoggedAttempt)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new(
        "SELECT delivery_id, attempt, at, status_code, response_ms, error FROM webhook_attempts \
         WHERE delivery_id IN (",
    );
    q.bind_list(ids.iter().map(|i| i.to_string()))
        .push(") ORDER BY delivery_id, attempt");
    q.fetch_all_as(&mut *conn, |r| {
        Ok((
            parse_id(&r.try_get::<String, _>(0)?)?,
            LoggedAttempt {
                attempt: r.try_get(1)?,
                at: r.try_get(2)?,
                status_code: r.try_get(3)?,
                response_ms: r.try_get(4)?,
                error: r.try_get(5)?,
            },
        ))
    })
    .await
}

/// Queues a delivery again at `now` (a redelivery a person asked for); `false` if it is still
/// queued (it will be sent anyway).
pub async fn requeue(conn: &mut Conn, org_id: Uuid, id: Uuid, now: i64) -> Result<bool> {
    let mut q = Sql::update(TABLE, |set| {
        set.set("state", "queued".to_string())
            .set("next_attempt_at", now)
            .sql("claim_id = NULL, claimed_until = NULL");
    });
    q.push(" WHERE id = ")
        .bind(id.to_string())
        .push(" AND org_id = ")
        .bind(org_id.to_string())
        .push(" AND state <> 'queued'");
    Ok(q.execute(&mut *conn).await? > 0)
}

/// Deliveries still to make (queued, due or not), of every organization.
pub async fn pending(conn: &mut Conn) -> Result<i64> {
    let row = Sql::new("SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'queued'")
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get(0)?)
}
