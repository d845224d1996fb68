//! Run-time configuration. Every value has a safe default; the command line
//! and `HS_*` environment variables override them (see `cli.rs`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// One rate limit: at most `max` requests per `window` per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    pub const fn per_minute(max: u32) -> Limit {
        Limit {
            max,
            window: Duration::from_secs(60),
        }
    }

    pub const fn per_minutes(max: u32, minutes: u64) -> Limit {
        Limit {
            max,
            window: Duration::from_secs(minutes * 60),
        }
    }
}

/// The limits of SPEC §4.
#[derive(Debug, Clone)]
pub struct RateLimits {
    pub login_per_ip: Limit,
    pub login_per_account: Limit,
    pub register_per_ip: Limit,
    pub verify_code: Limit,
    pub forgot_per_ip: Limit,
    pub forgot_per_account: Limit,
    pub chat_per_user: Limit,
    /// Everything else, per session (or per address when anonymous).
    pub general: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            login_per_ip: Limit::per_minute(5),
            login_per_account: Limit::per_minute(5),
            register_per_ip: Limit::per_minutes(3, 5),
            verify_code: Limit::per_minute(10),
            forgot_per_ip: Limit::per_minutes(3, 5),
            forgot_per_account: Limit::per_minutes(3, 5),
            chat_per_user: Limit::per_minute(30),
            general: Limit::per_minute(600),
        }
    }
}

/// Lockout after repeated failed logins (SPEC §3).
#[derive(Debug, Clone)]
pub struct Lockout {
    pub threshold: u32,
    pub first_lock: Duration,
    pub max_lock: Duration,
}

impl Default for Lockout {
    fn default() -> Self {
        Lockout {
            threshold: 10,
            first_lock: Duration::from_secs(15 * 60),
            max_lock: Duration::from_secs(24 * 3600),
        }
    }
}

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailConfig {
    /// Files in a folder: the default, so a fresh install works offline.
    Outbox(PathBuf),
    /// An SMTP server, e.g. `smtp://user:pass@mail.example.org:587` (STARTTLS),
    /// `smtps://…` (TLS) or `smtp://127.0.0.1:2525?tls=none` for a local relay.
    Smtp { url: String, from: String },
}

/// A crisis line or service shown to a patient when risk is detected.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CrisisResource {
    pub region: String,
    pub name: String,
    pub contact: String,
}

/// The crisis resources of SPEC §9 (UK, US and Canada), with the
/// emergency number of each region.
pub fn default_crisis_resources() -> Vec<CrisisResource> {
    let r = |region: &str, name: &str, contact: &str| CrisisResource {
        region: region.into(),
        name: name.into(),
        contact: contact.into(),
    };
    vec![
        r("UK", "Emergency services", "Call 999"),
        r(
            "UK",
            "NHS 111 (mental health)",
            "Call 111 and choose option 2",
        ),
        r("UK", "Samaritans", "Call 116 123, free, any time"),
        r("UK", "SHOUT", "Text SHOUT to 85258"),
        r(
            "US and Canada",
            "Suicide and Crisis Lifeline",
            "Call or text 988",
        ),
    ]
}

/// Clinical settings: risk signals, alert escalation, questionnaires.
#[derive(Debug, Clone)]
pub struct Clinical {
    pub crisis_resources: Vec<CrisisResource>,
    /// An open alert not acknowledged within this time is escalated.
    pub escalate_after: Duration,
    /// A mood this many points below the patient's recent average raises
    /// a moderate alert.
    pub mood_drop_points: i64,
    /// Entries the recent average is taken over.
    pub mood_drop_window: i64,
    /// Days between two submissions of the same questionnaire.
    pub assessment_cooldown_days: i64,
    /// How often the background jobs (escalation, reminders) run.
    pub job_interval: Duration,
}

impl Default for Clinical {
    fn default() -> Self {
        Clinical {
            crisis_resources: default_crisis_resources(),
            escalate_after: Duration::from_secs(30 * 60),
            mood_drop_points: 3,
            mood_drop_window: 7,
            assessment_cooldown_days: 14,
            job_interval: Duration::from_secs(60),
        }
    }
}

/// Which model answers in the companion chat.
#[derive(Clone)]
pub enum ModelBackend {
    /// The built-in companion: no network, the default.
    Local,
    /// Any OpenAI-compatible chat-completions endpoint.
    OpenAi {
        /// e.g. `https://api.example.org/v1` or `http://127.0.0.1:11434/v1`.
        base_url: String,
        model: String,
        api_key: Option<String>,
    },
}

// The API key must never reach a log.
impl std::fmt::Debug for ModelBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModelBackend::Local => f.write_str("Local"),
            ModelBackend::OpenAi {
                base_url,
                model,
                api_key,
            } => f
                .debug_struct("OpenAi")
                .field("base_url", base_url)
                .field("model", model)
                .field("api_key", &api_key.as_ref().map(|_| "****"))
                .finish(),
        }
    }
}

/// Settings of the AI companion (SPEC §10).
#[derive(Debug, Clone)]
pub struct Companion {
    pub backend: ModelBackend,
    /// Per attempt; a slower model gets a stored error reply.
    pub timeout: Duration,
    /// Further attempts after a connection error or a 5xx/429 answer.
    pub max_retries: u32,
    /// Earlier messages of the conversation sent as context.
    pub history_messages: usize,
    /// Characters of earlier messages sent at most.
    pub history_chars: usize,
    /// Whether clinicians' notes may be summarised for the model.
    pub include_clinician_notes: bool,
}

impl Default for Companion {
    fn default() -> Self {
        Companion {
            backend: ModelBackend::Local,
            timeout: Duration::from_secs(30),
            max_retries: 1,
            history_messages: 12,
            history_chars: 8000,
            include_clinician_notes: false,
        }
    }
}

/// A secret setting that never appears in logs or debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(pub String);

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    /// Mark cookies `Secure` and send HSTS: set when served over TLS.
    pub tls: bool,
    /// Peers whose `X-Forwarded-For` is believed (a reverse proxy).
    pub trusted_proxies: Vec<IpAddr>,
    pub json_body_limit: usize,
    pub rate_limits: RateLimits,
    pub lockout: Lockout,
    pub mail: MailConfig,
    /// Failed CSRF checks after which a session is ended.
    pub csrf_failure_limit: u32,
    /// Prometheus metrics listener; `None` turns it off.
    pub metrics_listen: Option<SocketAddr>,
    pub log_json: bool,
    pub clinical: Clinical,
    pub companion: Companion,
    /// Base64 master key wrapping patients' data keys; without it a key
    /// file in the data directory is used (created on first start).
    pub master_key: Option<SecretText>,
    /// Production mode: refuse to start without a configured, strong
    /// master key.
    pub production: bool,
    /// Base64 seed of the Ed25519 key that signs FHIR exports; without it
    /// `fhir-signing.key` in the data directory is used (created on first
    /// use). Servers sharing one database must share this key.
    pub fhir_signing_key: Option<SecretText>,
}

impl Config {
    /// Defaults for a data directory: SQLite file and outbox inside it.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        let data_dir = data_dir.into();
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: format!("sqlite://{}", data_dir.join("healing-space.db").display()),
            mail: MailConfig::Outbox(data_dir.join("outbox")),
            data_dir,
            session_idle: Duration::from_secs(2 * 3600),
            session_absolute: Duration::from_secs(12 * 3600),
            tls: false,
            trusted_proxies: Vec::new(),
            json_body_limit: 64 * 1024,
            rate_limits: RateLimits::default(),
            lockout: Lockout::default(),
            csrf_failure_limit: 10,
            metrics_listen: None,
            log_json: false,
            clinical: Clinical::default(),
            companion: Companion::default(),
            master_key: None,
            production: false,
            fhir_signing_key: None,
        }
    }
}
