//! Lists (RFC 7644 §3.4.2): filter, sort, page by 1-based position, and keep or drop attributes;
//! the same whether asked by query (`GET`) or body (`POST /.search`).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::errors::ScimError;
use super::filter::{self, AttrPath, Filter, member};
use super::resources::LIST;

/// Largest page, and the page size when `count` is absent (RFC 7644 §3.4.2.4: `maxResults`).
pub const MAX_COUNT: usize = 1000;

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub start_index: usize,
    pub count: usize,
    pub sort_by: Option<AttrPath>,
    pub descending: bool,
    pub attributes: Vec<AttrPath>,
    pub excluded: Vec<AttrPath>,
}

fn number(name: &str, text: &str) -> Result<i64, ScimError> {
    text.trim().parse::<i64>().map_err(|_| {
        ScimError::invalid_value(format!("{name} must be a whole number, not “{text}”."))
    })
}

fn paths(name: &str, text: &str) -> Result<Vec<AttrPath>, ScimError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| AttrPath::parse(s).map_err(|m| ScimError::invalid_value(format!("{name}: {m}"))))
        .collect()
}

impl ListQuery {
    /// From a query string's parameters (names read without regard to case).
    pub fn from_params(params: &HashMap<String, String>) -> Result<ListQuery, ScimError> {
        let get = |k: &str| {
            params
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
        };
        const KNOWN: [&str; 7] = [
            "filter",
            "startIndex",
            "count",
            "sortBy",
            "sortOrder",
            "attributes",
            "excludedAttributes",
        ];
        if let Some(unknown) = params
            .keys()
            .find(|k| !KNOWN.iter().any(|n| n.eq_ignore_ascii_case(k)))
        {
            return Err(ScimError::invalid_value(format!(
                "“{unknown}” is not a list parameter: use {}.",
                KNOWN.join(", ")
            )));
        }
        Self::build(
            get("filter"),
            get("startIndex")
                .map(|s| number("startIndex", &s))
                .transpose()?,
            get("count").map(|s| number("count", &s)).transpose()?,
            get("sortBy"),
            get("sortOrder"),
            get("attributes"),
            get("excludedAttributes"),
        )
    }

    /// From a `/.search` body.
    pub fn from_body(body: &Value) -> Result<ListQuery, ScimError> {
        if !body.is_object() {
            return Err(ScimError::invalid_syntax(
                "A search request is a JSON object (SearchRequest).",
            ));
        }
        let text = |k: &str| -> Result<Option<String>, ScimError> {
            match member(body, k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                // attributes as a list of names, as RFC 7644 §3.4.3 writes them.
                Some(Value::Array(a)) => Ok(Some(
                    a.iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                )),
                Some(other) => Err(ScimError::invalid_value(format!(
                    "{k} must be a string, not {other}."
                ))),
            }
        };
        let int = |k: &str| -> Result<Option<i64>, ScimError> {
            match member(body, k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
                    ScimError::invalid_value(format!("{k} must be a whole number."))
                }),
                Some(Value::String(s)) => number(k, s).map(Some),
                Some(other) => Err(ScimError::invalid_value(format!(
                    "{k} must be a whole number, not {other}."
                ))),
            }
        };
        Self::build(
            text("filter")?,
            int("startIndex")?,
            int("count")?,
            text("sortBy")?,
            text("sortOrder")?,
            text("attributes")?,
            text("excludedAttributes")?,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        filter: Option<String>,
        start_index: Option<i64>,
        count: Option<i64>,
        sort_by: Option<String>,
        sort_order: Option<String>,
        attributes: Option<String>,
        excluded: Option<String>,
    ) -> Result<ListQuery, ScimError> {
        let descending = match sort_order
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("ascending") => false,
            Some("descending") => true,
            Some(_) => {
                return Err(ScimError::invalid_value(
                    "sortOrder is ascending or descending.",
                ));
            }
        };
        Ok(ListQuery {
            filter: filter
                .filter(|f| !f.trim().is_empty())
                .map(|f| filter::parse(&f))
                .transpose()?,
            // Below 1 is read as 1, and a negative count as 0 (RFC 7644 §3.4.2.4).
            start_index: start_index.unwrap_or(1).max(1) as usize,
            count: count.map_or(MAX_COUNT, |c| c.clamp(0, MAX_COUNT as i64) as usize),
            sort_by: sort_by
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    AttrPath::parse(s.trim())
                        .map_err(|m| ScimError::invalid_value(format!("sortBy: {m}")))
                })
                .transpose()?,
            descending,
            attributes: attributes
                .map(|a| paths("attributes", &a))
                .transpose()?
                .unwrap_or_default(),
            excluded: excluded
                .map(|a| paths("excludedAttributes", &a))
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// The filter's value when it is exactly `<name> eq "value"` (an indexed lookup).
    pub fn equality_on(&self, name: &str) -> Option<String> {
        match &self.filter {
            Some(Filter::Compare(p, filter::CompareOp::Eq, Value::String(v)))
                if p.urn.is_none() && p.sub.is_none() && p.name.eq_ignore_ascii_case(name) =>
            {
                Some(v.clone())
            }
            _ => None,
        }
    }
}

/// Filters, sorts, pages and projects resources (already in their stable order).
pub fn respond(resources: Vec<Value>, q: &ListQuery) -> Value {
    let mut kept: Vec<Value> = match &q.filter {
        Some(f) => resources
            .into_iter()
            .filter(|r| filter::matches(r, f))
            .collect(),
        None => resources,
    };
    if let Some(by) = &q.sort_by {
        // Stable: equal keys keep their order; resources without the attribute come last.
        kept.sort_by(|a, b| {
            let (ka, kb) = (sort_key(a, by), sort_key(b, by));
            match (ka, kb) {
                (Some(x), Some(y)) => {
                    if q.descending {
                        y.cmp(&x)
                    } else {
                        x.cmp(&y)
                    }
                }
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            }
        });
    }
    let total = kept.len();
    let page: Vec<Value> = kept
        .into_iter()
        .skip(q.start_index - 1)
        .take(q.count)
        .map(|r| project(r, q))
        .collect();
    json!({
        "schemas": [LIST],
        "totalResults": total,
        "startIndex": q.start_index,
        "itemsPerPage": page.len(),
        "Resources": page,
    })
}

fn sort_key(r: &Value, by: &AttrPath) -> Option<String> {
    filter::values(r, by).into_iter().find_map(|v| match v {
        Value::String(s) => Some(s.to_lowercase()),
        Value::Null => None,
        other => Some(other.to_string()),
    })
}

/// Keeps only `attributes` (with `id` and `schemas`, always returned), or drops
/// `excludedAttributes`.
pub fn project(resource: Value, q: &ListQuery) -> Value {
    if !q.attributes.is_empty() {
        let mut out = Map::new();
        for always in ["schemas", "id"] {
            if let Some(v) = resource.get(always) {
                out.insert(always.into(), v.clone());
            }
        }
        for p in &q.attributes {
            copy(&resource, &mut out, p);
        }
        return Value::Object(out);
    }
    let mut out = resource;
    for p in &q.excluded {
        if p.urn.is_none()
            && p.sub.is_none()
            && (p.name.eq_ignore_ascii_case("id") || p.name.eq_ignore_ascii_case("schemas"))
        {
            continue;
        }
        drop_path(&mut out, p);
    }
    out
}

fn key_in(obj: &Map<String, Value>, name: &str) -> Option<String> {
    obj.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn copy(from: &Value, to: &mut Map<String, Value>, p: &AttrPath) {
    let (Some(src), dst) = (
        match &p.urn {
            Some(u) => member(from, u),
            None => Some(from),
        },
        match &p.urn {
            Some(u) => {
                let key = from
                    .as_object()
                    .and_then(|o| key_in(o, u))
                    .unwrap_or_else(|| u.clone());
                to.entry(key)
                    .or_insert_with(|| Value::Object(Map::new()))
                    .as_object_mut()
            }
            None => Some(&mut *to),
        },
    ) else {
        return;
    };
    let Some(dst) = dst else { return };
    let Some(key) = src.as_object().and_then(|o| key_in(o, &p.name)) else {
        return;
    };
    let value = &src[&key];
    match &p.sub {
        None => {
            dst.insert(key, value.clone());
        }
        Some(sub) => match value {
            Value::Object(o) => {
                if let Some(sk) = key_in(o, sub) {
                    let entry = dst.entry(key).or_insert_with(|| Value::Object(Map::new()));
                    if let Some(e) = entry.as_object_mut() {
                        e.insert(sk.clone(), o[&sk].clone());
                    }
                }
            }
            Value::Array(items) => {
                let picked: Vec<Value> = items
                    .iter()
                    .filter_map(|i| {
                        let o = i.as_object()?;
                        let sk = key_in(o, sub)?;
                        Some(json!({ sk.clone(): o[&sk].clone() }))
                    })
                    .collect();
                dst.insert(key, Value::Array(picked));
            }
            _ => {}
        },
    }
}

fn drop_path(resource: &mut Value, p: &AttrPath) {
    let holder = match &p.urn {
        Some(u) => {
            let Some(key) = resource.as_object().and_then(|o| key_in(o, u)) else {
                return;
            };
            &mut resource[&key]
        }
        None => resource,
    };
    let Some(obj) = holder.as_object_mut() else {
        return;
    };
    let Some(key) = key_in(obj, &p.name) else {
        return;
    };
    match &p.sub {
        None => {
            obj.remove(&key);
        }
        Some(sub) => match obj.get_mut(&key) {
            Some(Value::Object(o)) => {
                if let Some(sk) = key_in(o, sub) {
                    o.remove(&sk);
                }
            }
            Some(Value::Array(items)) => {
                for i in items.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(sk) = key_in(i, sub) {
                        i.remove(&sk);
                    }
                }
            }
            _ => {}
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(params: &[(&str, &str)]) -> ListQuery {
        ListQuery::from_params(
            &params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap()
    }

    fn people() -> Vec<Value> {
        ["Cy", "al", "Bo"]
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"schemas": ["s"], "id": i.to_string(), "userName": n, "name": {"givenName": n, "familyName": "X"}}))
            .collect()
    }

    #[test]
    fn pages_by_one_based_position_and_sorts_stably() {
        let out = respond(people(), &q(&[("startIndex", "2"), ("count", "1")]));
        assert_eq!(out["totalResults"], 3);
        assert_eq!(out["Resources"][0]["userName"], "al");
        let out = respond(
            people(),
            &q(&[("sortBy", "userName"), ("sortOrder", "descending")]),
        );
        let names: Vec<&str> = out["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["userName"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Cy", "Bo", "al"]);
        let out = respond(people(), &q(&[("startIndex", "0"), ("count", "-4")]));
        assert_eq!(out["startIndex"], 1);
        assert_eq!(out["itemsPerPage"], 0);
    }

    #[test]
    fn keeps_or_drops_attributes() {
        let out = respond(people(), &q(&[("attributes", "name.givenName")]));
        assert_eq!(
            out["Resources"][0],
            json!({"schemas": ["s"], "id": "0", "name": {"givenName": "Cy"}})
        );
        let out = respond(people(), &q(&[("excludedAttributes", "name,id")]));
        assert_eq!(
            out["Resources"][0],
            json!({"schemas": ["s"], "id": "0", "userName": "Cy"})
        );
    }

    #[test]
    fn unknown_parameters_and_bad_numbers_are_refused() {
        let p = |k: &str, v: &str| {
            ListQuery::from_params(&[(k.to_string(), v.to_string())].into()).unwrap_err()
        };
        assert!(p("filtr", "x").detail.contains("filter"));
        assert_eq!(p("count", "ten").scim_type, Some("invalidValue"));
        assert_eq!(p("filter", "userName eq").scim_type, Some("invalidFilter"));
    }
}
