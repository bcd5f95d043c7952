//! `rollcall`: the server and the operator's commands.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use rollcall_app::audit::Meta;
use rollcall_app::{App, Config};

mod import;

#[derive(Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Bulk onboarding and access management for clinic staff accounts"
)]
struct Cli {
    /// Directory for the SQLite database (and, later, the local mailbox).
    #[arg(
        long,
        env = "ROLLCALL_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    data_dir: PathBuf,
    /// sqlite://PATH or postgres://USER@HOST/DB (default: sqlite in the data directory).
    #[arg(long, env = "ROLLCALL_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// The address people use to reach the console, for links printed and sent.
    #[arg(long, env = "ROLLCALL_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// Mark cookies Secure (set this when the console is served over HTTPS).
    #[arg(long, env = "ROLLCALL_SECURE_COOKIES", global = true)]
    secure_cookies: bool,
    #[command(flatten)]
    delivery: DeliveryArgs,
    #[command(subcommand)]
    command: Command,
}

/// Outgoing messages. Without an SMTP host, email goes to the local mailbox shown at /mailbox.
#[derive(clap::Args)]
struct DeliveryArgs {
    #[arg(long, env = "ROLLCALL_SMTP_HOST", global = true)]
    smtp_host: Option<String>,
    #[arg(long, env = "ROLLCALL_SMTP_PORT", global = true)]
    smtp_port: Option<u16>,
    /// starttls (default), tls or none.
    #[arg(
        long,
        env = "ROLLCALL_SMTP_SECURITY",
        default_value = "starttls",
        global = true
    )]
    smtp_security: String,
    #[arg(long, env = "ROLLCALL_SMTP_USERNAME", global = true)]
    smtp_username: Option<String>,
    #[arg(
        long,
        env = "ROLLCALL_SMTP_PASSWORD",
        global = true,
        hide_env_values = true
    )]
    smtp_password: Option<String>,
    #[arg(
        long,
        env = "ROLLCALL_SMTP_FROM",
        default_value = "Rollcall <no-reply@localhost>",
        global = true
    )]
    smtp_from: String,
    /// SMTP connections kept open.
    #[arg(long, env = "ROLLCALL_SMTP_POOL", default_value_t = 4, global = true)]
    smtp_pool: u32,
    /// HTTP endpoint of the SMS provider; without it, SMS go to the local mailbox.
    #[arg(long, env = "ROLLCALL_SMS_URL", global = true)]
    sms_url: Option<String>,
    #[arg(
        long,
        env = "ROLLCALL_SMS_TOKEN",
        global = true,
        hide_env_values = true
    )]
    sms_token: Option<String>,
    #[arg(
        long,
        env = "ROLLCALL_SMS_FROM",
        default_value = "Rollcall",
        global = true
    )]
    sms_from: String,
}

impl DeliveryArgs {
    fn smtp(&self) -> anyhow::Result<Option<rollcall_app::config::SmtpConfig>> {
        use rollcall_app::config::{SmtpConfig, SmtpSecurity};
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

    fn sms(&self) -> Option<rollcall_app::config::SmsConfig> {
        self.sms_url
            .clone()
            .map(|url| rollcall_app::config::SmsConfig {
                url,
                token: self.sms_token.clone(),
                from: self.sms_from.clone(),
            })
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        #[arg(long, env = "ROLLCALL_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Create the demo organization (once) and run the server.
    Demo {
        #[arg(long, env = "ROLLCALL_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Locations (clinics) of an organization.
    Location {
        #[command(subcommand)]
        command: LocationCommand,
    },
    /// Company admins.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Invite the addresses in a file (one per line, or separated by commas, semicolons or spaces).
    Invite {
        #[arg(long)]
        org: String,
        /// The file of addresses; `-` reads standard input.
        #[arg(long)]
        file: PathBuf,
        /// Location code (e.g. DT) or name.
        #[arg(long)]
        location: String,
        /// Role name (e.g. "Front Desk").
        #[arg(long)]
        role: String,
        /// Makes a retried run invite nobody twice (default: derived from the file's content).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Import people from a CSV file: every row is checked first, rows in error are never
    /// imported; the users are created as Pending and their invitations queued.
    Import(import::ImportArgs),
    /// Bulk jobs.
    Jobs {
        #[command(subcommand)]
        command: JobsCommand,
    },
    /// Licence seats.
    Seats {
        #[command(subcommand)]
        command: SeatsCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The taxonomy code list that names the codes on provider profiles.
    Taxonomy {
        #[command(subcommand)]
        command: TaxonomyCommand,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Finish the jobs a stopped process left unfinished (after their lease runs out).
    Resume,
}

#[derive(Subcommand)]
enum SeatsCommand {
    /// Show the seats of an organization: total, in use, free.
    Show {
        #[arg(long)]
        org: String,
    },
    /// Set the number of seats of a product.
    Set {
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "portal")]
        product: String,
        seats: i64,
    },
}

#[derive(Subcommand)]
enum TaxonomyCommand {
    /// Load the NUCC code list (the CSV file as published, or `code,name` lines), replacing the
    /// organization's current list. A file with any bad row loads nothing.
    Load {
        /// The CSV file; `-` reads standard input.
        file: PathBuf,
        #[arg(long)]
        org: String,
    },
}

#[derive(Subcommand)]
enum OrgCommand {
    /// Create an organization with the predefined roles.
    Create {
        /// Short code used at sign-in, e.g. riverside-therapy.
        slug: String,
        #[arg(long)]
        name: String,
        /// IANA time zone.
        #[arg(long, default_value = "America/Chicago")]
        time_zone: String,
    },
    /// List organizations.
    List,
}

#[derive(Subcommand)]
enum LocationCommand {
    /// Add a location.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        code: String,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a company admin and print a one-time set-up link.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain; exits non-zero if any event was edited or deleted.
    Verify {
        #[arg(long)]
        org: Option<String>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One line a person can act on: each cause once.
            let mut parts: Vec<String> = Vec::new();
            for cause in e.chain() {
                let text = cause.to_string();
                if parts.last() != Some(&text) {
                    parts.push(text);
                }
            }
            eprintln!("error: {}", parts.join(": "));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROLLCALL_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    std::fs::create_dir_all(&cli.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            cli.data_dir.display()
        )
    })?;
    let listen = match &cli.command {
        Command::Serve { listen } | Command::Demo { listen } => Some(*listen),
        _ => None,
    };
    let config = Config {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
        public_url: cli.public_url.clone().unwrap_or_else(|| {
            format!("http://{}", listen.unwrap_or(([127, 0, 0, 1], 8080).into()))
        }),
        secure_cookies: cli.secure_cookies,
        smtp: cli.delivery.smtp()?,
        sms: cli.delivery.sms(),
    };
    let app = App::start(config)
        .await
        .context("cannot open the database")?;
    let operator = Meta::system(&format!("operator ({})", whoami()));
    match cli.command {
        Command::Migrate => println!("Database is up to date."),
        Command::Serve { listen } => serve(app, listen).await?,
        Command::Demo { listen } => {
            let demo = rollcall_app::demo::ensure(&app).await?;
            println!();
            if demo.created {
                println!("Created the demo organization “{}”.", demo.org.name);
            } else {
                println!(
                    "Using the demo organization “{}” from {}.",
                    demo.org.name,
                    app.config.data_dir.display()
                );
            }
            println!("Open {}/ and sign in:", app.config.public_url);
            println!(
                "  company admin:  {}  /  {}",
                rollcall_app::demo::ADMIN_EMAIL,
                rollcall_app::demo::PASSWORD
            );
            println!(
                "  viewer:         {}  /  {}",
                rollcall_app::demo::VIEWER_EMAIL,
                rollcall_app::demo::PASSWORD
            );
            println!();
            serve(app, listen).await?;
        }
        Command::Org {
            command:
                OrgCommand::Create {
                    slug,
                    name,
                    time_zone,
                },
        } => {
            let org =
                rollcall_app::orgs::create_org(&app, &slug, &name, &time_zone, &operator).await?;
            println!(
                "Created organization “{}” (code {}). Next: rollcall location create --org {} --name … --code …",
                org.name, org.slug, org.slug
            );
        }
        Command::Org {
            command: OrgCommand::List,
        } => {
            let mut conn = app.db.read_conn().await?;
            for o in rollcall_app::store::orgs::list(&mut conn).await? {
                println!("{}\t{}\t{}", o.slug, o.name, o.time_zone);
            }
        }
        Command::Location {
            command: LocationCommand::Create { org, name, code },
        } => {
            let mut conn = app.db.read_conn().await?;
            let org = rollcall_app::orgs::find_org(&mut conn, &org).await?;
            drop(conn);
            let loc =
                rollcall_app::orgs::create_location(&app, org.id, &name, &code, &operator).await?;
            println!(
                "Added location “{}” ({}) to {}.",
                loc.name, loc.code, org.name
            );
        }
        Command::Admin {
            command:
                AdminCommand::Create {
                    org,
                    email,
                    first_name,
                    last_name,
                },
        } => {
            let mut conn = app.db.read_conn().await?;
            let org = rollcall_app::orgs::find_org(&mut conn, &org).await?;
            drop(conn);
            let (user, token) = rollcall_app::orgs::create_admin(
                &app,
                &org,
                &email,
                &first_name,
                &last_name,
                &operator,
            )
            .await?;
            println!("Created company admin {} in {}.", user.email, org.name);
            println!(
                "One-time set-up link (valid {} days):",
                org.settings.invitation_days
            );
            println!("  {}/register/{token}", app.config.public_url);
        }
        Command::Invite {
            org,
            file,
            location,
            role,
            idempotency_key,
        } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?
            };
            let mut conn = app.db.read_conn().await?;
            let org = rollcall_app::orgs::find_org(&mut conn, &org).await?;
            let who =
                rollcall_app::Principal::operator(&mut conn, org.id, &operator.actor_label).await?;
            let loc = rollcall_app::store::locations::list(&mut conn, org.id)
                .await?
                .into_iter()
                .find(|l| l.code.eq_ignore_ascii_case(&location) || l.name.eq_ignore_ascii_case(&location))
                .with_context(|| format!("no location “{location}” in {}: use a code or name from the console's location list", org.name))?;
            let role = rollcall_app::store::roles::list(&mut conn, org.id)
                .await?
                .into_iter()
                .find(|r| r.name.eq_ignore_ascii_case(&role))
                .with_context(|| format!("no role “{role}” in {}", org.name))?;
            drop(conn);
            let key_text = idempotency_key.unwrap_or_else(|| {
                rollcall_app::secret::hash(&format!("{}|{}|{}", text, loc.id, role.id))
            });
            let request =
                serde_json::json!({ "addresses": text, "location": loc.id, "role": role.id });
            let key = rollcall_app::idempotency::Key::new("cli.invite", &key_text, &request)?;
            let result = rollcall_app::invite::paste_invite(
                &app,
                &who,
                &text,
                Some(loc.id),
                role.id,
                Some(&key),
                &operator,
            )
            .await?;
            println!(
                "Invited {} to {} as {}.",
                result.invited.len(),
                result.location,
                result.role
            );
            if !result.not_invited.is_empty() {
                println!("Not invited ({}):", result.not_invited.len());
                for n in &result.not_invited {
                    println!("  {}: {}", n.entry, n.reason);
                }
            }
            println!("Invitations go out while `rollcall serve` runs.");
        }
        Command::Audit {
            command: AuditCommand::Verify { org },
        } => {
            let results = rollcall_app::audit::verify(&app, org.as_deref()).await?;
            let mut broken = false;
            for (slug, v) in results {
                if v.breaks.is_empty() {
                    println!("{slug}: {} events, chain intact", v.checked);
                } else {
                    broken = true;
                    println!(
                        "{slug}: {} events checked, {} problems:",
                        v.checked,
                        v.breaks.len()
                    );
                    for b in v.breaks {
                        println!("  event {}: {}", b.seq, b.problem);
                    }
                }
            }
            if broken {
                bail!("the audit trail was tampered with");
            }
        }
        Command::Import(args) => import::run(&app, args, &operator).await?,
        Command::Jobs {
            command: JobsCommand::Resume,
        } => import::resume(&app).await?,
        Command::Seats {
            command: SeatsCommand::Show { org },
        } => {
            let mut conn = app.db.read_conn().await?;
            let org = rollcall_app::orgs::find_org(&mut conn, &org).await?;
            for (product, s) in rollcall_app::store::seats::all(&mut conn, org.id).await? {
                println!(
                    "{product}: {} seats, {} in use, {} free",
                    s.total,
                    s.used,
                    s.free()
                );
            }
        }
        Command::Seats {
            command:
                SeatsCommand::Set {
                    org,
                    product,
                    seats,
                },
        } => {
            let mut conn = app.db.read_conn().await?;
            let org = rollcall_app::orgs::find_org(&mut conn, &org).await?;
            drop(conn);
            rollcall_app::orgs::set_seats(&app, org.id, &product, seats, &operator).await?;
            println!("{}: {product} has {seats} seats.", org.name);
        }
        Command::Taxonomy {
            command: TaxonomyCommand::Load { file, org },
        } => {
            let mut conn = app.db.read_conn().await?;
            let org = rollcall_app::orgs::find_org(&mut conn, &org).await?;
            drop(conn);
            let loaded = if file.as_os_str() == "-" {
                rollcall_app::taxonomy::load(&app, org.id, std::io::stdin().lock(), &operator)
                    .await?
            } else {
                let f = std::fs::File::open(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?;
                rollcall_app::taxonomy::load(&app, org.id, std::io::BufReader::new(f), &operator)
                    .await
                    .with_context(|| file.display().to_string())?
            };
            let replaced = match loaded.replaced {
                0 => String::new(),
                n => format!(" (replacing the previous list of {n})"),
            };
            println!(
                "Loaded {} taxonomy codes into {}{replaced}.",
                loaded.count, org.name
            );
        }
    }
    Ok(())
}

async fn serve(app: App, listen: SocketAddr) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(address = %listen, database = ?app.db.engine(), "serving");
    // Outgoing messages are delivered, and unfinished bulk jobs resumed, in the background.
    let dispatcher = rollcall_app::delivery::spawn_dispatcher(app.clone());
    let jobs = rollcall_app::jobs::spawn_sweeper(app.clone());
    rollcall_web::serve(app, listener).await?;
    dispatcher.abort();
    jobs.abort();
    Ok(())
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "unknown".into())
}
