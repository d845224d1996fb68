//! Journal and gratitude entries: free text of 1–2,000 characters, screened
//! for risk before it is stored, readable by linked clinicians through the
//! gate.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::accounts::session::CurrentUser;
use crate::care_team::gate::{self, PatientAccess};
use crate::error::{AppError, AppResult};
use crate::http::extract::Json;
use crate::risk::{self, Source};
use crate::types::{ShortText, local_date, rfc3339};

/// One kind of text entry.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    table: &'static str,
    /// The path segment: `/api/{path}` and `/api/clinician/patients/{u}/{path}`.
    path: &'static str,
    source: Source,
}

pub const JOURNAL: Kind = Kind {
    table: "journal_entries",
    path: "journal",
    source: Source::Journal,
};

pub const GRATITUDE: Kind = Kind {
    table: "gratitude_entries",
    path: "gratitude",
    source: Source::Gratitude,
};

pub fn router() -> Router<AppState> {
    let mut router = Router::new();
    for kind in [JOURNAL, GRATITUDE] {
        router = router
            .route(
                &format!("/api/{}", kind.path),
                get(move |s, u| list_own(kind, s, u)).post(move |s, u, b| create(kind, s, u, b)),
            )
            .route(
                &format!("/api/{}/{{id}}", kind.path),
                put(move |s, u, p, b| update(kind, s, u, p, b))
                    .delete(move |s, u, p| remove(kind, s, u, p)),
            )
            .route(
                &format!("/api/clinician/patients/{{username}}/{}", kind.path),
                get(move |s, u, p| list_patient(kind, s, u, p)),
            );
    }
    router
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryInput {
    body: ShortText,
}

pub type Row = (i64, String, String, i64, i64);

pub fn row_json(row: &Row) -> Value {
    json!({
        "id": row.0,
        "body": row.1,
        "date": row.2,
        "created_at": rfc3339(row.3),
        "updated_at": rfc3339(row.4),
    })
}

impl Kind {
    /// The field name bound into each ciphertext.
    fn field(&self) -> &'static str {
        match self.source {
            Source::Gratitude => "gratitude.body",
            _ => "journal.body",
        }
    }
}

fn open_row(kind: Kind, access: &PatientAccess, mut row: Row) -> AppResult<Row> {
    row.1 = access.key().open(kind.field(), &row.1)?;
    Ok(row)
}

/// A patient's entries of one kind, newest first.
pub async fn list(state: &AppState, kind: Kind, access: &PatientAccess) -> AppResult<Vec<Row>> {
    let sql = format!(
        "SELECT id, body, entry_date, created_at, updated_at FROM {} WHERE patient_id = $1 \
         ORDER BY id DESC LIMIT 1000",
        kind.table
    );
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .bind(access.patient_id())
        .fetch_all(state.db.pool())
        .await?;
    rows.into_iter()
        .map(|r| open_row(kind, access, r))
        .collect()
}

async fn find(state: &AppState, kind: Kind, access: &PatientAccess, id: i64) -> AppResult<Row> {
    let sql = format!(
        "SELECT id, body, entry_date, created_at, updated_at FROM {} WHERE patient_id = $1 \
         AND id = $2",
        kind.table
    );
    let row: Row = sqlx::query_as(&sql)
        .bind(access.patient_id())
        .bind(id)
        .fetch_optional(state.db.pool())
        .await?
        .ok_or(AppError::NotFound)?;
    open_row(kind, access, row)
}

pub(crate) async fn create(
    kind: Kind,
    State(state): State<AppState>,
    user: CurrentUser,
    Json(input): Json<EntryInput>,
) -> AppResult<Response> {
    let access = gate::own(&state, &user).await?;
    let outcome = risk::screen_texts(&state, &access, kind.source, &[input.body.as_str()]).await?;
    let now = state.clock.now();
    let date = local_date(now, access.time_zone()).to_string();
    let sql = format!(
        "INSERT INTO {} (patient_id, body, entry_date, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id",
        kind.table
    );
    let (id,): (i64,) = sqlx::query_as(&sql)
        .bind(access.patient_id())
        .bind(access.key().seal(kind.field(), input.body.as_str()))
        .bind(&date)
        .bind(now)
        .fetch_one(state.db.pool())
        .await?;
    let mut body = row_json(&find(&state, kind, &access, id).await?);
    body["risk"] = outcome.to_json(&state);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn update(
    kind: Kind,
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Json(input): Json<EntryInput>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    // Another patient's entry is indistinguishable from none.
    find(&state, kind, &access, id).await?;
    let outcome = risk::screen_texts(&state, &access, kind.source, &[input.body.as_str()]).await?;
    let sql = format!(
        "UPDATE {} SET body = $1, updated_at = $2 WHERE id = $3 AND patient_id = $4",
        kind.table
    );
    sqlx::query(&sql)
        .bind(access.key().seal(kind.field(), input.body.as_str()))
        .bind(state.clock.now())
        .bind(id)
        .bind(access.patient_id())
        .execute(state.db.pool())
        .await?;
    let mut body = row_json(&find(&state, kind, &access, id).await?);
    body["risk"] = outcome.to_json(&state);
    Ok(axum::Json(body))
}

pub(crate) async fn remove(
    kind: Kind,
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    let sql = format!(
        "DELETE FROM {} WHERE id = $1 AND patient_id = $2",
        kind.table
    );
    let done = sqlx::query(&sql)
        .bind(id)
        .bind(access.patient_id())
        .execute(state.db.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(axum::Json(json!({ "deleted": 1 })))
}

async fn list_json(state: &AppState, kind: Kind, access: &PatientAccess) -> AppResult<Value> {
    let rows = list(state, kind, access).await?;
    Ok(json!({
        "patient": access.patient_username(),
        "entries": rows.iter().map(row_json).collect::<Vec<_>>(),
    }))
}

pub(crate) async fn list_own(
    kind: Kind,
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<axum::Json<Value>> {
    let access = gate::own(&state, &user).await?;
    Ok(axum::Json(list_json(&state, kind, &access).await?))
}

async fn list_patient(
    kind: Kind,
    State(state): State<AppState>,
    user: CurrentUser,
    Path(username): Path<String>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::for_viewer(&state, &user, &username, kind.path).await?;
    Ok(axum::Json(list_json(&state, kind, &access).await?))
}
