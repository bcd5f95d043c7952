//! CSV import in the console: template, upload (drag and drop or file picker), the review table
//! with its filters and row edits, and the commit form whose job shows progress on /jobs/{id}.

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use rollcall_app::audit::Meta;
use rollcall_app::clock::local;
use rollcall_app::domain::import::{Column, template, template_at};
use rollcall_app::domain::{Capability, JobKind, JobState};
use rollcall_app::model::ImportFilter as Filter;
use rollcall_app::model::Job;
use rollcall_app::onboarding::import::editor::{self, Field, FieldKind};
use rollcall_app::onboarding::import::run::{self as import_run, NotImported};
use rollcall_app::onboarding::import::{
    self, Access, Commit, CommitOptions, Review, ReviewRow, Summary,
};
use rollcall_app::{App, AppError};
use serde::Deserialize;
use uuid::Uuid;

use super::upload::{self, Upload};
use super::{Nav, csv_download, field, first_value, values};
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser};

pub fn routes() -> Router<App> {
    Router::new()
        .route("/import", get(page))
        .route(
            "/import/upload",
            // The file is read up to one byte past the limit, so the limit's own message shows.
            post(upload).layer(DefaultBodyLimit::max(
                import::MAX_UPLOAD_BYTES as usize + 64 * 1024,
            )),
        )
        .route("/import/template.csv", get(template_csv))
        .route("/import/{id}", get(review))
        .route("/import/{id}/rows/{seq}", get(row_page).post(save_row))
        .route("/import/{id}/commit", post(commit))
}

#[derive(Template)]
#[template(path = "import.html")]
struct UploadPage {
    nav: Nav,
    error: Option<String>,
    max_mb: u64,
    columns: Vec<(&'static str, bool)>,
}

async fn page(user: ConsoleUser) -> Result<Response, PageError> {
    show_upload(&user, None)
}

fn show_upload(user: &ConsoleUser, error: Option<String>) -> Result<Response, PageError> {
    user.principal.require(Capability::BulkAdd)?;
    Ok(render(&UploadPage {
        nav: Nav::of(user),
        error,
        max_mb: import::MAX_UPLOAD_BYTES / (1024 * 1024),
        columns: Column::ALL
            .iter()
            .map(|c| (c.name(), c.required()))
            .collect(),
    }))
}

/// `GET /import/template.csv`: the template, its examples at the organization's own locations.
async fn template_csv(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    let codes: Vec<String> = rollcall_app::org::reference::locations(&app, &user.principal)
        .await?
        .into_iter()
        .filter(|l| l.active)
        .map(|l| l.code)
        .collect();
    let body = match codes.as_slice() {
        [] => template(),
        [only] => template_at(only, only),
        [first, second, ..] => template_at(first, second),
    };
    Ok(csv_download("rollcall-import-template.csv", body))
}

/// `POST /import/upload` (multipart: `csrf`, then `file`).
async fn upload(
    State(app): State<App>,
    user: ConsoleUser,
    mut form: Multipart,
) -> Result<Response, PageError> {
    let too_large = || {
        format!(
            "The file is larger than {} MB, the most one upload accepts: split it into several files, or use `rollcall import FILE`, which takes any size.",
            import::MAX_UPLOAD_BYTES / (1024 * 1024)
        )
    };
    let file = match upload::read(&user, &mut form, "file", import::MAX_UPLOAD_BYTES).await? {
        Upload::TooLarge => return show_upload(&user, Some(too_large())),
        Upload::NoFile => None,
        Upload::File { name, bytes } => Some((name.unwrap_or_else(|| "upload.csv".into()), bytes)),
    };
    // A form sent without a chosen file still carries the field, with an empty file name.
    let Some((name, bytes)) = file.filter(|(name, _)| !name.is_empty()) else {
        return show_upload(
            &user,
            Some("Choose a CSV file to upload, or drop one on the box.".into()),
        );
    };
    let meta = Meta::of(&user.principal, None, None);
    match import::upload(
        &app,
        &user.principal,
        &bytes[..],
        &name,
        Some(import::MAX_UPLOAD_BYTES),
        &meta,
    )
    .await
    {
        Ok(job) => Ok(Redirect::to(&format!("/import/{}", job.id)).into_response()),
        Err(AppError::Invalid(v)) => show_upload(&user, Some(format!("{name}: {}", v.message))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
struct ReviewQuery {
    filter: Option<String>,
    after: Option<String>,
    /// The line just saved in the row editor, to say so.
    saved: Option<i64>,
}

fn filter_of(q: &ReviewQuery) -> Filter {
    match q.filter.as_deref() {
        Some("errors") => Filter::Errors,
        Some("issues") => Filter::Issues,
        _ => Filter::All,
    }
}

#[derive(Template)]
#[template(path = "import_review.html")]
struct ReviewPage {
    nav: Nav,
    id: String,
    review: Review,
    columns: Vec<Column>,
    filter: &'static str,
    committable: bool,
    options: Option<CommitOptions>,
    error: Option<String>,
    form: CommitForm,
    saved: Option<i64>,
}

impl ReviewPage {
    /// The position of the page's last row among the rows the filter matches.
    fn last_position(&self) -> i64 {
        self.review.first_position + self.review.rows.len() as i64 - 1
    }

    /// Whether a cell has an error (or else a warning) to mark.
    fn cell_mark(&self, row: &ReviewRow, c: &Column) -> &'static str {
        let mut issues = row.issues_of(*c);
        match issues.next() {
            None => "",
            Some(i) if i.is_error() || issues.any(|i| i.is_error()) => "cell-error",
            Some(_) => "cell-warning",
        }
    }

    fn cell<'a>(&self, row: &'a ReviewRow, c: &Column) -> &'a str {
        row.cell(*c)
    }

    fn checked(&self, category: &str, medium: &str) -> bool {
        self.form
            .notifications
            .iter()
            .any(|n| n == &format!("{category}:{medium}"))
    }

    fn role_checked(&self, id: &Uuid) -> bool {
        self.form.roles.iter().any(|r| r == &id.to_string())
    }
}

async fn review(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, PageError> {
    show_review(&app, &user, id, &q, None, CommitForm::default()).await
}

async fn show_review(
    app: &App,
    user: &ConsoleUser,
    id: Uuid,
    q: &ReviewQuery,
    error: Option<String>,
    form: CommitForm,
) -> Result<Response, PageError> {
    let filter = filter_of(q);
    let after = import::rows_after(q.after.as_deref())?;
    let review = import::review(app, &user.principal, id, filter, after, Some(REVIEW_PAGE)).await?;
    if !review.job.state.is_under_review() {
        return Ok(Redirect::to(&format!("/jobs/{id}")).into_response());
    }
    let columns = columns_of(&review);
    let committable =
        review.job.state == JobState::Validated && user.principal.can(Capability::BulkAdd);
    let options = if committable {
        Some(import::commit_options(app, &user.principal).await?)
    } else {
        None
    };
    Ok(render(&ReviewPage {
        nav: Nav::of(user),
        id: id.to_string(),
        columns,
        filter: match filter {
            Filter::All => "all",
            Filter::Errors => "errors",
            Filter::Issues => "issues",
        },
        committable,
        options,
        error,
        form,
        saved: q.saved,
        review,
    }))
}

/// The columns the import's rows fill (the same on every page), required ones always.
fn columns_of(review: &Review) -> Vec<Column> {
    let filled = |c: &Column| {
        if review.summary.columns.is_empty() {
            // An import staged before the summary named its columns.
            review.rows.iter().any(|r| r.cells.contains_key(c))
        } else {
            review.summary.columns.contains(c)
        }
    };
    Column::ALL
        .iter()
        .copied()
        .filter(|c| c.required() || filled(c))
        .collect()
}

#[derive(Template)]
#[template(path = "import_row.html")]
struct RowPage {
    nav: Nav,
    id: String,
    row: ReviewRow,
    fields: Vec<Field>,
    /// Shown after a save: the row was saved and checked again.
    saved: bool,
    /// The review page that holds the row.
    back: String,
}

impl RowPage {
    fn issues_of(&self, c: &Column) -> Vec<&str> {
        self.row.issues_of(*c).map(|i| i.message.as_str()).collect()
    }

    fn errors(&self) -> usize {
        self.row.issues.iter().filter(|i| i.is_error()).count()
    }
}

async fn row_page_of(
    app: &App,
    user: &ConsoleUser,
    id: Uuid,
    row: ReviewRow,
    saved: bool,
) -> Result<Response, PageError> {
    let fields = editor::fields(app, &user.principal, &row).await?;
    Ok(render(&RowPage {
        nav: Nav::of(user),
        id: id.to_string(),
        back: review_link(id, row.seq),
        row,
        fields,
        saved,
    }))
}

/// The review page that holds row `seq`, scrolled to it.
fn review_link(id: Uuid, seq: i64) -> String {
    match import::page_holding(seq, REVIEW_PAGE) {
        Some(page) => format!("/import/{id}?after={page}#row-{seq}"),
        None => format!("/import/{id}#row-{seq}"),
    }
}

async fn row_page(
    State(app): State<App>,
    user: ConsoleUser,
    Path((id, seq)): Path<(Uuid, i64)>,
) -> Result<Response, PageError> {
    let review = import::review(&app, &user.principal, id, Filter::All, seq - 1, Some(1)).await?;
    let row = review
        .rows
        .into_iter()
        .find(|r| r.seq == seq)
        .ok_or_else(|| AppError::not_found("row"))?;
    row_page_of(&app, &user, id, row, false).await
}

/// Rows a page of the review table.
const REVIEW_PAGE: u32 = 50;

async fn save_row(
    State(app): State<App>,
    user: ConsoleUser,
    Path((id, seq)): Path<(Uuid, i64)>,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    // A list column comes as several ticked boxes (and what was not recognised): one cell.
    let cells: BTreeMap<Column, String> = Column::ALL
        .iter()
        .filter(|c| field(&pairs, c.name()).next().is_some())
        .map(|c| {
            let values: Vec<&str> = field(&pairs, c.name())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .collect();
            (*c, values.join("; "))
        })
        .collect();
    let meta = Meta::of(&user.principal, None, None);
    let row = import::edit_row(&app, &user.principal, id, seq, cells, &meta).await?;
    if row.in_error {
        // Still wrong: stay on the row with what is wrong.
        return row_page_of(&app, &user, id, row, true).await;
    }
    let back = match import::page_holding(row.seq, REVIEW_PAGE) {
        Some(page) => format!(
            "/import/{id}?after={page}&saved={}#row-{}",
            row.line, row.seq
        ),
        None => format!("/import/{id}?saved={}#row-{}", row.line, row.seq),
    };
    Ok(Redirect::to(&back).into_response())
}

/// The commit form as posted (kept to show it again with an error).
#[derive(Debug, Default, Clone)]
struct CommitForm {
    mode: String,
    roles: Vec<String>,
    mirror: String,
    location: String,
    send_date: String,
    send_time: String,
    notifications: Vec<String>,
}

impl CommitForm {
    fn of(pairs: &[(String, String)]) -> CommitForm {
        let one = |n: &str| first_value(pairs, n).trim().to_string();
        CommitForm {
            mode: one("mode"),
            roles: values(pairs, "roles"),
            mirror: one("mirror"),
            location: one("location"),
            send_date: one("send_date"),
            send_time: one("send_time"),
            notifications: values(pairs, "notifications"),
        }
    }
}

async fn commit(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let form = CommitForm::of(&pairs);
    let request = match commit_request(&app, &user, &form).await {
        Ok(r) => r,
        Err(e) => return again(&app, &user, id, e, form).await,
    };
    let meta = Meta::of(&user.principal, None, None);
    match import::commit(&app, &user.principal, id, &request, &meta).await {
        Ok(_) => Ok(Redirect::to(&format!("/jobs/{id}")).into_response()),
        Err(e) => again(&app, &user, id, e, form).await,
    }
}

/// Shows the review again with why the commit was refused; other errors become error pages.
async fn again(
    app: &App,
    user: &ConsoleUser,
    id: Uuid,
    e: AppError,
    form: CommitForm,
) -> Result<Response, PageError> {
    match e {
        AppError::Invalid(_)
        | AppError::Refused(_)
        | AppError::SeatsExhausted(_)
        | AppError::NotFound(_)
        | AppError::Conflict(_) => {
            show_review(
                app,
                user,
                id,
                &ReviewQuery::default(),
                Some(e.to_string()),
                form,
            )
            .await
        }
        other => Err(other.into()),
    }
}

async fn commit_request(
    app: &App,
    user: &ConsoleUser,
    form: &CommitForm,
) -> Result<Commit, AppError> {
    let bad_id =
        |what: &str| AppError::NotFound(format!("No {what} with that id in this organization."));
    let access = match form.mode.as_str() {
        "mirror" => {
            let user_id = rollcall_app::users::list::find_by_email(app, &user.principal, &form.mirror)
                .await?
                .ok_or_else(|| {
                    AppError::NotFound(format!(
                        "No user with the address “{}” in this organization: enter the email of the person whose access to copy.",
                        form.mirror
                    ))
                })?;
            Access::Mirror { user_id }
        }
        "customize" => Access::Customize,
        _ => Access::Roles {
            role_ids: form
                .roles
                .iter()
                .map(|r| r.parse().map_err(|_| bad_id("role")))
                .collect::<Result<_, _>>()?,
        },
    };
    let location_id = match form.location.as_str() {
        "" => None,
        l => Some(l.parse().map_err(|_| bad_id("location"))?),
    };
    let send_at = match (form.send_date.as_str(), form.send_time.as_str()) {
        ("", "") => None,
        (d, "") => Some(format!("{d}T09:00")),
        ("", _) => {
            return Err(rollcall_app::domain::ValueError::new(
                "send_at",
                "send_date_missing",
                "Choose the date the invitations go out, or clear the time to send them now.",
            )
            .into());
        }
        (d, t) => Some(format!("{d}T{t}")),
    };
    let notifications = form
        .notifications
        .iter()
        .filter_map(|n| n.split_once(':'))
        .map(|(c, m)| (c.to_string(), m.to_string()))
        .collect();
    Ok(Commit {
        access,
        location_id,
        send_at,
        notifications,
    })
}

#[derive(Template)]
#[template(path = "import_job.html")]
struct JobPage {
    nav: Nav,
    id: String,
    title: &'static str,
    running: bool,
    queued: bool,
    done: i64,
    total: i64,
    percent: i64,
    summary: Summary,
    outcome: &'static str,
    outcome_label: &'static str,
    sentence: String,
    not_imported: Vec<NotImported>,
    more: bool,
    started: String,
}

/// `GET /jobs/{id}` of an import: progress while it runs (polled), then what it did.
pub async fn job_page(app: &App, user: &ConsoleUser, job: Job) -> Result<Response, PageError> {
    if job.state.is_under_review() {
        // Not committed yet: its page is the review.
        return Ok(Redirect::to(&format!("/import/{}", job.id)).into_response());
    }
    let (outcome, sentence) = import_run::outcome_of(&job);
    let finished = job.is_finished();
    let not_imported = if finished {
        import_run::not_imported(app, &user.principal, job.id, 201).await?
    } else {
        Vec::new()
    };
    let more = not_imported.len() > 200;
    Ok(render(&JobPage {
        nav: Nav::of(user),
        id: job.id.to_string(),
        title: if job.kind == JobKind::DirectoryAdd {
            "Adding people from the directory"
        } else {
            "CSV import"
        },
        running: !finished,
        queued: job.state == JobState::Queued,
        done: job.done,
        total: job.total,
        percent: rollcall_app::jobs::percent_done(&job),
        summary: Summary::of(&job),
        outcome: outcome.as_str(),
        outcome_label: outcome.label(),
        sentence,
        not_imported: not_imported.into_iter().take(200).collect(),
        more,
        started: local(job.created_at, &user.principal.time_zone),
    }))
}
