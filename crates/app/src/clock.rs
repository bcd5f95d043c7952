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

pub fn local_date(micros: i64, zone: &str) -> String {
    local(micros, zone).chars().take(10).collect()
}
