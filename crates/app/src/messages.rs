//! The words of outgoing messages: a plain-text and an HTML part for each, from templates.

use askama::Template;

#[derive(Template)]
#[template(path = "email/invitation.txt", escape = "none")]
struct InvitationText<'a> {
    name: Option<&'a str>,
    inviter: &'a str,
    org_name: &'a str,
    link: &'a str,
    expires: &'a str,
}

#[derive(Template)]
#[template(path = "email/invitation.html")]
struct InvitationHtml<'a> {
    name: Option<&'a str>,
    inviter: &'a str,
    org_name: &'a str,
    link: &'a str,
    expires: &'a str,
}

pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The invitation names the organization and the person who invited.
pub fn invitation(
    name: Option<&str>,
    inviter: &str,
    org_name: &str,
    link: &str,
    expires: &str,
) -> Composed {
    Composed {
        subject: format!("{inviter} invited you to {org_name}"),
        text: InvitationText {
            name,
            inviter,
            org_name,
            link,
            expires,
        }
        .render()
        .expect("template renders"),
        html: InvitationHtml {
            name,
            inviter,
            org_name,
            link,
            expires,
        }
        .render()
        .expect("template renders"),
    }
}

#[derive(Template)]
#[template(path = "email/code.txt", escape = "none")]
struct CodeText<'a> {
    org_name: &'a str,
    code: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "email/code.html")]
struct CodeHtml<'a> {
    org_name: &'a str,
    code: &'a str,
    minutes: i64,
}

pub fn code(org_name: &str, code: &str, minutes: i64) -> Composed {
    Composed {
        subject: format!("{org_name} verification code"),
        text: CodeText {
            org_name,
            code,
            minutes,
        }
        .render()
        .expect("template renders"),
        html: CodeHtml {
            org_name,
            code,
            minutes,
        }
        .render()
        .expect("template renders"),
    }
}
