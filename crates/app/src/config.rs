//! Configuration, from flags or environment variables (see the README's table).

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the SQLite database and local mailbox live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to `sqlite://DATA_DIR/rollcall.db`.
    pub database_url: Option<String>,
    /// The address people reach the console at, for links in messages.
    pub public_url: String,
    /// Set the `Secure` flag on cookies (on behind HTTPS; off for plain-HTTP local use).
    pub secure_cookies: bool,
    /// Outgoing email; `None` keeps messages in the local mailbox the console shows.
    pub smtp: Option<SmtpConfig>,
    /// Outgoing SMS; `None` keeps them in the local mailbox.
    pub sms: Option<SmsConfig>,
    pub webhooks: WebhookConfig,
    pub upkeep: UpkeepConfig,
    /// The keys that seal secrets at rest (see [`crate::vault`]).
    pub secret_keys: crate::vault::KeySource,
}

/// What a serving process does on its own from time to time (`upkeep`).
#[derive(Debug, Clone)]
pub struct UpkeepConfig {
    /// A new OpenID Connect signing key is published once the newest is this old (µs); 0 never.
    pub key_rotation_micros: i64,
    /// Backups of the SQLite database on a schedule, when the operator asks for them.
    pub backups: Option<BackupSchedule>,
}

impl Default for UpkeepConfig {
    fn default() -> Self {
        UpkeepConfig {
            key_rotation_micros: 90 * 24 * 3_600 * 1_000_000,
            backups: None,
        }
    }
}

/// Where scheduled backups go, how often, and how many are kept.
#[derive(Debug, Clone)]
pub struct BackupSchedule {
    pub dir: PathBuf,
    /// A backup is taken once the newest in `dir` is this old (µs).
    pub every_micros: i64,
    /// The newest this many are kept; older scheduled backups in `dir` are removed.
    pub keep: usize,
}

/// Where webhooks may go and when a failing endpoint is turned off.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Endpoints on loopback, private or link-local addresses (and plain HTTP on loopback) are
    /// allowed: for tests and receivers on the same machine or network only.
    pub allow_private: bool,
    /// An endpoint whose deliveries fail without a success for this many days is disabled.
    pub disable_after_days: u32,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            allow_private: false,
            disable_after_days: 5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection, upgraded with STARTTLS (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same machine or in tests.
    None,
}

#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The From address, e.g. "Rollcall <no-reply@clinic.example>".
    pub from: String,
    /// Connections kept open to the server.
    pub pool_size: u32,
}

#[derive(Debug, Clone)]
pub struct SmsConfig {
    /// The provider's HTTP endpoint; each message is POSTed as JSON {to, from, body}.
    pub url: String,
    pub token: Option<String>,
    pub from: String,
}

impl Config {
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("rollcall.db").display()))
    }

    pub fn for_tests(database_url: String) -> Config {
        Config {
            data_dir: std::env::temp_dir(),
            database_url: Some(database_url),
            public_url: "http://127.0.0.1".into(),
            secure_cookies: false,
            smtp: None,
            sms: None,
            webhooks: WebhookConfig::default(),
            upkeep: UpkeepConfig::default(),
            secret_keys: crate::vault::KeySource::Given(vec![crate::vault::new_key_text()]),
        }
    }
}

/// How long a claim is held without being renewed: a bulk job's runner between chunks, a
/// dispatcher's batch of messages between heartbeats (it renews every third of this). Work whose
/// process died is taken over within this time. `ROLLCALL_LEASE_SECS` (or its older name
/// `ROLLCALL_JOB_LEASE_SECS`) sets it; 30 s by default.
pub fn lease_micros() -> i64 {
    static LEASE: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    *LEASE.get_or_init(|| {
        ["ROLLCALL_LEASE_SECS", "ROLLCALL_JOB_LEASE_SECS"]
            .iter()
            .find_map(|name| std::env::var(name).ok()?.parse::<i64>().ok())
            .filter(|s| *s > 0)
            .unwrap_or(30)
            * 1_000_000
    })
}
