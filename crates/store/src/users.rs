//! Staff accounts: writes in batches, reads always scoped to one organization.

use std::collections::BTreeMap;

use rollcall_domain::{Permission, UserStatus};
use sqlx::Row;
use uuid::Uuid;

use crate::sql::{insert_rows, rows_per_statement};
use crate::{Conn, Engine, Result, Sql, parse_id, parse_opt_id, parse_stored};

/// A user row as stored. `status` is the stored status; Expired is derived by the caller from
/// `invite_expires_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub org_id: Uuid,
    pub email: String,
    pub email_key: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub mobile: Option<String>,
    pub user_type: Option<String>,
    pub status: UserStatus,
    pub default_location_id: Option<Uuid>,
    pub source: String,
    pub password_hash: Option<String>,
    pub invite_expires_at: Option<i64>,
    pub failed_sign_ins: i64,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub created_by: Option<Uuid>,
    pub activated_at: Option<i64>,
    pub deactivated_at: Option<i64>,
    pub last_sign_in_at: Option<i64>,
}

impl User {
    /// Lower-cased text the substring search runs over.
    pub fn search_text(&self) -> String {
        format!(
            "{} {} {} {} {}",
            self.first_name, self.last_name, self.display_name, self.email_key, self.username
        )
        .to_lowercase()
    }

    pub fn sort_name(&self) -> String {
        format!("{} {}", self.last_name, self.first_name).to_lowercase()
    }
}

const COLUMNS: &str = "id, org_id, email, email_key, username, first_name, last_name, display_name, mobile, \
    user_type, status, default_location_id, source, password_hash, invite_expires_at, failed_sign_ins, \
    locked_until, created_at, created_by, activated_at, deactivated_at, last_sign_in_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<User> {
    Ok(User {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        org_id: parse_id(&r.try_get::<String, _>("org_id")?)?,
        email: r.try_get("email")?,
        email_key: r.try_get("email_key")?,
        username: r.try_get("username")?,
        first_name: r.try_get("first_name")?,
        last_name: r.try_get("last_name")?,
        display_name: r.try_get("display_name")?,
        mobile: r.try_get("mobile")?,
        user_type: r.try_get("user_type")?,
        status: parse_stored("users", "status", r.try_get("status")?, UserStatus::parse)?,
        default_location_id: parse_opt_id(r.try_get("default_location_id")?)?,
        source: r.try_get("source")?,
        password_hash: r.try_get("password_hash")?,
        invite_expires_at: r.try_get("invite_expires_at")?,
        failed_sign_ins: r.try_get("failed_sign_ins")?,
        locked_until: r.try_get("locked_until")?,
        created_at: r.try_get("created_at")?,
        created_by: parse_opt_id(r.try_get("created_by")?)?,
        activated_at: r.try_get("activated_at")?,
        deactivated_at: r.try_get("deactivated_at")?,
        last_sign_in_at: r.try_get("last_sign_in_at")?,
    })
}

/// Rows per multi-row INSERT: well under both engines' bound-parameter limits.
const BATCH: usize = 400;

/// Inserts users in multi-row batches (row-by-row is far slower through the SQLite worker).
pub async fn insert_many(conn: &mut Conn, users: &[User]) -> Result<()> {
    Ok(insert_rows(
        conn,
        "users",
        "id, org_id, email, email_key, username, first_name, last_name, display_name, sort_name, \
         search, mobile, user_type, status, default_location_id, source, password_hash, \
         invite_expires_at, created_at, created_by, activated_at",
        users,
        rows_per_statement(20),
        |u, row| {
            row.bind(u.id.to_string())
                .bind(u.org_id.to_string())
                .bind(u.email.clone())
                .bind(u.email_key.clone())
                .bind(u.username.clone())
                .bind(u.first_name.clone())
                .bind(u.last_name.clone())
                .bind(u.display_name.clone())
                .bind(u.sort_name())
                .bind(u.search_text())
                .bind(u.mobile.clone())
                .bind(u.user_type.clone())
                .bind(u.status.as_str().to_string())
                .bind(u.default_location_id.map(|x| x.to_string()))
                .bind(u.source.clone())
                .bind(u.password_hash.clone())
                .bind(u.invite_expires_at)
                .bind(u.created_at)
                .bind(u.created_by.map(|x| x.to_string()))
                .bind(u.activated_at);
        },
    )
    .await?)
}

pub async fn get(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<Option<User>> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM users WHERE org_id = "));
    q.bind(org_id.to_string())
        .push(" AND id = ")
        .bind(id.to_string());
    q.fetch_optional_as(&mut *conn, from_row).await
}

/// These users of the organization (in no particular order; ids of no user are left out).
pub async fn get_many(conn: &mut Conn, org_id: Uuid, ids: &[Uuid]) -> Result<Vec<User>> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(BATCH) {
        let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM users WHERE org_id = "));
        q.bind(org_id.to_string())
            .push(" AND id IN (")
            .bind_list(chunk.iter().map(Uuid::to_string))
            .push(")");
        found.extend(q.fetch_all_as(&mut *conn, from_row).await?);
    }
    Ok(found)
}

/// Every user of the organization, oldest first (ties by id): a stable order to page by position.
pub async fn all_in_org(conn: &mut Conn, org_id: Uuid) -> Result<Vec<User>> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM users WHERE org_id = "));
    q.bind(org_id.to_string()).push(" ORDER BY created_at, id");
    q.fetch_all_as(&mut *conn, from_row).await
}

/// Holds the user's row until the transaction ends, so a check of what the user looks like and
/// the change it allows happen as one step (PostgreSQL locks the row; SQLite's one writer runs
/// write transactions one at a time).
pub async fn lock(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<()> {
    let mut q = Sql::new("SELECT id FROM users WHERE org_id = ");
    q.bind(org_id.to_string())
        .push(" AND id = ")
        .bind(id.to_string());
    if !crate::sql::is_sqlite(conn) {
        q.push(" FOR UPDATE");
    }
    q.fetch_optional(&mut *conn).await?;
    Ok(())
}

pub async fn get_by_email_key(
    conn: &mut Conn,
    org_id: Uuid,
    email_key: &str,
) -> Result<Option<User>> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM users WHERE org_id = "));
    q.bind(org_id.to_string())
        .push(" AND email_key = ")
        .bind(email_key.to_string());
    q.fetch_optional_as(&mut *conn, from_row).await
}

/// The users of the organization with these match keys (in no particular order).
pub async fn by_email_keys(conn: &mut Conn, org_id: Uuid, keys: &[String]) -> Result<Vec<User>> {
    let mut found = Vec::new();
    for chunk in keys.chunks(BATCH) {
        let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM users WHERE org_id = "));
        q.bind(org_id.to_string())
            .push(" AND email_key IN (")
            .bind_list(chunk.iter().cloned())
            .push(")");
        found.extend(q.fetch_all_as(&mut *conn, from_row).await?);
    }
    Ok(found)
}

/// Of the given match keys, those already taken in the organization.
pub async fn existing_email_keys(
    conn: &mut Conn,
    org_id: Uuid,
    keys: &[String],
) -> Result<Vec<String>> {
    taken(conn, org_id, "email_key", keys).await
}

/// Of the given usernames, those already taken in the organization.
pub async fn existing_usernames(
    conn: &mut Conn,
    org_id: Uuid,
    names: &[String],
) -> Result<Vec<String>> {
    taken(conn, org_id, "username", names).await
}

/// Those of `values` some user of the organization already has in `column`.
async fn taken(
    conn: &mut Conn,
    org_id: Uuid,
    column: &str,
    values: &[String],
) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for chunk in values.chunks(BATCH) {
        let mut q = Sql::new(&format!("SELECT {column} FROM users WHERE org_id = "));
        q.bind(org_id.to_string())
            .push(&format!(" AND {column} IN ("))
            .bind_list(chunk.iter().cloned())
            .push(")");
        for r in q.fetch_all(&mut *conn).await? {
            found.push(r.try_get(0)?);
        }
    }
    Ok(found)
}

pub async fn set_password_and_activate(
    conn: &mut Conn,
    org_id: Uuid,
    id: Uuid,
    hash: &str,
    now: i64,
) -> Result<()> {
    let mut q = Sql::update("users", |set| {
        set.set("password_hash", hash.to_string())
            .sql("status = 'active'")
            .set("activated_at", now)
            .sql("invite_expires_at = NULL, failed_sign_ins = 0, locked_until = NULL");
    });
    q.push(" WHERE org_id = ")
        .bind(org_id.to_string())
        .push(" AND id = ")
        .bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

/// What a person enters when registering; the account stays Pending until the EULA is accepted.
pub async fn set_registration(
    conn: &mut Conn,
    org_id: Uuid,
    id: Uuid,
    first_name: &str,
    last_name: &str,
    mobile: &str,
    password_hash: &str,
) -> Result<()> {
    let mut q = Sql::update("users", |set| {
        set.set("first_name", first_name.to_string())
            .set("last_name", last_name.to_string())
            .set("display_name", format!("{first_name} {last_name}"))
            .set(
                "sort_name",
                format!("{last_name} {first_name}").to_lowercase(),
            )
            .set("search", String::new())
            .set("mobile", mobile.to_string())
            .set("password_hash", password_hash.to_string());
    });
    q.push(" WHERE org_id = ")
        .bind(org_id.to_string())
        .push(" AND id = ")
        .bind(id.to_string());
    q.execute(&mut *conn).await?;
    refresh_search(conn, id).await
}

/// Recomputes the search text from the stored row (names may have changed).
async fn refresh_search(conn: &mut Conn, id: Uuid) -> Result<()> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM users WHERE id = "));
    q.bind(id.to_string());
    let Some(user) = q.fetch_optional_as(&mut *conn, from_row).await? else {
        return Ok(());
    };
    let mut q = Sql::new("UPDATE users SET search = ");
    q.bind(user.search_text())
        .push(" WHERE id = ")
        .bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn set_mfa(
    conn: &mut Conn,
    id: Uuid,
    method: Option<&str>,
    totp_secret: Option<&str>,
) -> Result<()> {
    let mut q = Sql::update("users", |set| {
        set.set("mfa_method", method.map(str::to_string))
            .set("totp_secret", totp_secret.map(str::to_string));
    });
    q.push(" WHERE id = ").bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

/// (method, TOTP secret) of a user's second factor.
pub async fn mfa_of(conn: &mut Conn, id: Uuid) -> Result<(Option<String>, Option<String>)> {
    let mut q = Sql::new("SELECT mfa_method, totp_secret FROM users WHERE id = ");
    q.bind(id.to_string());
    let r = q.fetch_one(&mut *conn).await?;
    Ok((r.try_get(0)?, r.try_get(1)?))
}

/// Completes registration: the EULA version accepted is kept; the account becomes Active.
pub async fn accept_eula_and_activate(
    conn: &mut Conn,
    id: Uuid,
    version: i64,
    now: i64,
) -> Result<()> {
    let mut q = Sql::update("users", |set| {
        set.sql("status = 'active'")
            .set("eula_version", version)
            .set("eula_accepted_at", now)
            .set("activated_at", now)
            .sql("invite_expires_at = NULL");
    });
    q.push(" WHERE status = 'pending' AND id = ")
        .bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn set_status(
    conn: &mut Conn,
    org_id: Uuid,
    ids: &[Uuid],
    status: UserStatus,
    by: Option<Uuid>,
    now: i64,
) -> Result<u64> {
    let mut n = 0;
    for chunk in ids.chunks(BATCH) {
        let mut q = Sql::update("users", |set| {
            set.set("status", status.as_str().to_string());
            if status == UserStatus::Inactive {
                set.set("deactivated_at", now)
                    .set("deactivated_by", by.map(|b| b.to_string()));
            } else {
                set.sql("deactivated_at = NULL, deactivated_by = NULL");
            }
        });
        q.push(" WHERE org_id = ")
            .bind(org_id.to_string())
            .push(" AND id IN (")
            .bind_list(chunk.iter().map(|i| i.to_string()))
            .push(")");
        n += q.execute(&mut *conn).await?;
    }
    Ok(n)
}

pub async fn record_failed_sign_in(
    conn: &mut Conn,
    id: Uuid,
    locked_until: Option<i64>,
) -> Result<()> {
    let mut q = Sql::new("UPDATE users SET failed_sign_ins = failed_sign_ins + 1, locked_until = ");
    q.bind(locked_until)
        .push(" WHERE id = ")
        .bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn record_sign_in(conn: &mut Conn, id: Uuid, now: i64) -> Result<()> {
    let mut q =
        Sql::new("UPDATE users SET failed_sign_ins = 0, locked_until = NULL, last_sign_in_at = ");
    q.bind(now).push(" WHERE id = ").bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn set_invite_expiry(conn: &mut Conn, id: Uuid, expires_at: Option<i64>) -> Result<()> {
    let mut q = Sql::new("UPDATE users SET invite_expires_at = ");
    q.bind(expires_at).push(" WHERE id = ").bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn count(conn: &mut Conn, org_id: Uuid) -> Result<i64> {
    let mut q = Sql::new("SELECT COUNT(*) FROM users WHERE org_id = ");
    q.bind(org_id.to_string());
    Ok(q.fetch_one(&mut *conn).await?.try_get(0)?)
}

// ---- the user list -------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    #[default]
    Created,
    Name,
    Email,
    Username,
}

impl SortKey {
    fn column(self) -> &'static str {
        match self {
            SortKey::Created => "created_at",
            SortKey::Name => "sort_name",
            SortKey::Email => "email_key",
            SortKey::Username => "username",
        }
    }
}

/// The stored-status condition a list filter maps to (Expired and Pending split on the invitation's expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusFilter {
    Stored(UserStatus),
    PendingUnexpired,
    Expired,
}

/// Where a keyset page starts: strictly after this (sort value, id) in the list's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    Int(i64, Uuid),
    Text(String, Uuid),
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub org_id: Uuid,
    pub search: Option<String>,
    pub status: Option<StatusFilter>,
    pub user_type: Option<String>,
    pub location: Option<Uuid>,
    pub role: Option<Uuid>,
    /// Exactly this address (its match key).
    pub email_key: Option<String>,
    /// The person the directory knows by this id.
    pub external_id: Option<String>,
    /// Created, or the target of an audit event, at or after this time (microseconds).
    pub changed_since: Option<i64>,
    pub sort: SortKey,
    pub descending: bool,
    pub after: Option<Cursor>,
    /// Page backwards: the rows just before this cursor (in the list's order).
    pub before: Option<Cursor>,
    pub limit: u32,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListRow {
    pub user: User,
    pub locations: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    pub rows: Vec<ListRow>,
    /// Cursor for the next page, if there is one.
    pub next: Option<Cursor>,
    /// Cursor for the previous page, if there is one.
    pub prev: Option<Cursor>,
}

pub fn cursor_of(user: &User, sort: SortKey) -> Cursor {
    match sort {
        SortKey::Created => Cursor::Int(user.created_at, user.id),
        SortKey::Name => Cursor::Text(user.sort_name(), user.id),
        SortKey::Email => Cursor::Text(user.email_key.clone(), user.id),
        SortKey::Username => Cursor::Text(user.username.clone(), user.id),
    }
}

/// The search and filter conditions of a list query, shared by the page and by "all matching".
fn push_filters(q: &mut Sql, engine: Engine, query: &ListQuery) {
    if let Some(term) = query
        .search
        .as_deref()
        .map(search_pattern)
        .filter(|t| !t.is_empty())
    {
        // Engine-specific only in how the trigram index is reached; the meaning is the same.
        match engine {
            Engine::Sqlite if term.chars().count() >= 5 => {
                q.push(" AND rowid IN (SELECT rowid FROM users_search WHERE search LIKE ")
                    .bind(term)
                    .push(")");
            }
            _ => {
                q.push(" AND search LIKE ").bind(term);
            }
        }
    }
    match &query.status {
        Some(StatusFilter::Stored(s)) => {
            q.push(" AND status = ").bind(s.as_str().to_string());
        }
        Some(StatusFilter::PendingUnexpired) => {
            q.push(
                " AND status = 'pending' AND (invite_expires_at IS NULL OR invite_expires_at >= ",
            )
            .bind(query.now)
            .push(")");
        }
        Some(StatusFilter::Expired) => {
            q.push(" AND status = 'pending' AND invite_expires_at < ")
                .bind(query.now);
        }
        None => {}
    }
    if let Some(t) = &query.user_type {
        q.push(" AND user_type = ").bind(t.clone());
    }
    if let Some(l) = query.location {
        q.push(" AND EXISTS (SELECT 1 FROM user_locations ul WHERE ul.user_id = users.id AND ul.location_id = ")
            .bind(l.to_string())
            .push(")");
    }
    if let Some(r) = query.role {
        q.push(" AND EXISTS (SELECT 1 FROM user_roles ur WHERE ur.user_id = users.id AND ur.role_id = ")
            .bind(r.to_string())
            .push(")");
    }
    push_lookups(q, query);
}

/// Exact lookups, and "changed since": every change to a user is audited with the user as its
/// target, so the audit log is the one record of when a user last changed.
fn push_lookups(q: &mut Sql, query: &ListQuery) {
    if let Some(key) = &query.email_key {
        q.push(" AND email_key = ").bind(key.clone());
    }
    if let Some(id) = &query.external_id {
        q.push(" AND email_key IN (SELECT d.email_key FROM directory_people d WHERE d.org_id = ")
            .bind(query.org_id.to_string())
            .push(" AND d.external_id = ")
            .bind(id.clone())
            .push(")");
    }
    if let Some(since) = query.changed_since {
        q.push(" AND (created_at >= ")
            .bind(since)
            .push(" OR id IN (SELECT a.target_id FROM audit_events a WHERE a.org_id = ")
            .bind(query.org_id.to_string())
            .push(" AND a.at >= ")
            .bind(since)
            .push("))");
    }
}

/// How many users match a list query's search and filters, counting no further than `cap` (a
/// list says "more than" beyond it rather than scan a whole large organization).
pub async fn count_matching(
    conn: &mut Conn,
    engine: Engine,
    query: &ListQuery,
    cap: u32,
) -> Result<u32> {
    let mut q = Sql::new("SELECT COUNT(*) FROM (SELECT 1 FROM users WHERE org_id = ");
    q.bind(query.org_id.to_string());
    push_filters(&mut q, engine, query);
    q.push(&format!(" LIMIT {}) AS matching", cap as u64 + 1));
    let n: i64 = q.fetch_one(&mut *conn).await?.try_get(0)?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Every user matching a list query's search and filters (its cursor and limit are ignored), in
/// the list's order: what "select all matching" selects.
pub async fn ids_matching(conn: &mut Conn, engine: Engine, query: &ListQuery) -> Result<Vec<Uuid>> {
    let mut q = Sql::new("SELECT id FROM users WHERE org_id = ");
    q.bind(query.org_id.to_string());
    push_filters(&mut q, engine, query);
    let (col, dir) = (
        query.sort.column(),
        if query.descending { "DESC" } else { "ASC" },
    );
    q.push(&format!(" ORDER BY {col} {dir}, id {dir}"));
    q.fetch_all_as(&mut *conn, |r| parse_id(&r.try_get::<String, _>(0)?))
        .await
}

/// One page of the user list: filters, substring search, keyset pagination on (sort key, id).
pub async fn list(conn: &mut Conn, engine: Engine, query: &ListQuery) -> Result<ListPage> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM users WHERE org_id = "));
    q.bind(query.org_id.to_string());
    push_filters(&mut q, engine, query);
    let col = query.sort.column();
    // Backwards, the same order is read reversed from the cursor, then turned round.
    let backwards = query.before.is_some();
    let (cmp, dir) = if query.descending != backwards {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(from) = query.before.as_ref().or(query.after.as_ref()) {
        q.push(&format!(" AND ({col}, id) {cmp} "))
            .values_row(|row| {
                match from {
                    Cursor::Int(v, id) => row.bind(*v).bind(id.to_string()),
                    Cursor::Text(v, id) => row.bind(v.clone()).bind(id.to_string()),
                };
            });
    }
    let limit = query.limit.clamp(1, 500);
    q.push(&format!(
        " ORDER BY {col} {dir}, id {dir} LIMIT {}",
        limit + 1
    ));
    let mut users = q.fetch_all_as(&mut *conn, from_row).await?;
    let more = users.len() > limit as usize;
    users.truncate(limit as usize);
    if backwards {
        users.reverse();
    }
    let first = users.first().map(|u| cursor_of(u, query.sort));
    let last = users.last().map(|u| cursor_of(u, query.sort));
    let (next, prev) = match (backwards, query.after.is_some()) {
        (true, _) => (last, first.filter(|_| more)),
        (false, came_forward) => (last.filter(|_| more), first.filter(|_| came_forward)),
    };
    let mut names = location_names(conn, users.iter().map(|u| u.id)).await?;
    let rows = users
        .into_iter()
        .map(|user| ListRow {
            locations: names.remove(&user.id).unwrap_or_default(),
            user,
        })
        .collect();
    Ok(ListPage { rows, next, prev })
}

/// `%term%` with LIKE's own wildcard `%` removed from what the person typed.
fn search_pattern(term: &str) -> String {
    let cleaned: String = term
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| *c != '%')
        .collect();
    if cleaned.is_empty() {
        String::new()
    } else {
        format!("%{cleaned}%")
    }
}

async fn location_names(
    conn: &mut Conn,
    user_ids: impl Iterator<Item = Uuid>,
) -> Result<BTreeMap<Uuid, Vec<String>>> {
    let ids: Vec<String> = user_ids.map(|u| u.to_string()).collect();
    let mut out: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut q = Sql::new(
        "SELECT ul.user_id, l.name FROM user_locations ul JOIN locations l ON l.id = ul.location_id \
         WHERE ul.user_id IN (",
    );
    q.bind_list(ids).push(") ORDER BY l.name");
    for r in q.fetch_all(&mut *conn).await? {
        out.entry(parse_id(&r.try_get::<String, _>(0)?)?)
            .or_default()
            .push(r.try_get(1)?);
    }
    Ok(out)
}

/// Active users of an organization holding any of `permissions`, directly or through a role.
pub async fn active_holding(
    conn: &mut Conn,
    org_id: Uuid,
    permissions: &[Permission],
) -> Result<Vec<User>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM users WHERE status = 'active' AND org_id = "
    ));
    q.bind(org_id.to_string())
        .push(" AND (EXISTS (SELECT 1 FROM user_permissions up WHERE up.user_id = users.id AND up.permission IN (")
        .bind_list(permissions.iter().map(|p| p.key().to_string()))
        .push(")) OR EXISTS (SELECT 1 FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id WHERE ur.user_id = users.id AND rp.permission IN (")
        .bind_list(permissions.iter().map(|p| p.key().to_string()))
        .push(")))");
    q.fetch_all_as(&mut *conn, from_row).await
}

/// Refreshes the planner's statistics of the users table on PostgreSQL (SQLite keeps none).
/// While an import grows an organization by thousands of users a minute, stale statistics make
/// PostgreSQL think the organization is tiny and scan all of it to look up a chunk's addresses
/// (seconds per chunk instead of milliseconds); the import calls this every few chunks.
pub async fn refresh_statistics(conn: &mut Conn) -> Result<()> {
    if !crate::sql::is_sqlite(conn) {
        Sql::new("ANALYZE users").execute(&mut *conn).await?;
    }
    Ok(())
}

/// Display names of the organization's users among `ids` (for naming them in the audit log).
pub async fn display_names(
    conn: &mut Conn,
    org_id: Uuid,
    ids: &[Uuid],
) -> Result<BTreeMap<Uuid, String>> {
    let mut out = BTreeMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let mut q = Sql::new("SELECT id, display_name FROM users WHERE org_id = ");
    q.bind(org_id.to_string()).push(" AND id IN (");
    q.bind_list(ids.iter().map(Uuid::to_string)).push(")");
    for r in q.fetch_all(&mut *conn).await? {
        out.insert(parse_id(&r.try_get::<String, _>(0)?)?, r.try_get(1)?);
    }
    Ok(out)
}

/// Sets (or clears) when the user leaves: the instant their access ends.
pub async fn set_leaving(conn: &mut Conn, id: Uuid, at: Option<i64>) -> Result<()> {
    let mut q = Sql::update("users", |set| {
        set.set("leaves_at", at);
    });
    q.push(" WHERE id = ").bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Sets when each of these new users leaves: one statement per instant (people leave on a few
/// days) and per chunk of ids, never one per person.
pub async fn set_leaving_many(conn: &mut Conn, leaving: &[(Uuid, i64)]) -> Result<()> {
    let mut by_instant: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
    for (id, at) in leaving {
        by_instant.entry(*at).or_default().push(id.to_string());
    }
    for (at, ids) in by_instant {
        for chunk in ids.chunks(BATCH) {
            let mut q = Sql::update("users", |set| {
                set.set("leaves_at", Some(at));
            });
            q.push(" WHERE id IN (")
                .bind_list(chunk.iter().cloned())
                .push(")");
            q.execute(&mut *conn).await?;
        }
    }
    Ok(())
}

/// Sets when the user leaves unless it is already `at`: the previous value (`Some(None)` when
/// there was none), or `None` when nothing changed.
pub async fn set_leaving_if_other(
    conn: &mut Conn,
    id: Uuid,
    at: i64,
) -> Result<Option<Option<i64>>> {
    let was = leaving_of(conn, id).await?;
    if was == Some(at) {
        return Ok(None);
    }
    set_leaving(conn, id, Some(at)).await?;
    Ok(Some(was))
}

/// When the user leaves, if a date is set.
pub async fn leaving_of(conn: &mut Conn, id: Uuid) -> Result<Option<i64>> {
    let mut q = Sql::new("SELECT leaves_at FROM users WHERE id = ");
    q.bind(id.to_string());
    Ok(q.fetch_one(&mut *conn).await?.try_get(0)?)
}

/// Leaving instants of the organization's people who have one (of `only` when given).
pub async fn leaving_dates(
    conn: &mut Conn,
    org_id: Uuid,
    only: Option<&[Uuid]>,
) -> Result<std::collections::HashMap<Uuid, i64>> {
    let mut q = Sql::new("SELECT id, leaves_at FROM users WHERE org_id = ");
    q.bind(org_id.to_string())
        .push(" AND leaves_at IS NOT NULL");
    if let Some(ids) = only {
        q.push(" AND id IN (")
            .bind_list(ids.iter().map(Uuid::to_string))
            .push(")");
    }
    let rows = q.fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| Ok((parse_id(&r.try_get::<String, _>(0)?)?, r.try_get(1)?)))
        .collect()
}

/// Up to `limit` people whose leaving instant has come and who still have access, as
/// (organization, user), earliest first.
pub async fn due_leavers(conn: &mut Conn, now: i64, limit: i64) -> Result<Vec<(Uuid, Uuid)>> {
    let mut q = Sql::new(
        "SELECT org_id, id FROM users WHERE leaves_at IS NOT NULL AND status <> 'inactive' AND leaves_at <= ",
    );
    q.bind(now).push(" ORDER BY leaves_at LIMIT ").bind(limit);
    crate::id_pairs(&q.fetch_all(&mut *conn).await?)
}
