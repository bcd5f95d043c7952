//! SCIM errors (RFC 7644 §3.12): a status, a `scimType` where the RFC has one, and a sentence
//! saying what is wrong and how to fix it. Server faults are logged and answered without
//! detail.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rollcall_app::AppError;
use serde_json::json;

use super::CONTENT_TYPE;

pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

#[derive(Debug, Clone)]
pub struct ScimError {
    pub status: StatusCode,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    pub fn new(
        status: StatusCode,
        scim_type: Option<&'static str>,
        detail: impl Into<String>,
    ) -> Self {
        ScimError {
            status,
            scim_type,
            detail: detail.into(),
        }
    }

    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::BAD_REQUEST, Some(scim_type), detail)
    }

    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        ScimError::bad("invalidFilter", detail)
    }

    pub fn invalid_value(detail: impl Into<String>) -> Self {
        ScimError::bad("invalidValue", detail)
    }

    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        ScimError::bad("invalidSyntax", detail)
    }

    pub fn invalid_path(detail: impl Into<String>) -> Self {
        ScimError::bad("invalidPath", detail)
    }

    pub fn mutability(detail: impl Into<String>) -> Self {
        ScimError::bad("mutability", detail)
    }

    pub fn no_target(detail: impl Into<String>) -> Self {
        ScimError::bad("noTarget", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        ScimError::new(StatusCode::NOT_FOUND, None, detail)
    }
}

impl From<AppError> for ScimError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Invalid(v) => ScimError::invalid_value(v.message),
            AppError::InvalidFields(all) => ScimError::invalid_value(
                all.into_iter()
                    .map(|v| v.message)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            // A rule of the rule engine refused: the detail names it, so the provider's log says
            // which rule to look up.
            AppError::Refused(r) => ScimError::invalid_value(format!(
                "Refused by rule {} ({}): {}",
                r.rule.number(),
                r.rule.code(),
                r.message
            )),
            AppError::Unauthenticated(m) => ScimError::new(StatusCode::UNAUTHORIZED, None, m),
            AppError::Forbidden(m) => ScimError::new(StatusCode::FORBIDDEN, None, m),
            AppError::NotFound(m) => ScimError::not_found(m),
            AppError::Conflict(m) => ScimError::new(StatusCode::CONFLICT, Some("uniqueness"), m),
            AppError::Stale(m) => ScimError::new(StatusCode::PRECONDITION_FAILED, None, m),
            AppError::SeatsExhausted(m) => ScimError::new(StatusCode::FORBIDDEN, None, m),
            AppError::RateLimited(m) => ScimError::new(StatusCode::TOO_MANY_REQUESTS, None, m),
            e @ (AppError::Store(_) | AppError::Internal(_)) => {
                tracing::error!(error = %e, "SCIM request failed");
                ScimError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "Something went wrong on our side; nothing was changed. Try again.",
                )
            }
        }
    }
}

impl From<rollcall_app::domain::ValueError> for ScimError {
    fn from(v: rollcall_app::domain::ValueError) -> Self {
        ScimError::invalid_value(v.message)
    }
}

/// A refusal's SCIM error type and detail, carried on the response for the request log.
#[derive(Clone)]
pub struct Outcome(pub String);

impl ScimError {
    /// The SCIM error body (RFC 7644 §3.12), as answered alone or in a bulk response.
    pub fn body(&self) -> serde_json::Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        body
    }

    /// The error type and detail in one line, as the Provisioning page shows a refusal.
    pub fn outcome(&self) -> String {
        match self.scim_type {
            Some(t) => format!("{t}: {}", self.detail),
            None => self.detail.clone(),
        }
    }
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut r = (self.status, self.body().to_string()).into_response();
        r.extensions_mut().insert(Outcome(self.outcome()));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        r
    }
}
