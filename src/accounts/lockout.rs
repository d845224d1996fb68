//! Account lockout after repeated failed logins, kept in the database so
//! it holds across restarts and across app servers.
//!
//! Failures are counted per lower-case username whether or not the account
//! exists, so a lock reveals nothing about existence.

use crate::AppState;
use crate::accounts::store::UserRow;
use crate::db::Db;
use crate::error::AppResult;
use crate::mail::Mail;

/// Seconds until `key` may log in again, if it is locked now.
pub async fn locked_for(db: &Db, key: &str, now: i64) -> AppResult<Option<u64>> {
    let row: Option<(Option<i64>,)> =
        sqlx::query_as("SELECT locked_until FROM login_failures WHERE username_lower = $1")
            .bind(key)
            .fetch_optional(db.pool())
            .await?;
    Ok(row
        .and_then(|(until,)| until)
        .filter(|until| *until > now)
        .map(|until| (until - now) as u64))
}

/// Counts one failure; locks the key when the threshold is reached, for a
/// time that doubles with each further lock up to the maximum. Returns
/// true when this failure locked the account.
pub async fn record_failure(
    state: &AppState,
    key: &str,
    user: Option<&UserRow>,
    now: i64,
) -> AppResult<bool> {
    let policy = &state.config.lockout;
    let (failures, lock_count): (i64, i64) = sqlx::query_as(
        "INSERT INTO login_failures (username_lower, failures, lock_count, updated_at) \
         VALUES ($1, 1, 0, $2) \
         ON CONFLICT (username_lower) DO UPDATE SET failures = login_failures.failures + 1, \
         updated_at = $2 RETURNING failures, lock_count",
    )
    .bind(key)
    .bind(now)
    .fetch_one(state.db.pool())
    .await?;
    if failures < i64::from(policy.threshold) {
        return Ok(false);
    }
    let first = policy.first_lock.as_secs() as i64;
    let max = policy.max_lock.as_secs() as i64;
    let duration = first
        .checked_mul(1_i64 << lock_count.clamp(0, 20))
        .unwrap_or(max)
        .min(max);
    sqlx::query(
        "UPDATE login_failures SET failures = 0, lock_count = lock_count + 1, \
         locked_until = $1, updated_at = $2 WHERE username_lower = $3",
    )
    .bind(now + duration)
    .bind(now)
    .bind(key)
    .execute(state.db.pool())
    .await?;
    if let Some(user) = user {
        state.mailer.send(Mail {
            to: user.email.clone(),
            subject: "Your Healing Space account was locked".into(),
            body: format!(
                "There were {} failed attempts to log in to your account, so it is locked \
                 for {} minutes. If this was not you, consider resetting your password.",
                policy.threshold,
                duration / 60
            ),
        });
    }
    Ok(true)
}

/// Forgets the failures of `key` after a successful login or a reset.
pub async fn clear(db: &Db, key: &str) -> AppResult<()> {
    sqlx::query("DELETE FROM login_failures WHERE username_lower = $1")
        .bind(key)
        .execute(db.pool())
        .await?;
    Ok(())
}
