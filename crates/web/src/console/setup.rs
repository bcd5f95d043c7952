//! The one-time set-up link: opening it (GET) never uses it up; only the form's POST does.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_app::auth::{LinkState, complete_setup, inspect_link};
use rollcall_app::{App, AppError};
use serde::Deserialize;

use crate::cookies;
use crate::error::{MessagePage, PageError, render};
use crate::session::Origin;

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    token: String,
    csrf: String,
    email: String,
    org_name: String,
    min_length: u32,
    error: Option<String>,
}

fn unusable(state: &LinkState) -> MessagePage {
    let (heading, text) = match state {
        LinkState::Expired => (
            "This link has expired",
            "Set-up links are valid for a limited time. Ask your organization's admin to send you a new one.",
        ),
        LinkState::Used => (
            "This link was already used",
            "Your account is set up: sign in with your email address and password. If that was not you, tell your organization's admin.",
        ),
        LinkState::Revoked => (
            "This link was withdrawn",
            "A newer link may have been sent to you; otherwise ask your organization's admin for one.",
        ),
        _ => (
            "This link is not valid",
            "Check that the whole link was copied, or ask your organization's admin for a new one.",
        ),
    };
    MessagePage {
        heading: heading.into(),
        text: text.into(),
        link: Some(("/sign-in".into(), "Go to sign-in".into())),
    }
}

async fn show(
    app: &App,
    token: String,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    let state = inspect_link(app, &token).await?;
    let LinkState::Usable {
        org_name,
        email,
        min_length,
        ..
    } = state
    else {
        return Ok((StatusCode::GONE, render(&unusable(&state))).into_response());
    };
    let csrf = rollcall_app::secret::new_token();
    let page = SetupPage {
        token,
        csrf: csrf.clone(),
        email,
        org_name,
        min_length,
        error,
    };
    let cookie = cookies::set(
        cookies::PRE_SESSION,
        &csrf,
        app.config.secure_cookies,
        Some(3600),
    );
    Ok((status, [(header::SET_COOKIE, cookie)], render(&page)).into_response())
}

pub async fn page(
    State(app): State<App>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    show(&app, token, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct SetupForm {
    csrf: String,
    password: String,
}

pub async fn submit(
    State(app): State<App>,
    Path(token): Path<String>,
    origin: Origin,
    headers: HeaderMap,
    Form(form): Form<SetupForm>,
) -> Result<Response, PageError> {
    let expected = cookies::get(&headers, cookies::PRE_SESSION).unwrap_or_default();
    if expected.is_empty() || !rollcall_app::secret::same(&expected, &form.csrf) {
        return show(
            &app,
            token,
            Some("The form expired; it has been reloaded. Enter your password again.".into()),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    match complete_setup(&app, &token, &form.password, origin.source_ip).await {
        Ok(_) => Ok(Redirect::to("/sign-in?setup=1").into_response()),
        Err(AppError::Invalid(v)) => {
            show(
                &app,
                token,
                Some(v.message),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(AppError::Conflict(_)) => show(&app, token, None, StatusCode::GONE).await,
        Err(e) => Err(e.into()),
    }
}
