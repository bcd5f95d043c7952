//! Every API error in one format: RFC 9457 problem details (`application/problem+json`) with a
//! stable `code` for machines, a sentence for people, and every field error in `errors`. The
//! use cases' errors are written here, and so are the framework's own refusals (bad JSON, a
//! wrong content type, an unknown route or method, an oversized body), which arrive as plain
//! text and are rewritten on the way out.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rollcall_domain::ValueError;
use serde::Serialize;

pub const CONTENT_TYPE: &str = "application/problem+json";

/// What a client asks when a token is missing or refused (RFC 6750).
const CHALLENGE: &str = r#"Bearer realm="rollcall""#;

/// Problem details (RFC 9457): what went wrong, a stable code, and the fields at fault.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(examples(json!({
    "type": "urn:rollcall:problem:idempotency_key_missing",
    "title": "Unprocessable Entity",
    "status": 422,
    "detail": "Bulk calls need an Idempotency-Key header (e.g. a new UUID per request) so a retry never acts twice.",
    "code": "idempotency_key_missing",
    "errors": [{
        "field": "Idempotency-Key",
        "code": "idempotency_key_missing",
        "detail": "Bulk calls need an Idempotency-Key header (e.g. a new UUID per request) so a retry never acts twice."
    }]
})))]
pub struct Problem {
    /// A URI naming the kind of problem; the same for the same `code`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem (the HTTP reason phrase).
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What is wrong with this request and how to fix it.
    pub detail: String,
    /// Stable snake_case code, e.g. `filter_value_unknown`.
    pub code: String,
    /// Each field that is wrong, when the problem is about the request's fields.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldProblem>,
    /// The rule of the rule engine that refused the change, e.g. `rule_4_actor_scope`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// One field, header or parameter that is wrong.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FieldProblem {
    /// The field, header or parameter, e.g. `email`, `filter`, `Idempotency-Key`, `limit`.
    pub field: String,
    /// Stable snake_case code of what is wrong with it.
    pub code: String,
    /// What is wrong and how to fix it.
    pub detail: String,
}

impl From<&ValueError> for FieldProblem {
    fn from(v: &ValueError) -> Self {
        FieldProblem {
            field: v.field.to_string(),
            code: v.code.to_string(),
            detail: v.message.clone(),
        }
    }
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("urn:rollcall:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
            errors: Vec::new(),
            rule: None,
        }
    }

    /// Field errors: the first one's sentence is the detail, and all are listed.
    pub fn invalid(errors: &[ValueError]) -> Problem {
        let detail = errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        let code = errors.first().map_or("invalid", |e| e.code);
        Problem {
            errors: errors.iter().map(FieldProblem::from).collect(),
            ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
        }
    }

    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).expect("a problem serializes");
        let mut res = (status, body).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(CHALLENGE),
            );
        }
        res
    }
}

/// Rewrites any error answer that is not yet problem details (the framework's own refusals)
/// into one, keeping its status and headers (`Allow` on 405, for one).
pub async fn every_error_a_problem(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut res = next.run(req).await;
    if res.status() == StatusCode::METHOD_NOT_ALLOWED && !res.headers().contains_key(header::ALLOW)
    {
        let allowed = super::openapi::methods_of(&path).join(", ");
        if let Ok(v) = HeaderValue::from_str(&allowed) {
            res.headers_mut().insert(header::ALLOW, v);
        }
    }
    let status = res.status();
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(CONTENT_TYPE.as_bytes()));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = axum::body::to_bytes(body, 8 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let allow = parts
        .headers
        .get(header::ALLOW)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let problem = framework_problem(status, &method, &text, allow.as_deref());
    let mut out = problem.into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// The framework's plain-text refusal as problem details with a code and a sentence that says
/// how to fix the request.
fn framework_problem(
    status: StatusCode,
    method: &Method,
    text: &str,
    allow: Option<&str>,
) -> Problem {
    let (code, detail) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            format!(
                "This endpoint does not take {method}; it takes {}.",
                allow.unwrap_or("other methods")
            ),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            "unsupported_media_type",
            format!("{text}. Send the body as JSON with `Content-Type: application/json`."),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "body_too_large",
            format!(
                "The request body is larger than this endpoint accepts ({} MB for JSON; 64 MB for an import file). Send it in parts.",
                crate::BODY_LIMIT / (1024 * 1024)
            ),
        ),
        StatusCode::UNPROCESSABLE_ENTITY => ("body_invalid", json_detail(text)),
        StatusCode::BAD_REQUEST if text.contains("as JSON") => ("json_invalid", json_detail(text)),
        StatusCode::BAD_REQUEST if text.contains("query string") => (
            "parameter_invalid",
            text.replace(
                "Failed to deserialize query string: ",
                "The query string is wrong: ",
            ),
        ),
        StatusCode::BAD_REQUEST if text.starts_with("Invalid URL") => (
            "path_invalid",
            format!("{text}. Take ids from the answers of the list endpoints."),
        ),
        StatusCode::NOT_FOUND => (
            "not_found",
            "No such API endpoint. The OpenAPI document at /api/v1/openapi.json lists them."
                .to_string(),
        ),
        s if s.is_server_error() => (
            "internal",
            "Something went wrong on our side; nothing was changed. Try again.".to_string(),
        ),
        _ => ("bad_request", text.to_string()),
    };
    let mut problem = Problem::new(status, code, detail);
    if code == "body_invalid" {
        problem.errors.push(FieldProblem {
            field: json_field(text).unwrap_or("body").to_string(),
            code: code.to_string(),
            detail: problem.detail.clone(),
        });
    }
    problem
}

/// The JSON refusal without the framework's preamble.
fn json_detail(text: &str) -> String {
    let text = text
        .replace(
            "Failed to deserialize the JSON body into the target type: ",
            "The JSON body does not fit this endpoint: ",
        )
        .replace(
            "Failed to parse the request body as JSON: ",
            "The body is not valid JSON: ",
        );
    format!("{text}. The OpenAPI document at /api/v1/openapi.json describes each body.")
}

/// The field a JSON refusal names (`filter` in "…target type: filter: unknown field …").
fn json_field(text: &str) -> Option<&str> {
    let rest = text.split("target type: ").nth(1)?;
    let (path, _) = rest.split_once(": ")?;
    (!path.contains(' ')).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_refusal_names_its_field() {
        let text = "Failed to deserialize the JSON body into the target type: filter: unknown field `usertype`, expected one of `q`, `status` at line 1 column 22";
        let p = framework_problem(StatusCode::UNPROCESSABLE_ENTITY, &Method::POST, text, None);
        assert_eq!(p.errors[0].field, "filter");
        assert!(
            p.detail.contains("unknown field `usertype`"),
            "{}",
            p.detail
        );
        let top = "Failed to deserialize the JSON body into the target type: missing field `role_id` at line 1 column 2";
        let p = framework_problem(StatusCode::UNPROCESSABLE_ENTITY, &Method::POST, top, None);
        assert_eq!(p.errors[0].field, "body");
    }

    #[test]
    fn a_wrong_method_names_the_right_ones() {
        let p = framework_problem(
            StatusCode::METHOD_NOT_ALLOWED,
            &Method::PUT,
            "",
            Some("GET,HEAD"),
        );
        assert_eq!(p.code, "method_not_allowed");
        assert!(
            p.detail.contains("does not take PUT; it takes GET,HEAD"),
            "{}",
            p.detail
        );
    }
}
