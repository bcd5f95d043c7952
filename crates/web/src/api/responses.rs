//! The error answers operations share, as reusable responses of the OpenAPI document: each is
//! problem details (`application/problem+json`, the `Problem` schema). An operation lists the
//! ones it can give; one whose meaning is its own describes it where it is declared.
//!
//! The types only describe answers (the handlers answer `ApiError`): none is ever built.
#![allow(dead_code)]

use utoipa::ToResponse;

use super::problem::Problem;

/// The body is not JSON (`json_invalid`), or an id in the path is not an id (`path_invalid`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(Problem);

/// No token, or one that is unknown, expired or revoked (`unauthenticated`). Send
/// `Authorization: Bearer rollcall_…`.
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("WWW-Authenticate" = String, description = "`Bearer realm=\"rollcall\"`"))
)]
pub struct Unauthenticated(Problem);

/// The token lacks the scope, or its user the permission, this operation needs (`forbidden`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Forbidden(Problem);

/// Nothing with this id in the caller's organization (`not_found`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(Problem);

/// The body is larger than the endpoint accepts (`body_too_large`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(Problem);

/// The body was not sent as `Content-Type: application/json` (`unsupported_media_type`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(Problem);

/// Too many invitations sent in the last hour (`rate_limited`); the detail says when to retry.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct RateLimited(Problem);

/// Something went wrong on the server (`internal`); nothing was changed.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Internal(Problem);
