//! The organization-wide audit log, newest first.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use rollcall_app::App;
use rollcall_app::clock::local;
use rollcall_app::store::audit::{self, AuditQuery};

use super::Nav;
use crate::error::{PageError, render};
use crate::session::ConsoleUser;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    events: Vec<(i64, String, String, String, String, String)>,
}

pub async fn page(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    user.principal.require_view()?;
    let mut conn = app.db.read_conn().await?;
    let events = audit::list(
        &mut conn,
        user.principal.org_id,
        &AuditQuery {
            limit: 200,
            ..Default::default()
        },
    )
    .await?
    .into_iter()
    .map(|e| {
        let change = match (e.event.before, e.event.after) {
            (Some(b), Some(a)) => format!("{b} → {a}"),
            (None, Some(a)) => a,
            (Some(b), None) => b,
            (None, None) => String::new(),
        };
        (
            e.seq,
            local(e.at, &user.principal.time_zone),
            e.event.actor_label,
            e.event.action,
            format!(
                "{} {}",
                e.event.target_type,
                e.event.target_id.map(|t| t.to_string()).unwrap_or_default()
            ),
            change,
        )
    })
    .collect();
    Ok(render(&AuditPage {
        nav: Nav::of(&user),
        events,
    }))
}
