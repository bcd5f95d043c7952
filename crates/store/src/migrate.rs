//! Forward-only migrations, embedded in the binary.
//!
//! A step is either portable (`NNNN_name.sql`) or written per engine
//! (`NNNN_name.sqlite.sql` + `NNNN_name.postgres.sql`) where an engine-specific index pays for
//! itself. Applied versions are recorded with a checksum so an edited migration is refused.

use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor, Row};

use crate::{Db, Engine, StoreError, now_micros};

struct Step {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const PORTABLE_INIT: &str = include_str!("../migrations/0001_init.sql");
const DELIVERY: &str = include_str!("../migrations/0003_delivery_registration.sql");
const AUDIT_FILTERS: &str = include_str!("../migrations/0004_audit_filters.sql");
const NOTIFICATIONS: &str = include_str!("../migrations/0005_notification_preferences.sql");
const JOB_INPUTS: &str = include_str!("../migrations/0006_job_inputs.sql");
const IMPORTS: &str = include_str!("../migrations/0007_imports.sql");
const DIRECTORY: &str = include_str!("../migrations/0008_directory.sql");
const AUDIT_BY_TIME: &str = include_str!("../migrations/0010_audit_by_time.sql");
const SERVER_KEYS: &str = include_str!("../migrations/0011_server_keys.sql");
const SCIM: &str = include_str!("../migrations/0012_scim.sql");

fn steps() -> Vec<Step> {
    vec![
        Step {
            version: 1,
            name: "init",
            sqlite: PORTABLE_INIT,
            postgres: PORTABLE_INIT,
        },
        Step {
            version: 2,
            name: "user_search",
            sqlite: include_str!("../migrations/0002_user_search.sqlite.sql"),
            postgres: include_str!("../migrations/0002_user_search.postgres.sql"),
        },
        Step {
            version: 3,
            name: "delivery_registration",
            sqlite: DELIVERY,
            postgres: DELIVERY,
        },
        Step {
            version: 4,
            name: "audit_filters",
            sqlite: AUDIT_FILTERS,
            postgres: AUDIT_FILTERS,
        },
        Step {
            version: 5,
            name: "notification_preferences",
            sqlite: NOTIFICATIONS,
            postgres: NOTIFICATIONS,
        },
        Step {
            version: 6,
            name: "job_inputs",
            sqlite: JOB_INPUTS,
            postgres: JOB_INPUTS,
        },
        Step {
            version: 7,
            name: "imports",
            sqlite: IMPORTS,
            postgres: IMPORTS,
        },
        Step {
            version: 8,
            name: "directory",
            sqlite: DIRECTORY,
            postgres: DIRECTORY,
        },
        Step {
            version: 9,
            name: "service_accounts",
            sqlite: include_str!("../migrations/0009_service_accounts.sqlite.sql"),
            postgres: include_str!("../migrations/0009_service_accounts.postgres.sql"),
        },
        Step {
            version: 10,
            name: "audit_by_time",
            sqlite: AUDIT_BY_TIME,
            postgres: AUDIT_BY_TIME,
        },
        Step {
            version: 11,
            name: "server_keys",
            sqlite: SERVER_KEYS,
            postgres: SERVER_KEYS,
        },
        Step {
            version: 12,
            name: "scim",
            sqlite: SCIM,
            postgres: SCIM,
        },
    ]
}

/// Applies every step not yet applied; returns the versions it applied.
pub async fn migrate(db: &Db) -> Result<Vec<i64>, StoreError> {
    let mut conn = db.write_conn().await?;
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, \
         checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let applied: Vec<(i64, String)> =
        sqlx::query("SELECT version, checksum FROM schema_migrations")
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| (r.get::<i64, _>(0), r.get::<String, _>(1)))
            .collect();
    let mut done = Vec::new();
    for step in steps() {
        let sql = match db.engine() {
            Engine::Sqlite => step.sqlite,
            Engine::Postgres => step.postgres,
        };
        let checksum = hex::encode(Sha256::digest(sql.as_bytes()));
        if let Some((_, known)) = applied.iter().find(|(v, _)| *v == step.version) {
            if *known != checksum {
                return Err(StoreError::Config(format!(
                    "migration {} ({}) was changed after it was applied; migrations are forward-only: add a new one instead",
                    step.version, step.name
                )));
            }
            continue;
        }
        let mut tx = conn.begin().await?;
        tx.execute(sql).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)")
            .bind(step.version)
            .bind(step.name)
            .bind(checksum)
            .bind(now_micros())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(
            version = step.version,
            name = step.name,
            "migration applied"
        );
        done.push(step.version);
    }
    Ok(done)
}
