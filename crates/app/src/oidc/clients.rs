//! The organization's OpenID Connect clients (its scheduling, EMR and billing apps), managed by
//! a company admin. A confidential client's secret is shown once and stored hashed.

use rollcall_domain::{Capability, ValueError};
use rollcall_store::{audit, oidc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::Meta;
use crate::error::FieldErrors;
use crate::{App, AppError, Principal};

/// Scopes a client may be allowed; `openid` is always among them.
pub const SCOPES: [&str; 5] = ["openid", "profile", "email", "rollcall", "offline_access"];
pub const SECRET_PREFIX: &str = "rollcall_oidc_";

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewClient {
    /// What staff see on the sign-in page, e.g. “Scheduling” (1 to 100 characters, one line).
    #[schema(schema_with = crate::schema::app_name)]
    pub name: String,
    /// Where sign-ins return to; compared exactly.
    #[schema(schema_with = crate::schema::redirect_uris)]
    pub redirect_uris: Vec<String>,
    /// Where the app may send people after signing out; compared exactly.
    #[serde(default)]
    #[schema(schema_with = crate::schema::logout_uris)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `true`: the app keeps a secret (a server); `false`: a public app that proves itself with
    /// PKCE alone.
    pub confidential: bool,
    /// Of `openid`, `profile`, `email`, `rollcall`, `offline_access`; `openid` is added.
    #[serde(default)]
    #[schema(schema_with = crate::schema::oidc_scopes)]
    pub scopes: Vec<String>,
}

/// Changes to a sign-in app: what is absent stays as it is. Whether it is confidential or public
/// stays as it was registered.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientChange {
    #[schema(schema_with = crate::schema::app_name_or_null)]
    pub name: Option<String>,
    /// Replaces every redirect URI; at least one.
    #[schema(schema_with = crate::schema::redirect_uris_or_null)]
    pub redirect_uris: Option<Vec<String>>,
    /// Replaces every address to return to after signing out.
    #[schema(schema_with = crate::schema::logout_uris_or_null)]
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// Replaces the scopes; `openid` is added.
    #[schema(schema_with = crate::schema::oidc_scopes_or_null)]
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClientView {
    /// The `client_id` the app is configured with.
    pub id: Uuid,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub confidential: bool,
    pub scopes: Vec<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CreatedClient {
    #[serde(flatten)]
    pub client: ClientView,
    /// Shown only now; `null` for a public client.
    pub client_secret: Option<String>,
}

pub fn view(c: &oidc::Client) -> ClientView {
    ClientView {
        id: c.id,
        name: c.name.clone(),
        redirect_uris: c.redirect_uris.clone(),
        post_logout_redirect_uris: c.logout_uris.clone(),
        confidential: c.secret_hash.is_some(),
        scopes: c.scopes.clone(),
        created_at: crate::clock::rfc3339(c.created_at),
    }
}

pub async fn list(app: &App, who: &Principal) -> Result<Vec<ClientView>, AppError> {
    who.require(Capability::ManageSettings)?;
    let mut conn = app.db.read_conn().await?;
    Ok(oidc::clients(&mut conn, who.org_id)
        .await?
        .iter()
        .map(view)
        .collect())
}

pub async fn create(
    app: &App,
    who: &Principal,
    new: &NewClient,
    meta: &Meta,
) -> Result<CreatedClient, AppError> {
    who.require(Capability::ManageSettings)?;
    let checked = check(new)?;
    let now = app.clock.now();
    let secret = new
        .confidential
        .then(|| format!("{SECRET_PREFIX}{}", crate::secret::new_token()));
    let client = oidc::Client {
        id: rollcall_store::new_id(),
        org_id: who.org_id,
        name: checked.name,
        secret_hash: secret.as_deref().map(crate::secret::hash),
        redirect_uris: checked.redirect_uris,
        logout_uris: checked.logout_uris,
        scopes: checked.scopes,
        created_at: now,
    };
    let shown = view(&client);
    let mut tx = app.db.begin().await?;
    oidc::insert_client(&mut tx, &client).await?;
    let event = meta.change(
        "oidc_client.created",
        "oidc_client",
        Some(client.id),
        None::<&()>,
        Some(&shown),
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(CreatedClient {
        client: shown,
        client_secret: secret,
    })
}

/// Deletes the client; every sign-in made through it ends (its tokens stop working).
pub async fn delete(app: &App, who: &Principal, id: Uuid, meta: &Meta) -> Result<(), AppError> {
    who.require(Capability::ManageSettings)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let client = oidc::client(&mut tx, id)
        .await?
        .filter(|c| c.org_id == who.org_id)
        .ok_or_else(|| AppError::not_found("sign-in client"))?;
    oidc::delete_client(&mut tx, who.org_id, id, now).await?;
    let event = meta.change(
        "oidc_client.deleted",
        "oidc_client",
        Some(id),
        Some(&view(&client)),
        None::<&()>,
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(())
}

/// The client `id` of the organization, or not found.
async fn client_in(
    conn: &mut rollcall_store::Conn,
    who: &Principal,
    id: Uuid,
) -> Result<oidc::Client, AppError> {
    oidc::client(conn, id)
        .await?
        .filter(|c| c.org_id == who.org_id)
        .ok_or_else(|| AppError::not_found("sign-in client"))
}

/// Changes an app's name, redirect URIs, post-logout URIs or scopes, checked as at
/// registration. Sign-ins already made stay valid.
pub async fn update(
    app: &App,
    who: &Principal,
    id: Uuid,
    change: &ClientChange,
    meta: &Meta,
) -> Result<ClientView, AppError> {
    who.require(Capability::ManageSettings)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let before = client_in(&mut tx, who, id).await?;
    let merged = NewClient {
        name: change.name.clone().unwrap_or_else(|| before.name.clone()),
        redirect_uris: change
            .redirect_uris
            .clone()
            .unwrap_or_else(|| before.redirect_uris.clone()),
        post_logout_redirect_uris: change
            .post_logout_redirect_uris
            .clone()
            .unwrap_or_else(|| before.logout_uris.clone()),
        confidential: before.secret_hash.is_some(),
        scopes: change
            .scopes
            .clone()
            .unwrap_or_else(|| before.scopes.clone()),
    };
    let checked = check(&merged)?;
    let after = oidc::Client {
        name: checked.name,
        redirect_uris: checked.redirect_uris,
        logout_uris: checked.logout_uris,
        scopes: checked.scopes,
        ..before.clone()
    };
    oidc::update_client(&mut tx, &after).await?;
    let (was, is) = (view(&before), view(&after));
    let event = meta.change(
        "oidc_client.changed",
        "oidc_client",
        Some(id),
        Some(&was),
        Some(&is),
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(is)
}

/// Gives a confidential app a new secret, shown this once. The old secret stops working at
/// once; sign-ins already made (and their refresh tokens) stay valid.
pub async fn rotate_secret(
    app: &App,
    who: &Principal,
    id: Uuid,
    meta: &Meta,
) -> Result<CreatedClient, AppError> {
    who.require(Capability::ManageSettings)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let mut client = client_in(&mut tx, who, id).await?;
    if client.secret_hash.is_none() {
        return Err(AppError::Conflict(
            "A public app has no client secret: it proves itself with PKCE alone.".into(),
        ));
    }
    let secret = format!("{SECRET_PREFIX}{}", crate::secret::new_token());
    client.secret_hash = Some(crate::secret::hash(&secret));
    oidc::update_client(&mut tx, &client).await?;
    let event = meta.event("oidc_client.secret_rotated", "oidc_client", Some(id));
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(CreatedClient {
        client: view(&client),
        client_secret: Some(secret),
    })
}

struct Checked {
    name: String,
    redirect_uris: Vec<String>,
    logout_uris: Vec<String>,
    scopes: Vec<String>,
}

fn check(new: &NewClient) -> Result<Checked, AppError> {
    let mut errors = FieldErrors::default();
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.contains(['\n', '\r']) {
        errors.take::<()>(Err(ValueError::new(
            "name",
            "invalid",
            "Give the app a name of 1 to 100 characters on one line, e.g. “Scheduling”.",
        )));
    }
    if new.redirect_uris.is_empty() {
        errors.take::<()>(Err(ValueError::new(
            "redirect_uris",
            "missing",
            "Give at least one redirect URI: the address the app receives sign-ins at.",
        )));
    }
    let redirect_uris = uris(&mut errors, "redirect_uris", &new.redirect_uris);
    let logout_uris = uris(
        &mut errors,
        "post_logout_redirect_uris",
        &new.post_logout_redirect_uris,
    );
    let mut scopes = vec!["openid".to_string()];
    for s in &new.scopes {
        let s = s.trim();
        if !SCOPES.contains(&s) {
            errors.take::<()>(Err(ValueError::new(
                "scopes",
                "unknown",
                format!(
                    "“{s}” is not a scope Rollcall gives; use {}.",
                    SCOPES.join(", ")
                ),
            )));
        } else if !scopes.iter().any(|k| k == s) {
            scopes.push(s.to_string());
        }
    }
    errors.into_result()?;
    Ok(Checked {
        name,
        redirect_uris,
        logout_uris,
        scopes,
    })
}

/// Absolute `https` URIs (or `http` on this machine, for development), without a fragment.
fn uris(errors: &mut FieldErrors, field: &'static str, list: &[String]) -> Vec<String> {
    let mut kept = Vec::new();
    for uri in list {
        let uri = uri.trim();
        if usable_uri(uri) {
            kept.push(uri.to_string());
        } else {
            errors.take::<()>(Err(ValueError::new(
                field,
                "uri_invalid",
                format!(
                    "“{uri}” is not a usable address: give a full https:// address with a host \
                     and without a #fragment (http:// only for localhost)."
                ),
            )));
        }
    }
    kept
}

/// A redirect URI an app may register: an absolute https URL with a host (plain http only to
/// this machine, for native and development apps), no fragment, no spaces (RFC 6749 §3.1.2).
fn usable_uri(uri: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(uri) else {
        return false;
    };
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && local);
    scheme_ok
        && url.host_str().is_some_and(|h| !h.is_empty())
        && !uri.contains('#')
        && !uri.contains(char::is_whitespace)
        && uri.len() <= 2000
}
