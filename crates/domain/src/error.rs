use serde::Serialize;

/// Input that is not a valid value: the field, a stable snake_case code for machines, and a
/// sentence for a person that says what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct ValueError {
    pub field: &'static str,
    pub code: &'static str,
    pub message: String,
}

impl ValueError {
    pub fn new(field: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        ValueError {
            field,
            code,
            message: message.into(),
        }
    }
}

/// Puts user input in quotes for a message, shortened so that a pasted page cannot flood a report.
pub(crate) fn quoted(input: &str) -> String {
    const MAX_CHARS: usize = 60;
    let mut shown: String = input.chars().take(MAX_CHARS).collect();
    if input.chars().nth(MAX_CHARS).is_some() {
        shown.push('…');
    }
    format!("“{shown}”")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_shortens_long_input() {
        assert_eq!(quoted("ab"), "“ab”");
        let long = "x".repeat(100);
        assert_eq!(quoted(&long).chars().count(), 60 + 3);
    }

    #[test]
    fn displays_the_message() {
        let e = ValueError::new("npi", "npi_invalid_length", "Too short.");
        assert_eq!(e.to_string(), "Too short.");
    }
}
