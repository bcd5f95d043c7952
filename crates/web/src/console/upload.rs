//! Uploads: a multipart form whose `csrf` field comes before its one file.

use axum::extract::Multipart;
use axum::extract::multipart::Field;

use crate::error::PageError;
use crate::session::ConsoleUser;

/// What an upload form brought.
pub enum Upload {
    /// The file's name as the browser gave it (if any) and its content.
    File {
        name: Option<String>,
        bytes: Vec<u8>,
    },
    /// The form had no file field.
    NoFile,
    /// The body broke off or the file grew past the limit.
    TooLarge,
}

/// Reads the form: the `csrf` field is checked first, and a file field named `file_field` is
/// read only after it, up to `limit` bytes. A form without a `csrf` field is refused.
pub async fn read(
    user: &ConsoleUser,
    form: &mut Multipart,
    file_field: &str,
    limit: u64,
) -> Result<Upload, PageError> {
    let mut csrf_ok = false;
    let mut upload = Upload::NoFile;
    loop {
        let Ok(next) = form.next_field().await else {
            return Ok(Upload::TooLarge);
        };
        let Some(f) = next else { break };
        match f.name() {
            Some("csrf") => {
                user.verify_csrf(&f.text().await.unwrap_or_default())?;
                csrf_ok = true;
            }
            Some(name) if name == file_field && csrf_ok => {
                let name = f.file_name().map(str::to_string);
                let Some(bytes) = read_capped(f, limit).await else {
                    return Ok(Upload::TooLarge);
                };
                upload = Upload::File { name, bytes };
            }
            _ => {}
        }
    }
    if !csrf_ok {
        user.verify_csrf("")?;
    }
    Ok(upload)
}

/// The field's content, or `None` once it passes `limit` bytes or the body breaks off.
async fn read_capped(mut f: Field<'_>, limit: u64) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    while let Some(chunk) = f.chunk().await.ok()? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() as u64 > limit {
            return None;
        }
    }
    Some(bytes)
}
