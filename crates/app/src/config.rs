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
        }
    }
}
