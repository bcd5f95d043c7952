//! /Users: list and search, read, create (a Pending person with an invitation), replace,
//! patch, and delete (a deactivation).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rollcall_app::App;
use rollcall_app::provisioning::{self, Lookup, UserState};
use serde_json::Value;

use super::errors::ScimError;
use super::list::{self, ListQuery};
use super::resources::{if_match, overlay, user_json, user_state};
use super::{ScimBody, ScimCaller, answer, base, id_of, params, patch};

pub async fn list(
    State(app): State<App>,
    caller: ScimCaller,
    RawQuery(raw): RawQuery,
) -> Result<Response, ScimError> {
    let q = ListQuery::from_params(&params(raw)?)?;
    listed(&app, &caller, &q).await
}

pub async fn search(
    State(app): State<App>,
    caller: ScimCaller,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let q = ListQuery::from_body(&body)?;
    listed(&app, &caller, &q).await
}

/// The common provisioning lookups (`userName eq`, `externalId eq`) read an index; any other
/// filter is evaluated over the organization's users.
async fn listed(app: &App, caller: &ScimCaller, q: &ListQuery) -> Result<Response, ScimError> {
    let who = &caller.principal;
    let users = if let Some(name) = q.equality_on("userName") {
        provisioning::find(app, who, &Lookup::UserName(name)).await?
    } else if let Some(id) = q.equality_on("externalId") {
        provisioning::find(app, who, &Lookup::ExternalId(id)).await?
    } else {
        provisioning::users(app, who).await?
    };
    let base = base(app);
    let resources = users.iter().map(|u| user_json(u, &base)).collect();
    Ok(answer(StatusCode::OK, list::respond(resources, q)))
}

pub async fn get(
    State(app): State<App>,
    caller: ScimCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ScimError> {
    let q = ListQuery::from_params(&params(raw)?)?;
    let user = provisioning::user(&app, &caller.principal, id_of(&id, "user")?).await?;
    Ok(answer(
        StatusCode::OK,
        list::project(user_json(&user, &base(&app)), &q),
    ))
}

pub async fn create(
    State(app): State<App>,
    caller: ScimCaller,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    Ok(answer(
        StatusCode::CREATED,
        created(&app, &caller, &body).await?,
    ))
}

pub async fn replace(
    State(app): State<App>,
    caller: ScimCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let expected = if_match(&headers);
    let user = replaced(&app, &caller, &id, &body, expected.as_deref()).await?;
    Ok(answer(StatusCode::OK, user))
}

pub async fn patch(
    State(app): State<App>,
    caller: ScimCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let expected = if_match(&headers);
    let user = patched(&app, &caller, &id, &body, expected.as_deref()).await?;
    Ok(answer(StatusCode::OK, user))
}

pub async fn delete(
    State(app): State<App>,
    caller: ScimCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ScimError> {
    deleted(&app, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates a Pending person with an invitation: `POST /Users`, alone or in a `/Bulk`.
pub(super) async fn created(
    app: &App,
    caller: &ScimCaller,
    body: &Value,
) -> Result<Value, ScimError> {
    let state = user_state(body)?;
    let user = provisioning::create_user(app, &caller.principal, &state, &caller.meta()).await?;
    Ok(user_json(&user, &base(app)))
}

/// Creates people together: a run of plain creations in one `/Bulk` request, each with the
/// outcome its `POST /Users` would have had. After `stop_after` refusals the rest are not made
/// and have no outcome.
pub(super) async fn created_together(
    app: &App,
    caller: &ScimCaller,
    states: &[UserState],
    stop_after: Option<usize>,
) -> Vec<Result<Value, ScimError>> {
    let base = base(app);
    match provisioning::create_users(app, &caller.principal, states, stop_after, &caller.meta())
        .await
    {
        Ok(outcomes) => outcomes
            .into_iter()
            .map(|o| o.map(|u| user_json(&u, &base)).map_err(ScimError::from))
            .collect(),
        // Not allowed to provision: each is refused, up to the stop.
        Err(e) => {
            let e = ScimError::from(e);
            let refused = stop_after.unwrap_or(states.len()).min(states.len());
            (0..refused).map(|_| Err(e.clone())).collect()
        }
    }
}

/// `PUT /Users/{id}`: the attributes sent replace theirs, those omitted stay. With `expected`,
/// a person changed since that version is refused.
pub(super) async fn replaced(
    app: &App,
    caller: &ScimCaller,
    id: &str,
    body: &Value,
    expected: Option<&str>,
) -> Result<Value, ScimError> {
    let id = id_of(id, "user")?;
    let current = provisioning::user(app, &caller.principal, id).await?;
    let merged = overlay(user_json(&current, &base(app)), body)?;
    save(app, caller, id, user_state(&merged)?, expected).await
}

/// `PATCH /Users/{id}`.
pub(super) async fn patched(
    app: &App,
    caller: &ScimCaller,
    id: &str,
    body: &Value,
    expected: Option<&str>,
) -> Result<Value, ScimError> {
    let id = id_of(id, "user")?;
    let current = provisioning::user(app, &caller.principal, id).await?;
    let patched: Value = patch::apply(&user_json(&current, &base(app)), body)?;
    save(app, caller, id, user_state(&patched)?, expected).await
}

async fn save(
    app: &App,
    caller: &ScimCaller,
    id: uuid::Uuid,
    state: UserState,
    expected: Option<&str>,
) -> Result<Value, ScimError> {
    let user =
        provisioning::update_user(app, &caller.principal, id, &state, expected, &caller.meta())
            .await?;
    Ok(user_json(&user, &base(app)))
}

/// `DELETE /Users/{id}`: a deactivation.
pub(super) async fn deleted(app: &App, caller: &ScimCaller, id: &str) -> Result<(), ScimError> {
    let id = id_of(id, "user")?;
    provisioning::deactivate_user(app, &caller.principal, id, &caller.meta()).await?;
    Ok(())
}
