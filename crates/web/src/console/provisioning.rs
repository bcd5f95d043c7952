//! Provisioning page (Settings → Provisioning): what a company admin needs to connect Entra ID,
//! Okta or another SCIM client: the SCIM base URL, a token with the `scim` scope (shown once),
//! what each provider group gives its members (roles, locations), and the last SCIM requests with
//! how each ended.

use std::collections::BTreeSet;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use rollcall_app::domain::Capability;
use rollcall_app::identity::api_tokens::Issued;
use rollcall_app::provisioning::groups::{self, Mapping, ScimGroup};
use rollcall_app::provisioning::requests::{self, RequestView};
use rollcall_app::{App, AppError};
use uuid::Uuid;

use super::form::FormState;
use super::{Nav, first_value, values};
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/settings/provisioning", get(page))
        .route("/settings/provisioning/token", post(create_token))
        .route("/settings/provisioning/groups/{id}", post(map_group))
}

/// A provider group with what it gives, and its form as shown (typed and refused, or stored).
struct GroupRow {
    group: ScimGroup,
    form: FormState,
}

impl GroupRow {
    fn gives_role(&self, id: &Uuid) -> bool {
        let stored = self.group.roles.contains(id);
        self.form.chosen("role", id.to_string(), stored)
    }

    fn gives_location(&self, id: &Uuid) -> bool {
        let stored = self.group.locations.contains(id);
        self.form.chosen("location", id.to_string(), stored)
    }

    /// The id of a control of this group's form.
    fn control(&self, name: &str) -> String {
        format!("g-{}-{name}", self.group.id)
    }

    /// The field a refusal names, as this form's control id.
    fn problem_target(&self, field: &str) -> String {
        match field {
            "roles" => self.control("roles"),
            _ => self.control("locations"),
        }
    }
}

#[derive(Template)]
#[template(path = "provisioning.html")]
struct ProvisioningPage {
    nav: Nav,
    base_url: String,
    tokens: Vec<super::tokens::Row>,
    /// The token just made: its name and secret, shown this once.
    issued: Option<(String, String)>,
    token_form: FormState,
    groups: Vec<GroupRow>,
    roles: Vec<(Uuid, String)>,
    locations: Vec<(Uuid, String)>,
    requests: Vec<RequestView>,
    notice: Option<String>,
}

/// What the page shows besides its defaults: a token just made, a refused form, a notice.
#[derive(Default)]
struct Shown {
    issued: Option<Issued>,
    token_form: Option<FormState>,
    refused_group: Option<(Uuid, FormState)>,
    notice: Option<String>,
}

async fn show(app: &App, user: &ConsoleUser, mut shown: Shown) -> Result<Response, PageError> {
    let who = &user.principal;
    who.require(Capability::ManageSettings)?;
    let zone = &who.time_zone;
    let tokens = requests::scim_tokens(app, who)
        .await?
        .into_iter()
        .map(|t| super::tokens::Row::of(t, zone))
        .collect();
    let groups = groups::groups(app, who)
        .await?
        .into_iter()
        .map(|group| {
            let form = match shown.refused_group.take() {
                Some((id, form)) if id == group.id => form,
                other => {
                    shown.refused_group = other;
                    FormState::stored()
                }
            };
            GroupRow { group, form }
        })
        .collect();
    let roles = rollcall_app::access::roles::list(app, who)
        .await?
        .into_iter()
        .map(|r| (r.id, r.name))
        .collect();
    let locations = rollcall_app::org::reference::locations(app, who)
        .await?
        .into_iter()
        .filter(|l| l.active)
        .map(|l| (l.id, l.name))
        .collect();
    Ok(render(&ProvisioningPage {
        nav: Nav::of(user),
        base_url: format!("{}/scim/v2", app.config.public_url.trim_end_matches('/')),
        tokens,
        issued: shown.issued.map(|i| (i.token.name, i.secret)),
        token_form: shown
            .token_form
            .unwrap_or_else(FormState::stored)
            .within("t-"),
        groups,
        roles,
        locations,
        requests: requests::recent(app, who).await?,
        notice: shown.notice,
    }))
}

/// `GET /settings/provisioning`.
pub async fn page(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    show(&app, &user, Shown::default()).await
}

/// `POST /settings/provisioning/token`: a service account with the `scim` scope alone.
pub async fn create_token(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let expires = super::tokens::expiry_days(first_value(&pairs, "expires_in_days"));
    let name = first_value(&pairs, "name").to_string();
    let meta = user.meta();
    match requests::create_scim_token(&app, &user.principal, &name, expires, &meta).await {
        Ok(issued) => {
            let shown = Shown {
                issued: Some(issued),
                ..Shown::default()
            };
            show(&app, &user, shown).await
        }
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_) | AppError::Conflict(_))) => {
            let shown = Shown {
                token_form: Some(FormState::refused(pairs, &e)),
                ..Shown::default()
            };
            show(&app, &user, shown).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /settings/provisioning/groups/{id}`: what the group's membership gives; every member
/// gets it at once, each judged by the rules.
pub async fn map_group(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let mapping = Mapping {
        roles: unique(values(&pairs, "role")),
        locations: unique(values(&pairs, "location")),
    };
    let meta = user.meta();
    match groups::set_mapping(&app, &user.principal, id, &mapping, &meta).await {
        Ok(g) => {
            let notice = format!(
                "“{}” is saved: its {} {} what it gives.",
                g.display_name,
                g.members.len(),
                if g.members.len() == 1 {
                    "member has"
                } else {
                    "members have"
                }
            );
            let shown = Shown {
                notice: Some(notice),
                ..Shown::default()
            };
            show(&app, &user, shown).await
        }
        Err(
            e @ (AppError::Invalid(_)
            | AppError::InvalidFields(_)
            | AppError::Refused(_)
            | AppError::Conflict(_)),
        ) => {
            let shown = Shown {
                refused_group: Some((id, FormState::refused(pairs, &e))),
                ..Shown::default()
            };
            show(&app, &user, shown).await
        }
        Err(e) => Err(e.into()),
    }
}

fn unique(all: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    all.into_iter().filter(|v| seen.insert(v.clone())).collect()
}
