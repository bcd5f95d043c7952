//! The time source. Tests move it forward to reach session timeouts and invitation expiry
//! without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Clone, Default)]
pub struct Clock {
    /// Microseconds added to the system time.
    offset: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }

    pub fn now(&self) -> i64 {
        rollcall_store::now_micros() + self.offset.load(Ordering::Relaxed)
    }

    pub fn advance_minutes(&self, minutes: i64) {
        self.offset
            .fetch_add(minutes * 60_000_000, Ordering::Relaxed);
    }
}

pub const MINUTE: i64 = 60_000_000;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

/// RFC 3339 in UTC, for exports and the API.
pub fn rfc3339(micros: i64) -> String {
    jiff::Timestamp::from_microsecond(micros)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// A date and time in the organization's zone, for people.
pub fn local(micros: i64, zone: &str) -> String {
    let Ok(ts) = jiff::Timestamp::from_microsecond(micros) else {
        return String::new();
    };
    match jiff::tz::TimeZone::get(zone) {
        Ok(tz) => ts.to_zoned(tz).strftime("%Y-%m-%d %H:%M %Z").to_string(),
        Err(_) => ts.strftime("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

/// A date and time people typed in `zone` (`2026-12-01T09:00` or `2026-12-01 09:00`), as the UTC
/// instant in microseconds. A time the clocks skip (spring forward) is refused; a time that
/// happens twice (fall back) means the first of the two, as people expect of "9 a.m.".
pub fn parse_local(input: &str, zone: &str) -> Result<i64, rollcall_domain::ValueError> {
    use jiff::tz::AmbiguousOffset;
    let bad =
        |code: &'static str, why: String| rollcall_domain::ValueError::new("send_at", code, why);
    let text = input.trim().replace(' ', "T");
    let dt: jiff::civil::DateTime = text.parse().map_err(|_| {
        bad(
            "send_at_invalid",
            format!(
                "“{}” is not a date and time: use YYYY-MM-DD and HH:MM, e.g. 2026-12-01 09:00.",
                input.trim()
            ),
        )
    })?;
    let tz = jiff::tz::TimeZone::get(zone).map_err(|_| {
        bad(
            "time_zone_unknown",
            format!("The time zone “{zone}” is unknown."),
        )
    })?;
    let ambiguous = tz.to_ambiguous_timestamp(dt);
    let ts = match ambiguous.offset() {
        AmbiguousOffset::Gap { before, after } => {
            let minutes = (after.seconds() - before.seconds()) / 60;
            return Err(bad(
                "send_at_skipped",
                format!(
                    "{} does not exist in {zone}: the clocks go forward {minutes} minutes then. Choose a time before or after the change.",
                    dt.strftime("%Y-%m-%d %H:%M")
                ),
            ));
        }
        _ => ambiguous.earlier(),
    }
    .map_err(|e| bad("send_at_invalid", e.to_string()))?;
    Ok(ts.as_microsecond())
}

pub fn local_date(micros: i64, zone: &str) -> String {
    local(micros, zone).chars().take(10).collect()
}

/// The instant an RFC 3339 time names, in microseconds. One past the years kept (late on
/// 9999-12-31, early on -9999-01-01) is taken as the last or first instant kept: it selects the
/// same records.
pub fn instant(text: &str) -> Option<i64> {
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Some(t.as_microsecond());
    }
    let pieces = jiff::fmt::temporal::Pieces::parse(text).ok()?;
    pieces.time()?;
    pieces.offset()?;
    edge_of(pieces.date())
}

/// The last or first instant kept, for a date in the first or last year, where a zone or the
/// next day may fall outside what is kept.
pub fn edge_of(date: jiff::civil::Date) -> Option<i64> {
    match date.year() {
        9999 => Some(jiff::Timestamp::MAX.as_microsecond()),
        -9999 => Some(jiff::Timestamp::MIN.as_microsecond()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_follow_the_zone_and_its_daylight_saving() {
        // 09:00 in Chicago is 15:00 UTC in winter (CST) and 14:00 UTC in summer (CDT).
        let winter = parse_local("2026-12-01T09:00", "America/Chicago").unwrap();
        assert_eq!(rfc3339(winter), "2026-12-01T15:00:00Z");
        let summer = parse_local("2026-07-01 09:00", "America/Chicago").unwrap();
        assert_eq!(rfc3339(summer), "2026-07-01T14:00:00Z");
        assert_eq!(local(summer, "America/Chicago"), "2026-07-01 09:00 CDT");
    }

    #[test]
    fn a_skipped_time_is_refused_and_a_repeated_one_means_the_first() {
        let e = parse_local("2026-03-08T02:30", "America/Chicago").unwrap_err();
        assert_eq!(e.code, "send_at_skipped");
        assert!(e.message.contains("forward 60 minutes"), "{}", e.message);
        // 01:30 happens twice on 1 November 2026; the first is still CDT (UTC−5).
        let fold = parse_local("2026-11-01T01:30", "America/Chicago").unwrap();
        assert_eq!(rfc3339(fold), "2026-11-01T06:30:00Z");
    }

    #[test]
    fn nonsense_is_refused_with_the_expected_form() {
        let e = parse_local("next tuesday", "America/Chicago").unwrap_err();
        assert!(e.message.contains("YYYY-MM-DD"), "{}", e.message);
    }

    #[test]
    fn a_time_past_the_years_kept_is_the_last_instant_kept() {
        assert_eq!(instant("2026-11-30T09:00:00Z"), Some(1_796_029_200_000_000));
        let last = jiff::Timestamp::MAX.as_microsecond();
        assert_eq!(instant("9999-12-31T23:59:59-23:59"), Some(last));
        assert_eq!(instant("2026-02-30T00:00:00Z"), None);
        assert_eq!(
            instant("2026-11-30T09:00:00"),
            None,
            "no offset: not an instant"
        );
    }
}
