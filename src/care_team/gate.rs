//! The one gate to a patient's record.
//!
//! Every route that reads or writes patient data asks this module for a
//! [`PatientAccess`] first, and the storage functions of the other domains
//! take a `&PatientAccess` instead of a patient id. Its fields are private
//! and it has no public constructor, so code that skipped the check cannot
//! name a patient to read: it does not compile.

use crate::AppState;
use crate::accounts::session::{CurrentUser, require_clinician};
use crate::accounts::types::Role;
use crate::audit;
use crate::error::{AppError, AppResult};
use crate::vault::PatientKey;

/// Proof that the caller may see one patient's record.
#[derive(Debug, Clone)]
pub struct PatientAccess {
    patient_id: i64,
    patient_username: String,
    time_zone: String,
    viewer_id: i64,
    /// The patient's data key: whoever may read the record may also open
    /// its encrypted text, and nobody else gets the key.
    key: PatientKey,
}

impl PatientAccess {
    pub fn patient_id(&self) -> i64 {
        self.patient_id
    }

    pub fn patient_username(&self) -> &str {
        &self.patient_username
    }

    /// The patient's time zone, which decides what "today" is.
    pub fn time_zone(&self) -> &str {
        &self.time_zone
    }

    /// Seals and opens the patient's free text.
    pub fn key(&self) -> &PatientKey {
        &self.key
    }

    pub fn viewer_id(&self) -> i64 {
        self.viewer_id
    }

    /// True when the patient is looking at their own record.
    pub fn is_own(&self) -> bool {
        self.viewer_id == self.patient_id
    }
}

/// The caller's own record; only patients have one.
pub async fn own(state: &AppState, user: &CurrentUser) -> AppResult<PatientAccess> {
    if user.role != Role::Patient {
        return Err(AppError::forbidden());
    }
    // The time zone is read fresh: the session copy may predate a change.
    // One query for the time zone and the wrapped data key.
    let row: Option<(String, Option<String>)> = sqlx::query_as(
        "SELECT u.time_zone, k.wrapped_key FROM users u \
         LEFT JOIN patient_keys k ON k.patient_id = u.id WHERE u.id = $1",
    )
    .bind(user.id)
    .fetch_optional(state.db.pool())
    .await?;
    let (time_zone, wrapped) = row.ok_or(AppError::SessionExpired)?;
    Ok(PatientAccess {
        patient_id: user.id,
        patient_username: user.username.clone(),
        time_zone,
        viewer_id: user.id,
        key: state.vault.key_from(&state.db, user.id, wrapped).await?,
    })
}

/// A patient's record opened by someone else, named by username. Allowed
/// only to an active clinician with TOTP who has an *approved* link with
/// the patient. Every other case (no such patient, no link, a pending,
/// rejected or ended link) gets the same 404, so a clinician cannot learn
/// who is a patient here. Each opening is written to the patient's access
/// log, naming `resource`.
pub async fn for_viewer(
    state: &AppState,
    viewer: &CurrentUser,
    patient_username: &str,
    resource: &str,
) -> AppResult<PatientAccess> {
    let key = patient_username.to_ascii_lowercase();
    if viewer.role == Role::Patient && viewer.username.eq_ignore_ascii_case(&key) {
        return own(state, viewer).await;
    }
    require_clinician(viewer)?;
    let row: Option<(i64, String, String, Option<String>)> = sqlx::query_as(
        "SELECT p.id, p.username, p.time_zone, k.wrapped_key FROM users p \
         JOIN care_links l ON l.patient_id = p.id \
         LEFT JOIN patient_keys k ON k.patient_id = p.id \
         WHERE p.username_lower = $1 AND p.role = 'patient' AND p.status = 'active' \
         AND l.clinician_id = $2 AND l.status = 'approved'",
    )
    .bind(&key)
    .bind(viewer.id)
    .fetch_optional(state.db.pool())
    .await?;
    let Some((patient_id, patient_username, time_zone, wrapped)) = row else {
        return Err(AppError::NotFound);
    };
    audit::record_access(&state.db, state.clock.now(), patient_id, viewer, resource).await?;
    Ok(PatientAccess {
        patient_id,
        patient_username,
        time_zone,
        viewer_id: viewer.id,
        key: state.vault.key_from(&state.db, patient_id, wrapped).await?,
    })
}
