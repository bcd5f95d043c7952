//! Identity: who someone is and how they prove it.
//!
//! - `auth`: sign-in, sessions, sign-out, the pause after failures.
//! - `register`: an invitation link to an Active account (details, second factor, EULA).
//! - `staged`: sessions marked with the one step they may do (second factor, EULA).
//! - `mfa`: second factors (TOTP, codes by email or SMS, recovery codes).
//! - `password`: argon2id hashes and the password rules.
//! - `api_tokens`: scoped tokens for integrations.

pub mod api_tokens;
pub mod auth;
pub mod mfa;
pub mod password;
pub mod register;
pub mod staged;
