//! The alert lifecycle: open → acknowledged → resolved, by a clinician
//! with an approved link to the patient; and the safety check.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Level, Source};
use crate::AppState;
use crate::accounts::session::{ClinicianUser, CurrentUser, PatientUser};
use crate::audit::{self, Event};
use crate::care_team::gate;
use crate::error::{AppError, AppResult};
use crate::http::extract::{Json, Query};
use crate::types::{Text, rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/alerts", get(list))
        .route("/api/alerts/{id}/acknowledge", post(acknowledge))
        .route("/api/alerts/{id}/resolve", post(resolve))
        .route("/api/safety/check", post(safety_check))
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertRow {
    pub id: i64,
    pub patient_id: i64,
    pub patient_username: String,
    pub patient_name: String,
    pub level: String,
    pub source: String,
    pub reason: String,
    pub status: String,
    pub created_at: i64,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by_name: Option<String>,
    pub resolved_at: Option<i64>,
    pub resolved_by_name: Option<String>,
    pub outcome_note: Option<String>,
    pub escalated_at: Option<i64>,
}

impl AlertRow {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "patient": { "username": self.patient_username, "display_name": self.patient_name },
            "level": self.level,
            "source": self.source,
            "reason": self.reason,
            "status": self.status,
            "created_at": rfc3339(self.created_at),
            "acknowledged_at": self.acknowledged_at.map(rfc3339),
            "acknowledged_by": self.acknowledged_by_name,
            "resolved_at": self.resolved_at.map(rfc3339),
            "resolved_by": self.resolved_by_name,
            "outcome_note": self.outcome_note,
            "escalated": self.escalated_at.is_some(),
        })
    }
}

pub const ALERT_SELECT: &str = "SELECT a.id, a.patient_id, p.username AS patient_username, \
     p.display_name AS patient_name, a.level, a.source, a.reason, a.status, a.created_at, \
     a.acknowledged_at, ak.display_name AS acknowledged_by_name, a.resolved_at, \
     rs.display_name AS resolved_by_name, a.outcome_note, a.escalated_at \
     FROM alerts a JOIN users p ON p.id = a.patient_id \
     LEFT JOIN users ak ON ak.id = a.acknowledged_by \
     LEFT JOIN users rs ON rs.id = a.resolved_by";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertFilter {
    status: Option<String>,
}

/// Alerts of the clinician's approved patients, most urgent first: open
/// before acknowledged before resolved, high before moderate, oldest first.
pub(crate) async fn list(
    State(state): State<AppState>,
    ClinicianUser(user): ClinicianUser,
    Query(filter): Query<AlertFilter>,
) -> AppResult<axum::Json<Value>> {
    let status = filter.status.unwrap_or_default();
    if !["", "open", "acknowledged", "resolved"].contains(&status.as_str()) {
        return Err(AppError::invalid_field(
            "status",
            "must be open, acknowledged or resolved",
        ));
    }
    let sql = format!(
        "{ALERT_SELECT} JOIN care_links l ON l.patient_id = a.patient_id \
         WHERE l.clinician_id = $1 AND l.status = 'approved' AND ($2 = '' OR a.status = $2) \
         ORDER BY CASE a.status WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END, \
         CASE a.level WHEN 'high' THEN 0 ELSE 1 END, a.created_at, a.id LIMIT 500"
    );
    let mut rows: Vec<AlertRow> = sqlx::query_as(&sql)
        .bind(user.id)
        .bind(&status)
        .fetch_all(state.db.pool())
        .await?;
    let mut logged = std::collections::HashSet::new();
    for row in &mut rows {
        // The query joined on the clinician's approved links, the same
        // right the gate checks, so the patients' keys may be used here;
        // and like the gate, each patient's access log records the read.
        open_outcome(state.vault.key(&state.db, row.patient_id).await?, row)?;
        if logged.insert(row.patient_id) {
            crate::audit::record_access(
                &state.db,
                state.clock.now(),
                row.patient_id,
                &user,
                "alerts",
            )
            .await?;
        }
    }
    Ok(axum::Json(json!({
        "alerts": rows.iter().map(AlertRow::to_json).collect::<Vec<_>>()
    })))
}

/// The clinician's outcome note is encrypted under the patient's key.
const OUTCOME_FIELD: &str = "alert.outcome_note";

/// Decrypts a row's outcome note in place.
pub fn open_outcome(key: crate::vault::PatientKey, row: &mut AlertRow) -> AppResult<()> {
    row.outcome_note = key.open_opt(OUTCOME_FIELD, row.outcome_note.take())?;
    Ok(())
}

/// Loads an alert and passes its patient through the gate: a clinician
/// without an approved link gets the same 404 as for a missing alert.
async fn load_for(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
) -> AppResult<(AlertRow, gate::PatientAccess)> {
    let sql = format!("{ALERT_SELECT} WHERE a.id = $1");
    let row: AlertRow = sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(state.db.pool())
        .await?
        .ok_or(AppError::NotFound)?;
    let access = gate::for_viewer(state, user, &row.patient_username, "alert").await?;
    if access.is_own() {
        // Patients do not manage their own alerts.
        return Err(AppError::forbidden());
    }
    Ok((row, access))
}

pub(crate) async fn acknowledge(
    State(state): State<AppState>,
    ClinicianUser(user): ClinicianUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Value>> {
    let (row, access) = load_for(&state, &user, id).await?;
    let now = state.clock.now();
    let done = sqlx::query(
        "UPDATE alerts SET status = 'acknowledged', acknowledged_at = $1, acknowledged_by = $2 \
         WHERE id = $3 AND status = 'open'",
    )
    .bind(now)
    .bind(user.id)
    .bind(id)
    .execute(state.db.pool())
    .await?;
    if done.rows_affected() != 1 {
        return Err(AppError::conflict(
            "not_open",
            format!("this alert is {} already", row.status),
        ));
    }
    audit::record(
        &state.db,
        now,
        Event::new("alert.acknowledged", "ok")
            .actor(user.id)
            .target(row.patient_id)
            .detail(json!({ "alert_id": id })),
    )
    .await?;
    reload(&state, &access, id).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Resolve {
    outcome_note: Text<1, 5000>,
}

pub(crate) async fn resolve(
    State(state): State<AppState>,
    ClinicianUser(user): ClinicianUser,
    Path(id): Path<i64>,
    Json(body): Json<Resolve>,
) -> AppResult<axum::Json<Value>> {
    let (row, access) = load_for(&state, &user, id).await?;
    let now = state.clock.now();
    let done = sqlx::query(
        "UPDATE alerts SET status = 'resolved', resolved_at = $1, resolved_by = $2, \
         outcome_note = $3 WHERE id = $4 AND status = 'acknowledged'",
    )
    .bind(now)
    .bind(user.id)
    .bind(access.key().seal(OUTCOME_FIELD, body.outcome_note.as_str()))
    .bind(id)
    .execute(state.db.pool())
    .await?;
    if done.rows_affected() != 1 {
        let message = if row.status == "open" {
            "acknowledge the alert before resolving it".to_owned()
        } else {
            format!("this alert is {} already", row.status)
        };
        return Err(AppError::conflict("not_acknowledged", message));
    }
    audit::record(
        &state.db,
        now,
        Event::new("alert.resolved", "ok")
            .actor(user.id)
            .target(row.patient_id)
            .detail(json!({ "alert_id": id })),
    )
    .await?;
    reload(&state, &access, id).await
}

async fn reload(
    state: &AppState,
    access: &gate::PatientAccess,
    id: i64,
) -> AppResult<axum::Json<Value>> {
    let sql = format!("{ALERT_SELECT} WHERE a.id = $1");
    let mut row: AlertRow = sqlx::query_as(&sql)
        .bind(id)
        .fetch_optional(state.db.pool())
        .await?
        .ok_or(AppError::NotFound)?;
    open_outcome(access.key().clone(), &mut row)?;
    Ok(axum::Json(row.to_json()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SafetyCheck {
    text: Text<1, 10000>,
}

/// Screens a text on the patient's request, like any other write: a
/// worrying text raises an alert and the answer carries the crisis
/// resources. Only patients may ask (SPEC §1 keeps it from anonymous
/// callers), and the answer gives the level, not the rule that matched, so
/// it cannot serve as a tool for tuning wording past the screen.
async fn safety_check(
    State(state): State<AppState>,
    PatientUser(patient): PatientUser,
    Json(body): Json<SafetyCheck>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &patient).await?;
    let outcome =
        super::screen_texts(&state, &access, Source::SafetyCheck, &[body.text.as_str()]).await?;
    Ok(axum::Json(json!({ "risk": outcome.to_json(&state) })))
}

/// Counts for the developer statistics (no content).
pub async fn stats(state: &AppState) -> AppResult<Value> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT status, level, COUNT(*) FROM alerts GROUP BY status, level ORDER BY status, level",
    )
    .fetch_all(state.db.pool())
    .await?;
    let (escalated_open,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM alerts WHERE escalated_at IS NOT NULL AND status = 'open'",
    )
    .fetch_one(state.db.pool())
    .await?;
    let (escalated_total,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM alerts WHERE escalated_at IS NOT NULL")
            .fetch_one(state.db.pool())
            .await?;
    let mut by_status = serde_json::Map::new();
    for (status, level, n) in rows {
        let entry = by_status.entry(status).or_insert_with(|| json!({}));
        entry[level] = json!(n);
    }
    Ok(json!({
        "by_status": by_status,
        "escalated_unacknowledged": escalated_open,
        "escalated_total": escalated_total,
    }))
}

/// Used by the caseload: the highest open level for a patient.
pub fn parse_level(s: &str) -> Level {
    match s {
        "high" => Level::High,
        "moderate" => Level::Moderate,
        _ => Level::None,
    }
}
