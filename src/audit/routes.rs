//! Reading the logs: a patient's own access log, and the audit log for
//! developers (ids and codes only, never clinical text).

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::accounts::session::{DeveloperUser, PatientUser};
use crate::error::AppResult;
use crate::http::extract::Query;
use crate::types::{Bounded, rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/me/access-log", get(access_log))
        .route("/api/developer/audit", get(audit_log))
}

/// Who opened the caller's record, newest first.
pub(crate) async fn access_log(
    State(state): State<AppState>,
    PatientUser(user): PatientUser,
) -> AppResult<axum::Json<Value>> {
    // Display names are chosen freely and need not be unique, so the
    // username tells the patient exactly who it was (null once that
    // account is gone; the name kept at the time stays).
    let rows: Vec<(String, String, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT a.accessor_name, a.accessor_role, a.resource, a.created_at, u.username \
         FROM access_log a LEFT JOIN users u ON u.id = a.accessor_id \
         WHERE a.patient_id = $1 ORDER BY a.id DESC LIMIT 500",
    )
    .bind(user.id)
    .fetch_all(state.db.pool())
    .await?;
    let entries: Vec<Value> = rows
        .into_iter()
        .map(|(name, role, resource, at, username)| {
            json!({
                "by": name,
                "username": username,
                "role": role,
                "resource": resource,
                "at": rfc3339(at),
            })
        })
        .collect();
    Ok(axum::Json(json!({ "entries": entries })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Rows with an id below this one (for paging back).
    before: Option<i64>,
    limit: Option<Bounded<1, 500>>,
    action: Option<String>,
}

/// Audit actions about a patient's care, shown to operators without their
/// subject, actor or detail.
const CLINICAL_PREFIXES: &[&str] = &[
    "alert.",
    "note.",
    "record.",
    "care_team.",
    "export.",
    "companion.",
];

/// id, created_at, actor, action, outcome, target, ip, request id, detail.
type AuditListRow = (
    i64,
    i64,
    Option<i64>,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
);

pub(crate) async fn audit_log(
    State(state): State<AppState>,
    DeveloperUser(_dev): DeveloperUser,
    Query(q): Query<AuditQuery>,
) -> AppResult<axum::Json<Value>> {
    let limit = q.limit.map(Bounded::get).unwrap_or(100);
    let rows: Vec<AuditListRow> = sqlx::query_as(
        "SELECT id, created_at, actor_id, action, outcome, target_id, ip, request_id, detail \
             FROM audit_log WHERE id < $1 AND ($2 = '' OR action = $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(q.before.unwrap_or(i64::MAX))
    .bind(q.action.unwrap_or_default())
    .bind(limit)
    .fetch_all(state.db.pool())
    .await?;
    let entries: Vec<Value> = rows
        .into_iter()
        .map(
            |(id, at, actor, action, outcome, target, ip, request_id, detail)| {
                // Operators never see clinical content: for events about a
                // patient's care, who it concerns and what it was are left
                // out, so the log cannot tie an alert or a note to a person.
                let clinical = CLINICAL_PREFIXES.iter().any(|p| action.starts_with(p));
                let (actor, target, detail) = if clinical {
                    (None, None, "{}".to_owned())
                } else {
                    (actor, target, detail)
                };
                json!({
                    "id": id,
                    "at": rfc3339(at),
                    "actor_id": actor,
                    "action": action,
                    "outcome": outcome,
                    "target_id": target,
                    "ip": ip,
                    "request_id": request_id,
                    "detail": serde_json::from_str::<Value>(&detail).unwrap_or(Value::Null),
                })
            },
        )
        .collect();
    Ok(axum::Json(json!({ "entries": entries })))
}
