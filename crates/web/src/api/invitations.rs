//! Invitations over the API: one person, a batch (with an idempotency key), resend, revoke.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use rollcall_app::App;
use rollcall_app::domain::UserStatus;
use rollcall_app::idempotency::Key;
use rollcall_app::onboarding::invite::{self, InviteOne, Invited, PasteResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::problem::{CONTENT_TYPE as PROBLEM, Problem};
use super::query::StrictJson;
use super::responses::{
    BadRequest, Forbidden, Internal, NotFound, PayloadTooLarge, RateLimited, Unauthenticated,
    UnsupportedMediaType,
};
use crate::error::ApiError;
use crate::session::ApiCaller;

/// Invite one person
///
/// Creates a pending account at one location with one role and queues the invitation.
/// Scope `users:write`.
#[utoipa::path(
    post,
    path = "/invitations",
    tag = "invitations",
    operation_id = "create_invitation",
    request_body = InviteOne,
    security(("bearer" = ["users:write"])),
    responses(
        (status = 201, description = "Invited; the message is queued", body = Invited),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 409, description = "The address already has an account in the organization (`conflict`), or no licence seat is free (`seats_exhausted`)", body = Problem, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "A value is not valid, no location is given or the organization has none, a location or role it does not have, or a rule refused the role", body = Problem, content_type = PROBLEM),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
    )
)]
pub async fn create(
    State(app): State<App>,
    caller: ApiCaller,
    StrictJson(req): StrictJson<InviteOne>,
) -> Result<(StatusCode, Json<Invited>), ApiError> {
    let meta = caller.meta();
    Ok((
        StatusCode::CREATED,
        Json(invite::invite_one(&app, &caller.principal, &req, &meta).await?),
    ))
}

/// Many pasted addresses to invite to one location with one role.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[schema(examples(json!({
    "addresses": "kim.lee@clinic.example, Sam Ortiz <sam.ortiz@clinic.example>\njo.park@clinic.example",
    "location": "DT",
    "role": "Front Desk"
})))]
pub struct BatchRequest {
    /// Addresses separated by newlines, commas, semicolons or spaces; `Name <addr>` allowed.
    pub addresses: String,
    /// The primary location everyone works at, by id, code or name (`location_id` is read as
    /// this field too); a request without one is refused (`location_required`), an unknown one
    /// with the valid codes (`location_unknown`).
    #[serde(alias = "location_id")]
    #[schema(value_type = String, required = true)]
    pub location: Option<String>,
    /// The role, by id or name (`role_id` is read as this field too); an unknown one is refused
    /// with the valid names (`role_unknown`).
    #[serde(alias = "role_id")]
    pub role: String,
}

/// Invite a batch of pasted addresses
///
/// Every valid new address is invited to one location with one role; the answer says why the
/// others were not. Requires an `Idempotency-Key` header: a retry with the same key and body
/// answers as the first call did and invites nobody twice. Scope `users:write`.
#[utoipa::path(
    post,
    path = "/invitations/batch",
    tag = "invitations",
    operation_id = "create_invitation_batch",
    params(("Idempotency-Key" = String, Header, description = "A new key (e.g. a UUID; 1–200 visible ASCII characters, with spaces or tabs only inside) per request; a retry sends the same one", pattern = r"^[!-~]([\t -~]{0,198}[!-~])?$")),
    request_body = BatchRequest,
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "Who was invited and why the others were not", body = PasteResult),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 409, description = "The key was used with a different request (`conflict`), or too few licence seats are free (`seats_exhausted`)", body = Problem, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "No `Idempotency-Key` header, a value that is not valid, a location or role the organization does not have, or a rule refused the role", body = Problem, content_type = PROBLEM),
        (status = 429, response = RateLimited),
        (status = 500, response = Internal),
    )
)]
pub async fn batch(
    State(app): State<App>,
    caller: ApiCaller,
    headers: HeaderMap,
    StrictJson(req): StrictJson<BatchRequest>,
) -> Result<Json<PasteResult>, ApiError> {
    let key = super::idempotency_key(&headers)?;
    let key = Key::new(&caller.principal, "invitations.batch", key, &req)?;
    let meta = caller.meta();
    Ok(Json(
        invite::paste_invite(
            &app,
            &caller.principal,
            &req.addresses,
            req.location.as_deref(),
            &req.role,
            Some(&key),
            &meta,
        )
        .await?,
    ))
}

/// Resend a user's invitation
///
/// The old link stops working and a new one with a fresh validity goes out. Scope
/// `users:write`.
#[utoipa::path(
    post,
    path = "/users/{id}/invitation/resend",
    tag = "invitations",
    operation_id = "resend_invitation",
    params(("id" = Uuid, Path, description = "The pending user's id")),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 204, description = "Sent"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "The user is not pending: there is no invitation to change", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
pub async fn resend(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    invite::resend(&app, &caller.principal, id, &caller.meta()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke a user's invitation
///
/// The link stops working and the pending account is deactivated. Scope `users:write`.
#[utoipa::path(
    delete,
    path = "/users/{id}/invitation",
    tag = "invitations",
    operation_id = "revoke_invitation",
    params(("id" = Uuid, Path, description = "The pending user's id")),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "The user is not pending: there is no invitation to change", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
pub async fn revoke(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    invite::revoke(&app, &caller.principal, id, &caller.meta()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deactivate a user
///
/// Sessions, API tokens and any pending invitation are revoked and the seat is freed; history
/// is kept. Scope `users:write`.
#[utoipa::path(
    post,
    path = "/users/{id}/deactivate",
    tag = "invitations",
    operation_id = "deactivate_user",
    params(("id" = Uuid, Path, description = "The user's id")),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 204, description = "Deactivated"),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 409, description = "The caller's own account", body = Problem, content_type = PROBLEM),
        (status = 422, description = "Already inactive, or a rule refused (e.g. the last active admin)", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
pub async fn deactivate(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    rollcall_app::access::lifecycle::deactivate(&app, &caller.principal, id, &caller.meta())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The status a reactivated user is in now.
#[derive(Debug, Serialize, ToSchema)]
pub struct Reactivated {
    /// `active`, or `pending` with a new invitation for someone who never registered.
    pub status: UserStatus,
}

/// Reactivate a user
///
/// Active again, or pending with a new invitation if they never registered. Scope
/// `users:write`.
#[utoipa::path(
    post,
    path = "/users/{id}/reactivate",
    tag = "invitations",
    operation_id = "reactivate_user",
    params(("id" = Uuid, Path, description = "The user's id")),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The status now", body = Reactivated),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, description = "The user is not inactive, or a rule refused (outside the caller's locations)", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
pub async fn reactivate(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<Reactivated>, ApiError> {
    let status =
        rollcall_app::access::lifecycle::reactivate(&app, &caller.principal, id, &caller.meta())
            .await?;
    Ok(Json(Reactivated { status }))
}
