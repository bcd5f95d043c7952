//! One way every request names a location or a role: by id, or by a location's code or name or
//! a role's name (case-insensitive). An unknown one is refused with the valid ones, never
//! ignored.

use rollcall_domain::ValueError;
use rollcall_store::locations::Location;
use rollcall_store::roles::Role;
use uuid::Uuid;

/// The location `text` names among `all`.
pub(crate) fn location<'a>(all: &'a [Location], text: &str) -> Option<&'a Location> {
    let text = text.trim();
    all.iter().find(|l| {
        is_id(l.id, text) || l.code.eq_ignore_ascii_case(text) || l.name.eq_ignore_ascii_case(text)
    })
}

/// The role `text` names among `all`.
pub(crate) fn role<'a>(all: &'a [Role], text: &str) -> Option<&'a Role> {
    let text = text.trim();
    all.iter()
        .find(|r| is_id(r.id, text) || r.name.eq_ignore_ascii_case(text))
}

fn is_id(id: Uuid, text: &str) -> bool {
    Uuid::parse_str(text).is_ok_and(|t| t == id)
}

/// The location's id, or a refusal of `field` listing the codes.
pub(crate) fn location_id(
    all: &[Location],
    field: &'static str,
    code: &'static str,
    text: &str,
) -> Result<Uuid, ValueError> {
    location(all, text).map(|l| l.id).ok_or_else(|| {
        let codes: Vec<&str> = all.iter().map(|l| l.code.as_str()).collect();
        unknown(field, code, "location", text, &codes)
    })
}

/// The role's id, or a refusal of `field` listing the names.
pub(crate) fn role_id(
    all: &[Role],
    field: &'static str,
    code: &'static str,
    text: &str,
) -> Result<Uuid, ValueError> {
    role(all, text).map(|r| r.id).ok_or_else(|| {
        let names: Vec<&str> = all.iter().map(|r| r.name.as_str()).collect();
        unknown(field, code, "role", text, &names)
    })
}

/// "This organization has no location “X”. Use one of: …" (the first 20).
pub(crate) fn unknown(
    field: &'static str,
    code: &'static str,
    what: &str,
    value: &str,
    valid: &[&str],
) -> ValueError {
    let shown = valid
        .iter()
        .take(20)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    let more = if valid.len() > 20 { ", …" } else { "" };
    let value: String = value.trim().chars().take(80).collect();
    ValueError::new(
        field,
        code,
        format!("This organization has no {what} “{value}”. Use one of: {shown}{more}."),
    )
}
