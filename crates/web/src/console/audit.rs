//! The organization-wide audit log (filters, paging, exports) and one user's history.

use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use rollcall_app::App;
use rollcall_app::audit::words::{Glossary, action_label, glossary};
use rollcall_app::audit::{self, AuditEntry, AuditParams, ExportFormat};
use uuid::Uuid;

use super::Nav;
use crate::error::{PageError, render};
use crate::session::ConsoleUser;

/// One event as the console shows it: names, labels and local times, no ids or codes.
pub struct EventRow {
    pub seq: i64,
    /// Date and time in the organization's zone.
    pub when: String,
    pub actor: String,
    pub actor_id: Option<String>,
    pub action: String,
    /// The action's code, for scripts reading the page (`data-action`).
    pub code: String,
    /// What the event is about, by name.
    pub target: String,
    pub target_id: Option<String>,
    /// Before and after in words, a line a field.
    pub change: Vec<String>,
}

impl EventRow {
    fn of(e: &AuditEntry, words: &Glossary) -> EventRow {
        EventRow {
            seq: e.seq,
            when: words.when(e.at_micros),
            actor: e.actor.clone(),
            actor_id: e.actor_id.map(|a| a.to_string()),
            action: words.action(&e.action),
            code: e.action.clone(),
            target: words.target(e),
            target_id: e.target_id.map(|t| t.to_string()),
            change: words.change(e),
        }
    }

    /// The rows of a page of events, named in the organization's words.
    async fn all(
        app: &App,
        user: &ConsoleUser,
        events: &[AuditEntry],
    ) -> Result<Vec<EventRow>, PageError> {
        let words = glossary(app, &user.principal, events).await?;
        Ok(events.iter().map(|e| EventRow::of(e, &words)).collect())
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    params: AuditParams,
    /// (value, label): each action present, and `prefix.` for every group of them.
    actions: Vec<(String, String)>,
    filters: String,
    rows: Vec<EventRow>,
    older_query: Option<String>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "audit_rows.html")]
struct AuditRows {
    filters: String,
    rows: Vec<EventRow>,
    older_query: Option<String>,
    error: Option<String>,
}

type Loaded = (Vec<EventRow>, Option<String>, Option<String>);

async fn load(app: &App, user: &ConsoleUser, params: &AuditParams) -> Result<Loaded, PageError> {
    match audit::list(app, &user.principal, params).await {
        Ok(page) => {
            let rows = EventRow::all(app, user, &page.events).await?;
            let base = params.query_string();
            let older = page.next.map(|n| {
                if base.is_empty() {
                    format!("after={n}")
                } else {
                    format!("{base}&after={n}")
                }
            });
            Ok((rows, older, None))
        }
        Err(rollcall_app::AppError::Invalid(v)) => Ok((Vec::new(), None, Some(v.message))),
        Err(e) => Err(e.into()),
    }
}

/// Action choices: every group (`user.` → “user.* (all)”) followed by its actions.
fn action_choices(actions: Vec<String>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut group: Option<String> = None;
    for a in actions {
        if let Some((prefix, _)) = a.split_once('.') {
            let prefix = format!("{prefix}.");
            if group.as_deref() != Some(prefix.as_str()) {
                out.push((prefix.clone(), action_label(&prefix)));
                group = Some(prefix);
            }
        }
        out.push((a.clone(), action_label(&a)));
    }
    out
}

/// The full page, or only the rows when htmx asks for them (the filters push `/audit?…` to the
/// address bar, so a reload or bookmark of a filtered log gets the whole page).
pub async fn page(
    State(app): State<App>,
    user: ConsoleUser,
    headers: HeaderMap,
    Query(params): Query<AuditParams>,
) -> Result<Response, PageError> {
    let (rows, older_query, error) = load(&app, &user, &params).await?;
    let filters = params.query_string();
    if headers.get("hx-target").is_some_and(|t| t == "audit-rows") {
        return Ok(render(&AuditRows {
            filters,
            rows,
            older_query,
            error,
        }));
    }
    let actions = action_choices(audit::actions(&app, &user.principal).await?);
    Ok(render(&AuditPage {
        nav: Nav::of(&user),
        params,
        actions,
        filters,
        rows,
        older_query,
        error,
    }))
}

async fn export(
    app: &App,
    user: &ConsoleUser,
    params: &AuditParams,
    format: ExportFormat,
) -> Result<Response, PageError> {
    let body = audit::export(app, &user.principal, params, format).await?;
    let (content_type, name) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "audit.csv"),
        ExportFormat::Json => ("application/json", "audit.json"),
    };
    Ok(super::download(content_type, name, Body::from_stream(body)))
}

/// Every matching event as CSV (cells that a spreadsheet would run as formulas are made text).
pub async fn export_csv(
    State(app): State<App>,
    user: ConsoleUser,
    Query(params): Query<AuditParams>,
) -> Result<Response, PageError> {
    export(&app, &user, &params, ExportFormat::Csv).await
}

/// Every matching event as a JSON array.
pub async fn export_json(
    State(app): State<App>,
    user: ConsoleUser,
    Query(params): Query<AuditParams>,
) -> Result<Response, PageError> {
    export(&app, &user, &params, ExportFormat::Json).await
}

/// What `user_history.html` shows; embed it in another page as a field named `history`.
pub struct HistoryView {
    pub user_id: String,
    pub rows: Vec<EventRow>,
    /// The cursor of the next older page.
    pub older: Option<String>,
}

impl HistoryView {
    /// One page of a user's history, newest first.
    pub async fn load(
        app: &App,
        user: &ConsoleUser,
        user_id: Uuid,
        after: Option<&str>,
    ) -> Result<(HistoryView, audit::UserHistory), PageError> {
        let h = audit::history_of(app, &user.principal, user_id, after, HISTORY_PAGE).await?;
        Ok((
            HistoryView {
                user_id: user_id.to_string(),
                rows: EventRow::all(app, user, &h.page.events).await?,
                older: h.page.next.clone(),
            },
            h,
        ))
    }
}

const HISTORY_PAGE: u32 = 25;

#[derive(Template)]
#[template(path = "user_history.html")]
struct HistoryPartial {
    history: HistoryView,
}

#[derive(Template)]
#[template(path = "user_history_page.html")]
struct HistoryPage {
    nav: Nav,
    name: String,
    email: String,
    history: HistoryView,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub struct HistoryQuery {
    after: Option<String>,
}

/// `GET /users/{id}/history`: the history table as a fragment for htmx (e.g. a profile page
/// loading it with `hx-get`), or as a page of its own when opened directly.
pub async fn history(
    State(app): State<App>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Response, PageError> {
    let id = Uuid::parse_str(&id).map_err(|_| rollcall_app::AppError::not_found("user"))?;
    let (history, h) = HistoryView::load(&app, &user, id, q.after.as_deref()).await?;
    if headers.contains_key("hx-request") {
        return Ok(render(&HistoryPartial { history }));
    }
    Ok(render(&HistoryPage {
        nav: Nav::of(&user),
        name: h.name,
        email: h.email,
        history,
    }))
}
