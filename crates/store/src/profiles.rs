//! A user's profile as one edit writes it: person fields, access sets and provider credentials.

use rollcall_domain::Permission;
use sqlx::Row;
use uuid::Uuid;

use crate::sql::{insert_rows, rows_per_statement};
use crate::users::User;
use crate::{Conn, Result, Sql};

/// Writes the person fields of a user (names, mobile, type, default location) and the derived
/// sort and search text.
pub async fn update_person(conn: &mut Conn, user: &User) -> Result<()> {
    let mut q = Sql::update("users", |set| {
        set.set("first_name", user.first_name.clone())
            .set("last_name", user.last_name.clone())
            .set("display_name", user.display_name.clone())
            .set("sort_name", user.sort_name())
            .set("search", user.search_text())
            .set("mobile", user.mobile.clone())
            .set("user_type", user.user_type.clone())
            .set(
                "default_location_id",
                user.default_location_id.map(|l| l.to_string()),
            );
    });
    q.push(" WHERE org_id = ")
        .bind(user.org_id.to_string())
        .push(" AND id = ")
        .bind(user.id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

/// Replaces the rows of a (user_id, value) table for one user.
async fn replace(
    conn: &mut Conn,
    table: &str,
    column: &str,
    user_id: Uuid,
    values: &[String],
) -> Result<()> {
    let mut q = Sql::new(&format!("DELETE FROM {table} WHERE user_id = "));
    q.bind(user_id.to_string());
    q.execute(&mut *conn).await?;
    let pairs: Vec<(Uuid, &String)> = values.iter().map(|v| (user_id, v)).collect();
    Ok(crate::sql::insert_pairs(conn, table, ("user_id", column), &pairs).await?)
}

pub async fn set_locations(conn: &mut Conn, user_id: Uuid, ids: &[Uuid]) -> Result<()> {
    let ids: Vec<String> = ids.iter().map(|l| l.to_string()).collect();
    replace(conn, "user_locations", "location_id", user_id, &ids).await
}

pub async fn set_direct(conn: &mut Conn, user_id: Uuid, permissions: &[Permission]) -> Result<()> {
    let keys: Vec<String> = permissions.iter().map(|p| p.key().to_string()).collect();
    replace(conn, "user_permissions", "permission", user_id, &keys).await
}

pub async fn set_roles(conn: &mut Conn, user_id: Uuid, ids: &[Uuid]) -> Result<()> {
    let ids: Vec<String> = ids.iter().map(|l| l.to_string()).collect();
    replace(conn, "user_roles", "role_id", user_id, &ids).await
}

/// Clinical credentials; `capacity` and `scheduling_step` have defaults (1, 15 minutes).
#[derive(Debug, Clone, PartialEq)]
pub struct Provider {
    pub npi: Option<String>,
    pub bio: Option<String>,
    pub licence_number: Option<String>,
    pub licence_state: Option<String>,
    pub capacity: i64,
    pub scheduling_step: i64,
    pub taxonomies: Vec<String>,
}

impl Default for Provider {
    fn default() -> Self {
        Provider {
            npi: None,
            bio: None,
            licence_number: None,
            licence_state: None,
            capacity: 1,
            scheduling_step: 15,
            taxonomies: Vec::new(),
        }
    }
}

pub async fn provider_of(conn: &mut Conn, user_id: Uuid) -> Result<Option<Provider>> {
    let mut q = Sql::new(
        "SELECT npi, bio, licence_number, licence_state, capacity, scheduling_step \
         FROM provider_profiles WHERE user_id = ",
    );
    q.bind(user_id.to_string());
    let Some(r) = q.fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let mut p = Provider {
        npi: r.try_get(0)?,
        bio: r.try_get(1)?,
        licence_number: r.try_get(2)?,
        licence_state: r.try_get(3)?,
        capacity: r.try_get(4)?,
        scheduling_step: r.try_get(5)?,
        taxonomies: Vec::new(),
    };
    let mut q = Sql::new("SELECT code FROM provider_taxonomies WHERE user_id = ");
    q.bind(user_id.to_string()).push(" ORDER BY code");
    for r in q.fetch_all(&mut *conn).await? {
        p.taxonomies.push(r.try_get(0)?);
    }
    Ok(Some(p))
}

pub async fn save_provider(conn: &mut Conn, user_id: Uuid, p: &Provider) -> Result<()> {
    let mut q = Sql::new("DELETE FROM provider_profiles WHERE user_id = ");
    q.bind(user_id.to_string());
    q.execute(&mut *conn).await?;
    let mut q = Sql::insert_into(
        "provider_profiles",
        "user_id, npi, bio, licence_number, licence_state, capacity, scheduling_step",
    );
    q.values_row(|row| {
        row.bind(user_id.to_string())
            .bind(p.npi.clone())
            .bind(p.bio.clone())
            .bind(p.licence_number.clone())
            .bind(p.licence_state.clone())
            .bind(p.capacity)
            .bind(p.scheduling_step);
    });
    q.execute(&mut *conn).await?;
    replace(conn, "provider_taxonomies", "code", user_id, &p.taxonomies).await
}

/// A user's notification preferences: (category, medium) pairs switched on.
pub async fn notifications_of(conn: &mut Conn, user_id: Uuid) -> Result<Vec<(String, String)>> {
    let mut q = Sql::new("SELECT category, medium FROM notification_preferences WHERE user_id = ");
    q.bind(user_id.to_string())
        .push(" ORDER BY category, medium");
    q.fetch_all_as(&mut *conn, |r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .await
}

/// Gives new users the same notification preferences (they have none yet).
pub async fn add_notifications(
    conn: &mut Conn,
    user_ids: &[Uuid],
    on: &[(String, String)],
) -> Result<()> {
    let rows: Vec<(Uuid, &(String, String))> = user_ids
        .iter()
        .flat_map(|u| on.iter().map(move |p| (*u, p)))
        .collect();
    Ok(insert_rows(
        conn,
        "notification_preferences",
        "user_id, category, medium",
        &rows,
        rows_per_statement(3),
        |(u, (c, m)), row| {
            row.bind(u.to_string()).bind(c.clone()).bind(m.clone());
        },
    )
    .await?)
}

/// Sets the notification preferences of many users at once (all the same).
pub async fn set_notifications(
    conn: &mut Conn,
    user_ids: &[Uuid],
    on: &[(String, String)],
) -> Result<()> {
    for chunk in user_ids.chunks(900) {
        let mut q = Sql::new("DELETE FROM notification_preferences WHERE user_id IN (");
        q.bind_list(chunk.iter().map(|u| u.to_string())).push(")");
        q.execute(&mut *conn).await?;
    }
    add_notifications(conn, user_ids, on).await
}
