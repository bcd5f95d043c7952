//! Who can do what, for many users at once: the rows the rule engine needs to judge a change
//! (type, status, locations, direct and role grants) and the writes that apply its decisions.

use std::collections::{BTreeSet, HashMap};

use rollcall_domain::{Permission, UserStatus};
use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql, known_permission, parse_id, parse_opt_id, parse_stored};

/// Ids per `IN (…)` list: well under the parameter cap of `sql::MAX_PARAMS`.
const IDS_PER_QUERY: usize = 900;

/// A user's access as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRow {
    pub user_id: Uuid,
    pub display_name: String,
    pub email: String,
    pub user_type: Option<String>,
    pub status: UserStatus,
    pub default_location: Option<Uuid>,
    pub locations: Vec<Uuid>,
    pub direct: BTreeSet<Permission>,
    pub role_ids: Vec<Uuid>,
    /// What the user's roles grant, together.
    pub role_permissions: BTreeSet<Permission>,
}

/// The access of each listed user of the organization, in the order of `ids`; ids of other
/// organizations or unknown ids are left out.
pub async fn load(conn: &mut Conn, org_id: Uuid, ids: &[Uuid]) -> Result<Vec<AccessRow>> {
    let mut out = Vec::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(out);
    }
    let role_permissions = crate::roles::permissions_by_role(conn, org_id).await?;
    // One row per user, its locations, direct grants and roles folded into lists: a tenth of
    // the rows of reading the link tables one by one.
    let select = format!(
        "SELECT id, display_name, email, user_type, status, default_location_id, \
         (SELECT {} FROM user_locations WHERE user_id = users.id), \
         (SELECT {} FROM user_permissions WHERE user_id = users.id), \
         (SELECT {} FROM user_roles WHERE user_id = users.id) \
         FROM users WHERE id IN (",
        crate::sql::comma_list(conn, "location_id"),
        crate::sql::comma_list(conn, "permission"),
        crate::sql::comma_list(conn, "role_id")
    );
    for chunk in ids.chunks(IDS_PER_QUERY) {
        let mut rows: HashMap<Uuid, AccessRow> = HashMap::with_capacity(chunk.len());
        // `org_id || ''` keeps SQLite from scanning the organization through an org-led index
        // (it guesses that narrower than the id lookups); the primary key finds each id.
        let mut q = Sql::new(&select);
        q.bind_list(chunk.iter().map(|u| u.to_string()))
            .push(") AND org_id || '' = ")
            .bind(org_id.to_string());
        for r in q.fetch_all(&mut *conn).await? {
            let id = parse_id(&r.try_get::<String, _>(0)?)?;
            let list = |i: usize| -> Result<Vec<String>> {
                Ok(r.try_get::<Option<String>, _>(i)?
                    .map(|s| s.split(',').map(str::to_string).collect())
                    .unwrap_or_default())
            };
            let role_ids = list(8)?
                .iter()
                .map(|role| parse_id(role))
                .collect::<Result<Vec<_>>>()?;
            let role_permissions = role_ids
                .iter()
                .flat_map(|role| role_permissions.get(role).into_iter().flatten().copied())
                .collect();
            rows.insert(
                id,
                AccessRow {
                    user_id: id,
                    display_name: r.try_get(1)?,
                    email: r.try_get(2)?,
                    user_type: r.try_get(3)?,
                    status: parse_stored("users", "status", r.try_get(4)?, UserStatus::parse)?,
                    default_location: parse_opt_id(r.try_get(5)?)?,
                    locations: list(6)?
                        .iter()
                        .map(|l| parse_id(l))
                        .collect::<Result<_>>()?,
                    direct: list(7)?
                        .iter()
                        .filter_map(|k| known_permission(k))
                        .collect(),
                    role_ids,
                    role_permissions,
                },
            );
        }
        out.extend(chunk.iter().filter_map(|id| rows.remove(id)));
    }
    Ok(out)
}

/// Grants direct permissions: (user, permission) pairs, already held ones left as they are.
pub async fn grant_permissions(conn: &mut Conn, pairs: &[(Uuid, Permission)]) -> Result<()> {
    Ok(
        crate::sql::insert_pairs(conn, "user_permissions", ("user_id", "permission"), pairs)
            .await?,
    )
}

/// Removes one direct permission from each listed user.
pub async fn revoke_permission(
    conn: &mut Conn,
    permission: Permission,
    users: &[Uuid],
) -> Result<()> {
    revoke(
        conn,
        "user_permissions",
        "permission",
        permission.key(),
        users,
    )
    .await
}

/// Takes one location from each listed user's access.
pub async fn revoke_location(conn: &mut Conn, location: Uuid, users: &[Uuid]) -> Result<()> {
    revoke(
        conn,
        "user_locations",
        "location_id",
        &location.to_string(),
        users,
    )
    .await
}

/// Deletes the rows of a (user_id, `column`) link table that hold `value` for the listed users.
async fn revoke(
    conn: &mut Conn,
    table: &str,
    column: &str,
    value: &str,
    users: &[Uuid],
) -> Result<()> {
    for chunk in users.chunks(IDS_PER_QUERY) {
        let mut q = Sql::new(&format!("DELETE FROM {table} WHERE {column} = "));
        q.bind(value.to_string())
            .push(" AND user_id IN (")
            .bind_list(chunk.iter().map(|u| u.to_string()))
            .push(")");
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
