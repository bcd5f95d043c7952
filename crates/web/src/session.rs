//! Request extractors: the signed-in console user (session cookie), the API caller (bearer
//! token), and the request's id and source address for audit events.

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_app::audit::Meta;
use rollcall_app::{App, AppError, Principal};

use crate::cookies;
use crate::error::{ApiError, PageError};
use crate::headers::RequestId;

/// Request id and source address, for audit events.
pub struct Origin {
    pub request_id: Option<String>,
    pub source_ip: Option<String>,
}

impl Origin {
    pub fn from_parts(parts: &Parts) -> Origin {
        Origin {
            request_id: parts.extensions.get::<RequestId>().map(|r| r.0.clone()),
            source_ip: parts
                .extensions
                .get::<crate::edge::ClientAddr>()
                .map(|c| c.0)
                .or_else(|| {
                    parts
                        .extensions
                        .get::<ConnectInfo<SocketAddr>>()
                        .map(|c| c.0.ip())
                })
                .map(|ip| ip.to_string()),
        }
    }

    pub fn meta(&self, p: &Principal) -> Meta {
        Meta::of(p, self.request_id.clone(), self.source_ip.clone())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Origin::from_parts(parts))
    }
}

/// A signed-in console user. Missing or expired sessions go to the sign-in page.
pub struct ConsoleUser {
    pub principal: Principal,
    pub csrf: String,
    pub token: String,
    pub origin: Origin,
    /// No SMTP server is configured: messages wait in the local mailbox.
    pub local_mailbox: bool,
}

/// Every state-changing form carries the session's CSRF token.
pub fn check_csrf(session: Option<&str>, submitted: &str) -> Result<(), PageError> {
    if session.is_some_and(|csrf| rollcall_app::secret::same(csrf, submitted)) {
        Ok(())
    } else {
        Err(PageError(AppError::Forbidden(
            "This form has expired or did not come from this site. Reload the page and try again."
                .into(),
        )))
    }
}

impl ConsoleUser {
    /// Checks the CSRF token of a form read into a struct.
    pub fn verify_csrf(&self, submitted: &str) -> Result<(), PageError> {
        check_csrf(Some(&self.csrf), submitted)
    }

    pub fn meta(&self) -> Meta {
        self.origin.meta(&self.principal)
    }
}

pub struct SignInRequired {
    htmx: bool,
    /// A session cookie was sent but no longer works (as opposed to a first visit).
    expired: bool,
}

impl IntoResponse for SignInRequired {
    fn into_response(self) -> Response {
        let to = if self.expired {
            "/sign-in?expired=1"
        } else {
            "/sign-in"
        };
        if self.htmx {
            // htmx follows HX-Redirect with a full page load.
            let mut r = StatusCode::UNAUTHORIZED.into_response();
            r.headers_mut()
                .insert("hx-redirect", HeaderValue::from_static(to));
            r
        } else {
            Redirect::to(to).into_response()
        }
    }
}

impl FromRequestParts<App> for ConsoleUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let htmx = parts.headers.contains_key("hx-request");
        let Some(token) = cookies::get(&parts.headers, cookies::SESSION) else {
            return Err(SignInRequired {
                htmx,
                expired: false,
            }
            .into_response());
        };
        match rollcall_app::identity::auth::session(app, &token).await {
            Ok(Some((session, principal))) => {
                crate::observe::identify(&principal);
                parts
                    .extensions
                    .insert(SessionCsrf(session.csrf_token.clone()));
                Ok(ConsoleUser {
                    principal,
                    csrf: session.csrf_token,
                    token,
                    origin: Origin::from_parts(parts),
                    local_mailbox: app.config.smtp.is_none(),
                })
            }
            Ok(None) => Err(SignInRequired {
                htmx,
                expired: true,
            }
            .into_response()),
            Err(e) => Err(PageError(e).into_response()),
        }
    }
}

/// The session's CSRF token, left in the request by `ConsoleUser` for a `ConsoleForm` read
/// after it.
#[derive(Clone)]
struct SessionCsrf(String);

/// A console form read as name/value pairs (repeated fields such as checkboxes are kept), taken
/// once its `csrf` field matches the session's. It comes after `ConsoleUser` among a handler's
/// arguments; without a `ConsoleUser` before it, no form is taken.
pub struct ConsoleForm(pub Vec<(String, String)>);

impl FromRequest<App> for ConsoleForm {
    type Rejection = Response;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let session = req.extensions().get::<SessionCsrf>().cloned();
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(req, app)
            .await
            .map_err(IntoResponse::into_response)?;
        let submitted = crate::console::first_value(&pairs, "csrf");
        check_csrf(session.as_ref().map(|s| s.0.as_str()), submitted)
            .map_err(IntoResponse::into_response)?;
        Ok(ConsoleForm(pairs))
    }
}

/// An API caller, authenticated by `Authorization: Bearer rollcall_…`.
pub struct ApiCaller {
    pub principal: Principal,
    /// For audit events of API writes.
    pub origin: Origin,
}

impl ApiCaller {
    /// Who acted and where the request came from, for the audit event of a write.
    pub fn meta(&self) -> Meta {
        self.origin.meta(&self.principal)
    }
}

impl FromRequestParts<App> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let raw = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError(AppError::Unauthenticated(
                    "Send an API token as `Authorization: Bearer rollcall_…`; an admin creates one under Settings → API tokens.".into(),
                ))
            })?;
        let principal = rollcall_app::identity::api_tokens::authenticate(app, raw).await?;
        crate::observe::identify(&principal);
        Ok(ApiCaller {
            principal,
            origin: Origin::from_parts(parts),
        })
    }
}
