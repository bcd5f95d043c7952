//! `rollcall`: the server and the operator's commands.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use rollcall_app::audit::Meta;
use rollcall_app::{App, Config};

mod backup;
mod exit;
mod import;
mod import_remote;
mod invite;
mod lookup;
mod operator;
mod output;
mod remote;
mod reviews;
mod secrets;
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
    /// Logs on standard error: text for people, json for a log collector (one object a line).
    #[arg(long, env = "ROLLCALL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    /// The file of secret keys that seal second-factor secrets, sign-in signing keys and
    /// webhook secrets in the database: one key a line, newest first (`rollcall secrets
    /// new-key` makes one). Or give the key itself in ROLLCALL_SECRET_KEY.
    #[arg(long, env = "ROLLCALL_SECRET_KEY_FILE", global = true)]
    secret_key_file: Option<PathBuf>,
    /// Do not copy a SQLite database beside itself before applying migrations to it.
    #[arg(long, env = "ROLLCALL_NO_BACKUP_BEFORE_MIGRATE", global = true)]
    no_backup_before_migrate: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Create the demo organization (once) and run the server.
    Demo(ServeArgs),
    /// Apply database migrations and exit (a SQLite database is copied beside itself first).
    Migrate,
    /// Copy the SQLite database to FILE while the server runs, and check the copy (integrity,
    /// audit chains). For PostgreSQL use pg_dump.
    Backup {
        /// The file to write; it must not exist.
        file: PathBuf,
    },
    /// Put a backup in place of the database of --data-dir, with the server stopped. The file
    /// is checked first (integrity, audit chains, a schema this binary knows).
    Restore {
        /// A file `rollcall backup` wrote.
        file: PathBuf,
        /// Replace an existing database (it is kept beside it as a .replaced file).
        #[arg(long)]
        force: bool,
    },
    /// Organizations.
    Org {
        #[command(subcommand)]
        command: operator::OrgCommand,
    },
    /// Locations (clinics) of an organization.
    Location {
        #[command(subcommand)]
        command: operator::LocationCommand,
    },
    /// Company admins.
    Admin {
        #[command(subcommand)]
        command: operator::AdminCommand,
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
        command: operator::SeatsCommand,
    },
    /// Users of an organization: list, show, deactivate, reactivate.
    Users {
        #[command(subcommand)]
        command: users::UsersCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: operator::AuditCommand,
    },
    /// API tokens of the organization (service accounts).
    Tokens {
        #[command(subcommand)]
        command: tokens::TokensCommand,
    },
    /// Access review campaigns: start, follow, decide, export the evidence.
    Reviews {
        #[command(subcommand)]
        command: reviews::ReviewsCommand,
    },
    /// The taxonomy code list that names the codes on provider profiles.
    Taxonomy {
        #[command(subcommand)]
        command: operator::TaxonomyCommand,
    },
    /// The key that seals secrets in the database.
    Secrets {
        #[command(subcommand)]
        command: secrets::SecretsCommand,
    },
}

#[derive(Subcommand)]
enum JobsCommand {
    /// Finish the jobs a stopped process left unfinished (after their lease runs out).
    Resume,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    exit::code_of(run().await)
}

/// Logs go to standard error (standard output is the command's answer): text coloured only on
/// a terminal, or one JSON object a line whose fields include the request's span (request id,
/// route, organization, actor).
fn init_logs(format: LogFormat) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ROLLCALL_LOG")
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// `--version` names the schema too, so an operator knows which databases this binary reads.
fn version() -> &'static str {
    let text = format!(
        "{} (database schema {})",
        env!("CARGO_PKG_VERSION"),
        rollcall_app::ops::schema_version()
    );
    Box::leak(text.into_boxed_str())
}

async fn run() -> anyhow::Result<()> {
    let matches = <Cli as clap::CommandFactory>::command()
        .version(version())
        .get_matches();
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches)?;
    init_logs(cli.global.log_format);
    // Works on a stopped server's files: opening the database would create or migrate it.
    if let Command::Restore { file, force } = &cli.command {
        let g = &cli.global;
        return backup::restore(
            file,
            &g.data_dir,
            g.database_url.as_deref(),
            *force,
            g.output,
        )
        .await;
    }
    // Needs no database.
    if let Command::Secrets {
        command: secrets::SecretsCommand::NewKey,
    } = &cli.command
    {
        secrets::new_key();
        return Ok(());
    }
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
        None if matches.value_source("token") == Some(clap::parser::ValueSource::CommandLine) => {
            // Without an address the command would open a local database and ignore the token.
            bail!("--token works with --url (or ROLLCALL_URL): give the server's address")
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
        Command::Reviews { command } => reviews::remote(&client, command, out).await,
        _ => bail!(
            "`rollcall {name}` works on the server's database only: run it on the server without --url or ROLLCALL_URL (users, invite, import, tokens and reviews work with --url)"
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
    let demo = matches!(cli.command, Command::Demo(_));
    let app = open(&cli.global, serving, demo, listen).await?;
    if serving.is_some() {
        // Refused before anything is served: no key, or not the key the database's secrets
        // are sealed under.
        rollcall_app::vault::reseal::on_start(&app)
            .await
            .context("cannot serve")?;
    }
    let operator = Meta::system(&format!("operator ({})", whoami()));
    let out = cli.global.output;
    match cli.command {
        Command::Migrate if out.json() => {
            output::print_json(&serde_json::json!({ "migrated": true }))?
        }
        Command::Migrate => println!("Database is up to date."),
        Command::Backup { file } => backup::backup(&app, &file, out).await?,
        Command::Restore { .. } => unreachable!("restored before the database is opened"),
        Command::Serve(s) => serve::serve(app, &s, listener.expect("bound")).await?,
        Command::Demo(s) => {
            demo_banner(&app).await?;
            serve::serve(app, &s, listener.expect("bound")).await?;
        }
        Command::Org { command } => operator::org(&app, command, &operator, out).await?,
        Command::Tokens { command } => tokens::direct(&app, command, &operator, out).await?,
        Command::Users { command } => users::direct(&app, command, &operator, out).await?,
        Command::Location { command } => operator::location(&app, command, &operator, out).await?,
        Command::Admin { command } => {
            let explicit = cli.global.public_url.is_some();
            operator::admin_create(&app, command, explicit, &operator, out).await?
        }
        Command::Invite(args) => invite::direct(&app, args, &operator, out).await?,
        Command::Audit { command } => operator::audit(&app, command, &operator, out).await?,
        Command::Import(args) => import::run(&app, args, &operator, out).await?,
        Command::Jobs {
            command: JobsCommand::Resume,
        } => import::resume(&app, out).await?,
        Command::Seats { command } => operator::seats(&app, command, &operator, out).await?,
        Command::Reviews { command } => reviews::direct(&app, command, &operator, out).await?,
        Command::Secrets {
            command: secrets::SecretsCommand::Rotate,
        } => secrets::rotate(&app, out).await?,
        Command::Secrets {
            command: secrets::SecretsCommand::NewKey,
        } => unreachable!("printed before the database is opened"),
        Command::Taxonomy { command } => {
            operator::taxonomy_load(&app, command, &operator, out).await?
        }
    }
    Ok(())
}

/// Connects and migrates. Only a serving process delivers messages, so only it reads the
/// delivery options; its public address defaults to the one it listens on.
async fn open(
    global: &GlobalArgs,
    serving: Option<&ServeArgs>,
    demo: bool,
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
        webhooks: serving.map(|s| s.webhooks.config()).unwrap_or_default(),
        upkeep: match serving {
            Some(s) => s.upkeep.config()?,
            None => Default::default(),
        },
        secret_keys: secrets::source(
            global.secret_key_file.as_deref(),
            demo.then_some(global.data_dir.as_path()),
        )?,
    };
    // Refused before the database is opened (and migrated).
    if serving.is_some() {
        rollcall_app::vault::check(&config.secret_keys)
            .map_err(|e| anyhow::anyhow!("cannot serve: {e}"))?;
    }
    if config.upkeep.backups.is_some() && !config.database_url().starts_with("sqlite:") {
        anyhow::bail!(
            "--backup-dir backs up a SQLite database; this one is PostgreSQL: back it up with pg_dump (see the README's “Running in production”)"
        );
    }
    App::start_with(config, !global.no_backup_before_migrate)
        .await
        .context("cannot open the database")
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

fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into())
}
