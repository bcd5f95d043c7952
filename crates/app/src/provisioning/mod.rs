//! Provisioning from an identity provider (SCIM 2.0): people and groups as the provider sees
//! them, and its changes, each made through the use case every other path uses: invitations
//! through the onboarding writer (rules, seats), edits through the profile edit (rule engine),
//! deactivation and reactivation through the lifecycle. The SCIM wire format is the web
//! crate's; this module speaks in Rollcall's terms.

pub mod groups;
pub mod requests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use rollcall_domain::{Capability, Email, Path, UserStatus, ValueError};
use rollcall_store::scim::{self, UserExtra};
use rollcall_store::users::User;
use rollcall_store::{Conn, audit, locations};
use serde::Serialize;
use uuid::Uuid;

use crate::access::lifecycle::{self, Origin};
use crate::access::profile::{self, ProfileEdit};
use crate::audit::Meta;
use crate::coalesce::{Coalescer, together_or_each};
use crate::onboarding::invite::{self, Provisioned};
use crate::onboarding::writer::Newcomer;
use crate::{App, AppError, Principal};

/// A person as the provider sees them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScimUser {
    pub id: Uuid,
    /// The provider's userName: the access email unless the provider gave another name.
    pub user_name: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub mobile: Option<String>,
    pub user_type: Option<String>,
    pub status: UserStatus,
    /// The default location's code.
    pub default_location: Option<String>,
    pub npi: Option<String>,
    pub external_id: Option<String>,
    pub employee_number: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<Uuid>,
    /// When the person's access ends by itself.
    pub leaving_at: Option<i64>,
    /// The provider's groups the person is a member of: (id, display name).
    pub groups: Vec<(Uuid, String)>,
    pub created_at: i64,
    pub last_modified: i64,
}

impl ScimUser {
    /// Whether the person may work in Rollcall (or will once registered): not deactivated.
    pub fn active(&self) -> bool {
        holds_access(self.status)
    }

    /// The version a client sends back in `If-Match`: it changes whenever anything shown does.
    pub fn version(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_vec(self).expect("a user serializes");
        hex::encode(&Sha256::digest(json)[..12])
    }
}

/// Whether a person in this status may work in Rollcall (or will once registered): what an
/// upstream source calls active.
pub fn holds_access(status: UserStatus) -> bool {
    !matches!(status, UserStatus::Inactive | UserStatus::Disabled)
}

/// Deactivates a person on an upstream source's word (SCIM's `active: false` or DELETE, a
/// person the directory roster marks inactive or no longer lists): the console's deactivation
/// (sessions end, tokens revoked, seat freed), judged by the rule engine, with the source
/// recorded on its audit event. A person already deactivated is left as they are: `false`.
pub async fn deprovision(
    app: &App,
    who: &Principal,
    id: Uuid,
    origin: Origin,
    meta: &Meta,
) -> Result<bool, AppError> {
    let status = {
        let conn = &mut *app.db.read_conn().await?;
        crate::access::user_in(conn, who.org_id, id).await?.status
    };
    if !holds_access(status) {
        return Ok(false);
    }
    lifecycle::deactivate_from(app, who, id, origin, meta).await?;
    Ok(true)
}

/// Reactivates a person on an upstream source's word: the console's reactivation (Pending with
/// a new invitation for someone who never registered). A person with access is left as they
/// are: `None`.
pub async fn reprovision(
    app: &App,
    who: &Principal,
    id: Uuid,
    origin: Origin,
    meta: &Meta,
) -> Result<Option<UserStatus>, AppError> {
    let status = {
        let conn = &mut *app.db.read_conn().await?;
        crate::access::user_in(conn, who.org_id, id).await?.status
    };
    if holds_access(status) {
        return Ok(None);
    }
    Ok(Some(
        lifecycle::reactivate_from(app, who, id, origin, meta).await?,
    ))
}

/// A person as the provider wants them: what a create asks for, or the whole state a replace
/// or patch leaves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserState {
    pub user_name: String,
    /// Addresses the provider lists; the first that parses is the access email when userName
    /// is not an address. Only read at creation: the access email never changes here.
    pub emails: Vec<String>,
    pub first_name: String,
    pub last_name: String,
    pub display_name: Option<String>,
    pub mobile: Option<String>,
    /// A user type code or label.
    pub user_type: Option<String>,
    /// A location by id, code or name.
    pub default_location: Option<String>,
    pub npi: Option<String>,
    pub active: bool,
    pub external_id: Option<String>,
    pub employee_number: Option<String>,
    pub department: Option<String>,
    pub manager_id: Option<Uuid>,
    /// When access ends: an RFC 3339 instant, or a date (or date and time) in the
    /// organization's zone; none or empty clears it.
    pub leaving_date: Option<String>,
}

impl UserState {
    /// The state a user is in now, for a patch to change.
    pub fn of(u: &ScimUser) -> UserState {
        UserState {
            user_name: u.user_name.clone(),
            emails: vec![u.email.clone()],
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            display_name: Some(u.display_name.clone()),
            mobile: u.mobile.clone(),
            user_type: u.user_type.clone(),
            default_location: u.default_location.clone(),
            npi: u.npi.clone(),
            active: u.active(),
            external_id: u.external_id.clone(),
            employee_number: u.employee_number.clone(),
            department: u.department.clone(),
            manager_id: u.manager_id,
            leaving_date: u.leaving_at.map(crate::clock::rfc3339),
        }
    }

    /// The leaving instant wanted, read in the organization's zone.
    fn leaving_at(&self, zone: &str) -> Result<Option<i64>, ValueError> {
        crate::access::leaving::parse(self.leaving_date.as_deref().unwrap_or(""), zone)
    }
}

/// Everything needed to show many users, read once. For some users (one a SCIM change reads
/// back, or the people a bulk request created), only theirs are read, not everyone's.
struct Lookups {
    extras: HashMap<Uuid, UserExtra>,
    npis: HashMap<Uuid, String>,
    leaving: HashMap<Uuid, i64>,
    changes: HashMap<Uuid, i64>,
    location_codes: HashMap<Uuid, String>,
    groups: HashMap<Uuid, Vec<(Uuid, String)>>,
}

impl Lookups {
    /// `users`: `None` for everyone of the organization, else a few hundred at most.
    async fn load(
        conn: &mut Conn,
        org_id: Uuid,
        users: Option<&[Uuid]>,
    ) -> Result<Lookups, AppError> {
        Ok(Lookups {
            extras: scim::extras(conn, org_id, users).await?,
            npis: scim::npis(conn, org_id, users).await?,
            leaving: rollcall_store::users::leaving_dates(conn, org_id, users).await?,
            changes: scim::last_changes(conn, org_id, users).await?,
            location_codes: locations::list(conn, org_id)
                .await?
                .into_iter()
                .map(|l| (l.id, l.code))
                .collect(),
            groups: scim::memberships(conn, org_id, users).await?,
        })
    }

    fn view(&self, u: User) -> ScimUser {
        let extra = self.extras.get(&u.id);
        let last_modified = [
            Some(u.created_at),
            self.changes.get(&u.id).copied(),
            extra.map(|e| e.updated_at),
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(u.created_at);
        ScimUser {
            id: u.id,
            user_name: extra.map_or_else(|| u.email.clone(), |e| e.user_name.clone()),
            default_location: u
                .default_location_id
                .and_then(|l| self.location_codes.get(&l).cloned()),
            npi: self.npis.get(&u.id).cloned(),
            external_id: extra.and_then(|e| e.external_id.clone()),
            employee_number: extra.and_then(|e| e.employee_number.clone()),
            department: extra.and_then(|e| e.department.clone()),
            manager_id: extra.and_then(|e| e.manager_id),
            leaving_at: self.leaving.get(&u.id).copied(),
            groups: self.groups.get(&u.id).cloned().unwrap_or_default(),
            created_at: u.created_at,
            last_modified,
            email: u.email,
            first_name: u.first_name,
            last_name: u.last_name,
            display_name: u.display_name,
            mobile: u.mobile,
            user_type: u.user_type,
            status: u.status,
        }
    }
}

/// Every user of the organization, oldest first: the order SCIM pages by.
#[tracing::instrument(skip_all, fields(org = %who.org_id))]
pub async fn users(app: &App, who: &Principal) -> Result<Vec<ScimUser>, AppError> {
    who.require(Capability::Provision)?;
    let conn = &mut *app.db.read_conn().await?;
    let all = scim::users(conn, who.org_id).await?;
    let lookups = Lookups::load(conn, who.org_id, None).await?;
    Ok(all.into_iter().map(|u| lookups.view(u)).collect())
}

/// How a provider looks a person up, answered by an index rather than a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Compared without regard to case.
    UserName(String),
    /// Exact.
    ExternalId(String),
}

/// The users a lookup finds (at most a few), oldest first.
#[tracing::instrument(skip_all, fields(org = %who.org_id))]
pub async fn find(app: &App, who: &Principal, lookup: &Lookup) -> Result<Vec<ScimUser>, AppError> {
    who.require(Capability::Provision)?;
    let conn = &mut *app.db.read_conn().await?;
    let ids = match lookup {
        Lookup::UserName(n) => scim::ids_by_user_name(conn, who.org_id, n).await?,
        Lookup::ExternalId(e) => scim::ids_by_external_id(conn, who.org_id, e).await?,
    };
    let mut found = Vec::new();
    for id in ids {
        found.push(load(conn, who.org_id, id).await?);
    }
    found.sort_by_key(|u| (u.created_at, u.id));
    Ok(found)
}

/// One user of the organization.
#[tracing::instrument(skip_all, fields(org = %who.org_id))]
pub async fn user(app: &App, who: &Principal, id: Uuid) -> Result<ScimUser, AppError> {
    who.require(Capability::Provision)?;
    load(&mut *app.db.read_conn().await?, who.org_id, id).await
}

async fn load(conn: &mut Conn, org_id: Uuid, id: Uuid) -> Result<ScimUser, AppError> {
    let user = crate::access::user_in(conn, org_id, id).await?;
    let lookups = Lookups::load(conn, org_id, Some(&[id])).await?;
    Ok(lookups.view(user))
}

/// Users read together (people a bulk request created), by id.
async fn load_many(
    conn: &mut Conn,
    org_id: Uuid,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, ScimUser>, AppError> {
    let mut found = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(400) {
        let users = rollcall_store::users::get_many(conn, org_id, chunk).await?;
        let lookups = Lookups::load(conn, org_id, Some(chunk)).await?;
        found.extend(users.into_iter().map(|u| (u.id, lookups.view(u))));
    }
    Ok(found)
}

/// A userName must be given, and be nobody else's in the organization.
async fn check_user_name(
    conn: &mut Conn,
    org_id: Uuid,
    user_name: &str,
    except: Option<Uuid>,
) -> Result<(), AppError> {
    require_user_name(user_name)?;
    let taken = scim::ids_by_user_name(conn, org_id, user_name).await?;
    if taken.iter().any(|id| Some(*id) != except) {
        return Err(user_name_taken(user_name));
    }
    Ok(())
}

fn require_user_name(user_name: &str) -> Result<(), AppError> {
    if user_name.trim().is_empty() {
        return Err(ValueError::new(
            "userName",
            "user_name_missing",
            "Give the person a userName: their email address, as Rollcall invites people by email.",
        )
        .into());
    }
    Ok(())
}

fn user_name_taken(user_name: &str) -> AppError {
    AppError::Conflict(format!(
        "The userName “{}” already belongs to a user of this organization.",
        user_name.trim()
    ))
}

/// A manager must be a user of the organization.
async fn check_manager(
    conn: &mut Conn,
    org_id: Uuid,
    manager: Option<Uuid>,
) -> Result<(), AppError> {
    if let Some(m) = manager
        && rollcall_store::users::get(conn, org_id, m).await?.is_none()
    {
        return Err(manager_unknown(m));
    }
    Ok(())
}

fn manager_unknown(m: Uuid) -> AppError {
    ValueError::new(
        "manager",
        "manager_unknown",
        format!("The manager {m} is not a user of this organization: give the id of one."),
    )
    .into()
}

/// The access email of a new person: the userName when it is an address, else the first listed
/// address.
fn access_email(state: &UserState) -> Result<String, ValueError> {
    std::iter::once(&state.user_name)
        .chain(&state.emails)
        .find(|e| Email::parse(e).is_ok())
        .map(|e| e.trim().to_string())
        .ok_or_else(|| {
            ValueError::new(
                "userName",
                "email_missing",
                format!(
                    "“{}” is not an email address and no emails value gives one: Rollcall invites people by email, so send the address as userName or in emails.",
                    state.user_name
                ),
            )
        })
}

fn extra_of(id: Uuid, state: &UserState, now: i64) -> UserExtra {
    UserExtra {
        user_id: id,
        user_name: state.user_name.trim().to_string(),
        external_id: state.external_id.clone().filter(|e| !e.is_empty()),
        employee_number: state.employee_number.clone().filter(|e| !e.is_empty()),
        department: state.department.clone().filter(|e| !e.is_empty()),
        manager_id: state.manager_id,
        updated_at: now,
    }
}

/// The provider's record as the audit trail shows it.
fn extra_json(e: &UserExtra) -> serde_json::Value {
    serde_json::json!({
        "user_name": e.user_name,
        "external_id": e.external_id,
        "employee_number": e.employee_number,
        "department": e.department,
        "manager_id": e.manager_id,
    })
}

/// Creates a Pending person with an invitation (deactivated at once if the provider says
/// inactive), keeping the provider's record of them. The person is checked alone; creations
/// the same token sends meanwhile (a provider sends several at a time) are written together.
#[tracing::instrument(skip_all, fields(org = %who.org_id))]
pub async fn create_user(
    app: &App,
    who: &Principal,
    state: &UserState,
    meta: &Meta,
) -> Result<ScimUser, AppError> {
    who.require(Capability::Provision)?;
    let Checked { mut people, names } = {
        let conn = &mut *app.db.read_conn().await?;
        check_creations(conn, who, std::slice::from_ref(state)).await?
    };
    let person = people.pop().expect("one outcome for one person")?;
    let key = (who.org_id, who.credential());
    let checked = CheckedCreation {
        who: who.clone(),
        state: state.clone(),
        person,
        names,
        meta: meta.clone(),
    };
    let id = app
        .groups
        .creations
        .run(app.clone(), key, checked, write_group)
        .await?;
    finish(app, who, vec![(Ok(id), state, meta)])
        .await
        .pop()
        .expect("one outcome for one person")
}

/// A creation checked and waiting to be written with the others its token sends meanwhile.
pub(crate) struct CheckedCreation {
    who: Principal,
    state: UserState,
    person: Newcomer,
    /// Location names for the audit trail.
    names: BTreeMap<Uuid, String>,
    meta: Meta,
}

/// Single creations are written together per token of an organization.
pub(crate) type CreationGroups = Coalescer<(Uuid, String), CheckedCreation, Uuid>;

/// The most single creations written in one transaction.
pub(crate) const CREATIONS_PER_GROUP: usize = 100;

/// Writes checked creations in one transaction (or, refused as a whole, each alone).
async fn write_group(app: App, group: Vec<CheckedCreation>) -> Vec<Result<Uuid, AppError>> {
    together_or_each(&group, |some| write_checked(&app, some)).await
}

async fn write_checked(app: &App, group: &[CheckedCreation]) -> Result<Vec<Uuid>, AppError> {
    let states: Vec<UserState> = group.iter().map(|c| c.state.clone()).collect();
    let metas: Vec<&Meta> = group.iter().map(|c| &c.meta).collect();
    let people: Vec<Result<Newcomer, AppError>> =
        group.iter().map(|c| Ok(c.person.clone())).collect();
    let names = group.iter().flat_map(|c| c.names.clone()).collect();
    write_creations(app, &group[0].who, &states, &metas, &people, &names)
        .await
        .map_err(made_meanwhile)
}

/// A unique key the checks saw free but a concurrent creation took before the write.
fn made_meanwhile(e: AppError) -> AppError {
    match e {
        AppError::Store(s) if s.is_unique_violation() => AppError::Conflict(
            "This userName or address was provisioned by another request a moment ago: read the user by userName.".into(),
        ),
        other => other,
    }
}

/// Creates people the provider pushes together (a run of creations in one bulk request), in
/// the order given: checked as a set, written in one transaction by the onboarding writer, each
/// with the outcome it would have had alone, a userName or address taken by an earlier one of
/// them included. After `stop_after` refusals the rest are not made and have no outcome (a bulk
/// request's `failOnErrors`). The outer error is only the caller's lack of the capability.
#[tracing::instrument(skip_all, fields(org = %who.org_id, people = states.len()))]
pub async fn create_users(
    app: &App,
    who: &Principal,
    states: &[UserState],
    stop_after: Option<usize>,
    meta: &Meta,
) -> Result<Vec<Result<ScimUser, AppError>>, AppError> {
    who.require(Capability::Provision)?;
    match create_together(app, who, states, stop_after, meta).await {
        Ok(outcomes) => Ok(outcomes),
        Err(e) if states.len() == 1 => Ok(vec![Err(e)]),
        // Refused as a whole (seats for only some of them, the hourly limit, a concurrent
        // creation): nothing was written, so each is made alone and gets its own outcome.
        Err(_) => {
            let mut outcomes = Vec::with_capacity(states.len());
            let mut stop = Stop::after(stop_after);
            for state in states {
                if stop.reached() {
                    break;
                }
                let outcome = create_together(app, who, std::slice::from_ref(state), None, meta)
                    .await
                    .map(|mut made| made.pop().expect("one outcome for one person"))
                    .and_then(|made| made);
                stop.count(&outcome);
                outcomes.push(outcome);
            }
            Ok(outcomes)
        }
    }
}

/// A bulk request's `failOnErrors`: the refusals counted so far against the most allowed.
struct Stop {
    after: Option<usize>,
    refused: usize,
}

impl Stop {
    fn after(after: Option<usize>) -> Stop {
        Stop { after, refused: 0 }
    }

    /// Whether no further outcome may follow.
    fn reached(&self) -> bool {
        self.after.is_some_and(|n| self.refused >= n)
    }

    fn count<T>(&mut self, outcome: &Result<T, AppError>) {
        self.refused += usize::from(outcome.is_err());
    }
}

/// The outcomes up to the one that makes `stop_after` refusals.
fn until_stopped<T>(
    outcomes: Vec<Result<T, AppError>>,
    stop_after: Option<usize>,
) -> Vec<Result<T, AppError>> {
    let mut stop = Stop::after(stop_after);
    outcomes
        .into_iter()
        .take_while(|o| {
            let goes_on = !stop.reached();
            stop.count(o);
            goes_on
        })
        .collect()
}

/// Checks, writes in one transaction and reads back. An error means nothing was written.
async fn create_together(
    app: &App,
    who: &Principal,
    states: &[UserState],
    stop_after: Option<usize>,
    meta: &Meta,
) -> Result<Vec<Result<ScimUser, AppError>>, AppError> {
    // Checks read on the read pool: SQLite's one writer is held only for the writes (a
    // creation racing past them is refused by the store's unique keys).
    let checked = {
        let conn = &mut *app.db.read_conn().await?;
        check_creations(conn, who, states).await?
    };
    let people = until_stopped(checked.people, stop_after);
    let metas = vec![meta; people.len()];
    let mut ids = write_creations(app, who, states, &metas, &people, &checked.names)
        .await
        .map_err(made_meanwhile)?
        .into_iter();
    let outcomes = people
        .into_iter()
        .zip(states)
        .map(|(p, state)| {
            let id = p.map(|_| ids.next().expect("an id for each person written"));
            (id, state, meta)
        })
        .collect();
    Ok(finish(app, who, outcomes).await)
}

/// The people written, deactivated at once if the provider says inactive (rare, so one by
/// one), then read back as the provider sees them.
async fn finish(
    app: &App,
    who: &Principal,
    written: Vec<(Result<Uuid, AppError>, &UserState, &Meta)>,
) -> Vec<Result<ScimUser, AppError>> {
    let mut outcomes = Vec::with_capacity(written.len());
    for (outcome, state, meta) in written {
        outcomes.push(match outcome {
            Ok(id) if !state.active => deprovision(app, who, id, Origin::Scim, meta)
                .await
                .map(|_| id),
            other => other,
        });
    }
    read_back(app, who, outcomes).await
}

/// The people created, as the provider sees them now. They are written already: a failed
/// read is each one's error, never the batch's (which would make them again).
async fn read_back(
    app: &App,
    who: &Principal,
    outcomes: Vec<Result<Uuid, AppError>>,
) -> Vec<Result<ScimUser, AppError>> {
    let ids: Vec<Uuid> = outcomes
        .iter()
        .filter_map(|o| o.as_ref().ok().copied())
        .collect();
    let read = match app.db.read_conn().await {
        Ok(mut conn) => load_many(&mut conn, who.org_id, &ids).await,
        Err(e) => Err(e.into()),
    };
    match read {
        Ok(mut users) => outcomes
            .into_iter()
            .map(|o| o.and_then(|id| users.remove(&id).ok_or_else(|| AppError::not_found("user"))))
            .collect(),
        Err(e) => {
            let why = e.to_string();
            outcomes
                .into_iter()
                .map(|o| o.and_then(|_| Err(AppError::Internal(why.clone()))))
                .collect()
        }
    }
}

/// People checked as a set: each one's newcomer for the onboarding writer, or why not.
struct Checked {
    people: Vec<Result<Newcomer, AppError>>,
    /// Location names for the audit trail.
    names: BTreeMap<Uuid, String>,
}

/// Checks each person in the order a creation alone checks them: the access address, leaving
/// date and userName given, the userName free, the manager known, then the invitation's own
/// checks (values, location, type, rules, an existing account). A userName or address an
/// earlier one of them takes is refused as if that one were written already.
async fn check_creations(
    conn: &mut Conn,
    who: &Principal,
    states: &[UserState],
) -> Result<Checked, AppError> {
    let user_names: Vec<String> = states.iter().map(|s| s.user_name.clone()).collect();
    let mut taken_names = scim::taken_user_names(conn, who.org_id, &user_names).await?;
    let managers = known_managers(conn, who.org_id, states).await?;
    let given: Vec<Result<Given, AppError>> = states.iter().map(|s| given(who, s)).collect();
    let manager_known: Vec<bool> = states
        .iter()
        .map(|s| s.manager_id.is_none_or(|m| managers.contains(&m)))
        .collect();
    let to_invite: Vec<Provisioned> = states
        .iter()
        .zip(&given)
        .zip(&manager_known)
        .filter_map(|((s, g), known)| match g {
            Ok(g) if *known => Some(provisioned(s, g)),
            _ => None,
        })
        .collect();
    let invited = invite::check_provisioned(conn, who, &to_invite).await?;
    let mut invited_people = invited.people.into_iter();
    let mut taken_addresses = HashSet::new();
    let mut people = Vec::with_capacity(states.len());
    for ((state, given), known) in states.iter().zip(given).zip(manager_known) {
        let invitation = (given.is_ok() && known).then(|| {
            invited_people
                .next()
                .expect("an outcome for each person invited")
        });
        let outcome = given.and_then(|g| {
            if taken_names.contains(&scim::user_name_key(&state.user_name)) {
                return Err(user_name_taken(&state.user_name));
            }
            if let Some(m) = state.manager_id.filter(|_| !known) {
                return Err(manager_unknown(m));
            }
            let newcomer = invitation.expect("checked with the others")?;
            if taken_addresses.contains(newcomer.email.match_key()) {
                return Err(AppError::Conflict(format!(
                    "{} already has an account in {}: an earlier operation of this request creates it.",
                    newcomer.email.as_str(),
                    invited.org_name
                )));
            }
            Ok(Newcomer {
                leaves_at: g.leaving_at,
                ..newcomer
            })
        });
        if let Ok(n) = &outcome {
            taken_names.insert(scim::user_name_key(&state.user_name));
            taken_addresses.insert(n.email.match_key().to_string());
        }
        people.push(outcome);
    }
    Ok(Checked {
        people,
        names: invited.names,
    })
}

/// What a person's creation reads from the state alone.
struct Given {
    email: String,
    leaving_at: Option<i64>,
}

/// The access address, the leaving instant and a userName.
fn given(who: &Principal, state: &UserState) -> Result<Given, AppError> {
    let email = access_email(state)?;
    let leaving_at = state.leaving_at(&who.time_zone)?;
    require_user_name(&state.user_name)?;
    Ok(Given { email, leaving_at })
}

/// The person as the invitation takes them.
fn provisioned(state: &UserState, given: &Given) -> Provisioned {
    Provisioned {
        email: given.email.clone(),
        first_name: state.first_name.clone(),
        last_name: state.last_name.clone(),
        display_name: state.display_name.clone(),
        mobile: state.mobile.clone(),
        user_type: state.user_type.clone(),
        location: state.default_location.clone(),
        npi: state.npi.clone(),
    }
}

/// The managers named that are users of the organization.
async fn known_managers(
    conn: &mut Conn,
    org_id: Uuid,
    states: &[UserState],
) -> Result<HashSet<Uuid>, AppError> {
    let named: BTreeSet<Uuid> = states.iter().filter_map(|s| s.manager_id).collect();
    if named.is_empty() {
        return Ok(HashSet::new());
    }
    let named: Vec<Uuid> = named.into_iter().collect();
    Ok(rollcall_store::users::get_many(conn, org_id, &named)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect())
}

/// Writes the people that passed in one transaction: users, access, invitations and their
/// messages through the onboarding writer, then the provider's records and one
/// `user.provisioned` event each. Their ids, in order.
async fn write_creations(
    app: &App,
    who: &Principal,
    states: &[UserState],
    metas: &[&Meta],
    people: &[Result<Newcomer, AppError>],
    names: &BTreeMap<Uuid, String>,
) -> Result<Vec<Uuid>, AppError> {
    let passed: Vec<(&UserState, &Newcomer, &Meta)> = states
        .iter()
        .zip(metas)
        .zip(people)
        .filter_map(|((s, m), p)| p.as_ref().ok().map(|n| (s, n, *m)))
        .collect();
    if passed.is_empty() {
        return Ok(Vec::new());
    }
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let newcomers = passed.iter().map(|(_, n, m)| ((*n).clone(), *m)).collect();
    let invited = invite::write_provisioned(app, &mut tx, who, newcomers, names).await?;
    let extras: Vec<UserExtra> = passed
        .iter()
        .zip(&invited)
        .map(|((state, _, _), i)| extra_of(i.user_id, state, now))
        .collect();
    scim::insert_extras(&mut tx, who.org_id, &extras).await?;
    let events: Vec<_> = passed
        .iter()
        .zip(&extras)
        .map(|((_, n, meta), e)| provisioned_event(meta, e, n.leaves_at))
        .collect();
    audit::append(&mut tx, who.org_id, now, &events).await?;
    tx.commit().await?;
    crate::delivery::wake(app);
    Ok(invited.into_iter().map(|i| i.user_id).collect())
}

/// `user.provisioned`: the provider's record of a person created, with their leaving instant.
fn provisioned_event(
    meta: &Meta,
    extra: &UserExtra,
    leaving_at: Option<i64>,
) -> rollcall_store::audit::NewEvent {
    let mut recorded = extra_json(extra);
    if let Some(at) = leaving_at {
        recorded["leaving_at"] = serde_json::json!(crate::clock::rfc3339(at));
    }
    meta.change(
        "user.provisioned",
        "user",
        Some(extra.user_id),
        None::<&()>,
        Some(&recorded),
    )
}

/// Brings a person to the state the provider wants: their details and credentials through the
/// profile edit (judged by the rules), the provider's record, then deactivation or
/// reactivation. With `expected`, a person changed since the provider read them is refused.
#[tracing::instrument(skip_all, fields(org = %who.org_id))]
pub async fn update_user(
    app: &App,
    who: &Principal,
    id: Uuid,
    state: &UserState,
    expected: Option<&str>,
    meta: &Meta,
) -> Result<ScimUser, AppError> {
    who.require(Capability::Provision)?;
    let current = user(app, who, id).await?;
    if expected.is_some_and(|v| v != current.version()) {
        return Err(AppError::Stale(
            "The user changed since this version was read: read it again and send the change on the new version.".into(),
        ));
    }
    {
        let conn = &mut *app.db.read_conn().await?;
        check_user_name(conn, who.org_id, &state.user_name, Some(id)).await?;
        check_manager(conn, who.org_id, state.manager_id).await?;
    }
    if current.active() && !state.active {
        deprovision(app, who, id, Origin::Scim, meta).await?;
    }
    if let Some(edit) = profile_edit(app, who, &current, state).await? {
        profile::update(app, who, id, &edit, None, Path::Scim, meta).await?;
    }
    save_extra_if_changed(app, who, &current, state, meta).await?;
    if !current.active() && state.active {
        reprovision(app, who, id, Origin::Scim, meta).await?;
    }
    user(app, who, id).await
}

/// Deactivates a person (a provider's delete): sessions end, tokens are revoked, the seat is
/// freed and every record is kept. Deactivating an inactive person changes nothing.
#[tracing::instrument(skip_all, fields(org = %who.org_id))]
pub async fn deactivate_user(
    app: &App,
    who: &Principal,
    id: Uuid,
    meta: &Meta,
) -> Result<(), AppError> {
    who.require(Capability::Provision)?;
    deprovision(app, who, id, Origin::Scim, meta).await?;
    Ok(())
}

/// The profile edit that takes the person's own fields where the provider wants them; `None`
/// when nothing of them changes.
async fn profile_edit(
    app: &App,
    who: &Principal,
    current: &ScimUser,
    state: &UserState,
) -> Result<Option<ProfileEdit>, AppError> {
    let mut edit = ProfileEdit::default();
    let mut any = false;
    let mut set = |field: &mut Option<String>, now: Option<&str>, want: Option<&str>| {
        let want = want.map(str::trim).unwrap_or("");
        if now.unwrap_or("") != want {
            *field = Some(want.to_string());
            any = true;
        }
    };
    if !state.first_name.trim().is_empty() {
        set(
            &mut edit.first_name,
            Some(&current.first_name),
            Some(&state.first_name),
        );
    }
    if !state.last_name.trim().is_empty() {
        set(
            &mut edit.last_name,
            Some(&current.last_name),
            Some(&state.last_name),
        );
    }
    if state
        .display_name
        .as_deref()
        .is_some_and(|d| !d.trim().is_empty())
    {
        set(
            &mut edit.display_name,
            Some(&current.display_name),
            state.display_name.as_deref(),
        );
    }
    set(
        &mut edit.mobile,
        current.mobile.as_deref(),
        state.mobile.as_deref(),
    );
    set(
        &mut edit.user_type,
        current.user_type.as_deref(),
        state.user_type.as_deref(),
    );
    set(&mut edit.npi, current.npi.as_deref(), state.npi.as_deref());
    if state.leaving_at(&who.time_zone)? != current.leaving_at {
        edit.leaving_date = Some(state.leaving_date.clone().unwrap_or_default());
        any = true;
    }
    let location = state
        .default_location
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    if let Some(want) = location
        && !same_location(app, who, current.default_location.as_deref(), want).await?
    {
        // The default location is one the person has: it is added to theirs.
        let mut granted: BTreeSet<String> = profile::get(app, who, current.id)
            .await?
            .locations
            .into_iter()
            .filter(|l| l.granted)
            .map(|l| l.id.to_string())
            .collect();
        granted.insert(want.to_string());
        edit.locations = Some(granted);
        edit.default_location = Some(want.to_string());
        any = true;
    }
    Ok(any.then_some(edit))
}

/// Whether a location named by id, code or name is the one with this code.
async fn same_location(
    app: &App,
    who: &Principal,
    code: Option<&str>,
    named: &str,
) -> Result<bool, AppError> {
    let Some(code) = code else { return Ok(false) };
    let all = locations::list(&mut *app.db.read_conn().await?, who.org_id).await?;
    Ok(all.iter().any(|l| {
        l.code == code
            && (l.id.to_string() == named
                || l.code.eq_ignore_ascii_case(named)
                || l.name.eq_ignore_ascii_case(named))
    }))
}

async fn save_extra_if_changed(
    app: &App,
    who: &Principal,
    current: &ScimUser,
    state: &UserState,
    meta: &Meta,
) -> Result<(), AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let before = scim::extra(&mut tx, who.org_id, current.id).await?;
    let after = extra_of(current.id, state, now);
    let was = before.clone().unwrap_or_else(|| UserExtra {
        user_name: current.user_name.clone(),
        updated_at: now,
        ..extra_of(current.id, &UserState::default(), now)
    });
    if extra_json(&was) == extra_json(&after) {
        return Ok(());
    }
    scim::save_extra(&mut tx, who.org_id, &after).await?;
    let event = meta.change(
        "user.provisioned",
        "user",
        Some(current.id),
        Some(&extra_json(&was)),
        Some(&extra_json(&after)),
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    Ok(())
}
