//! Access: who acts and what their profile lets them do, and every use case that changes
//! people's access.
//!
//! - `principal`: the acting person or token, their capabilities and the one check.
//! - `rules`: the rule engine's view of stored people (policy, subjects, admin census).
//! - `profile`: one person's profile, credentials and access, judged whole.
//! - `roles`: roles and their permissions, judged per member.
//! - `bulk_update`: permissions and locations for a selection, as a bulk job.
//! - `lifecycle`: deactivation and reactivation.
//! - `batch`: several of these changes in one transaction, judged against one admin census.
//! - `leaving`: leaving dates, ended by the upkeep round.
//! - `emergency`: emergency ("break-glass") access, its expiry and its review afterwards.

mod batch;
pub mod bulk_update;
pub mod emergency;
pub mod inactivity;
pub mod leaving;
pub mod lifecycle;
pub(crate) mod names;
mod principal;
pub mod profile;
pub mod roles;
mod rules;

pub(crate) use batch::Batch;
pub use principal::Principal;
pub(crate) use rules::{
    OrgScope, admin_census, location_names, parse_policy, policy_of, subject_of, subjects,
    to_subject, user_in,
};
