//! Care-team storage.

use sqlx::FromRow;

use crate::accounts::store::{USER_COLUMNS, UserRow};
use crate::db::Db;
use crate::error::AppResult;

/// A link between a patient and a clinician, with both names.
#[derive(Debug, Clone, FromRow)]
pub struct LinkRow {
    pub id: i64,
    pub patient_id: i64,
    pub clinician_id: i64,
    pub status: String,
    pub created_at: i64,
    pub decided_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub patient_username: String,
    pub patient_name: String,
    pub clinician_username: String,
    pub clinician_name: String,
}

const LINK_SELECT: &str = "SELECT l.id, l.patient_id, l.clinician_id, l.status, l.created_at, \
     l.decided_at, l.ended_at, p.username AS patient_username, p.display_name AS patient_name, \
     c.username AS clinician_username, c.display_name AS clinician_name \
     FROM care_links l JOIN users p ON p.id = l.patient_id JOIN users c ON c.id = l.clinician_id";

pub async fn find_active_clinician(db: &Db, username_lower: &str) -> AppResult<Option<UserRow>> {
    let sql = format!(
        "SELECT {USER_COLUMNS} FROM users WHERE username_lower = $1 AND role = 'clinician' \
         AND status = 'active'"
    );
    Ok(sqlx::query_as::<_, UserRow>(&sql)
        .bind(username_lower)
        .fetch_optional(db.pool())
        .await?)
}

pub async fn insert_request(
    db: &Db,
    patient_id: i64,
    clinician_id: i64,
    now: i64,
) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO care_links (patient_id, clinician_id, status, created_at) \
         VALUES ($1, $2, 'pending', $3) RETURNING id",
    )
    .bind(patient_id)
    .bind(clinician_id)
    .bind(now)
    .fetch_one(db.pool())
    .await?;
    Ok(id)
}

pub async fn find(db: &Db, id: i64) -> AppResult<Option<LinkRow>> {
    let sql = format!("{LINK_SELECT} WHERE l.id = $1");
    Ok(sqlx::query_as::<_, LinkRow>(&sql)
        .bind(id)
        .fetch_optional(db.pool())
        .await?)
}

/// Every link the user is a party to, newest first.
pub async fn list_for(db: &Db, user_id: i64) -> AppResult<Vec<LinkRow>> {
    let sql =
        format!("{LINK_SELECT} WHERE l.patient_id = $1 OR l.clinician_id = $1 ORDER BY l.id DESC");
    Ok(sqlx::query_as::<_, LinkRow>(&sql)
        .bind(user_id)
        .fetch_all(db.pool())
        .await?)
}

/// Approves or rejects a pending link; false when it is no longer pending
/// (someone else changed it first).
pub async fn decide(db: &Db, id: i64, to: &str, now: i64) -> AppResult<bool> {
    let done = sqlx::query(
        "UPDATE care_links SET status = $1, decided_at = $2 WHERE id = $3 AND status = 'pending'",
    )
    .bind(to)
    .bind(now)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends a pending or approved link; false when it was already closed.
pub async fn end(db: &Db, id: i64, actor: i64, now: i64) -> AppResult<bool> {
    let done = sqlx::query(
        "UPDATE care_links SET status = 'ended', ended_at = $1, ended_by = $2 \
         WHERE id = $3 AND status IN ('pending', 'approved')",
    )
    .bind(now)
    .bind(actor)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}
