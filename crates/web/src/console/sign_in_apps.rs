//! Sign-in apps page: a company admin registers the practice's apps that sign staff in through
//! Rollcall (OpenID Connect clients), sees a new secret once, changes an app, rotates its secret
//! and deletes it (both asked about first).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use rollcall_app::clock::local_date;
use rollcall_app::oidc::clients::{self, ClientChange, ClientView, CreatedClient, NewClient};
use rollcall_app::{App, AppError};
use uuid::Uuid;

use super::confirm::{self, Question};
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
    /// What the last change did.
    notice: Option<String>,
    form: FormState,
}

struct Row {
    id: Uuid,
    name: String,
    confidential: bool,
    redirect_uris: Vec<String>,
    logout_uris: Vec<String>,
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
            logout_uris: c.post_logout_redirect_uris,
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
    notice: Option<String>,
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
        notice,
        form,
    }))
}

pub async fn page(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    show(&app, &user, None, None, FormState::stored()).await
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
        Ok(created) => show(&app, &user, Some(created), None, FormState::stored()).await,
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_))) => {
            show(&app, &user, None, None, FormState::refused(pairs, &e)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "sign_in_app.html")]
struct SignInAppPage {
    nav: Nav,
    scopes: Vec<(&'static str, &'static str)>,
    app: Row,
    /// The new secret after a rotation, shown this once.
    secret: Option<String>,
    form: FormState,
}

impl SignInAppPage {
    fn allows(&self, scope: &str) -> bool {
        let stored = self.app.scopes.iter().any(|s| s == scope);
        self.form.chosen("scope", scope, stored)
    }
}

/// The app `id` of the organization (a company admin's only).
async fn one(app: &App, user: &ConsoleUser, id: Uuid) -> Result<ClientView, PageError> {
    clients::list(app, &user.principal)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| AppError::not_found("sign-in app").into())
}

async fn show_one(
    app: &App,
    user: &ConsoleUser,
    id: Uuid,
    secret: Option<String>,
    form: FormState,
) -> Result<Response, PageError> {
    let client = one(app, user, id).await?;
    Ok(render(&SignInAppPage {
        nav: Nav::of(user),
        scopes: SCOPES.to_vec(),
        app: Row::of(client, &user.principal.time_zone),
        secret,
        form,
    }))
}

/// One app's page: its settings to change, its secret to rotate, and deletion.
pub async fn edit(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    show_one(&app, &user, id, None, FormState::stored()).await
}

pub async fn save(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let change = ClientChange {
        name: Some(first_value(&pairs, "name").to_string()),
        redirect_uris: Some(lines(first_value(&pairs, "redirect_uris"))),
        post_logout_redirect_uris: Some(lines(first_value(&pairs, "post_logout_redirect_uris"))),
        scopes: Some(values(&pairs, "scope")),
    };
    match clients::update(&app, &user.principal, id, &change, &user.meta()).await {
        Ok(c) => {
            let notice = format!("“{}” is saved.", c.name);
            show(&app, &user, None, Some(notice), FormState::stored()).await
        }
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_))) => {
            show_one(&app, &user, id, None, FormState::refused(pairs, &e)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Gives a confidential app a new secret, after asking.
pub async fn rotate(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    if !confirm::confirmed(&pairs) {
        let c = one(&app, &user, id).await?;
        let q = Question {
            heading: format!("Rotate the client secret of “{}”?", c.name),
            consequences: vec![
                "A new client secret is made and shown once; copy it into the app's settings."
                    .into(),
                format!(
                    "The old secret stops working at once: “{}” cannot sign anyone in until it has the new one.",
                    c.name
                ),
                "People already signed in through the app stay signed in; their refresh tokens keep working."
                    .into(),
            ],
            button: "Rotate the secret".into(),
            action: format!("/settings/sign-in-apps/{id}/rotate"),
            cancel: format!("/settings/sign-in-apps/{id}"),
        };
        return Ok(confirm::ask(&user, q, &pairs));
    }
    let rotated = clients::rotate_secret(&app, &user.principal, id, &user.meta()).await?;
    show_one(&app, &user, id, rotated.client_secret, FormState::stored()).await
}

/// Deletes an app, after asking: every sign-in made through it ends.
pub async fn delete(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    if !confirm::confirmed(&pairs) {
        let c = one(&app, &user, id).await?;
        let q = Question {
            heading: format!("Delete the sign-in app “{}”?", c.name),
            consequences: vec![
                format!(
                    "Every sign-in made through “{}” ends at once: its tokens stop working and people must sign in again once it is registered anew.",
                    c.name
                ),
                "Its client ID and secret stop working; this cannot be undone.".into(),
            ],
            button: "Delete the app".into(),
            action: format!("/settings/sign-in-apps/{id}/delete"),
            cancel: "/settings/sign-in-apps".into(),
        };
        return Ok(confirm::ask(&user, q, &pairs));
    }
    let name = one(&app, &user, id).await?.name;
    clients::delete(&app, &user.principal, id, &user.meta()).await?;
    let notice = format!("“{name}” is deleted; every sign-in made through it has ended.");
    show(&app, &user, None, Some(notice), FormState::stored()).await
}
