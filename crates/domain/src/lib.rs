//! Rollcall's domain: value types that parse their input, the user status machine, the
//! permission catalogue, user types and the one rule engine every access change goes through.
//! Pure Rust: no I/O, no async, no SQL.

#[macro_use]
mod macros;

pub mod capability;
pub mod delivery;
pub mod email;
pub mod emergency;
pub mod error;
pub mod import;
pub mod job;
pub mod leaving;
pub mod mobile;
pub mod name;
pub mod notifications;
pub mod npi;
pub mod paste;
pub mod permission;
pub mod provider;
pub mod rules;
pub mod status;
pub mod taxonomy;
pub mod user_type;
pub mod username;
pub mod webhook;

pub use capability::{Capability, Scope, TokenOwner};
pub use delivery::DeliveryState;
pub use email::Email;
pub use error::ValueError;
pub use job::{JobKind, JobState};
pub use leaving::LeavingDate;
pub use mobile::Mobile;
pub use npi::Npi;
pub use permission::{CATALOGUE_VERSION, Module, Permission};
pub use provider::{Capacity, SchedulingStep};
pub use rules::{
    Actor, AdminCensus, BulkChanges, Change, Forbidden, Names, Outcome, Path, Plan, Policy,
    Refusal, RuleId, Subject, Tally,
};
pub use status::{Transition, UserStatus};
pub use taxonomy::{DEMO_TAXONOMY, TaxonomyCode};
pub use user_type::UserTypeDef;
pub use username::Username;
pub use webhook::EventType;
