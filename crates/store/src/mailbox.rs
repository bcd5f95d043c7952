//! The local mailbox: where email and SMS go when no SMTP server or SMS provider is configured,
//! so a new install works end to end on one machine and the console can show what was sent.

use sqlx::Row;
use uuid::Uuid;

use crate::sql::{insert_rows, rows_per_statement};
use crate::{Conn, Result, Sql, parse_id, parse_opt_id};

#[derive(Debug, Clone, PartialEq)]
pub struct MailboxMessage {
    pub id: Uuid,
    pub org_id: Option<Uuid>,
    /// "email" or "sms".
    pub medium: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str = "id, org_id, medium, recipient, subject, body_text, body_html, created_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<MailboxMessage> {
    Ok(MailboxMessage {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        org_id: parse_opt_id(r.try_get("org_id")?)?,
        medium: r.try_get("medium")?,
        recipient: r.try_get("recipient")?,
        subject: r.try_get("subject")?,
        body_text: r.try_get("body_text")?,
        body_html: r.try_get("body_html")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn insert(conn: &mut Conn, msgs: &[MailboxMessage]) -> Result<()> {
    Ok(insert_rows(
        conn,
        "mailbox",
        COLUMNS,
        msgs,
        rows_per_statement(8),
        |m, row| {
            row.bind(m.id.to_string())
                .bind(m.org_id.map(|x| x.to_string()))
                .bind(m.medium.clone())
                .bind(m.recipient.clone())
                .bind(m.subject.clone())
                .bind(m.body_text.clone())
                .bind(m.body_html.clone())
                .bind(m.created_at);
        },
    )
    .await?)
}

/// The newest `limit` messages, optionally only those to one recipient (compared without case).
/// The newest messages, of one organization (`None`: every one's) and to one recipient or any.
pub async fn list(
    conn: &mut Conn,
    org_id: Option<Uuid>,
    recipient: Option<&str>,
    limit: i64,
) -> Result<Vec<MailboxMessage>> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM mailbox WHERE 1 = 1"));
    if let Some(org) = org_id {
        q.push(" AND org_id = ").bind(org.to_string());
    }
    if let Some(r) = recipient {
        q.push(" AND LOWER(recipient) = ")
            .bind(r.trim().to_lowercase());
    }
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .bind(limit.max(0));
    q.fetch_all_as(&mut *conn, from_row).await
}

pub async fn get(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<Option<MailboxMessage>> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM mailbox WHERE id = "));
    q.bind(id.to_string())
        .push(" AND org_id = ")
        .bind(org_id.to_string());
    q.fetch_optional_as(&mut *conn, from_row).await
}
