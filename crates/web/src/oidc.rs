//! Sign in with Rollcall: the OpenID Connect endpoints. They speak the protocol (RFC 6749 error
//! bodies, `no-store` answers) and call the use cases in `rollcall_app::oidc`.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Json, Router};
use base64::Engine as _;
use rollcall_app::App;
use rollcall_app::audit::urlencode;
use rollcall_app::oidc::authorize::{self, AuthorizeRequest};
use rollcall_app::oidc::tokens::{self, ClientAuth};
use rollcall_app::oidc::{OAuthError, clients, issuer, keys};
use serde::Deserialize;
use serde_json::json;

use crate::cookies;
use crate::edge::Limits;
use crate::error::PageError;
use crate::session::Origin;

pub fn routes(limits: Arc<Limits>) -> Router<App> {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/oauth/jwks", get(jwks))
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/token", post(token))
        .route("/oauth/userinfo", get(userinfo).post(userinfo))
        .route("/oauth/introspect", post(introspect))
        .route("/oauth/revoke", post(revoke))
        .route("/oauth/logout", get(logout))
        .layer(Extension(limits))
}

async fn discovery(State(app): State<App>) -> Response {
    let iss = issuer(&app);
    Json(json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth/authorize"),
        "token_endpoint": format!("{iss}/oauth/token"),
        "userinfo_endpoint": format!("{iss}/oauth/userinfo"),
        "jwks_uri": format!("{iss}/oauth/jwks"),
        "revocation_endpoint": format!("{iss}/oauth/revoke"),
        "introspection_endpoint": format!("{iss}/oauth/introspect"),
        "end_session_endpoint": format!("{iss}/oauth/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": clients::SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "email",
            "email_verified", "name", "given_name", "family_name", "preferred_username", "rollcall"],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

async fn jwks(State(app): State<App>) -> Response {
    match keys::jwks(&app).await {
        // Short caching: a new key is published an hour before it signs.
        Ok(set) => ([(header::CACHE_CONTROL, "max-age=300")], Json(set)).into_response(),
        Err(e) => PageError(e).into_response(),
    }
}

/// The authorization endpoint: the client and redirect URI are checked first (a mismatch is
/// shown here, never redirected); without a Rollcall session the person signs in on Rollcall's
/// own page and comes back; then a code goes back to the app.
async fn authorize(
    State(app): State<App>,
    origin: Origin,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(req): Query<AuthorizeRequest>,
) -> Response {
    let client = match authorize::client_for(&app, &req).await {
        Ok(c) => c,
        Err(e) => return PageError(e).into_response(),
    };
    let back = |result: Result<String, OAuthError>| answer_to_app(&app, &req, result);
    if let Err(e) = authorize::check_request(&req) {
        return back(Err(e));
    }
    let session = match cookies::get(&headers, cookies::SESSION) {
        Some(token) => rollcall_app::identity::auth::session(&app, &token)
            .await
            .ok()
            .flatten(),
        None => None,
    };
    let Some((_, principal)) = session else {
        if req.prompt.as_deref() == Some("none") {
            return back(Err(OAuthError::new(
                "login_required",
                "The person is not signed in to Rollcall.",
            )));
        }
        let here = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        return cookies::sign_in_then(&here, app.config.secure_cookies);
    };
    let meta = origin.meta(&principal);
    let result = authorize::approve(&app, &principal, &client, &req, &meta).await;
    if cookies::get(&headers, cookies::RETURN_TO).is_none() {
        return back(result);
    }
    // Back from the sign-in form: a redirect to the app would still belong to that form's
    // submission, which the console's policy (`form-action 'self'`) keeps on this site; a page
    // that moves on by itself ends the submission first.
    let page = ContinuePage {
        to: app_address(&app, &req, result),
        app_name: client.name.clone(),
    };
    let mut res = crate::error::render(&page).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        cookies::clear(cookies::RETURN_TO, app.config.secure_cookies)
            .parse()
            .expect("cookie"),
    );
    res
}

#[derive(askama::Template)]
#[template(path = "oidc_continue.html")]
struct ContinuePage {
    to: String,
    app_name: String,
}

/// Sends the code (or the refusal) back to the app's registered redirect URI.
fn answer_to_app(
    app: &App,
    req: &AuthorizeRequest,
    result: Result<String, OAuthError>,
) -> Response {
    Redirect::to(&app_address(app, req, result)).into_response()
}

/// The app's redirect URI with the code (or the refusal), `state` and `iss`.
fn app_address(app: &App, req: &AuthorizeRequest, result: Result<String, OAuthError>) -> String {
    let mut params = match result {
        Ok(code) => format!("code={}", urlencode(&code)),
        Err(e) => format!(
            "error={}&error_description={}",
            e.error,
            urlencode(&e.description)
        ),
    };
    if let Some(state) = &req.state {
        params.push_str(&format!("&state={}", urlencode(state)));
    }
    params.push_str(&format!("&iss={}", urlencode(&issuer(app))));
    let joiner = if req.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    format!("{}{joiner}{params}", req.redirect_uri)
}

#[derive(Deserialize, Default)]
struct TokenForm {
    #[serde(default)]
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `client_secret_basic` from the header, else `client_secret_post` or a public client's id.
fn client_auth(headers: &HeaderMap, form: &TokenForm) -> ClientAuth {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(id, secret)| (percent_decode(id), percent_decode(secret)))
        });
    match basic {
        Some((id, secret)) => ClientAuth {
            client_id: id,
            secret: Some(secret),
        },
        None => ClientAuth {
            client_id: form.client_id.clone().unwrap_or_default(),
            secret: form.client_secret.clone().filter(|s| !s.is_empty()),
        },
    }
}

/// RFC 6749 §2.3.1: the id and secret are form-encoded before Basic encoding.
fn percent_decode(s: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={s}"))
        .ok()
        .and_then(|mut v| v.pop())
        .map(|(_, v)| v)
        .unwrap_or_default()
}

async fn token(
    State(app): State<App>,
    Extension(limits): Extension<Arc<Limits>>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let auth = client_auth(&headers, &form);
    if let Some(wait) = limits.per_client(&auth.client_id).await {
        return too_many(wait);
    }
    let client = match tokens::authenticate(&app, &auth).await {
        Ok(c) => c,
        Err(e) => return oauth_error(e),
    };
    let result = match form.grant_type.as_str() {
        "authorization_code" => {
            tokens::exchange_code(
                &app,
                &client,
                form.code.as_deref().unwrap_or_default(),
                form.redirect_uri.as_deref().unwrap_or_default(),
                form.code_verifier.as_deref().unwrap_or_default(),
            )
            .await
        }
        "refresh_token" => {
            tokens::refresh(
                &app,
                &client,
                form.refresh_token.as_deref().unwrap_or_default(),
            )
            .await
        }
        _ => Err(OAuthError::new(
            "unsupported_grant_type",
            "grant_type must be authorization_code or refresh_token.",
        )),
    };
    match result {
        Ok(set) => no_store(Json(set).into_response()),
        Err(e) => oauth_error(e),
    }
}

async fn userinfo(State(app): State<App>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim()
        .to_string();
    match tokens::userinfo(&app, &bearer).await {
        Ok(claims) => no_store(Json(claims).into_response()),
        Err(e) if e.error == "invalid_token" => {
            let mut res = (
                StatusCode::UNAUTHORIZED,
                Json(json!({ "error": e.error, "error_description": e.description })),
            )
                .into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            res
        }
        Err(e) => oauth_error(e),
    }
}

async fn introspect(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let client = match tokens::authenticate(&app, &client_auth(&headers, &form)).await {
        Ok(c) => c,
        Err(e) => return oauth_error(e),
    };
    match tokens::introspect(&app, &client, form.token.as_deref().unwrap_or_default()).await {
        Ok(v) => no_store(Json(v).into_response()),
        Err(e) => oauth_error(e),
    }
}

async fn revoke(
    State(app): State<App>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let client = match tokens::authenticate(&app, &client_auth(&headers, &form)).await {
        Ok(c) => c,
        Err(e) => return oauth_error(e),
    };
    match tokens::revoke(&app, &client, form.token.as_deref().unwrap_or_default()).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => oauth_error(e),
    }
}

#[derive(Deserialize)]
struct LogoutQuery {
    id_token_hint: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// RP-initiated logout: ends the Rollcall session and returns to a registered address.
async fn logout(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<LogoutQuery>,
) -> Response {
    if let Some(token) = cookies::get(&headers, cookies::SESSION)
        && let Ok(Some((_, principal))) = rollcall_app::identity::auth::session(&app, &token).await
        && let Err(e) =
            rollcall_app::identity::auth::sign_out(&app, &token, &principal, false).await
    {
        return PageError(e).into_response();
    }
    let target = rollcall_app::oidc::tokens::end_session_target(
        &app,
        q.id_token_hint.as_deref(),
        q.client_id.as_deref(),
        q.post_logout_redirect_uri.as_deref(),
    )
    .await;
    let to = match target {
        Ok(Some(uri)) => match &q.state {
            Some(s) => {
                let joiner = if uri.contains('?') { '&' } else { '?' };
                format!("{uri}{joiner}state={}", urlencode(s))
            }
            None => uri,
        },
        Ok(None) => "/sign-in?signed_out=1".to_string(),
        Err(e) => return PageError(e).into_response(),
    };
    let mut res = Redirect::to(&to).into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        cookies::clear(cookies::SESSION, app.config.secure_cookies)
            .parse()
            .expect("cookie"),
    );
    res
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

fn oauth_error(e: OAuthError) -> Response {
    let status = match e.error {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut res = (
        status,
        Json(json!({ "error": e.error, "error_description": e.description })),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"rollcall\""),
        );
    }
    no_store(res)
}

fn too_many(wait_secs: u64) -> Response {
    let mut res = oauth_error(OAuthError::new(
        "slow_down",
        format!("Too many token requests from this client; wait {wait_secs} s."),
    ));
    *res.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait_secs));
    res
}
