//! A person's unfinished work in a form of several steps, kept on the server so it outlives
//! leaving the page, a reload or a closed tab. Each person sees only their own drafts.

use serde::Serialize;
use serde::de::DeserializeOwned;

use rollcall_domain::ValueError;
use rollcall_store::drafts;

use crate::{App, AppError, Principal};

/// More than any form's draft needs (a batch of thousands of ids stays well below it).
const MAX_BYTES: usize = 512 * 1024;

/// Keeps `value` as the person's draft of `form`.
pub async fn save<T: Serialize>(
    app: &App,
    who: &Principal,
    form: &str,
    value: &T,
) -> Result<(), AppError> {
    let body = serde_json::to_string(value).map_err(|e| AppError::Internal(e.to_string()))?;
    if body.len() > MAX_BYTES {
        return Err(ValueError::new(
            "draft",
            "draft_too_large",
            "This is more than the form can keep between steps: finish it in smaller parts.",
        )
        .into());
    }
    let mut tx = app.db.begin().await?;
    drafts::save(
        &mut tx,
        who.org_id,
        who.user_id,
        form,
        &body,
        app.clock.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The person's draft of `form`; a draft that no longer reads (the form changed) is none.
pub async fn load<T: DeserializeOwned>(
    app: &App,
    who: &Principal,
    form: &str,
) -> Result<Option<T>, AppError> {
    let mut conn = app.db.read_conn().await?;
    let body = drafts::get(&mut conn, who.org_id, who.user_id, form).await?;
    Ok(body.and_then(|b| serde_json::from_str(&b).ok()))
}

/// Drops the person's draft of `form`.
pub async fn discard(app: &App, who: &Principal, form: &str) -> Result<(), AppError> {
    let mut tx = app.db.begin().await?;
    drafts::delete(&mut tx, who.org_id, who.user_id, form).await?;
    tx.commit().await?;
    Ok(())
}
