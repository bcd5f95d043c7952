//! Webhook endpoints through the API (company admins; scope users:write): register, change,
//! rotate the secret, send a test event, read the delivery log and redeliver.

use axum::Json;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use rollcall_app::App;
use rollcall_app::webhooks::{
    self, DeliveryPage, DeliveryView, EndpointChange, EndpointView, NewEndpoint, WithSecret,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::problem::{CONTENT_TYPE as PROBLEM, Problem};
use super::query::{StrictJson, StrictQuery, params};
use super::responses::{
    BadRequest, Forbidden, Internal, NotFound, PayloadTooLarge, Unauthenticated,
    UnsupportedMediaType,
};
use crate::error::ApiError;
use crate::session::ApiCaller;

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(rotate))
        .routes(routes!(send_test))
        .routes(routes!(deliveries))
        .routes(routes!(redeliver))
}

/// The organization's webhook endpoints
///
/// Never a secret. Company admins only. Scope `users:write`.
#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    operation_id = "list_webhooks",
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The endpoints, oldest first", body = Vec<EndpointView>),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 500, response = Internal),
    )
)]
async fn list(
    State(app): State<App>,
    caller: ApiCaller,
) -> Result<Json<Vec<EndpointView>>, ApiError> {
    Ok(Json(webhooks::list(&app, &caller.principal).await?))
}

/// Register a webhook endpoint
///
/// HTTPS on a public host; the events it wants. Its signing secret (`whsec_…`) is in this
/// answer only. Company admins only. Scope `users:write`.
#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "webhooks",
    operation_id = "create_webhook",
    request_body(content = NewEndpoint, example = json!({
        "url": "https://scheduling.example.com/hooks/rollcall",
        "description": "Scheduling app",
        "event_types": ["user.deactivated", "user.access_changed"]
    })),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 201, description = "The endpoint and its secret, shown this once", body = WithSecret),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 409, description = "The organization has as many endpoints as it may", body = Problem, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Every field that is wrong: a URL that is not HTTPS or not on a public host, an unknown event type, no event type", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn create(
    State(app): State<App>,
    caller: ApiCaller,
    StrictJson(req): StrictJson<NewEndpoint>,
) -> Result<(StatusCode, Json<WithSecret>), ApiError> {
    let made = webhooks::create(&app, &caller.principal, &req, &caller.meta()).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// One webhook endpoint
///
/// Company admins only. Scope `users:write`.
#[utoipa::path(
    get,
    path = "/webhooks/{id}",
    tag = "webhooks",
    operation_id = "get_webhook",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    )
)]
async fn get(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<EndpointView>, ApiError> {
    Ok(Json(webhooks::get(&app, &caller.principal, id).await?))
}

/// Change a webhook endpoint
///
/// The URL, description, event types or `enabled`; what is absent stays. Disabling cancels
/// the deliveries still queued. Company admins only. Scope `users:write`.
#[utoipa::path(
    patch,
    path = "/webhooks/{id}",
    tag = "webhooks",
    operation_id = "update_webhook",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    request_body(content = EndpointChange, example = json!({ "enabled": false })),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The endpoint as changed", body = EndpointView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "Every field that is wrong", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn update(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    StrictJson(req): StrictJson<EndpointChange>,
) -> Result<Json<EndpointView>, ApiError> {
    Ok(Json(
        webhooks::update(&app, &caller.principal, id, &req, &caller.meta()).await?,
    ))
}

/// Delete a webhook endpoint
///
/// With its delivery log. Company admins only. Scope `users:write`.
#[utoipa::path(
    delete,
    path = "/webhooks/{id}",
    tag = "webhooks",
    operation_id = "delete_webhook",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    )
)]
async fn delete(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    webhooks::delete(&app, &caller.principal, id, &caller.meta()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Give a webhook endpoint a new secret
///
/// The new secret is in this answer only. For a day deliveries carry two signatures, one with
/// each secret, so the receiver can switch over without losing an event. Company admins only.
/// Scope `users:write`.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/rotate",
    tag = "webhooks",
    operation_id = "rotate_webhook_secret",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The endpoint and its new secret", body = WithSecret),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 500, response = Internal),
    )
)]
async fn rotate(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<WithSecret>, ApiError> {
    Ok(Json(
        webhooks::rotate(&app, &caller.principal, id, &caller.meta()).await?,
    ))
}

/// Send a test event
///
/// Queues a `webhook.test` event for this endpoint, signed like any other. Company admins
/// only. Scope `users:write`.
#[utoipa::path(
    post,
    path = "/webhooks/{id}/test",
    tag = "webhooks",
    operation_id = "test_webhook",
    params(("id" = Uuid, Path, description = "The endpoint's id")),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 202, description = "The queued delivery", body = DeliveryView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "The endpoint is disabled", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn send_test(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let queued = webhooks::send_test(&app, &caller.principal, id, &caller.meta()).await?;
    Ok((StatusCode::ACCEPTED, Json(queued)))
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// Deliveries a page, 1 to 200 (50 when absent; other values are refused).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}
params!(Page: "after", "limit");

/// An endpoint's delivery log
///
/// Newest first, each delivery with every attempt (status code, response time, error). Company
/// admins only. Scope `users:write`.
#[utoipa::path(
    get,
    path = "/webhooks/{id}/deliveries",
    tag = "webhooks",
    operation_id = "list_webhook_deliveries",
    params(("id" = Uuid, Path, description = "The endpoint's id"), Page),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage, headers(("Link" = String, description = "`<…>; rel=\"next\"` when another page follows"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, description = "A parameter this endpoint does not take, a bad cursor or limit", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn deliveries(
    State(app): State<App>,
    caller: ApiCaller,
    uri: OriginalUri,
    Path(id): Path<Uuid>,
    StrictQuery(page): StrictQuery<Page>,
) -> Result<Response, ApiError> {
    let page = webhooks::deliveries(
        &app,
        &caller.principal,
        id,
        page.after.as_deref(),
        page.limit,
    )
    .await?;
    Ok(super::paging::paged(
        &uri,
        page.next.clone().as_deref(),
        page,
    ))
}

/// Redeliver an event
///
/// Sends the delivery again now, with the same `webhook-id` (a receiver that deduplicates
/// ignores an event it has). Company admins only. Scope `users:write`.
#[utoipa::path(
    post,
    path = "/webhooks/deliveries/{id}/redeliver",
    tag = "webhooks",
    operation_id = "redeliver_webhook",
    params(("id" = Uuid, Path, description = "The delivery's id")),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 202, description = "The delivery, queued again", body = DeliveryView),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "The delivery is still queued, or its endpoint is disabled", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn redeliver(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<(StatusCode, Json<DeliveryView>), ApiError> {
    let queued = webhooks::redeliver(&app, &caller.principal, id, &caller.meta()).await?;
    Ok((StatusCode::ACCEPTED, Json(queued)))
}
