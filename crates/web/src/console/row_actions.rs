//! The buttons on a user's row: resend or revoke an invitation, deactivate or reactivate.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_app::{App, AppError};
use uuid::Uuid;

use super::confirm::{self, Question};
use super::first_value;
use crate::error::PageError;
use crate::session::{ConsoleForm, ConsoleUser};

/// What ending someone's access will do, asked before it is done.
async fn question(
    app: &App,
    user: &ConsoleUser,
    id: Uuid,
    action: &str,
    back: &str,
) -> Result<Option<Question>, PageError> {
    let (heading, consequences, button): (_, &[&str], _) = match action {
        "deactivate" => (
            "Deactivate {name}?",
            &[
                "They can no longer sign in; their open sessions end at once and their personal API tokens stop working.",
                "Their licence seat is freed.",
                "Their profile, access and history are kept: you can reactivate them later.",
            ],
            "Deactivate {name}",
        ),
        "revoke" => (
            "Withdraw the invitation to {name}?",
            &[
                "The link in their invitation stops working at once.",
                "The account is kept as Inactive with its history: you can reactivate or invite them again later.",
            ],
            "Withdraw the invitation",
        ),
        _ => return Ok(None),
    };
    let p = rollcall_app::access::profile::get(app, &user.principal, id).await?;
    let name = format!("{} ({})", p.display_name, p.email);
    Ok(Some(Question {
        heading: heading.replace("{name}", &name),
        consequences: consequences.iter().map(|c| c.to_string()).collect(),
        button: button.replace("{name}", &p.display_name),
        action: format!("/users/{id}/{action}"),
        cancel: if back.is_empty() {
            "/users".into()
        } else {
            format!("/users?{back}")
        },
    }))
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
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let back = first_value(&pairs, "back");
    if !confirm::confirmed(&pairs)
        && let Some(q) = question(&app, &user, id, &action, back).await?
    {
        return Ok(confirm::ask(&user, q, &pairs));
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
    Ok(back_to_list(back, notice))
}
