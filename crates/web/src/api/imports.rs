//! CSV import over the API: upload the file (the body), read the review, fix rows, commit.
//! Progress and the outcome are read at /api/v1/jobs/{id}.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use rollcall_app::domain::ValueError;
use rollcall_app::domain::import::Column;
use rollcall_app::jobs::JobView;
use rollcall_app::model::ImportFilter as Filter;
use rollcall_app::onboarding::import::{self, Commit, Review, ReviewRow};
use rollcall_app::{App, AppError};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::query::{StrictQuery, params};
use crate::error::ApiError;
use crate::session::ApiCaller;

params!(RowsQuery: "filter", "after", "limit");

pub fn routes() -> Router<App> {
    Router::new()
        .route(
            "/imports",
            post(upload).layer(DefaultBodyLimit::max(import::MAX_UPLOAD_BYTES as usize + 1)),
        )
        .route("/imports/template.csv", get(template))
        .route("/imports/{id}/rows", get(rows))
        .route("/imports/{id}/rows/{seq}", patch(edit_row))
        .route("/imports/{id}/commit", post(commit))
}

async fn template() -> Response {
    (
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        rollcall_app::domain::import::template(),
    )
        .into_response()
}

/// Upload a CSV file as the request body (scope users:write); `X-File-Name` names it. Answers
/// 201 with the review's counts; nothing is created until the import is committed.
async fn upload(
    State(app): State<App>,
    caller: ApiCaller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|_| {
        AppError::Invalid(ValueError::new(
            "file",
            "file_too_large",
            format!(
                "The file is larger than {} MB, the most one upload accepts: split it into several files, or use `rollcall import FILE`, which takes any size.",
                import::MAX_UPLOAD_BYTES / (1024 * 1024)
            ),
        ))
    })?;
    let name = headers
        .get("x-file-name")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("upload.csv")
        .to_string();
    let meta = caller.meta();
    let job = import::upload(
        &app,
        &caller.principal,
        &body[..],
        &name,
        Some(import::MAX_UPLOAD_BYTES),
        &meta,
    )
    .await?;
    let review = import::review(&app, &caller.principal, job.id, Filter::Errors, -1, 100).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/imports/{}/rows", job.id))],
        Json(json!({
            "import": review.job,
            "summary": review.summary,
            "rows_in_error": review.rows,
            "rows_url": format!("/api/v1/imports/{}/rows", job.id),
            "commit_url": format!("/api/v1/imports/{}/commit", job.id),
        })),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RowsQuery {
    /// `all` (default), `errors` or `issues` (errors and warnings).
    filter: Option<String>,
    after: Option<i64>,
    limit: Option<u32>,
}

/// The review table, paged by `after` (scope users:read).
async fn rows(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    StrictQuery(q): StrictQuery<RowsQuery>,
) -> Result<Json<Review>, ApiError> {
    let filter = match q.filter.as_deref() {
        None | Some("all") => Filter::All,
        Some("errors") => Filter::Errors,
        Some("issues") => Filter::Issues,
        Some(other) => {
            return Err(AppError::Invalid(ValueError::new(
                "filter",
                "filter_unknown",
                format!("“{other}” is not a filter: use all, errors or issues."),
            ))
            .into());
        }
    };
    Ok(Json(
        import::review(
            &app,
            &caller.principal,
            id,
            filter,
            q.after.unwrap_or(-1),
            q.limit.unwrap_or(100),
        )
        .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RowEdit {
    cells: BTreeMap<Column, String>,
}

/// Change the cells a row's edit names (an empty value clears its cell; the others stay); the
/// row is checked again (scope users:write).
async fn edit_row(
    State(app): State<App>,
    caller: ApiCaller,
    Path((id, seq)): Path<(Uuid, i64)>,
    Json(edit): Json<RowEdit>,
) -> Result<Json<ReviewRow>, ApiError> {
    let meta = caller.meta();
    Ok(Json(
        import::edit_row(&app, &caller.principal, id, seq, edit.cells, &meta).await?,
    ))
}

/// Commit the import (scope users:write): access, primary location, schedule and notification
/// preferences. Checks seats and rules, then answers 202 with the running job. Committing the
/// same import again with the same choices answers the same job.
async fn commit(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    Json(req): Json<Commit>,
) -> Result<Response, ApiError> {
    let meta = caller.meta();
    let job = import::commit(&app, &caller.principal, id, &req, &meta).await?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/api/v1/jobs/{}", job.id))],
        Json(json!({ "job": JobView::from(&job) })),
    )
        .into_response())
}
