use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::column::{Column, TEMPLATE_EMAILS};
use super::reader::RawRow;
use super::{Issue, MAX_ROW_ISSUES, listing, quoted_list};
use crate::error::quoted;
use crate::user_type::{self, UserTypeDef};
use crate::{Email, LeavingDate, Mobile, Npi, Permission, TaxonomyCode, Username, permission};

const MAX_NAME_CHARS: usize = crate::name::MAX_CHARS;
/// How many catalogue entries a message lists before saying how many more there are.
const MAX_LISTED: usize = 25;

/// What a row is checked against: the organization's names.
#[derive(Debug, Clone, Default)]
pub struct Catalogue {
    pub user_types: Vec<UserTypeDef>,
    /// id, name, short code, active
    pub locations: Vec<(Uuid, String, String, bool)>,
    /// id, name
    pub roles: Vec<(Uuid, String)>,
    /// The organization's loaded taxonomy codes; when empty, no code is reported as unknown.
    pub taxonomy: BTreeSet<String>,
    /// Default region for national mobile numbers, e.g. Some("US").
    pub region: Option<String>,
    /// Now in the organization's zone: a leaving date before it is refused. `None` skips that
    /// check.
    pub now: Option<jiff::civil::DateTime>,
}

/// A row that can be imported (its warnings aside).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checked {
    pub email: Email,
    pub first_name: String,
    pub last_name: String,
    pub username: Option<Username>,
    pub mobile: Option<Mobile>,
    /// The canonical code of the organization's type.
    pub user_type: Option<String>,
    pub default_location: Option<Uuid>,
    /// Includes `default_location` when given.
    pub locations: BTreeSet<Uuid>,
    pub roles: BTreeSet<Uuid>,
    pub permissions: BTreeSet<Permission>,
    pub npi: Option<Npi>,
    pub taxonomy: Vec<TaxonomyCode>,
    /// When access ends, in the organization's zone.
    #[serde(default)]
    pub leaving: Option<LeavingDate>,
}

/// Checks one row alone. Returns the row's issues (errors and warnings, in column order) and,
/// when there is no error, the checked row. Every problem of the row is reported, not only
/// the first, so that the file needs one round of fixing.
pub fn check_row(row: &RawRow, cat: &Catalogue) -> (Option<Checked>, Vec<Issue>) {
    let mut issues = Vec::new();
    let first_name = name(cell(row, Column::FirstName), Column::FirstName, &mut issues);
    let last_name = name(cell(row, Column::LastName), Column::LastName, &mut issues);
    let email = email(cell(row, Column::Email), &mut issues);
    let optional = OptionalCells::check(row, cat, &mut issues);
    if let Some(t) = optional.user_type
        && !is_provider_type(t)
    {
        warn_provider_only_cells(row, t, &mut issues);
    }

    // Column order, as the review table shows them; whole-row issues first.
    issues.sort_by_key(|i| i.column.map(|c| c as usize + 1).unwrap_or(0));
    issues.truncate(MAX_ROW_ISSUES);
    let checked = match (first_name, last_name, email) {
        (Some(first_name), Some(last_name), Some(email)) if !issues.iter().any(Issue::is_error) => {
            Some(optional.into_checked(first_name, last_name, email))
        }
        _ => None,
    };
    (checked, issues)
}

/// The trimmed text of a cell, or `None` when the cell is absent or empty.
fn cell(row: &RawRow, c: Column) -> Option<&str> {
    row.cells
        .get(&c)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
}

/// The checked values of the cells a row may leave empty.
struct OptionalCells<'c> {
    username: Option<Username>,
    mobile: Option<Mobile>,
    user_type: Option<&'c UserTypeDef>,
    default_location: Option<Uuid>,
    locations: BTreeSet<Uuid>,
    roles: BTreeSet<Uuid>,
    permissions: BTreeSet<Permission>,
    npi: Option<Npi>,
    taxonomy: Vec<TaxonomyCode>,
    leaving: Option<LeavingDate>,
}

impl<'c> OptionalCells<'c> {
    /// Checks the cells in template order, adding their issues to `issues`.
    fn check(row: &RawRow, cat: &'c Catalogue, issues: &mut Vec<Issue>) -> OptionalCells<'c> {
        let username = cell(row, Column::Username)
            .and_then(|s| value(Column::Username, Username::parse(s), issues));
        let mobile = cell(row, Column::Mobile).and_then(|s| {
            value(
                Column::Mobile,
                Mobile::parse(s, cat.region.as_deref()),
                issues,
            )
        });
        let user_type = cell(row, Column::UserType).and_then(|s| user_type(s, cat, issues));
        let default_location =
            cell(row, Column::DefaultLocation).and_then(|s| default_location(s, cat, issues));
        let mut locations = cell(row, Column::Locations)
            .map(|s| locations(s, cat, issues))
            .unwrap_or_default();
        locations.extend(default_location);
        let roles = cell(row, Column::Roles)
            .map(|s| roles(s, cat, issues))
            .unwrap_or_default();
        let permissions = cell(row, Column::Permissions)
            .and_then(|s| {
                // `|` is accepted as a separator in every list column.
                let list = permission::parse_list(&s.replace('|', ";"));
                value(Column::Permissions, list, issues)
            })
            .map(BTreeSet::from_iter)
            .unwrap_or_default();
        let npi = cell(row, Column::Npi).and_then(|s| value(Column::Npi, Npi::parse(s), issues));
        let taxonomy = cell(row, Column::Taxonomy)
            .map(|s| taxonomy(s, cat, issues))
            .unwrap_or_default();
        let leaving = cell(row, Column::LeavingDate).and_then(|s| leaving(s, cat, issues));
        OptionalCells {
            username,
            mobile,
            user_type,
            default_location,
            locations,
            roles,
            permissions,
            npi,
            taxonomy,
            leaving,
        }
    }

    fn into_checked(self, first_name: String, last_name: String, email: Email) -> Checked {
        Checked {
            email,
            first_name,
            last_name,
            username: self.username,
            mobile: self.mobile,
            user_type: self.user_type.map(|t| t.code.clone()),
            default_location: self.default_location,
            locations: self.locations,
            roles: self.roles,
            permissions: self.permissions,
            npi: self.npi,
            taxonomy: self.taxonomy,
            leaving: self.leaving,
        }
    }
}

/// An NPI or taxonomy codes on a row whose type is not a clinical provider's is likely a
/// wrong user type; it is imported anyway, so this is only a warning.
fn warn_provider_only_cells(row: &RawRow, t: &UserTypeDef, issues: &mut Vec<Issue>) {
    for (column, what) in [
        (Column::Npi, "an NPI"),
        (Column::Taxonomy, "taxonomy codes"),
    ] {
        if cell(row, column).is_some() {
            issues.push(Issue::warning(
                Some(column),
                "not_a_provider_type",
                format!(
                    "This row gives {what}, which only clinical providers have, but its user type is {}: check the user type, or leave the {column} cell empty.",
                    t.label
                ),
            ));
        }
    }
}

/// A leaving date still to come.
fn leaving(text: &str, cat: &Catalogue, issues: &mut Vec<Issue>) -> Option<LeavingDate> {
    let date = value(Column::LeavingDate, LeavingDate::parse(text), issues)??;
    if cat.now.is_some_and(|now| date.ends() <= now) {
        issues.push(Issue::from_value_error(
            Column::LeavingDate,
            crate::leaving::passed(text),
        ));
        return None;
    }
    Some(date)
}

fn value<T>(
    column: Column,
    parsed: Result<T, crate::ValueError>,
    issues: &mut Vec<Issue>,
) -> Option<T> {
    parsed
        .map_err(|e| issues.push(Issue::from_value_error(column, e)))
        .ok()
}

fn required(column: Column, what: &str) -> Issue {
    Issue::error(
        Some(column),
        "required",
        format!(
            "This row has no {what}: fill in its {column} cell (first_name, last_name and email are required for everyone)."
        ),
    )
}

fn name(cell: Option<&str>, column: Column, issues: &mut Vec<Issue>) -> Option<String> {
    let what = match column {
        Column::FirstName => "first name",
        _ => "last name",
    };
    let Some(name) = cell else {
        issues.push(required(column, what));
        return None;
    };
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        issues.push(Issue::error(
            Some(column),
            "name_too_long",
            format!(
                "The {what} {} has {chars} characters; at most {MAX_NAME_CHARS} are allowed: shorten it.",
                quoted(name)
            ),
        ));
        return None;
    }
    if name.chars().any(char::is_control) {
        issues.push(Issue::error(
            Some(column),
            "name_invalid",
            format!(
                "The {what} {} contains a line break or another control character: type it on one line. If it holds text of the following lines, a double quote in the file was left unclosed.",
                quoted(&visible(name))
            ),
        ));
        return None;
    }
    Some(name.to_owned())
}

/// The text with its line breaks shown as `↵`, so that a message stays on one line.
fn visible(text: &str) -> String {
    text.replace("\r\n", "\n")
        .chars()
        .map(|c| match c {
            '\n' | '\r' => '↵',
            c if c.is_control() => '\u{FFFD}',
            c => c,
        })
        .collect()
}

fn email(cell: Option<&str>, issues: &mut Vec<Issue>) -> Option<Email> {
    let Some(typed) = cell else {
        issues.push(required(Column::Email, "email address"));
        return None;
    };
    let email = value(Column::Email, Email::parse(typed), issues)?;
    if TEMPLATE_EMAILS.contains(&email.match_key()) {
        issues.push(Issue::warning(
            Some(Column::Email),
            "template_example",
            format!(
                "{} is an example address of the template, not a person: delete this row, or replace it with a real one.",
                quoted(email.as_str())
            ),
        ));
    }
    Some(email)
}

fn user_type<'a>(
    typed: &str,
    cat: &'a Catalogue,
    issues: &mut Vec<Issue>,
) -> Option<&'a UserTypeDef> {
    let found = user_type::resolve(&cat.user_types, typed);
    if found.is_none() {
        let known = if cat.user_types.is_empty() {
            "this organization has no user types yet; leave the cell empty".to_owned()
        } else {
            format!(
                "use one of {}",
                listing(cat.user_types.iter().map(|t| t.short_label()), MAX_LISTED)
            )
        };
        issues.push(Issue::error(
            Some(Column::UserType),
            "user_type_unknown",
            format!(
                "{} is not a user type of this organization: {known}.",
                quoted(typed)
            ),
        ));
    }
    found
}

/// Whether people of this type can have an NPI and taxonomy codes. The rule tags answer for
/// most types; front desk and administrator carry no tag in the built-in list, so they are
/// named here.
fn is_provider_type(t: &UserTypeDef) -> bool {
    const CLINICAL_TAGS: [&str; 4] = ["therapist", "assistant", "student", "provider"];
    const OFFICE_CODES: [&str; 2] = ["front_desk", "administrator"];
    if t.has_tag("non_clinical") {
        return false;
    }
    if CLINICAL_TAGS.iter().any(|tag| t.has_tag(tag)) {
        return true;
    }
    !OFFICE_CODES.contains(&t.code.as_str())
}

type Location = (Uuid, String, String, bool);

/// A location by short code first, then by name, ignoring case.
fn find_location<'a>(cat: &'a Catalogue, typed: &str) -> Option<&'a Location> {
    let l = cat.locations.iter();
    l.clone()
        .find(|(_, _, code, _)| same(code, typed))
        .or_else(|| {
            cat.locations
                .iter()
                .find(|(_, name, _, _)| same(name, typed))
        })
}

fn default_location(typed: &str, cat: &Catalogue, issues: &mut Vec<Issue>) -> Option<Uuid> {
    if let Some(l) = find_location(cat, typed) {
        return active(l, Column::DefaultLocation, issues);
    }
    if split_list(typed).len() > 1 {
        issues.push(Issue::error(
            Some(Column::DefaultLocation),
            "default_location_multiple",
            format!(
                "{} names several locations, but a person has one default location: keep one here and list the others in the locations column.",
                quoted(typed)
            ),
        ));
    } else {
        issues.push(unknown_locations(Column::DefaultLocation, &[typed], cat));
    }
    None
}

fn locations(typed: &str, cat: &Catalogue, issues: &mut Vec<Issue>) -> BTreeSet<Uuid> {
    let (found, unknown) = resolve_list(typed, |s| find_location(cat, s));
    let mut ids = BTreeSet::new();
    let mut inactive = Vec::new();
    for l in found {
        if l.3 {
            ids.insert(l.0);
        } else if !inactive.contains(&l) {
            inactive.push(l);
        }
    }
    if !unknown.is_empty() {
        issues.push(unknown_locations(Column::Locations, &unknown, cat));
    }
    for l in inactive {
        issues.push(deactivated(l, Column::Locations));
    }
    ids
}

fn active(l: &Location, column: Column, issues: &mut Vec<Issue>) -> Option<Uuid> {
    if l.3 {
        Some(l.0)
    } else {
        issues.push(deactivated(l, column));
        None
    }
}

fn deactivated(l: &Location, column: Column) -> Issue {
    Issue::error(
        Some(column),
        "location_inactive",
        format!(
            "The location {} ({}) is deactivated: choose an active location, or reactivate it before importing.",
            l.1, l.2
        ),
    )
}

fn unknown_locations(column: Column, typed: &[&str], cat: &Catalogue) -> Issue {
    let what = if typed.len() == 1 {
        format!(
            "{} is not a location of this organization",
            quoted(typed[0])
        )
    } else {
        format!(
            "{} are not locations of this organization",
            quoted_list(typed)
        )
    };
    let active: Vec<&str> = cat
        .locations
        .iter()
        .filter(|l| l.3)
        .map(|(_, name, code, _)| if code.is_empty() { name } else { code }.as_str())
        .collect();
    let known = if active.is_empty() {
        "it has no active location yet, so add one before importing".to_owned()
    } else {
        format!(
            "use a short code or a name; the short codes are {}",
            listing(active, MAX_LISTED)
        )
    };
    Issue::error(
        Some(column),
        "location_unknown",
        format!("{what}: {known}."),
    )
}

fn roles(typed: &str, cat: &Catalogue, issues: &mut Vec<Issue>) -> BTreeSet<Uuid> {
    let (found, unknown) = resolve_list(typed, |s| cat.roles.iter().find(|(_, n)| same(n, s)));
    if !unknown.is_empty() {
        let what = if unknown.len() == 1 {
            format!("{} is not a role of this organization", quoted(unknown[0]))
        } else {
            format!(
                "{} are not roles of this organization",
                quoted_list(&unknown)
            )
        };
        let known = if cat.roles.is_empty() {
            "it has no roles yet, so leave the cell empty".to_owned()
        } else {
            format!(
                "the roles are {}",
                listing(cat.roles.iter().map(|(_, n)| n.as_str()), MAX_LISTED)
            )
        };
        issues.push(Issue::error(
            Some(Column::Roles),
            "role_unknown",
            format!("{what}: {known}."),
        ));
    }
    found.into_iter().map(|(id, _)| *id).collect()
}

fn taxonomy(typed: &str, cat: &Catalogue, issues: &mut Vec<Issue>) -> Vec<TaxonomyCode> {
    let mut codes: Vec<TaxonomyCode> = Vec::new();
    let mut invalid = Vec::new();
    let mut unknown = Vec::new();
    for item in crate::taxonomy::list_items(typed) {
        match TaxonomyCode::parse(item) {
            Ok(code) if codes.contains(&code) => {}
            Ok(code) => {
                let known = cat.taxonomy.is_empty()
                    || cat.taxonomy.contains(code.as_str())
                    || cat
                        .taxonomy
                        .iter()
                        .any(|c| c.trim().eq_ignore_ascii_case(code.as_str()));
                if !known {
                    unknown.push(code.clone());
                }
                codes.push(code);
            }
            Err(e) => invalid.push((item, e)),
        }
    }
    match invalid.len() {
        0 => {}
        1 => {
            let (_, e) = invalid.remove(0);
            issues.push(Issue::from_value_error(Column::Taxonomy, e));
        }
        _ => {
            let items: Vec<&str> = invalid.iter().map(|(item, _)| *item).collect();
            issues.push(Issue::error(
                Some(Column::Taxonomy),
                "taxonomy_invalid",
                format!(
                    "{} are not taxonomy codes: each must be nine letters or digits followed by X, like 225100000X.",
                    quoted_list(&items)
                ),
            ));
        }
    }
    for code in unknown {
        issues.push(Issue::warning(
            Some(Column::Taxonomy),
            "taxonomy_unknown",
            format!(
                "{} is not in this organization's taxonomy code list, so it will show without a name: check the code, or load a newer code list. The row can be imported as it is.",
                quoted(code.as_str())
            ),
        ));
    }
    codes
}

/// The items of a list cell, split at `;`, `|` and line breaks (a spreadsheet puts one in a
/// cell with Alt+Enter, which some people use to list one item per line).
fn split_list(typed: &str) -> Vec<&str> {
    typed
        .split([';', '|', '\n', '\r'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Resolves each item of a list cell. A comma separates items too (a cell can only hold one if
/// it was quoted), except inside a name that has one, such as “Smith, Jones & Co”: the longest
/// run of comma-separated parts that names something wins. Repeated entries are kept once.
fn resolve_list<'a, 't, T: PartialEq>(
    typed: &'t str,
    find: impl Fn(&str) -> Option<&'a T>,
) -> (Vec<&'a T>, Vec<&'t str>) {
    // Names with more commas than this are not looked for, which keeps the work linear.
    const MAX_COMMAS_IN_A_NAME: usize = 3;
    let mut found: Vec<&'a T> = Vec::new();
    let mut unknown: Vec<&'t str> = Vec::new();
    for item in split_list(typed) {
        // Byte ranges of the comma-separated parts of the item.
        let mut parts = Vec::new();
        let mut start = 0;
        for part in item.split(',') {
            parts.push(start..start + part.len());
            start += part.len() + 1;
        }
        let mut i = 0;
        while i < parts.len() {
            let longest = (i + 1..=parts.len().min(i + 1 + MAX_COMMAS_IN_A_NAME))
                .rev()
                .find_map(|j| {
                    let run = item[parts[i].start..parts[j - 1].end].trim();
                    find(run).map(|t| (j, t))
                });
            match longest {
                Some((j, t)) => {
                    if !found.contains(&t) {
                        found.push(t);
                    }
                    i = j;
                }
                None => {
                    let part = item[parts[i].clone()].trim();
                    if !part.is_empty() && !unknown.contains(&part) {
                        unknown.push(part);
                    }
                    i += 1;
                }
            }
        }
    }
    (found, unknown)
}

fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim(), b.trim());
    a.eq_ignore_ascii_case(b) || a.to_lowercase() == b.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{Reader, Severity};
    use crate::user_type::builtin_user_types;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const MAIN: Uuid = Uuid::from_u128(1);
    const NORTH: Uuid = Uuid::from_u128(2);
    const SMITH: Uuid = Uuid::from_u128(3);
    const FRONT: Uuid = Uuid::from_u128(11);
    const PROVIDER: Uuid = Uuid::from_u128(12);

    fn cat() -> Catalogue {
        Catalogue {
            user_types: builtin_user_types(),
            locations: vec![
                (MAIN, "Main Street".into(), "MAIN".into(), true),
                (NORTH, "North Clinic".into(), "NORTH".into(), false),
                (SMITH, "Smith, Jones & Co".into(), "SJ".into(), true),
            ],
            roles: vec![(FRONT, "Front Desk".into()), (PROVIDER, "Provider".into())],
            taxonomy: ["225100000X".to_owned()].into(),
            region: Some("US".into()),
            now: None,
        }
    }

    fn row(cells: &[(Column, &str)]) -> RawRow {
        let mut all: BTreeMap<Column, String> = BTreeMap::from([
            (Column::FirstName, "Ann".into()),
            (Column::LastName, "Lee".into()),
            (Column::Email, "ann@example.com".into()),
        ]);
        for (c, v) in cells {
            if v.is_empty() {
                all.remove(c);
            } else {
                all.insert(*c, (*v).into());
            }
        }
        RawRow {
            line: 2,
            cells: all,
        }
    }

    fn codes(issues: &[Issue]) -> Vec<(Option<Column>, Severity, &str)> {
        issues
            .iter()
            .map(|i| (i.column, i.severity, i.code.as_str()))
            .collect()
    }

    #[test]
    fn a_full_row_is_checked() {
        let (checked, issues) = check_row(
            &row(&[
                (Column::Username, "Ann.Lee"),
                (Column::Mobile, "(415) 555-2671"),
                (Column::UserType, "Physical therapist"),
                (Column::DefaultLocation, "main street"),
                (Column::Locations, "SJ"),
                (Column::Roles, "provider | front desk"),
                (
                    Column::Permissions,
                    "calendar.view|SOAP.START; calendar.view",
                ),
                (Column::Npi, "1234567893"),
                (Column::Taxonomy, "225100000x"),
            ]),
            &cat(),
        );
        assert!(issues.is_empty(), "{issues:?}");
        let c = checked.unwrap();
        assert_eq!(c.username.unwrap().as_str(), "ann.lee");
        assert_eq!(c.mobile.unwrap().as_str(), "+14155552671");
        assert_eq!(c.user_type.as_deref(), Some("pt"));
        assert_eq!(c.default_location, Some(MAIN));
        assert_eq!(c.locations, BTreeSet::from([MAIN, SMITH]));
        assert_eq!(c.roles, BTreeSet::from([FRONT, PROVIDER]));
        assert_eq!(
            c.permissions,
            BTreeSet::from([Permission::CalendarView, Permission::SoapStart])
        );
        assert_eq!(c.npi.unwrap().as_str(), "1234567893");
        assert_eq!(c.taxonomy[0].as_str(), "225100000X");
    }

    #[test]
    fn required_cells_and_names() {
        let (checked, issues) = check_row(
            &row(&[
                (Column::FirstName, ""),
                (Column::LastName, ""),
                (Column::Email, ""),
            ]),
            &cat(),
        );
        assert!(checked.is_none());
        assert_eq!(
            codes(&issues),
            [
                (Some(Column::FirstName), Severity::Error, "required"),
                (Some(Column::LastName), Severity::Error, "required"),
                (Some(Column::Email), Severity::Error, "required"),
            ]
        );
        assert!(issues[1].message.contains("no last name"));
        let long = "x".repeat(101);
        let (_, issues) = check_row(
            &row(&[(Column::FirstName, &long), (Column::LastName, "Le\ne")]),
            &cat(),
        );
        assert_eq!(
            codes(&issues),
            [
                (Some(Column::FirstName), Severity::Error, "name_too_long"),
                (Some(Column::LastName), Severity::Error, "name_invalid"),
            ]
        );
        let (checked, _) = check_row(&row(&[(Column::FirstName, &"é".repeat(100))]), &cat());
        assert!(checked.is_some());
    }

    #[test]
    fn lists_accept_three_separators_and_names_with_commas() {
        let (c, issues) = check_row(
            &row(&[
                (Column::Locations, "Smith, Jones & Co, MAIN"),
                (Column::Roles, "Provider,Front Desk"),
            ]),
            &cat(),
        );
        assert!(issues.is_empty(), "{issues:?}");
        let c = c.unwrap();
        assert_eq!(c.locations, BTreeSet::from([MAIN, SMITH]));
        assert_eq!(c.roles.len(), 2);
        let (c, _) = check_row(
            &row(&[(Column::Locations, "Smith, Jones & Co; ;MAIN|main")]),
            &cat(),
        );
        assert_eq!(c.unwrap().locations, BTreeSet::from([MAIN, SMITH]));
    }

    #[test]
    fn unknown_and_inactive_names_list_what_exists() {
        let (checked, issues) = check_row(
            &row(&[
                (Column::UserType, "astronaut"),
                (Column::DefaultLocation, "MAIN; SJ"),
                (Column::Locations, "north;EAST;west"),
                (Column::Roles, "Boss"),
                (Column::Permissions, "soap.sign"),
            ]),
            &cat(),
        );
        assert!(checked.is_none());
        assert_eq!(
            codes(&issues),
            [
                (Some(Column::UserType), Severity::Error, "user_type_unknown"),
                (
                    Some(Column::DefaultLocation),
                    Severity::Error,
                    "default_location_multiple"
                ),
                (Some(Column::Locations), Severity::Error, "location_unknown"),
                (
                    Some(Column::Locations),
                    Severity::Error,
                    "location_inactive"
                ),
                (Some(Column::Roles), Severity::Error, "role_unknown"),
                (
                    Some(Column::Permissions),
                    Severity::Error,
                    "permission_unknown"
                ),
            ]
        );
        let m = |i: usize| issues[i].message.as_str();
        assert!(m(0).contains("PT, OT, SLP, PTA"), "{}", m(0));
        assert!(m(2).contains("“EAST”, “west” are not locations") && m(2).contains("MAIN, SJ"));
        assert!(!m(2).contains("NORTH"), "deactivated codes are not offered");
        assert!(m(3).contains("North Clinic (NORTH) is deactivated"));
        assert!(m(4).contains("Front Desk, Provider"));
        let (_, issues) = check_row(&row(&[(Column::DefaultLocation, "North Clinic")]), &cat());
        assert_eq!(issues[0].code, "location_inactive");
        let (_, issues) = check_row(&row(&[(Column::DefaultLocation, "Nowhere")]), &cat());
        assert_eq!(issues[0].code, "location_unknown");
    }

    #[test]
    fn empty_catalogue_says_what_to_do() {
        let (_, issues) = check_row(
            &row(&[
                (Column::Locations, "MAIN"),
                (Column::Roles, "x"),
                (Column::UserType, "pt"),
            ]),
            &Catalogue::default(),
        );
        assert!(issues[0].message.contains("no user types yet"));
        assert!(issues[1].message.contains("no active location yet"));
        assert!(issues[2].message.contains("no roles yet"));
    }

    #[test]
    fn taxonomy_unknown_is_a_warning_and_bad_codes_errors() {
        let (c, issues) = check_row(&row(&[(Column::Taxonomy, "225100000X 225X00000X")]), &cat());
        assert_eq!(
            codes(&issues),
            [(
                Some(Column::Taxonomy),
                Severity::Warning,
                "taxonomy_unknown"
            )]
        );
        assert_eq!(c.unwrap().taxonomy.len(), 2);
        let (c, issues) = check_row(
            &row(&[(Column::Taxonomy, "225X00000X")]),
            &Catalogue::default(),
        );
        assert!(issues.is_empty() && c.is_some());
        let (_, issues) = check_row(&row(&[(Column::Taxonomy, "nope;22510000X")]), &cat());
        assert_eq!(issues.len(), 1);
        assert!(
            issues[0]
                .message
                .contains("“nope”, “22510000X” are not taxonomy codes")
        );
    }

    #[test]
    fn provider_fields_on_an_office_type_warn() {
        for office in ["Front desk", "billing", "Administrator"] {
            let (c, issues) = check_row(
                &row(&[
                    (Column::UserType, office),
                    (Column::Npi, "1234567893"),
                    (Column::Taxonomy, "225100000X"),
                ]),
                &cat(),
            );
            assert!(c.is_some());
            assert_eq!(
                codes(&issues),
                [
                    (Some(Column::Npi), Severity::Warning, "not_a_provider_type"),
                    (
                        Some(Column::Taxonomy),
                        Severity::Warning,
                        "not_a_provider_type"
                    ),
                ],
                "{office}"
            );
        }
        for clinical in ["PT", "pta", "Physician", "np", ""] {
            let (_, issues) = check_row(
                &row(&[(Column::UserType, clinical), (Column::Npi, "1234567893")]),
                &cat(),
            );
            assert!(issues.is_empty(), "{clinical}: {issues:?}");
        }
    }

    #[test]
    fn template_rows_are_flagged() {
        let template = crate::import::template();
        let mut r = Reader::new(template.as_bytes()).unwrap();
        let mut n = 0;
        while let Some(row) = r.next_row() {
            let (_, issues) = check_row(&row.unwrap(), &cat());
            assert!(issues.iter().any(|i| i.code == "template_example"));
            n += 1;
        }
        assert_eq!(n, 2);
    }

    #[test]
    fn serde_round_trip() {
        let (c, _) = check_row(
            &row(&[
                (Column::Permissions, "users.view"),
                (Column::Npi, "1234567893"),
            ]),
            &cat(),
        );
        let c = c.unwrap();
        // The value types serialize as strings and deserialize through their parsers.
        fn assert_serde<T: Serialize + for<'de> Deserialize<'de>>(_: &T) {}
        assert_serde(&c);
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let c = cat();
            if let Ok(mut r) = Reader::new(&bytes[..]) {
                while let Some(row) = r.next_row() {
                    if let Ok(row) = row { let _ = check_row(&row, &c); }
                }
            }
        }

        #[test]
        fn never_panics_on_csv_like_text(body in "[a-zA-Z0-9@.,;|\"\r\n \u{feff}é_+()-]{0,300}") {
            let c = cat();
            let header = Column::ALL.map(Column::name);
            let input = format!("{}\n{body}", header.join(","));
            let mut r = Reader::new(input.as_bytes()).unwrap();
            let mut last_line = 1;
            while let Some(row) = r.next_row() {
                let line = match &row { Ok(r) => r.line, Err(e) => e.line };
                prop_assert!(line > last_line, "{} after {}", line, last_line);
                last_line = line;
                if let Ok(row) = row {
                    let (checked, issues) = check_row(&row, &c);
                    prop_assert_eq!(checked.is_some(), !issues.iter().any(Issue::is_error));
                    prop_assert!(issues.len() <= MAX_ROW_ISSUES);
                }
            }
        }
    }
}
