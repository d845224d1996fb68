//! Daily mood entries (SPEC §7): one per day in the patient's time zone.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use sqlx::FromRow;

use crate::AppState;
use crate::accounts::session::CurrentUser;
use crate::care_team::gate::{self, PatientAccess};
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::http::extract::{Json, Query};
use crate::risk::{self, Source};
use crate::types::{Bounded, Date, ShortText, Text, local_date, rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/mood", post(create).get(history))
        .route("/api/mood/today", get(today))
        .route("/api/mood/{id}", put(update))
        .route(
            "/api/clinician/patients/{username}/mood",
            get(patient_history),
        )
}

/// Hours of sleep: 0 to 24 with at most one decimal, kept as tenths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SleepHours(i64);

impl SleepHours {
    pub fn from_hours(hours: f64) -> Result<SleepHours, String> {
        let tenths = hours * 10.0;
        if !hours.is_finite() || !(0.0..=24.0).contains(&hours) {
            return Err("must be a number of hours from 0 to 24".into());
        }
        if (tenths - tenths.round()).abs() > 1e-6 {
            return Err("must have at most one decimal (e.g. 7.5)".into());
        }
        Ok(SleepHours(tenths.round() as i64))
    }

    pub fn tenths(self) -> i64 {
        self.0
    }
}

impl<'de> Deserialize<'de> for SleepHours {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let hours = value
            .as_f64()
            .ok_or_else(|| serde::de::Error::custom("must be a number of hours from 0 to 24"))?;
        SleepHours::from_hours(hours).map_err(serde::de::Error::custom)
    }
}

/// A medication name in the list of those taken.
pub type MedicationName = Text<1, 100>;

/// The fields of a mood entry as a client sends them. Only `mood` is
/// required; a missing answer is stored as missing, never as zero.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoodInput {
    pub mood: Bounded<1, 10>,
    pub sleep_quality: Option<Bounded<0, 10>>,
    pub sleep_hours: Option<SleepHours>,
    pub anxiety: Option<Bounded<0, 10>>,
    pub exercise_minutes: Option<Bounded<0, 1440>>,
    pub outdoor_minutes: Option<Bounded<0, 1440>>,
    pub medication: Option<Vec<MedicationName>>,
    pub note: Option<ShortText>,
}

const MAX_MEDICATIONS: usize = 20;

impl MoodInput {
    fn medication_json(&self) -> AppResult<String> {
        let list: Vec<&str> = self
            .medication
            .iter()
            .flatten()
            .map(|m| m.as_str())
            .collect();
        if list.len() > MAX_MEDICATIONS {
            return Err(AppError::invalid_field(
                "medication",
                format!("at most {MAX_MEDICATIONS} medications"),
            ));
        }
        Ok(serde_json::to_string(&list).unwrap_or_else(|_| "[]".into()))
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct MoodRow {
    pub id: i64,
    pub patient_id: i64,
    pub entry_date: String,
    pub mood: i64,
    pub sleep_quality: Option<i64>,
    pub sleep_tenths: Option<i64>,
    pub anxiety: Option<i64>,
    pub exercise_minutes: Option<i64>,
    pub outdoor_minutes: Option<i64>,
    pub medication: String,
    pub note: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl MoodRow {
    pub fn to_json(&self) -> Value {
        let medication: Value =
            serde_json::from_str(&self.medication).unwrap_or_else(|_| json!([]));
        json!({
            "id": self.id,
            "date": self.entry_date,
            "mood": self.mood,
            "sleep_quality": self.sleep_quality,
            "sleep_hours": self.sleep_tenths.map(|t| t as f64 / 10.0),
            "anxiety": self.anxiety,
            "exercise_minutes": self.exercise_minutes,
            "outdoor_minutes": self.outdoor_minutes,
            "medication": medication,
            "note": self.note,
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        })
    }
}

const MOOD_COLUMNS: &str = "id, patient_id, entry_date, mood, sleep_quality, sleep_tenths, \
     anxiety, exercise_minutes, outdoor_minutes, medication, note, created_at, updated_at";

/// Entries of the patient between two dates (inclusive), oldest first.
pub async fn list(
    db: &Db,
    access: &PatientAccess,
    from: Date,
    to: Date,
) -> AppResult<Vec<MoodRow>> {
    let sql = format!(
        "SELECT {MOOD_COLUMNS} FROM mood_entries WHERE patient_id = $1 \
         AND entry_date >= $2 AND entry_date <= $3 ORDER BY entry_date"
    );
    let rows = sqlx::query_as::<_, MoodRow>(&sql)
        .bind(access.patient_id())
        .bind(from.to_string())
        .bind(to.to_string())
        .fetch_all(db.pool())
        .await?;
    rows.into_iter().map(|r| open_row(access, r)).collect()
}

/// Field names of the encrypted columns (bound into each ciphertext).
const NOTE_FIELD: &str = "mood.note";
const MEDICATION_FIELD: &str = "mood.medication";

/// Decrypts the free-text columns of a stored row.
fn open_row(access: &PatientAccess, mut row: MoodRow) -> AppResult<MoodRow> {
    row.note = access.key().open_opt(NOTE_FIELD, row.note)?;
    row.medication = access.key().open(MEDICATION_FIELD, &row.medication)?;
    Ok(row)
}

async fn find_on(db: &Db, access: &PatientAccess, date: &str) -> AppResult<Option<MoodRow>> {
    let sql = format!(
        "SELECT {MOOD_COLUMNS} FROM mood_entries WHERE patient_id = $1 AND entry_date = $2"
    );
    sqlx::query_as::<_, MoodRow>(&sql)
        .bind(access.patient_id())
        .bind(date)
        .fetch_optional(db.pool())
        .await?
        .map(|r| open_row(access, r))
        .transpose()
}

async fn find_by_id(db: &Db, access: &PatientAccess, id: i64) -> AppResult<Option<MoodRow>> {
    let sql = format!("SELECT {MOOD_COLUMNS} FROM mood_entries WHERE patient_id = $1 AND id = $2");
    sqlx::query_as::<_, MoodRow>(&sql)
        .bind(access.patient_id())
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .map(|r| open_row(access, r))
        .transpose()
}

/// "Today" for the patient: the date of now in their time zone.
fn today_for(state: &AppState, access: &PatientAccess) -> String {
    local_date(state.clock.now(), access.time_zone()).to_string()
}

pub(crate) async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(input): Json<MoodInput>,
) -> AppResult<Response> {
    let access = gate::own(&state, &user).await?;
    let medication = input.medication_json()?;
    let now = state.clock.now();
    let date = today_for(&state, &access);
    let outcome = screen_note(&state, &access, &input).await?;
    let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
        "INSERT INTO mood_entries (patient_id, entry_date, mood, sleep_quality, sleep_tenths, \
         anxiety, exercise_minutes, outdoor_minutes, medication, note, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
    )
    .bind(access.patient_id())
    .bind(&date)
    .bind(input.mood.get())
    .bind(input.sleep_quality.map(Bounded::get))
    .bind(input.sleep_hours.map(SleepHours::tenths))
    .bind(input.anxiety.map(Bounded::get))
    .bind(input.exercise_minutes.map(Bounded::get))
    .bind(input.outdoor_minutes.map(Bounded::get))
    .bind(access.key().seal(MEDICATION_FIELD, &medication))
    .bind(
        access
            .key()
            .seal_opt(NOTE_FIELD, input.note.as_ref().map(|n| n.as_str())),
    )
    .bind(now)
    .fetch_one(state.db.pool())
    .await;
    let id = match inserted {
        Ok((id,)) => id,
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
            let existing = find_on(&state.db, &access, &date).await?;
            let mut extra = serde_json::Map::new();
            extra.insert("date".into(), json!(date));
            extra.insert("entry_id".into(), json!(existing.map(|e| e.id)));
            let err = AppError::Conflict {
                code: "already_logged_today",
                message: "there is already an entry for today; edit it with PUT /api/mood/{id}"
                    .into(),
                extra: Some(extra),
            };
            // The note was screened already: a refused entry still shows
            // the crisis resources when it raised an alert.
            let mut risk_member = serde_json::Map::new();
            if outcome.is_risk() {
                risk_member.insert("risk".into(), outcome.to_json(&state));
            }
            return Ok(err.into_response_with(risk_member));
        }
        Err(err) => return Err(err.into()),
    };
    let drop = risk::check_mood_drop(&state, &access, input.mood.get(), &date).await?;
    let outcome = risk::worst(outcome, drop);
    let row = find_by_id(&state.db, &access, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let mut body = row.to_json();
    body["risk"] = outcome.to_json(&state);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

pub(crate) async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Json(input): Json<MoodInput>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    let medication = input.medication_json()?;
    if find_by_id(&state.db, &access, id).await?.is_none() {
        // Another patient's entry is indistinguishable from none.
        return Err(AppError::NotFound);
    }
    let outcome = screen_note(&state, &access, &input).await?;
    let done = sqlx::query(
        "UPDATE mood_entries SET mood = $1, sleep_quality = $2, sleep_tenths = $3, anxiety = $4, \
         exercise_minutes = $5, outdoor_minutes = $6, medication = $7, note = $8, \
         updated_at = $9 WHERE id = $10 AND patient_id = $11",
    )
    .bind(input.mood.get())
    .bind(input.sleep_quality.map(Bounded::get))
    .bind(input.sleep_hours.map(SleepHours::tenths))
    .bind(input.anxiety.map(Bounded::get))
    .bind(input.exercise_minutes.map(Bounded::get))
    .bind(input.outdoor_minutes.map(Bounded::get))
    .bind(access.key().seal(MEDICATION_FIELD, &medication))
    .bind(
        access
            .key()
            .seal_opt(NOTE_FIELD, input.note.as_ref().map(|n| n.as_str())),
    )
    .bind(state.clock.now())
    .bind(id)
    .bind(access.patient_id())
    .execute(state.db.pool())
    .await?;
    if done.rows_affected() == 0 {
        // Another patient's entry is indistinguishable from none.
        return Err(AppError::NotFound);
    }
    let row = find_by_id(&state.db, &access, id)
        .await?
        .ok_or(AppError::NotFound)?;
    // An edit can lower the mood as sharply as a new entry can.
    let drop = risk::check_mood_drop(&state, &access, row.mood, &row.entry_date).await?;
    let outcome = risk::worst(outcome, drop);
    let mut body = row.to_json();
    body["risk"] = outcome.to_json(&state);
    Ok(axum::Json(body))
}

/// The note of an entry goes through the risk screen before it is stored.
async fn screen_note(
    state: &AppState,
    access: &PatientAccess,
    input: &MoodInput,
) -> AppResult<risk::RiskOutcome> {
    match &input.note {
        Some(note) => risk::screen_texts(state, access, Source::MoodNote, &[note.as_str()]).await,
        None => Ok(risk::RiskOutcome::none()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Range {
    from: Option<Date>,
    to: Option<Date>,
}

/// The longest span one history request may cover.
const MAX_RANGE_DAYS: i32 = 366;

impl Range {
    /// Resolves the range against today; defaults to the last 30 days.
    fn resolve(&self, today: jiff::civil::Date) -> AppResult<(Date, Date)> {
        let to = self.to.unwrap_or(Date(today));
        let from = self
            .from
            .unwrap_or_else(|| Date(to.0.saturating_sub(jiff::Span::new().days(29))));
        if from > to {
            return Err(AppError::invalid_field(
                "from",
                "`from` must not be after `to`",
            ));
        }
        let days = from.0.until(to.0).map(|s| s.get_days()).unwrap_or(i32::MAX);
        if days >= MAX_RANGE_DAYS {
            return Err(AppError::invalid_field(
                "from",
                format!("a history request may span at most {MAX_RANGE_DAYS} days"),
            ));
        }
        Ok((from, to))
    }
}

async fn history_json(state: &AppState, access: &PatientAccess, range: &Range) -> AppResult<Value> {
    let today = local_date(state.clock.now(), access.time_zone());
    let (from, to) = range.resolve(today)?;
    let rows = list(&state.db, access, from, to).await?;
    Ok(json!({
        "patient": access.patient_username(),
        "from": from,
        "to": to,
        "entries": rows.iter().map(MoodRow::to_json).collect::<Vec<_>>(),
    }))
}

pub(crate) async fn history(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(range): Query<Range>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    Ok(axum::Json(history_json(&state, &access, &range).await?))
}

pub(crate) async fn today(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    let date = today_for(&state, &access);
    let entry = find_on(&state.db, &access, &date).await?;
    Ok(axum::Json(json!({
        "date": date,
        "entry": entry.as_ref().map(MoodRow::to_json),
    })))
}

async fn patient_history(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(username): Path<String>,
    Query(range): Query<Range>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::for_viewer(&state, &user, &username, "mood").await?;
    Ok(axum::Json(history_json(&state, &access, &range).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_hours_edges() {
        assert_eq!(SleepHours::from_hours(0.0).unwrap().tenths(), 0);
        assert_eq!(SleepHours::from_hours(24.0).unwrap().tenths(), 240);
        assert_eq!(SleepHours::from_hours(7.5).unwrap().tenths(), 75);
        assert_eq!(SleepHours::from_hours(0.1).unwrap().tenths(), 1);
        assert!(SleepHours::from_hours(24.1).is_err());
        assert!(SleepHours::from_hours(-0.1).is_err());
        assert!(SleepHours::from_hours(7.25).is_err());
        assert!(SleepHours::from_hours(f64::NAN).is_err());
    }
}
