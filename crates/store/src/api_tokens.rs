//! Scoped API tokens for integrators. Only the token's hash is stored.

use rollcall_domain::TokenOwner;
use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql, StoreError, parse_id};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: Uuid,
    pub org_id: Uuid,
    /// The person the token acts as; `None` for a service account.
    pub user_id: Option<Uuid>,
    pub owner: TokenOwner,
    /// Who made the token, as the audit trail names them.
    pub created_by: String,
    pub name: String,
    pub token_hash: String,
    /// OAuth-style space-separated scope names, e.g. "users:read users:write".
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

const COLUMNS: &str = "id, org_id, user_id, owner, created_by, name, token_hash, scopes, created_at, expires_at, last_used_at, revoked_at";

fn owner_of(key: &str) -> Result<TokenOwner> {
    TokenOwner::parse(key).map_err(|e| StoreError::Corrupt(format!("api token owner: {e}")))
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        org_id: parse_id(&r.try_get::<String, _>("org_id")?)?,
        user_id: r
            .try_get::<Option<String>, _>("user_id")?
            .as_deref()
            .map(parse_id)
            .transpose()?,
        owner: owner_of(&r.try_get::<String, _>("owner")?)?,
        created_by: r.try_get("created_by")?,
        name: r.try_get("name")?,
        token_hash: r.try_get("token_hash")?,
        scopes: r.try_get("scopes")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_used_at: r.try_get("last_used_at")?,
        revoked_at: r.try_get("revoked_at")?,
    })
}

pub async fn insert(conn: &mut Conn, t: &ApiToken) -> Result<()> {
    let mut q = Sql::insert_into("api_tokens", COLUMNS);
    q.values_row(|row| {
        row.bind(t.id.to_string())
            .bind(t.org_id.to_string())
            .bind(t.user_id.map(|u| u.to_string()))
            .bind(t.owner.key().to_string())
            .bind(t.created_by.clone())
            .bind(t.name.clone())
            .bind(t.token_hash.clone())
            .bind(t.scopes.clone())
            .bind(t.created_at)
            .bind(t.expires_at)
            .bind(t.last_used_at)
            .bind(t.revoked_at);
    });
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn by_hash(conn: &mut Conn, token_hash: &str) -> Result<Option<ApiToken>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM api_tokens WHERE token_hash = "
    ));
    q.bind(token_hash.to_string());
    q.fetch_optional_as(&mut *conn, from_row).await
}

pub async fn list(conn: &mut Conn, org_id: Uuid) -> Result<Vec<ApiToken>> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM api_tokens WHERE org_id = "));
    q.bind(org_id.to_string()).push(" ORDER BY created_at DESC");
    q.fetch_all_as(&mut *conn, from_row).await
}

pub async fn get(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<Option<ApiToken>> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM api_tokens WHERE org_id = "));
    q.bind(org_id.to_string())
        .push(" AND id = ")
        .bind(id.to_string());
    q.fetch_optional_as(&mut *conn, from_row).await
}

/// Gives a token a new secret (the old one stops working at once).
pub async fn set_hash(conn: &mut Conn, org_id: Uuid, id: Uuid, token_hash: &str) -> Result<u64> {
    let mut q = Sql::new("UPDATE api_tokens SET token_hash = ");
    q.bind(token_hash.to_string())
        .push(" WHERE revoked_at IS NULL AND org_id = ")
        .bind(org_id.to_string())
        .push(" AND id = ")
        .bind(id.to_string());
    Ok(q.execute(&mut *conn).await?)
}

/// Records a use, at most once a `resolution` (so a busy integration does not write per call).
pub async fn touch(conn: &mut Conn, id: Uuid, now: i64, resolution: i64) -> Result<()> {
    let mut q = Sql::new("UPDATE api_tokens SET last_used_at = ");
    q.bind(now)
        .push(" WHERE id = ")
        .bind(id.to_string())
        .push(" AND (last_used_at IS NULL OR last_used_at < ")
        .bind(now - resolution)
        .push(")");
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn revoke(conn: &mut Conn, org_id: Uuid, id: Uuid, now: i64) -> Result<u64> {
    let mut q = Sql::new("UPDATE api_tokens SET revoked_at = ");
    q.bind(now)
        .push(" WHERE revoked_at IS NULL AND org_id = ")
        .bind(org_id.to_string())
        .push(" AND id = ")
        .bind(id.to_string());
    Ok(q.execute(&mut *conn).await?)
}

pub async fn revoke_for_user(conn: &mut Conn, user_id: Uuid, now: i64) -> Result<u64> {
    let mut q = Sql::new("UPDATE api_tokens SET revoked_at = ");
    q.bind(now)
        .push(" WHERE revoked_at IS NULL AND user_id = ")
        .bind(user_id.to_string());
    Ok(q.execute(&mut *conn).await?)
}
