//! Sign-in and sign-out.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_app::identity::auth::SignInStep;
use rollcall_app::{App, AppError};
use serde::Deserialize;

use crate::cookies;
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser, Origin};

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    csrf: String,
    organization: String,
    single_org: bool,
    email: String,
    message: Option<String>,
    message_kind: &'static str,
}

#[derive(Deserialize, Default)]
pub struct SignInQuery {
    expired: Option<String>,
    signed_out: Option<String>,
    setup: Option<String>,
    /// The organization code, from a link in the invitation.
    org: Option<String>,
    /// A path on this site to return to once signed in.
    next: Option<String>,
}

async fn single_org(app: &App) -> Option<String> {
    let orgs = rollcall_app::org::list(app).await.ok()?;
    (orgs.len() == 1).then(|| orgs[0].slug.clone())
}

async fn show(
    app: &App,
    email: String,
    organization: Option<String>,
    message: Option<(String, &'static str)>,
    status: StatusCode,
) -> Response {
    let (csrf, cookie) = match cookies::pre_session(app).await {
        Ok(pair) => pair,
        Err(e) => return crate::error::PageError::from(e).into_response(),
    };
    let single = single_org(app).await;
    let page = SignInPage {
        csrf,
        single_org: single.is_some(),
        organization: organization.or(single).unwrap_or_default(),
        email,
        message_kind: message.as_ref().map(|m| m.1).unwrap_or("info"),
        message: message.map(|m| m.0),
    };
    (status, [(header::SET_COOKIE, cookie)], render(&page)).into_response()
}

pub async fn page(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<SignInQuery>,
) -> Response {
    let message = if q.expired.is_some() {
        Some((
            "Your session ended. Sign in again to continue.".to_string(),
            "info",
        ))
    } else if q.signed_out.is_some() {
        Some(("You are signed out.".to_string(), "ok"))
    } else if q.setup.is_some() {
        Some((
            "Your password is set. Sign in with your email address and new password.".to_string(),
            "ok",
        ))
    } else {
        None
    };
    let organization = q
        .org
        .map(|code| code.trim().to_lowercase())
        .filter(|code| cookies::is_org_code(code))
        .or_else(|| cookies::last_org(&headers));
    let mut res = show(&app, String::new(), organization, message, StatusCode::OK).await;
    if let Some(next) = q.next.filter(|n| cookies::is_local_path(n)) {
        let value = rollcall_app::audit::urlencode(&next);
        let cookie = cookies::set(
            cookies::RETURN_TO,
            &value,
            app.config.secure_cookies,
            Some(900),
        );
        res.headers_mut()
            .append(header::SET_COOKIE, cookie.parse().expect("cookie header"));
    }
    res
}

#[derive(Deserialize)]
pub struct SignInForm {
    csrf: String,
    organization: String,
    email: String,
    password: String,
}

pub async fn submit(
    State(app): State<App>,
    origin: Origin,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !cookies::pre_session_valid(&app, &headers, &form.csrf).await {
        let msg =
            "The sign-in form expired. It has been reloaded: please sign in again.".to_string();
        return show(
            &app,
            form.email,
            Some(form.organization),
            Some((msg, "error")),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    match rollcall_app::identity::auth::sign_in(
        &app,
        &form.organization,
        &form.email,
        &form.password,
        origin.source_ip,
    )
    .await
    {
        Ok(step) => {
            // Signed in, or half-way: the second factor comes next on its own page.
            let (token, next) = match step {
                SignInStep::Done(signed) => (signed.token, cookies::after_sign_in(&headers)),
                SignInStep::SecondFactor { token, .. } => (token, "/sign-in/code".to_string()),
                SignInStep::Registering { token, stage } => {
                    (token, super::register::step_path(stage).to_string())
                }
            };
            let mut res = cookies::redirect_with_session(&next, &token, app.config.secure_cookies);
            let clear = cookies::clear(cookies::PRE_SESSION, app.config.secure_cookies);
            res.headers_mut()
                .append(header::SET_COOKIE, clear.parse().expect("cookie header"));
            let code = form.organization.trim().to_lowercase();
            if cookies::is_org_code(&code) {
                let year = 365 * 24 * 3600;
                let remember = cookies::set(
                    cookies::LAST_ORG,
                    &code,
                    app.config.secure_cookies,
                    Some(year),
                );
                res.headers_mut()
                    .append(header::SET_COOKIE, remember.parse().expect("cookie header"));
            }
            res
        }
        Err(
            e @ (AppError::Unauthenticated(_) | AppError::RateLimited(_) | AppError::Invalid(_)),
        ) => {
            let status = if matches!(e, AppError::RateLimited(_)) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            show(
                &app,
                form.email,
                Some(form.organization),
                Some((e.to_string(), "error")),
                status,
            )
            .await
        }
        Err(e) => PageError(e).into_response(),
    }
}

#[derive(Deserialize)]
pub struct SignOutForm {
    csrf: String,
    everywhere: Option<String>,
}

pub async fn sign_out(
    State(app): State<App>,
    user: ConsoleUser,
    Form(form): Form<SignOutForm>,
) -> Result<Response, PageError> {
    user.verify_csrf(&form.csrf)?;
    rollcall_app::identity::auth::sign_out(
        &app,
        &user.token,
        &user.principal,
        form.everywhere.is_some(),
    )
    .await?;
    let mut res = Redirect::to("/sign-in?signed_out=1").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        cookies::clear(cookies::SESSION, app.config.secure_cookies)
            .parse()
            .expect("cookie"),
    );
    Ok(res)
}

/// `POST /session/keepalive`: "Stay signed in" before the idle timeout; reading the session
/// notes the activity.
pub async fn keep_alive(_user: ConsoleUser, _form: ConsoleForm) -> StatusCode {
    StatusCode::NO_CONTENT
}
