use phonenumber::{Mode, country};

use crate::error::{ValueError, quoted};

const EXAMPLE: &str = "+1 415 555 0123";

/// A mobile number in E.164 form, such as `+14155550123`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mobile(String);

impl Mobile {
    /// Parses a number as people type it. `default_region` (ISO 3166 alpha-2, such as `US`)
    /// is used when the number has no country code.
    pub fn parse(input: &str, default_region: Option<&str>) -> Result<Mobile, ValueError> {
        let typed = input.trim();
        if typed.is_empty() {
            return Err(ValueError::new(
                "mobile",
                "mobile_invalid",
                format!(
                    "A mobile number is required: enter it with its country code, like {EXAMPLE}."
                ),
            ));
        }
        let region = default_region.map(parse_region).transpose()?;
        let invalid = || {
            ValueError::new(
                "mobile",
                "mobile_invalid",
                format!(
                    "{} is not a valid mobile number: enter it with its country code, like {EXAMPLE}.",
                    quoted(typed)
                ),
            )
        };
        let number = phonenumber::parse(region, typed).map_err(|_| invalid())?;
        // `parse` accepts numbers that cannot exist (wrong length, unassigned ranges).
        if !phonenumber::is_valid(&number) {
            return Err(invalid());
        }
        if number.extension().is_some() {
            return Err(ValueError::new(
                "mobile",
                "mobile_invalid",
                format!(
                    "{} has an extension, which a mobile number cannot have: enter it like {EXAMPLE}.",
                    quoted(typed)
                ),
            ));
        }
        Ok(Mobile(number.format().mode(Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn parse_region(region: &str) -> Result<country::Id, ValueError> {
    region.trim().to_ascii_uppercase().parse().map_err(|_| {
        ValueError::new(
            "region",
            "region_unknown",
            format!(
                "{} is not a known country: use a two-letter ISO 3166 code such as US or GB.",
                quoted(region)
            ),
        )
    })
}

string_value!(Mobile, as_str, |s: &str| Mobile::parse(s, None));

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_as_e164() {
        let m = Mobile::parse("+1 415 555 2671", None).unwrap();
        assert_eq!(m.as_str(), "+14155552671");
        assert_eq!(
            Mobile::parse("(415) 555-2671", Some("us")).unwrap(),
            m,
            "the default region fills in the country code"
        );
        assert_eq!(
            Mobile::parse("+44 7911 123456", Some("US"))
                .unwrap()
                .as_str(),
            "+447911123456"
        );
    }

    #[test]
    fn rejects_invalid_numbers() {
        for (s, region) in [
            ("+1 111", None),
            ("+1 415 555 26711", None),
            ("hello", None),
            ("415 555 2671", None),
            ("+1 415 555 2671 ext. 12", None),
            ("", Some("US")),
        ] {
            let e = Mobile::parse(s, region).expect_err(s);
            assert_eq!(e.code, "mobile_invalid", "{s}");
            assert!(e.message.contains("+1 415 555 0123"), "{}", e.message);
        }
    }

    #[test]
    fn rejects_unknown_region() {
        let e = Mobile::parse("415 555 2671", Some("ZZ")).unwrap_err();
        assert_eq!((e.field, e.code), ("region", "region_unknown"));
    }

    proptest! {
        #[test]
        fn never_panics(s in "[+0-9 ()x.-]{0,30}|\\PC{0,30}") {
            let _ = Mobile::parse(&s, Some("US"));
            let _ = Mobile::parse(&s, None);
        }
    }
}
