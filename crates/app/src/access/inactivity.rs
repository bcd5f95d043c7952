//! The inactivity rule: an organization may end the access of people who have not signed in
//! for a set number of days (HIPAA 164.308(a)(3)(ii)(C)), or flag them for a company admin to
//! review. Each is warned first by a message, a week ahead (half the period when that is
//! shorter), and signing in again starts the count afresh. Deactivation is the console's own
//! (the rules apply: the last admin is flagged instead, with the reason audited).

use rollcall_domain::{Capability, ValueError};
use rollcall_store::audit;
use rollcall_store::inactivity::{self, Idle};
use rollcall_store::orgs::{self, OrgSettings, Organization};
use rollcall_store::outbox::{self, OutboxMessage};

use crate::access::lifecycle::{self, Origin};
use crate::audit::Meta;
use crate::clock::DAY;
use crate::{App, AppError, Principal};

/// People warned, deactivated or flagged per organization and round at most.
const PER_ROUND: i64 = 200;
/// The longest warning ahead, in days.
const MAX_WARNING_DAYS: i64 = 7;
/// The range a company admin may set, in days (0 turns the rule off).
const DAYS: std::ops::RangeInclusive<u32> = 7..=730;

/// What happens at the end of the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Deactivate,
    Flag,
}

/// The organization's rule, when it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub days: i64,
    pub action: Action,
}

impl Rule {
    pub fn of(settings: &OrgSettings) -> Option<Rule> {
        (settings.inactive_after_days > 0).then(|| Rule {
            days: i64::from(settings.inactive_after_days),
            action: match settings.inactive_action.as_str() {
                "deactivate" => Action::Deactivate,
                _ => Action::Flag,
            },
        })
    }

    /// How long before the end people are warned, in days.
    pub fn warning_days(self) -> i64 {
        MAX_WARNING_DAYS.min(self.days / 2)
    }
}

/// Sets the organization's rule: `days` 0 turns it off.
pub async fn set_rule(
    app: &App,
    who: &Principal,
    days: u32,
    action: &str,
    meta: &Meta,
) -> Result<OrgSettings, AppError> {
    who.require(Capability::ManageSettings)?;
    let mut refused = Vec::new();
    if days != 0 && !DAYS.contains(&days) {
        refused.push(ValueError::new(
            "inactive_after_days",
            "inactive_days_range",
            format!(
                "People can be found inactive after {} to {} days without signing in; 0 turns the rule off.",
                DAYS.start(),
                DAYS.end()
            ),
        ));
    }
    if !matches!(action, "deactivate" | "flag") {
        refused.push(ValueError::new(
            "inactive_action",
            "inactive_action_unknown",
            "At the end of the period people are either deactivated (deactivate) or flagged for review (flag).",
        ));
    }
    if let Some(e) = AppError::of_fields(refused) {
        return Err(e);
    }
    let mut tx = app.db.begin().await?;
    let org = orgs::get(&mut tx, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let after = OrgSettings {
        inactive_after_days: days,
        inactive_action: action.into(),
        ..org.settings.clone()
    };
    orgs::update_settings(&mut tx, org.id, &after).await?;
    let event = meta.change(
        "org.settings_changed",
        "organization",
        Some(org.id),
        Some(&org.settings),
        Some(&after),
    );
    audit::append(&mut tx, org.id, app.clock.now(), &[event]).await?;
    tx.commit().await?;
    Ok(after)
}

/// What one round did, over every organization.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Inactive {
    pub warned: usize,
    pub deactivated: usize,
    pub flagged: usize,
}

/// Warns, then deactivates or flags, the people of every organization with a rule.
pub async fn run(app: &App) -> Result<Inactive, AppError> {
    let orgs = orgs::list(&mut *app.db.read_conn().await?).await?;
    let mut done = Inactive::default();
    for org in orgs {
        if let Some(rule) = Rule::of(&org.settings) {
            warn(app, &org, rule, &mut done).await?;
            act(app, &org, rule, &mut done).await?;
        }
    }
    Ok(done)
}

/// Messages everyone idle long enough to be warned, once per idle spell.
async fn warn(
    app: &App,
    org: &Organization,
    rule: Rule,
    done: &mut Inactive,
) -> Result<(), AppError> {
    let now = app.clock.now();
    let before = now - (rule.days - rule.warning_days()) * DAY;
    let people = {
        let mut conn = app.db.read_conn().await?;
        inactivity::unwarned(&mut conn, org.id, before, PER_ROUND).await?
    };
    let meta = Meta::system("inactivity rule");
    for person in people {
        let mut tx = app.db.begin().await?;
        if !inactivity::mark_warned(&mut tx, person.id, now).await? {
            continue;
        }
        let ends = person.last_active + rule.days * DAY;
        outbox::enqueue(&mut tx, &[warning(org, &person, rule, ends, now)]).await?;
        let event = meta.change(
            "user.inactivity_warned",
            "user",
            Some(person.id),
            None::<&()>,
            Some(&serde_json::json!({ "last_active_at": person.last_active, "ends_at": ends })),
        );
        audit::append(&mut tx, org.id, now, &[event]).await?;
        tx.commit().await?;
        done.warned += 1;
    }
    Ok(())
}

/// The warning: sign in before the date to keep access.
fn warning(org: &Organization, person: &Idle, rule: Rule, ends: i64, now: i64) -> OutboxMessage {
    let date = crate::clock::local(ends, &org.time_zone);
    let outcome = match rule.action {
        Action::Deactivate => "your account will be deactivated",
        Action::Flag => "your account will be flagged for an administrator to review",
    };
    let text = format!(
        "Hello {name},\n\nYou have not signed in to {org} for a while. Staff accounts that go unused for {days} days are closed to protect patients' records: unless you sign in before {date}, {outcome}.\n\nSign in: {url}/sign-in?org={code}\n\nIf you no longer work at {org}, you can ignore this message.\n",
        name = person.display_name,
        org = org.name,
        days = rule.days,
        url = crate::delivery::messages::PUBLIC_URL,
        code = org.slug,
    );
    OutboxMessage::notice(
        org.id,
        &person.email,
        format!("Sign in to {} before {date} to keep your account", org.name),
        text,
        now,
    )
}

/// Deactivates or flags everyone warned long enough ago who is still idle.
async fn act(
    app: &App,
    org: &Organization,
    rule: Rule,
    done: &mut Inactive,
) -> Result<(), AppError> {
    let now = app.clock.now();
    let people = {
        let mut conn = app.db.read_conn().await?;
        let warned_by = now - rule.warning_days() * DAY;
        inactivity::due(
            &mut conn,
            org.id,
            now - rule.days * DAY,
            warned_by,
            PER_ROUND,
        )
        .await?
    };
    if people.is_empty() {
        return Ok(());
    }
    let meta = Meta::system("inactivity rule");
    let operator = Principal::operator(app, org.id, "inactivity rule").await?;
    for person in people {
        let why = match rule.action {
            Action::Flag => None,
            Action::Deactivate => {
                match lifecycle::deactivate_from(
                    app,
                    &operator,
                    person.id,
                    Origin::Inactivity,
                    &meta,
                )
                .await
                {
                    Ok(()) => {
                        done.deactivated += 1;
                        continue;
                    }
                    Err(AppError::Refused(why)) => Some(why),
                    // Deactivated meanwhile: nothing left to do.
                    Err(AppError::Invalid(_) | AppError::Conflict(_) | AppError::NotFound(_)) => {
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let mut tx = app.db.begin().await?;
        if !inactivity::mark_flagged(&mut tx, person.id, now).await? {
            continue;
        }
        let mut after = serde_json::json!({ "last_active_at": person.last_active });
        if let Some(why) = &why {
            after["rule"] = serde_json::json!(why.rule);
            after["reason"] = serde_json::json!(why.message);
        }
        let event = meta.change(
            "user.inactivity_flagged",
            "user",
            Some(person.id),
            None::<&()>,
            Some(&after),
        );
        audit::append(&mut tx, org.id, now, &[event]).await?;
        tx.commit().await?;
        done.flagged += 1;
    }
    Ok(())
}
