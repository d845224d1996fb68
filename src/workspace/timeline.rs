//! One timeline of a patient's record for their clinician: mood and sleep,
//! questionnaire scores, alerts and notes, plus the series for charts.

use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::accounts::session::ClinicianUser;
use crate::assessments::{self, Instrument};
use crate::care_team::gate;
use crate::daily_record::mood;
use crate::error::{AppError, AppResult};
use crate::http::extract::Query;
use crate::risk::alerts::{ALERT_SELECT, AlertRow};
use crate::types::{Date, local_date, rfc3339};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    from: Option<Date>,
    to: Option<Date>,
}

pub async fn timeline(
    State(state): State<AppState>,
    ClinicianUser(user): ClinicianUser,
    Path(username): Path<String>,
    Query(range): Query<Range>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::for_viewer(&state, &user, &username, "timeline").await?;
    let today = local_date(state.clock.now(), access.time_zone());
    let to = range.to.unwrap_or(Date(today));
    let from = range
        .from
        .unwrap_or_else(|| Date(to.0.saturating_sub(jiff::Span::new().days(89))));
    if from > to {
        return Err(AppError::invalid_field(
            "from",
            "`from` must not be after `to`",
        ));
    }
    let (from_s, to_s) = (from.to_string(), to.to_string());
    let in_range = |date: &str| date >= from_s.as_str() && date <= to_s.as_str();

    let mut events: Vec<(String, Value)> = Vec::new();
    let moods = mood::list(&state.db, &access, from, to).await?;
    for m in &moods {
        events.push((
            m.entry_date.clone(),
            json!({ "type": "mood", "date": m.entry_date, "entry": m.to_json() }),
        ));
    }
    let scores = assessments::list(&state.db, &access, None).await?;
    for a in scores.iter().filter(|a| in_range(&a.taken_on)) {
        events.push((
            a.taken_on.clone(),
            json!({ "type": "assessment", "date": a.taken_on, "assessment": a.to_json() }),
        ));
    }
    let mut alerts: Vec<AlertRow> = sqlx::query_as(&format!(
        "{ALERT_SELECT} WHERE a.patient_id = $1 ORDER BY a.id"
    ))
    .bind(access.patient_id())
    .fetch_all(state.db.pool())
    .await?;
    for a in &mut alerts {
        crate::risk::alerts::open_outcome(access.key().clone(), a)?;
    }
    for a in &alerts {
        let date = local_date(a.created_at, access.time_zone()).to_string();
        if in_range(&date) {
            events.push((
                date.clone(),
                json!({ "type": "alert", "date": date, "alert": a.to_json() }),
            ));
        }
    }
    for n in super::notes::rows(&state, &access).await? {
        let date = local_date(n.4, access.time_zone()).to_string();
        if in_range(&date) {
            events.push((
                date.clone(),
                json!({
                    "type": "note",
                    "date": date,
                    "note": { "id": n.0, "body": n.1, "author": n.3, "created_at": rfc3339(n.4) },
                }),
            ));
        }
    }
    // Newest first; a stable sort keeps each day's events in source order.
    events.sort_by(|a, b| b.0.cmp(&a.0));

    let series = |instrument: Instrument| -> Vec<Value> {
        scores
            .iter()
            .filter(|a| a.instrument == instrument.as_str() && in_range(&a.taken_on))
            .map(|a| json!({ "date": a.taken_on, "total": a.total, "band": a.band }))
            .collect()
    };
    Ok(axum::Json(json!({
        "patient": access.patient_username(),
        "from": from,
        "to": to,
        "events": events.into_iter().map(|(_, e)| e).collect::<Vec<_>>(),
        "trends": {
            "mood": moods.iter().map(|m| json!({
                "date": m.entry_date,
                "mood": m.mood,
                "sleep_hours": m.sleep_tenths.map(|t| t as f64 / 10.0),
                "sleep_quality": m.sleep_quality,
                "anxiety": m.anxiety,
            })).collect::<Vec<_>>(),
            "phq9": series(Instrument::Phq9),
            "gad7": series(Instrument::Gad7),
        },
    })))
}
