//! Connection pools for both engines behind one type.
//!
//! Queries are written once, in the SQL both engines accept (`$1` placeholders, `ON CONFLICT`,
//! `RETURNING`), and run through sqlx's `Any` driver. SQLite gets a single-connection write pool:
//! it allows one writer at a time anyway, and queueing writers in the pool avoids the
//! "database is locked" failures of upgrading read transactions.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};

use crate::StoreError;

pub type Tx = sqlx::Transaction<'static, sqlx::Any>;
pub type Conn = sqlx::AnyConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Db {
    read: AnyPool,
    write: AnyPool,
    engine: Engine,
    url: String,
}

impl Db {
    /// Opens `sqlite://path` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        sqlx::any::install_default_drivers();
        let engine = if url.starts_with("sqlite:") {
            Engine::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Engine::Postgres
        } else {
            return Err(StoreError::Config(format!(
                "unsupported database URL “{url}”: use sqlite://PATH or postgres://USER@HOST/DB"
            )));
        };
        let url = match engine {
            Engine::Sqlite if !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        check_reachable(engine, &url, &options).await?;
        let (read, write) = match engine {
            Engine::Sqlite => {
                let pool = |max: u32| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .acquire_timeout(Duration::from_secs(30))
                        .after_connect(|conn, _| {
                            Box::pin(async move {
                                conn.execute(
                                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                                     PRAGMA foreign_keys=ON; PRAGMA busy_timeout=10000; \
                                     PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;",
                                )
                                .await?;
                                Ok(())
                            })
                        })
                };
                let write = pool(1).connect_with(options.clone()).await?;
                let read = pool(8).connect_with(options).await?;
                (read, write)
            }
            Engine::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?;
                (pool.clone(), pool)
            }
        };
        Ok(Db {
            read,
            write,
            engine,
            url,
        })
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The SQLite database's file; `None` on PostgreSQL.
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        if self.engine != Engine::Sqlite {
            return None;
        }
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url).ok()?;
        Some(opts.get_filename().to_path_buf())
    }

    /// Pool for reads outside a transaction.
    pub fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// A write transaction: every use case runs in exactly one. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`), waiting up to the busy timeout for another process
    /// (a CLI import beside the server) to finish: a deferred transaction that read first would
    /// instead fail at its first write with "database is locked", which SQLite does not retry.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self.engine {
            Engine::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            Engine::Postgres => self.write.begin().await?,
        })
    }

    /// A pooled connection on the write side (migrations, statements outside a transaction).
    pub async fn write_conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, StoreError> {
        Ok(self.write.acquire().await?)
    }

    /// A pooled connection for reads.
    pub async fn read_conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, StoreError> {
        Ok(self.read.acquire().await?)
    }

    /// Connections of each pool: (pool, open, idle). PostgreSQL has one pool for both.
    pub fn pool_use(&self) -> Vec<(&'static str, u32, u32)> {
        let of = |p: &AnyPool| (p.size(), p.num_idle() as u32);
        match self.engine {
            Engine::Sqlite => {
                let (r, w) = (of(&self.read), of(&self.write));
                vec![("read", r.0, r.1), ("write", w.0, w.1)]
            }
            Engine::Postgres => {
                let p = of(&self.write);
                vec![("shared", p.0, p.1)]
            }
        }
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// How long opening the database may take before the command gives up and says why.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens one connection first, so an unreachable server or a missing directory is reported with
/// where and why at once, instead of as a pool that timed out 30 s later.
async fn check_reachable(
    engine: Engine,
    url: &str,
    options: &AnyConnectOptions,
) -> Result<(), StoreError> {
    let place = match engine {
        Engine::Sqlite => {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?;
            let file = opts.get_filename().to_path_buf();
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
                && !dir.is_dir()
            {
                return Err(StoreError::Config(format!(
                    "cannot open the SQLite database {}: the directory {} does not exist (create it, or choose another --data-dir or --database-url)",
                    file.display(),
                    dir.display()
                )));
            }
            format!("the SQLite database {}", file.display())
        }
        Engine::Postgres => {
            let opts = sqlx::postgres::PgConnectOptions::from_str(url)?;
            format!(
                "PostgreSQL at {}:{} (database {})",
                opts.get_host(),
                opts.get_port(),
                opts.get_database().unwrap_or("named after the user")
            )
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            Ok(())
        }
        Ok(Err(e)) => Err(StoreError::Config(format!(
            "cannot connect to {place}: {} (is the server running, and is the URL right?)",
            cause(&e)
        ))),
        Err(_) => Err(StoreError::Config(format!(
            "cannot connect to {place}: no answer within {} s (is the server running, and are the host and port right?)",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// The innermost reason of a connection error ("Connection refused (os error 111)").
fn cause(e: &sqlx::Error) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two processes on one SQLite file (a CLI import beside the server): each has its own
    /// pools. A transaction that reads, then writes after the other committed, must wait its
    /// turn and see the other's row, not fail with "database is locked".
    #[tokio::test]
    async fn writers_of_two_processes_on_one_sqlite_file_take_turns() {
        let path = std::env::temp_dir().join(format!("rollcall-turns-{}.db", uuid::Uuid::now_v7()));
        let url = format!("sqlite://{}", path.display());
        let a = Db::connect(&url).await.unwrap();
        let b = Db::connect(&url).await.unwrap();
        let mut conn = a.write_conn().await.unwrap();
        conn.execute("CREATE TABLE t (n BIGINT NOT NULL)")
            .await
            .unwrap();
        drop(conn);

        let next = |db: Db| async move {
            let mut tx = db.begin().await?;
            let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
                .fetch_one(&mut *tx)
                .await?;
            tokio::time::sleep(Duration::from_millis(150)).await;
            sqlx::query("INSERT INTO t (n) VALUES ($1)")
                .bind(count + 1)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok::<_, StoreError>(())
        };
        let (first, second) = tokio::join!(next(a.clone()), next(b.clone()));
        first.unwrap();
        second.unwrap();
        let mut numbers: Vec<i64> = sqlx::query_scalar("SELECT n FROM t ORDER BY n")
            .fetch_all(a.reader())
            .await
            .unwrap();
        numbers.sort();
        assert_eq!(
            numbers,
            vec![1, 2],
            "each saw the other's row: no lost update"
        );
        a.close().await;
        b.close().await;
        let _ = std::fs::remove_file(&path);
    }
}
