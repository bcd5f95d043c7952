//! Delivery of outgoing messages (SPEC §6).
//!
//! Use cases write messages to the outbox in their own transaction and call [`wake`]. The
//! dispatcher ([`spawn_dispatcher`]) claims due messages, hands them to a [`Sender`] per medium
//! and records each outcome: sent, retried later with back-off, or failed for good with the
//! reason on the invitation.
//!
//! Senders: SMTP ([`SmtpSender`]) or the local mailbox ([`MailboxSender`]) for email; an HTTP
//! provider ([`HttpSmsSender`]) or the local mailbox for SMS. The mailbox is used when the
//! configuration names no SMTP server or SMS provider.

mod dispatcher;
pub mod mailbox;
pub mod messages;
mod sms;
mod smtp;

use std::fmt;
use std::sync::OnceLock;

use futures::future::BoxFuture;
use rollcall_store::outbox::OutboxMessage;
use tokio::sync::Notify;

pub use dispatcher::{
    Dispatcher, DrainReport, MAX_ATTEMPTS, drain_once, retry_delay, spawn_dispatcher,
};
pub use mailbox::MailboxSender;
pub use sms::HttpSmsSender;
pub use smtp::{SmtpSender, SmtpStrategy};

use crate::App;

/// A port through which one medium's messages leave Rollcall.
pub trait Sender: Send + Sync {
    /// Delivers one message; `Ok` means the far side accepted it.
    fn send<'a>(&'a self, msg: &'a OutboxMessage) -> BoxFuture<'a, Result<(), SendError>>;

    /// How many `send`s may run at once (the size of the connection pool).
    fn concurrency(&self) -> usize {
        1
    }
}

/// Why a message did not go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// A reason a person can read; it is shown on the invitation.
    pub reason: String,
    /// Trying again cannot help (the address or the message was refused): give up at once.
    pub permanent: bool,
}

impl SendError {
    pub fn transient(reason: impl Into<String>) -> SendError {
        SendError {
            reason: reason.into(),
            permanent: false,
        }
    }

    pub fn permanent(reason: impl Into<String>) -> SendError {
        SendError {
            reason: reason.into(),
            permanent: true,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A sender that cannot be built from the configuration (e.g. a From address that does not
/// parse): every attempt fails with the reason, so it shows on the queued messages and their
/// invitations instead of only in a log.
struct Unusable(String);

impl Sender for Unusable {
    fn send<'a>(&'a self, _msg: &'a OutboxMessage) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move { Err(SendError::transient(self.0.clone())) })
    }
}

/// The process-wide wake-up: `App` has no room for it, and one per process is what is needed
/// (a dispatcher in another process finds new messages by polling).
fn notify() -> &'static Notify {
    static WAKE: OnceLock<Notify> = OnceLock::new();
    WAKE.get_or_init(Notify::new)
}

/// Tells the dispatcher that messages were queued, so they go out now rather than at the next
/// poll. Call it after the transaction that enqueued them has committed.
pub fn wake(_app: &App) {
    notify().notify_one();
    crate::webhooks::wake();
}
