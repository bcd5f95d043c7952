//! Provisioning through the API: the identity provider's groups and what their membership
//! gives (mapped by a company admin), and the last SCIM requests with their outcome.

use axum::Json;
use axum::extract::{Path, State};
use rollcall_app::App;
use rollcall_app::provisioning::groups::{self, MappedGroup, Mapping};
use rollcall_app::provisioning::requests::{self, RequestView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::problem::{CONTENT_TYPE as PROBLEM, Problem};
use super::query::StrictJson;
use super::responses::{
    BadRequest, Forbidden, Internal, NotFound, PayloadTooLarge, Unauthenticated,
    UnsupportedMediaType,
};
use crate::error::ApiError;
use crate::session::ApiCaller;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list_groups))
        .routes(routes!(map_group))
        .routes(routes!(list_requests))
}

/// The identity provider's groups
///
/// Each with its member count and the roles and locations membership gives. Groups are
/// created and filled over SCIM. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/provisioning/groups",
    tag = "provisioning",
    operation_id = "list_provisioned_groups",
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The groups, oldest first", body = Vec<MappedGroup>),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    )
)]
async fn list_groups(
    State(app): State<App>,
    caller: ApiCaller,
) -> Result<Json<Vec<MappedGroup>>, ApiError> {
    Ok(Json(groups::mapped_groups(&app, &caller.principal).await?))
}

/// Set what a group's membership gives
///
/// Roles by id or name, locations by id, code or name; the lists replace the group's. Every
/// member gets it at once, each judged by the rules (a refusal names the rule and changes
/// nothing for that member). Company admins only. Scope `users:write`.
#[utoipa::path(
    put,
    path = "/provisioning/groups/{id}/mapping",
    tag = "provisioning",
    operation_id = "map_provisioned_group",
    params(("id" = Uuid, Path, description = "The group's id (as SCIM shows it)")),
    request_body(content = Mapping, example = json!({ "roles": ["Front Desk"], "locations": ["DT"] })),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The group as mapped now", body = MappedGroup),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "A role or location the organization does not have, or a rule refused a member's change (`rule` names it)", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn map_group(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    StrictJson(mapping): StrictJson<Mapping>,
) -> Result<Json<MappedGroup>, ApiError> {
    Ok(Json(
        groups::map(&app, &caller.principal, id, &mapping, &caller.meta()).await?,
    ))
}

/// The last SCIM requests
///
/// The organization's last 100 SCIM requests, newest first: when, which token, the method and
/// path (a person's or group's id written `…`, with their name in `about`), the status and
/// the outcome. Company admins only. Scope `users:write`.
#[utoipa::path(
    get,
    path = "/provisioning/requests",
    tag = "provisioning",
    operation_id = "list_scim_requests",
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The requests, newest first", body = Vec<RequestView>),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    )
)]
async fn list_requests(
    State(app): State<App>,
    caller: ApiCaller,
) -> Result<Json<Vec<RequestView>>, ApiError> {
    Ok(Json(requests::recent(&app, &caller.principal).await?))
}
