//! Where people land after signing in: the user list for those who manage users, a welcome
//! page for everyone else.

use askama::Template;
use axum::response::{IntoResponse, Redirect, Response};

use rollcall_app::domain::Capability;

use super::Nav;
use crate::error::render;
use crate::session::ConsoleUser;

#[derive(Template)]
#[template(path = "welcome.html")]
struct Welcome {
    nav: Nav,
    name: String,
}

pub async fn page(user: ConsoleUser) -> Response {
    if user.principal.can(Capability::ViewUsers) {
        return Redirect::to("/users").into_response();
    }
    render(&Welcome {
        name: user.principal.display_name.clone(),
        nav: Nav::of(&user),
    })
}
