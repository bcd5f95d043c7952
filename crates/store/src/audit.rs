//! The audit trail: append-only and hash-chained per organization.
//!
//! Each event's hash covers its fields and the previous event's hash; the organization row keeps
//! the last sequence number and hash, so an edited, deleted or truncated row is detectable.

use sha2::{Digest, Sha256};
use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql, StoreError, new_id, parse_id, parse_opt_id};

/// What a use case records; the store adds sequence, time and chain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewEvent {
    pub actor_id: Option<Uuid>,
    pub actor_label: String,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<Uuid>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: i64,
    pub id: Uuid,
    pub at: i64,
    pub event: NewEvent,
    pub prev_hash: String,
    pub hash: String,
}

fn chain_hash(prev: &str, seq: i64, id: Uuid, at: i64, e: &NewEvent) -> String {
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    field(prev);
    field(&seq.to_string());
    field(&id.to_string());
    field(&at.to_string());
    field(&e.actor_id.map(|x| x.to_string()).unwrap_or_default());
    field(&e.actor_label);
    field(&e.action);
    field(&e.target_type);
    field(&e.target_id.map(|x| x.to_string()).unwrap_or_default());
    field(e.before.as_deref().unwrap_or(""));
    field(e.after.as_deref().unwrap_or(""));
    field(e.request_id.as_deref().unwrap_or(""));
    field(e.source_ip.as_deref().unwrap_or(""));
    hex::encode(h.finalize())
}

/// Whether two events share the columns bound once per statement.
fn shares_context(a: &NewEvent, b: &NewEvent) -> bool {
    a.actor_id == b.actor_id
        && a.actor_label == b.actor_label
        && a.action == b.action
        && a.target_type == b.target_type
        && a.request_id == b.request_id
        && a.source_ip == b.source_ip
}

/// Appends events in order, in the caller's transaction.
pub async fn append(conn: &mut Conn, org_id: Uuid, at: i64, events: &[NewEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    // Reserving the block of sequence numbers locks the organization row (PostgreSQL) for the
    // rest of the transaction, so concurrent writers chain one after the other.
    let mut q = Sql::new("UPDATE organizations SET audit_seq = audit_seq + ");
    q.bind(events.len() as i64)
        .push(" WHERE id = ")
        .bind(org_id.to_string())
        .push(" RETURNING audit_seq, audit_head");
    let r = q.fetch_one(&mut *conn).await?;
    let last: i64 = r.try_get(0)?;
    let mut prev: String = r.try_get(1)?;
    let mut seq = last - events.len() as i64;
    let mut ids = Vec::with_capacity(events.len());
    // Events of one call mostly share who, what and where from: those columns are bound once per
    // statement and only the per-event ones per row (half the parameters of a plain VALUES list).
    let mut rest = events;
    while let Some(first) = rest.first() {
        let same = rest
            .iter()
            .take(crate::sql::rows_per_statement(7))
            .take_while(|e| shares_context(e, first))
            .count();
        let (group, tail) = rest.split_at(same);
        rest = tail;
        let mut q = Sql::new(
            "INSERT INTO audit_events (org_id, at, actor_id, actor_label, action, target_type, \
             request_id, source_ip, seq, id, target_id, before, after, prev_hash, hash) SELECT ",
        );
        q.list(|shared| {
            shared
                .bind(org_id.to_string())
                .bind(at)
                .bind(first.actor_id.map(|x| x.to_string()))
                .bind(first.actor_label.clone())
                .bind(first.action.clone())
                .bind(first.target_type.clone())
                .bind(first.request_id.clone())
                .bind(first.source_ip.clone())
                .sql("column1, column2, column3, column4, column5, column6, column7");
        })
        .push(" FROM (VALUES ")
        .values_rows(group, |e, row| {
            seq += 1;
            let id = new_id();
            ids.push((id, e));
            let hash = chain_hash(&prev, seq, id, at, e);
            row.bind(seq)
                .bind(id.to_string())
                .bind(e.target_id.map(|x| x.to_string()))
                .bind(e.before.clone())
                .bind(e.after.clone())
                .bind(std::mem::replace(&mut prev, hash.clone()))
                .bind(hash);
        })
        .push(") AS v");
        q.execute(&mut *conn).await?;
    }
    let mut q = Sql::new("UPDATE organizations SET audit_head = ");
    q.bind(prev).push(" WHERE id = ").bind(org_id.to_string());
    q.execute(&mut *conn).await?;
    // The one place changes are recorded is the one place webhooks hear of them.
    crate::webhooks::events::enqueue_for_audit(conn, org_id, at, &ids).await
}

const COLUMNS: &str = "seq, id, at, actor_id, actor_label, action, target_type, target_id, before, after, \
    request_id, source_ip, prev_hash, hash";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Event> {
    Ok(Event {
        seq: r.try_get("seq")?,
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        at: r.try_get("at")?,
        event: NewEvent {
            actor_id: parse_opt_id(r.try_get("actor_id")?)?,
            actor_label: r.try_get("actor_label")?,
            action: r.try_get("action")?,
            target_type: r.try_get("target_type")?,
            target_id: parse_opt_id(r.try_get("target_id")?)?,
            before: r.try_get("before")?,
            after: r.try_get("after")?,
            request_id: r.try_get("request_id")?,
            source_ip: r.try_get("source_ip")?,
        },
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

/// How an action filter matches.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionMatch {
    Exact(String),
    /// Every action that starts with this text, e.g. `user.`.
    Prefix(String),
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor_id: Option<Uuid>,
    /// Case-insensitive substring of the actor's label (name and email as recorded).
    pub actor_text: Option<String>,
    pub action: Option<ActionMatch>,
    pub target_id: Option<Uuid>,
    /// Inclusive lower bound, microseconds.
    pub from: Option<i64>,
    /// Exclusive upper bound, microseconds.
    pub to: Option<i64>,
    /// Newest first; page with the last seen sequence number.
    pub before_seq: Option<i64>,
    /// Oldest first from just after this sequence number (a feed that follows changes).
    pub after_seq: Option<i64>,
    pub limit: u32,
}

/// `%text%` for LIKE, with the wildcards a person typed matched literally.
fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

pub async fn list(conn: &mut Conn, org_id: Uuid, f: &AuditQuery) -> Result<Vec<Event>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE org_id = "
    ));
    q.bind(org_id.to_string());
    if let Some(a) = f.actor_id {
        q.push(" AND actor_id = ").bind(a.to_string());
    }
    if let Some(t) = f.actor_text.as_deref().filter(|t| !t.is_empty()) {
        q.push(" AND LOWER(actor_label) LIKE ")
            .bind(contains_pattern(t))
            .push(" ESCAPE '\\'");
    }
    match &f.action {
        Some(ActionMatch::Exact(a)) => {
            q.push(" AND action = ").bind(a.clone());
        }
        Some(ActionMatch::Prefix(p)) => {
            q.push(" AND SUBSTR(action, 1, ")
                .bind(i32::try_from(p.chars().count()).unwrap_or(i32::MAX))
                .push(") = ")
                .bind(p.clone());
        }
        None => {}
    }
    if let Some(t) = f.target_id {
        q.push(" AND target_id = ").bind(t.to_string());
    }
    if let Some(t) = f.from {
        q.push(" AND at >= ").bind(t);
    }
    if let Some(t) = f.to {
        q.push(" AND at < ").bind(t);
    }
    if let Some(s) = f.before_seq {
        q.push(" AND seq < ").bind(s);
    }
    if let Some(s) = f.after_seq {
        q.push(" AND seq > ").bind(s);
    }
    let order = if f.after_seq.is_some() { "ASC" } else { "DESC" };
    q.push(&format!(
        " ORDER BY seq {order} LIMIT {}",
        f.limit.clamp(1, 10_000)
    ));
    q.fetch_all_as(&mut *conn, from_row).await
}

/// The distinct actions an organization's trail holds, for a filter's choices.
pub async fn actions(conn: &mut Conn, org_id: Uuid) -> Result<Vec<String>> {
    let mut q = Sql::new("SELECT DISTINCT action FROM audit_events WHERE org_id = ");
    q.bind(org_id.to_string()).push(" ORDER BY action");
    q.fetch_all_as(&mut *conn, |r| Ok(r.try_get::<String, _>(0)?))
        .await
}

/// What `verify` found wrong, by sequence number.
#[derive(Debug, Clone, PartialEq)]
pub struct Break {
    pub seq: i64,
    pub problem: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    pub checked: i64,
    pub breaks: Vec<Break>,
}

/// Recomputes the chain of one organization, page by page.
pub async fn verify(conn: &mut Conn, org_id: Uuid) -> Result<Verification> {
    let mut q = Sql::new("SELECT audit_seq, audit_head FROM organizations WHERE id = ");
    q.bind(org_id.to_string());
    let r = q
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::Config(format!("no organization {org_id}")))?;
    let (head_seq, head_hash): (i64, String) = (r.try_get(0)?, r.try_get(1)?);
    let mut breaks = Vec::new();
    let (mut expected_seq, mut prev, mut checked) = (1i64, String::new(), 0i64);
    loop {
        let mut q = Sql::new(&format!(
            "SELECT {COLUMNS} FROM audit_events WHERE org_id = "
        ));
        q.bind(org_id.to_string())
            .push(" AND seq >= ")
            .bind(expected_seq)
            .push(" ORDER BY seq LIMIT 5000");
        let page = q.fetch_all_as(&mut *conn, from_row).await?;
        if page.is_empty() {
            break;
        }
        for e in page {
            if e.seq != expected_seq {
                breaks.push(Break {
                    seq: expected_seq,
                    problem: format!("events {expected_seq}–{} are missing (deleted)", e.seq - 1),
                });
            }
            if e.prev_hash != prev {
                breaks.push(Break {
                    seq: e.seq,
                    problem: "does not follow the event before it".into(),
                });
            }
            if chain_hash(&e.prev_hash, e.seq, e.id, e.at, &e.event) != e.hash {
                breaks.push(Break {
                    seq: e.seq,
                    problem: "content was changed after it was written".into(),
                });
            }
            prev = e.hash;
            expected_seq = e.seq + 1;
            checked += 1;
        }
    }
    if expected_seq - 1 != head_seq || prev != head_hash {
        breaks.push(Break {
            seq: expected_seq,
            problem: format!(
                "the trail ends at event {} but {} were written: the newest events were deleted or replaced",
                expected_seq - 1,
                head_seq
            ),
        });
    }
    Ok(Verification { checked, breaks })
}
