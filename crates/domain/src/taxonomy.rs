use crate::error::{ValueError, quoted};

/// A Health Care Provider Taxonomy code: nine letters or digits then `X`, such as `225100000X`.
/// Only the format is checked: names come from a code list the organization loads.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaxonomyCode(String);

/// Common therapy codes, enough for a demo organization; the full list is licensed separately.
pub const DEMO_TAXONOMY: &[(&str, &str)] = &[
    ("225100000X", "Physical Therapist"),
    ("2251S0007X", "Sports Physical Therapist"),
    ("2251P0200X", "Pediatrics Physical Therapist"),
    ("225200000X", "Physical Therapy Assistant"),
    ("225X00000X", "Occupational Therapist"),
    ("225XP0200X", "Pediatrics Occupational Therapist"),
    ("224Z00000X", "Occupational Therapy Assistant"),
    ("235Z00000X", "Speech-Language Pathologist"),
    ("2255A2300X", "Athletic Trainer"),
    ("363LF0000X", "Family Nurse Practitioner"),
];

impl TaxonomyCode {
    pub fn parse(input: &str) -> Result<TaxonomyCode, ValueError> {
        let code = input.trim().to_ascii_uppercase();
        let well_formed = code.len() == 10
            && code.ends_with('X')
            && code
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        if !well_formed {
            return Err(ValueError::new(
                "taxonomy",
                "taxonomy_invalid",
                format!(
                    "{} is not a taxonomy code: it must be nine letters or digits followed by X, like 225100000X.",
                    quoted(input.trim())
                ),
            ));
        }
        Ok(TaxonomyCode(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name of this code in the demo list, if it is there.
    pub fn demo_name(&self) -> Option<&'static str> {
        DEMO_TAXONOMY
            .iter()
            .find(|(code, _)| *code == self.0)
            .map(|(_, name)| *name)
    }
}

string_value!(TaxonomyCode, as_str, TaxonomyCode::parse);

/// The codes of a list as people type it, on every path (profile, import, API): separated by
/// semicolons, commas, bars or spaces.
pub fn list_items(input: &str) -> impl Iterator<Item = &str> {
    input
        .split(|c: char| matches!(c, ';' | '|' | ',') || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_reads_the_same_whatever_separates_its_codes() {
        for typed in [
            "225100000X;2251S0007X",
            "225100000X, 2251S0007X",
            "225100000X | 2251S0007X",
            " 225100000X 2251S0007X ",
        ] {
            assert_eq!(
                list_items(typed).collect::<Vec<_>>(),
                ["225100000X", "2251S0007X"],
                "{typed}"
            );
        }
    }

    #[test]
    fn accepts_and_normalizes() {
        assert_eq!(
            TaxonomyCode::parse(" 225xp0200x ").unwrap().as_str(),
            "225XP0200X"
        );
        assert_eq!(
            TaxonomyCode::parse("225100000X").unwrap().demo_name(),
            Some("Physical Therapist")
        );
    }

    #[test]
    fn rejects_bad_codes() {
        for s in [
            "",
            "225100000",
            "225100000Y",
            "2251000000X",
            "22510000X",
            "22510-000X",
        ] {
            assert_eq!(
                TaxonomyCode::parse(s).expect_err(s).code,
                "taxonomy_invalid"
            );
        }
    }

    #[test]
    fn demo_list_is_well_formed_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for (code, name) in DEMO_TAXONOMY {
            assert_eq!(TaxonomyCode::parse(code).unwrap().as_str(), *code);
            assert!(!name.is_empty());
            assert!(seen.insert(*code));
        }
    }
}
