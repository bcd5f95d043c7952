//! A user's profile page: details, access with its sources, provider credentials, history;
//! one form saves an edit through the rule engine.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_app::access::profile::{self, Profile, ProfileEdit};
use rollcall_app::domain::Capability;
use rollcall_app::domain::{Path as ChangePath, Permission, SchedulingStep};
use rollcall_app::users::list::filter_options;
use rollcall_app::{App, AppError};
use uuid::Uuid;

use super::bulk::{PermissionGroup, catalogue};
use super::form::FormState;
use super::{Nav, field, values};
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser};

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    nav: Nav,
    p: Profile,
    can_edit: bool,
    /// May set the leaving date (it deactivates).
    can_deactivate: bool,
    /// The leaving instant as the form shows it (`YYYY-MM-DD HH:MM` in the zone).
    leaving: String,
    user_types: Vec<(String, String)>,
    groups: Vec<PermissionGroup>,
    direct: BTreeSet<String>,
    steps: Vec<u16>,
    taxonomies: String,
    notice: Option<&'static str>,
    /// What was typed and refused, when the page answers a refused save.
    form: FormState,
    zone: String,
    /// The version the form was filled from: a save on top of another manager's edit is
    /// refused instead of silently undoing it.
    version: String,
}

impl ProfilePage {
    fn holds(&self, key: &str) -> bool {
        self.direct.contains(key)
    }

    /// The categories offered, in order, for the rows of the preferences grid.
    fn notification_rows(&self) -> Vec<(&str, &str)> {
        let mut rows: Vec<(&str, &str)> = Vec::new();
        for n in &self.p.notifications {
            if !rows.iter().any(|(c, _)| *c == n.category) {
                rows.push((&n.category, &n.category_label));
            }
        }
        rows
    }

    /// The media offered, in order, for the columns of the grid.
    fn notification_media(&self) -> Vec<(&str, &str)> {
        let mut cols: Vec<(&str, &str)> = Vec::new();
        for n in &self.p.notifications {
            if !cols.iter().any(|(m, _)| *m == n.medium) {
                cols.push((&n.medium, &n.medium_label));
            }
        }
        cols
    }

    fn receives(&self, category: &str, medium: &str) -> bool {
        self.p
            .notifications
            .iter()
            .any(|n| n.on && n.category == category && n.medium == medium)
    }

    /// A moment of this profile in the organization's zone.
    fn when(&self, micros: &i64) -> String {
        rollcall_app::clock::local(*micros, &self.zone)
    }

    fn is_default(&self, id: &Uuid) -> bool {
        self.p.default_location.as_ref() == Some(id)
    }
}

async fn show(
    app: &App,
    user: &ConsoleUser,
    id: Uuid,
    notice: Option<&'static str>,
    form: FormState,
) -> Result<Response, PageError> {
    let p = profile::get(app, &user.principal, id).await?;
    let options = filter_options(app, &user.principal).await?;
    Ok(render(&ProfilePage {
        version: profile::version(&p),
        nav: Nav::of(user),
        can_edit: user.principal.can(Capability::EditAccess),
        can_deactivate: user.principal.can(Capability::EditAccess)
            && user.principal.can(Capability::ManageUsers),
        leaving: p
            .leaving_micros
            .map(|at| rollcall_app::clock::local(at, &user.principal.time_zone))
            .map(|shown| shown.chars().take(16).collect())
            .unwrap_or_default(),
        user_types: options.user_types,
        groups: catalogue(),
        direct: p.direct.iter().cloned().collect(),
        steps: SchedulingStep::ALLOWED.to_vec(),
        taxonomies: p
            .provider
            .taxonomies
            .iter()
            .map(|(c, _)| c.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        p,
        notice,
        form,
        zone: user.principal.time_zone.clone(),
    }))
}

#[derive(serde::Deserialize, Default)]
pub struct ProfileQuery {
    #[serde(default)]
    saved: Option<String>,
}

/// `GET /users/{id}`
pub async fn page(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<String>,
    axum::extract::Query(q): axum::extract::Query<ProfileQuery>,
) -> Result<Response, PageError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::not_found("user"))?;
    let notice = q.saved.map(|_| "Saved.");
    show(&app, &user, id, notice, FormState::stored()).await
}

/// The form always sends every field, so sets are complete (an unticked box means "not held").
fn edit_of(pairs: &[(String, String)]) -> Result<ProfileEdit, AppError> {
    let one = |name: &str| field(pairs, name).next().map(str::to_string);
    let ids = |name: &str| -> BTreeSet<String> { field(pairs, name).map(str::to_string).collect() };
    Ok(ProfileEdit {
        first_name: one("first_name"),
        last_name: one("last_name"),
        display_name: one("display_name"),
        mobile: one("mobile"),
        user_type: one("user_type"),
        default_location: one("default_location").filter(|s| !s.is_empty()),
        locations: Some(ids("locations")),
        roles: Some(ids("roles")),
        permissions: Some(
            field(pairs, "permissions")
                .map(|k| Permission::parse(k).map_err(AppError::from))
                .collect::<Result<_, _>>()?,
        ),
        npi: one("npi"),
        taxonomies: one("taxonomies"),
        bio: one("bio"),
        licence_number: one("licence_number"),
        licence_state: one("licence_state"),
        capacity: one("capacity"),
        scheduling_step: one("scheduling_step"),
        notifications: Some(values(pairs, "notifications")),
        // Sent only by managers who may deactivate.
        leaving_date: one("leaving_date"),
    })
}

/// `POST /users/{id}`: save the edit, or show the page again with the reason it was refused.
pub async fn save(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<String>,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let id = Uuid::parse_str(&id).map_err(|_| AppError::not_found("user"))?;
    let result = match edit_of(&pairs) {
        Ok(edit) => {
            profile::update(
                &app,
                &user.principal,
                id,
                &edit,
                field(&pairs, "version").next(),
                ChangePath::Console,
                &user.meta(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/users/{id}?saved=1")).into_response()),
        Err(
            e @ (AppError::Invalid(_)
            | AppError::InvalidFields(_)
            | AppError::Refused(_)
            | AppError::Stale(_)
            | AppError::NotFound(_)),
        ) => {
            let mut page = show(&app, &user, id, None, FormState::refused(pairs, &e)).await?;
            *page.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(page)
        }
        Err(e) => Err(e.into()),
    }
}
