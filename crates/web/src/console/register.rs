//! Registration from an invitation: details → second factor (if required) → terms → signed in.
//! Also the second step of signing in for people who have a second factor.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_app::identity::auth::SignInStep;
use rollcall_app::identity::mfa::Method;
use rollcall_app::identity::register::{self, Details, LinkState};
use rollcall_app::identity::staged::{self, InProgress, STAGE_2FA, STAGE_EULA, STAGE_MFA};
use rollcall_app::{App, AppError};
use serde::Deserialize;

use super::form::FormState;
use crate::cookies;
use crate::error::{MessagePage, PageError, render};
use crate::session::{Origin, check_csrf};

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    token: String,
    csrf: String,
    org_name: String,
    email: String,
    first_name: String,
    last_name: String,
    mobile: String,
    min_length: u32,
    error: Option<String>,
    form: FormState,
}

fn unusable(state: &LinkState) -> MessagePage {
    let (heading, text) = match state {
        LinkState::Expired => (
            "This invitation has expired",
            "Invitation links work for a limited time. Ask the person who invited you, or your practice's administrator, to resend the invitation.",
        ),
        LinkState::Used => (
            "This invitation was already used",
            "Sign in with your email address and the password you chose. If you had not finished registering, you will carry on where you left off. If you did not register, tell your practice's administrator.",
        ),
        LinkState::Revoked => (
            "This invitation was withdrawn",
            "A newer invitation may be in your inbox. Otherwise ask your practice's administrator to invite you again.",
        ),
        _ => (
            "This link is not valid",
            "Check that the whole link was copied from the message, or ask your practice's administrator for a new invitation.",
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
    typed: Option<&Details>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    show_form(app, token, typed, (error, FormState::stored()), status).await
}

/// The details form; `shown` is a notice about the whole form and the fields' refusals.
async fn show_form(
    app: &App,
    token: String,
    typed: Option<&Details>,
    shown: (Option<String>, FormState),
    status: StatusCode,
) -> Result<Response, PageError> {
    let (error, form) = shown;
    let state = register::inspect(app, &token).await?;
    let LinkState::Usable { org, user } = state else {
        return Ok((StatusCode::GONE, render(&unusable(&state))).into_response());
    };
    let (csrf, cookie) = cookies::pre_session(app).await?;
    let page = RegisterPage {
        token,
        csrf,
        org_name: org.name,
        email: user.email,
        first_name: typed
            .map(|d| d.first_name.clone())
            .unwrap_or(user.first_name),
        last_name: typed.map(|d| d.last_name.clone()).unwrap_or(user.last_name),
        mobile: typed
            .map(|d| d.mobile.clone())
            .or(user.mobile)
            .unwrap_or_default(),
        min_length: org.settings.password_min_length,
        error,
        form,
    };
    Ok((status, [(header::SET_COOKIE, cookie)], render(&page)).into_response())
}

/// The page of a registration step.
pub(super) fn step_path(stage: &str) -> &'static str {
    if stage == STAGE_2FA {
        "/register/2fa"
    } else {
        "/register/terms"
    }
}

/// Opening the link shows the form and changes nothing.
pub async fn page(
    State(app): State<App>,
    Path(token): Path<String>,
) -> Result<Response, PageError> {
    show(&app, token, None, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct DetailsForm {
    csrf: String,
    #[serde(flatten)]
    details: Details,
}

pub async fn submit(
    State(app): State<App>,
    Path(token): Path<String>,
    origin: Origin,
    headers: HeaderMap,
    Form(form): Form<DetailsForm>,
) -> Result<Response, PageError> {
    if !cookies::pre_session_valid(&app, &headers, &form.csrf).await {
        let msg = "The form expired; it has been reloaded. Enter your details again.".to_string();
        return show(
            &app,
            token,
            Some(&form.details),
            Some(msg),
            StatusCode::FORBIDDEN,
        )
        .await;
    }
    match register::submit(&app, &token, &form.details, origin.source_ip).await {
        Ok(staged) => Ok(cookies::redirect_with_session(
            step_path(staged.stage),
            &staged.token,
            app.config.secure_cookies,
        )),
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_))) => {
            let refused = FormState::refused(Vec::new(), &e);
            show_form(
                &app,
                token,
                Some(&form.details),
                (None, refused),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(AppError::Conflict(_)) => show(&app, token, None, None, StatusCode::GONE).await,
        Err(e) => Err(e.into()),
    }
}

/// Why a step of registration or of signing in answers with another page than its own.
pub enum StepError {
    /// The step's session is over (or never was): a page that points to sign-in.
    Ended(String),
    Failed(PageError),
}

impl<E: Into<AppError>> From<E> for StepError {
    fn from(e: E) -> Self {
        StepError::Failed(PageError(e.into()))
    }
}

impl IntoResponse for StepError {
    fn into_response(self) -> Response {
        match self {
            StepError::Ended(text) => (
                StatusCode::UNAUTHORIZED,
                render(&MessagePage {
                    heading: "This step has ended".into(),
                    text,
                    link: Some(("/sign-in".into(), "Go to sign-in".into())),
                }),
            )
                .into_response(),
            StepError::Failed(e) => e.into_response(),
        }
    }
}

/// The registration (or sign-in) step the cookie's session is at.
async fn in_progress(app: &App, headers: &HeaderMap, stage: &str) -> Result<InProgress, StepError> {
    let token = cookies::get(headers, cookies::SESSION).unwrap_or_default();
    staged::at_stage(app, &token, stage)
        .await
        .map_err(|e| match e {
            AppError::Unauthenticated(text) => StepError::Ended(text),
            other => other.into(),
        })
}

/// The step a form was sent from, once its CSRF token matches the step's session.
async fn submitted_at(
    app: &App,
    headers: &HeaderMap,
    stage: &str,
    csrf: &str,
) -> Result<InProgress, StepError> {
    let p = in_progress(app, headers, stage).await?;
    check_csrf(Some(&p.session.csrf_token), csrf).map_err(StepError::Failed)?;
    Ok(p)
}

#[derive(Template)]
#[template(path = "second_factor.html")]
pub struct SecondFactorPage {
    pub heading: String,
    pub org_name: String,
    pub csrf: String,
    pub choose: bool,
    pub methods: Vec<(&'static str, &'static str)>,
    pub method: String,
    pub action: &'static str,
    pub qr_svg: Option<String>,
    pub totp_secret: String,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl SecondFactorPage {
    fn new(p: &InProgress) -> SecondFactorPage {
        SecondFactorPage {
            heading: "Set up a second sign-in step".into(),
            org_name: p.org.name.clone(),
            csrf: p.session.csrf_token.clone(),
            choose: true,
            methods: rollcall_app::identity::mfa::allowed(&p.org)
                .into_iter()
                .map(|m| (m.as_str(), m.label()))
                .collect(),
            method: String::new(),
            action: "/register/2fa/confirm",
            qr_svg: None,
            totp_secret: String::new(),
            notice: None,
            error: None,
        }
    }

    /// The page once a method is chosen: it asks for that method's code.
    fn for_method(p: &InProgress, method: Method) -> SecondFactorPage {
        SecondFactorPage {
            choose: false,
            method: method.as_str().into(),
            ..SecondFactorPage::new(p)
        }
    }

    fn with_error(self, error: String) -> SecondFactorPage {
        SecondFactorPage {
            error: Some(error),
            ..self
        }
    }
}

fn unprocessable(page: &SecondFactorPage) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, render(page)).into_response()
}

pub async fn second_factor(
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<Response, StepError> {
    let p = in_progress(&app, &headers, STAGE_2FA).await?;
    Ok(render(&SecondFactorPage::new(&p)))
}

#[derive(Deserialize)]
pub struct MethodForm {
    csrf: String,
    method: String,
    #[serde(default)]
    code: String,
}

pub async fn start_second_factor(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<MethodForm>,
) -> Result<Response, StepError> {
    let p = submitted_at(&app, &headers, STAGE_2FA, &form.csrf).await?;
    let method = match Method::parse(&form.method) {
        Ok(m) => m,
        Err(e) => {
            return Ok(unprocessable(
                &SecondFactorPage::new(&p).with_error(e.message),
            ));
        }
    };
    match register::start_second_factor(&app, &p, method).await {
        Ok(shown) => {
            let mut page = SecondFactorPage::for_method(&p, method);
            match shown {
                Some((secret, _url, svg)) => {
                    page.qr_svg = Some(svg);
                    page.totp_secret = secret;
                }
                None => {
                    let to = if method == Method::Sms {
                        p.user.mobile.clone().unwrap_or_default()
                    } else {
                        p.user.email.clone()
                    };
                    page.notice = Some(format!(
                        "We sent a 6-digit code to {to}. It expires in {} minutes.",
                        rollcall_app::identity::mfa::CODE_MINUTES
                    ));
                }
            }
            Ok(render(&page))
        }
        // Still choosing: the page keeps its list of methods.
        Err(e @ (AppError::Invalid(_) | AppError::RateLimited(_))) => Ok(unprocessable(
            &SecondFactorPage::new(&p).with_error(e.to_string()),
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "recovery.html")]
struct RecoveryPage {
    codes: Vec<String>,
}

pub async fn confirm_second_factor(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<MethodForm>,
) -> Result<Response, StepError> {
    let p = submitted_at(&app, &headers, STAGE_2FA, &form.csrf).await?;
    let method = Method::parse(&form.method)?;
    match register::confirm_second_factor(&app, &p, method, &form.code).await {
        Ok(codes) => Ok(render(&RecoveryPage { codes })),
        Err(e @ (AppError::Invalid(_) | AppError::RateLimited(_))) => {
            let mut page = SecondFactorPage::for_method(&p, method).with_error(e.to_string());
            if method == Method::Totp {
                let (_, secret) = rollcall_app::identity::mfa::chosen(&app, p.user.id).await?;
                if let Some(secret) = secret {
                    let (_, svg) = rollcall_app::identity::mfa::totp_enrolment(
                        &secret,
                        &p.org.name,
                        &p.user.email,
                    )?;
                    page.qr_svg = Some(svg);
                    page.totp_secret = secret;
                }
            }
            Ok(unprocessable(&page))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "terms.html")]
struct TermsPage {
    org_name: String,
    version: u32,
    text: String,
    csrf: String,
}

pub async fn terms(State(app): State<App>, headers: HeaderMap) -> Result<Response, StepError> {
    let p = in_progress(&app, &headers, STAGE_EULA).await?;
    Ok(render(&TermsPage {
        version: p.org.settings.eula_version,
        text: register::eula_text(&p.org),
        org_name: p.org.name.clone(),
        csrf: p.session.csrf_token.clone(),
    }))
}

#[derive(Deserialize)]
pub struct TermsForm {
    csrf: String,
    version: u32,
}

pub async fn accept_terms(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<TermsForm>,
) -> Result<Response, StepError> {
    let p = submitted_at(&app, &headers, STAGE_EULA, &form.csrf).await?;
    register::accept_eula(&app, &p, form.version).await?;
    Ok(Redirect::to("/home").into_response())
}

// ---- second step of signing in ----------------------------------------------------------------

pub async fn sign_in_code(
    State(app): State<App>,
    headers: HeaderMap,
) -> Result<Response, StepError> {
    let p = in_progress(&app, &headers, STAGE_MFA).await?;
    Ok(render(&sign_in_code_page(&app, &p, None).await))
}

async fn sign_in_code_page(app: &App, p: &InProgress, error: Option<String>) -> SecondFactorPage {
    let method = rollcall_app::identity::mfa::chosen(app, p.user.id)
        .await
        .ok()
        .and_then(|(m, _)| m);
    let notice = match method {
        Some(Method::Totp) => {
            "Enter the 6-digit code from your authenticator app, or one of your recovery codes."
                .to_string()
        }
        Some(Method::Sms) => {
            "We sent a 6-digit code to your mobile. Enter it, or one of your recovery codes."
                .to_string()
        }
        _ => format!(
            "We sent a 6-digit code to {}. Enter it, or one of your recovery codes.",
            p.user.email
        ),
    };
    SecondFactorPage {
        heading: "Confirm it's you".into(),
        choose: false,
        method: method.map(|m| m.as_str().to_string()).unwrap_or_default(),
        action: "/sign-in/code",
        notice: Some(notice),
        error,
        ..SecondFactorPage::new(p)
    }
}

pub async fn submit_sign_in_code(
    State(app): State<App>,
    origin: Origin,
    headers: HeaderMap,
    Form(form): Form<MethodForm>,
) -> Result<Response, StepError> {
    let p = submitted_at(&app, &headers, STAGE_MFA, &form.csrf).await?;
    let token = cookies::get(&headers, cookies::SESSION).unwrap_or_default();
    match rollcall_app::identity::auth::verify_second_factor(
        &app,
        &token,
        &form.code,
        origin.source_ip,
    )
    .await
    {
        Ok(step) => {
            let (token, next) = match step {
                SignInStep::Registering { token, stage } => (token, step_path(stage).to_string()),
                SignInStep::Done(signed) => (signed.token, cookies::after_sign_in(&headers)),
                SignInStep::SecondFactor { token, .. } => (token, "/sign-in/code".to_string()),
            };
            Ok(cookies::redirect_with_session(
                &next,
                &token,
                app.config.secure_cookies,
            ))
        }
        Err(e @ (AppError::Unauthenticated(_) | AppError::RateLimited(_))) => {
            let status = if matches!(e, AppError::RateLimited(_)) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            Ok((
                status,
                render(&sign_in_code_page(&app, &p, Some(e.to_string())).await),
            )
                .into_response())
        }
        Err(e) => Err(e.into()),
    }
}
