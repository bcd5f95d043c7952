//! Bulk update (C7): add or remove permissions and locations for a selection of users, every
//! change judged by the rule engine, run as a bulk job in chunks, each chunk one transaction
//! with its audit events, its refused items and the job's progress.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rollcall_domain::{
    BulkChanges, Capability, Change, JobKind, JobState, Outcome, Path, Permission, Plan, Subject,
    Tally, ValueError,
};
use rollcall_store::jobs::{self, Item, Job};
use rollcall_store::{audit, locations, users};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::OrgScope;
use crate::access::names;
use crate::access::{admin_census, location_names, subjects};
use crate::audit::Meta;
use crate::error::FieldErrors;
use crate::idempotency::Key;
use crate::jobs::{Kind, Step, lease_micros};
use crate::users::list::{UserFilter, query_for};
use crate::{App, AppError, Principal};
use futures::future::BoxFuture;

pub const KIND: JobKind = JobKind::BulkUpdate;

/// Users per chunk: one transaction each.
const CHUNK: usize = 2_000;

/// The largest selection one bulk update takes.
pub const MAX_USERS: usize = 250_000;

/// A bulk update as the console and the API ask for it: `user_ids` or a `filter`, and at least
/// one change. A field it does not know is refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(examples(json!({
    "user_ids": ["0190c6d2-5f4e-7a31-9b8e-1f2a3b4c5d6e", "0190c6d2-6a01-7c22-8d3e-2b3c4d5e6f70"],
    "grant_permissions": ["calendar.create"],
    "revoke_locations": ["DT"]
})))]
pub struct BulkUpdateRequest {
    /// Users picked one by one…
    #[serde(default)]
    pub user_ids: Vec<Uuid>,
    /// …or every user matching the list's search and filters at the time of the request.
    #[serde(default)]
    pub filter: Option<UserFilter>,
    #[serde(flatten)]
    pub changes: ChangesAsked,
    /// Fields the request names that a bulk update does not know: refused, never ignored.
    #[serde(flatten, skip_serializing)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

/// The changes as a request names them: permissions by key, locations by id, code or name (a
/// repeat counts once).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangesAsked {
    /// Permissions granted directly to every selected user.
    #[serde(default)]
    #[schema(value_type = Vec<Permission>)]
    pub grant_permissions: BTreeSet<Permission>,
    /// Direct grants taken from every selected user.
    #[serde(default)]
    #[schema(value_type = Vec<Permission>)]
    pub revoke_permissions: BTreeSet<Permission>,
    /// Locations added to every selected user, each by id, code or name.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub grant_locations: BTreeSet<String>,
    /// Locations taken from every selected user, each by id, code or name.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub revoke_locations: BTreeSet<String>,
}

impl From<BulkChanges> for ChangesAsked {
    fn from(c: BulkChanges) -> Self {
        let named = |ids: BTreeSet<Uuid>| ids.iter().map(Uuid::to_string).collect();
        ChangesAsked {
            grant_permissions: c.grant_permissions,
            revoke_permissions: c.revoke_permissions,
            grant_locations: named(c.grant_locations),
            revoke_locations: named(c.revoke_locations),
        }
    }
}

impl BulkUpdateRequest {
    /// Refuses a request with a field a bulk update does not know (a typo must not pass
    /// silently when the rest of the request changes people).
    fn check_fields(&self) -> Result<(), ValueError> {
        match self.unknown.keys().next() {
            None => Ok(()),
            Some(name) => Err(ValueError::new(
                "body",
                "field_unknown",
                format!(
                    "A bulk update has no field “{name}”. Its fields are user_ids or filter, and grant_permissions, revoke_permissions, grant_locations, revoke_locations."
                ),
            )),
        }
    }
}

/// What the job keeps to run (and resume): the resolved selection and the changes.
#[derive(Debug, Serialize, Deserialize)]
struct Params {
    ids: Vec<Uuid>,
    changes: BulkChanges,
    actor_label: String,
    request_hash: String,
}

/// A user whose update was not fully applied, as the report lists them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Refused {
    pub user_id: Uuid,
    pub name: String,
    pub email: String,
    pub changes: Vec<RefusedChange>,
    /// How many of the user's changes were applied.
    pub applied: usize,
}

/// One change the rules refused for a user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RefusedChange {
    /// The change in words, e.g. `grant calendar.create`.
    pub change: String,
    /// The rule, e.g. `rule_4_actor_scope`, and the precise reason, e.g. `rule_4_escalation`.
    pub rule: String,
    pub code: String,
    pub message: String,
}

/// The users a request selects, in the list's order; every explicit id must be in the organization.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn select(
    app: &App,
    who: &Principal,
    req: &BulkUpdateRequest,
) -> Result<Vec<Uuid>, AppError> {
    who.require(Capability::ViewUsers)?;
    req.check_fields()?;
    let mut conn = app.db.read_conn().await?;
    let ids = match (&req.filter, req.user_ids.is_empty()) {
        (Some(_), false) => {
            return Err(ValueError::new(
                "filter",
                "selection_ambiguous",
                "Send either user_ids or a filter, not both; nothing was changed.",
            )
            .into());
        }
        (Some(filter), true) => selected_by_filter(app, &mut conn, who, filter).await?,
        (None, _) => selected_by_id(&mut conn, who, &req.user_ids).await?,
    };
    if ids.is_empty() {
        return Err(ValueError::new(
            "user_ids",
            "selection_empty",
            "No user is selected: pick users in the list, or select all that match a filter.",
        )
        .into());
    }
    if ids.len() > MAX_USERS {
        return Err(ValueError::new(
            "user_ids",
            "selection_too_large",
            format!(
                "{} users are selected; one bulk update takes at most {MAX_USERS}. Narrow the filter and run it in parts.",
                ids.len()
            ),
        )
        .into());
    }
    Ok(ids)
}

/// Every user a filter matches now; a filter that names nothing must say `"all": true`.
async fn selected_by_filter(
    app: &App,
    conn: &mut rollcall_store::Conn,
    who: &Principal,
    filter: &UserFilter,
) -> Result<Vec<Uuid>, AppError> {
    if filter.names_nothing() && !filter.all {
        return Err(ValueError::new(
            "filter",
            "filter_empty",
            "The filter names no search or filter value, so it selects nobody; nothing was changed. To change every user, send \"filter\": {\"all\": true}.",
        )
        .into());
    }
    let query = query_for(conn, who, &filter.list_params(), app.clock.now()).await?;
    Ok(users::ids_matching(conn, app.db.engine(), &query).await?)
}

/// The users picked one by one (repeats dropped), each of which must be in the organization.
async fn selected_by_id(
    conn: &mut rollcall_store::Conn,
    who: &Principal,
    user_ids: &[Uuid],
) -> Result<Vec<Uuid>, AppError> {
    let mut seen = BTreeSet::new();
    let ids: Vec<Uuid> = user_ids
        .iter()
        .copied()
        .filter(|id| seen.insert(*id))
        .collect();
    let found: BTreeSet<Uuid> = rollcall_store::access::load(conn, who.org_id, &ids)
        .await?
        .into_iter()
        .map(|r| r.user_id)
        .collect();
    let unknown: Vec<String> = ids
        .iter()
        .filter(|id| !found.contains(id))
        .take(5)
        .map(|id| id.to_string())
        .collect();
    if !unknown.is_empty() {
        return Err(AppError::NotFound(format!(
            "No user with id {} in this organization; nothing was changed. Take the ids from the user list.",
            unknown.join(", ")
        )));
    }
    Ok(ids)
}

/// A selected user as the review lists them: name, email, user type code.
pub type Selected = (String, String, Option<String>);

/// Who a request selects, for its review: how many, and the first `n`.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn preview(
    app: &App,
    who: &Principal,
    req: &BulkUpdateRequest,
    n: usize,
) -> Result<(usize, Vec<Selected>), AppError> {
    let ids = select(app, who, req).await?;
    let mut conn = app.db.read_conn().await?;
    let sample = rollcall_store::access::load(&mut conn, who.org_id, &ids[..ids.len().min(n)])
        .await?
        .into_iter()
        .map(|r| (r.display_name, r.email, r.user_type))
        .collect();
    Ok((ids.len(), sample))
}

/// Validates the request, resolves the selection and records a queued job (nothing changes yet).
/// With an idempotency key, a repeated request returns the first one's job.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn start(
    app: &App,
    who: &Principal,
    req: &BulkUpdateRequest,
    idempotency_key: Option<&str>,
    meta: &Meta,
) -> Result<Job, AppError> {
    who.require(Capability::EditAccess)?;
    let key = idempotency_key
        .map(|k| Key::new(who, KIND.key(), k, req))
        .transpose()?;
    if let Some(key) = &key {
        let mut conn = app.db.read_conn().await?;
        if let Some(job) = jobs::find_by_key(&mut conn, who.org_id, KIND, &key.scoped).await? {
            return same_request(&mut conn, job, key).await;
        }
    }
    let changes = resolved(app, who, &req.changes).await?;
    let ids = select(app, who, req).await?;
    let now = app.clock.now();
    let params = Params {
        ids,
        changes,
        actor_label: who.label.clone(),
        request_hash: key
            .as_ref()
            .map(|k| k.request_hash.clone())
            .unwrap_or_default(),
    };
    let job = Job {
        id: rollcall_store::new_id(),
        org_id: who.org_id,
        kind: KIND,
        actor_id: who.user_ref(),
        idempotency_key: key.as_ref().map(|k| k.scoped.clone()),
        state: JobState::Queued,
        total: params.ids.len() as i64,
        done: 0,
        summary: serde_json::to_string(&Tally::default()).expect("tally serializes"),
        created_at: now,
        updated_at: now,
    };
    let mut tx = app.db.begin().await?;
    let input = serde_json::to_string(&params).expect("params serialize");
    match jobs::insert(&mut tx, &job, &input).await {
        Err(e) if e.is_unique_violation() => {
            drop(tx);
            let key = key.expect("only keyed jobs can collide");
            let mut conn = app.db.read_conn().await?;
            let first = jobs::find_by_key(&mut conn, who.org_id, KIND, &key.scoped)
                .await?
                .ok_or_else(|| AppError::Internal("idempotent job vanished".into()))?;
            return same_request(&mut conn, first, &key).await;
        }
        other => other?,
    }
    let after = serde_json::json!({ "users": job.total, "changes": params.changes });
    let event = meta.change(
        "bulk_update.started",
        "job",
        Some(job.id),
        None::<&()>,
        Some(&after),
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(job)
}

/// Every location a change names must be one of the organization's.
/// The changes with every location resolved to the organization's ids (each unknown one
/// reported), checked for sense.
async fn resolved(
    app: &App,
    who: &Principal,
    asked: &ChangesAsked,
) -> Result<BulkChanges, AppError> {
    let all = locations::list(&mut *app.db.read_conn().await?, who.org_id).await?;
    let mut errors = FieldErrors::default();
    let mut ids = |field, named: &BTreeSet<String>| -> BTreeSet<Uuid> {
        named
            .iter()
            .filter_map(|t| errors.take(names::location_id(&all, field, "location_unknown", t)))
            .collect()
    };
    let changes = BulkChanges {
        grant_locations: ids("grant_locations", &asked.grant_locations),
        revoke_locations: ids("revoke_locations", &asked.revoke_locations),
        grant_permissions: asked.grant_permissions.clone(),
        revoke_permissions: asked.revoke_permissions.clone(),
    };
    errors.into_result()?;
    changes.validate()?;
    Ok(changes)
}

/// What a bulk update would do, written nowhere: how many users it selects, how many it would
/// change, and the users for whom the rules would refuse a change (the first 100).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DryRun {
    pub selected: usize,
    pub tally: Tally,
    pub refused: Vec<Refused>,
}

/// Judges a bulk update by the rules as it would run now, changing nothing.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn dry_run(
    app: &App,
    who: &Principal,
    req: &BulkUpdateRequest,
) -> Result<DryRun, AppError> {
    who.require(Capability::EditAccess)?;
    let changes = resolved(app, who, &req.changes).await?;
    let ids = select(app, who, req).await?;
    let mut conn = app.db.read_conn().await?;
    let OrgScope { org, policy } = OrgScope::load(&mut conn, who.org_id).await?;
    let mut run = Run {
        tally: Tally::default(),
        done: 0,
        census: None,
    };
    if may_lower_admins(&changes, &policy) {
        run.census = Some(admin_census(&mut conn, org.id, &policy).await?);
    }
    let names = location_names(&mut conn, org.id).await?;
    let mut refused = Vec::new();
    for (n, part) in ids.chunks(CHUNK).enumerate() {
        let chunk = Chunk {
            job_id: Uuid::nil(),
            meta: Meta::default(),
            changes: &changes,
            policy: &policy,
            actor: who,
            names: &names,
            from: n * CHUNK,
        };
        let planned = chunk.plan(&subjects(&mut conn, org.id, part).await?, &mut run);
        let room = 100 - refused.len().min(100);
        refused.extend(planned.refused.into_iter().take(room));
    }
    Ok(DryRun {
        selected: ids.len(),
        tally: run.tally,
        refused,
    })
}

/// The job a repeated key refers to, if the request is the same one.
async fn same_request(
    conn: &mut rollcall_store::Conn,
    job: Job,
    key: &Key,
) -> Result<Job, AppError> {
    let params = params_of(conn, &job).await?;
    if params.request_hash != key.request_hash {
        return Err(AppError::Conflict(format!(
            "The Idempotency-Key “{}” was already used with a different request. Use a new key for a new request.",
            key.key
        )));
    }
    Ok(job)
}

/// Starts a bulk update and waits up to `wait` for it: small selections come back finished.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn run(
    app: &App,
    who: &Principal,
    req: &BulkUpdateRequest,
    idempotency_key: Option<&str>,
    meta: &Meta,
    wait: Duration,
) -> Result<Job, AppError> {
    let job = start(app, who, req, idempotency_key, meta).await?;
    if job.is_finished() {
        return Ok(job);
    }
    crate::jobs::run_for(app, who.org_id, job.id, &BULK_UPDATE, wait).await
}

/// Bulk updates as a kind of job.
pub(crate) struct BulkUpdateKind;
pub(crate) const BULK_UPDATE: BulkUpdateKind = BulkUpdateKind;

impl Kind for BulkUpdateKind {
    fn kinds(&self) -> &'static [JobKind] {
        &[JobKind::BulkUpdate]
    }

    fn report_name(&self) -> &'static str {
        "bulk-update"
    }

    fn run<'a>(&'a self, app: &'a App, job: &'a Job) -> BoxFuture<'a, Result<(), AppError>> {
        Box::pin(run_job(app, job))
    }

    fn outcome(&self, job: &Job) -> (Outcome, String) {
        let (_, outcome, sentence) = outcome_of(job);
        (outcome, sentence)
    }

    fn report<'a>(
        &'a self,
        app: &'a App,
        who: &'a Principal,
        job: &'a Job,
    ) -> BoxFuture<'a, Result<String, AppError>> {
        Box::pin(report_csv(app, who, job.id))
    }
}

/// Runs a job's remaining chunks, reading its input once.
async fn run_job(app: &App, job: &Job) -> Result<(), AppError> {
    let params = {
        let mut conn = app.db.read_conn().await?;
        params_of(&mut conn, job).await?
    };
    let mut run = Run {
        tally: serde_json::from_str(&job.summary).unwrap_or_default(),
        done: job.done,
        census: None,
    };
    loop {
        match step(app, job, &params, &mut run).await? {
            Step::Continue if crate::jobs::stop_here(app, job, run.done).await? => return Ok(()),
            Step::Continue => continue,
            Step::Done | Step::Lost => return Ok(()),
        }
    }
}

async fn params_of(conn: &mut rollcall_store::Conn, job: &Job) -> Result<Params, AppError> {
    serde_json::from_str(&jobs::input(conn, job.id).await?)
        .map_err(|e| AppError::Internal(format!("stored job does not parse: {e}")))
}

/// What a runner carries from one chunk to the next.
struct Run {
    tally: Tally,
    done: i64,
    /// The admins per clinic, counted once per run and kept up to date as users change; only
    /// needed when the changes could take admin standing away (rule 3).
    census: Option<rollcall_domain::AdminCensus>,
}

/// Whether any change could leave a clinic or the company without an admin.
fn may_lower_admins(changes: &BulkChanges, policy: &rollcall_domain::Policy) -> bool {
    !changes.revoke_locations.is_empty()
        || changes.revoke_permissions.iter().any(|p| {
            policy.is_protected(*p)
                || matches!(p, Permission::AdminCompany | Permission::AdminClinic)
        })
}

/// One chunk: plan each user, write what the rules allow, record refusals and progress.
async fn step(app: &App, job: &Job, params: &Params, run: &mut Run) -> Result<Step, AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let scope = OrgScope::load(&mut tx, job.org_id).await?;
    let (org, policy) = (&scope.org, &scope.policy);
    let from = run.done as usize;
    if from >= params.ids.len() {
        finish(&mut tx, job, params, &run.tally, now).await?;
        tx.commit().await?;
        return Ok(Step::Done);
    }
    let actor = actor_now(&mut tx, &scope, job, params).await?;
    let started = std::time::Instant::now();
    let to = (from + CHUNK).min(params.ids.len());
    if run.census.is_none() && may_lower_admins(&params.changes, policy) {
        run.census = Some(admin_census(&mut tx, org.id, policy).await?);
    }
    let names = location_names(&mut tx, org.id).await?;
    let subjects = subjects(&mut tx, org.id, &params.ids[from..to]).await?;
    let loaded = started.elapsed();
    let chunk = Chunk {
        job_id: job.id,
        meta: job_meta(job, params),
        changes: &params.changes,
        policy,
        actor: &actor,
        names: &names,
        from,
    };
    let planned = chunk.plan(&subjects, run);
    let planning = started.elapsed();
    planned.writes.apply(&mut tx).await?;
    audit::append(&mut tx, org.id, now, &planned.events).await?;
    jobs::insert_items(&mut tx, job.id, &planned.items).await?;
    let summary = serde_json::to_string(&run.tally).expect("tally serializes");
    let lease = now + lease_micros();
    if !jobs::advance(&mut tx, job.id, run.done, to as i64, &summary, now, lease).await? {
        return Ok(Step::Lost);
    }
    tx.commit().await?;
    crate::ops::metrics::job_rows(job.kind.key(), (to - from) as i64);
    tracing::debug!(
        job = %job.id,
        users = to - from,
        ?loaded,
        ?planning,
        committed = ?started.elapsed(),
        "bulk update chunk"
    );
    run.done = to as i64;
    Ok(Step::Continue)
}

/// Marks the job finished with its outcome, and audits it.
async fn finish(
    tx: &mut rollcall_store::Conn,
    job: &Job,
    params: &Params,
    tally: &Tally,
    now: i64,
) -> Result<(), AppError> {
    let outcome = tally.outcome();
    let summary = serde_json::to_string(tally).expect("tally serializes");
    jobs::finish(tx, job.id, outcome.into(), &summary, now).await?;
    let after = serde_json::json!({ "outcome": outcome.as_str(), "tally": tally });
    let event = job_meta(job, params).change(
        "bulk_update.finished",
        "job",
        Some(job.id),
        None::<&()>,
        Some(&after),
    );
    audit::append(tx, job.org_id, now, &[event]).await?;
    Ok(())
}

/// The actor as they stand now: someone who lost their rights mid-job cannot finish it.
async fn actor_now(
    tx: &mut rollcall_store::Conn,
    scope: &OrgScope,
    job: &Job,
    params: &Params,
) -> Result<Principal, AppError> {
    match job.actor_id {
        Some(id) => Principal::load(tx, scope, id).await?.ok_or_else(|| {
            AppError::Forbidden(
                "The person who started this update can no longer act; the rest was not applied."
                    .into(),
            )
        }),
        None => Principal::operator_on(tx, job.org_id, &params.actor_label).await,
    }
}

/// What a chunk needs to judge its users.
struct Chunk<'a> {
    job_id: Uuid,
    meta: Meta,
    changes: &'a BulkChanges,
    policy: &'a rollcall_domain::Policy,
    actor: &'a Principal,
    names: &'a BTreeMap<Uuid, String>,
    /// Position of the chunk's first user in the selection.
    from: usize,
}

/// A chunk's outcome before it is written: the access rows, the audit events, the refusals.
struct Planned {
    writes: Writes,
    events: Vec<rollcall_store::audit::NewEvent>,
    /// The users not fully updated, as the report lists them…
    refused: Vec<Refused>,
    /// …and as the job keeps them.
    items: Vec<Item>,
}

impl Chunk<'_> {
    /// Judges each user's changes by the rules, keeping the census and the tally up to date.
    fn plan(&self, subjects: &[Subject], run: &mut Run) -> Planned {
        let changes = self.changes.changes();
        let mut out = Planned {
            writes: Writes::default(),
            events: Vec::new(),
            refused: Vec::new(),
            items: Vec::new(),
        };
        for (offset, subject) in subjects.iter().enumerate() {
            let plan = self.policy.plan(
                &self.actor.actor(),
                subject,
                &changes,
                Path::BulkUpdate,
                run.census.as_ref(),
                self.names,
            );
            if let Some(census) = run.census.as_mut() {
                self.policy.update_census(census, subject, &plan.after);
            }
            let diff = out.writes.add(subject, &plan.after);
            run.tally.add(&plan, diff.is_some());
            if let Some(diff) = diff {
                let mut after = diff.describe(self.names);
                after["job"] = serde_json::Value::String(self.job_id.to_string());
                out.events.push(self.meta.change(
                    "user.access_changed",
                    "user",
                    Some(subject.user_id),
                    None::<&()>,
                    Some(&after),
                ));
            }
            if !plan.refused.is_empty() {
                let seq = (self.from + offset) as i64;
                let refused = refused_of(subject, &plan, self.names);
                out.items.push(refused_item(seq, &refused, &plan));
                out.refused.push(refused);
            }
        }
        out
    }
}

fn job_meta(job: &Job, params: &Params) -> Meta {
    Meta {
        actor_id: job.actor_id,
        actor_label: params.actor_label.clone(),
        request_id: Some(format!("job:{}", job.id)),
        source_ip: None,
    }
}

fn describe(change: &Change, names: &BTreeMap<Uuid, String>) -> String {
    match change {
        Change::GrantPermission(p) => format!("add permission “{}”", p.label()),
        Change::RevokePermission(p) => format!("remove permission “{}”", p.label()),
        Change::GrantLocation(l) => format!("add location {}", name_of(names, l)),
        Change::RevokeLocation(l) => format!("remove location {}", name_of(names, l)),
        Change::SetUserType(t) => format!("set user type {t}"),
        Change::SetDefaultLocation(l) => format!("set default location {}", name_of(names, l)),
        Change::Deactivate => "deactivate".into(),
    }
}

fn name_of(names: &BTreeMap<Uuid, String>, l: &Uuid) -> String {
    names.get(l).cloned().unwrap_or_else(|| l.to_string())
}

/// A user not fully updated, with each refused change and why.
fn refused_of(subject: &Subject, plan: &Plan, names: &BTreeMap<Uuid, String>) -> Refused {
    Refused {
        user_id: subject.user_id,
        name: subject.display_name.clone(),
        email: String::new(),
        applied: plan.applied.len(),
        changes: plan
            .refused
            .iter()
            .map(|(c, why)| RefusedChange {
                change: describe(c, names),
                rule: why.rule.code().to_string(),
                code: why.code.to_string(),
                message: why.message.clone(),
            })
            .collect(),
    }
}

/// The job item that keeps a refused user for the report.
fn refused_item(seq: i64, refused: &Refused, plan: &Plan) -> Item {
    let first = &plan.refused[0].1;
    Item {
        seq,
        state: if plan.applied.is_empty() {
            "refused".into()
        } else {
            "partial".into()
        },
        reason_code: Some(first.rule.code().to_string()),
        message: Some(
            plan.refused
                .iter()
                .map(|(_, why)| why.message.as_str())
                .collect::<Vec<_>>()
                .join(" "),
        ),
        payload: serde_json::to_string(refused).expect("item serializes"),
    }
}

/// What one user's access lost and gained.
struct Diff {
    added_permissions: Vec<Permission>,
    removed_permissions: Vec<Permission>,
    added_locations: Vec<Uuid>,
    removed_locations: Vec<Uuid>,
}

impl Diff {
    fn describe(&self, names: &BTreeMap<Uuid, String>) -> serde_json::Value {
        let keys = |ps: &[Permission]| ps.iter().map(|p| p.key()).collect::<Vec<_>>();
        let locs = |ls: &[Uuid]| ls.iter().map(|l| name_of(names, l)).collect::<Vec<_>>();
        let mut out = serde_json::json!({});
        for (field, value) in [
            ("added_permissions", keys(&self.added_permissions).into()),
            (
                "removed_permissions",
                keys(&self.removed_permissions).into(),
            ),
            ("added_locations", locs(&self.added_locations).into()),
            ("removed_locations", locs(&self.removed_locations).into()),
        ] {
            if value != serde_json::Value::Array(vec![]) {
                out[field] = value;
            }
        }
        out
    }
}

/// The writes of one chunk, grouped so that each becomes a few multi-row statements.
#[derive(Default)]
struct Writes {
    grant_permissions: Vec<(Uuid, Permission)>,
    revoke_permissions: BTreeMap<Permission, Vec<Uuid>>,
    grant_locations: Vec<(Uuid, Uuid)>,
    revoke_locations: BTreeMap<Uuid, Vec<Uuid>>,
}

impl Writes {
    /// Adds what turns `before` into `after`; `None` if nothing changes for this user.
    fn add(&mut self, before: &Subject, after: &Subject) -> Option<Diff> {
        let diff = Diff {
            added_permissions: after.direct.difference(&before.direct).copied().collect(),
            removed_permissions: before.direct.difference(&after.direct).copied().collect(),
            added_locations: after
                .locations
                .difference(&before.locations)
                .copied()
                .collect(),
            removed_locations: before
                .locations
                .difference(&after.locations)
                .copied()
                .collect(),
        };
        let u = before.user_id;
        self.grant_permissions
            .extend(diff.added_permissions.iter().map(|p| (u, *p)));
        for p in &diff.removed_permissions {
            self.revoke_permissions.entry(*p).or_default().push(u);
        }
        self.grant_locations
            .extend(diff.added_locations.iter().map(|l| (u, *l)));
        for l in &diff.removed_locations {
            self.revoke_locations.entry(*l).or_default().push(u);
        }
        let empty = diff.added_permissions.is_empty()
            && diff.removed_permissions.is_empty()
            && diff.added_locations.is_empty()
            && diff.removed_locations.is_empty();
        (!empty).then_some(diff)
    }

    async fn apply(&self, conn: &mut rollcall_store::Conn) -> Result<(), AppError> {
        use rollcall_store::access;
        access::grant_permissions(conn, &self.grant_permissions).await?;
        for (p, users) in &self.revoke_permissions {
            access::revoke_permission(conn, *p, users).await?;
        }
        locations::grant_many(conn, &self.grant_locations).await?;
        for (l, users) in &self.revoke_locations {
            access::revoke_location(conn, *l, users).await?;
        }
        Ok(())
    }
}

/// How a finished (or running) bulk update stands: its tally, outcome and banner sentence.
pub fn outcome_of(job: &Job) -> (Tally, Outcome, String) {
    let tally: Tally = serde_json::from_str(&job.summary).unwrap_or_default();
    let outcome = match job.state {
        JobState::Failed => Outcome::Failed,
        _ => tally.outcome(),
    };
    let mut sentence = tally.sentence();
    if job.state == JobState::Failed {
        let why = serde_json::from_str::<serde_json::Value>(&job.summary)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string));
        if let Some(why) = why {
            sentence = format!(
                "The update stopped: {why} {} of {} users were done.",
                job.done, job.total
            );
        }
    }
    (tally, outcome, sentence)
}

/// A page of the users a job did not fully update.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RefusedPage {
    pub refused: Vec<Refused>,
    /// Pass as `after` for the next page (opaque); `null` on the last page.
    pub next: Option<String>,
}

const REFUSED_CURSOR: &str = "refused";

/// One page of `refused` for clients: `after` is the previous page's `next`; `limit` 1 to
/// 5000 (500 when absent).
pub async fn refused_page(
    app: &App,
    who: &Principal,
    job_id: Uuid,
    after: Option<&str>,
    limit: Option<u32>,
) -> Result<RefusedPage, AppError> {
    let limit = crate::paging::page_size(limit, 500, 5_000, "users")?;
    let after = match after.map(str::trim).filter(|c| !c.is_empty()) {
        Some(c) => crate::paging::position(REFUSED_CURSOR, c)?,
        None => -1,
    };
    let mut items = refused(app, who, job_id, after, limit + 1).await?;
    let next = (items.len() > limit as usize).then(|| {
        items.truncate(limit as usize);
        let last = items.last().map(|(seq, _)| *seq).unwrap_or(after);
        crate::paging::cursor(REFUSED_CURSOR, last)
    });
    Ok(RefusedPage {
        refused: items.into_iter().map(|(_, r)| r).collect(),
        next,
    })
}

/// The users not fully updated, with each refused change and its rule, in selection order.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn refused(
    app: &App,
    who: &Principal,
    job_id: Uuid,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<(i64, Refused)>, AppError> {
    let job = crate::jobs::get(app, who, job_id).await?;
    let mut conn = app.db.read_conn().await?;
    let items = jobs::items(&mut conn, job.id, after_seq, limit).await?;
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let r: Refused = serde_json::from_str(&it.payload)
            .map_err(|e| AppError::Internal(format!("stored item does not parse: {e}")))?;
        out.push((it.seq, r));
    }
    let rows = rollcall_store::access::load(
        &mut conn,
        who.org_id,
        &out.iter().map(|(_, r)| r.user_id).collect::<Vec<_>>(),
    )
    .await?;
    let emails: BTreeMap<Uuid, String> = rows.into_iter().map(|r| (r.user_id, r.email)).collect();
    for (_, r) in &mut out {
        r.email = emails.get(&r.user_id).cloned().unwrap_or_default();
    }
    Ok(out)
}

/// The full report as CSV: one line per refused change (user, change, rule, reason).
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn report_csv(app: &App, who: &Principal, job_id: Uuid) -> Result<String, AppError> {
    let job = crate::jobs::get(app, who, job_id).await?;
    let (tally, outcome, sentence) = outcome_of(&job);
    let mut sheet = crate::sheet::Sheet::with_header(&[
        "user", "email", "change", "outcome", "rule", "code", "reason",
    ])?;
    let mut after = -1;
    loop {
        let page = refused(app, who, job.id, after, 5_000).await?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        for (_, r) in &page {
            for c in &r.changes {
                sheet.row([
                    r.name.as_str(),
                    &r.email,
                    &c.change,
                    "not applied",
                    &c.rule,
                    &c.code,
                    &c.message,
                ])?;
            }
        }
    }
    sheet.row([
        format!("{} users", tally.users),
        String::new(),
        format!(
            "{} changes applied, {} not applied",
            tally.applied(),
            tally.refused()
        ),
        outcome.label().to_string(),
        String::new(),
        String::new(),
        sentence,
    ])?;
    sheet.into_text()
}
