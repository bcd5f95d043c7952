//! The web console: server-rendered pages; htmx swaps parts of them without full reloads.

mod audit;
mod bulk;
mod directory;
mod home;
mod import;
mod invite;
mod mailbox;
mod profile;
mod register;
mod roles;
mod row_actions;
mod settings;
mod sign_in;
mod tokens;
mod upload;
mod users;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use rollcall_app::audit::urlencode;
use rollcall_app::domain::Capability;
use rollcall_app::{App, Principal};

use crate::session::ConsoleUser;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/users") }))
        .route("/healthz", get(|| async { "ok" }))
        .route("/sign-in", get(sign_in::page).post(sign_in::submit))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/home", get(home::page))
        .route("/register/2fa", get(register::second_factor))
        .route("/register/2fa/start", post(register::start_second_factor))
        .route(
            "/register/2fa/confirm",
            post(register::confirm_second_factor),
        )
        .route(
            "/register/terms",
            get(register::terms).post(register::accept_terms),
        )
        .route(
            "/register/{token}",
            get(register::page).post(register::submit),
        )
        .route(
            "/sign-in/code",
            get(register::sign_in_code).post(register::submit_sign_in_code),
        )
        .route("/users/invite", get(invite::page))
        .route("/users/invite/count", post(invite::count))
        .route("/users/invite/paste", post(invite::paste))
        .route("/users/invite/one", post(invite::one))
        .route(
            "/users/bulk",
            get(bulk::review_filter).post(bulk::review_selected),
        )
        .route("/users/bulk/apply", post(bulk::apply))
        .route("/users/bulk/deactivate", post(bulk::deactivate))
        .route("/users/{id}/history", get(audit::history))
        .route("/users/{id}", get(profile::page).post(profile::save))
        .route("/users/{id}/{action}", post(row_actions::apply))
        .route("/roles", get(roles::list).post(roles::create))
        .route("/roles/{id}", get(roles::show).post(roles::save))
        .route("/jobs", get(bulk::list))
        .route("/jobs/{id}", get(bulk::job))
        .route("/jobs/{id}/report.csv", get(bulk::report))
        .route("/settings", get(settings::page).post(settings::save))
        .route(
            "/settings/locations",
            get(|| async { Redirect::to("/settings#locations") }).post(settings::add_location),
        )
        .route("/mailbox", get(mailbox::list))
        .route("/mailbox/{id}", get(mailbox::show))
        .route("/users", get(users::page))
        .route("/users/rows", get(users::rows))
        .route("/users/export.csv", get(users::export))
        .route(
            "/settings/api-tokens",
            get(tokens::page).post(tokens::create),
        )
        .route("/settings/api-tokens/{id}/rotate", post(tokens::rotate))
        .route("/settings/api-tokens/{id}/revoke", post(tokens::revoke))
        .merge(import::routes())
        .merge(directory::routes())
        .route("/audit", get(audit::page))
        .route("/audit/export.csv", get(audit::export_csv))
        .route("/audit/export.json", get(audit::export_json))
        .route(
            "/static/app.css",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/css"),
                        (header::CACHE_CONTROL, "max-age=3600"),
                    ],
                    include_str!("../../static/app.css"),
                )
            }),
        )
        .route(
            "/static/import.js",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript"),
                        (header::CACHE_CONTROL, "max-age=3600"),
                    ],
                    include_str!("../../static/import.js"),
                )
            }),
        )
        .route(
            "/static/select.js",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript"),
                        (header::CACHE_CONTROL, "max-age=3600"),
                    ],
                    include_str!("../../static/select.js"),
                )
            }),
        )
        .route("/static/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
        .route(
            "/static/htmx.min.js",
            get(|| async {
                (
                    [
                        (header::CONTENT_TYPE, "text/javascript"),
                        (header::CACHE_CONTROL, "max-age=86400"),
                    ],
                    include_str!("../../static/htmx.min.js"),
                )
                    .into_response()
            }),
        )
}

/// What the navigation bar shows.
pub struct Nav {
    pub org_name: String,
    pub user_name: String,
    pub can_manage: bool,
    pub can_view: bool,
    /// Messages are kept in the local mailbox (no SMTP server configured).
    pub mailbox: bool,
    pub csrf: String,
}

impl Nav {
    pub fn of(user: &ConsoleUser) -> Nav {
        let p: &Principal = &user.principal;
        Nav {
            org_name: p.org_name.clone(),
            user_name: p.display_name.clone(),
            can_manage: p.can(Capability::EditAccess),
            can_view: p.can(Capability::ViewUsers),
            mailbox: user.local_mailbox,
            csrf: user.csrf.clone(),
        }
    }
}

async fn favicon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        include_str!("../../static/favicon.svg"),
    )
}

/// A file the browser saves as `file_name` rather than shows.
pub fn download(content_type: &str, file_name: &str, body: impl IntoResponse) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// A CSV file to save: the user list, the audit log, a job's report, the import template.
pub fn csv_download(file_name: &str, body: impl IntoResponse) -> Response {
    download("text/csv; charset=utf-8", file_name, body)
}

/// Values of a repeated form field (checkboxes): plain form structs cannot hold them.
pub fn field<'a>(pairs: &'a [(String, String)], name: &str) -> impl Iterator<Item = &'a str> {
    pairs
        .iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The first value of a form field; empty when the form has none.
pub fn first_value<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    field(pairs, name).next().unwrap_or_default()
}

/// Every value of a repeated form field, in the order sent.
pub fn values(pairs: &[(String, String)], name: &str) -> Vec<String> {
    field(pairs, name).map(str::to_string).collect()
}
