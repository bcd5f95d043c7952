//! What SCIM keeps beyond Rollcall's own records: a provider's userName, externalId and
//! enterprise attributes per user, and the provider's groups with their members and what each
//! group gives (roles, locations). Always scoped to one organization.

use std::collections::{BTreeSet, HashMap, HashSet};

use sqlx::Row;
use uuid::Uuid;

use crate::users::User;
use crate::{Conn, Result, Sql, parse_id, parse_opt_id};

/// A provider's view of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserExtra {
    pub user_id: Uuid,
    pub user_name: String,
    pub external_id: Option<String>,
    pub employee_number: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<Uuid>,
    pub updated_at: i64,
}

const EXTRA_COLUMNS: &str =
    "user_id, user_name, external_id, employee_number, department, manager_id, updated_at";

fn extra_of(r: &sqlx::any::AnyRow) -> Result<UserExtra> {
    Ok(UserExtra {
        user_id: parse_id(&r.try_get::<String, _>(0)?)?,
        user_name: r.try_get(1)?,
        external_id: r.try_get(2)?,
        employee_number: r.try_get(3)?,
        department: r.try_get(4)?,
        manager_id: parse_opt_id(r.try_get(5)?)?,
        updated_at: r.try_get(6)?,
    })
}

/// The key userName is compared by: without regard to case.
pub fn user_name_key(user_name: &str) -> String {
    user_name.trim().to_lowercase()
}

/// Narrows a query to some users (`None`: all of the organization), a few hundred at most.
fn only(q: &mut Sql, column: &str, users: Option<&[Uuid]>) {
    if let Some(ids) = users {
        q.push(&format!(" AND {column} IN ("))
            .bind_list(ids.iter().map(Uuid::to_string))
            .push(")");
    }
}

/// Every provider record of the organization (or of some users of it), by user.
pub async fn extras(
    conn: &mut Conn,
    org_id: Uuid,
    users: Option<&[Uuid]>,
) -> Result<HashMap<Uuid, UserExtra>> {
    let mut q = Sql::new(&format!(
        "SELECT {EXTRA_COLUMNS} FROM scim_users WHERE org_id = "
    ));
    q.bind(org_id.to_string());
    only(&mut q, "user_id", users);
    Ok(q.fetch_all_as(&mut *conn, extra_of)
        .await?
        .into_iter()
        .map(|e| (e.user_id, e))
        .collect())
}

pub async fn extra(conn: &mut Conn, org_id: Uuid, user_id: Uuid) -> Result<Option<UserExtra>> {
    let mut q = Sql::new(&format!(
        "SELECT {EXTRA_COLUMNS} FROM scim_users WHERE org_id = "
    ));
    q.bind(org_id.to_string())
        .push(" AND user_id = ")
        .bind(user_id.to_string());
    q.fetch_optional_as(&mut *conn, extra_of).await
}

/// Writes a user's provider record, replacing any earlier one.
pub async fn save_extra(conn: &mut Conn, org_id: Uuid, e: &UserExtra) -> Result<()> {
    let mut q = Sql::new("DELETE FROM scim_users WHERE user_id = ");
    q.bind(e.user_id.to_string());
    q.execute(&mut *conn).await?;
    insert_extras(conn, org_id, std::slice::from_ref(e)).await
}

/// Writes the provider records of users that have none yet (people just created), in
/// multi-row statements.
pub async fn insert_extras(conn: &mut Conn, org_id: Uuid, extras: &[UserExtra]) -> Result<()> {
    Ok(crate::sql::insert_rows(
        conn,
        "scim_users",
        "user_id, org_id, user_name, user_name_key, external_id, employee_number, department, \
         manager_id, updated_at",
        extras,
        crate::sql::rows_per_statement(9),
        |e, row| {
            row.bind(e.user_id.to_string())
                .bind(org_id.to_string())
                .bind(e.user_name.clone())
                .bind(user_name_key(&e.user_name))
                .bind(e.external_id.clone())
                .bind(e.employee_number.clone())
                .bind(e.department.clone())
                .bind(e.manager_id.map(|m| m.to_string()))
                .bind(e.updated_at);
        },
    )
    .await?)
}

/// The users of the organization whose userName is this one, compared without regard to case:
/// a provider record's userName, or the access email of a user without one.
pub async fn ids_by_user_name(conn: &mut Conn, org_id: Uuid, user_name: &str) -> Result<Vec<Uuid>> {
    let key = user_name_key(user_name);
    Ok(user_name_holders(conn, org_id, std::slice::from_ref(&key))
        .await?
        .into_iter()
        .map(|(_, id)| id)
        .collect())
}

/// Of these userNames, the keys ([`user_name_key`]) some user of the organization already has.
pub async fn taken_user_names(
    conn: &mut Conn,
    org_id: Uuid,
    user_names: &[String],
) -> Result<HashSet<String>> {
    let keys: Vec<String> = user_names.iter().map(|n| user_name_key(n)).collect();
    Ok(user_name_holders(conn, org_id, &keys)
        .await?
        .into_iter()
        .map(|(key, _)| key)
        .collect())
}

/// (userName key, user) for each user holding one of these keys: the one place that says what
/// holding a userName means.
async fn user_name_holders(
    conn: &mut Conn,
    org_id: Uuid,
    keys: &[String],
) -> Result<Vec<(String, Uuid)>> {
    let mut found = Vec::new();
    // Each key is bound twice: 400 keys stay under the statement's parameter bound.
    for chunk in keys.chunks(400) {
        let mut q = Sql::new("SELECT user_name_key, user_id FROM scim_users WHERE org_id = ");
        q.bind(org_id.to_string())
            .push(" AND user_name_key IN (")
            .bind_list(chunk.iter().cloned())
            .push(") UNION SELECT lower(u.email), u.id FROM users u WHERE u.org_id = ")
            .bind(org_id.to_string())
            .push(" AND lower(u.email) IN (")
            .bind_list(chunk.iter().cloned())
            .push(") AND NOT EXISTS (SELECT 1 FROM scim_users s WHERE s.user_id = u.id)");
        for r in q.fetch_all(&mut *conn).await? {
            found.push((r.try_get(0)?, parse_id(&r.try_get::<String, _>(1)?)?));
        }
    }
    Ok(found)
}

/// The users of the organization the provider knows by this externalId (exact).
pub async fn ids_by_external_id(
    conn: &mut Conn,
    org_id: Uuid,
    external_id: &str,
) -> Result<Vec<Uuid>> {
    let mut q = Sql::new("SELECT user_id FROM scim_users WHERE org_id = ");
    q.bind(org_id.to_string())
        .push(" AND external_id = ")
        .bind(external_id.to_string());
    ids(q, conn).await
}

async fn ids(q: Sql, conn: &mut Conn) -> Result<Vec<Uuid>> {
    q.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| parse_id(&r.try_get::<String, _>(0)?))
        .collect()
}

/// Every user of the organization, oldest first (SCIM pages by position in this order).
pub async fn users(conn: &mut Conn, org_id: Uuid) -> Result<Vec<User>> {
    crate::users::all_in_org(conn, org_id).await
}

/// The NPI of every provider of the organization (or of some users of it) who has one, by user.
pub async fn npis(
    conn: &mut Conn,
    org_id: Uuid,
    users: Option<&[Uuid]>,
) -> Result<HashMap<Uuid, String>> {
    let mut q = Sql::new(
        "SELECT p.user_id, p.npi FROM provider_profiles p JOIN users u ON u.id = p.user_id \
         WHERE p.npi IS NOT NULL AND u.org_id = ",
    );
    q.bind(org_id.to_string());
    only(&mut q, "p.user_id", users);
    let mut out = HashMap::new();
    for r in q.fetch_all(&mut *conn).await? {
        out.insert(parse_id(&r.try_get::<String, _>(0)?)?, r.try_get(1)?);
    }
    Ok(out)
}

/// A provider's group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: Uuid,
    pub display_name: String,
    pub external_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub members: BTreeSet<Uuid>,
    pub roles: BTreeSet<Uuid>,
    pub locations: BTreeSet<Uuid>,
}

fn group_of(r: &sqlx::any::AnyRow) -> Result<Group> {
    Ok(Group {
        id: parse_id(&r.try_get::<String, _>(0)?)?,
        display_name: r.try_get(1)?,
        external_id: r.try_get(2)?,
        created_at: r.try_get(3)?,
        updated_at: r.try_get(4)?,
        members: BTreeSet::new(),
        roles: BTreeSet::new(),
        locations: BTreeSet::new(),
    })
}

const GROUP_COLUMNS: &str = "id, display_name, external_id, created_at, updated_at";

/// Every group of the organization with its members and mapping, oldest first.
pub async fn groups(conn: &mut Conn, org_id: Uuid) -> Result<Vec<Group>> {
    let mut q = Sql::new(&format!(
        "SELECT {GROUP_COLUMNS} FROM scim_groups WHERE org_id = "
    ));
    q.bind(org_id.to_string()).push(" ORDER BY created_at, id");
    let mut groups = q.fetch_all_as(&mut *conn, group_of).await?;
    let mut by_id: HashMap<Uuid, usize> = HashMap::new();
    for (i, g) in groups.iter().enumerate() {
        by_id.insert(g.id, i);
    }
    for (table, column) in [
        ("scim_group_members", "user_id"),
        ("scim_group_roles", "role_id"),
        ("scim_group_locations", "location_id"),
    ] {
        let mut q = Sql::new(&format!(
            "SELECT t.group_id, t.{column} FROM {table} t JOIN scim_groups g ON g.id = t.group_id \
             WHERE g.org_id = "
        ));
        q.bind(org_id.to_string());
        for r in q.fetch_all(&mut *conn).await? {
            let group = parse_id(&r.try_get::<String, _>(0)?)?;
            let item = parse_id(&r.try_get::<String, _>(1)?)?;
            if let Some(&i) = by_id.get(&group) {
                let g = &mut groups[i];
                match table {
                    "scim_group_members" => g.members.insert(item),
                    "scim_group_roles" => g.roles.insert(item),
                    _ => g.locations.insert(item),
                };
            }
        }
    }
    Ok(groups)
}

/// The groups each user (of the organization, or of some users of it) is a member of, as
/// (id, display name), oldest group first: read by member, not by reading every group.
pub async fn memberships(
    conn: &mut Conn,
    org_id: Uuid,
    users: Option<&[Uuid]>,
) -> Result<HashMap<Uuid, Vec<(Uuid, String)>>> {
    let mut q = Sql::new(
        "SELECT m.user_id, g.id, g.display_name FROM scim_group_members m \
         JOIN scim_groups g ON g.id = m.group_id WHERE g.org_id = ",
    );
    q.bind(org_id.to_string());
    only(&mut q, "m.user_id", users);
    q.push(" ORDER BY g.created_at, g.id");
    let mut out: HashMap<Uuid, Vec<(Uuid, String)>> = HashMap::new();
    for r in q.fetch_all(&mut *conn).await? {
        out.entry(parse_id(&r.try_get::<String, _>(0)?)?)
            .or_default()
            .push((parse_id(&r.try_get::<String, _>(1)?)?, r.try_get(2)?));
    }
    Ok(out)
}

pub async fn group(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<Option<Group>> {
    Ok(groups(conn, org_id).await?.into_iter().find(|g| g.id == id))
}

/// Writes a group: its row, members and mapping, replacing what was there.
pub async fn save_group(conn: &mut Conn, org_id: Uuid, g: &Group) -> Result<()> {
    delete_group_rows(conn, g.id).await?;
    let mut q = Sql::insert_into(
        "scim_groups",
        "id, org_id, display_name, display_key, external_id, created_at, updated_at",
    );
    q.values_row(|row| {
        row.bind(g.id.to_string())
            .bind(org_id.to_string())
            .bind(g.display_name.clone())
            .bind(user_name_key(&g.display_name))
            .bind(g.external_id.clone())
            .bind(g.created_at)
            .bind(g.updated_at);
    });
    q.execute(&mut *conn).await?;
    for (table, column, items) in [
        ("scim_group_members", "user_id", &g.members),
        ("scim_group_roles", "role_id", &g.roles),
        ("scim_group_locations", "location_id", &g.locations),
    ] {
        if items.is_empty() {
            continue;
        }
        let mut q = Sql::insert_into(table, &format!("group_id, {column}"));
        q.values_rows(items.iter(), |item, row| {
            row.bind(g.id.to_string()).bind(item.to_string());
        });
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Removes a group with its members and mapping.
pub async fn delete_group(conn: &mut Conn, id: Uuid) -> Result<()> {
    delete_group_rows(conn, id).await
}

async fn delete_group_rows(conn: &mut Conn, id: Uuid) -> Result<()> {
    for table in [
        "scim_group_members",
        "scim_group_roles",
        "scim_group_locations",
    ] {
        let mut q = Sql::new(&format!("DELETE FROM {table} WHERE group_id = "));
        q.bind(id.to_string());
        q.execute(&mut *conn).await?;
    }
    let mut q = Sql::new("DELETE FROM scim_groups WHERE id = ");
    q.bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

/// When each user of the organization (or some users of it) last changed, as the audit trail
/// records it.
pub async fn last_changes(
    conn: &mut Conn,
    org_id: Uuid,
    users: Option<&[Uuid]>,
) -> Result<HashMap<Uuid, i64>> {
    let mut q = Sql::new(
        "SELECT target_id, MAX(at) FROM audit_events WHERE target_type = 'user' \
         AND target_id IS NOT NULL AND org_id = ",
    );
    q.bind(org_id.to_string());
    only(&mut q, "target_id", users);
    q.push(" GROUP BY target_id");
    let mut out = HashMap::new();
    for r in q.fetch_all(&mut *conn).await? {
        if let Ok(id) = parse_id(&r.try_get::<String, _>(0)?) {
            out.insert(id, r.try_get(1)?);
        }
    }
    Ok(out)
}

/// One SCIM request as the Provisioning page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: Uuid,
    pub token_id: Option<Uuid>,
    /// The token's name, when it still exists.
    pub token_name: Option<String>,
    pub at: i64,
    pub method: String,
    pub path: String,
    pub status: i64,
    pub outcome: String,
}

/// How many requests are kept per organization.
pub const REQUESTS_KEPT: i64 = 100;

/// Keeps requests, each with its organization, and forgets each organization's older ones
/// beyond [`REQUESTS_KEPT`].
pub async fn record_requests(conn: &mut Conn, requests: &[(Uuid, Request)]) -> Result<()> {
    if requests.is_empty() {
        return Ok(());
    }
    let mut q = Sql::insert_into(
        "scim_requests",
        "id, org_id, token_id, at, method, path, status, outcome",
    );
    q.values_rows(requests, |(org_id, r), row| {
        row.bind(r.id.to_string())
            .bind(org_id.to_string())
            .bind(r.token_id.map(|t| t.to_string()))
            .bind(r.at)
            .bind(r.method.clone())
            .bind(r.path.clone())
            .bind(r.status)
            .bind(r.outcome.clone());
    });
    q.execute(&mut *conn).await?;
    let orgs: std::collections::BTreeSet<Uuid> = requests.iter().map(|(o, _)| *o).collect();
    for org_id in orgs {
        let mut q = Sql::new("DELETE FROM scim_requests WHERE org_id = ");
        q.bind(org_id.to_string())
            .push(" AND id NOT IN (SELECT id FROM scim_requests WHERE org_id = ")
            .bind(org_id.to_string())
            .push(&format!(
                " ORDER BY at DESC, id DESC LIMIT {REQUESTS_KEPT})"
            ));
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The organization's kept requests, newest first.
pub async fn recent_requests(conn: &mut Conn, org_id: Uuid) -> Result<Vec<Request>> {
    let mut q = Sql::new(
        "SELECT r.id, r.token_id, t.name, r.at, r.method, r.path, r.status, r.outcome \
         FROM scim_requests r LEFT JOIN api_tokens t ON t.id = r.token_id WHERE r.org_id = ",
    );
    q.bind(org_id.to_string()).push(&format!(
        " ORDER BY r.at DESC, r.id DESC LIMIT {REQUESTS_KEPT}"
    ));
    q.fetch_all_as(&mut *conn, |r| {
        Ok(Request {
            id: parse_id(&r.try_get::<String, _>(0)?)?,
            token_id: parse_opt_id(r.try_get(1)?)?,
            token_name: r.try_get(2)?,
            at: r.try_get(3)?,
            method: r.try_get(4)?,
            path: r.try_get(5)?,
            status: r.try_get(6)?,
            outcome: r.try_get(7)?,
        })
    })
    .await
}
