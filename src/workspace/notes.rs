//! Clinician notes on a patient: every clinician on the care team reads
//! them; each deletes only their own.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::accounts::session::ClinicianUser;
use crate::audit::{self, Event};
use crate::care_team::gate::{self, PatientAccess};
use crate::error::{AppError, AppResult};
use crate::http::extract::Json;
use crate::types::{Text, rfc3339};

/// A note: 1–50,000 characters.
pub type NoteText = Text<1, 50000>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    body: NoteText,
}

type Row = (i64, String, i64, String, i64);

fn row_json(row: &Row) -> Value {
    json!({
        "id": row.0,
        "body": row.1,
        "author": row.3,
        "created_at": rfc3339(row.4),
    })
}

const BODY_FIELD: &str = "note.body";

/// Notes on the patient, newest first, decrypted.
pub async fn rows(state: &AppState, access: &PatientAccess) -> AppResult<Vec<Row>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT n.id, n.body, n.clinician_id, c.display_name, n.created_at \
         FROM clinician_notes n JOIN users c ON c.id = n.clinician_id \
         WHERE n.patient_id = $1 ORDER BY n.id DESC LIMIT 1000",
    )
    .bind(access.patient_id())
    .fetch_all(state.db.pool())
    .await?;
    rows.into_iter()
        .map(|mut r| {
            r.1 = access.key().open(BODY_FIELD, &r.1)?;
            Ok(r)
        })
        .collect()
}

pub async fn list(
    State(state): State<AppState>,
    ClinicianUser(user): ClinicianUser,
    Path(username): Path<String>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::for_viewer(&state, &user, &username, "notes").await?;
    let rows = rows(&state, &access).await?;
    Ok(axum::Json(json!({
        "patient": access.patient_username(),
        "notes": rows.iter().map(|r| {
            let mut j = row_json(r);
            j["own"] = json!(r.2 == user.id);
            j
        }).collect::<Vec<_>>(),
    })))
}

pub async fn create(
    State(state): State<AppState>,
    ClinicianUser(user): ClinicianUser,
    Path(username): Path<String>,
    Json(note): Json<NewNote>,
) -> AppResult<Response> {
    let access = gate::for_viewer(&state, &user, &username, "notes").await?;
    let now = state.clock.now();
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO clinician_notes (patient_id, clinician_id, body, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(access.patient_id())
    .bind(user.id)
    .bind(access.key().seal(BODY_FIELD, note.body.as_str()))
    .bind(now)
    .fetch_one(state.db.pool())
    .await?;
    audit::record(
        &state.db,
        now,
        Event::new("note.created", "ok")
            .actor(user.id)
            .target(access.patient_id())
            .detail(json!({ "note_id": id })),
    )
    .await?;
    let row: Row = (
        id,
        note.body.into_inner(),
        user.id,
        user.display_name.clone(),
        now,
    );
    let mut body = row_json(&row);
    body["own"] = json!(true);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

pub async fn remove(
    State(state): State<AppState>,
    ClinicianUser(user): ClinicianUser,
    Path((username, id)): Path<(String, i64)>,
) -> AppResult<axum::Json<Value>> {
    let access = gate::for_viewer(&state, &user, &username, "notes").await?;
    let author: Option<(i64,)> = sqlx::query_as(
        "SELECT clinician_id FROM clinician_notes WHERE id = $1 AND patient_id = $2",
    )
    .bind(id)
    .bind(access.patient_id())
    .fetch_optional(state.db.pool())
    .await?;
    match author {
        None => return Err(AppError::NotFound),
        Some((author,)) if author != user.id => {
            return Err(AppError::Forbidden {
                code: "not_author",
                message: "only the author of a note may delete it",
            });
        }
        Some(_) => {}
    }
    sqlx::query("DELETE FROM clinician_notes WHERE id = $1")
        .bind(id)
        .execute(state.db.pool())
        .await?;
    audit::record(
        &state.db,
        state.clock.now(),
        Event::new("note.deleted", "ok")
            .actor(user.id)
            .target(access.patient_id())
            .detail(json!({ "note_id": id })),
    )
    .await?;
    Ok(axum::Json(json!({ "deleted": 1 })))
}
