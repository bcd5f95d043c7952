//! The buttons on a user's row: resend or revoke an invitation, deactivate or reactivate.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_app::{App, AppError};
use serde::Deserialize;
use uuid::Uuid;

use super::Nav;
use crate::error::{PageError, render};
use crate::session::ConsoleUser;

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
    /// The list's filters, to return to the same view.
    #[serde(default)]
    back: String,
    /// Set by the confirmation page: a change that ends access is asked about first.
    #[serde(default)]
    confirmed: Option<String>,
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage {
    nav: Nav,
    heading: String,
    consequences: Vec<&'static str>,
    button: String,
    action: String,
    back: String,
}

/// What ending someone's access will do, asked before it is done.
async fn confirmation(
    app: &App,
    user: &ConsoleUser,
    id: Uuid,
    action: &str,
    back: &str,
) -> Result<Option<Response>, PageError> {
    let (heading, consequences, button): (_, Vec<&'static str>, _) = match action {
        "deactivate" => (
            "Deactivate {name}?",
            vec![
                "They can no longer sign in; their open sessions end at once and their personal API tokens stop working.",
                "Their licence seat is freed.",
                "Their profile, access and history are kept: you can reactivate them later.",
            ],
            "Deactivate {name}",
        ),
        "revoke" => (
            "Withdraw the invitation to {name}?",
            vec![
                "The link in their invitation stops working at once.",
                "The account is kept as Inactive with its history: you can reactivate or invite them again later.",
            ],
            "Withdraw the invitation",
        ),
        _ => return Ok(None),
    };
    let p = rollcall_app::access::profile::get(app, &user.principal, id).await?;
    let name = format!("{} ({})", p.display_name, p.email);
    Ok(Some(render(&ConfirmPage {
        nav: Nav::of(user),
        heading: heading.replace("{name}", &name),
        consequences,
        button: button.replace("{name}", &p.display_name),
        action: format!("/users/{id}/{action}"),
        back: back.to_string(),
    })))
}

/// Back to the list as it was filtered; only a plain query string is accepted.
fn back_to_list(back: &str, notice: &str) -> Response {
    let safe = back
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "%=&-_.~+".contains(c));
    let query = if safe && !back.is_empty() {
        format!("{back}&notice={notice}")
    } else {
        format!("notice={notice}")
    };
    Redirect::to(&format!("/users?{query}")).into_response()
}

/// `POST /users/{id}/{action}`: one use case per action, then back to the list with a notice.
pub async fn apply(
    State(app): State<App>,
    user: ConsoleUser,
    Path((id, action)): Path<(Uuid, String)>,
    Form(form): Form<ActionForm>,
) -> Result<Response, PageError> {
    user.verify_csrf(&form.csrf)?;
    if form.confirmed.is_none()
        && let Some(page) = confirmation(&app, &user, id, &action, &form.back).await?
    {
        return Ok(page);
    }
    let (who, meta) = (&user.principal, user.meta());
    let notice = match action.as_str() {
        "resend" => rollcall_app::onboarding::invite::resend(&app, who, id, &meta)
            .await
            .map(|_| "resent"),
        "revoke" => rollcall_app::onboarding::invite::revoke(&app, who, id, &meta)
            .await
            .map(|_| "revoked"),
        "deactivate" => rollcall_app::access::lifecycle::deactivate(&app, who, id, &meta)
            .await
            .map(|_| "deactivated"),
        "reactivate" => rollcall_app::access::lifecycle::reactivate(&app, who, id, &meta)
            .await
            .map(|_| "reactivated"),
        _ => Err(AppError::NotFound(
            "There is no such action on a user.".into(),
        )),
    }?;
    Ok(back_to_list(&form.back, notice))
}
