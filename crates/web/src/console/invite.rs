//! Inviting: one person, or many pasted at once with a live count; resend and revoke.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_app::domain::Capability;
use rollcall_app::onboarding::invite::{self, InviteOne, NotInvited, PasteCount};
use rollcall_app::users::list::filter_options;
use rollcall_app::{App, AppError};
use serde::Deserialize;
use uuid::Uuid;

use super::form::FormState;
use super::{Nav, first_value};
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser};

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    nav: Nav,
    locations: Vec<(String, String)>,
    roles: Vec<(String, String)>,
    user_types: Vec<(String, String)>,
    no_locations: bool,
    count: PasteCount,
    /// The paste form, as typed when it was refused.
    paste_form: FormState,
    /// The one-person form, as typed when it was refused.
    one_form: FormState,
}

/// The invite page; after a refusal, the refused form keeps what was typed and marks why.
async fn show(
    app: &App,
    user: &ConsoleUser,
    paste_form: FormState,
    one_form: FormState,
) -> Result<Response, PageError> {
    user.principal.require(Capability::Invite)?;
    let options = filter_options(app, &user.principal).await?;
    // Only the locations this admin may give access to.
    let locations: Vec<(String, String)> = options
        .locations
        .into_iter()
        .filter(|(id, _)| {
            id.parse::<Uuid>()
                .is_ok_and(|id| user.principal.locations.contains(&id))
        })
        .collect();
    let count = invite::count(&paste_form.text("addresses", "")).unwrap_or(PasteCount {
        recognised: 0,
        invalid: 0,
        duplicates: 0,
    });
    let page = InvitePage {
        nav: Nav::of(user),
        no_locations: locations.is_empty(),
        locations,
        roles: options.roles,
        user_types: options.user_types,
        count,
        paste_form,
        one_form,
    };
    let refused = !page.paste_form.problems().is_empty() || !page.one_form.problems().is_empty();
    let status = if refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, render(&page)).into_response())
}

pub async fn page(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    show(&app, &user, FormState::stored(), one_form_state()).await
}

#[derive(Template)]
#[template(path = "paste_count_partial.html")]
struct CountPartial {
    count: PasteCount,
}

#[derive(Deserialize)]
pub struct CountForm {
    #[serde(default)]
    addresses: String,
}

/// The live count, answered while the admin types (no CSRF: it reads nothing and changes nothing).
pub async fn count(_user: ConsoleUser, Form(form): Form<CountForm>) -> Response {
    match invite::count(&form.addresses) {
        Ok(count) => render(&CountPartial { count }),
        Err(e) => (StatusCode::OK, e.to_string()).into_response(),
    }
}

#[derive(Template)]
#[template(path = "invite_result.html")]
struct ResultPage {
    nav: Nav,
    invited: usize,
    not_invited: Vec<NotInvited>,
    location: String,
    role: String,
}

/// The one-person form's field ids start apart from the paste form's.
fn one_form_state() -> FormState {
    FormState::stored().within("one-")
}

/// `POST /users/invite/paste`
pub async fn paste(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let location = first_value(&pairs, "location");
    let result = invite::paste_invite(
        &app,
        &user.principal,
        first_value(&pairs, "addresses"),
        Some(location).filter(|l| !l.is_empty()),
        first_value(&pairs, "role"),
        None,
        &user.meta(),
    )
    .await;
    match result {
        Ok(r) => Ok(render(&ResultPage {
            nav: Nav::of(&user),
            invited: r.invited.len(),
            not_invited: r.not_invited,
            location: r.location,
            role: r.role,
        })),
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_) | AppError::Refused(_))) => {
            show(&app, &user, FormState::refused(pairs, &e), one_form_state()).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /users/invite/one`
pub async fn one(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let text = |name: &str| first_value(&pairs, name).to_string();
    let req = InviteOne {
        email: text("email"),
        full_name: text("full_name"),
        location: Some(text("location")).filter(|l| !l.is_empty()),
        role: text("role"),
        user_type: Some(text("user_type")).filter(|t| !t.is_empty()),
    };
    match invite::invite_one(&app, &user.principal, &req, &user.meta()).await {
        Ok(invited) => Ok(Redirect::to(&format!(
            "/users?notice=invited&q={}",
            super::urlencode(&invited.email)
        ))
        .into_response()),
        Err(
            e @ (AppError::Invalid(_)
            | AppError::InvalidFields(_)
            | AppError::Refused(_)
            | AppError::Conflict(_)),
        ) => {
            let one = FormState::refused(pairs, &e).within("one-");
            show(&app, &user, FormState::stored(), one).await
        }
        Err(e) => Err(e.into()),
    }
}
