//! Endpoint signing secrets: made at random, shown once as `whsec_` + base64, and kept sealed
//! under the server's key (see [`crate::vault`]), because signing needs the secret itself (a
//! hash would not do).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use crate::vault::Purpose;
use crate::{App, AppError};

const PREFIX: &str = "whsec_";
/// Bytes of a signing secret (Standard Webhooks asks for 24 to 64).
const SECRET_BYTES: usize = 32;

/// A new signing secret's bytes.
pub fn new_secret() -> Vec<u8> {
    let mut key = vec![0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut key);
    key
}

/// The secret as a receiver's library takes it.
pub fn shown(secret: &[u8]) -> String {
    format!("{PREFIX}{}", STANDARD.encode(secret))
}

pub fn seal(app: &App, secret: &[u8]) -> Result<String, AppError> {
    app.vault.seal(Purpose::WebhookSecret, secret)
}

pub fn unseal(app: &App, sealed: &str) -> Result<Vec<u8>, AppError> {
    app.vault.unseal(Purpose::WebhookSecret, sealed)
}
