//! The figures `/metrics` shows, in the Prometheus text format (the `prometheus` crate writes
//! it). Counters move where things happen (requests, deliveries, job chunks, sign-in
//! failures); gauges of what the database holds (outbox backlog, jobs, pool use) are read when
//! the page is asked for, so every process of an installation shows the same backlog.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::{App, AppError};

struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_seconds: HistogramVec,
    deliveries: IntCounterVec,
    job_rows: IntCounterVec,
    sign_in_failures: IntCounterVec,
    sign_in_pauses: IntCounter,
    outbox_queued: IntGauge,
    outbox_oldest_seconds: IntGauge,
    jobs: IntGaugeVec,
    job_items_done: IntGaugeVec,
    db_connections: IntGaugeVec,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("metric");
    r.register(Box::new(c.clone())).expect("registered once");
    c
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("metric");
    r.register(Box::new(g.clone())).expect("registered once");
    g
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let r = Registry::new_custom(Some("rollcall".into()), None).expect("registry");
    let http_seconds = HistogramVec::new(
        HistogramOpts::new(
            "http_request_duration_seconds",
            "Time to answer a request, by route template",
        )
        .buckets(vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]),
        &["method", "route"],
    )
    .expect("metric");
    r.register(Box::new(http_seconds.clone()))
        .expect("registered once");
    let sign_in_pauses = IntCounter::new(
        "sign_in_pauses_total",
        "Sign-in pauses started by repeated failures for one address",
    )
    .expect("metric");
    r.register(Box::new(sign_in_pauses.clone()))
        .expect("registered once");
    let outbox_queued =
        IntGauge::new("outbox_queued", "Messages waiting to be sent").expect("metric");
    r.register(Box::new(outbox_queued.clone()))
        .expect("registered once");
    let outbox_oldest_seconds = IntGauge::new(
        "outbox_oldest_queued_age_seconds",
        "Age of the oldest message waiting to be sent (0 when none waits)",
    )
    .expect("metric");
    r.register(Box::new(outbox_oldest_seconds.clone()))
        .expect("registered once");
    Metrics {
        http_requests: counter(
            &r,
            "http_requests_total",
            "Requests answered, by route template and status",
            &["method", "route", "status"],
        ),
        http_seconds,
        deliveries: counter(
            &r,
            "deliveries_total",
            "Messages handed to the mail or SMS server, by outcome (sent, retrying, failed)",
            &["outcome"],
        ),
        job_rows: counter(
            &r,
            "job_rows_processed_total",
            "Items (users, rows) bulk jobs processed in this process, by job kind",
            &["kind"],
        ),
        sign_in_failures: counter(
            &r,
            "sign_in_failures_total",
            "Refused sign-ins, by reason (wrong: password or address; paused: during a pause)",
            &["reason"],
        ),
        sign_in_pauses,
        outbox_queued,
        outbox_oldest_seconds,
        jobs: gauge(
            &r,
            "jobs",
            "Bulk jobs in the database, by kind and state",
            &["kind", "state"],
        ),
        job_items_done: gauge(
            &r,
            "job_items_done",
            "Items the jobs in the database have done, by kind and state",
            &["kind", "state"],
        ),
        db_connections: gauge(
            &r,
            "db_connections",
            "Database connections of this process, by pool and state (idle, in_use)",
            &["pool", "state"],
        ),
        registry: r,
    }
});

/// One answered HTTP request; `route` is the matched route template, never the raw path.
pub fn http_request(method: &str, route: &str, status: u16, took: Duration) {
    let m = &*METRICS;
    m.http_requests
        .with_label_values(&[method, route, &status.to_string()])
        .inc();
    m.http_seconds
        .with_label_values(&[method, route])
        .observe(took.as_secs_f64());
}

pub(crate) fn deliveries(sent: usize, retrying: usize, failed: usize) {
    let m = &*METRICS;
    for (outcome, n) in [("sent", sent), ("retrying", retrying), ("failed", failed)] {
        m.deliveries.with_label_values(&[outcome]).inc_by(n as u64);
    }
}

pub(crate) fn job_rows(kind: &str, rows: i64) {
    METRICS
        .job_rows
        .with_label_values(&[kind])
        .inc_by(rows.max(0) as u64);
}

pub(crate) fn sign_in_failed(paused: bool) {
    let reason = if paused { "paused" } else { "wrong" };
    METRICS.sign_in_failures.with_label_values(&[reason]).inc();
}

pub(crate) fn sign_in_pause_started() {
    METRICS.sign_in_pauses.inc();
}

/// Reads the gauges from the database, then writes every metric in the text format.
pub async fn render(app: &App) -> Result<String, AppError> {
    let m = &*METRICS;
    let mut conn = app.db.read_conn().await?;
    let (queued, oldest) = rollcall_store::ops::outbox_backlog(&mut conn).await?;
    let jobs = rollcall_store::ops::jobs_by_kind_and_state(&mut conn).await?;
    drop(conn);
    m.outbox_queued.set(queued);
    let age = oldest.map_or(0, |at| (app.clock.now() - at).max(0) / 1_000_000);
    m.outbox_oldest_seconds.set(age);
    m.jobs.reset();
    m.job_items_done.reset();
    for (kind, state, count, done) in jobs {
        m.jobs.with_label_values(&[&kind, &state]).set(count);
        m.job_items_done
            .with_label_values(&[&kind, &state])
            .set(done);
    }
    for (pool, open, idle) in rollcall_store::ops::pool_use(&app.db) {
        let idle = idle.min(open);
        m.db_connections
            .with_label_values(&[pool, "idle"])
            .set(idle.into());
        m.db_connections
            .with_label_values(&[pool, "in_use"])
            .set((open - idle).into());
    }
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&m.registry.gather(), &mut out)
        .map_err(|e| AppError::Internal(format!("cannot write the metrics: {e}")))?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}
