//! Sign in with Rollcall over a real socket, on both engines: a staff member signs in to an app
//! through Rollcall's own sign-in page, the app gets tokens and claims; and every way a token
//! request can be wrong is refused.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::*;
use reqwest::Method;
use rollcall_store::engine_tests;
use rollcall_store::testing::TestDb;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "a-long-and-random-verifier-of-more-than-43-characters";

fn challenge(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

struct Rp {
    id: String,
    secret: String,
}

/// A confidential sign-in app registered by the company admin through the JSON API.
async fn register_app(app: &TestApp) -> Rp {
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:write"]).await;
    let (status, body) = app
        .api(
            &token,
            Method::POST,
            "/api/v1/oidc-clients",
            Some(&json!({
                "name": "Scheduling", "redirect_uris": [REDIRECT], "confidential": true,
                "post_logout_redirect_uris": ["http://127.0.0.1:9/bye"],
                "scopes": ["profile", "email", "rollcall", "offline_access"]
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    Rp {
        id: body["id"].as_str().unwrap().to_string(),
        secret: body["client_secret"].as_str().unwrap().to_string(),
    }
}

fn authorize_path(rp: &Rp, redirect: &str, verifier: &str) -> String {
    format!(
        "/oauth/authorize?response_type=code&client_id={}&redirect_uri={}&scope=openid%20profile%20email%20rollcall%20offline_access&state=s1&nonce=n1&code_challenge={}&code_challenge_method=S256",
        rp.id,
        rollcall_app::audit::urlencode(redirect),
        challenge(verifier)
    )
}

/// The code an authorization answer carries back to the app.
fn code_in(location: &str) -> String {
    assert!(
        location.starts_with(REDIRECT),
        "back to the app: {location}"
    );
    assert!(location.contains("state=s1"), "{location}");
    let start = location.find("code=").expect("a code") + 5;
    location[start..].split('&').next().unwrap().to_string()
}

/// Signs Morgan in (through the sign-in page, as a browser) and returns a code for the app.
async fn code_for(app: &TestApp, browser: &reqwest::Client, rp: &Rp) -> String {
    let r = browser
        .get(app.url(&authorize_path(rp, REDIRECT, VERIFIER)))
        .send()
        .await
        .unwrap();
    code_in(r.headers()["location"].to_str().unwrap())
}

async fn token_call(app: &TestApp, rp: &Rp, form: &[(&str, &str)]) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(app.url("/oauth/token"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn exchange(app: &TestApp, rp: &Rp, code: &str) -> (u16, Value) {
    token_call(
        app,
        rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
}

async fn refresh(app: &TestApp, rp: &Rp, token: &str) -> (u16, Value) {
    token_call(
        app,
        rp,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

async fn userinfo(app: &TestApp, access: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(app.url("/oauth/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

async fn introspect(app: &TestApp, rp: &Rp, token: &str) -> Value {
    reqwest::Client::new()
        .post(app.url("/oauth/introspect"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Morgan, a clinic admin at Downtown, signed in to Rollcall in a browser.
async fn morgan(app: &TestApp) -> (Staff, reqwest::Client) {
    let staff = staff(app).await;
    let browser = app.browser();
    let r = app
        .sign_in(&browser, &app.org.slug, "morgan@alpha.example", PASSWORD)
        .await;
    assert_eq!(r.status(), 303);
    (staff, browser)
}

async fn a_person_signs_in_to_an_app_through_rollcall(t: TestDb) {
    let app = spawn_app(t).await;
    let rp = register_app(&app).await;
    let discovery: Value = reqwest::get(app.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], "http://127.0.0.1");
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        json!(["S256"])
    );
    staff(&app).await;

    // Not signed in: Rollcall's own sign-in page, then back to the app with a code.
    let browser = app.browser();
    let authorize = authorize_path(&rp, REDIRECT, VERIFIER);
    let r = browser.get(app.url(&authorize)).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/sign-in");
    let r = app
        .sign_in(&browser, &app.org.slug, "morgan@alpha.example", PASSWORD)
        .await;
    assert_eq!(r.headers()["location"].to_str().unwrap(), authorize);
    // Back from the sign-in form, a page moves on to the app (a redirect would still be part of
    // the form's submission, which the console's policy keeps on this site).
    let r = browser.get(app.url(&authorize)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("Continue to Scheduling"), "{page}");
    let start = page.find("href=\"http").expect("a link to the app") + 6;
    let href = page[start..].split('"').next().unwrap();
    let href = href
        .replace("&amp;", "&")
        .replace("&#x2f;", "/")
        .replace("&#x27;", "'");
    let code = code_in(&href);

    let (status, tokens) = exchange(&app, &rp, &code).await;
    assert_eq!(status, 200, "{tokens}");
    let id_token = tokens["id_token"].as_str().unwrap();
    let claims = verified_by_jwks(&app, id_token, &rp.id).await;
    assert_eq!(claims["nonce"], "n1");
    assert_eq!(claims["email"], "morgan@alpha.example");

    // Userinfo: the same permissions the profile shows in effect.
    let (status, info) = userinfo(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sub"], claims["sub"]);
    assert_eq!(info["name"], "Morgan Diaz");
    assert_eq!(info["rollcall"]["user_type"], "administrator");
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:read"]).await;
    let sub = info["sub"].as_str().unwrap();
    let (_, profile) = app
        .api(&token, Method::GET, &format!("/api/v1/users/{sub}"), None)
        .await;
    let in_effect: Vec<&str> = profile["effective"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert!(!in_effect.is_empty());
    assert_eq!(info["rollcall"]["permissions"], json!(in_effect));
    assert_eq!(info["rollcall"]["locations"][0]["name"], "alpha Downtown");

    // Refresh rotates the refresh token; the old one presented again ends the whole sign-in.
    let first = tokens["refresh_token"].as_str().unwrap();
    let (status, renewed) = refresh(&app, &rp, first).await;
    assert_eq!(status, 200, "{renewed}");
    let second = renewed["refresh_token"].as_str().unwrap();
    assert_ne!(first, second);
    let (status, reused) = refresh(&app, &rp, first).await;
    assert_eq!(
        (status, reused["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = refresh(&app, &rp, second).await;
    assert_eq!(status, 400, "the rotated family is revoked");
    let (status, _) = userinfo(&app, renewed["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401);

    let audit = app
        .api(&token, Method::GET, "/api/v1/audit?action=oidc.", None)
        .await
        .1
        .to_string();
    assert!(audit.contains("oidc.signed_in"), "{audit}");
    assert!(audit.contains("oidc.token_refused"), "{audit}");

    // An app that did not ask for offline_access gets no refresh token: its access ends with
    // its access token.
    let online = authorize_path(&rp, REDIRECT, VERIFIER).replace("%20offline_access", "");
    let r = browser.get(app.url(&online)).send().await.unwrap();
    let code = code_in(r.headers()["location"].to_str().unwrap());
    let (status, tokens) = exchange(&app, &rp, &code).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["access_token"].is_string());
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    assert!(!tokens["scope"].as_str().unwrap().contains("offline_access"));
}

/// The ID token's signature checked against the published JWKS, by the JWT library.
async fn verified_by_jwks(app: &TestApp, token: &str, audience: &str) -> Value {
    let jwks: Value = reqwest::get(app.url("/oauth/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"].as_str() == header.kid.as_deref())
        .expect("the signing key is published");
    let decoding = jsonwebtoken::DecodingKey::from_ec_components(
        key["x"].as_str().unwrap(),
        key["y"].as_str().unwrap(),
    )
    .unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&[audience]);
    v.set_issuer(&["http://127.0.0.1"]);
    jsonwebtoken::decode::<Value>(token, &decoding, &v)
        .unwrap()
        .claims
}

async fn wrong_redirects_verifiers_reused_and_expired_codes_are_refused(t: TestDb) {
    let app = spawn_app(t).await;
    let rp = register_app(&app).await;
    let (_, browser) = morgan(&app).await;

    // An unregistered redirect URI: the answer stays on Rollcall.
    let r = browser
        .get(app.url(&authorize_path(&rp, "http://127.0.0.1:9/evil", VERIFIER)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("has not registered"));

    // PKCE verifier that does not match.
    let code = code_for(&app, &browser, &rp).await;
    let (status, body) = token_call(
        &app,
        &rp,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            (
                "code_verifier",
                "another-verifier-that-is-long-enough-to-be-valid-x",
            ),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(body["error_description"].as_str().unwrap().contains("PKCE"));
    // A code is tried once: the right verifier afterwards finds it spent.
    let (status, body) = exchange(&app, &rp, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // A wrong secret.
    let wrong = Rp {
        id: rp.id.clone(),
        secret: "rollcall_oidc_wrong".into(),
    };
    let code = code_for(&app, &browser, &rp).await;
    let (status, body) = exchange(&app, &wrong, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // A code used twice: the second use is refused and the first use's tokens die.
    let code = code_for(&app, &browser, &rp).await;
    let (status, first) = exchange(&app, &rp, &code).await;
    assert_eq!(status, 200);
    let (status, again) = exchange(&app, &rp, &code).await;
    assert_eq!(
        (status, again["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = userinfo(&app, first["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401);
    let (status, _) = refresh(&app, &rp, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, 400);

    // A code older than 60 seconds.
    let code = code_for(&app, &browser, &rp).await;
    app.app.clock.advance_minutes(2);
    let (status, body) = exchange(&app, &rp, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
}

async fn forged_tokens_and_other_organizations_are_refused(t: TestDb) {
    let app = spawn_app(t).await;
    let rp = register_app(&app).await;
    let (_, browser) = morgan(&app).await;
    let code = code_for(&app, &browser, &rp).await;
    let (_, tokens) = exchange(&app, &rp, &code).await;
    let genuine = tokens["access_token"].as_str().unwrap();
    assert_eq!(introspect(&app, &rp, genuine).await["active"], true);

    // The same claims under `alg: none`, and signed with HS256 using the public key as secret.
    let payload = genuine.split('.').nth(1).unwrap();
    let none = format!(
        "{}.{payload}.",
        B64.encode(br#"{"alg":"none","typ":"JWT"}"#)
    );
    let claims: Value = serde_json::from_slice(&B64.decode(payload).unwrap()).unwrap();
    let jwks: Value = reqwest::get(app.url("/oauth/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public = jwks["keys"][0].to_string();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = jwks["keys"][0]["kid"].as_str().map(str::to_string);
    let hs256 = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()),
    )
    .unwrap();
    for forged in [none.as_str(), hs256.as_str()] {
        let (status, _) = userinfo(&app, forged).await;
        assert_eq!(status, 401, "{forged}");
        assert_eq!(introspect(&app, &rp, forged).await["active"], false);
    }

    // Another organization's person is refused by this organization's app.
    let (other, other_admin) = org_with_admin(&app.app, "beta").await;
    let stranger = app.browser();
    let r = app
        .sign_in(&stranger, &other.slug, &other_admin, PASSWORD)
        .await;
    assert_eq!(r.status(), 303);
    let r = stranger
        .get(app.url(&authorize_path(&rp, REDIRECT, VERIFIER)))
        .send()
        .await
        .unwrap();
    let location = r.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    assert!(location.contains("error=access_denied"), "{location}");
    assert!(!location.contains("code="));
}

async fn a_deactivated_person_is_refused_at_refresh(t: TestDb) {
    let app = spawn_app(t).await;
    let rp = register_app(&app).await;
    let (staff, browser) = morgan(&app).await;
    let code = code_for(&app, &browser, &rp).await;
    let (_, tokens) = exchange(&app, &rp, &code).await;

    let admin = app.signed_in_admin().await;
    let csrf = app.csrf_of(&admin, "/users").await;
    let r = admin
        .post(app.url(&format!("/users/{}/deactivate", staff.clinic_admin)))
        .form(&[("csrf", csrf.as_str()), ("back", ""), ("confirmed", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    let (status, body) = refresh(&app, &rp, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, _) = userinfo(&app, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401);
    assert_eq!(
        introspect(&app, &rp, tokens["refresh_token"].as_str().unwrap()).await["active"],
        false
    );
}

/// A company admin changes a sign-in app in the console (a wrong redirect URI is refused beside
/// its field, with what was typed kept), rotates its secret (asked first; the old secret stops
/// at once, the new one works, a refresh token from before keeps working) and deletes it (asked
/// first).
async fn the_console_changes_rotates_and_deletes_a_sign_in_app(t: TestDb) {
    let app = spawn_app(t).await;
    let rp = register_app(&app).await;
    let (_, browser) = morgan(&app).await;
    let code = code_for(&app, &browser, &rp).await;
    let (_, before) = exchange(&app, &rp, &code).await;
    let admin = app.signed_in_admin().await;
    let page = format!("/settings/sign-in-apps/{}", rp.id);
    let list = app.page(&admin, "/settings/sign-in-apps").await;
    assert!(list.contains(&format!("href=\"{page}\"")), "{list}");

    let (_, html) = post_form(
        &app,
        &admin,
        &page,
        &page,
        &[
            ("name", "Scheduling two"),
            ("redirect_uris", "scheduling.example"),
            ("scope", "email"),
        ],
    )
    .await;
    assert!(html.contains(&marked("f-redirect_uris")), "{html}");
    assert!(
        html.contains(">scheduling.example</textarea>"),
        "typed kept"
    );
    assert!(html.contains("value=\"Scheduling two\""), "typed name kept");
    let (status, html) = post_form(
        &app,
        &admin,
        &page,
        &page,
        &[
            ("name", "Scheduling two"),
            (
                "redirect_uris",
                &format!("{REDIRECT}\nhttps://scheduling.clinic.example/cb"),
            ),
            ("post_logout_redirect_uris", ""),
            ("scope", "profile"),
            ("scope", "email"),
            ("scope", "rollcall"),
            ("scope", "offline_access"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("“Scheduling two” is saved."), "{html}");
    let stored = rollcall_app::oidc::clients::list(
        &app.app,
        &rollcall_app::Principal::operator(&app.app, app.org.id, "test")
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(stored[0].name, "Scheduling two");
    assert_eq!(stored[0].redirect_uris.len(), 2);
    assert!(stored[0].post_logout_redirect_uris.is_empty());
    assert!(stored[0].confidential, "the kind stays as made");

    // Rotation: asked first, then the new secret once.
    let rotate = format!("{page}/rotate");
    let (_, ask) = post_form(&app, &admin, &page, &rotate, &[]).await;
    assert!(
        ask.contains("The old secret stops working at once"),
        "{ask}"
    );
    assert!(!ask.contains("new-client-secret"));
    let (_, html) = post_form(&app, &admin, &page, &rotate, &[("confirmed", "yes")]).await;
    let secret = shown(&html, "new-client-secret");
    assert!(secret.starts_with("rollcall_oidc_") && secret != rp.secret);
    let code = code_for(&app, &browser, &rp).await;
    let (status, body) = exchange(&app, &rp, &code).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let fresh = Rp {
        id: rp.id.clone(),
        secret,
    };
    let code = code_for(&app, &browser, &fresh).await;
    let (status, body) = exchange(&app, &fresh, &code).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = refresh(&app, &fresh, before["refresh_token"].as_str().unwrap()).await;
    assert_eq!(
        status, 200,
        "a refresh token from before stays valid: {body}"
    );

    // Deletion: asked first, with what it ends.
    let delete = format!("{page}/delete");
    let (_, ask) = post_form(&app, &admin, &page, &delete, &[]).await;
    assert!(
        ask.contains("Every sign-in made through “Scheduling two” ends"),
        "{ask}"
    );
    let (_, html) = post_form(&app, &admin, &page, &delete, &[("confirmed", "yes")]).await;
    assert!(html.contains("is deleted"), "{html}");
    assert!(!html.contains(&format!("href=\"{page}\"")));
    let (status, _) = userinfo(&app, body["access_token"].as_str().unwrap()).await;
    assert_eq!(status, 401, "its sign-ins ended");
}

/// The JSON API changes an app (the kind cannot be changed) and rotates its secret; a public
/// app has none to rotate.
async fn the_api_changes_and_rotates_a_sign_in_app(t: TestDb) {
    let app = spawn_app(t).await;
    let rp = register_app(&app).await;
    let admin = app.signed_in_admin().await;
    let token = app.api_token(&admin, &["users:write"]).await;
    let path = format!("/api/v1/oidc-clients/{}", rp.id);
    let (status, body) = app
        .api(
            &token,
            Method::PATCH,
            &path,
            Some(&json!({ "name": "Billing", "scopes": ["email"] })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Billing");
    assert_eq!(body["scopes"], json!(["openid", "email"]));
    assert_eq!(body["redirect_uris"], json!([REDIRECT]), "absent stays");
    let (status, body) = app
        .api(
            &token,
            Method::PATCH,
            &path,
            Some(&json!({ "redirect_uris": ["ftp://x.example/cb"] })),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["field"], "redirect_uris", "{body}");
    let (status, _) = app
        .api(
            &token,
            Method::PATCH,
            &path,
            Some(&json!({ "confidential": false })),
        )
        .await;
    assert!(status == 400 || status == 422, "{status}");
    let (status, body) = app
        .api(&token, Method::POST, &format!("{path}/rotate-secret"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["client_secret"].as_str().unwrap(), rp.secret);

    let (_, public) = app
        .api(
            &token,
            Method::POST,
            "/api/v1/oidc-clients",
            Some(&json!({ "name": "Mobile", "redirect_uris": [REDIRECT], "confidential": false })),
        )
        .await;
    let (status, _) = app
        .api(
            &token,
            Method::POST,
            &format!(
                "/api/v1/oidc-clients/{}/rotate-secret",
                public["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 409);
    let mut conn = app.app.db().read_conn().await.unwrap();
    let trail = rollcall_store::audit::actions(&mut conn, app.org.id)
        .await
        .unwrap();
    assert!(trail.iter().any(|a| a == "oidc_client.changed"));
    assert!(trail.iter().any(|a| a == "oidc_client.secret_rotated"));
}

/// A clinic admin or a viewer is not offered the sign-in app and webhook pages, and is refused
/// them.
async fn a_clinic_admin_gets_no_sign_in_apps_or_webhooks(t: TestDb) {
    let app = spawn_app(t).await;
    let rp = register_app(&app).await;
    let (_, browser) = morgan(&app).await;
    let home = app.page(&browser, "/users").await;
    assert!(!home.contains("/settings/webhooks") && !home.contains("/settings/sign-in-apps"));
    for path in [
        "/settings/webhooks".to_string(),
        format!("/settings/sign-in-apps/{}", rp.id),
        "/settings/sign-in-apps".to_string(),
    ] {
        let r = browser.get(app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
    let (status, _) = post_form(
        &app,
        &browser,
        "/users",
        &format!("/settings/sign-in-apps/{}/rotate", rp.id),
        &[("confirmed", "yes")],
    )
    .await;
    assert_eq!(status, 403);

    // A viewer neither.
    add_user(
        &app.app,
        &app.org,
        "vera@alpha.example",
        ("Vera", "Viewer"),
        "Read-only",
        Some(PASSWORD),
    )
    .await;
    let vera = app.browser();
    app.sign_in(&vera, "alpha", "vera@alpha.example", PASSWORD)
        .await;
    let users = app.page(&vera, "/users").await;
    assert!(!users.contains("/settings/webhooks"), "{users}");
    for path in ["/settings/webhooks", "/settings/sign-in-apps"] {
        let r = vera.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 403, "{path}");
    }
}

engine_tests!(
    the_console_changes_rotates_and_deletes_a_sign_in_app,
    the_api_changes_and_rotates_a_sign_in_app,
    a_clinic_admin_gets_no_sign_in_apps_or_webhooks,
    a_person_signs_in_to_an_app_through_rollcall,
    wrong_redirects_verifiers_reused_and_expired_codes_are_refused,
    forged_tokens_and_other_organizations_are_refused,
    a_deactivated_person_is_refused_at_refresh,
);
