//! Imports: rows from a CSV file or picked from the directory are staged and checked for review,
//! then committed as a bulk job that creates Pending users and queues their invitations.
//!
//! Staging (`stage`) writes only the import's own rows, in batches, so memory stays bounded
//! whatever the file size; the review (`review`) reads them back page by page; committing
//! (`commit`) checks access and licence seats once for the whole batch, then the job (`run`)
//! creates the users chunk by chunk. `plan` holds what they share.

mod commit;
pub mod editor;
mod plan;
mod review;
pub mod run;
mod stage;

pub use commit::{CommitOptions, commit, commit_options};
pub use plan::{Access, Commit, MAX_UPLOAD_BYTES, Summary};
pub(crate) use plan::{CHUNK, Context, Params, SharedAccess};
pub use review::{Review, ReviewRow, edit_row, page_holding, review, rows_after};
pub(crate) use stage::withdraw;
pub use stage::{stage, upload};
