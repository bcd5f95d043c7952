//! Organizations (tenants), their settings and licence seats.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use uuid::Uuid;

use crate::{Conn, Result, Sql, StoreError, parse_id};

/// Per-organization settings, stored as one JSON document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrgSettings {
    pub require_2fa: bool,
    pub allowed_2fa: Vec<String>,
    pub invitation_days: u32,
    pub idle_timeout_minutes: u32,
    pub absolute_timeout_hours: u32,
    pub password_min_length: u32,
    pub eula_version: u32,
    pub eula_text: String,
    pub lockout_threshold: u32,
    /// Notification categories and media the organization offers (codes of
    /// `rollcall_domain::notifications`).
    pub notification_categories: Vec<String>,
    pub notification_media: Vec<String>,
    /// How many years audit events are kept before they may be dropped (archived or live).
    pub audit_retention_years: u32,
    /// People who have not signed in for this many days are warned, then deactivated or
    /// flagged for review (`inactive_action`); 0 turns the rule off.
    pub inactive_after_days: u32,
    /// `deactivate` or `flag`.
    pub inactive_action: String,
    /// The role whose members may grant themselves emergency ("break-glass") access (its id);
    /// `None`: nobody may.
    pub emergency_role: Option<String>,
    /// The longest an emergency grant may last, in minutes.
    pub emergency_max_minutes: u32,
    /// What an access review's due date does to the people nobody reviewed: `false` hands them
    /// to the company admins, `true` revokes their elevated permissions.
    pub review_overdue_revokes: bool,
}

/// HIPAA's six years (45 CFR 164.316(b)(2)): the default and the shortest retention accepted.
pub const MIN_AUDIT_RETENTION_YEARS: u32 = 6;

impl Default for OrgSettings {
    fn default() -> Self {
        OrgSettings {
            require_2fa: false,
            allowed_2fa: vec!["email".into(), "sms".into(), "totp".into()],
            invitation_days: 7,
            idle_timeout_minutes: 15,
            absolute_timeout_hours: 12,
            password_min_length: 12,
            eula_version: 1,
            eula_text: String::new(),
            lockout_threshold: 5,
            notification_categories: ["appointments", "schedule", "messages", "tasks", "billing"]
                .map(String::from)
                .to_vec(),
            notification_media: ["email", "sms", "push"].map(String::from).to_vec(),
            audit_retention_years: MIN_AUDIT_RETENTION_YEARS,
            inactive_after_days: 0,
            inactive_action: "flag".into(),
            emergency_role: None,
            emergency_max_minutes: rollcall_domain::emergency::DEFAULT_MAX_MINUTES,
            review_overdue_revokes: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Organization {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub time_zone: String,
    pub settings: OrgSettings,
    /// The rule engine's data (tags and forbidden pairings), as JSON.
    pub policy: String,
    pub created_at: i64,
}

const COLUMNS: &str = "id, slug, name, time_zone, settings, policy, created_at";

fn from_row(r: &sqlx::any::AnyRow) -> Result<Organization> {
    let settings: String = r.try_get("settings")?;
    Ok(Organization {
        id: parse_id(&r.try_get::<String, _>("id")?)?,
        slug: r.try_get("slug")?,
        name: r.try_get("name")?,
        time_zone: r.try_get("time_zone")?,
        settings: serde_json::from_str(&settings)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        policy: r.try_get("policy")?,
        created_at: r.try_get("created_at")?,
    })
}

pub async fn insert(conn: &mut Conn, org: &Organization) -> Result<()> {
    let mut q = Sql::insert_into("organizations", COLUMNS);
    q.values_row(|row| {
        row.bind(org.id.to_string())
            .bind(org.slug.clone())
            .bind(org.name.clone())
            .bind(org.time_zone.clone())
            .bind(serde_json::to_string(&org.settings).expect("settings serialize"))
            .bind(org.policy.clone())
            .bind(org.created_at);
    });
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn get(conn: &mut Conn, id: Uuid) -> Result<Option<Organization>> {
    let mut q = Sql::new(&format!("SELECT {COLUMNS} FROM organizations WHERE id = "));
    q.bind(id.to_string());
    q.fetch_optional_as(&mut *conn, from_row).await
}

pub async fn get_by_slug(conn: &mut Conn, slug: &str) -> Result<Option<Organization>> {
    let mut q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM organizations WHERE slug = "
    ));
    q.bind(slug.to_string());
    q.fetch_optional_as(&mut *conn, from_row).await
}

pub async fn list(conn: &mut Conn) -> Result<Vec<Organization>> {
    let q = Sql::new(&format!(
        "SELECT {COLUMNS} FROM organizations ORDER BY slug"
    ));
    q.fetch_all_as(&mut *conn, from_row).await
}

pub async fn update_settings(conn: &mut Conn, id: Uuid, settings: &OrgSettings) -> Result<()> {
    let mut q = Sql::new("UPDATE organizations SET settings = ");
    q.bind(serde_json::to_string(settings).expect("settings serialize"))
        .push(" WHERE id = ")
        .bind(id.to_string());
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn set_seats(conn: &mut Conn, org_id: Uuid, product: &str, seats: i64) -> Result<()> {
    let mut q = Sql::insert_into("seats", "org_id, product, seats");
    q.values_row(|row| {
        row.bind(org_id.to_string())
            .bind(product.to_string())
            .bind(seats);
    })
    .push(" ON CONFLICT (org_id, product) DO UPDATE SET seats = excluded.seats");
    q.execute(&mut *conn).await?;
    Ok(())
}

pub async fn seats(conn: &mut Conn, org_id: Uuid) -> Result<Vec<(String, i64)>> {
    let mut q = Sql::new("SELECT product, seats FROM seats WHERE org_id = ");
    q.bind(org_id.to_string()).push(" ORDER BY product");
    Ok(q.fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
        .collect())
}
