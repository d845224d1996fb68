//! The clinician workspace (SPEC §11): the caseload with its metrics, one
//! timeline per patient, notes and analytics. Every per-patient view goes
//! through the care-team gate.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get};

use crate::AppState;

pub mod caseload;
pub mod notes;
pub mod timeline;

/// Notes may be 50,000 characters, which is more than the default JSON
/// body limit once encoded (up to four bytes a character).
pub const NOTE_BODY_LIMIT: usize = 256 * 1024;

/// The route that creates notes, the one route given [`NOTE_BODY_LIMIT`].
pub const NOTES_ROUTE: &str = "/api/clinician/patients/{username}/notes";

pub fn router() -> Router<AppState> {
    let notes = Router::new()
        .route(NOTES_ROUTE, get(notes::list).post(notes::create))
        .route(
            "/api/clinician/patients/{username}/notes/{id}",
            delete(notes::remove),
        )
        .route_layer(DefaultBodyLimit::max(NOTE_BODY_LIMIT));
    Router::new()
        .route("/api/clinician/patients", get(caseload::caseload))
        .route("/api/clinician/analytics", get(caseload::analytics))
        .route(
            "/api/clinician/patients/{username}/timeline",
            get(timeline::timeline),
        )
        .merge(notes)
}
