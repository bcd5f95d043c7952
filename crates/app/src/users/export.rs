//! The user list exported whole, as CSV (safe to open in a spreadsheet) or NDJSON, read page by
//! page so memory stays bounded however many users the organization has.

use futures::{Stream, StreamExt};
use rollcall_domain::UserStatus;
use serde::Serialize;
use uuid::Uuid;

use crate::sheet::Sheet;
use crate::users::list::{ListParams, list};
use crate::{App, AppError, Principal};

/// How an export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    /// One JSON object a line.
    Ndjson,
}

/// One user as exported: ids, access and status, for a script to act on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExportedUser {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub username: String,
    pub status: UserStatus,
    pub user_type: Option<String>,
    /// Location names.
    pub locations: Vec<String>,
    /// Role names.
    pub roles: Vec<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

const HEADER: [&str; 9] = [
    "id",
    "name",
    "email",
    "username",
    "status",
    "user_type",
    "locations",
    "roles",
    "created_at",
];

const PAGE: u32 = 200;

/// Every user matching the filters, in chunks. The filters and the caller's access are checked
/// (and the first page read) before the first chunk, so a refusal is an error rather than a
/// broken download.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn users(
    app: &App,
    who: &Principal,
    params: &ListParams,
    format: Format,
) -> Result<impl Stream<Item = Result<Vec<u8>, AppError>> + Send + 'static, AppError> {
    let params = ListParams {
        limit: Some(PAGE),
        after: None,
        ..params.clone()
    };
    let first = page(app, who, &params).await?;
    let mut head = match format {
        Format::Csv => Sheet::with_header(&HEADER)?.into_bytes()?,
        Format::Ndjson => Vec::new(),
    };
    head.extend(chunk(&first.0, format)?);
    let (app, who) = (app.clone(), who.clone());
    let rest = futures::stream::try_unfold(first.1, move |after| {
        let (app, who, params) = (app.clone(), who.clone(), params.clone());
        async move {
            let Some(after) = after else {
                return Ok(None);
            };
            let params = ListParams {
                after: Some(after),
                ..params
            };
            let (users, next) = page(&app, &who, &params).await?;
            Ok(Some((chunk(&users, format)?, next)))
        }
    });
    Ok(futures::stream::once(async move { Ok(head) }).chain(rest))
}

/// One page of the list with each user's role names.
async fn page(
    app: &App,
    who: &Principal,
    params: &ListParams,
) -> Result<(Vec<ExportedUser>, Option<String>), AppError> {
    let page = list(app, who, params).await?;
    let ids: Vec<Uuid> = page.users.iter().map(|u| u.id).collect();
    let mut conn = app.db.read_conn().await?;
    let mut roles = rollcall_store::roles::names_by_user(&mut conn, who.org_id, &ids).await?;
    let users = page
        .users
        .into_iter()
        .map(|u| ExportedUser {
            roles: roles.remove(&u.id).unwrap_or_default(),
            id: u.id,
            name: u.name,
            email: u.email,
            username: u.username,
            status: u.status,
            user_type: u.user_type,
            locations: u.locations,
            created_at: u.created_at,
        })
        .collect();
    Ok((users, page.next))
}

fn chunk(users: &[ExportedUser], format: Format) -> Result<Vec<u8>, AppError> {
    match format {
        Format::Csv => {
            let mut sheet = Sheet::without_header();
            for u in users {
                sheet.row([
                    u.id.to_string().as_str(),
                    &u.name,
                    &u.email,
                    &u.username,
                    u.status.as_str(),
                    u.user_type.as_deref().unwrap_or(""),
                    &u.locations.join("; "),
                    &u.roles.join("; "),
                    &u.created_at,
                ])?;
            }
            sheet.into_bytes()
        }
        Format::Ndjson => {
            let mut out = Vec::new();
            for u in users {
                serde_json::to_writer(&mut out, u)
                    .map_err(|e| AppError::Internal(e.to_string()))?;
                out.push(b'\n');
            }
            Ok(out)
        }
    }
}
