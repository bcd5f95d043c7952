//! Secrets the server must read back (second-factor TOTP secrets, OpenID Connect signing keys,
//! webhook signing secrets, the key that signs audit archives) are sealed with AES-256-GCM under a key the operator keeps outside
//! the database, so a copy of the database (a dump, a backup) does not give them away.
//!
//! A sealed value is `rc1.KEYID.NONCE.CIPHERTEXT` (base64url): it names the key that sealed
//! it, so keys can be changed while the server runs (`rollcall secrets rotate`, see
//! [`reseal`]). What each value is for is bound into it, so one cannot be passed off as another.

mod keys;
mod legacy;
pub mod reseal;

use std::sync::{Arc, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::aead::{Aad, NONCE_LEN, Nonce};
use ring::rand::{SecureRandom, SystemRandom};

pub use keys::{KeySource, MISSING, new_key_text};

use crate::AppError;

const FORMAT: &str = "rc1";

/// What a sealed value is; bound into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    TotpSecret,
    OidcSigningKey,
    WebhookSecret,
    AuditArchiveKey,
    /// The value the server opens at start to learn that it holds the database's key.
    Check,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Purpose::TotpSecret => b"totp secret",
            Purpose::OidcSigningKey => b"oidc signing key",
            Purpose::WebhookSecret => b"webhook secret",
            Purpose::AuditArchiveKey => b"audit archive key",
            Purpose::Check => b"key check",
        }
    }
}

/// The server's keys, read from their source on first use.
pub struct Vault {
    source: KeySource,
    keys: RwLock<Option<Arc<Vec<keys::Key>>>>,
}

/// Whether `source` gives usable keys; what is wrong and how to fix it otherwise.
pub fn check(source: &KeySource) -> Result<(), String> {
    keys::read(source).map(|_| ())
}

impl Vault {
    pub fn new(source: KeySource) -> Vault {
        Vault {
            source,
            keys: RwLock::new(None),
        }
    }

    /// The keys, read from the source the first time (or again when `reload`).
    fn keys(&self, reload: bool) -> Result<Arc<Vec<keys::Key>>, AppError> {
        if !reload && let Some(k) = self.keys.read().expect("not poisoned").as_ref() {
            return Ok(k.clone());
        }
        let read = Arc::new(keys::read(&self.source).map_err(AppError::Internal)?);
        *self.keys.write().expect("not poisoned") = Some(read.clone());
        Ok(read)
    }

    /// The id of the key that seals: an error saying how to give one when there is none.
    pub fn current_key_id(&self) -> Result<String, AppError> {
        Ok(self.keys(false)?[0].id.clone())
    }

    /// The start every value sealed under the current key has.
    pub fn current_prefix(&self) -> Result<String, AppError> {
        Ok(format!("{FORMAT}.{}.", self.current_key_id()?))
    }

    pub fn seal(&self, purpose: Purpose, plain: &[u8]) -> Result<String, AppError> {
        let keys = self.keys(false)?;
        let key = &keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| AppError::Internal("no randomness".into()))?;
        let mut data = plain.to_vec();
        key.cipher
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.label()),
                &mut data,
            )
            .map_err(|_| AppError::Internal("could not seal a secret".into()))?;
        Ok(format!(
            "{FORMAT}.{}.{}.{}",
            key.id,
            B64.encode(nonce),
            B64.encode(data)
        ))
    }

    pub fn unseal(&self, purpose: Purpose, sealed: &str) -> Result<Vec<u8>, AppError> {
        let broken = || AppError::Internal(format!("a stored {} cannot be read", name(purpose)));
        let mut parts = sealed.split('.');
        let (Some(FORMAT), Some(id), Some(nonce), Some(data), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(broken());
        };
        let nonce: [u8; NONCE_LEN] = B64
            .decode(nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(broken)?;
        let mut data = B64.decode(data).map_err(|_| broken())?;
        let keys = match self.keys(false)? {
            k if k.iter().any(|k| k.id == id) => k,
            // Perhaps added to the key file for a rotation since it was read.
            _ => self.keys(true)?,
        };
        let key = keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| unknown_key(id, &keys))?;
        let plain = key
            .cipher
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(purpose.label()),
                &mut data,
            )
            .map_err(|_| broken())?;
        Ok(plain.to_vec())
    }

    /// Opens what `sealed` holds as text (a TOTP secret).
    pub fn unseal_text(&self, purpose: Purpose, sealed: &str) -> Result<String, AppError> {
        String::from_utf8(self.unseal(purpose, sealed)?)
            .map_err(|_| AppError::Internal(format!("a stored {} is not text", name(purpose))))
    }
}

fn name(purpose: Purpose) -> &'static str {
    std::str::from_utf8(purpose.label()).unwrap_or("secret")
}

fn unknown_key(id: &str, keys: &[keys::Key]) -> AppError {
    let held: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
    AppError::Internal(format!(
        "the database's secrets are sealed under key {id}, which this server does not hold (it holds {}): give the key file that has it, newest key first",
        held.join(", ")
    ))
}
