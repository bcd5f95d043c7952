//! The server's secret keys: where the operator gives them, and how they are read.

use std::fmt;
use std::path::PathBuf;

use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use sha2::{Digest, Sha256};

/// How a key is written: 64 hexadecimal characters (32 random bytes).
const KEY_HEX_LEN: usize = 64;

/// Where the server's secret keys come from, newest first: the first seals, every one opens.
#[derive(Clone, Default)]
pub enum KeySource {
    /// A file with one key a line. It is read again when a value sealed under a key this process
    /// has not seen turns up, so a key added for a rotation reaches running servers.
    File(PathBuf),
    /// Keys given directly (an environment variable, or tests).
    Given(Vec<String>),
    /// None given: nothing can be sealed or opened.
    #[default]
    Missing,
}

/// Never shows a key, so configuration can be logged.
impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::File(path) => write!(f, "File({})", path.display()),
            KeySource::Given(keys) => write!(f, "Given({} keys hidden)", keys.len()),
            KeySource::Missing => write!(f, "Missing"),
        }
    }
}

/// What to tell an operator who gave no key.
pub const MISSING: &str = "no secret key: Rollcall seals second-factor secrets, sign-in signing keys and webhook secrets with a key kept outside the database. Make one with `rollcall secrets new-key > /etc/rollcall/secret.key` (readable by the server only) and give it with --secret-key-file or ROLLCALL_SECRET_KEY_FILE (or the key itself in ROLLCALL_SECRET_KEY)";

/// One key: a short public id (stored beside what it sealed) and the cipher.
pub struct Key {
    pub id: String,
    pub cipher: LessSafeKey,
}

/// A new key, as `rollcall secrets new-key` prints it.
pub fn new_key_text() -> String {
    crate::secret::new_token()
}

/// The keys of `source`, newest first; a message saying what is wrong otherwise.
pub fn read(source: &KeySource) -> Result<Vec<Key>, String> {
    let texts = match source {
        KeySource::Missing => return Err(MISSING.to_string()),
        KeySource::Given(keys) => keys.clone(),
        KeySource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the secret key file {}: {e}", path.display()))?
            .lines()
            .map(str::to_string)
            .collect(),
    };
    let keys = texts
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.starts_with('#'))
        .enumerate()
        .map(|(i, t)| parse(t).map_err(|e| format!("secret key {} of {source:?}: {e}", i + 1)))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(format!("{source:?} holds no key. {MISSING}"));
    }
    Ok(keys)
}

fn parse(text: &str) -> Result<Key, String> {
    let bytes = (text.len() == KEY_HEX_LEN)
        .then(|| hex::decode(text).ok())
        .flatten()
        .ok_or_else(|| {
            format!(
                "a key is {KEY_HEX_LEN} hexadecimal characters (this one has {}); make one with `rollcall secrets new-key`",
                text.len()
            )
        })?;
    let cipher = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &bytes).expect("32 bytes"));
    Ok(Key {
        id: id_of(&bytes),
        cipher,
    })
}

/// A key's id: the start of a hash of it, so values name their key without revealing it.
fn id_of(key: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"rollcall secret key id:");
    h.update(key);
    hex::encode(&h.finalize()[..4])
}
