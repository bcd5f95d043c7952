//! The token endpoint (code exchange, refresh with rotation), userinfo, introspection,
//! revocation and the end of a sign-in. Every refusal is audited in the client's organization.

use rollcall_store::{Conn, audit, oidc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::claims;
use super::{OAuthError, REFRESH_MICROS, access_token_micros, id_token_micros, issuer, keys};
use crate::audit::Meta;
use crate::{App, AppError};

const SECOND: i64 = 1_000_000;

/// How a client proves itself at the token, introspection and revocation endpoints.
#[derive(Debug, Clone, Default)]
pub struct ClientAuth {
    pub client_id: String,
    /// `None` for a public client.
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenSet {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    /// Only for a sign-in granted `offline_access` (OpenID Connect Core §11): an app that asked
    /// for none keeps its access only as long as its access token lives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub id_token: String,
    pub scope: String,
}

/// What an access token says: who, for which client, under which grant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: Uuid,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    /// The grant (one sign-in to one client): revoking it ends the token at once.
    pub gid: Uuid,
    pub org: Uuid,
}

/// The client, if it exists and its credentials are right (a confidential client must send its
/// secret; a public one has none).
pub async fn authenticate(app: &App, auth: &ClientAuth) -> Result<oidc::Client, OAuthError> {
    let Ok(id) = Uuid::parse_str(auth.client_id.trim()) else {
        return Err(OAuthError::invalid_client());
    };
    let mut conn = app.db.read_conn().await?;
    let client = oidc::client(&mut conn, id)
        .await?
        .ok_or_else(OAuthError::invalid_client)?;
    let ok = match (&client.secret_hash, &auth.secret) {
        (None, None) => true,
        (Some(stored), Some(sent)) => crate::secret::same(stored, &crate::secret::hash(sent)),
        _ => false,
    };
    if !ok {
        drop(conn);
        refused(
            app,
            &client,
            None,
            "invalid client credentials",
            Undo::Nothing,
        )
        .await?;
        return Err(OAuthError::invalid_client());
    }
    Ok(client)
}

/// Exchanges a code for tokens. A second use of a code is refused and revokes what the first
/// use issued.
pub async fn exchange_code(
    app: &App,
    client: &oidc::Client,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> Result<TokenSet, OAuthError> {
    let signer = keys::signer(app).await?;
    let now = app.clock.now();
    let hash = crate::secret::hash(code);
    // Everything the answer needs is read before the write, so the write holds the database's
    // writer only to spend the code and record the refresh token.
    let mut conn = app.db.read_conn().await?;
    let Some((stored, grant)) = oidc::code(&mut conn, &hash).await? else {
        drop(conn);
        return Err(refusal(app, client, None, "unknown code", Undo::Nothing).await);
    };
    if grant.client_id != client.id {
        drop(conn);
        return Err(refusal(app, client, None, "code of another client", Undo::Nothing).await);
    }
    let why = if stored.used_at.is_some() {
        Some(("code used twice; its tokens revoked", Undo::RevokeGrant))
    } else if stored.expires_at <= now {
        Some(("code expired", Undo::SpendCode(&hash)))
    } else if stored.redirect_uri != redirect_uri {
        let why = "redirect_uri differs from the authorization request";
        Some((why, Undo::SpendCode(&hash)))
    } else if !pkce_matches(verifier, &stored.code_challenge) {
        let why = "PKCE code_verifier does not match the code_challenge";
        Some((why, Undo::SpendCode(&hash)))
    } else if grant.revoked_at.is_some() {
        Some(("sign-in revoked", Undo::Nothing))
    } else {
        None
    };
    if let Some((why, undo)) = why {
        drop(conn);
        return Err(refusal(app, client, Some(&grant), why, undo).await);
    }
    let person = claims::active_person(&mut conn, grant.org_id, grant.user_id).await?;
    drop(conn);
    let Some(person) = person else {
        let why = "person no longer active";
        return Err(refusal(app, client, Some(&grant), why, Undo::RevokeGrant).await);
    };
    let offline = claims::has_scope(&grant.scope, "offline_access");
    let refresh = offline.then(crate::secret::new_token);
    let mut tx = app.db.begin().await?;
    if !oidc::spend_code(&mut tx, &hash, now).await? {
        drop(tx);
        // A concurrent request used the code first, or the sign-in was revoked meanwhile.
        let why = "code used twice or its sign-in revoked; its tokens revoked";
        return Err(refusal(app, client, Some(&grant), why, Undo::RevokeGrant).await);
    }
    if let Some(refresh) = &refresh {
        record_refresh(&mut tx, refresh, grant.id, now).await?;
    }
    tx.commit().await?;
    let nonce = grant.nonce.as_deref();
    Ok(sign(
        app, &signer, client, &grant, &person, nonce, refresh, now,
    )?)
}

/// Exchanges a refresh token for new tokens and a new refresh token. Presenting a refresh token
/// that was already exchanged revokes the whole sign-in (someone holds a copy).
pub async fn refresh(
    app: &App,
    client: &oidc::Client,
    token: &str,
) -> Result<TokenSet, OAuthError> {
    let signer = keys::signer(app).await?;
    let now = app.clock.now();
    let hash = crate::secret::hash(token);
    // Read first, write briefly: as for a code.
    let mut conn = app.db.read_conn().await?;
    let Some(r) = oidc::refresh_token(&mut conn, &hash).await? else {
        drop(conn);
        return Err(refusal(app, client, None, "unknown refresh token", Undo::Nothing).await);
    };
    let grant = r.grant;
    let why = if grant.client_id != client.id {
        Some(("refresh token of another client", Undo::Nothing))
    } else if r.rotated {
        Some(("refresh token reused; sign-in revoked", Undo::RevokeGrant))
    } else if grant.revoked_at.is_some() || r.expires_at <= now {
        Some(("refresh token revoked or expired", Undo::Nothing))
    } else {
        None
    };
    if let Some((why, undo)) = why {
        drop(conn);
        let known = (grant.client_id == client.id).then_some(&grant);
        return Err(refusal(app, client, known, why, undo).await);
    }
    let person = claims::active_person(&mut conn, grant.org_id, grant.user_id).await?;
    drop(conn);
    let Some(person) = person else {
        let why = "person no longer active";
        return Err(refusal(app, client, Some(&grant), why, Undo::RevokeGrant).await);
    };
    let next = crate::secret::new_token();
    let mut tx = app.db.begin().await?;
    if !oidc::spend_refresh(&mut tx, &hash, now).await? {
        drop(tx);
        // Exchanged by a concurrent request (two holders of one token), or revoked meanwhile.
        let why = "refresh token reused or its sign-in revoked; sign-in revoked";
        return Err(refusal(app, client, Some(&grant), why, Undo::RevokeGrant).await);
    }
    record_refresh(&mut tx, &next, grant.id, now).await?;
    tx.commit().await?;
    Ok(sign(
        app,
        &signer,
        client,
        &grant,
        &person,
        None,
        Some(next),
        now,
    )?)
}

/// The claims of a live access token's person: `invalid_token` for a token Rollcall did not
/// sign with ES256, an expired one, or one whose sign-in or person is no longer active.
pub async fn userinfo(app: &App, access_token: &str) -> Result<Map<String, Value>, OAuthError> {
    let invalid = || OAuthError::new("invalid_token", "The access token is not valid.");
    let claims = live_access(app, access_token).await?.ok_or_else(invalid)?;
    let mut conn = app.db.read_conn().await?;
    let person = claims::active_person(&mut conn, claims.org, claims.sub)
        .await?
        .ok_or_else(invalid)?;
    Ok(claims::of(&person, &claims.scope))
}

/// RFC 7662: whether a token (access or refresh) is live, for a client of the same
/// organization; `{"active": false}` for anything else.
pub async fn introspect(
    app: &App,
    client: &oidc::Client,
    token: &str,
) -> Result<Value, OAuthError> {
    if let Some(c) = live_access(app, token).await? {
        if c.org == client.org_id {
            return Ok(json!({
                "active": true, "token_type": "access_token", "scope": c.scope,
                "client_id": c.client_id, "sub": c.sub, "exp": c.exp, "iat": c.iat,
                "iss": c.iss, "aud": c.aud, "jti": c.jti,
            }));
        }
        return Ok(json!({ "active": false }));
    }
    let mut conn = app.db.read_conn().await?;
    let found = oidc::refresh_token(&mut conn, &crate::secret::hash(token)).await?;
    Ok(match found.filter(|r| !r.rotated).map(|r| r.grant) {
        Some(g) if g.revoked_at.is_none() && g.org_id == client.org_id => json!({
            "active": true, "token_type": "refresh_token", "scope": g.scope,
            "client_id": g.client_id, "sub": g.user_id,
        }),
        _ => json!({ "active": false }),
    })
}

/// RFC 7009: revokes the sign-in the client's token belongs to. Unknown tokens and other
/// clients' tokens change nothing (and the answer is the same).
pub async fn revoke(app: &App, client: &oidc::Client, token: &str) -> Result<(), OAuthError> {
    let grant_id = match live_access(app, token).await? {
        Some(c) if c.client_id == client.id.to_string() => Some(c.gid),
        Some(_) => None,
        None => {
            let mut conn = app.db.read_conn().await?;
            oidc::refresh_token(&mut conn, &crate::secret::hash(token))
                .await?
                .map(|r| r.grant)
                .filter(|g| g.client_id == client.id)
                .map(|g| g.id)
        }
    };
    if let Some(id) = grant_id {
        let now = app.clock.now();
        let mut tx = app.db.begin().await?;
        if oidc::revoke_grant(&mut tx, id, now).await? {
            let event =
                client_meta(client).event("oidc.token_revoked", "oidc_client", Some(client.id));
            audit::append(&mut tx, client.org_id, now, &[event]).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}

/// RP-initiated logout: the client an ID token hint names (signed by Rollcall, expired or not)
/// and where it may send the person afterwards (a registered address only).
pub async fn end_session_target(
    app: &App,
    id_token_hint: Option<&str>,
    client_id: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
) -> Result<Option<String>, AppError> {
    let hinted: Option<Map<String, Value>> = match id_token_hint {
        Some(t) => keys::verify(app, t, true).await?,
        None => None,
    };
    let from_hint = hinted
        .as_ref()
        .and_then(|c| c.get("aud"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(id) = from_hint
        .or(client_id.map(str::to_string))
        .and_then(|s| Uuid::parse_str(&s).ok())
    else {
        return Ok(None);
    };
    let mut conn = app.db.read_conn().await?;
    let Some(client) = oidc::client(&mut conn, id).await? else {
        return Ok(None);
    };
    Ok(post_logout_redirect_uri
        .filter(|u| client.logout_uris.iter().any(|k| k == u))
        .map(str::to_string))
}

/// Ends every sign-in of a deactivated person (called in the deactivation's transaction).
pub(crate) async fn revoke_for_user(
    conn: &mut Conn,
    user_id: Uuid,
    now: i64,
) -> Result<u64, AppError> {
    Ok(oidc::revoke_grants_of_user(conn, user_id, now).await?)
}

/// A verified access token whose sign-in is still live.
async fn live_access(app: &App, token: &str) -> Result<Option<AccessClaims>, AppError> {
    let Some(claims) = keys::verify::<AccessClaims>(app, token, false).await? else {
        return Ok(None);
    };
    let mut conn = app.db.read_conn().await?;
    Ok(oidc::grant_live(&mut conn, claims.gid)
        .await?
        .then_some(claims))
}

/// Records the refresh token a token answer hands out.
async fn record_refresh(
    tx: &mut Conn,
    refresh: &str,
    grant_id: Uuid,
    now: i64,
) -> Result<(), AppError> {
    let hash = crate::secret::hash(refresh);
    oidc::insert_refresh(tx, &hash, grant_id, now, now + REFRESH_MICROS).await?;
    Ok(())
}

/// The signed access and ID tokens of an answer whose refresh token is already recorded.
#[allow(clippy::too_many_arguments)]
fn sign(
    app: &App,
    signer: &keys::KeyRing,
    client: &oidc::Client,
    grant: &oidc::Grant,
    person: &claims::Person,
    nonce: Option<&str>,
    refresh: Option<String>,
    now: i64,
) -> Result<TokenSet, AppError> {
    let access = AccessClaims {
        iss: issuer(app),
        sub: grant.user_id,
        aud: client.id.to_string(),
        client_id: client.id.to_string(),
        exp: (now + access_token_micros()) / SECOND,
        iat: now / SECOND,
        jti: crate::secret::new_token()[..24].to_string(),
        scope: grant.scope.clone(),
        gid: grant.id,
        org: grant.org_id,
    };
    let mut id = claims::of(person, &grant.scope);
    id.insert("iss".into(), json!(access.iss));
    id.insert("aud".into(), json!(access.aud));
    id.insert("exp".into(), json!((now + id_token_micros()) / SECOND));
    id.insert("iat".into(), json!(access.iat));
    id.insert("auth_time".into(), json!(grant.auth_time / SECOND));
    if let Some(n) = nonce {
        id.insert("nonce".into(), json!(n));
    }
    Ok(TokenSet {
        access_token: signer.sign(now, "at+jwt", &access)?,
        id_token: signer.sign(now, "JWT", &id)?,
        token_type: "Bearer",
        expires_in: access_token_micros() / SECOND,
        refresh_token: refresh,
        scope: grant.scope.clone(),
    })
}

/// RFC 7636 S256: BASE64URL(SHA-256(verifier)) equals the challenge.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    use base64::Engine as _;
    use sha2::{Digest, Sha256};
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier));
    valid && crate::secret::same(&computed, challenge)
}

fn client_meta(client: &oidc::Client) -> Meta {
    Meta::system(&format!("Sign-in app “{}”", client.name))
}

/// What a refused token request changes besides being audited.
enum Undo<'a> {
    Nothing,
    /// A code presented with a wrong verifier or address is spent: it is never tried twice.
    SpendCode(&'a str),
    /// The sign-in is revoked: a reused code or refresh token means someone else holds a copy.
    RevokeGrant,
}

/// Records a refused token request in the client's organization, with what it undoes.
async fn refused(
    app: &App,
    client: &oidc::Client,
    grant: Option<&oidc::Grant>,
    reason: &str,
    undo: Undo<'_>,
) -> Result<(), AppError> {
    let now = app.clock.now();
    let event = client_meta(client).change(
        "oidc.token_refused",
        "oidc_client",
        Some(client.id),
        None::<&()>,
        Some(&json!({ "reason": reason, "user": grant.map(|g| g.user_id) })),
    );
    let mut tx = app.db.begin().await?;
    match (undo, grant) {
        (Undo::SpendCode(hash), _) => {
            oidc::spend_code(&mut tx, hash, now).await?;
        }
        (Undo::RevokeGrant, Some(g)) => {
            oidc::revoke_grant(&mut tx, g.id, now).await?;
        }
        _ => {}
    }
    audit::append(&mut tx, client.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(())
}

/// Audits the refusal and answers `invalid_grant` with its reason.
async fn refusal(
    app: &App,
    client: &oidc::Client,
    grant: Option<&oidc::Grant>,
    reason: &str,
    undo: Undo<'_>,
) -> OAuthError {
    if let Err(e) = refused(app, client, grant, reason, undo).await {
        return OAuthError::server(e);
    }
    OAuthError::invalid_grant(format!("The grant was refused: {reason}."))
}
