//! The patient's pages: today's entry, history and charts, questionnaires,
//! the written record, the companion, the care team, notifications and the
//! rights over their own data.

use askama::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use jiff::civil::Date;
use serde_json::{Map, Value, json};

use super::charts::{self, Band, Chart, ChartView, Marker, Series};
use super::{
    Flags, FormData, FormError, J, Layout, Outcome, PageResult, Viewer, after_write, input,
    outcome_page, page, redirect_with_cookie, render, require, see_other,
};
use crate::AppState;
use crate::accounts::session::{CurrentUser, PatientUser};
use crate::accounts::types::Role;
use crate::daily_record::{cbt, entries, mood};
use crate::http::extract::{ClientIp, Json, Query};
use crate::types::local_date;
use crate::{assessments, audit, care_team, companion, exports, notifications};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/home", get(home))
        .route("/home/mood", post(save_mood))
        .route("/mood", get(mood_history))
        .route("/assessments", get(assessments_page))
        .route(
            "/assessments/{instrument}",
            get(questionnaire_form).post(questionnaire_submit),
        )
        .route("/journal", get(journal).post(journal_add))
        .route("/journal/{id}/delete", post(journal_delete))
        .route("/gratitude", get(gratitude).post(gratitude_add))
        .route("/gratitude/{id}/delete", post(gratitude_delete))
        .route("/thoughts", get(thoughts).post(thoughts_add))
        .route("/safety-plan", get(safety_plan).post(safety_plan_save))
        .route("/companion", get(companion_page).post(companion_send))
        .route("/care-team", get(care_team_page).post(care_team_request))
        .route("/notifications", get(notifications_page))
        .route("/notifications/{id}/read", post(notification_read))
        .route("/access-log", get(access_log))
        .route("/account", get(account))
        .route("/account/delete", post(account_delete))
}

/// The logged-in patient of a page, or the page that says why not.
fn patient(state: &AppState, viewer: Viewer) -> Result<CurrentUser, Response> {
    require(state, &viewer.0, Role::Patient)?;
    Ok(viewer.0)
}

fn checked(state: &AppState, user: &CurrentUser, outcome: Outcome) -> Result<Outcome, Response> {
    if outcome.ok() {
        Ok(outcome)
    } else {
        Err(outcome_page(state, user, &outcome))
    }
}

fn today(state: &AppState, user: &CurrentUser) -> Date {
    local_date(state.clock.now(), &user.time_zone)
}

// ---- Today -------------------------------------------------------------

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    page: Layout,
    date: String,
    entry: J,
    form: Vec<(String, String)>,
    error: FormError,
    unread: i64,
}

impl HomePage {
    /// The value a field shows: what was just submitted, else the entry.
    fn value(&self, name: &str) -> String {
        if let Some((_, v)) = self.form.iter().find(|(k, _)| k == name) {
            return v.clone();
        }
        match name {
            "medication" => self
                .entry
                .list("medication")
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            _ => self.entry.s(name),
        }
    }
}

async fn home_page(
    state: &AppState,
    user: CurrentUser,
    flags: &Flags,
    form: Vec<(String, String)>,
    error: FormError,
) -> PageResult {
    let today = checked(
        state,
        &user,
        Outcome::of(mood::today(State(state.clone()), user.clone()).await).await,
    )?;
    let notes = Outcome::of(notifications::list(State(state.clone()), user.clone()).await).await;
    let status = if error.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(render(
        status,
        &HomePage {
            page: Layout::new(state, "Today", Some(&user)).flags(flags),
            date: today.body.s("date"),
            entry: today.body.get("entry"),
            form,
            error,
            unread: notes.body.i("unread"),
        },
    ))
}

async fn home(State(state): State<AppState>, viewer: Viewer, flags: Flags) -> PageResult {
    let user = patient(&state, viewer)?;
    home_page(&state, user, &flags, Vec::new(), FormError::default()).await
}

const MOOD_NUMBERS: [&str; 6] = [
    "mood",
    "sleep_quality",
    "sleep_hours",
    "anxiety",
    "exercise_minutes",
    "outdoor_minutes",
];

async fn save_mood(State(state): State<AppState>, viewer: Viewer, body: Bytes) -> PageResult {
    let user = patient(&state, viewer)?;
    let form = FormData::parse(&body);
    let mut map = form.to_json(&["note"], &MOOD_NUMBERS);
    let medication = form.lines("medication");
    if !medication.is_empty() {
        map.insert("medication".into(), json!(medication));
    }
    let entry_id: Option<i64> = form.get("entry_id").parse().ok();
    let outcome = match (input::<mood::MoodInput>(map), entry_id) {
        (Ok(i), None) => {
            Outcome::of(mood::create(State(state.clone()), user.clone(), Json(i)).await).await
        }
        (Ok(i), Some(id)) => {
            Outcome::of(mood::update(State(state.clone()), user.clone(), Path(id), Json(i)).await)
                .await
        }
        (Err(e), _) => Outcome::refused(e).await,
    };
    if outcome.ok() {
        return Ok(after_write("/home?notice=saved", &outcome));
    }
    let flags = Flags {
        crisis: outcome.raised_alert(),
        ..Flags::default()
    };
    home_page(&state, user, &flags, form.0, outcome.form_error()).await
}

// ---- Mood history ------------------------------------------------------

#[derive(Template)]
#[template(path = "mood.html")]
struct MoodPage {
    page: Layout,
    days: i64,
    charts: Vec<ChartView>,
    entries: Vec<J>,
}

fn series(label: &str, marker: Marker, gap: i64, points: Vec<(Date, f64)>) -> Series {
    Series {
        label: label.into(),
        marker,
        max_gap_days: gap,
        points,
    }
}

fn points(rows: &[J], date_key: &str, key: &str) -> Vec<(Date, f64)> {
    rows.iter()
        .filter_map(|r| Some((r.s(date_key).parse().ok()?, r.f(key)?)))
        .collect()
}

/// The mood and sleep charts of a span of days, shared with the
/// clinician's patient page.
pub fn mood_charts(id: &str, from: Date, to: Date, rows: &[J]) -> Vec<ChartView> {
    let mood = Chart {
        id: format!("{id}-mood"),
        title: "Mood and sleep quality".into(),
        y_label: "score 0–10 (mood 1 low, 10 good)".into(),
        from,
        to,
        y_min: 0.0,
        y_max: 10.0,
        y_ticks: vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0],
        series: vec![
            series("Mood", Marker::Circle, 1, points(rows, "date", "mood")),
            series(
                "Sleep quality",
                Marker::Square,
                1,
                points(rows, "date", "sleep_quality"),
            ),
        ],
        bands: vec![],
    };
    let sleep = Chart {
        id: format!("{id}-sleep"),
        title: "Hours of sleep".into(),
        y_label: "hours".into(),
        from,
        to,
        y_min: 0.0,
        y_max: 12.0,
        y_ticks: vec![0.0, 4.0, 8.0, 12.0],
        series: vec![series(
            "Sleep hours",
            Marker::Triangle,
            1,
            points(rows, "date", "sleep_hours")
                .into_iter()
                .map(|(d, h)| (d, h.min(12.0)))
                .collect(),
        )],
        bands: vec![],
    };
    vec![ChartView::from(&mood), ChartView::from(&sleep)]
}

/// The PHQ-9 and GAD-7 charts, band edges drawn.
pub fn score_charts(id: &str, from: Date, to: Date, phq9: &[J], gad7: &[J]) -> Vec<ChartView> {
    let chart =
        |suffix: &str, title: &str, max: f64, rows: &[J], bands: Vec<Band>, m: Marker| Chart {
            id: format!("{id}-{suffix}"),
            title: title.into(),
            y_label: "total score".into(),
            from,
            to,
            y_min: 0.0,
            y_max: max,
            y_ticks: vec![0.0, max],
            series: vec![series(title, m, i64::MAX, points(rows, "date", "total"))],
            bands,
        };
    vec![
        ChartView::from(&chart(
            "phq9",
            "PHQ-9",
            27.0,
            phq9,
            charts::phq9_bands(),
            Marker::Circle,
        )),
        ChartView::from(&chart(
            "gad7",
            "GAD-7",
            21.0,
            gad7,
            charts::gad7_bands(),
            Marker::Square,
        )),
    ]
}

async fn mood_history(State(state): State<AppState>, viewer: Viewer, flags: Flags) -> PageResult {
    let user = patient(&state, viewer)?;
    let days: i64 = match flags.param("days") {
        Some("7") => 7,
        Some("90") => 90,
        _ => 30,
    };
    let to = today(&state, &user);
    let from = to
        .checked_sub(jiff::Span::new().days(days - 1))
        .unwrap_or(to);
    let range: mood::Range = serde_urlencoded::from_str(&format!("from={from}&to={to}"))
        .map_err(|_| see_other("/mood"))?;
    let outcome = checked(
        &state,
        &user,
        Outcome::of(mood::history(State(state.clone()), user.clone(), Query(range)).await).await,
    )?;
    let entries = outcome.body.list("entries");
    page(&MoodPage {
        page: Layout::new(&state, "Mood history", Some(&user)).flags(&flags),
        days,
        charts: mood_charts("m", from, to, &entries),
        entries: entries.into_iter().rev().collect(),
    })
}

// ---- Questionnaires ----------------------------------------------------

const ANSWERS: [&str; 4] = [
    "Not at all",
    "On several days",
    "On more than half of the days",
    "Nearly every day",
];

const DIFFICULTY: [&str; 4] = [
    "Not difficult at all",
    "Somewhat difficult",
    "Very difficult",
    "Extremely difficult",
];

const PHQ9_ITEMS: [&str; 9] = [
    "Finding little interest or enjoyment in doing things",
    "Feeling low, down, or without hope",
    "Trouble getting to sleep or staying asleep, or sleeping much more than usual",
    "Feeling tired or having little energy",
    "Having little appetite, or eating much more than usual",
    "Feeling bad about yourself, or that you are a failure or have let yourself or your family down",
    "Finding it hard to concentrate on things such as reading or watching television",
    "Moving or speaking so slowly that others could notice, or the opposite: being so fidgety \
     or restless that you move around much more than usual",
    "Thinking that you would be better off dead, or of hurting yourself in some way",
];

const GAD7_ITEMS: [&str; 7] = [
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Finding it hard to relax",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid, as if something awful might happen",
];

fn instrument_of(name: &str) -> Option<(&'static str, &'static str, &'static [&'static str])> {
    match name {
        "phq9" => Some(("phq9", "PHQ-9: how your mood has been", &PHQ9_ITEMS)),
        "gad7" => Some(("gad7", "GAD-7: how anxious you have felt", &GAD7_ITEMS)),
        _ => None,
    }
}

#[derive(Template)]
#[template(path = "assessments.html")]
struct AssessmentsPage {
    page: Layout,
    charts: Vec<ChartView>,
    results: Vec<J>,
}

async fn assessments_page(
    State(state): State<AppState>,
    viewer: Viewer,
    flags: Flags,
) -> PageResult {
    let user = patient(&state, viewer)?;
    let filter: assessments::Filter =
        serde_urlencoded::from_str("").map_err(|_| see_other("/home"))?;
    let outcome = checked(
        &state,
        &user,
        Outcome::of(assessments::history(State(state.clone()), user.clone(), Query(filter)).await)
            .await,
    )?;
    let results = outcome.body.list("assessments");
    let of = |name: &str| -> Vec<J> {
        results
            .iter()
            .filter(|r| r.s("instrument") == name)
            .map(|r| J(json!({ "date": r.s("taken_on"), "total": r.i("total") })))
            .collect()
    };
    let (phq9, gad7) = (of("phq9"), of("gad7"));
    let to = today(&state, &user);
    let earliest = results
        .iter()
        .filter_map(|r| r.s("taken_on").parse::<Date>().ok())
        .min()
        .unwrap_or(to);
    let from = earliest.min(to.checked_sub(jiff::Span::new().days(89)).unwrap_or(to));
    page(&AssessmentsPage {
        page: Layout::new(&state, "Questionnaires", Some(&user)).flags(&flags),
        charts: score_charts("a", from, to, &phq9, &gad7),
        results,
    })
}

#[derive(Template)]
#[template(path = "questionnaire.html")]
struct QuestionnairePage {
    page: Layout,
    instrument: &'static str,
    items: Vec<(usize, &'static str)>,
    answers: &'static [&'static str],
    difficulty: &'static [&'static str],
    chosen: Vec<String>,
    error: FormError,
    result: J,
}

impl QuestionnairePage {
    fn checked(&self, item: &usize, value: &usize) -> bool {
        self.chosen.get(*item).map(String::as_str) == Some(&value.to_string())
    }

    fn item_error(&self, item: &usize) -> &str {
        self.error.on(&format!("answers[{item}]"))
    }

    fn band(&self) -> String {
        super::format::band(&self.result.s("band"))
    }
}

fn questionnaire(
    state: &AppState,
    user: &CurrentUser,
    name: &str,
) -> Result<QuestionnairePage, Response> {
    let (instrument, title, items) = instrument_of(name)
        .ok_or_else(|| super::error_page(state, Some(user), StatusCode::NOT_FOUND, "Not found."))?;
    Ok(QuestionnairePage {
        page: Layout::new(state, title, Some(user)),
        instrument,
        items: items.iter().copied().enumerate().collect(),
        answers: &ANSWERS,
        difficulty: &DIFFICULTY,
        chosen: Vec::new(),
        error: FormError::default(),
        result: J::default(),
    })
}

async fn questionnaire_form(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
) -> PageResult {
    let user = patient(&state, viewer)?;
    page(&questionnaire(&state, &user, &name)?)
}

async fn questionnaire_submit(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(name): Path<String>,
    body: Bytes,
) -> PageResult {
    let user = patient(&state, viewer)?;
    let mut view = questionnaire(&state, &user, &name)?;
    let form = FormData::parse(&body);
    // An unanswered item is sent as null: the API refuses it by name and
    // never counts it as 0.
    let answers: Vec<Value> = (0..view.items.len())
        .map(|i| match form.get(&format!("q{i}")).parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => Value::Null,
        })
        .collect();
    let mut body = json!({ "answers": answers });
    if let Ok(d) = form.get("difficulty").parse::<i64>() {
        body["difficulty"] = json!(d);
    }
    let outcome = Outcome::of(
        assessments::submit(
            State(state.clone()),
            user.clone(),
            Path(view.instrument.to_owned()),
            Json(body),
        )
        .await,
    )
    .await;
    // A refused form still shows the crisis panel when it raised an alert.
    view.page.crisis = outcome.raised_alert();
    if outcome.ok() {
        view.page.title = format!(
            "{}: your result",
            view.instrument
                .to_uppercase()
                .replace("PHQ9", "PHQ-9")
                .replace("GAD7", "GAD-7")
        );
        view.result = outcome.body;
        return page(&view);
    }
    view.chosen = (0..view.items.len())
        .map(|i| form.get(&format!("q{i}")).to_owned())
        .collect();
    view.error = outcome.form_error();
    Ok(render(outcome.status, &view))
}

// ---- Journal and gratitude ---------------------------------------------

#[derive(Template)]
#[template(path = "entries.html")]
struct EntriesPage {
    page: Layout,
    path: &'static str,
    prompt: &'static str,
    entries: Vec<J>,
    error: FormError,
    draft: String,
}

async fn entries_page(
    state: &AppState,
    user: CurrentUser,
    gratitude: bool,
    flags: &Flags,
    draft: String,
    error: FormError,
) -> PageResult {
    let kind = kind_of(gratitude);
    let (path, title, prompt) = if gratitude {
        (
            "gratitude",
            "Gratitude",
            "Something you are grateful for today",
        )
    } else {
        ("journal", "Journal", "What is on your mind?")
    };
    let outcome = checked(
        state,
        &user,
        Outcome::of(entries::list_own(kind, State(state.clone()), user.clone()).await).await,
    )?;
    let status = if error.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(render(
        status,
        &EntriesPage {
            page: Layout::new(state, title, Some(&user)).flags(flags),
            path,
            prompt,
            entries: outcome.body.list("entries"),
            error,
            draft,
        },
    ))
}

fn kind_of(gratitude: bool) -> entries::Kind {
    if gratitude {
        entries::GRATITUDE
    } else {
        entries::JOURNAL
    }
}

async fn entry_add(state: AppState, viewer: Viewer, gratitude: bool, body: Bytes) -> PageResult {
    let kind = kind_of(gratitude);
    let user = patient(&state, viewer)?;
    let form = FormData::parse(&body);
    let outcome = match input(form.to_json(&["body"], &[])) {
        Ok(i) => {
            Outcome::of(entries::create(kind, State(state.clone()), user.clone(), Json(i)).await)
                .await
        }
        Err(e) => Outcome::refused(e).await,
    };
    let path = if gratitude { "/gratitude" } else { "/journal" };
    if outcome.ok() {
        return Ok(after_write(&format!("{path}?notice=saved"), &outcome));
    }
    let flags = Flags {
        crisis: outcome.raised_alert(),
        ..Flags::default()
    };
    entries_page(
        &state,
        user,
        gratitude,
        &flags,
        form.get("body").to_owned(),
        outcome.form_error(),
    )
    .await
}

async fn entry_delete(state: AppState, viewer: Viewer, gratitude: bool, id: i64) -> PageResult {
    let kind = kind_of(gratitude);
    let user = patient(&state, viewer)?;
    checked(
        &state,
        &user,
        Outcome::of(entries::remove(kind, State(state.clone()), user.clone(), Path(id)).await)
            .await,
    )?;
    let path = if gratitude { "/gratitude" } else { "/journal" };
    Ok(see_other(&format!("{path}?notice=deleted")))
}

async fn journal(State(state): State<AppState>, viewer: Viewer, flags: Flags) -> PageResult {
    let user = patient(&state, viewer)?;
    entries_page(
        &state,
        user,
        false,
        &flags,
        String::new(),
        FormError::default(),
    )
    .await
}

async fn gratitude(State(state): State<AppState>, viewer: Viewer, flags: Flags) -> PageResult {
    let user = patient(&state, viewer)?;
    entries_page(
        &state,
        user,
        true,
        &flags,
        String::new(),
        FormError::default(),
    )
    .await
}

async fn journal_add(State(state): State<AppState>, viewer: Viewer, body: Bytes) -> PageResult {
    entry_add(state, viewer, false, body).await
}

async fn gratitude_add(State(state): State<AppState>, viewer: Viewer, body: Bytes) -> PageResult {
    entry_add(state, viewer, true, body).await
}

async fn journal_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> PageResult {
    entry_delete(state, viewer, false, id).await
}

async fn gratitude_delete(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> PageResult {
    entry_delete(state, viewer, true, id).await
}

// ---- Thought records ---------------------------------------------------

#[derive(Template)]
#[template(path = "thoughts.html")]
struct ThoughtsPage {
    page: Layout,
    records: Vec<J>,
    form: FormData,
    error: FormError,
}

const THOUGHT_TEXT: [&str; 5] = [
    "situation",
    "automatic_thought",
    "evidence_for",
    "evidence_against",
    "balanced_thought",
];

async fn thoughts_page(
    state: &AppState,
    user: CurrentUser,
    flags: &Flags,
    form: FormData,
    error: FormError,
) -> PageResult {
    let outcome = checked(
        state,
        &user,
        Outcome::of(cbt::list_own(State(state.clone()), user.clone()).await).await,
    )?;
    let status = if error.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(render(
        status,
        &ThoughtsPage {
            page: Layout::new(state, "Thought records", Some(&user)).flags(flags),
            records: outcome.body.list("thought_records"),
            form,
            error,
        },
    ))
}

async fn thoughts(State(state): State<AppState>, viewer: Viewer, flags: Flags) -> PageResult {
    let user = patient(&state, viewer)?;
    thoughts_page(
        &state,
        user,
        &flags,
        FormData(Vec::new()),
        FormError::default(),
    )
    .await
}

async fn thoughts_add(State(state): State<AppState>, viewer: Viewer, body: Bytes) -> PageResult {
    let user = patient(&state, viewer)?;
    let form = FormData::parse(&body);
    let mut map = form.to_json(&THOUGHT_TEXT, &[]);
    let emotion = |intensity: &str| {
        json!([{
            "name": form.get("emotion"),
            "intensity": super::format::number(form.get(intensity).trim()),
        }])
    };
    map.insert("emotions".into(), emotion("intensity"));
    if !form.get("rerated").trim().is_empty() {
        map.insert("rerated_emotions".into(), emotion("rerated"));
    }
    let outcome = match input::<cbt::ThoughtRecordInput>(map) {
        Ok(i) => Outcome::of(cbt::create(State(state.clone()), user.clone(), Json(i)).await).await,
        Err(e) => Outcome::refused(e).await,
    };
    if outcome.ok() {
        return Ok(after_write("/thoughts?notice=saved", &outcome));
    }
    let flags = Flags {
        crisis: outcome.raised_alert(),
        ..Flags::default()
    };
    let mut error = outcome.form_error();
    // `emotions[0].name` and the like belong to the one emotion row.
    if error.field.starts_with("emotions") {
        error.field = "emotion".into();
    } else if error.field.starts_with("rerated") {
        error.field = "rerated".into();
    }
    thoughts_page(&state, user, &flags, form, error).await
}

impl ThoughtsPage {
    fn value(&self, name: &str) -> &str {
        self.form.get(name)
    }

    fn emotions(&self, record: &J, key: &str) -> String {
        record
            .list(key)
            .iter()
            .map(|e| format!("{} {}", e.s("name"), e.s("intensity")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

// ---- Safety plan -------------------------------------------------------

const PLAN_SECTIONS: [(&str, &str); 7] = [
    (
        "warning_signs",
        "Warning signs that a crisis may be starting",
    ),
    ("coping_strategies", "Things I can do on my own to cope"),
    (
        "distractions",
        "People and places that take my mind off things",
    ),
    ("people_to_ask_for_help", "People I can ask for help"),
    (
        "professionals_and_crisis_lines",
        "Professionals, services and crisis lines I can contact",
    ),
    ("making_the_environment_safe", "Making my surroundings safe"),
    ("reasons_for_living", "My reasons for living"),
];

#[derive(Template)]
#[template(path = "safety_plan.html")]
struct SafetyPlanPage {
    page: Layout,
    sections: Vec<(&'static str, &'static str, String)>,
    error: FormError,
}

async fn safety_plan(State(state): State<AppState>, viewer: Viewer, flags: Flags) -> PageResult {
    let user = patient(&state, viewer)?;
    let outcome = checked(
        &state,
        &user,
        Outcome::of(cbt::plan_own(State(state.clone()), user.clone()).await).await,
    )?;
    let plan = outcome.body.get("plan");
    let sections = PLAN_SECTIONS
        .iter()
        .map(|(name, label)| {
            let text = plan
                .list(name)
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join("\n");
            (*name, *label, text)
        })
        .collect();
    page(&SafetyPlanPage {
        page: Layout::new(&state, "My safety plan", Some(&user)).flags(&flags),
        sections,
        error: FormError::default(),
    })
}

async fn safety_plan_save(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> PageResult {
    let user = patient(&state, viewer)?;
    let form = FormData::parse(&body);
    let map: Map<String, Value> = PLAN_SECTIONS
        .iter()
        .map(|(name, _)| ((*name).to_owned(), json!(form.lines(name))))
        .collect();
    let outcome = match input::<cbt::SafetyPlan>(map) {
        Ok(i) => {
            Outcome::of(cbt::plan_save(State(state.clone()), user.clone(), Json(i)).await).await
        }
        Err(e) => Outcome::refused(e).await,
    };
    if outcome.ok() {
        return Ok(see_other("/safety-plan?notice=saved"));
    }
    let mut error = outcome.form_error();
    if let Some((section, _)) = error.field.split_once('[') {
        error.field = section.to_owned();
    }
    let sections = PLAN_SECTIONS
        .iter()
        .map(|(name, label)| (*name, *label, form.lines(name).join("\n")))
        .collect();
    Ok(render(
        StatusCode::BAD_REQUEST,
        &SafetyPlanPage {
            page: Layout::new(&state, "My safety plan", Some(&user)),
            sections,
            error,
        },
    ))
}

// ---- Companion ---------------------------------------------------------

#[derive(Template)]
#[template(path = "companion.html")]
struct CompanionPage {
    page: Layout,
    conversations: Vec<J>,
    current: i64,
    messages: Vec<J>,
    error: FormError,
    draft: String,
}

async fn companion_view(
    state: &AppState,
    user: CurrentUser,
    flags: &Flags,
    current: Option<i64>,
    draft: String,
    error: FormError,
) -> PageResult {
    let list = checked(
        state,
        &user,
        Outcome::of(
            companion::list_conversations(State(state.clone()), PatientUser(user.clone())).await,
        )
        .await,
    )?;
    let conversations = list.body.list("conversations");
    let current = current.or_else(|| conversations.first().map(|c| c.i("id")));
    let messages = match current {
        Some(id) => {
            let conv = Outcome::of(
                companion::get_conversation(
                    State(state.clone()),
                    PatientUser(user.clone()),
                    Path(id),
                )
                .await,
            )
            .await;
            conv.body.list("messages")
        }
        None => Vec::new(),
    };
    let status = if error.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(render(
        status,
        &CompanionPage {
            page: Layout::new(state, "Companion", Some(&user)).flags(flags),
            conversations,
            current: current.unwrap_or(0),
            messages,
            error,
            draft,
        },
    ))
}

async fn companion_page(State(state): State<AppState>, viewer: Viewer, flags: Flags) -> PageResult {
    let user = patient(&state, viewer)?;
    let current = flags.param("c").and_then(|c| c.parse().ok());
    companion_view(
        &state,
        user,
        &flags,
        current,
        String::new(),
        FormError::default(),
    )
    .await
}

async fn companion_send(State(state): State<AppState>, viewer: Viewer, body: Bytes) -> PageResult {
    let user = patient(&state, viewer)?;
    let form = FormData::parse(&body);
    let mut map = form.to_json(&["message"], &[]);
    let conversation: Option<i64> = form.get("conversation_id").parse().ok();
    if let Some(c) = conversation.filter(|c| *c > 0) {
        map.insert("conversation_id".into(), json!(c));
    }
    let outcome = match input(map) {
        Ok(i) => {
            Outcome::of(
                companion::chat(State(state.clone()), PatientUser(user.clone()), Json(i)).await,
            )
            .await
        }
        Err(e) => Outcome::refused(e).await,
    };
    if outcome.ok() {
        let id = outcome.body.i("conversation_id");
        return Ok(after_write(&format!("/companion?c={id}"), &outcome));
    }
    let flags = Flags {
        crisis: outcome.raised_alert(),
        ..Flags::default()
    };
    companion_view(
        &state,
        user,
        &flags,
        conversation,
        form.get("message").to_owned(),
        outcome.form_error(),
    )
    .await
}

// ---- Care team ---------------------------------------------------------

#[derive(Template)]
#[template(path = "care_team.html")]
struct CareTeamPage {
    page: Layout,
    links: Vec<J>,
    error: FormError,
}

async fn care_team_view(
    state: &AppState,
    user: CurrentUser,
    flags: &Flags,
    error: FormError,
) -> PageResult {
    let outcome = checked(
        state,
        &user,
        Outcome::of(care_team::routes::list(State(state.clone()), user.clone()).await).await,
    )?;
    let status = if error.any() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    Ok(render(
        status,
        &CareTeamPage {
            page: Layout::new(state, "My care team", Some(&user)).flags(flags),
            links: outcome.body.list("links"),
            error,
        },
    ))
}

async fn care_team_page(State(state): State<AppState>, viewer: Viewer, flags: Flags) -> PageResult {
    let user = patient(&state, viewer)?;
    care_team_view(&state, user, &flags, FormError::default()).await
}

async fn care_team_request(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> PageResult {
    let user = patient(&state, viewer)?;
    let form = FormData::parse(&body);
    let outcome = match input(form.to_json(&["clinician"], &[])) {
        Ok(i) => {
            Outcome::of(
                care_team::routes::create_request(
                    State(state.clone()),
                    PatientUser(user.clone()),
                    Json(i),
                )
                .await,
            )
            .await
        }
        Err(e) => Outcome::refused(e).await,
    };
    if outcome.ok() {
        return Ok(see_other("/care-team?notice=sent"));
    }
    let mut error = outcome.form_error();
    error.field = "clinician".into();
    care_team_view(&state, user, &Flags::default(), error).await
}

// ---- Notifications (every role) ----------------------------------------

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    page: Layout,
    items: Vec<J>,
}

async fn notifications_page(
    State(state): State<AppState>,
    Viewer(user): Viewer,
    flags: Flags,
) -> PageResult {
    let outcome = checked(
        &state,
        &user,
        Outcome::of(notifications::list(State(state.clone()), user.clone()).await).await,
    )?;
    page(&NotificationsPage {
        page: Layout::new(&state, "Notifications", Some(&user)).flags(&flags),
        items: outcome.body.list("notifications"),
    })
}

async fn notification_read(
    State(state): State<AppState>,
    Viewer(user): Viewer,
    Path(id): Path<i64>,
) -> PageResult {
    checked(
        &state,
        &user,
        Outcome::of(notifications::mark_read(State(state.clone()), user.clone(), Path(id)).await)
            .await,
    )?;
    Ok(see_other("/notifications"))
}

// ---- Who opened my record, exports, erasure ----------------------------

#[derive(Template)]
#[template(path = "access_log.html")]
struct AccessLogPage {
    page: Layout,
    entries: Vec<J>,
}

async fn access_log(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    let user = patient(&state, viewer)?;
    let outcome = checked(
        &state,
        &user,
        Outcome::of(
            audit::routes::access_log(State(state.clone()), PatientUser(user.clone())).await,
        )
        .await,
    )?;
    page(&AccessLogPage {
        page: Layout::new(&state, "Who opened my record", Some(&user)),
        entries: outcome.body.list("entries"),
    })
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    page: Layout,
    error: String,
}

async fn account(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    let user = patient(&state, viewer)?;
    page(&AccountPage {
        page: Layout::new(&state, "My data", Some(&user)),
        error: String::new(),
    })
}

async fn account_delete(
    State(state): State<AppState>,
    ip: ClientIp,
    viewer: Viewer,
    body: Bytes,
) -> PageResult {
    let user = patient(&state, viewer)?;
    let form = FormData::parse(&body);
    let outcome = match input(form.to_json(&["password"], &[])) {
        Ok(i) => {
            Outcome::of(
                exports::rights::erase(
                    State(state.clone()),
                    ip,
                    PatientUser(user.clone()),
                    Json(i),
                )
                .await,
            )
            .await
        }
        Err(e) => Outcome::refused(e).await,
    };
    if outcome.ok() {
        let mut response = redirect_with_cookie("/login", &outcome.headers);
        if !response
            .headers()
            .contains_key(axum::http::header::SET_COOKIE)
        {
            response.headers_mut().insert(
                axum::http::header::SET_COOKIE,
                crate::accounts::session::clear_cookie(&state),
            );
        }
        return Ok(response);
    }
    Ok(render(
        outcome.status,
        &AccountPage {
            page: Layout::new(&state, "My data", Some(&user)),
            error: "Your account was not deleted: the password did not match.".into(),
        },
    ))
}
