//! Reference data (scope users:read): what requests may name by id, code or name.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use rollcall_app::App;
use rollcall_app::access::roles::{self, RoleView};
use rollcall_app::org::reference::{self, LocationView, PermissionView, UserTypeView};

use crate::error::ApiError;
use crate::session::ApiCaller;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/locations", get(locations))
        .route("/roles", get(list_roles))
        .route("/user-types", get(user_types))
        .route("/permissions", get(permissions))
}

/// The organization's locations with their codes (deactivated ones included, marked).
async fn locations(
    State(app): State<App>,
    caller: ApiCaller,
) -> Result<Json<Vec<LocationView>>, ApiError> {
    Ok(Json(reference::locations(&app, &caller.principal).await?))
}

/// The organization's roles with their permissions and member counts.
async fn list_roles(
    State(app): State<App>,
    caller: ApiCaller,
) -> Result<Json<Vec<RoleView>>, ApiError> {
    Ok(Json(roles::list(&app, &caller.principal).await?))
}

/// The organization's user types: codes, labels and the tags the rules read.
async fn user_types(
    State(app): State<App>,
    caller: ApiCaller,
) -> Result<Json<Vec<UserTypeView>>, ApiError> {
    Ok(Json(reference::user_types(&app, &caller.principal).await?))
}

/// The permission catalogue: keys, labels and modules.
async fn permissions(caller: ApiCaller) -> Result<Json<Vec<PermissionView>>, ApiError> {
    Ok(Json(reference::permissions(&caller.principal)?))
}
