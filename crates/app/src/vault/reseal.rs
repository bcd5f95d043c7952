//! Keeping every sealed value under the current key: at a server's start (values an earlier
//! version wrote) and on `rollcall secrets rotate` (values sealed under an older key).
//!
//! Safe while servers run, in any number of processes: a value is replaced only if it is still
//! what was read, and each holds, until replaced, a value every server can open (a server meeting
//! a key it does not know reads its key file again).

use rollcall_store::sealed::{self, Column};
use rollcall_store::server_keys;
use serde::Serialize;

use super::{FORMAT, Purpose, legacy};
use crate::{App, AppError};

/// Where the value the server opens at start is kept.
const CHECK: &str = "secret_key_check";
const CHECK_TEXT: &[u8] = b"rollcall";
/// Values resealed per transaction.
const BATCH: i64 = 500;

/// How many values were sealed again, by kind.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Resealed {
    pub totp_secrets: u64,
    pub signing_keys: u64,
    pub webhook_secrets: u64,
    pub archive_keys: u64,
}

impl Resealed {
    pub fn total(&self) -> u64 {
        self.totp_secrets + self.signing_keys + self.webhook_secrets + self.archive_keys
    }
}

/// At start: refuses a key that is not the one the database's secrets are sealed under; on the
/// first start with sealing, seals what an earlier version stored.
pub async fn on_start(app: &App) -> Result<(), AppError> {
    let vault = &app.vault;
    vault.current_key_id()?;
    let check = {
        let mut conn = app.db.read_conn().await?;
        server_keys::get(&mut conn, CHECK).await?
    };
    match check {
        Some(check) => {
            vault.unseal(Purpose::Check, &check)?;
        }
        None => {
            let resealed = reseal(app).await?;
            if resealed.total() > 0 {
                tracing::info!(?resealed, "sealed the secrets an earlier version stored");
            }
        }
    }
    Ok(())
}

/// Seals under the current key every value that is not, then marks the database as sealed
/// under it.
pub async fn reseal(app: &App) -> Result<Resealed, AppError> {
    let prefix = app.vault.current_prefix()?;
    let mut done = Resealed::default();
    for column in Column::ALL {
        let n = reseal_column(app, column, &prefix).await?;
        match column {
            Column::TotpSecret => done.totp_secrets += n,
            Column::OidcSigningKey => done.signing_keys += n,
            Column::WebhookSecret | Column::WebhookPreviousSecret => done.webhook_secrets += n,
            Column::AuditArchiveKey => done.archive_keys += n,
        }
    }
    let check = app.vault.seal(Purpose::Check, CHECK_TEXT)?;
    let mut tx = app.db.begin().await?;
    server_keys::put(&mut tx, CHECK, &check, app.clock.now()).await?;
    // Nothing is sealed under them any more.
    server_keys::remove(&mut tx, legacy::WEBHOOK_KEY).await?;
    server_keys::remove(&mut tx, legacy::OIDC_KEY).await?;
    tx.commit().await?;
    Ok(done)
}

async fn reseal_column(app: &App, column: Column, prefix: &str) -> Result<u64, AppError> {
    let purpose = match column {
        Column::TotpSecret => Purpose::TotpSecret,
        Column::OidcSigningKey => Purpose::OidcSigningKey,
        Column::WebhookSecret | Column::WebhookPreviousSecret => Purpose::WebhookSecret,
        Column::AuditArchiveKey => Purpose::AuditArchiveKey,
    };
    let mut after = String::new();
    let mut count = 0;
    loop {
        let mut tx = app.db.begin().await?;
        let batch = sealed::not_starting_with(&mut tx, column, prefix, &after, BATCH).await?;
        let Some((last, _)) = batch.last() else {
            break;
        };
        after = last.clone();
        for (key, stored) in &batch {
            let plain = match stored.starts_with(&format!("{FORMAT}.")) {
                true => app.vault.unseal(purpose, stored)?,
                false => legacy::open(&mut tx, column, stored).await?,
            };
            let sealed = app.vault.seal(purpose, &plain)?;
            if sealed::replace(&mut tx, column, key, stored, &sealed).await? {
                count += 1;
            }
        }
        tx.commit().await?;
    }
    Ok(count)
}
