//! The review: staged rows page by page with their issues, and fixing a row in the table.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_domain::import::{Checked, Column, Issue, RawRow, check_row};
use rollcall_domain::{Capability, JobState};
use rollcall_store::imports::{self, Filter, StagedRow};
use rollcall_store::jobs::{self, Job};
use rollcall_store::{Conn, audit, users};
use serde::Serialize;
use uuid::Uuid;

use super::plan::*;
use super::stage::{Stager, fills_access_columns};
use crate::audit::Meta;
use crate::{App, AppError, Principal};

/// One row as the review table shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReviewRow {
    /// The row's number in the import, for edits and paging.
    pub seq: i64,
    /// The line of the file.
    pub line: i64,
    /// The row's cells by column name; empty cells are absent.
    pub cells: BTreeMap<Column, String>,
    pub issues: Vec<Issue>,
    pub in_error: bool,
}

impl ReviewRow {
    fn of(r: StagedRow) -> ReviewRow {
        ReviewRow {
            seq: r.seq,
            line: r.line,
            cells: serde_json::from_str(&r.cells).unwrap_or_default(),
            issues: r
                .issues
                .as_deref()
                .and_then(|i| serde_json::from_str(i).ok())
                .unwrap_or_default(),
            in_error: r.in_error,
        }
    }

    pub fn cell(&self, c: Column) -> &str {
        self.cells.get(&c).map_or("", String::as_str)
    }

    /// The issues of one column.
    pub fn issues_of(&self, c: Column) -> impl Iterator<Item = &Issue> {
        self.issues.iter().filter(move |i| i.column == Some(c))
    }
}

/// A page of the review table.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Review {
    pub job: crate::jobs::JobView,
    pub summary: Summary,
    pub rows: Vec<ReviewRow>,
    /// How many rows the filter matches.
    pub matching: i64,
    /// Pass as `after` for the next page (opaque); `null` on the last page.
    pub next: Option<String>,
    /// Pass as `after` for the page before (opaque); `null` on the first page.
    pub prev: Option<String>,
    /// Where the page's first row stands among the rows the filter matches (1 for the first).
    pub first_position: i64,
}

const ROWS_CURSOR: &str = "import-rows";

/// The cursor of the unfiltered review page of `per_page` rows that holds row `seq` (`None`:
/// the first page): where a manager returns after fixing that row, earlier rows a page back.
pub fn page_holding(seq: i64, per_page: u32) -> Option<String> {
    let start = seq - seq.rem_euclid(per_page.max(1) as i64);
    (start > 0).then(|| crate::paging::cursor(ROWS_CURSOR, start - 1))
}

/// The row position a review cursor (`Review::next`) starts after; the first page without one.
pub fn rows_after(cursor: Option<&str>) -> Result<i64, AppError> {
    match cursor.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => Ok(crate::paging::position(ROWS_CURSOR, c)?),
        None => Ok(-1),
    }
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn review(
    app: &App,
    who: &Principal,
    job_id: Uuid,
    filter: Filter,
    after: i64,
    limit: Option<u32>,
) -> Result<Review, AppError> {
    who.require(Capability::ViewUsers)?;
    let limit = crate::paging::page_size(limit, 100, 500, "rows")?;
    let mut conn = app.db.read_conn().await?;
    let job = import_job(&mut conn, who, job_id).await?;
    let mut rows = imports::page(&mut conn, job.id, filter, after, limit + 1).await?;
    let next = (rows.len() > limit as usize).then(|| {
        rows.truncate(limit as usize);
        let last = rows.last().map(|r| r.seq).unwrap_or(after);
        crate::paging::cursor(ROWS_CURSOR, last)
    });
    let matching = imports::count(&mut conn, job.id, filter).await?;
    let before = if after < 0 {
        0
    } else {
        imports::count_through(&mut conn, job.id, filter, after).await?
    };
    let prev = if before == 0 {
        None
    } else {
        let start = imports::nth_back(&mut conn, job.id, filter, after, limit).await?;
        // Fewer than a page before: the previous page is the first.
        Some(crate::paging::cursor(
            ROWS_CURSOR,
            start.map_or(-1, |seq| seq - 1),
        ))
    };
    Ok(Review {
        job: crate::jobs::JobView::from(&job),
        summary: Summary::of(&job),
        rows: rows.into_iter().map(ReviewRow::of).collect(),
        matching,
        next,
        prev,
        first_position: before + 1,
    })
}

pub(super) async fn import_job(
    conn: &mut Conn,
    who: &Principal,
    job_id: Uuid,
) -> Result<Job, AppError> {
    let job = jobs::get(conn, who.org_id, job_id)
        .await?
        .filter(|j| j.kind.is_import())
        .ok_or_else(|| AppError::not_found("import"))?;
    Ok(job)
}

pub(super) fn not_editable(job: &Job) -> AppError {
    AppError::Conflict(match job.state {
        JobState::Draft => "This import is still being read; wait a moment and reload.".to_string(),
        _ => "This import was already committed: its rows can no longer be changed. Upload the file again to start a new import.".to_string(),
    })
}

/// Edits one row in the review table and checks it again (alone, against the other rows'
/// addresses and against the organization). Only the cells named change; an empty value
/// clears its cell.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn edit_row(
    app: &App,
    who: &Principal,
    job_id: Uuid,
    seq: i64,
    cells: BTreeMap<Column, String>,
    meta: &Meta,
) -> Result<ReviewRow, AppError> {
    who.require(Capability::BulkAdd)?;
    let mut conn = app.db.read_conn().await?;
    let job = import_job(&mut conn, who, job_id).await?;
    if job.state != JobState::Validated {
        return Err(not_editable(&job));
    }
    let old = imports::get(&mut conn, job.id, seq)
        .await?
        .ok_or_else(|| AppError::not_found("row"))?;
    let ctx = Context::load(&mut conn, who.org_id, app.clock.now()).await?;
    let old_cells: BTreeMap<Column, String> = serde_json::from_str(&old.cells).unwrap_or_default();
    let raw = RawRow {
        line: old.line as u64,
        cells: merged(&old_cells, cells),
    };
    let (checked, issues) = recheck(&mut conn, &ctx, who, job.id, seq, &raw).await?;
    drop(conn);
    let mut summary = Summary::of(&job);
    let mut stager = Stager::new(&ctx, who);
    let mut scratch = Summary::default();
    let row = stager.staged(seq, &raw, checked.as_ref(), issues, &mut scratch);
    let types: BTreeSet<Option<String>> = summary
        .user_types
        .iter()
        .cloned()
        .chain(stager.types)
        .collect();
    move_counts(&mut summary, &old, &old_cells, &row, &scratch);
    summary.user_types = types.into_iter().collect();
    let mut tx = app.db.begin().await?;
    imports::update(&mut tx, job.id, &row).await?;
    jobs::set_summary(
        &mut tx,
        job.id,
        &serde_json::to_string(&summary).expect("summary serializes"),
        app.clock.now(),
    )
    .await?;
    let before = serde_json::json!({ "line": old.line, "cells": old_cells });
    let after = serde_json::json!({ "line": row.line, "cells": raw.cells });
    let event = meta.change(
        "import.row_edited",
        "job",
        Some(job.id),
        Some(&before),
        Some(&after),
    );
    audit::append(&mut tx, who.org_id, app.clock.now(), &[event]).await?;
    tx.commit().await?;
    Ok(ReviewRow::of(row))
}

/// The row's cells after an edit: the cells named replace the old ones (trimmed), an empty
/// value clears its cell, and the cells not named stay as they were.
fn merged(
    old: &BTreeMap<Column, String>,
    edit: BTreeMap<Column, String>,
) -> BTreeMap<Column, String> {
    let mut cells = old.clone();
    for (column, value) in edit {
        match value.trim() {
            "" => cells.remove(&column),
            v => cells.insert(column, v.to_string()),
        };
    }
    cells
}

/// Checks an edited row alone, against the other rows' addresses and against the organization.
async fn recheck(
    conn: &mut Conn,
    ctx: &Context,
    who: &Principal,
    job_id: Uuid,
    seq: i64,
    raw: &RawRow,
) -> Result<(Option<Checked>, Vec<Issue>), AppError> {
    let (checked, mut issues) = check_row(raw, &ctx.catalogue);
    let Some(c) = &checked else {
        return Ok((checked, issues));
    };
    issues.extend(ctx.rule_issues(who, c));
    let others = imports::same_email(conn, job_id, c.email.match_key(), seq).await?;
    if let Some(first) = others.iter().find(|o| o.seq < seq) {
        issues.push(Issue::duplicate_in_file(
            c.email.as_str(),
            first.line as u64,
        ));
    }
    if users::get_by_email_key(conn, who.org_id, c.email.match_key())
        .await?
        .is_some()
    {
        issues.push(Issue::already_in_organization(
            c.email.as_str(),
            &ctx.org.name,
        ));
    }
    if let Some(u) = &c.username
        && !users::existing_usernames(conn, who.org_id, &[u.as_str().to_string()])
            .await?
            .is_empty()
    {
        issues.push(Issue::username_taken(u.as_str()));
    }
    Ok((checked, issues))
}

/// The review's counts move by the difference between the old row and the new.
fn move_counts(
    summary: &mut Summary,
    old: &StagedRow,
    old_cells: &BTreeMap<Column, String>,
    row: &StagedRow,
    scratch: &Summary,
) {
    let was_valid = !old.in_error;
    let had_warnings = was_valid && old.issues.is_some();
    summary.in_error += row.in_error as i64 - old.in_error as i64;
    summary.with_warnings += (!row.in_error && row.issues.is_some()) as i64 - had_warnings as i64;
    let old_without = was_valid && !old_cells.contains_key(&Column::DefaultLocation);
    summary.without_location += scratch.without_location - old_without as i64;
    let old_fills = fills_access_columns(|c| old_cells.get(&c).map(String::as_str));
    summary.with_access_columns += scratch.with_access_columns - old_fills as i64;
}

#[cfg(test)]
mod page_tests {
    use super::*;

    #[test]
    fn a_fixed_row_is_shown_on_the_page_that_holds_it() {
        assert_eq!(page_holding(0, 50), None);
        assert_eq!(
            page_holding(49, 50),
            None,
            "the first page holds rows 0 to 49"
        );
        let second = page_holding(50, 50).unwrap();
        assert_eq!(rows_after(Some(&second)).unwrap(), 49);
        assert_eq!(page_holding(99, 50), Some(second));
    }
}
