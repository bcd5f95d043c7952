//! Reference data (scope users:read): what requests may name by id, code or name.

use axum::Json;
use axum::extract::State;
use rollcall_app::App;
use rollcall_app::access::roles::{self, RoleView};
use rollcall_app::org::reference::{self, LocationView, PermissionView, UserTypeView};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::responses::{Forbidden, Internal, Unauthenticated};
use crate::error::ApiError;
use crate::session::ApiCaller;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(locations))
        .routes(routes!(list_roles))
        .routes(routes!(user_types))
        .routes(routes!(permissions))
}

/// The organization's locations
///
/// With their codes; deactivated ones are included and marked. Filters and changes take a
/// location by id, code or name. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/locations",
    tag = "reference",
    operation_id = "list_locations",
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The locations", body = Vec<LocationView>),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    )
)]
async fn locations(
    State(app): State<App>,
    caller: ApiCaller,
) -> Result<Json<Vec<LocationView>>, ApiError> {
    Ok(Json(reference::locations(&app, &caller.principal).await?))
}

/// The organization's roles
///
/// With their permissions and member counts. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/roles",
    tag = "reference",
    operation_id = "list_roles",
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The roles", body = Vec<RoleView>),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    )
)]
async fn list_roles(
    State(app): State<App>,
    caller: ApiCaller,
) -> Result<Json<Vec<RoleView>>, ApiError> {
    Ok(Json(roles::list(&app, &caller.principal).await?))
}

/// The organization's user types
///
/// Codes, labels and the tags the rules read. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/user-types",
    tag = "reference",
    operation_id = "list_user_types",
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The user types", body = Vec<UserTypeView>),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    )
)]
async fn user_types(
    State(app): State<App>,
    caller: ApiCaller,
) -> Result<Json<Vec<UserTypeView>>, ApiError> {
    Ok(Json(reference::user_types(&app, &caller.principal).await?))
}

/// The permission catalogue
///
/// Keys, labels and modules. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/permissions",
    tag = "reference",
    operation_id = "list_permissions",
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The permissions", body = Vec<PermissionView>),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    )
)]
async fn permissions(caller: ApiCaller) -> Result<Json<Vec<PermissionView>>, ApiError> {
    Ok(Json(reference::permissions(&caller.principal)?))
}
