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

use super::Nav;
use crate::error::{PageError, render};
use crate::session::ConsoleUser;

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    nav: Nav,
    locations: Vec<(String, String)>,
    roles: Vec<(String, String)>,
    user_types: Vec<(String, String)>,
    selected_location: Option<String>,
    selected_role: Option<String>,
    no_locations: bool,
    addresses: String,
    count: PasteCount,
    error: Option<String>,
}

async fn show(
    app: &App,
    user: &ConsoleUser,
    addresses: String,
    location: Option<String>,
    role: Option<String>,
    error: Option<String>,
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
    let count = invite::count(&addresses).unwrap_or(PasteCount {
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
        selected_location: location,
        selected_role: role,
        addresses,
        count,
        error,
    };
    let status = if page.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, render(&page)).into_response())
}

pub async fn page(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    show(&app, &user, String::new(), None, None, None).await
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

#[derive(Deserialize)]
pub struct PasteForm {
    csrf: String,
    addresses: String,
    location_id: Option<String>,
    role_id: String,
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

pub async fn paste(
    State(app): State<App>,
    user: ConsoleUser,
    Form(form): Form<PasteForm>,
) -> Result<Response, PageError> {
    user.verify_csrf(&form.csrf)?;
    match invite::paste_invite(
        &app,
        &user.principal,
        &form.addresses,
        form.location_id.as_deref(),
        &form.role_id,
        None,
        &user.meta(),
    )
    .await
    {
        Ok(r) => Ok(render(&ResultPage {
            nav: Nav::of(&user),
            invited: r.invited.len(),
            not_invited: r.not_invited,
            location: r.location,
            role: r.role,
        })),
        Err(e @ (AppError::Invalid(_) | AppError::Refused(_))) => {
            show(
                &app,
                &user,
                form.addresses,
                form.location_id,
                Some(form.role_id),
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct OneForm {
    csrf: String,
    #[serde(flatten)]
    invite: InviteOne,
}

pub async fn one(
    State(app): State<App>,
    user: ConsoleUser,
    Form(form): Form<OneForm>,
) -> Result<Response, PageError> {
    user.verify_csrf(&form.csrf)?;
    match invite::invite_one(&app, &user.principal, &form.invite, &user.meta()).await {
        Ok(invited) => Ok(Redirect::to(&format!(
            "/users?notice=invited&q={}",
            super::urlencode(&invited.email)
        ))
        .into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::Refused(_) | AppError::Conflict(_))) => {
            show(
                &app,
                &user,
                String::new(),
                form.invite.location,
                Some(form.invite.role),
                Some(e.to_string()),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
