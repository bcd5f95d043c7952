//! Who can do what, for many users at once: the rows the rule engine needs to judge a change
//! (type, status, locations, direct and role grants) and the writes that apply its decisions.

use std::collections::HashMap;

use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql, parse_id, parse_opt_id};

/// Ids per `IN (…)` list: well under the parameter cap of `sql::MAX_PARAMS`.
const IDS_PER_QUERY: usize = 900;

/// A user's access as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccessRow {
    pub user_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub user_type: Option<String>,
    pub status: String,
    pub default_location: Option<Uuid>,
    pub locations: Vec<Uuid>,
    pub direct: Vec<String>,
    pub role_permissions: Vec<String>,
}

/// The access of each listed user of the organization, in the order of `ids`; ids of other
/// organizations or unknown ids are left out.
pub async fn load(conn: &mut Conn, org_id: Uuid, ids: &[Uuid]) -> Result<Vec<AccessRow>> {
    let mut out = Vec::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    let role_permissions = crate::roles::permissions_by_role(conn, org_id).await?;
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let keys: Vec<String> = chunk.iter().map(|u| u.to_string()).collect();
        let mut rows: HashMap<Uuid, AccessRow> = HashMap::with_capacity(chunk.len());
        // `org_id || ''` keeps SQLite from scanning the organization through an org-led index
        // (it guesses that narrower than the id lookups); the primary key finds each id.
        let mut q = Sql::new(
            "SELECT id, display_name, email, user_type, status, default_location_id FROM users \
             WHERE id IN (",
        );
        q.bind_list(keys.clone())
            .push(") AND org_id || '' = ")
            .bind(org_id.to_string());
        for r in q.fetch_all(&mut *conn).await? {
            let id = parse_id(&r.try_get::<String, _>(0)?)?;
            rows.insert(
                id,
                AccessRow {
                    user_id: id,
                    display_name: r.try_get(1)?,
                    email: r.try_get(2)?,
                    user_type: r.try_get(3)?,
                    status: r.try_get(4)?,
                    default_location: parse_opt_id(r.try_get(5)?)?,
                    ..AccessRow::default()
                },
            );
        }
        // Three reads, each over an index led by user_id.
        let mut q = Sql::new("SELECT user_id, location_id FROM user_locations WHERE user_id IN (");
        q.bind_list(keys.clone()).push(")");
        for r in q.fetch_all(&mut *conn).await? {
            if let Some(row) = rows.get_mut(&parse_id(&r.try_get::<String, _>(0)?)?) {
                row.locations.push(parse_id(&r.try_get::<String, _>(1)?)?);
            }
        }
        let mut q = Sql::new("SELECT user_id, permission FROM user_permissions WHERE user_id IN (");
        q.bind_list(keys.clone()).push(")");
        for r in q.fetch_all(&mut *conn).await? {
            if let Some(row) = rows.get_mut(&parse_id(&r.try_get::<String, _>(0)?)?) {
                row.direct.push(r.try_get(1)?);
            }
        }
        // Role memberships, expanded from the organization's roles read once: far fewer rows
        // than joining every member to every permission of their roles.
        let mut q = Sql::new("SELECT user_id, role_id FROM user_roles WHERE user_id IN (");
        q.bind_list(keys).push(")");
        for r in q.fetch_all(&mut *conn).await? {
            let role = parse_id(&r.try_get::<String, _>(1)?)?;
            if let Some(row) = rows.get_mut(&parse_id(&r.try_get::<String, _>(0)?)?) {
                row.role_permissions
                    .extend(role_permissions.get(&role).into_iter().flatten().cloned());
            }
        }
        out.extend(chunk.iter().filter_map(|id| rows.remove(id)));
    }
    Ok(out)
}

/// Grants direct permissions: (user, permission) pairs, already held ones left as they are.
pub async fn grant_permissions(conn: &mut Conn, pairs: &[(Uuid, String)]) -> Result<()> {
    Ok(
        crate::sql::insert_pairs(conn, "user_permissions", ("user_id", "permission"), pairs)
            .await?,
    )
}

/// Removes one direct permission from each listed user.
pub async fn revoke_permission(conn: &mut Conn, permission: &str, users: &[Uuid]) -> Result<()> {
    for chunk in users.chunks(IDS_PER_QUERY) {
        let mut q = Sql::new("DELETE FROM user_permissions WHERE permission = ");
        q.bind(permission.to_string())
            .push(" AND user_id IN (")
            .bind_list(chunk.iter().map(|u| u.to_string()))
            .push(")");
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Takes one location from each listed user's access.
pub async fn revoke_location(conn: &mut Conn, location: Uuid, users: &[Uuid]) -> Result<()> {
    for chunk in users.chunks(IDS_PER_QUERY) {
        let mut q = Sql::new("DELETE FROM user_locations WHERE location_id = ");
        q.bind(location.to_string())
            .push(" AND user_id IN (")
            .bind_list(chunk.iter().map(|u| u.to_string()))
            .push(")");
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
