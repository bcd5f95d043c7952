//! A change that ends access or reaches many people is asked about first: the page says what it
//! will do and to whom, and sends the same form again with `confirmed=yes`.

use askama::Template;
use axum::response::Response;

use super::{Nav, first_value};
use crate::error::render;
use crate::session::ConsoleUser;

/// What a confirmation page asks.
pub struct Question {
    pub heading: String,
    pub consequences: Vec<String>,
    pub button: String,
    /// Where the confirmed form goes.
    pub action: String,
    /// Where "Cancel" leads.
    pub cancel: String,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    nav: Nav,
    q: Question,
    /// The form's own fields, sent again unchanged (the CSRF token comes from the session).
    fields: Vec<(String, String)>,
}

/// Whether the form was sent from its confirmation page.
pub fn confirmed(pairs: &[(String, String)]) -> bool {
    first_value(pairs, "confirmed") == "yes"
}

/// The page that asks `q`, carrying the form's fields on.
pub fn ask(user: &ConsoleUser, q: Question, pairs: &[(String, String)]) -> Response {
    let fields = pairs
        .iter()
        .filter(|(k, _)| k != "csrf" && k != "confirmed")
        .cloned()
        .collect();
    render(&ConfirmPage {
        nav: Nav::of(user),
        q,
        fields,
    })
}
