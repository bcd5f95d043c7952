//! Errors of the use cases. Each variant maps to one kind of answer for a person or a client.

use rollcall_domain::{Refusal, ValueError};
use rollcall_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input that does not parse: says what is wrong and how to fix it.
    #[error("{0}")]
    Invalid(#[from] ValueError),
    /// Several fields that do not parse, each with what is wrong (a form or body checked whole).
    #[error("{}", .0.iter().map(|v| v.message.as_str()).collect::<Vec<_>>().join(" "))]
    InvalidFields(Vec<ValueError>),
    /// A rule of the rule engine refused the change.
    #[error("{}", .0.message)]
    Refused(Refusal),
    /// Not signed in, or the credentials are wrong (never says which part).
    #[error("{0}")]
    Unauthenticated(String),
    /// Signed in, but the access profile does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing with that id in this organization (the same answer whether it exists elsewhere or not).
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what is stored (already exists, already used).
    #[error("{0}")]
    Conflict(String),
    /// The client's copy is out of date (an `If-Match` that no longer matches): read it again.
    #[error("{0}")]
    Stale(String),
    /// The organization has too few free licence seats for the batch (says both numbers).
    #[error("{0}")]
    SeatsExhausted(String),
    /// Too many attempts: try again later.
    #[error("{0}")]
    RateLimited(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl AppError {
    /// One field error as it is, several as a list; `None` when there is none.
    pub fn of_fields(mut errors: Vec<ValueError>) -> Option<AppError> {
        match errors.len() {
            0 => None,
            1 => errors.pop().map(AppError::Invalid),
            _ => Some(AppError::InvalidFields(errors)),
        }
    }

    pub fn not_found(what: &str) -> AppError {
        AppError::NotFound(format!("No {what} with that id in this organization."))
    }
}

impl From<rollcall_store::SqlxError> for AppError {
    fn from(e: rollcall_store::SqlxError) -> Self {
        AppError::Store(e.into())
    }
}

/// Field errors gathered across a whole form or body, so every wrong field is reported at once
/// rather than the first one only.
#[derive(Debug, Default)]
pub(crate) struct FieldErrors(Vec<ValueError>);

impl FieldErrors {
    /// The value, or `None` with its error kept.
    pub(crate) fn take<T>(&mut self, result: Result<T, ValueError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }

    /// The value of a step that may refuse fields: its field errors are kept (and `None`
    /// answered) so later fields are still checked; any other error stops here.
    pub(crate) fn keep<T>(&mut self, result: Result<T, AppError>) -> Result<Option<T>, AppError> {
        match result {
            Ok(v) => Ok(Some(v)),
            Err(AppError::Invalid(e)) => {
                self.0.push(e);
                Ok(None)
            }
            Err(AppError::InvalidFields(all)) => {
                self.0.extend(all);
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    /// Nothing wrong, or every error at once.
    pub(crate) fn into_result(self) -> Result<(), AppError> {
        AppError::of_fields(self.0).map_or(Ok(()), Err)
    }
}
