//! A large organization for the list benchmarks: three clinics, the predefined roles, an admin
//! with an API token, and N staff with a realistic spread of names, addresses, statuses, user
//! types, locations and roles. Deterministic for a given N (a fixed-seed generator).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use rollcall_app::audit::Meta;
use rollcall_app::clock::DAY;
use rollcall_app::domain::{Email, Permission, UserStatus, Username};
use rollcall_app::org::{create_location, create_org};
use rollcall_app::testing::store::invitations::{self, Invitation};
use rollcall_app::testing::store::users::{self, User};
use rollcall_app::testing::store::{Conn, Engine, Sql, locations, new_id, roles};
use rollcall_app::{App, Principal};
use uuid::Uuid;

/// Users written per transaction.
const TX_USERS: usize = 20_000;
/// Users per multi-row INSERT on SQLite (20 parameters each). The store's own batches of 400
/// bind 8,000 numbered parameters per statement, and binding is quadratic in that number on
/// SQLite (sqlx-sqlite looks up each `$n` with `sqlite3_bind_parameter_name`, a linear walk of
/// the statement's parameter list); about 1,000 parameters per statement keeps that small
/// without making statements, and FTS5's per-statement flushes, too many.
const SQLITE_ROWS: usize = 50;
/// On PostgreSQL the store's batches of 400 rows are used as they are.
const POSTGRES_ROWS: usize = 400;

pub const FIRST: &[&str] = &[
    "Aaliyah",
    "Aaron",
    "Abigail",
    "Adam",
    "Adriana",
    "Ahmed",
    "Aiden",
    "Aisha",
    "Alejandro",
    "Alex",
    "Alice",
    "Amara",
    "Amelia",
    "Ana",
    "Andre",
    "Anika",
    "Anthony",
    "Arjun",
    "Aria",
    "Ava",
    "Beatriz",
    "Benjamin",
    "Bianca",
    "Brandon",
    "Caleb",
    "Camila",
    "Carlos",
    "Carmen",
    "Charlotte",
    "Chen",
    "Chloe",
    "Christopher",
    "Claire",
    "Daniel",
    "David",
    "Deepa",
    "Diego",
    "Dmitri",
    "Elena",
    "Elijah",
    "Elizabeth",
    "Emily",
    "Emma",
    "Ethan",
    "Fatima",
    "Felix",
    "Fiona",
    "Gabriel",
    "Grace",
    "Hannah",
    "Hao",
    "Harper",
    "Hassan",
    "Hector",
    "Ines",
    "Isaac",
    "Isabella",
    "Ivan",
    "Jacob",
    "Jamal",
    "James",
    "Jasmine",
    "Javier",
    "Jessica",
    "Jin",
    "Jonathan",
    "Jose",
    "Joshua",
    "Julia",
    "Kai",
    "Karen",
    "Keisha",
    "Kenji",
    "Laila",
    "Laura",
    "Leah",
    "Leo",
    "Liam",
    "Lucas",
    "Lucia",
    "Madison",
    "Malik",
    "Maria",
    "Mateo",
    "Maya",
    "Mei",
    "Michael",
    "Mia",
    "Mohammed",
    "Nadia",
    "Natalie",
    "Nathan",
    "Nia",
    "Noah",
    "Olivia",
    "Omar",
    "Pablo",
    "Priya",
    "Rachel",
    "Rahul",
    "Rosa",
    "Ryan",
    "Samuel",
    "Sara",
    "Sofia",
    "Sophia",
    "Tariq",
    "Thomas",
    "Tyler",
    "Valentina",
    "Victoria",
    "William",
    "Xavier",
    "Yara",
    "Yusuf",
    "Zainab",
    "Zoe",
];

pub const LAST: &[&str] = &[
    "Abbott",
    "Adams",
    "Ahmed",
    "Alvarez",
    "Anderson",
    "Bailey",
    "Baker",
    "Banerjee",
    "Bennett",
    "Brooks",
    "Brown",
    "Campbell",
    "Carter",
    "Castillo",
    "Chen",
    "Clark",
    "Collins",
    "Cooper",
    "Cruz",
    "Davis",
    "Diaz",
    "Dubois",
    "Edwards",
    "Evans",
    "Fernandez",
    "Fischer",
    "Flores",
    "Foster",
    "Garcia",
    "Gomez",
    "Gonzalez",
    "Gray",
    "Green",
    "Gupta",
    "Hall",
    "Harris",
    "Hernandez",
    "Hill",
    "Hoang",
    "Hughes",
    "Ito",
    "Jackson",
    "James",
    "Jensen",
    "Johnson",
    "Jones",
    "Kaur",
    "Kelly",
    "Khan",
    "Kim",
    "King",
    "Kowalski",
    "Kumar",
    "Lee",
    "Lewis",
    "Li",
    "Lopez",
    "Martin",
    "Martinez",
    "Mendoza",
    "Miller",
    "Mitchell",
    "Moore",
    "Morales",
    "Morgan",
    "Murphy",
    "Nakamura",
    "Nelson",
    "Nguyen",
    "Novak",
    "Obi",
    "Okafor",
    "Olsen",
    "Ortiz",
    "Park",
    "Patel",
    "Perez",
    "Peterson",
    "Phillips",
    "Popescu",
    "Ramirez",
    "Reed",
    "Reyes",
    "Richardson",
    "Rivera",
    "Roberts",
    "Robinson",
    "Rodriguez",
    "Rossi",
    "Russell",
    "Sanchez",
    "Santos",
    "Schmidt",
    "Scott",
    "Shah",
    "Silva",
    "Singh",
    "Smith",
    "Sullivan",
    "Tanaka",
    "Taylor",
    "Thomas",
    "Thompson",
    "Torres",
    "Tran",
    "Turner",
    "Walker",
    "Walsh",
    "Wang",
    "Ward",
    "Watson",
    "White",
    "Williams",
    "Wilson",
    "Wong",
    "Wright",
    "Yamamoto",
    "Young",
    "Zhang",
    "Zielinski",
];

const DOMAINS: &[(&str, u32)] = &[
    ("riverside-therapy.example", 50),
    ("northside-rehab.example", 15),
    ("gmail.example", 20),
    ("outlook.example", 10),
    ("lakeview-sports.example", 5),
];

/// (user type, weight, role): the mix of a therapy practice; assistants and students carry the
/// Provider role and the rule engine filters what they may finish.
const STAFF: &[(&str, u32, &str)] = &[
    ("pt", 16, "Provider"),
    ("ot", 10, "Provider"),
    ("slp", 8, "Provider"),
    ("pta", 12, "Provider"),
    ("cota", 6, "Provider"),
    ("slpa", 4, "Provider"),
    ("spt", 3, "Provider"),
    ("sot", 2, "Provider"),
    ("sslp", 1, "Provider"),
    ("rtt", 3, "Provider"),
    ("atc", 3, "Provider"),
    ("physician", 1, "Provider"),
    ("np", 2, "Provider"),
    ("pa", 1, "Provider"),
    ("nurse", 2, "Provider"),
    ("front_desk", 12, "Front Desk"),
    ("clerical", 6, "Read-only"),
    ("billing", 5, "Billing Manager"),
    ("administrator", 3, "Clinic Admin"),
];

pub const LOCATIONS: &[(&str, &str)] = &[
    ("Downtown Clinic", "DT"),
    ("Northside Clinic", "NS"),
    ("Lakeview Sports Rehab", "LV"),
];

/// A small, fast, deterministic generator (SplitMix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn weighted<'a, T>(&mut self, xs: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
        let total: u32 = xs.iter().map(&weight).sum();
        let mut r = self.below(total as u64) as u32;
        for x in xs {
            let w = weight(x);
            if r < w {
                return x;
            }
            r -= w;
        }
        &xs[xs.len() - 1]
    }
}

/// What the benchmark needs to know about the seeded organization.
pub struct Seeded {
    pub org_id: Uuid,
    /// Location name → id, in `LOCATIONS` order.
    pub locations: Vec<(String, Uuid)>,
    /// Role name → id.
    pub roles: BTreeMap<String, Uuid>,
    /// Raw API token (users:read) of the admin.
    pub token: String,
    pub users: usize,
    pub expected: Expected,
    pub timings: SeedTimings,
}

/// Counts the generator produced, for checking what the API returns.
#[derive(Default, Debug)]
pub struct Expected {
    pub by_status: BTreeMap<&'static str, usize>,
    pub invitations: usize,
    pub user_locations: usize,
    pub user_roles: usize,
}

#[derive(Default, Debug)]
pub struct SeedTimings {
    pub generate: Duration,
    pub write: Duration,
    pub total: Duration,
}

/// Seeds `n` staff (plus one admin) into a freshly migrated database.
pub async fn seed(app: &App, n: usize) -> Result<Seeded> {
    let started = Instant::now();
    let meta = Meta::system("benchmark set-up");
    let (org_id, locs, role_ids) = organization(app, &meta).await?;
    // One real password hash, shared by every active account: rows are the size they would be.
    let hash = rollcall_app::identity::password::hash("p4-bench-password-2026".into())
        .await
        .context("hashing the shared password")?;
    let now = app.clock.now();
    let loc_ids: Vec<Uuid> = locs.iter().map(|l| l.1).collect();
    let admin = insert_admin(app, org_id, &loc_ids, &role_ids, &hash, now).await?;
    let token = admin_token(app, org_id, admin, &meta).await?;

    // The staff, generated and written in batches: generation of the next batch overlaps the
    // write of the current one.
    let (tx_batches, rx_batches) = tokio::sync::mpsc::channel::<Batch>(2);
    let staff = Staff {
        org_id,
        locs: loc_ids,
        roles: role_ids.clone(),
        hash,
        now,
    };
    let generator = tokio::task::spawn_blocking(move || staff.generate(n, tx_batches));
    let write_started = Instant::now();
    write_batches(app, rx_batches, write_started).await?;
    let (expected, generate) = generator.await??;
    let timings = SeedTimings {
        generate,
        write: write_started.elapsed(),
        total: started.elapsed(),
    };
    Ok(Seeded {
        org_id,
        locations: locs,
        roles: role_ids,
        token,
        users: n,
        expected,
        timings,
    })
}

/// The organization with its clinics (name and id, in `LOCATIONS` order) and its predefined
/// roles by name; every role `STAFF` gives must be among them.
async fn organization(
    app: &App,
    meta: &Meta,
) -> Result<(Uuid, Vec<(String, Uuid)>, BTreeMap<String, Uuid>)> {
    let org = create_org(
        app,
        "p4-bench",
        "Riverside Therapy Group",
        "America/Chicago",
        meta,
    )
    .await
    .context("creating the organization")?;
    let operator = Principal::operator(app, org.id, "bench").await?;
    let mut locs = Vec::new();
    for (name, code) in LOCATIONS {
        let l = create_location(app, &operator, name, code, meta)
            .await
            .context("creating a location")?;
        locs.push((l.name, l.id));
    }
    let role_ids: BTreeMap<String, Uuid> = {
        let mut conn = app.db().read_conn().await?;
        roles::list(&mut conn, org.id)
            .await?
            .into_iter()
            .map(|r| (r.name, r.id))
            .collect()
    };
    for (_, _, role) in STAFF {
        if !role_ids.contains_key(*role) {
            bail!("predefined role {role} is missing");
        }
    }
    Ok((org.id, locs, role_ids))
}

/// The admin whose token the load generator uses: every permission, every clinic, Clinic
/// Admin. Answers the admin's id.
async fn insert_admin(
    app: &App,
    org_id: Uuid,
    loc_ids: &[Uuid],
    role_ids: &BTreeMap<String, Uuid>,
    hash: &str,
    now: i64,
) -> Result<Uuid> {
    let admin_email = Email::parse("owner@riverside-therapy.example")?;
    let admin = User {
        id: new_id(),
        org_id,
        email: admin_email.as_str().into(),
        email_key: admin_email.match_key().into(),
        username: Username::from_email(&admin_email).as_str().into(),
        first_name: "Morgan".into(),
        last_name: "Reed".into(),
        display_name: "Morgan Reed".into(),
        mobile: None,
        user_type: Some("administrator".into()),
        status: UserStatus::Active,
        default_location_id: Some(loc_ids[0]),
        source: "cli".into(),
        password_hash: Some(hash.to_string()),
        invite_expires_at: None,
        failed_sign_ins: 0,
        locked_until: None,
        created_at: now - 6 * 365 * DAY,
        created_by: None,
        activated_at: Some(now - 6 * 365 * DAY),
        deactivated_at: None,
        last_sign_in_at: None,
    };
    let mut tx = app.db().begin().await?;
    users::insert_many(&mut tx, std::slice::from_ref(&admin)).await?;
    roles::grant_direct(&mut tx, admin.id, &Permission::ALL).await?;
    locations::grant(&mut tx, admin.id, loc_ids).await?;
    roles::assign(&mut tx, admin.id, &[role_ids["Clinic Admin"]]).await?;
    tx.commit().await?;
    Ok(admin.id)
}

/// A `users:read` API token of the admin; answers its secret.
async fn admin_token(app: &App, org_id: Uuid, admin_id: Uuid, meta: &Meta) -> Result<String> {
    let principal = Principal::of_user(app, org_id, admin_id)
        .await?
        .context("the admin cannot act")?;
    let token = rollcall_app::identity::api_tokens::create(
        app,
        &principal,
        &rollcall_app::identity::api_tokens::NewToken {
            name: "p4 benchmark".into(),
            scopes: "users:read".into(),
            owner: "person".into(),
            expires_in_days: None,
        },
        meta,
    )
    .await
    .context("creating the API token")?;
    Ok(token.secret)
}

/// Writes each batch as it arrives, one transaction per batch, with a progress line every 10 s.
async fn write_batches(
    app: &App,
    mut batches: tokio::sync::mpsc::Receiver<Batch>,
    started: Instant,
) -> Result<()> {
    let rows = match app.db().engine() {
        Engine::Sqlite => SQLITE_ROWS,
        Engine::Postgres => POSTGRES_ROWS,
    };
    let mut written = 0usize;
    let mut last_report = Instant::now();
    while let Some(b) = batches.recv().await {
        let mut tx = app.db().begin().await?;
        write_batch(&mut tx, &b, rows).await?;
        tx.commit().await?;
        written += b.users.len();
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "  … {written} users written ({:.0} users/s)",
                written as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

#[derive(Default)]
struct Batch {
    users: Vec<User>,
    user_locations: Vec<(Uuid, Uuid)>,
    user_roles: Vec<(Uuid, Uuid)>,
    invitations: Vec<Invitation>,
}

/// The generator of the staff, with what every person shares.
struct Staff {
    org_id: Uuid,
    locs: Vec<Uuid>,
    roles: BTreeMap<String, Uuid>,
    /// The shared password hash of active accounts.
    hash: String,
    now: i64,
}

impl Staff {
    /// Generates `n` people in batches of `TX_USERS` and sends each batch to the writer.
    /// Answers the counts generated and the time spent generating (not waiting for the writer).
    fn generate(
        self,
        n: usize,
        batches: tokio::sync::mpsc::Sender<Batch>,
    ) -> Result<(Expected, Duration)> {
        let span = 5 * 365 * DAY;
        let first_created = self.now - span - DAY;
        let mut rng = Rng::new(0x5EED_0004);
        let mut expected = Expected::default();
        let mut spent = Duration::ZERO;
        let mut i = 0usize;
        while i < n {
            let t = Instant::now();
            let end = (i + TX_USERS).min(n);
            let mut b = Batch::default();
            for k in i..end {
                let created_at = first_created
                    + (span as i128 * k as i128 / n.max(1) as i128) as i64
                    + rng.below(60_000_000) as i64;
                self.person(&mut rng, &mut b, &mut expected, k, created_at)?;
            }
            spent += t.elapsed();
            if batches.blocking_send(b).is_err() {
                break;
            }
            i = end;
        }
        Ok((expected, spent))
    }

    /// Person `k`: the user, their invitation when pending, their clinics and roles. The
    /// generator is drawn from in a fixed order, so a given `n` always yields the same people.
    fn person(
        &self,
        rng: &mut Rng,
        b: &mut Batch,
        expected: &mut Expected,
        k: usize,
        created_at: i64,
    ) -> Result<()> {
        let (first, last, email) = address(rng, k)?;
        let (user_type, _, role) = *rng.weighted(STAFF, |s| s.1);
        let home = self.locs[*rng.weighted(&[0usize, 1, 2], |i| [50u32, 30, 20][*i])];
        let mut u = self.user(rng, (first, last), &email, user_type, home, created_at);
        let status = roll_status(rng);
        *expected.by_status.entry(status.as_str()).or_default() += 1;
        match status {
            UserStatus::Active
            | UserStatus::Inactive
            | UserStatus::Blocked
            | UserStatus::Disabled => {
                u.status = status;
                u.password_hash = Some(self.hash.clone());
                u.activated_at = Some(created_at + rng.below(3 * DAY as u64) as i64);
            }
            _ => {
                b.invitations.push(self.invite(&mut u, rng, status, k));
                expected.invitations += 1;
            }
        }
        for l in self.access(rng, home) {
            b.user_locations.push((u.id, l));
            expected.user_locations += 1;
        }
        b.user_roles.push((u.id, self.roles[role]));
        expected.user_roles += 1;
        if user_type == "administrator" && rng.below(3) == 0 {
            b.user_roles.push((u.id, self.roles["User Manager"]));
            expected.user_roles += 1;
        }
        b.users.push(u);
        Ok(())
    }

    /// The user row, still pending: `person` then activates or invites them.
    fn user(
        &self,
        rng: &mut Rng,
        (first, last): (&str, &str),
        email: &Email,
        user_type: &str,
        home: Uuid,
        created_at: i64,
    ) -> User {
        User {
            id: new_id(),
            org_id: self.org_id,
            email: email.as_str().into(),
            email_key: email.match_key().into(),
            username: Username::from_email(email).as_str().into(),
            first_name: first.into(),
            last_name: last.into(),
            display_name: format!("{first} {last}"),
            mobile: (rng.below(2) == 0).then(|| format!("+1312555{:04}", rng.below(10_000))),
            user_type: Some(user_type.into()),
            status: UserStatus::Pending,
            default_location_id: Some(home),
            source: ["import", "invite", "api", "import"][rng.below(4) as usize].into(),
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
    }

    /// The invitation of a pending user: live (`Pending`) or already expired (`Expired`, which
    /// is stored as pending with a past expiry).
    fn invite(&self, u: &mut User, rng: &mut Rng, status: UserStatus, k: usize) -> Invitation {
        u.status = UserStatus::Pending;
        let expires_at = if status == UserStatus::Pending {
            // A live (possibly re-sent) invitation.
            self.now + DAY + rng.below(13 * DAY as u64) as i64
        } else {
            (u.created_at + 7 * DAY).min(self.now - DAY)
        };
        u.invite_expires_at = Some(expires_at);
        let token_hash = format!(
            "{k:016x}{:016x}{:016x}{:016x}",
            rng.next(),
            rng.next(),
            rng.next()
        );
        Invitation::sent_a_week_before(self.org_id, u.id, token_hash, expires_at)
    }

    /// Access: mostly the home clinic, some two, a few every clinic.
    fn access(&self, rng: &mut Rng, home: Uuid) -> Vec<Uuid> {
        let locs = &self.locs;
        match rng.below(20) {
            0 => locs.to_vec(),
            1 | 2 => {
                let other =
                    locs[(locs.iter().position(|l| *l == home).unwrap_or(0) + 1) % locs.len()];
                vec![home, other]
            }
            _ => vec![home],
        }
    }
}

/// A name from the lists and an address made of it, unique by the sequence number `k`.
fn address(rng: &mut Rng, k: usize) -> Result<(&'static str, &'static str, Email)> {
    let first = *rng.pick(FIRST);
    let last = *rng.pick(LAST);
    let domain = rng.weighted(DOMAINS, |d| d.1).0;
    // Some people type their address with capitals; the match key is lower-case either way.
    let (f, l) = if rng.below(5) == 0 {
        (first.to_string(), last.to_string())
    } else {
        (first.to_lowercase(), last.to_lowercase())
    };
    // Unique by construction (the sequence number), in the shapes people's addresses take.
    let local = match rng.below(5) {
        0 | 1 => format!("{f}.{l}{k}"),
        2 => format!("{}{l}{k}", &f[..1]),
        3 => format!("{l}.{f}{k}"),
        _ => format!("{f}_{l}{k}"),
    };
    Ok((first, last, Email::parse(&format!("{local}@{domain}"))?))
}

/// 60 % active, 8 % pending, 10 % pending with an expired invitation, 12 % inactive,
/// 5 % each of the legacy blocked and disabled.
fn roll_status(rng: &mut Rng) -> UserStatus {
    match rng.below(100) {
        0..60 => UserStatus::Active,
        60..68 => UserStatus::Pending,
        68..78 => UserStatus::Expired,
        78..90 => UserStatus::Inactive,
        90..95 => UserStatus::Blocked,
        _ => UserStatus::Disabled,
    }
}

async fn write_batch(conn: &mut Conn, b: &Batch, rows: usize) -> Result<()> {
    for chunk in b.users.chunks(rows) {
        users::insert_many(conn, chunk).await?;
    }
    insert_pairs(
        conn,
        "user_locations (user_id, location_id)",
        &b.user_locations,
        rows * 5,
    )
    .await?;
    insert_pairs(
        conn,
        "user_roles (user_id, role_id)",
        &b.user_roles,
        rows * 5,
    )
    .await?;
    for chunk in b.invitations.chunks(rows) {
        invitations::insert_many(conn, chunk).await?;
    }
    Ok(())
}

async fn insert_pairs(
    conn: &mut Conn,
    table: &str,
    pairs: &[(Uuid, Uuid)],
    rows: usize,
) -> Result<()> {
    for chunk in pairs.chunks(rows) {
        let mut q = Sql::new(&format!("INSERT INTO {table} VALUES "));
        for (i, (a, b)) in chunk.iter().enumerate() {
            q.push(if i == 0 { "(" } else { ", (" })
                .bind(a.to_string())
                .push(", ")
                .bind(b.to_string())
                .push(")");
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
