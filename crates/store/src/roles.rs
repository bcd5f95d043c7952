//! Roles (permission groups) and the permissions granted to users through them or directly.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_domain::Permission;
use sqlx::Row;
use uuid::Uuid;

use crate::sql::{insert_rows, rows_per_statement};
use crate::{Conn, Result, Sql, known_permission, parse_id};

#[derive(Debug, Clone, PartialEq)]
pub struct Role {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub predefined: bool,
    pub permissions: Vec<Permission>,
}

pub async fn insert(conn: &mut Conn, role: &Role, now: i64) -> Result<()> {
    let mut q = Sql::insert_into("roles", "id, org_id, name, predefined, created_at");
    q.values_row(|row| {
        row.bind(role.id.to_string())
            .bind(role.org_id.to_string())
            .bind(role.name.clone())
            .bind(role.predefined as i64)
            .bind(now);
    });
    q.execute(&mut *conn).await?;
    insert_permissions(conn, role.id, &role.permissions).await
}

async fn insert_permissions(
    conn: &mut Conn,
    role_id: Uuid,
    permissions: &[Permission],
) -> Result<()> {
    Ok(insert_rows(
        conn,
        "role_permissions",
        "role_id, permission",
        permissions,
        rows_per_statement(2),
        |p, row| {
            row.bind(role_id.to_string()).bind(p.key().to_string());
        },
    )
    .await?)
}

pub async fn list(conn: &mut Conn, org_id: Uuid) -> Result<Vec<Role>> {
    let mut q = Sql::new(
        "SELECT r.id, r.org_id, r.name, r.predefined, rp.permission FROM roles r \
         LEFT JOIN role_permissions rp ON rp.role_id = r.id WHERE r.org_id = ",
    );
    q.bind(org_id.to_string())
        .push(" ORDER BY r.name, r.id, rp.permission");
    let mut roles: Vec<Role> = Vec::new();
    for r in q.fetch_all(&mut *conn).await? {
        let id = parse_id(&r.try_get::<String, _>(0)?)?;
        if roles.last().map(|x| x.id) != Some(id) {
            roles.push(Role {
                id,
                org_id: parse_id(&r.try_get::<String, _>(1)?)?,
                name: r.try_get(2)?,
                predefined: r.try_get::<i64, _>(3)? != 0,
                permissions: Vec::new(),
            });
        }
        if let Some(p) = r
            .try_get::<Option<String>, _>(4)?
            .as_deref()
            .and_then(known_permission)
        {
            roles.last_mut().expect("pushed above").permissions.push(p);
        }
    }
    Ok(roles)
}

pub async fn assign(conn: &mut Conn, user_id: Uuid, role_ids: &[Uuid]) -> Result<()> {
    let pairs: Vec<(Uuid, Uuid)> = role_ids.iter().map(|x| (user_id, *x)).collect();
    assign_many(conn, &pairs).await
}

pub async fn grant_direct(
    conn: &mut Conn,
    user_id: Uuid,
    permissions: &[Permission],
) -> Result<()> {
    let pairs: Vec<(Uuid, Permission)> = permissions.iter().map(|p| (user_id, *p)).collect();
    Ok(
        crate::sql::insert_pairs(conn, "user_permissions", ("user_id", "permission"), &pairs)
            .await?,
    )
}

/// Grants many (user, permission) pairs in multi-row batches.
pub async fn grant_direct_many(conn: &mut Conn, pairs: &[(Uuid, Permission)]) -> Result<()> {
    Ok(
        crate::sql::insert_pairs(conn, "user_permissions", ("user_id", "permission"), pairs)
            .await?,
    )
}

/// What a user holds: role ids with names, permissions through roles, and direct permissions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grants {
    pub roles: BTreeMap<Uuid, String>,
    pub role_permissions: BTreeSet<Permission>,
    pub direct: BTreeSet<Permission>,
}

pub async fn grants_of(conn: &mut Conn, user_id: Uuid) -> Result<Grants> {
    let mut g = Grants::default();
    let mut q = Sql::new(
        "SELECT r.id, r.name, rp.permission FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
         LEFT JOIN role_permissions rp ON rp.role_id = r.id WHERE ur.user_id = ",
    );
    q.bind(user_id.to_string());
    for r in q.fetch_all(&mut *conn).await? {
        g.roles
            .insert(parse_id(&r.try_get::<String, _>(0)?)?, r.try_get(1)?);
        if let Some(p) = r
            .try_get::<Option<String>, _>(2)?
            .as_deref()
            .and_then(known_permission)
        {
            g.role_permissions.insert(p);
        }
    }
    let mut q = Sql::new("SELECT permission FROM user_permissions WHERE user_id = ");
    q.bind(user_id.to_string());
    for r in q.fetch_all(&mut *conn).await? {
        if let Some(p) = known_permission(&r.try_get::<String, _>(0)?) {
            g.direct.insert(p);
        }
    }
    Ok(g)
}

/// Assigns many (user, role) pairs in multi-row batches.
pub async fn assign_many(conn: &mut Conn, pairs: &[(Uuid, Uuid)]) -> Result<()> {
    Ok(crate::sql::insert_pairs(conn, "user_roles", ("user_id", "role_id"), pairs).await?)
}

pub async fn get(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<Option<Role>> {
    Ok(list(conn, org_id).await?.into_iter().find(|r| r.id == id))
}

pub async fn rename(conn: &mut Conn, org_id: Uuid, id: Uuid, name: &str) -> Result<()> {
    let mut q = Sql::new("UPDATE roles SET name = ");
    q.bind(name.to_string())
        .push(" WHERE org_id = ")
        .bind(org_id.to_string())
        .push(" AND id = ")
        .bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn set_permissions(
    conn: &mut Conn,
    role_id: Uuid,
    permissions: &[Permission],
) -> Result<()> {
    let mut q = Sql::new("DELETE FROM role_permissions WHERE role_id = ");
    q.bind(role_id.to_string());
    q.execute(&mut *conn).await?;
    insert_permissions(conn, role_id, permissions).await
}

/// Ids of a role's members.
pub async fn members(conn: &mut Conn, role_id: Uuid) -> Result<Vec<Uuid>> {
    let mut q = Sql::new("SELECT user_id FROM user_roles WHERE role_id = ");
    q.bind(role_id.to_string()).push(" ORDER BY user_id");
    q.fetch_all_as(&mut *conn, |r| parse_id(&r.try_get::<String, _>(0)?))
        .await
}

/// The names of the roles each of `users` holds, by name; users without a role are absent.
pub async fn names_by_user(
    conn: &mut Conn,
    org_id: Uuid,
    users: &[Uuid],
) -> Result<BTreeMap<Uuid, Vec<String>>> {
    let mut out: BTreeMap<Uuid, Vec<String>> = BTreeMap::new();
    if users.is_empty() {
        return Ok(out);
    }
    let mut q = Sql::new(
        "SELECT ur.user_id, r.name FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
         WHERE r.org_id = ",
    );
    q.bind(org_id.to_string())
        .push(" AND ur.user_id IN (")
        .bind_list(users.iter().map(Uuid::to_string))
        .push(") ORDER BY r.name");
    for r in q.fetch_all(&mut *conn).await? {
        let user = parse_id(&r.try_get::<String, _>(0)?)?;
        out.entry(user).or_default().push(r.try_get(1)?);
    }
    Ok(out)
}

/// How many members each role of an organization has.
pub async fn member_counts(conn: &mut Conn, org_id: Uuid) -> Result<BTreeMap<Uuid, i64>> {
    let mut q = Sql::new(
        "SELECT ur.role_id, COUNT(*) FROM user_roles ur JOIN roles r ON r.id = ur.role_id \
         WHERE r.org_id = ",
    );
    q.bind(org_id.to_string()).push(" GROUP BY ur.role_id");
    let mut out = BTreeMap::new();
    for r in q.fetch_all(&mut *conn).await? {
        out.insert(parse_id(&r.try_get::<String, _>(0)?)?, r.try_get(1)?);
    }
    Ok(out)
}

/// Each role of an organization with its permissions.
pub async fn permissions_by_role(
    conn: &mut Conn,
    org_id: Uuid,
) -> Result<BTreeMap<Uuid, Vec<Permission>>> {
    Ok(list(conn, org_id)
        .await?
        .into_iter()
        .map(|r| (r.id, r.permissions))
        .collect())
}
