//! A user's profile (C8): who they are, what they can do and why (each effective permission
//! with its source, and the role grants the rules filter out), and one edit that changes any of
//! it — every access change judged by the rule engine, all or nothing.

use std::collections::{BTreeMap, BTreeSet};

use rollcall_domain::{
    Capability, Capacity, Change, Mobile, Npi, Path, Permission, Policy, SchedulingStep, Subject,
    TaxonomyCode, UserStatus, ValueError, notifications, status,
};
use rollcall_store::locations::Location;
use rollcall_store::profiles::{self, Provider};
use rollcall_store::{Conn, audit, locations, roles, users};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::access::OrgScope;
use crate::access::names;
use crate::access::{Batch, location_names, subject_of};
use crate::audit::Meta;
use crate::clock::rfc3339;
use crate::error::FieldErrors;
use crate::{App, AppError, Principal};

/// A user's profile: details, access with its sources, the grants the rules filter out,
/// provider credentials and notification choices.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Profile {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub mobile: Option<String>,
    pub user_type: Option<String>,
    pub user_type_label: Option<String>,
    pub status: UserStatus,
    /// How the account came to be, e.g. `console`, `paste`, `csv_import`, `directory`.
    pub source: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// `created_at` in microseconds since the epoch.
    pub created_micros: i64,
    pub last_sign_in_micros: Option<i64>,
    #[schema(format = DateTime)]
    pub activated_at: Option<String>,
    #[schema(format = DateTime)]
    pub deactivated_at: Option<String>,
    #[schema(format = DateTime)]
    pub last_sign_in_at: Option<String>,
    /// When the person leaves, in the organization's zone (`2026-12-18 00:00 CST`): their access
    /// ends then.
    pub leaving_at: Option<String>,
    /// `leaving_at` in microseconds since the epoch.
    pub leaving_micros: Option<i64>,
    pub default_location: Option<Uuid>,
    pub locations: Vec<LocationAccess>,
    pub roles: Vec<RoleMembership>,
    /// Permissions granted to the user directly (keys).
    pub direct: Vec<String>,
    pub effective: Vec<Effective>,
    /// Permissions a role carries that the user's type forbids, with the rule that filters them.
    pub filtered: Vec<Filtered>,
    pub provider: ProviderView,
    /// Every category × medium the organization offers, and whether the user receives it.
    pub notifications: Vec<NotificationChoice>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NotificationChoice {
    pub category: String,
    pub category_label: String,
    pub medium: String,
    pub medium_label: String,
    pub on: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LocationAccess {
    pub id: Uuid,
    pub name: String,
    pub granted: bool,
    /// Whether the person looking may change this location for the user (rule 4).
    pub in_reach: bool,
    /// When the location came by emergency access: when that ends, in the organization's zone.
    pub emergency_until: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoleMembership {
    pub id: Uuid,
    pub name: String,
    pub member: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Effective {
    pub key: String,
    pub label: String,
    /// Where the permission comes from: `direct`, the name of a role, or `emergency access
    /// until …` (ends by itself then).
    #[schema(value_type = Vec<String>)]
    pub sources: Vec<GrantSource>,
}

/// Where a user's permission comes from: a direct grant, a role they hold, or emergency access
/// until the time it holds (in the organization's zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantSource {
    Direct,
    Role(String),
    Emergency(String),
}

/// Shown and serialized as "direct", the role's name, or "emergency access until …".
impl std::fmt::Display for GrantSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GrantSource::Direct => f.write_str("direct"),
            GrantSource::Role(name) => f.write_str(name),
            GrantSource::Emergency(until) => write!(f, "emergency access until {until}"),
        }
    }
}

impl Serialize for GrantSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Filtered {
    pub key: String,
    pub label: String,
    /// The roles that carry the permission.
    #[schema(value_type = Vec<String>)]
    pub sources: Vec<GrantSource>,
    pub rule: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    pub npi: Option<String>,
    /// Code and, when the organization's code list has it, its name.
    pub taxonomies: Vec<(String, Option<String>)>,
    pub bio: Option<String>,
    pub licence_number: Option<String>,
    pub licence_state: Option<String>,
    pub capacity: i64,
    pub scheduling_step: i64,
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn get(app: &App, who: &Principal, id: Uuid) -> Result<Profile, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    load(&mut conn, app.clock.now(), who, id).await
}

/// The profile's version as its reader sees it: it changes whenever anything the profile shows
/// changes, so a client that sends it back with an edit learns when its copy went stale.
pub fn version(profile: &Profile) -> String {
    use sha2::{Digest, Sha256};
    let json = serde_json::to_vec(profile).expect("a profile serializes");
    hex::encode(&Sha256::digest(json)[..12])
}

/// Refuses the edit when the profile no longer is the version the client read; the row stays
/// locked until the edit commits, so no other edit slips in between.
async fn check_version(
    tx: &mut Conn,
    now: i64,
    who: &Principal,
    id: Uuid,
    expected: Option<&str>,
) -> Result<(), AppError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    users::lock(tx, who.org_id, id).await?;
    if version(&load(tx, now, who, id).await?) == expected {
        return Ok(());
    }
    Err(AppError::Stale(
        "This user changed since you read them: read the profile again (and its ETag), then repeat the edit on the new version."
            .into(),
    ))
}

pub(crate) async fn load(
    conn: &mut Conn,
    now: i64,
    who: &Principal,
    id: Uuid,
) -> Result<Profile, AppError> {
    let user = crate::access::user_in(conn, who.org_id, id).await?;
    let OrgScope { org, policy } = OrgScope::load(conn, who.org_id).await?;
    let subject = subject_of(conn, &user).await?;
    let grants = roles::grants_of(conn, user.id).await?;
    let all_roles = roles::list(conn, who.org_id).await?;
    let emergency = Emergency::of(conn, user.id, &org.time_zone).await?;
    let sources = grant_sources(&subject, &all_roles, &grants, &emergency);
    let names = location_names(conn, who.org_id).await?;
    let (kept, filtered) = policy.effective(&subject, &names);
    let provider = profiles::provider_of(conn, user.id)
        .await?
        .unwrap_or_default();
    let on = profiles::notifications_of(conn, user.id).await?;
    let notifications = notification_choices(&org.settings, &on);
    let provider = provider_view(conn, who.org_id, provider).await?;
    let locations = location_access(conn, who, &subject, &emergency).await?;
    let leaving = users::leaving_of(conn, user.id).await?;
    Ok(Profile {
        id: user.id,
        email: user.email.clone(),
        username: user.username.clone(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        display_name: user.display_name.clone(),
        mobile: user.mobile.clone(),
        user_type_label: user
            .user_type
            .as_deref()
            .and_then(|t| policy.user_type(t))
            .map(|t| t.label.clone()),
        user_type: user.user_type.clone(),
        status: status::derive(user.status, user.invite_expires_at, now),
        source: user.source.clone(),
        created_at: rfc3339(user.created_at),
        created_micros: user.created_at,
        last_sign_in_micros: user.last_sign_in_at,
        activated_at: user.activated_at.map(rfc3339),
        deactivated_at: user.deactivated_at.map(rfc3339),
        last_sign_in_at: user.last_sign_in_at.map(rfc3339),
        leaving_at: leaving.map(|at| crate::clock::local(at, &org.time_zone)),
        leaving_micros: leaving,
        default_location: user.default_location_id,
        locations,
        roles: memberships(&all_roles, &grants),
        direct: subject.direct.iter().map(|p| p.key().to_string()).collect(),
        effective: effective_view(&kept, &sources),
        filtered: filtered_view(filtered, &sources),
        provider,
        notifications,
    })
}

/// The person's emergency access still in effect: what it gave, and until when.
#[derive(Default)]
struct Emergency {
    permissions: BTreeMap<Permission, String>,
    locations: BTreeMap<Uuid, String>,
}

impl Emergency {
    async fn of(conn: &mut Conn, user_id: Uuid, zone: &str) -> Result<Emergency, AppError> {
        let mut out = Emergency::default();
        for g in rollcall_store::emergency::live_of(conn, user_id).await? {
            let until = crate::clock::local(g.expires_at, zone);
            if let Some(p) = g.permission {
                out.permissions.insert(p, until.clone());
            }
            if let Some(l) = g.location_id {
                out.locations.insert(l, until);
            }
        }
        Ok(out)
    }
}

/// Which grants give each permission (direct, emergency access, or the roles held), for the
/// "source" column.
fn grant_sources(
    subject: &Subject,
    all_roles: &[roles::Role],
    grants: &roles::Grants,
    emergency: &Emergency,
) -> BTreeMap<Permission, Vec<GrantSource>> {
    let mut sources: BTreeMap<Permission, Vec<GrantSource>> = BTreeMap::new();
    for p in &subject.direct {
        let source = match emergency.permissions.get(p) {
            Some(until) => GrantSource::Emergency(until.clone()),
            None => GrantSource::Direct,
        };
        sources.entry(*p).or_default().push(source);
    }
    for r in all_roles
        .iter()
        .filter(|r| grants.roles.contains_key(&r.id))
    {
        for p in &r.permissions {
            sources
                .entry(*p)
                .or_default()
                .push(GrantSource::Role(r.name.clone()));
        }
    }
    sources
}

/// Every category × medium the organization offers, switched on where the user chose it.
fn notification_choices(
    settings: &rollcall_store::orgs::OrgSettings,
    on: &[(String, String)],
) -> Vec<NotificationChoice> {
    settings
        .notification_categories
        .iter()
        .flat_map(|c| settings.notification_media.iter().map(move |m| (c, m)))
        .map(|(c, m)| NotificationChoice {
            category_label: notifications::category_label(c).to_string(),
            medium_label: notifications::medium_label(m).to_string(),
            on: on.iter().any(|(oc, om)| oc == c && om == m),
            category: c.clone(),
            medium: m.clone(),
        })
        .collect()
}

/// The provider details, each taxonomy code with its name where the organization's list has it.
async fn provider_view(
    conn: &mut Conn,
    org_id: Uuid,
    provider: Provider,
) -> Result<ProviderView, AppError> {
    let mut known = rollcall_store::taxonomy::names(conn, org_id, &provider.taxonomies).await?;
    let taxonomies = provider
        .taxonomies
        .iter()
        .map(|c| (c.clone(), known.remove(c)))
        .collect();
    Ok(ProviderView {
        npi: provider.npi,
        taxonomies,
        bio: provider.bio,
        licence_number: provider.licence_number,
        licence_state: provider.licence_state,
        capacity: provider.capacity,
        scheduling_step: provider.scheduling_step,
    })
}

/// Every location of the organization: whether the user has it, and whether the person looking
/// may change it.
async fn location_access(
    conn: &mut Conn,
    who: &Principal,
    subject: &Subject,
    emergency: &Emergency,
) -> Result<Vec<LocationAccess>, AppError> {
    Ok(locations::list(conn, who.org_id)
        .await?
        .into_iter()
        .map(|l| LocationAccess {
            granted: subject.locations.contains(&l.id),
            in_reach: who.locations.contains(&l.id),
            emergency_until: emergency.locations.get(&l.id).cloned(),
            id: l.id,
            name: l.name,
        })
        .collect())
}

fn memberships(all_roles: &[roles::Role], grants: &roles::Grants) -> Vec<RoleMembership> {
    all_roles
        .iter()
        .map(|r| RoleMembership {
            id: r.id,
            name: r.name.clone(),
            member: grants.roles.contains_key(&r.id),
        })
        .collect()
}

fn effective_view(
    kept: &BTreeSet<Permission>,
    sources: &BTreeMap<Permission, Vec<GrantSource>>,
) -> Vec<Effective> {
    kept.iter()
        .map(|p| Effective {
            key: p.key().into(),
            label: p.label().into(),
            sources: sources.get(p).cloned().unwrap_or_default(),
        })
        .collect()
}

fn filtered_view(
    filtered: Vec<(Permission, rollcall_domain::Refusal)>,
    sources: &BTreeMap<Permission, Vec<GrantSource>>,
) -> Vec<Filtered> {
    filtered
        .into_iter()
        .map(|(p, why)| Filtered {
            key: p.key().into(),
            label: p.label().into(),
            sources: sources.get(&p).cloned().unwrap_or_default(),
            rule: why.rule.code().into(),
            reason: why.message,
        })
        .collect()
}

/// An edit of a profile: every field is optional, and an absent field stays as it is. An empty
/// string clears an optional field (mobile, user type, NPI, taxonomies, bio, licence). Lengths
/// and numbers are of the trimmed text.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
#[schema(examples(json!({
    "display_name": "Pat Chen, PT",
    "mobile": "+1 312 555 0142",
    "locations": ["0190c6d2-5f4e-7a31-9b8e-1f2a3b4c5d6e"],
    "permissions": ["calendar.view", "calendar.create"],
    "npi": "1234567893",
    "notifications": ["appointments:email"]
})))]
pub struct ProfileEdit {
    /// 1 to 100 characters.
    #[schema(schema_with = crate::schema::name)]
    pub first_name: Option<String>,
    /// 1 to 100 characters.
    #[schema(schema_with = crate::schema::name)]
    pub last_name: Option<String>,
    /// 1 to 100 characters.
    #[schema(schema_with = crate::schema::name)]
    pub display_name: Option<String>,
    pub mobile: Option<String>,
    pub user_type: Option<String>,
    /// A location by id, code or name.
    pub default_location: Option<String>,
    /// The full set of locations the user should have, each by id, code or name (a repeat
    /// counts once).
    #[schema(value_type = Option<Vec<String>>)]
    pub locations: Option<BTreeSet<String>>,
    /// The full set of roles, each by id or name (a repeat counts once).
    #[schema(value_type = Option<Vec<String>>)]
    pub roles: Option<BTreeSet<String>>,
    /// The full set of direct permission grants (keys; a repeat counts once).
    #[schema(value_type = Option<Vec<Permission>>)]
    pub permissions: Option<BTreeSet<Permission>>,
    /// 10 digits (spaces and dashes between them are dropped), with a valid check digit.
    #[schema(schema_with = crate::schema::npi)]
    pub npi: Option<String>,
    /// Codes separated by commas or spaces, each nine letters or digits and an X.
    #[schema(schema_with = crate::schema::taxonomies)]
    pub taxonomies: Option<String>,
    /// At most 2000 characters.
    #[schema(schema_with = crate::schema::long_text)]
    pub bio: Option<String>,
    /// At most 40 characters.
    #[schema(schema_with = crate::schema::short_text)]
    pub licence_number: Option<String>,
    /// At most 40 characters.
    #[schema(schema_with = crate::schema::short_text)]
    pub licence_state: Option<String>,
    /// Appointments held at once, 1 to 50.
    #[schema(schema_with = crate::schema::capacity)]
    pub capacity: Option<String>,
    /// Minutes: 5, 10, 15, 20, 30, 45 or 60.
    #[schema(schema_with = crate::schema::scheduling_step)]
    pub scheduling_step: Option<String>,
    /// The full set of notifications switched on, as `category:medium`.
    pub notifications: Option<Vec<String>>,
    /// When the person leaves, in the organization's zone: `YYYY-MM-DD` (access ends when that
    /// day ends) or `YYYY-MM-DD HH:MM`; empty clears it. Needs the right to deactivate.
    #[schema(schema_with = crate::schema::leaving_date)]
    pub leaving_date: Option<String>,
}

fn required(field: &'static str, label: &str, value: &str) -> Result<String, ValueError> {
    rollcall_domain::name::person_name(field, label, value)
}

fn optional(
    field: &'static str,
    label: &str,
    value: &str,
    max: usize,
) -> Result<Option<String>, ValueError> {
    let v = value.trim();
    if v.chars().count() > max {
        return Err(ValueError::new(
            field,
            "too_long",
            format!("{label} is longer than {max} characters; shorten it."),
        ));
    }
    Ok((!v.is_empty()).then(|| v.to_string()))
}

/// The locations and roles an edit names, resolved to the organization's ids.
#[derive(Default)]
struct Named {
    default_location: Option<Uuid>,
    locations: Option<BTreeSet<Uuid>>,
    roles: Option<BTreeSet<Uuid>>,
}

impl Named {
    /// Every name resolved, or each unknown one in `errors`.
    fn resolve(
        edit: &ProfileEdit,
        all_locations: &[Location],
        all_roles: &[roles::Role],
        errors: &mut FieldErrors,
    ) -> Named {
        let location =
            |field, text: &str| names::location_id(all_locations, field, "location_unknown", text);
        let role = |field, text: &str| names::role_id(all_roles, field, "role_unknown", text);
        let locations = edit.locations.as_ref().map(|l| {
            l.iter()
                .filter_map(|t| errors.take(location("locations", t)))
                .collect()
        });
        let roles = edit.roles.as_ref().map(|l| {
            l.iter()
                .filter_map(|t| errors.take(role("roles", t)))
                .collect()
        });
        let default_location = edit
            .default_location
            .as_deref()
            .and_then(|t| errors.take(location("default_location", t)));
        Named {
            default_location,
            locations,
            roles,
        }
    }
}

/// The changes to access an edit asks for, in the order the rules judge them: permissions taken
/// first and given last, locations given before the default moves and taken after it.
fn access_changes(
    subject: &Subject,
    edit: &ProfileEdit,
    named: &Named,
    user_type: &Option<String>,
) -> Vec<Change> {
    let mut out = Vec::new();
    if let Some(want) = &edit.permissions {
        out.extend(
            subject
                .direct
                .difference(want)
                .map(|p| Change::RevokePermission(*p)),
        );
    }
    if let Some(want) = &named.locations {
        out.extend(
            want.difference(&subject.locations)
                .map(|l| Change::GrantLocation(*l)),
        );
    }
    if let Some(d) = named
        .default_location
        .filter(|d| Some(*d) != subject.default_location)
    {
        out.push(Change::SetDefaultLocation(d));
    }
    if let Some(want) = &named.locations {
        out.extend(
            subject
                .locations
                .difference(want)
                .map(|l| Change::RevokeLocation(*l)),
        );
    }
    if let Some(t) = user_type
        .as_ref()
        .filter(|t| subject.user_type.as_ref() != Some(*t))
    {
        out.push(Change::SetUserType(t.clone()));
    }
    if let Some(want) = &edit.permissions {
        out.extend(
            want.difference(&subject.direct)
                .map(|p| Change::GrantPermission(*p)),
        );
    }
    out
}

/// Applies an edit. Any refused change refuses the whole edit (with the rule's reason) and
/// nothing is written.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn update(
    app: &App,
    who: &Principal,
    id: Uuid,
    edit: &ProfileEdit,
    expected: Option<&str>,
    path: Path,
    meta: &Meta,
) -> Result<Profile, AppError> {
    who.require(Capability::EditAccess)?;
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let mut batch = Batch::open(&mut tx, who, now).await?;
    apply(&mut tx, &mut batch, id, edit, expected, path, meta).await?;
    let profile = load(&mut tx, now, who, id).await?;
    tx.commit().await?;
    Ok(profile)
}

/// [`update`] within a batch's transaction: a refused edit returns its reason having written
/// nothing, so the batch goes on with the next.
pub(crate) async fn apply(
    tx: &mut Conn,
    batch: &mut Batch<'_>,
    id: Uuid,
    edit: &ProfileEdit,
    expected: Option<&str>,
    path: Path,
    meta: &Meta,
) -> Result<(), AppError> {
    let who = batch.who;
    who.require(Capability::EditAccess)?;
    let user = crate::access::user_in(tx, who.org_id, id).await?;
    let actor = who.actor();
    let subject = subject_of(tx, &user).await?;
    batch
        .scope
        .policy
        .check_reach(&actor, &subject)
        .map_err(AppError::Refused)?;

    // Values first: anything that does not parse refuses the edit before any rule is asked,
    // and before the version is (an edit that can never succeed is not merely stale).
    let values = Values::check(tx, &batch.scope, &user, edit).await?;
    let leaving = match &edit.leaving_date {
        Some(text) => {
            who.require(Capability::ManageUsers)?;
            Some(crate::access::leaving::parse(
                text,
                &batch.scope.org.time_zone,
            )?)
        }
        None => None,
    };
    check_version(tx, batch.now, who, id, expected).await?;
    let (after, current_roles) =
        judge_access(tx, batch, &actor, &subject, edit, &values, path).await?;

    // Writes, and one audit event with what changed.
    let mut changed = Changed::default();
    changed.person(&user, &values.next, &values.names);
    changed.access(&subject, &after, &values.names);
    if let Some(want) = &values.named.roles {
        changed.roles(&values.all_roles, &current_roles, want);
    }
    save_person_and_access(tx, &user, &values.next, &subject, &after).await?;
    if let Some((was, now_p)) = values.provider {
        save_provider(tx, user.id, was, now_p, &mut changed).await?;
    }
    if let Some(on) = values.notifications {
        save_notifications(tx, user.id, on, &mut changed).await?;
    }
    if let Some(at) = leaving {
        let was = users::leaving_of(tx, user.id).await?;
        users::set_leaving(tx, user.id, at).await?;
        let shown = |at: Option<i64>| at.map(crate::clock::rfc3339).into();
        changed.note("leaving_at", shown(was), shown(at));
    }
    if let Some(event) = changed.event(meta, user.id) {
        audit::append(tx, batch.scope.org.id, batch.now, &[event]).await?;
    }
    batch.applied(&subject, &after);
    Ok(())
}

/// The values of an edit, each parsed and checked against the organization.
struct Values {
    /// The person's own fields as the edit leaves them.
    next: users::User,
    names: BTreeMap<Uuid, String>,
    all_roles: Vec<roles::Role>,
    named: Named,
    /// The provider details before and after, if the edit touches them.
    provider: Option<(Provider, Provider)>,
    notifications: Option<Vec<(String, String)>>,
}

impl Values {
    async fn check(
        conn: &mut Conn,
        scope: &OrgScope,
        user: &users::User,
        edit: &ProfileEdit,
    ) -> Result<Values, AppError> {
        // Every field that does not parse is reported, not only the first.
        let mut errors = FieldErrors::default();
        let mut next = person_edited(user, edit, &scope.policy, &mut errors);
        let provider = provider_edit(conn, user, edit, &mut errors).await?;
        let all_locations = locations::list(conn, scope.org.id).await?;
        let all_roles = roles::list(conn, scope.org.id).await?;
        let named = Named::resolve(edit, &all_locations, &all_roles, &mut errors);
        errors.into_result()?;
        if let Some(d) = named.default_location {
            next.default_location_id = Some(d);
        }
        let names = all_locations.into_iter().map(|l| (l.id, l.name)).collect();
        let notifications = notifications_edited(&scope.org.settings, edit)?;
        Ok(Values {
            next,
            names,
            all_roles,
            named,
            provider,
            notifications,
        })
    }
}

/// The rules, over every access change the edit makes, then (when the roles change) over the
/// permissions the roles carry; the new roles are set once judged. Returns the access after
/// the edit and the roles held before it.
async fn judge_access(
    tx: &mut Conn,
    batch: &mut Batch<'_>,
    actor: &rollcall_domain::Actor,
    subject: &Subject,
    edit: &ProfileEdit,
    values: &Values,
    path: Path,
) -> Result<(Subject, BTreeSet<Uuid>), AppError> {
    let (policy, census, _) = batch.rules(tx).await?;
    let changes = access_changes(subject, edit, &values.named, &values.next.user_type);
    let plan = policy.plan(actor, subject, &changes, path, Some(census), &values.names);
    if let Some(why) = all_refusals(plan.refused) {
        return Err(AppError::Refused(why));
    }
    let census = census.clone();
    let current_roles: BTreeSet<Uuid> = roles::grants_of(tx, subject.user_id)
        .await?
        .roles
        .into_keys()
        .collect();
    let Some(want) = values
        .named
        .roles
        .as_ref()
        .filter(|want| **want != current_roles)
    else {
        return Ok((plan.after, current_roles));
    };
    let judged = RoleChange {
        all_roles: &values.all_roles,
        current: &current_roles,
        want,
    };
    let after = judged.judge(
        &batch.scope.policy,
        actor,
        (subject, plan.after),
        census,
        &values.names,
    )?;
    profiles::set_roles(
        tx,
        subject.user_id,
        &want.iter().copied().collect::<Vec<_>>(),
    )
    .await?;
    Ok((after, current_roles))
}

/// Writes the person's fields, locations and direct grants, each only if it changed.
async fn save_person_and_access(
    tx: &mut Conn,
    user: &users::User,
    next: &users::User,
    subject: &Subject,
    after: &Subject,
) -> Result<(), AppError> {
    if next != user {
        profiles::update_person(tx, next).await?;
    }
    if after.locations != subject.locations {
        profiles::set_locations(
            tx,
            user.id,
            &after.locations.iter().copied().collect::<Vec<_>>(),
        )
        .await?;
    }
    if after.direct != subject.direct {
        let direct: Vec<Permission> = after.direct.iter().copied().collect();
        profiles::set_direct(tx, user.id, &direct).await?;
    }
    Ok(())
}

async fn save_provider(
    tx: &mut Conn,
    user_id: Uuid,
    was: Provider,
    now: Provider,
    changed: &mut Changed,
) -> Result<(), AppError> {
    if was != now {
        changed.note("provider", provider_json(&was), provider_json(&now));
        profiles::save_provider(tx, user_id, &now).await?;
    }
    Ok(())
}

async fn save_notifications(
    tx: &mut Conn,
    user_id: Uuid,
    on: Vec<(String, String)>,
    changed: &mut Changed,
) -> Result<(), AppError> {
    let was = profiles::notifications_of(tx, user_id).await?;
    if was != on {
        let pairs = |v: &[(String, String)]| -> serde_json::Value {
            v.iter()
                .map(|(c, m)| format!("{c}:{m}"))
                .collect::<Vec<_>>()
                .into()
        };
        changed.note("notifications", pairs(&was), pairs(&on));
        profiles::set_notifications(tx, &[user_id], &on).await?;
    }
    Ok(())
}

/// The person's own fields as the edit leaves them, each parsed.
fn person_edited(
    user: &users::User,
    edit: &ProfileEdit,
    policy: &Policy,
    errors: &mut FieldErrors,
) -> users::User {
    let mut next = user.clone();
    let mut set = |target: &mut String, field, label, value: &Option<String>| {
        if let Some(v) = value
            && let Some(v) = errors.take(required(field, label, v))
        {
            *target = v;
        }
    };
    set(
        &mut next.first_name,
        "first_name",
        "first name",
        &edit.first_name,
    );
    set(
        &mut next.last_name,
        "last_name",
        "last name",
        &edit.last_name,
    );
    set(
        &mut next.display_name,
        "display_name",
        "display name",
        &edit.display_name,
    );
    if let Some(v) = &edit.mobile {
        let mobile = match v.trim() {
            "" => Ok(None),
            m => Mobile::parse(m, Some("US")).map(|m| Some(m.as_str().to_string())),
        };
        if let Some(m) = errors.take(mobile) {
            next.mobile = m;
        }
    }
    match edit.user_type.as_deref().map(str::trim) {
        None => {}
        Some("") => next.user_type = None,
        Some(t) => {
            if let Some(code) = errors.take(user_type_code(policy, t)) {
                next.user_type = Some(code);
            }
        }
    }
    next
}

/// The notification choices of the edit, each one the organization offers.
fn notifications_edited(
    settings: &rollcall_store::orgs::OrgSettings,
    edit: &ProfileEdit,
) -> Result<Option<Vec<(String, String)>>, AppError> {
    let Some(choices) = &edit.notifications else {
        return Ok(None);
    };
    let mut on = choices
        .iter()
        .map(|c| {
            notifications::parse_choice(
                c,
                &settings.notification_categories,
                &settings.notification_media,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    on.sort();
    on.dedup();
    Ok(Some(on))
}

/// A change of roles: the permissions the roles carry, gained and lost, judged by the rules as
/// they stand after the edit's own access changes.
struct RoleChange<'a> {
    all_roles: &'a [roles::Role],
    current: &'a BTreeSet<Uuid>,
    want: &'a BTreeSet<Uuid>,
}

impl RoleChange<'_> {
    fn carried(&self, ids: &BTreeSet<Uuid>) -> BTreeSet<Permission> {
        self.all_roles
            .iter()
            .filter(|r| ids.contains(&r.id))
            .flat_map(|r| r.permissions.iter().copied())
            .collect()
    }

    fn judge(
        &self,
        policy: &Policy,
        actor: &rollcall_domain::Actor,
        (subject, after): (&Subject, Subject),
        mut census: rollcall_domain::AdminCensus,
        names: &BTreeMap<Uuid, String>,
    ) -> Result<Subject, AppError> {
        let (before, now_carried) = (self.carried(self.current), self.carried(self.want));
        let changes: Vec<Change> = now_carried
            .difference(&before)
            .map(|p| Change::GrantPermission(*p))
            .chain(
                before
                    .difference(&now_carried)
                    .map(|p| Change::RevokePermission(*p)),
            )
            .collect();
        policy.update_census(&mut census, subject, &after);
        let plan = policy.plan(
            actor,
            &after,
            &changes,
            Path::RoleEdit,
            Some(&census),
            names,
        );
        match all_refusals(plan.refused) {
            Some(why) => Err(AppError::Refused(why)),
            None => Ok(plan.after),
        }
    }
}

/// What an edit changed, field by field, for its one audit event.
#[derive(Default)]
struct Changed {
    before: serde_json::Map<String, serde_json::Value>,
    after: serde_json::Map<String, serde_json::Value>,
}

impl Changed {
    fn note(&mut self, field: &str, was: serde_json::Value, now: serde_json::Value) {
        if was != now {
            self.before.insert(field.into(), was);
            self.after.insert(field.into(), now);
        }
    }

    fn person(&mut self, user: &users::User, next: &users::User, names: &BTreeMap<Uuid, String>) {
        self.note(
            "first_name",
            user.first_name.clone().into(),
            next.first_name.clone().into(),
        );
        self.note(
            "last_name",
            user.last_name.clone().into(),
            next.last_name.clone().into(),
        );
        self.note(
            "display_name",
            user.display_name.clone().into(),
            next.display_name.clone().into(),
        );
        self.note(
            "mobile",
            user.mobile.clone().into(),
            next.mobile.clone().into(),
        );
        self.note(
            "user_type",
            user.user_type.clone().into(),
            next.user_type.clone().into(),
        );
        let name = |l: Option<Uuid>| -> serde_json::Value {
            l.map(|l| names.get(&l).cloned().unwrap_or_default()).into()
        };
        self.note(
            "default_location",
            name(user.default_location_id),
            name(next.default_location_id),
        );
    }

    fn roles(&mut self, all_roles: &[roles::Role], was: &BTreeSet<Uuid>, now: &BTreeSet<Uuid>) {
        let role_names = |ids: &BTreeSet<Uuid>| -> serde_json::Value {
            all_roles
                .iter()
                .filter(|r| ids.contains(&r.id))
                .map(|r| r.name.clone())
                .collect::<Vec<_>>()
                .into()
        };
        self.note("roles", role_names(was), role_names(now));
    }

    fn access(&mut self, subject: &Subject, after: &Subject, names: &BTreeMap<Uuid, String>) {
        let loc_names = |s: &BTreeSet<Uuid>| -> serde_json::Value {
            s.iter()
                .map(|l| names.get(l).cloned().unwrap_or_default())
                .collect::<Vec<_>>()
                .into()
        };
        self.note(
            "locations",
            loc_names(&subject.locations),
            loc_names(&after.locations),
        );
        let keys = |s: &BTreeSet<Permission>| -> serde_json::Value {
            s.iter().map(|p| p.key()).collect::<Vec<_>>().into()
        };
        self.note("permissions", keys(&subject.direct), keys(&after.direct));
    }

    /// `user.updated` with before and after of what changed; nothing when nothing did.
    fn event(self, meta: &Meta, user_id: Uuid) -> Option<rollcall_store::audit::NewEvent> {
        (!self.after.is_empty()).then(|| {
            meta.change(
                "user.updated",
                "user",
                Some(user_id),
                Some(&serde_json::Value::Object(self.before)),
                Some(&serde_json::Value::Object(self.after)),
            )
        })
    }
}

/// Every refused change of an edit in one refusal: the first one's rule and code, and all the
/// sentences, so the person fixes everything in one go.
fn all_refusals(
    refused: Vec<(Change, rollcall_domain::Refusal)>,
) -> Option<rollcall_domain::Refusal> {
    let mut reasons = refused.into_iter().map(|(_, why)| why);
    let mut first = reasons.next()?;
    for other in reasons {
        first.message.push(' ');
        first.message.push_str(&other.message);
    }
    Some(first)
}

fn user_type_code(policy: &Policy, input: &str) -> Result<String, ValueError> {
    policy
        .user_type(input)
        .map(|t| t.code.clone())
        .ok_or_else(|| {
            let known: Vec<&str> = policy.user_types.iter().map(|t| t.code.as_str()).collect();
            ValueError::new(
                "user_type",
                "user_type_unknown",
                format!(
                    "“{}” is not a user type of this organization; use one of: {}.",
                    input.chars().take(40).collect::<String>(),
                    known.join(", ")
                ),
            )
        })
}

fn provider_json(p: &Provider) -> serde_json::Value {
    serde_json::json!({
        "npi": p.npi, "taxonomies": p.taxonomies, "bio": p.bio,
        "licence_number": p.licence_number, "licence_state": p.licence_state,
        "capacity": p.capacity, "scheduling_step": p.scheduling_step,
    })
}

/// The provider credentials an edit asks for, validated; `None` if it touches none of them.
async fn provider_edit(
    conn: &mut Conn,
    user: &users::User,
    edit: &ProfileEdit,
    errors: &mut FieldErrors,
) -> Result<Option<(Provider, Provider)>, AppError> {
    let touched = edit.npi.is_some()
        || edit.taxonomies.is_some()
        || edit.bio.is_some()
        || edit.licence_number.is_some()
        || edit.licence_state.is_some()
        || edit.capacity.is_some()
        || edit.scheduling_step.is_some();
    if !touched {
        return Ok(None);
    }
    let was = profiles::provider_of(conn, user.id)
        .await?
        .unwrap_or_default();
    let mut p = was.clone();
    if let Some(v) = &edit.npi {
        let npi = match v.trim() {
            "" => Ok(None),
            n => Npi::parse(n).map(|n| Some(n.as_str().to_string())),
        };
        if let Some(npi) = errors.take(npi) {
            p.npi = npi;
        }
    }
    if let Some(v) = &edit.taxonomies
        && let Some(codes) = errors.take(taxonomy_codes(v))
    {
        p.taxonomies = codes;
    }
    let mut text = |target: &mut Option<String>, field, label, value: &Option<String>, max| {
        if let Some(v) = value
            && let Some(v) = errors.take(optional(field, label, v, max))
        {
            *target = v;
        }
    };
    text(&mut p.bio, "bio", "The bio", &edit.bio, 2_000);
    text(
        &mut p.licence_number,
        "licence_number",
        "The licence number",
        &edit.licence_number,
        40,
    );
    text(
        &mut p.licence_state,
        "licence_state",
        "The licence state",
        &edit.licence_state,
        40,
    );
    if let Some(v) = &edit.capacity
        && let Some(c) = errors.take(Capacity::parse(v))
    {
        p.capacity = c.get() as i64;
    }
    if let Some(v) = &edit.scheduling_step
        && let Some(s) = errors.take(SchedulingStep::parse(v))
    {
        p.scheduling_step = s.minutes() as i64;
    }
    Ok(Some((was, p)))
}

/// Taxonomy codes as a list is typed everywhere (`;`, `,` or spaces between them), each once,
/// in the order given.
fn taxonomy_codes(input: &str) -> Result<Vec<String>, ValueError> {
    let mut codes = Vec::new();
    for part in rollcall_domain::taxonomy::list_items(input) {
        let code = TaxonomyCode::parse(part)?.as_str().to_string();
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    Ok(codes)
}
