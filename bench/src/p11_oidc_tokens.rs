//! P11: the OpenID Connect token endpoint (`POST /oauth/token`) on SQLite (or PostgreSQL with
//! `--database-url`), a confidential sign-in app authenticating with HTTP Basic:
//! - refresh-token grants: each connection chains its own refresh token (each use answers a new
//!   one and the old one is spent; presenting it again would revoke the sign-in), saturated
//!   (closed loop) and at a fixed rate of 1,000/s (open loop, latency from each request's
//!   scheduled start);
//! - authorization-code exchanges (PKCE S256): codes issued through the app layer just before
//!   the measurement (as `/oauth/authorize` issues them to a signed-in person), saturated.
//!
//! Baseline in the same run: a bare axum handler taking the same form and answering a JSON body
//! of the same size with a new refresh token, driven by the same client code.
//!   bench/run.sh p11 [--runs 3] [--seconds 5] [--rate 1000] [--connections 16]

mod harness;
#[allow(dead_code)]
mod loadgen;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use axum::Router;
use axum::routing::post;
use base64::Engine as _;
use clap::Parser;
use harness::ms;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, StatusCode};
use loadgen::{Closed, Conn, Faults, Open, Session};
use rollcall_app::App;
use rollcall_app::audit::{Meta, urlencode};
use rollcall_app::oidc::authorize::{self, AuthorizeRequest};
use rollcall_app::oidc::clients::{self, NewClient};
use rollcall_app::oidc::tokens;
use sha2::Digest as _;

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "a-long-and-random-verifier-of-more-than-43-characters";
const SCOPE: &str = "openid profile email rollcall offline_access";
const TARGET_RATE: f64 = 1_000.0;
const TARGET_P99: Duration = Duration::from_millis(10);

#[derive(Parser, Debug)]
#[command(about = "P11: the OpenID Connect token endpoint, against a bare axum handler")]
struct Args {
    /// PostgreSQL database to use instead of a temporary SQLite file (migrated, not dropped).
    #[arg(long)]
    database_url: Option<String>,
    /// Seconds per measurement (each closed-loop and each open-loop run).
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Seconds of warm-up before each closed-loop measurement.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// The fixed rate of the open-loop runs, requests per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Concurrent keep-alive connections (one refresh-token chain each).
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Measured runs; the figures are medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// What a token request presents.
enum Grant {
    /// The refresh token this connection's chain is at; a broken chain takes a spare.
    Refresh {
        token: String,
        spares: Arc<Mutex<Vec<String>>>,
    },
    /// Codes issued for this measurement, shared by every connection.
    Code { codes: Arc<Mutex<Vec<String>>> },
}

/// One connection of the load generator, posting token requests as the app would.
struct TokenSession {
    addr: SocketAddr,
    conn: Option<Conn>,
    basic: HeaderValue,
    grant: Grant,
    faults: Faults,
    /// Refresh chains broken (a non-200 or a lost answer), each replaced by a spare.
    broken: u64,
    /// Requests not sent because no code was left.
    no_code: u64,
}

impl TokenSession {
    fn new(addr: SocketAddr, basic: &HeaderValue, grant: Grant) -> TokenSession {
        TokenSession {
            addr,
            conn: None,
            basic: basic.clone(),
            grant,
            faults: Faults::default(),
            broken: 0,
            no_code: 0,
        }
    }

    async fn connect(&mut self) {
        if self.conn.is_none() {
            match Conn::open(self.addr).await {
                Ok(c) => self.conn = Some(c),
                Err(_) => {
                    self.faults.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    /// A refresh chain that cannot go on (its token is spent or unknown) takes a spare.
    fn break_chain(&mut self) {
        if let Grant::Refresh { token, spares } = &mut self.grant {
            self.broken += 1;
            if let Some(t) = spares.lock().expect("not poisoned").pop() {
                *token = t;
            }
        }
    }

    fn form(&mut self) -> Option<String> {
        match &self.grant {
            Grant::Refresh { token, .. } => Some(format!(
                "grant_type=refresh_token&refresh_token={}",
                urlencode(token)
            )),
            Grant::Code { codes } => {
                let code = codes.lock().expect("not poisoned").pop()?;
                Some(format!(
                    "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
                    urlencode(&code),
                    urlencode(REDIRECT),
                    VERIFIER
                ))
            }
        }
    }

    async fn request(&mut self) -> bool {
        self.connect().await;
        if self.conn.is_none() {
            return false;
        }
        let Some(form) = self.form() else {
            self.no_code += 1;
            tokio::time::sleep(Duration::from_millis(1)).await;
            return false;
        };
        let mut req = Request::new(Full::new(Bytes::from(form)));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = hyper::Uri::from_static("/oauth/token");
        let h = req.headers_mut();
        h.insert(AUTHORIZATION, self.basic.clone());
        h.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        );
        let conn = self.conn.as_mut().expect("connected");
        let sent = tokio::time::timeout(loadgen::REQUEST_TIMEOUT, conn.send(req)).await;
        match sent {
            Ok(Ok(r)) if r.status == StatusCode::OK => {
                match (&mut self.grant, refresh_token_in(&r.body)) {
                    (_, None) => {
                        self.faults.wrong_size += 1;
                        self.break_chain();
                    }
                    (Grant::Refresh { token, .. }, Some(next)) => *token = next,
                    (Grant::Code { .. }, Some(_)) => {}
                }
                true
            }
            Ok(Ok(_)) => {
                self.faults.non_200 += 1;
                self.break_chain();
                true
            }
            _ => {
                // The answer is lost: the token may have been spent.
                self.faults.errors += 1;
                self.conn = None;
                self.break_chain();
                false
            }
        }
    }
}

impl Session for TokenSession {
    fn once(&mut self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(self.request())
    }
    fn faults(&self) -> Faults {
        self.faults
    }
}

/// The `refresh_token` of a token answer (found, not parsed: the client's share of the CPU
/// stays small).
fn refresh_token_in(body: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    let start = s.find("\"refresh_token\":\"")? + "\"refresh_token\":\"".len();
    let len = s[start..].find('"')?;
    Some(s[start..start + len].to_string())
}

fn challenge() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER))
}

/// What the app needs to sign people in: the registered client and who signs in.
struct Rp {
    app: App,
    admin: rollcall_app::Principal,
    request: AuthorizeRequest,
    basic: HeaderValue,
}

impl Rp {
    /// A code for the admin, as `/oauth/authorize` issues it once they are signed in.
    async fn code(&self) -> Result<String> {
        let client = authorize::client_for(&self.app, &self.request).await?;
        authorize::approve(
            &self.app,
            &self.admin,
            &client,
            &self.request,
            &Meta::system("bench"),
        )
        .await
        .map_err(|e| anyhow!("authorize: {e}"))
    }

    /// `n` codes, issued by `tasks` concurrent sign-ins.
    async fn codes(self: &Arc<Self>, n: usize, tasks: usize) -> Result<Vec<String>> {
        let mut handles = Vec::new();
        for t in 0..tasks {
            let rp = self.clone();
            let share = n / tasks + usize::from(t < n % tasks);
            handles.push(tokio::spawn(async move {
                let mut out = Vec::with_capacity(share);
                for _ in 0..share {
                    out.push(rp.code().await?);
                }
                Ok::<_, anyhow::Error>(out)
            }));
        }
        let mut all = Vec::with_capacity(n);
        for h in handles {
            all.extend(h.await??);
        }
        Ok(all)
    }

    /// A fresh sign-in's refresh token (code issued and exchanged through the app layer).
    async fn refresh_token(&self) -> Result<String> {
        let code = self.code().await?;
        let client = authorize::client_for(&self.app, &self.request).await?;
        let set = tokens::exchange_code(&self.app, &client, &code, REDIRECT, VERIFIER)
            .await
            .map_err(|e| anyhow!("exchange: {e}"))?;
        set.refresh_token
            .context("the sign-in asked for offline_access, so it has a refresh token")
    }
}

/// The baseline: the same form taken, a JSON body of `len` bytes answered with a new refresh
/// token in it.
async fn serve_bare(len: usize) -> Result<SocketAddr> {
    let handler = move |axum::Form(form): axum::Form<std::collections::HashMap<String, String>>| async move {
        let token = format!(
            "{}{}",
            uuid::Uuid::now_v7().simple(),
            uuid::Uuid::now_v7().simple()
        );
        let mut body = serde_json::json!({
            "grant_type": form.get("grant_type"),
            "refresh_token": token,
            "token_type": "Bearer",
            "pad": "",
        })
        .to_string();
        let pad = len.saturating_sub(body.len());
        body = body.replacen(
            "\"pad\":\"\"",
            &format!("\"pad\":\"{}\"", "x".repeat(pad)),
            1,
        );
        (
            [
                (axum::http::header::CONTENT_TYPE, "application/json"),
                (axum::http::header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
    };
    let bare = Router::new().route("/oauth/token", post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, bare).await });
    Ok(addr)
}

/// One run's figures.
struct Run {
    refresh: Closed,
    refresh_open: Open,
    bare: Closed,
    bare_open: Open,
    code: Closed,
}

fn faults_note(f: &Faults) -> String {
    if f.total() == 0 {
        "no faults".into()
    } else {
        format!(
            "{} non-200, {} without a refresh token, {} errors",
            f.non_200, f.wrong_size, f.errors
        )
    }
}

async fn connect_all(sessions: &mut [TokenSession]) {
    for s in sessions.iter_mut() {
        s.connect().await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    harness::trace_from_env();
    let args = Args::parse();
    ensure!(
        args.runs > 0 && args.connections > 0 && args.seconds > 0.0 && args.rate > 0.0,
        "counts must be positive"
    );
    let (db, dir) = harness::database(args.database_url.as_deref()).await?;
    let s = harness::setup(db, dir, "p11").await?;
    let meta = Meta::system("bench");
    let created = clients::create(
        &s.app,
        &s.admin,
        &NewClient {
            name: "Scheduling".into(),
            redirect_uris: vec![REDIRECT.into()],
            post_logout_redirect_uris: vec![],
            confidential: true,
            scopes: ["profile", "email", "rollcall", "offline_access"]
                .map(String::from)
                .to_vec(),
        },
        &meta,
    )
    .await?;
    let secret = created.client_secret.context("a confidential client")?;
    let client_id = created.client.id.to_string();
    let basic = HeaderValue::from_str(&format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            urlencode(&client_id),
            urlencode(&secret)
        ))
    ))?;
    let rp = Arc::new(Rp {
        app: s.app.clone(),
        admin: s.admin.clone(),
        request: AuthorizeRequest {
            client_id,
            redirect_uri: REDIRECT.into(),
            response_type: "code".into(),
            scope: SCOPE.into(),
            state: Some("s1".into()),
            nonce: Some("n1".into()),
            code_challenge: Some(challenge()),
            code_challenge_method: Some("S256".into()),
            prompt: None,
        },
        basic: basic.clone(),
    });
    let addr = harness::serve(s.app.clone()).await?;

    // One token request by hand: the answer's size (the baseline answers as much) and that the
    // endpoint works.
    let mut conn = Conn::open(addr).await?;
    let code = rp.code().await?;
    let mut probe = TokenSession::new(
        addr,
        &rp.basic,
        Grant::Code {
            codes: Arc::new(Mutex::new(vec![code])),
        },
    );
    probe.conn = Some(Conn::open(addr).await?);
    ensure!(
        probe.request().await && probe.faults.total() == 0,
        "a code exchange failed: {:?}",
        probe.faults
    );
    let token = rp.refresh_token().await?;
    let mut req = Request::new(Full::new(Bytes::from(format!(
        "grant_type=refresh_token&refresh_token={token}"
    ))));
    *req.method_mut() = Method::POST;
    *req.uri_mut() = hyper::Uri::from_static("/oauth/token");
    req.headers_mut().insert(AUTHORIZATION, basic.clone());
    req.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let r = conn.send(req).await?;
    ensure!(
        r.status == StatusCode::OK,
        "a refresh failed: {} {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    let answer_len = r.body.len();
    let bare_addr = serve_bare(answer_len).await?;

    // One refresh chain per connection, and as many spares.
    let spares = Arc::new(Mutex::new(Vec::new()));
    let mut chains = Vec::new();
    for _ in 0..args.connections {
        chains.push(rp.refresh_token().await?);
        let spare = rp.refresh_token().await?;
        spares.lock().expect("not poisoned").push(spare);
    }
    let mut refresh: Vec<TokenSession> = chains
        .into_iter()
        .map(|token| {
            TokenSession::new(
                addr,
                &basic,
                Grant::Refresh {
                    token,
                    spares: spares.clone(),
                },
            )
        })
        .collect();
    let bare_spares = Arc::new(Mutex::new(vec!["bare".to_string(); args.connections]));
    let mut bare: Vec<TokenSession> = (0..args.connections)
        .map(|_| {
            TokenSession::new(
                bare_addr,
                &basic,
                Grant::Refresh {
                    token: "bare".into(),
                    spares: bare_spares.clone(),
                },
            )
        })
        .collect();

    let warmup = Duration::from_secs_f64(args.warmup);
    let window = Duration::from_secs_f64(args.seconds);
    println!(
        "P11 OpenID Connect token endpoint ({:?}): a confidential client (HTTP Basic), {} connections, {} s per measurement ({} s warm-up), {} runs; token answer {answer_len} bytes",
        s.app.db().engine(),
        args.connections,
        args.seconds,
        args.warmup,
        args.runs
    );
    let mut runs = Vec::new();
    let mut code_estimate = 0.0f64;
    for run in 0..args.runs {
        let (r_closed, back) = loadgen::closed_sessions(refresh, warmup, window).await;
        refresh = back;
        connect_all(&mut refresh).await;
        let (r_open, back) = loadgen::open_sessions(refresh, args.rate, window).await;
        refresh = back;
        let (b_closed, back) = loadgen::closed_sessions(bare, warmup, window).await;
        bare = back;
        connect_all(&mut bare).await;
        let (b_open, back) = loadgen::open_sessions(bare, args.rate, window).await;
        bare = back;

        // Codes live 60 s: issued for this measurement alone, more than it can use.
        let expected = code_estimate.max(r_closed.rps);
        let n = ((expected * (args.warmup + args.seconds) * 1.5) as usize).max(1_000);
        let issued = Instant::now();
        let codes = rp.codes(n, 4).await?;
        let issue_took = issued.elapsed();
        let pool = Arc::new(Mutex::new(codes));
        let code_sessions: Vec<TokenSession> = (0..args.connections)
            .map(|_| {
                TokenSession::new(
                    addr,
                    &basic,
                    Grant::Code {
                        codes: pool.clone(),
                    },
                )
            })
            .collect();
        let (c_closed, back) = loadgen::closed_sessions(code_sessions, warmup, window).await;
        let ran_out: u64 = back.iter().map(|s| s.no_code).sum();
        let left = pool.lock().expect("not poisoned").len();
        code_estimate = code_estimate.max(c_closed.rps);
        let broken: u64 = refresh.iter().map(|s| s.broken).sum();

        println!(
            "  run {}: refresh {:.0}/s saturated (p99 {}, mean {}; {}); at {:.0}/s achieved {:.0}/s p50 {} p99 {} max {} ({}); bare {:.0}/s (p99 {}), at {:.0}/s p99 {}",
            run + 1,
            r_closed.rps,
            ms(r_closed.p99),
            ms(r_closed.mean_latency),
            faults_note(&r_closed.faults),
            r_open.rate,
            r_open.achieved_rps,
            ms(r_open.p50),
            ms(r_open.p99),
            ms(r_open.max),
            faults_note(&r_open.faults),
            b_closed.rps,
            ms(b_closed.p99),
            b_open.rate,
            ms(b_open.p99),
        );
        println!(
            "  run {}: code exchange {:.0}/s saturated (p99 {}, mean {}; {}); {n} codes issued in {:.2} s through the app layer, {left} left{}; refresh chains broken so far: {broken}",
            run + 1,
            c_closed.rps,
            ms(c_closed.p99),
            ms(c_closed.mean_latency),
            faults_note(&c_closed.faults),
            issue_took.as_secs_f64(),
            if ran_out > 0 {
                format!(" (RAN OUT: {ran_out} requests not sent; the figure is a lower bound)")
            } else {
                String::new()
            }
        );
        runs.push(Run {
            refresh: r_closed,
            refresh_open: r_open,
            bare: b_closed,
            bare_open: b_open,
            code: c_closed,
        });
    }

    let med = |f: &dyn Fn(&Run) -> f64| -> f64 {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let secs = |d: Duration| d.as_secs_f64();
    let ms_of = |x: f64| ms(Duration::from_secs_f64(x));
    let refresh_rps = med(&|r| r.refresh.rps);
    let refresh_p99 = med(&|r| secs(r.refresh.p99));
    let open_p99 = med(&|r| secs(r.refresh_open.p99));
    let open_achieved = med(&|r| r.refresh_open.achieved_rps);
    let bare_rps = med(&|r| r.bare.rps);
    let bare_p99 = med(&|r| secs(r.bare.p99));
    let bare_open_p99 = med(&|r| secs(r.bare_open.p99));
    let code_rps = med(&|r| r.code.rps);
    let code_p99 = med(&|r| secs(r.code.p99));
    let met = refresh_rps >= TARGET_RATE && open_p99 <= secs(TARGET_P99);
    println!(
        "P11 refresh grants: median {refresh_rps:.0}/s saturated (p99 {}); at {:.0}/s achieved {open_achieved:.0}/s, p99 {}; bare axum {bare_rps:.0}/s (p99 {}), at {:.0}/s p99 {}; ratio {:.3} (target ≥ 1,000/s, p99 ≤ 10 ms: {})",
        ms_of(refresh_p99),
        args.rate,
        ms_of(open_p99),
        ms_of(bare_p99),
        args.rate,
        ms_of(bare_open_p99),
        refresh_rps / bare_rps,
        if met { "met" } else { "not met" }
    );
    println!(
        "P11 code exchanges: median {code_rps:.0}/s saturated (p99 {}); bare axum {bare_rps:.0}/s; ratio {:.3}",
        ms_of(code_p99),
        code_rps / bare_rps
    );
    println!(
        "| P11 | token endpoint, refresh grant ({:?}) | {refresh_rps:.0}/s saturated, p99 {}; at {:.0}/s p99 {} | bare axum {bare_rps:.0}/s, at {:.0}/s p99 {} | {:.3} | ≥ 1,000/s, p99 ≤ 10 ms |",
        s.app.db().engine(),
        ms_of(refresh_p99),
        args.rate,
        ms_of(open_p99),
        args.rate,
        ms_of(bare_open_p99),
        refresh_rps / bare_rps
    );
    println!(
        "| P11 | token endpoint, code exchange (PKCE) | {code_rps:.0}/s saturated, p99 {} | bare axum {bare_rps:.0}/s | {:.3} | — |",
        ms_of(code_p99),
        code_rps / bare_rps
    );
    Ok(())
}
