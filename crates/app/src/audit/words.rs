//! Audit events in the organization's words: people, locations and roles by name, user types
//! and permissions by label, moments in the organization's zone. The stored event keeps its ids
//! and codes (the exports carry them for a technical reader); the console shows this.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_domain::{Permission, UserStatus};
use serde_json::Value;
use uuid::Uuid;

use super::AuditEntry;
use crate::clock::local;
use crate::{App, AppError, Principal};

/// What the ids and codes in a page of events stand for, read once for the page.
pub struct Glossary {
    names: BTreeMap<Uuid, String>,
    user_types: BTreeMap<String, String>,
    zone: String,
}

/// The names the events of `entries` need.
pub async fn glossary(
    app: &App,
    who: &Principal,
    entries: &[AuditEntry],
) -> Result<Glossary, AppError> {
    let mut ids = BTreeSet::new();
    for e in entries {
        ids.extend(e.target_id);
        ids.extend(e.actor_id);
        for v in e.before.iter().chain(e.after.iter()) {
            ids_in(v, &mut ids);
        }
    }
    let mut conn = app.db.read_conn().await?;
    let ids: Vec<Uuid> = ids.into_iter().collect();
    let mut names = rollcall_store::users::display_names(&mut conn, who.org_id, &ids).await?;
    for l in rollcall_store::locations::list(&mut conn, who.org_id).await? {
        names.insert(l.id, l.name);
    }
    for r in rollcall_store::roles::list(&mut conn, who.org_id).await? {
        names.insert(r.id, r.name);
    }
    for (id, kind, created) in rollcall_store::jobs::kinds_of(&mut conn, who.org_id, &ids).await? {
        let when = local(created, &who.time_zone);
        names.insert(id, format!("{} of {when}", kind.label()));
    }
    let policy = crate::access::policy_of(&mut conn, who.org_id).await?;
    Ok(Glossary {
        names,
        user_types: policy
            .user_types
            .iter()
            .map(|t| (t.code.clone(), t.label.clone()))
            .collect(),
        zone: who.time_zone.clone(),
    })
}

fn ids_in(v: &Value, out: &mut BTreeSet<Uuid>) {
    match v {
        Value::String(s) => out.extend(Uuid::parse_str(s).ok()),
        Value::Array(items) => items.iter().for_each(|i| ids_in(i, out)),
        Value::Object(fields) => fields.values().for_each(|i| ids_in(i, out)),
        _ => {}
    }
}

impl Glossary {
    /// A moment in the organization's zone.
    pub fn when(&self, micros: i64) -> String {
        local(micros, &self.zone)
    }

    /// The action in words (see `action_label`).
    pub fn action(&self, action: &str) -> String {
        action_label(action)
    }

    /// What the event is about, by name: "Kim Lee", "role Front Desk", or its kind alone.
    pub fn target(&self, e: &AuditEntry) -> String {
        let kind = words(&e.target_type);
        match e.target_id.and_then(|id| self.names.get(&id)) {
            Some(name) if matches!(e.target_type.as_str(), "user" | "job") => capitalised(name),
            Some(name) => format!("{kind} {name}"),
            None => kind,
        }
    }

    /// The change, one line a field: "Status: pending → active".
    pub fn change(&self, e: &AuditEntry) -> Vec<String> {
        match (&e.before, &e.after) {
            (None, None) => Vec::new(),
            (Some(Value::Object(b)), Some(Value::Object(a))) => {
                let keys: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
                let lines: Vec<String> = keys
                    .into_iter()
                    .filter(|k| b.get(*k) != a.get(*k))
                    .map(|k| {
                        let was = b.get(k).map(|v| self.value(k, v));
                        let now = a.get(k).map(|v| self.value(k, v));
                        format!(
                            "{}: {} → {}",
                            capitalised(&words(k)),
                            was.unwrap_or_else(|| "—".into()),
                            now.unwrap_or_else(|| "—".into())
                        )
                    })
                    .collect();
                if lines.is_empty() {
                    vec!["No change".into()]
                } else {
                    lines
                }
            }
            (None, Some(a)) => self.lines(a),
            (Some(b), None) => self
                .lines(b)
                .into_iter()
                .map(|l| format!("Was {l}"))
                .collect(),
            (Some(b @ Value::Object(_)), Some(a)) | (Some(b), Some(a @ Value::Object(_))) => {
                let mut lines: Vec<String> = self
                    .lines(b)
                    .into_iter()
                    .map(|l| format!("Was {l}"))
                    .collect();
                lines.extend(self.lines(a));
                lines
            }
            (Some(b), Some(a)) => vec![format!("{} → {}", self.value("", b), self.value("", a))],
        }
    }

    /// A recorded value as lines: an object a line a field, anything else on one line.
    fn lines(&self, v: &Value) -> Vec<String> {
        match v {
            Value::Object(fields) => fields
                .iter()
                .map(|(k, v)| format!("{}: {}", capitalised(&words(k)), self.value(k, v)))
                .collect(),
            other => vec![self.value("", other)],
        }
    }

    /// One value as a person reads it; `key` is the field it was recorded under.
    fn value(&self, key: &str, v: &Value) -> String {
        match v {
            Value::Null => "—".into(),
            Value::Bool(b) => if *b { "yes" } else { "no" }.into(),
            Value::Number(n) => match n.as_i64() {
                Some(micros) if is_moment(key, micros) => local(micros, &self.zone),
                _ => n.to_string(),
            },
            Value::String(s) => self.text(key, s),
            Value::Array(items) => items
                .iter()
                .map(|i| self.value(key, i))
                .collect::<Vec<_>>()
                .join(", "),
            Value::Object(fields) => fields
                .iter()
                .map(|(k, v)| format!("{}: {}", words(k), self.value(k, v)))
                .collect::<Vec<_>>()
                .join("; "),
        }
    }

    fn text(&self, key: &str, s: &str) -> String {
        if let Ok(id) = Uuid::parse_str(s) {
            return self
                .names
                .get(&id)
                .cloned()
                .unwrap_or_else(|| "a record no longer there".into());
        }
        if let Some(label) = self.user_types.get(s).filter(|_| key == "user_type") {
            return label.clone();
        }
        if let Ok(p) = Permission::parse(s) {
            return p.label().to_string();
        }
        if let Ok(status) = UserStatus::parse(s) {
            return status.label().to_string();
        }
        s.to_string()
    }
}

/// "user.access_changed" → "User: access changed"; a group ("user.") → "User: all".
pub fn action_label(action: &str) -> String {
    let (subject, what) = action.split_once('.').unwrap_or((action, ""));
    let subject = capitalised(&words(subject));
    match what {
        "" if action.ends_with('.') => format!("{subject}: all"),
        "" => subject,
        what => format!("{subject}: {}", words(what)),
    }
}

/// A number recorded as a moment: microseconds since 1970 under a time-like key, or large
/// enough to be one whatever the key.
fn is_moment(key: &str, n: i64) -> bool {
    let timed = key.ends_with("_at") || key.ends_with("_until") || key == "at";
    (timed && n > 0) || n > 100_000_000_000_000
}

fn words(code: &str) -> String {
    code.replace(['_', '.'], " ")
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glossary() -> Glossary {
        let kim = Uuid::from_u128(7);
        Glossary {
            names: BTreeMap::from([(kim, "Kim Lee".to_string())]),
            user_types: BTreeMap::from([("front_desk".to_string(), "Front desk".to_string())]),
            zone: "America/Chicago".into(),
        }
    }

    #[test]
    fn ids_codes_and_moments_are_shown_by_name() {
        let g = glossary();
        let kim = Uuid::from_u128(7).to_string();
        assert_eq!(g.value("manager", &Value::String(kim)), "Kim Lee");
        assert_eq!(
            g.value("user_type", &Value::String("front_desk".into())),
            "Front desk"
        );
        let moment = g.value("expires_at", &serde_json::json!(1_796_655_600_000_000i64));
        assert!(moment.starts_with("2026-12-"), "{moment}");
        assert_eq!(g.action("user.access_changed"), "User: access changed");
    }
}
