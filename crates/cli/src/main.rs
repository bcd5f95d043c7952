//! `rollcall`: the server and the operator's commands.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use rollcall_app::audit::Meta;
use rollcall_app::{App, Config};

mod exit;
mod import;
mod import_remote;
mod invite;
mod lookup;
mod output;
mod remote;
mod serve;
mod tokens;
mod users;

use serve::ServeArgs;

#[derive(Parser)]
#[command(
    name = "rollcall",
    version,
    about = "Bulk onboarding and access management for clinic staff accounts"
)]
struct Cli {
    /// Address to serve on (serve and demo; the same as their own --listen).
    #[arg(long, env = "ROLLCALL_LISTEN")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// Where the data is and where people reach the console: options of every command.
#[derive(clap::Args)]
#[command(next_help_heading = "Global options")]
struct GlobalArgs {
    /// Directory of the SQLite database.
    #[arg(
        long,
        env = "ROLLCALL_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    data_dir: PathBuf,
    /// sqlite://PATH or postgres://USER@HOST:PORT/DB [default: SQLite in the data directory].
    #[arg(long, env = "ROLLCALL_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// The address people reach the console at, e.g. https://staff.clinic.example. The serving
    /// process puts it in the links of the messages it sends [default: http://LISTEN].
    #[arg(long, env = "ROLLCALL_PUBLIC_URL", global = true)]
    public_url: Option<String>,
    /// A running server to act through (users, invite, import, tokens), e.g.
    /// https://staff.clinic.example, instead of opening the database.
    #[arg(long, env = "ROLLCALL_URL", global = true)]
    url: Option<String>,
    /// The API token for --url; its scopes apply and the server audits the changes to it.
    #[arg(long, env = "ROLLCALL_TOKEN", global = true, hide_env_values = true)]
    token: Option<String>,
    /// text for people, json for scripts (one JSON document on standard output).
    #[arg(long, env = "ROLLCALL_OUTPUT", value_enum, default_value_t = output::Output::Text, global = true)]
    output: output::Output,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Create the demo organization (once) and run the server.
    Demo(ServeArgs),
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
    Invite(invite::InviteArgs),
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
    /// Users of an organization: list, show, deactivate, reactivate.
    Users {
        #[command(subcommand)]
        command: users::UsersCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// API tokens of the organization (service accounts).
    Tokens {
        #[command(subcommand)]
        command: tokens::TokensCommand,
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
        /// The organization's short code.
        #[arg(long)]
        org: String,
    },
    /// Set the number of seats of a product.
    Set {
        /// The organization's short code.
        #[arg(long)]
        org: String,
        /// The licensed product.
        #[arg(long, default_value = "portal")]
        product: String,
        /// How many accounts may hold a seat (pending, expired and active users).
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
        /// The organization's short code.
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
        /// The name people see, e.g. "Riverside Therapy".
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
        /// The organization's short code.
        #[arg(long)]
        org: String,
        /// The clinic's name, e.g. "Downtown Clinic".
        #[arg(long)]
        name: String,
        /// A short code for files and commands, e.g. DT.
        #[arg(long)]
        code: String,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a company admin and print a one-time set-up link.
    Create {
        /// The organization's short code.
        #[arg(long)]
        org: String,
        /// The admin's email address; they sign in with it.
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
        /// Only this organization (short code).
        #[arg(long)]
        org: Option<String>,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    exit::code_of(run().await)
}

/// Logs go to standard error (standard output is the command's answer), coloured only on a
/// terminal.
fn init_logs() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROLLCALL_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

async fn run() -> anyhow::Result<()> {
    let matches = <Cli as clap::CommandFactory>::command().get_matches();
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches)?;
    init_logs();
    // Needs no database.
    if let Command::Import(args) = &cli.command
        && args.template
    {
        print!("{}", rollcall_app::domain::import::template());
        return Ok(());
    }
    match cli.global.url.clone() {
        Some(url) => {
            let name = matches.subcommand_name().unwrap_or_default().to_string();
            remote(cli, &url, &name).await
        }
        None => direct(cli).await,
    }
}

/// Through a running server's API with a token: the commands an integration scripts.
async fn remote(cli: Cli, url: &str, name: &str) -> anyhow::Result<()> {
    let client = remote::Client::new(url, cli.global.token.as_deref())?;
    let out = cli.global.output;
    match cli.command {
        Command::Users { command } => users::remote(&client, command, out).await,
        Command::Invite(args) => invite::remote(&client, args, out).await,
        Command::Import(args) => import_remote::run(&client, args, out).await,
        Command::Tokens { command } => tokens::remote(&client, command, out).await,
        _ => bail!(
            "`rollcall {name}` works on the server's database only: run it on the server without --url or ROLLCALL_URL (users, invite, import and tokens work with --url)"
        ),
    }
}

/// On the database, as the operator on the server.
async fn direct(cli: Cli) -> anyhow::Result<()> {
    let serving = match &cli.command {
        Command::Serve(s) | Command::Demo(s) => Some(s),
        _ => None,
    };
    let listen = serving
        .and_then(|s| s.listen)
        .or(cli.listen)
        .unwrap_or_else(|| serve::DEFAULT_LISTEN.parse().expect("default address"));
    // Taken before the database is opened and before anything is announced.
    let listener = match serving {
        Some(_) => Some(serve::bind(listen).await?),
        None => None,
    };
    let app = open(&cli.global, serving, listen).await?;
    let operator = Meta::system(&format!("operator ({})", whoami()));
    let out = cli.global.output;
    match cli.command {
        Command::Migrate => println!("Database is up to date."),
        Command::Serve(s) => serve::serve(app, s.edge.edge(), listener.expect("bound")).await?,
        Command::Demo(s) => {
            demo_banner(&app).await?;
            serve::serve(app, s.edge.edge(), listener.expect("bound")).await?;
        }
        Command::Org { command } => org(&app, command, &operator, out).await?,
        Command::Tokens { command } => tokens::direct(&app, command, &operator, out).await?,
        Command::Users { command } => users::direct(&app, command, &operator, out).await?,
        Command::Location {
            command: LocationCommand::Create { org, name, code },
        } => {
            let who = lookup::operator(&app, &org, &operator).await?;
            let loc =
                rollcall_app::org::create_location(&app, &who, &name, &code, &operator).await?;
            println!(
                "Added location “{}” ({}) to {}.",
                loc.name, loc.code, who.org_name
            );
        }
        Command::Admin { command } => {
            let explicit = cli.global.public_url.is_some();
            admin_create(&app, command, explicit, &operator).await?
        }
        Command::Invite(args) => invite::direct(&app, args, &operator, out).await?,
        Command::Audit {
            command: AuditCommand::Verify { org },
        } => audit_verify(&app, org.as_deref()).await?,
        Command::Import(args) => import::run(&app, args, &operator, out).await?,
        Command::Jobs {
            command: JobsCommand::Resume,
        } => import::resume(&app).await?,
        Command::Seats { command } => seats(&app, command, &operator).await?,
        Command::Taxonomy {
            command: TaxonomyCommand::Load { file, org },
        } => taxonomy_load(&app, &file, &org, &operator).await?,
    }
    Ok(())
}

/// Connects and migrates. Only a serving process delivers messages, so only it reads the
/// delivery options; its public address defaults to the one it listens on.
async fn open(
    global: &GlobalArgs,
    serving: Option<&ServeArgs>,
    listen: SocketAddr,
) -> anyhow::Result<App> {
    if global.database_url.is_none() {
        std::fs::create_dir_all(&global.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                global.data_dir.display()
            )
        })?;
    }
    let public_url = global
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{listen}"))
        .trim_end_matches('/')
        .to_string();
    let config = Config {
        data_dir: global.data_dir.clone(),
        database_url: global.database_url.clone(),
        public_url,
        secure_cookies: serving.is_some_and(|s| s.secure_cookies),
        smtp: match serving {
            Some(s) => s.delivery.smtp()?,
            None => None,
        },
        sms: serving.and_then(|s| s.delivery.sms()),
    };
    App::start(config).await.context("cannot open the database")
}

async fn demo_banner(app: &App) -> anyhow::Result<()> {
    let demo = rollcall_app::demo::ensure(app).await?;
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
    Ok(())
}

async fn org(
    app: &App,
    command: OrgCommand,
    operator: &Meta,
    out: output::Output,
) -> anyhow::Result<()> {
    match command {
        OrgCommand::Create {
            slug,
            name,
            time_zone,
        } => {
            let org =
                rollcall_app::org::create_org(app, &slug, &name, &time_zone, operator).await?;
            println!(
                "Created organization “{}” (code {}). Next: rollcall location create --org {} --name … --code …",
                org.name, org.slug, org.slug
            );
        }
        OrgCommand::List => {
            let orgs = rollcall_app::org::list(app).await?;
            if out.json() {
                let orgs: Vec<_> = orgs
                    .iter()
                    .map(|o| serde_json::json!({ "code": o.slug, "name": o.name, "time_zone": o.time_zone }))
                    .collect();
                return output::print_json(&serde_json::Value::Array(orgs));
            }
            for o in orgs {
                println!("{}\t{}\t{}", o.slug, o.name, o.time_zone);
            }
        }
    }
    Ok(())
}

async fn admin_create(
    app: &App,
    command: AdminCommand,
    explicit_public_url: bool,
    operator: &Meta,
) -> anyhow::Result<()> {
    let AdminCommand::Create {
        org,
        email,
        first_name,
        last_name,
    } = command;
    let org = rollcall_app::org::find(app, &org).await?;
    let (user, token) =
        rollcall_app::org::create_admin(app, &org, &email, &first_name, &last_name, operator)
            .await?;
    println!("Created company admin {} in {}.", user.email, org.name);
    println!(
        "One-time set-up link (valid {} days):",
        org.settings.invitation_days
    );
    println!("  {}/register/{token}", app.config.public_url);
    if !explicit_public_url {
        println!(
            "If people reach the console at another address, put it in place of {} (or give --public-url).",
            app.config.public_url
        );
    }
    Ok(())
}

async fn audit_verify(app: &App, org: Option<&str>) -> anyhow::Result<()> {
    let results = rollcall_app::audit::verify(app, org).await?;
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
    Ok(())
}

async fn seats(app: &App, command: SeatsCommand, operator: &Meta) -> anyhow::Result<()> {
    match command {
        SeatsCommand::Show { org } => {
            let who = lookup::operator(app, &org, operator).await?;
            for (product, s) in rollcall_app::org::settings_view(app, &who).await?.seats {
                println!(
                    "{product}: {} seats, {} in use, {} free",
                    s.total,
                    s.used,
                    s.free()
                );
            }
        }
        SeatsCommand::Set {
            org,
            product,
            seats,
        } => {
            let who = lookup::operator(app, &org, operator).await?;
            rollcall_app::org::set_seats(app, &who, &product, seats, operator).await?;
            println!("{}: {product} has {seats} seats.", who.org_name);
        }
    }
    Ok(())
}

async fn taxonomy_load(
    app: &App,
    file: &std::path::Path,
    org: &str,
    operator: &Meta,
) -> anyhow::Result<()> {
    let who = lookup::operator(app, org, operator).await?;
    let loaded = if file.as_os_str() == "-" {
        rollcall_app::org::taxonomy::load(app, &who, std::io::stdin().lock(), operator).await?
    } else {
        let f =
            std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        rollcall_app::org::taxonomy::load(app, &who, std::io::BufReader::new(f), operator)
            .await
            .with_context(|| file.display().to_string())?
    };
    let replaced = match loaded.replaced {
        0 => String::new(),
        n => format!(" (replacing the previous list of {n})"),
    };
    println!(
        "Loaded {} taxonomy codes into {}{replaced}.",
        loaded.count, who.org_name
    );
    Ok(())
}

fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}
