//! Emergency ("break-glass") access in the console: a designated person takes it for themselves;
//! company admins see every use, with filters, and review each one afterwards.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use rollcall_app::access::emergency::grant::{self, EmergencyRequest};
use rollcall_app::access::emergency::review::{self, Decision, GrantFilter, ReviewDecision};
use rollcall_app::access::emergency::{EmergencyGrant, settings};
use rollcall_app::domain::Capability;
use rollcall_app::domain::emergency::ReviewState;
use rollcall_app::{App, AppError};
use serde::Deserialize;
use uuid::Uuid;

use super::form::FormState;
use super::{Nav, first_value};
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/emergency-access", get(page).post(take))
        .route("/emergency-access/{id}", get(detail))
        .route("/emergency-access/{id}/review", post(decide))
        .route("/emergency-access/{id}/end", post(end))
}

/// Durations offered, in minutes; those beyond the organization's maximum are left out.
const DURATIONS: [u32; 9] = [15, 30, 60, 120, 240, 480, 720, 1440, 4320];

#[derive(Template)]
#[template(path = "emergency.html")]
struct EmergencyPage {
    nav: Nav,
    /// May take emergency access (a member of the designated role).
    designated: bool,
    /// (key, label) of the permissions emergency access covers.
    permissions: Vec<(String, String)>,
    /// (id, name) of the active locations.
    locations: Vec<(String, String)>,
    /// (minutes, words).
    durations: Vec<(String, String)>,
    max_minutes: String,
    /// A company admin: sees every use and reviews them.
    reviewer: bool,
    grants: Vec<EmergencyGrant>,
    states: Vec<(String, String)>,
    lives: Vec<(String, String)>,
    filter: Filters,
    notice: Option<&'static str>,
    form: FormState,
}

#[derive(Template)]
#[template(path = "emergency_grant.html")]
struct GrantPage {
    nav: Nav,
    g: EmergencyGrant,
    /// The review form is shown: a company admin, an open review, not their own use.
    may_review: bool,
    /// The "End now" button is shown: a grant in effect, to its person or a company admin.
    may_end: bool,
    notice: Option<&'static str>,
    form: FormState,
}

/// The list's filters, as chosen.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Filters {
    review_state: Option<String>,
    live: Option<String>,
    saved: Option<String>,
}

impl Filters {
    fn to_filter(&self) -> GrantFilter {
        GrantFilter {
            review_state: self
                .review_state
                .as_deref()
                .and_then(|s| ReviewState::parse(s).ok()),
            live: match self.live.as_deref() {
                Some("live") => Some(true),
                Some("ended") => Some(false),
                _ => None,
            },
            user: None,
            limit: Some(review::MAX_LIMIT),
        }
    }
}

fn minutes_in_words(minutes: u32) -> String {
    match minutes {
        m if m % 60 != 0 => format!("{m} minutes"),
        60 => "1 hour".into(),
        m => format!("{} hours", m / 60),
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(v, l)| (v.to_string(), l.to_string()))
        .collect()
}

async fn show(
    app: &App,
    user: &ConsoleUser,
    filter: Filters,
    form: Option<FormState>,
) -> Result<Response, PageError> {
    let offer = settings::offer(app, &user.principal).await?;
    let grants = review::list(app, &user.principal, &filter.to_filter()).await?;
    let mut durations: Vec<u32> = DURATIONS
        .into_iter()
        .filter(|m| *m <= offer.max_minutes)
        .collect();
    if !durations.contains(&offer.max_minutes) {
        durations.push(offer.max_minutes);
    }
    let status = if form.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let notice = match filter.saved.as_deref() {
        Some("reviewed") => Some("Review saved."),
        _ => None,
    };
    let page = EmergencyPage {
        nav: Nav::of(user),
        designated: offer.designated,
        permissions: offer
            .permissions
            .iter()
            .map(|p| (p.key().to_string(), format!("{} ({})", p.label(), p.key())))
            .collect(),
        locations: offer
            .locations
            .into_iter()
            .map(|(id, name)| (id.to_string(), name))
            .collect(),
        durations: durations
            .into_iter()
            .map(|m| (m.to_string(), minutes_in_words(m)))
            .collect(),
        max_minutes: offer.max_minutes.to_string(),
        reviewer: user.principal.can(Capability::ManageSettings),
        grants,
        states: pairs(&[
            ("open", "Review open"),
            ("accepted", "Accepted"),
            ("flagged", "Flagged"),
        ]),
        lives: pairs(&[("live", "In effect"), ("ended", "Ended")]),
        filter,
        notice,
        form: form.unwrap_or_else(FormState::stored),
    };
    Ok((status, render(&page)).into_response())
}

pub async fn page(
    State(app): State<App>,
    user: ConsoleUser,
    Query(filter): Query<Filters>,
) -> Result<Response, PageError> {
    show(&app, &user, filter, None).await
}

pub async fn take(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let text = |name: &str| Some(first_value(&pairs, name).to_string());
    let minutes = first_value(&pairs, "minutes").trim();
    let req = EmergencyRequest {
        permission: text("permission"),
        location: text("location"),
        reason: first_value(&pairs, "reason").to_string(),
        // A number that does not parse is out of range, and said so.
        minutes: (!minutes.is_empty()).then(|| minutes.parse().unwrap_or(0)),
    };
    let path = rollcall_app::domain::Path::Console;
    match grant::grant(&app, &user.principal, &req, path, &user.meta()).await {
        Ok(g) => {
            Ok(Redirect::to(&format!("/emergency-access/{}?saved=granted", g.id)).into_response())
        }
        Err(
            e @ (AppError::Invalid(_)
            | AppError::InvalidFields(_)
            | AppError::Refused(_)
            | AppError::Forbidden(_)),
        ) => {
            let form = FormState::refused(pairs, &e);
            show(&app, &user, Filters::default(), Some(form)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Saved {
    saved: Option<String>,
}

async fn show_grant(
    app: &App,
    user: &ConsoleUser,
    id: Uuid,
    notice: Option<&'static str>,
    form: Option<FormState>,
) -> Result<Response, PageError> {
    let g = review::get(app, &user.principal, id).await?;
    let company_admin = user.principal.can(Capability::ManageSettings);
    let own = user.principal.user_ref() == Some(g.user_id);
    let may_review = company_admin && g.review_state == ReviewState::Open && !own;
    let may_end = g.live && (company_admin || own);
    let status = if form.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = GrantPage {
        nav: Nav::of(user),
        g,
        may_review,
        may_end,
        notice,
        form: form.unwrap_or_else(FormState::stored),
    };
    Ok((status, render(&page)).into_response())
}

pub async fn detail(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    Query(saved): Query<Saved>,
) -> Result<Response, PageError> {
    let notice = match saved.saved.as_deref() {
        Some("granted") => Some(
            "Emergency access granted. The company admins have been told; it ends by itself at the time shown.",
        ),
        Some("ended") => Some("Emergency access ended: the access it gave is taken back."),
        _ => None,
    };
    show_grant(&app, &user, id, notice, None).await
}

pub async fn decide(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let reviewed = match Decision::parse(first_value(&pairs, "decision")) {
        Ok(decision) => {
            let decision = ReviewDecision {
                decision,
                note: first_value(&pairs, "note").to_string(),
            };
            review::review(&app, &user.principal, id, &decision, &user.meta()).await
        }
        Err(e) => Err(e.into()),
    };
    match reviewed {
        Ok(_) => Ok(Redirect::to("/emergency-access?saved=reviewed").into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_) | AppError::Conflict(_))) => {
            let form = FormState::refused(pairs, &e);
            show_grant(&app, &user, id, None, Some(form)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Ends a grant now, then shows it; one already ended says when it ended.
pub async fn end(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(_): ConsoleForm,
) -> Result<Response, PageError> {
    let meta = user.meta();
    match rollcall_app::access::emergency::expiry::end_now(&app, &user.principal, id, &meta).await {
        Ok(_) => Ok(Redirect::to(&format!("/emergency-access/{id}?saved=ended")).into_response()),
        Err(e @ AppError::Conflict(_)) => {
            let form = FormState::refused(Vec::new(), &e);
            show_grant(&app, &user, id, None, Some(form)).await
        }
        Err(e) => Err(e.into()),
    }
}
