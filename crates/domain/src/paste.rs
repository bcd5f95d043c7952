//! Addresses pasted into the invite box: separated by newlines, commas, semicolons or spaces,
//! bare or in `Name <addr>` form (the name may be quoted and contain separators).

use std::collections::HashSet;

use crate::email::Email;
use crate::error::ValueError;

/// Largest paste accepted, in bytes; a larger one is refused as a whole with a message.
pub const MAX_PASTE_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A new address in this batch.
    Valid(Email),
    /// Not an email address; the error says why.
    Invalid(ValueError),
    /// The same address (by match key) appeared earlier in the paste.
    Duplicate(Email),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// What the person typed for this entry, trimmed.
    pub raw: String,
    /// The display name of a `Name <addr>` entry.
    pub name: Option<String>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pasted {
    pub entries: Vec<Entry>,
}

impl Pasted {
    pub fn valid(&self) -> impl Iterator<Item = (&Email, Option<&str>)> {
        self.entries.iter().filter_map(|e| match &e.outcome {
            Outcome::Valid(m) => Some((m, e.name.as_deref())),
            _ => None,
        })
    }

    /// How many distinct addresses the paste holds: the live count people check.
    pub fn recognised(&self) -> usize {
        self.valid().count()
    }

    pub fn invalid(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.outcome, Outcome::Invalid(_)))
            .count()
    }

    pub fn duplicates(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| matches!(e.outcome, Outcome::Duplicate(_)))
            .count()
    }
}

/// Splits pasted text into entries and checks each one.
pub fn parse(text: &str) -> Result<Pasted, ValueError> {
    if text.len() > MAX_PASTE_BYTES {
        return Err(ValueError::new(
            "addresses",
            "paste_too_large",
            format!(
                "The pasted text is {} KB; at most {} KB can be pasted at once. Split the list into smaller batches, or import a CSV file.",
                text.len() / 1024,
                MAX_PASTE_BYTES / 1024
            ),
        ));
    }
    let mut seen = HashSet::new();
    let entries = split(text)
        .into_iter()
        .map(|(raw, name, address)| {
            let checked_name = name
                .as_deref()
                .map(|n| crate::name::person_name("addresses", "name", n))
                .transpose();
            let outcome = match (Email::parse(&address), checked_name) {
                (_, Err(e)) => Outcome::Invalid(e),
                (Ok(email), _) if seen.insert(email.match_key().to_string()) => {
                    Outcome::Valid(email)
                }
                (Ok(email), _) => Outcome::Duplicate(email),
                (Err(e), _) => Outcome::Invalid(e),
            };
            Entry { raw, name, outcome }
        })
        .collect();
    Ok(Pasted { entries })
}

/// (raw text, name, address) for each entry.
fn split(text: &str) -> Vec<(String, Option<String>, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut in_angle = false;
    let flush = |current: &mut String, out: &mut Vec<_>| {
        let raw = current.trim().to_string();
        current.clear();
        if !raw.is_empty() {
            out.push(entry(&raw));
        }
    };
    for (at, c) in text.char_indices() {
        match c {
            '"' if !in_angle => in_quotes = !in_quotes,
            '<' if !in_quotes => in_angle = true,
            '>' if !in_quotes && in_angle => {
                in_angle = false;
                current.push(c);
                // `Name <addr>` ends here, whatever follows.
                flush(&mut current, &mut out);
                continue;
            }
            _ => {}
        }
        let separator = matches!(c, '\n' | '\r' | ',' | ';') || c.is_whitespace();
        if separator && !in_quotes && !in_angle {
            // A space inside a name (`Dana Lee <…>`) is not a separator.
            if (c == ' ' || c == '\t')
                && !current.trim().is_empty()
                && name_continues(&current, &text[at..])
            {
                current.push(c);
                continue;
            }
            flush(&mut current, &mut out);
        } else {
            current.push(c);
        }
    }
    flush(&mut current, &mut out);
    out
}

/// Whether a space after `current` is inside a display name: nothing typed so far looks like an
/// address, and a `<` comes before the next line, comma, semicolon or address.
fn name_continues(current: &str, rest: &str) -> bool {
    if current.contains('@') {
        return false;
    }
    for c in rest.chars() {
        match c {
            '<' => return true,
            '\n' | '\r' | ',' | ';' | '@' => return false,
            _ => {}
        }
    }
    false
}

fn entry(raw: &str) -> (String, Option<String>, String) {
    if let (Some(open), Some(close)) = (raw.rfind('<'), raw.rfind('>'))
        && open < close
    {
        let name = raw[..open].trim().trim_matches('"').trim();
        let address = raw[open + 1..close].trim().to_string();
        return (
            raw.to_string(),
            (!name.is_empty()).then(|| name.to_string()),
            address,
        );
    }
    (raw.to_string(), None, raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(p: &Pasted) -> Vec<&str> {
        p.valid().map(|(e, _)| e.as_str()).collect()
    }

    #[test]
    fn every_separator_works() {
        let p = parse("a@x.org\nb@x.org, c@x.org; d@x.org e@x.org\r\nf@x.org\t g@x.org").unwrap();
        assert_eq!(
            addresses(&p),
            [
                "a@x.org", "b@x.org", "c@x.org", "d@x.org", "e@x.org", "f@x.org", "g@x.org"
            ]
        );
    }

    #[test]
    fn named_forms_keep_the_name() {
        let p = parse("Dana Lee <dana@x.org>, \"Ward, Sam\" <sam@y.org>; <bare@z.org> plain@z.org")
            .unwrap();
        let got: Vec<_> = p.valid().map(|(e, n)| (e.as_str(), n)).collect();
        assert_eq!(
            got,
            [
                ("dana@x.org", Some("Dana Lee")),
                ("sam@y.org", Some("Ward, Sam")),
                ("bare@z.org", None),
                ("plain@z.org", None)
            ]
        );
    }

    #[test]
    fn invalid_and_duplicates_are_reported_not_counted() {
        let p = parse("a@x.org, A@X.ORG, not-an-address, b@x.org\nb@x.org, @x.org").unwrap();
        assert_eq!(p.recognised(), 2);
        assert_eq!(p.duplicates(), 2);
        assert_eq!(p.invalid(), 2);
        let bad: Vec<_> = p
            .entries
            .iter()
            .filter(|e| matches!(e.outcome, Outcome::Invalid(_)))
            .map(|e| e.raw.as_str())
            .collect();
        assert_eq!(bad, ["not-an-address", "@x.org"]);
    }

    #[test]
    fn names_may_hold_digits_and_follow_bare_addresses() {
        let p =
            parse("a@x.org Staff Member10 <b@x.org> c@x.org; Dr. J. O'Neil-Smith 3rd <d@x.org>")
                .unwrap();
        let got: Vec<_> = p.valid().map(|(e, n)| (e.as_str(), n)).collect();
        assert_eq!(
            got,
            [
                ("a@x.org", None),
                ("b@x.org", Some("Staff Member10")),
                ("c@x.org", None),
                ("d@x.org", Some("Dr. J. O'Neil-Smith 3rd"))
            ]
        );
        assert_eq!(p.invalid(), 0);
    }

    #[test]
    fn loose_words_are_entries_of_their_own() {
        let p = parse("hello there a@x.org").unwrap();
        assert_eq!(p.recognised(), 1);
        assert_eq!(p.invalid(), 2);
    }

    #[test]
    fn empty_and_oversized_pastes() {
        assert_eq!(parse("  \n ,; ").unwrap().entries.len(), 0);
        let huge = "a@x.org\n".repeat(MAX_PASTE_BYTES / 8 + 1);
        assert_eq!(parse(&huge).unwrap_err().code, "paste_too_large");
    }
}
