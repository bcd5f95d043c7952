//! Sign-in apps page: a company admin registers the practice's apps that sign staff in through
//! Rollcall (OpenID Connect clients), sees a new secret once, and deletes an app.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use rollcall_app::clock::local_date;
use rollcall_app::oidc::clients::{self, ClientView, CreatedClient, NewClient};
use rollcall_app::{App, AppError};
use uuid::Uuid;

use super::form::FormState;
use super::{Nav, first_value, values};
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser};

#[derive(Template)]
#[template(path = "sign_in_apps.html")]
struct SignInAppsPage {
    nav: Nav,
    issuer: String,
    scopes: Vec<(&'static str, &'static str)>,
    clients: Vec<Row>,
    /// The app just registered: name, client id and (confidential) its secret, shown once.
    created: Option<(String, Uuid, Option<String>)>,
    form: FormState,
}

struct Row {
    id: Uuid,
    name: String,
    confidential: bool,
    redirect_uris: Vec<String>,
    scopes: Vec<String>,
    /// The day it was registered, in the organization's zone.
    created: String,
}

impl Row {
    fn of(c: ClientView, zone: &str) -> Row {
        let created = c
            .created_at
            .parse::<jiff::Timestamp>()
            .map(|t| local_date(t.as_microsecond(), zone))
            .unwrap_or_default();
        Row {
            id: c.id,
            name: c.name,
            confidential: c.confidential,
            redirect_uris: c.redirect_uris,
            scopes: c.scopes,
            created,
        }
    }
}

const SCOPES: [(&str, &str); 4] = [
    ("profile", "name and username"),
    ("email", "email address"),
    (
        "rollcall",
        "user type, permissions in effect, locations, NPI",
    ),
    ("offline_access", "stay signed in (refresh tokens)"),
];

async fn show(
    app: &App,
    user: &ConsoleUser,
    created: Option<CreatedClient>,
    form: FormState,
) -> Result<Response, PageError> {
    Ok(render(&SignInAppsPage {
        nav: Nav::of(user),
        issuer: rollcall_app::oidc::issuer(app),
        scopes: SCOPES.to_vec(),
        clients: clients::list(app, &user.principal)
            .await?
            .into_iter()
            .map(|c| Row::of(c, &user.principal.time_zone))
            .collect(),
        created: created.map(|c| (c.client.name, c.client.id, c.client_secret)),
        form,
    }))
}

pub async fn page(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    show(&app, &user, None, FormState::stored()).await
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

pub async fn create(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let new = NewClient {
        name: first_value(&pairs, "name").to_string(),
        redirect_uris: lines(first_value(&pairs, "redirect_uris")),
        post_logout_redirect_uris: lines(first_value(&pairs, "post_logout_redirect_uris")),
        confidential: first_value(&pairs, "kind") != "public",
        scopes: values(&pairs, "scope"),
    };
    match clients::create(&app, &user.principal, &new, &user.meta()).await {
        Ok(created) => show(&app, &user, Some(created), FormState::stored()).await,
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_))) => {
            show(&app, &user, None, FormState::refused(pairs, &e)).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(_): ConsoleForm,
) -> Result<Response, PageError> {
    clients::delete(&app, &user.principal, id, &user.meta()).await?;
    show(&app, &user, None, FormState::stored()).await
}
