//! The developer's pages: statistics, accounts to activate or disable, and
//! the audit log (which by design holds no clinical text).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};

use super::{
    Flags, J, Layout, Outcome, PageResult, Viewer, error_page, outcome_page, page, see_other,
};
use crate::AppState;
use crate::accounts::session::{CurrentUser, DeveloperUser};
use crate::accounts::types::Role;
use crate::admin;
use crate::audit;
use crate::http::extract::{ClientIp, Query};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/developer", get(stats))
        .route("/developer/users", get(users))
        .route("/developer/users/{username}/{action}", post(user_action))
        .route("/developer/audit", get(audit_log))
}

/// The same check the API's `DeveloperUser` extractor makes.
fn developer(state: &AppState, Viewer(user): Viewer) -> Result<DeveloperUser, Response> {
    if user.role != Role::Developer {
        return Err(error_page(
            state,
            Some(&user),
            StatusCode::FORBIDDEN,
            "This page is not available to your account.",
        ));
    }
    if !user.totp_enabled {
        return Err(see_other("/totp"));
    }
    Ok(DeveloperUser(user))
}

fn checked(state: &AppState, user: &CurrentUser, outcome: Outcome) -> Result<Outcome, Response> {
    if outcome.ok() {
        Ok(outcome)
    } else {
        Err(outcome_page(state, user, &outcome))
    }
}

#[derive(Template)]
#[template(path = "dev_stats.html")]
struct StatsPage {
    page: Layout,
    rows: Vec<(String, String)>,
}

/// Flattens the statistics into "users.patient.active: 3" rows.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix} · {k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.replace('_', " "), J(other.clone()).to_string())),
    }
}

async fn stats(State(state): State<AppState>, viewer: Viewer, flags: Flags) -> PageResult {
    let dev = developer(&state, viewer)?;
    let user = dev.0.clone();
    let outcome = checked(
        &state,
        &user,
        Outcome::of(admin::stats(State(state.clone()), dev).await).await,
    )?;
    let mut rows = Vec::new();
    flatten("", &outcome.body.0, &mut rows);
    page(&StatsPage {
        page: Layout::new(&state, "Statistics", Some(&user)).flags(&flags),
        rows,
    })
}

#[derive(Template)]
#[template(path = "dev_users.html")]
struct UsersPage {
    page: Layout,
    users: Vec<J>,
}

async fn users(State(state): State<AppState>, viewer: Viewer, flags: Flags) -> PageResult {
    let dev = developer(&state, viewer)?;
    let user = dev.0.clone();
    let filter: admin::UserFilter = serde_urlencoded::from_str("").map_err(|_| see_other("/"))?;
    let outcome = checked(
        &state,
        &user,
        Outcome::of(admin::users(State(state.clone()), dev, Query(filter)).await).await,
    )?;
    page(&UsersPage {
        page: Layout::new(&state, "Users", Some(&user)).flags(&flags),
        users: outcome.body.list("users"),
    })
}

async fn user_action(
    State(state): State<AppState>,
    ip: ClientIp,
    viewer: Viewer,
    Path((username, action)): Path<(String, String)>,
) -> PageResult {
    let dev = developer(&state, viewer)?;
    let user = dev.0.clone();
    let outcome = match action.as_str() {
        "activate" => {
            Outcome::of(admin::activate(State(state.clone()), ip, dev, Path(username)).await).await
        }
        "disable" => {
            Outcome::of(admin::disable(State(state.clone()), ip, dev, Path(username)).await).await
        }
        _ => {
            return Err(error_page(
                &state,
                Some(&user),
                StatusCode::NOT_FOUND,
                "Not found.",
            ));
        }
    };
    checked(&state, &user, outcome)?;
    Ok(see_other("/developer/users?notice=done"))
}

#[derive(Template)]
#[template(path = "dev_audit.html")]
struct AuditPage {
    page: Layout,
    entries: Vec<J>,
}

async fn audit_log(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    let dev = developer(&state, viewer)?;
    let user = dev.0.clone();
    let query: audit::routes::AuditQuery =
        serde_urlencoded::from_str("").map_err(|_| see_other("/"))?;
    let outcome = checked(
        &state,
        &user,
        Outcome::of(audit::routes::audit_log(State(state.clone()), dev, Query(query)).await).await,
    )?;
    page(&AuditPage {
        page: Layout::new(&state, "Audit log", Some(&user)),
        entries: outcome.body.list("entries"),
    })
}
