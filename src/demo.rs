//! The demo clinic loaded by `healing-space demo`.

use crate::AppState;

/// Loads the demo clinic into an empty database.
pub async fn load(state: &AppState) -> anyhow::Result<()> {
    let _ = state;
    anyhow::bail!("the demo clinic is not available in this build yet")
}
