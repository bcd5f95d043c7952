//! The audit trail: append-only and hash-chained per organization.
//!
//! Each event's hash covers its fields and the previous event's hash; the organization row keeps
//! the last sequence number and hash, so an edited, deleted or truncated row is detectable.
//! Older events may be moved out into signed archive files: the organization's anchor then holds
//! the last archived sequence number and hash, and the live chain continues from it.

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

impl Event {
    /// The hash this event's fields and predecessor give: equal to `hash` unless it was changed.
    pub fn computed_hash(&self) -> String {
        chain_hash(&self.prev_hash, self.seq, self.id, self.at, &self.event)
    }
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
    q.fetch_all_as(&mut *conn, |r| {
        Ok::<_, StoreError>(r.try_get::<String, _>(0)?)
    })
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
    /// Older events moved into archive files: the live chain continues from the last of them.
    pub archived: i64,
    pub breaks: Vec<Break>,
}

/// Where the live chain of an organization starts after older events were archived.
#[derive(Debug, Clone, PartialEq)]
pub struct Anchor {
    /// The last archived sequence number.
    pub seq: i64,
    /// Its hash: the `prev_hash` of the first live event.
    pub hash: String,
    /// The last event of the archives dropped after the retention period (0: none).
    pub dropped_seq: i64,
    /// Its hash: the `prev_hash` of the first event of the oldest archive kept.
    pub dropped_hash: String,
}

impl Anchor {
    /// Nothing archived yet.
    pub fn start() -> Anchor {
        Anchor {
            seq: 0,
            hash: String::new(),
            dropped_seq: 0,
            dropped_hash: String::new(),
        }
    }
}

pub async fn anchor(conn: &mut Conn, org_id: Uuid) -> Result<Option<Anchor>> {
    let mut q =
        Sql::new("SELECT seq, hash, dropped_seq, dropped_hash FROM audit_anchors WHERE org_id = ");
    q.bind(org_id.to_string());
    q.fetch_optional_as(&mut *conn, |r| {
        Ok(Anchor {
            seq: r.try_get(0)?,
            hash: r.try_get(1)?,
            dropped_seq: r.try_get(2)?,
            dropped_hash: r.try_get(3)?,
        })
    })
    .await
}

/// The organization's last sequence number and hash (the chain's head).
pub async fn head(conn: &mut Conn, org_id: Uuid) -> Result<(i64, String)> {
    let mut q = Sql::new("SELECT audit_seq, audit_head FROM organizations WHERE id = ");
    q.bind(org_id.to_string());
    let r = q
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::Config(format!("no organization {org_id}")))?;
    Ok((r.try_get(0)?, r.try_get(1)?))
}

/// Up to `limit` live events after `after_seq` up to `last_seq`, oldest first.
pub async fn range(
    conn: &mut Conn,
    org_id: Uuid,
    after_seq: i64,
    last_seq: i64,
    limit: u32,
) -> Result<Vec<Event>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE org_id = "
    ));
    q.bind(org_id.to_string())
        .push(" AND seq > ")
        .bind(after_seq)
        .push(" AND seq <= ")
        .bind(last_seq)
        .push(&format!(" ORDER BY seq LIMIT {}", limit.clamp(1, 10_000)));
    q.fetch_all_as(&mut *conn, from_row).await
}

/// The last live event of the unbroken run after `after_seq` whose events are all older than
/// `before` (microseconds), or `None` when the first of them is not.
pub async fn last_older_than(
    conn: &mut Conn,
    org_id: Uuid,
    after_seq: i64,
    before: i64,
) -> Result<Option<Event>> {
    let mut q = Sql::new("SELECT MIN(seq) FROM audit_events WHERE org_id = ");
    q.bind(org_id.to_string())
        .push(" AND seq > ")
        .bind(after_seq)
        .push(" AND at >= ")
        .bind(before);
    let newer: Option<i64> = q.fetch_one(&mut *conn).await?.try_get(0)?;
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM audit_events WHERE org_id = "
    ));
    q.bind(org_id.to_string())
        .push(" AND seq > ")
        .bind(after_seq);
    if let Some(n) = newer {
        q.push(" AND seq < ").bind(n);
    }
    q.push(" ORDER BY seq DESC LIMIT 1");
    q.fetch_optional_as(&mut *conn, from_row).await
}

/// Removes the live events `first..=last.seq` once they are safely in an archive file and moves
/// the anchor to `last`, in the caller's transaction. Refuses (`Ok(false)`, nothing changed by
/// this call) when the anchor is no longer where the archive started (another archive ran
/// meanwhile) or the rows are not exactly the archived ones.
pub async fn remove_archived(
    conn: &mut Conn,
    org_id: Uuid,
    first: i64,
    last: &Event,
    now: i64,
) -> Result<bool> {
    let current = anchor(&mut *conn, org_id).await?;
    if current.as_ref().map_or(0, |a| a.seq) != first - 1 {
        return Ok(false);
    }
    let mut q = Sql::new("SELECT hash FROM audit_events WHERE org_id = ");
    q.bind(org_id.to_string())
        .push(" AND seq = ")
        .bind(last.seq);
    let live: Option<String> = q
        .fetch_optional_as(&mut *conn, |r| {
            Ok::<_, StoreError>(r.try_get::<String, _>(0)?)
        })
        .await?;
    if live.as_deref() != Some(last.hash.as_str()) {
        return Ok(false);
    }
    let mut q = Sql::new("DELETE FROM audit_events WHERE org_id = ");
    q.bind(org_id.to_string())
        .push(" AND seq >= ")
        .bind(first)
        .push(" AND seq <= ")
        .bind(last.seq);
    if q.execute(&mut *conn).await? != (last.seq - first + 1) as u64 {
        return Ok(false);
    }
    let mut q = Sql::new(if current.is_some() {
        "UPDATE audit_anchors SET seq = "
    } else {
        "INSERT INTO audit_anchors (seq, hash, updated_at, org_id) VALUES ("
    });
    if current.is_some() {
        q.bind(last.seq)
            .push(", hash = ")
            .bind(last.hash.clone())
            .push(", updated_at = ")
            .bind(now)
            .push(" WHERE seq = ")
            .bind(first - 1)
            .push(" AND org_id = ")
            .bind(org_id.to_string());
    } else {
        q.bind(last.seq)
            .push(", ")
            .bind(last.hash.clone())
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(org_id.to_string())
            .push(") ON CONFLICT (org_id) DO NOTHING");
    }
    Ok(q.execute(&mut *conn).await? == 1)
}

/// Records that the archived events `after_seq + 1 ..= last_seq` were dropped after the retention
/// period, in the caller's transaction. Refuses (`Ok(false)`) unless they follow the last drop and
/// are all archived (none is still in the live table).
pub async fn record_dropped(
    conn: &mut Conn,
    org_id: Uuid,
    after_seq: i64,
    last_seq: i64,
    last_hash: &str,
    now: i64,
) -> Result<bool> {
    let mut q = Sql::new("UPDATE audit_anchors SET dropped_seq = ");
    q.bind(last_seq)
        .push(", dropped_hash = ")
        .bind(last_hash.to_string())
        .push(", updated_at = ")
        .bind(now)
        .push(" WHERE org_id = ")
        .bind(org_id.to_string())
        .push(" AND dropped_seq = ")
        .bind(after_seq)
        .push(" AND seq >= ")
        .bind(last_seq);
    Ok(q.execute(&mut *conn).await? == 1)
}

/// Recomputes the live chain of one organization, page by page, from its anchor (the last
/// archived event) or from the start.
pub async fn verify(conn: &mut Conn, org_id: Uuid) -> Result<Verification> {
    let (head_seq, head_hash) = head(&mut *conn, org_id).await?;
    let start = anchor(&mut *conn, org_id)
        .await?
        .unwrap_or_else(Anchor::start);
    let mut breaks = Vec::new();
    let (mut expected_seq, mut prev, mut checked) = (start.seq + 1, start.hash.clone(), 0i64);
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
                    problem: if e.seq == start.seq + 1 && start.seq > 0 {
                        format!("does not follow event {}, the last archived one", start.seq)
                    } else {
                        "does not follow the event before it".into()
                    },
                });
            }
            if e.computed_hash() != e.hash {
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
    Ok(Verification {
        checked,
        archived: start.seq,
        breaks,
    })
}
