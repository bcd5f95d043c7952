//! API tokens. A personal token acts as the person who made it, with their access, and ends
//! when they are deactivated; a service account belongs to the organization, acts with every
//! location and is audited as itself. Secrets are shown once, stored hashed, and start with a
//! prefix secret scanners can match.

use std::collections::BTreeSet;

use rollcall_domain::{Capability, Scope, TokenOwner, ValueError};
use rollcall_store::api_tokens::{self, ApiToken};
use rollcall_store::{Conn, audit, new_id};
use uuid::Uuid;

use crate::access::{OrgScope, parse_policy};
use crate::audit::Meta;
use crate::{App, AppError, Principal, secret};

/// Prefixes of new secrets, by owner (tokens made before them start with `rc_` and still work).
pub fn prefix(owner: TokenOwner) -> &'static str {
    match owner {
        TokenOwner::Person => "rollcall_pat_",
        TokenOwner::Organization => "rollcall_sa_",
    }
}

/// Longest lifetime a token may be given, in days.
const MAX_DAYS: u32 = 3650;

/// How often a token's last use is written down, in microseconds (not on every call).
const LAST_USE_RESOLUTION: i64 = 60 * 1_000_000;

pub fn parse_scopes(input: &str) -> Result<BTreeSet<Scope>, ValueError> {
    let scopes = input
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(Scope::parse)
        .collect::<Result<BTreeSet<Scope>, ValueError>>()?;
    if scopes.is_empty() {
        return Err(ValueError::new(
            "scopes",
            "scopes_missing",
            "Give the token at least one scope: users:read, users:write, tokens:write or scim.",
        ));
    }
    Ok(scopes)
}

/// A token as it is asked for.
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// Not blank (the first 100 characters are kept).
    #[schema(schema_with = crate::schema::not_blank)]
    pub name: String,
    /// Separated by commas or spaces, e.g. `users:read users:write`.
    #[schema(schema_with = crate::schema::scopes)]
    pub scopes: String,
    /// `organization` (a service account) or `person` (acts as its maker).
    #[schema(schema_with = crate::schema::owner)]
    pub owner: String,
    /// Days until the token stops working, 1 to 3650; absent: it does not expire.
    #[serde(default, deserialize_with = "crate::schema::whole")]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
}

/// A token as lists show it (never its secret: only a hash is kept).
#[derive(Debug, Clone, serde::Serialize, PartialEq, utoipa::ToSchema)]
pub struct TokenView {
    pub id: Uuid,
    pub name: String,
    pub owner: TokenOwner,
    /// The person a personal token acts as.
    pub user_id: Option<Uuid>,
    pub scopes: Vec<String>,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// active, expired or revoked.
    pub state: &'static str,
}

impl TokenView {
    pub fn of(t: &ApiToken, now: i64) -> TokenView {
        let time = |t: Option<i64>| t.map(crate::clock::rfc3339);
        let state = if t.revoked_at.is_some() {
            "revoked"
        } else if t.expires_at.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        };
        TokenView {
            id: t.id,
            name: t.name.clone(),
            owner: t.owner,
            user_id: t.user_id,
            scopes: t.scopes.split(' ').map(str::to_string).collect(),
            created_by: t.created_by.clone(),
            created_at: crate::clock::rfc3339(t.created_at),
            expires_at: time(t.expires_at),
            last_used_at: time(t.last_used_at),
            revoked_at: time(t.revoked_at),
            state,
        }
    }
}

/// A new token and its secret, which is shown this once.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Issued {
    pub token: TokenView,
    pub secret: String,
}

/// Makes a token. A service account takes a company admin; a token never gets a scope the
/// calling token lacks.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn create(
    app: &App,
    who: &Principal,
    req: &NewToken,
    meta: &Meta,
) -> Result<Issued, AppError> {
    who.require(Capability::ManageTokens)?;
    let owner = TokenOwner::parse(&req.owner)?;
    if owner == TokenOwner::Organization {
        who.require(Capability::ManageServiceAccounts)?;
    }
    let (name, scopes, expires_in) = checked(who, req, owner)?;
    let raw = format!("{}{}", prefix(owner), secret::new_token());
    let now = app.clock.now();
    let token = ApiToken {
        id: new_id(),
        org_id: who.org_id,
        user_id: (owner == TokenOwner::Person).then_some(who.user_id),
        owner,
        created_by: who.label.clone(),
        name,
        token_hash: secret::hash(&raw),
        scopes: scopes.iter().map(|s| s.key()).collect::<Vec<_>>().join(" "),
        created_at: now,
        expires_at: expires_in.map(|days| now + i64::from(days) * 86_400 * 1_000_000),
        last_used_at: None,
        revoked_at: None,
    };
    let mut tx = app.db.begin().await?;
    api_tokens::insert(&mut tx, &token).await?;
    let view = TokenView::of(&token, now);
    let event = meta.change(
        "api_token.created",
        "api_token",
        Some(token.id),
        None::<&()>,
        Some(&view),
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(Issued {
        token: view,
        secret: raw,
    })
}

/// The request's name, scopes and lifetime, checked.
fn checked(
    who: &Principal,
    req: &NewToken,
    owner: TokenOwner,
) -> Result<(String, BTreeSet<Scope>, Option<u32>), AppError> {
    let mut errors = Vec::new();
    let name: String = req.name.trim().chars().take(100).collect();
    if name.is_empty() {
        errors.push(ValueError::new(
            "name",
            "name_missing",
            "Name the token after the integration that uses it, e.g. “EHR sync”.",
        ));
    }
    let scopes = parse_scopes(&req.scopes).map_err(|e| errors.push(e)).ok();
    if let (Some(scopes), Some(mine)) = (&scopes, &who.scopes)
        && let Some(extra) = scopes.difference(mine).next()
    {
        errors.push(ValueError::new(
            "scopes",
            "scope_not_held",
            format!(
                "This token cannot give the scope {} because it does not have it itself.",
                extra.key()
            ),
        ));
    }
    if let Some(days) = req.expires_in_days
        && !(1..=MAX_DAYS).contains(&days)
    {
        errors.push(ValueError::new(
            "expires_in_days",
            "expiry_out_of_range",
            format!(
                "A token lives 1 to {MAX_DAYS} days, or leave expires_in_days out for no expiry."
            ),
        ));
    }
    if owner == TokenOwner::Person && who.user_ref().is_none() {
        errors.push(ValueError::new(
            "owner",
            "owner_person_unavailable",
            "Only a signed-in person can make a personal token; make a service account (owner organization) instead.",
        ));
    }
    match AppError::of_fields(errors) {
        Some(e) => Err(e),
        None => Ok((name, scopes.unwrap_or_default(), req.expires_in_days)),
    }
}

/// The tokens this principal manages, newest first: every token for a company admin, one's own
/// personal tokens otherwise.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn list(app: &App, who: &Principal) -> Result<Vec<TokenView>, AppError> {
    who.require(Capability::ManageTokens)?;
    let now = app.clock.now();
    let all = api_tokens::list(&mut *app.db.read_conn().await?, who.org_id).await?;
    Ok(all
        .iter()
        .filter(|t| manages(who, t))
        .map(|t| TokenView::of(t, now))
        .collect())
}

/// Whether `who` may see, rotate and revoke the token.
fn manages(who: &Principal, t: &ApiToken) -> bool {
    who.can(Capability::ManageServiceAccounts)
        || (t.owner == TokenOwner::Person && t.user_id == who.user_ref())
}

/// A token this principal manages (the same answer whether it exists elsewhere or not).
async fn managed(conn: &mut Conn, who: &Principal, id: Uuid) -> Result<ApiToken, AppError> {
    who.require(Capability::ManageTokens)?;
    api_tokens::get(conn, who.org_id, id)
        .await?
        .filter(|t| manages(who, t))
        .ok_or_else(|| AppError::not_found("API token"))
}

/// Stops a token at once. Revoking a revoked token changes nothing.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn revoke(
    app: &App,
    who: &Principal,
    id: Uuid,
    meta: &Meta,
) -> Result<TokenView, AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let token = managed(&mut tx, who, id).await?;
    if api_tokens::revoke(&mut tx, who.org_id, id, now).await? > 0 {
        let event = meta.change(
            "api_token.revoked",
            "api_token",
            Some(id),
            None::<&()>,
            Some(&token.name),
        );
        audit::append(&mut tx, who.org_id, now, &[event]).await?;
    }
    let after = api_tokens::get(&mut tx, who.org_id, id)
        .await?
        .unwrap_or(token);
    tx.commit().await?;
    Ok(TokenView::of(&after, now))
}

/// Gives a token a new secret, shown this once; the old secret stops working at once.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn rotate(app: &App, who: &Principal, id: Uuid, meta: &Meta) -> Result<Issued, AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let token = managed(&mut tx, who, id).await?;
    let raw = format!("{}{}", prefix(token.owner), secret::new_token());
    if api_tokens::set_hash(&mut tx, who.org_id, id, &secret::hash(&raw)).await? == 0 {
        return Err(AppError::Conflict(
            "The token is revoked; make a new one instead.".into(),
        ));
    }
    let event = meta.change(
        "api_token.rotated",
        "api_token",
        Some(id),
        None::<&()>,
        Some(&token.name),
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(Issued {
        token: TokenView::of(&token, now),
        secret: raw,
    })
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
    let principal = match (token.owner, token.user_id) {
        (TokenOwner::Organization, _) => {
            let label = format!("Service account “{}”", token.name);
            Principal::operator_on(&mut conn, token.org_id, &label).await?
        }
        (TokenOwner::Person, Some(user_id)) => {
            let org = rollcall_store::orgs::get(&mut conn, token.org_id)
                .await?
                .ok_or_else(denied)?;
            let scope = OrgScope {
                policy: parse_policy(&org.policy)?,
                org,
            };
            let mut p = Principal::load(&mut conn, &scope, user_id)
                .await?
                .ok_or_else(denied)?;
            p.label = format!("{} with API token “{}”", p.label, token.name);
            p
        }
        (TokenOwner::Person, None) => return Err(denied()),
    };
    drop(conn);
    if token
        .last_used_at
        .is_none_or(|t| t < now - LAST_USE_RESOLUTION)
    {
        let mut conn = app.db.write_conn().await?;
        api_tokens::touch(&mut conn, token.id, now, LAST_USE_RESOLUTION).await?;
    }
    // A stored scope this version does not know grants nothing.
    let scopes = token
        .scopes
        .split(' ')
        .filter_map(|s| Scope::parse(s).ok())
        .collect();
    Ok(principal.with_token(token.id, scopes))
}
