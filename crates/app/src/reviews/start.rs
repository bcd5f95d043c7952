//! Starting a campaign: its scope and due date checked, one item per person in scope and each
//! item's reviewers written set-based, in one transaction with its audit event.

use rollcall_domain::{Capability, Permission, ValueError};
use rollcall_store::reviews::{self, Campaign, Scope};
use rollcall_store::{Conn, audit, locations, roles, users};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::{OrgScope, names, subjects};
use crate::audit::Meta;
use crate::error::FieldErrors;
use crate::{App, AppError, Principal};

/// A campaign to start. Scope keys left out do not narrow it (none: everyone).
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(examples(json!({
    "name": "Q1 access review",
    "due_date": "2027-03-31",
    "location": "DT",
    "recurrence": "quarterly"
})))]
pub struct NewCampaign {
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// In the organization's zone: `YYYY-MM-DD` (due when that day ends) or `YYYY-MM-DD HH:MM`;
    /// in the future.
    pub due_date: String,
    /// Only people with access to this location (id, code or name).
    pub location: Option<String>,
    /// Only holders of this role (id or name).
    pub role: Option<String>,
    /// Only people of this user type (code).
    pub user_type: Option<String>,
    /// `once` (the default), `monthly`, `quarterly`, `half-yearly` or `yearly`: the next
    /// campaign starts at this one's due date.
    #[schema(pattern = "^(once|monthly|quarterly|half-yearly|yearly)$")]
    pub recurrence: Option<String>,
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn start(
    app: &App,
    who: &Principal,
    req: &NewCampaign,
    meta: &Meta,
) -> Result<super::CampaignView, AppError> {
    who.require(Capability::RunAccessReviews)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let scope = OrgScope::load(&mut tx, who.org_id).await?;
    let checked = check(&mut tx, &scope, req, now).await?;
    let campaign = Campaign {
        id: rollcall_store::new_id(),
        org_id: who.org_id,
        name: checked.name,
        scope: checked.scope,
        due_at: checked.due_at,
        recurrence_months: checked.recurrence_months,
        created_by: who.user_ref(),
        created_at: now,
        reminded_at: None,
        escalated_at: None,
        overdue_action: None,
        next_campaign_id: None,
    };
    create_in(&mut tx, &scope, &campaign, meta, now).await?;
    let view = super::view(&mut tx, who, &campaign).await?;
    tx.commit().await?;
    Ok(view)
}

/// Writes the campaign, its items and their reviewers, and its audit event. Also how a
/// recurring campaign starts its next one.
pub(crate) async fn create_in(
    tx: &mut Conn,
    scope: &OrgScope,
    c: &Campaign,
    meta: &Meta,
    now: i64,
) -> Result<u64, AppError> {
    reviews::insert_campaign(tx, c).await?;
    let (company, clinic) = admins(tx, scope).await?;
    let reach: Vec<(Uuid, Option<Uuid>)> = clinic
        .iter()
        .flat_map(|(r, locations)| locations.iter().map(|l| (*r, Some(*l))))
        .chain(company.iter().map(|c| (*c, None)))
        .collect();
    reviews::insert_reach(tx, c.id, &reach).await?;
    let people = reviews::fill_items(tx, c.org_id, c.id, &c.scope).await?;
    let event = meta.change(
        "access_review.started",
        "access_review",
        Some(c.id),
        None::<&()>,
        Some(&serde_json::json!({
            "name": c.name,
            "scope": c.scope,
            "due_at": crate::clock::rfc3339(c.due_at),
            "recurrence_months": c.recurrence_months,
            "people": people,
        })),
    );
    audit::append(tx, c.org_id, now, &[event]).await?;
    Ok(people)
}

/// The organization's active admins under its rules: company admins, and clinic admins with
/// the locations they reach.
pub(crate) async fn admins(
    conn: &mut Conn,
    scope: &OrgScope,
) -> Result<(Vec<Uuid>, Vec<(Uuid, Vec<Uuid>)>), AppError> {
    let held = users::active_holding(
        conn,
        scope.org.id,
        &[Permission::AdminCompany, Permission::AdminClinic],
    )
    .await?;
    let ids: Vec<Uuid> = held.iter().map(|u| u.id).collect();
    let none = std::collections::BTreeMap::<Uuid, String>::new();
    let mut company = Vec::new();
    let mut clinic = Vec::new();
    for s in subjects(conn, scope.org.id, &ids).await? {
        let (effective, _) = scope.policy.effective(&s, &none);
        if effective.contains(&Permission::AdminCompany) {
            company.push(s.user_id);
        } else if effective.contains(&Permission::AdminClinic) {
            clinic.push((s.user_id, s.locations.into_iter().collect()));
        }
    }
    Ok((company, clinic))
}

struct Checked {
    name: String,
    scope: Scope,
    due_at: i64,
    recurrence_months: Option<i64>,
}

/// Every field checked, every wrong one reported.
async fn check(
    conn: &mut Conn,
    org: &OrgScope,
    req: &NewCampaign,
    now: i64,
) -> Result<Checked, AppError> {
    let mut errors = FieldErrors::default();
    let name = errors.take(campaign_name(&req.name));
    let due_at = errors.take(due_date(&req.due_date, &org.org.time_zone, now));
    let recurrence_months = errors.take(recurrence(req.recurrence.as_deref()));
    let all_locations = locations::list(conn, org.org.id).await?;
    let all_roles = roles::list(conn, org.org.id).await?;
    let location = super::filled(&req.location).and_then(|t| {
        errors.take(names::location_id(
            &all_locations,
            "location",
            "location_unknown",
            t,
        ))
    });
    let role = super::filled(&req.role)
        .and_then(|t| errors.take(names::role_id(&all_roles, "role", "role_unknown", t)));
    let user_type = super::filled(&req.user_type).and_then(|t| errors.take(user_type(org, t)));
    errors.into_result()?;
    Ok(Checked {
        name: name.unwrap_or_default(),
        scope: Scope {
            location,
            role,
            user_type,
        },
        due_at: due_at.unwrap_or_default(),
        recurrence_months: recurrence_months.flatten(),
    })
}

fn campaign_name(text: &str) -> Result<String, ValueError> {
    let name = text.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ValueError::new(
            "name",
            "name_invalid",
            "Give the campaign a name of 1 to 100 characters, e.g. “Q1 access review”.",
        ));
    }
    Ok(name.to_string())
}

/// A due date as people type it, in the organization's zone; it must be in the future.
pub fn due_date(text: &str, zone: &str, now: i64) -> Result<i64, ValueError> {
    let bad = |code: &'static str, why: String| ValueError::new("due_date", code, why);
    let at = crate::access::leaving::parse(text, zone)
        .ok()
        .flatten()
        .ok_or_else(|| {
            bad(
                "due_date_invalid",
                format!(
                    "“{}” is not a due date: use YYYY-MM-DD (due when that day ends) or YYYY-MM-DD HH:MM, e.g. 2027-03-31.",
                    text.trim().chars().take(40).collect::<String>()
                ),
            )
        })?;
    if at <= now {
        return Err(bad(
            "due_date_past",
            format!(
                "The due date {} has passed: choose a date in the future.",
                text.trim()
            ),
        ));
    }
    Ok(at)
}

/// Months between campaigns; `None` for a campaign that happens once.
fn recurrence(text: Option<&str>) -> Result<Option<i64>, ValueError> {
    match text.map(|t| t.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("once") | Some("none") => Ok(None),
        Some("monthly") => Ok(Some(1)),
        Some("quarterly") => Ok(Some(3)),
        Some("half-yearly") | Some("half_yearly") => Ok(Some(6)),
        Some("yearly") | Some("annually") => Ok(Some(12)),
        Some(other) => Err(ValueError::new(
            "recurrence",
            "recurrence_unknown",
            format!(
                "“{}” is not a recurrence: use once, monthly, quarterly, half-yearly or yearly.",
                other.chars().take(40).collect::<String>()
            ),
        )),
    }
}

fn user_type(org: &OrgScope, text: &str) -> Result<String, ValueError> {
    org.policy
        .user_type(text)
        .map(|t| t.code.clone())
        .ok_or_else(|| {
            let known: Vec<&str> = org
                .policy
                .user_types
                .iter()
                .map(|t| t.code.as_str())
                .collect();
            names::unknown("user_type", "user_type_unknown", "user type", text, &known)
        })
}

/// The due date `months` after `due_at`, at the same local time in `zone`.
pub(crate) fn months_later(due_at: i64, months: i64, zone: &str) -> Option<i64> {
    let tz = jiff::tz::TimeZone::get(zone).ok()?;
    let then = jiff::Timestamp::from_microsecond(due_at).ok()?.to_zoned(tz);
    let next = then.checked_add(jiff::Span::new().months(months)).ok()?;
    Some(next.timestamp().as_microsecond())
}
