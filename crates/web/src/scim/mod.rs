//! SCIM 2.0 (RFC 7643/7644) under /scim/v2, for identity providers (Entra ID, Okta) that create,
//! change and deactivate people and push groups. A service-account token with the `scim` scope
//! authenticates; it reaches one organization. Handlers read the request, call one provisioning
//! use case and render the answer; errors are SCIM error bodies.

mod bulk;
mod discovery;
mod errors;
mod filter;
mod groups;
mod list;
mod patch;
mod resources;
mod users;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rollcall_app::audit::Meta;
use rollcall_app::domain::Capability;
use rollcall_app::provisioning::requests::{self, Seen};
use rollcall_app::{App, AppError, Principal};
use serde_json::Value;
use uuid::Uuid;

use crate::session::Origin;
use errors::ScimError;

/// The media type of every SCIM body (RFC 7644 §8.1); `application/json` is read too.
pub const CONTENT_TYPE: &str = "application/scim+json";

pub fn routes() -> Router<App> {
    Router::new()
        .route("/ServiceProviderConfig", get(service_provider_config))
        .route("/ResourceTypes", get(resource_types))
        .route("/ResourceTypes/{id}", get(resource_type))
        .route("/Schemas", get(schemas))
        .route("/Schemas/{id}", get(schema))
        .route("/docs", get(docs))
        .route("/.search", post(search_all))
        .route("/Bulk", post(bulk::bulk))
        .route("/Users", get(users::list).post(users::create))
        .route("/Users/.search", post(users::search))
        .route(
            "/Users/{id}",
            get(users::get)
                .put(users::replace)
                .patch(users::patch)
                .delete(users::delete),
        )
        .route("/Groups", get(groups::list).post(groups::create))
        .route("/Groups/.search", post(groups::search))
        .route(
            "/Groups/{id}",
            get(groups::get)
                .put(groups::replace)
                .patch(groups::patch)
                .delete(groups::delete),
        )
        .fallback(|| async {
            ScimError::not_found(
                "No such SCIM endpoint: see /scim/v2/ResourceTypes for Users and Groups.",
            )
        })
}

/// The base URL resources are located under.
fn base(app: &App) -> String {
    format!("{}/scim/v2", app.config.public_url.trim_end_matches('/'))
}

/// A provider, authenticated by `Authorization: Bearer` with a token that has the `scim` scope.
pub struct ScimCaller {
    pub principal: Principal,
    pub origin: Origin,
}

impl ScimCaller {
    fn meta(&self) -> Meta {
        self.origin.meta(&self.principal)
    }
}

impl FromRequestParts<App> for ScimCaller {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let raw = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .ok_or_else(|| {
                ScimError::from(AppError::Unauthenticated(
                    "Send a service-account token with the scim scope as `Authorization: Bearer rollcall_sa_…`; a company admin makes one under Settings → API tokens.".into(),
                ))
            })?;
        let principal = rollcall_app::identity::api_tokens::authenticate(app, raw).await?;
        crate::observe::identify(&principal);
        if let Some(logged) = parts.extensions.get::<Logged>() {
            logged.caller(principal.org_id, principal.token_id);
        }
        principal.require(Capability::Provision)?;
        Ok(ScimCaller {
            principal,
            origin: Origin::from_parts(parts),
        })
    }
}

/// Who a SCIM request came from, filled in by [`ScimCaller`] once the token is known, so that
/// [`log_requests`] can keep the request with its organization.
#[derive(Clone, Default)]
struct Logged(Arc<Mutex<Option<Requester>>>);

/// The organization a request reached, and the token that made it.
type Requester = (Uuid, Option<Uuid>);

impl Logged {
    fn caller(&self, org_id: Uuid, token_id: Option<Uuid>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((org_id, token_id));
    }

    fn who(&self) -> Option<Requester> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Keeps each SCIM request whose token was recognised, with its status and, for a refusal, the
/// SCIM error: the Provisioning page lists the last ones. Keeping it never fails the request.
pub async fn log_requests(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let logged = Logged::default();
    req.extensions_mut().insert(logged.clone());
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let response = next.run(req).await;
    if let Some((org_id, token_id)) = logged.who() {
        let outcome = response
            .extensions()
            .get::<errors::Outcome>()
            .map(|o| o.0.clone())
            .unwrap_or_default();
        let seen = Seen {
            org_id,
            token_id,
            method,
            path,
            status: response.status().as_u16(),
            outcome,
        };
        if let Err(e) = requests::record(&app, seen).await {
            tracing::warn!(error = %e, "the SCIM request could not be kept for the Provisioning page");
        }
    }
    response
}

/// A SCIM request body: `application/scim+json` or `application/json`, a JSON value.
pub struct ScimBody(pub Value);

impl FromRequest<App> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        check_media(req.headers())?;
        let bytes = Bytes::from_request(req, app).await.map_err(|r| {
            ScimError::new(
                r.status(),
                None,
                format!(
                    "The body could not be read ({}); bodies are at most {} MiB.",
                    r.body_text(),
                    crate::BODY_LIMIT / (1024 * 1024)
                ),
            )
        })?;
        serde_json::from_slice(&bytes)
            .map(ScimBody)
            .map_err(|e| ScimError::invalid_syntax(format!("The body is not valid JSON: {e}.")))
    }
}

/// A body must be `application/scim+json` or `application/json`.
fn check_media(headers: &axum::http::HeaderMap) -> Result<(), ScimError> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if matches!(
        media.as_deref(),
        Some("application/scim+json" | "application/json")
    ) {
        Ok(())
    } else {
        Err(ScimError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            None,
            "Send the body as JSON with Content-Type: application/scim+json (or application/json).",
        ))
    }
}

/// A query string's parameters.
fn params(raw: Option<String>) -> Result<HashMap<String, String>, ScimError> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw.as_deref().unwrap_or(""))
        .map(|pairs| pairs.into_iter().collect())
        .map_err(|_| ScimError::invalid_value("The query string could not be read."))
}

/// A resource id from the path; anything but one of this organization's is not found.
fn id_of(raw: &str, what: &str) -> Result<Uuid, ScimError> {
    Uuid::parse_str(raw).map_err(|_| {
        ScimError::not_found(format!(
            "No {what} with the id “{raw}” in this organization."
        ))
    })
}

/// A SCIM answer: the body as `application/scim+json`, with the resource's version as `ETag`
/// and, for a creation, its `Location`.
fn answer(status: StatusCode, body: Value) -> Response {
    let etag = body
        .pointer("/meta/version")
        .and_then(Value::as_str)
        .map(str::to_string);
    let location = (status == StatusCode::CREATED)
        .then(|| {
            body.pointer("/meta/location")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .flatten();
    let mut r = (status, body.to_string()).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    for (name, value) in [(header::ETAG, etag), (header::LOCATION, location)] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            h.insert(name, v);
        }
    }
    r
}

async fn service_provider_config(State(app): State<App>, _: ScimCaller) -> Response {
    answer(
        StatusCode::OK,
        discovery::service_provider_config(&base(&app)),
    )
}

async fn resource_types(State(app): State<App>, _: ScimCaller) -> Response {
    answer(
        StatusCode::OK,
        discovery::all(discovery::resource_types(&base(&app))),
    )
}

async fn resource_type(
    State(app): State<App>,
    _: ScimCaller,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    discovery::resource_types(&base(&app))
        .into_iter()
        .find(|t| {
            t["id"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case(&id))
        })
        .map(|t| answer(StatusCode::OK, t))
        .ok_or_else(|| {
            ScimError::not_found(format!(
                "No resource type “{id}”: there are User and Group."
            ))
        })
}

/// The organization's choices the Rollcall extension offers as canonical values.
async fn choices(app: &App, caller: &ScimCaller) -> Result<discovery::Choices, ScimError> {
    use rollcall_app::org::reference;
    let who = &caller.principal;
    Ok(discovery::Choices {
        user_types: reference::user_types(app, who)
            .await?
            .into_iter()
            .map(|t| t.code)
            .collect(),
        locations: reference::locations(app, who)
            .await?
            .into_iter()
            .filter(|l| l.active)
            .map(|l| l.code)
            .collect(),
    })
}

async fn schemas(State(app): State<App>, caller: ScimCaller) -> Result<Response, ScimError> {
    let choices = choices(&app, &caller).await?;
    Ok(answer(
        StatusCode::OK,
        discovery::all(discovery::schemas(&base(&app), &choices)),
    ))
}

async fn schema(
    State(app): State<App>,
    caller: ScimCaller,
    Path(id): Path<String>,
) -> Result<Response, ScimError> {
    let choices = choices(&app, &caller).await?;
    discovery::schemas(&base(&app), &choices)
        .into_iter()
        .find(|s| {
            s["id"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(&id))
        })
        .map(|s| answer(StatusCode::OK, s))
        .ok_or_else(|| ScimError::not_found(format!("No schema “{id}”: /Schemas lists them.")))
}

/// `POST /.search`: users and groups at once, in that order.
async fn search_all(
    State(app): State<App>,
    caller: ScimCaller,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let q = list::ListQuery::from_body(&body)?;
    let who = &caller.principal;
    let base = base(&app);
    let mut all: Vec<Value> = rollcall_app::provisioning::users(&app, who)
        .await?
        .iter()
        .map(|u| resources::user_json(u, &base))
        .collect();
    all.extend(
        rollcall_app::provisioning::groups::groups(&app, who)
            .await?
            .iter()
            .map(|g| resources::group_json(g, &base)),
    );
    Ok(answer(StatusCode::OK, list::respond(all, &q)))
}

async fn docs() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        discovery::documentation(),
    )
        .into_response()
}
