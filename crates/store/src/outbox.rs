//! The transactional outbox: every outgoing message is written in the same transaction as the
//! change that causes it, then claimed and delivered by a dispatcher.
//!
//! A row is `queued` until it is `sent`, `failed` (given up) or `revoked` (its invitation was
//! withdrawn before it went out). A dispatcher claims due rows by writing a claim id of its own
//! (`claim_id`) and a lease expiry (`claimed_until`) that it renews while it lives; every outcome
//! it records is fenced on the claim id, so a dispatcher whose lease ran out (a crashed or
//! stalled process) cannot overwrite the outcome of whoever retook the row.

use rollcall_domain::DeliveryState;
use sqlx::Row;
use uuid::Uuid;

use crate::sql::{insert_rows, rows_per_statement};
use crate::{Conn, Db, Engine, Result, Sql, parse_id, parse_opt_id, parse_stored};

/// A message to deliver, as the app layer composes it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxMessage {
    pub id: Uuid,
    pub org_id: Uuid,
    /// "invitation", "otp" or "notice".
    pub kind: String,
    /// "email" or "sms".
    pub medium: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    pub invitation_id: Option<Uuid>,
    /// When the message is due (now, or the scheduled time). Read back, it is when the next
    /// attempt is due, which moves on after each failure.
    pub send_at: i64,
    pub created_at: i64,
}

impl OutboxMessage {
    /// A plain-text email notice to one person, due now.
    pub fn notice(org_id: Uuid, recipient: &str, subject: String, text: String, now: i64) -> Self {
        OutboxMessage {
            id: crate::new_id(),
            org_id,
            kind: "notice".into(),
            medium: "email".into(),
            recipient: recipient.to_string(),
            subject,
            body_text: text,
            body_html: None,
            invitation_id: None,
            send_at: now,
            created_at: now,
        }
    }
}

/// A stored message with its delivery record.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub message: OutboxMessage,
    /// Queued, sent, failed or revoked.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    pub sent_at: Option<i64>,
    /// When the lease of the dispatcher holding the row runs out, if one holds it.
    pub claimed_until: Option<i64>,
}

/// The outcome of a failed attempt, as the app layer decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub id: Uuid,
    /// A reason a person can read.
    pub error: String,
    /// When to try again; `None` gives up and marks the message (and its invitation) failed.
    pub retry_at: Option<i64>,
}

const COLUMNS: &str = "id, org_id, kind, medium, recipient, subject, body_text, body_html, invitation_id, \
    next_attempt_at, created_at, state, attempts, last_error, sent_at, claimed_until";

/// Rows per multi-row statement (12 parameters each for inserts: well under both engines' limits).
const BATCH: usize = 400;

fn from_row(r: &sqlx::any::AnyRow) -> Result<Delivery> {
    Ok(Delivery {
        message: OutboxMessage {
            id: parse_id(&r.try_get::<String, _>("id")?)?,
            org_id: parse_id(&r.try_get::<String, _>("org_id")?)?,
            kind: r.try_get("kind")?,
            medium: r.try_get("medium")?,
            recipient: r.try_get("recipient")?,
            subject: r.try_get("subject")?,
            body_text: r.try_get("body_text")?,
            body_html: r.try_get("body_html")?,
            invitation_id: parse_opt_id(r.try_get("invitation_id")?)?,
            send_at: r.try_get("next_attempt_at")?,
            created_at: r.try_get("created_at")?,
        },
        state: parse_stored("outbox", "state", r.try_get("state")?, DeliveryState::parse)?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
        sent_at: r.try_get("sent_at")?,
        claimed_until: r.try_get("claimed_until")?,
    })
}

/// Queues messages in the caller's transaction, in multi-row batches.
pub async fn enqueue(conn: &mut Conn, msgs: &[OutboxMessage]) -> Result<()> {
    Ok(insert_rows(
        conn,
        "outbox",
        "id, org_id, kind, medium, recipient, subject, body_text, body_html, invitation_id, \
         state, next_attempt_at, created_at",
        msgs,
        rows_per_statement(13),
        |m, row| {
            row.bind(m.id.to_string())
                .bind(m.org_id.to_string())
                .bind(m.kind.clone())
                .bind(m.medium.clone())
                .bind(m.recipient.clone())
                .bind(m.subject.clone())
                .bind(m.body_text.clone())
                .bind(m.body_html.clone())
                .bind(m.invitation_id.map(|x| x.to_string()))
                .sql("'queued'")
                .bind(m.send_at)
                .bind(m.created_at);
        },
    )
    .await?)
}

/// Claims up to `limit` queued messages due at `now` whose lease (if any) has run out for
/// `claim`, and leases them until `lease_until` ([`renew`] extends it). See
/// [`crate::lease::claim_due`].
pub async fn claim_due(
    db: &Db,
    claim: Uuid,
    now: i64,
    lease_until: i64,
    limit: usize,
) -> Result<Vec<Delivery>> {
    let mut claimed = crate::lease::claim_due(
        db,
        "outbox",
        COLUMNS,
        claim,
        now,
        lease_until,
        limit,
        from_row,
    )
    .await?;
    claimed.sort_by_key(|d| (d.message.send_at, d.message.id));
    Ok(claimed)
}

/// Extends the lease of `claim`'s rows still queued to `lease_until` (the holder's heartbeat).
/// Returns how many rows it still holds.
pub async fn renew(db: &Db, claim: Uuid, lease_until: i64) -> Result<u64> {
    crate::lease::renew(db, "outbox", claim, lease_until).await
}

/// Records messages the far side accepted: the message is sent, and so is its invitation.
/// Rows no longer held under `claim` (lease lost, or revoked meanwhile) are left alone.
/// Returns how many rows were recorded.
pub async fn mark_sent(conn: &mut Conn, claim: Uuid, now: i64, ids: &[Uuid]) -> Result<u64> {
    let mut recorded = 0;
    for chunk in ids.chunks(BATCH) {
        let mut q = Sql::new("UPDATE outbox SET state = 'sent', sent_at = ");
        q.bind(now)
            .push(", attempts = attempts + 1, last_error = NULL, claim_id = NULL, claimed_until = NULL WHERE claim_id = ")
            .bind(claim.to_string())
            .push(" AND state = 'queued' AND id IN (")
            .bind_list(chunk.iter().map(|id| id.to_string()))
            .push(") RETURNING invitation_id");
        let rows = q.fetch_all(&mut *conn).await?;
        recorded += rows.len() as u64;
        let invitations: Vec<String> = rows
            .iter()
            .filter_map(|r| r.try_get::<Option<String>, _>(0).transpose())
            .collect::<Result<_, _>>()?;
        if invitations.is_empty() {
            continue;
        }
        let mut q = Sql::new("UPDATE invitations SET sent_at = ");
        q.bind(now)
            .push(", delivery_state = 'sent', attempts = attempts + 1, last_error = NULL WHERE id IN (")
            .bind_list(invitations)
            .push(")");
        q.execute(&mut *conn).await?;
    }
    Ok(recorded)
}

/// [`mark_sent`] on its own, committed at once: on PostgreSQL one statement (the outbox rows and
/// their invitations together) in one round trip instead of a transaction's four, which is what
/// a dispatcher recording each message as it is accepted waits for; on SQLite a transaction.
pub async fn record_sent(db: &Db, claim: Uuid, now: i64, ids: &[Uuid]) -> Result<u64> {
    if db.engine() == Engine::Sqlite {
        let mut tx = db.begin().await?;
        let recorded = mark_sent(&mut tx, claim, now, ids).await?;
        tx.commit().await?;
        return Ok(recorded);
    }
    let mut recorded = 0;
    let mut conn = db.write_conn().await?;
    for chunk in ids.chunks(BATCH) {
        let mut q = Sql::new("WITH sent AS (UPDATE outbox SET state = 'sent', sent_at = ");
        q.bind(now)
            .push(", attempts = attempts + 1, last_error = NULL, claim_id = NULL, claimed_until = NULL WHERE claim_id = ")
            .bind(claim.to_string())
            .push(" AND state = 'queued' AND id IN (")
            .bind_list(chunk.iter().map(|id| id.to_string()))
            .push(") RETURNING invitation_id), invited AS (UPDATE invitations SET sent_at = ")
            .bind(now)
            .push(
                ", delivery_state = 'sent', attempts = attempts + 1, last_error = NULL \
                 WHERE id IN (SELECT invitation_id FROM sent)) SELECT COUNT(*) FROM sent",
            );
        recorded += q.fetch_one(&mut conn).await?.try_get::<i64, _>(0)? as u64;
    }
    Ok(recorded)
}

/// Records failed attempts: each row counts an attempt and keeps the reason; it is retried at
/// `retry_at`, or given up (`failed`) when that is `None`. Linked invitations show the same:
/// `delivery_state` 'retrying' or 'failed', `last_error`, one more attempt.
/// Returns how many rows were recorded.
pub async fn mark_failed(conn: &mut Conn, claim: Uuid, failures: &[Failure]) -> Result<u64> {
    let mut recorded = 0;
    // Several rows may fail differently: one UPDATE joined to a VALUES list per batch
    // (VALUES columns are named column1, column2, … on both engines).
    for chunk in failures.chunks(BATCH) {
        let mut q = Sql::new(
            "UPDATE outbox SET attempts = attempts + 1, last_error = v.column2, \
             next_attempt_at = COALESCE(v.column3, next_attempt_at), \
             state = CASE WHEN v.column3 IS NULL THEN 'failed' ELSE 'queued' END, \
             claim_id = NULL, claimed_until = NULL FROM (VALUES ",
        );
        q.values_rows(chunk, |f, row| {
            row.bind(f.id.to_string())
                .bind(f.error.clone())
                .bind(f.retry_at);
        })
        .push(
            ") AS v WHERE outbox.id = v.column1 AND outbox.state = 'queued' AND outbox.claim_id = ",
        )
        .bind(claim.to_string())
        .push(" RETURNING invitation_id, state, last_error");
        let rows = q.fetch_all(&mut *conn).await?;
        recorded += rows.len() as u64;
        let mut invitations = Vec::new();
        for r in &rows {
            if let Some(id) = r.try_get::<Option<String>, _>(0)? {
                let state = parse_stored("outbox", "state", r.try_get(1)?, DeliveryState::parse)?;
                let error: Option<String> = r.try_get(2)?;
                invitations.push((id, error, invitation_state_after_failure(state)));
            }
        }
        if invitations.is_empty() {
            continue;
        }
        let mut q = Sql::new(
            "UPDATE invitations SET attempts = attempts + 1, last_error = v.column2, \
             delivery_state = v.column3 FROM (VALUES ",
        );
        q.values_rows(invitations, |(id, error, state), row| {
            row.bind(id).bind(error).bind(state.to_string());
        })
        .push(") AS v WHERE invitations.id = v.column1");
        q.execute(&mut *conn).await?;
    }
    Ok(recorded)
}

/// The invitation's delivery state after its message failed: failed when the message was
/// given up, else retrying (the message is queued again for a later attempt).
fn invitation_state_after_failure(state: DeliveryState) -> &'static str {
    match state {
        DeliveryState::Failed => "failed",
        _ => "retrying",
    }
}

/// Gives claimed rows back without an attempt (the dispatcher is stopping, or did not get to
/// them in time), so the next claim, in any process, can take them at once.
pub async fn release(conn: &mut Conn, claim: Uuid, ids: &[Uuid]) -> Result<u64> {
    crate::lease::release(conn, "outbox", claim, ids).await
}

/// Every message of an invitation, oldest first: what the console shows about its delivery.
pub async fn for_invitation(conn: &mut Conn, invitation_id: Uuid) -> Result<Vec<Delivery>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM outbox WHERE invitation_id = "
    ));
    q.bind(invitation_id.to_string())
        .push(" ORDER BY created_at, id");
    q.fetch_all_as(&mut *conn, from_row).await
}

pub async fn get(conn: &mut Conn, id: Uuid) -> Result<Option<Delivery>> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM outbox WHERE id = "));
    q.bind(id.to_string());
    q.fetch_optional_as(&mut *conn, from_row).await
}

/// Cancels the unsent messages of a revoked invitation. Returns how many were cancelled.
pub async fn revoke_for_invitation(conn: &mut Conn, invitation_id: Uuid) -> Result<u64> {
    revoke_for_invitations(conn, &[invitation_id]).await
}

pub async fn revoke_for_invitations(conn: &mut Conn, invitation_ids: &[Uuid]) -> Result<u64> {
    let mut revoked = 0;
    for chunk in invitation_ids.chunks(BATCH) {
        let mut q = Sql::new(
            "UPDATE outbox SET state = 'revoked', claim_id = NULL, claimed_until = NULL \
             WHERE state = 'queued' AND invitation_id IN (",
        );
        q.bind_list(chunk.iter().map(|id| id.to_string())).push(")");
        revoked += q.execute(&mut *conn).await?;
    }
    Ok(revoked)
}

/// How many messages are in each state, by the state's stored name.
pub async fn count_by_state(conn: &mut Conn) -> Result<Vec<(DeliveryState, i64)>> {
    Sql::new("SELECT state, COUNT(*) FROM outbox GROUP BY state ORDER BY state")
        .fetch_all_as(&mut *conn, |r| {
            let state = parse_stored("outbox", "state", r.try_get(0)?, DeliveryState::parse)?;
            Ok((state, r.try_get(1)?))
        })
        .await
}

/// Messages still to deliver (queued, due or not).
pub async fn pending(conn: &mut Conn) -> Result<i64> {
    let row = Sql::new("SELECT COUNT(*) FROM outbox WHERE state = 'queued'")
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get(0)?)
}
