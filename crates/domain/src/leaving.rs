//! A leaving date as people type it: `YYYY-MM-DD` (access ends when that day ends) or a date and
//! time `YYYY-MM-DD HH:MM` (access ends then). Read here as a local time, without a zone: the
//! organization's zone turns it into an instant where the zone is known.

use crate::ValueError;
use crate::error::quoted;

/// The local date and time at which a person's access ends.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct LeavingDate(jiff::civil::DateTime);

impl LeavingDate {
    /// Reads what people typed; empty means none.
    pub fn parse(input: &str) -> Result<Option<LeavingDate>, ValueError> {
        let text = input.trim();
        if text.is_empty() {
            return Ok(None);
        }
        // jiff reads a date from the start of a date and time too: only a bare date is one.
        let end = if text.len() == 10 {
            text.parse::<jiff::civil::Date>()
                .ok()
                .and_then(|day| day.tomorrow().ok())
                .map(|next| next.to_datetime(jiff::civil::Time::midnight()))
        } else {
            text.replacen(' ', "T", 1)
                .parse::<jiff::civil::DateTime>()
                .ok()
        };
        end.map(|at| Some(LeavingDate(at)))
            .ok_or_else(|| invalid(text))
    }

    /// The local date and time access ends.
    pub fn ends(self) -> jiff::civil::DateTime {
        self.0
    }
}

fn invalid(text: &str) -> ValueError {
    ValueError::new(
        "leaving_date",
        "leaving_date_invalid",
        format!(
            "{} is not a leaving date: use YYYY-MM-DD (access ends when that day ends) or YYYY-MM-DD HH:MM, e.g. 2026-12-18 or 2026-12-18 17:00.",
            quoted(text)
        ),
    )
}

/// A leaving date that has already come, for a person being added.
pub fn passed(text: &str) -> ValueError {
    ValueError::new(
        "leaving_date",
        "leaving_date_passed",
        format!(
            "The leaving date {} has already passed: leave the cell empty, or give a date still to come (a person who has left is not invited).",
            quoted(text)
        ),
    )
}

impl From<LeavingDate> for String {
    fn from(d: LeavingDate) -> String {
        d.0.strftime("%Y-%m-%dT%H:%M").to_string()
    }
}

impl TryFrom<String> for LeavingDate {
    type Error = ValueError;
    fn try_from(s: String) -> Result<LeavingDate, ValueError> {
        LeavingDate::parse(&s)?.ok_or_else(|| invalid(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_ends_when_the_day_ends_and_a_time_ends_then() {
        let day = LeavingDate::parse(" 2026-12-18 ").unwrap().unwrap();
        assert_eq!(String::from(day), "2026-12-19T00:00");
        let at = LeavingDate::parse("2026-12-18 17:00").unwrap().unwrap();
        assert_eq!(String::from(at), "2026-12-18T17:00");
        assert_eq!(LeavingDate::parse("2026-12-18T17:00").unwrap(), Some(at));
        assert_eq!(LeavingDate::parse("").unwrap(), None);
        // What is written is read back as the same instant.
        assert_eq!(LeavingDate::try_from(String::from(at)).unwrap(), at);
    }

    #[test]
    fn anything_else_says_how_to_write_one() {
        for bad in [
            "18/12/2026",
            "2026-02-30",
            "next friday",
            "2026-12-18 25:00",
        ] {
            let e = LeavingDate::parse(bad).unwrap_err();
            assert_eq!(e.code, "leaving_date_invalid", "{bad}");
            assert!(e.message.contains("YYYY-MM-DD"), "{}", e.message);
        }
    }
}
