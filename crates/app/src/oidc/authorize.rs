//! The authorization endpoint's decisions: which client asks and where the answer goes (checked
//! before anything is redirected), then a single-use code for the signed-in person.

use rollcall_store::{audit, oidc};
use serde::Deserialize;
use uuid::Uuid;

use super::claims::has_scope;
use super::{CODE_MICROS, OAuthError};
use crate::audit::Meta;
use crate::{App, AppError, Principal};

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeRequest {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub redirect_uri: String,
    #[serde(default)]
    pub response_type: String,
    #[serde(default)]
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
}

/// The client and its registered redirect URI (exact match). Errors here are shown to the
/// person, never sent to an address Rollcall cannot trust.
pub async fn client_for(app: &App, req: &AuthorizeRequest) -> Result<oidc::Client, AppError> {
    let unknown = || {
        AppError::NotFound(
            "This app is not registered with Rollcall. Ask your administrator to add it under \
             Settings → Sign-in apps."
                .into(),
        )
    };
    let id = Uuid::parse_str(req.client_id.trim()).map_err(|_| unknown())?;
    let mut conn = app.db.read_conn().await?;
    let client = oidc::client(&mut conn, id).await?.ok_or_else(unknown)?;
    if !client.redirect_uris.contains(&req.redirect_uri) {
        return Err(AppError::Forbidden(
            "This app asked to return to an address it has not registered with Rollcall, so the \
             sign-in stops here. Ask your administrator to check the app's redirect URI."
                .into(),
        ));
    }
    Ok(client)
}

/// Checks what can be checked before anyone signs in (the answer goes back to the app).
pub fn check_request(req: &AuthorizeRequest) -> Result<(), OAuthError> {
    if req.response_type != "code" {
        return Err(OAuthError::new(
            "unsupported_response_type",
            "Only response_type=code is supported.",
        ));
    }
    if !has_scope(&req.scope, "openid") {
        return Err(OAuthError::new(
            "invalid_scope",
            "The scope must include openid.",
        ));
    }
    let challenge = req.code_challenge.as_deref().unwrap_or_default();
    if req.code_challenge_method.as_deref() != Some("S256")
        || challenge.len() < 43
        || challenge.len() > 128
    {
        return Err(OAuthError::invalid_request(
            "PKCE is required: send code_challenge (43 to 128 characters) with \
             code_challenge_method=S256.",
        ));
    }
    Ok(())
}

/// The scopes granted: those asked for that the client may have.
fn granted_scope(client: &oidc::Client, asked: &str) -> String {
    asked
        .split(' ')
        .filter(|s| client.scopes.iter().any(|k| k == s))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Issues a single-use code for `who` (signed in to Rollcall) and audits the sign-in; a person
/// of another organization is refused (and that is audited in the client's organization).
pub async fn approve(
    app: &App,
    who: &Principal,
    client: &oidc::Client,
    req: &AuthorizeRequest,
    meta: &Meta,
) -> Result<String, OAuthError> {
    check_request(req)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    if who.org_id != client.org_id {
        let event = Meta {
            actor_id: None,
            ..meta.clone()
        }
        .change(
            "oidc.sign_in_refused",
            "oidc_client",
            Some(client.id),
            None::<&()>,
            Some(&serde_json::json!({ "reason": "another organization's person" })),
        );
        audit::append(&mut tx, client.org_id, now, &[event]).await?;
        tx.commit().await?;
        return Err(OAuthError::new(
            "access_denied",
            "This app belongs to another organization.",
        ));
    }
    let grant = oidc::Grant {
        id: rollcall_store::new_id(),
        org_id: client.org_id,
        client_id: client.id,
        user_id: who.user_id,
        scope: granted_scope(client, &req.scope),
        nonce: req.nonce.clone().filter(|n| !n.is_empty()),
        auth_time: now,
        created_at: now,
        revoked_at: None,
    };
    let code = crate::secret::new_token();
    oidc::insert_grant(&mut tx, &grant).await?;
    oidc::insert_code(
        &mut tx,
        &oidc::Code {
            code_hash: crate::secret::hash(&code),
            grant_id: grant.id,
            redirect_uri: req.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone().unwrap_or_default(),
            expires_at: now + CODE_MICROS,
            used_at: None,
        },
    )
    .await?;
    let event = meta.change(
        "oidc.signed_in",
        "oidc_client",
        Some(client.id),
        None::<&()>,
        Some(&serde_json::json!({ "client": client.name, "scope": grant.scope })),
    );
    audit::append(&mut tx, client.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(code)
}
