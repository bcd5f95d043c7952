//! /Groups: list and search, read, create, replace, patch (members added and removed, several
//! in one operation) and delete. Membership changes give and take the roles and locations a
//! company admin mapped to the group, judged by the rule engine.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use rollcall_app::App;
use rollcall_app::provisioning::groups::{self, GroupState};

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
    let state = group_state(&body)?;
    let group = groups::create_group(&app, &caller.principal, &state, &caller.meta()).await?;
    Ok(answer(StatusCode::CREATED, group_json(&group, &base(&app))))
}

pub async fn replace(
    State(app): State<App>,
    caller: ScimCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let id = id_of(&id, "group")?;
    save(&app, &caller, id, group_state(&body)?, &headers).await
}

pub async fn patch(
    State(app): State<App>,
    caller: ScimCaller,
    Path(id): Path<String>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let id = id_of(&id, "group")?;
    let current = groups::group(&app, &caller.principal, id).await?;
    let patched = patch::apply(&group_json(&current, &base(&app)), &body)?;
    save(&app, &caller, id, group_state(&patched)?, &headers).await
}

async fn save(
    app: &App,
    caller: &ScimCaller,
    id: uuid::Uuid,
    state: GroupState,
    headers: &HeaderMap,
) -> Result<Response, ScimError> {
    let group = groups::update_group(
        app,
        &caller.principal,
        id,
        &state,
        if_match(headers).as_deref(),
        &caller.meta(),
    )
    .await?;
    Ok(answer(StatusCode::OK, group_json(&group, &base(app))))
}

pub async fn delete(
    State(app): State<App>,
    caller: ScimCaller,
    Path(id): Path<String>,
) -> Result<StatusCode, ScimError> {
    let id = id_of(&id, "group")?;
    groups::delete_group(&app, &caller.principal, id, &caller.meta()).await?;
    Ok(StatusCode::NO_CONTENT)
}
