//! People's names as every path takes them (profile, registration, invitations, pastes, the
//! import): trimmed, 1 to 100 characters, on one line.

use crate::ValueError;

/// The most characters a name may have.
pub const MAX_CHARS: usize = 100;

/// `text` trimmed, or why it cannot be a name; `label` says which name, e.g. "first name".
pub fn person_name(field: &'static str, label: &str, text: &str) -> Result<String, ValueError> {
    let name = text.trim();
    if name.is_empty() {
        return Err(ValueError::new(
            field,
            "name_missing",
            format!("Enter the {label} (1–{MAX_CHARS} characters)."),
        ));
    }
    let chars = name.chars().count();
    if chars > MAX_CHARS {
        return Err(ValueError::new(
            field,
            "name_too_long",
            format!(
                "The {label} has {chars} characters; at most {MAX_CHARS} are allowed: shorten it."
            ),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ValueError::new(
            field,
            "name_invalid",
            format!(
                "The {label} contains a line break or another control character: type it on one line."
            ),
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_trimmed_short_and_on_one_line() {
        assert_eq!(person_name("n", "name", "  Kim Lee ").unwrap(), "Kim Lee");
        assert_eq!(
            person_name("n", "name", "   ").unwrap_err().code,
            "name_missing"
        );
        let long = "x".repeat(MAX_CHARS + 1);
        assert_eq!(
            person_name("n", "name", &long).unwrap_err().code,
            "name_too_long"
        );
        assert_eq!(
            person_name("n", "name", &"x".repeat(MAX_CHARS))
                .unwrap()
                .len(),
            MAX_CHARS
        );
        assert_eq!(
            person_name("n", "name", "Kim\nLee").unwrap_err().code,
            "name_invalid"
        );
        assert_eq!(
            person_name("n", "name", "Kim\u{7}").unwrap_err().code,
            "name_invalid"
        );
    }
}
