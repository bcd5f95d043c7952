//! What a roster load does to accounts. The roster is the practice's word on who works there:
//! an account whose person it marks inactive, or (in a full load) no longer lists, loses access;
//! an account it lists as active again gets access back, but only when the directory was what
//! took it away — a manager's own deactivation stands until a manager undoes it. Each change is
//! the deactivation or reactivation SCIM makes too (`provisioning::deprovision`/`reprovision`),
//! so the rule engine judges it: the last company admin is never deactivated, and the load
//! reports that with the reason instead.
//!
//! The roster names people by address: an account is a roster person's when its match key is
//! theirs.

use std::collections::{BTreeMap, HashSet};

use rollcall_domain::LeavingDate;
use rollcall_store::Conn;
use rollcall_store::directory::Person;
use rollcall_store::users::{self, User};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::leaving;
use crate::access::lifecycle::{self, Origin};
use crate::audit::Meta;
use crate::provisioning::{deprovision, holds_access, reprovision};
use crate::{App, AppError, Principal};

/// Why a load asked for an account change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SyncReason {
    /// The roster marks the person inactive: deactivate.
    InactiveUpstream,
    /// A full load no longer lists the person: deactivate.
    LeftRoster,
    /// The roster lists the person as active again after the directory deactivated them:
    /// reactivate.
    ActiveUpstream,
}

impl SyncReason {
    fn deactivates(self) -> bool {
        !matches!(self, SyncReason::ActiveUpstream)
    }

    /// The reason in words, for the console.
    pub fn words(self) -> &'static str {
        match self {
            SyncReason::InactiveUpstream => "marked inactive upstream",
            SyncReason::LeftRoster => "no longer in the roster",
            SyncReason::ActiveUpstream => "active again upstream",
        }
    }

    /// The change, refused, in words.
    pub fn not_done(self) -> &'static str {
        if self.deactivates() {
            "Not deactivated"
        } else {
            "Not reactivated"
        }
    }
}

/// An account a load deactivated or reactivated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccountChange {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub reason: SyncReason,
}

/// An account change a load asked for and the rules (or the account's state) refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SyncRefusal {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    /// What the load asked for.
    pub reason: SyncReason,
    /// Why it was not done, as a sentence.
    pub detail: String,
    /// The rule that refused it (e.g. `rule_3_keep_admins`), when a rule did.
    pub rule: Option<String>,
}

/// What a load changed in accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Synced {
    pub deactivated: Vec<AccountChange>,
    pub reactivated: Vec<AccountChange>,
    pub refused: Vec<SyncRefusal>,
}

impl Synced {
    pub fn is_empty(&self) -> bool {
        self.deactivated.is_empty() && self.reactivated.is_empty() && self.refused.is_empty()
    }
}

/// One account change a load asks for.
pub(super) struct Planned {
    user: User,
    reason: SyncReason,
}

/// The account changes a load asks for, by name. `before` is the roster as it was; with `full`,
/// its people missing from `after` (by external id and by address) count as gone.
pub(super) async fn plan(
    conn: &mut Conn,
    org_id: Uuid,
    before: &[Person],
    after: &[Person],
    full: bool,
) -> Result<Vec<Planned>, AppError> {
    let wanted = wanted_by_address(before, after, full);
    let keys: Vec<String> = wanted.keys().cloned().collect();
    let mut planned = Vec::new();
    for user in users::by_email_keys(conn, org_id, &keys).await? {
        let reason = wanted[&user.email_key];
        if needs(conn, org_id, &user, reason).await? {
            planned.push(Planned { user, reason });
        }
    }
    planned.sort_by_cached_key(|p| (p.user.sort_name(), p.user.id));
    Ok(planned)
}

/// What the load says of each address it concerns. An address listed twice counts as active
/// if either listing is.
fn wanted_by_address(
    before: &[Person],
    after: &[Person],
    full: bool,
) -> BTreeMap<String, SyncReason> {
    let mut wanted = BTreeMap::new();
    for p in after {
        let reason = if p.active {
            SyncReason::ActiveUpstream
        } else {
            SyncReason::InactiveUpstream
        };
        let entry = wanted.entry(p.email_key.clone()).or_insert(reason);
        if p.active {
            *entry = SyncReason::ActiveUpstream;
        }
    }
    if full {
        // Someone still listed under another address is not gone.
        let listed: HashSet<&str> = after.iter().map(|p| p.external_id.as_str()).collect();
        for p in before {
            if !listed.contains(p.external_id.as_str()) {
                wanted
                    .entry(p.email_key.clone())
                    .or_insert(SyncReason::LeftRoster);
            }
        }
    }
    wanted
}

/// Whether the account is not yet as the load wants it: deactivation of one with access,
/// reactivation of one the directory itself deactivated.
async fn needs(
    conn: &mut Conn,
    org_id: Uuid,
    user: &User,
    reason: SyncReason,
) -> Result<bool, AppError> {
    if reason.deactivates() {
        return Ok(holds_access(user.status));
    }
    if holds_access(user.status) {
        return Ok(false);
    }
    let origin = lifecycle::last_deactivation(conn, org_id, user.id).await?;
    Ok(origin == Some(Origin::Directory))
}

/// Makes the planned changes, each on its own (one refused leaves the others done), as the
/// directory sync.
pub(super) async fn apply(
    app: &App,
    who: &Principal,
    planned: Vec<Planned>,
    meta: &Meta,
) -> Result<Synced, AppError> {
    let meta = sync_meta(meta);
    let mut synced = Synced::default();
    for Planned { user, reason } in planned {
        let done = if reason.deactivates() {
            deprovision(app, who, user.id, Origin::Directory, &meta).await
        } else {
            reprovision(app, who, user.id, Origin::Directory, &meta)
                .await
                .map(|to| to.is_some())
        };
        let change = AccountChange {
            user_id: user.id,
            name: user.display_name.clone(),
            email: user.email.clone(),
            reason,
        };
        match done {
            Ok(false) => {}
            Ok(true) if reason.deactivates() => synced.deactivated.push(change),
            Ok(true) => synced.reactivated.push(change),
            Err(e) => synced.refused.push(refusal(change, e)?),
        }
    }
    Ok(synced)
}

/// The audit trail names the directory sync as the actor, and who loaded the roster.
/// Sets the leaving dates the roster gives on the accounts of people who still have access,
/// where the account's differs (in the organization's zone); each its own transaction,
/// audited as the directory sync. Returns how many were set.
pub(super) async fn apply_leaving_dates(
    app: &App,
    who: &Principal,
    people: &[Person],
    meta: &Meta,
) -> Result<usize, AppError> {
    let wanted: BTreeMap<&str, LeavingDate> = people
        .iter()
        .filter_map(|p| {
            let date = LeavingDate::try_from(p.leaving_date.clone()?).ok()?;
            Some((p.email_key.as_str(), date))
        })
        .collect();
    if wanted.is_empty() {
        return Ok(0);
    }
    let keys: Vec<String> = wanted.keys().map(|k| k.to_string()).collect();
    let accounts = users::by_email_keys(&mut *app.db.read_conn().await?, who.org_id, &keys).await?;
    let meta = sync_meta(meta);
    let mut set = 0;
    for user in accounts.into_iter().filter(|u| holds_access(u.status)) {
        let at = leaving::instant_in(wanted[user.email_key.as_str()], &who.time_zone);
        let mut tx = app.db.begin().await?;
        let was = users::set_leaving_if_other(&mut tx, user.id, at).await?;
        let Some(was) = was else { continue };
        let at_text = |t: Option<i64>| t.map(crate::clock::rfc3339);
        let event = meta.change(
            "user.updated",
            "user",
            Some(user.id),
            Some(&serde_json::json!({ "leaving_at": at_text(was) })),
            Some(&serde_json::json!({ "leaving_at": at_text(Some(at)), "upstream": "directory" })),
        );
        rollcall_store::audit::append(&mut tx, who.org_id, app.clock.now(), &[event]).await?;
        tx.commit().await?;
        set += 1;
    }
    Ok(set)
}

fn sync_meta(meta: &Meta) -> Meta {
    Meta {
        actor_label: format!("Directory sync (roster loaded by {})", meta.actor_label),
        ..meta.clone()
    }
}

/// A refused change as the load reports it; an error that is no refusal (the database) ends
/// the load.
fn refusal(change: AccountChange, e: AppError) -> Result<SyncRefusal, AppError> {
    let rule = match &e {
        AppError::Refused(r) => serde_json::to_value(r.rule)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string)),
        AppError::Invalid(_)
        | AppError::InvalidFields(_)
        | AppError::Forbidden(_)
        | AppError::NotFound(_)
        | AppError::Conflict(_)
        | AppError::SeatsExhausted(_) => None,
        _ => return Err(e),
    };
    Ok(SyncRefusal {
        user_id: change.user_id,
        name: change.name,
        email: change.email,
        reason: change.reason,
        detail: e.to_string(),
        rule,
    })
}

/// The latest roster load and what it changed in accounts, as the Directory page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastSync {
    /// When, in the organization's zone.
    pub at: String,
    /// Who loaded the roster.
    pub by: String,
    pub full: bool,
    pub synced: Synced,
}

/// The latest load, read from its audit event (`None` before the first).
pub async fn last_sync(app: &App, who: &Principal) -> Result<Option<LastSync>, AppError> {
    who.require(rollcall_domain::Capability::ViewUsers)?;
    let query = rollcall_store::audit::AuditQuery {
        action: Some(rollcall_store::audit::ActionMatch::Exact(
            "directory.loaded".into(),
        )),
        limit: 1,
        ..Default::default()
    };
    let conn = &mut *app.db.read_conn().await?;
    let Some(e) = rollcall_store::audit::list(conn, who.org_id, &query)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let after: serde_json::Value = e
        .event
        .after
        .as_deref()
        .and_then(|a| serde_json::from_str(a).ok())
        .unwrap_or_default();
    Ok(Some(LastSync {
        at: crate::clock::local(e.at, &who.time_zone),
        by: e.event.actor_label,
        // Loads recorded before partial loads existed were all full.
        full: after["full"].as_bool().unwrap_or(true),
        synced: Synced {
            deactivated: listed(&after, "deactivated"),
            reactivated: listed(&after, "reactivated"),
            refused: listed(&after, "refused"),
        },
    }))
}

/// A list the load's audit event keeps (empty for loads recorded before accounts followed).
fn listed<T: serde::de::DeserializeOwned>(after: &serde_json::Value, name: &str) -> Vec<T> {
    serde_json::from_value(after[name].clone()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str, email: &str, active: bool) -> Person {
        Person {
            external_id: id.into(),
            first_name: "A".into(),
            last_name: "B".into(),
            email: email.into(),
            email_key: email.into(),
            user_type: None,
            active,
            groups: Vec::new(),
            leaving_date: None,
        }
    }

    #[test]
    fn a_full_load_takes_the_unlisted_for_gone_and_a_partial_one_does_not() {
        let before = [
            person("e1", "dana@x.org", true),
            person("e2", "sam@x.org", true),
            person("e3", "kim@x.org", true),
        ];
        // Kim is listed under a new address: still there, not gone.
        let after = [
            person("e1", "dana@x.org", false),
            person("e3", "kim.ng@x.org", true),
        ];
        let full = wanted_by_address(&before, &after, true);
        assert_eq!(full["dana@x.org"], SyncReason::InactiveUpstream);
        assert_eq!(full["sam@x.org"], SyncReason::LeftRoster);
        assert!(!full.contains_key("kim@x.org"));
        assert_eq!(full["kim.ng@x.org"], SyncReason::ActiveUpstream);
        let partial = wanted_by_address(&before, &after, false);
        assert!(!partial.contains_key("sam@x.org"));
        assert_eq!(partial["dana@x.org"], SyncReason::InactiveUpstream);
    }

    #[test]
    fn an_address_listed_twice_is_active_if_either_listing_is() {
        let after = [
            person("e1", "dana@x.org", true),
            person("e9", "dana@x.org", false),
        ];
        let wanted = wanted_by_address(&[], &after, true);
        assert_eq!(wanted["dana@x.org"], SyncReason::ActiveUpstream);
        let wanted = wanted_by_address(&[], &[after[1].clone(), after[0].clone()], true);
        assert_eq!(wanted["dana@x.org"], SyncReason::ActiveUpstream);
    }
}
