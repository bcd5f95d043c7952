//! P5: a paste of 5,000 addresses (2 % invalid, 2 % repeated): parse + validate + commit time,
//! and the live count's latency. Baselines in the same run: writing the same user rows with a
//! bare multi-row INSERT; a bare axum handler taking the same request body.

mod harness;

use std::time::{Duration, Instant};

use anyhow::Result;
use axum::Router;
use axum::routing::post;
use harness::{median, ms, percentile};
use rollcall_app::App;
use rollcall_app::audit::Meta;
use rollcall_app::identity::auth::SignInStep;

const ADDRESSES: usize = 5_000;
const RUNS: usize = 5;

fn paste_text(run: usize) -> (String, usize) {
    let mut lines = Vec::with_capacity(ADDRESSES);
    let invalid = ADDRESSES / 50;
    let repeated = ADDRESSES / 50;
    let unique = ADDRESSES - invalid - repeated;
    for i in 0..unique {
        lines.push(if i % 10 == 0 {
            format!("Staff Member{i} <staff{run}.{i}@clinic.example>")
        } else {
            format!("staff{run}.{i}@clinic.example")
        });
    }
    for i in 0..invalid {
        lines.push(format!("not-an-address-{i}"));
    }
    for i in 0..repeated {
        lines.push(format!("STAFF{run}.{}@Clinic.example", i * 7));
    }
    // Mixed separators, as people paste them.
    let seps = ["\n", ", ", "; ", " "];
    let text = lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{l}{}", seps[i % 4]))
        .collect::<String>();
    (text, unique)
}

#[tokio::main]
async fn main() -> Result<()> {
    let url = std::env::args()
        .skip_while(|a| a != "--database-url")
        .nth(1);
    let (db, dir) = harness::database(url.as_deref()).await?;
    let base = harness::setup(db, dir, "p5-setup").await?;
    let app = base.app.clone();
    println!(
        "P5 paste invite: {ADDRESSES} addresses (2 % invalid, 2 % repeated), {RUNS} runs, database {:?}",
        app.db().engine()
    );

    let mut commit = Vec::new();
    let mut bare = Vec::new();
    for run in 0..RUNS {
        let (took, bare_took) = commit_run(&app, run).await?;
        commit.push(took);
        bare.push(bare_took);
    }
    let (c, b) = (median(&commit), median(&bare));
    println!(
        "P5 commit: median {} for {ADDRESSES} addresses (runs: {}); bare INSERT of the same {} user rows {}; ratio {:.1}× (target ≤ 1 s)",
        ms(c),
        commit.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", "),
        ADDRESSES - ADDRESSES / 25,
        ms(b),
        c.as_secs_f64() / b.as_secs_f64()
    );

    let (live, bare_live, text_len) = live_counts(&app).await?;
    println!(
        "P5 live count: median {} p99 {} for {} KB of pasted text; bare axum handler taking the same body median {} (target ≤ 50 ms)",
        ms(median(&live)),
        ms(percentile(&live, 0.99)),
        text_len / 1024,
        ms(median(&bare_live))
    );
    println!(
        "| P5 | paste invite, 5,000 addresses | commit {} · live count {} (p99 {}) | bare INSERT {} · bare axum {} | {:.1}× · {:.1}× | ≤ 1 s · ≤ 50 ms |",
        ms(c),
        ms(median(&live)),
        ms(percentile(&live, 0.99)),
        ms(b),
        ms(median(&bare_live)),
        c.as_secs_f64() / b.as_secs_f64(),
        median(&live).as_secs_f64() / median(&bare_live).as_secs_f64()
    );
    Ok(())
}

/// One run, in a fresh organization so that every address is new: the paste invite's time,
/// and the baseline's.
async fn commit_run(app: &App, run: usize) -> Result<(Duration, Duration)> {
    let s = harness::org(app, &format!("p5-run{run}")).await?;
    let (text, unique) = paste_text(run);
    let (took, result) = harness::time(rollcall_app::onboarding::invite::paste_invite(
        app,
        &s.admin,
        &text,
        Some(s.location_id),
        s.role_id,
        None,
        &Meta::system("bench"),
    ))
    .await;
    let result = result?;
    assert_eq!(
        result.invited.len(),
        unique,
        "every unique valid address invited"
    );
    assert_eq!(result.not_invited.len(), ADDRESSES - unique);
    Ok((took, bare_insert(app, &s, run, unique).await?))
}

/// Baseline: the same number of user rows, copies of one the paste invite wrote, through one
/// bare multi-row INSERT.
async fn bare_insert(app: &App, s: &harness::Setup, run: usize, unique: usize) -> Result<Duration> {
    let rows: Vec<_> = {
        let mut conn = app.db().read_conn().await?;
        let page = rollcall_app::testing::store::users::list(
            &mut conn,
            app.db().engine(),
            &rollcall_app::testing::store::users::ListQuery {
                org_id: s.org_id,
                limit: 500,
                now: 0,
                ..Default::default()
            },
        )
        .await?;
        page.rows.into_iter().map(|r| r.user).collect()
    };
    let template = rows.into_iter().next().expect("a user");
    let copies: Vec<_> = (0..unique)
        .map(|i| rollcall_app::testing::store::users::User {
            id: uuid::Uuid::now_v7(),
            email: format!("bare{run}.{i}@clinic.example"),
            email_key: format!("bare{run}.{i}@clinic.example"),
            username: format!("bare{run}.{i}"),
            ..template.clone()
        })
        .collect();
    let start = Instant::now();
    let mut tx = app.db().begin().await?;
    rollcall_app::testing::store::users::insert_many(&mut tx, &copies).await?;
    tx.commit().await?;
    Ok(start.elapsed())
}

/// The live count over HTTP with a signed-in session, 60 times, then a bare axum handler taking
/// the same body 60 times. Answers both samples and the pasted text's length.
async fn live_counts(app: &App) -> Result<(Vec<Duration>, Vec<Duration>, usize)> {
    let addr = harness::serve(app.clone()).await?;
    let SignInStep::Done(signed) = rollcall_app::identity::auth::sign_in(
        app,
        "p5-setup",
        "admin@p5-setup.example",
        harness::PASSWORD,
        None,
    )
    .await?
    else {
        anyhow::bail!("no second factor expected")
    };
    let client = reqwest::Client::new();
    let cookie = format!("rc_session={}", signed.token);
    let (text, unique) = paste_text(99);
    let count_url = format!("http://{addr}/users/invite/count");
    let (_, body) = post_count(&client, &count_url, &cookie, &text).await?;
    assert!(
        body.contains(&format!(">{unique}<")),
        "the count is right: {body}"
    );
    let mut live = Vec::new();
    for _ in 0..60 {
        live.push(post_count(&client, &count_url, &cookie, &text).await?.0);
    }
    let bare_app = Router::new().route(
        "/count",
        post(|body: String| async move { format!("{}", body.len()) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let bare_url = format!("http://{}/count", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, bare_app).await });
    let mut bare_live = Vec::new();
    for _ in 0..60 {
        bare_live.push(post_count(&client, &bare_url, &cookie, &text).await?.0);
    }
    Ok((live, bare_live, text.len()))
}

/// Posts the pasted text as the invite page does; answers how long the answer took, and it.
async fn post_count(
    client: &reqwest::Client,
    url: &str,
    cookie: &str,
    text: &str,
) -> Result<(Duration, String)> {
    let start = Instant::now();
    let r = client
        .post(url)
        .header("cookie", cookie)
        .form(&[("addresses", text)])
        .send()
        .await?;
    let body = r.text().await?;
    Ok((start.elapsed(), body))
}
