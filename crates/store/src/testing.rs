//! Fresh databases for tests, on either engine.
//!
//! SQLite: a new file in the temp directory. PostgreSQL: a new database on the server named by
//! `ROLLCALL_TEST_POSTGRES_URL`, dropped when the test ends. Without that variable the
//! PostgreSQL variant is skipped, except under `CI=true`, where it fails.

use crate::{Db, migrate};

pub struct TestDb {
    pub db: Db,
    cleanup: Cleanup,
}

enum Cleanup {
    File(std::path::PathBuf),
    Database { admin_url: String, name: String },
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let path = std::env::temp_dir().join(format!("rollcall-test-{}.db", uuid::Uuid::now_v7()));
        let db = Db::connect(&format!("sqlite://{}", path.display()))
            .await
            .expect("open sqlite");
        migrate(&db).await.expect("migrate sqlite");
        TestDb {
            db,
            cleanup: Cleanup::File(path),
        }
    }

    /// `None` when PostgreSQL is not configured (and this is not CI).
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var("ROLLCALL_TEST_POSTGRES_URL") else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "CI=true but ROLLCALL_TEST_POSTGRES_URL is not set: the PostgreSQL suite must run in CI"
                );
            }
            eprintln!("skipped: ROLLCALL_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!("rollcall_test_{}", uuid::Uuid::now_v7().simple());
        let admin = Db::connect(&admin_url)
            .await
            .expect("connect to ROLLCALL_TEST_POSTGRES_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(admin.reader())
            .await
            .expect("create test database");
        admin.close().await;
        let db = Db::connect(&with_database(&admin_url, &name))
            .await
            .expect("connect test database");
        migrate(&db).await.expect("migrate postgres");
        Some(TestDb {
            db,
            cleanup: Cleanup::Database { admin_url, name },
        })
    }

    pub fn url(&self) -> String {
        self.db.url().to_string()
    }
}

/// Replaces the database name in a PostgreSQL URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map(|(b, q)| (b, Some(q)))
        .unwrap_or((url, None));
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Database { admin_url, name } => {
                let (admin_url, name, db) = (admin_url.clone(), name.clone(), self.db.clone());
                // Drop runs inside the test's runtime: do the async cleanup on a thread of its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async move {
                        db.close().await;
                        if let Ok(admin) = Db::connect(&admin_url).await {
                            let _ = sqlx::query(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .execute(admin.reader())
                            .await;
                            admin.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Runs each named `async fn(TestDb)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! engine_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::testing::TestDb::sqlite().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres().await {
                    super::$name(db).await;
                }
            }
        }
    )*};
}
