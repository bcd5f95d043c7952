//! What the identity provider asked lately: the last SCIM requests of an organization and how
//! each ended, kept for the Provisioning page (a company admin sees at a glance whether Entra ID
//! or Okta reaches Rollcall, and why a request was refused). The audit trail keeps the changes.

use rollcall_domain::Capability;
use rollcall_store::scim::{self, Request};
use serde::Serialize;
use uuid::Uuid;

use crate::audit::Meta;
use crate::clock::local;
use crate::identity::api_tokens::{self, Issued, NewToken, TokenView};
use crate::{App, AppError, Principal};

/// Longest path and query kept; a longer one is cut.
const MAX_PATH_CHARS: usize = 500;

/// A request as the SCIM server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub org_id: Uuid,
    pub token_id: Option<Uuid>,
    pub method: String,
    /// Under `/scim/v2`, with the query.
    pub path: String,
    pub status: u16,
    /// The SCIM error type and detail of a refusal; empty on success.
    pub outcome: String,
}

/// Keeps a request (and forgets the organization's older ones beyond the last 100).
pub async fn record(app: &App, seen: Seen) -> Result<(), AppError> {
    let request = Request {
        id: rollcall_store::new_id(),
        token_id: seen.token_id,
        token_name: None,
        at: app.clock.now(),
        method: seen.method,
        path: seen.path.chars().take(MAX_PATH_CHARS).collect(),
        status: i64::from(seen.status),
        outcome: seen.outcome,
    };
    let mut tx = app.db.begin().await?;
    scim::record_request(&mut tx, seen.org_id, &request).await?;
    tx.commit().await?;
    Ok(())
}

/// One request on the Provisioning page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestView {
    /// In the organization's zone.
    pub at: String,
    pub token: String,
    pub method: String,
    pub path: String,
    pub status: i64,
    /// Whether the request did what it asked.
    pub ok: bool,
    pub outcome: String,
}

/// The organization's last SCIM requests, newest first.
pub async fn recent(app: &App, who: &Principal) -> Result<Vec<RequestView>, AppError> {
    who.require(Capability::ManageSettings)?;
    let kept = scim::recent_requests(&mut *app.db.read_conn().await?, who.org_id).await?;
    Ok(kept
        .into_iter()
        .map(|r| RequestView {
            at: local(r.at, &who.time_zone),
            token: r
                .token_name
                .unwrap_or_else(|| "a token since deleted".into()),
            ok: r.status < 400,
            method: r.method,
            path: r.path,
            status: r.status,
            outcome: r.outcome,
        })
        .collect())
}

/// The organization's tokens that can reach SCIM.
pub async fn scim_tokens(app: &App, who: &Principal) -> Result<Vec<TokenView>, AppError> {
    who.require(Capability::ManageServiceAccounts)?;
    Ok(api_tokens::list(app, who)
        .await?
        .into_iter()
        .filter(|t| t.scopes.iter().any(|s| s == "scim"))
        .collect())
}

/// Makes a service account with the `scim` scope alone: what an identity provider needs, no
/// more. The same token creation as Settings → API tokens.
pub async fn create_scim_token(
    app: &App,
    who: &Principal,
    name: &str,
    expires_in_days: Option<u32>,
    meta: &Meta,
) -> Result<Issued, AppError> {
    let req = NewToken {
        name: name.to_string(),
        scopes: "scim".into(),
        owner: "organization".into(),
        expires_in_days,
    };
    api_tokens::create(app, who, &req, meta).await
}
