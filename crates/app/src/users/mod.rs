//! The user list: search, filters, sorting and keyset pages, and its CSV export.

pub mod export;
pub mod list;
