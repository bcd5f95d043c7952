//! Rollcall's use cases. Each change runs in one transaction and records its audit events in it;
//! handlers and commands call these functions and hold no SQL and no rules themselves.

pub mod access;
pub mod audit;
pub mod clock;
mod coalesce;
pub mod compliance;
pub mod config;
pub mod delivery;
pub mod demo;
pub mod drafts;
pub mod error;
pub mod idempotency;
pub mod identity;
pub mod jobs;
/// The store, for tests and benchmarks that set up or inspect data directly.
#[cfg(feature = "testing")]
pub mod testing {
    pub use rollcall_store as store;
}
pub mod model;
pub mod oidc;
pub mod onboarding;
pub mod ops;
pub mod org;
mod paging;
pub mod provisioning;
pub mod rate_limit;
pub mod reviews;
pub mod schema;
pub mod secret;
pub mod sheet;
pub mod shutdown;
pub mod upkeep;
pub mod users;
pub mod vault;
pub mod webhooks;

use std::sync::Arc;

pub use access::Principal;
pub use clock::Clock;
pub use config::Config;
pub use error::AppError;
pub use rollcall_domain as domain;

use rollcall_store::Db;

/// Everything a use case needs, cheap to clone into each request.
#[derive(Clone)]
pub struct App {
    /// Private: front ends reach the data through use cases only.
    pub(crate) db: Db,
    pub clock: Clock,
    pub config: Arc<Config>,
    pub limits: identity::auth::Limiter,
    /// This process's drain (SIGTERM): background work watches it.
    pub shutdown: shutdown::Shutdown,
    /// The key that signs pre-session form tokens, read from the database once.
    form_key: Arc<tokio::sync::OnceCell<String>>,
    /// The published OpenID Connect signing keys, read from the database now and then.
    oidc_keys: Arc<tokio::sync::Mutex<Option<oidc::keys::KeyRing>>>,
    /// The operator's keys that seal the secrets the server reads back.
    pub vault: Arc<vault::Vault>,
    /// Concurrent single writes of one kind, written together.
    groups: Arc<Groups>,
}

/// Writes that arrive one request at a time but are written in groups (see [`coalesce`]).
struct Groups {
    invites: onboarding::invite::InviteGroups,
    creations: provisioning::CreationGroups,
    scim_requests: provisioning::requests::RequestGroups,
}

impl Default for Groups {
    fn default() -> Self {
        Groups {
            invites: coalesce::Coalescer::new(onboarding::invite::INVITES_PER_GROUP),
            creations: coalesce::Coalescer::new(provisioning::CREATIONS_PER_GROUP),
            scim_requests: coalesce::Coalescer::new(provisioning::requests::REQUESTS_PER_GROUP),
        }
    }
}

impl App {
    /// Connects, migrates and returns a ready application; a SQLite database with migrations
    /// to apply is copied beside itself first.
    pub async fn start(config: Config) -> Result<App, AppError> {
        App::start_with(config, true).await
    }

    /// [`App::start`], copying the database before an upgrade only when `backup_before_migrate`.
    pub async fn start_with(config: Config, backup_before_migrate: bool) -> Result<App, AppError> {
        let db = Db::connect(&config.database_url()).await?;
        let copy = match backup_before_migrate {
            true => ops::backup::before_upgrade(&db).await?,
            false => None,
        };
        rollcall_store::migrate(&db)
            .await
            .map_err(|e| ops::backup::upgrade_failed(e, copy.as_deref()))?;
        Ok(App::with_db(db, config, Clock::system()))
    }

    /// The SQLite database's file (`None` on PostgreSQL): the one a serving process locks.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self.db.sqlite_path()
    }

    /// Which database engine serves this process ("SQLite" or "PostgreSQL"), for logs.
    pub fn database(&self) -> &'static str {
        match self.db.engine() {
            rollcall_store::Engine::Sqlite => "SQLite",
            rollcall_store::Engine::Postgres => "PostgreSQL",
        }
    }

    /// The database, for tests and benchmarks that set up or inspect data directly.
    #[cfg(feature = "testing")]
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// A request rate limit every process on this database shares (see [`rate_limit`]).
    pub fn shared_limit(&self, name: &'static str, per_minute: u32) -> rate_limit::Limit {
        rate_limit::Limit::new(self.db.clone(), name, per_minute)
    }

    pub fn with_db(db: Db, config: Config, clock: Clock) -> App {
        let vault = Arc::new(vault::Vault::new(config.secret_keys.clone()));
        App {
            limits: identity::auth::Limiter::new(db.clone()),
            db,
            clock,
            config: Arc::new(config),
            shutdown: shutdown::Shutdown::default(),
            form_key: Arc::default(),
            oidc_keys: Arc::default(),
            vault,
            groups: Arc::default(),
        }
    }
}
