//! Bulk update in the console: selection → review → save → the job's outcome, and the jobs page.

use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_app::access::bulk_update::{self, BulkUpdateRequest, Refused};
use rollcall_app::clock::local;
use rollcall_app::domain::{BulkChanges, Capability, Module, Permission};
use rollcall_app::model::Job;
use rollcall_app::users::list::{self as user_list, UserFilter};
use rollcall_app::{App, AppError};
use uuid::Uuid;

use super::{Nav, field};
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser};

/// How long saving waits for the job before showing its progress page instead.
const WAIT: Duration = Duration::from_secs(5);

/// How the selection travels from the list to the review and on to saving.
fn selection_of(pairs: &[(String, String)]) -> Result<BulkUpdateRequest, AppError> {
    let one = |name: &str| field(pairs, name).next().map(str::to_string);
    if one("all").as_deref() == Some("1") {
        return Ok(BulkUpdateRequest {
            // Ticking "select all that match" is the manager's consent to select everyone
            // when no filter is set.
            filter: Some(UserFilter {
                q: one("q"),
                status: one("status"),
                user_type: one("user_type"),
                location: one("location"),
                role: one("role"),
                all: true,
            }),
            ..BulkUpdateRequest::default()
        });
    }
    let user_ids = field(pairs, "ids")
        .map(|s| s.parse::<Uuid>().map_err(|_| AppError::not_found("user")))
        .collect::<Result<_, _>>()?;
    Ok(BulkUpdateRequest {
        user_ids,
        ..BulkUpdateRequest::default()
    })
}

/// Hidden fields that carry the selection to the next step.
fn hidden_selection(req: &BulkUpdateRequest) -> Vec<(String, String)> {
    match &req.filter {
        Some(f) => {
            let mut out = vec![("all".to_string(), "1".to_string())];
            for (k, v) in [
                ("q", &f.q),
                ("status", &f.status),
                ("user_type", &f.user_type),
                ("location", &f.location),
                ("role", &f.role),
            ] {
                if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                    out.push((k.to_string(), v.clone()));
                }
            }
            out
        }
        None => req
            .user_ids
            .iter()
            .map(|id| ("ids".to_string(), id.to_string()))
            .collect(),
    }
}

pub struct PermissionGroup {
    pub module: &'static str,
    pub permissions: Vec<(&'static str, &'static str)>,
}

pub fn catalogue() -> Vec<PermissionGroup> {
    Module::ALL
        .iter()
        .map(|m| PermissionGroup {
            module: m.label(),
            permissions: Permission::ALL
                .iter()
                .filter(|p| p.module() == *m)
                .map(|p| (p.key(), p.label()))
                .collect(),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "bulk_review.html")]
struct ReviewPage {
    nav: Nav,
    count: usize,
    by_filter: bool,
    sample: Vec<(String, String, String)>,
    hidden: Vec<(String, String)>,
    groups: Vec<PermissionGroup>,
    locations: Vec<(String, String)>,
    key: String,
    error: Option<String>,
}

async fn review_page(
    app: &App,
    user: &ConsoleUser,
    pairs: &[(String, String)],
    error: Option<String>,
) -> Result<Response, PageError> {
    user.principal.require(Capability::EditAccess)?;
    let req = selection_of(pairs)?;
    let (count, selected) = bulk_update::preview(app, &user.principal, &req, 20).await?;
    let options = user_list::filter_options(app, &user.principal).await?;
    let label = |code: Option<String>| {
        code.and_then(|t| options.user_types.iter().find(|(c, _)| *c == t))
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    };
    let sample = selected
        .into_iter()
        .map(|(name, email, kind)| (name, email, label(kind)))
        .collect();
    Ok(render(&ReviewPage {
        nav: Nav::of(user),
        count,
        by_filter: req.filter.is_some(),
        sample,
        hidden: hidden_selection(&req),
        groups: catalogue(),
        locations: options
            .locations
            .into_iter()
            .filter(|(id, _)| {
                id.parse::<Uuid>()
                    .is_ok_and(|id| user.principal.locations.contains(&id))
            })
            .collect(),
        key: Uuid::now_v7().to_string(),
        error,
    }))
}

/// `GET /users/bulk?all=1&<filters>`: review everyone matching the list's filters.
pub async fn review_filter(
    State(app): State<App>,
    user: ConsoleUser,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    review_page(&app, &user, &pairs, None).await
}

/// `POST /users/bulk`: review the rows ticked in the list.
pub async fn review_selected(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    review_page(&app, &user, &pairs, None).await
}

fn parse_changes(pairs: &[(String, String)]) -> Result<BulkChanges, AppError> {
    let perms = |name: &str| -> Result<_, AppError> {
        field(pairs, name)
            .map(|k| Permission::parse(k).map_err(AppError::from))
            .collect()
    };
    let locs = |name: &str| -> Result<_, AppError> {
        field(pairs, name)
            .map(|s| {
                s.parse::<Uuid>()
                    .map_err(|_| AppError::not_found("location"))
            })
            .collect()
    };
    Ok(BulkChanges {
        grant_permissions: perms("grant_permission")?,
        revoke_permissions: perms("revoke_permission")?,
        grant_locations: locs("grant_location")?,
        revoke_locations: locs("revoke_location")?,
    })
}

/// `POST /users/bulk/apply`: start the job; show its outcome (or its progress).
pub async fn apply(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let mut req = selection_of(&pairs)?;
    let started = match parse_changes(&pairs) {
        Ok(changes) => {
            req.changes = changes.into();
            let key = field(&pairs, "key").next();
            bulk_update::run(&app, &user.principal, &req, key, &user.meta(), WAIT).await
        }
        Err(e) => Err(e),
    };
    match started {
        Ok(job) => Ok(Redirect::to(&format!("/jobs/{}", job.id)).into_response()),
        // The request itself was not acceptable: back to the review with the reason.
        Err(e @ (AppError::Invalid(_) | AppError::NotFound(_) | AppError::Conflict(_))) => {
            review_page(&app, &user, &pairs, Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "job.html")]
struct JobPage {
    nav: Nav,
    id: String,
    kind: &'static str,
    running: bool,
    done: i64,
    total: i64,
    percent: i64,
    outcome: &'static str,
    outcome_label: &'static str,
    sentence: String,
    refused: Vec<Refused>,
    more_refused: bool,
    started: String,
}

/// `GET /jobs/{id}`: progress while running (polled by htmx), the outcome when done.
pub async fn job(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let job = rollcall_app::jobs::get(&app, &user.principal, id).await?;
    if is_import(&job) {
        return super::import::job_page(&app, &user, job).await;
    }
    let (_, outcome, sentence) = bulk_update::outcome_of(&job);
    let refused = bulk_update::refused(&app, &user.principal, id, -1, 201).await?;
    let more_refused = refused.len() > 200;
    Ok(render(&JobPage {
        nav: Nav::of(&user),
        id: job.id.to_string(),
        kind: job.kind.label(),
        running: !job.is_finished(),
        done: job.done,
        total: job.total,
        percent: rollcall_app::jobs::percent_done(&job),
        outcome: outcome.as_str(),
        outcome_label: outcome.label(),
        sentence,
        refused: refused.into_iter().take(200).map(|(_, r)| r).collect(),
        more_refused,
        started: local(job.created_at, &user.principal.time_zone),
    }))
}

/// Imports have a page of their own: they speak of rows and people created.
fn is_import(job: &Job) -> bool {
    job.kind.is_import()
}

/// `GET /jobs/{id}/report.csv`: what a job did not do and why, whatever its kind.
pub async fn report(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let (name, csv) = rollcall_app::jobs::kinds::report_csv(&app, &user.principal, id).await?;
    Ok(super::csv_download(&name, csv))
}

pub struct JobRow {
    pub id: String,
    pub kind: &'static str,
    pub state: &'static str,
    pub outcome: &'static str,
    pub progress: String,
    pub started: String,
}

#[derive(Template)]
#[template(path = "jobs.html")]
struct JobsPage {
    nav: Nav,
    jobs: Vec<JobRow>,
}

/// `GET /jobs`: recent bulk jobs with their outcome and report.
pub async fn list(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    let jobs = rollcall_app::jobs::recent(&app, &user.principal).await?;
    let zone = user.principal.time_zone.clone();
    Ok(render(&JobsPage {
        nav: Nav::of(&user),
        jobs: jobs
            .iter()
            .map(|j| JobRow {
                id: j.id.to_string(),
                kind: j.kind.label(),
                state: j.state.label(),
                outcome: rollcall_app::jobs::kinds::outcome_of(j)
                    .map(|(o, _)| o.as_str())
                    .unwrap_or("running"),
                progress: format!("{} / {}", j.done, j.total),
                started: local(j.created_at, &zone),
            })
            .collect(),
    }))
}

#[derive(Template)]
#[template(path = "bulk_deactivated.html")]
struct DeactivatedPage {
    nav: Nav,
    done: Vec<rollcall_app::access::lifecycle::Deactivated>,
    refused: Vec<rollcall_app::access::lifecycle::Deactivated>,
}

/// `POST /users/bulk/deactivate`: deactivate the selection; list who was and who was not.
pub async fn deactivate(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let req = selection_of(&pairs)?;
    let ids = bulk_update::select(&app, &user.principal, &req).await?;
    let outcomes =
        rollcall_app::access::lifecycle::deactivate_many(&app, &user.principal, &ids, &user.meta())
            .await;
    match outcomes {
        Ok(all) => {
            let (refused, done) = all.into_iter().partition(|d| d.refused.is_some());
            Ok(render(&DeactivatedPage {
                nav: Nav::of(&user),
                done,
                refused,
            }))
        }
        Err(e @ AppError::Invalid(_)) => {
            review_page(&app, &user, &pairs, Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}
