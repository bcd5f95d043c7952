//! The local mailbox as a sender: messages are kept in the database for the console to show.

use futures::future::BoxFuture;
use rollcall_store::mailbox::{self, MailboxMessage};
use rollcall_store::outbox::OutboxMessage;
use rollcall_store::{Db, new_id};

use super::{SendError, Sender};
use crate::Clock;

pub struct MailboxSender {
    db: Db,
    clock: Clock,
}

impl MailboxSender {
    pub fn new(db: Db, clock: Clock) -> MailboxSender {
        MailboxSender { db, clock }
    }
}

impl Sender for MailboxSender {
    fn send<'a>(&'a self, msg: &'a OutboxMessage) -> BoxFuture<'a, Result<(), SendError>> {
        Box::pin(async move {
            let row = MailboxMessage {
                id: new_id(),
                org_id: Some(msg.org_id),
                medium: msg.medium.clone(),
                recipient: msg.recipient.clone(),
                subject: msg.subject.clone(),
                body_text: msg.body_text.clone(),
                body_html: msg.body_html.clone(),
                created_at: self.clock.now(),
            };
            let stored = async {
                let mut conn = self.db.write_conn().await?;
                mailbox::insert(&mut conn, std::slice::from_ref(&row)).await
            };
            stored.await.map_err(|e| {
                SendError::transient(format!("the local mailbox could not store it: {e}"))
            })
        })
    }
}

/// The newest messages of the caller's organization in the local mailbox, to one recipient or
/// to anyone. They carry registration links and codes: only a company admin reads them.
pub async fn recent(
    app: &crate::App,
    who: &crate::Principal,
    to: Option<&str>,
    limit: i64,
) -> Result<Vec<MailboxMessage>, crate::AppError> {
    who.require(rollcall_domain::Capability::ManageSettings)?;
    let mut conn = app.db.read_conn().await?;
    Ok(mailbox::list(&mut conn, Some(who.org_id), to, limit).await?)
}

/// One message of the caller's organization in the local mailbox.
pub async fn message(
    app: &crate::App,
    who: &crate::Principal,
    id: uuid::Uuid,
) -> Result<MailboxMessage, crate::AppError> {
    who.require(rollcall_domain::Capability::ManageSettings)?;
    mailbox::get(&mut *app.db.read_conn().await?, who.org_id, id)
        .await?
        .ok_or_else(|| crate::AppError::not_found("message"))
}
