//! The compliance summary page, and its exports.

use askama::Template;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use rollcall_app::App;
use rollcall_app::compliance::{self, ComplianceSummary};

use super::Nav;
use crate::error::{PageError, render};
use crate::session::ConsoleUser;

#[derive(Template)]
#[template(path = "compliance.html")]
struct CompliancePage {
    nav: Nav,
    s: ComplianceSummary,
    generated: String,
    /// (user id, name, last active in the organization's zone)
    flagged: Vec<(String, String, String)>,
    zone: String,
}

pub async fn page(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    let s = compliance::summary(&app, &user.principal).await?;
    let zone = &user.principal.time_zone;
    let generated = rollcall_app::clock::local(app.clock.now(), zone);
    let flagged = s
        .flagged_inactive
        .iter()
        .map(|p| {
            let at = rollcall_app::clock::instant(&p.last_active_at)
                .map(|at| rollcall_app::clock::local(at, zone))
                .unwrap_or_default();
            (p.user_id.to_string(), p.name.clone(), at)
        })
        .collect();
    Ok(render(&CompliancePage {
        nav: Nav::of(&user),
        s,
        generated,
        flagged,
        zone: zone.clone(),
    }))
}

pub async fn export_csv(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    let s = compliance::summary(&app, &user.principal).await?;
    let body = compliance::to_csv(&s)?;
    Ok(super::download(
        "text/csv; charset=utf-8",
        "compliance.csv",
        body,
    ))
}

pub async fn export_json(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    let s = compliance::summary(&app, &user.principal).await?;
    Ok(super::download(
        "application/json",
        "compliance.json",
        Json(s).into_response(),
    ))
}

/// The day an RFC 3339 instant falls on in `zone`.
pub fn local_day(rfc3339: &str, zone: &str) -> String {
    rollcall_app::clock::instant(rfc3339)
        .map(|at| rollcall_app::clock::local_date(at, zone))
        .unwrap_or_default()
}

/// A length of time as people read it: `45 s`, `12 min`, `3 h 5 min`, `2 d 4 h`; `—` for none.
pub fn span(seconds: &Option<i64>) -> String {
    let Some(s) = *seconds else {
        return "—".into();
    };
    let (d, h, m) = (s / 86_400, s % 86_400 / 3_600, s % 3_600 / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, m) => format!("{m} min"),
        (0, h, m) => format!("{h} h {m} min"),
        (d, h, _) => format!("{d} d {h} h"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn spans_read_as_people_say_them() {
        let read = |s| super::span(&Some(s));
        assert_eq!(read(45), "45 s");
        assert_eq!(read(12 * 60 + 5), "12 min");
        assert_eq!(read(3 * 3600 + 5 * 60), "3 h 5 min");
        assert_eq!(read(2 * 86_400 + 4 * 3600 + 59), "2 d 4 h");
        assert_eq!(super::span(&None), "—");
    }
}
