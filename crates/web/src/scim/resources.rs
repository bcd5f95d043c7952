//! Users and groups as SCIM resources (RFC 7643): Rollcall's people and groups rendered as
//! JSON, and JSON read back into what the provider wants. Attribute names are read without
//! regard to case; attributes Rollcall does not keep (title, addresses, …) are ignored, as
//! RFC 7643 lets a service provider do; read-only ones (id, meta, groups) are never written.

use rollcall_app::provisioning::groups::{GroupState, ScimGroup};
use rollcall_app::provisioning::{ScimUser, UserState};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::errors::ScimError;
use super::filter::member;

pub const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const CORE_GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const ROLLCALL_USER: &str = "urn:ietf:params:scim:schemas:extension:rollcall:2.0:User";
/// The extensions of the User resource.
pub const EXTENSIONS: [&str; 2] = [ENTERPRISE, ROLLCALL_USER];
pub const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";

fn time(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The weak entity tag a resource's version is shown as (`meta.version`, `ETag`).
pub fn etag(version: &str) -> String {
    format!("W/\"{version}\"")
}

/// The version an `If-Match` names (`None`: absent or `*`).
pub fn if_match(headers: &axum::http::HeaderMap) -> Option<String> {
    version_of(headers.get(axum::http::header::IF_MATCH)?.to_str().ok()?)
}

/// The version an entity tag names, as `If-Match` or a bulk operation's `version` gives it
/// (`W/"…"`, `"…"` or bare; `None` for `*`, which any version matches).
pub fn version_of(tag: &str) -> Option<String> {
    let v = tag.trim();
    if v == "*" {
        return None;
    }
    Some(v.trim_start_matches("W/").trim_matches('"').to_string())
}

pub fn user_json(u: &ScimUser, base: &str) -> Value {
    let mut out = json!({
        "schemas": [CORE_USER, ENTERPRISE, ROLLCALL_USER],
        "id": u.id,
        "userName": u.user_name,
        "name": {"givenName": u.first_name, "familyName": u.last_name},
        "displayName": u.display_name,
        "emails": [{"value": u.email, "type": "work", "primary": true}],
        "active": u.active(),
        "meta": {
            "resourceType": "User",
            "created": time(u.created_at),
            "lastModified": time(u.last_modified),
            "location": format!("{base}/Users/{}", u.id),
            "version": etag(&u.version()),
        },
    });
    let o = out.as_object_mut().expect("an object");
    if let Some(e) = &u.external_id {
        o.insert("externalId".into(), json!(e));
    }
    if let Some(m) = &u.mobile {
        o.insert(
            "phoneNumbers".into(),
            json!([{"value": m, "type": "mobile"}]),
        );
    }
    if !u.groups.is_empty() {
        let groups: Vec<Value> = u
            .groups
            .iter()
            .map(|(id, name)| json!({"value": id, "display": name, "$ref": format!("{base}/Groups/{id}"), "type": "direct"}))
            .collect();
        o.insert("groups".into(), Value::Array(groups));
    }
    let mut enterprise = Map::new();
    if let Some(n) = &u.employee_number {
        enterprise.insert("employeeNumber".into(), json!(n));
    }
    if let Some(d) = &u.department {
        enterprise.insert("department".into(), json!(d));
    }
    if let Some(m) = u.manager_id {
        enterprise.insert(
            "manager".into(),
            json!({"value": m, "$ref": format!("{base}/Users/{m}")}),
        );
    }
    if !enterprise.is_empty() {
        o.insert(ENTERPRISE.into(), Value::Object(enterprise));
    }
    let mut rollcall = Map::new();
    if let Some(t) = &u.user_type {
        rollcall.insert("userType".into(), json!(t));
    }
    if let Some(l) = &u.default_location {
        rollcall.insert("defaultLocation".into(), json!(l));
    }
    if let Some(n) = &u.npi {
        rollcall.insert("npi".into(), json!(n));
    }
    if let Some(at) = u.leaving_at {
        rollcall.insert("leavingDate".into(), json!(time(at)));
    }
    o.insert(ROLLCALL_USER.into(), Value::Object(rollcall));
    out
}

pub fn group_json(g: &ScimGroup, base: &str) -> Value {
    let members: Vec<Value> = g
        .members
        .iter()
        .map(|(id, _)| json!({"value": id, "$ref": format!("{base}/Users/{id}"), "type": "User"}))
        .collect();
    let mut out = json!({
        "schemas": [CORE_GROUP],
        "id": g.id,
        "displayName": g.display_name,
        "members": members,
        "meta": {
            "resourceType": "Group",
            "created": time(g.created_at),
            "lastModified": time(g.last_modified),
            "location": format!("{base}/Groups/{}", g.id),
            "version": etag(&g.version()),
        },
    });
    if let Some(e) = &g.external_id {
        out["externalId"] = json!(e);
    }
    out
}

/// A PUT body laid over the resource as it is: the attributes sent replace theirs (null clears
/// one), those omitted stay, so a provider that maps no NPI never clears it. Extension objects
/// are laid over attribute by attribute.
pub fn overlay(current: Value, body: &Value) -> Result<Value, ScimError> {
    let body = object(body, "The body")?;
    let mut out = current;
    let target = out.as_object_mut().expect("a resource is an object");
    for (key, value) in body.as_object().expect("checked above") {
        let existing = target.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned();
        let is_extension = EXTENSIONS.iter().any(|u| u.eq_ignore_ascii_case(key));
        match (existing, value) {
            (Some(k), Value::Object(inner)) if is_extension => {
                if let Some(Value::Object(have)) = target.get_mut(&k) {
                    for (ik, iv) in inner {
                        let ik = have
                            .keys()
                            .find(|h| h.eq_ignore_ascii_case(ik))
                            .cloned()
                            .unwrap_or_else(|| ik.clone());
                        have.insert(ik, iv.clone());
                    }
                }
            }
            (Some(k), v) => {
                target.insert(k, v.clone());
            }
            (None, v) => {
                target.insert(key.clone(), v.clone());
            }
        }
    }
    Ok(out)
}

/// A string attribute: absent or null is `None`; anything but a string is refused.
fn text(obj: &Value, key: &str, label: &str) -> Result<Option<String>, ScimError> {
    match member(obj, key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ScimError::invalid_value(format!(
            "{label} must be a string, not {other}."
        ))),
    }
}

/// A boolean, also as the strings "true"/"false" in any case (Entra sends "False").
pub fn boolean(v: &Value, label: &str) -> Result<bool, ScimError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(ScimError::invalid_value(format!(
            "{label} must be true or false, not {other}."
        ))),
    }
}

fn object<'a>(v: &'a Value, label: &str) -> Result<&'a Value, ScimError> {
    if v.is_object() {
        Ok(v)
    } else {
        Err(ScimError::invalid_syntax(format!(
            "{label} must be a JSON object."
        )))
    }
}

/// The values of a multi-valued attribute (`emails`, `phoneNumbers`), the primary one first.
fn multi(obj: &Value, key: &str) -> Result<Vec<(String, Option<String>)>, ScimError> {
    let items = match member(obj, key) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a.clone(),
        Some(v @ Value::Object(_)) => vec![v.clone()],
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "{key} must be a list of {{\"value\": …, \"type\": …}}, not {other}."
            )));
        }
    };
    let mut out = Vec::new();
    for item in &items {
        let Some(value) = text(item, "value", &format!("{key}.value"))? else {
            continue;
        };
        let primary = member(item, "primary")
            .map(|p| boolean(p, &format!("{key}.primary")))
            .transpose()?;
        let kind = text(item, "type", &format!("{key}.type"))?;
        if primary == Some(true) {
            out.insert(0, (value, kind));
        } else {
            out.push((value, kind));
        }
    }
    Ok(out)
}

/// What a user resource asks for.
pub fn user_state(body: &Value) -> Result<UserState, ScimError> {
    let body = object(body, "A User")?;
    let name = member(body, "name").filter(|n| !n.is_null());
    if let Some(n) = name {
        object(n, "name")?;
    }
    let given = name
        .map(|n| text(n, "givenName", "name.givenName"))
        .transpose()?
        .flatten();
    let family = name
        .map(|n| text(n, "familyName", "name.familyName"))
        .transpose()?
        .flatten();
    let formatted = name
        .map(|n| text(n, "formatted", "name.formatted"))
        .transpose()?
        .flatten();
    let (first_name, last_name) = match (given, family, formatted) {
        (None, None, Some(f)) => match f.trim().rsplit_once(' ') {
            Some((a, b)) => (a.trim().to_string(), b.trim().to_string()),
            None => (f.trim().to_string(), String::new()),
        },
        (g, f, _) => (g.unwrap_or_default(), f.unwrap_or_default()),
    };
    let phones = multi(body, "phoneNumbers")?;
    let mobile = phones
        .iter()
        .find(|(_, t)| {
            t.as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case("mobile"))
        })
        .or(phones.first())
        .map(|(v, _)| v.clone());
    let mut emails = multi(body, "emails")?;
    // The work address after the primary one: the one an organization's invitation goes to.
    emails.sort_by_key(|(_, t)| !t.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("work")));
    let active = match member(body, "active") {
        None | Some(Value::Null) => true,
        Some(v) => boolean(v, "active")?,
    };
    let enterprise = member(body, ENTERPRISE).filter(|e| !e.is_null());
    let manager = match enterprise.and_then(|e| member(e, "manager")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(m @ Value::Object(_)) => text(m, "value", "manager.value")?.filter(|s| !s.is_empty()),
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "manager must be {{\"value\": \"<user id>\"}}, not {other}."
            )));
        }
    };
    let manager_id = manager
        .map(|m| {
            Uuid::parse_str(m.trim()).map_err(|_| {
                ScimError::invalid_value(format!(
                    "manager.value “{m}” is not the id of a user of this organization."
                ))
            })
        })
        .transpose()?;
    let ext = |key: &str| -> Result<Option<String>, ScimError> {
        match enterprise {
            Some(e) => text(e, key, key),
            None => Ok(None),
        }
    };
    let rollcall = member(body, ROLLCALL_USER).filter(|e| !e.is_null());
    let own = |key: &str| -> Result<Option<String>, ScimError> {
        match rollcall {
            Some(e) => text(e, key, key),
            None => Ok(None),
        }
    };
    Ok(UserState {
        user_name: text(body, "userName", "userName")?.unwrap_or_default(),
        emails: emails.into_iter().map(|(v, _)| v).collect(),
        first_name,
        last_name,
        display_name: text(body, "displayName", "displayName")?,
        mobile,
        user_type: own("userType")?,
        default_location: own("defaultLocation")?,
        npi: own("npi")?,
        active,
        external_id: text(body, "externalId", "externalId")?,
        employee_number: ext("employeeNumber")?,
        department: ext("department")?,
        manager_id,
        leaving_date: own("leavingDate")?,
    })
}

/// What a group resource asks for.
pub fn group_state(body: &Value) -> Result<GroupState, ScimError> {
    let body = object(body, "A Group")?;
    let mut members = std::collections::BTreeSet::new();
    match member(body, "members") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for m in items {
                let id = text(m, "value", "members.value")?.unwrap_or_default();
                members.insert(Uuid::parse_str(id.trim()).map_err(|_| {
                    ScimError::invalid_value(format!(
                        "members.value “{id}” is not the id of a user of this organization."
                    ))
                })?);
            }
        }
        Some(other) => {
            return Err(ScimError::invalid_value(format!(
                "members must be a list of {{\"value\": \"<user id>\"}}, not {other}."
            )));
        }
    }
    Ok(GroupState {
        display_name: text(body, "displayName", "displayName")?.unwrap_or_default(),
        external_id: text(body, "externalId", "externalId")?,
        members,
    })
}
