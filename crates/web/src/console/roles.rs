//! The roles page: every role with its permissions and member count; create one; edit one
//! (name, permissions) and see its members and what the rules filter for them.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_app::access::roles::{self, Member, RoleView};
use rollcall_app::domain::{Capability, Permission};
use rollcall_app::{App, AppError};
use uuid::Uuid;

use super::bulk::{PermissionGroup, catalogue};
use super::confirm::{self, Question};
use super::{Nav, field, first_value};
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser};

#[derive(Template)]
#[template(path = "roles.html")]
struct RolesPage {
    nav: Nav,
    roles: Vec<RoleView>,
    groups: Vec<PermissionGroup>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "role.html")]
struct RolePage {
    nav: Nav,
    role: RoleView,
    members: Vec<Member>,
    groups: Vec<PermissionGroup>,
    notice: Option<String>,
    error: Option<String>,
}

impl RolePage {
    fn holds(&self, key: &str) -> bool {
        self.role.permissions.iter().any(|p| p.key() == key)
    }
}

async fn list_page(
    app: &App,
    user: &ConsoleUser,
    error: Option<String>,
) -> Result<Response, PageError> {
    Ok(render(&RolesPage {
        nav: Nav::of(user),
        roles: roles::list(app, &user.principal).await?,
        groups: catalogue(),
        error,
    }))
}

/// `GET /roles`
pub async fn list(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    list_page(&app, &user, None).await
}

fn permissions_of(pairs: &[(String, String)]) -> Result<BTreeSet<Permission>, AppError> {
    field(pairs, "permissions")
        .map(|k| Permission::parse(k).map_err(AppError::from))
        .collect()
}

fn shown(e: &AppError) -> bool {
    matches!(
        e,
        AppError::Invalid(_) | AppError::Refused(_) | AppError::Conflict(_)
    )
}

/// `POST /roles`: create a role.
pub async fn create(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let result = match permissions_of(&pairs) {
        Ok(perms) => {
            let name = first_value(&pairs, "name");
            roles::create(&app, &user.principal, name, &perms, &user.meta()).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(saved) => Ok(Redirect::to(&format!("/roles/{}?saved=1", saved.id)).into_response()),
        Err(e) if shown(&e) => list_page(&app, &user, Some(e.to_string())).await,
        Err(e) => Err(e.into()),
    }
}

async fn role_page(
    app: &App,
    user: &ConsoleUser,
    id: Uuid,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, PageError> {
    let (role, members) = roles::get(app, &user.principal, id).await?;
    Ok(render(&RolePage {
        nav: Nav::of(user),
        role,
        members,
        groups: catalogue(),
        notice,
        error,
    }))
}

#[derive(serde::Deserialize, Default)]
pub struct RoleQuery {
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    filtered: Option<String>,
}

/// `GET /roles/{id}`
pub async fn show(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    axum::extract::Query(q): axum::extract::Query<RoleQuery>,
) -> Result<Response, PageError> {
    let notice = q.saved.map(|_| match q.filtered.filter(|f| !f.is_empty()) {
        Some(f) => format!(
            "Saved. Not in effect for some members because their user type forbids it: {f}."
        ),
        None => "Saved.".to_string(),
    });
    role_page(&app, &user, id, notice, None).await
}

/// A change of a role's permissions reaches every member at once: it is asked about first,
/// with what it adds and removes and how many people it reaches.
async fn reach_question(
    app: &App,
    user: &ConsoleUser,
    id: Uuid,
    perms: &BTreeSet<Permission>,
) -> Result<Option<Question>, PageError> {
    let (role, _) = roles::get(app, &user.principal, id).await?;
    let now: BTreeSet<Permission> = role.permissions.iter().copied().collect();
    let labels = |set: Vec<&Permission>| -> String {
        set.iter().map(|p| p.label()).collect::<Vec<_>>().join(", ")
    };
    let added = labels(perms.difference(&now).collect());
    let removed = labels(now.difference(perms).collect());
    if role.members == 0 || (added.is_empty() && removed.is_empty()) {
        return Ok(None);
    }
    let mut consequences = Vec::new();
    if !added.is_empty() {
        consequences.push(format!("Gives: {added}."));
    }
    if !removed.is_empty() {
        consequences.push(format!("Takes away: {removed}."));
    }
    let people = if role.members == 1 {
        "the 1 member".to_string()
    } else {
        format!("all {} members", role.members)
    };
    consequences.push(format!(
        "This reaches {people} of {} at once; the rules still decide for each person.",
        role.name
    ));
    Ok(Some(Question {
        heading: format!("Change what {} can do?", role.name),
        consequences,
        button: format!("Change it for {people}"),
        action: format!("/roles/{id}"),
        cancel: format!("/roles/{id}"),
    }))
}

/// `POST /roles/{id}`: rename and set permissions.
pub async fn save(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let asked = permissions_of(&pairs);
    if !confirm::confirmed(&pairs)
        && user.principal.can(Capability::EditAccess)
        && let Ok(perms) = &asked
        && let Some(q) = reach_question(&app, &user, id, perms).await?
    {
        return Ok(confirm::ask(&user, q, &pairs));
    }
    let result = match asked {
        Ok(perms) => {
            let name = first_value(&pairs, "name");
            roles::update(&app, &user.principal, id, name, &perms, &user.meta()).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(saved) => {
            let filtered: Vec<String> = saved
                .filtered
                .iter()
                .map(|(p, n)| format!("{p} ({n})"))
                .collect();
            Ok(Redirect::to(&format!(
                "/roles/{id}?saved=1&filtered={}",
                super::urlencode(&filtered.join(", "))
            ))
            .into_response())
        }
        Err(e) if shown(&e) => {
            let mut page = role_page(&app, &user, id, None, Some(e.to_string())).await?;
            *page.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(page)
        }
        Err(e) => Err(e.into()),
    }
}
