//! Account storage.

use sqlx::FromRow;

use crate::accounts::types::Role;
use crate::db::Db;
use crate::error::AppResult;

/// A user row as the service reads it. Secrets stay in the row type and
/// are never serialized.
#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: i64,
    pub username: String,
    pub role: String,
    pub status: String,
    pub display_name: String,
    pub email: String,
    pub email_verified: i64,
    pub password_hash: String,
    pub pin_hash: Option<String>,
    pub totp_secret: Option<String>,
    pub totp_pending: Option<String>,
    pub totp_last_step: Option<i64>,
    pub time_zone: String,
    pub areas: String,
    pub created_at: i64,
}

impl UserRow {
    pub fn role(&self) -> Role {
        // The CHECK constraint allows only the three names.
        Role::parse(&self.role).unwrap_or(Role::Patient)
    }
}

pub const USER_COLUMNS: &str = "id, username, role, status, display_name, email, email_verified, \
     password_hash, pin_hash, totp_secret, totp_pending, totp_last_step, time_zone, areas, \
     created_at";

pub async fn find_by_key(db: &Db, username_lower: &str) -> AppResult<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username_lower = $1");
    Ok(sqlx::query_as::<_, UserRow>(&sql)
        .bind(username_lower)
        .fetch_optional(db.pool())
        .await?)
}

pub async fn find_by_id(db: &Db, id: i64) -> AppResult<Option<UserRow>> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
    Ok(sqlx::query_as::<_, UserRow>(&sql)
        .bind(id)
        .fetch_optional(db.pool())
        .await?)
}

/// What a new account needs; hashes are made by the caller.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub role: Role,
    pub status: &'a str,
    pub display_name: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub pin_hash: Option<&'a str>,
    pub time_zone: &'a str,
    pub areas: &'a str,
    pub now: i64,
}

/// Inserts a user and returns its id; `Err` with a unique violation when
/// the name is taken (ignoring case).
pub async fn insert(db: &Db, user: &NewUser<'_>) -> Result<i64, sqlx::Error> {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (username, username_lower, role, status, display_name, email, \
         password_hash, pin_hash, time_zone, areas, created_at, activated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
         CASE WHEN $4 = 'active' THEN $11 ELSE NULL END) RETURNING id",
    )
    .bind(user.username)
    .bind(user.username.to_ascii_lowercase())
    .bind(user.role.as_str())
    .bind(user.status)
    .bind(user.display_name)
    .bind(user.email)
    .bind(user.password_hash)
    .bind(user.pin_hash)
    .bind(user.time_zone)
    .bind(user.areas)
    .bind(user.now)
    .fetch_one(db.pool())
    .await?;
    Ok(id)
}

pub async fn set_password_hash(db: &Db, user_id: i64, hash: &str) -> AppResult<()> {
    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(user_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

pub async fn set_pin_hash(db: &Db, user_id: i64, hash: &str) -> AppResult<()> {
    sqlx::query("UPDATE users SET pin_hash = $1 WHERE id = $2")
        .bind(hash)
        .bind(user_id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// Sets the account status; the first time it becomes active is kept.
pub async fn set_status(db: &Db, user_id: i64, status: &str) -> AppResult<()> {
    sqlx::query(
        "UPDATE users SET status = $1, activated_at = CASE WHEN $1 = 'active' \
         THEN COALESCE(activated_at, $3) ELSE activated_at END WHERE id = $2",
    )
    .bind(status)
    .bind(user_id)
    .bind(jiff::Timestamp::now().as_second())
    .execute(db.pool())
    .await?;
    Ok(())
}

/// Whether the account was ever active (for a clinician: ever activated).
pub async fn was_activated(db: &Db, user_id: i64) -> AppResult<bool> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM users WHERE id = $1 AND activated_at IS NOT NULL")
            .bind(user_id)
            .fetch_one(db.pool())
            .await?;
    Ok(n == 1)
}
