//! The `orgplane` binary: `serve`, `migrate`, and operator commands under `admin`.
//! Configuration comes from defaults, then a TOML file, then `ORGPLANE_*` environment
//! variables, then flags — each layer overriding the one before.

mod config;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::Config;
use orgplane_domain::secret::{self, TokenKind};
use orgplane_domain::validate;
use orgplane_store::{NewPerson, NewRegistration, Store};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "orgplane", version, about = "Self-hostable control plane for organizations and accounts")]
struct Cli {
    /// TOML configuration file (default: ./orgplane.toml when it exists). Env: ORGPLANE_CONFIG.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Database URL: postgres://… for PostgreSQL; embedded SQLite in the data directory when unset.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Data directory for the embedded SQLite database (default ./orgplane-data).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server (applies migrations first).
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Operator commands that work on the database directly.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an organization whose admin is the person with this email (created without a
    /// password if new), and print a personal token for them once.
    CreateOrg {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Organization")]
        first_name: String,
        #[arg(long, default_value = "Admin")]
        last_name: String,
        /// Print the result as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(url) = cli.database_url {
        config.database_url = Some(url);
    }
    if let Some(dir) = cli.data_dir {
        config.data_dir = dir;
    }
    if let Command::Serve { listen: Some(listen) } = &cli.command {
        config.listen = listen.clone();
    }
    config::init_logging(&config);

    let store = Store::connect(&config.database_url()).await.context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    match cli.command {
        Command::Serve { .. } => {
            let listener = tokio::net::TcpListener::bind(&config.listen)
                .await
                .with_context(|| format!("listening on {}", config.listen))?;
            tracing::info!(listen = %listener.local_addr()?, backend = ?store.backend(), "orgplane serving");
            orgplane_server::serve(listener, store.clone(), config.server()).await?;
            store.close().await;
        }
        Command::Migrate => println!("migrations applied ({:?})", store.backend()),
        Command::Admin { command: AdminCommand::CreateOrg { name, email, first_name, last_name, json } } => {
            create_org(&store, name, email, first_name, last_name, json).await?;
        }
    }
    Ok(())
}

async fn create_org(
    store: &Store,
    name: String,
    email: String,
    first: String,
    last: String,
    json: bool,
) -> anyhow::Result<()> {
    let checked = || -> orgplane_domain::Result<NewRegistration> {
        let email = validate::email("--email", &email)?;
        Ok(NewRegistration {
            org_name: validate::entity_name("--name", &name)?,
            division: None,
            person: NewPerson {
                first_name: validate::person_name("--first-name", &first)?,
                last_name: validate::person_name("--last-name", &last)?,
                email: email.display,
                email_key: email.key,
                password_hash: None,
            },
        })
    };
    let registration = checked().map_err(|e| anyhow::anyhow!("{e}"))?;
    let (org, account, user) = store.create_org_with_admin(&registration).await?;
    let token = secret::new_token(TokenKind::Personal);
    store
        .insert_token(
            TokenKind::Personal,
            &user,
            org,
            Some("created by orgplane admin create-org"),
            &token,
            None,
            &Default::default(),
        )
        .await?;
    if json {
        println!(
            "{{\"organizationId\":\"{org}\",\"accountId\":\"{account}\",\"userId\":\"{user}\",\"token\":\"{}\"}}",
            token.secret
        );
    } else {
        println!(
            "organization {org} created with default account {account}; admin {user} <{}>",
            registration.person.email
        );
        println!("personal token (shown once, store it now): {}", token.secret);
    }
    Ok(())
}
