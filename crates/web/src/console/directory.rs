//! The staff directory in the console: the roster's groups and its upload, and the bulk add
//! wizard (people → role and location → notifications → confirm). The wizard carries its state
//! in hidden form fields and keeps it as the admin's draft as well, so a batch survives leaving
//! the page; no account is created until Confirm.

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use rollcall_app::domain::Capability;
use rollcall_app::onboarding::directory::{
    self, AddRequest, Candidate, LastSync, Loaded, Members, Options, Overview,
};
use rollcall_app::{App, AppError, drafts};
use rollcall_domain::ValueError;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::upload::{self, Upload};
use super::{Nav, field, first_value, values};
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser};

/// Largest upload: the roster file and the form around it.
const UPLOAD_LIMIT: usize = directory::MAX_FILE_BYTES as usize + 64 * 1024;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/directory", get(page))
        .route("/directory/roster-template.csv", get(roster_template))
        .route(
            "/directory/load",
            post(load).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)),
        )
        .route("/directory/add", post(add))
}

/// What the wizard carries from step to step. Kept as the admin's draft too, so a batch outlives
/// leaving the page.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Wizard {
    /// External ids of the batch, in the order they were added.
    batch: Vec<String>,
    /// The group whose members are shown.
    group: Option<String>,
    /// Members ticked in that group.
    picks: Vec<String>,
    role_id: String,
    location_id: String,
    date: String,
    time: String,
    /// `category:medium` pairs switched on.
    notifications: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    People,
    Access,
    Notifications,
    Confirm,
}

impl Wizard {
    fn from_form(pairs: &[(String, String)]) -> Wizard {
        let one = |name: &str| first_value(pairs, name).to_string();
        let mut batch: Vec<String> = Vec::new();
        for id in field(pairs, "batch") {
            if !batch.iter().any(|b| b == id) {
                batch.push(id.to_string());
            }
        }
        Wizard {
            batch,
            group: field(pairs, "group")
                .next()
                .filter(|g| !g.is_empty())
                .map(str::to_string),
            picks: values(pairs, "pick"),
            role_id: one("role_id"),
            location_id: one("location_id"),
            date: one("date"),
            time: one("time"),
            notifications: values(pairs, "notifications"),
        }
    }

    fn add(&mut self, ids: impl IntoIterator<Item = String>) {
        for id in ids {
            if !self.batch.contains(&id) {
                self.batch.push(id);
            }
        }
    }

    /// Hidden fields for everything the page of `step` does not show as inputs.
    fn hidden(&self, step: Step) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> =
            self.batch.iter().map(|id| ("batch", id.clone())).collect();
        if step != Step::People
            && let Some(g) = &self.group
        {
            out.push(("group", g.clone()));
        }
        if step != Step::Access {
            for (k, v) in [
                ("role_id", &self.role_id),
                ("location_id", &self.location_id),
                ("date", &self.date),
                ("time", &self.time),
            ] {
                if !v.is_empty() {
                    out.push((k, v.clone()));
                }
            }
        }
        if step != Step::Notifications {
            out.extend(
                self.notifications
                    .iter()
                    .map(|n| ("notifications", n.clone())),
            );
        }
        out
    }

    /// The role and the primary location chosen in step 2; the first one missing is refused.
    fn access(&self) -> Result<(Uuid, Uuid), ValueError> {
        let [role, location] = [
            (
                &self.role_id,
                "role",
                "role_required",
                "Choose the role the invited people get.",
            ),
            (
                &self.location_id,
                "location",
                "location_required",
                "Choose the primary location the invited people will work at.",
            ),
        ]
        .map(|(id, field, code, message)| {
            id.parse::<Uuid>()
                .map_err(|_| ValueError::new(field, code, message))
        });
        Ok((role?, location?))
    }
}

#[derive(Template)]
#[template(path = "directory.html")]
struct PeoplePage {
    nav: Nav,
    can_add: bool,
    overview: Overview,
    members: Option<Members>,
    batch: Vec<Candidate>,
    hidden: Vec<(&'static str, String)>,
    notice: Option<String>,
    error: Option<String>,
    columns: String,
    last_sync: Option<LastSync>,
}

impl PeoplePage {
    fn in_batch(&self, id: &str) -> bool {
        self.batch.iter().any(|c| c.external_id == id)
    }

    fn group_link(&self, name: &str) -> String {
        format!("/directory?group={}", super::urlencode(name))
    }

    fn is_shown(&self, name: &str) -> bool {
        self.members.as_ref().is_some_and(|m| m.group == name)
    }
}

/// Steps 2 (role, primary location, and when to send) and 3 (the batch's notification
/// preferences) show the same things: the size of the batch and the organization's options.
#[derive(Template)]
#[template(path = "directory_options.html")]
struct OptionsPage {
    nav: Nav,
    step: Step,
    count: usize,
    options: Options,
    w: Wizard,
    hidden: Vec<(&'static str, String)>,
    error: Option<String>,
}

impl OptionsPage {
    fn chosen(&self, category: &str, medium: &str) -> bool {
        let pair = format!("{category}:{medium}");
        self.w.notifications.contains(&pair)
    }
}

#[derive(Template)]
#[template(path = "directory_confirm.html")]
struct ConfirmPage {
    nav: Nav,
    people: Vec<Candidate>,
    role: String,
    location: String,
    send_at: Option<String>,
    zone: String,
    notifications: Vec<String>,
    hidden: Vec<(&'static str, String)>,
    /// Makes Confirm act once, however often the form is sent.
    once: String,
    error: Option<String>,
}

/// A step shown again with the reason its form was not taken answers 422.
fn status_for(error: &Option<String>) -> StatusCode {
    if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

fn with_status(status: StatusCode, page: Response) -> Response {
    (status, page).into_response()
}

/// Step 1 (and the Directory page): groups, the shown group's members, the batch so far.
async fn people_page(
    app: &App,
    user: &ConsoleUser,
    mut w: Wizard,
    notice: Option<String>,
    mut error: Option<String>,
) -> Result<Response, PageError> {
    let who = &user.principal;
    let overview = directory::groups(app, who).await?;
    let can_add = who.can(Capability::BulkAdd);
    let members = match &w.group {
        Some(g) => match directory::members_of(app, who, g).await {
            Ok(m) => Some(m),
            Err(e @ AppError::NotFound(_)) => {
                error.get_or_insert(e.to_string());
                w.group = None;
                None
            }
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let batch = directory::batch(app, who, &w.batch).await?;
    let mut notice = notice;
    if batch.dropped > 0 {
        notice = Some(format!(
            "{} left the batch: since being picked they left the directory, were deactivated upstream or got an account.",
            people(batch.dropped)
        ));
    }
    w.batch = batch.people.iter().map(|c| c.external_id.clone()).collect();
    remember(app, user, &w).await?;
    let status = status_for(&error);
    let page = PeoplePage {
        nav: Nav::of(user),
        can_add,
        hidden: w.hidden(Step::People),
        overview,
        members,
        batch: batch.people,
        notice,
        error,
        columns: directory::COLUMNS
            .iter()
            .map(|(n, _)| *n)
            .collect::<Vec<_>>()
            .join(","),
        last_sync: directory::last_sync(app, who).await?,
    };
    Ok(with_status(status, render(&page)))
}

fn people(n: usize) -> String {
    if n == 1 {
        "1 person".into()
    } else {
        format!("{n} people")
    }
}

#[derive(Deserialize)]
pub struct PageQuery {
    group: Option<String>,
}

/// The name the wizard's draft is kept under.
const DRAFT: &str = "directory";

/// The wizard as the admin left it (their draft), or a fresh one.
async fn resumed(app: &App, user: &ConsoleUser) -> Result<Wizard, PageError> {
    if !user.principal.can(Capability::BulkAdd) {
        return Ok(Wizard::default());
    }
    Ok(drafts::load(app, &user.principal, DRAFT)
        .await?
        .unwrap_or_default())
}

/// Keeps the wizard as the admin's draft; an empty batch keeps nothing.
async fn remember(app: &App, user: &ConsoleUser, w: &Wizard) -> Result<(), PageError> {
    if !user.principal.can(Capability::BulkAdd) {
        return Ok(());
    }
    if w.batch.is_empty() {
        drafts::discard(app, &user.principal, DRAFT).await?;
    } else {
        let kept = Wizard {
            picks: Vec::new(),
            ..w.clone()
        };
        drafts::save(app, &user.principal, DRAFT, &kept).await?;
    }
    Ok(())
}

/// `GET /directory`: the roster's groups; `?group=` shows one group's members. A batch the
/// admin started earlier is still there.
pub async fn page(
    State(app): State<App>,
    user: ConsoleUser,
    Query(q): Query<PageQuery>,
) -> Result<Response, PageError> {
    let mut w = resumed(&app, &user).await?;
    w.group = q.group.filter(|g| !g.is_empty());
    people_page(&app, &user, w, None, None).await
}

/// `POST /directory/load` (multipart: `csrf`, then `roster`): a roster file replacing the roster.
pub async fn load(
    State(app): State<App>,
    user: ConsoleUser,
    mut form: Multipart,
) -> Result<Response, PageError> {
    let bytes = match upload::read(&user, &mut form, "roster", directory::MAX_FILE_BYTES).await? {
        Upload::TooLarge => {
            let too_large = format!(
                "The file is larger than {} MB, far more than a staff roster takes. Is it the right file?",
                directory::MAX_FILE_BYTES / 1024 / 1024
            );
            return people_page(&app, &user, Wizard::default(), None, Some(too_large)).await;
        }
        Upload::File { bytes, .. } => bytes,
        Upload::NoFile => Vec::new(),
    };
    let result = if bytes.is_empty() {
        Err(ValueError::new(
            "roster",
            "roster_missing",
            "Choose the roster file (CSV) to load.",
        )
        .into())
    } else {
        directory::load_csv(&app, &user.principal, &bytes[..], &user.meta()).await
    };
    match result {
        Ok(l) => {
            let notice = loaded_notice(&l);
            let w = Wizard {
                group: None,
                ..resumed(&app, &user).await?
            };
            people_page(&app, &user, w, Some(notice), None).await
        }
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_))) => {
            people_page(&app, &user, Wizard::default(), None, Some(e.to_string())).await
        }
        Err(e) => Err(e.into()),
    }
}

fn loaded_notice(l: &Loaded) -> String {
    format!(
        "Directory loaded: {} in {} group{} ({} new, {} removed, {} deactivated upstream). {}",
        people(l.people),
        l.groups,
        if l.groups == 1 { "" } else { "s" },
        l.added,
        l.removed,
        l.inactive,
        accounts_notice(l)
    )
}

/// What the load did to accounts, in one sentence each; the list is under "Last sync".
fn accounts_notice(l: &Loaded) -> String {
    if l.deactivated.is_empty() && l.reactivated.is_empty() && l.refused.is_empty() {
        return "No account was changed.".into();
    }
    let names = |list: Vec<&str>| list.join(", ");
    let mut said = Vec::new();
    if !l.deactivated.is_empty() {
        let who = names(l.deactivated.iter().map(|c| c.name.as_str()).collect());
        said.push(format!("Deactivated {}: {who}.", l.deactivated.len()));
    }
    if !l.reactivated.is_empty() {
        let who = names(l.reactivated.iter().map(|c| c.name.as_str()).collect());
        said.push(format!("Reactivated {}: {who}.", l.reactivated.len()));
    }
    if !l.refused.is_empty() {
        let who = names(l.refused.iter().map(|r| r.name.as_str()).collect());
        said.push(format!(
            "Not changed {}: {who}; the reasons are listed under Last sync.",
            l.refused.len()
        ));
    }
    said.join(" ")
}

/// `POST /directory/add`: every step of the wizard; the button pressed (`go`) says where to.
pub async fn add(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    user.principal.require(Capability::BulkAdd)?;
    let mut w = Wizard::from_form(&pairs);
    let go = field(&pairs, "go").next().unwrap_or("batch").to_string();
    if let Some(group) = go.strip_prefix("group:") {
        w.group = Some(group.to_string());
        return people_page(&app, &user, w, None, None).await;
    }
    if let Some(id) = go.strip_prefix("remove:") {
        w.batch.retain(|b| b != id);
        return people_page(&app, &user, w, None, None).await;
    }
    if go == "start_over" {
        return people_page(&app, &user, Wizard::default(), None, None).await;
    }
    match go.as_str() {
        "add_all" => add_from_group(&app, &user, w, Pick::All).await,
        "add_selected" => add_from_group(&app, &user, w, Pick::Ticked).await,
        "access" => {
            if w.batch.is_empty() {
                let why = "Add at least one person to the batch first.";
                return people_page(&app, &user, w, None, Some(why.into())).await;
            }
            options_step(&app, &user, Step::Access, w, None).await
        }
        "notifications" => match checked_request(&app, &user, &w).await? {
            Ok(_) => options_step(&app, &user, Step::Notifications, w, None).await,
            Err(back) => Ok(back),
        },
        "confirm" => confirm_page(&app, &user, w, None).await,
        "commit" => {
            let once = field(&pairs, "once").next().filter(|k| !k.is_empty());
            commit(&app, &user, w, once).await
        }
        _ => people_page(&app, &user, w, None, None).await,
    }
}

/// Which members of the shown group go into the batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pick {
    All,
    Ticked,
}

/// Step 1: members of the shown group join the batch.
async fn add_from_group(
    app: &App,
    user: &ConsoleUser,
    mut w: Wizard,
    pick: Pick,
) -> Result<Response, PageError> {
    let Some(group) = w.group.clone() else {
        return people_page(app, user, w, None, Some("Pick a group first.".into())).await;
    };
    let members = directory::members_of(app, &user.principal, &group).await?;
    let ids: Vec<String> = members
        .candidates
        .into_iter()
        .map(|c| c.external_id)
        .filter(|id| pick == Pick::All || w.picks.contains(id))
        .collect();
    if ids.is_empty() {
        let why = match pick {
            Pick::All => "Nobody of this group can be added.",
            Pick::Ticked => "Tick the people to add first, or use Add all.",
        };
        return people_page(app, user, w, None, Some(why.into())).await;
    }
    w.add(ids);
    w.picks.clear();
    people_page(app, user, w, None, None).await
}

/// Confirm: the job that invites the batch, once however often the form is sent.
async fn commit(
    app: &App,
    user: &ConsoleUser,
    w: Wizard,
    once: Option<&str>,
) -> Result<Response, PageError> {
    let req = match checked_request(app, user, &w).await? {
        Ok(req) => req,
        Err(back) => return Ok(back),
    };
    match directory::add(app, &user.principal, &req, once, &user.meta()).await {
        Ok(job) => {
            drafts::discard(app, &user.principal, DRAFT).await?;
            Ok(Redirect::to(&format!("/jobs/{}", job.id)).into_response())
        }
        Err(
            e @ (AppError::Store(_)
            | AppError::Internal(_)
            | AppError::Forbidden(_)
            | AppError::Unauthenticated(_)),
        ) => Err(e.into()),
        // Refused as a whole (seats, rules, a stale batch): say why, nothing was created.
        Err(e) => confirm_page(app, user, w, Some(e.to_string())).await,
    }
}

/// The request steps 1–3 describe; a choice that does not hold (`Err`) sends the person back to
/// step 2 with the reason.
async fn checked_request(
    app: &App,
    user: &ConsoleUser,
    w: &Wizard,
) -> Result<Result<AddRequest, Response>, PageError> {
    match access_checked(app, user, w).await {
        Ok(req) => Ok(Ok(req)),
        Err(e @ (AppError::Invalid(_) | AppError::NotFound(_))) => {
            let back =
                options_step(app, user, Step::Access, w.clone(), Some(e.to_string())).await?;
            Ok(Err(back))
        }
        Err(e) => Err(e.into()),
    }
}

/// The request steps 1–3 describe, checked as far as the wizard can before Confirm.
async fn access_checked(app: &App, user: &ConsoleUser, w: &Wizard) -> Result<AddRequest, AppError> {
    let options = directory::options(app, &user.principal).await?;
    let (role_id, location_id) = w.access()?;
    if !options.roles.iter().any(|(id, _)| *id == role_id) {
        return Err(AppError::not_found("role"));
    }
    if !options.locations.iter().any(|(id, _)| *id == location_id) {
        return Err(AppError::not_found("location"));
    }
    let send_at = directory::send_at_of(app, &w.date, &w.time, &options.time_zone)?;
    Ok(AddRequest {
        external_ids: w.batch.clone(),
        role_id,
        location_id,
        send_at,
        notifications: w.notifications.clone(),
    })
}

/// Step 2 or step 3 of the wizard.
async fn options_step(
    app: &App,
    user: &ConsoleUser,
    step: Step,
    w: Wizard,
    error: Option<String>,
) -> Result<Response, PageError> {
    let options = directory::options(app, &user.principal).await?;
    remember(app, user, &w).await?;
    let status = status_for(&error);
    let page = OptionsPage {
        nav: Nav::of(user),
        step,
        count: w.batch.len(),
        options,
        hidden: w.hidden(step),
        w,
        error,
    };
    Ok(with_status(status, render(&page)))
}

/// Step 4: everything chosen, to confirm; or the reason Confirm was refused.
async fn confirm_page(
    app: &App,
    user: &ConsoleUser,
    mut w: Wizard,
    error: Option<String>,
) -> Result<Response, PageError> {
    let who = &user.principal;
    let req = match checked_request(app, user, &w).await? {
        Ok(req) => req,
        Err(back) => return Ok(back),
    };
    let options = directory::options(app, who).await?;
    let chosen = match directory::notification_choices(&options, &w.notifications) {
        Ok(c) => c,
        Err(e) => {
            return options_step(app, user, Step::Notifications, w, Some(e.to_string())).await;
        }
    };
    let batch = directory::batch(app, who, &w.batch).await?;
    w.batch = batch.people.iter().map(|c| c.external_id.clone()).collect();
    if w.batch.is_empty() {
        return people_page(
            app,
            user,
            w,
            None,
            Some("Nobody in the batch can be added any more: add people from a group.".into()),
        )
        .await;
    }
    let label = |list: &[(String, String)], code: &str| {
        list.iter()
            .find(|(c, _)| c == code)
            .map_or(code.to_string(), |(_, l)| l.clone())
    };
    let name_of = |list: &[(Uuid, String)], id: Uuid| {
        list.iter()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    };
    remember(app, user, &w).await?;
    let status = status_for(&error);
    let page = ConfirmPage {
        nav: Nav::of(user),
        people: batch.people,
        role: name_of(&options.roles, req.role_id),
        location: name_of(&options.locations, req.location_id),
        send_at: req.send_at.map(|s| s.replacen('T', " ", 1)),
        zone: options.time_zone.clone(),
        notifications: chosen
            .iter()
            .map(|(c, m)| {
                format!(
                    "{} by {}",
                    label(&options.categories, c),
                    label(&options.media, m).to_lowercase()
                )
            })
            .collect(),
        hidden: w.hidden(Step::Confirm),
        once: rollcall_app::secret::new_token(),
        error,
    };
    Ok(with_status(status, render(&page)))
}

/// `GET /directory/roster-template.csv`: a roster file to start from.
async fn roster_template(_user: ConsoleUser) -> Response {
    super::csv_download("rollcall-roster-template.csv", directory::template())
}
