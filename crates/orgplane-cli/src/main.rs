//! The `orgplane` binary: `serve`, `migrate`, and operator commands under `admin`.
//! Configuration comes from defaults, then a TOML file, then `ORGPLANE_*` environment
//! variables, then flags — each layer overriding the one before.

mod config;
mod report;
mod usage_import;

use anyhow::Context;
use clap::{Parser, Subcommand};
use config::Config;
use orgplane_domain::secret::{self, TokenKind};
use orgplane_domain::validate;
use orgplane_store::audit::{Draft, recording};
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
    /// Usage records.
    Usage {
        #[command(subcommand)]
        command: UsageCommand,
    },
    /// Documents from a running server (through its API).
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The outgoing-message queue.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
}

#[derive(Subcommand)]
enum UsageCommand {
    /// Fill a month of an organization with synthetic usage (for the bill benchmark), directly
    /// in the database.
    Seed {
        #[arg(long)]
        org: String,
        /// YYYY-MM
        #[arg(long)]
        month: String,
        #[arg(long)]
        records: u64,
    },
    /// Send a CSV file (header: accountId,date,product,vcpuHours,onDemandCostCents,actualCostCents)
    /// to a running server, in batches. A file with any malformed line imports nothing; an
    /// interrupted import resumes when run again.
    Import {
        file: PathBuf,
        /// The server's address.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// An API token of an organization admin (or a token allowed to ingest usage).
        #[arg(long, env = "ORGPLANE_TOKEN", hide_env_values = true)]
        token: String,
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(1..=10000))]
        batch_size: u16,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Download a month's bill as a PDF statement, a CSV file or the API's JSON.
    Billing {
        /// YYYY-MM (default: this month, UTC).
        #[arg(long)]
        month: Option<String>,
        #[arg(long, default_value = "pdf", value_parser = report::FORMATS)]
        format: String,
        /// Where to save it (default: bill-YYYY-MM.FORMAT in the current directory).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// The server's address.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// An API token of someone allowed to see the organization's bill.
        #[arg(long, env = "ORGPLANE_TOKEN", hide_env_values = true)]
        token: String,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recompute every organization's hash chain and report the first broken link of each;
    /// exits with status 1 when any chain is broken.
    Verify,
}

#[derive(Subcommand)]
enum OutboxCommand {
    /// List messages in one state (dead ones are those that failed every attempt).
    List {
        #[arg(long, default_value = "dead", value_parser = ["pending", "sent", "dead"])]
        status: String,
    },
    /// Make a pending or dead message due again now.
    Retry { id: i64 },
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
    /// Set the price of a product on a plan: a share of the savings, or a price per vCPU-hour.
    SetPrice {
        #[arg(long, value_parser = ["trial", "payg", "enterprise"])]
        plan: String,
        #[arg(long)]
        product: String,
        /// Percent of the savings, e.g. 25 or 12.5.
        #[arg(long, conflicts_with = "vcpu_hour_cents", required_unless_present = "vcpu_hour_cents")]
        savings_percent: Option<f64>,
        /// Cents per vCPU-hour, e.g. 1.5.
        #[arg(long)]
        vcpu_hour_cents: Option<f64>,
    },
    /// Fill an organization with synthetic people and accounts (for the scale benchmark),
    /// directly in the database, in batched multi-row inserts.
    Seed {
        #[arg(long)]
        org: String,
        /// People to add (members attached to nothing, no password).
        #[arg(long, default_value_t = 0)]
        users: u64,
        /// Accounts to add.
        #[arg(long, default_value_t = 0)]
        accounts: u64,
    },
    /// Set an organization's plan (enterprise is only ever set here).
    SetPlan {
        #[arg(long)]
        org: String,
        #[arg(long, value_parser = ["trial", "payg", "enterprise"])]
        plan: String,
    },
}

/// mimalloc (transparent huge pages off, so that an idle server stays small): requests move
/// between worker threads, and glibc's allocator made the thread that frees take the arena
/// lock of the one that allocated (`perf`: `__lll_lock_wake_private`, `malloc_consolidate`);
/// 10-15 % less server CPU per request (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

    // Client commands talk to a running server, not to the database.
    if let Command::Usage { command: UsageCommand::Import { file, url, token, batch_size } } = &cli.command {
        return usage_import::run(file, url, token, usize::from(*batch_size)).await;
    }
    if let Command::Report { command: ReportCommand::Billing { month, format, output, url, token } } = &cli.command {
        let month = month
            .clone()
            .unwrap_or_else(|| orgplane_domain::timefmt::to_spot(orgplane_store::now_ms())[..7].to_string());
        return report::billing(url, token, &month, format, output.as_deref()).await;
    }
    let store = Store::connect(&config.database_url()).await.context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    match cli.command {
        Command::Serve { .. } => {
            let listener = tokio::net::TcpListener::bind(&config.listen)
                .await
                .with_context(|| format!("listening on {}", config.listen))?;
            tracing::info!(listen = %listener.local_addr()?, backend = ?store.backend(), "orgplane serving");
            let server = config.server()?;
            let mailer = match config.smtp() {
                Some(smtp) => Some(orgplane_notify::Mailer::new(&smtp).map_err(|e| anyhow::anyhow!("{e}"))?),
                None => {
                    tracing::warn!("no smtp_host configured: outgoing mail stays queued until one is");
                    None
                }
            };
            let webhooks =
                orgplane_notify::WebhookSender::new(server.master_key.clone(), config.webhook_allow_private_addresses);
            let worker =
                orgplane_notify::Worker::new(store.clone(), mailer, webhooks).spawn(std::time::Duration::from_secs(5));
            // PostgreSQL: the lease under the identity kept in the data directory, so that a
            // restart after a crash takes the old lease over instead of waiting for it to run out.
            store.serve_as_replica_in(&config.data_dir);
            orgplane_server::serve(listener, store.clone(), server).await?;
            worker.stop().await;
            store.close().await;
        }
        Command::Migrate => println!("migrations applied ({:?})", store.backend()),
        Command::Usage { command: UsageCommand::Seed { org, month, records } } => {
            let id = orgplane_domain::ids::OrgId::parse(&org).map_err(|e| anyhow::anyhow!("--org: {e}"))?;
            let today = orgplane_domain::timefmt::to_spot(orgplane_store::now_ms())[..10].to_string();
            let month = orgplane_domain::billing::check_month(&month, &today)
                .ok_or_else(|| anyhow::anyhow!("--month must be a month that has begun, YYYY-MM"))?;
            let bar = indicatif::ProgressBar::new(records);
            let started = std::time::Instant::now();
            store.seed_usage(id, &month, records, |n| bar.set_position(n)).await?;
            bar.finish_and_clear();
            println!("seeded {records} usage records in {month} in {:.1} s", started.elapsed().as_secs_f64());
        }
        Command::Usage { command: UsageCommand::Import { .. } } | Command::Report { .. } => {
            unreachable!("handled before the database is opened")
        }
        Command::Admin { command: AdminCommand::CreateOrg { name, email, first_name, last_name, json } } => {
            create_org(&store, name, email, first_name, last_name, json).await?;
        }
        Command::Outbox { command: OutboxCommand::List { status } } => {
            let status = orgplane_domain::outbox::Status::parse(&status).expect("clap checked the value");
            for m in store.outbox_messages(status).await? {
                println!(
                    "{}\t{}\tattempts={}\t{}",
                    m.id,
                    m.channel.as_str(),
                    m.attempts,
                    m.last_error.unwrap_or_default()
                );
            }
        }
        Command::Admin { command: AdminCommand::SetPrice { plan, product, savings_percent, vcpu_hour_cents } } => {
            use orgplane_domain::billing::Price;
            let plan = orgplane_domain::plan::Plan::parse(&plan).expect("clap checked the value");
            let product =
                orgplane_domain::validate::label("--product", &product).map_err(|e| anyhow::anyhow!("{e}"))?;
            // Rates are stored as integers: basis points, thousandths of a cent.
            let price = match (savings_percent, vcpu_hour_cents) {
                (Some(p), _) if (0.0..=100.0).contains(&p) => {
                    Price::SavingsShare { basis_points: (p * 100.0).round() as i64 }
                }
                (None, Some(c)) if (0.0..=1_000_000.0).contains(&c) => {
                    Price::PerVcpuHour { millicents: (c * 1000.0).round() as i64 }
                }
                _ => anyhow::bail!("--savings-percent must be 0 to 100, --vcpu-hour-cents 0 or more"),
            };
            store.set_price(plan, &product, price).await?;
            println!("{} on {}: {price:?}", product, plan.as_str());
        }
        Command::Admin { command: AdminCommand::Seed { org, users, accounts } } => {
            let id = orgplane_domain::ids::OrgId::parse(&org).map_err(|e| anyhow::anyhow!("--org: {e}"))?;
            let bar = indicatif::ProgressBar::new(users + accounts);
            let started = std::time::Instant::now();
            let draft = operator_draft(
                id,
                ("setup:seedDirectory", "Seed synthetic users and accounts (operator)"),
                "orgplane admin seed",
                serde_json::json!({ "users": users, "accounts": accounts }),
            );
            let seeded = recording(draft, store.seed_directory(id, users, accounts, |n| bar.set_position(n))).await.0?;
            bar.finish_and_clear();
            let secs = started.elapsed().as_secs_f64();
            let rows = seeded.users + seeded.accounts;
            println!(
                "seeded {} users and {} accounts into {id} in {secs:.1} s ({:.0} rows/s)",
                seeded.users,
                seeded.accounts,
                rows as f64 / secs.max(1e-9)
            );
        }
        Command::Admin { command: AdminCommand::SetPlan { org, plan } } => {
            let id = orgplane_domain::ids::OrgId::parse(&org).map_err(|e| anyhow::anyhow!("--org: {e}"))?;
            let plan = orgplane_domain::plan::Plan::parse(&plan).expect("clap checked the value");
            let draft = operator_draft(
                id,
                ("billing:setPlan", "Set plan (operator)"),
                "orgplane admin set-plan",
                serde_json::json!({ "plan": plan.as_str() }),
            );
            recording(draft, store.set_plan(id, plan)).await.0?;
            println!("organization {id} is now on the {} plan", plan.as_str());
        }
        Command::Audit { command: AuditCommand::Verify } => {
            let mut broken = 0;
            for report in store.verify_audit().await? {
                let chain = match report.organization_id {
                    orgplane_domain::audit::PLATFORM_CHAIN => "sign-ins matching no organization".to_string(),
                    org => format!("organization {org}"),
                };
                match report.result {
                    Ok(n) => println!("ok      {chain}: {n} events, chain intact"),
                    Err(b) => {
                        broken += 1;
                        println!(
                            "BROKEN  {chain}: first broken link at event #{} ({}): {}",
                            b.seq,
                            b.event_id.unwrap_or_else(|| "-".into()),
                            b.reason
                        );
                    }
                }
            }
            if broken > 0 {
                anyhow::bail!("{broken} audit chain(s) broken");
            }
        }
        Command::Outbox { command: OutboxCommand::Retry { id } } => {
            store.retry_now(id).await?;
            println!("message {id} is due now");
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
    // Recorded in the new organization's audit trail, with the operator's command as source.
    let draft = Draft {
        kind: orgplane_domain::audit::kind_for("POST", "/setup/organization"),
        source: "cli".into(),
        url: "orgplane admin create-org".into(),
        body: serde_json::json!({ "name": registration.org_name, "email": registration.person.email }),
        agent: Some(concat!("orgplane-cli/", env!("CARGO_PKG_VERSION")).into()),
        ..Default::default()
    };
    let (created, _) = recording(draft, store.create_org_with_admin(&registration)).await;
    let (org, account, user) = created?;
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

/// The audit event of an operator's command on one organization: recorded in its trail with the
/// command line as source, so what an operator did is as visible as what the API did.
fn operator_draft(
    org: orgplane_domain::ids::OrgId,
    (action, action_type): (&'static str, &'static str),
    command: &str,
    body: serde_json::Value,
) -> Draft {
    Draft {
        kind: Some(orgplane_domain::audit::Kind {
            action,
            action_type,
            namespace: "GENERAL",
            resource_type: "organization",
            anonymous: false,
        }),
        org: Some(org),
        resource_id: Some(org.to_string()),
        source: "cli".into(),
        url: command.into(),
        body,
        ..Default::default()
    }
}
