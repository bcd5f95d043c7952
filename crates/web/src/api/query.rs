//! Query strings read strictly: a parameter an endpoint does not take is refused with the names
//! it does take (a typo must never widen a list or a selection), and a bad value says what is
//! wrong.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
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
}
