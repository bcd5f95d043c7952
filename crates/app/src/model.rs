//! The records use cases hand to front ends. They are stored as they are, so they are the
//! store's own types, named here: front ends reach them through this module and never the
//! store itself.

pub use rollcall_store::api_tokens::ApiToken;
pub use rollcall_store::imports::Filter as ImportFilter;
pub use rollcall_store::jobs::Job;
pub use rollcall_store::locations::Location;
pub use rollcall_store::mailbox::MailboxMessage;
pub use rollcall_store::orgs::{OrgSettings, Organization};
pub use rollcall_store::roles::Role;
pub use rollcall_store::seats::Seats;
pub use rollcall_store::users::User;
