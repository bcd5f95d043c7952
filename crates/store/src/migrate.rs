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
const SHARED_LIMITS_AND_CLAIMS: &str =
    include_str!("../migrations/0013_shared_limits_and_claims.sql");
const WEBHOOKS: &str = include_str!("../migrations/0014_webhooks.sql");
const OIDC: &str = include_str!("../migrations/0015_oidc.sql");
const DRAFTS: &str = include_str!("../migrations/0016_drafts.sql");
const WEBHOOK_BATCHES: &str = include_str!("../migrations/0017_webhook_batches.sql");
const SCIM_REQUESTS: &str = include_str!("../migrations/0018_scim_requests.sql");
const LEAVING_DATES: &str = include_str!("../migrations/0020_leaving_dates.sql");
const AUDIT_RETENTION: &str = include_str!("../migrations/0021_audit_retention.sql");
const EMERGENCY_ACCESS: &str = include_str!("../migrations/0022_emergency_access.sql");
const ACCESS_REVIEWS: &str = include_str!("../migrations/0023_access_reviews.sql");
const INACTIVITY: &str = include_str!("../migrations/0024_inactivity.sql");
const USER_NAMES_BY_EMAIL: &str = include_str!("../migrations/0025_user_names_by_email.sql");

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
        Step {
            version: 13,
            name: "shared_limits_and_claims",
            sqlite: SHARED_LIMITS_AND_CLAIMS,
            postgres: SHARED_LIMITS_AND_CLAIMS,
        },
        Step {
            version: 14,
            name: "webhooks",
            sqlite: WEBHOOKS,
            postgres: WEBHOOKS,
        },
        Step {
            version: 15,
            name: "oidc",
            sqlite: OIDC,
            postgres: OIDC,
        },
        Step {
            version: 16,
            name: "drafts",
            sqlite: DRAFTS,
            postgres: DRAFTS,
        },
        Step {
            version: 17,
            name: "webhook_batches",
            sqlite: WEBHOOK_BATCHES,
            postgres: WEBHOOK_BATCHES,
        },
        Step {
            version: 18,
            name: "scim_requests",
            sqlite: SCIM_REQUESTS,
            postgres: SCIM_REQUESTS,
        },
        Step {
            version: 19,
            name: "api_rate_paces",
            sqlite: include_str!("../migrations/0019_api_rate_paces.sqlite.sql"),
            postgres: include_str!("../migrations/0019_api_rate_paces.postgres.sql"),
        },
        Step {
            version: 20,
            name: "leaving_dates",
            sqlite: LEAVING_DATES,
            postgres: LEAVING_DATES,
        },
        Step {
            version: 21,
            name: "audit_retention",
            sqlite: AUDIT_RETENTION,
            postgres: AUDIT_RETENTION,
        },
        Step {
            version: 22,
            name: "emergency_access",
            sqlite: EMERGENCY_ACCESS,
            postgres: EMERGENCY_ACCESS,
        },
        Step {
            version: 23,
            name: "access_reviews",
            sqlite: ACCESS_REVIEWS,
            postgres: ACCESS_REVIEWS,
        },
        Step {
            version: 24,
            name: "inactivity",
            sqlite: INACTIVITY,
            postgres: INACTIVITY,
        },
        Step {
            version: 25,
            name: "user_names_by_email",
            sqlite: USER_NAMES_BY_EMAIL,
            postgres: USER_NAMES_BY_EMAIL,
        },
    ]
}

/// Any fixed number: the key of the PostgreSQL advisory lock that serializes migrations.
const MIGRATION_LOCK: i64 = 0x726f_6c6c_6361_6c6c; // "rollcall"

/// The newest migration this binary carries.
pub fn latest_version() -> i64 {
    steps().iter().map(|s| s.version).max().unwrap_or(0)
}

/// A migration that failed: it was rolled back whole, so the database is as the previous step
/// left it.
#[derive(Debug, thiserror::Error)]
#[error("migration {version:04} ({name}) failed and was rolled back: {reason}")]
pub struct MigrationFailed {
    pub version: i64,
    pub name: String,
    pub reason: String,
}

/// The migrations an existing database has not applied yet: empty for a new database (one
/// without Rollcall's tables) and for one that is up to date.
pub async fn pending(db: &Db) -> Result<Vec<(i64, &'static str)>, StoreError> {
    let mut conn = db.read_conn().await?;
    let known = match db.engine() {
        Engine::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'"
        }
        Engine::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'schema_migrations' \
             AND table_schema = current_schema()"
        }
    };
    let tables: i64 = sqlx::query_scalar(known).fetch_one(&mut *conn).await?;
    if tables == 0 {
        return Ok(Vec::new());
    }
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_migrations")
        .fetch_all(&mut *conn)
        .await?;
    if applied.is_empty() {
        return Ok(Vec::new());
    }
    Ok(steps()
        .into_iter()
        .filter(|s| !applied.contains(&s.version))
        .map(|s| (s.version, s.name))
        .collect())
}

/// Applies every step not yet applied; returns the versions it applied.
///
/// Several processes may start together on one database: on PostgreSQL they take turns under an
/// advisory lock held on this connection for the whole run, so the second waits and then finds
/// nothing to do. On SQLite each step's transaction starts by writing its version row, which
/// takes the database's single write lock (waiting out the busy timeout) before anything is
/// read, so a step another process applied meanwhile is skipped.
pub async fn migrate(db: &Db) -> Result<Vec<i64>, StoreError> {
    let mut conn = db.write_conn().await?;
    if db.engine() == Engine::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let applied = apply_pending(db, &mut conn, steps()).await;
    if db.engine() == Engine::Postgres {
        let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *conn)
            .await;
        if unlocked.is_err() {
            // The lock belongs to the session: a connection that cannot say so is not reused.
            conn.detach();
            return applied;
        }
    }
    applied
}

/// [`migrate`] with steps of a test's own after the real ones (a step that fails, for one).
#[cfg(any(test, feature = "testing"))]
pub async fn migrate_with(
    db: &Db,
    extra: &[(i64, &'static str, &'static str)],
) -> Result<Vec<i64>, StoreError> {
    let mut all = steps();
    all.extend(extra.iter().map(|&(version, name, sql)| Step {
        version,
        name,
        sqlite: sql,
        postgres: sql,
    }));
    let mut conn = db.write_conn().await?;
    apply_pending(db, &mut conn, all).await
}

async fn apply_pending(
    db: &Db,
    conn: &mut sqlx::AnyConnection,
    steps: Vec<Step>,
) -> Result<Vec<i64>, StoreError> {
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
    for step in steps {
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
        // Written first, so the step holds the write lock before it reads anything.
        let claimed = sqlx::query(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(step.version)
        .bind(step.name)
        .bind(checksum)
        .bind(now_micros())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            continue;
        }
        // The step's statements and its version row commit together or not at all.
        if let Err(e) = tx.execute(sql).await {
            let _ = tx.rollback().await;
            return Err(StoreError::Migration(MigrationFailed {
                version: step.version,
                name: step.name.to_string(),
                reason: e.to_string(),
            }));
        }
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
