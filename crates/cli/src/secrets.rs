//! `rollcall secrets`: the key that seals secrets at rest, where it comes from, and changing it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rollcall_app::App;
use rollcall_app::vault::{self, KeySource};

use crate::output::{self, Output};

#[derive(clap::Subcommand)]
pub enum SecretsCommand {
    /// Print a new random key (64 hexadecimal characters) for a key file.
    NewKey,
    /// Seal every stored secret under the key file's first key. To change keys while servers
    /// run: put a new key on the first line of the key file, keep the old one below it, run
    /// this, then remove the old line.
    Rotate,
}

/// Where the keys come from: the file given, else the key in ROLLCALL_SECRET_KEY; the demo
/// keeps one in its data directory.
pub fn source(file: Option<&Path>, demo_dir: Option<&Path>) -> anyhow::Result<KeySource> {
    if let Some(file) = file {
        return Ok(KeySource::File(file.to_path_buf()));
    }
    if let Ok(keys) = std::env::var("ROLLCALL_SECRET_KEY") {
        return Ok(KeySource::Given(vec![keys]));
    }
    match demo_dir {
        Some(dir) => demo_key_file(dir).map(KeySource::File),
        None => Ok(KeySource::Missing),
    }
}

/// The demo's key file, made on first use and readable by its owner only.
fn demo_key_file(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("secret.key");
    if !path.exists() {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create the demo's key file {}", path.display()))?;
        writeln!(file, "{}", vault::new_key_text())?;
    }
    Ok(path)
}

pub fn new_key() {
    println!("{}", vault::new_key_text());
}

pub async fn rotate(app: &App, out: Output) -> anyhow::Result<()> {
    let resealed = vault::reseal::reseal(app).await?;
    let key = app.vault.current_key_id()?;
    if out.json() {
        return output::print_json(&serde_json::json!({ "key": key, "resealed": resealed }));
    }
    println!(
        "Every secret is sealed under key {key}: sealed again {} TOTP secrets, {} signing keys, {} webhook secrets, {} audit archive keys. Keys below the first in the key file can now be removed.",
        resealed.totp_secrets,
        resealed.signing_keys,
        resealed.webhook_secrets,
        resealed.archive_keys
    );
    Ok(())
}
