//! Loading the roster: a CSV file or a JSON list replaces the organization's roster whole; any
//! bad line refuses the load with its number and what to fix, and changes nothing.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Read;

use rollcall_domain::{Capability, Email, LeavingDate, ValueError};
use rollcall_store::audit;
use rollcall_store::directory::{self, Person};
use serde::{Deserialize, Serialize};

use super::sync::{self, AccountChange, SyncRefusal, Synced};
use crate::audit::Meta;
use crate::idempotency::{self, Key};
use crate::sheet::{SmallCsv, SmallCsvError};
use crate::{App, AppError, Principal};

/// Largest roster file accepted (a practice of 100,000 staff fits comfortably).
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Most people in one load.
pub const MAX_PEOPLE: usize = 200_000;
/// Problems listed in one refusal; the rest are counted.
const MAX_PROBLEMS_SHOWN: usize = 20;

/// Columns of a roster file: (name, required).
pub const COLUMNS: [(&str, bool); 8] = [
    ("external_id", true),
    ("first_name", true),
    ("last_name", true),
    ("email", true),
    ("user_type", false),
    ("active", false),
    ("groups", false),
    ("leaving_date", false),
];

/// One person as a client sends them (`PUT /api/v1/directory`), or a row of a roster file.
/// `external_id`, `first_name`, `last_name` and `email` must be filled: a person without one
/// refuses the whole roster; each is 1 to 200 characters once trimmed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct PersonIn {
    /// The person's id in the practice's system, unique in the roster.
    #[schema(required = true, schema_with = crate::schema::roster_field)]
    pub external_id: String,
    #[schema(required = true, schema_with = crate::schema::roster_field)]
    pub first_name: String,
    #[schema(required = true, schema_with = crate::schema::roster_field)]
    pub last_name: String,
    /// Whether an address is valid is the server's to say (`email_invalid`).
    #[schema(required = true, format = Email)]
    pub email: String,
    pub user_type: Option<String>,
    /// `false`: deactivated upstream. Absent means active.
    pub active: Option<bool>,
    /// Names of the groups the person belongs to.
    pub groups: Vec<String>,
    /// When the person's access ends: `YYYY-MM-DD` (as that day ends in the organization's
    /// zone) or `YYYY-MM-DD HH:MM`. A load sets it on the person's account; it never clears
    /// one (a manager does, on the profile).
    pub leaving_date: Option<String>,
}

/// A whole roster as a client sends it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(examples(json!({ "people": [
    { "external_id": "E-1001", "first_name": "Kim", "last_name": "Lee", "email": "kim.lee@clinic.example", "user_type": "pta", "groups": ["Downtown PT"] },
    { "external_id": "E-1002", "first_name": "Sam", "last_name": "Ortiz", "email": "sam.ortiz@clinic.example", "active": false }
] })))]
pub struct Roster {
    pub people: Vec<PersonIn>,
}

/// What a load did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Loaded {
    /// `true` for a whole roster (a file, `PUT`): it replaced the roster, and people of the
    /// previous roster it does not list left it. `false` for a partial load (`PATCH`): the
    /// people it lists were added or updated, and nobody else changed.
    pub full: bool,
    pub people: usize,
    pub groups: usize,
    /// People deactivated upstream.
    pub inactive: usize,
    /// People new to the roster.
    pub added: usize,
    /// People of the previous roster absent from this one (always 0 for a partial load).
    pub removed: usize,
    /// Accounts deactivated: their person is marked inactive upstream, or left a full roster.
    pub deactivated: Vec<AccountChange>,
    /// Accounts reactivated: their person is active upstream again, and the directory had
    /// deactivated them (a manager's deactivation stands).
    pub reactivated: Vec<AccountChange>,
    /// Account changes the load asked for and the rules refused, each with the reason.
    pub refused: Vec<SyncRefusal>,
    /// Accounts whose leaving date the load set (or moved).
    #[serde(default)]
    pub leaving_dates_set: usize,
}

/// Whether a load is the whole roster or a part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extent {
    Full,
    Partial,
}

fn invalid(code: &'static str, message: String) -> AppError {
    ValueError::new("directory", code, message).into()
}

/// A header cell as a column name: case, surrounding spaces and inner spaces or dashes forgiven.
fn column_name(cell: &str) -> String {
    cell.trim()
        .trim_start_matches('\u{feff}')
        .trim()
        .to_lowercase()
        .split(|c: char| c.is_whitespace() || c == '-' || c == '_')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("_")
}

fn parse_active(cell: &str) -> Option<bool> {
    match cell.trim().to_lowercase().as_str() {
        "" | "true" | "yes" | "y" | "1" => Some(true),
        "false" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// Reads a roster file; every bad line refuses the whole file with its number and the fix.
pub fn parse_csv(reader: impl Read) -> Result<Vec<Person>, AppError> {
    let file = read_file(reader)?;
    let mut rdr = file.reader();
    let mut records = rdr.records();
    let header = match records.next() {
        None => {
            return Err(invalid(
                "directory_file_empty",
                format!(
                    "The file is empty. A roster starts with the header line {}.",
                    expected_columns()
                ),
            ));
        }
        Some(r) => r.map_err(|e| {
            invalid(
                "directory_file_invalid",
                format!("Line 1 is not valid CSV ({e})."),
            )
        })?,
    };
    let positions = column_positions(&header)?;
    let mut entries: Vec<(u64, PersonIn)> = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    let mut lines = Lines::new(file.bytes());
    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.at(p.byte()));
                let text = format!("line {line}: not valid CSV ({e})");
                problems.push(("directory_line_invalid", text));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| lines.at(p.byte()));
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        match person_of(&record, &positions) {
            Ok(p) => entries.push((line, p)),
            Err((code, problem)) => problems.push((code, format!("line {line}: {problem}"))),
        }
    }
    match check(entries, "line") {
        Ok(people) if problems.is_empty() => Ok(people),
        Ok(_) => Err(refusal(problems)),
        Err(more) => {
            problems.extend(more);
            problems.sort_by_key(|(_, p)| line_of(p));
            Err(refusal(problems))
        }
    }
}

fn read_file(reader: impl Read) -> Result<SmallCsv, AppError> {
    SmallCsv::read(reader, MAX_FILE_BYTES).map_err(|e| match e {
        SmallCsvError::Unreadable(e) => invalid(
            "directory_file_invalid",
            format!("The file could not be read: {e}."),
        ),
        SmallCsvError::TooLarge => invalid(
            "directory_file_too_large",
            format!(
                "The file is larger than {} MB, far more than a staff roster takes. Is it the right file?",
                MAX_FILE_BYTES / 1024 / 1024
            ),
        ),
    })
}

/// A roster file to start from: the header and two example people (one deactivated upstream).
pub fn template() -> String {
    format!(
        "{}\n\
         E-1001,Kim,Lee,kim.lee@clinic.example,pta,true,Downtown PT;Weekend cover,\n\
         E-1002,Sam,Ortiz,sam.ortiz@clinic.example,front_desk,false,Front office,2027-06-30\n",
        expected_columns().replace(", ", ",")
    )
}

fn expected_columns() -> String {
    COLUMNS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Which of `COLUMNS` each field position of the header holds; an unknown, repeated or missing
/// required column refuses the file.
fn column_positions(header: &csv::StringRecord) -> Result<Vec<usize>, AppError> {
    let mut positions: Vec<usize> = Vec::new();
    let mut unknown = Vec::new();
    let mut seen = BTreeSet::new();
    for cell in header.iter() {
        let name = column_name(cell);
        match COLUMNS.iter().position(|(n, _)| *n == name) {
            Some(i) if !seen.insert(i) => {
                return Err(invalid(
                    "directory_header_invalid",
                    format!("The header names the column {name} twice: keep one."),
                ));
            }
            Some(i) => positions.push(i),
            None => unknown.push(format!("“{}”", cell.trim())),
        }
    }
    if !unknown.is_empty() {
        return Err(invalid(
            "directory_header_invalid",
            format!(
                "Line 1 has {} Rollcall does not know: {}. The columns of a roster are {}.",
                if unknown.len() == 1 {
                    "a column"
                } else {
                    "columns"
                },
                unknown.join(", "),
                expected_columns()
            ),
        ));
    }
    let missing: Vec<&str> = COLUMNS
        .iter()
        .enumerate()
        .filter(|(i, (_, required))| *required && !positions.contains(i))
        .map(|(_, (n, _))| *n)
        .collect();
    if !missing.is_empty() {
        return Err(invalid(
            "directory_header_invalid",
            format!(
                "The header lacks {}: {}. The columns of a roster are {} (user_type, active, groups and leaving_date may be left out).",
                if missing.len() == 1 {
                    "a required column"
                } else {
                    "required columns"
                },
                missing.join(", "),
                expected_columns()
            ),
        ));
    }
    Ok(positions)
}

/// One record as a person, or what is wrong with it (without its line number).
fn person_of(record: &csv::StringRecord, positions: &[usize]) -> Result<PersonIn, Problem> {
    if record.len() > positions.len() {
        return Err((
            "directory_line_invalid",
            format!(
                "it has {} fields but the header has {}; put quotes around values that contain a comma",
                record.len(),
                positions.len()
            ),
        ));
    }
    let mut p = PersonIn::default();
    for (field, column) in record.iter().zip(positions) {
        let value = field.trim().to_string();
        match COLUMNS[*column].0 {
            "external_id" => p.external_id = value,
            "first_name" => p.first_name = value,
            "last_name" => p.last_name = value,
            "email" => p.email = value,
            "user_type" => p.user_type = Some(value),
            "leaving_date" => p.leaving_date = Some(value),
            "active" => {
                p.active = Some(parse_active(&value).ok_or_else(|| {
                    ("active_invalid", format!(
                        "active is “{value}”; write true or false (yes/no and 1/0 work too), or leave it empty for active"
                    ))
                })?)
            }
            _ => {
                p.groups = value
                    .split([';', '|'])
                    .map(|g| g.trim().to_string())
                    .collect()
            }
        }
    }
    Ok(p)
}

/// Line numbers of records. The csv reader's own line count is off after CRLF line ends and
/// blank lines (its position is where it started looking, before the terminator and blank lines
/// it skipped), so the line is counted here from that byte offset.
struct Lines<'a> {
    text: &'a [u8],
    /// Bytes counted so far, and the line they end on.
    counted: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    fn new(text: &'a [u8]) -> Lines<'a> {
        Lines {
            text,
            counted: 0,
            line: 1,
        }
    }

    /// The line on which the record the reader reported at `byte` starts.
    fn at(&mut self, byte: u64) -> u64 {
        let mut start = (byte as usize).min(self.text.len());
        while self
            .text
            .get(start)
            .is_some_and(|b| *b == b'\r' || *b == b'\n')
        {
            start += 1;
        }
        if start < self.counted {
            (self.counted, self.line) = (0, 1);
        }
        self.line += self.text[self.counted..start]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        self.counted = start;
        self.line
    }
}

/// The number in `line 12: …`, to keep problems in file order.
fn line_of(problem: &str) -> u64 {
    problem
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.trim_end_matches(':').parse().ok())
        .unwrap_or(0)
}

/// What is wrong with one line or person: a code of its kind (so a client can tell a bad
/// address from a repeated id) and the sentence, starting with where it is.
type Problem = (&'static str, String);

/// Every problem as a field error of its own, the first saying that nothing was loaded.
fn refusal(problems: Vec<Problem>) -> AppError {
    let total = problems.len();
    let mut errors: Vec<ValueError> = problems
        .into_iter()
        .take(MAX_PROBLEMS_SHOWN)
        .map(|(code, text)| ValueError::new("directory", code, format!("{text}.")))
        .collect();
    if let Some(last) = errors.last_mut()
        && total > MAX_PROBLEMS_SHOWN
    {
        let more = total - MAX_PROBLEMS_SHOWN;
        last.message.push_str(&format!(" And {more} more."));
    }
    if let Some(first) = errors.first_mut() {
        first.message = format!(
            "Nothing was loaded, and the directory is as it was: {total} {} to fix. {}",
            if total == 1 { "problem" } else { "problems" },
            first.message
        );
    }
    AppError::InvalidFields(errors)
}

/// Checks people one by one and against each other; `unit` names where each one is (`line` of
/// a file, `person` of a JSON list). Returns the problems, each starting with `unit N:`.
fn check(entries: Vec<(u64, PersonIn)>, unit: &str) -> Result<Vec<Person>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut people = Vec::with_capacity(entries.len());
    let mut first_seen: BTreeMap<String, u64> = BTreeMap::new();
    for (n, p) in entries {
        let at = format!("{unit} {n}");
        let external_id = match external_id(&p.external_id, &at, unit, &first_seen) {
            Ok(id) => id,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        first_seen.insert(external_id.clone(), n);
        if let Some(person) = checked_person(p, external_id, &at, &mut problems) {
            people.push(person);
        }
    }
    if problems.is_empty() {
        Ok(people)
    } else {
        Err(problems)
    }
}

/// A person's external id, given, not too long and not used by an earlier person.
fn external_id(
    raw: &str,
    at: &str,
    unit: &str,
    first_seen: &BTreeMap<String, u64>,
) -> Result<String, Problem> {
    let external_id = raw.trim().to_string();
    if external_id.is_empty() {
        return Err((
            "external_id_missing",
            format!(
                "{at}: the external id is missing; give every person the id the upstream system knows them by"
            ),
        ));
    }
    if external_id.chars().count() > 200 {
        return Err((
            "external_id_too_long",
            format!("{at}: the external id is longer than 200 characters"),
        ));
    }
    if let Some(earlier) = first_seen.get(&external_id) {
        return Err((
            "external_id_repeated",
            format!(
                "{at}: the external id “{external_id}” is already used on {unit} {earlier}; each person appears once, with all their groups"
            ),
        ));
    }
    Ok(external_id)
}

/// The person with their names, address and groups checked; `None` when any is wrong, with the
/// problems added.
fn checked_person(
    p: PersonIn,
    external_id: String,
    at: &str,
    problems: &mut Vec<Problem>,
) -> Option<Person> {
    let before = problems.len();
    let mut problem = |code, what: &str| {
        problems.push((code, format!("{at} (external id “{external_id}”): {what}")));
    };
    let first_name = p.first_name.trim().to_string();
    let last_name = p.last_name.trim().to_string();
    if first_name.is_empty() {
        problem("name_missing", "the first name is missing");
    }
    if last_name.is_empty() {
        problem("name_missing", "the last name is missing");
    }
    if first_name.chars().count() > 200 || last_name.chars().count() > 200 {
        problem("name_too_long", "a name is longer than 200 characters");
    }
    let email = Email::parse(&p.email)
        .map_err(|e| problem(e.code, &lowercase_first(&e.message)))
        .ok();
    let leaving_date = LeavingDate::parse(p.leaving_date.as_deref().unwrap_or(""))
        .map_err(|e| problem(e.code, &lowercase_first(&e.message)))
        .ok()
        .flatten();
    let email = email.filter(|_| problems.len() == before)?;
    Some(Person {
        external_id,
        first_name,
        last_name,
        email: email.as_str().to_string(),
        email_key: email.match_key().to_string(),
        user_type: p
            .user_type
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty()),
        active: p.active.unwrap_or(true),
        groups: groups_of(&p.groups, at, problems),
        leaving_date: leaving_date.map(String::from),
    })
}

/// The person's groups, each once in the order given; a name too long is a problem.
fn groups_of(given: &[String], at: &str, problems: &mut Vec<Problem>) -> Vec<String> {
    let mut groups: Vec<String> = Vec::new();
    for g in given.iter().map(|g| g.trim()).filter(|g| !g.is_empty()) {
        if g.chars().count() > 200 {
            let text = format!("{at}: a group name is longer than 200 characters");
            problems.push(("group_name_too_long", text));
            continue;
        }
        if !groups.iter().any(|x| x == g) {
            groups.push(g.to_string());
        }
    }
    groups
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Loads a roster file, replacing the organization's roster.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn load_csv(
    app: &App,
    who: &Principal,
    reader: impl Read,
    meta: &Meta,
) -> Result<Loaded, AppError> {
    who.require(Capability::BulkAdd)?;
    let people = parse_csv(reader)?;
    load(app, who, people, Extent::Full, "file", None, meta).await
}

/// Loads a roster sent as JSON, replacing the organization's roster. With an idempotency key a
/// retried call answers as the first one did and records nothing twice.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn load_people(
    app: &App,
    who: &Principal,
    roster: Roster,
    key: Option<&Key>,
    meta: &Meta,
) -> Result<Loaded, AppError> {
    who.require(Capability::BulkAdd)?;
    let checked = checked_roster(roster)?;
    load(app, who, checked, Extent::Full, "api", key, meta).await
}

/// Loads a part of the roster sent as JSON: the people it lists are added or replaced, nobody
/// else changes (a person it does not list is not taken for gone).
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn load_some_people(
    app: &App,
    who: &Principal,
    roster: Roster,
    key: Option<&Key>,
    meta: &Meta,
) -> Result<Loaded, AppError> {
    who.require(Capability::BulkAdd)?;
    let checked = checked_roster(roster)?;
    load(app, who, checked, Extent::Partial, "api", key, meta).await
}

fn checked_roster(roster: Roster) -> Result<Vec<Person>, AppError> {
    if roster.people.len() > MAX_PEOPLE {
        return Err(invalid(
            "directory_too_large",
            format!(
                "A roster holds at most {MAX_PEOPLE} people; this one has {}.",
                roster.people.len()
            ),
        ));
    }
    check(
        roster
            .people
            .into_iter()
            .enumerate()
            .map(|(i, p)| (i as u64 + 1, p))
            .collect(),
        "person",
    )
    .map_err(refusal)
}

/// Loads checked people: first the account changes the load asks for (each its own
/// transaction, through the lifecycle), then the roster itself with the audit event that
/// reports both. Should the process stop between the two, the roster is still the previous
/// one, so loading again asks for the same changes.
async fn load(
    app: &App,
    who: &Principal,
    people: Vec<Person>,
    extent: Extent,
    source: &str,
    key: Option<&Key>,
    meta: &Meta,
) -> Result<Loaded, AppError> {
    if people.len() > MAX_PEOPLE {
        return Err(invalid(
            "directory_too_large",
            format!(
                "A roster holds at most {MAX_PEOPLE} people; this one has {}.",
                people.len()
            ),
        ));
    }
    let (before, planned) = {
        let conn = &mut *app.db.read_conn().await?;
        if let Some(key) = key
            && let Some(earlier) = idempotency::replay(conn, who.org_id, key).await?
        {
            return Ok(earlier);
        }
        let before = directory::people(conn, who.org_id).await?;
        let full = extent == Extent::Full;
        let planned = sync::plan(conn, who.org_id, &before, &people, full).await?;
        (before, planned)
    };
    let synced = sync::apply(app, who, planned, meta).await?;
    let mut loaded = loaded_of(&before, &people, extent, synced);
    loaded.leaving_dates_set = sync::apply_leaving_dates(app, who, &people, meta).await?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    match extent {
        Extent::Full => directory::replace_for_org(&mut tx, who.org_id, &people, now).await?,
        Extent::Partial => directory::upsert_for_org(&mut tx, who.org_id, &people, now).await?,
    }
    audit::append(
        &mut tx,
        who.org_id,
        now,
        &[meta.change(
            "directory.loaded",
            "organization",
            Some(who.org_id),
            Some(&serde_json::json!({ "people": before.len() })),
            Some(&serde_json::json!({
                "source": source,
                "full": loaded.full,
                "people": loaded.people,
                "groups": loaded.groups,
                "inactive": loaded.inactive,
                "added": loaded.added,
                "removed": loaded.removed,
                "deactivated": loaded.deactivated,
                "reactivated": loaded.reactivated,
                "refused": loaded.refused,
                "leaving_dates_set": loaded.leaving_dates_set,
            })),
        )],
    )
    .await?;
    if let Some(key) = key {
        idempotency::record(&mut tx, who.org_id, key, &loaded, now).await?;
    }
    tx.commit().await?;
    Ok(loaded)
}

/// The load's counts: the people it holds, and how the roster changed.
fn loaded_of(before: &[Person], people: &[Person], extent: Extent, synced: Synced) -> Loaded {
    let before: HashSet<&str> = before.iter().map(|p| p.external_id.as_str()).collect();
    let after: HashSet<&str> = people.iter().map(|p| p.external_id.as_str()).collect();
    let groups: BTreeSet<&str> = people
        .iter()
        .flat_map(|p| p.groups.iter().map(String::as_str))
        .collect();
    Loaded {
        full: extent == Extent::Full,
        people: people.len(),
        groups: groups.len(),
        inactive: people.iter().filter(|p| !p.active).count(),
        added: after.iter().filter(|id| !before.contains(**id)).count(),
        removed: match extent {
            Extent::Full => before.iter().filter(|id| !after.contains(**id)).count(),
            Extent::Partial => 0,
        },
        deactivated: synced.deactivated,
        reactivated: synced.reactivated,
        refused: synced.refused,
        leaving_dates_set: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse_csv(text.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn reads_a_roster_with_bom_crlf_quotes_and_forgiving_headers() {
        let file = "\u{feff} External ID ,First_Name,last name,EMAIL,user_type,Active,groups\r\n\
            e1,Dana,Lee,Dana.Lee@Example.org,PT,yes,\"Therapy; Downtown\"\r\n\
            e2,\"Sam, Jr\",Ward,sam@example.org,,0,Front desk|Therapy|Therapy\r\n\
            \r\n\
            e3,Kim,Ng,kim@example.org,,,\r\n";
        let people = parse_csv(file.as_bytes()).unwrap();
        assert_eq!(people.len(), 3);
        assert_eq!(people[0].external_id, "e1");
        assert_eq!(people[0].groups, vec!["Therapy", "Downtown"]);
        assert!(people[0].active);
        assert_eq!(people[0].email_key, "dana.lee@example.org");
        assert_eq!(people[1].first_name, "Sam, Jr");
        assert!(!people[1].active);
        assert_eq!(people[1].groups, vec!["Front desk", "Therapy"]);
        assert_eq!(people[1].user_type, None);
        assert!(people[2].active);
        assert!(people[2].groups.is_empty());
    }

    #[test]
    fn every_bad_line_is_named_and_nothing_is_read() {
        let e = err("external_id,first_name,last_name,email,active\n\
            e1,Dana,Lee,dana@example.org,true\n\
            ,Sam,Ward,sam@example.org,true\n\
            e1,Kim,Ng,kim@example.org,true\n\
            e4,Lou,Park,not-an-address,true\n\
            e5,Ann,Ray,ann@example.org,maybe\n");
        assert!(e.starts_with("Nothing was loaded"), "{e}");
        assert!(e.contains("4 problems"), "{e}");
        assert!(e.contains("line 3: the external id is missing"), "{e}");
        assert!(
            e.contains("line 4: the external id “e1” is already used on line 2"),
            "{e}"
        );
        assert!(
            e.contains("line 5 (external id “e4”): “not-an-address”"),
            "{e}"
        );
        assert!(e.contains("line 6: active is “maybe”"), "{e}");
    }

    #[test]
    fn line_numbers_count_crlf_blank_lines_and_quoted_newlines() {
        let e = err("external_id,first_name,last_name,email\r\n\
            e1,\"Dana\r\nMarie\",Lee,dana@example.org\r\n\
            \r\n\
            \r\n\
            e2,Sam,Ward,sam(at)example.org\r\n\
            e1,Kim,Ng,kim@example.org\r\n");
        assert!(e.contains("line 6 (external id “e2”)"), "{e}");
        assert!(
            e.contains("line 7: the external id “e1” is already used on line 2"),
            "{e}"
        );
    }

    #[test]
    fn headers_must_name_the_roster_columns() {
        assert!(err("").contains("empty"));
        let e = err("external_id,first_name,last_name,email,department\n");
        assert!(
            e.contains("“department”") && e.contains("external_id, first_name"),
            "{e}"
        );
        let e = err("external_id,first_name,email\n");
        assert!(e.contains("last_name"), "{e}");
        assert!(err("email,email,external_id,first_name,last_name\n").contains("twice"));
    }
}
