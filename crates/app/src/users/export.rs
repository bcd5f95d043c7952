//! CSV export of the user list, safe to open in a spreadsheet.

use crate::users::list::{ListParams, list};
use crate::{App, AppError, Principal};

/// Spreadsheets run cells that start with = + - @ (or a tab/CR) as formulas: prefix them with
/// an apostrophe so they stay text.
pub fn neutralize(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

/// Every user matching the filters (all pages), as CSV.
pub async fn users_csv(
    app: &App,
    who: &Principal,
    params: &ListParams,
) -> Result<Vec<u8>, AppError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| AppError::Internal(e.to_string());
    w.write_record([
        "name",
        "email",
        "username",
        "created_at",
        "status",
        "user_type",
        "locations",
    ])
    .map_err(io)?;
    let mut params = ListParams {
        limit: Some(200),
        after: None,
        ..params.clone()
    };
    loop {
        let page = list(app, who, &params).await?;
        for u in &page.users {
            w.write_record([
                neutralize(&u.name),
                neutralize(&u.email),
                neutralize(&u.username),
                u.created_at.clone(),
                u.status.as_str().to_string(),
                neutralize(u.user_type.as_deref().unwrap_or("")),
                neutralize(&u.locations.join("; ")),
            ])
            .map_err(io)?;
        }
        match page.next {
            Some(n) => params.after = Some(n),
            None => break,
        }
    }
    w.into_inner()
        .map_err(|e| AppError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::neutralize;

    #[test]
    fn formula_cells_become_text() {
        assert_eq!(
            neutralize("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(neutralize("+1 415"), "'+1 415");
        assert_eq!(neutralize("-2"), "'-2");
        assert_eq!(neutralize("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralize("Dana Lee"), "Dana Lee");
    }
}
