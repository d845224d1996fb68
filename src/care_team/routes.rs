//! Care-team routes.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::store::{self, LinkRow};
use crate::AppState;
use crate::accounts::session::{ClinicianUser, CurrentUser, PatientUser, require_clinician};
use crate::accounts::types::{Role, Username};
use crate::audit::{self, Event};
use crate::error::{AppError, AppResult};
use crate::http::extract::Json;
use crate::notifications;
use crate::types::rfc3339;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/care-team", get(list))
        .route("/api/care-team/requests", post(create_request))
        .route("/api/care-team/requests/{id}/approve", post(approve))
        .route("/api/care-team/requests/{id}/reject", post(reject))
        .route("/api/care-team/links/{id}/end", post(end))
}

fn link_json(link: &LinkRow) -> Value {
    json!({
        "id": link.id,
        "status": link.status,
        "patient": { "username": link.patient_username, "display_name": link.patient_name },
        "clinician": { "username": link.clinician_username, "display_name": link.clinician_name },
        "created_at": rfc3339(link.created_at),
        "decided_at": link.decided_at.map(rfc3339),
        "ended_at": link.ended_at.map(rfc3339),
    })
}

pub(crate) async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<axum::Json<Value>> {
    if user.role == Role::Developer {
        return Err(AppError::forbidden());
    }
    // Who asked a clinician for care is patient data: not served before
    // the clinician is active and has TOTP (SPEC §3).
    if user.role == Role::Clinician {
        require_clinician(&user)?;
    }
    let links = store::list_for(&state.db, user.id).await?;
    Ok(axum::Json(json!({
        "links": links.iter().map(link_json).collect::<Vec<_>>()
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewRequest {
    clinician: Username,
}

pub(crate) async fn create_request(
    State(state): State<AppState>,
    PatientUser(user): PatientUser,
    Json(body): Json<NewRequest>,
) -> AppResult<Response> {
    let clinician = store::find_active_clinician(&state.db, &body.clinician.key())
        .await?
        .ok_or_else(|| {
            AppError::invalid_field("clinician", "no active clinician has that username")
        })?;
    let patient = crate::accounts::store::find_by_id(&state.db, user.id)
        .await?
        .ok_or(AppError::SessionExpired)?;
    let id = super::request_care(&state, &patient, &clinician).await?;
    let link = store::find(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok((StatusCode::CREATED, axum::Json(link_json(&link))).into_response())
}

/// A link of this clinician's, or 404 (another clinician's links do not
/// exist as far as this one can tell).
async fn own_link(state: &AppState, clinician_id: i64, id: i64) -> AppResult<LinkRow> {
    store::find(&state.db, id)
        .await?
        .filter(|l| l.clinician_id == clinician_id)
        .ok_or(AppError::NotFound)
}

async fn decide(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    approve: bool,
) -> AppResult<axum::Json<Value>> {
    let link = own_link(state, user.id, id).await?;
    let now = state.clock.now();
    let to = if approve { "approved" } else { "rejected" };
    if !store::decide(&state.db, id, to, now).await? {
        return Err(AppError::conflict(
            "not_pending",
            format!(
                "this request is {} and can no longer be decided",
                link.status
            ),
        ));
    }
    let message = if approve {
        format!(
            "{} accepted your request to join your care team.",
            link.clinician_name
        )
    } else {
        format!(
            "{} could not take you on; you can ask another clinician.",
            link.clinician_name
        )
    };
    notifications::notify(
        &state.db,
        link.patient_id,
        &format!("care_{to}"),
        &message,
        now,
    )
    .await?;
    notifications::notify_about(
        &state.db,
        user.id,
        link.patient_id,
        &format!("care_{to}"),
        &format!("You {to} the request from {}.", link.patient_name),
        now,
    )
    .await?;
    audit::record(
        &state.db,
        now,
        Event::new(
            if approve {
                "care_team.approve"
            } else {
                "care_team.reject"
            },
            "ok",
        )
        .actor(user.id)
        .target(link.patient_id)
        .detail(json!({ "link_id": id })),
    )
    .await?;
    let link = store::find(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(axum::Json(link_json(&link)))
}

pub(crate) async fn approve(
    State(state): State<AppState>,
    ClinicianUser(user): ClinicianUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Value>> {
    decide(&state, &user, id, true).await
}

pub(crate) async fn reject(
    State(state): State<AppState>,
    ClinicianUser(user): ClinicianUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Value>> {
    decide(&state, &user, id, false).await
}

/// Either party ends a link (a patient may also withdraw a pending request).
async fn end(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Value>> {
    // The answer names the patient, so the same rule as for reading links.
    if user.role == Role::Clinician {
        require_clinician(&user)?;
    }
    let link = store::find(&state.db, id)
        .await?
        .filter(|l| l.patient_id == user.id || l.clinician_id == user.id)
        .ok_or(AppError::NotFound)?;
    let now = state.clock.now();
    if !store::end(&state.db, id, user.id, now).await? {
        return Err(AppError::conflict(
            "not_open",
            format!("this link is {} and cannot be ended", link.status),
        ));
    }
    let (other, other_msg) = if user.id == link.patient_id {
        (
            link.clinician_id,
            format!("{} ended the care-team link.", link.patient_name),
        )
    } else {
        (
            link.patient_id,
            format!("{} ended the care-team link.", link.clinician_name),
        )
    };
    notifications::notify_about(
        &state.db,
        other,
        link.patient_id,
        "care_ended",
        &other_msg,
        now,
    )
    .await?;
    notifications::notify(
        &state.db,
        user.id,
        "care_ended",
        "You ended a care-team link.",
        now,
    )
    .await?;
    audit::record(
        &state.db,
        now,
        Event::new("care_team.end", "ok")
            .actor(user.id)
            .target(other)
            .detail(json!({ "link_id": id })),
    )
    .await?;
    let link = store::find(&state.db, id)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(axum::Json(link_json(&link)))
}
