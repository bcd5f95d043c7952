//! CSV export of the user list, safe to open in a spreadsheet.

use crate::sheet::Sheet;
use crate::users::list::{ListParams, list};
use crate::{App, AppError, Principal};

/// Every user matching the filters (all pages), as CSV.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn users_csv(
    app: &App,
    who: &Principal,
    params: &ListParams,
) -> Result<Vec<u8>, AppError> {
    let mut sheet = Sheet::with_header(&[
        "name",
        "email",
        "username",
        "created_at",
        "status",
        "user_type",
        "locations",
    ])?;
    let mut params = ListParams {
        limit: Some(200),
        after: None,
        ..params.clone()
    };
    loop {
        let page = list(app, who, &params).await?;
        for u in &page.users {
            sheet.row([
                u.name.as_str(),
                &u.email,
                &u.username,
                &u.created_at,
                u.status.as_str(),
                u.user_type.as_deref().unwrap_or(""),
                &u.locations.join("; "),
            ])?;
        }
        match page.next {
            Some(n) => params.after = Some(n),
            None => break,
        }
    }
    sheet.into_bytes()
}
