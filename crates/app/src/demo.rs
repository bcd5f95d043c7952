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

/// Creates the demo organization once; later runs find it and change nothing (beyond loading the
/// demo taxonomy list into a demo organization that has none yet).
pub async fn ensure(app: &App) -> Result<Demo, AppError> {
    let meta = Meta::system("demo set-up");
    let mut conn = app.db.read_conn().await?;
    if let Some(org) = rollcall_store::orgs::get_by_slug(&mut conn, SLUG).await? {
        drop(conn);
        if crate::org::taxonomy::count(app, org.id).await? == 0 {
            load_demo_taxonomy(app, org.id, &meta).await?;
        }
        return Ok(Demo {
            org,
            created: false,
        });
    }
    drop(conn);
    let org = create_org(
        app,
        SLUG,
        "Riverside Therapy Group",
        "America/Chicago",
        &meta,
    )
    .await?;
    // Room to try every onboarding path: ~160 demo staff hold seats already.
    let operator = crate::Principal::operator(app, org.id, "demo set-up").await?;
    crate::org::set_seats(app, &operator, rollcall_store::seats::PORTAL, 500, &meta).await?;
    let mut locs = Vec::new();
    for (name, code) in [
        ("Downtown Clinic", "DT"),
        ("Northside Clinic", "NS"),
        ("Lakeview Sports Rehab", "LV"),
    ] {
        locs.push(create_location(app, &operator, name, code, &meta).await?);
    }
    let mut tx = app.db.begin().await?;
    let role_ids: BTreeMap<String, Uuid> = roles::list(&mut tx, org.id)
        .await?
        .into_iter()
        .map(|r| (r.name, r.id))
        .collect();
    tx.commit().await?;

    let hash = password::hash(PASSWORD.to_string()).await?;
    let now = app.clock.now();
    let mut people: Vec<(User, Vec<Uuid>, &str, Vec<Permission>)> = Vec::new();
    let person = |email: &str,
                  first: &str,
                  last: &str,
                  user_type: &str,
                  status: UserStatus,
                  created_at: i64,
                  home: Uuid| {
        let email = Email::parse(email).expect("demo address parses");
        User {
            id: new_id(),
            org_id: org.id,
            email: email.as_str().to_string(),
            email_key: email.match_key().to_string(),
            username: Username::from_email(&email).as_str().to_string(),
            first_name: first.into(),
            last_name: last.into(),
            display_name: format!("{first} {last}"),
            mobile: None,
            user_type: Some(user_type.into()),
            status,
            default_location_id: Some(home),
            source: "demo".into(),
            password_hash: None,
            invite_expires_at: None,
            failed_sign_ins: 0,
            locked_until: None,
            created_at,
            created_by: None,
            activated_at: None,
            deactivated_at: None,
            last_sign_in_at: None,
        }
    };
    let all_locs: Vec<Uuid> = locs.iter().map(|l| l.id).collect();
    let mut admin = person(
        ADMIN_EMAIL,
        "Morgan",
        "Reed",
        "administrator",
        UserStatus::Active,
        now - 400 * DAY,
        locs[0].id,
    );
    admin.password_hash = Some(hash.clone());
    admin.activated_at = Some(admin.created_at);
    people.push((
        admin,
        all_locs.clone(),
        "Clinic Admin",
        Permission::ALL.to_vec(),
    ));
    let mut viewer = person(
        VIEWER_EMAIL,
        "Robin",
        "Hale",
        "clerical",
        UserStatus::Active,
        now - 390 * DAY,
        locs[1].id,
    );
    viewer.password_hash = Some(hash);
    viewer.activated_at = Some(viewer.created_at);
    people.push((viewer, all_locs.clone(), "Read-only", vec![]));

    for i in 0..198usize {
        let (first, last) = (
            FIRST[i % FIRST.len()],
            LAST[(i / FIRST.len() + i) % LAST.len()],
        );
        let (user_type, role) = STAFF[i % STAFF.len()];
        // Mostly active; the rest spread over every other status, legacy ones included.
        let status = match i % 20 {
            0..=11 => UserStatus::Active,
            12 | 13 => UserStatus::Pending,
            14 | 15 => UserStatus::Pending, // expired below
            16 | 17 => UserStatus::Inactive,
            18 => UserStatus::Blocked,
            _ => UserStatus::Disabled,
        };
        let home = locs[i % 3].id;
        let created_at = now - (380 - i as i64) * DAY;
        let mut u = person(
            &format!(
                "{}.{}{}@riverside.example",
                first.to_lowercase(),
                last.to_lowercase(),
                i
            ),
            first,
            last,
            user_type,
            status,
            created_at,
            home,
        );
        match i % 20 {
            12 | 13 => u.invite_expires_at = Some(now + 5 * DAY),
            14 | 15 => u.invite_expires_at = Some(now - 2 * DAY),
            16 | 17 => u.deactivated_at = Some(now - 10 * DAY),
            _ => u.activated_at = Some(created_at + DAY),
        }
        let access = if i % 7 == 0 {
            all_locs.clone()
        } else {
            vec![home]
        };
        people.push((u, access, role, vec![]));
    }

    let mut tx = app.db.begin().await?;
    let rows: Vec<User> = people.iter().map(|p| p.0.clone()).collect();
    users::insert_many(&mut tx, &rows).await?;
    let mut invites = Vec::new();
    let mut events = Vec::new();
    for (u, access, role, direct) in &people {
        locations::grant(&mut tx, u.id, access).await?;
        roles::assign(&mut tx, u.id, &[role_ids[*role]]).await?;
        roles::grant_direct(&mut tx, u.id, direct).await?;
        if let Some(expires_at) = u.invite_expires_at {
            invites.push(Invitation {
                id: new_id(),
                org_id: org.id,
                user_id: u.id,
                token_hash: secret::hash(&secret::new_token()),
                send_at: expires_at - 7 * DAY,
                send_at_local: None,
                send_zone: None,
                sent_at: Some(expires_at - 7 * DAY),
                expires_at,
                accepted_at: None,
                revoked_at: None,
                delivery_state: "sent".into(),
                created_at: expires_at - 7 * DAY,
                created_by: None,
            });
        }
        events.push(meta.change(
            "user.created",
            "user",
            Some(u.id),
            None::<&()>,
            Some(&(&u.email, &u.status, role)),
        ));
    }
    invitations::insert_many(&mut tx, &invites).await?;
    audit::append(&mut tx, org.id, now, &events).await?;
    tx.commit().await?;
    load_demo_taxonomy(app, org.id, &meta).await?;
    Ok(Demo { org, created: true })
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
