//! CBT thought records and the Stanley-Brown safety plan (SPEC §7).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::FromRow;

use crate::AppState;
use crate::accounts::session::CurrentUser;
use crate::care_team::gate::{self, PatientAccess};
use crate::error::{AppError, AppResult};
use crate::http::extract::Json;
use crate::risk::{self, Source};
use crate::types::{Bounded, ShortText, Text, rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/thought-records", get(list_own).post(create))
        .route(
            "/api/thought-records/{id}",
            get(get_one).put(update).delete(remove),
        )
        .route(
            "/api/clinician/patients/{username}/thought-records",
            get(list_patient),
        )
        .route("/api/safety-plan", get(plan_own).put(plan_save))
        .route(
            "/api/clinician/patients/{username}/safety-plan",
            get(plan_patient),
        )
}

/// An emotion and how strongly it was felt, 0–100.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emotion {
    pub name: Text<1, 50>,
    pub intensity: Bounded<0, 100>,
}

const MAX_EMOTIONS: usize = 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThoughtRecordInput {
    situation: ShortText,
    automatic_thought: ShortText,
    emotions: Vec<Emotion>,
    evidence_for: Option<ShortText>,
    evidence_against: Option<ShortText>,
    balanced_thought: Option<ShortText>,
    /// The same emotions rated again after the balanced thought.
    rerated_emotions: Option<Vec<Emotion>>,
}

impl ThoughtRecordInput {
    fn check(&self) -> AppResult<()> {
        if self.emotions.is_empty() || self.emotions.len() > MAX_EMOTIONS {
            return Err(AppError::invalid_field(
                "emotions",
                format!("name 1 to {MAX_EMOTIONS} emotions"),
            ));
        }
        if self
            .rerated_emotions
            .as_ref()
            .is_some_and(|r| r.len() > MAX_EMOTIONS)
        {
            return Err(AppError::invalid_field(
                "rerated_emotions",
                format!("at most {MAX_EMOTIONS} emotions"),
            ));
        }
        Ok(())
    }

    /// Every free-text part, for the risk screen.
    fn texts(&self) -> Vec<&str> {
        let mut texts = vec![self.situation.as_str(), self.automatic_thought.as_str()];
        for t in [
            &self.evidence_for,
            &self.evidence_against,
            &self.balanced_thought,
        ]
        .into_iter()
        .flatten()
        {
            texts.push(t.as_str());
        }
        texts
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct ThoughtRecordRow {
    pub id: i64,
    pub situation: String,
    pub automatic_thought: String,
    pub emotions: String,
    pub evidence_for: Option<String>,
    pub evidence_against: Option<String>,
    pub balanced_thought: Option<String>,
    pub rerated_emotions: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ThoughtRecordRow {
    pub fn to_json(&self) -> Value {
        let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::Null);
        json!({
            "id": self.id,
            "situation": self.situation,
            "automatic_thought": self.automatic_thought,
            "emotions": parse(&self.emotions),
            "evidence_for": self.evidence_for,
            "evidence_against": self.evidence_against,
            "balanced_thought": self.balanced_thought,
            "rerated_emotions": self.rerated_emotions.as_deref().map(parse),
            "created_at": rfc3339(self.created_at),
            "updated_at": rfc3339(self.updated_at),
        })
    }
}

const COLUMNS: &str = "id, situation, automatic_thought, emotions, evidence_for, \
     evidence_against, balanced_thought, rerated_emotions, created_at, updated_at";

/// Decrypts the free-text columns of a stored thought record.
fn open_row(access: &PatientAccess, mut r: ThoughtRecordRow) -> AppResult<ThoughtRecordRow> {
    let k = access.key();
    r.situation = k.open("thought.situation", &r.situation)?;
    r.automatic_thought = k.open("thought.automatic_thought", &r.automatic_thought)?;
    r.emotions = k.open("thought.emotions", &r.emotions)?;
    r.evidence_for = k.open_opt("thought.evidence_for", r.evidence_for)?;
    r.evidence_against = k.open_opt("thought.evidence_against", r.evidence_against)?;
    r.balanced_thought = k.open_opt("thought.balanced_thought", r.balanced_thought)?;
    r.rerated_emotions = k.open_opt("thought.rerated_emotions", r.rerated_emotions)?;
    Ok(r)
}

pub async fn list(state: &AppState, access: &PatientAccess) -> AppResult<Vec<ThoughtRecordRow>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM thought_records WHERE patient_id = $1 ORDER BY id DESC LIMIT 500"
    );
    let rows: Vec<ThoughtRecordRow> = sqlx::query_as(&sql)
        .bind(access.patient_id())
        .fetch_all(state.db.pool())
        .await?;
    rows.into_iter().map(|r| open_row(access, r)).collect()
}

async fn find(state: &AppState, access: &PatientAccess, id: i64) -> AppResult<ThoughtRecordRow> {
    let sql = format!("SELECT {COLUMNS} FROM thought_records WHERE patient_id = $1 AND id = $2");
    let row: ThoughtRecordRow = sqlx::query_as(&sql)
        .bind(access.patient_id())
        .bind(id)
        .fetch_optional(state.db.pool())
        .await?
        .ok_or(AppError::NotFound)?;
    open_row(access, row)
}

/// The record's columns from `situation` to `rerated_emotions`, in table
/// order, each sealed under the patient's key (the field names match
/// `open_row`).
fn sealed_columns(access: &PatientAccess, input: &ThoughtRecordInput) -> [Option<String>; 7] {
    let k = access.key();
    let text = |t: &Option<ShortText>| t.as_ref().map(|t| t.as_str().to_owned());
    [
        (
            "thought.situation",
            Some(input.situation.as_str().to_owned()),
        ),
        (
            "thought.automatic_thought",
            Some(input.automatic_thought.as_str().to_owned()),
        ),
        ("thought.emotions", Some(emotions_json(&input.emotions))),
        ("thought.evidence_for", text(&input.evidence_for)),
        ("thought.evidence_against", text(&input.evidence_against)),
        ("thought.balanced_thought", text(&input.balanced_thought)),
        (
            "thought.rerated_emotions",
            input.rerated_emotions.as_deref().map(emotions_json),
        ),
    ]
    .map(|(field, plain)| k.seal_opt(field, plain.as_deref()))
}

fn emotions_json(emotions: &[Emotion]) -> String {
    serde_json::to_string(emotions).unwrap_or_else(|_| "[]".into())
}

pub(crate) async fn create(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(input): Json<ThoughtRecordInput>,
) -> AppResult<Response> {
    let access = gate::own(&state, &user).await?;
    input.check()?;
    let outcome =
        risk::screen_texts(&state, &access, Source::ThoughtRecord, &input.texts()).await?;
    let now = state.clock.now();
    let mut insert = sqlx::query_as(
        "INSERT INTO thought_records (situation, automatic_thought, emotions, \
         evidence_for, evidence_against, balanced_thought, rerated_emotions, patient_id, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
    );
    for value in sealed_columns(&access, &input) {
        insert = insert.bind(value);
    }
    let (id,): (i64,) = insert
        .bind(access.patient_id())
        .bind(now)
        .fetch_one(state.db.pool())
        .await?;
    let mut body = find(&state, &access, id).await?.to_json();
    body["risk"] = outcome.to_json(&state);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Json(input): Json<ThoughtRecordInput>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    find(&state, &access, id).await?;
    input.check()?;
    let outcome =
        risk::screen_texts(&state, &access, Source::ThoughtRecord, &input.texts()).await?;
    let mut update = sqlx::query(
        "UPDATE thought_records SET situation = $1, automatic_thought = $2, emotions = $3, \
         evidence_for = $4, evidence_against = $5, balanced_thought = $6, \
         rerated_emotions = $7, updated_at = $8 WHERE id = $9 AND patient_id = $10",
    );
    for value in sealed_columns(&access, &input) {
        update = update.bind(value);
    }
    update
        .bind(state.clock.now())
        .bind(id)
        .bind(access.patient_id())
        .execute(state.db.pool())
        .await?;
    let mut body = find(&state, &access, id).await?.to_json();
    body["risk"] = outcome.to_json(&state);
    Ok(axum::Json(body))
}

async fn get_one(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    Ok(axum::Json(find(&state, &access, id).await?.to_json()))
}

async fn remove(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    let done = sqlx::query("DELETE FROM thought_records WHERE id = $1 AND patient_id = $2")
        .bind(id)
        .bind(access.patient_id())
        .execute(state.db.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(axum::Json(json!({ "deleted": 1 })))
}

async fn list_json(state: &AppState, access: &PatientAccess) -> AppResult<Value> {
    let rows = list(state, access).await?;
    Ok(json!({
        "patient": access.patient_username(),
        "thought_records": rows.iter().map(ThoughtRecordRow::to_json).collect::<Vec<_>>(),
    }))
}

pub(crate) async fn list_own(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    Ok(axum::Json(list_json(&state, &access).await?))
}

async fn list_patient(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(username): Path<String>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::for_viewer(&state, &user, &username, "thought_records").await?;
    Ok(axum::Json(list_json(&state, &access).await?))
}

const PLAN_FIELD: &str = "safety_plan.plan";

/// One line of a safety plan.
pub type PlanItem = Text<1, 500>;

const MAX_PLAN_ITEMS: usize = 20;

/// A Stanley-Brown safety plan. Every section is a list; missing sections
/// are empty.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafetyPlan {
    #[serde(default)]
    pub warning_signs: Vec<PlanItem>,
    #[serde(default)]
    pub coping_strategies: Vec<PlanItem>,
    /// People and places that take the mind off things.
    #[serde(default)]
    pub distractions: Vec<PlanItem>,
    #[serde(default)]
    pub people_to_ask_for_help: Vec<PlanItem>,
    /// Professionals, services and crisis lines to contact.
    #[serde(default)]
    pub professionals_and_crisis_lines: Vec<PlanItem>,
    #[serde(default)]
    pub making_the_environment_safe: Vec<PlanItem>,
    #[serde(default)]
    pub reasons_for_living: Vec<PlanItem>,
}

impl SafetyPlan {
    fn check(&self) -> AppResult<()> {
        let sections = [
            ("warning_signs", &self.warning_signs),
            ("coping_strategies", &self.coping_strategies),
            ("distractions", &self.distractions),
            ("people_to_ask_for_help", &self.people_to_ask_for_help),
            (
                "professionals_and_crisis_lines",
                &self.professionals_and_crisis_lines,
            ),
            (
                "making_the_environment_safe",
                &self.making_the_environment_safe,
            ),
            ("reasons_for_living", &self.reasons_for_living),
        ];
        for (name, items) in sections {
            if items.len() > MAX_PLAN_ITEMS {
                return Err(AppError::invalid_field(
                    name,
                    format!("at most {MAX_PLAN_ITEMS} items"),
                ));
            }
        }
        Ok(())
    }
}

pub async fn plan_json(state: &AppState, access: &PatientAccess) -> AppResult<Value> {
    let row: Option<(String, i64)> =
        sqlx::query_as("SELECT plan, updated_at FROM safety_plans WHERE patient_id = $1")
            .bind(access.patient_id())
            .fetch_optional(state.db.pool())
            .await?;
    Ok(match row {
        Some((plan, updated)) => json!({
            "patient": access.patient_username(),
            "plan": serde_json::from_str::<Value>(&access.key().open(PLAN_FIELD, &plan)?)
                .unwrap_or(Value::Null),
            "updated_at": rfc3339(updated),
        }),
        None => json!({
            "patient": access.patient_username(),
            "plan": SafetyPlan::default(),
            "updated_at": null,
        }),
    })
}

pub(crate) async fn plan_own(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    Ok(axum::Json(plan_json(&state, &access).await?))
}

/// Saves the whole plan. A safety plan names warning signs on purpose, so
/// it is not screened for risk language: writing one is a protective act,
/// and alerting on it would punish the patient for doing it.
pub(crate) async fn plan_save(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(plan): Json<SafetyPlan>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    plan.check()?;
    let now = state.clock.now();
    sqlx::query(
        "INSERT INTO safety_plans (patient_id, plan, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (patient_id) DO UPDATE SET plan = $2, updated_at = $3",
    )
    .bind(access.patient_id())
    .bind(access.key().seal(
        PLAN_FIELD,
        &serde_json::to_string(&plan).unwrap_or_default(),
    ))
    .bind(now)
    .execute(state.db.pool())
    .await?;
    Ok(axum::Json(plan_json(&state, &access).await?))
}

async fn plan_patient(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(username): Path<String>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::for_viewer(&state, &user, &username, "safety_plan").await?;
    Ok(axum::Json(plan_json(&state, &access).await?))
}
