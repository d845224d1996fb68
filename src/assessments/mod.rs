//! Questionnaires (SPEC §8): PHQ-9 and GAD-7, submitted as raw item
//! answers and scored here.
//!
//! A submission is checked for PHQ-9 item 9 (thoughts of being better off
//! dead or of self-harm) *before* anything else, so that a refused
//! submission (an item missing, a value out of range, inside the cooldown)
//! still raises the alert and returns the crisis resources: a form error
//! must never hide a warning.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sqlx::FromRow;

use crate::AppState;
use crate::accounts::session::CurrentUser;
use crate::care_team::gate::{self, PatientAccess};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::http::extract::{Json, Query, parse_json};
use crate::risk::{self, Level, RiskOutcome, Source};
use crate::types::{Bounded, local_date, rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/assessments", get(history))
        .route("/api/assessments/{instrument}", post(submit))
        .route(
            "/api/clinician/patients/{username}/assessments",
            get(patient_history),
        )
}

/// The two instruments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Instrument {
    Phq9,
    Gad7,
}

impl Instrument {
    pub fn parse(s: &str) -> Option<Instrument> {
        match s {
            "phq9" => Some(Instrument::Phq9),
            "gad7" => Some(Instrument::Gad7),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Instrument::Phq9 => "phq9",
            Instrument::Gad7 => "gad7",
        }
    }

    pub fn items(self) -> usize {
        match self {
            Instrument::Phq9 => 9,
            Instrument::Gad7 => 7,
        }
    }

    /// The severity band of a total, with the published cut-offs.
    pub fn band(self, total: i64) -> &'static str {
        match (self, total) {
            (_, 0..=4) => "minimal",
            (_, 5..=9) => "mild",
            (_, 10..=14) => "moderate",
            (Instrument::Phq9, 15..=19) => "moderately_severe",
            _ => "severe",
        }
    }

    /// The total from which the instrument counts as severe.
    pub fn severe_from(self) -> i64 {
        match self {
            Instrument::Phq9 => 20,
            Instrument::Gad7 => 15,
        }
    }
}

/// The sum of the item answers (each already checked to be 0–3).
pub fn score(answers: &[Bounded<0, 3>]) -> i64 {
    answers.iter().map(|a| a.get()).sum()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    /// Item answers in order; `null` or a short list means unanswered.
    answers: Vec<Option<Bounded<0, 3>>>,
    /// "How difficult have these problems made it…": optional, unscored.
    difficulty: Option<Bounded<0, 3>>,
}

#[derive(Debug, Clone, FromRow)]
pub struct AssessmentRow {
    pub id: i64,
    pub instrument: String,
    pub answers: String,
    pub difficulty: Option<i64>,
    pub total: i64,
    pub band: String,
    pub taken_on: String,
    pub created_at: i64,
}

impl AssessmentRow {
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "instrument": self.instrument,
            "answers": serde_json::from_str::<Value>(&self.answers).unwrap_or(Value::Null),
            "difficulty": self.difficulty,
            "total": self.total,
            "band": self.band,
            "taken_on": self.taken_on,
            "created_at": rfc3339(self.created_at),
        })
    }
}

const COLUMNS: &str = "id, instrument, answers, difficulty, total, band, taken_on, created_at";

/// A patient's submissions, oldest first, of one instrument or both.
pub async fn list(
    db: &Db,
    access: &PatientAccess,
    instrument: Option<Instrument>,
) -> AppResult<Vec<AssessmentRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM assessments WHERE patient_id = $1 AND ($2 = '' OR instrument = $2) \
         ORDER BY created_at, id"
    );
    Ok(sqlx::query_as(&sql)
        .bind(access.patient_id())
        .bind(instrument.map(Instrument::as_str).unwrap_or(""))
        .fetch_all(db.pool())
        .await?)
}

/// PHQ-9 item 9 as sent, before any validation: any value that reads as a
/// number of 1 or more (`2`, `1.5`, `"2"`) is a warning sign, even though
/// the form itself will be refused for its type.
fn raw_item9(body: &Value) -> Option<i64> {
    let item = body.get("answers")?.get(8)?;
    let value = item
        .as_f64()
        .or_else(|| item.as_str()?.trim().parse::<f64>().ok())?;
    (value >= 1.0).then_some(value as i64)
}

fn risk_member(state: &AppState, outcome: &RiskOutcome) -> Map<String, Value> {
    let mut extra = Map::new();
    if outcome.is_risk() {
        extra.insert("risk".into(), outcome.to_json(state));
    }
    extra
}

pub(crate) async fn submit(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(instrument): Path<String>,
    Json(body): Json<Value>,
) -> Result<Response, AppError> {
    let instrument = Instrument::parse(&instrument).ok_or(AppError::NotFound)?;
    let access = gate::own(&state, &user).await?;

    // 1. The warning sign first, whatever else is wrong with the form.
    let mut outcome = RiskOutcome::none();
    if instrument == Instrument::Phq9 && raw_item9(&body).is_some() {
        outcome = risk::raise(
            &state,
            access.patient_id(),
            Level::High,
            Source::Phq9Item9,
            "phq9_item9",
        )
        .await?;
    }

    // 2. The form itself.
    let submission = match validate(instrument, &body) {
        Ok(s) => s,
        Err(err) => return Ok(err.into_response_with(risk_member(&state, &outcome))),
    };

    // 3. The cooldown, per instrument, in the patient's own calendar.
    let today = local_date(state.clock.now(), access.time_zone());
    if let Some(next) = next_allowed(&state, &access, instrument, today).await? {
        let mut extra = risk_member(&state, &outcome);
        extra.insert("next_allowed".into(), json!(next.to_string()));
        let err = AppError::conflict(
            "too_soon",
            format!(
                "one {} every {} days; the next can be taken on {next}",
                instrument.as_str().to_uppercase(),
                state.config.clinical.assessment_cooldown_days
            ),
        );
        return Ok(err.into_response_with(extra));
    }

    // 4. Score and store.
    let answers = submission.answers;
    let total = score(&answers);
    let band = instrument.band(total);
    let raw: Vec<i64> = answers.iter().map(|a| a.get()).collect();
    let now = state.clock.now();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO assessments (patient_id, instrument, answers, difficulty, total, band, \
         taken_on, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(access.patient_id())
    .bind(instrument.as_str())
    .bind(serde_json::to_string(&raw).unwrap_or_default())
    .bind(submission.difficulty.map(Bounded::get))
    .bind(total)
    .bind(band)
    .bind(today.to_string())
    .bind(now)
    .fetch_one(state.db.pool())
    .await?;

    // 5. A severe total is a signal of its own.
    if total >= instrument.severe_from() {
        let (source, reason) = match instrument {
            Instrument::Phq9 => (Source::Phq9Total, "phq9_severe"),
            Instrument::Gad7 => (Source::Gad7Total, "gad7_severe"),
        };
        let severe =
            risk::raise(&state, access.patient_id(), Level::Moderate, source, reason).await?;
        outcome = risk::worst(outcome, severe);
    }

    let row: AssessmentRow =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM assessments WHERE id = $1"))
            .bind(id)
            .fetch_one(state.db.pool())
            .await?;
    let mut json = row.to_json();
    json["risk"] = outcome.to_json(&state);
    Ok((StatusCode::CREATED, axum::Json(json)).into_response())
}

struct Valid {
    answers: Vec<Bounded<0, 3>>,
    difficulty: Option<Bounded<0, 3>>,
}

/// Every item required, each an integer 0–3; never counted as 0 when
/// missing.
fn validate(instrument: Instrument, body: &Value) -> Result<Valid, AppError> {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let submission: Submission = parse_json(&bytes)?;
    let expected = instrument.items();
    if submission.answers.len() > expected {
        return Err(AppError::invalid_field(
            "answers",
            format!(
                "{} has {expected} items; got {}",
                instrument.as_str(),
                submission.answers.len()
            ),
        ));
    }
    let mut answers = Vec::with_capacity(expected);
    for i in 0..expected {
        match submission.answers.get(i).copied().flatten() {
            Some(a) => answers.push(a),
            None => {
                return Err(AppError::BadRequest {
                    code: "incomplete",
                    message: format!("item {} is not answered; every item is required", i + 1),
                    field: Some(format!("answers[{i}]")),
                });
            }
        }
    }
    Ok(Valid {
        answers,
        difficulty: submission.difficulty,
    })
}

/// The first date a new submission is allowed, when today is too soon.
async fn next_allowed(
    state: &AppState,
    access: &PatientAccess,
    instrument: Instrument,
    today: jiff::civil::Date,
) -> AppResult<Option<jiff::civil::Date>> {
    let last: Option<(String,)> = sqlx::query_as(
        "SELECT taken_on FROM assessments WHERE patient_id = $1 AND instrument = $2 \
         ORDER BY taken_on DESC LIMIT 1",
    )
    .bind(access.patient_id())
    .bind(instrument.as_str())
    .fetch_optional(state.db.pool())
    .await?;
    let Some((last,)) = last else {
        return Ok(None);
    };
    let Ok(last) = last.parse::<jiff::civil::Date>() else {
        return Ok(None);
    };
    let days = state.config.clinical.assessment_cooldown_days;
    let next = last
        .checked_add(jiff::Span::new().days(days))
        .unwrap_or(last);
    Ok((today < next).then_some(next))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Filter {
    instrument: Option<Instrument>,
}

async fn history_json(
    state: &AppState,
    access: &PatientAccess,
    filter: &Filter,
) -> AppResult<Value> {
    let rows = list(&state.db, access, filter.instrument).await?;
    Ok(json!({
        "patient": access.patient_username(),
        "assessments": rows.iter().map(AssessmentRow::to_json).collect::<Vec<_>>(),
    }))
}

pub(crate) async fn history(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(filter): Query<Filter>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    Ok(axum::Json(history_json(&state, &access, &filter).await?))
}

async fn patient_history(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(username): Path<String>,
    Query(filter): Query<Filter>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::for_viewer(&state, &user, &username, "assessments").await?;
    Ok(axum::Json(history_json(&state, &access, &filter).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phq9_band_edges() {
        let cases = [
            (0, "minimal"),
            (4, "minimal"),
            (5, "mild"),
            (9, "mild"),
            (10, "moderate"),
            (14, "moderate"),
            (15, "moderately_severe"),
            (19, "moderately_severe"),
            (20, "severe"),
            (27, "severe"),
        ];
        for (total, band) in cases {
            assert_eq!(Instrument::Phq9.band(total), band, "PHQ-9 total {total}");
        }
    }

    #[test]
    fn gad7_band_edges() {
        let cases = [
            (0, "minimal"),
            (4, "minimal"),
            (5, "mild"),
            (9, "mild"),
            (10, "moderate"),
            (14, "moderate"),
            (15, "severe"),
            (21, "severe"),
        ];
        for (total, band) in cases {
            assert_eq!(Instrument::Gad7.band(total), band, "GAD-7 total {total}");
        }
    }

    #[test]
    fn missing_items_are_refused_not_zero() {
        let body = json!({ "answers": [1, 1, 1, 1, 1, 1, 1, 1] });
        let err = validate(Instrument::Phq9, &body).err().expect("refused");
        assert_eq!(err.code(), "incomplete");
        let body = json!({ "answers": [1, null, 1, 1, 1, 1, 1] });
        assert_eq!(
            validate(Instrument::Gad7, &body).err().unwrap().code(),
            "incomplete"
        );
        let body = json!({ "answers": [0, 1, 2, 3, 0, 1, 2, 3, 4] });
        assert_eq!(
            validate(Instrument::Phq9, &body).err().unwrap().code(),
            "invalid_field"
        );
        let body = json!({ "answers": [0, 1, 2, 3, 0, 1, 2] });
        let Ok(ok) = validate(Instrument::Gad7, &body) else {
            panic!("a complete GAD-7 is valid");
        };
        assert_eq!(score(&ok.answers), 9);
    }

    #[test]
    fn item9_is_read_before_validation() {
        assert_eq!(
            raw_item9(&json!({ "answers": [null, 0, 0, 0, 0, 0, 0, 0, 2] })),
            Some(2)
        );
        assert_eq!(
            raw_item9(&json!({ "answers": [0, 0, 0, 0, 0, 0, 0, 0, 0] })),
            None
        );
        assert_eq!(raw_item9(&json!({ "answers": [0, 0] })), None);
    }
}
