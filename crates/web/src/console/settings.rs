//! Organization settings: locations, and the sign-in and invitation settings.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_app::access::emergency::settings::{
    self as emergency, EmergencySettings, EmergencySettingsChange,
};
use rollcall_app::domain::Capability;
use rollcall_app::model::OrgSettings;
use rollcall_app::org::SettingsChange;
use rollcall_app::{App, AppError};
use serde::Deserialize;

use super::form::FormState;
use super::{Nav, field, first_value, values};
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
    /// The form that adds a location, as typed when refused.
    location_form: FormState,
    /// The settings form, as typed when refused.
    settings_form: FormState,
    /// The inactivity rule's form, as typed when refused.
    inactivity_form: FormState,
    emergency: EmergencySettings,
    /// (id, name) of the roles that may designate people for emergency access.
    roles: Vec<(String, String)>,
    /// The emergency-access form, as typed when refused.
    emergency_form: FormState,
}

impl SettingsPage {
    fn designates(&self, role_id: &str) -> bool {
        let stored = self
            .emergency
            .role_id
            .is_some_and(|id| id.to_string() == role_id);
        self.emergency_form.chosen("role", role_id, stored)
    }
}

impl SettingsPage {
    fn offers_category(&self, code: &str) -> bool {
        let stored = self
            .settings
            .notification_categories
            .iter()
            .any(|c| c == code);
        self.settings_form
            .chosen("notification_category", code, stored)
    }

    fn offers_medium(&self, code: &str) -> bool {
        let stored = self.settings.notification_media.iter().any(|m| m == code);
        self.settings_form
            .chosen("notification_medium", code, stored)
    }

    fn allows(&self, method: &str) -> bool {
        let stored = self.settings.allowed_2fa.iter().any(|m| m == method);
        self.settings_form.chosen("allowed_2fa", method, stored)
    }
}

/// Which of the page's two forms was refused, with what was typed and why.
enum Refused {
    Nothing,
    Location(FormState),
    Settings(FormState),
    Inactivity(FormState),
    Emergency(FormState),
}

async fn show(
    app: &App,
    user: &ConsoleUser,
    notice: Option<&'static str>,
    refused: Refused,
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
    let status = if matches!(refused, Refused::Nothing) {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let (mut location_form, mut settings_form, mut inactivity_form, mut emergency_form) = (
        FormState::stored(),
        FormState::stored(),
        FormState::stored(),
        FormState::stored(),
    );
    match refused {
        Refused::Nothing => {}
        Refused::Location(f) => location_form = f,
        Refused::Settings(f) => settings_form = f,
        Refused::Inactivity(f) => inactivity_form = f,
        Refused::Emergency(f) => emergency_form = f,
    }
    let emergency = emergency::get(app, &user.principal).await?;
    let roles = rollcall_app::access::roles::list(app, &user.principal)
        .await?
        .into_iter()
        .map(|r| (r.id.to_string(), r.name))
        .collect();
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
        location_form: location_form.within("loc-"),
        settings_form: settings_form.within("set-"),
        inactivity_form: inactivity_form.within("ina-"),
        emergency,
        roles,
        emergency_form: emergency_form.within("em-"),
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
        Some("inactivity") => Some("Inactivity rule saved."),
        Some("emergency") => Some("Emergency access settings saved."),
        Some("access-reviews") => Some("Access review setting saved."),
        _ => None,
    };
    show(&app, &user, notice, Refused::Nothing).await
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
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_))) => {
            let form = FormState::refused(pairs, &e);
            show(&app, &user, None, Refused::Settings(form)).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn add_location(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let name = first_value(&pairs, "name");
    let code = first_value(&pairs, "code");
    match rollcall_app::org::create_location(&app, &user.principal, name, code, &user.meta()).await
    {
        Ok(_) => Ok(Redirect::to("/settings?saved=location").into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_) | AppError::Conflict(_))) => {
            let form = FormState::refused(pairs.clone(), &e);
            show(&app, &user, None, Refused::Location(form)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Saves the inactivity rule: days without signing in (0: off) and what happens then.
pub async fn save_inactivity(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let days = first_value(&pairs, "inactive_after_days").trim();
    let days = if days.is_empty() {
        Some(0)
    } else {
        days.parse::<u32>().ok()
    };
    let action = first_value(&pairs, "inactive_action");
    // A number that does not read as one is out of range all the same.
    let days = days.unwrap_or(u32::MAX);
    let saved = rollcall_app::access::inactivity::set_rule(
        &app,
        &user.principal,
        days,
        action,
        &user.meta(),
    )
    .await;
    match saved {
        Ok(_) => Ok(Redirect::to("/settings?saved=inactivity#inactivity").into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_))) => {
            let form = FormState::refused(pairs, &e);
            show(&app, &user, None, Refused::Inactivity(form)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Saves what a review campaign's due date does to the unreviewed: escalate or revoke.
pub async fn save_access_reviews(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let revokes = match first_value(&pairs, "overdue") {
        "revoke" => true,
        "escalate" => false,
        other => {
            let e = AppError::from(rollcall_app::domain::ValueError::new(
                "overdue",
                "choice_unknown",
                format!("“{other}” is not a choice: pick escalate or revoke."),
            ));
            return Err(e.into());
        }
    };
    rollcall_app::reviews::set_overdue_revokes(&app, &user.principal, revokes, &user.meta())
        .await?;
    Ok(Redirect::to("/settings?saved=access-reviews#access-reviews").into_response())
}

pub async fn save_emergency(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let change = EmergencySettingsChange {
        role: Some(first_value(&pairs, "role").to_string()),
        // A number that does not parse is out of range, and said so.
        max_minutes: Some(
            first_value(&pairs, "max_minutes")
                .trim()
                .parse()
                .unwrap_or(0),
        ),
    };
    match emergency::update(&app, &user.principal, &change, &user.meta()).await {
        Ok(_) => Ok(Redirect::to("/settings?saved=emergency#emergency").into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_))) => {
            let form = FormState::refused(pairs, &e);
            show(&app, &user, None, Refused::Emergency(form)).await
        }
        Err(e) => Err(e.into()),
    }
}
