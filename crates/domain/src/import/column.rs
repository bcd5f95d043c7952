use serde::{Deserialize, Serialize};

use super::{listing, quoted_list};
use crate::error::{ValueError, quoted};
use crate::npi;

/// Columns of the template, in template order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    FirstName,
    LastName,
    Email,
    Username,
    Mobile,
    UserType,
    DefaultLocation,
    Locations,
    Roles,
    Permissions,
    Npi,
    Taxonomy,
    LeavingDate,
}

impl Column {
    pub const ALL: [Column; 13] = [
        Column::FirstName,
        Column::LastName,
        Column::Email,
        Column::Username,
        Column::Mobile,
        Column::UserType,
        Column::DefaultLocation,
        Column::Locations,
        Column::Roles,
        Column::Permissions,
        Column::Npi,
        Column::Taxonomy,
        Column::LeavingDate,
    ];

    /// The name in the template's header.
    pub fn name(self) -> &'static str {
        match self {
            Column::FirstName => "first_name",
            Column::LastName => "last_name",
            Column::Email => "email",
            Column::Username => "username",
            Column::Mobile => "mobile",
            Column::UserType => "user_type",
            Column::DefaultLocation => "default_location",
            Column::Locations => "locations",
            Column::Roles => "roles",
            Column::Permissions => "permissions",
            Column::Npi => "npi",
            Column::Taxonomy => "taxonomy",
            Column::LeavingDate => "leaving_date",
        }
    }

    /// The name people read (forms, review headers).
    pub fn label(self) -> &'static str {
        match self {
            Column::FirstName => "First name",
            Column::LastName => "Last name",
            Column::Email => "Email",
            Column::Username => "Username",
            Column::Mobile => "Mobile",
            Column::UserType => "User type",
            Column::DefaultLocation => "Default location",
            Column::Locations => "Locations",
            Column::Roles => "Roles",
            Column::Permissions => "Permissions",
            Column::Npi => "NPI",
            Column::Taxonomy => "Taxonomy codes",
            Column::LeavingDate => "Leaving date",
        }
    }

    pub fn required(self) -> bool {
        matches!(self, Column::FirstName | Column::LastName | Column::Email)
    }

    /// The column a header cell names. Case and surrounding spaces are forgiven, and so is a
    /// byte order mark that a reader left on the first cell; nothing else is guessed.
    pub fn parse(header_cell: &str) -> Option<Column> {
        let name = header_cell.trim().trim_start_matches('\u{feff}').trim();
        Column::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// The column a near miss such as `First Name` or `e-mail` was probably meant to be, for a
    /// hint in the error (it is still an error: names must match the template).
    fn near_miss(header_cell: &str) -> Option<Column> {
        let squeezed: String = header_cell
            .trim()
            .chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect();
        Column::ALL
            .into_iter()
            .find(|c| c.name().replace('_', "") == squeezed)
    }
}

impl std::fmt::Display for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The file people download to start from: the header and two example rows that pass the
/// format checks (the location codes and roles are examples the organization may not have).
pub fn template() -> String {
    template_at("MAIN", "EAST")
}

/// The template with the organization's own location codes in its example rows.
pub fn template_at(first: &str, second: &str) -> String {
    let npi = {
        let nine = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        let digits: String = nine.iter().map(|d| char::from(b'0' + d)).collect();
        format!("{digits}{}", npi::check_digit(nine))
    };
    let header: Vec<&str> = Column::ALL.iter().map(|c| c.name()).collect();
    format!(
        "{}\n\
         Dana,Lee,dana.lee@example.org,dana.lee,+1 415 555 0123,PT,{first},{first};{second},Provider,,{npi},225100000X,\n\
         Sam,Ward,sam.ward@example.org,,,Front desk,{first},,Front Desk,calendar.view;calendar.create,,,2027-06-30\n",
        header.join(",")
    )
}

/// The example addresses of [`template`]: a row that still holds one was not replaced.
pub(super) const TEMPLATE_EMAILS: [&str; 2] = ["dana.lee@example.org", "sam.ward@example.org"];

/// A resolved header: which column each field position holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    positions: Vec<Column>,
}

impl Header {
    /// A placeholder until the header line is read.
    pub(super) fn empty() -> Header {
        Header {
            positions: Vec::new(),
        }
    }

    /// The columns present, in file order.
    pub fn columns(&self) -> impl Iterator<Item = Column> + '_ {
        self.positions.iter().copied()
    }

    pub fn has(&self, c: Column) -> bool {
        self.positions.contains(&c)
    }

    /// How many fields a row may have.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The column at a field position (0-based).
    pub fn column_at(&self, position: usize) -> Option<Column> {
        self.positions.get(position).copied()
    }
}

/// Resolves the header line. Any problem is fatal for the file, and every problem is named at
/// once so that one round of fixing is enough.
pub fn read_header(cells: &[&str]) -> Result<Header, ValueError> {
    // Spreadsheets often save a few empty cells after the last column: that is not a column.
    let last = cells.iter().rposition(|c| !blank(c)).map_or(0, |i| i + 1);
    let cells = &cells[..last];
    if let Some(e) = wrong_separator(cells) {
        return Err(e);
    }
    let scan = HeaderScan::of(cells);
    // The file has no header line at all: its first line is already data.
    if scan.positions.is_empty() && cells.iter().any(|c| c.contains('@')) {
        return Err(header_missing());
    }
    scan.into_header()
}

/// What each header cell turned out to be, with every problem kept for the error.
struct HeaderScan<'a> {
    positions: Vec<Column>,
    unknown: Vec<&'a str>,
    hints: Vec<String>,
    empty: Vec<usize>,
    twice: Vec<(Column, usize, usize)>,
}

impl<'a> HeaderScan<'a> {
    fn of(cells: &[&'a str]) -> HeaderScan<'a> {
        let mut scan = HeaderScan {
            positions: Vec::with_capacity(cells.len()),
            unknown: Vec::new(),
            hints: Vec::new(),
            empty: Vec::new(),
            twice: Vec::new(),
        };
        for (i, cell) in cells.iter().enumerate() {
            if blank(cell) {
                scan.empty.push(i);
            } else if let Some(c) = Column::parse(cell) {
                if let Some(first) = scan.positions.iter().position(|p| *p == c) {
                    scan.twice.push((c, first, i));
                }
                scan.positions.push(c);
            } else {
                let cell = cell.trim();
                scan.unknown.push(cell);
                if let Some(c) = Column::near_miss(cell) {
                    scan.hints
                        .push(format!("{} for {}", c.name(), quoted(cell)));
                }
            }
        }
        scan
    }

    /// The header, or one error naming every problem; its code is that of the first problem.
    fn into_header(self) -> Result<Header, ValueError> {
        let mut sentences = Vec::new();
        let mut code = None;
        if !self.unknown.is_empty() {
            code.get_or_insert("column_unknown");
            sentences.push(self.unknown_sentence());
        }
        if let Some(sentence) = self.missing_sentence() {
            code.get_or_insert("column_missing");
            sentences.push(sentence);
        }
        for (c, first, again) in &self.twice {
            code.get_or_insert("column_duplicate");
            sentences.push(format!(
                "The column {c} appears twice, in columns {} and {}: keep only one.",
                spreadsheet_column(*first),
                spreadsheet_column(*again)
            ));
        }
        if !self.empty.is_empty() {
            code.get_or_insert("column_name_empty");
            sentences.push(self.empty_sentence());
        }
        match code {
            None => Ok(Header {
                positions: self.positions,
            }),
            Some(code) => Err(ValueError::new("header", code, sentences.join(" "))),
        }
    }

    fn unknown_sentence(&self) -> String {
        let what = if self.unknown.len() == 1 {
            format!(
                "{} is not a column of the template",
                quoted(self.unknown[0])
            )
        } else {
            format!(
                "{} are not columns of the template",
                quoted_list(&self.unknown)
            )
        };
        let hint = if self.hints.is_empty() {
            String::new()
        } else {
            format!(" (did you mean {}?)", self.hints.join(", "))
        };
        format!(
            "{what}{hint}. The expected columns are: {}; rename or delete the others.",
            template_header()
        )
    }

    fn missing_sentence(&self) -> Option<String> {
        let missing: Vec<&str> = Column::ALL
            .into_iter()
            .filter(|c| c.required() && !self.positions.contains(c))
            .map(Column::name)
            .collect();
        let (what, them) = match missing.as_slice() {
            [] => return None,
            [one] => (format!("The required column {one} is missing"), "it"),
            _ => {
                let names = missing.join(", ");
                (format!("The required columns {names} are missing"), "them")
            }
        };
        Some(format!("{what}: add {them} to the header line."))
    }

    fn empty_sentence(&self) -> String {
        let at: Vec<String> = self.empty.iter().map(|i| spreadsheet_column(*i)).collect();
        format!(
            "The header has no name in column {}: name it after a template column, or delete the column.",
            listing(at.iter().map(String::as_str), 10)
        )
    }
}

fn header_missing() -> ValueError {
    ValueError::new(
        "header",
        "header_missing",
        format!(
            "The first line of the file must be the header ({}), but it looks like data. Add the header line, or start from the template.",
            template_header()
        ),
    )
}

fn template_header() -> String {
    listing(Column::ALL.iter().map(|c| c.name()), Column::ALL.len())
}

/// A file saved with semicolons or tabs between the values reads as one cell per line.
fn wrong_separator(cells: &[&str]) -> Option<ValueError> {
    let [only] = cells else { return None };
    let (_, name) = [(';', "semicolons"), ('\t', "tabs")]
        .into_iter()
        .find(|(sep, _)| only.split(*sep).filter_map(Column::parse).count() >= 2)?;
    Some(ValueError::new(
        "header",
        "file_wrong_separator",
        format!(
            "The values in this file are separated by {name}, not commas: save it again as “CSV (comma delimited)” or “CSV UTF-8”, and upload that file."
        ),
    ))
}

fn blank(cell: &str) -> bool {
    cell.trim().trim_start_matches('\u{feff}').trim().is_empty()
}

/// `C (3)` for the third field: people find a column by its spreadsheet letter.
pub(super) fn spreadsheet_column(position: usize) -> String {
    let mut letters = Vec::new();
    let mut n = position + 1;
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    let letters: String = letters.into_iter().rev().collect();
    format!("{letters} ({})", position + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cells: &[&str]) -> Header {
        read_header(cells).unwrap_or_else(|e| panic!("{cells:?}: {e}"))
    }

    fn refused(cells: &[&str]) -> ValueError {
        read_header(cells).expect_err(&format!("{cells:?}"))
    }

    #[test]
    fn names_round_trip_and_three_are_required() {
        for c in Column::ALL {
            assert_eq!(Column::parse(c.name()), Some(c));
            assert_eq!(
                Column::parse(&format!(" {} ", c.name().to_uppercase())),
                Some(c)
            );
        }
        let required: Vec<_> = Column::ALL.into_iter().filter(|c| c.required()).collect();
        assert_eq!(
            required,
            [Column::FirstName, Column::LastName, Column::Email]
        );
        assert_eq!(Column::parse("\u{feff}First_Name"), Some(Column::FirstName));
        assert_eq!(Column::parse("first name"), None);
        assert_eq!(Column::parse("e-mail"), None);
    }

    #[test]
    fn template_header_and_examples_are_valid() {
        let t = template();
        let mut lines = t.lines();
        let head: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(header(&head).columns().collect::<Vec<_>>(), Column::ALL);
        for line in lines {
            assert_eq!(line.split(',').count(), Column::ALL.len(), "{line}");
        }
        assert!(t.contains("1234567893"));
        crate::Npi::parse("1234567893").unwrap();
        crate::Mobile::parse("+1 415 555 0123", None).unwrap();
        for e in TEMPLATE_EMAILS {
            assert!(t.contains(e));
        }
    }

    #[test]
    fn order_case_and_spaces_are_free() {
        let h = header(&[
            "\u{feff} Email",
            " First_Name ",
            "LAST_NAME",
            "npi",
            "",
            " ",
        ]);
        assert_eq!(
            h.columns().collect::<Vec<_>>(),
            [
                Column::Email,
                Column::FirstName,
                Column::LastName,
                Column::Npi
            ]
        );
        assert!(h.has(Column::Npi) && !h.has(Column::Mobile));
        assert_eq!(h.len(), 4);
        assert_eq!(h.column_at(1), Some(Column::FirstName));
    }

    #[test]
    fn every_unknown_column_is_listed_with_the_expected_ones() {
        let e = refused(&[
            "first_name",
            "last_name",
            "email",
            "Phone",
            "First Name",
            "Dept",
        ]);
        assert_eq!((e.field, e.code), ("header", "column_unknown"));
        assert!(
            e.message
                .contains("“Phone”, “First Name”, “Dept” are not columns of the template"),
            "{}",
            e.message
        );
        assert!(
            e.message
                .contains("did you mean first_name for “First Name”")
        );
        assert!(e.message.contains(&template_header()));
    }

    #[test]
    fn missing_duplicate_and_empty_columns() {
        let e = refused(&["first_name", "email"]);
        assert_eq!(e.code, "column_missing");
        assert!(e.message.contains("required column last_name is missing"));
        let e = refused(&["email"]);
        assert!(
            e.message
                .contains("first_name, last_name are missing: add them")
        );
        let e = refused(&["first_name", "last_name", "email", "EMAIL"]);
        assert_eq!(e.code, "column_duplicate");
        assert!(
            e.message
                .contains("email appears twice, in columns C (3) and D (4)")
        );
        let e = refused(&["first_name", "", "last_name", "email"]);
        assert_eq!(e.code, "column_name_empty");
        assert!(e.message.contains("column B (2)"));
        // All problems are named; the code is the first kind found.
        let e = refused(&["first_name", "x", "first_name", "", " email"]);
        assert_eq!(e.code, "column_unknown");
        for part in [
            "“x”",
            "last_name is missing",
            "appears twice",
            "column D (4)",
        ] {
            assert!(e.message.contains(part), "{part}: {}", e.message);
        }
    }

    #[test]
    fn explains_separators_and_missing_headers() {
        assert_eq!(
            refused(&["first_name;last_name;email"]).code,
            "file_wrong_separator"
        );
        assert_eq!(
            refused(&["first_name\tlast_name\temail"]).code,
            "file_wrong_separator"
        );
        assert_eq!(refused(&["Ann", "Lee", "ann@x.org"]).code, "header_missing");
    }

    #[test]
    fn spreadsheet_letters() {
        assert_eq!(spreadsheet_column(0), "A (1)");
        assert_eq!(spreadsheet_column(25), "Z (26)");
        assert_eq!(spreadsheet_column(26), "AA (27)");
        assert_eq!(spreadsheet_column(27 * 26), "AAA (703)");
    }
}
