use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use crate::error::{ValueError, quoted};

const MAX_LEN: usize = 254;
const MAX_LOCAL_LEN: usize = 64;
const MAX_LABEL_LEN: usize = 63;
const CODE: &str = "email_invalid";

/// An email address, kept as typed (for sending) with the key used to find duplicates:
/// local part lowercased, domain in lowercase IDNA ASCII. Equality, ordering and hashing
/// use the key only, so `Ann@X.org` and `ann@x.org` are the same person.
#[derive(Debug, Clone)]
pub struct Email {
    as_typed: String,
    match_key: String,
}

impl Email {
    pub fn parse(input: &str) -> Result<Email, ValueError> {
        let typed = input.trim();
        if typed.is_empty() {
            return Err(ValueError::new(
                "email",
                CODE,
                "An email address is required: enter one like name@example.org.",
            ));
        }
        let fail = |why: &str| {
            Err(ValueError::new(
                "email",
                CODE,
                format!("{} is not an email address: {why}.", quoted(typed)),
            ))
        };
        if typed.chars().count() > MAX_LEN {
            return fail("it is longer than 254 characters");
        }
        let Some((local, domain)) = typed.split_once('@') else {
            return fail("it must look like name@example.org");
        };
        if domain.contains('@') {
            return fail("it must contain a single @, like name@example.org");
        }
        if local.is_empty() {
            return fail("there is nothing before the @; it must look like name@example.org");
        }
        if local.len() > MAX_LOCAL_LEN {
            return fail("the part before the @ is longer than 64 characters");
        }
        if let Some(c) = local.chars().find(|c| !is_local_char(*c)) {
            return fail(&format!("“{c}” is not allowed before the @"));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return fail(
                "the part before the @ cannot start or end with a dot or have two dots in a row",
            );
        }
        if domain.is_empty() {
            return fail("there is nothing after the @; it must look like name@example.org");
        }
        let ascii_domain = match idna::domain_to_ascii(domain) {
            Ok(d) => d.to_ascii_lowercase(),
            Err(_) => return fail(&format!("{} is not a valid domain name", quoted(domain))),
        };
        if let Err(why) = check_domain(&ascii_domain) {
            return fail(why);
        }
        let match_key = format!("{}@{}", local.to_ascii_lowercase(), ascii_domain);
        if match_key.len() > MAX_LEN {
            return fail("it is longer than 254 characters once the domain is encoded");
        }
        Ok(Email {
            as_typed: typed.to_owned(),
            match_key,
        })
    }

    /// As typed, without surrounding spaces: the address to send to.
    pub fn as_str(&self) -> &str {
        &self.as_typed
    }

    /// The key that decides whether two addresses are the same person.
    pub fn match_key(&self) -> &str {
        &self.match_key
    }

    /// The part before the @, as typed.
    pub fn local_part(&self) -> &str {
        let at = self.as_typed.find('@').expect("a parsed email has an @");
        &self.as_typed[..at]
    }

    /// The part after the @, as typed (possibly Unicode).
    pub fn domain(&self) -> &str {
        let at = self.as_typed.find('@').expect("a parsed email has an @");
        &self.as_typed[at + 1..]
    }

    /// The domain in lowercase IDNA ASCII, as in the match key.
    pub fn ascii_domain(&self) -> &str {
        let at = self.match_key.find('@').expect("a match key has an @");
        &self.match_key[at + 1..]
    }
}

/// The characters the WHATWG `valid email address` production allows before the @.
fn is_local_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c)
}

fn check_domain(ascii: &str) -> Result<(), &'static str> {
    const SHAPE: &str = "the part after the @ must be a domain like example.org";
    if ascii.len() > MAX_LEN - 2 {
        return Err("the domain is too long");
    }
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err(SHAPE);
    }
    for label in &labels {
        let well_formed = !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !well_formed {
            return Err(
                "each part of the domain must be 1 to 63 letters, digits or inner hyphens, like example.org",
            );
        }
    }
    // A numeric last label means an IP address, which is no mailbox a clinic should invite.
    if labels[labels.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
        return Err(SHAPE);
    }
    Ok(())
}

impl PartialEq for Email {
    fn eq(&self, other: &Self) -> bool {
        self.match_key == other.match_key
    }
}

impl Eq for Email {}

impl Hash for Email {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.match_key.hash(state);
    }
}

impl PartialOrd for Email {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Email {
    fn cmp(&self, other: &Self) -> Ordering {
        self.match_key.cmp(&other.match_key)
    }
}

string_value!(Email, as_str, Email::parse);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn ok(s: &str) -> Email {
        Email::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn accepts_common_addresses() {
        for s in [
            "ann@example.org",
            "ann.lee+pt@clinic.example.com",
            "o'brien@x.co",
            "a_b-c@sub-1.example.org",
            "x@xn--bcher-kva.example",
            "!#$%&'*+/=?^_`{|}~-@example.org",
        ] {
            ok(s);
        }
    }

    #[test]
    fn keeps_as_typed_and_builds_the_key() {
        let e = ok("  Ann.Lee@Clinic.Example.ORG ");
        assert_eq!(e.as_str(), "Ann.Lee@Clinic.Example.ORG");
        assert_eq!(e.match_key(), "ann.lee@clinic.example.org");
        assert_eq!(e.local_part(), "Ann.Lee");
        assert_eq!(e.domain(), "Clinic.Example.ORG");
        assert_eq!(e.ascii_domain(), "clinic.example.org");
        assert_eq!(e.to_string(), "Ann.Lee@Clinic.Example.ORG");
    }

    #[test]
    fn unicode_domains_become_idna_ascii_in_the_key() {
        let e = ok("Jo@Bücher.Example");
        assert_eq!(e.as_str(), "Jo@Bücher.Example");
        assert_eq!(e.match_key(), "jo@xn--bcher-kva.example");
        assert_eq!(e, ok("jo@xn--bcher-kva.example"));
    }

    #[test]
    fn equality_and_hash_use_the_key_only() {
        assert_eq!(ok("Ann@X.org"), ok("ann@x.org"));
        assert_ne!(ok("ann@x.org"), ok("ann2@x.org"));
        let set: HashSet<Email> = ["Ann@X.org", "ann@x.org", "ANN@x.ORG", "bo@x.org"]
            .into_iter()
            .map(ok)
            .collect();
        assert_eq!(set.len(), 2);
        assert!(ok("a@x.org") < ok("B@x.org"));
    }

    #[test]
    fn rejects_what_is_not_an_address() {
        for s in [
            "",
            "   ",
            "bob",
            "bob@@x.org",
            "a@b@x.org",
            "@x.org",
            "bob@",
            "bob@localhost",
            "bob@x..org",
            "bob@x.org.",
            "bob@-x.org",
            "bob@x-.org",
            "bob@x_y.org",
            ".bob@x.org",
            "bob.@x.org",
            "bo..b@x.org",
            "bo b@x.org",
            "bob(x)@x.org",
            "josé@x.org",
            "bob@1.2.3.4",
            "bob@[1.2.3.4]",
        ] {
            let e = Email::parse(s).expect_err(s);
            assert_eq!(e.code, "email_invalid", "{s}");
            assert_eq!(e.field, "email");
        }
    }

    #[test]
    fn message_quotes_the_input_and_shows_the_expected_form() {
        let e = Email::parse("bob@@x").unwrap_err();
        assert!(
            e.message.contains("“bob@@x” is not an email address"),
            "{}",
            e.message
        );
        assert!(e.message.contains("name@example.org"), "{}", e.message);
    }

    #[test]
    fn enforces_lengths() {
        let local64 = "a".repeat(64);
        ok(&format!("{local64}@x.org"));
        assert!(Email::parse(&format!("a{local64}@x.org")).is_err());
        let label = "b".repeat(63);
        ok(&format!("a@{label}.org"));
        assert!(Email::parse(&format!("a@b{label}.org")).is_err());
        let long_domain = format!("{0}.{0}.{0}.{0}.org", "c".repeat(63));
        assert!(Email::parse(&format!("a@{long_domain}")).is_err());
    }

    #[test]
    fn deserializes_through_the_parser() {
        use serde::de::{Deserialize, IntoDeserializer, value::Error};
        let e = Email::deserialize(IntoDeserializer::<Error>::into_deserializer("Ann@X.org"));
        assert_eq!(e.unwrap().as_str(), "Ann@X.org");
        let bad = Email::deserialize(IntoDeserializer::<Error>::into_deserializer("nope"));
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("is not an email address")
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = Email::parse(&s);
        }

        #[test]
        fn key_ignores_case(local in "[a-zA-Z0-9]{1,20}", domain in "[a-zA-Z]{1,20}") {
            let a = Email::parse(&format!("{local}@{domain}.org")).unwrap();
            let b = Email::parse(&format!("{}@{}.ORG", local.to_uppercase(), domain.to_lowercase())).unwrap();
            prop_assert_eq!(a, b);
        }
    }
}
