//! The dispatcher: claims due outbox rows, sends them concurrently, records each outcome as
//! soon as it is known.
//!
//! Several dispatchers (in one process or in several sharing a PostgreSQL) never hold the same
//! row at once: a claim leases rows under a claim id of its own, renews the lease while its
//! holder lives (a heartbeat every third of the lease), and outcomes are recorded only for rows
//! still held under that id. A message the server accepted is recorded at once (a few at a
//! time, in one transaction, while the next ones are sent), and no connection gets more than
//! one message ahead of what is recorded: a process killed outright repeats at most two
//! messages per SMTP connection (those in flight and those accepted but not yet recorded),
//! and its other claimed rows are taken by another dispatcher once their lease runs out.
//! When the process drains (SIGTERM), no send starts any more, the unsent rows of the claim are
//! given back at once and the sends in flight are recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::future::Either;
use rand::Rng;
use rollcall_store::outbox::{self, Delivery, Failure};
use tokio::sync::{Semaphore, mpsc};
use uuid::Uuid;

use super::{HttpSmsSender, MailboxSender, SendError, Sender, SmtpSender, Unusable, notify};
use crate::clock::HOUR;
use crate::config::lease_micros;
use crate::{App, AppError};

/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: i64 = 10;
const FIRST_RETRY: i64 = 30 * 1_000_000;
const LONGEST_RETRY: i64 = HOUR;
/// Rows per claim.
const BATCH: usize = 256;
/// Outcomes recorded together at most (one transaction).
const RECORD_AT_ONCE: usize = 256;
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
    /// Given back unsent (the process is draining, or the lease could not be renewed).
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
    lease: i64,
}

/// Rows leased under one claim id, until a time the heartbeat moves on.
struct Claim {
    id: Uuid,
    held_until: AtomicI64,
}

enum Outcome {
    Sent,
    Failed(SendError),
    Released,
}

/// Outcomes known and not yet recorded.
type Outcomes<'a> = mpsc::UnboundedSender<(&'a Delivery, Outcome)>;

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
            lease: lease_micros(),
        }
    }

    /// Rows per claim.
    pub fn batch_size(mut self, rows: usize) -> Dispatcher {
        self.batch = rows.max(1);
        self
    }

    /// Claims due messages once, sends them, records the outcomes. Claims nothing once the
    /// process drains.
    pub async fn drain_once(&self) -> Result<DrainReport, AppError> {
        if self.app.shutdown.is_draining() {
            return Ok(DrainReport::default());
        }
        let now = self.app.clock.now();
        let claim = Claim {
            id: Uuid::now_v7(),
            held_until: AtomicI64::new(now + self.lease),
        };
        let claimed =
            outbox::claim_due(&self.app.db, claim.id, now, now + self.lease, self.batch).await?;
        if claimed.is_empty() {
            return Ok(DrainReport::default());
        }
        let delivering = std::pin::pin!(self.deliver(&claim, &claimed));
        let heartbeat = std::pin::pin!(self.keep_alive(&claim));
        match futures::future::select(delivering, heartbeat).await {
            Either::Left((report, _)) => report,
            Either::Right((never, _)) => match never {},
        }
    }

    /// Delivers everything due, claim after claim, until a claim finds nothing or the process
    /// drains.
    pub async fn drain(&self) -> Result<DrainReport, AppError> {
        let mut total = DrainReport::default();
        loop {
            let report = self.drain_once().await?;
            if report.claimed == 0 {
                return Ok(total);
            }
            total.add(&report);
        }
    }

    /// Renews the claim's lease every third of it, for as long as it is polled.
    async fn keep_alive(&self, claim: &Claim) -> std::convert::Infallible {
        let every = Duration::from_micros((self.lease / 3).max(1) as u64);
        loop {
            tokio::time::sleep(every).await;
            let until = self.app.clock.now() + self.lease;
            match outbox::renew(&self.app.db, claim.id, until).await {
                Ok(_) => claim.held_until.store(until, Ordering::Relaxed),
                Err(e) => {
                    tracing::warn!(error = %e, "could not renew the lease of claimed messages")
                }
            }
        }
    }

    /// Sends a claim's rows, each medium through its sender, while their outcomes are recorded
    /// as they come. Each sender may be at most one message per connection ahead of what is
    /// recorded.
    async fn deliver(&self, claim: &Claim, claimed: &[Delivery]) -> Result<DrainReport, AppError> {
        let (email, rest): (Vec<&Delivery>, Vec<&Delivery>) =
            claimed.iter().partition(|d| d.message.medium == "email");
        let (sms, unknown): (Vec<&Delivery>, Vec<&Delivery>) =
            rest.into_iter().partition(|d| d.message.medium == "sms");
        // Per sender: a permit per message being sent or sent and not yet recorded.
        let email_ahead = Semaphore::new(2 * self.email.concurrency().max(1));
        let sms_ahead = Semaphore::new(2 * self.sms.concurrency().max(1));
        let (outcomes, mut known) = mpsc::unbounded_channel();
        let sending = async {
            futures::join!(
                self.send_all(&*self.email, email, claim, &email_ahead, &outcomes),
                self.send_all(&*self.sms, sms, claim, &sms_ahead, &outcomes),
            );
            for d in unknown {
                let reason = format!("“{}” is not a medium Rollcall can send", d.message.medium);
                let _ = outcomes.send((d, Outcome::Failed(SendError::permanent(reason))));
            }
            drop(outcomes);
        };
        let recording = async {
            let mut report = DrainReport {
                claimed: claimed.len(),
                ..Default::default()
            };
            let mut batch = Vec::with_capacity(RECORD_AT_ONCE);
            while known.recv_many(&mut batch, RECORD_AT_ONCE).await > 0 {
                let recorded = self.record(claim.id, &batch, &mut report).await;
                let emails = batch
                    .iter()
                    .filter(|(d, _)| d.message.medium == "email")
                    .count();
                let sms = batch
                    .iter()
                    .filter(|(d, _)| d.message.medium == "sms")
                    .count();
                email_ahead.add_permits(emails);
                sms_ahead.add_permits(sms);
                batch.clear();
                if let Err(e) = recorded {
                    // Sending stops; what is left stays claimed until its lease runs out.
                    email_ahead.close();
                    sms_ahead.close();
                    return Err(e);
                }
            }
            Ok(report)
        };
        let ((), report) = futures::join!(sending, recording);
        report
    }

    async fn send_all<'a>(
        &self,
        sender: &dyn Sender,
        batch: Vec<&'a Delivery>,
        claim: &Claim,
        ahead: &Semaphore,
        outcomes: &Outcomes<'a>,
    ) {
        futures::stream::iter(batch)
            .for_each_concurrent(sender.concurrency().max(1), |d| async move {
                let Ok(permit) = ahead.acquire().await else {
                    return;
                };
                let outcome = self.send_one(sender, d, claim).await;
                // Given back by the recorder once this outcome is recorded.
                permit.forget();
                let _ = outcomes.send((d, outcome));
            })
            .await
    }

    async fn send_one(&self, sender: &dyn Sender, d: &Delivery, claim: &Claim) -> Outcome {
        // Half the lease is kept in hand: a claim whose heartbeat fails starts no send that
        // could outlive it.
        let deadline = claim.held_until.load(Ordering::Relaxed) - self.lease / 2;
        if self.app.shutdown.is_draining() || self.app.clock.now() >= deadline {
            return Outcome::Released;
        }
        let message = crate::delivery::messages::addressed(&d.message, &self.app.config.public_url);
        match sender.send(&message).await {
            Ok(()) => Outcome::Sent,
            Err(e) => Outcome::Failed(e),
        }
    }

    /// Records outcomes in one transaction. The messages have left already, so a failure here
    /// is retried a few times: an unrecorded row would be sent again once its lease runs out.
    async fn record(
        &self,
        claim: Uuid,
        outcomes: &[(&Delivery, Outcome)],
        report: &mut DrainReport,
    ) -> Result<(), AppError> {
        let done = self.app.clock.now();
        let mut sent = Vec::new();
        let mut failures = Vec::new();
        let mut released = Vec::new();
        for (d, outcome) in outcomes {
            match outcome {
                Outcome::Sent => sent.push(d.message.id),
                Outcome::Released => released.push(d.message.id),
                Outcome::Failed(e) => {
                    let attempts = d.attempts + 1;
                    let give_up = e.permanent || attempts >= MAX_ATTEMPTS;
                    tracing::warn!(
                        message = %d.message.id, attempts, final = give_up, reason = %e.reason,
                        "message not delivered"
                    );
                    failures.push(Failure {
                        id: d.message.id,
                        error: e.reason.clone(),
                        retry_at: (!give_up).then(|| done + retry_delay(attempts)),
                    });
                }
            }
        }
        let mut tries = 0;
        loop {
            let attempt = async {
                if failures.is_empty() && released.is_empty() {
                    outbox::record_sent(&self.app.db, claim, done, &sent).await?;
                    return Ok(());
                }
                let mut tx = self.app.db.begin().await?;
                outbox::mark_sent(&mut tx, claim, done, &sent).await?;
                outbox::mark_failed(&mut tx, claim, &failures).await?;
                outbox::release(&mut tx, claim, &released).await?;
                tx.commit().await?;
                Ok::<_, AppError>(())
            };
            match attempt.await {
                Ok(()) => break,
                Err(e) if tries < 5 => {
                    tries += 1;
                    tracing::warn!(error = %e, tries, "recording delivery outcomes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 << tries)).await;
                }
                Err(e) => return Err(e),
            }
        }
        let failed = failures.iter().filter(|f| f.retry_at.is_none()).count();
        report.sent += sent.len();
        report.failed += failed;
        report.retrying += failures.len() - failed;
        report.released += released.len();
        crate::ops::metrics::deliveries(sent.len(), failures.len() - failed, failed);
        Ok(())
    }

    /// Delivers until the process drains: drains while there is work, then waits for
    /// [`super::wake`] or the next poll.
    pub async fn run(self) {
        let shutdown = self.app.shutdown.clone();
        while !shutdown.is_draining() {
            if let Err(e) = self.drain().await {
                tracing::warn!(error = %e, "message dispatch failed");
            }
            tokio::select! {
                _ = notify().notified() => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = shutdown.draining() => {}
            }
        }
        tracing::info!("dispatcher stopped");
    }
}

/// Starts the dispatcher for the configured senders; it runs until the process drains.
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
