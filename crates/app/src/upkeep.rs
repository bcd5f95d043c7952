//! What a serving process does on its own from time to time: deactivate the people whose
//! leaving date has come, warn then deactivate or flag people idle past the organization's
//! inactivity rule, end emergency access whose time is up, remind access reviewers and
//! escalate overdue reviews, publish a new OpenID Connect signing key once the newest is
//! old enough, and, when the operator asks for them, back the
//! SQLite database up on a schedule, keeping the newest few.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::BackupSchedule;
use crate::ops::Report;
use crate::{App, AppError};

/// How often a serving process looks whether something is due.
const EVERY: Duration = Duration::from_secs(60);
/// Scheduled backups are named `rollcall-20261130T192500Z.db`; other files are left alone.
const PREFIX: &str = "rollcall-";
const SUFFIX: &str = ".db";
const STAMP: &str = "%Y%m%dT%H%M%S";

/// Runs [`run_once`] now and every minute until the process drains.
pub fn spawn(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = app.shutdown.clone();
        while !shutdown.is_draining() {
            run_once(&app).await;
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                _ = shutdown.draining() => {}
            }
        }
    })
}

/// What one round did.
#[derive(Debug, Default)]
pub struct Round {
    pub leavers: crate::access::leaving::Leavers,
    pub inactive: crate::access::inactivity::Inactive,
    /// Emergency grants this round ended.
    pub emergency_ended: usize,
    pub reviews: crate::reviews::due::Round,
    pub new_key: Option<String>,
    pub backup: Option<Report>,
}

/// Does what is due. A task that fails is logged and tried again next round.
pub async fn run_once(app: &App) -> Round {
    let mut round = Round::default();
    match crate::access::leaving::deactivate_leavers(app).await {
        Ok(leavers) => round.leavers = leavers,
        Err(e) => tracing::warn!(error = %e, "could not deactivate the people who left"),
    }
    match crate::access::inactivity::run(app).await {
        Ok(inactive) => round.inactive = inactive,
        Err(e) => tracing::warn!(error = %e, "could not apply the inactivity rule"),
    }
    match crate::access::emergency::expiry::end_expired(app).await {
        Ok(ended) => round.emergency_ended = ended,
        Err(e) => tracing::warn!(error = %e, "could not end the emergency access whose time is up"),
    }
    match crate::reviews::due::run(app).await {
        Ok(reviews) => round.reviews = reviews,
        Err(e) => tracing::warn!(error = %e, "could not handle the access reviews' due dates"),
    }
    let every = app.config.upkeep.key_rotation_micros;
    if every > 0 {
        match crate::oidc::keys::rotate_if_due(app, every).await {
            Ok(kid) => round.new_key = kid,
            Err(e) => tracing::warn!(error = %e, "could not rotate the OpenID Connect signing key"),
        }
    }
    if let Some(schedule) = &app.config.upkeep.backups {
        match back_up_if_due(app, schedule).await {
            Ok(Some(report)) => {
                tracing::info!(path = %report.path.display(), bytes = report.bytes, "scheduled backup written and checked");
                round.backup = Some(report);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, dir = %schedule.dir.display(), "the scheduled backup failed")
            }
        }
    }
    round
}

/// Takes a backup into the schedule's directory once the newest there is old enough, then
/// removes the oldest scheduled backups beyond the number kept.
pub async fn back_up_if_due(
    app: &App,
    schedule: &BackupSchedule,
) -> Result<Option<Report>, AppError> {
    let now = app.clock.now();
    let mut taken = scheduled_backups(&schedule.dir)?;
    if taken
        .last()
        .is_some_and(|(at, _)| now - at < schedule.every_micros)
    {
        return Ok(None);
    }
    let stamp = jiff::Timestamp::from_microsecond(now)
        .map_err(|e| AppError::Internal(format!("clock out of range: {e}")))?
        .strftime(STAMP)
        .to_string();
    let path = schedule.dir.join(format!("{PREFIX}{stamp}Z{SUFFIX}"));
    let report = crate::ops::backup(app, &path).await?;
    taken.push((now, path));
    let beyond = taken.len().saturating_sub(schedule.keep.max(1));
    for (_, old) in taken.drain(..beyond) {
        if let Err(e) = std::fs::remove_file(&old) {
            tracing::warn!(path = %old.display(), error = %e, "could not remove an old scheduled backup");
        }
    }
    Ok(Some(report))
}

/// The scheduled backups in `dir`, oldest first, with the time in their names (µs).
pub fn scheduled_backups(dir: &Path) -> Result<Vec<(i64, PathBuf)>, AppError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        AppError::Conflict(format!(
            "cannot read the backup directory {}: {e}",
            dir.display()
        ))
    })?;
    let mut found: Vec<(i64, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
            let at = jiff::civil::DateTime::strptime(STAMP, stamp.strip_suffix('Z')?)
                .ok()?
                .to_zoned(jiff::tz::TimeZone::UTC)
                .ok()?;
            Some((at.timestamp().as_microsecond(), entry.path()))
        })
        .collect();
    found.sort();
    Ok(found)
}
