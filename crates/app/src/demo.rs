//! The demo organization: a therapy practice with three clinics, the predefined roles and about
//! two hundred staff across every status and user type.

use std::collections::BTreeMap;

use rollcall_domain::{Email, Permission, UserStatus, Username};
use rollcall_store::invitations::{self, Invitation};
use rollcall_store::orgs::Organization;
use rollcall_store::roles;
use rollcall_store::users::{self, User};
use rollcall_store::{audit, locations, new_id};
use uuid::Uuid;

use crate::audit::Meta;
use crate::clock::DAY;
use crate::identity::mfa::{self, Method};
use crate::identity::password;
use crate::org::{create_location, create_org};
use crate::{App, AppError, secret};

pub const SLUG: &str = "riverside";
pub const ADMIN_EMAIL: &str = "admin@riverside.example";
pub const VIEWER_EMAIL: &str = "viewer@riverside.example";
pub const PASSWORD: &str = "riverside-demo-2026";

const FIRST: &[&str] = &[
    "Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hugo", "Isla", "Jon", "Kira", "Liam",
    "Maya", "Noah", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor", "Wen",
    "Yusuf", "Zoe",
];
const LAST: &[&str] = &[
    "Adams", "Baker", "Chen", "Diaz", "Evans", "Fischer", "Garcia", "Hughes", "Ito", "Jones",
    "Kowalski", "Lopez", "Murphy", "Nguyen", "Okafor", "Patel", "Reyes", "Schmidt", "Tanaka",
    "Walsh",
];
/// (user type, role) — assistants get the Provider role too: the rule engine filters soap.finish.
const STAFF: &[(&str, &str)] = &[
    ("pt", "Provider"),
    ("pt", "Provider"),
    ("ot", "Provider"),
    ("slp", "Provider"),
    ("pta", "Provider"),
    ("cota", "Provider"),
    ("slpa", "Provider"),
    ("spt", "Provider"),
    ("sot", "Provider"),
    ("sslp", "Provider"),
    ("rtt", "Provider"),
    ("atc", "Provider"),
    ("front_desk", "Front Desk"),
    ("front_desk", "Front Desk"),
    ("clerical", "Front Desk"),
    ("billing", "Billing Manager"),
    ("np", "Provider"),
    ("administrator", "Clinic Admin"),
];

pub struct Demo {
    pub org: Organization,
    pub created: bool,
}

/// A demo account with the locations it may access, its role and its direct grants.
struct Member {
    user: User,
    locations: Vec<Uuid>,
    role: &'static str,
    direct: Vec<Permission>,
    /// The second factor an active member enrolled.
    second_factor: Option<Method>,
}

/// What sets one demo account apart; everything else is the same for all of them.
struct Person<'a> {
    email: &'a str,
    first: &'a str,
    last: &'a str,
    user_type: &'a str,
    status: UserStatus,
    created_at: i64,
    home: Uuid,
}

impl Person<'_> {
    fn user(&self, org_id: Uuid) -> User {
        let email = Email::parse(self.email).expect("demo address parses");
        User {
            id: new_id(),
            org_id,
            email: email.as_str().to_string(),
            email_key: email.match_key().to_string(),
            username: Username::from_email(&email).as_str().to_string(),
            first_name: self.first.into(),
            last_name: self.last.into(),
            display_name: format!("{} {}", self.first, self.last),
            mobile: None,
            user_type: Some(self.user_type.into()),
            status: self.status,
            default_location_id: Some(self.home),
            source: "demo".into(),
            password_hash: None,
            invite_expires_at: None,
            failed_sign_ins: 0,
            locked_until: None,
            created_at: self.created_at,
            created_by: None,
            activated_at: None,
            deactivated_at: None,
            last_sign_in_at: None,
        }
    }
}

/// Creates the demo organization once; later runs find it and change nothing (beyond loading the
/// demo taxonomy list into a demo organization that has none yet).
pub async fn ensure(app: &App) -> Result<Demo, AppError> {
    let meta = Meta::system("demo set-up");
    let mut conn = app.db.read_conn().await?;
    let existing = rollcall_store::orgs::get_by_slug(&mut conn, SLUG).await?;
    drop(conn);
    if let Some(org) = existing {
        if crate::org::taxonomy::count(app, org.id).await? == 0 {
            load_demo_taxonomy(app, org.id, &meta).await?;
        }
        return Ok(Demo {
            org,
            created: false,
        });
    }
    let org = create_demo(app, &meta).await?;
    Ok(Demo { org, created: true })
}

/// The organization with its clinics, staff and taxonomy list.
async fn create_demo(app: &App, meta: &Meta) -> Result<Organization, AppError> {
    let org = create_org(
        app,
        SLUG,
        "Riverside Therapy Group",
        "America/Chicago",
        meta,
    )
    .await?;
    let locs = set_up_clinics(app, org.id, meta).await?;
    let role_ids = role_ids_by_name(app, org.id).await?;
    let hash = password::hash(PASSWORD.to_string()).await?;
    let now = app.clock.now();
    let mut people = sign_in_accounts(org.id, &locs, hash, now);
    people.extend((0..198usize).map(|i| generated_member(i, org.id, &locs, now)));
    insert_members(app, org.id, &people, &role_ids, meta, now).await?;
    emergency_access(app, org.id, &people, meta, now).await?;
    load_demo_taxonomy(app, org.id, meta).await?;
    Ok(org)
}

/// Providers are designated for emergency access, and two of them used it last night: the
/// access has ended, and the uses wait for a company admin's review.
async fn emergency_access(
    app: &App,
    org_id: Uuid,
    people: &[Member],
    meta: &Meta,
    now: i64,
) -> Result<(), AppError> {
    use crate::access::emergency::settings::{self, EmergencySettingsChange};
    let operator = crate::Principal::operator(app, org_id, "demo set-up").await?;
    let change = EmergencySettingsChange {
        role: Some("Provider".into()),
        max_minutes: Some(240),
    };
    settings::update(app, &operator, &change, meta).await?;
    let providers = people
        .iter()
        .filter(|m| m.role == "Provider" && m.user.status == UserStatus::Active)
        .take(2);
    let reasons = [
        "Refund for a patient charged twice; the billing desk was closed",
        "Covering the weekend refunds queue while billing is out",
    ];
    let mut tx = app.db.begin().await?;
    for (i, (member, reason)) in providers.zip(reasons).enumerate() {
        let granted_at = now - (14 + 3 * i as i64) * crate::clock::HOUR;
        let grant = rollcall_store::emergency::Grant {
            id: new_id(),
            org_id,
            user_id: member.user.id,
            permission: Some(Permission::BillingRefunds),
            location_id: None,
            reason: reason.into(),
            granted_at,
            expires_at: granted_at + crate::clock::HOUR,
            ended_at: None,
            review_state: "open".into(),
            reviewed_by: None,
            reviewer_name: None,
            reviewed_at: None,
            review_note: None,
        };
        rollcall_store::emergency::insert(&mut tx, &grant).await?;
        rollcall_store::emergency::end(&mut tx, grant.id, grant.expires_at).await?;
        let event = meta.change(
            "emergency_access.granted",
            "user",
            Some(member.user.id),
            None::<&()>,
            Some(&serde_json::json!({
                "emergency_grant": grant.id, "permission": "billing.refunds", "reason": reason,
            })),
        );
        let ended = Meta::system("emergency access expiry").change(
            "emergency_access.ended",
            "user",
            Some(member.user.id),
            None::<&()>,
            Some(&serde_json::json!({
                "emergency_grant": grant.id, "permission": "billing.refunds",
            })),
        );
        audit::append(&mut tx, org_id, now, &[event, ended]).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Seats and the three clinics; returns the clinics' ids.
async fn set_up_clinics(app: &App, org_id: Uuid, meta: &Meta) -> Result<Vec<Uuid>, AppError> {
    // Room to try every onboarding path: ~160 demo staff hold seats already.
    let operator = crate::Principal::operator(app, org_id, "demo set-up").await?;
    crate::org::set_seats(app, &operator, rollcall_store::seats::PORTAL, 500, meta).await?;
    let mut locs = Vec::new();
    for (name, code) in [
        ("Downtown Clinic", "DT"),
        ("Northside Clinic", "NS"),
        ("Lakeview Sports Rehab", "LV"),
    ] {
        locs.push(create_location(app, &operator, name, code, meta).await?.id);
    }
    Ok(locs)
}

async fn role_ids_by_name(app: &App, org_id: Uuid) -> Result<BTreeMap<String, Uuid>, AppError> {
    let mut tx = app.db.begin().await?;
    let role_ids = roles::list(&mut tx, org_id)
        .await?
        .into_iter()
        .map(|r| (r.name, r.id))
        .collect();
    tx.commit().await?;
    Ok(role_ids)
}

/// The two accounts the demo is tried with, both with the demo password: an administrator who
/// holds every permission and a read-only viewer, each with access to every clinic.
fn sign_in_accounts(org_id: Uuid, locs: &[Uuid], hash: String, now: i64) -> Vec<Member> {
    let registered = |mut user: User, hash: String| {
        user.password_hash = Some(hash);
        user.activated_at = Some(user.created_at);
        user
    };
    let admin = Person {
        email: ADMIN_EMAIL,
        first: "Morgan",
        last: "Reed",
        user_type: "administrator",
        status: UserStatus::Active,
        created_at: now - 400 * DAY,
        home: locs[0],
    };
    let viewer = Person {
        email: VIEWER_EMAIL,
        first: "Robin",
        last: "Hale",
        user_type: "clerical",
        status: UserStatus::Active,
        created_at: now - 390 * DAY,
        home: locs[1],
    };
    vec![
        Member {
            user: registered(admin.user(org_id), hash.clone()),
            locations: locs.to_vec(),
            role: "Clinic Admin",
            direct: Permission::ALL.to_vec(),
            second_factor: None,
        },
        Member {
            user: registered(viewer.user(org_id), hash),
            locations: locs.to_vec(),
            role: "Read-only",
            direct: vec![],
            second_factor: None,
        },
    ]
}

/// The `i`th generated member of staff: names, types and roles cycle through their lists, and
/// the dates fit the status.
fn generated_member(i: usize, org_id: Uuid, locs: &[Uuid], now: i64) -> Member {
    let (first, last) = (
        FIRST[i % FIRST.len()],
        LAST[(i / FIRST.len() + i) % LAST.len()],
    );
    let (user_type, role) = STAFF[i % STAFF.len()];
    let home = locs[i % 3];
    let created_at = now - (380 - i as i64) * DAY;
    let email = format!(
        "{}.{}{}@riverside.example",
        first.to_lowercase(),
        last.to_lowercase(),
        i
    );
    let mut user = Person {
        email: &email,
        first,
        last,
        user_type,
        status: generated_status(i),
        created_at,
        home,
    }
    .user(org_id);
    match i % 20 {
        12 | 13 => user.invite_expires_at = Some(now + 5 * DAY),
        14 | 15 => user.invite_expires_at = Some(now - 2 * DAY),
        16 | 17 => user.deactivated_at = Some(now - 10 * DAY),
        _ => user.activated_at = Some(created_at + DAY),
    }
    let locations = if i.is_multiple_of(7) {
        locs.to_vec()
    } else {
        vec![home]
    };
    // Active staff enrolled each second factor in turn; a few have none yet.
    let second_factor = match (user.status, i % 4) {
        (UserStatus::Active, 0) => Some(Method::Totp),
        (UserStatus::Active, 1) => Some(Method::Email),
        (UserStatus::Active, 2) => Some(Method::Sms),
        _ => None,
    };
    if second_factor == Some(Method::Sms) {
        user.mobile = Some(format!("+1415555{:04}", i));
    }
    Member {
        user,
        locations,
        role,
        direct: vec![],
        second_factor,
    }
}

/// Mostly active; the rest spread over every other status, legacy ones included.
fn generated_status(i: usize) -> UserStatus {
    match i % 20 {
        0..=11 => UserStatus::Active,
        12 | 13 => UserStatus::Pending,
        14 | 15 => UserStatus::Pending, // expired: its invitation ran out
        16 | 17 => UserStatus::Inactive,
        18 => UserStatus::Blocked,
        _ => UserStatus::Disabled,
    }
}

/// Writes the staff with their access, an invitation for each pending one and a `user.created`
/// event each, in one transaction.
async fn insert_members(
    app: &App,
    org_id: Uuid,
    people: &[Member],
    role_ids: &BTreeMap<String, Uuid>,
    meta: &Meta,
    now: i64,
) -> Result<(), AppError> {
    let mut tx = app.db.begin().await?;
    let rows: Vec<User> = people.iter().map(|p| p.user.clone()).collect();
    users::insert_many(&mut tx, &rows).await?;
    let mut invites = Vec::new();
    let mut events = Vec::new();
    for Member {
        user,
        locations: access,
        role,
        direct,
        second_factor,
    } in people
    {
        locations::grant(&mut tx, user.id, access).await?;
        if let Some(method) = second_factor {
            let totp = match method {
                Method::Totp => Some(mfa::sealed_totp(app, &mfa::new_totp_secret())?),
                _ => None,
            };
            users::set_mfa(&mut tx, user.id, Some(method.as_str()), totp.as_deref()).await?;
        }
        roles::assign(&mut tx, user.id, &[role_ids[*role]]).await?;
        roles::grant_direct(&mut tx, user.id, direct).await?;
        if let Some(expires_at) = user.invite_expires_at {
            // Its token is not kept: nobody uses it.
            let token_hash = secret::hash(&secret::new_token());
            invites.push(Invitation::sent_a_week_before(
                org_id, user.id, token_hash, expires_at,
            ));
        }
        events.push(meta.change(
            "user.created",
            "user",
            Some(user.id),
            None::<&()>,
            Some(&(&user.email, &user.status, role)),
        ));
    }
    invitations::insert_many(&mut tx, &invites).await?;
    audit::append(&mut tx, org_id, now, &events).await?;
    tx.commit().await?;
    Ok(())
}

/// The short list of common therapy codes Rollcall ships for the demo (the full NUCC list is
/// licensed separately and loaded with `rollcall taxonomy load`).
async fn load_demo_taxonomy(app: &App, org_id: Uuid, meta: &Meta) -> Result<(), AppError> {
    let codes: Vec<(String, String)> = rollcall_domain::taxonomy::DEMO_TAXONOMY
        .iter()
        .map(|(code, name)| (code.to_string(), name.to_string()))
        .collect();
    crate::org::taxonomy::replace(app, org_id, &codes, meta).await?;
    Ok(())
}
