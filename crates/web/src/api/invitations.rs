//! Invitations over the API: one person, a batch (with an idempotency key), resend, revoke.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use rollcall_app::App;
use rollcall_app::idempotency::Key;
use rollcall_app::onboarding::invite::{self, InviteOne, Invited, PasteResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::session::ApiCaller;

/// Invite one person (scope users:write).
pub async fn create(
    State(app): State<App>,
    caller: ApiCaller,
    Json(req): Json<InviteOne>,
) -> Result<(StatusCode, Json<Invited>), ApiError> {
    let meta = caller.meta();
    Ok((
        StatusCode::CREATED,
        Json(invite::invite_one(&app, &caller.principal, &req, &meta).await?),
    ))
}

#[derive(Debug, Deserialize, Serialize)]
pub struct BatchRequest {
    /// Addresses separated by newlines, commas, semicolons or spaces; `Name <addr>` allowed.
    pub addresses: String,
    pub location_id: Option<Uuid>,
    pub role_id: Uuid,
}

/// Invite a batch (scope users:write); requires an `Idempotency-Key` header.
pub async fn batch(
    State(app): State<App>,
    caller: ApiCaller,
    headers: HeaderMap,
    Json(req): Json<BatchRequest>,
) -> Result<Json<PasteResult>, ApiError> {
    let key = super::idempotency_key(&headers)?;
    let key = Key::new(&caller.principal, "invitations.batch", key, &req)?;
    let meta = caller.meta();
    Ok(Json(
        invite::paste_invite(
            &app,
            &caller.principal,
            &req.addresses,
            req.location_id,
            req.role_id,
            Some(&key),
            &meta,
        )
        .await?,
    ))
}

pub async fn resend(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    invite::resend(&app, &caller.principal, id, &caller.meta()).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn revoke(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    invite::revoke(&app, &caller.principal, id, &caller.meta()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deactivate (scope users:write): sessions, tokens and pending invitation revoked; history kept.
pub async fn deactivate(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    rollcall_app::access::lifecycle::deactivate(&app, &caller.principal, id, &caller.meta())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reactivate (scope users:write); answers the status the user is in now.
pub async fn reactivate(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let status =
        rollcall_app::access::lifecycle::reactivate(&app, &caller.principal, id, &caller.meta())
            .await?;
    Ok(Json(serde_json::json!({ "status": status.as_str() })))
}
