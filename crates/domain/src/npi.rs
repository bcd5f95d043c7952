use crate::error::{ValueError, quoted};

/// A National Provider Identifier: 10 digits, starting with 1 or 2, whose last digit is the
/// Luhn check digit of `80840` followed by the first nine.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Npi(String);

/// The prefix that turns an NPI into an ISO 7812 card number (health industry, United States).
const CARD_PREFIX: [u8; 5] = [8, 0, 8, 4, 0];

impl Npi {
    pub fn parse(input: &str) -> Result<Npi, ValueError> {
        let typed = input.trim();
        let digits: String = typed.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let fail = |code, why: &str| {
            Err(ValueError::new(
                "npi",
                code,
                format!("{} is not a valid NPI: {why}.", quoted(typed)),
            ))
        };
        if let Some(c) = digits.chars().find(|c| !c.is_ascii_digit()) {
            return fail(
                "npi_invalid_characters",
                &format!("“{c}” is not a digit; an NPI has 10 digits, like 1234567893"),
            );
        }
        if digits.len() != 10 {
            return fail(
                "npi_invalid_length",
                &format!(
                    "it has {} digits and an NPI has 10, like 1234567893",
                    digits.len()
                ),
            );
        }
        let d: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
        if !matches!(d[0], 1 | 2) {
            return fail(
                "npi_invalid_first_digit",
                "an NPI starts with 1 or 2; check that it was copied from the NPI registry",
            );
        }
        let first_nine: [u8; 9] = d[..9].try_into().expect("ten digits");
        if check_digit(first_nine) != d[9] {
            return fail(
                "npi_invalid_check_digit",
                "its last digit does not match the others, so a digit was probably mistyped; check it against the NPI registry",
            );
        }
        Ok(Npi(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The check digit for the first nine digits of an NPI (each 0–9).
pub fn check_digit(first_nine: [u8; 9]) -> u8 {
    let payload = CARD_PREFIX.iter().chain(first_nine.iter());
    // Luhn: starting from the rightmost payload digit, every other digit is doubled.
    let sum: u32 = payload
        .rev()
        .enumerate()
        .map(|(i, &digit)| {
            let d = u32::from(digit);
            if i % 2 == 0 {
                let doubled = d * 2;
                doubled / 10 + doubled % 10
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

string_value!(Npi, as_str, Npi::parse);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(s: &str) -> &'static str {
        Npi::parse(s).unwrap_err().code
    }

    #[test]
    fn accepts_valid_numbers() {
        assert_eq!(Npi::parse("1234567893").unwrap().as_str(), "1234567893");
        assert_eq!(Npi::parse("1245319599").unwrap().as_str(), "1245319599");
        assert_eq!(Npi::parse(" 123-456 7893 ").unwrap().as_str(), "1234567893");
    }

    #[test]
    fn rejects_each_fault_with_its_own_code() {
        assert_eq!(code("1234567890"), "npi_invalid_check_digit");
        assert_eq!(code("123456789"), "npi_invalid_length");
        assert_eq!(code("12345678931"), "npi_invalid_length");
        assert_eq!(code(""), "npi_invalid_length");
        assert_eq!(code("3234567893"), "npi_invalid_first_digit");
        assert_eq!(code("12345678O3"), "npi_invalid_characters");
        let messages: std::collections::BTreeSet<String> =
            ["1234567890", "123", "3234567893", "12a"]
                .iter()
                .map(|s| Npi::parse(s).unwrap_err().message)
                .collect();
        assert_eq!(messages.len(), 4);
    }

    proptest! {
        #[test]
        fn computed_check_digit_parses_and_any_changed_digit_breaks_it(
            first in 1u8..=2,
            rest in proptest::array::uniform8(0u8..10),
            position in 1usize..10,
            delta in 1u8..10,
        ) {
            let mut nine = [0u8; 9];
            nine[0] = first;
            nine[1..].copy_from_slice(&rest);
            let mut digits: Vec<u8> = nine.to_vec();
            digits.push(check_digit(nine));
            let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            prop_assert!(Npi::parse(&text).is_ok(), "{}", text);

            // Luhn catches every single-digit error; position 0 is left out because changing the
            // first digit may also break the 1-or-2 rule, which is tested above.
            digits[position] = (digits[position] + delta) % 10;
            let changed: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            prop_assert_eq!(Npi::parse(&changed).unwrap_err().code, "npi_invalid_check_digit");
        }
    }
}
