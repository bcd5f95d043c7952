//! Import rows as stored: staged for review, read back chunk by chunk when the import runs.

use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql};

/// One staged row: its cells (JSON object keyed by column) and what checking it found.
#[derive(Debug, Clone, PartialEq)]
pub struct StagedRow {
    pub seq: i64,
    /// Line in the file where the row starts (for directory batches: position in the batch).
    pub line: i64,
    pub cells: String,
    pub email_key: Option<String>,
    /// JSON list of issues, `None` when there is none.
    pub issues: Option<String>,
    pub in_error: bool,
}

const COLUMNS: &str = "seq, line, cells, email_key, issues, in_error";

fn from_row(r: &sqlx::any::AnyRow) -> Result<StagedRow> {
    Ok(StagedRow {
        seq: r.try_get(0)?,
        line: r.try_get(1)?,
        cells: r.try_get(2)?,
        email_key: r.try_get(3)?,
        issues: r.try_get(4)?,
        in_error: r.try_get::<i64, _>(5)? != 0,
    })
}

pub async fn insert(conn: &mut Conn, job_id: Uuid, rows: &[StagedRow]) -> Result<()> {
    let job = job_id.to_string();
    for chunk in rows.chunks(crate::sql::rows_per_statement(7)) {
        let mut q = Sql::new(&format!(
            "INSERT INTO import_rows (job_id, {COLUMNS}) VALUES "
        ));
        for (i, r) in chunk.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" })
                .bind(job.clone())
                .push(", ")
                .bind(r.seq)
                .push(", ")
                .bind(r.line)
                .push(", ")
                .bind(r.cells.clone())
                .push(", ")
                .bind(r.email_key.clone())
                .push(", ")
                .bind(r.issues.clone())
                .push(", ")
                .bind(r.in_error as i64)
                .push(")");
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Which rows a page of the review shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Filter {
    #[default]
    All,
    Errors,
    /// Rows with issues of any kind (errors or warnings).
    Issues,
}

/// A page of rows after `after_seq`, in file order.
pub async fn page(
    conn: &mut Conn,
    job_id: Uuid,
    filter: Filter,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<StagedRow>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM import_rows WHERE job_id = "
    ));
    q.bind(job_id.to_string());
    match filter {
        Filter::All => {}
        Filter::Errors => {
            q.push(" AND in_error = 1");
        }
        Filter::Issues => {
            q.push(" AND issues IS NOT NULL");
        }
    }
    q.push(" AND seq > ")
        .bind(after_seq)
        .push(&format!(" ORDER BY seq LIMIT {}", limit.clamp(1, 10_000)));
    q.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// How many rows match a filter.
pub async fn count(conn: &mut Conn, job_id: Uuid, filter: Filter) -> Result<i64> {
    let mut q = Sql::new("SELECT COUNT(*) FROM import_rows WHERE job_id = ");
    q.bind(job_id.to_string());
    match filter {
        Filter::All => {}
        Filter::Errors => {
            q.push(" AND in_error = 1");
        }
        Filter::Issues => {
            q.push(" AND issues IS NOT NULL");
        }
    }
    Ok(q.fetch_one(&mut *conn).await?.try_get(0)?)
}

/// The importable rows with `from <= seq < to`.
pub async fn valid_between(
    conn: &mut Conn,
    job_id: Uuid,
    from: i64,
    to: i64,
) -> Result<Vec<StagedRow>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM import_rows WHERE job_id = "
    ));
    q.bind(job_id.to_string())
        .push(" AND in_error = 0 AND seq >= ")
        .bind(from)
        .push(" AND seq < ")
        .bind(to)
        .push(" ORDER BY seq");
    q.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

pub async fn get(conn: &mut Conn, job_id: Uuid, seq: i64) -> Result<Option<StagedRow>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM import_rows WHERE job_id = "
    ));
    q.bind(job_id.to_string()).push(" AND seq = ").bind(seq);
    q.fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Replaces a row's cells and what checking them found (an edit in the review table).
pub async fn update(conn: &mut Conn, job_id: Uuid, row: &StagedRow) -> Result<()> {
    let mut q = Sql::new("UPDATE import_rows SET cells = ");
    q.bind(row.cells.clone())
        .push(", email_key = ")
        .bind(row.email_key.clone())
        .push(", issues = ")
        .bind(row.issues.clone())
        .push(", in_error = ")
        .bind(row.in_error as i64)
        .push(" WHERE job_id = ")
        .bind(job_id.to_string())
        .push(" AND seq = ")
        .bind(row.seq);
    q.execute(&mut *conn).await?;
    Ok(())
}

/// The other rows of the import with the same address, in file order.
pub async fn same_email(
    conn: &mut Conn,
    job_id: Uuid,
    email_key: &str,
    except_seq: i64,
) -> Result<Vec<StagedRow>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM import_rows WHERE job_id = "
    ));
    q.bind(job_id.to_string())
        .push(" AND email_key = ")
        .bind(email_key.to_string())
        .push(" AND seq <> ")
        .bind(except_seq)
        .push(" ORDER BY seq");
    q.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Drops an import's rows (a file refused as a whole).
pub async fn delete(conn: &mut Conn, job_id: Uuid) -> Result<()> {
    let mut q = Sql::new("DELETE FROM import_rows WHERE job_id = ");
    q.bind(job_id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}
