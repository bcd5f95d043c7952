//! CSV import over the API: upload the file (the body), read the review, fix rows, commit.
//! Progress and the outcome are read at /api/v1/jobs/{id}.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rollcall_app::domain::ValueError;
use rollcall_app::domain::import::Column;
use rollcall_app::jobs::JobView;
use rollcall_app::model::ImportFilter as Filter;
use rollcall_app::onboarding::import::{self, Commit, Review, ReviewRow, Summary};
use rollcall_app::{App, AppError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;
use uuid::Uuid;

use super::problem::{CONTENT_TYPE as PROBLEM, Problem};
use super::query::{StrictJson, StrictQuery, params};
use super::responses::{
    BadRequest, Forbidden, Internal, NotFound, PayloadTooLarge, Unauthenticated,
    UnsupportedMediaType,
};
use crate::error::ApiError;
use crate::session::ApiCaller;

params!(RowsQuery: "filter", "after", "limit");

pub fn routes() -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(routes!(upload).layer(DefaultBodyLimit::max(import::MAX_UPLOAD_BYTES as usize + 1)))
        .routes(routes!(template))
        .routes(routes!(rows))
        .routes(routes!(edit_row))
        .routes(routes!(commit))
}

/// The CSV template
///
/// The header and two example rows (no token needed).
#[utoipa::path(
    get,
    path = "/imports/template.csv",
    tag = "imports",
    operation_id = "get_import_template",
    security(()),
    responses((status = 200, description = "The template", body = String, content_type = "text/csv"))
)]
async fn template() -> Response {
    (
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        rollcall_app::domain::import::template(),
    )
        .into_response()
}

/// An uploaded file: its import, the review's counts and its first rows in error.
#[derive(Debug, Serialize, ToSchema)]
struct Uploaded {
    import: JobView,
    summary: Summary,
    /// The first 100 rows in error; read every row at `rows_url`.
    rows_in_error: Vec<ReviewRow>,
    rows_url: String,
    commit_url: String,
}

/// Upload a CSV file to import
///
/// The request body is the file (at most 64 MB); `X-File-Name` names it. Every row is checked;
/// the answer has the review's counts and its first rows in error. Nothing is created until the
/// import is committed. Scope `users:write`.
#[utoipa::path(
    post,
    path = "/imports",
    tag = "imports",
    operation_id = "create_import",
    params(("X-File-Name" = Option<String>, Header, description = "The file's name, shown in the review and the jobs (`upload.csv` when absent)")),
    request_body(content = String, content_type = "text/csv", description = "The CSV file, in the template's columns"),
    security(("bearer" = ["users:write"])),
    responses(
        (status = 201, description = "Read and checked: fix rows at `rows_url`, commit at `commit_url`", body = Uploaded, headers(("Location" = String, description = "The review's rows"))),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 422, description = "The file cannot be taken: larger than 64 MB (`file_too_large`), empty or unreadable, or its columns are unknown or missing (the detail lists the expected ones)", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
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
    let review = import::review(&app, &caller.principal, job.id, Filter::Errors, -1, None).await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/imports/{}/rows", job.id))],
        Json(Uploaded {
            import: review.job,
            summary: review.summary,
            rows_in_error: review.rows,
            rows_url: format!("/api/v1/imports/{}/rows", job.id),
            commit_url: format!("/api/v1/imports/{}/commit", job.id),
        }),
    )
        .into_response())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(default)]
#[into_params(parameter_in = Query)]
struct RowsQuery {
    /// `all` (default), `errors` or `issues` (errors and warnings).
    #[param(pattern = "^(all|errors|issues)$")]
    filter: Option<String>,
    /// The `next` of the previous page.
    after: Option<String>,
    /// Rows a page, 1 to 500 (100 when absent; other values are refused).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// The review table of an import
///
/// Each row with its cells, errors and warnings; page with `after` = `next`. Scope `users:read`.
#[utoipa::path(
    get,
    path = "/imports/{id}/rows",
    tag = "imports",
    operation_id = "list_import_rows",
    params(("id" = Uuid, Path, description = "The import's id (its job's id)"), RowsQuery),
    security(("bearer" = ["users:read"])),
    responses(
        (status = 200, description = "A page of rows", body = Review, headers(("Link" = String, description = "`<…>; rel=\"next\"` when another page follows"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, response = NotFound),
        (status = 422, description = "A parameter this endpoint does not take, an unknown filter, or a bad cursor or limit", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn rows(
    State(app): State<App>,
    caller: ApiCaller,
    uri: OriginalUri,
    Path(id): Path<Uuid>,
    StrictQuery(q): StrictQuery<RowsQuery>,
) -> Result<Response, ApiError> {
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
    let after = import::rows_after(q.after.as_deref())?;
    let review = import::review(&app, &caller.principal, id, filter, after, q.limit).await?;
    Ok(super::paging::paged(
        &uri,
        review.next.clone().as_deref(),
        review,
    ))
}

/// The cells of a row to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({ "cells": { "email": "kim.lee@clinic.example", "mobile": "" } })))]
struct RowEdit {
    /// New values by column name; an empty value clears its cell, and cells not named stay.
    cells: BTreeMap<Column, String>,
}

/// Fix a row of an import's review
///
/// Changes the cells the edit names (an empty value clears its cell; the others stay), then
/// checks the row again. Scope `users:write`.
#[utoipa::path(
    patch,
    path = "/imports/{id}/rows/{seq}",
    tag = "imports",
    operation_id = "update_import_row",
    params(
        ("id" = Uuid, Path, description = "The import's id"),
        ("seq" = i64, Path, description = "The row's `seq`")
    ),
    request_body = RowEdit,
    security(("bearer" = ["users:write"])),
    responses(
        (status = 200, description = "The row as now checked", body = ReviewRow),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such import or row", body = Problem, content_type = PROBLEM),
        (status = 409, description = "The import is still being read, or was already committed", body = Problem, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "The body does not fit (an unknown column or field)", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn edit_row(
    State(app): State<App>,
    caller: ApiCaller,
    Path((id, seq)): Path<(Uuid, i64)>,
    StrictJson(edit): StrictJson<RowEdit>,
) -> Result<Json<ReviewRow>, ApiError> {
    let meta = caller.meta();
    Ok(Json(
        import::edit_row(&app, &caller.principal, id, seq, edit.cells, &meta).await?,
    ))
}

/// The job a commit started.
#[derive(Debug, Serialize, ToSchema)]
struct Committed {
    job: JobView,
}

/// Commit an import
///
/// Rows in error are left out. Access by the same roles for everyone, a mirrored user, or each
/// row's own columns; a primary location for rows that name none; an optional send time in the
/// organization's zone; notification preferences. Seats and rules are checked first: a refusal
/// creates nothing. Answers 202 with the running job; committing the same import again with the
/// same choices answers the same job. Scope `users:write`.
#[utoipa::path(
    post,
    path = "/imports/{id}/commit",
    tag = "imports",
    operation_id = "commit_import",
    params(("id" = Uuid, Path, description = "The import's id")),
    request_body = Commit,
    security(("bearer" = ["users:write"])),
    responses(
        (status = 202, description = "The job runs: poll it at `Location`", body = Committed, headers(("Location" = String, description = "The job, at /api/v1/jobs/{id}"))),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthenticated),
        (status = 403, response = Forbidden),
        (status = 404, description = "No such import, location, role or mirrored user", body = Problem, content_type = PROBLEM),
        (status = 409, description = "Too few licence seats (`seats_exhausted`: the detail gives the seats needed and free), or the import was already committed differently", body = Problem, content_type = PROBLEM),
        (status = 413, response = PayloadTooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "No row can be imported, a choice is not valid (a send time, a notification), or a rule refuses the access", body = Problem, content_type = PROBLEM),
        (status = 500, response = Internal),
    )
)]
async fn commit(
    State(app): State<App>,
    caller: ApiCaller,
    Path(id): Path<Uuid>,
    StrictJson(req): StrictJson<Commit>,
) -> Result<Response, ApiError> {
    let meta = caller.meta();
    let job = import::commit(&app, &caller.principal, id, &req, &meta).await?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, format!("/api/v1/jobs/{}", job.id))],
        Json(Committed {
            job: JobView::from(&job),
        }),
    )
        .into_response())
}
