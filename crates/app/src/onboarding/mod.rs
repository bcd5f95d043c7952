//! Onboarding: everything that adds people to an organization.
//!
//! - `invite`: one person, or many by pasting addresses; resend and revoke.
//! - `import`: CSV files staged for review, then committed as a bulk job (`import::run`).
//! - `directory`: the practice's roster, and adding people from it through the same import.
//! - `writer`: the one writer every path above uses for users, access, invitations, messages
//!   and audit events, under the licence-seat check.

pub mod directory;
pub mod import;
pub mod invite;
pub mod writer;
