//! The command line: `serve`, `migrate`, `user create`, `demo`, `fhir verify`,
//! `totp-code`.

use std::io::BufRead;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::accounts::types::{Email, Password, Pin, Role, Username};
use crate::clock::Clock;
use crate::config::{Config, MailConfig};
use crate::{AppState, app};

#[derive(Parser, Debug)]
#[command(
    name = "healing-space",
    version,
    about = "A mental-health companion service"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Folder for the SQLite database, the mail outbox and key files.
    #[arg(long, env = "HS_DATA_DIR", default_value = "data", global = true)]
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; defaults to a SQLite file in the data folder.
    #[arg(long, env = "HS_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Log format.
    #[arg(long, env = "HS_LOG_FORMAT", default_value = "text", global = true)]
    pub log_format: LogFormat,
    /// Master key (32 random bytes, Base64) that wraps each patient's data
    /// key; without it `master.key` in the data folder is used or created.
    #[arg(long, env = "HS_MASTER_KEY", hide_env_values = true, global = true)]
    pub master_key: Option<String>,
    /// Production mode: refuse to start without a strong configured master key.
    #[arg(long, env = "HS_PRODUCTION", global = true)]
    pub production: bool,
    /// Key that signs FHIR exports (Base64 of a 32-byte Ed25519 seed);
    /// without it `fhir-signing.key` in the data folder is used or created.
    /// Servers sharing one database must share it.
    #[arg(
        long,
        env = "HS_FHIR_SIGNING_KEY",
        hide_env_values = true,
        global = true
    )]
    pub fhir_signing_key: Option<String>,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP service.
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage users from the command line.
    #[command(subcommand)]
    User(UserCommand),
    /// Load a demo clinic into an empty data folder and print its logins.
    Demo,
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Work with signed FHIR exports.
    #[command(subcommand)]
    Fhir(FhirCommand),
    /// Print the current TOTP code for a Base32 secret (for the demo logins).
    TotpCode {
        /// The Base32 secret, as `healing-space demo` prints it.
        #[arg(long, env = "HS_TOTP_SECRET")]
        secret: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain of the audit log and report the first broken
    /// link (exit status 1), or that it is intact.
    Verify,
}

#[derive(Subcommand, Debug)]
pub enum FhirCommand {
    /// Check the signature of an exported FHIR Bundle: exit status 0 when
    /// it is intact, 1 with a one-line reason when it is not.
    Verify {
        /// The Bundle (JSON); `-` reads standard input.
        file: PathBuf,
        /// The signer's public key: Base64 of its 32 bytes, or a file
        /// holding that or the JSON of `GET /api/export/fhir/public-key`.
        /// Without it, this installation's own key is used.
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Minutes of inactivity after which a session ends.
    #[arg(long, env = "HS_SESSION_IDLE_MINUTES", default_value_t = 120)]
    pub session_idle_minutes: u64,
    /// Hours after which a session ends however active it is.
    #[arg(long, env = "HS_SESSION_ABSOLUTE_HOURS", default_value_t = 12)]
    pub session_absolute_hours: u64,
    /// Set when the service is reached over HTTPS (through a TLS proxy):
    /// cookies become `Secure` and HSTS is sent.
    #[arg(long, env = "HS_TLS")]
    pub tls: bool,
    /// Comma-separated addresses of reverse proxies whose X-Forwarded-For is trusted.
    #[arg(long, env = "HS_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,
    /// SMTP server URL (smtp://user:pass@host:587, smtps://…); without it mail
    /// goes to the outbox folder.
    #[arg(long, env = "HS_SMTP_URL")]
    pub smtp_url: Option<String>,
    /// Sender address for mail.
    #[arg(
        long,
        env = "HS_MAIL_FROM",
        default_value = "Healing Space <no-reply@localhost>"
    )]
    pub mail_from: String,
    /// Address of the Prometheus metrics listener (off when not given).
    #[arg(long, env = "HS_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Largest JSON body accepted, in bytes.
    #[arg(long, env = "HS_JSON_BODY_LIMIT", default_value_t = 64 * 1024)]
    pub json_body_limit: usize,
    /// Requests per minute allowed per session (or per address when anonymous).
    #[arg(long, env = "HS_RATE_GENERAL_PER_MINUTE", default_value_t = 600)]
    pub rate_general_per_minute: u32,
    /// Login attempts per minute per address and per account.
    #[arg(long, env = "HS_RATE_LOGIN_PER_MINUTE", default_value_t = 5)]
    pub rate_login_per_minute: u32,
    /// Base URL of an OpenAI-compatible chat-completions API (e.g.
    /// http://127.0.0.1:11434/v1); without it the built-in companion answers.
    #[arg(long, env = "HS_AI_BASE_URL")]
    pub ai_base_url: Option<String>,
    /// Model name sent to that API.
    #[arg(long, env = "HS_AI_MODEL", default_value = "gpt-4o-mini")]
    pub ai_model: String,
    /// API key for that API (prefer the environment variable).
    #[arg(long, env = "HS_AI_API_KEY", hide_env_values = true)]
    pub ai_api_key: Option<String>,
    /// Seconds to wait for the model before giving a stored error reply.
    #[arg(long, env = "HS_AI_TIMEOUT_SECONDS", default_value_t = 30)]
    pub ai_timeout_seconds: u64,
    /// Minutes after which an unacknowledged alert is escalated.
    #[arg(long, env = "HS_ALERT_ESCALATE_MINUTES", default_value_t = 30)]
    pub alert_escalate_minutes: u64,
    /// JSON file with the crisis resources to show, as a list of
    /// {region, name, contact}; defaults to the UK, US and Canada lines.
    #[arg(long, env = "HS_CRISIS_RESOURCES_FILE")]
    pub crisis_resources_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user. The only way to create a developer. The password and
    /// PIN are read from HS_NEW_PASSWORD and HS_NEW_PIN, or else from the
    /// first two lines of standard input.
    Create {
        #[arg(long)]
        role: Role,
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        display_name: Option<String>,
    },
}

impl clap::ValueEnum for Role {
    fn value_variants<'a>() -> &'a [Self] {
        &[Role::Patient, Role::Clinician, Role::Developer]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()))
    }
}

fn base_config(common: &Common) -> Config {
    let mut config = Config::for_data_dir(&common.data_dir);
    if let Some(url) = &common.database_url {
        config.database_url = url.clone();
    }
    config.log_json = common.log_format == LogFormat::Json;
    config.master_key = common.master_key.clone().map(crate::config::SecretText);
    config.production = common.production;
    config.fhir_signing_key = common
        .fhir_signing_key
        .clone()
        .map(crate::config::SecretText);
    config
}

fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_env("HS_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn,lettre=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.init();
    }
}

/// Runs the command line.
pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = base_config(&cli.common);
    init_logging(config.log_json);
    match cli.command {
        Command::Serve(args) => {
            let args = *args;
            config.listen = args.listen;
            config.session_idle = Duration::from_secs(args.session_idle_minutes.max(1) * 60);
            config.session_absolute =
                Duration::from_secs(args.session_absolute_hours.max(1) * 3600);
            config.tls = args.tls;
            config.trusted_proxies = args.trusted_proxies;
            config.metrics_listen = args.metrics_listen;
            config.json_body_limit = args.json_body_limit;
            config.rate_limits.general.max = args.rate_general_per_minute;
            config.rate_limits.login_per_ip.max = args.rate_login_per_minute;
            config.rate_limits.login_per_account.max = args.rate_login_per_minute;
            if let Some(base_url) = args.ai_base_url {
                config.companion.backend = crate::config::ModelBackend::OpenAi {
                    base_url,
                    model: args.ai_model,
                    api_key: args.ai_api_key,
                };
            }
            config.companion.timeout = Duration::from_secs(args.ai_timeout_seconds.max(1));
            config.clinical.escalate_after =
                Duration::from_secs(args.alert_escalate_minutes.max(1) * 60);
            if let Some(path) = args.crisis_resources_file {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading {}", path.display()))?;
                config.clinical.crisis_resources =
                    serde_json::from_str(&text).with_context(|| {
                        format!("reading the crisis resources in {}", path.display())
                    })?;
                if config.clinical.crisis_resources.is_empty() {
                    bail!("the crisis resources file lists no resource");
                }
            }
            if let Some(url) = args.smtp_url {
                config.mail = MailConfig::Smtp {
                    url,
                    from: args.mail_from,
                };
            }
            serve(config).await
        }
        Command::Migrate => {
            AppState::open(config, Clock::default()).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::User(UserCommand::Create {
            role,
            username,
            email,
            display_name,
        }) => {
            let state = AppState::open(config, Clock::default()).await?;
            create_user_cli(&state, role, &username, &email, display_name.as_deref()).await
        }
        Command::Demo => {
            let state = AppState::open(config, Clock::default()).await?;
            crate::demo::load(&state).await
        }
        Command::Audit(AuditCommand::Verify) => {
            let state = AppState::open(config, Clock::default()).await?;
            match crate::audit::verify_chain(&state.db).await? {
                crate::audit::ChainReport::Intact { rows } => {
                    println!("audit log intact: {rows} rows");
                    Ok(())
                }
                crate::audit::ChainReport::Broken { id, reason } => {
                    println!("audit log broken at row {id}: {reason}");
                    std::process::exit(1);
                }
            }
        }
        Command::Fhir(FhirCommand::Verify { file, public_key }) => {
            let line = crate::exports::fhir::verify_file(&config, &file, public_key.as_deref())?;
            println!("{line}");
            Ok(())
        }
        Command::TotpCode { secret } => {
            // Authenticator apps show secrets in groups and any case.
            let secret: String = secret
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '=')
                .collect::<String>()
                .to_ascii_uppercase();
            let code = Some(secret.as_str())
                .filter(|s| !s.is_empty())
                .and_then(|s| crate::crypto::totp::code_at(s, Clock::default().now()))
                .context("the secret is not valid Base32")?;
            println!("{code}");
            Ok(())
        }
    }
}

/// Serves until Ctrl-C or SIGTERM, then finishes the requests under way.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let listen = config.listen;
    let metrics = config.metrics_listen;
    let state = AppState::open(config, Clock::default()).await?;
    crate::jobs::spawn(state.clone());
    if let Some(addr) = metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding the metrics listener to {addr}"))?;
        tracing::info!(%addr, "metrics listening");
        let router = axum::Router::new().route(
            "/metrics",
            axum::routing::get(|| async { crate::metrics::render() }),
        );
        tokio::spawn(async move { axum::serve(listener, router).await });
    }
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding to {listen}"))?;
    tracing::info!(addr = %listen, "healing space listening");
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("serving HTTP")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

fn read_secret(
    env: &str,
    lines: &mut impl Iterator<Item = std::io::Result<String>>,
) -> anyhow::Result<String> {
    if let Ok(value) = std::env::var(env) {
        return Ok(value);
    }
    match lines.next() {
        Some(line) => Ok(line
            .context("reading standard input")?
            .trim_end_matches('\r')
            .to_owned()),
        None => bail!("set {env} or give the value on standard input"),
    }
}

async fn create_user_cli(
    state: &AppState,
    role: Role,
    username: &str,
    email: &str,
    display_name: Option<&str>,
) -> anyhow::Result<()> {
    let username = Username::parse(username).map_err(|e| anyhow::anyhow!("username {e}"))?;
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("email {e}"))?;
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let password = Password::parse(read_secret("HS_NEW_PASSWORD", &mut lines)?)
        .map_err(|e| anyhow::anyhow!("password {e}"))?;
    let pin = Pin::parse(read_secret("HS_NEW_PIN", &mut lines)?)
        .map_err(|e| anyhow::anyhow!("PIN {e}"))?;
    let display = crate::accounts::types::DisplayName::parse(
        display_name.unwrap_or(username.as_str()).to_owned(),
    )
    .map_err(|e| anyhow::anyhow!("display name {e}"))?;
    let user = crate::accounts::routes::create_user(
        state,
        crate::accounts::routes::NewAccount {
            username: &username,
            password: &password,
            pin: &pin,
            email: &email,
            display_name: &display,
            time_zone: None,
            role,
            areas: "",
        },
        crate::http::extract::ClientIp(IpAddr::from([127, 0, 0, 1])),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Accounts made by an operator on the server are trusted: active at once.
    crate::accounts::store::set_status(&state.db, user.id, "active")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "created {} {} (log in with the password and PIN; enrol TOTP before using operator functions)",
        role.as_str(),
        user.username
    );
    Ok(())
}
