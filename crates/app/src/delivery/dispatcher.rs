//! The dispatcher: claims due outbox rows, sends them concurrently, records the outcomes.
//!
//! Several dispatchers (in one process or in several sharing a PostgreSQL) never hold the same
//! row at once: a claim leases rows until a time that is also the claim's token, and outcomes
//! are recorded only for rows still held under that token. A dispatcher starts no send once its
//! lease is near its end, so a row whose lease runs out (its process died) is taken again by
//! another dispatcher and is not, in normal operation, sent twice.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rand::Rng;
use rollcall_store::outbox::{self, Delivery, Failure};
use uuid::Uuid;

use super::{HttpSmsSender, MailboxSender, SendError, Sender, SmtpSender, Unusable, notify};
use crate::clock::{HOUR, MINUTE};
use crate::{App, AppError};

/// How long a claim holds its rows.
pub const LEASE: i64 = 5 * MINUTE;
/// No send starts this close to the end of the lease (connect and send time-outs fit in it).
const LEASE_MARGIN: i64 = 2 * MINUTE;
/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: i64 = 10;
const FIRST_RETRY: i64 = 30 * 1_000_000;
const LONGEST_RETRY: i64 = HOUR;
/// Rows per claim.
const BATCH: usize = 256;
/// Polling interval: the fall-back for scheduled messages and for messages queued by another
/// process (the wake-up only reaches dispatchers in the process that queued).
const POLL: Duration = Duration::from_secs(1);

/// What one claim-send-record cycle did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DrainReport {
    pub claimed: usize,
    pub sent: usize,
    /// Failed this time, queued again for later.
    pub retrying: usize,
    /// Failed for good.
    pub failed: usize,
    /// Given back unsent because the lease was running out.
    pub released: usize,
}

impl DrainReport {
    fn add(&mut self, other: &DrainReport) {
        self.claimed += other.claimed;
        self.sent += other.sent;
        self.retrying += other.retrying;
        self.failed += other.failed;
        self.released += other.released;
    }
}

/// The delay before attempt `attempts + 1`, after `attempts` failed ones: 30 s doubling up to
/// an hour, each spread by ±20 % so a batch that failed together does not retry together.
pub fn retry_delay(attempts: i64) -> i64 {
    let exp = (attempts - 1).clamp(0, 20) as u32;
    let base = FIRST_RETRY.saturating_mul(1 << exp).min(LONGEST_RETRY);
    let jitter: f64 = rand::rng().random_range(0.8..1.2);
    (base as f64 * jitter) as i64
}

pub struct Dispatcher {
    app: App,
    email: Arc<dyn Sender>,
    sms: Arc<dyn Sender>,
    batch: usize,
}

/// A sent batch and what to record about it.
struct Batch {
    token: i64,
    done: i64,
    sent: Vec<Uuid>,
    failures: Vec<Failure>,
    released: Vec<Uuid>,
    report: DrainReport,
}

enum Outcome {
    Sent,
    Failed(SendError),
    Released,
}

impl Dispatcher {
    /// Senders from the configuration: SMTP and the HTTP SMS provider where configured, the
    /// local mailbox otherwise.
    pub fn new(app: App) -> Dispatcher {
        let mailbox = || -> Arc<dyn Sender> {
            Arc::new(MailboxSender::new(app.db.clone(), app.clock.clone()))
        };
        let email: Arc<dyn Sender> = match &app.config.smtp {
            Some(cfg) => match SmtpSender::new(cfg) {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    tracing::error!(error = %e, "email cannot be sent");
                    Arc::new(Unusable(e))
                }
            },
            None => mailbox(),
        };
        let sms: Arc<dyn Sender> = match &app.config.sms {
            Some(cfg) => match HttpSmsSender::new(cfg) {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    tracing::error!(error = %e, "SMS cannot be sent");
                    Arc::new(Unusable(e))
                }
            },
            None => mailbox(),
        };
        Dispatcher::with_senders(app, email, sms)
    }

    pub fn with_senders(app: App, email: Arc<dyn Sender>, sms: Arc<dyn Sender>) -> Dispatcher {
        Dispatcher {
            app,
            email,
            sms,
            batch: BATCH,
        }
    }

    /// Rows per claim.
    pub fn batch_size(mut self, rows: usize) -> Dispatcher {
        self.batch = rows.max(1);
        self
    }

    /// Claims due messages once, sends them, records the outcomes.
    pub async fn drain_once(&self) -> Result<DrainReport, AppError> {
        let (token, claimed) = self.claim().await?;
        if claimed.is_empty() {
            return Ok(DrainReport::default());
        }
        let batch = self.send(token, claimed).await;
        self.record(&batch).await?;
        Ok(batch.report)
    }

    /// Delivers everything due, batch after batch, until a claim finds nothing. Each batch is
    /// sent while the outcomes of the one before are recorded, so the database's time and the
    /// mail server's time overlap instead of adding up.
    pub async fn drain(&self) -> Result<DrainReport, AppError> {
        let mut total = DrainReport::default();
        let mut unrecorded: Option<Batch> = None;
        loop {
            let previous = unrecorded.take();
            let (next, recorded) = futures::join!(
                async {
                    let (token, claimed) = self.claim().await?;
                    if claimed.is_empty() {
                        return Ok::<_, AppError>(None);
                    }
                    Ok(Some(self.send(token, claimed).await))
                },
                async {
                    match &previous {
                        Some(batch) => self.record(batch).await,
                        None => Ok(()),
                    }
                },
            );
            if let Err(e) = recorded {
                // Record what was just sent before giving up, if the database allows.
                if let Ok(Some(batch)) = &next {
                    let _ = self.record(batch).await;
                }
                return Err(e);
            }
            match next? {
                Some(batch) => {
                    total.add(&batch.report);
                    unrecorded = Some(batch);
                }
                None => return Ok(total),
            }
        }
    }

    /// Leases due rows; the lease's end is the claim token.
    async fn claim(&self) -> Result<(i64, Vec<Delivery>), AppError> {
        let now = self.app.clock.now();
        let token = now + LEASE;
        let claimed = outbox::claim_due(&self.app.db, now, token, self.batch).await?;
        Ok((token, claimed))
    }

    /// Sends a claimed batch, each medium through its sender, and decides what to record.
    async fn send(&self, token: i64, claimed: Vec<Delivery>) -> Batch {
        let (email, rest): (Vec<&Delivery>, Vec<&Delivery>) =
            claimed.iter().partition(|d| d.message.medium == "email");
        let (sms, unknown): (Vec<&Delivery>, Vec<&Delivery>) =
            rest.into_iter().partition(|d| d.message.medium == "sms");
        let deadline = token - LEASE_MARGIN;
        let (mut outcomes, sms_outcomes) = futures::join!(
            self.send_all(&*self.email, email, deadline),
            self.send_all(&*self.sms, sms, deadline),
        );
        outcomes.extend(sms_outcomes);
        outcomes.extend(unknown.into_iter().map(|d| {
            let reason = format!("“{}” is not a medium Rollcall can send", d.message.medium);
            (d, Outcome::Failed(SendError::permanent(reason)))
        }));

        let done = self.app.clock.now();
        let mut batch = Batch {
            token,
            done,
            sent: Vec::new(),
            failures: Vec::new(),
            released: Vec::new(),
            report: DrainReport {
                claimed: claimed.len(),
                ..Default::default()
            },
        };
        for (d, outcome) in outcomes {
            match outcome {
                Outcome::Sent => batch.sent.push(d.message.id),
                Outcome::Released => batch.released.push(d.message.id),
                Outcome::Failed(e) => {
                    let attempts = d.attempts + 1;
                    let give_up = e.permanent || attempts >= MAX_ATTEMPTS;
                    tracing::warn!(
                        message = %d.message.id, attempts, final = give_up, reason = %e.reason,
                        "message not delivered"
                    );
                    batch.failures.push(Failure {
                        id: d.message.id,
                        error: e.reason,
                        retry_at: (!give_up).then(|| done + retry_delay(attempts)),
                    });
                }
            }
        }
        let report = &mut batch.report;
        report.sent = batch.sent.len();
        report.failed = batch
            .failures
            .iter()
            .filter(|f| f.retry_at.is_none())
            .count();
        report.retrying = batch.failures.len() - report.failed;
        report.released = batch.released.len();
        batch
    }

    async fn send_all<'a>(
        &self,
        sender: &dyn Sender,
        batch: Vec<&'a Delivery>,
        deadline: i64,
    ) -> Vec<(&'a Delivery, Outcome)> {
        let mut sends = Vec::with_capacity(batch.len());
        for d in batch {
            sends.push(self.send_one(sender, d, deadline));
        }
        futures::stream::iter(sends)
            .buffer_unordered(sender.concurrency().max(1))
            .collect()
            .await
    }

    async fn send_one<'a>(
        &self,
        sender: &dyn Sender,
        d: &'a Delivery,
        deadline: i64,
    ) -> (&'a Delivery, Outcome) {
        if self.app.clock.now() >= deadline {
            return (d, Outcome::Released);
        }
        let message = crate::delivery::messages::addressed(&d.message, &self.app.config.public_url);
        match sender.send(&message).await {
            Ok(()) => (d, Outcome::Sent),
            Err(e) => (d, Outcome::Failed(e)),
        }
    }

    /// Records a batch's outcomes in one transaction. The messages have left already, so a
    /// failure here is retried a few times: an unrecorded row would be sent again once its
    /// lease runs out.
    async fn record(&self, batch: &Batch) -> Result<(), AppError> {
        let mut tries = 0;
        loop {
            let attempt = async {
                let mut tx = self.app.db.begin().await?;
                outbox::mark_sent(&mut tx, batch.token, batch.done, &batch.sent).await?;
                outbox::mark_failed(&mut tx, batch.token, &batch.failures).await?;
                outbox::release(&mut tx, batch.token, &batch.released).await?;
                tx.commit().await?;
                Ok::<_, AppError>(())
            };
            match attempt.await {
                Ok(()) => return Ok(()),
                Err(e) if tries < 5 => {
                    tries += 1;
                    tracing::warn!(error = %e, tries, "recording delivery outcomes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 << tries)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Delivers forever: drains while there is work, then waits for [`super::wake`] or the
    /// next poll.
    pub async fn run(self) {
        loop {
            if let Err(e) = self.drain().await {
                tracing::warn!(error = %e, "message dispatch failed");
            }
            tokio::select! {
                _ = notify().notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }
}

/// Starts the dispatcher for the configured senders; it runs until the runtime stops.
pub fn spawn_dispatcher(app: App) -> tokio::task::JoinHandle<()> {
    tokio::spawn(Dispatcher::new(app).run())
}

/// One claim-send-record cycle with the configured senders. Each call opens its own
/// connections: a long-running loop should keep a [`Dispatcher`] instead.
pub async fn drain_once(app: &App) -> Result<DrainReport, AppError> {
    Dispatcher::new(app.clone()).drain_once().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_an_hour() {
        for _ in 0..100 {
            let first = retry_delay(1);
            assert!((24_000_000..=36_000_000).contains(&first), "{first}");
            let fourth = retry_delay(4);
            assert!((192_000_000..=288_000_000).contains(&fourth), "{fourth}");
            assert!(retry_delay(30) <= LONGEST_RETRY * 12 / 10);
        }
    }
}
