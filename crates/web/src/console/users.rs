//! The user list page, its htmx-swapped rows and the CSV export.

use askama::Template;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use rollcall_app::App;
use rollcall_app::clock::local_date;
use rollcall_app::domain::Capability;
use rollcall_app::users::export;
use rollcall_app::users::list::{self as user_list, ListParams, UserPage};

use super::{Nav, urlencode};
use crate::error::{PageError, render};
use crate::session::ConsoleUser;

pub struct Row {
    pub id: String,
    pub name: String,
    pub email: String,
    pub username: String,
    pub created: String,
    pub status_key: &'static str,
    pub status_label: &'static str,
    pub user_type: String,
    pub locations: String,
    /// Resend and revoke apply (pending or expired).
    pub invitation_open: bool,
    pub inactive: bool,
    pub invitation: Option<String>,
    /// When a scheduled invitation goes out, in the organization's zone.
    pub scheduled: Option<String>,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    nav: Nav,
    params: ListParams,
    statuses: Vec<(String, String)>,
    user_types: Vec<(String, String)>,
    locations: Vec<(String, String)>,
    roles: Vec<(String, String)>,
    sorts: Vec<(String, String)>,
    filters: String,
    /// The CSRF token for row actions, when this admin may resend and revoke.
    actions: Option<String>,
    notice: Option<&'static str>,
    /// Uses of emergency access waiting for this company admin's review (none for others).
    open_reviews: i64,
    list: Listed,
}

#[derive(Template)]
#[template(path = "user_rows.html")]
struct RowsPartial {
    filters: String,
    actions: Option<String>,
    list: Listed,
}

/// One page of the list as the console shows it.
pub struct Listed {
    rows: Vec<Row>,
    /// How many users match, in words ("1,234 users" or "more than 10,000 users").
    total: String,
    next_query: Option<String>,
    prev_query: Option<String>,
    error: Option<String>,
    /// Rendered for an htmx swap: the page's live region is updated beside the rows.
    swapped: bool,
}

/// Counting stops here: beyond it the list says "more than".
const COUNT_CAP: u32 = 10_000;

fn total_text(n: u32) -> String {
    let grouped = |n: u32| {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    match n {
        0 => "No users match".into(),
        1 => "1 user matches".into(),
        n if n > COUNT_CAP => format!("More than {} users match", grouped(COUNT_CAP)),
        n => format!("{} users match", grouped(n)),
    }
}

fn query_string(p: &ListParams) -> String {
    serde_urlencoded_like(p)
}

/// The filters as a query string (without the cursor), for links that keep them.
fn serde_urlencoded_like(p: &ListParams) -> String {
    let pairs = [
        ("q", &p.q),
        ("status", &p.status),
        ("user_type", &p.user_type),
        ("location", &p.location),
        ("role", &p.role),
        ("sort", &p.sort),
    ];
    pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_deref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", urlencode(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

async fn load(
    app: &App,
    user: &ConsoleUser,
    params: &ListParams,
    swapped: bool,
) -> Result<Listed, PageError> {
    let zone = user.principal.time_zone.as_str();
    match user_list::list(app, &user.principal, params).await {
        Ok(UserPage { users, next, prev }) => {
            let labels = user_list::filter_options(app, &user.principal)
                .await?
                .user_types;
            let rows = users
                .into_iter()
                .map(|u| Row {
                    id: u.id.to_string(),
                    name: u.name,
                    email: u.email,
                    username: u.username,
                    created: local_date(u.created_micros, zone),
                    status_key: u.status.as_str(),
                    status_label: u.status.label(),
                    user_type: u
                        .user_type
                        .map(|t| {
                            labels
                                .iter()
                                .find(|(c, _)| *c == t)
                                .map(|(_, l)| l.clone())
                                .unwrap_or(t)
                        })
                        .unwrap_or_default(),
                    locations: u.locations.join(", "),
                    invitation_open: matches!(
                        u.status,
                        rollcall_app::domain::UserStatus::Pending
                            | rollcall_app::domain::UserStatus::Expired
                    ),
                    inactive: u.status == rollcall_app::domain::UserStatus::Inactive,
                    invitation: u.invitation,
                    scheduled: u
                        .scheduled_micros
                        .map(|m| rollcall_app::clock::local(m, zone)),
                })
                .collect();
            let base = query_string(params);
            let with = |key: &str, cursor: String| {
                if base.is_empty() {
                    format!("{key}={cursor}")
                } else {
                    format!("{base}&{key}={cursor}")
                }
            };
            let total = user_list::count(app, &user.principal, params, COUNT_CAP).await?;
            Ok(Listed {
                rows,
                total: total_text(total),
                next_query: next.map(|n| with("after", n)),
                prev_query: prev.map(|p| with("before", p)),
                error: None,
                swapped,
            })
        }
        Err(rollcall_app::AppError::Invalid(v)) => Ok(Listed {
            rows: Vec::new(),
            total: total_text(0),
            next_query: None,
            prev_query: None,
            error: Some(v.message),
            swapped,
        }),
        Err(e) => Err(e.into()),
    }
}

/// The full page, or only the rows when htmx asks for them (the filters push `/users?…` to the
/// address bar, so a reload or bookmark of a filtered list gets the whole page).
pub async fn page(
    State(app): State<App>,
    user: ConsoleUser,
    headers: HeaderMap,
    Query(params): Query<ListParams>,
    Query(notice): Query<NoticeQuery>,
) -> Result<Response, PageError> {
    if headers.get("hx-target").is_some_and(|t| t == "rows") {
        return rows(State(app), user, Query(params)).await;
    }
    let options = user_list::filter_options(&app, &user.principal).await?;
    let list = load(&app, &user, &params, false).await?;
    let open_reviews = rollcall_app::access::emergency::review::open_count(&app, &user.principal)
        .await?
        .unwrap_or(0);
    let sorts = [
        ("-created", "Newest first"),
        ("created", "Oldest first"),
        ("name", "Name A–Z"),
        ("-name", "Name Z–A"),
        ("email", "Email A–Z"),
        ("username", "Username A–Z"),
    ]
    .iter()
    .map(|(v, l)| (v.to_string(), l.to_string()))
    .collect();
    let page = UsersPage {
        nav: Nav::of(&user),
        filters: query_string(&params),
        actions: actions(&user),
        notice: notice.notice.as_deref().and_then(notice_text),
        open_reviews,
        params,
        statuses: options.statuses,
        user_types: options.user_types,
        locations: options.locations,
        roles: options.roles,
        sorts,
        list,
    };
    Ok(render(&page))
}

pub async fn rows(
    State(app): State<App>,
    user: ConsoleUser,
    Query(params): Query<ListParams>,
) -> Result<Response, PageError> {
    let list = load(&app, &user, &params, true).await?;
    Ok(render(&RowsPartial {
        filters: query_string(&params),
        actions: actions(&user),
        list,
    }))
}

pub async fn export(
    State(app): State<App>,
    user: ConsoleUser,
    Query(params): Query<ListParams>,
) -> Result<Response, PageError> {
    let body = export::users(&app, &user.principal, &params, export::Format::Csv).await?;
    Ok(super::csv_download("users.csv", Body::from_stream(body)))
}

fn actions(user: &ConsoleUser) -> Option<String> {
    user.principal
        .can(Capability::ManageUsers)
        .then(|| user.csrf.clone())
}

#[derive(serde::Deserialize, Default)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn notice_text(code: &str) -> Option<&'static str> {
    match code {
        "invited" => Some("Invitation sent."),
        "resent" => Some("A new invitation was sent; the previous link no longer works."),
        "revoked" => Some("The invitation was revoked and the pending account deactivated."),
        "deactivated" => Some(
            "Deactivated: sessions, API tokens and any pending invitation were revoked; history is kept.",
        ),
        "reactivated" => Some("Reactivated. Someone who never registered gets a new invitation."),
        _ => None,
    }
}
