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
use crate::db::Db;
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

/// Appends `event` to the audit log.
pub async fn record(db: &Db, now: i64, event: Event) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (created_at, actor_id, action, outcome, target_id, ip, \
         request_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(now)
    .bind(event.actor_id)
    .bind(event.action)
    .bind(event.outcome)
    .bind(event.target_id)
    .bind(event.ip)
    .bind(request_id::current())
    .bind(event.detail.to_string())
    .execute(db.pool())
    .await?;
    Ok(())
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
    if refused {
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
