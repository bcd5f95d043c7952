//! Import rows as stored: staged for review, read back chunk by chunk when the import runs.

use sqlx::Row;
use uuid::Uuid;

use crate::sql::{insert_rows, rows_per_statement};
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
    Ok(insert_rows(
        conn,
        "import_rows",
        &format!("job_id, {COLUMNS}"),
        rows,
        rows_per_statement(7),
        |r, row| {
            row.bind(job.clone())
                .bind(r.seq)
                .bind(r.line)
                .bind(r.cells.clone())
                .bind(r.email_key.clone())
                .bind(r.issues.clone())
                .bind(r.in_error as i64);
        },
    )
    .await?)
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

impl Filter {
    /// What the filter adds to the `WHERE` clause.
    fn condition(self) -> &'static str {
        match self {
            Filter::All => "",
            Filter::Errors => " AND in_error = 1",
            Filter::Issues => " AND issues IS NOT NULL",
        }
    }
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
    q.bind(job_id.to_string())
        .push(filter.condition())
        .push(" AND seq > ")
        .bind(after_seq)
        .push(&format!(" ORDER BY seq LIMIT {}", limit.clamp(1, 10_000)));
    q.fetch_all_as(&mut *conn, from_row).await
}

/// How many rows matching a filter come at or before `seq`.
pub async fn count_through(conn: &mut Conn, job_id: Uuid, filter: Filter, seq: i64) -> Result<i64> {
    let mut q = Sql::new("SELECT COUNT(*) FROM import_rows WHERE job_id = ");
    q.bind(job_id.to_string())
        .push(filter.condition())
        .push(" AND seq <= ")
        .bind(seq);
    Ok(q.fetch_one(&mut *conn).await?.try_get(0)?)
}

/// The position of the `n`th row matching a filter counted back from `seq` (inclusive):
/// where the page before one starting after `seq` begins. `None` when fewer rows come before.
pub async fn nth_back(
    conn: &mut Conn,
    job_id: Uuid,
    filter: Filter,
    seq: i64,
    n: u32,
) -> Result<Option<i64>> {
    let mut q = Sql::new("SELECT seq FROM import_rows WHERE job_id = ");
    q.bind(job_id.to_string())
        .push(filter.condition())
        .push(" AND seq <= ")
        .bind(seq)
        .push(&format!(
            " ORDER BY seq DESC LIMIT 1 OFFSET {}",
            n.clamp(1, 10_000) - 1
        ));
    Ok(match q.fetch_optional(&mut *conn).await? {
        Some(row) => Some(row.try_get(0)?),
        None => None,
    })
}

/// How many rows match a filter.
pub async fn count(conn: &mut Conn, job_id: Uuid, filter: Filter) -> Result<i64> {
    let mut q = Sql::new("SELECT COUNT(*) FROM import_rows WHERE job_id = ");
    q.bind(job_id.to_string()).push(filter.condition());
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
    q.fetch_all_as(&mut *conn, from_row).await
}

pub async fn get(conn: &mut Conn, job_id: Uuid, seq: i64) -> Result<Option<StagedRow>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM import_rows WHERE job_id = "
    ));
    q.bind(job_id.to_string()).push(" AND seq = ").bind(seq);
    q.fetch_optional_as(&mut *conn, from_row).await
}

/// Replaces a row's cells and what checking them found (an edit in the review table).
pub async fn update(conn: &mut Conn, job_id: Uuid, row: &StagedRow) -> Result<()> {
    let mut q = Sql::update("import_rows", |set| {
        set.set("cells", row.cells.clone())
            .set("email_key", row.email_key.clone())
            .set("issues", row.issues.clone())
            .set("in_error", row.in_error as i64);
    });
    q.push(" WHERE job_id = ")
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
    q.fetch_all_as(&mut *conn, from_row).await
}

/// Drops an import's rows (a file refused as a whole).
pub async fn delete(conn: &mut Conn, job_id: Uuid) -> Result<()> {
    let mut q = Sql::new("DELETE FROM import_rows WHERE job_id = ");
    q.bind(job_id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}
