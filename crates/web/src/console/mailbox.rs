//! The local mailbox: where messages wait when no SMTP server or SMS provider is configured, so
//! a new install works end to end on one machine. Its messages carry registration links and
//! codes, so only a company admin of the organization reads them, signed in.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use rollcall_app::clock::local;
use rollcall_app::delivery::mailbox;
use rollcall_app::{App, AppError};
use serde::Deserialize;
use uuid::Uuid;

use super::Nav;
use crate::error::{PageError, render};
use crate::session::ConsoleUser;

fn allowed(app: &App) -> Result<(), PageError> {
    if app.config.smtp.is_none() {
        Ok(())
    } else {
        Err(AppError::NotFound(
            "There is no local mailbox here: messages are delivered by email.".into(),
        )
        .into())
    }
}

#[derive(Template)]
#[template(path = "mailbox.html")]
struct ListPage {
    nav: Nav,
    to: String,
    messages: Vec<(String, String, Uuid, String, String)>,
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    to: String,
}

pub async fn list(
    State(app): State<App>,
    user: ConsoleUser,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    allowed(&app)?;
    let to = q.to.trim().to_string();
    let zone = user.principal.time_zone.clone();
    let wanted = (!to.is_empty()).then_some(to.as_str());
    let messages = mailbox::recent(&app, &user.principal, wanted, 200)
        .await?
        .into_iter()
        .map(|m| {
            (
                local(m.created_at, &zone),
                m.recipient,
                m.id,
                m.subject,
                m.medium,
            )
        })
        .collect();
    Ok(render(&ListPage {
        nav: Nav::of(&user),
        to,
        messages,
    }))
}

#[derive(Template)]
#[template(path = "mailbox_message.html")]
struct MessagePage {
    nav: Nav,
    subject: String,
    to: String,
    when: String,
    medium: String,
    /// Each line as pieces of text, links marked.
    lines: Vec<Vec<(String, Option<String>)>>,
}

fn linkify(line: &str) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest
        .find("http://")
        .into_iter()
        .chain(rest.find("https://"))
        .min()
    {
        if i > 0 {
            out.push((rest[..i].to_string(), None));
        }
        let end = rest[i..]
            .find(char::is_whitespace)
            .map(|e| i + e)
            .unwrap_or(rest.len());
        let url = rest[i..end].to_string();
        out.push((url.clone(), Some(url)));
        rest = &rest[end..];
    }
    if !rest.is_empty() {
        out.push((rest.to_string(), None));
    }
    out
}

pub async fn show(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    allowed(&app)?;
    let m = mailbox::message(&app, &user.principal, id).await?;
    Ok(render(&MessagePage {
        nav: Nav::of(&user),
        subject: m.subject,
        to: m.recipient,
        when: local(m.created_at, &user.principal.time_zone),
        medium: m.medium,
        lines: m.body_text.lines().map(linkify).collect(),
    }))
}
