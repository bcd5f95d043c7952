//! Invitations: one person, or many pasted at once; resend and revoke.
//!
//! Each path writes the pending users, their access, the invitations, the outgoing messages
//! (transactional outbox) and the audit events in one transaction, then wakes the dispatcher.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rollcall_domain::paste::{self, Outcome};
use rollcall_domain::{Capability, Change, Email, Path, Subject, UserStatus, ValueError};
use rollcall_store::invitations;
use rollcall_store::locations::{self, Location};
use rollcall_store::orgs::Organization;
use rollcall_store::outbox;
use rollcall_store::roles::{self, Role};
use rollcall_store::users::{self, User};
use rollcall_store::{Conn, audit};
use serde::Serialize;
use uuid::Uuid;

use crate::access::{OrgScope, names};
use crate::audit::Meta;
use crate::clock::{DAY, MINUTE};
use crate::coalesce::{Coalescer, together_or_each};
use crate::error::FieldErrors;
use crate::onboarding::writer as onboard;
use crate::{App, AppError, Principal};

/// Where the batch goes and what it may do: checked once for the whole batch.
struct Batch {
    org: Organization,
    location: Location,
    /// `None`: the people get no role (a provider's groups give their access later).
    role: Option<Role>,
    user_type: Option<String>,
}

/// Invitations sent by one person per hour, whatever the path: a stolen session or token cannot
/// turn the service into a mail cannon.
const INVITES_PER_HOUR: u32 = 20_000;

/// Checks a batch's location (by id, code or name), role (by id or name) and user type, and
/// whether the inviter may give them.
async fn prepare(
    conn: &mut Conn,
    who: &Principal,
    location: Option<&str>,
    role: Option<&str>,
    user_type: Option<&str>,
    path: Path,
) -> Result<Batch, AppError> {
    let OrgScope { org, policy } = OrgScope::load(conn, who.org_id).await?;
    // Every field is checked, so the form can mark all that are wrong at once.
    let mut errors = FieldErrors::default();
    let location = errors.keep(batch_location(conn, org.id, location).await)?;
    // No role at all is asked only by a path whose access comes otherwise (SCIM groups).
    let role = match role {
        None => Some(None),
        Some(role) => errors
            .take(batch_role(roles::list(conn, org.id).await?, role))
            .map(Some),
    };
    let user_type = match user_type.map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => errors.take(user_type_code(&policy, t)),
    };
    errors.into_result()?;
    let (Some(location), Some(role)) = (location, role) else {
        unreachable!("a field without a value has its error reported above");
    };
    let batch = Batch {
        org,
        location,
        role,
        user_type,
    };
    check_batch_access(who, &policy, &batch, path)?;
    Ok(batch)
}

/// The role of a batch, which must be chosen: no role is assumed.
fn batch_role(all: Vec<Role>, role: &str) -> Result<Role, ValueError> {
    if role.trim().is_empty() {
        return Err(ValueError::new(
            "role",
            "role_required",
            "Choose the role the invited people will have.",
        ));
    }
    let id = names::role_id(&all, "role", "role_unknown", role)?;
    Ok(all
        .into_iter()
        .find(|r| r.id == id)
        .expect("resolved among these"))
}

/// The primary location of a batch: one of the organization's, and active. An organization
/// without locations cannot invite anyone yet.
async fn batch_location(
    conn: &mut Conn,
    org_id: Uuid,
    location: Option<&str>,
) -> Result<Location, AppError> {
    let all = locations::list(conn, org_id).await?;
    if all.is_empty() {
        return Err(ValueError::new(
            "location",
            "location_missing",
            "Your organization has no location yet, and everyone invited must belong to one. Add a location under Settings → Locations (or run `rollcall location create`), then invite again.",
        )
        .into());
    }
    let Some(location) = location.map(str::trim).filter(|l| !l.is_empty()) else {
        return Err(ValueError::new(
            "location",
            "location_required",
            "Choose the primary location the invited people will work at.",
        )
        .into());
    };
    let id = names::location_id(&all, "location", "location_unknown", location)?;
    let location = all
        .into_iter()
        .find(|l| l.id == id)
        .expect("resolved among these");
    if !location.active {
        return Err(ValueError::new(
            "location",
            "location_inactive",
            format!(
                "{} is deactivated; choose an active location.",
                location.name
            ),
        )
        .into());
    }
    Ok(location)
}

fn user_type_code(policy: &rollcall_domain::Policy, input: &str) -> Result<String, ValueError> {
    rollcall_domain::user_type::resolve(&policy.user_types, input)
        .map(|d| d.code.clone())
        .ok_or_else(|| {
            ValueError::new(
                "user_type",
                "user_type_unknown",
                format!(
                    "“{input}” is not a user type of this organization; choose one from the list."
                ),
            )
        })
}

/// The rule engine decides on a stand-in for every person of the batch: same type, same
/// access (the location, then what the role carries).
fn check_batch_access(
    who: &Principal,
    policy: &rollcall_domain::Policy,
    batch: &Batch,
    path: Path,
) -> Result<(), AppError> {
    let subject = Subject {
        user_type: batch.user_type.clone(),
        display_name: "The invited person".into(),
        ..Subject::default()
    };
    let location = &batch.location;
    let names: BTreeMap<Uuid, String> = [(location.id, location.name.clone())].into();
    policy
        .check(
            &who.actor(),
            &subject,
            &Change::GrantLocation(location.id),
            path,
            None,
            &names,
        )
        .map_err(AppError::Refused)?;
    let mut with_location = subject;
    with_location.locations.insert(location.id);
    let granted = batch
        .role
        .iter()
        .flat_map(|r| r.permissions.iter().copied());
    who.check_role_grants(policy, &with_location, granted, &names)
}

/// One new person of a batch, before writing.
#[derive(Clone)]
struct Newcomer {
    email: Email,
    name: Option<String>,
}

pub use crate::onboarding::writer::Invited;

/// Writes users, access, invitations, messages and audit events for a checked batch, after
/// the sender's hourly limit and the organization's licence seats.
async fn write_batch(
    app: &App,
    conn: &mut Conn,
    who: &Principal,
    batch: &Batch,
    people: Vec<Newcomer>,
    source: &str,
    meta: &Meta,
) -> Result<Vec<Invited>, AppError> {
    let people = people
        .into_iter()
        .map(|p| (newcomer_of(batch, p), meta))
        .collect();
    write_newcomers(app, conn, who, &batch.org, &names_of(batch), people, source).await
}

/// A person of a checked batch as the onboarding writer takes them.
fn newcomer_of(batch: &Batch, p: Newcomer) -> onboard::Newcomer {
    let (first_name, last_name) = split_name(p.name.as_deref());
    onboard::Newcomer {
        email: p.email,
        first_name,
        last_name,
        display_name: p
            .name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty()),
        username: None,
        mobile: None,
        user_type: batch.user_type.clone(),
        default_location: batch.location.id,
        locations: [batch.location.id].into(),
        roles: batch.role.iter().map(|r| r.id).collect(),
        permissions: BTreeSet::new(),
        npi: None,
        taxonomy: Vec::new(),
        leaves_at: None,
    }
}

/// The batch's location and role by name, for the audit trail.
fn names_of(batch: &Batch) -> BTreeMap<Uuid, String> {
    let mut names: BTreeMap<Uuid, String> =
        [(batch.location.id, batch.location.name.clone())].into();
    if let Some(role) = &batch.role {
        names.insert(role.id, role.name.clone());
    }
    names
}

/// Writes checked newcomers after the sender's hourly limit and the organization's licence
/// seats: the one onboarding writer every invitation path ends in. `names` names the locations
/// and roles they are given, for the audit trail; each person comes with the request that
/// asked for them.
async fn write_newcomers(
    app: &App,
    conn: &mut Conn,
    who: &Principal,
    org: &Organization,
    names: &BTreeMap<Uuid, String>,
    people: Vec<(onboard::Newcomer, &Meta)>,
    source: &str,
) -> Result<Vec<Invited>, AppError> {
    let now = app.clock.now();
    app.limits.take_in(conn, &format!("invites:{}", who.label), now, people.len() as u32, INVITES_PER_HOUR, 60 * MINUTE).await?.map_err(|m| {
        AppError::RateLimited(format!("You have sent {INVITES_PER_HOUR} invitations in the last hour, the most allowed. Try again in {m} minutes."))
    })?;
    onboard::check_seats(conn, org, people.len() as i64).await?;
    let inviter = onboard::Inviter {
        user_id: who.user_ref(),
        name: who.display_name.clone(),
    };
    onboard::write(
        app,
        conn,
        &onboard::Batch {
            org,
            inviter: &inviter,
            source,
            schedule: &onboard::Schedule::default(),
            notifications: &[],
            names,
            context: None,
        },
        people,
    )
    .await
}

fn split_name(name: Option<&str>) -> (String, String) {
    match name.map(str::trim).filter(|n| !n.is_empty()) {
        None => (String::new(), String::new()),
        Some(n) => match n.rsplit_once(' ') {
            Some((first, last)) => (first.trim().to_string(), last.trim().to_string()),
            None => (n.to_string(), String::new()),
        },
    }
}

/// One person to invite.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[schema(examples(json!({
    "email": "kim.lee@clinic.example",
    "full_name": "Kim Lee",
    "location": "DT",
    "role": "Front Desk",
    "user_type": "pta"
})))]
pub struct InviteOne {
    pub email: String,
    /// As it should appear on notes and signatures.
    #[schema(schema_with = crate::schema::full_name)]
    pub full_name: String,
    /// The primary location the person works at, by id, code or name (`location_id` is read
    /// as this field too); a request without one is refused (`location_required`), an unknown
    /// one with the valid codes (`location_unknown`).
    #[serde(alias = "location_id")]
    #[schema(value_type = String, required = true)]
    pub location: Option<String>,
    /// The role, by id or name (`role_id` is read as this field too); an unknown one is refused
    /// with the valid names (`role_unknown`).
    #[serde(alias = "role_id")]
    pub role: String,
    /// A user type code or label, e.g. `pta`.
    pub user_type: Option<String>,
}

/// Invites one person (console form and `POST /api/v1/invitations`).
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn invite_one(
    app: &App,
    who: &Principal,
    req: &InviteOne,
    meta: &Meta,
) -> Result<Invited, AppError> {
    who.require(Capability::Invite)?;
    let mut errors = FieldErrors::default();
    let email = errors.take(Email::parse(&req.email));
    let name = errors.take(rollcall_domain::name::person_name(
        "full_name",
        "full name",
        &req.full_name,
    ));
    // Checks read on the read pool: SQLite's one writer is held only for the writes.
    let mut conn = app.db.read_conn().await?;
    let batch = errors.keep(
        prepare(
            &mut conn,
            who,
            req.location.as_deref(),
            Some(&req.role),
            req.user_type.as_deref(),
            Path::Console,
        )
        .await,
    )?;
    errors.into_result()?;
    let (Some(email), Some(name), Some(batch)) = (email, name, batch) else {
        unreachable!("a field without a value has its error reported above");
    };
    let name = name.as_str();
    let taken = users::get_by_email_key(&mut conn, who.org_id, email.match_key()).await?;
    drop(conn);
    if let Some(existing) = taken {
        return Err(AppError::Conflict(format!(
            "{} already has an account in {} (status: {}). Find them in the user list to resend or reactivate.",
            email.as_str(),
            batch.org.name,
            existing.status.as_str()
        )));
    }
    let one = Checked {
        who: who.clone(),
        batch,
        person: Newcomer {
            email,
            name: Some(name.to_string()),
        },
        meta: meta.clone(),
    };
    let key = (who.org_id, who.credential());
    app.groups
        .invites
        .run(app.clone(), key, one, invite_group)
        .await
}

/// A single invitation checked and waiting to be written with the others its inviter sends
/// meanwhile.
pub(crate) struct Checked {
    who: Principal,
    batch: Batch,
    person: Newcomer,
    meta: Meta,
}

/// Single invitations are written together per credential (token or session) of an
/// organization.
pub(crate) type InviteGroups = Coalescer<(Uuid, String), Checked, Invited>;

/// The most single invitations written in one transaction.
pub(crate) const INVITES_PER_GROUP: usize = 100;

/// Writes single invitations by one inviter in one transaction (or, refused as a whole, each
/// alone).
async fn invite_group(app: App, group: Vec<Checked>) -> Vec<Result<Invited, AppError>> {
    together_or_each(&group, |some| invite_together(&app, some)).await
}

async fn invite_together(app: &App, group: &[Checked]) -> Result<Vec<Invited>, AppError> {
    let first = &group[0];
    let mut names = BTreeMap::new();
    let people = group
        .iter()
        .map(|one| {
            names.extend(names_of(&one.batch));
            (newcomer_of(&one.batch, one.person.clone()), &one.meta)
        })
        .collect();
    let mut tx = app.db.begin().await?;
    let invited = write_newcomers(
        app,
        &mut tx,
        &first.who,
        &first.batch.org,
        &names,
        people,
        "console",
    )
    .await
    .map_err(|e| match e {
        AppError::Store(s) if s.is_unique_violation() => AppError::Conflict(
            "This address was invited by someone else a moment ago. Find it in the user list."
                .into(),
        ),
        other => other,
    })?;
    tx.commit().await?;
    crate::delivery::wake(app);
    Ok(invited)
}

/// One person an identity provider pushes (SCIM), as it names them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Provisioned {
    pub email: String,
    /// Either may be blank; the display name then stands for the full name.
    pub first_name: String,
    pub last_name: String,
    pub display_name: Option<String>,
    pub mobile: Option<String>,
    pub user_type: Option<String>,
    /// By id, code or name; `None`: the organization's first active location by name.
    pub location: Option<String>,
    pub npi: Option<String>,
}

/// People an identity provider pushes, checked as a set by what every invitation is checked
/// by (their values; location, user type and the rule engine, once per distinct location and
/// type; an existing account), each with its own outcome.
pub struct ProvisionedCheck {
    /// Each person as the onboarding writer takes them, or why they cannot be invited, in the
    /// order given.
    pub people: Vec<Result<onboard::Newcomer, AppError>>,
    /// The locations they are given, by name, for the audit trail.
    pub names: BTreeMap<Uuid, String>,
    pub org_name: String,
}

/// Checks people an identity provider pushes (SCIM), without a role (the provider's groups
/// give access). Reads only: [`write_provisioned`] writes those that passed.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn check_provisioned(
    conn: &mut Conn,
    who: &Principal,
    people: &[Provisioned],
) -> Result<ProvisionedCheck, AppError> {
    who.require(Capability::Invite)?;
    let all_locations = locations::list(conn, who.org_id).await?;
    // A person without a location goes to the organization's first active one.
    let first_active = all_locations
        .iter()
        .find(|l| l.active)
        .map(|l| l.id.to_string());
    let existing = existing_accounts(conn, who.org_id, people).await?;
    let mut batches = Batches::new();
    let mut checked = ProvisionedCheck {
        people: Vec::with_capacity(people.len()),
        names: BTreeMap::new(),
        org_name: String::new(),
    };
    for p in people {
        let outcome = check_one_provisioned(
            conn,
            who,
            p,
            first_active.as_deref(),
            &existing,
            &mut batches,
        )
        .await;
        checked.people.push(outcome);
    }
    for batch in batches.into_values() {
        checked.names.insert(batch.location.id, batch.location.name);
        checked.org_name = batch.org.name;
    }
    Ok(checked)
}

/// Batches checked so far, by location and user type as the provider names them.
type Batches = HashMap<(Option<String>, Option<String>), Batch>;

/// One person of [`check_provisioned`]: their values, then their location and type (checked
/// once per distinct pair: a refusal is not kept, so each person it concerns gets it from the
/// same check), then an existing account with their address.
async fn check_one_provisioned(
    conn: &mut Conn,
    who: &Principal,
    p: &Provisioned,
    first_active: Option<&str>,
    existing: &HashMap<String, &'static str>,
    batches: &mut Batches,
) -> Result<onboard::Newcomer, AppError> {
    let newcomer = provisioned_newcomer(p)?;
    let location = p
        .location
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .or(first_active)
        .map(str::to_string);
    let key = (location, p.user_type.clone());
    if !batches.contains_key(&key) {
        let batch = prepare(
            conn,
            who,
            key.0.as_deref(),
            None,
            key.1.as_deref(),
            Path::Scim,
        )
        .await?;
        batches.insert(key.clone(), batch);
    }
    let batch = &batches[&key];
    if let Some(status) = existing.get(newcomer.email.match_key()) {
        return Err(AppError::Conflict(format!(
            "{} already has an account in {} (status: {status}).",
            newcomer.email.as_str(),
            batch.org.name,
        )));
    }
    Ok(onboard::Newcomer {
        user_type: batch.user_type.clone(),
        default_location: batch.location.id,
        locations: [batch.location.id].into(),
        ..newcomer
    })
}

/// The status of the organization's accounts with the addresses of these people, by match key.
async fn existing_accounts(
    conn: &mut Conn,
    org_id: Uuid,
    people: &[Provisioned],
) -> Result<HashMap<String, &'static str>, AppError> {
    let keys: Vec<String> = people
        .iter()
        .filter_map(|p| Email::parse(&p.email).ok())
        .map(|e| e.match_key().to_string())
        .collect();
    Ok(users::by_email_keys(conn, org_id, &keys)
        .await?
        .into_iter()
        .map(|u| (u.email_key, u.status.as_str()))
        .collect())
}

/// Writes people [`check_provisioned`] passed, in the caller's transaction (which keeps the
/// provider's record of them too): the same writer, hourly limit and seat check as every other
/// invitation.
pub async fn write_provisioned(
    app: &App,
    tx: &mut Conn,
    who: &Principal,
    people: Vec<(onboard::Newcomer, &Meta)>,
    names: &BTreeMap<Uuid, String>,
) -> Result<Vec<Invited>, AppError> {
    who.require(Capability::Invite)?;
    let org = rollcall_store::orgs::get(tx, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    write_newcomers(app, tx, who, &org, names, people, "scim").await
}

/// A provisioned person's values, each checked (every one that does not parse is reported).
fn provisioned_newcomer(p: &Provisioned) -> Result<onboard::Newcomer, AppError> {
    let mut errors = crate::error::FieldErrors::default();
    let email = errors.take(Email::parse(&p.email));
    let name = |field: &'static str, label: &str, v: &str| -> Result<String, ValueError> {
        match v.trim() {
            "" => Ok(String::new()),
            v => rollcall_domain::name::person_name(field, label, v),
        }
    };
    let first_name = errors.take(name("first_name", "first name", &p.first_name));
    let last_name = errors.take(name("last_name", "last name", &p.last_name));
    let display_name = match p.display_name.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(d) => errors.take(name("display_name", "display name", d).map(Some)),
    };
    let mobile = match p.mobile.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(m) => errors.take(
            rollcall_domain::Mobile::parse(m, Some("US")).map(|m| Some(m.as_str().to_string())),
        ),
    };
    let npi = match p.npi.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(n) => {
            errors.take(rollcall_domain::Npi::parse(n).map(|n| Some(n.as_str().to_string())))
        }
    };
    errors.into_result()?;
    let (first_name, last_name) = match (first_name, last_name) {
        (Some(f), Some(l)) if f.is_empty() && l.is_empty() => {
            split_name(display_name.clone().flatten().as_deref())
        }
        (f, l) => (f.unwrap_or_default(), l.unwrap_or_default()),
    };
    Ok(onboard::Newcomer {
        email: email.expect("checked above"),
        first_name,
        last_name,
        display_name: display_name.flatten(),
        username: None,
        mobile: mobile.flatten(),
        user_type: None,
        default_location: Uuid::nil(),
        locations: BTreeSet::new(),
        roles: BTreeSet::new(),
        permissions: BTreeSet::new(),
        npi: npi.flatten(),
        taxonomy: Vec::new(),
        leaves_at: None,
    })
}

/// An entry of a batch that was not invited, and why.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct NotInvited {
    /// What was typed for the entry.
    pub entry: String,
    pub code: String,
    pub reason: String,
}

/// Who a batch invited and why the others were not.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PasteResult {
    pub invited: Vec<Invited>,
    pub not_invited: Vec<NotInvited>,
    /// The location's name.
    pub location: String,
    /// The role's name.
    pub role: String,
}

/// The live count shown while typing: how many distinct valid addresses the text holds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct PasteCount {
    pub recognised: usize,
    pub invalid: usize,
    pub duplicates: usize,
}

pub fn count(text: &str) -> Result<PasteCount, AppError> {
    let p = paste::parse(text)?;
    Ok(PasteCount {
        recognised: p.recognised(),
        invalid: p.invalid(),
        duplicates: p.duplicates(),
    })
}

/// Invites every valid new address of a paste to one location with one role, each named as
/// text (id, code or name) or by its `Uuid`.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn paste_invite(
    app: &App,
    who: &Principal,
    text: &str,
    location: Option<impl ToString>,
    role: impl ToString,
    idempotency: Option<&crate::idempotency::Key>,
    meta: &Meta,
) -> Result<PasteResult, AppError> {
    who.require(Capability::Invite)?;
    let request = PasteRequest {
        text,
        location: location.map(|l| l.to_string()),
        role: role.to_string(),
        idempotency,
    };
    match paste_invite_once(app, who, &request, meta).await {
        // A concurrent call with the same key won the race: answer as it did.
        Err(AppError::Store(e)) if e.is_unique_violation() && idempotency.is_some() => {
            let key = idempotency.expect("checked above");
            let mut conn = app.db.read_conn().await?;
            crate::idempotency::replay(&mut conn, who.org_id, key)
                .await?
                .ok_or(AppError::Store(e))
        }
        other => other,
    }
}

/// What a paste asks for.
struct PasteRequest<'a> {
    text: &'a str,
    location: Option<String>,
    role: String,
    idempotency: Option<&'a crate::idempotency::Key>,
}

async fn paste_invite_once(
    app: &App,
    who: &Principal,
    request: &PasteRequest<'_>,
    meta: &Meta,
) -> Result<PasteResult, AppError> {
    let pasted = paste::parse(request.text)?;
    if pasted.entries.is_empty() {
        return Err(ValueError::new(
            "addresses",
            "paste_empty",
            "Paste or type at least one email address.",
        )
        .into());
    }
    let mut tx = app.db.begin().await?;
    if let Some(key) = request.idempotency
        && let Some(earlier) = crate::idempotency::replay(&mut tx, who.org_id, key).await?
    {
        return Ok(earlier);
    }
    let batch = prepare(
        &mut tx,
        who,
        request.location.as_deref(),
        Some(&request.role),
        None,
        Path::PasteInvite,
    )
    .await?;
    let existing = existing_addresses(&mut tx, who.org_id, &pasted).await?;
    let (people, not_invited) = sort_entries(pasted.entries, &existing, &batch.org.name);
    let invited = if people.is_empty() {
        Vec::new()
    } else {
        write_batch(app, &mut tx, who, &batch, people, "paste", meta).await?
    };
    let role = batch.role.map(|r| r.name).unwrap_or_default();
    let summary = serde_json::json!({ "invited": invited.len(), "not_invited": not_invited.len(), "location": batch.location.name, "role": role });
    let event = meta.change(
        "invitations.pasted",
        "organization",
        Some(who.org_id),
        None::<&()>,
        Some(&summary),
    );
    audit::append(&mut tx, who.org_id, app.clock.now(), &[event]).await?;
    let result = PasteResult {
        invited,
        not_invited,
        location: batch.location.name,
        role,
    };
    if let Some(key) = request.idempotency {
        crate::idempotency::record(&mut tx, who.org_id, key, &result, app.clock.now()).await?;
    }
    tx.commit().await?;
    crate::delivery::wake(app);
    Ok(result)
}

/// The match keys of the paste's valid addresses that already belong to the organization.
async fn existing_addresses(
    conn: &mut Conn,
    org_id: Uuid,
    pasted: &paste::Pasted,
) -> Result<BTreeSet<String>, AppError> {
    let keys: Vec<String> = pasted
        .valid()
        .map(|(e, _)| e.match_key().to_string())
        .collect();
    Ok(users::existing_email_keys(conn, org_id, &keys)
        .await?
        .into_iter()
        .collect())
}

/// The entries to invite, and those not invited with the reason, in the order pasted.
fn sort_entries(
    entries: Vec<paste::Entry>,
    existing: &BTreeSet<String>,
    org_name: &str,
) -> (Vec<Newcomer>, Vec<NotInvited>) {
    let mut people = Vec::new();
    let mut not_invited = Vec::new();
    for entry in entries {
        match entry.outcome {
            Outcome::Valid(email) if existing.contains(email.match_key()) => {
                not_invited.push(NotInvited {
                    reason: format!(
                        "{} is already in {org_name} (whatever its location or status).",
                        email.as_str(),
                    ),
                    entry: entry.raw,
                    code: "already_in_organization".into(),
                })
            }
            Outcome::Valid(email) => people.push(Newcomer {
                email,
                name: entry.name,
            }),
            Outcome::Duplicate(email) => not_invited.push(NotInvited {
                reason: format!(
                    "{} appears more than once in this batch; it was invited once.",
                    email.as_str()
                ),
                entry: entry.raw,
                code: "duplicate_in_batch".into(),
            }),
            Outcome::Invalid(e) => not_invited.push(NotInvited {
                entry: entry.raw,
                code: e.code.into(),
                reason: e.message,
            }),
        }
    }
    (people, not_invited)
}

async fn pending_user(conn: &mut Conn, who: &Principal, user_id: Uuid) -> Result<User, AppError> {
    who.require(Capability::ManageUsers)?;
    let user = crate::access::user_in(conn, who.org_id, user_id).await?;
    if user.status != UserStatus::Pending {
        return Err(AppError::Conflict(format!(
            "{} is {}, not pending: there is no invitation to change.",
            user.email,
            user.status.as_str()
        )));
    }
    Ok(user)
}

/// Revokes a user's live invitations with their messages not sent yet, so no old link goes out
/// or works any more. Returns how many invitations were live.
pub(crate) async fn revoke_live_invitations(
    conn: &mut Conn,
    user_id: Uuid,
    now: i64,
) -> Result<usize, AppError> {
    let live = invitations::live_for_user(conn, user_id).await?;
    for old in &live {
        outbox::revoke_for_invitation(conn, old.id).await?;
    }
    invitations::revoke_for_user(conn, user_id, now).await?;
    Ok(live.len())
}

/// Resend: the old link stops working; a new one with a fresh validity goes out.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn resend(
    app: &App,
    who: &Principal,
    user_id: Uuid,
    meta: &Meta,
) -> Result<(), AppError> {
    let mut tx = app.db.begin().await?;
    let user = pending_user(&mut tx, who, user_id).await?;
    reissue(app, &mut tx, who, &user, meta).await?;
    tx.commit().await?;
    crate::delivery::wake(app);
    Ok(())
}

/// Revokes a pending user's live links and queues a new invitation with a fresh validity, in
/// the caller's transaction (resend, and reactivation of someone who never registered).
pub(crate) async fn reissue(
    app: &App,
    tx: &mut Conn,
    who: &Principal,
    user: &User,
    meta: &Meta,
) -> Result<(), AppError> {
    let now = app.clock.now();
    let org = rollcall_store::orgs::get(tx, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    revoke_live_invitations(tx, user.id, now).await?;
    let expires_at = now + org.settings.invitation_days as i64 * DAY;
    let name = (!user.first_name.is_empty()).then_some(user.display_name.clone());
    let inviter = onboard::Inviter {
        user_id: who.user_ref(),
        name: who.display_name.clone(),
    };
    let (invitation, message) = onboard::invitation_for(
        &inviter,
        &org,
        user,
        name.as_deref(),
        (now, now),
        expires_at,
        &onboard::Schedule::default(),
    );
    invitations::insert_many(tx, std::slice::from_ref(&invitation)).await?;
    users::set_invite_expiry(tx, user.id, Some(expires_at)).await?;
    outbox::enqueue(tx, &[message]).await?;
    audit::append(
        tx,
        org.id,
        now,
        &[meta.change(
            "invitation.resent",
            "user",
            Some(user.id),
            None::<&()>,
            Some(&serde_json::json!({ "expires_at": expires_at })),
        )],
    )
    .await?;
    Ok(())
}

/// Revoke: the link stops working and the pending account is deactivated (it keeps its history
/// and frees its seat; reactivating sends a new invitation).
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn revoke(
    app: &App,
    who: &Principal,
    user_id: Uuid,
    meta: &Meta,
) -> Result<(), AppError> {
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let user = pending_user(&mut tx, who, user_id).await?;
    revoke_live_invitations(&mut tx, user.id, now).await?;
    users::set_status(
        &mut tx,
        who.org_id,
        &[user.id],
        UserStatus::Inactive,
        Some(who.user_id),
        now,
    )
    .await?;
    users::set_invite_expiry(&mut tx, user.id, None).await?;
    audit::append(
        &mut tx,
        who.org_id,
        now,
        &[meta.change(
            "invitation.revoked",
            "user",
            Some(user.id),
            Some(&UserStatus::Pending),
            Some(&UserStatus::Inactive),
        )],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
