//! What the identity provider asked lately: the last SCIM requests of an organization and how
//! each ended, kept for the Provisioning page (a company admin sees at a glance whether Entra ID
//! or Okta reaches Rollcall, and why a request was refused). The audit trail keeps the changes.

use std::collections::BTreeMap;

use rollcall_domain::Capability;
use rollcall_store::scim::{self, Request};
use serde::Serialize;
use uuid::Uuid;

use crate::audit::Meta;
use crate::clock::local;
use crate::coalesce::Coalescer;
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

/// Keeps a request (and forgets the organization's older ones beyond the last 100). Requests
/// that end meanwhile are kept together, in one transaction.
pub async fn record(app: &App, seen: Seen) -> Result<(), AppError> {
    app.groups
        .scim_requests
        .run(app.clone(), (), seen, record_group)
        .await
}

/// SCIM requests, of every organization, kept together.
pub(crate) type RequestGroups = Coalescer<(), Seen, ()>;

/// The most requests kept in one transaction.
pub(crate) const REQUESTS_PER_GROUP: usize = 100;

async fn record_group(app: App, group: Vec<Seen>) -> Vec<Result<(), AppError>> {
    let n = group.len();
    let now = app.clock.now();
    let requests: Vec<(Uuid, Request)> = group
        .into_iter()
        .map(|seen| {
            let request = Request {
                id: rollcall_store::new_id(),
                token_id: seen.token_id,
                token_name: None,
                at: now,
                method: seen.method,
                path: seen.path.chars().take(MAX_PATH_CHARS).collect(),
                status: i64::from(seen.status),
                outcome: seen.outcome,
            };
            (seen.org_id, request)
        })
        .collect();
    let kept = keep(&app, &requests).await.map_err(|e| e.to_string());
    (0..n)
        .map(|_| kept.clone().map_err(AppError::Internal))
        .collect()
}

async fn keep(app: &App, requests: &[(Uuid, Request)]) -> Result<(), AppError> {
    let mut tx = app.db.begin().await?;
    scim::record_requests(&mut tx, requests).await?;
    tx.commit().await?;
    Ok(())
}

/// One request on the Provisioning page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RequestView {
    /// In the organization's zone.
    pub at: String,
    /// RFC 3339, UTC.
    pub at_utc: String,
    pub token: String,
    pub method: String,
    /// The path and query, with a person's or group's id written `…` (see `about`).
    pub path: String,
    /// The person or group the path names, by name.
    pub about: Option<String>,
    pub status: i64,
    /// Whether the request did what it asked.
    pub ok: bool,
    pub outcome: String,
}

/// The organization's last SCIM requests, newest first.
pub async fn recent(app: &App, who: &Principal) -> Result<Vec<RequestView>, AppError> {
    who.require(Capability::ManageSettings)?;
    let conn = &mut *app.db.read_conn().await?;
    let kept = scim::recent_requests(conn, who.org_id).await?;
    let names = names_in(conn, who.org_id, &kept).await?;
    Ok(kept
        .into_iter()
        .map(|r| {
            let (path, about) = match resource_id(&r.path) {
                Some(id) => (
                    r.path.replacen(&id.to_string(), "…", 1),
                    Some(
                        names
                            .get(&id)
                            .cloned()
                            .unwrap_or_else(|| "not found".into()),
                    ),
                ),
                None => (r.path, None),
            };
            RequestView {
                at: local(r.at, &who.time_zone),
                at_utc: crate::clock::rfc3339(r.at),
                token: r
                    .token_name
                    .unwrap_or_else(|| "a token since deleted".into()),
                ok: r.status < 400,
                method: r.method,
                path,
                about,
                status: r.status,
                outcome: r.outcome,
            }
        })
        .collect())
}

/// The id of the person or group a path names (`/Users/{id}`, `/Groups/{id}`).
fn resource_id(path: &str) -> Option<Uuid> {
    let path = path.split('?').next().unwrap_or_default();
    let rest = path
        .strip_prefix("/Users/")
        .or_else(|| path.strip_prefix("/Groups/"))?;
    rest.split('/').next()?.parse().ok()
}

/// The names of the people and groups the requests name.
async fn names_in(
    conn: &mut rollcall_store::Conn,
    org_id: Uuid,
    kept: &[Request],
) -> Result<BTreeMap<Uuid, String>, AppError> {
    let ids: Vec<Uuid> = kept.iter().filter_map(|r| resource_id(&r.path)).collect();
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut names = rollcall_store::users::display_names(conn, org_id, &ids).await?;
    for g in scim::groups(conn, org_id).await? {
        names.insert(g.id, g.display_name);
    }
    Ok(names)
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
