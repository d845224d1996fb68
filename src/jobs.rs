//! Background jobs run in the server process: alert escalation and mood
//! reminders. Each job is safe to run on several servers at once.

use tokio::task::JoinHandle;

use crate::AppState;

/// Runs every job once.
pub async fn run_once(state: &AppState) {
    if let Err(err) = crate::risk::escalation::run_once(state).await {
        tracing::error!(error = %err, "alert escalation failed");
    }
    if let Err(err) = crate::reminders::run_once(state).await {
        tracing::error!(error = %err, "mood reminders failed");
    }
}

/// Starts the job loop; it runs until the process ends.
pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(state.config.clinical.job_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            run_once(&state).await;
        }
    })
}
