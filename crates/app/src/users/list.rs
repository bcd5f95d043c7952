//! The user list: what the console page, the API and the CSV export share.

use rollcall_domain::{Capability, Email, UserStatus, ValueError, status};
use rollcall_store::Conn;
use rollcall_store::invitations::Delivery;
use rollcall_store::users::{self, Cursor, ListQuery, SortKey, StatusFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::names;
use crate::clock::rfc3339;
use crate::{App, AppError, Principal};

/// Query parameters as people and clients send them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, utoipa::IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Text found in the name, email or username (case-insensitive).
    pub q: Option<String>,
    /// pending, expired, active, inactive, blocked or disabled (blank: any).
    #[param(schema_with = crate::schema::status)]
    pub status: Option<String>,
    /// A user type code of the organization, e.g. `pta`.
    pub user_type: Option<String>,
    /// A location by id, code or name.
    pub location: Option<String>,
    /// A role by id or name.
    pub role: Option<String>,
    /// Exactly this email address (case-insensitive): a lookup.
    pub email: Option<String>,
    /// The id the organization's directory gives the person (exact): a lookup.
    pub external_id: Option<String>,
    /// Users created or changed (as the audit log records) at or after this RFC 3339 time
    /// (blank is refused: it is no time).
    #[param(format = DateTime)]
    pub updated_since: Option<String>,
    /// created (default), name, email, username; prefix "-" for descending.
    #[param(schema_with = crate::schema::sort)]
    pub sort: Option<String>,
    /// The `next` of the previous page.
    pub after: Option<String>,
    /// The `prev` of the following page: page backwards.
    pub before: Option<String>,
    /// Users a page, 1 to 200 (50 when absent; other values are refused).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// One user of the list.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct UserRow {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub username: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub created_micros: i64,
    pub status: UserStatus,
    pub user_type: Option<String>,
    pub locations: Vec<String>,
    /// For pending and expired users: how the invitation's delivery went ("queued", "sent",
    /// "failed: …").
    pub invitation: Option<String>,
    /// For an invitation scheduled to go out later: when (RFC 3339).
    #[schema(format = DateTime)]
    pub scheduled_for: Option<String>,
    /// `scheduled_for` in microseconds since the epoch.
    #[serde(skip)]
    pub scheduled_micros: Option<i64>,
}

/// One page of the user list.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub users: Vec<UserRow>,
    /// Pass as `after` for the next page.
    pub next: Option<String>,
    /// Pass as `before` for the previous page; `null` on the first page.
    pub prev: Option<String>,
}

fn blank(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn parse_uuid(field: &'static str, s: &str) -> Result<Uuid, ValueError> {
    Uuid::parse_str(s).map_err(|_| {
        ValueError::new(
            field,
            "id_invalid",
            format!("“{s}” is not a {field} id; pick one from the list."),
        )
    })
}

/// An RFC 3339 time in microseconds, or a refusal that shows the form.
fn instant_of(text: &str) -> Result<i64, ValueError> {
    crate::clock::instant(text).ok_or_else(|| {
        ValueError::new(
            "updated_since",
            "time_invalid",
            format!(
                "“{}” is not an RFC 3339 time: write it like 2026-11-30T09:00:00Z.",
                text.chars().take(60).collect::<String>()
            ),
        )
    })
}

impl ListParams {
    pub fn to_query(&self, org_id: Uuid, now: i64) -> Result<ListQuery, ValueError> {
        let (descending, sort_name) = match blank(&self.sort) {
            Some(s) => s.strip_prefix('-').map(|s| (true, s)).unwrap_or((false, s)),
            None => (true, "created"),
        };
        let sort = match sort_name {
            "created" => SortKey::Created,
            "name" => SortKey::Name,
            "email" => SortKey::Email,
            "username" => SortKey::Username,
            other => {
                return Err(ValueError::new(
                    "sort",
                    "sort_unknown",
                    format!(
                        "Cannot sort by “{other}”: use created, name, email or username, with “-” in front for descending."
                    ),
                ));
            }
        };
        let status = match blank(&self.status) {
            None => None,
            Some(s) => Some(match UserStatus::parse(s)? {
                UserStatus::Expired => StatusFilter::Expired,
                UserStatus::Pending => StatusFilter::PendingUnexpired,
                other => StatusFilter::Stored(other),
            }),
        };
        Ok(ListQuery {
            org_id,
            search: blank(&self.q).map(|s| s.chars().take(100).collect()),
            status,
            user_type: blank(&self.user_type).map(str::to_string),
            location: blank(&self.location)
                .map(|s| parse_uuid("location", s))
                .transpose()?,
            role: blank(&self.role)
                .map(|s| parse_uuid("role", s))
                .transpose()?,
            email_key: blank(&self.email)
                .map(|e| Email::parse(e).map(|e| e.match_key().to_string()))
                .transpose()
                .map_err(|e| ValueError::new("email", e.code, e.message))?,
            external_id: blank(&self.external_id).map(str::to_string),
            changed_since: self.updated_since.as_deref().map(instant_of).transpose()?,
            sort,
            descending,
            after: blank(&self.after)
                .map(|s| decode_cursor(s, sort))
                .transpose()?,
            before: match (blank(&self.after), blank(&self.before)) {
                (Some(_), Some(_)) => {
                    return Err(ValueError::new(
                        "before",
                        "cursor_invalid",
                        "Page forwards (`after`) or backwards (`before`), not both at once.",
                    ));
                }
                (_, before) => before.map(|s| decode_cursor(s, sort)).transpose()?,
            },
            limit: crate::paging::page_size(self.limit, 50, 200, "users")?,
            now,
        })
    }

    /// The same parameters with their values checked against the organization: a user type by
    /// code, a location by id, code or name, a role by id or name (ids afterwards). An unknown
    /// value is refused with the valid ones, never ignored.
    async fn resolved(&self, conn: &mut Conn, org_id: Uuid) -> Result<ListParams, AppError> {
        let mut out = self.clone();
        if let Some(code) = blank(&self.user_type) {
            let policy = crate::access::policy_of(conn, org_id).await?;
            if !policy.user_types.iter().any(|t| t.code == code) {
                let codes: Vec<&str> = policy.user_types.iter().map(|t| t.code.as_str()).collect();
                return Err(names::unknown("user_type", UNKNOWN, "user type", code, &codes).into());
            }
        }
        if let Some(wanted) = blank(&self.location) {
            let all = rollcall_store::locations::list(conn, org_id).await?;
            let id = names::location_id(&all, "location", UNKNOWN, wanted)?;
            out.location = Some(id.to_string());
        }
        if let Some(wanted) = blank(&self.role) {
            let all = rollcall_store::roles::list(conn, org_id).await?;
            let id = names::role_id(&all, "role", UNKNOWN, wanted)?;
            out.role = Some(id.to_string());
        }
        Ok(out)
    }
}

const UNKNOWN: &str = "filter_value_unknown";

/// The list's query for a principal: parameters parsed and their values checked.
pub(crate) async fn query_for(
    conn: &mut Conn,
    who: &Principal,
    params: &ListParams,
    now: i64,
) -> Result<ListQuery, AppError> {
    Ok(params
        .resolved(conn, who.org_id)
        .await?
        .to_query(who.org_id, now)?)
}

/// The filters that select users for a change (a bulk update). Unlike the list's parameters,
/// an empty filter selects nobody: selecting everyone takes `"all": true`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct UserFilter {
    pub q: Option<String>,
    pub status: Option<String>,
    pub user_type: Option<String>,
    pub location: Option<String>,
    pub role: Option<String>,
    /// Select every user the other fields match, even when none is set.
    pub all: bool,
}

impl UserFilter {
    /// True when the filter names no search and no filter value.
    pub fn names_nothing(&self) -> bool {
        [
            &self.q,
            &self.status,
            &self.user_type,
            &self.location,
            &self.role,
        ]
        .iter()
        .all(|v| blank(v).is_none())
    }

    pub fn list_params(&self) -> ListParams {
        ListParams {
            q: self.q.clone(),
            status: self.status.clone(),
            user_type: self.user_type.clone(),
            location: self.location.clone(),
            role: self.role.clone(),
            ..ListParams::default()
        }
    }
}

const CURSOR: &str = "users";

/// The list's cursor: the sort value and the id of the last row, in the one cursor form every
/// list uses (`paging::cursor`).
fn encode_cursor(c: &Cursor) -> String {
    match c {
        Cursor::Int(v, id) => crate::paging::cursor(CURSOR, format!("{v}\u{1f}{id}")),
        Cursor::Text(v, id) => crate::paging::cursor(CURSOR, format!("{v}\u{1f}{id}")),
    }
}

fn decode_cursor(s: &str, sort: SortKey) -> Result<Cursor, ValueError> {
    let raw: String = crate::paging::position(CURSOR, s)?;
    let bad = || {
        ValueError::new(
            "after",
            "cursor_invalid",
            "The page cursor is not valid for this sort; start again from the first page.",
        )
    };
    let (v, id) = raw.split_once('\u{1f}').ok_or_else(bad)?;
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(match sort {
        SortKey::Created => Cursor::Int(v.parse().map_err(|_| bad())?, id),
        _ => Cursor::Text(v.to_string(), id),
    })
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn list(app: &App, who: &Principal, params: &ListParams) -> Result<UserPage, AppError> {
    who.require(Capability::ViewUsers)?;
    let now = app.clock.now();
    let mut conn = app.db.read_conn().await?;
    let query = query_for(&mut conn, who, params, now).await?;
    let page = users::list(&mut conn, app.db.engine(), &query).await?;
    let pending: Vec<Uuid> = page
        .rows
        .iter()
        .filter(|r| r.user.status == UserStatus::Pending)
        .map(|r| r.user.id)
        .collect();
    let mut delivery = rollcall_store::invitations::delivery_of(&mut conn, &pending).await?;
    Ok(UserPage {
        users: page
            .rows
            .into_iter()
            .map(|r| UserRow {
                id: r.user.id,
                name: r.user.display_name,
                email: r.user.email,
                username: r.user.username,
                created_at: rfc3339(r.user.created_at),
                created_micros: r.user.created_at,
                status: status::derive(r.user.status, r.user.invite_expires_at, now),
                user_type: r.user.user_type,
                locations: r.locations,
                scheduled_micros: scheduled(&delivery, r.user.id, now),
                scheduled_for: scheduled(&delivery, r.user.id, now).map(rfc3339),
                invitation: delivery.remove(&r.user.id).map(|d| {
                    match (d.state.as_str(), d.error) {
                        (state @ ("failed" | "retrying"), Some(e)) => format!("{state}: {e}"),
                        _ => d.state,
                    }
                }),
            })
            .collect(),
        next: page.next.as_ref().map(encode_cursor),
        prev: page.prev.as_ref().map(encode_cursor),
    })
}

/// How many users the list's search and filters match, up to `cap` (`cap + 1` means "more").
pub async fn count(
    app: &App,
    who: &Principal,
    params: &ListParams,
    cap: u32,
) -> Result<u32, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let query = query_for(&mut conn, who, params, app.clock.now()).await?;
    Ok(users::count_matching(&mut conn, app.db.engine(), &query, cap).await?)
}

/// When a user's invitation is to go out, if it waits for a later time.
fn scheduled(
    delivery: &std::collections::BTreeMap<Uuid, Delivery>,
    user: Uuid,
    now: i64,
) -> Option<i64> {
    delivery
        .get(&user)
        .filter(|d| d.state == "queued" && d.send_at > now)
        .map(|d| d.send_at)
}

/// The choices the list's filters offer: (value, label) pairs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FilterOptions {
    pub statuses: Vec<(String, String)>,
    pub user_types: Vec<(String, String)>,
    pub locations: Vec<(String, String)>,
    pub roles: Vec<(String, String)>,
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn filter_options(app: &App, who: &Principal) -> Result<FilterOptions, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let policy = crate::access::policy_of(&mut conn, who.org_id).await?;
    Ok(FilterOptions {
        statuses: UserStatus::ALL
            .iter()
            .map(|s| (s.as_str().to_string(), s.label().to_string()))
            .collect(),
        user_types: policy
            .user_types
            .iter()
            .map(|t| (t.code.clone(), t.label.clone()))
            .collect(),
        locations: rollcall_store::locations::list(&mut conn, who.org_id)
            .await?
            .into_iter()
            .map(|l| (l.id.to_string(), l.name))
            .collect(),
        roles: rollcall_store::roles::list(&mut conn, who.org_id)
            .await?
            .into_iter()
            .map(|r| (r.id.to_string(), r.name))
            .collect(),
    })
}

/// The user with an address (as typed, matched the way sign-in matches), for people who pick a
/// user by email (e.g. the user an import mirrors).
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn find_by_email(
    app: &App,
    who: &Principal,
    email: &str,
) -> Result<Option<Uuid>, AppError> {
    who.require(Capability::ViewUsers)?;
    let email = rollcall_domain::Email::parse(email)?;
    let mut conn = app.db.read_conn().await?;
    Ok(
        rollcall_store::users::get_by_email_key(&mut conn, who.org_id, email.match_key())
            .await?
            .map(|u| u.id),
    )
}
