//! Provisioning from an identity provider (SCIM 2.0): people and groups as the provider sees
//! them, and its changes, each made through the use case every other path uses: invitations
//! through the onboarding writer (rules, seats), edits through the profile edit (rule engine),
//! deactivation and reactivation through the lifecycle. The SCIM wire format is the web
//! crate's; this module speaks in Rollcall's terms.

pub mod groups;
pub mod requests;

use std::collections::{BTreeSet, HashMap};

use rollcall_domain::{Capability, Email, Path, UserStatus, ValueError};
use rollcall_store::scim::{self, UserExtra};
use rollcall_store::users::User;
use rollcall_store::{Conn, audit, locations};
use serde::Serialize;
use uuid::Uuid;

use crate::access::lifecycle::{self, Origin};
use crate::access::profile::{self, ProfileEdit};
use crate::audit::Meta;
use crate::onboarding::invite::{self, Provisioned};
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

/// Everything needed to show many users, read once. For one user, only their provider record,
/// NPI and last change are read, not everyone's: each SCIM change (and each operation of a
/// bulk request) reads the person back.
struct Lookups {
    extras: HashMap<Uuid, UserExtra>,
    npis: HashMap<Uuid, String>,
    leaving: HashMap<Uuid, i64>,
    changes: HashMap<Uuid, i64>,
    location_codes: HashMap<Uuid, String>,
    groups: HashMap<Uuid, Vec<(Uuid, String)>>,
}

impl Lookups {
    async fn load(conn: &mut Conn, org_id: Uuid, user: Option<Uuid>) -> Result<Lookups, AppError> {
        let mut groups: HashMap<Uuid, Vec<(Uuid, String)>> = HashMap::new();
        for g in scim::groups(conn, org_id).await? {
            for m in &g.members {
                groups
                    .entry(*m)
                    .or_default()
                    .push((g.id, g.display_name.clone()));
            }
        }
        Ok(Lookups {
            extras: scim::extras(conn, org_id, user).await?,
            npis: scim::npis(conn, org_id, user).await?,
            leaving: rollcall_store::users::leaving_dates(conn, org_id, user).await?,
            changes: scim::last_changes(conn, org_id, user).await?,
            location_codes: locations::list(conn, org_id)
                .await?
                .into_iter()
                .map(|l| (l.id, l.code))
                .collect(),
            groups,
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
    let lookups = Lookups::load(conn, org_id, Some(id)).await?;
    Ok(lookups.view(user))
}

/// A userName must be given, and be nobody else's in the organization.
async fn check_user_name(
    conn: &mut Conn,
    org_id: Uuid,
    user_name: &str,
    except: Option<Uuid>,
) -> Result<(), AppError> {
    if user_name.trim().is_empty() {
        return Err(ValueError::new(
            "userName",
            "user_name_missing",
            "Give the person a userName: their email address, as Rollcall invites people by email.",
        )
        .into());
    }
    let taken = scim::ids_by_user_name(conn, org_id, user_name).await?;
    if taken.iter().any(|id| Some(*id) != except) {
        return Err(AppError::Conflict(format!(
            "The userName “{}” already belongs to a user of this organization.",
            user_name.trim()
        )));
    }
    Ok(())
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
        return Err(ValueError::new(
            "manager",
            "manager_unknown",
            format!("The manager {m} is not a user of this organization: give the id of one."),
        )
        .into());
    }
    Ok(())
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
/// inactive), keeping the provider's record of them.
#[tracing::instrument(skip_all, fields(org = %who.org_id))]
pub async fn create_user(
    app: &App,
    who: &Principal,
    state: &UserState,
    meta: &Meta,
) -> Result<ScimUser, AppError> {
    who.require(Capability::Provision)?;
    let email = access_email(state)?;
    let leaving_at = state.leaving_at(&who.time_zone)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    check_user_name(&mut tx, who.org_id, &state.user_name, None).await?;
    check_manager(&mut tx, who.org_id, state.manager_id).await?;
    let person = Provisioned {
        email,
        first_name: state.first_name.clone(),
        last_name: state.last_name.clone(),
        display_name: state.display_name.clone(),
        mobile: state.mobile.clone(),
        user_type: state.user_type.clone(),
        location: state.default_location.clone(),
        npi: state.npi.clone(),
    };
    let invited = invite::invite_provisioned(app, &mut tx, who, &person, meta).await?;
    let extra = extra_of(invited.user_id, state, now);
    scim::save_extra(&mut tx, who.org_id, &extra).await?;
    let mut recorded = extra_json(&extra);
    if let Some(at) = leaving_at {
        rollcall_store::users::set_leaving(&mut tx, invited.user_id, Some(at)).await?;
        recorded["leaving_at"] = serde_json::json!(crate::clock::rfc3339(at));
    }
    let event = meta.change(
        "user.provisioned",
        "user",
        Some(invited.user_id),
        None::<&()>,
        Some(&recorded),
    );
    audit::append(&mut tx, who.org_id, now, &[event]).await?;
    tx.commit().await?;
    crate::delivery::wake(app);
    if !state.active {
        deprovision(app, who, invited.user_id, Origin::Scim, meta).await?;
    }
    user(app, who, invited.user_id).await
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
