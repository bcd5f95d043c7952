//! The kinds of bulk job Rollcall runs.

use crate::ValueError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum JobKind {
    /// Permissions and locations added or removed for a selection of users.
    BulkUpdate,
    /// People imported from a CSV file.
    CsvImport,
    /// People added from the practice's directory.
    DirectoryAdd,
}

impl JobKind {
    pub const ALL: [JobKind; 3] = [
        JobKind::BulkUpdate,
        JobKind::CsvImport,
        JobKind::DirectoryAdd,
    ];

    /// The stored and API name.
    pub const fn key(self) -> &'static str {
        match self {
            JobKind::BulkUpdate => "bulk_update",
            JobKind::CsvImport => "csv_import",
            JobKind::DirectoryAdd => "directory_add",
        }
    }

    /// In a sentence or a list of jobs.
    pub fn label(self) -> &'static str {
        match self {
            JobKind::BulkUpdate => "bulk update",
            JobKind::CsvImport => "csv import",
            JobKind::DirectoryAdd => "directory add",
        }
    }

    pub fn parse(key: &str) -> Result<JobKind, ValueError> {
        JobKind::ALL
            .into_iter()
            .find(|k| k.key() == key)
            .ok_or_else(|| {
                ValueError::new(
                    "kind",
                    "job_kind_unknown",
                    format!("“{key}” is not a kind of job Rollcall runs."),
                )
            })
    }

    /// Imports create people; their pages and reports speak of rows rather than users.
    pub fn is_import(self) -> bool {
        matches!(self, JobKind::CsvImport | JobKind::DirectoryAdd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_back_from_their_keys() {
        for k in JobKind::ALL {
            assert_eq!(JobKind::parse(k.key()).unwrap(), k);
        }
        assert!(JobKind::parse("nightly").is_err());
    }
}
