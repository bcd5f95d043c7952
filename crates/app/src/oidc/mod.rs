//! Sign in with Rollcall: an OpenID Connect provider for the organization's own apps
//! (authorization code + PKCE, refresh-token rotation, userinfo, introspection, revocation,
//! RP-initiated logout). The web layer speaks the protocol; these use cases decide.

pub mod authorize;
pub mod claims;
pub mod clients;
pub mod keys;
pub mod tokens;

use std::fmt;

use crate::App;

const SECOND: i64 = 1_000_000;
/// A code must be exchanged within this time.
pub const CODE_MICROS: i64 = 60 * SECOND;
/// A refresh token not used for this long stops working.
pub const REFRESH_MICROS: i64 = 30 * 24 * 3600 * SECOND;

/// How long an access token works: `ROLLCALL_OIDC_ACCESS_TOKEN_SECS`, 5 minutes by default.
/// Kept short because a permission change reaches an app at its next refresh.
pub fn access_token_micros() -> i64 {
    std::env::var("ROLLCALL_OIDC_ACCESS_TOKEN_SECS")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(300)
        * SECOND
}

pub fn id_token_micros() -> i64 {
    access_token_micros()
}

/// The issuer: the address people reach Rollcall at.
pub fn issuer(app: &App) -> String {
    app.config.public_url.trim_end_matches('/').to_string()
}

/// A refusal in the protocol's words (RFC 6749 §5.2): the `error` code and a description that
/// says what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            error,
            description: description.into(),
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_request", d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> OAuthError {
        OAuthError::new("invalid_grant", d)
    }

    pub fn invalid_client() -> OAuthError {
        OAuthError::new(
            "invalid_client",
            "The client is unknown or its credentials are wrong.",
        )
    }

    pub fn server(e: crate::AppError) -> OAuthError {
        tracing::error!(error = %e, "sign-in with Rollcall failed");
        OAuthError::new("server_error", "Rollcall could not answer; try again.")
    }
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

impl From<crate::AppError> for OAuthError {
    fn from(e: crate::AppError) -> Self {
        OAuthError::server(e)
    }
}

impl From<rollcall_store::StoreError> for OAuthError {
    fn from(e: rollcall_store::StoreError) -> Self {
        OAuthError::server(e.into())
    }
}

impl From<rollcall_store::SqlxError> for OAuthError {
    fn from(e: rollcall_store::SqlxError) -> Self {
        OAuthError::server(e.into())
    }
}
