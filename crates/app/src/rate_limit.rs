//! Request rate limits shared by every process on the database (the API's per credential, per
//! client address and per sign-in app), with the answers of one process's own limiter.
//!
//! Each limit is the generic cell rate algorithm: a key's allowance is `per_minute` requests in
//! a burst, refilled evenly over a minute, kept as its pace (when the allowance is whole again).
//! A process decides each request on its own copy of the pace, so most requests cost no database
//! round trip: it reads the shared pace on a key's first request here, and adds its requests to
//! it (one upsert, which also reads back every process's requests) after every `sync_every`
//! requests it let through. With one process the answers are exactly those of a local limiter.
//!
//! **Overshoot bound**: a process lets through at most `sync_every` (1 % of the limit, at least
//! one) requests of a key that the other processes do not know of yet, plus those that arrive
//! while its upsert is under way. So with P processes a key may get at most (P − 1) ×
//! `sync_every` more requests than its limit, plus that round trip's: with two processes and
//! the default 1,200 a minute per token, 12 more. Refusals are decided locally and cost nothing
//! shared; a key at its limit costs at most 100 upserts a minute, whatever its rate.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rollcall_store::{Db, rate_paces};

use crate::{App, AppError};
use sha2::{Digest, Sha256};

/// What a limit said about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the allowance is whole again, or until the next request passes when
    /// refused.
    pub reset_secs: u64,
    pub refused: bool,
}

/// One rate limit (e.g. "per API token"), shared through the database.
pub struct Limit {
    db: Db,
    /// Names the limit in the database's keys, so two limits never share a pace.
    name: &'static str,
    per_minute: u32,
    /// Nanoseconds one request takes from the allowance (microseconds would round the high
    /// limits a benchmark sets to nothing).
    cost: i64,
    sync_every: u32,
    keys: Mutex<HashMap<[u8; 32], Pace>>,
    checks: AtomicU64,
}

/// This process's copy of one key's pace, and what it has not told the database yet.
#[derive(Debug, Default)]
struct Pace {
    /// When the allowance is whole again (nanoseconds since the epoch).
    at: i64,
    /// Requests let through since the last upsert, and when the first of them came.
    unsent: u32,
    unsent_since: i64,
    /// Whether this process has read the shared pace since it last forgot the key.
    synced: bool,
    syncing: bool,
}

/// What one upsert tells the database.
struct Report {
    requests: u32,
    since: i64,
}

const MINUTE_NANOS: i64 = 60_000_000_000;
const SECOND_NANOS: i64 = 1_000_000_000;
/// The database keeps paces in microseconds, as every other time.
const MICRO_NANOS: i64 = 1_000;
/// Local copies are forgotten once their allowance is whole, this often (in checks).
const FORGET_EVERY: u64 = 10_000;

impl Limit {
    pub fn new(db: Db, name: &'static str, per_minute: u32) -> Limit {
        let per_minute = per_minute.max(1);
        Limit {
            db,
            name,
            per_minute,
            cost: MINUTE_NANOS / i64::from(per_minute),
            sync_every: (per_minute / 100).max(1),
            keys: Mutex::new(HashMap::new()),
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one request under `key` (a credential, an address: only its digest is kept).
    pub async fn check(&self, key: &[u8]) -> Verdict {
        let key = self.digest(key);
        let now = now_nanos();
        if let Some(report) = self.due_report(&key, now) {
            self.share(&key, report).await;
        }
        self.forget_whole_now_and_then(now);
        self.decide(&key, now_nanos())
    }

    fn digest(&self, key: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.name.as_bytes());
        h.update(b":");
        h.update(key);
        h.finalize().into()
    }

    /// The report to send before deciding: on a key's first request here, and once
    /// `sync_every` requests went unreported (unless another request is sending one).
    fn due_report(&self, key: &[u8; 32], now: i64) -> Option<Report> {
        let mut keys = self.keys.lock().expect("rate limit state");
        let pace = keys.entry(*key).or_default();
        let due = !pace.synced || pace.unsent >= self.sync_every;
        if !due || pace.syncing {
            return None;
        }
        pace.syncing = true;
        let report = Report {
            requests: std::mem::take(&mut pace.unsent),
            since: if pace.unsent_since > 0 {
                pace.unsent_since
            } else {
                now
            },
        };
        pace.unsent_since = 0;
        Some(report)
    }

    /// Adds this process's requests to the shared pace and takes in the other processes'. With
    /// one process the shared pace never runs ahead of the local copy, which then decides
    /// alone.
    async fn share(&self, key: &[u8; 32], report: Report) {
        let shared = self.upsert(key, &report).await;
        let mut keys = self.keys.lock().expect("rate limit state");
        let pace = keys.entry(*key).or_default();
        pace.syncing = false;
        match shared {
            Ok(shared) => {
                // The shared pace holds this process's requests up to the report and the other
                // processes'; those let through meanwhile are still to add.
                let meanwhile = i64::from(pace.unsent) * self.cost;
                pace.at = pace.at.max(shared.saturating_add(meanwhile));
                pace.synced = true;
            }
            Err(e) => {
                // Decided locally until the database answers again; nothing is lost.
                tracing::warn!(error = %e, limit = self.name, "could not share a rate limit");
                pace.unsent += report.requests;
                if pace.unsent_since == 0 || report.since < pace.unsent_since {
                    pace.unsent_since = report.since;
                }
            }
        }
    }

    async fn upsert(
        &self,
        key: &[u8; 32],
        report: &Report,
    ) -> Result<i64, rollcall_store::StoreError> {
        let key = hex::encode(key);
        if report.requests == 0 {
            let mut conn = self.db.read_conn().await?;
            let pace = rate_paces::get(&mut conn, &key).await?;
            return Ok(pace.map_or(i64::MIN, |pace| pace.saturating_mul(MICRO_NANOS)));
        }
        let mut conn = self.db.write_conn().await?;
        let cost = i64::from(report.requests) * self.cost / MICRO_NANOS;
        let since = report.since / MICRO_NANOS;
        let shared = rate_paces::add(&mut conn, &key, since, cost).await?;
        Ok(shared.saturating_mul(MICRO_NANOS))
    }

    /// The cell rate algorithm on this process's copy.
    fn decide(&self, key: &[u8; 32], now: i64) -> Verdict {
        let mut keys = self.keys.lock().expect("rate limit state");
        let pace = keys.entry(*key).or_default();
        let burst = i64::from(self.per_minute) * self.cost;
        let next = pace.at.max(now) + self.cost;
        if next - now > burst {
            let wait = next - burst - now;
            return Verdict {
                limit: self.per_minute,
                remaining: 0,
                reset_secs: (wait / SECOND_NANOS).max(1) as u64,
                refused: true,
            };
        }
        pace.at = next;
        if pace.unsent == 0 {
            pace.unsent_since = now;
        }
        pace.unsent += 1;
        let remaining = ((burst - (next - now)) / self.cost) as u32;
        let used = i64::from(self.per_minute - remaining) * self.cost;
        Verdict {
            limit: self.per_minute,
            remaining,
            reset_secs: (used.max(0) as u64).div_ceil(SECOND_NANOS as u64),
            refused: false,
        }
    }

    /// Drops the copies of keys whose allowance is whole (the database keeps their pace).
    fn forget_whole_now_and_then(&self, now: i64) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY != FORGET_EVERY - 1 {
            return;
        }
        let mut keys = self.keys.lock().expect("rate limit state");
        keys.retain(|_, pace| pace.syncing || pace.at > now);
    }
}

/// Forgets the shared paces of allowances that are whole again (the database's copy: each
/// process forgets its own as it goes).
pub async fn forget_whole(app: &App) -> Result<u64, AppError> {
    let mut conn = app.db.write_conn().await?;
    // The limits run on the system clock, as the local copies do.
    Ok(rate_paces::forget_before(&mut conn, rollcall_store::now_micros()).await?)
}

fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollcall_store::testing::TestDb;

    #[tokio::test]
    async fn a_limit_far_above_any_rate_lets_requests_through() {
        let t = TestDb::sqlite().await;
        let limit = Limit::new(t.db.clone(), "test", 100_000_000);
        for _ in 0..3 {
            let v = limit.check(b"Bearer a").await;
            assert!(!v.refused);
            assert!(v.remaining > 99_999_990, "{v:?}");
        }
    }

    #[tokio::test]
    async fn two_limits_on_one_database_share_one_allowance() {
        let t = TestDb::sqlite().await;
        let (a, b) = (
            Limit::new(t.db.clone(), "test", 100),
            Limit::new(t.db.clone(), "test", 100),
        );
        let mut passed = 0;
        for _ in 0..100 {
            for limit in [&a, &b] {
                passed += usize::from(!limit.check(b"Bearer a").await.refused);
            }
        }
        // Within the stated bound: one more than the limit for one other process.
        assert!((100..=101).contains(&passed), "{passed}");
    }
}
