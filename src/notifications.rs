//! In-app notifications: list, mark read, delete, clear read; each user
//! reaches only their own.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};

use crate::AppState;
use crate::accounts::session::{CurrentUser, require_clinician};
use crate::accounts::types::Role;
use crate::db::Db;
use crate::error::{AppError, AppResult};
use crate::types::rfc3339;

/// Stores a notification for `user_id`. Messages name people and events,
/// never clinical content.
pub async fn notify(db: &Db, user_id: i64, kind: &str, message: &str, now: i64) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO notifications (user_id, kind, message, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(kind)
    .bind(message)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Stores a notification for `user_id` that is about patient `subject_id`
/// (named in the message); erasing that patient deletes it too.
pub async fn notify_about(
    db: &Db,
    user_id: i64,
    subject_id: i64,
    kind: &str,
    message: &str,
    now: i64,
) -> AppResult<()> {
    sqlx::query(
        "INSERT INTO notifications (user_id, subject_id, kind, message, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user_id)
    .bind(subject_id)
    .bind(kind)
    .bind(message)
    .bind(now)
    .execute(db.pool())
    .await?;
    Ok(())
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/notifications", get(list))
        .route("/api/notifications/{id}/read", post(mark_read))
        .route("/api/notifications/{id}", delete(remove))
        .route("/api/notifications/clear-read", post(clear_read))
}

pub(crate) async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<axum::Json<Value>> {
    // A clinician's notifications name patients (who asked for care, who
    // ended a link): not served before activation and TOTP (SPEC §3).
    if user.role == Role::Clinician {
        require_clinician(&user)?;
    }
    let rows: Vec<(i64, String, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, kind, message, created_at, read_at FROM notifications WHERE user_id = $1 \
         ORDER BY id DESC LIMIT 200",
    )
    .bind(user.id)
    .fetch_all(state.db.pool())
    .await?;
    // Counted apart from the listing, which stops at 200 rows.
    let (unread,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
            .bind(user.id)
            .fetch_one(state.db.pool())
            .await?;
    let items: Vec<Value> = rows
        .into_iter()
        .map(|(id, kind, message, created, read)| {
            json!({
                "id": id,
                "kind": kind,
                "message": message,
                "created_at": rfc3339(created),
                "read": read.is_some(),
            })
        })
        .collect();
    Ok(axum::Json(
        json!({ "notifications": items, "unread": unread }),
    ))
}

pub(crate) async fn mark_read(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Value>> {
    let done = sqlx::query(
        "UPDATE notifications SET read_at = COALESCE(read_at, $1) WHERE id = $2 AND user_id = $3",
    )
    .bind(state.clock.now())
    .bind(id)
    .bind(user.id)
    .execute(state.db.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(axum::Json(json!({ "id": id, "read": true })))
}

async fn remove(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> AppResult<axum::Json<Value>> {
    let done = sqlx::query("DELETE FROM notifications WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user.id)
        .execute(state.db.pool())
        .await?;
    if done.rows_affected() == 0 {
        return Err(AppError::NotFound);
    }
    Ok(axum::Json(json!({ "deleted": 1 })))
}

async fn clear_read(
    State(state): State<AppState>,
    user: CurrentUser,
) -> AppResult<axum::Json<Value>> {
    let done = sqlx::query("DELETE FROM notifications WHERE user_id = $1 AND read_at IS NOT NULL")
        .bind(user.id)
        .execute(state.db.pool())
        .await?;
    Ok(axum::Json(json!({ "deleted": done.rows_affected() })))
}
