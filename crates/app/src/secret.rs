//! Random tokens (256 bits) and their stored form (SHA-256), compared in constant time.

use rand::RngCore;
use subtle::ConstantTimeEq;

/// A new 256-bit token, hex-encoded: safe in URLs, cookies and headers.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub use rollcall_store::token_hash as hash;

/// Constant-time equality for secrets held in memory (e.g. CSRF tokens).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
