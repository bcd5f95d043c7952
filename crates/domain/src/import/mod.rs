//! CSV import (C5), the part that needs no store: the template, the header, a streaming reader
//! and the check of one row alone. Cross-row and store-dependent checks (the same address twice,
//! an address already in the organization) belong to the app; their sentences live here so that
//! every path words them the same.

mod check;
mod column;
mod reader;

use serde::{Deserialize, Serialize};

use crate::error::{ValueError, quoted};

pub use check::{Catalogue, Checked, check_row};
pub use column::{Column, Header, read_header, template, template_at};
pub use reader::{MAX_ROW_BYTES, RawRow, Reader};

/// The most issues reported for one row; beyond that the review table would only get noisier.
pub const MAX_ROW_ISSUES: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The row cannot be imported until it is fixed.
    Error,
    /// The row can be imported; the admin should still look.
    Warning,
}

/// One problem with a row: which column (none: the whole row), a stable code, a sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Issue {
    /// The column at fault; `null` for the whole row.
    pub column: Option<Column>,
    pub severity: Severity,
    pub code: String,
    pub message: String,
}

impl Issue {
    pub fn error(column: Option<Column>, code: &str, message: impl Into<String>) -> Issue {
        Issue {
            column,
            severity: Severity::Error,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    pub fn warning(column: Option<Column>, code: &str, message: impl Into<String>) -> Issue {
        Issue {
            column,
            severity: Severity::Warning,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    /// A value type's error, attached to the column it came from.
    pub fn from_value_error(column: Column, e: ValueError) -> Issue {
        Issue::error(Some(column), e.code, e.message)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The same address (by match key) on an earlier line of the file.
    pub fn duplicate_in_file(email: &str, first_line: u64) -> Issue {
        Issue::error(
            Some(Column::Email),
            "duplicate_in_file",
            format!(
                "{} is already on line {first_line} of this file (addresses differing only in letter case are the same address): keep one of the two rows.",
                quoted(email)
            ),
        )
    }

    /// The address belongs to a user of the organization, whatever that user's status or
    /// locations: importing would create a second account for one person.
    pub fn already_in_organization(email: &str, org_name: &str) -> Issue {
        Issue::error(
            Some(Column::Email),
            "already_in_organization",
            format!(
                "{} already belongs to a user of {org_name} (active, pending or deactivated, at any location): remove this row, and change that user from the user list instead.",
                quoted(email)
            ),
        )
    }

    pub fn username_in_file(username: &str, first_line: u64) -> Issue {
        Issue::error(
            Some(Column::Username),
            "username_duplicate_in_file",
            format!(
                "The username {} is already used on line {first_line} of this file: give one of the two rows another username, or leave its cell empty to derive one from the email.",
                quoted(username)
            ),
        )
    }

    pub fn username_taken(username: &str) -> Issue {
        Issue::error(
            Some(Column::Username),
            "username_taken",
            format!(
                "The username {} is already taken in this organization: choose another, or leave the cell empty to derive one from the email.",
                quoted(username)
            ),
        )
    }
}

/// A row the reader could not turn into cells, or a stream failure (then the reading stops).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RowError {
    pub line: u64,
    pub issue: Issue,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.issue.message)
    }
}

impl std::error::Error for RowError {}

/// `a, b, c` with at most `max` items, then how many more: a catalogue of hundreds of locations
/// must not turn one message into a page.
fn listing<'a>(items: impl IntoIterator<Item = &'a str>, max: usize) -> String {
    let items: Vec<&str> = items.into_iter().collect();
    let mut shown = items[..items.len().min(max)].join(", ");
    if items.len() > max {
        shown.push_str(&format!(" and {} more", items.len() - max));
    }
    shown
}

/// `“a”` or `“a”, “b”`, each quoted.
fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| quoted(s))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_row_issues_name_the_line_and_the_fix() {
        let d = Issue::duplicate_in_file("Ann@X.org", 4);
        assert_eq!(
            (d.column, d.severity, d.code.as_str()),
            (Some(Column::Email), Severity::Error, "duplicate_in_file")
        );
        assert!(d.message.contains("“Ann@X.org”") && d.message.contains("line 4"));
        assert!(d.message.contains("differing only in letter case"));
        let a = Issue::already_in_organization("ann@x.org", "Bayside Rehab");
        assert_eq!(a.code, "already_in_organization");
        assert!(a.message.contains("Bayside Rehab") && a.message.contains("deactivated"));
        let u = Issue::username_in_file("ann", 2);
        assert_eq!(
            (u.column, u.code.as_str()),
            (Some(Column::Username), "username_duplicate_in_file")
        );
        assert_eq!(Issue::username_taken("ann").code, "username_taken");
    }

    #[test]
    fn severity_and_column_use_snake_case() {
        use serde::de::{Deserialize, IntoDeserializer, value::Error};
        let c = Column::deserialize(IntoDeserializer::<Error>::into_deserializer(
            "default_location",
        ));
        assert_eq!(c.unwrap(), Column::DefaultLocation);
        let s = Severity::deserialize(IntoDeserializer::<Error>::into_deserializer("warning"));
        assert_eq!(s.unwrap(), Severity::Warning);
    }
}
