//! A console form shown again after a refusal: it keeps what the manager typed and ties each
//! refusal to its field, so nothing typed is lost and every problem is listed at once.

use rollcall_app::AppError;

/// What a form shows: the stored values on first view; after a refusal, what was typed and why
/// it was refused.
#[derive(Default)]
pub struct FormState {
    typed: Option<Vec<(String, String)>>,
    errors: Vec<FieldProblem>,
    /// Starts the ids of the form's fields, so two forms on one page keep them apart.
    prefix: &'static str,
}

/// One refused field (`field` empty for a refusal of the whole change, such as a rule).
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

impl FormState {
    /// A form filled from what is stored.
    pub fn stored() -> FormState {
        FormState::default()
    }

    /// A form shown again with what was typed (`pairs`) and what `error` refused.
    pub fn refused(pairs: Vec<(String, String)>, error: &AppError) -> FormState {
        FormState {
            typed: Some(pairs),
            errors: problems_of(error),
            prefix: "",
        }
    }

    /// The same form, its field ids starting with `prefix` (one of several forms on a page).
    pub fn within(mut self, prefix: &'static str) -> FormState {
        self.prefix = prefix;
        self
    }

    /// The id of field `name`'s control, which the summary links to.
    pub fn id(&self, name: &str) -> String {
        format!("{}f-{name}", self.prefix)
    }

    /// The text a field shows: what was typed, else what is stored.
    pub fn text(&self, name: &str, stored: impl AsRef<str>) -> String {
        match &self.typed {
            Some(pairs) => super::first_value(pairs, name).to_string(),
            None => stored.as_ref().to_string(),
        }
    }

    /// Whether a box, radio button or option with `value` shows chosen.
    pub fn chosen(&self, name: &str, value: impl AsRef<str>, stored: bool) -> bool {
        match &self.typed {
            Some(pairs) => super::field(pairs, name).any(|v| v == value.as_ref()),
            None => stored,
        }
    }

    /// Why this field was refused, if it was.
    pub fn error(&self, name: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|p| p.field == name)
            .map(|p| p.message.as_str())
    }

    /// Every refusal, in the order found, for the summary at the top of the form.
    pub fn problems(&self) -> &[FieldProblem] {
        &self.errors
    }
}

/// Each field error on its own; any other refusal as one problem of the whole form.
fn problems_of(error: &AppError) -> Vec<FieldProblem> {
    let one = |field: &str, message: &str| FieldProblem {
        field: field.to_string(),
        message: message.to_string(),
    };
    match error {
        AppError::Invalid(e) => vec![one(e.field, &e.message)],
        AppError::InvalidFields(all) => all.iter().map(|e| one(e.field, &e.message)).collect(),
        other => vec![one("", &other.to_string())],
    }
}
