//! Webhook events derived from audit events, where audit events are written: every change
//! records its audit events in its own transaction, so the deliveries of the events it gives are
//! written in that same transaction (committed together, or not at all).
//!
//! Payload: `{"type": …, "timestamp": RFC 3339, "data": {…}}` with the ids and names a receiver
//! needs (see the README's list of event payloads).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rollcall_domain::{EventType, Permission};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Endpoint, NewDelivery};
use crate::access::AccessRow;
use crate::audit::NewEvent;
use crate::{Conn, Result, new_id};

/// One event derived from an audit event.
struct Derived<'a> {
    /// Stable per event: the `webhook-id` receivers deduplicate on.
    id: String,
    kind: EventType,
    audit: &'a NewEvent,
}

/// Queues, in the caller's transaction, one delivery per webhook event the audit events give
/// and per enabled endpoint of the organization that asked for its type. Nothing is read when
/// no event gives a webhook event or no endpoint is enabled.
pub async fn enqueue_for_audit(
    conn: &mut Conn,
    org_id: Uuid,
    at: i64,
    events: &[(Uuid, &NewEvent)],
) -> Result<()> {
    let derived: Vec<Derived> = events
        .iter()
        .flat_map(|(audit_id, e)| {
            let types = EventType::of_audit(&e.action, e.after.as_deref());
            types.iter().enumerate().map(move |(i, kind)| Derived {
                id: match i {
                    0 => format!("msg_{}", audit_id.simple()),
                    n => format!("msg_{}_{n}", audit_id.simple()),
                },
                kind: *kind,
                audit: e,
            })
        })
        .collect();
    if derived.is_empty() {
        return Ok(());
    }
    let endpoints = super::enabled(conn, org_id).await?;
    let wanted: Vec<&Derived> = derived
        .iter()
        .filter(|d| endpoints.iter().any(|ep| ep.wants(d.kind.key())))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let context = Context::load(conn, org_id, &wanted).await?;
    let mut out = Vec::new();
    for d in wanted {
        let payload = json!({
            "type": d.kind.key(),
            "timestamp": rfc3339(at),
            "data": context.data(d),
        })
        .to_string();
        out.extend(subscribers(&endpoints, d.kind).map(|ep| NewDelivery {
            id: new_id(),
            org_id,
            endpoint_id: ep.id,
            event_id: d.id.clone(),
            event_type: d.kind.key().to_string(),
            payload: payload.clone(),
            created_at: at,
        }));
    }
    super::enqueue(conn, &out).await
}

fn subscribers(endpoints: &[Endpoint], kind: EventType) -> impl Iterator<Item = &Endpoint> {
    endpoints.iter().filter(move |ep| ep.wants(kind.key()))
}

/// Microseconds since the epoch as RFC 3339 UTC with milliseconds.
pub fn rfc3339(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let millis = micros.rem_euclid(1_000_000) / 1_000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// What the payloads of one batch need, read once: the users' access and the organization's
/// locations and roles by id.
struct Context {
    users: HashMap<Uuid, AccessRow>,
    locations: BTreeMap<Uuid, String>,
    roles: BTreeMap<Uuid, (String, Vec<Permission>)>,
}

impl Context {
    async fn load(conn: &mut Conn, org_id: Uuid, wanted: &[&Derived<'_>]) -> Result<Context> {
        let user_ids: Vec<Uuid> = wanted
            .iter()
            .filter(|d| d.audit.target_type == "user")
            .filter_map(|d| d.audit.target_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let users = crate::access::load(conn, org_id, &user_ids)
            .await?
            .into_iter()
            .map(|u| (u.user_id, u))
            .collect();
        let locations = crate::locations::list(conn, org_id)
            .await?
            .into_iter()
            .map(|l| (l.id, l.name))
            .collect();
        let roles = crate::roles::list(conn, org_id)
            .await?
            .into_iter()
            .map(|r| (r.id, (r.name, r.permissions)))
            .collect();
        Ok(Context {
            users,
            locations,
            roles,
        })
    }

    fn data(&self, d: &Derived) -> Value {
        let e = d.audit;
        let before = parsed(e.before.as_deref());
        let after = parsed(e.after.as_deref());
        let actor = json!({ "id": e.actor_id, "name": e.actor_label });
        match d.kind {
            EventType::RoleChanged => json!({
                "role": {
                    "id": e.target_id,
                    "name": after["name"],
                    "permissions": after["permissions"],
                },
                "before": if before.is_null() { Value::Null } else {
                    json!({ "name": before["name"], "permissions": before["permissions"] })
                },
                "members": after["members"],
                "actor": actor,
            }),
            EventType::JobFinished => json!({
                "job": {
                    "id": e.target_id,
                    "kind": job_kind(&e.action, &after),
                    "outcome": after["outcome"],
                    "summary": after.get("tally").or(after.get("summary")).cloned().unwrap_or(Value::Null),
                },
                "actor": actor,
            }),
            EventType::UserAccessChanged => {
                let Some(u) = e.target_id.and_then(|id| self.users.get(&id)) else {
                    return json!({ "user": { "id": e.target_id }, "actor": actor });
                };
                let (was, now) = self.access_change(u, &before, &after);
                let mut data = json!({
                    "user": self.user(u),
                    "before": was,
                    "after": now,
                    "actor": actor,
                });
                if let Some(job) = after.get("job") {
                    data["job_id"] = job.clone();
                }
                data
            }
            _ => match e.target_id.and_then(|id| self.users.get(&id)) {
                Some(u) => json!({ "user": self.user(u), "actor": actor }),
                None => json!({ "user": { "id": e.target_id }, "actor": actor }),
            },
        }
    }

    fn user(&self, u: &AccessRow) -> Value {
        json!({
            "id": u.user_id,
            "email": u.email,
            "name": u.display_name,
            "status": u.status.as_str(),
            "user_type": u.user_type,
            "permissions": keys(&effective(&u.direct, &u.role_permissions)),
            "roles": self.role_names(&u.role_ids),
            "locations": self.location_list(u.locations.iter().copied()),
            "default_location_id": u.default_location,
        })
    }

    fn role_names(&self, ids: &[Uuid]) -> Vec<String> {
        ids.iter()
            .filter_map(|id| self.roles.get(id).map(|(n, _)| n.clone()))
            .collect()
    }

    fn location_list(&self, ids: impl Iterator<Item = Uuid>) -> Vec<Value> {
        ids.map(|id| json!({ "id": id, "name": self.locations.get(&id) }))
            .collect()
    }

    fn location_id(&self, name: &str) -> Option<Uuid> {
        self.locations
            .iter()
            .find(|(_, n)| n.as_str() == name)
            .map(|(id, _)| *id)
    }

    /// Access before and after the change: the state now, and the state before worked back
    /// from what the audit event says changed (a bulk update's added and removed grants, or a
    /// profile edit's before and after of direct permissions, roles and locations).
    fn access_change(&self, u: &AccessRow, before: &Value, after: &Value) -> (Value, Value) {
        let now_locations: BTreeSet<Uuid> = u.locations.iter().copied().collect();
        let mut direct = u.direct.clone();
        let mut locations = now_locations.clone();
        let mut role_ids = u.role_ids.clone();
        for p in strings(after, "added_permissions") {
            direct.retain(|d| d.key() != p);
        }
        for p in strings(after, "removed_permissions") {
            direct.extend(Permission::parse(&p).ok());
        }
        for l in strings(after, "added_locations") {
            self.location_id(&l).map(|id| locations.remove(&id));
        }
        for l in strings(after, "removed_locations") {
            locations.extend(self.location_id(&l));
        }
        if before.get("permissions").is_some() {
            direct = strings(before, "permissions")
                .iter()
                .filter_map(|p| Permission::parse(p).ok())
                .collect();
        }
        if before.get("locations").is_some() {
            locations = strings(before, "locations")
                .iter()
                .filter_map(|l| self.location_id(l))
                .collect();
        }
        if before.get("roles").is_some() {
            let names = strings(before, "roles");
            role_ids = self
                .roles
                .iter()
                .filter(|(_, (n, _))| names.contains(n))
                .map(|(id, _)| *id)
                .collect();
        }
        let role_permissions: BTreeSet<Permission> = role_ids
            .iter()
            .filter_map(|id| self.roles.get(id))
            .flat_map(|(_, ps)| ps.iter().copied())
            .collect();
        let was = json!({
            "permissions": keys(&effective(&direct, &role_permissions)),
            "roles": self.role_names(&role_ids),
            "locations": self.location_list(locations.into_iter()),
        });
        let now = json!({
            "permissions": keys(&effective(&u.direct, &u.role_permissions)),
            "roles": self.role_names(&u.role_ids),
            "locations": self.location_list(now_locations.into_iter()),
        });
        (was, now)
    }
}

fn job_kind(action: &str, after: &Value) -> Value {
    match action {
        "bulk_update.finished" => "bulk_update".into(),
        _ => after
            .get("kind")
            .cloned()
            .unwrap_or_else(|| "import".into()),
    }
}

fn parsed(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn effective(direct: &BTreeSet<Permission>, roles: &BTreeSet<Permission>) -> BTreeSet<Permission> {
    direct.union(roles).copied().collect()
}

fn keys(ps: &BTreeSet<Permission>) -> Vec<&'static str> {
    ps.iter().map(|p| p.key()).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            super::rfc3339(1_796_655_600_123_456),
            "2026-12-07T15:00:00.123Z"
        );
    }
}
