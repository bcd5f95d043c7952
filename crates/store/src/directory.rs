//! The directory roster as stored: the practice's upstream people and their group memberships.
//! A source to onboard from; nothing here is an account.

use std::collections::BTreeMap;

use sqlx::Row;
use uuid::Uuid;

use crate::sql::{insert_rows, rows_per_statement};
use crate::{Conn, Result, Sql};

/// One person of the roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub external_id: String,
    pub first_name: String,
    pub last_name: String,
    /// As given, for sending.
    pub email: String,
    /// The address's match key, to find the account it may already have.
    pub email_key: String,
    pub user_type: Option<String>,
    /// `false`: deactivated upstream.
    pub active: bool,
    pub groups: Vec<String>,
    /// When access ends, as a local date and time (`2026-12-19T00:00`), if the roster says.
    pub leaving_date: Option<String>,
}

/// A group and how many people of the roster it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub members: i64,
    /// Members deactivated upstream.
    pub inactive: i64,
}

const PERSON_COLUMNS: &str = "p.external_id, p.first_name, p.last_name, p.email, p.email_key, p.user_type, p.active, \
     p.leaving_date";

fn person_of(r: &sqlx::any::AnyRow) -> Result<Person> {
    Ok(Person {
        external_id: r.try_get(0)?,
        first_name: r.try_get(1)?,
        last_name: r.try_get(2)?,
        email: r.try_get(3)?,
        email_key: r.try_get(4)?,
        user_type: r.try_get(5)?,
        active: r.try_get::<i64, _>(6)? != 0,
        groups: Vec::new(),
        leaving_date: r.try_get(7)?,
    })
}

/// Replaces the organization's whole roster. Run it in a transaction: readers then see the old
/// roster or the new one, never a mix. External ids must be unique, and so must each person's
/// group names.
pub async fn replace_for_org(
    conn: &mut Conn,
    org_id: Uuid,
    people: &[Person],
    now: i64,
) -> Result<()> {
    let org = org_id.to_string();
    for table in ["directory_members", "directory_people"] {
        let mut q = Sql::new(&format!("DELETE FROM {table} WHERE org_id = "));
        q.bind(org.clone());
        q.execute(&mut *conn).await?;
    }
    insert_people(conn, org_id, people, now).await
}

/// Writes people and their group memberships (none of them may be in the roster yet).
async fn insert_people(conn: &mut Conn, org_id: Uuid, people: &[Person], now: i64) -> Result<()> {
    let org = org_id.to_string();
    insert_rows(
        conn,
        "directory_people",
        "org_id, external_id, first_name, last_name, email, email_key, user_type, active, \
         updated_at, leaving_date",
        people,
        rows_per_statement(10),
        |p, row| {
            row.bind(org.clone())
                .bind(p.external_id.clone())
                .bind(p.first_name.clone())
                .bind(p.last_name.clone())
                .bind(p.email.clone())
                .bind(p.email_key.clone())
                .bind(p.user_type.clone())
                .bind(p.active as i64)
                .bind(now)
                .bind(p.leaving_date.clone());
        },
    )
    .await?;
    let memberships: Vec<(&str, &str)> = people
        .iter()
        .flat_map(|p| {
            p.groups
                .iter()
                .map(move |g| (g.as_str(), p.external_id.as_str()))
        })
        .collect();
    insert_rows(
        conn,
        "directory_members",
        "org_id, group_name, external_id",
        &memberships,
        rows_per_statement(3),
        |(group, id), row| {
            row.bind(org.clone())
                .bind(group.to_string())
                .bind(id.to_string());
        },
    )
    .await?;
    Ok(())
}

/// Adds the given people to the roster or replaces them there (with their groups), leaving
/// everyone else as they are: a partial load. Run it in a transaction.
pub async fn upsert_for_org(
    conn: &mut Conn,
    org_id: Uuid,
    people: &[Person],
    now: i64,
) -> Result<()> {
    let org = org_id.to_string();
    let ids: Vec<String> = people.iter().map(|p| p.external_id.clone()).collect();
    for chunk in ids.chunks(crate::sql::MAX_PARAMS - 1) {
        for table in ["directory_members", "directory_people"] {
            let mut q = Sql::new(&format!("DELETE FROM {table} WHERE org_id = "));
            q.bind(org.clone())
                .push(" AND external_id IN (")
                .bind_list(chunk.iter().cloned())
                .push(")");
            q.execute(&mut *conn).await?;
        }
    }
    insert_people(conn, org_id, people, now).await
}

/// Every person of the organization's roster, without their groups.
pub async fn people(conn: &mut Conn, org_id: Uuid) -> Result<Vec<Person>> {
    let mut q = Sql::new(&format!(
        "SELECT {PERSON_COLUMNS} FROM directory_people p WHERE p.org_id = "
    ));
    q.bind(org_id.to_string()).push(" ORDER BY p.external_id");
    q.fetch_all_as(&mut *conn, person_of).await
}

/// The external ids of the organization's roster.
pub async fn external_ids(conn: &mut Conn, org_id: Uuid) -> Result<Vec<String>> {
    let mut q = Sql::new("SELECT external_id FROM directory_people WHERE org_id = ");
    q.bind(org_id.to_string());
    q.fetch_all_as(&mut *conn, |r| Ok(r.try_get(0)?)).await
}

/// How many people the roster holds, and how many of them are deactivated upstream.
pub async fn count(conn: &mut Conn, org_id: Uuid) -> Result<(i64, i64)> {
    let mut q = Sql::new(
        "SELECT COUNT(*), COUNT(CASE WHEN active = 0 THEN 1 END) FROM directory_people \
         WHERE org_id = ",
    );
    q.bind(org_id.to_string());
    let r = q.fetch_one(&mut *conn).await?;
    Ok((r.try_get(0)?, r.try_get(1)?))
}

/// Every group of the roster with its member counts, by name.
pub async fn groups(conn: &mut Conn, org_id: Uuid) -> Result<Vec<Group>> {
    let mut q = Sql::new(
        "SELECT m.group_name, COUNT(*), COUNT(CASE WHEN p.active = 0 THEN 1 END) \
         FROM directory_members m JOIN directory_people p \
         ON p.org_id = m.org_id AND p.external_id = m.external_id WHERE m.org_id = ",
    );
    q.bind(org_id.to_string())
        .push(" GROUP BY m.group_name ORDER BY m.group_name");
    q.fetch_all_as(&mut *conn, |r| {
        Ok(Group {
            name: r.try_get(0)?,
            members: r.try_get(1)?,
            inactive: r.try_get(2)?,
        })
    })
    .await
}

/// The members of one group, with all their groups.
pub async fn members(conn: &mut Conn, org_id: Uuid, group: &str) -> Result<Vec<Person>> {
    let mut q = Sql::new(&format!(
        "SELECT {PERSON_COLUMNS} FROM directory_people p JOIN directory_members m \
         ON m.org_id = p.org_id AND m.external_id = p.external_id WHERE m.org_id = "
    ));
    q.bind(org_id.to_string())
        .push(" AND m.group_name = ")
        .bind(group.to_string())
        .push(" ORDER BY p.external_id");
    let people = q.fetch_all_as(&mut *conn, person_of).await?;
    with_groups(conn, org_id, people).await
}

/// Those of `ids` the roster holds, with their groups (in no particular order).
pub async fn by_ids(conn: &mut Conn, org_id: Uuid, ids: &[String]) -> Result<Vec<Person>> {
    let mut people = Vec::new();
    for chunk in ids.chunks(crate::sql::MAX_PARAMS - 1) {
        let mut q = Sql::new(&format!(
            "SELECT {PERSON_COLUMNS} FROM directory_people p WHERE p.org_id = "
        ));
        q.bind(org_id.to_string())
            .push(" AND p.external_id IN (")
            .bind_list(chunk.iter().cloned())
            .push(")");
        for r in q.fetch_all(&mut *conn).await? {
            people.push(person_of(&r)?);
        }
    }
    with_groups(conn, org_id, people).await
}

/// Fills in each person's groups, by name.
async fn with_groups(
    conn: &mut Conn,
    org_id: Uuid,
    mut people: Vec<Person>,
) -> Result<Vec<Person>> {
    let mut of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let ids: Vec<String> = people.iter().map(|p| p.external_id.clone()).collect();
    for chunk in ids.chunks(crate::sql::MAX_PARAMS - 1) {
        let mut q =
            Sql::new("SELECT external_id, group_name FROM directory_members WHERE org_id = ");
        q.bind(org_id.to_string())
            .push(" AND external_id IN (")
            .bind_list(chunk.iter().cloned())
            .push(") ORDER BY group_name");
        for r in q.fetch_all(&mut *conn).await? {
            of.entry(r.try_get(0)?).or_default().push(r.try_get(1)?);
        }
    }
    for p in &mut people {
        p.groups = of.remove(&p.external_id).unwrap_or_default();
    }
    Ok(people)
}
