//! Escalation of alerts nobody acknowledged in time: every clinician on
//! the patient's care team is told again, urgently, and the alert is
//! flagged for the developer statistics (a count, no content).

use crate::AppState;
use crate::audit::{self, Event};
use crate::error::AppResult;

use super::{Source, alerts::parse_level, notify_care_team};

/// Escalates every overdue open alert once; returns how many it escalated.
/// Safe to run on several app servers at once: an alert is claimed by a
/// conditional update before anyone is notified.
pub async fn run_once(state: &AppState) -> AppResult<usize> {
    let now = state.clock.now();
    let cutoff = now - state.config.clinical.escalate_after.as_secs() as i64;
    let due: Vec<(i64, i64, String, String)> = sqlx::query_as(
        "SELECT id, patient_id, level, source FROM alerts WHERE status = 'open' \
         AND escalated_at IS NULL AND created_at <= $1 ORDER BY id LIMIT 500",
    )
    .bind(cutoff)
    .fetch_all(state.db.pool())
    .await?;
    let mut escalated = 0;
    for (id, patient_id, level, source) in due {
        let claimed = sqlx::query(
            "UPDATE alerts SET escalated_at = $1 WHERE id = $2 AND escalated_at IS NULL \
             AND status = 'open'",
        )
        .bind(now)
        .bind(id)
        .execute(state.db.pool())
        .await?;
        if claimed.rows_affected() != 1 {
            continue;
        }
        let source = Source::parse(&source);
        let told =
            notify_care_team(state, patient_id, id, parse_level(&level), source, true).await?;
        audit::record(
            &state.db,
            now,
            Event::new("alert.escalated", "ok")
                .target(patient_id)
                .detail(serde_json::json!({ "alert_id": id, "clinicians_notified": told })),
        )
        .await?;
        tracing::warn!(alert_id = id, clinicians_notified = told, "alert escalated");
        escalated += 1;
    }
    Ok(escalated)
}
