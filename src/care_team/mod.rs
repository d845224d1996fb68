//! The care team (SPEC §6): patients ask clinicians to take them on,
//! clinicians approve or reject, either side ends the link. The gate in
//! `gate.rs` is the single check every patient-data route goes through.

use serde_json::json;

use crate::AppState;
use crate::accounts::store::UserRow;
use crate::audit::{self, Event};
use crate::error::{AppResult, ConflictOnUnique};
use crate::notifications;

pub mod gate;
pub mod routes;
pub mod store;

/// Opens a pending request from `patient` to `clinician` and tells the
/// clinician. 409 when one is already open.
pub async fn request_care(
    state: &AppState,
    patient: &UserRow,
    clinician: &UserRow,
) -> AppResult<i64> {
    let now = state.clock.now();
    let id = store::insert_request(&state.db, patient.id, clinician.id, now)
        .await
        .conflict_on_unique(
            "request_exists",
            "a request to this clinician is already pending or approved",
        )?;
    // Each request notifies the clinician, but a patient repeating a
    // request-withdraw loop must not flood their inbox: past a few a day,
    // new requests wait silently in the clinician's list.
    let within_budget = state
        .limiter
        .check(
            "care-request-notice",
            &format!("{}:{}", patient.id, clinician.id),
            crate::config::Limit::per_minutes(3, 60 * 24),
        )
        .is_ok();
    if within_budget {
        notifications::notify_about(
            &state.db,
            clinician.id,
            patient.id,
            "care_request",
            &format!(
                "{} asked you to join their care team.",
                patient.display_name
            ),
            now,
        )
        .await?;
    }
    notifications::notify(
        &state.db,
        patient.id,
        "care_request_sent",
        &format!("Your request to {} was sent.", clinician.display_name),
        now,
    )
    .await?;
    audit::record(
        &state.db,
        now,
        Event::new("care_team.request", "ok")
            .actor(patient.id)
            .target(clinician.id)
            .detail(json!({ "link_id": id })),
    )
    .await?;
    Ok(id)
}
