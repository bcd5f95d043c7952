//! API tokens page: an admin makes a token for an integration (a service account, or a personal
//! token acting as themselves), sees its secret once, and rotates or revokes it later.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use rollcall_app::clock::local_date;
use rollcall_app::domain::{Capability, Scope, TokenOwner};
use rollcall_app::identity::api_tokens::{self, Issued, NewToken, TokenView};
use rollcall_app::{App, AppError};
use uuid::Uuid;

use super::form::FormState;
use super::{Nav, field, first_value};
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser};

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    nav: Nav,
    scopes: Vec<(&'static str, &'static str)>,
    /// A company admin may make service accounts.
    service_accounts: bool,
    tokens: Vec<Row>,
    /// The token just made or rotated: its name and its secret, shown this once.
    issued: Option<(String, String)>,
    /// The new-token form, as typed when refused.
    form: FormState,
}

/// A token as the pages list it (API tokens, Provisioning).
pub(super) struct Row {
    pub(super) id: Uuid,
    pub(super) name: String,
    pub(super) acts_as: &'static str,
    pub(super) scopes: String,
    pub(super) created: String,
    pub(super) created_by: String,
    pub(super) expires: String,
    pub(super) last_used: String,
    pub(super) state: &'static str,
}

impl Row {
    pub(super) fn of(t: TokenView, zone: &str) -> Row {
        let date = |rfc: &Option<String>| {
            rfc.as_deref()
                .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                .map(|t| local_date(t.as_microsecond(), zone))
        };
        Row {
            id: t.id,
            acts_as: match t.owner {
                TokenOwner::Organization => "Service account",
                TokenOwner::Person => "Personal",
            },
            scopes: t.scopes.join(" "),
            created: date(&Some(t.created_at)).unwrap_or_default(),
            created_by: t.created_by,
            expires: date(&t.expires_at).unwrap_or_else(|| "never".into()),
            last_used: date(&t.last_used_at).unwrap_or_else(|| "never".into()),
            state: t.state,
            name: t.name,
        }
    }
}

async fn show(
    app: &App,
    user: &ConsoleUser,
    issued: Option<Issued>,
    form: FormState,
) -> Result<Response, PageError> {
    let zone = &user.principal.time_zone;
    let tokens = api_tokens::list(app, &user.principal)
        .await?
        .into_iter()
        .map(|t| Row::of(t, zone))
        .collect();
    Ok(render(&TokensPage {
        nav: Nav::of(user),
        scopes: Scope::ALL.map(|s| (s.key(), s.description())).to_vec(),
        service_accounts: user.principal.can(Capability::ManageServiceAccounts),
        tokens,
        issued: issued.map(|i| (i.token.name, i.secret)),
        form,
    }))
}

pub async fn page(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    show(&app, &user, None, FormState::stored()).await
}

pub async fn create(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let one = |name| first_value(&pairs, name).to_string();
    let expiry = one("expires_in_days");
    let req = NewToken {
        name: one("name"),
        scopes: field(&pairs, "scope").collect::<Vec<_>>().join(" "),
        owner: field(&pairs, "owner")
            .next()
            .unwrap_or("person")
            .to_string(),
        expires_in_days: expiry_days(&expiry),
    };
    let created = api_tokens::create(&app, &user.principal, &req, &user.meta()).await;
    answer(&app, &user, created, pairs).await
}

pub async fn rotate(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(_): ConsoleForm,
) -> Result<Response, PageError> {
    let rotated = api_tokens::rotate(&app, &user.principal, id, &user.meta()).await;
    answer(&app, &user, rotated, Vec::new()).await
}

pub async fn revoke(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(_): ConsoleForm,
) -> Result<Response, PageError> {
    api_tokens::revoke(&app, &user.principal, id, &user.meta()).await?;
    show(&app, &user, None, FormState::stored()).await
}

/// The page again, with the new secret or with what was wrong (and what was `typed`).
async fn answer(
    app: &App,
    user: &ConsoleUser,
    result: Result<Issued, AppError>,
    typed: Vec<(String, String)>,
) -> Result<Response, PageError> {
    match result {
        Ok(issued) => show(app, user, Some(issued), FormState::stored()).await,
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_) | AppError::Conflict(_))) => {
            show(app, user, None, FormState::refused(typed, &e)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The expiry field: empty or "never" for a token that does not expire; anything but a number
/// is sent on as 0 days, which token creation refuses with its own message.
pub(super) fn expiry_days(field: &str) -> Option<u32> {
    match field {
        "" | "never" => None,
        days => Some(days.parse().unwrap_or(0)),
    }
}
