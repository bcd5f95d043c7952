use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// A kind of staff member. Types are organization data: the built-in ones below can be extended,
/// and the rule engine reads their tags rather than their codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserTypeDef {
    pub code: String,
    pub label: String,
    pub tags: BTreeSet<String>,
}

impl UserTypeDef {
    pub fn new(code: &str, label: &str, tags: &[&str]) -> UserTypeDef {
        UserTypeDef {
            code: code.to_owned(),
            label: label.to_owned(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    /// The label up to its dash: `PTA` for `PTA — Physical therapist assistant`.
    pub fn short_label(&self) -> &str {
        self.label
            .split_once(" — ")
            .map_or(self.label.as_str(), |(short, _)| short)
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.contains(tag)
    }
}

pub fn builtin_user_types() -> Vec<UserTypeDef> {
    const THERAPIST: &[&str] = &["therapist"];
    const ASSISTANT: &[&str] = &["assistant"];
    const STUDENT: &[&str] = &["student"];
    const NON_CLINICAL: &[&str] = &["non_clinical"];
    [
        ("pt", "PT — Physical therapist", THERAPIST),
        ("ot", "OT — Occupational therapist", THERAPIST),
        ("slp", "SLP — Speech-language pathologist", THERAPIST),
        ("pta", "PTA — Physical therapist assistant", ASSISTANT),
        (
            "cota",
            "COTA — Certified occupational therapy assistant",
            ASSISTANT,
        ),
        (
            "slpa",
            "SLPA — Speech-language pathology assistant",
            ASSISTANT,
        ),
        ("spt", "SPT — Student physical therapist", STUDENT),
        ("sot", "SOT — Student occupational therapist", STUDENT),
        (
            "sslp",
            "SSLP — Student speech-language pathologist",
            STUDENT,
        ),
        ("rtt", "RTT — Rehab therapy technician", ASSISTANT),
        ("atc", "ATC — Athletic trainer", &[]),
        ("physician", "Physician", &[]),
        ("np", "NP — Nurse practitioner", &[]),
        ("pa", "PA — Physician assistant", &[]),
        ("nurse", "Nurse", &[]),
        ("front_desk", "Front desk", &[]),
        ("clerical", "Clerical", NON_CLINICAL),
        ("billing", "Billing", NON_CLINICAL),
        ("administrator", "Administrator", &[]),
    ]
    .into_iter()
    .map(|(code, label, tags)| UserTypeDef::new(code, label, tags))
    .collect()
}

/// Normalizes how people write a type to its code: `PTA` → `pta`, `Front Desk` and
/// `front-desk` → `front_desk`, `PT — Physical therapist` → `pt`.
pub fn parse_code(input: &str) -> String {
    let head = input.split_once('—').map_or(input, |(head, _)| head);
    let mut code = String::with_capacity(head.len());
    for word in head
        .split(|c: char| c.is_whitespace() || c == '-' || c == '_')
        .filter(|w| !w.is_empty())
    {
        if !code.is_empty() {
            code.push('_');
        }
        code.extend(word.chars().flat_map(char::to_lowercase));
    }
    code
}

/// Finds the type meant by `input` among `types`: by code, by full label, or by the part of the
/// label after its dash (`Physical therapist assistant`), ignoring case.
pub fn resolve<'a>(types: &'a [UserTypeDef], input: &str) -> Option<&'a UserTypeDef> {
    let code = parse_code(input);
    let wanted = input.trim();
    types.iter().find(|t| t.code == code).or_else(|| {
        types.iter().find(|t| {
            t.label.eq_ignore_ascii_case(wanted)
                || t.label
                    .split_once(" — ")
                    .is_some_and(|(_, long)| long.eq_ignore_ascii_case(wanted))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags_of(code: &str) -> BTreeSet<String> {
        builtin_user_types()
            .into_iter()
            .find(|t| t.code == code)
            .unwrap()
            .tags
    }

    #[test]
    fn builtin_types_carry_the_rule_tags() {
        let types = builtin_user_types();
        assert_eq!(types.len(), 19);
        let codes: BTreeSet<&str> = types.iter().map(|t| t.code.as_str()).collect();
        assert_eq!(codes.len(), types.len());
        for t in &types {
            assert_eq!(parse_code(&t.code), t.code, "codes are already normal");
        }
        for c in ["pt", "ot", "slp"] {
            assert!(tags_of(c).contains("therapist"));
        }
        for c in ["pta", "cota", "slpa", "rtt"] {
            assert!(tags_of(c).contains("assistant"));
        }
        for c in ["spt", "sot", "sslp"] {
            assert!(tags_of(c).contains("student"));
        }
        for c in ["clerical", "billing"] {
            assert!(tags_of(c).contains("non_clinical"));
        }
        assert!(tags_of("front_desk").is_empty());
    }

    #[test]
    fn codes_are_normalized() {
        assert_eq!(parse_code("PTA"), "pta");
        assert_eq!(parse_code(" Front Desk "), "front_desk");
        assert_eq!(parse_code("front-desk"), "front_desk");
        assert_eq!(parse_code("PT — Physical therapist"), "pt");
        assert_eq!(parse_code(""), "");
    }

    #[test]
    fn resolves_codes_and_labels() {
        let types = builtin_user_types();
        assert_eq!(resolve(&types, "COTA").unwrap().code, "cota");
        assert_eq!(resolve(&types, "front desk").unwrap().code, "front_desk");
        assert_eq!(
            resolve(&types, "speech-language pathologist").unwrap().code,
            "slp"
        );
        assert!(resolve(&types, "astronaut").is_none());
        assert_eq!(types[3].short_label(), "PTA");
        assert_eq!(types[17].short_label(), "Billing");
    }
}
