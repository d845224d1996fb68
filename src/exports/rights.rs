//! Data rights (SPEC §13): a full copy of one's own data as JSON, the
//! daily record as CSV, and erasure.

use axum::Router;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde::Deserialize;
use serde_json::json;

use crate::AppState;
use crate::accounts::session::{self, CurrentUser, PatientUser};
use crate::accounts::store;
use crate::accounts::types::Secret;
use crate::assessments::{self, AssessmentRow};
use crate::audit::{self, Event};
use crate::care_team::gate::{self, PatientAccess};
use crate::companion::{self, attachment};
use crate::crypto::{self, Verified};
use crate::daily_record::{cbt, entries, mood};
use crate::error::{AppError, AppResult};
use crate::exports::csv;
use crate::http::extract::{ClientIp, Json, Query};
use crate::types::{Date, rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/me/export", get(full_copy))
        .route("/api/export/csv", get(daily_record_csv))
        .route("/api/me", delete(erase))
}

fn all_time() -> (Date, Date) {
    (
        Date(jiff::civil::date(1, 1, 1)),
        Date(jiff::civil::date(9999, 12, 31)),
    )
}

/// `GET /api/me/export`: everything the service holds about the patient.
async fn full_copy(
    State(state): State<AppState>,
    ip: ClientIp,
    PatientUser(user): PatientUser,
) -> AppResult<Response> {
    let access = gate::own(&state, &user).await?;
    let row = store::find_by_id(&state.db, user.id)
        .await?
        .ok_or(AppError::SessionExpired)?;
    let db = state.db.pool();
    let (from, to) = all_time();
    let moods = mood::list(&state.db, &access, from, to).await?;
    let scores: Vec<AssessmentRow> = assessments::list(&state.db, &access, None).await?;
    let journal = entries::list(&state, entries::JOURNAL, &access).await?;
    let gratitude = entries::list(&state, entries::GRATITUDE, &access).await?;
    let thoughts = cbt::list(&state, &access).await?;
    let links = crate::care_team::store::list_for(&state.db, user.id).await?;
    let alerts: Vec<(i64, String, String, String, i64)> = sqlx::query_as(
        "SELECT id, level, source, status, created_at FROM alerts WHERE patient_id = $1 ORDER BY id",
    )
    .bind(user.id)
    .fetch_all(db)
    .await?;
    let access_log: Vec<(String, String, String, i64)> = sqlx::query_as(
        "SELECT accessor_name, accessor_role, resource, created_at FROM access_log \
         WHERE patient_id = $1 ORDER BY id",
    )
    .bind(user.id)
    .fetch_all(db)
    .await?;
    let notifications: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT kind, message, created_at FROM notifications WHERE user_id = $1 ORDER BY id",
    )
    .bind(user.id)
    .fetch_all(db)
    .await?;
    let body = json!({
        "exported_at": rfc3339(state.clock.now()),
        "account": {
            "username": row.username,
            "display_name": row.display_name,
            "email": row.email,
            "email_verified": row.email_verified == 1,
            "time_zone": row.time_zone,
            "created_at": rfc3339(row.created_at),
            "totp_enabled": row.totp_secret.is_some(),
        },
        "mood_entries": moods.iter().map(mood::MoodRow::to_json).collect::<Vec<_>>(),
        "assessments": scores.iter().map(AssessmentRow::to_json).collect::<Vec<_>>(),
        "journal": journal.iter().map(entries::row_json).collect::<Vec<_>>(),
        "gratitude": gratitude.iter().map(entries::row_json).collect::<Vec<_>>(),
        "thought_records": thoughts.iter().map(cbt::ThoughtRecordRow::to_json).collect::<Vec<_>>(),
        "safety_plan": cbt::plan_json(&state, &access).await?["plan"].clone(),
        "conversations": companion::export_all(&state, &access).await?,
        "care_team": links.iter().map(|l| json!({
            "clinician": l.clinician_username,
            "status": l.status,
            "created_at": rfc3339(l.created_at),
        })).collect::<Vec<_>>(),
        "alerts": alerts.iter().map(|a| json!({
            "id": a.0, "level": a.1, "source": a.2, "status": a.3, "created_at": rfc3339(a.4),
        })).collect::<Vec<_>>(),
        "access_log": access_log.iter().map(|a| json!({
            "by": a.0, "role": a.1, "resource": a.2, "at": rfc3339(a.3),
        })).collect::<Vec<_>>(),
        "notifications": notifications.iter().map(|n| json!({
            "kind": n.0, "message": n.1, "created_at": rfc3339(n.2),
        })).collect::<Vec<_>>(),
    });
    audit::record(
        &state.db,
        state.clock.now(),
        Event::new("export.full", "ok")
            .actor(user.id)
            .target(user.id)
            .ip(ip),
    )
    .await?;
    Ok(attachment(
        "application/json",
        &format!("healing-space-{}.json", row.username),
        serde_json::to_string_pretty(&body).unwrap_or_default(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CsvQuery {
    /// A linked clinician exports a patient's record by username.
    patient: Option<String>,
}

/// The CSV rows of a daily record, header first.
pub fn mood_csv(rows: &[mood::MoodRow]) -> String {
    let header = [
        "date",
        "mood",
        "sleep_quality",
        "sleep_hours",
        "anxiety",
        "exercise_minutes",
        "outdoor_minutes",
        "medication",
        "note",
    ];
    let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    let mut table: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for m in rows {
        let meds: Vec<String> = serde_json::from_str(&m.medication).unwrap_or_default();
        table.push(vec![
            m.entry_date.clone(),
            m.mood.to_string(),
            opt(m.sleep_quality),
            m.sleep_tenths
                .map(|t| format!("{}", t as f64 / 10.0))
                .unwrap_or_default(),
            opt(m.anxiety),
            opt(m.exercise_minutes),
            opt(m.outdoor_minutes),
            meds.join("; "),
            m.note.clone().unwrap_or_default(),
        ]);
    }
    csv::document(table)
}

/// `GET /api/export/csv[?patient=]`: the daily record as CSV.
async fn daily_record_csv(
    State(state): State<AppState>,
    ip: ClientIp,
    user: CurrentUser,
    Query(query): Query<CsvQuery>,
) -> AppResult<Response> {
    let access: PatientAccess = match &query.patient {
        Some(name) => gate::for_viewer(&state, &user, name, "csv_export").await?,
        None => gate::own(&state, &user).await?,
    };
    let (from, to) = all_time();
    let rows = mood::list(&state.db, &access, from, to).await?;
    audit::record(
        &state.db,
        state.clock.now(),
        Event::new("export.csv", "ok")
            .actor(user.id)
            .target(access.patient_id())
            .ip(ip),
    )
    .await?;
    Ok(attachment(
        "text/csv; charset=utf-8",
        &format!("daily-record-{}.csv", access.patient_username()),
        mood_csv(&rows),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Erase {
    password: Secret,
}

/// `DELETE /api/me`: erases the patient, confirmed by their password.
/// The user row goes, and with it (by cascade) every record, session,
/// link, notification about them and their data key, so any copy of their
/// encrypted text left in a backup can no longer be read. The audit log
/// keeps a tombstone: the numeric id and the fact of erasure, nothing
/// personal.
pub(crate) async fn erase(
    State(state): State<AppState>,
    ip: ClientIp,
    PatientUser(user): PatientUser,
    Json(body): Json<Erase>,
) -> AppResult<Response> {
    crate::accounts::routes::check_password_guess_limit(&state, user.id)?;
    let row = store::find_by_id(&state.db, user.id)
        .await?
        .ok_or(AppError::SessionExpired)?;
    let verdict =
        crypto::verify_secret(body.password.expose().to_owned(), row.password_hash.clone()).await;
    if verdict == Verified::No {
        return Err(AppError::invalid_field(
            "password",
            "the password is not correct; nothing was erased",
        ));
    }
    let now = state.clock.now();
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user.id)
        .execute(state.db.pool())
        .await?;
    // Failed logins are counted under the username, not the id, so no
    // cascade reaches them; the name is personal data and goes too.
    crate::accounts::lockout::clear(&state.db, &row.username.to_ascii_lowercase()).await?;
    audit::record(
        &state.db,
        now,
        Event::new("account.erased", "ok")
            .actor(user.id)
            .target(user.id)
            .ip(ip)
            .detail(json!({ "role": "patient" })),
    )
    .await?;
    let mut response = axum::Json(json!({ "status": "erased" })).into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, session::clear_cookie(&state));
    Ok(response)
}
