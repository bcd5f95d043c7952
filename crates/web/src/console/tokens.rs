//! API tokens page: an admin creates a scoped token for an integration and sees it once.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use rollcall_app::clock::local_date;
use rollcall_app::domain::{Capability, Scope};
use rollcall_app::{App, AppError};

use super::{Nav, field, first_value};
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser};

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    nav: Nav,
    scopes: Vec<(&'static str, &'static str)>,
    tokens: Vec<(String, String, String, String)>,
    created: Option<String>,
    error: Option<String>,
}

async fn show(
    app: &App,
    user: &ConsoleUser,
    created: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    user.principal.require(Capability::ManageTokens)?;
    let tokens = rollcall_app::identity::api_tokens::list(app, &user.principal)
        .await?
        .into_iter()
        .map(|t| {
            (
                t.name,
                t.scopes,
                local_date(t.created_at, &user.principal.time_zone),
                if t.revoked_at.is_some() {
                    "revoked".into()
                } else {
                    "active".into()
                },
            )
        })
        .collect();
    Ok(render(&TokensPage {
        nav: Nav::of(user),
        scopes: Scope::ALL.map(|s| (s.key(), s.description())).to_vec(),
        tokens,
        created,
        error,
    }))
}

pub async fn page(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    show(&app, &user, None, None).await
}

pub async fn create(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let scopes = field(&pairs, "scope").collect::<Vec<_>>().join(" ");
    match rollcall_app::identity::api_tokens::create(
        &app,
        &user.principal,
        first_value(&pairs, "name"),
        &scopes,
        &user.meta(),
    )
    .await
    {
        Ok((_, raw)) => show(&app, &user, Some(raw), None).await,
        Err(AppError::Invalid(v)) => show(&app, &user, None, Some(v.message)).await,
        Err(e) => Err(e.into()),
    }
}
