//! The row editor of the review: each column of a row as a field, with the organization's own
//! choices where a column names something (user types, locations, roles, permissions).

use rollcall_domain::Capability;
use rollcall_domain::import::Column;
use rollcall_domain::permission::Permission;

use super::ReviewRow;
use crate::{App, AppError, Principal};

/// One field of the row editor.
#[derive(Debug, Clone)]
pub struct Field {
    pub column: Column,
    pub kind: FieldKind,
}

#[derive(Debug, Clone)]
pub enum FieldKind {
    /// Free text; `input` is the HTML input type.
    Text { value: String, input: &'static str },
    /// One value, typed or picked from suggestions (value, label).
    Suggest {
        value: String,
        options: Vec<(String, String)>,
    },
    /// Several values ticked among the choices (value, label, ticked); what the cell held that
    /// is none of them stays in `other`, as typed, so nothing of the file is lost.
    Choose {
        options: Vec<(String, String, bool)>,
        other: String,
    },
}

/// The editor's fields for a row, in template order.
pub async fn fields(app: &App, who: &Principal, row: &ReviewRow) -> Result<Vec<Field>, AppError> {
    who.require(Capability::BulkAdd)?;
    let mut conn = app.db.read_conn().await?;
    let policy = crate::access::policy_of(&mut conn, who.org_id).await?;
    let locations: Vec<(String, String)> = rollcall_store::locations::list(&mut conn, who.org_id)
        .await?
        .into_iter()
        .filter(|l| l.active)
        .map(|l| (l.code, l.name))
        .collect();
    let roles: Vec<(String, String)> = rollcall_store::roles::list(&mut conn, who.org_id)
        .await?
        .into_iter()
        .map(|r| (r.name.clone(), r.name))
        .collect();
    let permissions: Vec<(String, String)> = Permission::ALL
        .iter()
        .map(|p| (p.key().to_string(), p.label().to_string()))
        .collect();
    let user_types: Vec<(String, String)> = policy
        .user_types
        .iter()
        .map(|t| (t.short_label().to_string(), t.label.clone()))
        .collect();
    Ok(Column::ALL
        .iter()
        .map(|&column| {
            let value = row.cell(column).to_string();
            let kind = match column {
                Column::UserType => suggest(value, &user_types),
                Column::DefaultLocation => suggest(value, &locations),
                Column::Locations => choose(&value, &locations),
                Column::Roles => choose(&value, &roles),
                Column::Permissions => choose(&value, &permissions),
                Column::Email => text(value, "email"),
                Column::Mobile => text(value, "tel"),
                _ => text(value, "text"),
            };
            Field { column, kind }
        })
        .collect())
}

fn text(value: String, input: &'static str) -> FieldKind {
    FieldKind::Text { value, input }
}

fn suggest(value: String, options: &[(String, String)]) -> FieldKind {
    FieldKind::Suggest {
        value,
        options: options.to_vec(),
    }
}

/// Ticks the choices a list cell names (by value or label, ignoring case); keeps the rest.
fn choose(cell: &str, options: &[(String, String)]) -> FieldKind {
    let items: Vec<&str> = cell
        .split([';', '|', '\n', '\r'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let names = |item: &str, (value, label): &(String, String)| {
        item.eq_ignore_ascii_case(value) || item.eq_ignore_ascii_case(label)
    };
    FieldKind::Choose {
        options: options
            .iter()
            .map(|o| (o.0.clone(), o.1.clone(), items.iter().any(|i| names(i, o))))
            .collect(),
        other: items
            .iter()
            .filter(|i| !options.iter().any(|o| names(i, o)))
            .copied()
            .collect::<Vec<_>>()
            .join("; "),
    }
}
