//! The JSON API under /api/v1, authenticated by scoped bearer tokens.

mod compliance;
mod directory;
mod emergency;
mod imports;
mod invitations;
mod jobs;
mod oidc_clients;
mod openapi;
mod paging;
mod problem;
mod provisioning;
mod query;
mod reference;
mod responses;
mod reviews;
mod tokens;
mod webhooks;

pub use problem::Problem;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::{OriginalUri, Path, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, ETAG, IF_MATCH};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use rollcall_app::App;
use rollcall_app::access::profile::{self, Profile, ProfileEdit};
use rollcall_app::audit::{self, AuditPage, AuditParams};
use rollcall_app::domain::{Capability, Permission, Scope};
use rollcall_app::users::export::{self, ExportedUser};
use rollcall_app::users::list::{self as user_list, ListParams, UserPage};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::ApiError;
use crate::session::ApiCaller;
use problem::CONTENT_TYPE as PROBLEM;
use query::{StrictJson, StrictQuery, params};
use responses::{
    BadRequest, Forbidden, Internal, NotFound, PayloadTooLarge, Unauthenticated,
    UnsupportedMediaType,
};

params!(ListParams: "q", "status", "user_type", "location", "role", "email", "external_id", "updated_since", "sort", "after", "before", "limit");
params!(AuditParams: "actor", "action", "target", "from", "to", "before_seq", "after_seq", "after", "limit");

pub fn routes() -> Router<App> {
    let (router, _) = documented().split_for_parts();
    router
        .fallback(|| async {
            ApiError(rollcall_app::AppError::NotFound(
                "No such API endpoint. The OpenAPI document at /api/v1/openapi.json lists them."
                    .into(),
            ))
        })
        .layer(axum::middleware::from_fn(problem::every_error_a_problem))
}

/// Every route of the API with its OpenAPI description: the document is generated from these.
fn documented() -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(<openapi::ApiDoc as utoipa::OpenApi>::openapi())
        .routes(routes!(openapi::serve))
        .routes(routes!(me))
        .routes(routes!(list_users))
        .routes(routes!(export_users))
        .routes(routes!(get_user, update_user))
        .routes(routes!(list_audit))
        .routes(routes!(invitations::create))
        .routes(routes!(invitations::batch))
        .routes(routes!(invitations::resend))
        .routes(routes!(invitations::revoke))
        .routes(routes!(invitations::deactivate))
        .routes(routes!(invitations::reactivate))
        .routes(routes!(jobs::create))
        .routes(routes!(jobs::dry_run))
        .merge(imports::routes())
        .merge(directory::routes())
        .merge(tokens::routes())
        .merge(oidc_clients::routes())
        .merge(webhooks::routes())
        .merge(emergency::routes())
        .merge(reference::routes())
        .merge(compliance::routes())
        .merge(provisioning::routes())
        .merge(reviews::routes())
        .routes(routes!(jobs::get))
        .routes(routes!(jobs::refused))
}

/// The caller as the API sees them: who, in which organization, and what they may do.
#[derive(Debug, Serialize, ToSchema)]
struct Me {
    user_id: Uuid,
    /// The organization's name.
    organization: String,
    /// The organization's short code, as the command line's `--org` names it.
    organization_code: String,
    name: String,
    /// The permissions the user holds (keys).
    permissions: BTreeSet<Permission>,
    /// The token's scopes.
    scopes: Option<BTreeSet<Scope>>,
    can_view_users: bool,
    can_manage_users: bool,
    /// What the caller may do through this token, e.g. `view_users`, `edit_access`.
    capabilities: Vec<&'static str>,
}

/// The caller's identity and access profile
///
/// The token's user, organization, permissions, scopes and capabilities. Any valid token.
#[utoipa::path(
    get,
    path = "/me",
    tag = "meta",
    operation_id = "get_me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, response = Unauthenticated),
        (status = 500, response = Internal),
    )
)]
async fn me(caller: ApiCaller) -> Json<Me> {
    let p = caller.principal;
    Json(Me {
        user_id: p.user_id,
        organization: p.org_name.clone(),
        organization_code: p.org_code.clone(),
        name: p.display_name.clone(),
        can_view_users: p.can(Capability::ViewUsers),
        can_manage_users: p.can(Capability::EditAccess),
        capabilities: Capability::ALL
            .into_iter()
            .filter(|&c| p.can(c))
            .map(Capability::key)
            .collect(),
        permissions: p.permissions,
        scopes: p.scopes,
    })
}

/// One page of the user list
///
/// Searched, filtered and sorted; page with `after`. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    operation_id = "list_users",
    params(ListParams),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "A page of users", body = UserPage, headers(("Link" = String, description = "`<…>; rel=\"next\"` when another page follows"))),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 422, description = "A parameter this endpoint does not take (`parameter_unknown`), or a value that is not valid: an unknown status, user type, location or role, a bad cursor or limit", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn list_users(
    State(app): State<App>,
    caller: ApiCaller,
    uri: OriginalUri,
    StrictQuery(params): StrictQuery<ListParams>,
) -> Result<Response, ApiError> {
    let page = user_list::list(&app, &caller.principal, &params).await?;
    Ok(paging::paged(&uri, page.next.clone().as_deref(), page))
}

/// The export's format and the list's filters and lookups (an export does not page).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
struct ExportQuery {
    /// `csv` (default) or `ndjson` (one JSON object a line).
    #[param(pattern = "^(csv|ndjson)$")]
    format: Option<String>,
    /// Text found in the name, email or username (case-insensitive).
    q: Option<String>,
    /// pending, expired, active, inactive, blocked or disabled (blank: any).
    #[param(schema_with = rollcall_app::schema::status)]
    status: Option<String>,
    /// A user type code of the organization, e.g. `pta`.
    user_type: Option<String>,
    /// A location by id, code or name.
    location: Option<String>,
    /// A role by id or name.
    role: Option<String>,
    /// Exactly this email address (case-insensitive).
    email: Option<String>,
    /// The id the organization's directory gives the person (exact).
    external_id: Option<String>,
    /// Users created or changed at or after this RFC 3339 time.
    #[param(format = DateTime)]
    updated_since: Option<String>,
    /// created (default), name, email, username; prefix "-" for descending.
    #[param(schema_with = rollcall_app::schema::sort)]
    sort: Option<String>,
}

params!(ExportQuery: "format", "q", "status", "user_type", "location", "role", "email", "external_id", "updated_since", "sort");

impl ExportQuery {
    fn filters(self) -> ListParams {
        ListParams {
            q: self.q,
            status: self.status,
            user_type: self.user_type,
            location: self.location,
            role: self.role,
            email: self.email,
            external_id: self.external_id,
            updated_since: self.updated_since,
            sort: self.sort,
            after: None,
            before: None,
            limit: None,
        }
    }
}

/// Every user matching the filters, streamed
///
/// The list's filters and lookups (no paging): CSV with a header row, or NDJSON with one
/// `ExportedUser` a line; ids, status, user type, location and role names. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/users/export",
    tag = "users",
    operation_id = "export_users",
    params(ExportQuery),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "Every matching user", content(
            (String = "text/csv"),
            (ExportedUser = "application/x-ndjson"),
        )),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 422, description = "A parameter this endpoint does not take, an unknown format, or a filter value that is not valid", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn export_users(
    State(app): State<App>,
    caller: ApiCaller,
    StrictQuery(q): StrictQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let format = match q.format.as_deref() {
        None | Some("csv") => export::Format::Csv,
        Some("ndjson") => export::Format::Ndjson,
        Some(other) => {
            return Err(rollcall_app::domain::ValueError::new(
                "format",
                "format_unknown",
                format!("“{other}” is not an export format: use csv or ndjson."),
            )
            .into());
        }
    };
    let (content_type, name) = match format {
        export::Format::Csv => ("text/csv; charset=utf-8", "users.csv"),
        export::Format::Ndjson => ("application/x-ndjson", "users.ndjson"),
    };
    let body = export::users(&app, &caller.principal, &q.filters(), format).await?;
    Ok((
        [
            (CONTENT_TYPE, content_type.to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}

/// A user's profile
///
/// Details, roles, locations, direct and effective permissions with their sources, the
/// permissions the rules filter out and why, provider credentials and notification choices.
/// Scope `users:read`.
#[utoipa::path(
    get,
    path = "/users/{id}",
    tag = "users",
    operation_id = "get_user",
    params(("id" = Uuid, Path, description = "The user's id")),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "The profile", body = Profile, headers(("ETag" = String, description = "The profile's version: send it back in `If-Match` with an edit"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    )
)]
async fn get_user(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Response, ApiError> {
    Ok(with_etag(profile::get(&app, &caller.principal, id).await?))
}

/// A profile answered with its version as a strong entity tag.
fn with_etag(p: Profile) -> Response {
    let tag = format!("\"{}\"", profile::version(&p));
    ([(ETAG, tag)], Json(p)).into_response()
}

/// The version an `If-Match` header asks for: `None` when absent or `*` (any version). A weak
/// tag never matches, as RFC 9110 compares `If-Match` strongly.
fn if_match(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(IF_MATCH)?.to_str().unwrap_or("\"\"").trim();
    if value == "*" {
        return None;
    }
    Some(value.trim_matches('"').to_string())
}

/// Edit a profile
///
/// Names, mobile, user type, locations, default location, roles, direct permissions, provider
/// credentials and notifications; absent fields stay as they are. Every access change is judged
/// by the rules, and a refused one refuses the whole edit. With `If-Match` (the `ETag` of a
/// read), an edit made on a stale copy is refused. Scope `users:write`.
#[utoipa::path(
    patch,
    path = "/users/{id}",
    tag = "users",
    operation_id = "update_user",
    params(
        ("id" = Uuid, Path, description = "The user's id"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` of the profile the edit was made on; a stale one is refused with 412"),
    ),
    request_body = ProfileEdit,
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The profile as saved", body = Profile, headers(("ETag" = String, description = "The saved profile's version"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 412, description = "`If-Match` names a version the profile no longer is: read it again (`version_stale`)", body = Problem, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "A value is not valid (NPI check digit, taxonomy code, mobile, a location or role the organization does not have, …), an unknown field, or a rule refused a change (`rule` names it)", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn update_user(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    StrictJson(edit): StrictJson<ProfileEdit>,
) -> Result<Response, ApiError> {
    let meta = caller.meta();
    let saved = profile::update(
        &app,
        &caller.principal,
        id,
        &edit,
        if_match(&headers).as_deref(),
        rollcall_app::domain::Path::Api,
        &meta,
    )
    .await?;
    Ok(with_etag(saved))
}

/// The `Idempotency-Key` header bulk calls require, so a retry never acts twice.
fn idempotency_key(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError(
                rollcall_domain::ValueError::new(
                    "Idempotency-Key",
                    "idempotency_key_missing",
                    "Bulk calls need an Idempotency-Key header (e.g. a new UUID per request) so a retry never acts twice.",
                )
                .into(),
            )
        })
}

/// One page of the audit log, newest first
///
/// Filtered by actor, action, target and days, newest first; or, from `after_seq`, a feed of
/// newer events oldest first. Page with `after` = `next`. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/audit",
    tag = "audit",
    operation_id = "list_audit_events",
    params(AuditParams),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "A page of events", body = AuditPage, headers(("Link" = String, description = "`<…>; rel=\"next\"` when another page follows"))),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 422, description = "A parameter this endpoint does not take, or a filter that is not valid (a target that is not an id, a date that does not parse)", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn list_audit(
    State(app): State<App>,
    caller: ApiCaller,
    uri: OriginalUri,
    StrictQuery(params): StrictQuery<AuditParams>,
) -> Result<Response, ApiError> {
    let page = audit::list(&app, &caller.principal, &params).await?;
    Ok(paging::paged(&uri, page.next.clone().as_deref(), page))
}
