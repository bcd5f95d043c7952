//! The compliance summary an auditor asks for (HIPAA 164.308): people by status, who
//! administers each clinic (after the rules, as the profile shows it), second-factor coverage
//! of active people, and how long leavers kept access after their leaving date. Read-only;
//! exported as JSON and CSV.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_domain::{Capability, Permission};
use rollcall_store::compliance::{self, LeaverAt, ReviewAt};
use rollcall_store::{Conn, inactivity, locations, orgs, users};
use serde::Serialize;
use uuid::Uuid;

use crate::access::{location_names, policy_of, subjects};
use crate::sheet::Sheet;
use crate::{App, AppError, Principal};

/// The summary, as of `generated_at`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComplianceSummary {
    /// RFC 3339, UTC.
    pub generated_at: String,
    pub organization: String,
    /// Every person of the organization by status (`expired`: pending past the invitation).
    pub people: Vec<StatusCount>,
    pub second_factor: SecondFactor,
    /// People holding company administration after the rules: they reach every clinic.
    pub company_admins: Vec<String>,
    /// One row per clinic the caller reaches, in the organization's order.
    pub clinics: Vec<ClinicCompliance>,
    /// The inactivity rule: days without signing in, 0 when off.
    pub inactive_after_days: u32,
    /// `deactivate` or `flag`.
    pub inactive_action: String,
    /// Active people the inactivity rule flagged for review (they have not signed in since).
    pub flagged_inactive: Vec<FlaggedPerson>,
    pub emergency: EmergencyUse,
}

/// Emergency ("break-glass") access taken, and its reviews afterwards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct EmergencyUse {
    /// Every use ever taken.
    pub grants: i64,
    /// Uses whose time is not up yet.
    pub in_effect: i64,
    /// Uses no company admin has reviewed yet.
    pub awaiting_review: i64,
    pub accepted: i64,
    pub flagged: i64,
}

impl EmergencyUse {
    fn of(rows: Vec<(String, i64, i64)>) -> EmergencyUse {
        let mut u = EmergencyUse::default();
        for (state, all, live) in rows {
            u.grants += all;
            u.in_effect += live;
            match state.as_str() {
                "open" => u.awaiting_review += all,
                "accepted" => u.accepted += all,
                _ => u.flagged += all,
            }
        }
        u
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FlaggedPerson {
    pub user_id: Uuid,
    pub name: String,
    /// Their last sign-in (or activation), RFC 3339.
    pub last_active_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusCount {
    pub status: String,
    pub count: i64,
}

/// Active people and their second factors.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SecondFactor {
    pub active: i64,
    /// Active people with a second factor enrolled.
    pub enrolled: i64,
    /// `enrolled` of `active`, in whole percent (100 when nobody is active).
    pub coverage_percent: i64,
    /// Active people per method (`none`: not enrolled).
    pub by_method: Vec<MethodCount>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MethodCount {
    pub method: String,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClinicCompliance {
    pub location_id: Uuid,
    pub name: String,
    pub code: String,
    pub active: bool,
    /// People administering this clinic through a clinic-admin grant (company admins aside).
    pub clinic_admins: Vec<String>,
    pub leavers: LeaverLag,
    /// The access review campaign that last finished for this clinic's people.
    pub last_review: Option<ReviewDone>,
}

/// A finished access review at one clinic: every person decided, or its due date handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReviewDone {
    pub campaign_id: Uuid,
    pub name: String,
    /// RFC 3339, UTC.
    pub completed_at: String,
    /// The clinic's people in the campaign, and how many a reviewer decided.
    pub people: i64,
    pub reviewed: i64,
}

/// Each clinic's most recently finished campaign.
fn last_reviews(rows: Vec<ReviewAt>) -> BTreeMap<Uuid, ReviewDone> {
    let mut out: BTreeMap<Uuid, (i64, ReviewDone)> = BTreeMap::new();
    for r in rows {
        let done = if r.decided == r.people {
            r.last_decided_at
        } else {
            None
        };
        let Some(at) = r.ended_at.or(done) else {
            continue;
        };
        if out.get(&r.location_id).is_some_and(|(seen, _)| *seen >= at) {
            continue;
        }
        let view = ReviewDone {
            campaign_id: r.campaign_id,
            name: r.name,
            completed_at: crate::clock::rfc3339(at),
            people: r.people,
            reviewed: r.decided,
        };
        out.insert(r.location_id, (at, view));
    }
    out.into_iter().map(|(id, (_, v))| (id, v)).collect()
}

/// How long people kept access at a clinic after their leaving date: from the leaving
/// instant to their deactivation (0 when deactivated earlier), or to now while they still
/// have access.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LeaverLag {
    /// People whose leaving date has come.
    pub count: i64,
    /// Of those, people who still have access.
    pub still_with_access: i64,
    pub median_seconds: Option<i64>,
    pub worst_seconds: Option<i64>,
}

impl LeaverLag {
    fn of(mut lags: Vec<i64>, still_with_access: i64) -> LeaverLag {
        lags.sort_unstable();
        LeaverLag {
            count: lags.len() as i64,
            still_with_access,
            median_seconds: (!lags.is_empty()).then(|| lags[lags.len() / 2]),
            worst_seconds: lags.last().copied(),
        }
    }
}

/// The summary for the caller: clinics they reach; counts over the whole organization.
pub async fn summary(app: &App, who: &Principal) -> Result<ComplianceSummary, AppError> {
    who.require(Capability::ViewUsers)?;
    let now = app.clock.now();
    let mut conn = app.db.read_conn().await?;
    let people = compliance::people_by_status(&mut conn, who.org_id, now)
        .await?
        .into_iter()
        .map(|(status, count)| StatusCount { status, count })
        .collect();
    let second_factor = second_factor(&mut conn, who.org_id).await?;
    let (company_admins, clinic_admins) = admins(&mut conn, who.org_id).await?;
    let lags = leaver_lags(compliance::leavers(&mut conn, who.org_id, now).await?, now);
    let reviews = last_reviews(compliance::reviews_by_clinic(&mut conn, who.org_id).await?);
    let flagged_inactive = inactivity::flagged(&mut conn, who.org_id)
        .await?
        .into_iter()
        .map(|p| FlaggedPerson {
            user_id: p.id,
            name: p.display_name,
            last_active_at: crate::clock::rfc3339(p.last_active),
        })
        .collect();
    let settings = orgs::get(&mut conn, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?
        .settings;
    let emergency = EmergencyUse::of(compliance::emergency_grants(&mut conn, who.org_id).await?);
    let clinics = locations::list(&mut conn, who.org_id)
        .await?
        .into_iter()
        .filter(|l| who.locations.contains(&l.id))
        .map(|l| ClinicCompliance {
            clinic_admins: clinic_admins.get(&l.id).cloned().unwrap_or_default(),
            leavers: lags.get(&l.id).cloned().unwrap_or_default(),
            last_review: reviews.get(&l.id).cloned(),
            location_id: l.id,
            name: l.name,
            code: l.code,
            active: l.active,
        })
        .collect();
    Ok(ComplianceSummary {
        generated_at: crate::clock::rfc3339(now),
        organization: who.org_name.clone(),
        people,
        second_factor,
        company_admins,
        clinics,
        inactive_after_days: settings.inactive_after_days,
        inactive_action: settings.inactive_action,
        flagged_inactive,
        emergency,
    })
}

async fn second_factor(conn: &mut Conn, org_id: Uuid) -> Result<SecondFactor, AppError> {
    let by_method: Vec<MethodCount> = compliance::second_factors(conn, org_id)
        .await?
        .into_iter()
        .map(|(method, count)| MethodCount {
            method: method.unwrap_or_else(|| "none".into()),
            count,
        })
        .collect();
    let active: i64 = by_method.iter().map(|m| m.count).sum();
    let enrolled: i64 = by_method
        .iter()
        .filter(|m| m.method != "none")
        .map(|m| m.count)
        .sum();
    Ok(SecondFactor {
        active,
        enrolled,
        coverage_percent: if active == 0 {
            100
        } else {
            enrolled * 100 / active
        },
        by_method,
    })
}

/// Company admins' names, and each clinic's admins' names, as the rules leave their grants.
async fn admins(
    conn: &mut Conn,
    org_id: Uuid,
) -> Result<(Vec<String>, BTreeMap<Uuid, Vec<String>>), AppError> {
    let admins = [Permission::AdminCompany, Permission::AdminClinic];
    let holders: Vec<Uuid> = users::active_holding(conn, org_id, &admins)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    let policy = policy_of(conn, org_id).await?;
    let names = location_names(conn, org_id).await?;
    let mut company = Vec::new();
    let mut clinics: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    for subject in subjects(conn, org_id, &holders).await? {
        let (in_effect, _) = policy.effective(&subject, &names);
        if in_effect.contains(&Permission::AdminCompany) {
            company.push(subject.display_name);
        } else if in_effect.contains(&Permission::AdminClinic) {
            for at in &subject.locations {
                clinics
                    .entry(*at)
                    .or_default()
                    .push(subject.display_name.clone());
            }
        }
    }
    // Names in alphabetical order, however the rows came.
    company.sort();
    clinics.values_mut().for_each(|names| names.sort());
    Ok((company, clinics))
}

/// Each clinic's leaver lag, in seconds.
fn leaver_lags(rows: Vec<LeaverAt>, now: i64) -> BTreeMap<Uuid, LeaverLag> {
    let mut at: BTreeMap<Uuid, (Vec<i64>, BTreeSet<Uuid>)> = BTreeMap::new();
    for r in rows {
        let (lags, still) = at.entry(r.location_id).or_default();
        let ended = r.deactivated_at.unwrap_or(now);
        lags.push((ended - r.leaves_at).max(0) / 1_000_000);
        if r.deactivated_at.is_none() {
            still.insert(r.user_id);
        }
    }
    at.into_iter()
        .map(|(id, (lags, still))| (id, LeaverLag::of(lags, still.len() as i64)))
        .collect()
}

/// The summary as CSV: one row per clinic, the organization's figures repeated on each.
pub fn to_csv(s: &ComplianceSummary) -> Result<String, AppError> {
    let count = |status: &str| {
        s.people
            .iter()
            .find(|p| p.status == status)
            .map_or(0, |p| p.count)
            .to_string()
    };
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut sheet = Sheet::with_header(&[
        "generated_at",
        "clinic",
        "code",
        "clinic_active",
        "clinic_admins",
        "company_admins",
        "leavers",
        "leavers_with_access",
        "leaver_median_seconds",
        "leaver_worst_seconds",
        "active",
        "pending",
        "expired",
        "inactive",
        "second_factor_percent",
        "emergency_uses",
        "emergency_awaiting_review",
        "last_review",
        "last_review_completed_at",
        "last_review_reviewed",
        "last_review_people",
    ])?;
    for c in &s.clinics {
        let review =
            |f: fn(&ReviewDone) -> String| c.last_review.as_ref().map(f).unwrap_or_default();
        sheet.row([
            s.generated_at.clone(),
            c.name.clone(),
            c.code.clone(),
            c.active.to_string(),
            c.clinic_admins.join("; "),
            s.company_admins.join("; "),
            c.leavers.count.to_string(),
            c.leavers.still_with_access.to_string(),
            opt(c.leavers.median_seconds),
            opt(c.leavers.worst_seconds),
            count("active"),
            count("pending"),
            count("expired"),
            count("inactive"),
            s.second_factor.coverage_percent.to_string(),
            s.emergency.grants.to_string(),
            s.emergency.awaiting_review.to_string(),
            review(|r| r.name.clone()),
            review(|r| r.completed_at.clone()),
            review(|r| r.reviewed.to_string()),
            review(|r| r.people.to_string()),
        ])?;
    }
    sheet.into_text()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_is_the_median_and_the_worst_counting_those_still_in() {
        let loc = Uuid::from_u128(1);
        let row = |user: u128, leaves: i64, off: Option<i64>| LeaverAt {
            user_id: Uuid::from_u128(user),
            location_id: loc,
            leaves_at: leaves * 1_000_000,
            deactivated_at: off.map(|s| s * 1_000_000),
        };
        let lags = leaver_lags(
            vec![
                row(1, 100, Some(160)), // 60 s late
                row(2, 100, Some(50)),  // deactivated before the date: 0
                row(3, 100, None),      // still in at 1,000 s: 900
            ],
            1_000 * 1_000_000,
        );
        assert_eq!(
            lags[&loc],
            LeaverLag {
                count: 3,
                still_with_access: 1,
                median_seconds: Some(60),
                worst_seconds: Some(900),
            }
        );
    }
}
