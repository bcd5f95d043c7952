//! Where a benchmark's data lives and how to get rid of it: a fresh SQLite file in a temporary
//! directory, or a fresh database on a PostgreSQL server; a note on the machine it ran on, and
//! counts printed the way every report prints them.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use rollcall_app::testing::store::Engine;
use sqlx::{Connection, Executor};

pub struct Store {
    pub url: String,
    pub engine: Engine,
    pub sqlite_dir: Option<PathBuf>,
    pg_admin: Option<(String, String)>,
}

impl Store {
    /// `label` names the SQLite file; with a `postgres://` server URL, `pg_database` is dropped
    /// and created there.
    pub async fn create(label: &str, server: Option<&str>, pg_database: &str) -> Result<Store> {
        match server {
            None => {
                let dir = std::env::temp_dir().join(format!(
                    "rollcall-bench-{label}-{}-{}",
                    std::process::id(),
                    rollcall_app::testing::store::now_micros()
                ));
                std::fs::create_dir_all(&dir)?;
                Ok(Store {
                    url: format!("sqlite://{}", dir.join(format!("{label}.db")).display()),
                    engine: Engine::Sqlite,
                    sqlite_dir: Some(dir),
                    pg_admin: None,
                })
            }
            Some(admin) if admin.starts_with("postgres") => {
                let mut c = sqlx::PgConnection::connect(admin)
                    .await
                    .context("connecting to the PostgreSQL server")?;
                c.execute(format!("DROP DATABASE IF EXISTS {pg_database} WITH (FORCE)").as_str())
                    .await?;
                c.execute(format!("CREATE DATABASE {pg_database}").as_str())
                    .await?;
                c.close().await?;
                Ok(Store {
                    url: with_database(admin, pg_database),
                    engine: Engine::Postgres,
                    sqlite_dir: None,
                    pg_admin: Some((admin.to_string(), pg_database.to_string())),
                })
            }
            Some(other) => bail!("--database-url must be postgres://…, not {other}"),
        }
    }

    /// Removes the data, unless `keep`.
    pub async fn dispose(&self, keep: bool) -> Result<()> {
        if keep {
            println!("database kept: {}", self.url);
            return Ok(());
        }
        if let Some(dir) = &self.sqlite_dir {
            std::fs::remove_dir_all(dir)?;
        }
        if let Some((admin, name)) = &self.pg_admin {
            let mut c = sqlx::PgConnection::connect(admin).await?;
            c.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await?;
            c.close().await?;
        }
        Ok(())
    }
}

/// The same server URL with another database name.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    match query {
        Some(q) => format!("{}/{name}?{q}", &base[..host_end]),
        None => format!("{}/{name}", &base[..host_end]),
    }
}

/// The engine as the reports name it.
pub fn engine_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "SQLite (WAL)",
        Engine::Postgres => "PostgreSQL",
    }
}

/// The load average now, as /proc shows it.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| {
            let f: Vec<&str> = s.split_whitespace().take(3).collect();
            (f.len() == 3).then(|| f.join(" "))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Cores, CPU model, OS and load: the machine a figure was measured on.
pub fn machine_note(cores: usize) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!(
        "{cores} cores ({cpu}), {} {}, load average {}",
        std::env::consts::OS,
        std::env::consts::ARCH,
        load_average()
    )
}

/// `n` with a comma between groups of three digits: 1,000,000.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
