//! The caseload: each approved patient with the metrics of SPEC §11.
//!
//! Definitions (also in the README):
//! - `mood_avg_7d`: the mean mood of the entries dated within the last seven
//!   days of the patient's own calendar, today included.
//! - `baseline`: the first submission of an instrument; `change` is the
//!   latest total minus the baseline (negative is better).
//! - `response`: at least two submissions and a latest total at most half
//!   the baseline (a fall of 50 % or more), with a baseline above zero.
//! - `remission`: at least two submissions and a latest total below 5.
//! - `open_alerts`: alerts not yet resolved (open or acknowledged).
//! - `days_since_last_entry`: from the last mood entry to today, in the
//!   patient's calendar.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::accounts::session::ClinicianUser;
use crate::assessments::{AssessmentRow, Instrument};
use crate::error::{AppError, AppResult};
use crate::http::extract::Query;
use crate::types::local_date;

/// Scores of one instrument summarised for the caseload.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreSummary {
    pub latest: i64,
    pub band: String,
    pub taken_on: String,
    pub baseline: i64,
    pub change: i64,
    pub count: usize,
    pub response: bool,
    pub remission: bool,
}

/// Summarises submissions given oldest first.
pub fn summarise(rows: &[AssessmentRow]) -> Option<ScoreSummary> {
    let first = rows.first()?;
    let last = rows.last()?;
    let follow_up = rows.len() >= 2;
    Some(ScoreSummary {
        latest: last.total,
        band: last.band.clone(),
        taken_on: last.taken_on.clone(),
        baseline: first.total,
        change: last.total - first.total,
        count: rows.len(),
        response: follow_up && first.total > 0 && last.total * 2 <= first.total,
        remission: follow_up && last.total < 5,
    })
}

impl ScoreSummary {
    fn to_json(&self) -> Value {
        json!({
            "latest": self.latest,
            "band": self.band,
            "taken_on": self.taken_on,
            "baseline": self.baseline,
            "change": self.change,
            "count": self.count,
            "response": self.response,
            "remission": self.remission,
        })
    }
}

/// One row of the caseload, with the key it is sorted by.
struct PatientSummary {
    json: Value,
    name: String,
    risk_key: (i64, i64, i64, i64),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseloadQuery {
    sort: Option<String>,
}

fn level_rank(level: Option<&str>) -> i64 {
    match level {
        Some("high") => 2,
        Some("moderate") => 1,
        _ => 0,
    }
}

/// `GET /api/clinician/patients`: sorted by risk unless `sort=name`.
pub async fn caseload(
    State(state): State<AppState>,
    ClinicianUser(user): ClinicianUser,
    Query(query): Query<CaseloadQuery>,
) -> AppResult<axum::Json<Value>> {
    let sort = query.sort.unwrap_or_else(|| "risk".into());
    if sort != "risk" && sort != "name" {
        return Err(AppError::invalid_field("sort", "must be risk or name"));
    }
    let patients: Vec<(i64, String, String, String, Option<i64>)> = sqlx::query_as(
        "SELECT p.id, p.username, p.display_name, p.time_zone, l.decided_at FROM care_links l \
         JOIN users p ON p.id = l.patient_id WHERE l.clinician_id = $1 AND l.status = 'approved' \
         AND p.status = 'active' ORDER BY p.display_name",
    )
    .bind(user.id)
    .fetch_all(state.db.pool())
    .await?;
    let now = state.clock.now();
    let mut rows = Vec::with_capacity(patients.len());
    for (id, username, name, tz, linked) in patients {
        rows.push(summarise_patient(&state, id, &username, &name, &tz, linked, now).await?);
        // The caseload shows each patient's latest mood and scores: a read
        // of their record like any other, so it is in their access log.
        crate::audit::record_access(&state.db, now, id, &user, "caseload").await?;
    }
    if sort == "risk" {
        // Highest alert level, then unacknowledged alerts, then the
        // severity of the latest PHQ-9, then the longest silence.
        rows.sort_by(|a, b| b.risk_key.cmp(&a.risk_key).then(a.name.cmp(&b.name)));
    } else {
        rows.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(axum::Json(json!({
        "sort": sort,
        "patients": rows.into_iter().map(|r| r.json).collect::<Vec<_>>(),
    })))
}

async fn summarise_patient(
    state: &AppState,
    patient_id: i64,
    username: &str,
    name: &str,
    tz: &str,
    linked: Option<i64>,
    now: i64,
) -> AppResult<PatientSummary> {
    let db = state.db.pool();
    let today = local_date(now, tz);
    let week_start = today
        .checked_sub(jiff::Span::new().days(6))
        .unwrap_or(today)
        .to_string();
    let last: Option<(i64, String)> = sqlx::query_as(
        "SELECT mood, entry_date FROM mood_entries WHERE patient_id = $1 \
         ORDER BY entry_date DESC LIMIT 1",
    )
    .bind(patient_id)
    .fetch_optional(db)
    .await?;
    let week: Vec<(i64,)> = sqlx::query_as(
        "SELECT mood FROM mood_entries WHERE patient_id = $1 AND entry_date >= $2 \
         AND entry_date <= $3",
    )
    .bind(patient_id)
    .bind(&week_start)
    .bind(today.to_string())
    .fetch_all(db)
    .await?;
    let mood_avg_7d = (!week.is_empty()).then(|| {
        let sum: i64 = week.iter().map(|(m,)| m).sum();
        ((sum as f64 / week.len() as f64) * 100.0).round() / 100.0
    });
    let days_since = last.as_ref().and_then(|(_, date)| {
        let date: jiff::civil::Date = date.parse().ok()?;
        date.until(today).ok().map(|s| s.get_days() as i64)
    });

    let mut scores = Vec::new();
    for instrument in [Instrument::Phq9, Instrument::Gad7] {
        let rows: Vec<AssessmentRow> = sqlx::query_as(
            "SELECT id, instrument, answers, difficulty, total, band, taken_on, created_at \
             FROM assessments WHERE patient_id = $1 AND instrument = $2 ORDER BY created_at, id",
        )
        .bind(patient_id)
        .bind(instrument.as_str())
        .fetch_all(db)
        .await?;
        scores.push(summarise(&rows));
    }
    let alerts: Vec<(String, String)> = sqlx::query_as(
        "SELECT level, status FROM alerts WHERE patient_id = $1 AND status <> 'resolved'",
    )
    .bind(patient_id)
    .fetch_all(db)
    .await?;
    let highest = alerts
        .iter()
        .map(|(l, _)| l.as_str())
        .max_by_key(|l| level_rank(Some(l)));
    let unacknowledged = alerts.iter().filter(|(_, s)| s == "open").count() as i64;
    let phq9 = scores[0].clone();
    let gad7 = scores[1].clone();
    let phq9_latest = phq9.as_ref().map(|s| s.latest).unwrap_or(-1);

    let json = json!({
        "username": username,
        "display_name": name,
        "linked_since": linked.map(crate::types::rfc3339),
        "last_mood": last.as_ref().map(|(m, d)| json!({ "mood": m, "date": d })),
        "mood_avg_7d": mood_avg_7d,
        "days_since_last_entry": days_since,
        "phq9": phq9.as_ref().map(ScoreSummary::to_json),
        "gad7": gad7.as_ref().map(ScoreSummary::to_json),
        "open_alerts": alerts.len(),
        "unacknowledged_alerts": unacknowledged,
        "highest_alert_level": highest,
        // TODO: appointments (SPEC §12) are not built yet, so the next
        // appointment and the attendance rate are always null; fill them
        // from the appointments table once it exists.
        "next_appointment": null,
        "attendance_rate": null,
    });
    Ok(PatientSummary {
        json,
        name: name.to_owned(),
        risk_key: (
            level_rank(highest),
            unacknowledged,
            phq9_latest,
            days_since.unwrap_or(i64::MAX / 2),
        ),
    })
}

/// `GET /api/clinician/analytics`: counts over the clinician's caseload.
pub async fn analytics(
    State(state): State<AppState>,
    ClinicianUser(user): ClinicianUser,
) -> AppResult<axum::Json<Value>> {
    let db = state.db.pool();
    let (caseload,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM care_links WHERE clinician_id = $1 AND status = 'approved'",
    )
    .bind(user.id)
    .fetch_one(db)
    .await?;
    let (pending,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM care_links WHERE clinician_id = $1 AND status = 'pending'",
    )
    .bind(user.id)
    .fetch_one(db)
    .await?;
    let week_ago = state.clock.now() - 7 * 24 * 3600;
    let (active,): (i64,) = sqlx::query_as(
        "SELECT COUNT(DISTINCT m.patient_id) FROM mood_entries m JOIN care_links l \
         ON l.patient_id = m.patient_id WHERE l.clinician_id = $1 AND l.status = 'approved' \
         AND m.created_at >= $2",
    )
    .bind(user.id)
    .bind(week_ago)
    .fetch_one(db)
    .await?;
    let by_status: Vec<(String, i64)> = sqlx::query_as(
        "SELECT a.status, COUNT(*) FROM alerts a JOIN care_links l ON l.patient_id = a.patient_id \
         WHERE l.clinician_id = $1 AND l.status = 'approved' GROUP BY a.status ORDER BY a.status",
    )
    .bind(user.id)
    .fetch_all(db)
    .await?;
    let alerts: serde_json::Map<String, Value> =
        by_status.into_iter().map(|(s, n)| (s, json!(n))).collect();
    Ok(axum::Json(json!({
        "caseload_size": caseload,
        "pending_requests": pending,
        "active_patients_7d": active,
        "alerts_by_status": alerts,
        // TODO: appointments (SPEC §12) are not built yet; attendance and
        // the coming week's appointments stay null until they are.
        "attendance_rate": null,
        "appointments_next_7d": null,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(total: i64) -> AssessmentRow {
        AssessmentRow {
            id: 0,
            instrument: "phq9".into(),
            answers: "[]".into(),
            difficulty: None,
            total,
            band: Instrument::Phq9.band(total).into(),
            taken_on: "2026-01-01".into(),
            created_at: 0,
        }
    }

    #[test]
    fn response_and_remission() {
        assert_eq!(summarise(&[]), None);
        let one = summarise(&[row(3)]).unwrap();
        assert!(
            !one.response && !one.remission,
            "a baseline alone proves nothing"
        );
        let halved = summarise(&[row(18), row(9)]).unwrap();
        assert_eq!(
            (halved.change, halved.response, halved.remission),
            (-9, true, false)
        );
        let not_quite = summarise(&[row(18), row(10)]).unwrap();
        assert!(!not_quite.response);
        let remitted = summarise(&[row(12), row(8), row(4)]).unwrap();
        assert_eq!(
            (remitted.baseline, remitted.latest, remitted.change),
            (12, 4, -8)
        );
        assert!(remitted.response && remitted.remission);
        let worse = summarise(&[row(5), row(15)]).unwrap();
        assert_eq!(worse.change, 10);
        assert!(!worse.response);
    }
}
