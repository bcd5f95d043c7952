//! Access reviews: the campaigns and, for a company admin, the form that starts one; a
//! campaign's page with its counts, its evidence exports and the caller's queue, where a
//! reviewer selects people and decides for them at once (refusals shown with the rule's words).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use rollcall_app::domain::{Capability, Permission};
use rollcall_app::reviews::decide::{self, DecisionOutcome, DecisionRequest};
use rollcall_app::reviews::queue::{self, Card};
use rollcall_app::reviews::start::{self, NewCampaign};
use rollcall_app::reviews::{self, CampaignView, evidence};
use rollcall_app::{App, AppError};
use uuid::Uuid;

use super::form::FormState;
use super::{Nav, csv_download, download, first_value};
use crate::error::{PageError, render};
use crate::session::{ConsoleForm, ConsoleUser};

#[derive(Template)]
#[template(path = "reviews.html")]
struct ListPage {
    nav: Nav,
    campaigns: Vec<CampaignView>,
    /// A company admin may start campaigns.
    can_start: bool,
    form: FormState,
}

async fn list_page(app: &App, user: &ConsoleUser, form: FormState) -> Result<Response, PageError> {
    Ok(render(&ListPage {
        nav: Nav::of(user),
        campaigns: reviews::list(app, &user.principal).await?,
        can_start: user.principal.can(Capability::RunAccessReviews),
        form,
    }))
}

pub async fn list(State(app): State<App>, user: ConsoleUser) -> Result<Response, PageError> {
    list_page(&app, &user, FormState::stored()).await
}

pub async fn start(
    State(app): State<App>,
    user: ConsoleUser,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let one = |name| first_value(&pairs, name).to_string();
    let some = |name| Some(one(name)).filter(|v| !v.trim().is_empty());
    let req = NewCampaign {
        name: one("name"),
        due_date: one("due_date"),
        location: some("location"),
        role: some("role"),
        user_type: some("user_type"),
        recurrence: some("recurrence"),
    };
    match start::start(&app, &user.principal, &req, &user.meta()).await {
        Ok(c) => Ok(Redirect::to(&format!("/access-reviews/{}", c.id)).into_response()),
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_))) => {
            list_page(&app, &user, FormState::refused(pairs, &e)).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "review.html")]
struct CampaignPage {
    nav: Nav,
    campaign: CampaignView,
    cards: Vec<Card>,
    next: Option<Uuid>,
    permissions: Vec<(&'static str, &'static str)>,
    /// What the last decision did, person by person.
    outcomes: Vec<DecisionOutcome>,
    /// A company admin may end an open campaign now.
    can_close: bool,
    form: FormState,
}

async fn campaign_page(
    app: &App,
    user: &ConsoleUser,
    id: Uuid,
    after: Option<Uuid>,
    outcomes: Vec<DecisionOutcome>,
    form: FormState,
) -> Result<Response, PageError> {
    let q = queue::mine(app, &user.principal, id, after, None).await?;
    Ok(render(&CampaignPage {
        nav: Nav::of(user),
        cards: q.cards,
        next: q.next,
        permissions: Permission::ALL.map(|p| (p.key(), p.label())).to_vec(),
        can_close: user.principal.can(Capability::RunAccessReviews)
            && q.campaign.escalated_at.is_none(),
        campaign: q.campaign,
        outcomes,
        form,
    }))
}

#[derive(serde::Deserialize)]
pub struct Page {
    after: Option<Uuid>,
}

pub async fn show(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    axum::extract::Query(page): axum::extract::Query<Page>,
) -> Result<Response, PageError> {
    campaign_page(&app, &user, id, page.after, Vec::new(), FormState::stored()).await
}

pub async fn decide(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(pairs): ConsoleForm,
) -> Result<Response, PageError> {
    let one = |name| first_value(&pairs, name).to_string();
    let some = |name| Some(one(name)).filter(|v| !v.trim().is_empty());
    let req = DecisionRequest {
        users: super::field(&pairs, "user")
            .filter_map(|v| Uuid::parse_str(v).ok())
            .collect(),
        decision: one("decision"),
        permission: some("permission"),
        location: some("location"),
        note: some("note"),
    };
    let path = rollcall_app::domain::Path::Console;
    match decide::decide(&app, &user.principal, id, &req, path, &user.meta()).await {
        Ok(outcomes) => campaign_page(&app, &user, id, None, outcomes, FormState::stored()).await,
        Err(e @ (AppError::Invalid(_) | AppError::InvalidFields(_))) => {
            let form = FormState::refused(pairs, &e);
            campaign_page(&app, &user, id, None, Vec::new(), form).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn close(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
    ConsoleForm(_): ConsoleForm,
) -> Result<Response, PageError> {
    reviews::due::close_now(&app, &user.principal, id, &user.meta()).await?;
    Ok(Redirect::to(&format!("/access-reviews/{id}")).into_response())
}

pub async fn evidence_csv(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let text = evidence::csv(&app, &user.principal, id).await?;
    Ok(csv_download(&format!("access-review-{id}.csv"), text))
}

pub async fn evidence_json(
    State(app): State<App>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
) -> Result<Response, PageError> {
    let record = evidence::json(&app, &user.principal, id).await?;
    let text = serde_json::to_string_pretty(&record)
        .map_err(|e| AppError::Internal(format!("writing JSON: {e}")))?;
    Ok(download(
        "application/json",
        &format!("access-review-{id}.json"),
        text,
    ))
}
