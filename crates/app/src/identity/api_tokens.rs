//! Scoped API tokens: created by an admin for an integration, shown once, stored hashed.

use std::collections::BTreeSet;

use rollcall_domain::{Capability, Scope, ValueError};
use rollcall_store::api_tokens::{self, ApiToken};
use rollcall_store::{audit, new_id};

use crate::access::parse_policy;
use crate::audit::Meta;
use crate::{App, AppError, Principal, secret};

/// Tokens start with this prefix so secret scanners and people recognise them.
pub const PREFIX: &str = "rc_";

pub fn parse_scopes(input: &str) -> Result<BTreeSet<Scope>, ValueError> {
    let scopes = input
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(Scope::parse)
        .collect::<Result<BTreeSet<Scope>, ValueError>>()?;
    if scopes.is_empty() {
        return Err(ValueError::new(
            "scopes",
            "scopes_missing",
            "Give the token at least one scope: users:read or users:write.",
        ));
    }
    Ok(scopes)
}

/// Creates a token acting as `who` with at most `scopes`; returns the raw token (shown once).
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn create(
    app: &App,
    who: &Principal,
    name: &str,
    scopes: &str,
    meta: &Meta,
) -> Result<(ApiToken, String), AppError> {
    who.require(Capability::ManageTokens)?;
    let scopes = parse_scopes(scopes)?;
    let raw = format!("{PREFIX}{}", secret::new_token());
    let now = app.clock.now();
    let token = ApiToken {
        id: new_id(),
        org_id: who.org_id,
        user_id: who.user_id,
        name: name.trim().chars().take(100).collect(),
        token_hash: secret::hash(&raw),
        scopes: scopes.iter().map(|s| s.key()).collect::<Vec<_>>().join(" "),
        created_at: now,
        expires_at: None,
        revoked_at: None,
    };
    let mut tx = app.db.begin().await?;
    api_tokens::insert(&mut tx, &token).await?;
    audit::append(
        &mut tx,
        who.org_id,
        now,
        &[meta.change(
            "api_token.created",
            "api_token",
            Some(token.id),
            None::<&()>,
            Some(&(&token.name, &token.scopes)),
        )],
    )
    .await?;
    tx.commit().await?;
    Ok((token, raw))
}

/// The organization's tokens, newest first (never their secrets: only hashes are kept).
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn list(app: &App, who: &Principal) -> Result<Vec<ApiToken>, AppError> {
    who.require(Capability::ManageTokens)?;
    Ok(api_tokens::list(&mut *app.db.read_conn().await?, who.org_id).await?)
}

/// The principal a bearer token acts as, or an authentication error that says nothing more.
pub async fn authenticate(app: &App, raw: &str) -> Result<Principal, AppError> {
    let denied =
        || AppError::Unauthenticated("The API token is missing, revoked or not valid.".into());
    let mut conn = app.db.read_conn().await?;
    let token = api_tokens::by_hash(&mut conn, &secret::hash(raw.trim()))
        .await?
        .ok_or_else(denied)?;
    let now = app.clock.now();
    if token.revoked_at.is_some() || token.expires_at.is_some_and(|t| t <= now) {
        return Err(denied());
    }
    let org = rollcall_store::orgs::get(&mut conn, token.org_id)
        .await?
        .ok_or_else(denied)?;
    let principal = Principal::load(
        &mut conn,
        &parse_policy(&org.policy)?,
        token.org_id,
        token.user_id,
    )
    .await?
    .ok_or_else(denied)?;
    // A stored scope this version does not know grants nothing.
    Ok(principal.with_token(
        token.id,
        token
            .scopes
            .split(' ')
            .filter_map(|s| Scope::parse(s).ok())
            .collect(),
    ))
}
