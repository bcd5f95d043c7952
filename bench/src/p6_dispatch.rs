//! P6 — invitation dispatch to a local SMTP server (SPEC §10: ≥ 1,000 messages/s; 10k
//! invitations drained in ≤ 10 s).
//!
//! In one run, against one SMTP server (mailin-embedded, in this process, over TCP on
//! 127.0.0.1):
//! - baseline: a minimal SMTP client (no library: MAIL, RCPT, DATA, the message in one write,
//!   TCP_NODELAY) over as many connections as the dispatcher's pool sends the same messages;
//! - P6: N invitation messages queued in the outbox (with their users and invitations) and
//!   drained by the dispatcher's claim-send-record loop with the SMTP sender Rollcall uses
//!   (its own pool of TCP_NODELAY connections);
//! - the Nagle stall: the same dispatcher with lettre's own transport and pool, whose sockets
//!   keep Nagle's algorithm on (fewer messages: it is slow);
//! - two dispatchers sharing the outbox in this process, and (on PostgreSQL) one against two
//!   dispatcher processes — this program started again, each with its own database and SMTP
//!   pools — draining one outbox, checked exactly once.
//!
//! SQLite in a temporary directory by default, or a database of its own on the PostgreSQL
//! server named by `--database-url`. Prints one line per figure and a Markdown table row.

mod bench_store;
mod smtp_dispatch;

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use bench_store::{Store, cores, engine_name, machine_note, thousands};
use clap::Parser;
use rollcall_app::audit::Meta;
use rollcall_app::config::SmtpConfig;
use rollcall_app::delivery::{Dispatcher, DrainReport, MailboxSender, SmtpSender, SmtpStrategy};
use rollcall_app::testing::store::orgs::Organization;
use rollcall_app::testing::store::{Db, Engine, migrate, new_id};
use rollcall_app::{App, Clock, Config};
use smtp_dispatch::{
    FROM, check_drained, compose, dispatch_run, drain_through, queue_invitations, smtp_config,
    start_smtp_server,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const TARGET_RATE: f64 = 1_000.0;
const TARGET_DRAIN: Duration = Duration::from_secs(10);

#[derive(Parser, Debug)]
#[command(about = "P6: invitation dispatch to a local SMTP server, against a minimal SMTP client")]
struct Args {
    /// PostgreSQL server to use instead of a temporary SQLite file, e.g.
    /// postgres://postgres@127.0.0.1:5432/postgres. The benchmark creates (and afterwards drops)
    /// a database of its own there, named by --pg-database.
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value = "rollcall_bench_p6")]
    pg_database: String,
    /// Invitation messages drained per measurement.
    #[arg(long, default_value_t = 10_000)]
    messages: usize,
    /// SMTP connections (the dispatcher's pool size, and the baseline client's connections).
    #[arg(long, default_value_t = 8)]
    connections: u32,
    /// Messages sent through lettre's own pool (Nagle on) to show the stall.
    #[arg(long, default_value_t = 400)]
    stall_messages: usize,
    /// Measure the baseline and the dispatcher this many times each and report the medians.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Internal: run as one dispatcher process of the processes measurement, on this database.
    #[arg(long, hide = true)]
    drain_process: Option<String>,
    /// Internal: the SMTP server's port, for --drain-process.
    #[arg(long, hide = true)]
    smtp_port: Option<u16>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(
        args.messages > 0 && args.connections > 0 && args.repeat > 0,
        "counts must be positive"
    );
    ensure!(
        args.pg_database
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "--pg-database: lower-case letters, digits and underscores only"
    );
    let cores = cores();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores)
        .enable_all()
        .build()?;
    if let (Some(url), Some(port)) = (&args.drain_process, args.smtp_port) {
        return rt.block_on(drain_process(url, port, args.connections));
    }
    println!("P6 machine: {}", machine_note(cores));
    let store = rt.block_on(Store::create(
        "p6",
        args.database_url.as_deref(),
        &args.pg_database,
    ))?;
    let result = rt.block_on(run(&args, &store));
    rt.block_on(store.dispose(false))?;
    let report = result?;
    println!();
    println!("{report}");
    Ok(())
}

async fn run(args: &Args, store: &Store) -> Result<String> {
    let engine_name = engine_name(store.engine);
    // Every connection of every phase may be open at once (pools keep theirs until closed).
    let (port, accepted) = start_smtp_server(args.connections * 6 + 8)?;
    let db = Db::connect(&store.url).await?;
    migrate(&db).await?;
    let app = App::with_db(db, Config::for_tests(store.url.clone()), Clock::system());
    let org = rollcall_app::org::create_org(
        &app,
        "p6-bench",
        "P6 Therapy",
        "America/Chicago",
        &Meta::system("bench"),
    )
    .await?;
    let smtp = smtp_config(port, args.connections);
    println!(
        "P6 setup: {engine_name}; SMTP server mailin-embedded on 127.0.0.1:{port}; {} connections; {} messages per run",
        args.connections, args.messages
    );
    let baseline = baseline(args, port, &accepted).await?;
    let bench = Dispatching {
        args,
        app: &app,
        org: &org,
        smtp: &smtp,
        accepted: &accepted,
    };
    let drain_took = bench.dispatch().await?;
    let stall_rate = bench.nagle_stall().await?;
    let shared_took = bench.two_dispatchers(&store.url).await?;
    let shared_rate = args.messages as f64 / shared_took.as_secs_f64();
    println!(
        "P6 two dispatchers sharing the outbox: {} invitations drained in {:.2} s = {:.0} messages/s ({:.2}× one dispatcher in this run)",
        args.messages,
        shared_took.as_secs_f64(),
        shared_rate,
        drain_took.as_secs_f64() / shared_took.as_secs_f64()
    );
    if store.engine == Engine::Postgres {
        bench.processes(&store.url, port).await?;
    } else {
        println!("P6 dispatcher processes: not measured (one process per SQLite file)");
    }
    Ok(result(args, engine_name, baseline, drain_took, stall_rate))
}

/// The baseline: the same messages through a minimal SMTP client, `--repeat` times. Answers
/// the median rate (messages/s).
async fn baseline(args: &Args, port: u16, accepted: &AtomicU64) -> Result<f64> {
    let payloads = Arc::new(
        (0..args.messages)
            .map(|i| {
                let (subject, text, html) = compose(i, &format!("{i:064x}"));
                raw_message(&format!("staff{i}@p6.example"), &subject, &text, &html)
            })
            .collect::<Vec<_>>(),
    );
    let mut baseline_rates = Vec::new();
    for run in 0..args.repeat {
        let before = accepted.load(Ordering::Relaxed);
        let started = Instant::now();
        raw_send(port, args.connections as usize, payloads.clone()).await?;
        let took = started.elapsed();
        let got = accepted.load(Ordering::Relaxed) - before;
        ensure!(
            got == args.messages as u64,
            "the server accepted {got} of {} messages",
            args.messages
        );
        let rate = args.messages as f64 / took.as_secs_f64();
        println!(
            "P6 baseline run {}: minimal SMTP client, {} connections, TCP_NODELAY: {} messages in {:.2} s = {:.0} messages/s",
            run + 1,
            args.connections,
            args.messages,
            took.as_secs_f64(),
            rate
        );
        baseline_rates.push(rate);
    }
    Ok(median(&mut baseline_rates))
}

/// The dispatcher's runs against the SMTP server, with what they share.
struct Dispatching<'a> {
    args: &'a Args,
    app: &'a App,
    org: &'a Organization,
    smtp: &'a SmtpConfig,
    accepted: &'a AtomicU64,
}

impl Dispatching<'_> {
    /// P6: the dispatcher with Rollcall's SMTP sender, `--repeat` times. Answers the median
    /// drain time.
    async fn dispatch(&self) -> Result<Duration> {
        let args = self.args;
        let mut drains = Vec::new();
        for run in 0..args.repeat {
            let (queue_took, took) = dispatch_run(
                self.app,
                self.org,
                self.smtp,
                self.accepted,
                run * args.messages,
                args.messages,
                "P6",
            )
            .await?;
            let rate = args.messages as f64 / took.as_secs_f64();
            println!(
                "P6 dispatch run {}: {} invitations (queued with their users and invitations in {:.2} s) drained in {:.2} s = {:.0} messages/s \
                 (Rollcall's SMTP pool, {} connections, TCP_NODELAY)",
                run + 1,
                args.messages,
                queue_took.as_secs_f64(),
                took.as_secs_f64(),
                rate,
                args.connections
            );
            drains.push(took);
        }
        drains.sort();
        Ok(drains[drains.len() / 2])
    }

    /// The Nagle stall: lettre's own transport, on fewer messages. Answers its rate, unless
    /// `--stall-messages` is 0.
    async fn nagle_stall(&self) -> Result<Option<f64>> {
        let args = self.args;
        if args.stall_messages == 0 {
            return Ok(None);
        }
        // The users after those of the dispatch runs.
        let from = args.repeat * args.messages;
        queue_invitations(self.app, self.org, from, args.stall_messages, "P6").await?;
        let took = self
            .drain(SmtpStrategy::LettrePool, args.stall_messages)
            .await?;
        let stall = args.stall_messages as f64 / took.as_secs_f64();
        println!(
            "P6 without the fix: lettre's AsyncSmtpTransport pool (Nagle on), {} connections: {} messages in {:.2} s = {:.0} messages/s \
             ({:.1} per connection)",
            args.connections,
            args.stall_messages,
            took.as_secs_f64(),
            stall,
            stall / args.connections as f64
        );
        Ok(Some(stall))
    }

    /// Two dispatchers, each with its own database pool and SMTP pool (as two processes have),
    /// draining one outbox together, `--repeat` times. Answers the median drain time.
    async fn two_dispatchers(&self, url: &str) -> Result<Duration> {
        let args = self.args;
        let other = App::with_db(
            Db::connect(url).await?,
            Config::for_tests(url.to_string()),
            Clock::system(),
        );
        let mut drains = Vec::new();
        for run in 0..args.repeat {
            // The users after those of the dispatch runs and the stall.
            let from = (args.repeat + run) * args.messages + args.stall_messages;
            queue_invitations(self.app, self.org, from, args.messages, "P6").await?;
            let before = self.accepted.load(Ordering::Relaxed);
            let dispatcher = |app: &App| -> Result<(Arc<SmtpSender>, Dispatcher)> {
                let sender = Arc::new(SmtpSender::new(self.smtp).map_err(anyhow::Error::msg)?);
                let mailbox = Arc::new(MailboxSender::new(app.db().clone(), app.clock.clone()));
                Ok((
                    sender.clone(),
                    Dispatcher::with_senders(app.clone(), sender, mailbox),
                ))
            };
            let (first_sender, first) = dispatcher(self.app)?;
            let (second_sender, second) = dispatcher(&other)?;
            let started = Instant::now();
            let (a, b) = tokio::join!(first.drain(), second.drain());
            let took = started.elapsed();
            let (a, b) = (a?, b?);
            first_sender.close().await;
            second_sender.close().await;
            let got = self.accepted.load(Ordering::Relaxed) - before;
            let mut both = a;
            both.sent += b.sent;
            check_drained(self.app, &both, got, args.messages).await?;
            println!(
                "P6 two dispatchers run {}: {} invitations drained in {:.2} s = {:.0} messages/s ({} and {} sent)",
                run + 1,
                args.messages,
                took.as_secs_f64(),
                args.messages as f64 / took.as_secs_f64(),
                a.sent,
                b.sent
            );
            drains.push(took);
        }
        other.db().close().await;
        drains.sort();
        Ok(drains[drains.len() / 2])
    }

    /// One against two dispatcher processes on one outbox, `--repeat` times each, in turns.
    /// Prints the medians.
    async fn processes(&self, url: &str, port: u16) -> Result<()> {
        let args = self.args;
        // The users after those of the dispatch runs, the stall and the two dispatchers.
        let mut from = 2 * args.repeat * args.messages + args.stall_messages;
        let (mut one, mut two) = (Vec::new(), Vec::new());
        for _ in 0..args.repeat {
            for (n, drains) in [(1, &mut one), (2, &mut two)] {
                queue_invitations(self.app, self.org, from, args.messages, "P6").await?;
                from += args.messages;
                drains.push(self.drain_in_processes(url, port, n).await?);
            }
        }
        let (one, two) = (median_duration(&mut one), median_duration(&mut two));
        let rate = |took: Duration| args.messages as f64 / took.as_secs_f64();
        println!(
            "P6 dispatcher processes sharing the outbox: one process {:.0} messages/s ({:.2} s), two processes {:.0} messages/s ({:.2} s) = {:.2}× one (medians of {}, same run; every message accepted once, none left queued)",
            rate(one),
            one.as_secs_f64(),
            rate(two),
            two.as_secs_f64(),
            one.as_secs_f64() / two.as_secs_f64(),
            args.repeat
        );
        Ok(())
    }

    /// `n` dispatcher processes (this program, `--drain-process`) draining the queued
    /// messages together, timed from the moment all are connected and told to go. Checks that
    /// the server accepted each message once and none is left queued.
    async fn drain_in_processes(&self, url: &str, port: u16, n: usize) -> Result<Duration> {
        let args = self.args;
        let before = self.accepted.load(Ordering::Relaxed);
        let mut children = (0..n)
            .map(|_| DrainProcess::start(url, port, args.connections))
            .collect::<Result<Vec<_>>>()?;
        let started = Instant::now();
        for child in &mut children {
            child.go()?;
        }
        let mut sent = Vec::new();
        for child in children {
            sent.push(child.finish()?);
        }
        let took = started.elapsed();
        let got = self.accepted.load(Ordering::Relaxed) - before;
        let report = DrainReport {
            sent: sent.iter().sum(),
            ..DrainReport::default()
        };
        check_drained(self.app, &report, got, args.messages).await?;
        let processes = if n == 1 { "process" } else { "processes" };
        println!(
            "P6 {n} dispatcher {processes}: {} invitations drained in {:.2} s = {:.0} messages/s (sent {sent:?})",
            args.messages,
            took.as_secs_f64(),
            args.messages as f64 / took.as_secs_f64(),
        );
        Ok(took)
    }

    async fn drain(&self, strategy: SmtpStrategy, messages: usize) -> Result<Duration> {
        drain_through(self.app, self.smtp, strategy, self.accepted, messages).await
    }
}

/// One dispatcher process of the processes measurement, started and waiting for "go".
struct DrainProcess {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl DrainProcess {
    /// Starts this program with `--drain-process` and waits until it is connected.
    fn start(url: &str, port: u16, connections: u32) -> Result<DrainProcess> {
        let mut child = std::process::Command::new(std::env::current_exe()?)
            .args(["--drain-process", url, "--smtp-port", &port.to_string()])
            .args(["--connections", &connections.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().context("the process's output")?;
        let mut process = DrainProcess {
            child,
            lines: std::io::BufRead::lines(std::io::BufReader::new(stdout)),
        };
        ensure!(
            process.next_line()? == "ready",
            "the dispatcher process did not start"
        );
        Ok(process)
    }

    fn go(&mut self) -> Result<()> {
        let stdin = self.child.stdin.as_mut().context("the process's input")?;
        stdin.write_all(b"go\n")?;
        Ok(stdin.flush()?)
    }

    /// Waits for the process to drain and exit; answers how many messages it sent.
    fn finish(mut self) -> Result<usize> {
        let line = self.next_line()?;
        let status = self.child.wait()?;
        ensure!(status.success(), "the dispatcher process failed: {status}");
        let sent = line.strip_prefix("sent ").context("the process's report")?;
        Ok(sent.parse()?)
    }

    fn next_line(&mut self) -> Result<String> {
        Ok(self.lines.next().context("the process ended early")??)
    }
}

/// `--drain-process`: connects to `url`, says "ready", drains the outbox through its own SMTP
/// pool once told "go" on its input, and says "sent N".
async fn drain_process(url: &str, port: u16, connections: u32) -> Result<()> {
    let db = Db::connect(url).await?;
    let app = App::with_db(db, Config::for_tests(url.to_string()), Clock::system());
    let sender =
        Arc::new(SmtpSender::new(&smtp_config(port, connections)).map_err(anyhow::Error::msg)?);
    let mailbox = Arc::new(MailboxSender::new(app.db().clone(), app.clock.clone()));
    let dispatcher = Dispatcher::with_senders(app.clone(), sender.clone(), mailbox);
    println!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go)?;
    let report = dispatcher.drain().await?;
    sender.close().await;
    println!("sent {}", report.sent);
    app.db().close().await;
    Ok(())
}

fn median_duration(values: &mut [Duration]) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// Prints the result line and answers the Markdown table.
fn result(
    args: &Args,
    engine_name: &str,
    baseline: f64,
    drain_took: Duration,
    stall_rate: Option<f64>,
) -> String {
    let rate = args.messages as f64 / drain_took.as_secs_f64();
    println!(
        "P6 result: {} invitations drained in {:.2} s = {:.0} messages/s; baseline {:.0} messages/s (dispatch at {:.2}× the baseline){}",
        args.messages,
        drain_took.as_secs_f64(),
        rate,
        baseline,
        rate / baseline,
        stall_rate
            .map(|s| format!("; TCP_NODELAY fix {:.0}× lettre's pool", rate / s))
            .unwrap_or_default()
    );
    let pass = rate >= TARGET_RATE && drain_took <= TARGET_DRAIN;
    let mut table = String::new();
    table.push_str(
        "| id | what | result | baseline (same run) | ratio | without the TCP_NODELAY fix | target | met |\n",
    );
    table.push_str("|---|---|---|---|---|---|---|---|\n");
    table.push_str(&format!(
        "| P6 | {} invitations drained to a local SMTP server ({engine_name}, {} connections) | {:.0} msg/s, {:.2} s | minimal SMTP client: {:.0} msg/s | {:.2} | {} | ≥ 1,000 msg/s; 10k ≤ 10 s | {} |",
        thousands(args.messages as u64),
        args.connections,
        rate,
        drain_took.as_secs_f64(),
        baseline,
        rate / baseline,
        stall_rate
            .map(|s| format!("{s:.0} msg/s (lettre pool, Nagle)"))
            .unwrap_or_else(|| "not measured".into()),
        if pass { "yes" } else { "no" }
    ));
    table
}

/// The same message as the dispatcher sends, written out by hand, with the end-of-data marker.
fn raw_message(to: &str, subject: &str, text: &str, html: &str) -> Vec<u8> {
    let boundary = "p6-boundary-0123456789";
    let mut m = Vec::with_capacity(4096);
    write!(
        m,
        "From: P6 Therapy <{FROM}>\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{}@p6.example>\r\n\
         Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{text}\r\n\
         --{boundary}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n{html}\r\n\
         --{boundary}--\r\n.\r\n",
        new_id()
    )
    .expect("writing to a Vec");
    m
}

/// Sends every payload over `connections` connections, each taking the next unsent one.
async fn raw_send(port: u16, connections: usize, payloads: Arc<Vec<Vec<u8>>>) -> Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (payloads, next) = (payloads.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let stream = TcpStream::connect(("127.0.0.1", port)).await?;
            stream.set_nodelay(true)?;
            let (read, mut write) = stream.into_split();
            let mut read = BufReader::new(read);
            let mut line = String::new();
            expect(&mut read, &mut line, "220").await?;
            write.write_all(b"EHLO client.p6.example\r\n").await?;
            expect(&mut read, &mut line, "250").await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(payload) = payloads.get(i) else {
                    break;
                };
                write
                    .write_all(format!("MAIL FROM:<{FROM}>\r\n").as_bytes())
                    .await?;
                expect(&mut read, &mut line, "250").await?;
                write
                    .write_all(format!("RCPT TO:<staff{i}@p6.example>\r\n").as_bytes())
                    .await?;
                expect(&mut read, &mut line, "250").await?;
                write.write_all(b"DATA\r\n").await?;
                expect(&mut read, &mut line, "354").await?;
                write.write_all(payload).await?;
                expect(&mut read, &mut line, "250").await?;
            }
            write.write_all(b"QUIT\r\n").await?;
            expect(&mut read, &mut line, "221").await?;
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect<R: tokio::io::AsyncBufRead + Unpin>(
    read: &mut R,
    line: &mut String,
    code: &str,
) -> Result<()> {
    loop {
        line.clear();
        if read.read_line(line).await? == 0 {
            bail!("the SMTP server closed the connection");
        }
        if !line.starts_with(code) {
            bail!("expected {code}, got {}", line.trim_end());
        }
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(());
        }
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}
