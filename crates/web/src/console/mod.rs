//! The web console: server-rendered pages; htmx swaps parts of them without full reloads.

mod audit;
mod bulk;
mod compliance;
mod confirm;
mod directory;
mod emergency;
mod form;
mod home;
mod import;
mod invite;
mod mailbox;
mod profile;
mod provisioning;
mod register;
mod reviews;
mod roles;
mod row_actions;
mod settings;
mod sign_in;
mod sign_in_apps;
mod tokens;
mod upload;
mod users;
mod webhooks;

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get, post};
use rollcall_app::audit::urlencode;
use rollcall_app::domain::Capability;
use rollcall_app::{App, Principal};

use crate::session::ConsoleUser;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/users") }))
        .route("/home", get(home::page))
        .merge(sign_in_and_registration_routes())
        .merge(user_routes())
        .merge(role_and_job_routes())
        .merge(import::routes())
        .merge(directory::routes())
        .merge(emergency::routes())
        .merge(settings_routes())
        .merge(audit_and_mailbox_routes())
        .merge(static_routes())
}

fn sign_in_and_registration_routes() -> Router<App> {
    Router::new()
        .route("/sign-in", get(sign_in::page).post(sign_in::submit))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/session/keepalive", post(sign_in::keep_alive))
        .route(
            "/sign-in/code",
            get(register::sign_in_code).post(register::submit_sign_in_code),
        )
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
}

fn user_routes() -> Router<App> {
    Router::new()
        .route("/users", get(users::page))
        .route("/users/rows", get(users::rows))
        .route("/users/export.csv", get(users::export))
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
}

fn role_and_job_routes() -> Router<App> {
    Router::new()
        .route("/roles", get(roles::list).post(roles::create))
        .route("/roles/{id}", get(roles::show).post(roles::save))
        .route("/jobs", get(bulk::list))
        .route("/jobs/{id}", get(bulk::job))
        .route("/jobs/{id}/report.csv", get(bulk::report))
}

fn settings_routes() -> Router<App> {
    Router::new()
        .route("/settings", get(settings::page).post(settings::save))
        .route(
            "/settings/locations",
            get(|| async { Redirect::to("/settings#locations") }).post(settings::add_location),
        )
        .route(
            "/settings/inactivity",
            get(|| async { Redirect::to("/settings#inactivity") }).post(settings::save_inactivity),
        )
        .route(
            "/settings/access-reviews",
            get(|| async { Redirect::to("/settings#access-reviews") })
                .post(settings::save_access_reviews),
        )
        .route(
            "/settings/emergency-access",
            get(|| async { Redirect::to("/settings#emergency") }).post(settings::save_emergency),
        )
        .route(
            "/settings/api-tokens",
            get(tokens::page).post(tokens::create),
        )
        .route("/settings/api-tokens/{id}/rotate", post(tokens::rotate))
        .route("/settings/api-tokens/{id}/revoke", post(tokens::revoke))
        .route(
            "/settings/sign-in-apps",
            get(sign_in_apps::page).post(sign_in_apps::create),
        )
        .route(
            "/settings/sign-in-apps/{id}",
            get(sign_in_apps::edit).post(sign_in_apps::save),
        )
        .route(
            "/settings/sign-in-apps/{id}/rotate",
            post(sign_in_apps::rotate),
        )
        .route(
            "/settings/sign-in-apps/{id}/delete",
            post(sign_in_apps::delete),
        )
        .merge(webhooks::routes())
        .merge(provisioning::routes())
}

fn audit_and_mailbox_routes() -> Router<App> {
    Router::new()
        .route("/access-reviews", get(reviews::list).post(reviews::start))
        .route("/access-reviews/{id}", get(reviews::show))
        .route("/access-reviews/{id}/decide", post(reviews::decide))
        .route("/access-reviews/{id}/close", post(reviews::close))
        .route(
            "/access-reviews/{id}/evidence.csv",
            get(reviews::evidence_csv),
        )
        .route(
            "/access-reviews/{id}/evidence.json",
            get(reviews::evidence_json),
        )
        .route("/audit", get(audit::page))
        .route("/compliance", get(compliance::page))
        .route("/compliance.csv", get(compliance::export_csv))
        .route("/compliance.json", get(compliance::export_json))
        .route("/audit/export.csv", get(audit::export_csv))
        .route("/audit/export.json", get(audit::export_json))
        .route("/mailbox", get(mailbox::list))
        .route("/mailbox/{id}", get(mailbox::show))
}

/// The stylesheet, scripts and icon, compiled into the binary.
fn static_routes() -> Router<App> {
    const HOUR: &str = "max-age=3600";
    const DAY: &str = "max-age=86400";
    let favicon = asset(
        "image/svg+xml",
        DAY,
        include_str!("../../static/favicon.svg"),
    );
    Router::new()
        .route(
            "/static/app.css",
            asset("text/css", HOUR, include_str!("../../static/app.css")),
        )
        .route(
            "/static/import.js",
            asset(
                "text/javascript",
                HOUR,
                include_str!("../../static/import.js"),
            ),
        )
        .route(
            "/static/console.js",
            asset(
                "text/javascript",
                HOUR,
                include_str!("../../static/console.js"),
            ),
        )
        .route("/static/favicon.svg", favicon.clone())
        .route("/favicon.ico", favicon)
        .route(
            "/static/htmx.min.js",
            asset(
                "text/javascript",
                DAY,
                include_str!("../../static/htmx.min.js"),
            ),
        )
}

/// A GET route that answers with a fixed file and lets the browser keep it for `cache`.
fn asset(content_type: &'static str, cache: &'static str, body: &'static str) -> MethodRouter<App> {
    get(move || async move {
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, cache),
            ],
            body,
        )
    })
}

/// What the navigation bar shows.
pub struct Nav {
    pub org_name: String,
    pub user_name: String,
    pub can_manage: bool,
    pub can_view: bool,
    /// A company admin: the organization's settings and sign-in apps.
    pub can_settings: bool,
    /// Messages are kept in the local mailbox (no SMTP server configured), which this person
    /// (a company admin) may read.
    pub mailbox: bool,
    pub csrf: String,
    /// How long the session may sit unused, for the warning shown before it ends.
    pub idle_seconds: i64,
}

impl Nav {
    pub fn of(user: &ConsoleUser) -> Nav {
        let p: &Principal = &user.principal;
        Nav {
            org_name: p.org_name.clone(),
            user_name: p.display_name.clone(),
            can_manage: p.can(Capability::EditAccess),
            can_view: p.can(Capability::ViewUsers),
            can_settings: p.can(Capability::ManageSettings),
            mailbox: user.local_mailbox && p.can(Capability::ManageSettings),
            csrf: user.csrf.clone(),
            idle_seconds: p.idle_timeout_minutes * 60,
        }
    }
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
