//! Operator functions for developers: activating clinicians, disabling
//! users, platform statistics and per-clinician debug counts. Counts and
//! account metadata only, never clinical free text.

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::accounts::session::{self, DeveloperUser};
use crate::accounts::store;
use crate::accounts::types::Role;
use crate::audit::{self, Event};
use crate::error::{AppError, AppResult};
use crate::http::extract::{ClientIp, Query};
use crate::notifications;
use crate::types::rfc3339;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/developer/users", get(users))
        .route(
            "/api/developer/clinicians/{username}/activate",
            post(activate),
        )
        .route("/api/developer/users/{username}/disable", post(disable))
        .route("/api/developer/users/{username}/enable", post(enable))
        .route("/api/developer/stats", get(stats))
        .route("/api/debug/analytics/{clinician}", get(analytics))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserFilter {
    role: Option<Role>,
    status: Option<String>,
}

pub(crate) async fn users(
    State(state): State<AppState>,
    DeveloperUser(_dev): DeveloperUser,
    Query(filter): Query<UserFilter>,
) -> AppResult<axum::Json<Value>> {
    let rows: Vec<(String, String, String, String, i64)> = sqlx::query_as(
        "SELECT username, display_name, role, status, created_at FROM users \
         WHERE ($1 = '' OR role = $1) AND ($2 = '' OR status = $2) ORDER BY id LIMIT 1000",
    )
    .bind(filter.role.map(Role::as_str).unwrap_or(""))
    .bind(filter.status.unwrap_or_default())
    .fetch_all(state.db.pool())
    .await?;
    let list: Vec<Value> = rows
        .into_iter()
        .map(|(username, name, role, status, created)| {
            json!({
                "username": username,
                "display_name": name,
                "role": role,
                "status": status,
                "created_at": rfc3339(created),
            })
        })
        .collect();
    Ok(axum::Json(json!({ "users": list })))
}

pub(crate) async fn activate(
    State(state): State<AppState>,
    ip: ClientIp,
    DeveloperUser(dev): DeveloperUser,
    Path(username): Path<String>,
) -> AppResult<axum::Json<Value>> {
    let user = store::find_by_key(&state.db, &username.to_ascii_lowercase())
        .await?
        .filter(|u| u.role() == Role::Clinician)
        .ok_or(AppError::NotFound)?;
    if user.status != "pending" {
        return Err(AppError::conflict(
            "not_pending",
            format!("this clinician is {}, not pending", user.status),
        ));
    }
    let now = state.clock.now();
    store::set_status(&state.db, user.id, "active").await?;
    // Activation is a privilege change: the clinician logs in afresh.
    session::revoke_all(&state, user.id).await?;
    notifications::notify(
        &state.db,
        user.id,
        "account_activated",
        "Your clinician account was activated. Enrol an authenticator app to see patients.",
        now,
    )
    .await?;
    audit::record(
        &state.db,
        now,
        Event::new("admin.activate_clinician", "ok")
            .actor(dev.id)
            .target(user.id)
            .ip(ip),
    )
    .await?;
    Ok(axum::Json(
        json!({ "username": user.username, "status": "active" }),
    ))
}

pub(crate) async fn disable(
    State(state): State<AppState>,
    ip: ClientIp,
    DeveloperUser(dev): DeveloperUser,
    Path(username): Path<String>,
) -> AppResult<axum::Json<Value>> {
    let user = store::find_by_key(&state.db, &username.to_ascii_lowercase())
        .await?
        .ok_or(AppError::NotFound)?;
    if user.id == dev.id {
        return Err(AppError::conflict(
            "cannot_disable_self",
            "you cannot disable your own account",
        ));
    }
    store::set_status(&state.db, user.id, "disabled").await?;
    let ended = session::revoke_all(&state, user.id).await?;
    audit::record(
        &state.db,
        state.clock.now(),
        Event::new("admin.disable_user", "ok")
            .actor(dev.id)
            .target(user.id)
            .ip(ip)
            .detail(json!({ "sessions_ended": ended })),
    )
    .await?;
    Ok(axum::Json(
        json!({ "username": user.username, "status": "disabled", "sessions_ended": ended }),
    ))
}

async fn enable(
    State(state): State<AppState>,
    ip: ClientIp,
    DeveloperUser(dev): DeveloperUser,
    Path(username): Path<String>,
) -> AppResult<axum::Json<Value>> {
    let user = store::find_by_key(&state.db, &username.to_ascii_lowercase())
        .await?
        .ok_or(AppError::NotFound)?;
    if user.status != "disabled" {
        return Err(AppError::conflict(
            "not_disabled",
            "this account is not disabled",
        ));
    }
    // A clinician disabled before a developer ever activated them goes back
    // to the queue: re-enabling must not skip activation.
    let status =
        if user.role() == Role::Clinician && !store::was_activated(&state.db, user.id).await? {
            "pending"
        } else {
            "active"
        };
    store::set_status(&state.db, user.id, status).await?;
    audit::record(
        &state.db,
        state.clock.now(),
        Event::new("admin.enable_user", "ok")
            .actor(dev.id)
            .target(user.id)
            .ip(ip),
    )
    .await?;
    Ok(axum::Json(
        json!({ "username": user.username, "status": status }),
    ))
}

async fn count(state: &AppState, sql: &str, since: Option<i64>) -> AppResult<i64> {
    let mut query = sqlx::query_as::<_, (i64,)>(sql);
    if let Some(since) = since {
        query = query.bind(since);
    }
    Ok(query.fetch_one(state.db.pool()).await?.0)
}

/// Platform counts for operators.
pub(crate) async fn stats(
    State(state): State<AppState>,
    DeveloperUser(_dev): DeveloperUser,
) -> AppResult<axum::Json<Value>> {
    let day_ago = state.clock.now() - 24 * 3600;
    let by_role: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT role, status, COUNT(*) FROM users GROUP BY role, status ORDER BY role, status",
    )
    .fetch_all(state.db.pool())
    .await?;
    let links: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM care_links GROUP BY status ORDER BY status")
            .fetch_all(state.db.pool())
            .await?;
    let mut users = serde_json::Map::new();
    for (role, status, n) in by_role {
        let entry = users.entry(role).or_insert_with(|| json!({}));
        entry[status] = json!(n);
    }
    let link_counts: serde_json::Map<String, Value> =
        links.into_iter().map(|(s, n)| (s, json!(n))).collect();
    Ok(axum::Json(json!({
        "users": users,
        "care_links": link_counts,
        "sessions_active": count(&state, "SELECT COUNT(*) FROM sessions", None).await?,
        "mood_entries": count(&state, "SELECT COUNT(*) FROM mood_entries", None).await?,
        "logins_24h": count(&state,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND outcome = 'ok' \
             AND created_at >= $1", Some(day_ago)).await?,
        "failed_logins_24h": count(&state,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND outcome <> 'ok' \
             AND created_at >= $1", Some(day_ago)).await?,
        "alerts": crate::risk::alerts::stats(&state).await?,
        "refusals_24h": count(&state,
            "SELECT COUNT(*) FROM audit_log WHERE action = 'request.refused' \
             AND created_at >= $1", Some(day_ago)).await?,
    })))
}

/// Counts about one clinician's caseload, for debugging. No names of
/// patients and no clinical content.
async fn analytics(
    State(state): State<AppState>,
    DeveloperUser(_dev): DeveloperUser,
    Path(clinician): Path<String>,
) -> AppResult<axum::Json<Value>> {
    let user = store::find_by_key(&state.db, &clinician.to_ascii_lowercase())
        .await?
        .filter(|u| u.role() == Role::Clinician)
        .ok_or(AppError::NotFound)?;
    let links: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, COUNT(*) FROM care_links WHERE clinician_id = $1 GROUP BY status \
         ORDER BY status",
    )
    .bind(user.id)
    .fetch_all(state.db.pool())
    .await?;
    let week_ago = state.clock.now() - 7 * 24 * 3600;
    let (active_patients,): (i64,) = sqlx::query_as(
        "SELECT COUNT(DISTINCT m.patient_id) FROM mood_entries m JOIN care_links l \
         ON l.patient_id = m.patient_id WHERE l.clinician_id = $1 AND l.status = 'approved' \
         AND m.created_at >= $2",
    )
    .bind(user.id)
    .bind(week_ago)
    .fetch_one(state.db.pool())
    .await?;
    let link_counts: serde_json::Map<String, Value> =
        links.into_iter().map(|(s, n)| (s, json!(n))).collect();
    Ok(axum::Json(json!({
        "clinician": user.username,
        "status": user.status,
        "care_links": link_counts,
        "patients_active_7d": active_patients,
    })))
}
