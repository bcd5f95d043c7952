//! Locations: the clinics, facilities and service areas of an organization.

use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql, parse_id};

#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub code: String,
    pub time_zone: Option<String>,
    pub active: bool,
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<Location> {
    Ok(Location {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        org_id: parse_id(&r.try_get::<String, _>("org_id")?)?,
        name: r.try_get("name")?,
        code: r.try_get("code")?,
        time_zone: r.try_get("time_zone")?,
        active: r.try_get::<Option<i64>, _>("deactivated_at")?.is_none(),
    })
}

pub async fn insert(conn: &mut Conn, loc: &Location, now: i64) -> Result<()> {
    let mut q = Sql::insert_into("locations", "id, org_id, name, code, time_zone, created_at");
    q.values_row(|row| {
        row.bind(loc.id.to_string())
            .bind(loc.org_id.to_string())
            .bind(loc.name.clone())
            .bind(loc.code.clone())
            .bind(loc.time_zone.clone())
            .bind(now);
    });
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn list(conn: &mut Conn, org_id: Uuid) -> Result<Vec<Location>> {
    let mut q = Sql::new(
        "SELECT id, org_id, name, code, time_zone, deactivated_at FROM locations WHERE org_id = ",
    );
    q.bind(org_id.to_string()).push(" ORDER BY name, id");
    q.fetch_all_as(&mut *conn, from_row).await
}

/// Locations of one user, by name.
pub async fn of_user(conn: &mut Conn, user_id: Uuid) -> Result<Vec<Location>> {
    let mut q = Sql::new(
        "SELECT l.id, l.org_id, l.name, l.code, l.time_zone, l.deactivated_at FROM locations l \
         JOIN user_locations ul ON ul.location_id = l.id WHERE ul.user_id = ",
    );
    q.bind(user_id.to_string()).push(" ORDER BY l.name, l.id");
    q.fetch_all_as(&mut *conn, from_row).await
}

pub async fn grant(conn: &mut Conn, user_id: Uuid, location_ids: &[Uuid]) -> Result<()> {
    let pairs: Vec<(Uuid, Uuid)> = location_ids.iter().map(|x| (user_id, *x)).collect();
    grant_many(conn, &pairs).await
}

/// Grants many (user, location) pairs in multi-row batches.
pub async fn grant_many(conn: &mut Conn, pairs: &[(Uuid, Uuid)]) -> Result<()> {
    Ok(crate::sql::insert_pairs(conn, "user_locations", ("user_id", "location_id"), pairs).await?)
}

pub async fn get(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<Option<Location>> {
    let mut q = Sql::new(
        "SELECT id, org_id, name, code, time_zone, deactivated_at FROM locations WHERE org_id = ",
    );
    q.bind(org_id.to_string())
        .push(" AND id = ")
        .bind(id.to_string());
    q.fetch_optional_as(&mut *conn, from_row).await
}
