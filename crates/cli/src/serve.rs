//! `rollcall serve` and `rollcall demo`: the options of a serving process and the server itself.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use ipnet::IpNet;

use anyhow::{Context, bail};
use rollcall_app::App;
use rollcall_app::config::{SmsConfig, SmtpConfig, SmtpSecurity};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// What only a serving process needs: where it listens, its cookies and how it delivers.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address and port to serve on, e.g. 0.0.0.0:8080 [default: 127.0.0.1:8080].
    #[arg(long, env = "ROLLCALL_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Mark cookies Secure (set this when the console is served over HTTPS).
    #[arg(long, env = "ROLLCALL_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Seconds a stopping process (SIGTERM, Ctrl-C) gives the requests, message sends and job
    /// chunks in progress to finish before it exits.
    #[arg(long, env = "ROLLCALL_DRAIN_SECS", default_value_t = 20)]
    pub drain_secs: u64,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
    #[command(flatten)]
    pub edge: EdgeArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub upkeep: UpkeepArgs,
}

/// What the server does on its own from time to time.
#[derive(clap::Args)]
#[command(next_help_heading = "Upkeep")]
pub struct UpkeepArgs {
    /// Back the SQLite database up into this directory on a schedule (created if missing).
    /// Each backup is checked like `rollcall backup`'s. PostgreSQL: use pg_dump instead.
    #[arg(long, env = "ROLLCALL_BACKUP_DIR")]
    backup_dir: Option<std::path::PathBuf>,
    /// Hours between scheduled backups.
    #[arg(long, env = "ROLLCALL_BACKUP_EVERY_HOURS", default_value_t = 24)]
    backup_every_hours: u32,
    /// Scheduled backups kept; older ones in --backup-dir are removed.
    #[arg(long, env = "ROLLCALL_BACKUP_KEEP", default_value_t = 7)]
    backup_keep: usize,
    /// Days after which a new OpenID Connect signing key is published (it signs an hour later;
    /// the old one stays published until its tokens expired). 0: never.
    #[arg(long, env = "ROLLCALL_OIDC_KEY_ROTATION_DAYS", default_value_t = 90)]
    oidc_key_rotation_days: u32,
}

impl UpkeepArgs {
    pub fn config(&self) -> anyhow::Result<rollcall_app::config::UpkeepConfig> {
        const HOUR: i64 = 3_600 * 1_000_000;
        let backups = match &self.backup_dir {
            None => None,
            Some(dir) => {
                if self.backup_every_hours == 0 || self.backup_keep == 0 {
                    bail!("--backup-every-hours and --backup-keep must be at least 1");
                }
                std::fs::create_dir_all(dir).with_context(|| {
                    format!("cannot make the backup directory {}", dir.display())
                })?;
                Some(rollcall_app::config::BackupSchedule {
                    dir: dir.clone(),
                    every_micros: i64::from(self.backup_every_hours) * HOUR,
                    keep: self.backup_keep,
                })
            }
        };
        Ok(rollcall_app::config::UpkeepConfig {
            key_rotation_micros: i64::from(self.oidc_key_rotation_days) * 24 * HOUR,
            backups,
        })
    }
}

/// Where `/metrics` is served: never to the public by default.
#[derive(clap::Args)]
#[command(next_help_heading = "Metrics")]
pub struct MetricsArgs {
    /// Serve /metrics (Prometheus text format) on this address of its own, e.g. 127.0.0.1:9464.
    #[arg(long, env = "ROLLCALL_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Serve /metrics on the main port too, to requests with `Authorization: Bearer TOKEN`.
    /// Without this or --metrics-listen, /metrics is not served (404).
    #[arg(long, env = "ROLLCALL_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
}

/// Where webhooks may go and when a failing endpoint is turned off.
#[derive(clap::Args)]
#[command(next_help_heading = "Webhooks")]
pub struct WebhookArgs {
    /// Let webhook endpoints point at loopback, private or link-local addresses (and at plain
    /// HTTP on loopback): for receivers on this machine or network, and tests.
    #[arg(long, env = "ROLLCALL_WEBHOOKS_ALLOW_PRIVATE")]
    webhooks_allow_private: bool,
    /// Days an endpoint may fail without a success before it is disabled and the company
    /// admins are told.
    #[arg(
        long,
        env = "ROLLCALL_WEBHOOKS_DISABLE_AFTER_DAYS",
        default_value_t = 5
    )]
    webhooks_disable_after_days: u32,
}

impl WebhookArgs {
    pub fn config(&self) -> rollcall_app::config::WebhookConfig {
        rollcall_app::config::WebhookConfig {
            allow_private: self.webhooks_allow_private,
            disable_after_days: self.webhooks_disable_after_days.max(1),
        }
    }
}

/// API rate limits and the reverse proxies whose forwarded client addresses are believed.
#[derive(clap::Args)]
#[command(next_help_heading = "Limits and proxies")]
pub struct EdgeArgs {
    /// API requests a minute one token may make (429 with Retry-After beyond it).
    #[arg(long, env = "ROLLCALL_API_RATE_LIMIT", default_value_t = NonZeroU32::new(1_200).expect("non-zero"))]
    api_rate_limit: NonZeroU32,
    /// API requests a minute from one client address, whatever the token.
    #[arg(long, env = "ROLLCALL_API_RATE_LIMIT_PER_ADDRESS", default_value_t = NonZeroU32::new(3_000).expect("non-zero"))]
    api_rate_limit_per_address: NonZeroU32,
    /// A reverse proxy (address or CIDR, repeatable; comma-separated in the variable) whose
    /// X-Forwarded-For names the client for the audit trail, the sign-in pause and the limits.
    #[arg(long = "trusted-proxy", env = "ROLLCALL_TRUSTED_PROXIES", value_delimiter = ',', value_parser = proxy)]
    trusted_proxies: Vec<IpNet>,
}

impl EdgeArgs {
    pub fn edge(&self, metrics: &MetricsArgs) -> rollcall_web::Edge {
        rollcall_web::Edge {
            per_token_per_minute: self.api_rate_limit,
            per_address_per_minute: self.api_rate_limit_per_address,
            trusted_proxies: self.trusted_proxies.clone(),
            metrics_token: metrics.metrics_token.clone().filter(|t| !t.is_empty()),
        }
    }
}

/// An address is a network of one.
fn proxy(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
        .map_err(|_| format!("“{s}” is not an address or network, e.g. 10.0.0.5 or 10.0.0.0/8"))
}

/// Outgoing messages. Without an SMTP host, email goes to the local mailbox shown at /mailbox.
#[derive(clap::Args)]
#[command(next_help_heading = "Delivery")]
pub struct DeliveryArgs {
    /// SMTP server for email; without it, email goes to the local mailbox at /mailbox.
    #[arg(long, env = "ROLLCALL_SMTP_HOST")]
    smtp_host: Option<String>,
    /// SMTP port [default: 587 for starttls, 465 for tls, 25 for none].
    #[arg(long, env = "ROLLCALL_SMTP_PORT")]
    smtp_port: Option<u16>,
    /// starttls, tls or none.
    #[arg(long, env = "ROLLCALL_SMTP_SECURITY", default_value = "starttls")]
    smtp_security: String,
    #[arg(long, env = "ROLLCALL_SMTP_USERNAME")]
    smtp_username: Option<String>,
    #[arg(long, env = "ROLLCALL_SMTP_PASSWORD", hide_env_values = true)]
    smtp_password: Option<String>,
    /// The From address of email.
    #[arg(
        long,
        env = "ROLLCALL_SMTP_FROM",
        default_value = "Rollcall <no-reply@localhost>"
    )]
    smtp_from: String,
    /// SMTP connections kept open.
    #[arg(long, env = "ROLLCALL_SMTP_POOL", default_value_t = 4)]
    smtp_pool: u32,
    /// HTTP endpoint of the SMS provider; without it, SMS go to the local mailbox.
    #[arg(long, env = "ROLLCALL_SMS_URL")]
    sms_url: Option<String>,
    #[arg(long, env = "ROLLCALL_SMS_TOKEN", hide_env_values = true)]
    sms_token: Option<String>,
    /// Sender name or number of SMS.
    #[arg(long, env = "ROLLCALL_SMS_FROM", default_value = "Rollcall")]
    sms_from: String,
}

impl DeliveryArgs {
    pub fn smtp(&self) -> anyhow::Result<Option<SmtpConfig>> {
        let Some(host) = self.smtp_host.clone() else {
            return Ok(None);
        };
        let security = match self.smtp_security.as_str() {
            "starttls" => SmtpSecurity::StartTls,
            "tls" => SmtpSecurity::Tls,
            "none" => SmtpSecurity::None,
            other => bail!("--smtp-security “{other}” is not one of starttls, tls, none"),
        };
        let port = self.smtp_port.unwrap_or(match security {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        });
        Ok(Some(SmtpConfig {
            host,
            port,
            security,
            username: self.smtp_username.clone(),
            password: self.smtp_password.clone(),
            from: self.smtp_from.clone(),
            pool_size: self.smtp_pool.max(1),
        }))
    }

    pub fn sms(&self) -> Option<SmsConfig> {
        self.sms_url.clone().map(|url| SmsConfig {
            url,
            token: self.sms_token.clone(),
            from: self.sms_from.clone(),
        })
    }
}

/// Takes the address before anything is announced, so a taken port is the first thing said.
pub async fn bind(listen: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let mut other = listen;
            other.set_port(listen.port().wrapping_add(1).max(1));
            bail!(
                "cannot listen on {listen}: another program already uses this port. Stop it, or choose another address with --listen {other} (or ROLLCALL_LISTEN)"
            )
        }
        Err(e) => Err(e).with_context(|| {
            format!("cannot listen on {listen}: choose another address with --listen")
        }),
    }
}

/// Holds the SQLite database's lock while serving, so `rollcall restore` refuses to replace it;
/// one SQLite database serves one process.
fn lock_database(app: &App) -> anyhow::Result<Option<rollcall_app::ops::ServerLock>> {
    let Some(path) = app.sqlite_path() else {
        return Ok(None);
    };
    let lock = rollcall_app::ops::ServerLock::take(&path)
        .with_context(|| format!("cannot lock {}", path.display()))?;
    match lock {
        Ok(lock) => Ok(Some(lock)),
        Err(held) => bail!(
            "{} is in use: {held}. One SQLite database serves one process; stop the other, or use PostgreSQL for several.",
            path.display()
        ),
    }
}

/// Serves until SIGTERM or Ctrl-C; delivers messages and resumes bulk jobs in the background.
/// On the signal the process drains: it takes no new connection, message or job, answers the
/// requests in flight, records the sends in flight, gives back the messages it claimed and did
/// not send and the job it was running (after the chunk being written), and exits — within
/// `--drain-secs`; whatever is still held then is taken over by another process after its lease.
pub async fn serve(
    app: App,
    args: &ServeArgs,
    listener: tokio::net::TcpListener,
) -> anyhow::Result<()> {
    let address = listener.local_addr()?;
    let _lock = lock_database(&app)?;
    if let Some(at) = args.metrics.metrics_listen {
        let metrics = bind(at).await?;
        let stop = app.shutdown.clone();
        tokio::spawn(rollcall_web::serve_metrics(
            app.clone(),
            metrics,
            async move { stop.draining().await },
        ));
        tracing::info!(address = %at, "serving /metrics");
    }
    tracing::info!(%address, public_url = %app.config.public_url, database = app.database(), "serving");
    let dispatcher = rollcall_app::delivery::spawn_dispatcher(app.clone());
    let webhooks = rollcall_app::webhooks::spawn_dispatcher(app.clone());
    let sweeper = rollcall_app::jobs::kinds::spawn_sweeper(app.clone());
    let upkeep = rollcall_app::upkeep::spawn(app.clone());
    let shutdown = app.shutdown.clone();
    let stop = async move { shutdown.draining().await };
    let mut http = tokio::spawn(rollcall_web::serve(
        app.clone(),
        args.edge.edge(&args.metrics),
        listener,
        stop,
    ));
    tokio::select! {
        served = &mut http => {
            served.context("the HTTP server stopped")??;
            return Ok(());
        }
        () = rollcall_web::stop_signal() => {}
    }
    let drain = Duration::from_secs(args.drain_secs);
    tracing::info!(
        drain_secs = args.drain_secs,
        "draining: finishing what is in progress"
    );
    app.shutdown.begin();
    let drained = tokio::time::timeout(drain, async {
        let _ = http.await;
        let _ = dispatcher.await;
        let _ = webhooks.await;
        let _ = sweeper.await;
        let _ = upkeep.await;
        app.shutdown.jobs_stopped().await;
    })
    .await;
    match drained {
        Ok(()) => tracing::info!("drained; stopping"),
        Err(_) => tracing::warn!(
            drain_secs = args.drain_secs,
            "the drain time ran out; what this process still holds is taken over by another once its lease runs out"
        ),
    }
    Ok(())
}
