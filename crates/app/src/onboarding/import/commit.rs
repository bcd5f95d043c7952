//! Committing: access and licence seats checked once for the whole batch, then the job queued.

use rollcall_domain::{Capability, Change, JobState, Path, Subject, ValueError, notifications};
use rollcall_store::jobs::{self, Job};
use rollcall_store::{Conn, audit, locations, roles};
use serde::Serialize;
use uuid::Uuid;

use super::plan::*;
use super::review::{import_job, not_editable};
use crate::audit::Meta;
use crate::clock::{DAY, parse_local};
use crate::onboarding::writer::{Inviter, Schedule};
use crate::{App, AppError, Principal};

/// Commits a staged import: checks access and licence seats, then queues and starts the job
/// that creates the users. Nothing is created when a check fails.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn commit(
    app: &App,
    who: &Principal,
    job_id: Uuid,
    commit: &Commit,
    meta: &Meta,
) -> Result<Job, AppError> {
    who.require(Capability::BulkAdd)?;
    let (job, ctx, shared) = {
        let mut conn = app.db.read_conn().await?;
        let job = import_job(&mut conn, who, job_id).await?;
        if job.state != JobState::Validated {
            return committed_before(&mut conn, job, commit).await;
        }
        let ctx = Context::load(&mut conn, who.org_id, app.clock.now()).await?;
        let shared = resolve_access(&mut conn, who, &ctx, &job, commit).await?;
        (job, ctx, shared)
    };
    if Summary::of(&job).importable() == 0 {
        return Err(ValueError::new(
            "rows",
            "import_nothing_valid",
            "No row of this import can be imported: every row has an error. Fix the file and upload it again.",
        )
        .into());
    }
    let now = app.clock.now();
    let params = job_params(who, &ctx, commit, shared, now)?;
    let mut tx = app.db.begin().await?;
    queue_job(&mut tx, &job, &ctx, &params, meta, now).await?;
    tx.commit().await?;
    crate::jobs::spawn(app, job.org_id, job.id, &super::run::IMPORT);
    let mut conn = app.db.read_conn().await?;
    jobs::get(&mut conn, who.org_id, job.id)
        .await?
        .ok_or_else(|| AppError::not_found("import"))
}

/// An import no longer under review: the same commit again (a retried request) answers the job
/// it started; any other is refused.
async fn committed_before(conn: &mut Conn, job: Job, commit: &Commit) -> Result<Job, AppError> {
    let earlier: Option<Params> = serde_json::from_str(&jobs::input(conn, job.id).await?).ok();
    if earlier.is_some_and(|p| p.commit == *commit) {
        return Ok(job);
    }
    Err(not_editable(&job))
}

/// What the job keeps to run: the commit with its choices checked, when to send and who sends.
fn job_params(
    who: &Principal,
    ctx: &Context,
    commit: &Commit,
    shared: Option<SharedAccess>,
    now: i64,
) -> Result<Params, AppError> {
    let schedule = schedule_of(commit.send_at.as_deref(), &ctx.org.time_zone, now)?;
    let mut commit = commit.clone();
    commit.notifications = notification_choices(&commit.notifications, &ctx.org.settings)?;
    Ok(Params {
        commit,
        schedule,
        inviter: Inviter {
            user_id: who.user_ref(),
            name: who.display_name.clone(),
        },
        actor_label: who.label.clone(),
        shared,
    })
}

/// Queues the job in the caller's transaction: the licence seats its rows need are checked and
/// held, and its input, its summary and the audit event are written. Of two commits racing,
/// the second is refused.
async fn queue_job(
    tx: &mut Conn,
    job: &Job,
    ctx: &Context,
    params: &Params,
    meta: &Meta,
    now: i64,
) -> Result<(), AppError> {
    let mut summary = Summary::of(job);
    let needed = summary.importable();
    crate::onboarding::writer::check_seats(tx, &ctx.org, needed).await?;
    if !jobs::queue(tx, job.id, JobState::Validated, now).await? {
        return Err(AppError::Conflict(
            "This import was committed a moment ago by another request; see its progress on the Jobs page.".into(),
        ));
    }
    rollcall_store::seats::hold(tx, job.id, needed).await?;
    jobs::set_input(
        tx,
        job.id,
        &serde_json::to_string(params).expect("params serialize"),
    )
    .await?;
    summary.send_at = params
        .schedule
        .local
        .as_ref()
        .map(|l| format!("{l} {}", ctx.org.time_zone));
    jobs::set_summary(
        tx,
        job.id,
        &serde_json::to_string(&summary).expect("summary serializes"),
        now,
    )
    .await?;
    audit::append(
        tx,
        job.org_id,
        now,
        &[meta.change(
            "import.committed",
            "job",
            Some(job.id),
            None::<&()>,
            Some(&serde_json::json!({
                "rows": needed, "access": params.commit.access, "location": params.commit.location_id.map(|l| ctx.names.get(&l).cloned().unwrap_or_default()),
                "send_at": summary.send_at, "notifications": params.commit.notifications,
            })),
        )],
    )
    .await?;
    Ok(())
}

/// When the invitations go out: now, or a later local time in the organization's zone (within
/// `MAX_SCHEDULE_DAYS`).
fn schedule_of(send_at: Option<&str>, zone: &str, now: i64) -> Result<Schedule, AppError> {
    let Some(text) = send_at.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Schedule::default());
    };
    let at = parse_local(text, zone)?;
    if at <= now {
        return Err(ValueError::new(
            "send_at",
            "send_at_past",
            format!(
                "{} ({zone}) has already passed: choose a later time, or leave it empty to send now.",
                text.replace('T', " ")
            ),
        )
        .into());
    }
    if at > now + MAX_SCHEDULE_DAYS * DAY {
        return Err(ValueError::new(
            "send_at",
            "send_at_too_far",
            format!("Invitations can be scheduled up to {MAX_SCHEDULE_DAYS} days ahead."),
        )
        .into());
    }
    Ok(Schedule {
        send_at: Some(at),
        local: Some(text.replace('T', " ")),
        zone: Some(zone.to_string()),
    })
}

/// The batch's notification preferences, each one the organization offers, once each.
fn notification_choices(
    chosen: &[(String, String)],
    settings: &rollcall_store::orgs::OrgSettings,
) -> Result<Vec<(String, String)>, AppError> {
    let mut on = chosen
        .iter()
        .map(|(c, m)| {
            notifications::parse_choice(
                &format!("{c}:{m}"),
                &settings.notification_categories,
                &settings.notification_media,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    on.sort();
    on.dedup();
    Ok(on)
}

/// The access a commit gives every row (roles or mirror), checked by the rule engine for each
/// user type among the rows; `None` for per-row access.
async fn resolve_access(
    conn: &mut Conn,
    who: &Principal,
    ctx: &Context,
    job: &Job,
    commit: &Commit,
) -> Result<Option<SharedAccess>, AppError> {
    let summary = Summary::of(job);
    let location = match commit.location_id {
        None => None,
        Some(id) => Some(active_location(conn, who, id).await?),
    };
    let mut shared = match &commit.access {
        Access::Customize => None,
        Access::Roles { role_ids } => Some(roles_for_everyone(ctx, role_ids)?),
        Access::Mirror { user_id } => Some(mirrored(conn, who, *user_id).await?),
    };
    if let Some(s) = shared.as_mut()
        && let Some(l) = location
    {
        s.locations.insert(l);
        s.default_location = Some(l);
    }
    let default_given = location.is_some()
        || shared
            .as_ref()
            .is_some_and(|s| s.default_location.is_some());
    if summary.without_location > 0 && !default_given {
        return Err(location_required(summary.without_location));
    }
    // The rules, once per user type among the rows: every row of a type gets the same access.
    for user_type in &summary.user_types {
        check_grants(who, ctx, user_type, location, shared.as_ref())?;
    }
    Ok(shared)
}

async fn active_location(conn: &mut Conn, who: &Principal, id: Uuid) -> Result<Uuid, AppError> {
    let l = locations::get(conn, who.org_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("location"))?;
    if !l.active {
        return Err(ValueError::new(
            "location",
            "location_inactive",
            format!("{} is deactivated; choose an active location.", l.name),
        )
        .into());
    }
    Ok(l.id)
}

fn roles_for_everyone(ctx: &Context, role_ids: &[Uuid]) -> Result<SharedAccess, AppError> {
    if role_ids.is_empty() {
        return Err(ValueError::new(
            "roles",
            "roles_missing",
            "Choose at least one role for the imported people, or mirror a user, or use the file's own columns.",
        )
        .into());
    }
    if let Some(r) = role_ids
        .iter()
        .find(|r| !ctx.role_permissions.contains_key(r))
    {
        return Err(AppError::NotFound(format!(
            "No role with id {r} in this organization; nothing was imported."
        )));
    }
    Ok(SharedAccess {
        roles: role_ids.iter().copied().collect(),
        ..SharedAccess::default()
    })
}

/// A user's roles, direct permissions and locations, for everyone imported.
async fn mirrored(
    conn: &mut Conn,
    who: &Principal,
    user_id: Uuid,
) -> Result<SharedAccess, AppError> {
    let user = crate::access::user_in(conn, who.org_id, user_id).await?;
    let grants = roles::grants_of(conn, user.id).await?;
    Ok(SharedAccess {
        roles: grants.roles.keys().copied().collect(),
        permissions: grants.direct,
        locations: locations::of_user(conn, user.id)
            .await?
            .into_iter()
            .map(|l| l.id)
            .collect(),
        default_location: user.default_location_id,
    })
}

fn location_required(rows: i64) -> AppError {
    let (s, who) = if rows == 1 {
        ("", "that person")
    } else {
        ("s", "those people")
    };
    ValueError::new(
        "location",
        "location_required",
        format!("{rows} row{s} name no default location: choose the location {who} will work at."),
    )
    .into()
}

/// Rule checks of what every row of one user type would be granted.
fn check_grants(
    who: &Principal,
    ctx: &Context,
    user_type: &Option<String>,
    location: Option<Uuid>,
    shared: Option<&SharedAccess>,
) -> Result<(), AppError> {
    let actor = who.actor();
    let mut subject = Subject {
        user_type: user_type.clone(),
        display_name: "The imported people".into(),
        ..Subject::default()
    };
    let check = |subject: &Subject, change: Change| {
        ctx.policy
            .check(&actor, subject, &change, Path::CsvImport, None, &ctx.names)
            .map_err(AppError::Refused)
    };
    if let Some(l) = location {
        subject.locations.insert(l);
        check(&subject, Change::GrantLocation(l))?;
    }
    let Some(s) = shared else { return Ok(()) };
    for l in &s.locations {
        check(&subject, Change::GrantLocation(*l))?;
    }
    subject.locations.extend(s.locations.iter().copied());
    for p in &s.permissions {
        check(&subject, Change::GrantPermission(*p))?;
    }
    let through_roles = s
        .roles
        .iter()
        .flat_map(|r| ctx.role_permissions.get(r).into_iter().flatten().copied());
    who.check_role_grants(&ctx.policy, &subject, through_roles, &ctx.names)
}

/// What the commit form offers: active locations, roles, the notification grid and the zone
/// scheduled times are read in.
#[derive(Debug, Clone, Serialize)]
pub struct CommitOptions {
    pub locations: Vec<(Uuid, String)>,
    pub roles: Vec<(Uuid, String)>,
    pub categories: Vec<(String, String)>,
    pub media: Vec<(String, String)>,
    pub time_zone: String,
    pub seats_free: Option<i64>,
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn commit_options(app: &App, who: &Principal) -> Result<CommitOptions, AppError> {
    who.require(Capability::BulkAdd)?;
    let mut conn = app.db.read_conn().await?;
    let ctx = Context::load(&mut conn, who.org_id, app.clock.now()).await?;
    let seats = rollcall_store::seats::all(&mut conn, who.org_id).await?;
    let settings = &ctx.org.settings;
    Ok(CommitOptions {
        locations: ctx
            .catalogue
            .locations
            .iter()
            .filter(|l| l.3 && who.locations.contains(&l.0))
            .map(|l| (l.0, l.1.clone()))
            .collect(),
        roles: ctx.catalogue.roles.clone(),
        categories: settings
            .notification_categories
            .iter()
            .map(|c| (c.clone(), notifications::category_label(c).to_string()))
            .collect(),
        media: settings
            .notification_media
            .iter()
            .map(|m| (m.clone(), notifications::medium_label(m).to_string()))
            .collect(),
        time_zone: ctx.org.time_zone.clone(),
        seats_free: seats
            .iter()
            .find(|(p, _)| p == rollcall_store::seats::PORTAL)
            .map(|(_, s)| s.free()),
    })
}
