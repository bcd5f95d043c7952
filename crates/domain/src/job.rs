//! The kinds of bulk job Rollcall runs and the states a job goes through.

use crate::ValueError;
use crate::rules::Outcome;

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

string_value!(JobKind, key, JobKind::parse);
key_schema!(JobKind, key, "What the job does.");

/// Where a job is: an import is read (draft) and waits for review (validated) before it is
/// queued; every job then runs until it finishes in one of the three outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    Draft,
    Validated,
    Queued,
    Running,
    Succeeded,
    PartiallySucceeded,
    Failed,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        JobState::Draft,
        JobState::Validated,
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::PartiallySucceeded,
        JobState::Failed,
    ];

    /// The stored and API name.
    pub const fn key(self) -> &'static str {
        match self {
            JobState::Draft => "draft",
            JobState::Validated => "validated",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::PartiallySucceeded => "partially_succeeded",
            JobState::Failed => "failed",
        }
    }

    /// In a list of jobs.
    pub fn label(self) -> &'static str {
        match self {
            JobState::Draft => "draft",
            JobState::Validated => "awaiting review",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::PartiallySucceeded => "partially succeeded",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(key: &str) -> Result<JobState, ValueError> {
        JobState::ALL
            .into_iter()
            .find(|s| s.key() == key)
            .ok_or_else(|| {
                ValueError::new(
                    "state",
                    "job_state_unknown",
                    format!("“{key}” is not a state a job can be in."),
                )
            })
    }

    /// Succeeded, partially succeeded or failed: nothing more will happen to it.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::PartiallySucceeded | JobState::Failed
        )
    }

    /// Read from the file or the directory but not yet committed: an import under review.
    pub fn is_under_review(self) -> bool {
        matches!(self, JobState::Draft | JobState::Validated)
    }
}

/// A job finishes in the state its outcome names.
impl From<Outcome> for JobState {
    fn from(outcome: Outcome) -> JobState {
        match outcome {
            Outcome::Succeeded => JobState::Succeeded,
            Outcome::PartiallySucceeded => JobState::PartiallySucceeded,
            Outcome::Failed => JobState::Failed,
        }
    }
}

string_value!(JobState, key, JobState::parse);
key_schema!(
    JobState,
    key,
    "Where the job is: an import is `draft` while read and `validated` until committed; every job is then `queued`, `running`, and ends `succeeded`, `partially_succeeded` or `failed`."
);

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

    #[test]
    fn states_parse_back_from_their_keys() {
        for s in JobState::ALL {
            assert_eq!(JobState::parse(s.key()).unwrap(), s);
        }
        assert!(JobState::parse("paused").is_err());
    }

    #[test]
    fn outcomes_are_finished_states_of_the_same_name() {
        for o in [
            Outcome::Succeeded,
            Outcome::PartiallySucceeded,
            Outcome::Failed,
        ] {
            let state = JobState::from(o);
            assert!(state.is_finished());
            assert_eq!(state.key(), o.as_str());
        }
        let finished: Vec<_> = JobState::ALL
            .into_iter()
            .filter(|s| s.is_finished())
            .collect();
        assert_eq!(
            finished,
            [
                JobState::Succeeded,
                JobState::PartiallySucceeded,
                JobState::Failed
            ]
        );
    }
}
