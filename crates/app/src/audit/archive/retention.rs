//! The retention period, and dropping archives kept beyond it.

use std::path::{Path, PathBuf};

use rollcall_domain::Capability;
use rollcall_store::audit::{self};
use rollcall_store::orgs::{self, MIN_AUDIT_RETENTION_YEARS};
use serde::Serialize;

use super::check::file_name;
use super::*;
use crate::audit::Meta;
use crate::{App, AppError, Principal};
/// The retention period of the organization, in years.
pub async fn retention(app: &App, who: &Principal) -> Result<u32, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let org = orgs::get(&mut conn, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    Ok(org.settings.audit_retention_years)
}

/// Sets how many years audit events are kept (6 to 100); returns the previous period.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn set_retention(
    app: &App,
    who: &Principal,
    years: u32,
    meta: &Meta,
) -> Result<u32, AppError> {
    who.require(Capability::ManageSettings)?;
    if !(MIN_AUDIT_RETENTION_YEARS..=MAX_RETENTION_YEARS).contains(&years) {
        return Err(bad_input(
            "years",
            "retention_range",
            format!(
                "Audit events are kept {MIN_AUDIT_RETENTION_YEARS} to {MAX_RETENTION_YEARS} years ({MIN_AUDIT_RETENTION_YEARS} is what HIPAA requires, 45 CFR 164.316(b)(2)): give --years between {MIN_AUDIT_RETENTION_YEARS} and {MAX_RETENTION_YEARS}."
            ),
        ));
    }
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let org = orgs::get(&mut tx, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let before = org.settings.audit_retention_years;
    if before != years {
        let mut after = org.settings.clone();
        after.audit_retention_years = years;
        orgs::update_settings(&mut tx, org.id, &after).await?;
        audit::append(
            &mut tx,
            org.id,
            now,
            &[meta.change(
                "org.audit_retention_changed",
                "organization",
                Some(org.id),
                Some(&serde_json::json!({ "audit_retention_years": before })),
                Some(&serde_json::json!({ "audit_retention_years": years })),
            )],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(before)
}

/// The instant an archive's newest event has been kept `years`, in microseconds.
fn kept_until_at(header: &Header, years: u32) -> Option<i64> {
    let newest: jiff::Timestamp = header.newest_at.parse().ok()?;
    let until = newest
        .to_zoned(jiff::tz::TimeZone::UTC)
        .checked_add(jiff::Span::new().years(i64::from(years)))
        .ok()?;
    Some(until.timestamp().as_microsecond())
}

/// What `expire` did, oldest archive first.
#[derive(Debug, Clone, Serialize)]
pub struct Expired {
    pub org: String,
    pub org_name: String,
    pub retention_years: u32,
    /// Archives dropped: file, first and last sequence numbers.
    pub dropped: Vec<(PathBuf, i64, i64)>,
    /// The oldest archive kept (younger than the retention period) and the day it may go.
    pub kept: Option<(PathBuf, String)>,
}

/// Drops the organization's oldest archives in `dir` whose newest event is older than the
/// retention period: records how far events were dropped (so the chain still verifies from
/// there), audits it, then deletes the files. Nothing is dropped unless the whole chain —
/// archives and live table — verifies; events still in the live table are never dropped, nor is
/// an archive younger than the period, nor one after a kept one.
#[tracing::instrument(skip_all, fields(org = org_slug))]
pub async fn expire(
    app: &App,
    org_slug: &str,
    dir: &Path,
    meta: &Meta,
) -> Result<Expired, AppError> {
    let org = crate::org::find(app, org_slug).await?;
    let report = verify_with_archives(app, Some(org_slug), dir).await?;
    let Some(chain) = report.orgs.into_iter().next() else {
        return Err(AppError::not_found("organization"));
    };
    if !chain.intact() {
        return Err(AppError::Conflict(format!(
            "The audit trail of {} does not verify, so nothing was dropped: run `rollcall audit verify --org {} --archives {}` and settle its problems first.",
            org.name,
            org.slug,
            dir.display()
        )));
    }
    let years = org.settings.audit_retention_years;
    let mut out = Expired {
        org: org.slug.clone(),
        org_name: org.name.clone(),
        retention_years: years,
        dropped: Vec::new(),
        kept: None,
    };
    let mut dropped_seq = chain.dropped;
    for a in &chain.archives {
        let Some(h) = &a.header else { continue };
        if h.last_seq <= dropped_seq {
            continue;
        }
        let now = app.clock.now();
        match kept_until_at(h, years) {
            Some(until) if until <= now => {}
            _ => {
                out.kept = Some((a.file.clone(), kept_until(h, years).unwrap_or_default()));
                break;
            }
        }
        let mut tx = app.db.begin().await?;
        if !audit::record_dropped(&mut tx, org.id, dropped_seq, h.last_seq, &h.last_hash, now)
            .await?
        {
            return Err(AppError::Conflict(format!(
                "The archives of {} changed while they were being dropped (another run?): run the command again.",
                org.name
            )));
        }
        audit::append(
            &mut tx,
            org.id,
            now,
            &[meta.change::<(), _>(
                "audit.archive_dropped",
                "organization",
                Some(org.id),
                None,
                Some(&serde_json::json!({
                    "file": file_name(&a.file),
                    "first_seq": h.first_seq,
                    "last_seq": h.last_seq,
                    "newest_at": h.newest_at,
                    "retention_years": years,
                })),
            )],
        )
        .await?;
        tx.commit().await?;
        std::fs::remove_file(&a.file).map_err(|e| {
            io_error(
                format!(
                    "events {}–{} are recorded as dropped but {} could not be deleted; delete it by hand",
                    h.first_seq,
                    h.last_seq,
                    a.file.display()
                ),
                e,
            )
        })?;
        dropped_seq = h.last_seq;
        out.dropped.push((a.file.clone(), h.first_seq, h.last_seq));
    }
    Ok(out)
}

/// The day an archive's events may be dropped: its newest event's time plus the retention
/// period, as a UTC date.
pub fn kept_until(header: &Header, years: u32) -> Option<String> {
    let until = jiff::Timestamp::from_microsecond(kept_until_at(header, years)?).ok()?;
    Some(until.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
}
