//! Healing Space: a mental-health companion service.
//!
//! The library builds the whole application; `main.rs` only parses the
//! command line. Each domain module keeps its routes, types and storage
//! side by side; `http` holds the protections every route gets.

#![forbid(unsafe_code)]

use std::sync::Arc;

use anyhow::Context;
use axum::Router;

pub mod accounts;
pub mod admin;
pub mod assessments;
pub mod audit;
pub mod care_team;
pub mod cli;
pub mod clock;
pub mod companion;
pub mod config;
pub mod crypto;
pub mod daily_record;
pub mod db;
pub mod demo;
pub mod error;
pub mod exports;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod notifications;
pub mod reminders;
pub mod risk;
pub mod types;
pub mod vault;
pub mod web;
pub mod workspace;

use clock::Clock;
use config::Config;
use db::Db;
use http::ratelimit::RateLimiter;
use mail::Mailer;

/// Everything a request handler may need, cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub clock: Clock,
    pub limiter: Arc<RateLimiter>,
    pub mailer: Mailer,
    /// The companion's model (built-in or a remote endpoint).
    pub model: Arc<dyn companion::model::ChatModel>,
    /// Wraps and unwraps the patients' data keys.
    pub vault: vault::Vault,
}

impl AppState {
    /// Opens the database (creating the data directory and applying
    /// migrations) and prepares the mailer.
    pub async fn open(config: Config, clock: Clock) -> anyhow::Result<AppState> {
        let fresh = !config.data_dir.exists();
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("creating the data directory {}", config.data_dir.display())
        })?;
        #[cfg(unix)]
        if fresh {
            // A data folder the service made is its own: nobody else reads it.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&config.data_dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("securing {}", config.data_dir.display()))?;
        }
        let vault = vault::Vault::load(
            config.master_key.as_ref().map(|k| k.0.as_str()),
            &config.data_dir,
            config.production,
        )?;
        let db = Db::connect(&config.database_url).await?;
        db.migrate().await?;
        let mailer = Mailer::from_config(&config.mail)?;
        let model = Arc::from(companion::model::from_config(&config.companion)?);
        Ok(AppState {
            model,
            vault,
            limiter: Arc::new(RateLimiter::new(clock.clone())),
            config: Arc::new(config),
            db,
            clock,
            mailer,
        })
    }
}

/// Every route of the service, wrapped in the protections of `http`.
pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .merge(accounts::routes::router())
        .merge(care_team::routes::router())
        .merge(daily_record::mood::router())
        .merge(daily_record::entries::router())
        .merge(daily_record::cbt::router())
        .merge(assessments::router())
        .merge(risk::alerts::router())
        .merge(workspace::router())
        .merge(reminders::router())
        .merge(companion::router())
        .merge(exports::rights::router())
        .merge(exports::fhir::router())
        .merge(notifications::router())
        .merge(audit::routes::router())
        .merge(admin::router())
        .merge(web::router());
    http::with_protections(routes, state)
}
