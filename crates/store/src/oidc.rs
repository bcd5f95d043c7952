//! Sign in with Rollcall: clients, signing keys, grants (one sign-in to one client), codes and
//! refresh tokens. Secrets, codes and refresh tokens arrive here already hashed.

use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::{Conn, Result, Sql, StoreError, parse_id};

#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    /// `None` for a public client.
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub logout_uris: Vec<String>,
    pub scopes: Vec<String>,
    pub created_at: i64,
}

const CLIENT_COLUMNS: &str =
    "id, org_id, name, secret_hash, redirect_uris, logout_uris, scopes, created_at";

fn strings(json: String) -> Result<Vec<String>> {
    serde_json::from_str(&json).map_err(|_| StoreError::Corrupt(format!("bad list “{json}”")))
}

fn client_of(r: AnyRow) -> Result<Client> {
    Ok(Client {
        id: parse_id(&r.try_get::<String, _>(0)?)?,
        org_id: parse_id(&r.try_get::<String, _>(1)?)?,
        name: r.try_get(2)?,
        secret_hash: r.try_get(3)?,
        redirect_uris: strings(r.try_get(4)?)?,
        logout_uris: strings(r.try_get(5)?)?,
        scopes: strings(r.try_get(6)?)?,
        created_at: r.try_get(7)?,
    })
}

fn json(list: &[String]) -> String {
    serde_json::to_string(list).expect("strings serialize")
}

pub async fn insert_client(conn: &mut Conn, c: &Client) -> Result<()> {
    let mut q = Sql::insert_into("oidc_clients", CLIENT_COLUMNS);
    q.values_row(|row| {
        row.bind(c.id.to_string())
            .bind(c.org_id.to_string())
            .bind(c.name.clone())
            .bind(c.secret_hash.clone())
            .bind(json(&c.redirect_uris))
            .bind(json(&c.logout_uris))
            .bind(json(&c.scopes))
            .bind(c.created_at);
    });
    q.execute(&mut *conn).await?;
    Ok(())
}

/// A client that has not been deleted, whatever its organization (the token endpoint learns the
/// organization from the client).
pub async fn client(conn: &mut Conn, id: Uuid) -> Result<Option<Client>> {
    let mut q = Sql::new(&format!(
        "SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE id = "
    ));
    q.bind(id.to_string()).push(" AND deleted_at IS NULL");
    q.fetch_optional(&mut *conn)
        .await?
        .map(client_of)
        .transpose()
}

pub async fn clients(conn: &mut Conn, org_id: Uuid) -> Result<Vec<Client>> {
    let mut q = Sql::new(&format!(
        "SELECT {CLIENT_COLUMNS} FROM oidc_clients WHERE deleted_at IS NULL AND org_id = "
    ));
    q.bind(org_id.to_string()).push(" ORDER BY name, id");
    q.fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(client_of)
        .collect()
}

/// Stores a client's name, secret, addresses and scopes; returns whether it existed (and was not
/// deleted).
pub async fn update_client(conn: &mut Conn, c: &Client) -> Result<bool> {
    let mut q = Sql::new("UPDATE oidc_clients SET name = ");
    q.bind(c.name.clone())
        .push(", secret_hash = ")
        .bind(c.secret_hash.clone())
        .push(", redirect_uris = ")
        .bind(json(&c.redirect_uris))
        .push(", logout_uris = ")
        .bind(json(&c.logout_uris))
        .push(", scopes = ")
        .bind(json(&c.scopes))
        .push(" WHERE deleted_at IS NULL AND org_id = ")
        .bind(c.org_id.to_string())
        .push(" AND id = ")
        .bind(c.id.to_string());
    Ok(q.execute(&mut *conn).await? == 1)
}

/// Marks the client deleted and revokes every grant made to it; returns whether it existed.
pub async fn delete_client(conn: &mut Conn, org_id: Uuid, id: Uuid, now: i64) -> Result<bool> {
    let mut q = Sql::new("UPDATE oidc_clients SET deleted_at = ");
    q.bind(now)
        .push(" WHERE deleted_at IS NULL AND org_id = ")
        .bind(org_id.to_string())
        .push(" AND id = ")
        .bind(id.to_string());
    let deleted = q.execute(&mut *conn).await? == 1;
    let mut q = Sql::new("UPDATE oidc_grants SET revoked_at = ");
    q.bind(now)
        .push(" WHERE revoked_at IS NULL AND client_id = ")
        .bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(deleted)
}

// ---- signing keys -----------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct SigningKey {
    pub kid: String,
    pub sealed_key: String,
    /// The public point's coordinates, base64url.
    pub x: String,
    pub y: String,
    pub created_at: i64,
    pub signs_from: i64,
    pub retire_at: Option<i64>,
}

pub async fn insert_key(conn: &mut Conn, k: &SigningKey) -> Result<()> {
    let mut q = Sql::insert_into(
        "oidc_signing_keys",
        "kid, sealed_key, x, y, created_at, signs_from, retire_at",
    );
    q.values_row(|row| {
        row.bind(k.kid.clone())
            .bind(k.sealed_key.clone())
            .bind(k.x.clone())
            .bind(k.y.clone())
            .bind(k.created_at)
            .bind(k.signs_from)
            .bind(k.retire_at);
    });
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Keys still published at `now`, newest first.
pub async fn published_keys(conn: &mut Conn, now: i64) -> Result<Vec<SigningKey>> {
    let mut q = Sql::new(
        "SELECT kid, sealed_key, x, y, created_at, signs_from, retire_at FROM oidc_signing_keys \
         WHERE retire_at IS NULL OR retire_at > ",
    );
    q.bind(now).push(" ORDER BY signs_from DESC, kid DESC");
    q.fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| {
            Ok(SigningKey {
                kid: r.try_get(0)?,
                sealed_key: r.try_get(1)?,
                x: r.try_get(2)?,
                y: r.try_get(3)?,
                created_at: r.try_get(4)?,
                signs_from: r.try_get(5)?,
                retire_at: r.try_get(6)?,
            })
        })
        .collect()
}

/// The key of the PostgreSQL advisory lock that serializes key rotations.
const KEY_ROTATION_LOCK: i64 = 0x726f_6c6c_6b65_7973;

/// Held until the transaction ends, so processes sharing one database rotate one at a time
/// (on SQLite the write lock the transaction began with does the same).
pub async fn lock_key_rotation(conn: &mut Conn) -> Result<()> {
    if !crate::sql::is_sqlite(conn) {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(KEY_ROTATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// When the newest signing key was made, if there is one.
pub async fn newest_key_made(conn: &mut Conn) -> Result<Option<i64>> {
    let row = Sql::new("SELECT MAX(created_at) FROM oidc_signing_keys")
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get(0)?)
}

/// Schedules the retirement of every published key but `keep`, unless one is already set.
pub async fn retire_keys_except(conn: &mut Conn, keep: &str, at: i64) -> Result<u64> {
    let mut q = Sql::new("UPDATE oidc_signing_keys SET retire_at = ");
    q.bind(at)
        .push(" WHERE retire_at IS NULL AND kid <> ")
        .bind(keep.to_string());
    Ok(q.execute(&mut *conn).await?)
}

// ---- grants, codes, refresh tokens ------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    pub id: Uuid,
    pub org_id: Uuid,
    pub client_id: Uuid,
    pub user_id: Uuid,
    pub scope: String,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

const GRANT_COLUMNS: &str = "g.id, g.org_id, g.client_id, g.user_id, g.scope, g.nonce, \
                             g.auth_time, g.created_at, g.revoked_at";

fn grant_of(r: &AnyRow) -> Result<Grant> {
    grant_of_offset(r, 0)
}

pub async fn insert_grant(conn: &mut Conn, g: &Grant) -> Result<()> {
    let mut q = Sql::insert_into(
        "oidc_grants",
        "id, org_id, client_id, user_id, scope, nonce, auth_time, created_at",
    );
    q.values_row(|row| {
        row.bind(g.id.to_string())
            .bind(g.org_id.to_string())
            .bind(g.client_id.to_string())
            .bind(g.user_id.to_string())
            .bind(g.scope.clone())
            .bind(g.nonce.clone())
            .bind(g.auth_time)
            .bind(g.created_at);
    });
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn grant(conn: &mut Conn, id: Uuid) -> Result<Option<Grant>> {
    let mut q = Sql::new(&format!(
        "SELECT {GRANT_COLUMNS} FROM oidc_grants g WHERE g.id = "
    ));
    q.bind(id.to_string());
    q.fetch_optional(&mut *conn)
        .await?
        .map(|r| grant_of(&r))
        .transpose()
}

/// Revokes one grant: every token issued from it stops working. Returns whether it was live.
pub async fn revoke_grant(conn: &mut Conn, id: Uuid, now: i64) -> Result<bool> {
    let mut q = Sql::new("UPDATE oidc_grants SET revoked_at = ");
    q.bind(now)
        .push(" WHERE revoked_at IS NULL AND id = ")
        .bind(id.to_string());
    Ok(q.execute(&mut *conn).await? == 1)
}

/// Revokes every grant of a user (deactivation); returns how many were live.
pub async fn revoke_grants_of_user(conn: &mut Conn, user_id: Uuid, now: i64) -> Result<u64> {
    let mut q = Sql::new("UPDATE oidc_grants SET revoked_at = ");
    q.bind(now)
        .push(" WHERE revoked_at IS NULL AND user_id = ")
        .bind(user_id.to_string());
    Ok(q.execute(&mut *conn).await?)
}

pub struct Code {
    pub code_hash: String,
    pub grant_id: Uuid,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

pub async fn insert_code(conn: &mut Conn, c: &Code) -> Result<()> {
    let mut q = Sql::insert_into(
        "oidc_codes",
        "code_hash, grant_id, redirect_uri, code_challenge, expires_at",
    );
    q.values_row(|row| {
        row.bind(c.code_hash.clone())
            .bind(c.grant_id.to_string())
            .bind(c.redirect_uri.clone())
            .bind(c.code_challenge.clone())
            .bind(c.expires_at);
    });
    q.execute(&mut *conn).await?;
    Ok(())
}

/// The code and its grant, marking it used; a code already used comes back with `used_at` set
/// to its first use.
/// A code and its grant, without using it.
pub async fn code(conn: &mut Conn, code_hash: &str) -> Result<Option<(Code, Grant)>> {
    let mut q = Sql::new(&format!(
        "SELECT c.code_hash, c.grant_id, c.redirect_uri, c.code_challenge, c.expires_at, \
         c.used_at, {GRANT_COLUMNS} FROM oidc_codes c JOIN oidc_grants g ON g.id = c.grant_id \
         WHERE c.code_hash = "
    ));
    q.bind(code_hash.to_string());
    let Some(r) = q.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let code = Code {
        code_hash: r.try_get(0)?,
        grant_id: parse_id(&r.try_get::<String, _>(1)?)?,
        redirect_uri: r.try_get(2)?,
        code_challenge: r.try_get(3)?,
        expires_at: r.try_get(4)?,
        used_at: r.try_get(5)?,
    };
    Ok(Some((code, grant_of_offset(&r, 6)?)))
}

/// Marks a code used; `false` when it already was (by a concurrent request) or its sign-in
/// was revoked since it was read.
pub async fn spend_code(conn: &mut Conn, code_hash: &str, now: i64) -> Result<bool> {
    let mut q = Sql::new("UPDATE oidc_codes SET used_at = ");
    q.bind(now)
        .push(" WHERE used_at IS NULL AND code_hash = ")
        .bind(code_hash.to_string())
        .push(&live_grant_of("oidc_codes"));
    Ok(q.execute(&mut *conn).await? == 1)
}

/// `AND` the row's grant is not revoked: a lookup by the grant's key. (Written as `grant_id IN
/// (SELECT id … WHERE revoked_at IS NULL)`, SQLite lists every live grant on each call, so the
/// token endpoint slowed as sign-ins accumulated: ~10 ms a call at 20,000 grants.)
fn live_grant_of(table: &str) -> String {
    format!(
        " AND EXISTS (SELECT 1 FROM oidc_grants g WHERE g.id = {table}.grant_id AND g.revoked_at IS NULL)"
    )
}

fn grant_of_offset(r: &AnyRow, at: usize) -> Result<Grant> {
    Ok(Grant {
        id: parse_id(&r.try_get::<String, _>(at)?)?,
        org_id: parse_id(&r.try_get::<String, _>(at + 1)?)?,
        client_id: parse_id(&r.try_get::<String, _>(at + 2)?)?,
        user_id: parse_id(&r.try_get::<String, _>(at + 3)?)?,
        scope: r.try_get(at + 4)?,
        nonce: r.try_get(at + 5)?,
        auth_time: r.try_get(at + 6)?,
        created_at: r.try_get(at + 7)?,
        revoked_at: r.try_get(at + 8)?,
    })
}

pub async fn insert_refresh(
    conn: &mut Conn,
    token_hash: &str,
    grant_id: Uuid,
    now: i64,
    expires_at: i64,
) -> Result<()> {
    let mut q = Sql::insert_into(
        "oidc_refresh_tokens",
        "token_hash, grant_id, created_at, expires_at",
    );
    q.values_row(|row| {
        row.bind(token_hash.to_string())
            .bind(grant_id.to_string())
            .bind(now)
            .bind(expires_at);
    });
    q.execute(&mut *conn).await?;
    Ok(())
}

pub struct Refresh {
    pub expires_at: i64,
    /// Already exchanged for a newer one.
    pub rotated: bool,
    pub grant: Grant,
}

/// A refresh token and its grant, without using it (exchange, revocation, introspection).
pub async fn refresh_token(conn: &mut Conn, token_hash: &str) -> Result<Option<Refresh>> {
    let mut q = Sql::new(&format!(
        "SELECT r.expires_at, r.rotated_at, {GRANT_COLUMNS} FROM oidc_refresh_tokens r \
         JOIN oidc_grants g ON g.id = r.grant_id WHERE r.token_hash = "
    ));
    q.bind(token_hash.to_string());
    let Some(r) = q.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    Ok(Some(Refresh {
        expires_at: r.try_get(0)?,
        rotated: r.try_get::<Option<i64>, _>(1)?.is_some(),
        grant: grant_of_offset(&r, 2)?,
    }))
}

/// Marks a refresh token exchanged; `false` when it already was (by a concurrent request) or
/// its sign-in was revoked since it was read.
pub async fn spend_refresh(conn: &mut Conn, token_hash: &str, now: i64) -> Result<bool> {
    let mut q = Sql::new("UPDATE oidc_refresh_tokens SET rotated_at = ");
    q.bind(now)
        .push(" WHERE rotated_at IS NULL AND token_hash = ")
        .bind(token_hash.to_string())
        .push(&live_grant_of("oidc_refresh_tokens"));
    Ok(q.execute(&mut *conn).await? == 1)
}

/// Whether the grant is live: not revoked (access tokens carry the grant's id).
pub async fn grant_live(conn: &mut Conn, id: Uuid) -> Result<bool> {
    let mut q = Sql::new("SELECT 1 FROM oidc_grants WHERE revoked_at IS NULL AND id = ");
    q.bind(id.to_string());
    Ok(q.fetch_optional(&mut *conn).await?.is_some())
}
