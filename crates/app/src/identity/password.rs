//! Passwords: argon2id with OWASP parameters, a minimum length and a bundled list of common
//! passwords. Hashing runs on the blocking pool: it is deliberately slow.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rollcall_domain::ValueError;

use crate::AppError;

const COMMON: &str = include_str!("common-passwords.txt");

fn argon() -> Argon2<'static> {
    // OWASP: m = 19 MiB, t = 2, p = 1.
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19_456, 2, 1, None).expect("valid params"),
    )
}

/// Checks a new password against the organization's policy.
pub fn check_policy(password: &str, min_length: usize) -> Result<(), ValueError> {
    if password.chars().count() < min_length {
        return Err(ValueError::new(
            "password",
            "password_too_short",
            format!(
                "The password must be at least {min_length} characters long; a short sentence is easy to remember."
            ),
        ));
    }
    if password.chars().count() > 256 {
        return Err(ValueError::new(
            "password",
            "password_too_long",
            "The password must be at most 256 characters long.",
        ));
    }
    let lower = password.to_lowercase();
    if COMMON.lines().any(|l| l == lower) {
        return Err(ValueError::new(
            "password",
            "password_common",
            "This password is on the list of commonly used passwords; choose one that others are unlikely to use.",
        ));
    }
    Ok(())
}

pub async fn hash(password: String) -> Result<String, AppError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        argon()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| AppError::Internal(format!("hashing failed: {e}")))
    })
    .await
    .map_err(|e| AppError::Internal(e.to_string()))?
}

/// Verifies; with no stored hash it still does the work, so timing does not reveal whether the
/// account exists.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY.with(|d| d.clone()));
        match PasswordHash::new(&stored) {
            Ok(parsed) => {
                argon()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
                    && stored != DUMMY.with(|d| d.clone())
            }
            Err(_) => false,
        }
    })
    .await
    .unwrap_or(false)
}

thread_local! {
    static DUMMY: String = {
        let salt = SaltString::encode_b64(b"rollcall-dummy-salt").expect("salt");
        argon().hash_password(b"not a password", &salt).expect("hash").to_string()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_policy_refuses_weak_passwords() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("correct horse battery".into(), Some(h.clone())).await);
        assert!(!verify("wrong horse battery".into(), Some(h)).await);
        assert!(
            !verify("not a password".into(), None).await,
            "the dummy hash never signs anyone in"
        );
        assert_eq!(
            check_policy("short", 12).unwrap_err().code,
            "password_too_short"
        );
        assert_eq!(
            check_policy("Password1234", 12).unwrap_err().code,
            "password_common"
        );
        assert!(check_policy("a quiet walk by the river", 12).is_ok());
    }
}
