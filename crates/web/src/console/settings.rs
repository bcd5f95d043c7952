//! Organization settings: locations, and the sign-in and invitation settings.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_app::domain::Capability;
use rollcall_app::model::OrgSettings;
use rollcall_app::org::SettingsChange;
use rollcall_app::{App, AppError};
use serde::Deserialize;

use super::{Nav, field, values};
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser};

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    nav: Nav,
    company_admin: bool,
    locations: Vec<(String, String, &'static str)>,
    /// product, total, in use, free
    seats: Vec<(String, i64, i64, i64)>,
    settings: OrgSettings,
    methods: Vec<(String, &'static str)>,
    categories: &'static [(&'static str, &'static str)],
    media: &'static [(&'static str, &'static str)],
    notice: Option<&'static str>,
    error: Option<String>,
}

impl SettingsPage {
    fn offers_category(&self, code: &str) -> bool {
        self.settings
            .notification_categories
            .iter()
            .any(|c| c == code)
    }

    fn offers_medium(&self, code: &str) -> bool {
        self.settings.notification_media.iter().any(|m| m == code)
    }
}

async fn show(
    app: &App,
    user: &ConsoleUser,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let view = rollcall_app::org::settings_view(app, &user.principal).await?;
    let locations = view
        .locations
        .into_iter()
        .map(|l| {
            (
                l.name,
                l.code,
                if l.active { "active" } else { "deactivated" },
            )
        })
        .collect();
    let seats = view
        .seats
        .into_iter()
        .map(|(p, s)| (p, s.total, s.used, s.free()))
        .collect();
    let methods = [
        rollcall_app::identity::mfa::Method::Email,
        rollcall_app::identity::mfa::Method::Sms,
        rollcall_app::identity::mfa::Method::Totp,
    ]
    .into_iter()
    .map(|m| (m.as_str().to_string(), m.label()))
    .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = SettingsPage {
        nav: Nav::of(user),
        company_admin: user.principal.can(Capability::ManageSettings),
        locations,
        seats,
        settings: view.settings,
        methods,
        categories: rollcall_app::domain::notifications::CATEGORIES,
        media: rollcall_app::domain::notifications::MEDIA,
        notice,
        error,
    };
    Ok((status, render(&page)).into_response())
}

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    saved: Option<String>,
}

pub async fn page(
    State(app): State<App>,
    user: ConsoleUser,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    let notice = match q.saved.as_deref() {
        Some("settings") => Some("Settings saved."),
        Some("location") => Some("Location added."),
        _ => None,
    };
    show(&app, &user, notice, None).await
}

pub async fn save(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let number = |name: &str| {
        field(&pairs, name)
            .next()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .unwrap_or(0)
    };
    let change = SettingsChange {
        require_2fa: field(&pairs, "require_2fa").next().is_some(),
        allowed_2fa: values(&pairs, "allowed_2fa"),
        invitation_days: number("invitation_days"),
        idle_timeout_minutes: number("idle_timeout_minutes"),
        notification_categories: field(&pairs, "notification_category")
            .map(str::to_string)
            .collect(),
        notification_media: field(&pairs, "notification_medium")
            .map(str::to_string)
            .collect(),
    };
    match rollcall_app::org::update_settings(&app, &user.principal, &change, &user.meta()).await {
        Ok(_) => Ok(Redirect::to("/settings?saved=settings").into_response()),
        Err(AppError::Invalid(v)) => show(&app, &user, None, Some(v.message)).await,
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct LocationForm {
    csrf: String,
    name: String,
    code: String,
}

pub async fn add_location(
    State(app): State<App>,
    user: ConsoleUser,
    Form(form): Form<LocationForm>,
) -> Result<Response, PageError> {
    user.verify_csrf(&form.csrf)?;
    match rollcall_app::org::create_location(
        &app,
        &user.principal,
        &form.name,
        &form.code,
        &user.meta(),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/settings?saved=location").into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::Conflict(_))) => {
            show(&app, &user, None, Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}
