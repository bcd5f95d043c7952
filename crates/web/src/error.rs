//! How use-case errors reach people (an HTML page) and clients (problem details with a code and
//! a sentence).
//! Server faults are logged with detail and answered without it.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use rollcall_app::AppError;

use crate::api::Problem;

fn status_and_code(e: &AppError) -> (StatusCode, &'static str) {
    match e {
        AppError::Invalid(v) => (StatusCode::UNPROCESSABLE_ENTITY, v.code),
        AppError::InvalidFields(all) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            all.first().map_or("invalid", |v| v.code),
        ),
        AppError::Refused(r) => (StatusCode::UNPROCESSABLE_ENTITY, r.code),
        AppError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
        AppError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
        AppError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
        AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
        AppError::Stale(_) => (StatusCode::PRECONDITION_FAILED, "version_stale"),
        AppError::SeatsExhausted(_) => (StatusCode::CONFLICT, "seats_exhausted"),
        AppError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        AppError::Store(_) | AppError::Internal(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        }
    }
}

fn public_message(e: &AppError) -> String {
    match e {
        AppError::Store(_) | AppError::Internal(_) => {
            tracing::error!(error = %e, "request failed");
            "Something went wrong on our side; nothing was changed. Try again, and tell your administrator if it keeps happening.".into()
        }
        other => other.to_string(),
    }
}

pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = match &self.0 {
            AppError::Invalid(v) => Problem::invalid(std::slice::from_ref(v)),
            AppError::InvalidFields(all) => Problem::invalid(all),
            other => {
                let (status, code) = status_and_code(other);
                let mut p = Problem::new(status, code, public_message(other));
                if let AppError::Refused(r) = other {
                    p.rule = Some(r.rule.code().to_string());
                }
                p
            }
        };
        problem.into_response()
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub heading: String,
    pub text: String,
    pub link: Option<(String, String)>,
}

pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be drawn.",
            )
                .into_response()
        }
    }
}

pub struct PageError(pub AppError);

impl<E: Into<AppError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, _) = status_and_code(&self.0);
        let heading = match status {
            StatusCode::FORBIDDEN => "Not allowed",
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::TOO_MANY_REQUESTS => "Please wait",
            s if s.is_server_error() => "Something went wrong",
            _ => "That did not work",
        };
        let page = MessagePage {
            heading: heading.into(),
            text: public_message(&self.0),
            link: Some(("/users".into(), "Back to users".into())),
        };
        (status, render(&page)).into_response()
    }
}
