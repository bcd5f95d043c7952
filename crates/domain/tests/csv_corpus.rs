//! The CSV corpus: broken and awkward files under `tests/fixtures/csv/`, each `NAME.csv` with
//! its expected review outcome in `NAME.expect`. Every file is read through `Reader::new`,
//! `next_row` and `check_row` against one fixed catalogue, and every difference is reported
//! with the file's name.
//!
//! An `.expect` file holds one statement per line (`#` starts a comment):
//!
//! ```text
//! file_has bom | crlf | no_cr | invalid_utf8   the raw bytes (so that no editor or checkout
//!                                              silently "fixes" the fixture)
//! header_error CODE                            Reader::new fails with this code
//! header_says TEXT                             ... and its message contains TEXT
//! columns a,b,c                                the header's columns, in file order
//! rows N                                       next_row returns N items (rows or row errors)
//! row LINE ok                                  the row checks with no issue at all
//! row LINE row_error COLUMN|- CODE             the reader returns this error for the row
//! row LINE error|warning COLUMN|- CODE         check_row reports this issue; the issues of a
//!                                              row must be exactly those listed, in order
//! row LINE says TEXT                           some issue message of the row contains TEXT
//! row LINE cell COLUMN = TEXT                  the raw trimmed cell (\n, \r, \\ escapes)
//! row LINE checked FIELD = TEXT                a field of the checked row; lists are joined
//!                                              with `;`, locations by code, roles by name
//! ```
//!
//! Every row the reader returns must be mentioned, and every row mentioned must be returned.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rollcall_domain::import::{
    Catalogue, Checked, Column, Issue, Reader, Severity, check_row, template,
};
use rollcall_domain::user_type::builtin_user_types;
use uuid::Uuid;

const MAIN: Uuid = Uuid::from_u128(0x1);
const NORTH: Uuid = Uuid::from_u128(0x2);

fn catalogue() -> Catalogue {
    Catalogue {
        user_types: builtin_user_types(),
        locations: vec![
            (MAIN, "Main Street Clinic".into(), "MAIN".into(), true),
            (NORTH, "North Annex".into(), "NORTH".into(), false),
        ],
        roles: vec![
            (Uuid::from_u128(0x11), "Front Desk".into()),
            (Uuid::from_u128(0x12), "Provider".into()),
            (Uuid::from_u128(0x13), "Billing Manager".into()),
        ],
        taxonomy: ["225100000X".to_owned(), "225X00000X".to_owned()].into(),
        region: Some("US".into()),
        now: None,
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/csv")
}

#[test]
fn corpus() {
    let mut names = BTreeSet::new();
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(dir()).expect("the corpus directory") {
        let path = entry.expect("a directory entry").path();
        let (Some(stem), Some(ext)) = (path.file_stem(), path.extension()) else {
            continue;
        };
        let stem = stem.to_string_lossy().into_owned();
        match ext.to_string_lossy().as_ref() {
            "csv" | "expect" => {
                names.insert(stem);
            }
            _ => {}
        }
    }
    assert!(
        names.len() >= 20,
        "the corpus has only {} files",
        names.len()
    );
    for name in &names {
        let csv = dir().join(format!("{name}.csv"));
        let expect = dir().join(format!("{name}.expect"));
        let (Ok(bytes), Ok(expect)) = (std::fs::read(&csv), std::fs::read_to_string(&expect))
        else {
            problems.push(format!("{name}: needs both {name}.csv and {name}.expect"));
            continue;
        };
        for p in run(name, &bytes, &expect) {
            problems.push(format!("{name}.csv: {p}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} corpus expectation(s) failed:\n  {}",
        problems.len(),
        problems.join("\n  ")
    );
}

#[test]
fn the_template_fixture_is_the_template() {
    let file = std::fs::read_to_string(dir().join("template_rows_left_in.csv")).unwrap();
    assert_eq!(file, template(), "regenerate template_rows_left_in.csv");
}

#[derive(Default)]
struct Expected {
    file_has: Vec<String>,
    header_error: Option<String>,
    header_says: Vec<String>,
    columns: Option<String>,
    rows: Option<usize>,
    by_line: BTreeMap<u64, RowExpect>,
}

#[derive(Default)]
struct RowExpect {
    ok: bool,
    row_error: Option<(String, String)>,
    issues: Vec<(String, String, String)>,
    says: Vec<String>,
    cells: Vec<(String, String)>,
    checked: Vec<(String, String)>,
}

fn parse(name: &str, expect: &str) -> Result<Expected, String> {
    let mut e = Expected::default();
    for (n, line) in expect.lines().enumerate() {
        let bad = || format!("{name}.expect line {}: cannot read {line:?}", n + 1);
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "file_has" => e.file_has.push(rest.to_owned()),
            "header_error" => e.header_error = Some(rest.to_owned()),
            "header_says" => e.header_says.push(rest.to_owned()),
            "columns" => e.columns = Some(rest.to_owned()),
            "rows" => e.rows = Some(rest.parse().map_err(|_| bad())?),
            "row" => {
                let mut words = rest.splitn(3, ' ');
                let at: u64 = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
                let kind = words.next().ok_or_else(bad)?;
                let tail = words.next().unwrap_or("");
                let r = e.by_line.entry(at).or_default();
                let pair = |tail: &str| -> Result<(String, String), String> {
                    let (a, b) = tail.split_once(' ').ok_or_else(bad)?;
                    Ok((a.to_owned(), b.to_owned()))
                };
                let assignment = |tail: &str| -> Result<(String, String), String> {
                    let (a, b) = tail.split_once(" = ").ok_or_else(bad)?;
                    Ok((a.to_owned(), unescape(b)))
                };
                match kind {
                    "ok" => r.ok = true,
                    "row_error" => r.row_error = Some(pair(tail)?),
                    "error" | "warning" => {
                        let (column, code) = pair(tail)?;
                        r.issues.push((kind.to_owned(), column, code));
                    }
                    "says" => r.says.push(tail.to_owned()),
                    "cell" => r.cells.push(assignment(tail)?),
                    "checked" => r.checked.push(assignment(tail)?),
                    _ => return Err(bad()),
                }
            }
            _ => return Err(bad()),
        }
    }
    Ok(e)
}

fn unescape(s: &str) -> String {
    s.replace("\\n", "\n")
        .replace("\\r", "\r")
        .replace("\\\\", "\\")
}

fn run(name: &str, bytes: &[u8], expect: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let e = match parse(name, expect) {
        Ok(e) => e,
        Err(why) => return vec![why],
    };
    for what in &e.file_has {
        let holds = match what.as_str() {
            "bom" => bytes.starts_with(b"\xEF\xBB\xBF"),
            "crlf" => bytes.windows(2).any(|w| w == b"\r\n"),
            "no_cr" => !bytes.contains(&b'\r'),
            "invalid_utf8" => std::str::from_utf8(bytes).is_err(),
            other => {
                problems.push(format!("unknown file_has {other:?}"));
                continue;
            }
        };
        if !holds {
            problems.push(format!("the fixture's bytes lost their {what}"));
        }
    }

    let mut reader = match (Reader::new(bytes), &e.header_error) {
        (Ok(_), Some(code)) => {
            problems.push(format!(
                "expected header error {code}, but the header was accepted"
            ));
            return problems;
        }
        (Err(err), None) => {
            problems.push(format!(
                "unexpected header error {}: {}",
                err.code, err.message
            ));
            return problems;
        }
        (Err(err), Some(code)) => {
            if err.code != code {
                problems.push(format!(
                    "header error is {}, expected {code}: {}",
                    err.code, err.message
                ));
            }
            for text in &e.header_says {
                if !err.message.contains(text.as_str()) {
                    problems.push(format!(
                        "header error does not say {text:?}: {}",
                        err.message
                    ));
                }
            }
            return problems;
        }
        (Ok(r), None) => r,
    };
    if let Some(columns) = &e.columns {
        let got: Vec<&str> = reader.header().columns().map(Column::name).collect();
        if got.join(",") != *columns {
            problems.push(format!("columns are {}, expected {columns}", got.join(",")));
        }
    }

    let cat = catalogue();
    let mut seen = BTreeSet::new();
    let mut count = 0;
    while let Some(item) = reader.next_row() {
        count += 1;
        let line = match &item {
            Ok(row) => row.line,
            Err(err) => err.line,
        };
        let mut report = |p: String| problems.push(format!("line {line}: {p}"));
        if !seen.insert(line) {
            report("two rows reported on the same line".into());
        }
        let Some(want) = e.by_line.get(&line) else {
            report(format!(
                "not in the expectations; the reader gave {}",
                show(&item)
            ));
            continue;
        };
        let (issues, checked) = match item {
            Err(err) => {
                let got = (column(err.issue.column), err.issue.code.clone());
                if want.row_error.as_ref() != Some(&got) {
                    report(format!(
                        "reader error {} {}, expected {:?}: {}",
                        got.0, got.1, want.row_error, err.issue.message
                    ));
                }
                (vec![err.issue], None)
            }
            Ok(row) => {
                if let Some(expected) = &want.row_error {
                    report(format!("expected reader error {expected:?}, got a row"));
                }
                for (col, text) in &want.cells {
                    let got = Column::parse(col)
                        .and_then(|c| row.cells.get(&c))
                        .map(String::as_str);
                    if got != Some(text.as_str()) {
                        report(format!("cell {col} is {got:?}, expected {text:?}"));
                    }
                }
                let (checked, issues) = check_row(&row, &cat);
                let got: Vec<(String, String, String)> = issues
                    .iter()
                    .map(|i| (severity(i.severity), column(i.column), i.code.clone()))
                    .collect();
                if got != want.issues {
                    report(format!(
                        "issues are {}, expected {}",
                        listed(&got),
                        listed(&want.issues)
                    ));
                }
                if want.ok && !issues.is_empty() {
                    report(format!("expected ok, got {}", messages(&issues)));
                }
                if !want.ok && got.is_empty() && want.issues.is_empty() {
                    report("a row with no issue must be marked `ok`".into());
                }
                let has_error = issues.iter().any(|i| i.severity == Severity::Error);
                if checked.is_some() == has_error {
                    report("a row is checked exactly when it has no error".into());
                }
                (issues, checked)
            }
        };
        for text in &want.says {
            if !issues.iter().any(|i| i.message.contains(text.as_str())) {
                report(format!("no issue says {text:?}: {}", messages(&issues)));
            }
        }
        for (field, text) in &want.checked {
            match &checked {
                None => report(format!("expected checked {field}, but the row is in error")),
                Some(c) => match render(c, field, &cat) {
                    Some(got) if got == *text => {}
                    got => report(format!("checked {field} is {got:?}, expected {text:?}")),
                },
            }
        }
    }
    for line in e.by_line.keys().filter(|l| !seen.contains(l)) {
        problems.push(format!(
            "line {line}: expected a row there, the reader gave none"
        ));
    }
    if let Some(rows) = e.rows
        && rows != count
    {
        problems.push(format!("{count} rows read, expected {rows}"));
    }
    if reader.rows_read() != count as u64 {
        problems.push(format!(
            "rows_read() is {}, but {count} were returned",
            reader.rows_read()
        ));
    }
    if reader.bytes_read() != bytes.len() as u64 {
        problems.push(format!(
            "bytes_read() is {} at the end, the file has {}",
            reader.bytes_read(),
            bytes.len()
        ));
    }
    problems
}

fn severity(s: Severity) -> String {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
    .to_owned()
}

fn column(c: Option<Column>) -> String {
    c.map_or("-", Column::name).to_owned()
}

fn listed(issues: &[(String, String, String)]) -> String {
    if issues.is_empty() {
        return "none".into();
    }
    let all: Vec<String> = issues
        .iter()
        .map(|(s, c, code)| format!("[{s} {c} {code}]"))
        .collect();
    all.join(" ")
}

fn messages(issues: &[Issue]) -> String {
    let mut out = String::new();
    for i in issues {
        let _ = write!(
            out,
            "\n      {} {}: {}",
            column(i.column),
            i.code,
            i.message
        );
    }
    out
}

fn show<T: std::fmt::Debug, E: std::fmt::Debug>(item: &Result<T, E>) -> String {
    format!("{item:?}")
}

fn render(c: &Checked, field: &str, cat: &Catalogue) -> Option<String> {
    let location = |id: &Uuid| {
        cat.locations
            .iter()
            .find(|l| l.0 == *id)
            .map_or_else(|| id.to_string(), |l| l.2.clone())
    };
    let role = |id: &Uuid| {
        cat.roles
            .iter()
            .find(|r| r.0 == *id)
            .map_or_else(|| id.to_string(), |r| r.1.clone())
    };
    let join = |items: Vec<String>| items.join(";");
    Some(match field {
        "email" => c.email.as_str().to_owned(),
        "first_name" => c.first_name.clone(),
        "last_name" => c.last_name.clone(),
        "username" => c.username.as_ref()?.as_str().to_owned(),
        "mobile" => c.mobile.as_ref()?.as_str().to_owned(),
        "user_type" => c.user_type.clone()?,
        "default_location" => location(c.default_location.as_ref()?),
        "locations" => {
            let mut codes: Vec<String> = c.locations.iter().map(location).collect();
            codes.sort();
            join(codes)
        }
        "roles" => {
            let mut names: Vec<String> = c.roles.iter().map(role).collect();
            names.sort();
            join(names)
        }
        "permissions" => join(c.permissions.iter().map(|p| p.key().to_owned()).collect()),
        "npi" => c.npi.as_ref()?.as_str().to_owned(),
        "taxonomy" => join(c.taxonomy.iter().map(|t| t.as_str().to_owned()).collect()),
        _ => return None,
    })
}
