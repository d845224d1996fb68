//! Daily mood reminders (SPEC §7): each patient chooses an hour in their
//! own time zone; a patient who has not logged today gets one reminder,
//! at most one a day, also across restarts and several app servers (the
//! database's unique key on patient and date decides who sends it).

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::accounts::session::PatientUser;
use crate::error::AppResult;
use crate::http::extract::Json;
use crate::notifications;
use crate::types::Bounded;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/me/reminder", get(get_setting).put(put_setting))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Setting {
    /// Hour of the day, 0–23, in the patient's time zone.
    hour: Bounded<0, 23>,
    enabled: bool,
}

async fn get_setting(
    State(state): State<AppState>,
    PatientUser(user): PatientUser,
) -> AppResult<axum::Json<Value>> {
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT hour, enabled FROM reminder_settings WHERE patient_id = $1")
            .bind(user.id)
            .fetch_optional(state.db.pool())
            .await?;
    Ok(axum::Json(match row {
        Some((hour, enabled)) => json!({ "hour": hour, "enabled": enabled == 1 }),
        None => json!({ "hour": null, "enabled": false }),
    }))
}

async fn put_setting(
    State(state): State<AppState>,
    PatientUser(user): PatientUser,
    Json(setting): Json<Setting>,
) -> AppResult<axum::Json<Value>> {
    sqlx::query(
        "INSERT INTO reminder_settings (patient_id, hour, enabled) VALUES ($1, $2, $3) \
         ON CONFLICT (patient_id) DO UPDATE SET hour = $2, enabled = $3",
    )
    .bind(user.id)
    .bind(setting.hour.get())
    .bind(i64::from(setting.enabled))
    .execute(state.db.pool())
    .await?;
    Ok(axum::Json(
        json!({ "hour": setting.hour.get(), "enabled": setting.enabled }),
    ))
}

/// Sends the reminders that are due now; returns how many were sent.
pub async fn run_once(state: &AppState) -> AppResult<usize> {
    let now = state.clock.now();
    let due: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT r.patient_id, r.hour, u.time_zone FROM reminder_settings r \
         JOIN users u ON u.id = r.patient_id WHERE r.enabled = 1 AND u.status = 'active'",
    )
    .fetch_all(state.db.pool())
    .await?;
    let mut sent = 0;
    for (patient_id, hour, tz) in due {
        let zone = jiff::tz::TimeZone::get(&tz).unwrap_or(jiff::tz::TimeZone::UTC);
        let Ok(local) = jiff::Timestamp::from_second(now).map(|t| t.to_zoned(zone)) else {
            continue;
        };
        if i64::from(local.hour()) < hour {
            continue;
        }
        let date = local.date().to_string();
        let (logged,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM mood_entries WHERE patient_id = $1 AND entry_date = $2",
        )
        .bind(patient_id)
        .bind(&date)
        .fetch_one(state.db.pool())
        .await?;
        if logged > 0 {
            continue;
        }
        // Claim today's reminder first; only the claimant sends it.
        let claimed = sqlx::query(
            "INSERT INTO reminders_sent (patient_id, reminder_date, sent_at) VALUES ($1, $2, $3) \
             ON CONFLICT (patient_id, reminder_date) DO NOTHING",
        )
        .bind(patient_id)
        .bind(&date)
        .bind(now)
        .execute(state.db.pool())
        .await?;
        if claimed.rows_affected() != 1 {
            continue;
        }
        notifications::notify(
            &state.db,
            patient_id,
            "mood_reminder",
            "How are you today? Take a moment to log your mood.",
            now,
        )
        .await?;
        sent += 1;
    }
    Ok(sent)
}
