//! Requests read strictly. Query strings: a parameter an endpoint does not take is refused with
//! the names it does take (a typo must never widen a list or a selection), and a bad value says
//! what is wrong. JSON bodies: an object, as every body the document describes is.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::MissingJsonContentType;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use rollcall_app::AppError;
use rollcall_domain::ValueError;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The parameters an endpoint's query type takes, by name.
pub trait Params: DeserializeOwned {
    const NAMES: &'static [&'static str];
}

pub struct StrictQuery<T>(pub T);

impl<T: Params, S: Send + Sync> FromRequestParts<S> for StrictQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parse(parts.uri.query().unwrap_or_default())
            .map(StrictQuery)
            .map_err(ApiError)
    }
}

fn parse<T: Params>(raw: &str) -> Result<T, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw).map_err(|e| invalid(&e))?;
    let mut unknown: Vec<String> = pairs
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !T::NAMES.contains(&name.as_str()))
        .collect();
    unknown.dedup();
    if !unknown.is_empty() {
        let errors = unknown
            .iter()
            .map(|name| {
                ValueError::new(
                    "query",
                    "parameter_unknown",
                    format!(
                        "This endpoint takes no query parameter “{name}”; it takes {}.",
                        T::NAMES.join(", ")
                    ),
                )
            })
            .collect();
        return Err(AppError::of_fields(errors).expect("at least one"));
    }
    serde_urlencoded::from_str(raw).map_err(|e| invalid(&e))
}

fn invalid(e: &serde_urlencoded::de::Error) -> AppError {
    ValueError::new(
        "query",
        "parameter_invalid",
        format!("The query string is wrong: {e}. Numbers such as limit take digits only."),
    )
    .into()
}

/// A JSON body that must be an object. Serde also reads a struct from an array (`[null, null]`
/// would pass as an edit that changes nothing), which no operation takes.
pub struct StrictJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for StrictJson<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(MissingJsonContentType::default().into_response());
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if first.is_some_and(|&b| b != b'{') {
            let not_object = ValueError::new(
                "body",
                "body_invalid",
                "The body must be a JSON object. The OpenAPI document at /api/v1/openapi.json describes each body.",
            );
            return Err(ApiError(not_object.into()).into_response());
        }
        let Json(value) = Json::from_bytes(&bytes).map_err(IntoResponse::into_response)?;
        Ok(StrictJson(value))
    }
}

/// `application/json` or a `+json` type, as the framework's own JSON extractor takes.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(essence) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
    else {
        return false;
    };
    let essence = essence.trim().to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

macro_rules! params {
    ($ty:ty: $($name:literal),+ $(,)?) => {
        impl $crate::api::query::Params for $ty {
            const NAMES: &'static [&'static str] = &[$($name),+];
        }
    };
}
pub(crate) use params;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Page {
        #[allow(dead_code)]
        limit: Option<u32>,
    }
    params!(Page: "limit");

    #[test]
    fn an_unknown_parameter_is_refused_with_the_known_ones() {
        let err = parse::<Page>("limt=5").unwrap_err().to_string();
        assert!(
            err.contains("no query parameter “limt”; it takes limit"),
            "{err}"
        );
        assert!(parse::<Page>("limit=5").is_ok());
        assert!(parse::<Page>("").is_ok());
        let err = parse::<Page>("limit=five").unwrap_err().to_string();
        assert!(err.contains("query string is wrong"), "{err}");
    }

    async fn body(content_type: &str, text: &'static str) -> Result<Option<u32>, u16> {
        let req = axum::http::Request::builder()
            .header(header::CONTENT_TYPE, content_type)
            .body(axum::body::Body::from(text))
            .unwrap();
        StrictJson::<Page>::from_request(req, &())
            .await
            .map(|StrictJson(p)| p.limit)
            .map_err(|res| res.status().as_u16())
    }

    #[tokio::test]
    async fn a_json_body_is_an_object() {
        assert_eq!(
            body("application/json", r#" {"limit": 5}"#).await,
            Ok(Some(5))
        );
        assert_eq!(
            body("application/json; charset=utf-8", "{}").await,
            Ok(None)
        );
        // Serde would read the struct from an array.
        assert_eq!(body("application/json", "[5]").await, Err(422));
        assert_eq!(
            body("application/json", r#"{"limit": "5"}"#).await,
            Err(422)
        );
        assert_eq!(body("application/json", "{").await, Err(400));
        assert_eq!(body("text/plain", "{}").await, Err(415));
    }
}
