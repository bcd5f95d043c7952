//! The directory: the practice's upstream staff roster, loaded whole (CSV file or JSON) and
//! onboarded from in batches (C6). The roster is a source to invite from, and the practice's word
//! on who has left: a load deactivates the accounts of people it marks inactive or (whole) no
//! longer lists, and reactivates those it deactivated itself (`sync`). Adding people from it goes
//! through the shared import pipeline.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rollcall_domain::import::{Column, RawRow};
use rollcall_domain::{Capability, JobKind, ValueError, notifications};
use rollcall_store::directory::{self, Person};
use rollcall_store::jobs::{self, Job};
use rollcall_store::{Conn, users};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::audit::Meta;
use crate::idempotency::{self, Key};
use crate::onboarding::import::{self, Access, Commit};
use crate::{App, AppError, Principal};

mod roster;
mod sync;

pub use roster::{
    COLUMNS, Loaded, MAX_FILE_BYTES, MAX_PEOPLE, PersonIn, Roster, load_csv, load_people,
    load_some_people, parse_csv, template,
};
pub use sync::{AccountChange, LastSync, SyncReason, SyncRefusal, Synced, last_sync};

/// A group of the roster with its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GroupView {
    pub name: String,
    pub members: i64,
    pub inactive: i64,
}

/// The roster at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Overview {
    pub people: i64,
    pub inactive: i64,
    pub groups: Vec<GroupView>,
}

/// A person who can be added: active upstream and without an account in the organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub external_id: String,
    pub name: String,
    pub email: String,
    pub user_type: Option<String>,
    pub groups: Vec<String>,
}

/// A group's members that can be added, and how many were left out and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Members {
    pub group: String,
    pub candidates: Vec<Candidate>,
    /// Members deactivated upstream.
    pub inactive: usize,
    /// Members whose address already belongs to a user of the organization.
    pub existing: usize,
}

/// The people of a batch that can still be added, in batch order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Batch {
    pub people: Vec<Candidate>,
    /// Ids of the batch that cannot be added any more (left the directory, deactivated
    /// upstream, or given an account meanwhile).
    pub dropped: usize,
}

/// What the admin chose for a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddRequest {
    pub external_ids: Vec<String>,
    pub role_id: Uuid,
    pub location_id: Uuid,
    /// Local date and time in the organization's zone (`2026-12-01T09:00`); `None` sends now.
    pub send_at: Option<String>,
    /// Notification preferences as `category:medium`.
    pub notifications: Vec<String>,
}

/// The choices the add wizard offers this admin: the same as an import's commit form.
pub type Options = crate::onboarding::import::CommitOptions;

/// The roster's size and its groups with their member counts, by name.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn groups(app: &App, who: &Principal) -> Result<Overview, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let (people, inactive) = directory::count(&mut conn, who.org_id).await?;
    let mut groups: Vec<GroupView> = directory::groups(&mut conn, who.org_id)
        .await?
        .into_iter()
        .map(|g| GroupView {
            name: g.name,
            members: g.members,
            inactive: g.inactive,
        })
        .collect();
    groups.sort_by_cached_key(|g| (g.name.to_lowercase(), g.name.clone()));
    Ok(Overview {
        people,
        inactive,
        groups,
    })
}

/// Of the given people, the match keys that already belong to a user of the organization.
async fn with_accounts(
    conn: &mut Conn,
    org_id: Uuid,
    people: &[Person],
) -> Result<HashSet<String>, AppError> {
    let keys: Vec<String> = people
        .iter()
        .map(|p| p.email_key.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(users::existing_email_keys(conn, org_id, &keys)
        .await?
        .into_iter()
        .collect())
}

fn candidate(p: Person) -> Candidate {
    Candidate {
        name: format!("{} {}", p.first_name, p.last_name),
        external_id: p.external_id,
        email: p.email,
        user_type: p.user_type,
        groups: p.groups,
    }
}

/// A group's members who can be added: minus people deactivated upstream and people whose
/// address already belongs to a user of the organization (whatever that user's status), by name.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn members_of(app: &App, who: &Principal, group: &str) -> Result<Members, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let people = directory::members(&mut conn, who.org_id, group).await?;
    if people.is_empty() {
        return Err(AppError::NotFound(format!(
            "The directory has no group “{group}”. Pick one of the groups listed, or load a roster that has it."
        )));
    }
    let taken = with_accounts(&mut conn, who.org_id, &people).await?;
    let (mut inactive, mut existing) = (0, 0);
    let mut candidates = Vec::new();
    for p in people {
        if !p.active {
            inactive += 1;
        } else if taken.contains(&p.email_key) {
            existing += 1;
        } else {
            candidates.push(candidate(p));
        }
    }
    candidates.sort_by_cached_key(|c| (c.name.to_lowercase(), c.external_id.clone()));
    Ok(Members {
        group: group.to_string(),
        candidates,
        inactive,
        existing,
    })
}

/// The roster's people with these external ids, in the order given (each once; ids the roster
/// does not hold are left out).
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn people_by_ids(
    app: &App,
    who: &Principal,
    ids: &[String],
) -> Result<Vec<Person>, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    by_ids_in_order(&mut conn, who.org_id, ids).await
}

async fn by_ids_in_order(
    conn: &mut Conn,
    org_id: Uuid,
    ids: &[String],
) -> Result<Vec<Person>, AppError> {
    let mut unique = Vec::new();
    let mut seen = HashSet::new();
    for id in ids {
        if seen.insert(id.as_str()) {
            unique.push(id.clone());
        }
    }
    let mut found: BTreeMap<String, Person> = directory::by_ids(conn, org_id, &unique)
        .await?
        .into_iter()
        .map(|p| (p.external_id.clone(), p))
        .collect();
    Ok(unique.iter().filter_map(|id| found.remove(id)).collect())
}

/// The people of a batch who can still be added, in batch order.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn batch(app: &App, who: &Principal, ids: &[String]) -> Result<Batch, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let (people, dropped) = eligible(&mut conn, who.org_id, ids).await?;
    Ok(Batch {
        people: people.into_iter().map(candidate).collect(),
        dropped,
    })
}

/// Those of `ids` who can be added, in order, and how many of the ids cannot.
async fn eligible(
    conn: &mut Conn,
    org_id: Uuid,
    ids: &[String],
) -> Result<(Vec<Person>, usize), AppError> {
    let asked = ids.iter().collect::<HashSet<_>>().len();
    let people = by_ids_in_order(conn, org_id, ids).await?;
    let taken = with_accounts(conn, org_id, &people).await?;
    let people: Vec<Person> = people
        .into_iter()
        .filter(|p| p.active && !taken.contains(&p.email_key))
        .collect();
    let dropped = asked - people.len();
    Ok((people, dropped))
}

/// Roles, locations, zone and notification choices for the wizard.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn options(app: &App, who: &Principal) -> Result<Options, AppError> {
    crate::onboarding::import::commit_options(app, who).await
}

/// The send time from a date and a time field (both empty: send now), as the import pipeline
/// takes it: `YYYY-MM-DDTHH:MM` in the organization's zone. A time already past is refused.
pub fn send_at_of(
    app: &App,
    date: &str,
    time: &str,
    zone: &str,
) -> Result<Option<String>, AppError> {
    let (date, time) = (date.trim(), time.trim());
    let bad = |code: &'static str, message: String| -> AppError {
        ValueError::new("send_at", code, message).into()
    };
    match (date.is_empty(), time.is_empty()) {
        (true, true) => return Ok(None),
        (false, true) => {
            return Err(bad(
                "send_time_missing",
                "Choose the time on that date to send the invitations, or clear the date to send them now.".into(),
            ));
        }
        (true, false) => {
            return Err(bad(
                "send_date_missing",
                "Choose the date to send the invitations on, or clear the time to send them now."
                    .into(),
            ));
        }
        _ => {}
    }
    let text = format!("{date}T{time}");
    let at = crate::clock::parse_local(&text, zone)?;
    if at < app.clock.now() {
        return Err(bad(
            "send_at_past",
            format!(
                "{date} {time} has already passed in {zone}. Choose a later time, or clear both fields to send the invitations now."
            ),
        ));
    }
    Ok(Some(text))
}

/// Notification choices (`category:medium`) checked against what the organization offers.
pub fn notification_choices(
    options: &Options,
    chosen: &[String],
) -> Result<Vec<(String, String)>, AppError> {
    let categories: Vec<String> = options.categories.iter().map(|(c, _)| c.clone()).collect();
    let media: Vec<String> = options.media.iter().map(|(m, _)| m.clone()).collect();
    let mut out: Vec<(String, String)> = Vec::new();
    for c in chosen {
        let pair = notifications::parse_choice(c, &categories, &media)?;
        if !out.contains(&pair) {
            out.push(pair);
        }
    }
    Ok(out)
}

/// Invites a batch once. `once` is a key the confirm page issues: a second Confirm with the
/// same key (a double click, a reload) starts nothing and answers the first one's job.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn add(
    app: &App,
    who: &Principal,
    req: &AddRequest,
    once: Option<&str>,
    meta: &Meta,
) -> Result<Job, AppError> {
    who.require(Capability::BulkAdd)?;
    let Some(once) = once else {
        return add_now(app, who, req, meta).await;
    };
    let claim = Key::new(who, "directory.add", once, req)?;
    let done = Key::new(who, "directory.add.job", once, req)?;
    let earlier = || async {
        let mut conn = app.db.read_conn().await?;
        match idempotency::replay::<Uuid>(&mut conn, who.org_id, &done).await? {
            Some(id) => Ok::<_, AppError>(Some(
                jobs::get(&mut conn, who.org_id, id)
                    .await?
                    .ok_or_else(|| AppError::not_found("job"))?,
            )),
            None => Ok(None),
        }
    };
    if let Some(job) = earlier().await? {
        return Ok(job);
    }
    let mut tx = app.db.begin().await?;
    match idempotency::record(&mut tx, who.org_id, &claim, &(), app.clock.now()).await {
        Ok(()) => tx.commit().await?,
        Err(AppError::Store(e)) if e.is_unique_violation() => {
            drop(tx);
            return match earlier().await? {
                Some(job) => Ok(job),
                None => Err(AppError::Conflict(
                    "This batch was confirmed a moment ago and is being added; its job is listed on the Jobs page.".into(),
                )),
            };
        }
        Err(e) => return Err(e),
    }
    let job = add_now(app, who, req, meta).await?;
    let mut tx = app.db.begin().await?;
    idempotency::record(&mut tx, who.org_id, &done, &job.id, app.clock.now()).await?;
    tx.commit().await?;
    Ok(job)
}

/// Invites a batch: stages one row per person (line = place in the batch) and commits it with
/// the role, location, send time and notification preferences. The licence check runs in
/// `commit`: when the batch needs more seats than are free, nothing is created.
async fn add_now(
    app: &App,
    who: &Principal,
    req: &AddRequest,
    meta: &Meta,
) -> Result<Job, AppError> {
    who.require(Capability::BulkAdd)?;
    let options = options(app, who).await?;
    check_offered(&options, req)?;
    let send_at = match &req.send_at {
        Some(s) => {
            let (d, t) = s.split_once('T').unwrap_or((s.as_str(), ""));
            send_at_of(app, d, t, &options.time_zone)?
        }
        None => None,
    };
    let notifications = notification_choices(&options, &req.notifications)?;
    let people = {
        let mut conn = app.db.read_conn().await?;
        still_eligible(&mut conn, who.org_id, &req.external_ids).await?
    };
    let job = import::stage(
        app,
        who,
        JobKind::DirectoryAdd,
        "directory",
        rows_of(people),
        meta,
    )
    .await?;
    let commit = Commit {
        access: Access::Roles {
            role_ids: vec![req.role_id],
        },
        location_id: Some(req.location_id),
        send_at,
        notifications,
    };
    match import::commit(app, who, job.id, &commit, meta).await {
        Ok(job) => Ok(job),
        Err(e @ (AppError::Store(_) | AppError::Internal(_))) => Err(e),
        // Refused as a whole (seats, rules): the staged batch is closed with the reason, so the
        // Jobs page shows what happened instead of a batch waiting for review.
        Err(e) => {
            let reason = format!("Not added: {e} Nothing was created.");
            import::withdraw(app, &job, &reason).await?;
            Err(e)
        }
    }
}

/// The role and the primary location must be among those the wizard offers this admin.
fn check_offered(options: &Options, req: &AddRequest) -> Result<(), AppError> {
    if !options.roles.iter().any(|(id, _)| *id == req.role_id) {
        return Err(AppError::not_found("role"));
    }
    if !options
        .locations
        .iter()
        .any(|(id, _)| *id == req.location_id)
    {
        return Err(ValueError::new(
            "location",
            "location_unavailable",
            "Choose an active location you have access to as the primary location.",
        )
        .into());
    }
    Ok(())
}

/// The people of the batch, refused whole if any of them can no longer be added (the admin
/// confirms again with the list as it now is).
async fn still_eligible(
    conn: &mut Conn,
    org_id: Uuid,
    ids: &[String],
) -> Result<Vec<Person>, AppError> {
    let (people, dropped) = eligible(conn, org_id, ids).await?;
    if people.is_empty() && dropped == 0 {
        return Err(ValueError::new(
            "people",
            "batch_empty",
            "Add at least one person from a directory group first.",
        )
        .into());
    }
    if dropped > 0 {
        return Err(AppError::Conflict(format!(
            "{} of this batch can no longer be added: since they were picked they left the directory, were deactivated upstream or got an account. They are no longer listed; check the batch and confirm again.",
            if dropped == 1 {
                "1 person".to_string()
            } else {
                format!("{dropped} people")
            }
        )));
    }
    Ok(people)
}

/// One import row per person; the line is the person's place in the batch.
fn rows_of(
    people: Vec<Person>,
) -> impl Iterator<Item = Result<RawRow, rollcall_domain::import::RowError>> + Send {
    people.into_iter().enumerate().map(|(i, p)| {
        let mut cells = BTreeMap::new();
        cells.insert(Column::FirstName, p.first_name);
        cells.insert(Column::LastName, p.last_name);
        cells.insert(Column::Email, p.email);
        if let Some(t) = p.user_type {
            cells.insert(Column::UserType, t);
        }
        if let Some(d) = p.leaving_date {
            cells.insert(Column::LeavingDate, d);
        }
        Ok(RawRow {
            line: i as u64 + 1,
            cells,
        })
    })
}
