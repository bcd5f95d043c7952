//! The buttons on a user's row: resend or revoke an invitation, deactivate or reactivate.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_app::{App, AppError};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::PageError;
use crate::session::ConsoleUser;

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
    /// The list's filters, to return to the same view.
    #[serde(default)]
    back: String,
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
