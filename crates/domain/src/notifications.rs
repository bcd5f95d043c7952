//! Notification preferences: which categories of notification a user receives, by which medium.
//! An organization offers a subset of these (its settings); each user switches pairs on or off.

use crate::error::{ValueError, quoted};

/// Categories of notification, by code and label.
pub const CATEGORIES: &[(&str, &str)] = &[
    ("appointments", "Appointment reminders"),
    ("schedule", "Schedule changes"),
    ("messages", "Messages"),
    ("tasks", "Tasks and unsigned notes"),
    ("billing", "Billing"),
];

/// Media a notification can come by.
pub const MEDIA: &[(&str, &str)] = &[
    ("email", "Email"),
    ("sms", "Text message"),
    ("push", "Mobile app"),
];

pub fn category_label(code: &str) -> &str {
    CATEGORIES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, l)| l)
}

pub fn medium_label(code: &str) -> &str {
    MEDIA
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, l)| l)
}

/// Parses `category:medium` (as forms and the API send a switched-on pair) against what the
/// organization offers.
pub fn parse_choice(
    input: &str,
    categories: &[String],
    media: &[String],
) -> Result<(String, String), ValueError> {
    let bad = |why: String| ValueError::new("notifications", "notification_invalid", why);
    let (c, m) = input.trim().split_once(':').ok_or_else(|| {
        bad(format!(
            "{} is not a notification choice: write category:medium, e.g. appointments:email.",
            quoted(input)
        ))
    })?;
    if !categories.iter().any(|x| x == c) {
        return Err(bad(format!(
            "{} is not a notification category this organization offers; choose from {}.",
            quoted(c),
            categories.join(", ")
        )));
    }
    if !media.iter().any(|x| x == m) {
        return Err(bad(format!(
            "{} is not a notification medium this organization offers; choose from {}.",
            quoted(m),
            media.join(", ")
        )));
    }
    Ok((c.to_string(), m.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered() -> (Vec<String>, Vec<String>) {
        (
            CATEGORIES.iter().map(|(c, _)| c.to_string()).collect(),
            vec!["email".to_string()],
        )
    }

    #[test]
    fn choices_parse_against_what_is_offered() {
        let (c, m) = offered();
        assert_eq!(
            parse_choice("messages:email", &c, &m).unwrap(),
            ("messages".into(), "email".into())
        );
        let e = parse_choice("messages:sms", &c, &m).unwrap_err();
        assert!(e.message.contains("choose from email"), "{}", e.message);
        assert!(parse_choice("fax:email", &c, &m).is_err());
        assert!(parse_choice("messages", &c, &m).is_err());
    }
}
