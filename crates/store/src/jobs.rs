//! Bulk jobs: durable records of long operations, their progress and per-item outcomes.
//!
//! A job is claimed for a short lease and advanced chunk by chunk; each chunk's writes, its
//! items and the new `done` count commit together, so a job resumed after a crash or restart
//! starts at the first chunk that did not commit and never does an item twice.

use rollcall_domain::{JobKind, JobState};
use sqlx::Row;
use uuid::Uuid;

use crate::sql::{insert_rows, rows_per_statement};
use crate::{Conn, Result, Sql, parse_id, parse_opt_id, parse_stored};

#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: Uuid,
    pub org_id: Uuid,
    pub kind: JobKind,
    pub actor_id: Option<Uuid>,
    pub idempotency_key: Option<String>,
    /// (draft → validated →) queued → running → succeeded | partially_succeeded | failed
    pub state: JobState,
    pub total: i64,
    pub done: i64,
    /// JSON counts, owned by the job's kind.
    pub summary: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Job {
    /// Succeeded, partially succeeded or failed: nothing more will happen to it.
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }
}

/// One item's outcome; only items worth reporting are stored (e.g. refused changes).
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub seq: i64,
    pub state: String,
    pub reason_code: Option<String>,
    pub message: Option<String>,
    pub payload: String,
}

const COLUMNS: &str = "id, org_id, kind, actor_id, idempotency_key, state, total, done, summary, \
    created_at, updated_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Job> {
    Ok(Job {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        org_id: parse_id(&r.try_get::<String, _>("org_id")?)?,
        kind: parse_stored("jobs", "kind", r.try_get("kind")?, JobKind::parse)?,
        actor_id: parse_opt_id(r.try_get("actor_id")?)?,
        idempotency_key: r.try_get("idempotency_key")?,
        state: parse_stored("jobs", "state", r.try_get("state")?, JobState::parse)?,
        total: r.try_get("total")?,
        done: r.try_get("done")?,
        summary: r.try_get("summary")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Records a job and its input (JSON, owned by the job's kind).
pub async fn insert(conn: &mut Conn, job: &Job, params: &str) -> Result<()> {
    let mut q = Sql::insert_into("jobs", COLUMNS);
    q.values_row(|row| {
        row.bind(job.id.to_string())
            .bind(job.org_id.to_string())
            .bind(job.kind.key().to_string())
            .bind(job.actor_id.map(|x| x.to_string()))
            .bind(job.idempotency_key.clone())
            .bind(job.state.key().to_string())
            .bind(job.total)
            .bind(job.done)
            .bind(job.summary.clone())
            .bind(job.created_at)
            .bind(job.updated_at);
    });
    q.execute(&mut *conn).await?;
    let mut q = Sql::insert_into("job_inputs", "job_id, params");
    q.values_row(|row| {
        row.bind(job.id.to_string()).bind(params.to_string());
    });
    q.execute(&mut *conn).await?;
    Ok(())
}

/// A job's input.
pub async fn input(conn: &mut Conn, id: Uuid) -> Result<String> {
    let mut q = Sql::new("SELECT params FROM job_inputs WHERE job_id = ");
    q.bind(id.to_string());
    let r = q
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| crate::StoreError::Corrupt(format!("job {id} has no input")))?;
    Ok(r.try_get(0)?)
}

pub async fn get(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<Option<Job>> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM jobs WHERE org_id = "));
    q.bind(org_id.to_string())
        .push(" AND id = ")
        .bind(id.to_string());
    q.fetch_optional_as(&mut *conn, from_row).await
}

pub async fn find_by_key(
    conn: &mut Conn,
    org_id: Uuid,
    kind: JobKind,
    key: &str,
) -> Result<Option<Job>> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM jobs WHERE org_id = "));
    q.bind(org_id.to_string())
        .push(" AND kind = ")
        .bind(kind.key().to_string())
        .push(" AND idempotency_key = ")
        .bind(key.to_string());
    q.fetch_optional_as(&mut *conn, from_row).await
}

/// Recent jobs of an organization, newest first.
pub async fn recent(conn: &mut Conn, org_id: Uuid, limit: u32) -> Result<Vec<Job>> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM jobs WHERE org_id = "));
    q.bind(org_id.to_string()).push(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT {}",
        limit.clamp(1, 500)
    ));
    q.fetch_all_as(&mut *conn, from_row).await
}

/// Takes the job for a lease unless another runner holds a live one; `true` if taken.
pub async fn claim(conn: &mut Conn, id: Uuid, now: i64, until: i64) -> Result<bool> {
    let mut q = Sql::update("jobs", |set| {
        set.sql("state = 'running'")
            .set("claimed_until", until)
            .set("updated_at", now);
    });
    q.push(" WHERE id = ")
        .bind(id.to_string())
        .push(" AND state IN ('queued', 'running') AND (claimed_until IS NULL OR claimed_until < ")
        .bind(now)
        .push(")");
    Ok(q.execute(&mut *conn).await? == 1)
}

/// Jobs left unfinished with no live lease: queued ones, and running ones whose runner stopped.
/// Jobs queued or running whose runner's lease has run out: (organization, job, kind).
pub async fn orphaned(conn: &mut Conn, now: i64) -> Result<Vec<(Uuid, Uuid, JobKind)>> {
    let mut q = Sql::new(
        "SELECT org_id, id, kind FROM jobs WHERE state IN ('queued', 'running') \
         AND (claimed_until IS NULL OR claimed_until < ",
    );
    q.bind(now).push(") ORDER BY created_at");
    q.fetch_all_as(&mut *conn, |r| {
        Ok((
            parse_id(&r.try_get::<String, _>(0)?)?,
            parse_id(&r.try_get::<String, _>(1)?)?,
            parse_stored("jobs", "kind", r.try_get(2)?, JobKind::parse)?,
        ))
    })
    .await
}

/// Records a committed chunk and extends the lease. Returns `false` (and changes nothing) if
/// the job is no longer at `from_done`, i.e. another runner got there first.
pub async fn advance(
    conn: &mut Conn,
    id: Uuid,
    from_done: i64,
    to_done: i64,
    summary: &str,
    now: i64,
    until: i64,
) -> Result<bool> {
    let mut q = Sql::update("jobs", |set| {
        set.set("done", to_done)
            .set("summary", summary.to_string())
            .set("updated_at", now)
            .set("claimed_until", until);
    });
    q.push(" WHERE id = ")
        .bind(id.to_string())
        .push(" AND done = ")
        .bind(from_done);
    Ok(q.execute(&mut *conn).await? == 1)
}

/// Gives an unfinished job back without waiting for its lease to run out (its runner is
/// stopping between chunks), so any runner can take it at once. Only while the job is still at
/// `done`, i.e. nobody advanced it since. Returns whether it was given back.
pub async fn release(conn: &mut Conn, id: Uuid, done: i64, now: i64) -> Result<bool> {
    let mut q = Sql::update("jobs", |set| {
        set.sql("claimed_until = NULL").set("updated_at", now);
    });
    q.push(" WHERE id = ")
        .bind(id.to_string())
        .push(" AND done = ")
        .bind(done)
        .push(" AND state IN ('queued', 'running')");
    Ok(q.execute(&mut *conn).await? == 1)
}

/// Replaces a job's input (an import's commit choices).
pub async fn set_input(conn: &mut Conn, id: Uuid, params: &str) -> Result<()> {
    let mut q = Sql::new("UPDATE job_inputs SET params = ");
    q.bind(params.to_string())
        .push(" WHERE job_id = ")
        .bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn set_summary(conn: &mut Conn, id: Uuid, summary: &str, now: i64) -> Result<()> {
    let mut q = Sql::update("jobs", |set| {
        set.set("summary", summary.to_string())
            .set("updated_at", now);
    });
    q.push(" WHERE id = ").bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

/// A draft whose items are all staged: it now waits for review (`validated`).
pub async fn set_staged(
    conn: &mut Conn,
    id: Uuid,
    total: i64,
    summary: &str,
    now: i64,
) -> Result<()> {
    let mut q = Sql::update("jobs", |set| {
        set.sql("state = 'validated'")
            .set("total", total)
            .set("summary", summary.to_string())
            .set("updated_at", now);
    });
    q.push(" WHERE id = ")
        .bind(id.to_string())
        .push(" AND state = 'draft'");
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Queues a job that is in state `from`; `false` if it was not (someone else moved it).
pub async fn queue(conn: &mut Conn, id: Uuid, from: JobState, now: i64) -> Result<bool> {
    let mut q = Sql::new("UPDATE jobs SET state = 'queued', updated_at = ");
    q.bind(now)
        .push(" WHERE id = ")
        .bind(id.to_string())
        .push(" AND state = ")
        .bind(from.key().to_string());
    Ok(q.execute(&mut *conn).await? == 1)
}

pub async fn finish(
    conn: &mut Conn,
    id: Uuid,
    state: JobState,
    summary: &str,
    now: i64,
) -> Result<()> {
    let mut q = Sql::update("jobs", |set| {
        set.sql("seats_held = 0")
            .set("state", state.key().to_string())
            .set("summary", summary.to_string())
            .sql("claimed_until = NULL")
            .set("updated_at", now);
    });
    q.push(" WHERE id = ").bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn insert_items(conn: &mut Conn, job_id: Uuid, items: &[Item]) -> Result<()> {
    Ok(insert_rows(
        conn,
        "job_items",
        "job_id, seq, state, reason_code, message, payload",
        items,
        rows_per_statement(6),
        |it, row| {
            row.bind(job_id.to_string())
                .bind(it.seq)
                .bind(it.state.clone())
                .bind(it.reason_code.clone())
                .bind(it.message.clone())
                .bind(it.payload.clone());
        },
    )
    .await?)
}

/// A job's stored items in order, from `after_seq` on.
pub async fn items(conn: &mut Conn, job_id: Uuid, after_seq: i64, limit: u32) -> Result<Vec<Item>> {
    let mut q =
        Sql::new("SELECT seq, state, reason_code, message, payload FROM job_items WHERE job_id = ");
    q.bind(job_id.to_string())
        .push(" AND seq > ")
        .bind(after_seq)
        .push(&format!(" ORDER BY seq LIMIT {}", limit.clamp(1, 10_000)));
    q.fetch_all_as(&mut *conn, |r| {
        Ok(Item {
            seq: r.try_get(0)?,
            state: r.try_get(1)?,
            reason_code: r.try_get(2)?,
            message: r.try_get(3)?,
            payload: r.try_get(4)?,
        })
    })
    .await
}

/// The kind and creation time of the organization's jobs among `ids` (for naming them in the
/// audit log).
pub async fn kinds_of(
    conn: &mut Conn,
    org_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, JobKind, i64)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new("SELECT id, kind, created_at FROM jobs WHERE org_id = ");
    q.bind(org_id.to_string()).push(" AND id IN (");
    q.bind_list(ids.iter().map(Uuid::to_string)).push(")");
    let mut out = Vec::new();
    for r in q.fetch_all(&mut *conn).await? {
        out.push((
            parse_id(&r.try_get::<String, _>(0)?)?,
            parse_stored("jobs", "kind", r.try_get(1)?, JobKind::parse)?,
            r.try_get(2)?,
        ));
    }
    Ok(out)
}
