//! /Groups: list and search, read, create, replace, patch (members added and removed, several
//! in one operation) and delete. Membership changes give and take the roles and locations a
//! company admin mapped to the group, judged by the rule engine.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rollcall_app::App;
use rollcall_app::provisioning::groups::{self, GroupState};
use serde_json::Value;

use super::errors::ScimError;
use super::list::{self, ListQuery};
use super::resources::{group_json, group_state, if_match};
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

async fn listed(app: &App, caller: &ScimCaller, q: &ListQuery) -> Result<Response, ScimError> {
    let all = groups::groups(app, &caller.principal).await?;
    let base = base(app);
    let resources = all.iter().map(|g| group_json(g, &base)).collect();
    Ok(answer(StatusCode::OK, list::respond(resources, q)))
}

pub async fn get(
    State(app): State<App>,
    caller: ScimCaller,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ScimError> {
    let q = ListQuery::from_params(&params(raw)?)?;
    let group = groups::group(&app, &caller.principal, id_of(&id, "group")?).await?;
    Ok(answer(
        StatusCode::OK,
        list::project(group_json(&group, &base(&app)), &q),
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
    let group = replaced(&app, &caller, &id, &body, expected.as_deref()).await?;
    Ok(answer(StatusCode::OK, group))
}

pub async fn patch(
    State(app): State<App>,
    caller: ScimCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let expected = if_match(&headers);
    let group = patched(&app, &caller, &id, &body, expected.as_deref()).await?;
    Ok(answer(StatusCode::OK, group))
}

pub async fn delete(
    State(app): State<App>,
    caller: ScimCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ScimError> {
    deleted(&app, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /Groups`, alone or in a `/Bulk`.
pub(super) async fn created(
    app: &App,
    caller: &ScimCaller,
    body: &Value,
) -> Result<Value, ScimError> {
    let state = group_state(body)?;
    let group = groups::create_group(app, &caller.principal, &state, &caller.meta()).await?;
    Ok(group_json(&group, &base(app)))
}

/// `PUT /Groups/{id}`. With `expected`, a group changed since that version is refused.
pub(super) async fn replaced(
    app: &App,
    caller: &ScimCaller,
    id: &str,
    body: &Value,
    expected: Option<&str>,
) -> Result<Value, ScimError> {
    let id = id_of(id, "group")?;
    save(app, caller, id, group_state(body)?, expected).await
}

/// `PATCH /Groups/{id}`.
pub(super) async fn patched(
    app: &App,
    caller: &ScimCaller,
    id: &str,
    body: &Value,
    expected: Option<&str>,
) -> Result<Value, ScimError> {
    let id = id_of(id, "group")?;
    let current = groups::group(app, &caller.principal, id).await?;
    let patched = patch::apply(&group_json(&current, &base(app)), body)?;
    save(app, caller, id, group_state(&patched)?, expected).await
}

async fn save(
    app: &App,
    caller: &ScimCaller,
    id: uuid::Uuid,
    state: GroupState,
    expected: Option<&str>,
) -> Result<Value, ScimError> {
    let group =
        groups::update_group(app, &caller.principal, id, &state, expected, &caller.meta()).await?;
    Ok(group_json(&group, &base(app)))
}

/// `DELETE /Groups/{id}`.
pub(super) async fn deleted(app: &App, caller: &ScimCaller, id: &str) -> Result<(), ScimError> {
    let id = id_of(id, "group")?;
    groups::delete_group(app, &caller.principal, id, &caller.meta()).await?;
    Ok(())
}
