//! The organization: setting it up (locations, the first admin), its settings and licence
//! seats; `taxonomy` holds the code list that names provider taxonomy codes.

pub mod reference;
pub mod taxonomy;

use rollcall_domain::{
    Capability, Email, Module, Permission, Policy, UserStatus, Username, ValueError,
};
use rollcall_store::audit;
use rollcall_store::invitations::{self, Invitation};
use rollcall_store::locations::{self, Location};
use rollcall_store::orgs::{self, OrgSettings, Organization};
use rollcall_store::roles::{self, Role};
use rollcall_store::seats::{self, Seats};
use rollcall_store::users::{self, User};
use rollcall_store::{Conn, new_id};
use serde::Serialize;
use uuid::Uuid;

use crate::audit::Meta;
use crate::clock::DAY;
use crate::{App, AppError, secret};

/// The roles every new organization starts with (editable afterwards). A role that covers a
/// whole module of the catalogue takes the module's permissions from the catalogue.
pub fn predefined_roles() -> Vec<(&'static str, Vec<Permission>)> {
    use Permission::*;
    vec![
        (
            "Front Desk",
            Module::Calendar
                .permissions()
                .chain([BillingPayments])
                .collect(),
        ),
        (
            "Provider",
            [CalendarView, CalendarCreate]
                .into_iter()
                .chain(Module::Clinical.permissions())
                .chain(Module::Soap.permissions())
                .collect(),
        ),
        (
            "Billing Manager",
            [CalendarView]
                .into_iter()
                .chain(Module::Billing.permissions())
                .collect(),
        ),
        (
            "Clinic Admin",
            [
                AdminClinic,
                UsersManage,
                UsersView,
                UsersInvite,
                UsersBulkAdd,
            ]
            .into_iter()
            .chain(Module::Calendar.permissions())
            .collect(),
        ),
        (
            "User Manager",
            vec![UsersManage, UsersView, UsersInvite, UsersBulkAdd],
        ),
        ("Read-only", vec![UsersView, CalendarView]),
    ]
}

#[derive(Debug, Serialize)]
struct OrgAudit<'a> {
    slug: &'a str,
    name: &'a str,
    time_zone: &'a str,
}

fn parse_slug(slug: &str) -> Result<String, ValueError> {
    let s = slug.trim().to_lowercase();
    let ok = (2..=40).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-');
    if ok {
        Ok(s)
    } else {
        Err(ValueError::new(
            "slug",
            "slug_invalid",
            format!(
                "“{slug}” is not a usable organization code: use 2–40 lower-case letters, digits and hyphens, e.g. “riverside-therapy”."
            ),
        ))
    }
}

fn parse_zone(zone: &str) -> Result<String, ValueError> {
    jiff::tz::TimeZone::get(zone).map(|_| zone.to_string()).map_err(|_| {
        ValueError::new(
            "time_zone",
            "time_zone_unknown",
            format!("“{zone}” is not an IANA time zone: use a name such as America/Chicago or Europe/London."),
        )
    })
}

/// Creates an organization with its predefined roles and rule data.
pub async fn create_org(
    app: &App,
    slug: &str,
    name: &str,
    time_zone: &str,
    meta: &Meta,
) -> Result<Organization, AppError> {
    let org = Organization {
        id: new_id(),
        slug: parse_slug(slug)?,
        name: name.trim().to_string(),
        time_zone: parse_zone(time_zone)?,
        settings: OrgSettings::default(),
        policy: serde_json::to_string(&Policy::standard()).expect("policy serializes"),
        created_at: app.clock.now(),
    };
    if org.name.is_empty() {
        return Err(
            ValueError::new("name", "name_missing", "The organization needs a name.").into(),
        );
    }
    let mut tx = app.db.begin().await?;
    if orgs::get_by_slug(&mut tx, &org.slug).await?.is_some() {
        return Err(AppError::Conflict(format!(
            "An organization with the code “{}” already exists.",
            org.slug
        )));
    }
    orgs::insert(&mut tx, &org).await?;
    orgs::set_seats(&mut tx, org.id, "portal", 50).await?;
    let mut events = vec![meta.change(
        "org.created",
        "organization",
        Some(org.id),
        None::<&()>,
        Some(&OrgAudit {
            slug: &org.slug,
            name: &org.name,
            time_zone: &org.time_zone,
        }),
    )];
    for (name, perms) in predefined_roles() {
        let role = Role {
            id: new_id(),
            org_id: org.id,
            name: name.into(),
            predefined: true,
            permissions: perms.to_vec(),
        };
        roles::insert(&mut tx, &role, org.created_at).await?;
        events.push(meta.change(
            "role.created",
            "role",
            Some(role.id),
            None::<&()>,
            Some(&(name, &role.permissions)),
        ));
    }
    audit::append(&mut tx, org.id, org.created_at, &events).await?;
    tx.commit().await?;
    Ok(org)
}

/// Every organization on this server (the operator's list; the sign-in page's choice).
pub async fn list(app: &App) -> Result<Vec<Organization>, AppError> {
    let mut conn = app.db.read_conn().await?;
    Ok(orgs::list(&mut conn).await?)
}

/// An organization by its short code, or a message that says how to list them.
pub async fn find(app: &App, slug: &str) -> Result<Organization, AppError> {
    find_org(&mut *app.db.read_conn().await?, slug).await
}

pub(crate) async fn find_org(conn: &mut Conn, slug: &str) -> Result<Organization, AppError> {
    orgs::get_by_slug(conn, slug).await?.ok_or_else(|| {
        AppError::NotFound(format!(
            "No organization “{slug}”. `rollcall org list` shows them."
        ))
    })
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn create_location(
    app: &App,
    who: &crate::Principal,
    name: &str,
    code: &str,
    meta: &Meta,
) -> Result<Location, AppError> {
    who.require(Capability::ManageSettings)?;
    let org_id = who.org_id;
    let loc = Location {
        id: new_id(),
        org_id,
        name: name.trim().to_string(),
        code: code.trim().to_uppercase(),
        time_zone: None,
        active: true,
    };
    let mut missing = Vec::new();
    if loc.name.is_empty() {
        missing.push(ValueError::new(
            "name",
            "location_incomplete",
            "A location needs a name, e.g. “Downtown Clinic”.",
        ));
    }
    if loc.code.is_empty() {
        missing.push(ValueError::new(
            "code",
            "location_incomplete",
            "A location needs a short code, e.g. “DT”.",
        ));
    }
    if let Some(e) = AppError::of_fields(missing) {
        return Err(e);
    }
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    locations::insert(&mut tx, &loc, now).await.map_err(|e| {
        if e.is_unique_violation() {
            AppError::Conflict(format!(
                "A location with the code “{}” already exists.",
                loc.code
            ))
        } else {
            e.into()
        }
    })?;
    audit::append(
        &mut tx,
        org_id,
        now,
        &[meta.change(
            "location.created",
            "location",
            Some(loc.id),
            None::<&()>,
            Some(&(&loc.name, &loc.code)),
        )],
    )
    .await?;
    tx.commit().await?;
    Ok(loc)
}

/// A company admin with every permission and a one-time set-up link (returned as the raw token).
pub async fn create_admin(
    app: &App,
    org: &Organization,
    email: &str,
    first_name: &str,
    last_name: &str,
    meta: &Meta,
) -> Result<(User, String), AppError> {
    let email = Email::parse(email)?;
    let now = app.clock.now();
    let token = secret::new_token();
    let expires_at = now + org.settings.invitation_days as i64 * DAY;
    let user = pending_admin(org, &email, (first_name, last_name), expires_at, now, meta);
    let mut tx = app.db.begin().await?;
    if users::get_by_email_key(&mut tx, org.id, &user.email_key)
        .await?
        .is_some()
    {
        return Err(AppError::Conflict(format!(
            "{} already has an account in {}.",
            user.email, org.name
        )));
    }
    users::insert_many(&mut tx, std::slice::from_ref(&user)).await?;
    roles::grant_direct(&mut tx, user.id, &Permission::ALL).await?;
    let locs: Vec<Uuid> = locations::list(&mut tx, org.id)
        .await?
        .into_iter()
        .map(|l| l.id)
        .collect();
    locations::grant(&mut tx, user.id, &locs).await?;
    let invitation = printed_invitation(&user, &token, now, expires_at, meta);
    invitations::insert_many(&mut tx, &[invitation]).await?;
    audit::append(
        &mut tx,
        org.id,
        now,
        &[meta.change(
            "user.admin_created",
            "user",
            Some(user.id),
            None::<&()>,
            Some(&(&user.email, "all permissions")),
        )],
    )
    .await?;
    tx.commit().await?;
    Ok((user, token))
}

/// The first admin's account, created at the command line: Pending until they register.
fn pending_admin(
    org: &Organization,
    email: &Email,
    (first_name, last_name): (&str, &str),
    expires_at: i64,
    now: i64,
    meta: &Meta,
) -> User {
    User {
        id: new_id(),
        org_id: org.id,
        email: email.as_str().to_string(),
        email_key: email.match_key().to_string(),
        username: Username::from_email(email).as_str().to_string(),
        first_name: first_name.trim().to_string(),
        last_name: last_name.trim().to_string(),
        display_name: format!("{} {}", first_name.trim(), last_name.trim()),
        mobile: None,
        user_type: Some("administrator".into()),
        status: UserStatus::Pending,
        default_location_id: None,
        source: "cli".into(),
        password_hash: None,
        invite_expires_at: Some(expires_at),
        failed_sign_ins: 0,
        locked_until: None,
        created_at: now,
        created_by: meta.actor_id,
        activated_at: None,
        deactivated_at: None,
        last_sign_in_at: None,
    }
}

/// The admin's invitation: its link is printed for the operator rather than sent.
fn printed_invitation(
    user: &User,
    token: &str,
    now: i64,
    expires_at: i64,
    meta: &Meta,
) -> Invitation {
    Invitation {
        id: new_id(),
        org_id: user.org_id,
        user_id: user.id,
        token_hash: secret::hash(token),
        send_at: now,
        send_at_local: None,
        send_zone: None,
        sent_at: Some(now),
        expires_at,
        accepted_at: None,
        revoked_at: None,
        delivery_state: "printed".into(),
        created_at: now,
        created_by: meta.actor_id,
    }
}

/// What a company admin may change in the organization's settings.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct SettingsChange {
    pub require_2fa: bool,
    pub allowed_2fa: Vec<String>,
    pub invitation_days: u32,
    pub idle_timeout_minutes: u32,
    /// Notification categories and media staff can choose from (codes of the catalogue).
    pub notification_categories: Vec<String>,
    pub notification_media: Vec<String>,
}

/// The catalogue's codes that `chosen` names, in the catalogue's order.
fn offered(catalogue: &[(&str, &str)], chosen: &[String]) -> Vec<String> {
    catalogue
        .iter()
        .filter(|(code, _)| chosen.iter().any(|c| c == code))
        .map(|(code, _)| code.to_string())
        .collect()
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn update_settings(
    app: &App,
    who: &crate::Principal,
    change: &SettingsChange,
    meta: &Meta,
) -> Result<OrgSettings, AppError> {
    who.require(Capability::ManageSettings)?;
    let mut refused = Vec::new();
    if !(1..=30).contains(&change.invitation_days) {
        refused.push(ValueError::new(
            "invitation_days",
            "invitation_days_range",
            "Invitations can be valid for 1 to 30 days.",
        ));
    }
    if !(5..=480).contains(&change.idle_timeout_minutes) {
        refused.push(ValueError::new(
            "idle_timeout_minutes",
            "idle_timeout_range",
            "The automatic sign-out after inactivity must be between 5 and 480 minutes.",
        ));
    }
    let methods: Vec<String> = ["email", "sms", "totp"]
        .iter()
        .filter(|m| change.allowed_2fa.iter().any(|a| a == *m))
        .map(|m| m.to_string())
        .collect();
    if change.require_2fa && methods.is_empty() {
        refused.push(ValueError::new(
            "allowed_2fa",
            "mfa_methods_missing",
            "To require a second sign-in step, allow at least one method.",
        ));
    }
    if let Some(e) = AppError::of_fields(refused) {
        return Err(e);
    }
    let now = app.clock.now();
    let mut tx = app.db.begin().await?;
    let org = orgs::get(&mut tx, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    let before = org.settings.clone();
    let after = OrgSettings {
        require_2fa: change.require_2fa,
        allowed_2fa: methods,
        invitation_days: change.invitation_days,
        idle_timeout_minutes: change.idle_timeout_minutes,
        notification_categories: offered(
            rollcall_domain::notifications::CATEGORIES,
            &change.notification_categories,
        ),
        notification_media: offered(
            rollcall_domain::notifications::MEDIA,
            &change.notification_media,
        ),
        ..before.clone()
    };
    orgs::update_settings(&mut tx, org.id, &after).await?;
    audit::append(
        &mut tx,
        org.id,
        now,
        &[meta.change(
            "org.settings_changed",
            "organization",
            Some(org.id),
            Some(&before),
            Some(&after),
        )],
    )
    .await?;
    tx.commit().await?;
    Ok(after)
}

/// What the settings page shows: the organization's settings, its locations and its seats.
pub struct SettingsView {
    pub settings: OrgSettings,
    pub locations: Vec<Location>,
    /// (product, seats) for every licensed product.
    pub seats: Vec<(String, Seats)>,
}

#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn settings_view(app: &App, who: &crate::Principal) -> Result<SettingsView, AppError> {
    who.require(Capability::ViewUsers)?;
    let mut conn = app.db.read_conn().await?;
    let org = orgs::get(&mut conn, who.org_id)
        .await?
        .ok_or_else(|| AppError::not_found("organization"))?;
    Ok(SettingsView {
        settings: org.settings,
        locations: locations::list(&mut conn, who.org_id).await?,
        seats: seats::all(&mut conn, who.org_id).await?,
    })
}

/// A location by its short code or name (letter case ignored); a miss lists the codes.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn find_location(
    app: &App,
    who: &crate::Principal,
    text: &str,
) -> Result<Location, AppError> {
    who.require(Capability::ViewUsers)?;
    let all = locations::list(&mut *app.db.read_conn().await?, who.org_id).await?;
    let text = text.trim();
    if let Some(l) = all
        .iter()
        .find(|l| l.code.eq_ignore_ascii_case(text) || l.name.eq_ignore_ascii_case(text))
    {
        return Ok(l.clone());
    }
    Err(AppError::NotFound(if all.is_empty() {
        format!(
            "{} has no location yet: a company admin adds one under Settings (or `rollcall location create`).",
            who.org_name
        )
    } else {
        format!(
            "No location “{text}” in {}: the locations are {}.",
            who.org_name,
            all.iter()
                .map(|l| format!("{} ({})", l.code, l.name))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }))
}

/// Sets the licence seats of a product; the change is audited.
#[tracing::instrument(skip_all, fields(org = %who.org_id, actor = %who.user_id))]
pub async fn set_seats(
    app: &App,
    who: &crate::Principal,
    product: &str,
    seats: i64,
    meta: &Meta,
) -> Result<(), AppError> {
    who.require(Capability::ManageSettings)?;
    let org_id = who.org_id;
    let product = product.trim();
    if product.is_empty() || seats < 0 {
        return Err(ValueError::new(
            "seats",
            "seats_invalid",
            "Give a product name and a number of seats of 0 or more.",
        )
        .into());
    }
    let mut tx = app.db.begin().await?;
    let before = orgs::seats(&mut tx, org_id)
        .await?
        .into_iter()
        .find(|(p, _)| p == product)
        .map(|(_, n)| n);
    orgs::set_seats(&mut tx, org_id, product, seats).await?;
    audit::append(
        &mut tx,
        org_id,
        app.clock.now(),
        &[meta.change(
            "seats.changed",
            "organization",
            Some(org_id),
            before
                .map(|n| serde_json::json!({ "product": product, "seats": n }))
                .as_ref(),
            Some(&serde_json::json!({ "product": product, "seats": seats })),
        )],
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
