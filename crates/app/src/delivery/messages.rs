//! The words of outgoing messages: a plain-text and an HTML part for each, from templates.

use std::borrow::Cow;
use std::ops::Deref;

use askama::Template;
use rollcall_store::outbox::OutboxMessage;

/// Stands for the public address in links of stored messages. A message may be delivered by
/// another process than the one that wrote it (a CLI import, a `serve` started later with its
/// `--public-url`), so the sending process puts in its own address.
pub const PUBLIC_URL: &str = "{{public_url}}";

/// The message as it leaves: its links on `public_url`.
pub fn addressed<'a>(msg: &'a OutboxMessage, public_url: &str) -> Cow<'a, OutboxMessage> {
    let needs = |s: &str| s.contains(PUBLIC_URL);
    if !needs(&msg.body_text) && !msg.body_html.as_deref().is_some_and(needs) {
        return Cow::Borrowed(msg);
    }
    let url = public_url.trim_end_matches('/');
    let mut out = msg.clone();
    out.body_text = msg.body_text.replace(PUBLIC_URL, url);
    out.body_html = msg.body_html.as_ref().map(|h| h.replace(PUBLIC_URL, url));
    Cow::Owned(out)
}

/// What an invitation says; its text part is rendered from these values directly.
#[derive(Template)]
#[template(path = "email/invitation.txt", escape = "none")]
struct InvitationText<'a> {
    name: Option<&'a str>,
    inviter: Option<&'a str>,
    org_name: &'a str,
    link: &'a str,
    expires: &'a str,
    /// The organization's code, which the sign-in page asks for once there are several.
    org_code: &'a str,
    sign_in: String,
}

/// The HTML part reads the text part's values (through `Deref`).
#[derive(Template)]
#[template(path = "email/invitation.html")]
struct InvitationHtml<'a>(&'a InvitationText<'a>);

impl<'a> Deref for InvitationHtml<'a> {
    type Target = InvitationText<'a>;

    fn deref(&self) -> &InvitationText<'a> {
        self.0
    }
}

pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Composed {
    fn of(subject: String, text: &impl Template, html: &impl Template) -> Composed {
        Composed {
            subject,
            text: text.render().expect("template renders"),
            html: html.render().expect("template renders"),
        }
    }
}

/// The invitation names the organization and the person who invited (`None`: an operator at
/// the command line, who is nobody the invited person knows).
pub fn invitation(
    name: Option<&str>,
    inviter: Option<&str>,
    (org_name, org_code): (&str, &str),
    link: &str,
    expires: &str,
) -> Composed {
    let subject = match inviter {
        Some(inviter) => format!("{inviter} invited you to {org_name}"),
        None => format!("You are invited to join {org_name}"),
    };
    let text = InvitationText {
        name,
        inviter,
        org_name,
        link,
        expires,
        org_code,
        sign_in: format!("{PUBLIC_URL}/sign-in?org={org_code}"),
    };
    Composed::of(subject, &text, &InvitationHtml(&text))
}

/// What a verification code message says; its text part is rendered from these values directly.
#[derive(Template)]
#[template(path = "email/code.txt", escape = "none")]
struct CodeText<'a> {
    org_name: &'a str,
    code: &'a str,
    minutes: i64,
}

/// The HTML part reads the text part's values (through `Deref`).
#[derive(Template)]
#[template(path = "email/code.html")]
struct CodeHtml<'a>(&'a CodeText<'a>);

impl<'a> Deref for CodeHtml<'a> {
    type Target = CodeText<'a>;

    fn deref(&self) -> &CodeText<'a> {
        self.0
    }
}

pub fn code(org_name: &str, code: &str, minutes: i64) -> Composed {
    let text = CodeText {
        org_name,
        code,
        minutes,
    };
    Composed::of(
        format!("{org_name} verification code"),
        &text,
        &CodeHtml(&text),
    )
}
