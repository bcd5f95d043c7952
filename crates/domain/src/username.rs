use crate::email::Email;
use crate::error::{ValueError, quoted};

const MIN_LEN: usize = 3;
const MAX_LEN: usize = 64;
const CODE: &str = "username_invalid";

/// A sign-in name: 3–64 characters of `a-z 0-9 . _ -`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

impl Username {
    pub fn parse(input: &str) -> Result<Username, ValueError> {
        let name = input.trim().to_lowercase();
        let fail = |why: &str| {
            Err(ValueError::new(
                "username",
                CODE,
                format!("{} is not a valid username: {why}.", quoted(input.trim())),
            ))
        };
        if name.is_empty() {
            return Err(ValueError::new(
                "username",
                CODE,
                "A username is required: use 3 to 64 letters, digits, dots, hyphens or underscores.",
            ));
        }
        if let Some(c) = name.chars().find(|c| !is_allowed(*c)) {
            return fail(&format!(
                "“{c}” is not allowed; use letters, digits, dots, hyphens and underscores"
            ));
        }
        if name.len() < MIN_LEN {
            return fail("it must have at least 3 characters");
        }
        if name.len() > MAX_LEN {
            return fail("it must have at most 64 characters");
        }
        if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return fail("it must start with a letter or a digit");
        }
        Ok(Username(name))
    }

    /// The username proposed for a new account: the email's local part, reduced to the allowed
    /// characters. A `+tag` is dropped so that `ann+pt@x.org` becomes `ann`.
    pub fn from_email(email: &Email) -> Username {
        let local = email.local_part();
        let local = match local.split_once('+') {
            Some((base, _)) if !base.is_empty() => base,
            _ => local,
        };
        let mut name = String::with_capacity(local.len());
        for c in local.chars().map(|c| c.to_ascii_lowercase()) {
            let keep = c.is_ascii_alphanumeric()
                || (is_separator(c) && !name.is_empty() && !name.ends_with(is_separator));
            if keep {
                name.push(c);
            }
        }
        name.truncate(MAX_LEN);
        while name.ends_with(is_separator) {
            name.pop();
        }
        if name.is_empty() {
            name.push_str("user");
        }
        while name.len() < MIN_LEN {
            name.push('0');
        }
        Username(name)
    }

    /// The same name with a number appended, for when the plain one is taken:
    /// `ann.lee` → `ann.lee2`. The base is shortened if needed to stay within 64 characters.
    pub fn with_suffix(&self, n: u32) -> Username {
        let suffix = n.to_string();
        let keep = self.0.len().min(MAX_LEN - suffix.len());
        Username(format!("{}{suffix}", &self.0[..keep]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_separator(c: char) -> bool {
    matches!(c, '.' | '_' | '-')
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || is_separator(c)
}

string_value!(Username, as_str, Username::parse);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn from(email: &str) -> String {
        Username::from_email(&Email::parse(email).unwrap()).0
    }

    #[test]
    fn parses_trimmed_and_lowercased() {
        assert_eq!(Username::parse("  Ann.Lee ").unwrap().as_str(), "ann.lee");
        assert_eq!(Username::parse("a_b-1").unwrap().as_str(), "a_b-1");
        assert_eq!(Username::parse("007").unwrap().as_str(), "007");
        Username::parse(&"a".repeat(64)).unwrap();
    }

    #[test]
    fn rejects_bad_names() {
        for s in [
            "",
            "ab",
            ".ann",
            "-ann",
            "_ann",
            "ann lee",
            "ann@x",
            "anné",
            &"a".repeat(65),
        ] {
            let e = Username::parse(s).expect_err(s);
            assert_eq!(e.code, CODE, "{s}");
        }
        assert!(
            Username::parse("ab")
                .unwrap_err()
                .message
                .contains("at least 3")
        );
    }

    #[test]
    fn derives_from_email() {
        assert_eq!(from("Ann.Lee@x.org"), "ann.lee");
        assert_eq!(from("ann+pt@x.org"), "ann");
        assert_eq!(from("o'brien@x.org"), "obrien");
        assert_eq!(from("a.__b@x.org"), "a.b");
        assert_eq!(from("a.-_b@x.org"), "a.b");
        assert_eq!(from("_ann_@x.org"), "ann");
        assert_eq!(from("jo@x.org"), "jo0");
        assert_eq!(from("j@x.org"), "j00");
        assert_eq!(from("+++@x.org"), "user");
        assert_eq!(from(&format!("{}@x.org", "a".repeat(64))).len(), 64);
    }

    #[test]
    fn suffix_keeps_within_the_limit() {
        let ann = Username::parse("ann.lee").unwrap();
        assert_eq!(ann.with_suffix(2).as_str(), "ann.lee2");
        let long = Username::parse(&"a".repeat(64)).unwrap();
        let s = long.with_suffix(123);
        assert_eq!(s.as_str().len(), 64);
        assert!(s.as_str().ends_with("a123"));
    }

    proptest! {
        #[test]
        fn derived_names_always_parse(local in "[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}") {
            prop_assume!(!local.starts_with('.') && !local.ends_with('.') && !local.contains(".."));
            let email = Email::parse(&format!("{local}@x.org")).unwrap();
            let name = Username::from_email(&email);
            prop_assert_eq!(Username::parse(name.as_str()).unwrap(), name.clone());
            prop_assert_eq!(Username::parse(name.with_suffix(4_000_000_000).as_str()).unwrap(), name.with_suffix(4_000_000_000));
        }
    }
}
