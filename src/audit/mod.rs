//! The audit log (security events) and the access log (who opened a
//! patient's record).
//!
//! Audit rows hold ids, codes and addresses: never passwords, tokens or
//! clinical free text. The table is append-only (database triggers refuse
//! updates and deletes).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};

use crate::AppState;
use crate::accounts::session::SessionLookup;
use crate::db::{Backend, Db};
use crate::error::{AppResult, ErrorCode};
use crate::http::extract::ClientIp;
use crate::http::request_id;

pub mod routes;

/// One audit event.
#[derive(Debug, Clone)]
pub struct Event {
    pub actor_id: Option<i64>,
    pub action: &'static str,
    pub outcome: &'static str,
    pub target_id: Option<i64>,
    pub ip: Option<String>,
    pub detail: Value,
}

impl Event {
    pub fn new(action: &'static str, outcome: &'static str) -> Event {
        Event {
            actor_id: None,
            action,
            outcome,
            target_id: None,
            ip: None,
            detail: json!({}),
        }
    }

    pub fn actor(mut self, id: i64) -> Event {
        self.actor_id = Some(id);
        self
    }

    pub fn target(mut self, id: i64) -> Event {
        self.target_id = Some(id);
        self
    }

    pub fn ip(mut self, ip: ClientIp) -> Event {
        self.ip = Some(ip.0.to_string());
        self
    }

    pub fn detail(mut self, detail: Value) -> Event {
        self.detail = detail;
        self
    }
}

/// The `prev_hash` of the first row of the chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of one row: SHA-256 over a JSON array of the previous row's
/// hash and every stored field, so no field can change unnoticed and no
/// two different rows can serialise alike.
#[allow(clippy::too_many_arguments)]
pub fn row_hash(
    prev_hash: &str,
    created_at: i64,
    actor_id: Option<i64>,
    action: &str,
    outcome: &str,
    target_id: Option<i64>,
    ip: Option<&str>,
    request_id: Option<&str>,
    detail: &str,
) -> String {
    let material = json!([
        prev_hash, created_at, actor_id, action, outcome, target_id, ip, request_id, detail
    ]);
    crate::crypto::sha256_hex(&material.to_string())
}

/// Appends `event` to the audit log, chained to the row before it.
pub async fn record(db: &Db, now: i64, event: Event) -> AppResult<()> {
    let detail = event.detail.to_string();
    let request_id = request_id::current();
    // One appender at a time: in this process by the mutex, across app
    // servers on PostgreSQL by a transaction-scoped advisory lock.
    let _guard = db.audit_lock().lock().await;
    let mut tx = match db.backend() {
        // IMMEDIATE takes SQLite's write lock up front (waiting for it like
        // any writer), so no other writer can slip in between reading the
        // last hash and appending; a deferred transaction would fail with
        // "database is locked" instead of waiting when that happens.
        Backend::Sqlite => db.pool().begin_with("BEGIN IMMEDIATE").await?,
        Backend::Postgres => {
            let mut tx = db.pool().begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock(7271051401)")
                .execute(&mut *tx)
                .await?;
            tx
        }
    };
    let last: Option<(Option<String>,)> =
        sqlx::query_as("SELECT row_hash FROM audit_log ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    let prev = last
        .and_then(|(h,)| h)
        .unwrap_or_else(|| GENESIS.to_owned());
    let hash = row_hash(
        &prev,
        now,
        event.actor_id,
        event.action,
        event.outcome,
        event.target_id,
        event.ip.as_deref(),
        Some(&request_id),
        &detail,
    );
    sqlx::query(
        "INSERT INTO audit_log (created_at, actor_id, action, outcome, target_id, ip, \
         request_id, detail, prev_hash, row_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(now)
    .bind(event.actor_id)
    .bind(event.action)
    .bind(event.outcome)
    .bind(event.target_id)
    .bind(event.ip)
    .bind(&request_id)
    .bind(&detail)
    .bind(&prev)
    .bind(&hash)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainReport {
    /// Every row links to the one before and matches its hash.
    Intact { rows: u64 },
    /// The first row whose link or hash does not match.
    Broken { id: i64, reason: String },
}

type AuditRow = (
    i64,
    i64,
    Option<i64>,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

/// Walks the whole audit log in order and reports the first broken link.
pub async fn verify_chain(db: &Db) -> anyhow::Result<ChainReport> {
    let mut expected_prev = GENESIS.to_owned();
    let mut after = i64::MIN;
    let mut rows = 0u64;
    loop {
        let page: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, created_at, actor_id, action, outcome, target_id, ip, request_id, \
             detail, prev_hash, row_hash FROM audit_log WHERE id > $1 ORDER BY id LIMIT 1000",
        )
        .bind(after)
        .fetch_all(db.pool())
        .await?;
        if page.is_empty() {
            return Ok(ChainReport::Intact { rows });
        }
        for r in page {
            after = r.0;
            let (Some(prev), Some(stored)) = (&r.9, &r.10) else {
                return Ok(ChainReport::Broken {
                    id: r.0,
                    reason: "the row has no hash".into(),
                });
            };
            if *prev != expected_prev {
                return Ok(ChainReport::Broken {
                    id: r.0,
                    reason: "the row does not link to the row before it (a row was removed, \
                             inserted or reordered)"
                        .into(),
                });
            }
            let computed = row_hash(
                prev,
                r.1,
                r.2,
                &r.3,
                &r.4,
                r.5,
                r.6.as_deref(),
                r.7.as_deref(),
                &r.8,
            );
            if computed != *stored {
                return Ok(ChainReport::Broken {
                    id: r.0,
                    reason: "the row's contents do not match its hash (it was edited)".into(),
                });
            }
            expected_prev = computed;
            rows += 1;
        }
    }
}

/// Records every refusal that a layer or handler produced (CSRF, rate
/// limits, content type, size, forbidden), whatever route it came from.
pub async fn refusals_layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let actor = match req.extensions().get::<SessionLookup>() {
        Some(SessionLookup::Active(user)) => Some(user.id),
        _ => None,
    };
    let ip = req.extensions().get::<ClientIp>().copied();
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let response = next.run(req).await;
    let status = response.status();
    let refused = matches!(
        status,
        StatusCode::FORBIDDEN
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNSUPPORTED_MEDIA_TYPE
            | StatusCode::TOO_MANY_REQUESTS
    );
    // A flood of refusals must not flood the append-only log: at most a
    // few audit rows per client and minute (the rest are counted in the
    // request log and metrics).
    let client = actor
        .map(|a| format!("u:{a}"))
        .or_else(|| ip.map(|ip| format!("ip:{}", ip.0)))
        .unwrap_or_default();
    let within_budget = refused
        && state
            .limiter
            .check(
                "audit-refusals",
                &client,
                crate::config::Limit::per_minute(10),
            )
            .is_ok();
    if refused && within_budget {
        let code = response
            .extensions()
            .get::<ErrorCode>()
            .map(|c| c.0)
            .unwrap_or("refused");
        let mut event = Event::new("request.refused", code).detail(json!({
            "status": status.as_u16(),
            "method": method,
            "route": route,
        }));
        event.actor_id = actor;
        event.ip = ip.map(|ip| ip.0.to_string());
        if let Err(err) = record(&state.db, state.clock.now(), event).await {
            tracing::warn!(error = %err, "could not audit a refusal");
        }
    }
    response
}

/// Notes that `accessor` opened `resource` of `patient_id`'s record.
pub async fn record_access(
    db: &Db,
    now: i64,
    patient_id: i64,
    accessor: &crate::accounts::session::CurrentUser,
    resource: &str,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO access_log (patient_id, accessor_id, accessor_name, accessor_role, \
         resource, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(patient_id)
    .bind(accessor.id)
    .bind(&accessor.display_name)
    .bind(accessor.role.as_str())
    .bind(resource)
    .bind(now)
    .execute(db.pool())
    .await?;
    record(
        db,
        now,
        Event::new("record.read", "ok")
            .actor(accessor.id)
            .target(patient_id)
            .detail(json!({ "resource": resource })),
    )
    .await
}
