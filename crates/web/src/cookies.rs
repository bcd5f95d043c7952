//! The cookies: the session, the pre-session nonce of the sign-in and registration forms, and
//! the organization code last signed in with.

use axum::http::HeaderMap;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::response::{IntoResponse, Redirect, Response};

pub const SESSION: &str = "rc_session";
pub const PRE_SESSION: &str = "rc_presession";
/// The organization code of the last sign-in on this browser: the sign-in page fills it in.
pub const LAST_ORG: &str = "rc_org";

/// The organization code a browser last signed in with, if it still reads as one.
pub fn last_org(headers: &HeaderMap) -> Option<String> {
    get(headers, LAST_ORG).filter(|code| is_org_code(code))
}

/// Whether `code` can be an organization code (and so is safe in a cookie or a link).
pub fn is_org_code(code: &str) -> bool {
    !code.is_empty()
        && code.len() <= 40
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
/// Where to go after signing in (a sign-in app waiting for its answer): a path on this site.
pub const RETURN_TO: &str = "rc_return";

pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// HttpOnly, SameSite=Lax, Path=/; Secure when the service is reached over HTTPS.
pub fn set(name: &str, value: &str, secure: bool, max_age_seconds: Option<i64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age_seconds {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

pub fn clear(name: &str, secure: bool) -> String {
    set(name, "", secure, Some(0))
}

/// A redirect that also sets the session cookie to `token`: signed in, or a step further.
pub fn redirect_with_session(to: &str, token: &str, secure: bool) -> Response {
    let mut res = Redirect::to(to).into_response();
    let cookie = set(SESSION, token, secure, None);
    res.headers_mut()
        .append(SET_COOKIE, cookie.parse().expect("cookie"));
    res
}

/// A pre-session form's token (sign-in, registration) and the cookie that goes with it: the
/// cookie holds a nonce, the form the nonce signed by the server (see `secret::form_pair`).
pub async fn pre_session(
    app: &rollcall_app::App,
) -> Result<(String, String), rollcall_app::AppError> {
    let (nonce, token) = rollcall_app::secret::form_pair(app).await?;
    let cookie = set(PRE_SESSION, &nonce, app.config.secure_cookies, Some(3600));
    Ok((token, cookie))
}

/// Whether a pre-session form comes from a page this server gave this browser.
pub async fn pre_session_valid(app: &rollcall_app::App, headers: &HeaderMap, token: &str) -> bool {
    let nonce = get(headers, PRE_SESSION).unwrap_or_default();
    rollcall_app::secret::form_pair_valid(app, &nonce, token)
        .await
        .unwrap_or(false)
}

/// A path on this site and nothing else: no scheme, host or `//`, so a return address can never
/// send the person to another site.
pub fn is_local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.starts_with("/\\")
        && path.len() <= 4000
        && !path.chars().any(|c| c.is_control() || c == '\\')
}

/// The sign-in page, remembering `path` to come back to once signed in.
pub fn sign_in_then(path: &str, secure: bool) -> Response {
    let mut res = Redirect::to("/sign-in").into_response();
    if is_local_path(path) {
        let value = rollcall_app::audit::urlencode(path);
        res.headers_mut().append(
            SET_COOKIE,
            set(RETURN_TO, &value, secure, Some(900))
                .parse()
                .expect("cookie"),
        );
    }
    res
}

/// Where a completed sign-in goes: the remembered local path, or the home page.
pub fn after_sign_in(headers: &HeaderMap) -> String {
    get(headers, RETURN_TO)
        .and_then(|v| {
            serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("p={v}"))
                .ok()
                .and_then(|mut p| p.pop())
                .map(|(_, p)| p)
        })
        .filter(|p| is_local_path(p))
        .unwrap_or_else(|| "/home".to_string())
}
