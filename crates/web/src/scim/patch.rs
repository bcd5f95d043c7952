//! PATCH (RFC 7644 §3.5.2) as real providers send it, applied to a resource's JSON; the result
//! is read back like a PUT body, so one reader decides what a change means.
//!
//! Accepted beyond the letter of the RFC: `op` in any case (Entra sends "Replace"); a path-less
//! `add`/`replace` whose value's keys are attribute paths, dotted (`name.givenName`) or
//! URN-prefixed (`urn:…:enterprise:2.0:User:department`); booleans as strings ("False", read
//! when the resource is); a `replace` on `emails[type eq "work"].value` when no such value is
//! there yet adds it; a `remove` of `members` with a value removes those members only.

use serde_json::{Map, Value};

use super::errors::ScimError;
use super::filter::{self, AttrPath, PatchPath, member};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Remove,
    Replace,
}

/// Attributes a provider can never write.
const READ_ONLY: [&str; 4] = ["id", "meta", "groups", "schemas"];

/// Attributes every person (or group) has in Rollcall: they can be changed, never removed.
const REQUIRED: [(Option<&str>, &str); 7] = [
    (None, "userName"),
    (None, "name"),
    (None, "displayName"),
    (None, "active"),
    (None, "emails"),
    (None, super::resources::ROLLCALL_USER),
    (Some(super::resources::ROLLCALL_USER), "defaultLocation"),
];

/// The operations of a PatchOp request, each checked.
/// One operation: what, where (a path, or none) and the value.
type Operation = (Op, Option<String>, Option<Value>);

fn operations(body: &Value) -> Result<Vec<Operation>, ScimError> {
    let ops = member(body, "Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ScimError::invalid_syntax(
                "A PATCH body is {\"schemas\": [\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"], \"Operations\": [{\"op\": \"replace\", \"path\": …, \"value\": …}]}: it has no Operations list.",
            )
        })?;
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax(
            "Operations is empty: give at least one operation.",
        ));
    }
    ops.iter()
        .map(|o| {
            let op = match member(o, "op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") => Op::Add,
                Some("remove") => Op::Remove,
                Some("replace") => Op::Replace,
                _ => {
                    return Err(ScimError::invalid_syntax(format!(
                        "{o} has no valid op: use add, remove or replace."
                    )));
                }
            };
            let path = match member(o, "path") {
                None | Some(Value::Null) => None,
                Some(Value::String(p)) if p.trim().is_empty() => None,
                Some(Value::String(p)) => Some(p.clone()),
                Some(other) => {
                    return Err(ScimError::invalid_path(format!(
                        "path must be a string, not {other}."
                    )));
                }
            };
            let value = member(o, "value").cloned();
            if op != Op::Remove && value.is_none() {
                return Err(ScimError::invalid_syntax(
                    format!("The {op:?} operation needs a value.").to_lowercase(),
                ));
            }
            if op == Op::Remove && path.is_none() {
                return Err(ScimError::no_target(
                    "A remove operation needs a path naming what to remove.",
                ));
            }
            Ok((op, path, value))
        })
        .collect()
}

/// Applies a PatchOp body to a resource.
pub fn apply(resource: &Value, body: &Value) -> Result<Value, ScimError> {
    let mut out = resource.clone();
    for (op, path, value) in operations(body)? {
        match path {
            Some(p) => apply_at(&mut out, op, &filter::parse_path(&p)?, value)?,
            None => {
                let Some(Value::Object(map)) = value else {
                    return Err(ScimError::invalid_syntax(
                        "An operation without a path takes an object of attributes as its value.",
                    ));
                };
                for (key, v) in map {
                    apply_key(&mut out, op, &key, v)?;
                }
            }
        }
    }
    Ok(out)
}

/// One key of a path-less operation: a schema URN with an object of that schema's attributes,
/// or an attribute path.
fn apply_key(resource: &mut Value, op: Op, key: &str, v: Value) -> Result<(), ScimError> {
    let is_schema_urn = key.to_ascii_lowercase().starts_with("urn:")
        && [
            super::resources::ENTERPRISE,
            super::resources::ROLLCALL_USER,
            super::resources::CORE_USER,
            super::resources::CORE_GROUP,
        ]
        .iter()
        .any(|u| u.eq_ignore_ascii_case(key));
    if is_schema_urn {
        let Value::Object(inner) = v else {
            return Err(ScimError::invalid_value(format!(
                "{key} takes an object of its attributes."
            )));
        };
        for (k, iv) in inner {
            apply_key(resource, op, &format!("{key}:{k}"), iv)?;
        }
        return Ok(());
    }
    apply_at(resource, op, &filter::parse_path(key)?, Some(v))
}

fn apply_at(
    resource: &mut Value,
    op: Op,
    path: &PatchPath,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let attr = &path.attr;
    if attr.urn.is_none() && READ_ONLY.iter().any(|r| r.eq_ignore_ascii_case(&attr.name)) {
        return Err(ScimError::mutability(format!(
            "{} is read-only: the server sets it.",
            attr.name
        )));
    }
    let required = REQUIRED.iter().any(|(urn, name)| {
        urn.map(str::to_ascii_lowercase) == attr.urn.as_deref().map(str::to_ascii_lowercase)
            && name.eq_ignore_ascii_case(&attr.name)
    });
    if op == Op::Remove && required && attr.sub.is_none() && path.filter.is_none() {
        return Err(ScimError::mutability(format!(
            "{} cannot be removed: Rollcall keeps it for everyone. Replace it instead.",
            attr.dotted()
        )));
    }
    let holder = holder(resource, attr, op != Op::Remove)?;
    let Some(holder) = holder else { return Ok(()) };
    let key = existing_key(holder, &attr.name);
    match (&path.filter, &attr.sub) {
        (None, None) => whole(holder, &key, op, value),
        (None, Some(sub)) => {
            let target = holder
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
            match target {
                Value::Array(items) => {
                    for item in items.iter_mut().filter(|i| i.is_object()) {
                        set_sub(
                            item.as_object_mut().expect("an object"),
                            sub,
                            op,
                            value.clone(),
                        );
                    }
                }
                Value::Object(obj) => set_sub(obj, sub, op, value),
                _ => {
                    *target = Value::Object(Map::new());
                    set_sub(target.as_object_mut().expect("an object"), sub, op, value);
                }
            }
            Ok(())
        }
        (Some(f), _) => filtered(holder, &key, f, path.sub.as_deref(), op, value),
    }
}

/// The object an attribute lives in: the resource, or its extension's object (made when a
/// value is written).
fn holder<'a>(
    resource: &'a mut Value,
    attr: &AttrPath,
    create: bool,
) -> Result<Option<&'a mut Map<String, Value>>, ScimError> {
    let root = resource.as_object_mut().expect("a resource is an object");
    let Some(urn) = &attr.urn else {
        return Ok(Some(root));
    };
    let key = existing_key(root, urn);
    if !root.contains_key(&key) || root[&key].is_null() {
        if !create {
            return Ok(None);
        }
        root.insert(key.clone(), Value::Object(Map::new()));
    }
    match root.get_mut(&key) {
        Some(Value::Object(o)) => Ok(Some(o)),
        _ => Err(ScimError::invalid_path(format!(
            "{urn} is not an extension of this resource."
        ))),
    }
}

/// The key as the object spells it, or as given when it has none.
fn existing_key(obj: &Map<String, Value>, name: &str) -> String {
    obj.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

fn whole(
    holder: &mut Map<String, Value>,
    key: &str,
    op: Op,
    value: Option<Value>,
) -> Result<(), ScimError> {
    match op {
        Op::Replace => {
            holder.insert(key.to_string(), value.unwrap_or(Value::Null));
        }
        Op::Add => match (holder.get_mut(key), value.unwrap_or(Value::Null)) {
            (Some(Value::Array(items)), Value::Array(new)) => append(items, new),
            (Some(Value::Array(items)), v @ Value::Object(_)) => append(items, vec![v]),
            (Some(Value::Object(obj)), Value::Object(new)) => obj.extend(new),
            (_, v) => {
                holder.insert(key.to_string(), v);
            }
        },
        Op::Remove => match (holder.get_mut(key), value) {
            // Entra removes members by listing them as the value.
            (Some(Value::Array(items)), Some(Value::Array(gone))) => {
                let gone: Vec<String> = gone.iter().filter_map(value_of).collect();
                items.retain(|i| {
                    value_of(i).is_none_or(|v| !gone.iter().any(|g| g.eq_ignore_ascii_case(&v)))
                });
            }
            _ => {
                holder.remove(key);
            }
        },
    }
    Ok(())
}

/// A multi-valued item's `value` (or the item itself when it is a plain string).
fn value_of(item: &Value) -> Option<String> {
    match item {
        Value::String(s) => Some(s.clone()),
        v => member(v, "value")
            .and_then(Value::as_str)
            .map(str::to_string),
    }
}

/// Adds values to a multi-valued attribute, each once.
fn append(items: &mut Vec<Value>, new: Vec<Value>) {
    for v in new {
        let key = value_of(&v);
        let known = key.as_ref().is_some_and(|k| {
            items
                .iter()
                .any(|i| value_of(i).is_some_and(|x| x.eq_ignore_ascii_case(k)))
        });
        if !known {
            items.push(v);
        }
    }
}

fn set_sub(obj: &mut Map<String, Value>, sub: &str, op: Op, value: Option<Value>) {
    let key = existing_key(obj, sub);
    match op {
        Op::Remove => {
            obj.remove(&key);
        }
        _ => {
            obj.insert(key, value.unwrap_or(Value::Null));
        }
    }
}

/// An operation on the values of a multi-valued attribute a value filter selects.
fn filtered(
    holder: &mut Map<String, Value>,
    key: &str,
    f: &filter::Filter,
    sub: Option<&str>,
    op: Op,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let items = match holder
        .entry(key.to_string())
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        Value::Array(items) => items,
        _ => {
            return Err(ScimError::invalid_path(format!(
                "{key} is not multi-valued: a value filter cannot select in it."
            )));
        }
    };
    let selected: Vec<usize> = (0..items.len())
        .filter(|&i| filter::matches(&items[i], f))
        .collect();
    if selected.is_empty() {
        return match op {
            Op::Remove => Ok(()),
            // Nothing matches yet (Entra's first work address): the value is added, with what
            // the filter says it equals.
            _ => {
                let mut item = seed_of(f);
                match sub {
                    Some(s) => {
                        item.insert(s.to_string(), value.unwrap_or(Value::Null));
                    }
                    None => {
                        if let Some(Value::Object(v)) = value {
                            item.extend(v);
                        }
                    }
                }
                items.push(Value::Object(item));
                Ok(())
            }
        };
    }
    match (op, sub) {
        (Op::Remove, None) => {
            let mut i = 0;
            items.retain(|_| {
                let keep = !selected.contains(&i);
                i += 1;
                keep
            });
        }
        (_, Some(s)) => {
            for &i in &selected {
                if let Some(obj) = items[i].as_object_mut() {
                    set_sub(obj, s, op, value.clone());
                }
            }
        }
        (_, None) => {
            for &i in &selected {
                match (&mut items[i], value.clone()) {
                    (Value::Object(obj), Some(Value::Object(v))) if op == Op::Add => obj.extend(v),
                    (slot, Some(v)) => *slot = v,
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// The attributes an `eq` filter fixes (`type eq "work"` → `{"type": "work"}`).
fn seed_of(f: &filter::Filter) -> Map<String, Value> {
    let mut out = Map::new();
    match f {
        filter::Filter::Compare(p, filter::CompareOp::Eq, v)
            if p.sub.is_none() && p.urn.is_none() =>
        {
            out.insert(p.name.clone(), v.clone());
        }
        filter::Filter::And(a, b) => {
            out.extend(seed_of(a));
            out.extend(seed_of(b));
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

    fn user() -> Value {
        json!({
            "userName": "kim@clinic.example",
            "active": true,
            "name": {"givenName": "Kim", "familyName": "Lee"},
            "emails": [{"value": "kim@clinic.example", "type": "work", "primary": true}],
        })
    }

    fn ops(list: Value) -> Value {
        json!({"schemas": [PATCH_OP], "Operations": list})
    }

    #[test]
    fn okta_deactivates_without_a_path() {
        let out = apply(
            &user(),
            &ops(json!([{"op": "replace", "value": {"active": false}}])),
        )
        .unwrap();
        assert_eq!(out["active"], json!(false));
    }

    #[test]
    fn entra_sends_capitalised_ops_dotted_and_urn_keys() {
        let out = apply(
            &user(),
            &ops(json!([
                {"op": "Replace", "path": "active", "value": "False"},
                {"op": "Add", "value": {"name.givenName": "Kimberly", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department": "Front desk"}},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "kim@new.example"},
                {"op": "Add", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "+1 312 555 0142"},
            ])),
        )
        .unwrap();
        assert_eq!(out["active"], json!("False"));
        assert_eq!(out["name"]["givenName"], json!("Kimberly"));
        assert_eq!(
            out["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]["department"],
            json!("Front desk")
        );
        assert_eq!(out["emails"][0]["value"], json!("kim@new.example"));
        assert_eq!(
            out["phoneNumbers"],
            json!([{"type": "mobile", "value": "+1 312 555 0142"}])
        );
    }

    #[test]
    fn members_added_and_removed_in_one_request() {
        let group = json!({"displayName": "Nurses", "members": [{"value": "a"}, {"value": "b"}]});
        let out = apply(
            &group,
            &ops(json!([
                {"op": "add", "path": "members", "value": [{"value": "c"}, {"value": "d"}, {"value": "a"}]},
                {"op": "remove", "path": "members[value eq \"b\"]"},
                {"op": "Remove", "path": "members", "value": [{"value": "c"}]},
            ])),
        )
        .unwrap();
        assert_eq!(out["members"], json!([{"value": "a"}, {"value": "d"}]));
    }

    #[test]
    fn read_only_and_malformed_operations_are_refused() {
        let e = apply(
            &user(),
            &ops(json!([{"op": "replace", "path": "id", "value": "x"}])),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, Some("mutability"));
        let e = apply(&user(), &ops(json!([{"op": "move", "path": "active"}]))).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidSyntax"));
        let e = apply(&user(), &json!({"schemas": [PATCH_OP]})).unwrap_err();
        assert_eq!(e.scim_type, Some("invalidSyntax"));
        let e = apply(&user(), &ops(json!([{"op": "remove"}]))).unwrap_err();
        assert_eq!(e.scim_type, Some("noTarget"));
    }
}
