//! An HTTP/1.1 load generator for loopback servers: keep-alive connections driven by raw hyper
//! (the lightest client there is, so that the client's share of the CPU stays small), a
//! closed loop for saturation throughput, and an open loop at a fixed rate whose latencies are
//! taken from each request's scheduled start (no coordinated omission). Both drive any
//! [`Session`]: a repeated GET ([`Target`]), or a benchmark's own requests (a chain of refresh
//! tokens, say).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::header::{AUTHORIZATION, HOST, HeaderValue};
use hyper::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Longest a single request may take before it counts as an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// One GET, repeated.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub uri: Uri,
    pub auth: Option<HeaderValue>,
    /// Body length every response must have (the data does not change during a run).
    pub expected_len: Option<usize>,
}

impl Target {
    pub fn new(addr: SocketAddr, path_and_query: &str, bearer: Option<&str>) -> Result<Target> {
        Ok(Target {
            addr,
            uri: path_and_query.parse().context("request path")?,
            auth: bearer
                .map(|t| HeaderValue::from_str(&format!("Bearer {t}")))
                .transpose()?,
            expected_len: None,
        })
    }
}

/// A kept-alive connection.
pub struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    host: HeaderValue,
}

pub struct Response {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            sender,
            host: HeaderValue::from_str(&addr.to_string())?,
        })
    }

    fn request(&self, t: &Target) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(Bytes::new()));
        *req.uri_mut() = t.uri.clone();
        let h = req.headers_mut();
        h.insert(HOST, self.host.clone());
        if let Some(a) = &t.auth {
            h.insert(AUTHORIZATION, a.clone());
        }
        req
    }

    /// Sends the request and reads the body, counting its bytes without keeping them.
    pub async fn hit(&mut self, t: &Target) -> Result<(StatusCode, usize)> {
        self.sender.ready().await?;
        let res = self.sender.send_request(self.request(t)).await?;
        let status = res.status();
        let mut body = res.into_body();
        let mut n = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                n += data.len();
            }
        }
        Ok((status, n))
    }

    /// Sends the request and keeps the body (for the correctness checks).
    pub async fn get(&mut self, t: &Target) -> Result<Response> {
        let req = self.request(t);
        self.send(req).await
    }

    /// Sends a request of the caller's own (any method and body; the Host header is added) and
    /// keeps the body.
    #[allow(dead_code)]
    pub async fn send(&mut self, mut req: Request<Full<Bytes>>) -> Result<Response> {
        req.headers_mut().insert(HOST, self.host.clone());
        self.sender.ready().await?;
        let res = self.sender.send_request(req).await?;
        let status = res.status();
        let body = res.into_body().collect().await?.to_bytes().to_vec();
        Ok(Response { status, body })
    }
}

/// What went wrong during a run, besides latency.
#[derive(Default, Debug, Clone, Copy)]
pub struct Faults {
    pub non_200: u64,
    pub wrong_size: u64,
    pub errors: u64,
}

impl Faults {
    pub fn add(&mut self, o: Faults) {
        self.non_200 += o.non_200;
        self.wrong_size += o.wrong_size;
        self.errors += o.errors;
    }
    pub fn total(&self) -> u64 {
        self.non_200 + self.wrong_size + self.errors
    }
}

/// One load-generator connection's requests: `once` sends the next and says whether it
/// completed (whatever its status); `faults` says what went wrong so far.
pub trait Session: Send + 'static {
    fn once(&mut self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>>;
    fn faults(&self) -> Faults;
}

/// A worker's connection that reconnects after a transport error.
struct Worker {
    target: Arc<Target>,
    conn: Option<Conn>,
    faults: Faults,
}

impl Worker {
    fn new(target: Arc<Target>) -> Worker {
        Worker {
            target,
            conn: None,
            faults: Faults::default(),
        }
    }

    async fn connect(&mut self) {
        if self.conn.is_none() {
            match Conn::open(self.target.addr).await {
                Ok(c) => self.conn = Some(c),
                Err(_) => {
                    self.faults.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }

    /// One request; `true` if it completed (whatever its status).
    async fn hit_once(&mut self) -> bool {
        self.connect().await;
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, conn.hit(&self.target)).await {
            Ok(Ok((status, len))) => {
                if status != StatusCode::OK {
                    self.faults.non_200 += 1;
                } else if self.target.expected_len.is_some_and(|e| e != len) {
                    self.faults.wrong_size += 1;
                }
                true
            }
            _ => {
                self.faults.errors += 1;
                self.conn = None;
                false
            }
        }
    }
}

impl Session for Worker {
    fn once(&mut self) -> Pin<Box<dyn Future<Output = bool> + Send + '_>> {
        Box::pin(self.hit_once())
    }
    fn faults(&self) -> Faults {
        self.faults
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Closed {
    /// Requests completed inside the measured window.
    pub completed: u64,
    pub rps: f64,
    pub mean_latency: Duration,
    /// 99th percentile of the latencies of the requests completed inside the window.
    #[allow(dead_code)]
    pub p99: Duration,
    pub faults: Faults,
}

/// Saturation: `connections` workers each send the next request as soon as the last one
/// returns; requests completing in the `measure` window after a `warmup` are counted.
pub async fn closed(
    target: &Target,
    connections: usize,
    warmup: Duration,
    measure: Duration,
) -> Closed {
    let target = Arc::new(target.clone());
    let workers = (0..connections)
        .map(|_| Worker::new(target.clone()))
        .collect();
    closed_sessions(workers, warmup, measure).await.0
}

/// Saturation with sessions of the caller's own, one per connection; answers them back (they
/// may carry state from one measurement to the next).
pub async fn closed_sessions<S: Session>(
    sessions: Vec<S>,
    warmup: Duration,
    measure: Duration,
) -> (Closed, Vec<S>) {
    let start = Instant::now();
    let from = start + warmup;
    let until = from + measure;
    let mut tasks = Vec::new();
    for mut w in sessions {
        tasks.push(tokio::spawn(async move {
            let (mut n, mut busy) = (0u64, Duration::ZERO);
            let mut lat: Vec<u32> = Vec::new();
            let mut faults_before = Faults::default();
            loop {
                let t = Instant::now();
                if t >= until {
                    break;
                }
                if t < from {
                    // Faults during the warm-up are not the measured system's.
                    faults_before = w.faults();
                }
                let ok = w.once().await;
                let done = Instant::now();
                if ok && done >= from && done <= until {
                    n += 1;
                    busy += done - t;
                    lat.push((done - t).as_micros().min(u32::MAX as u128) as u32);
                }
            }
            let mut f = w.faults();
            f.non_200 -= faults_before.non_200;
            f.wrong_size -= faults_before.wrong_size;
            f.errors -= faults_before.errors;
            (n, busy, lat, f, w)
        }));
    }
    let (mut completed, mut busy, mut faults) = (0u64, Duration::ZERO, Faults::default());
    let mut all: Vec<u32> = Vec::new();
    let mut back = Vec::new();
    for t in tasks {
        if let Ok((n, b, l, f, w)) = t.await {
            completed += n;
            busy += b;
            all.extend(l);
            faults.add(f);
            back.push(w);
        }
    }
    all.sort_unstable();
    let p99 = if all.is_empty() {
        Duration::ZERO
    } else {
        let i = ((0.99 * all.len() as f64).ceil() as usize).clamp(1, all.len()) - 1;
        Duration::from_micros(all[i] as u64)
    };
    let seconds = measure.as_secs_f64();
    let closed = Closed {
        completed,
        rps: completed as f64 / seconds,
        mean_latency: if completed > 0 {
            busy / completed as u32
        } else {
            Duration::ZERO
        },
        p99,
        faults,
    };
    (closed, back)
}

#[derive(Debug, Clone)]
pub struct Open {
    pub rate: f64,
    pub scheduled: u64,
    pub completed: u64,
    pub achieved_rps: f64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub p999: Duration,
    pub max: Duration,
    /// Longest the pacing thread released a request after its due time (a stall of the
    /// load generator itself, e.g. when the machine is busy; it counts in the latencies).
    pub generator_lag: Duration,
    pub faults: Faults,
}

/// Fixed rate: request k is due at `t0 + k / rate`; a pacing thread releases requests as they
/// fall due and `connections` workers send them. Latency runs from the due time to the end of
/// the response, so time spent waiting for a free connection counts against the server.
pub async fn open(target: &Target, connections: usize, rate: f64, duration: Duration) -> Open {
    let target = Arc::new(target.clone());
    // Connect every worker before the clock starts.
    let mut workers = Vec::new();
    for _ in 0..connections {
        let mut w = Worker::new(target.clone());
        w.connect().await;
        workers.push(w);
    }
    open_sessions(workers, rate, duration).await.0
}

/// A fixed rate with sessions of the caller's own (connected already, if they connect ahead),
/// one per connection; answers them back.
pub async fn open_sessions<S: Session>(
    workers: Vec<S>,
    rate: f64,
    duration: Duration,
) -> (Open, Vec<S>) {
    let connections = workers.len();
    let total = ((rate * duration.as_secs_f64()).round() as u64).max(1);
    let permits = Arc::new(Semaphore::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now() + Duration::from_millis(20);
    let schedule = Schedule {
        t0,
        rate,
        total,
        deadline: t0 + duration + Duration::from_secs(30),
    };
    let pacer = spawn_pacer(schedule, permits.clone(), stop.clone(), connections);
    let mut tasks = Vec::new();
    for w in workers {
        let run = paced(w, schedule, permits.clone(), next.clone(), stop.clone());
        tasks.push(tokio::spawn(run));
    }
    let mut all: Vec<u32> = Vec::with_capacity(total as usize);
    let mut faults = Faults::default();
    let mut back = Vec::new();
    for t in tasks {
        if let Ok((l, f, w)) = t.await {
            all.extend(l);
            faults.add(f);
            back.push(w);
        }
    }
    let generator_lag = pacer.join().unwrap_or_default();
    let elapsed = t0.elapsed().as_secs_f64();
    (schedule.figures(all, elapsed, generator_lag, faults), back)
}

/// When the requests of an open-loop run fall due.
#[derive(Clone, Copy)]
struct Schedule {
    t0: Instant,
    /// Requests per second.
    rate: f64,
    total: u64,
    /// After this, workers stop taking requests (the server has stalled).
    deadline: Instant,
}

impl Schedule {
    /// When request `k` falls due.
    fn due(&self, k: u64) -> Instant {
        self.t0 + Duration::from_secs_f64(k as f64 / self.rate)
    }

    /// The run's figures from the latencies (µs) of the completed requests.
    fn figures(
        &self,
        mut all: Vec<u32>,
        elapsed: f64,
        generator_lag: Duration,
        faults: Faults,
    ) -> Open {
        all.sort_unstable();
        let pct = |p: f64| -> Duration {
            if all.is_empty() {
                return Duration::ZERO;
            }
            let i = ((p * all.len() as f64).ceil() as usize).clamp(1, all.len()) - 1;
            Duration::from_micros(all[i] as u64)
        };
        Open {
            rate: self.rate,
            scheduled: self.total,
            completed: all.len() as u64,
            achieved_rps: all.len() as f64 / elapsed,
            p50: pct(0.50),
            p90: pct(0.90),
            p99: pct(0.99),
            p999: pct(0.999),
            max: all
                .last()
                .map(|m| Duration::from_micros(*m as u64))
                .unwrap_or_default(),
            generator_lag,
            faults,
        }
    }
}

/// The pacing thread: releases one permit per request as it falls due, until every request is
/// released or `stop`. Answers the longest it released a request late.
fn spawn_pacer(
    s: Schedule,
    permits: Arc<Semaphore>,
    stop: Arc<AtomicBool>,
    connections: usize,
) -> std::thread::JoinHandle<Duration> {
    std::thread::spawn(move || {
        let mut released = 0u64;
        let mut lag = Duration::ZERO;
        while released < s.total && !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= s.t0 {
                let due = (((now - s.t0).as_secs_f64() * s.rate) as u64 + 1).min(s.total);
                if due > released {
                    lag = lag.max(now.saturating_duration_since(s.due(released)));
                    permits.add_permits((due - released) as usize);
                    released = due;
                }
            }
            if released >= s.total {
                break;
            }
            let wait = s
                .due(released)
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(2));
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
        }
        // Let every waiting worker see that the run is over.
        permits.add_permits(connections + 1);
        lag
    })
}

/// A worker of the open loop: takes the next released request and sends it. Answers the
/// latencies (µs, from each request's due time) of those that completed, and its faults.
async fn paced<S: Session>(
    mut w: S,
    s: Schedule,
    permits: Arc<Semaphore>,
    next: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> (Vec<u32>, Faults, S) {
    let mut lat: Vec<u32> = Vec::new();
    loop {
        match permits.acquire().await {
            Ok(p) => p.forget(),
            Err(_) => break,
        }
        let k = next.fetch_add(1, Ordering::Relaxed);
        if k >= s.total {
            break;
        }
        if Instant::now() > s.deadline {
            stop.store(true, Ordering::Relaxed);
            break;
        }
        if w.once().await {
            lat.push(s.due(k).elapsed().as_micros().min(u32::MAX as u128) as u32);
        }
    }
    let f = w.faults();
    (lat, f, w)
}
