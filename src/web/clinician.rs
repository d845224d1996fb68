//! The clinician's pages: care requests, the caseload sorted by risk, one
//! patient's timeline with charts and notes, and the alert queue.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use jiff::civil::Date;

use super::charts::ChartView;
use super::patient::{mood_charts, score_charts};
use super::{
    Flags, FormData, FormError, J, Layout, Outcome, PageResult, Viewer, error_page, input,
    outcome_page, render, see_other,
};
use crate::AppState;
use crate::accounts::session::{ClinicianUser, CurrentUser, require_clinician};
use crate::care_team;
use crate::error::AppError;
use crate::http::extract::{Json, Query};
use crate::risk::alerts;
use crate::workspace::{caseload, notes, timeline};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/clinician", get(caseload_page))
        .route("/clinician/requests/{id}/{decision}", post(decide))
        .route("/clinician/patients/{username}", get(patient_page))
        .route("/clinician/patients/{username}/notes", post(note_add))
        .route(
            "/clinician/patients/{username}/notes/{id}/delete",
            post(note_delete),
        )
        .route("/clinician/alerts", get(alerts_page))
        .route("/clinician/alerts/{id}/{action}", post(alert_action))
}

/// The same check the API's `ClinicianUser` extractor makes; a clinician
/// without an authenticator app is sent to enrol one.
fn clinician(state: &AppState, Viewer(user): Viewer) -> Result<ClinicianUser, Response> {
    match require_clinician(&user) {
        Ok(()) => Ok(ClinicianUser(user)),
        Err(AppError::Forbidden {
            code: "totp_required",
            ..
        }) => Err(see_other("/totp")),
        Err(err) => Err(error_page(
            state,
            Some(&user),
            StatusCode::FORBIDDEN,
            &err.to_string(),
        )),
    }
}

fn me(c: &ClinicianUser) -> CurrentUser {
    c.0.clone()
}

fn checked(state: &AppState, user: &CurrentUser, outcome: Outcome) -> Result<Outcome, Response> {
    if outcome.ok() {
        Ok(outcome)
    } else {
        Err(outcome_page(state, user, &outcome))
    }
}

#[derive(Template)]
#[template(path = "caseload.html")]
struct CaseloadPage {
    page: Layout,
    patients: Vec<J>,
    requests: Vec<J>,
}

impl CaseloadPage {
    fn band(&self, p: &J) -> String {
        let phq9 = p.get("phq9");
        if phq9.is("band") {
            format!(
                "{} ({})",
                super::format::band(&phq9.s("band")),
                phq9.s("latest")
            )
        } else {
            "not taken".into()
        }
    }

    fn silence(&self, p: &J) -> String {
        super::format::days(p.0.get("days_since_last_entry").and_then(|v| v.as_i64()))
    }
}

async fn caseload_page(State(state): State<AppState>, viewer: Viewer, flags: Flags) -> PageResult {
    let c = clinician(&state, viewer)?;
    let user = me(&c);
    let query: caseload::CaseloadQuery =
        serde_urlencoded::from_str("sort=risk").map_err(|_| see_other("/"))?;
    let list = checked(
        &state,
        &user,
        Outcome::of(caseload::caseload(State(state.clone()), c, Query(query)).await).await,
    )?;
    let links = checked(
        &state,
        &user,
        Outcome::of(care_team::routes::list(State(state.clone()), user.clone()).await).await,
    )?;
    page_ok(&CaseloadPage {
        page: Layout::new(&state, "Caseload", Some(&user)).flags(&flags),
        patients: list.body.list("patients"),
        requests: links
            .body
            .list("links")
            .into_iter()
            .filter(|l| l.s("status") == "pending")
            .collect(),
    })
}

fn page_ok<T: Template>(t: &T) -> PageResult {
    Ok(render(StatusCode::OK, t))
}

async fn decide(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, decision)): Path<(i64, String)>,
) -> PageResult {
    let c = clinician(&state, viewer)?;
    let user = me(&c);
    let outcome = match decision.as_str() {
        "approve" => {
            Outcome::of(care_team::routes::approve(State(state.clone()), c, Path(id)).await).await
        }
        "reject" => {
            Outcome::of(care_team::routes::reject(State(state.clone()), c, Path(id)).await).await
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
    let notice = if decision == "approve" {
        "approved"
    } else {
        "rejected"
    };
    Ok(see_other(&format!("/clinician?notice={notice}")))
}

#[derive(Template)]
#[template(path = "patient_view.html")]
struct PatientView {
    page: Layout,
    username: String,
    me: String,
    charts: Vec<ChartView>,
    events: Vec<J>,
    error: FormError,
    draft: String,
}

async fn patient_view(
    state: &AppState,
    c: ClinicianUser,
    username: String,
    flags: &Flags,
    draft: String,
    error: FormError,
) -> PageResult {
    let user = me(&c);
    let range: timeline::Range = serde_urlencoded::from_str("").map_err(|_| see_other("/"))?;
    let outcome = checked(
        state,
        &user,
        Outcome::of(
            timeline::timeline(
                State(state.clone()),
                c,
                Path(username.clone()),
                Query(range),
            )
            .await,
        )
        .await,
    )?;
    let body = &outcome.body;
    let from: Date = body.s("from").parse().unwrap_or_default();
    let to: Date = body.s("to").parse().unwrap_or_default();
    let trends = body.get("trends");
    let mut charts = mood_charts("p", from, to, &trends.list("mood"));
    charts.extend(score_charts(
        "p",
        from,
        to,
        &trends.list("phq9"),
        &trends.list("gad7"),
    ));
    let status = if error.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(render(
        status,
        &PatientView {
            page: Layout::new(state, &format!("Patient: {username}"), Some(&user)).flags(flags),
            username,
            me: user.display_name.clone(),
            charts,
            events: body.list("events"),
            error,
            draft,
        },
    ))
}

impl PatientView {
    fn band(&self, a: &J) -> String {
        super::format::band(&a.s("band"))
    }
}

async fn patient_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(username): Path<String>,
    flags: Flags,
) -> PageResult {
    let c = clinician(&state, viewer)?;
    patient_view(
        &state,
        c,
        username,
        &flags,
        String::new(),
        FormError::default(),
    )
    .await
}

async fn note_add(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(username): Path<String>,
    body: Bytes,
) -> PageResult {
    let c = clinician(&state, viewer)?;
    let form = FormData::parse(&body);
    let outcome = match input(form.to_json(&["body"], &[])) {
        Ok(i) => {
            Outcome::of(
                notes::create(
                    State(state.clone()),
                    ClinicianUser(me(&c)),
                    Path(username.clone()),
                    Json(i),
                )
                .await,
            )
            .await
        }
        Err(e) => Outcome::refused(e).await,
    };
    if outcome.ok() {
        return Ok(see_other(&format!(
            "/clinician/patients/{}?notice=saved",
            urlencode(&username)
        )));
    }
    if outcome.status != StatusCode::BAD_REQUEST && outcome.status != StatusCode::PAYLOAD_TOO_LARGE
    {
        return Err(outcome_page(&state, &me(&c), &outcome));
    }
    let mut error = outcome.form_error();
    error.field = "body".into();
    patient_view(
        &state,
        c,
        username,
        &Flags::default(),
        form.get("body").to_owned(),
        error,
    )
    .await
}

async fn note_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((username, id)): Path<(String, i64)>,
) -> PageResult {
    let c = clinician(&state, viewer)?;
    let user = me(&c);
    checked(
        &state,
        &user,
        Outcome::of(notes::remove(State(state.clone()), c, Path((username.clone(), id))).await)
            .await,
    )?;
    Ok(see_other(&format!(
        "/clinician/patients/{}?notice=deleted",
        urlencode(&username)
    )))
}

fn urlencode(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|q| q.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    page: Layout,
    alerts: Vec<J>,
    error: FormError,
    failed: i64,
}

async fn alerts_view(
    state: &AppState,
    c: ClinicianUser,
    flags: &Flags,
    failed: i64,
    error: FormError,
) -> PageResult {
    let user = me(&c);
    let filter: alerts::AlertFilter = serde_urlencoded::from_str("").map_err(|_| see_other("/"))?;
    let outcome = checked(
        state,
        &user,
        Outcome::of(alerts::list(State(state.clone()), c, Query(filter)).await).await,
    )?;
    let status = if error.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(render(
        status,
        &AlertsPage {
            page: Layout::new(state, "Alerts", Some(&user)).flags(flags),
            alerts: outcome.body.list("alerts"),
            error,
            failed,
        },
    ))
}

async fn alerts_page(State(state): State<AppState>, viewer: Viewer, flags: Flags) -> PageResult {
    let c = clinician(&state, viewer)?;
    alerts_view(&state, c, &flags, 0, FormError::default()).await
}

async fn alert_action(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((id, action)): Path<(i64, String)>,
    body: Bytes,
) -> PageResult {
    let c = clinician(&state, viewer)?;
    let user = me(&c);
    let outcome = match action.as_str() {
        "acknowledge" => {
            Outcome::of(alerts::acknowledge(State(state.clone()), c, Path(id)).await).await
        }
        "resolve" => {
            let form = FormData::parse(&body);
            match input(form.to_json(&["outcome_note"], &[])) {
                Ok(i) => {
                    Outcome::of(alerts::resolve(State(state.clone()), c, Path(id), Json(i)).await)
                        .await
                }
                Err(e) => Outcome::refused(e).await,
            }
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
    if outcome.ok() {
        let notice = if action == "resolve" {
            "resolved"
        } else {
            "acknowledged"
        };
        return Ok(see_other(&format!("/clinician/alerts?notice={notice}")));
    }
    if outcome.status == StatusCode::BAD_REQUEST || outcome.status == StatusCode::CONFLICT {
        let c = ClinicianUser(user);
        let mut error = outcome.form_error();
        error.field = "outcome_note".into();
        return alerts_view(&state, c, &Flags::default(), id, error).await;
    }
    Err(outcome_page(&state, &user, &outcome))
}

impl AlertsPage {
    fn error_for(&self, alert: &J) -> &str {
        if alert.i("id") == self.failed {
            &self.error.message
        } else {
            ""
        }
    }
}
