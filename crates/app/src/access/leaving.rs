//! Leaving dates: a person's access ends at the instant they leave, in the organization's zone,
//! without anyone having to be there. A serving process deactivates those whose time has come
//! through the same deactivation as the console (sessions, tokens and app sign-ins end, the seat
//! is freed, the rules apply: the last admin is never deactivated, and that refusal is audited).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use rollcall_domain::{LeavingDate, ValueError};
use rollcall_store::{audit, users};

use crate::access::lifecycle::{self, Origin};
use crate::access::principal::Principal;
use crate::audit::Meta;
use crate::{App, AppError};

/// People deactivated per round at most (the rest wait for the next round, a minute later).
const PER_ROUND: i64 = 200;

/// A leaving date people typed (see [`LeavingDate`]) as the instant access ends in `zone`, or
/// an RFC 3339 instant as systems send it (`2026-12-18T23:00:00Z`); empty clears it.
pub fn parse(input: &str, zone: &str) -> Result<Option<i64>, ValueError> {
    if let Ok(at) = input.trim().parse::<jiff::Timestamp>() {
        return Ok(Some(at.as_microsecond()));
    }
    Ok(LeavingDate::parse(input)?.map(|d| instant_in(d, zone)))
}

/// The instant a leaving date names in `zone`. A time the clocks skip means the moment they
/// resume; a time that happens twice, the first. An unknown zone is read as UTC.
pub fn instant_in(date: LeavingDate, zone: &str) -> i64 {
    let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    tz.to_ambiguous_timestamp(date.ends())
        .compatible()
        .map_or(i64::MAX, |t| t.as_microsecond())
}

/// Now as a local date and time in `zone`, to tell a leaving date still to come from one past.
pub fn local_now(now: i64, zone: &str) -> Option<jiff::civil::DateTime> {
    let tz = jiff::tz::TimeZone::get(zone).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_microsecond(now)
        .ok()
        .map(|t| t.to_zoned(tz).datetime())
}

/// What one round did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Leavers {
    pub deactivated: usize,
    /// Refused by a rule (e.g. the last admin): audited, and their leaving date cleared so a
    /// company admin decides.
    pub refused: usize,
}

/// Deactivates everyone whose leaving instant has come. Several processes may run it at once:
/// a person already deactivated by another is skipped.
pub async fn deactivate_leavers(app: &App) -> Result<Leavers, AppError> {
    let due = {
        let mut conn = app.db.read_conn().await?;
        users::due_leavers(&mut conn, app.clock.now(), PER_ROUND).await?
    };
    let meta = Meta::system("leaving date");
    let mut done = Leavers::default();
    // One acting principal per organization, read once a round.
    let mut operators = BTreeMap::new();
    for (org_id, user_id) in due {
        let who = match operators.entry(org_id) {
            Entry::Occupied(known) => known.into_mut(),
            Entry::Vacant(new) => {
                new.insert(Principal::operator(app, org_id, "leaving date").await?)
            }
        };
        match lifecycle::deactivate_from(app, who, user_id, Origin::LeavingDate, &meta).await {
            Ok(()) => done.deactivated += 1,
            Err(AppError::Refused(why)) => {
                let mut tx = app.db.begin().await?;
                users::set_leaving(&mut tx, user_id, None).await?;
                let event = meta.change(
                    "user.leaving_refused",
                    "user",
                    Some(user_id),
                    None::<&()>,
                    Some(&serde_json::json!({ "rule": why.rule, "reason": why.message })),
                );
                audit::append(&mut tx, org_id, app.clock.now(), &[event]).await?;
                tx.commit().await?;
                tracing::warn!(%user_id, reason = %why.message, "a leaving date could not deactivate");
                done.refused += 1;
            }
            // Deactivated meanwhile (another process, a manager): nothing left to do.
            Err(AppError::Invalid(_) | AppError::Conflict(_) | AppError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
