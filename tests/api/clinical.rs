//! The clinical core over HTTP: questionnaires (SPEC §8), risk alerts and
//! their escalation (§9), the rest of the daily record and the mood
//! reminder (§7), and the clinician workspace (§11). Each test checks the
//! response and then the database.
//!
//! Tests named `detector_…` need the risk-language detector to recognise
//! an unmistakable threat; every other alert here is driven by structured
//! signals (PHQ-9 item 9, severe totals), which do not depend on it.

use std::time::Duration;

use healing_space::config::{Config, default_crisis_resources};
use serde_json::{Value, json};

use crate::support::*;

// ---------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------

/// Sessions that outlive the days these tests move the clock through, so
/// a test about day 14 is not a test about session expiry.
fn long_sessions(c: &mut Config) {
    c.session_idle = Duration::from_secs(400 * 86_400);
    c.session_absolute = Duration::from_secs(400 * 86_400);
}

/// Unix seconds of a wall-clock time (`2026-03-01T23:30`) in zone `tz`.
fn at(tz: &str, local: &str) -> i64 {
    let dt: jiff::civil::DateTime = local.parse().unwrap();
    dt.to_zoned(jiff::tz::TimeZone::get(tz).unwrap())
        .unwrap()
        .timestamp()
        .as_second()
}

/// `items` answers adding up to `total`, threes first.
fn spread(items: usize, total: i64) -> Vec<i64> {
    let mut left = total;
    (0..items)
        .map(|_| {
            let a = left.min(3);
            left -= a;
            a
        })
        .collect()
}

/// PHQ-9 answers: items 1–8 adding up to `first8`, then item 9.
fn phq9(first8: i64, item9: Value) -> Vec<Value> {
    let mut answers: Vec<Value> = spread(8, first8).into_iter().map(Value::from).collect();
    answers.push(item9);
    answers
}

async fn submit(c: &Client, instrument: &str, body: Value) -> Resp {
    c.post(&format!("/api/assessments/{instrument}"), body)
        .await
}

/// The crisis lines of SPEC §9, exactly as a patient must see them.
fn spec_crisis_resources() -> Value {
    json!([
        { "region": "UK", "name": "Emergency services", "contact": "Call 999" },
        {
            "region": "UK",
            "name": "NHS 111 (mental health)",
            "contact": "Call 111 and choose option 2",
        },
        { "region": "UK", "name": "Samaritans", "contact": "Call 116 123, free, any time" },
        { "region": "UK", "name": "SHOUT", "contact": "Text SHOUT to 85258" },
        {
            "region": "US and Canada",
            "name": "Suicide and Crisis Lifeline",
            "contact": "Call or text 988",
        },
    ])
}

/// Asserts a `risk` member that found something: its level, the alert it
/// raised and the crisis resources to show at once.
fn assert_risk(risk: &Value, level: &str, alert_id: i64) {
    assert_eq!(risk["level"], level, "risk: {risk}");
    assert_eq!(risk["alert_id"], alert_id, "risk: {risk}");
    assert_eq!(risk["crisis_resources"], spec_crisis_resources(), "{risk}");
    assert!(
        risk["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a message for the patient: {risk}"
    );
}

#[derive(Debug, sqlx::FromRow)]
struct StoredAssessment {
    patient_id: i64,
    instrument: String,
    answers: String,
    difficulty: Option<i64>,
    total: i64,
    band: String,
    taken_on: String,
}

async fn stored_assessment(app: &TestApp, id: i64) -> StoredAssessment {
    sqlx::query_as(
        "SELECT patient_id, instrument, answers, difficulty, total, band, taken_on \
         FROM assessments WHERE id = $1",
    )
    .bind(id)
    .fetch_one(app.state.db.pool())
    .await
    .unwrap()
}

async fn assessment_count(app: &TestApp) -> i64 {
    app.scalar("SELECT COUNT(*) FROM assessments").await
}

#[derive(Debug, Clone, sqlx::FromRow)]
struct StoredAlert {
    id: i64,
    patient_id: i64,
    level: String,
    source: String,
    reason: String,
    status: String,
    acknowledged_at: Option<i64>,
    acknowledged_by: Option<i64>,
    resolved_at: Option<i64>,
    resolved_by: Option<i64>,
    outcome_note: Option<String>,
    escalated_at: Option<i64>,
}

/// Every alert, oldest first.
async fn alerts(app: &TestApp) -> Vec<StoredAlert> {
    sqlx::query_as(
        "SELECT id, patient_id, level, source, reason, status, acknowledged_at, acknowledged_by, \
         resolved_at, resolved_by, outcome_note, escalated_at FROM alerts ORDER BY id",
    )
    .fetch_all(app.state.db.pool())
    .await
    .unwrap()
}

async fn alert(app: &TestApp, id: i64) -> StoredAlert {
    alerts(app)
        .await
        .into_iter()
        .find(|a| a.id == id)
        .expect("the alert exists")
}

/// Audit rows of one action: (actor, target, detail).
async fn audit_rows(app: &TestApp, action: &str) -> Vec<(Option<i64>, Option<i64>, Value)> {
    let rows: Vec<(Option<i64>, Option<i64>, String)> = sqlx::query_as(
        "SELECT actor_id, target_id, detail FROM audit_log WHERE action = $1 ORDER BY id",
    )
    .bind(action)
    .fetch_all(app.state.db.pool())
    .await
    .unwrap();
    rows.into_iter()
        .map(|(a, t, d)| (a, t, serde_json::from_str(&d).unwrap()))
        .collect()
}

/// The whole audit log as text, to prove something never reached it.
async fn audit_text(app: &TestApp) -> String {
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT action, detail FROM audit_log ORDER BY id")
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    rows.into_iter()
        .map(|(a, d)| format!("{a} {d}\n"))
        .collect()
}

/// The caller's notifications of one kind, newest first, over HTTP.
async fn notifications(c: &Client, kind: &str) -> Vec<Value> {
    let r = c.get("/api/notifications").await;
    assert_eq!(r.status, 200, "{}: {}", c.username, r.text);
    r.body["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == kind)
        .cloned()
        .collect()
}

/// Rows of the access log naming this reader and resource.
async fn access_logged(app: &TestApp, patient: &str, reader: &str, resource: &str) -> i64 {
    let patient = app.user_id(patient).await;
    let reader = app.user_id(reader).await;
    app.scalar(&format!(
        "SELECT COUNT(*) FROM access_log WHERE patient_id = {patient} \
         AND accessor_id = {reader} AND resource = '{resource}'"
    ))
    .await
}

// ---------------------------------------------------------------------
// Questionnaires (SPEC §8)
// ---------------------------------------------------------------------

#[test]
fn the_configured_crisis_resources_are_those_of_the_spec() {
    assert_eq!(
        serde_json::to_value(default_crisis_resources()).unwrap(),
        spec_crisis_resources()
    );
}

#[tokio::test]
async fn phq9_is_scored_and_banded_at_every_edge() {
    let app = TestApp::with(|c| c.clinical.assessment_cooldown_days = 0).await;
    let alice = app.patient("alice").await;
    let alice_id = app.user_id("alice").await;
    let edges = [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "moderately_severe"),
        (19, "moderately_severe"),
        (20, "severe"),
        (27, "severe"),
    ];
    for (n, (total, band)) in edges.into_iter().enumerate() {
        // Threes first, so item 9 is 0 for every total up to 24.
        let answers = spread(9, total);
        let r = submit(&alice, "phq9", json!({ "answers": answers })).await;
        assert_eq!(r.status, 201, "PHQ-9 total {total}: {}", r.text);
        assert_eq!(r.body["instrument"], "phq9");
        assert_eq!(r.body["answers"], json!(answers));
        assert_eq!(r.body["total"], total, "{}", r.text);
        assert_eq!(r.body["band"], band, "total {total}");
        assert_eq!(r.body["difficulty"], Value::Null);

        let row = stored_assessment(&app, r.body["id"].as_i64().unwrap()).await;
        assert_eq!(row.patient_id, alice_id);
        assert_eq!(row.instrument, "phq9");
        assert_eq!(row.answers, serde_json::to_string(&answers).unwrap());
        assert_eq!((row.total, row.band.as_str()), (total, band));
        assert_eq!(row.difficulty, None);
        assert_eq!(r.body["taken_on"], row.taken_on);
        assert_eq!(assessment_count(&app).await, n as i64 + 1);

        match total {
            20 => assert_risk(&r.body["risk"], "moderate", alerts(&app).await[0].id),
            27 => assert_eq!(r.body["risk"]["level"], "high"),
            _ => assert_eq!(r.body["risk"], json!({ "level": "none" }), "total {total}"),
        }
    }
    // 20 raised the severe-total alert; 27 (item 9 at 3) raised the item-9
    // alert, its severe total folding into the alert already open.
    let rows = alerts(&app).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        (rows[0].source.as_str(), rows[0].level.as_str()),
        ("phq9_total", "moderate")
    );
    assert_eq!(
        (rows[1].source.as_str(), rows[1].level.as_str()),
        ("phq9_item9", "high")
    );
}

#[tokio::test]
async fn gad7_is_scored_and_banded_at_every_edge() {
    let app = TestApp::with(|c| c.clinical.assessment_cooldown_days = 0).await;
    let alice = app.patient("alice").await;
    let edges = [
        (0, "minimal"),
        (4, "minimal"),
        (5, "mild"),
        (9, "mild"),
        (10, "moderate"),
        (14, "moderate"),
        (15, "severe"),
        (21, "severe"),
    ];
    for (n, (total, band)) in edges.into_iter().enumerate() {
        let answers = spread(7, total);
        let r = submit(&alice, "gad7", json!({ "answers": answers })).await;
        assert_eq!(r.status, 201, "GAD-7 total {total}: {}", r.text);
        assert_eq!(r.body["instrument"], "gad7");
        assert_eq!(r.body["answers"], json!(answers));
        assert_eq!(r.body["total"], total);
        assert_eq!(r.body["band"], band, "total {total}");

        let row = stored_assessment(&app, r.body["id"].as_i64().unwrap()).await;
        assert_eq!(row.instrument, "gad7");
        assert_eq!(row.answers, serde_json::to_string(&answers).unwrap());
        assert_eq!((row.total, row.band.as_str()), (total, band));
        assert_eq!(assessment_count(&app).await, n as i64 + 1);

        if total >= 15 {
            assert_risk(&r.body["risk"], "moderate", alerts(&app).await[0].id);
        } else {
            assert_eq!(r.body["risk"], json!({ "level": "none" }), "total {total}");
        }
    }
    let rows = alerts(&app).await;
    assert_eq!(rows.len(), 1, "21 folds into the alert 15 raised: {rows:?}");
    assert_eq!(
        (
            rows[0].source.as_str(),
            rows[0].level.as_str(),
            rows[0].reason.as_str()
        ),
        ("gad7_total", "moderate", "gad7_severe")
    );
}

/// Submits `body`, expects 400 `code` naming `field`, and nothing stored.
async fn refused(
    app: &TestApp,
    c: &Client,
    instrument: &str,
    body: Value,
    code: &str,
    field: &str,
) {
    let before = assessment_count(app).await;
    let r = submit(c, instrument, body.clone()).await;
    r.assert_error(400, code);
    assert_eq!(r.body["field"], field, "{instrument} {body}: {}", r.text);
    assert_eq!(
        assessment_count(app).await,
        before,
        "{instrument} {body} must not be stored"
    );
}

#[tokio::test]
async fn unanswered_items_are_refused_never_counted_as_zero() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    for (instrument, items) in [("phq9", 9), ("gad7", 7)] {
        // A short list names the first item left out.
        for len in [0, 1, items - 1] {
            let body = json!({ "answers": vec![1; len] });
            refused(
                &app,
                &alice,
                instrument,
                body,
                "incomplete",
                &format!("answers[{len}]"),
            )
            .await;
        }
        // A null is an unanswered item wherever it is.
        for i in 0..items {
            let mut answers = vec![json!(0); items];
            answers[i] = Value::Null;
            let body = json!({ "answers": answers });
            refused(
                &app,
                &alice,
                instrument,
                body,
                "incomplete",
                &format!("answers[{i}]"),
            )
            .await;
        }
        refused(
            &app,
            &alice,
            instrument,
            json!({}),
            "missing_field",
            "answers",
        )
        .await;
        refused(
            &app,
            &alice,
            instrument,
            json!({ "difficulty": 1 }),
            "missing_field",
            "answers",
        )
        .await;
    }
    assert_eq!(assessment_count(&app).await, 0);
    // Item 9 was never answered 1 or more: nothing to alert on.
    assert_eq!(alerts(&app).await.len(), 0);
}

#[tokio::test]
async fn out_of_range_and_malformed_answers_are_refused() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    for (instrument, items) in [("phq9", 9), ("gad7", 7)] {
        for bad in [
            json!(4),
            json!(-1),
            json!(1.5),
            json!(1.0),
            json!("2"),
            json!(true),
            json!([1]),
            json!({ "value": 1 }),
        ] {
            let mut answers = vec![json!(0); items];
            answers[2] = bad;
            let body = json!({ "answers": answers });
            refused(
                &app,
                &alice,
                instrument,
                body,
                "invalid_field",
                "answers[2]",
            )
            .await;
        }
        // One answer too many.
        let body = json!({ "answers": vec![0; items + 1] });
        refused(&app, &alice, instrument, body, "invalid_field", "answers").await;
        let body = json!({ "answers": "0,0,0,0,0,0,0,0,0" });
        refused(&app, &alice, instrument, body, "invalid_field", "answers").await;
        // A client cannot set what the server computes or who it is for.
        for (name, value) in [
            ("total", json!(0)),
            ("band", json!("minimal")),
            ("patient", json!("bob")),
        ] {
            let body = json!({ "answers": vec![0; items], name: value });
            refused(&app, &alice, instrument, body, "unknown_field", name).await;
        }
    }
    let r = alice
        .post_raw(
            "/api/assessments/phq9",
            Some("text/plain"),
            br#"{"answers":[0,0,0,0,0,0,0,0,0]}"#.to_vec(),
        )
        .await;
    r.assert_error(415, "unsupported_media_type");
    let r = submit(&alice, "phq10", json!({ "answers": vec![0; 9] })).await;
    r.assert_error(404, "not_found");
    assert_eq!(assessment_count(&app).await, 0);
    assert_eq!(alerts(&app).await.len(), 0);
}

#[tokio::test]
async fn difficulty_is_optional_and_unscored() {
    let app = TestApp::with(|c| c.clinical.assessment_cooldown_days = 0).await;
    let alice = app.patient("alice").await;
    let answers = json!([3, 2, 1, 1, 0, 0, 0, 0, 0]);
    for (difficulty, stored) in [
        (None, None),
        (Some(Value::Null), None),
        (Some(json!(0)), Some(0)),
        (Some(json!(3)), Some(3)),
    ] {
        let mut body = json!({ "answers": answers });
        if let Some(d) = difficulty {
            body["difficulty"] = d;
        }
        let r = submit(&alice, "phq9", body.clone()).await;
        assert_eq!(r.status, 201, "{body}: {}", r.text);
        assert_eq!(r.body["total"], 7, "{body}");
        assert_eq!(r.body["band"], "mild");
        assert_eq!(r.body["difficulty"], json!(stored));
        let row = stored_assessment(&app, r.body["id"].as_i64().unwrap()).await;
        assert_eq!((row.total, row.difficulty), (7, stored), "{body}");
    }
    let r = submit(
        &alice,
        "gad7",
        json!({ "answers": [1, 1, 1, 1, 1, 0, 0], "difficulty": 2 }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (r.body["total"].clone(), r.body["difficulty"].clone()),
        (json!(5), json!(2))
    );

    let stored = assessment_count(&app).await;
    for bad in [json!(4), json!(-1), json!(1.5), json!("2"), json!(true)] {
        let body = json!({ "answers": answers, "difficulty": bad });
        refused(&app, &alice, "phq9", body, "invalid_field", "difficulty").await;
    }
    assert_eq!(assessment_count(&app).await, stored);
}

#[tokio::test]
async fn item9_raises_a_high_alert_whatever_the_total() {
    let app = TestApp::new().await;
    for (name, item9) in [("alice", 1), ("bob", 3)] {
        let c = app.patient(name).await;
        let patient_id = app.user_id(name).await;
        let r = submit(&c, "phq9", json!({ "answers": phq9(0, json!(item9)) })).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["total"], item9);
        assert_eq!(r.body["band"], "minimal");
        let stored: Vec<_> = alerts(&app)
            .await
            .into_iter()
            .filter(|a| a.patient_id == patient_id)
            .collect();
        assert_eq!(stored.len(), 1, "{stored:?}");
        let a = &stored[0];
        assert_eq!(
            (
                a.level.as_str(),
                a.source.as_str(),
                a.reason.as_str(),
                a.status.as_str()
            ),
            ("high", "phq9_item9", "phq9_item9", "open")
        );
        assert_risk(&r.body["risk"], "high", a.id);
        let raised = audit_rows(&app, "alert.raised").await;
        assert!(
            raised
                .iter()
                .any(|(_, target, d)| *target == Some(patient_id) && d["alert_id"] == a.id),
            "{raised:?}"
        );
    }
}

#[tokio::test]
async fn a_refused_phq9_with_item9_answered_still_raises_the_alert() {
    let app = TestApp::new().await;
    // Each case a fresh patient, so each alert is raised on its own.
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "missing",
            json!({ "answers": [0, 0, null, 0, 0, 0, 0, 0, 1] }),
            "incomplete",
            "answers[2]",
        ),
        (
            "outofrange",
            json!({ "answers": [4, 0, 0, 0, 0, 0, 0, 0, 2] }),
            "invalid_field",
            "answers[0]",
        ),
        (
            "item9four",
            json!({ "answers": phq9(0, json!(4)) }),
            "invalid_field",
            "answers[8]",
        ),
        (
            "toomany",
            json!({ "answers": [0, 0, 0, 0, 0, 0, 0, 0, 1, 0] }),
            "invalid_field",
            "answers",
        ),
        (
            "unknown",
            json!({ "answers": phq9(0, json!(3)), "total": 3 }),
            "unknown_field",
            "total",
        ),
        // A client that sends the right answer in the wrong type still
        // reports a warning sign.
        (
            "string",
            json!({ "answers": phq9(0, json!("2")) }),
            "invalid_field",
            "answers[8]",
        ),
        (
            "fraction",
            json!({ "answers": phq9(0, json!(1.5)) }),
            "invalid_field",
            "answers[8]",
        ),
    ];
    for (name, body, code, field) in cases {
        let c = app.patient(name).await;
        let patient_id = app.user_id(name).await;
        let r = submit(&c, "phq9", body.clone()).await;
        r.assert_error(400, code);
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
        let stored: Vec<_> = alerts(&app)
            .await
            .into_iter()
            .filter(|a| a.patient_id == patient_id)
            .collect();
        assert_eq!(stored.len(), 1, "{body} must raise the alert: {stored:?}");
        assert_eq!(
            (stored[0].level.as_str(), stored[0].source.as_str()),
            ("high", "phq9_item9")
        );
        assert_risk(&r.body["risk"], "high", stored[0].id);
    }
    assert_eq!(assessment_count(&app).await, 0);

    // Item 9 at 0, missing or null is no warning sign: the refusal has no
    // `risk` member and raises nothing.
    let calm = app.patient("calm").await;
    for body in [
        json!({ "answers": [0, 0, null, 0, 0, 0, 0, 0, 0] }),
        json!({ "answers": [3, 3, 3, 3, 3, 3, 3, 3] }),
        json!({ "answers": [0, 0, 0, 0, 0, 0, 0, 0, null] }),
        json!({ "answers": phq9(0, json!("0")) }),
    ] {
        let r = submit(&calm, "phq9", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.body.get("risk").is_none(), "{body}: {}", r.text);
    }
    assert_eq!(alerts(&app).await.len(), 7);
}

#[tokio::test]
async fn item9_inside_the_cooldown_still_raises_and_keeps_the_alert() {
    let app = TestApp::with(long_sessions).await;
    app.clock().set(at("UTC", "2026-05-04T10:00"));
    let alice = app.patient("alice").await;
    let r = submit(&alice, "phq9", json!({ "answers": phq9(2, json!(0)) })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["taken_on"], "2026-05-04");

    app.clock().set(at("UTC", "2026-05-09T10:00"));
    let r = submit(&alice, "phq9", json!({ "answers": phq9(2, json!(2)) })).await;
    r.assert_error(409, "too_soon");
    assert_eq!(r.body["next_allowed"], "2026-05-18");
    let stored = alerts(&app).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(
        (
            stored[0].level.as_str(),
            stored[0].source.as_str(),
            stored[0].status.as_str()
        ),
        ("high", "phq9_item9", "open")
    );
    assert_risk(&r.body["risk"], "high", stored[0].id);

    // Again the next day: the same open alert, not a second one.
    app.clock().set(at("UTC", "2026-05-10T10:00"));
    let r = submit(&alice, "phq9", json!({ "answers": phq9(0, json!(1)) })).await;
    r.assert_error(409, "too_soon");
    assert_eq!(r.body["next_allowed"], "2026-05-18");
    assert_risk(&r.body["risk"], "high", stored[0].id);
    assert_eq!(alerts(&app).await.len(), 1);
    assert_eq!(assessment_count(&app).await, 1);

    // A refusal inside the cooldown without the warning sign carries none.
    let r = submit(&alice, "phq9", json!({ "answers": phq9(0, json!(0)) })).await;
    r.assert_error(409, "too_soon");
    assert!(r.body.get("risk").is_none(), "{}", r.text);
    assert_eq!(assessment_count(&app).await, 1);
}

#[tokio::test]
async fn severe_totals_raise_a_moderate_alert_for_the_care_team() {
    let app = TestApp::new().await;
    let drbob = app.clinician("drbob").await;
    for (name, instrument, answers, reason) in [
        ("alice", "phq9", phq9(20, json!(0)), "phq9_severe"),
        (
            "bob",
            "gad7",
            spread(7, 15).into_iter().map(Value::from).collect(),
            "gad7_severe",
        ),
    ] {
        let c = app.patient(name).await;
        app.link(&c, &drbob).await;
        let patient_id = app.user_id(name).await;
        let r = submit(&c, instrument, json!({ "answers": answers })).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["band"], "severe");
        let a = alerts(&app)
            .await
            .into_iter()
            .find(|a| a.patient_id == patient_id)
            .expect("an alert");
        assert_eq!(
            (a.level.as_str(), a.source.as_str(), a.reason.as_str()),
            ("moderate", format!("{instrument}_total").as_str(), reason)
        );
        assert_risk(&r.body["risk"], "moderate", a.id);
    }
    assert_eq!(notifications(&drbob, "alert").await.len(), 2);

    // One point below severe raises nothing.
    let carol = app.patient("carol").await;
    let r = submit(&carol, "phq9", json!({ "answers": phq9(19, json!(0)) })).await;
    assert_eq!(
        (r.status, r.body["band"].clone()),
        (201, json!("moderately_severe"))
    );
    assert_eq!(r.body["risk"], json!({ "level": "none" }));
    let r = submit(&carol, "gad7", json!({ "answers": spread(7, 14) })).await;
    assert_eq!((r.status, r.body["band"].clone()), (201, json!("moderate")));
    assert_eq!(r.body["risk"], json!({ "level": "none" }));
    assert_eq!(alerts(&app).await.len(), 2);
}

#[tokio::test]
async fn one_of_each_questionnaire_per_fourteen_days_in_the_patients_calendar() {
    let app = TestApp::with(long_sessions).await;
    let tz = "America/New_York";
    // 23:30 in New York is already the next day in UTC.
    app.clock().set(at(tz, "2026-03-01T23:30"));
    let alice = app.patient_in("alice", tz).await;
    let phq = json!({ "answers": phq9(3, json!(0)) });
    let gad = json!({ "answers": [1, 1, 0, 0, 0, 0, 0] });
    let r = submit(&alice, "phq9", phq.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["taken_on"], "2026-03-01");
    // The instruments have separate cooldowns.
    let r = submit(&alice, "gad7", gad.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["taken_on"], "2026-03-01");

    for when in ["2026-03-02T09:00", "2026-03-14T23:30"] {
        app.clock().set(at(tz, when));
        for (instrument, body) in [("phq9", &phq), ("gad7", &gad)] {
            let r = submit(&alice, instrument, body.clone()).await;
            r.assert_error(409, "too_soon");
            assert_eq!(
                r.body["next_allowed"], "2026-03-15",
                "{instrument} at {when}"
            );
            assert!(r.body.get("risk").is_none(), "{}", r.text);
        }
    }
    assert_eq!(assessment_count(&app).await, 2);

    // Day 14 begins at midnight in New York (04:00 UTC).
    app.clock().set(at(tz, "2026-03-15T00:30"));
    let r = submit(&alice, "phq9", phq.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["taken_on"], "2026-03-15");
    let r = submit(&alice, "gad7", gad.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = submit(&alice, "phq9", phq.clone()).await;
    r.assert_error(409, "too_soon");
    assert_eq!(r.body["next_allowed"], "2026-03-29");
    assert_eq!(assessment_count(&app).await, 4);
    let dates: Vec<(String, String)> =
        sqlx::query_as("SELECT instrument, taken_on FROM assessments ORDER BY id")
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    let expected = [
        ("phq9", "2026-03-01"),
        ("gad7", "2026-03-01"),
        ("phq9", "2026-03-15"),
        ("gad7", "2026-03-15"),
    ];
    assert_eq!(
        dates,
        expected.map(|(i, d)| (i.to_owned(), d.to_owned())).to_vec()
    );
}

// ---------------------------------------------------------------------
// Risk alerts (SPEC §9)
// ---------------------------------------------------------------------

/// The outbox messages addressed to `to`.
fn mail_to<'a>(mails: &'a [String], to: &str) -> Vec<&'a String> {
    mails
        .iter()
        .filter(|m| m.starts_with(&format!("To: {to}\r\n")))
        .collect()
}

#[tokio::test]
async fn the_alert_loop_from_phq9_item9_to_resolution() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let zed = app.patient("zed").await;
    let drbob = app.clinician("drbob").await;
    let drcarol = app.clinician("drcarol").await;
    let drdan = app.clinician("drdan").await;
    app.link(&alice, &drbob).await;
    app.link(&alice, &drcarol).await;
    app.link(&zed, &drdan).await;
    let alice_id = app.user_id("alice").await;
    let bob_id = app.user_id("drbob").await;

    // The signal: item 9 at 1 on an otherwise minimal PHQ-9.
    let r = submit(&alice, "phq9", json!({ "answers": phq9(0, json!(1)) })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let stored = alerts(&app).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let id = stored[0].id;
    assert_eq!(
        (
            stored[0].patient_id,
            stored[0].level.as_str(),
            stored[0].source.as_str(),
            stored[0].status.as_str()
        ),
        (alice_id, "high", "phq9_item9", "open")
    );
    assert_risk(&r.body["risk"], "high", id);

    // Both clinicians of the care team are told, in the app and by mail.
    for dr in [&drbob, &drcarol] {
        let told = notifications(dr, "alert").await;
        assert_eq!(told.len(), 1, "{}: {told:?}", dr.username);
        let message = told[0]["message"].as_str().unwrap();
        assert!(message.contains(&format!("#{id}")), "{message}");
        assert!(message.contains("high"), "{message}");
    }
    assert_eq!(notifications(&drdan, "alert").await.len(), 0);
    let mails = app.outbox(2).await;
    assert_eq!(mails.len(), 2, "{mails:?}");
    for dr in ["drbob", "drcarol"] {
        let mine = mail_to(&mails, &format!("{dr}@example.org"));
        assert_eq!(mine.len(), 1, "{mails:?}");
        assert!(
            mine[0].contains(&format!("Subject: Healing Space risk alert #{id}")),
            "{}",
            mine[0]
        );
        // The answers are clinical content; the mail only points to the app.
        assert!(!mine[0].contains("answers"), "{}", mine[0]);
        assert!(!mine[0].contains("[0,0,0"), "{}", mine[0]);
    }
    let raised = audit_rows(&app, "alert.raised").await;
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert_eq!(raised[0].1, Some(alice_id));
    assert_eq!(raised[0].2["alert_id"], id);
    assert_eq!(raised[0].2["level"], "high");
    assert_eq!(raised[0].2["source"], "phq9_item9");

    // The care team lists it; a clinician of someone else sees nothing.
    for dr in [&drbob, &drcarol] {
        let r = dr.get("/api/alerts").await;
        assert_eq!(r.status, 200, "{}", r.text);
        let list = r.body["alerts"].as_array().unwrap();
        assert_eq!(list.len(), 1, "{}", r.text);
        assert_eq!(list[0]["id"], id);
        assert_eq!(list[0]["patient"]["username"], "alice");
        assert_eq!(list[0]["status"], "open");
        assert_eq!(list[0]["level"], "high");
        assert_eq!(list[0]["escalated"], false);
    }
    let r = drdan.get("/api/alerts").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["alerts"], json!([]));
    let before = alert(&app, id).await;
    let r = drdan
        .post_empty(&format!("/api/alerts/{id}/acknowledge"))
        .await;
    r.assert_error(404, "not_found");
    let r = drdan
        .post(
            &format!("/api/alerts/{id}/resolve"),
            json!({ "outcome_note": "Not my patient." }),
        )
        .await;
    r.assert_error(404, "not_found");
    let after = alert(&app, id).await;
    assert_eq!(
        (
            after.status.as_str(),
            after.acknowledged_by,
            after.resolved_by
        ),
        ("open", None, None)
    );
    assert_eq!(format!("{before:?}"), format!("{after:?}"));

    // Patients do not manage alerts, their own included.
    let r = alice
        .post_empty(&format!("/api/alerts/{id}/acknowledge"))
        .await;
    r.assert_error(403, "forbidden");
    let r = alice.get("/api/alerts").await;
    r.assert_error(403, "forbidden");
    assert_eq!(alert(&app, id).await.status, "open");

    // A second signal of the same source while the alert is open is
    // folded into it: crisis resources again, no second alert, no flood.
    let r = submit(&alice, "phq9", json!({ "answers": phq9(0, json!(2)) })).await;
    r.assert_error(409, "too_soon");
    assert_risk(&r.body["risk"], "high", id);
    assert_eq!(alerts(&app).await.len(), 1);
    assert_eq!(audit_rows(&app, "alert.raised").await.len(), 1);
    assert_eq!(notifications(&drbob, "alert").await.len(), 1);

    // Resolve before acknowledge is refused and changes nothing.
    let r = drbob
        .post(
            &format!("/api/alerts/{id}/resolve"),
            json!({ "outcome_note": "Spoke to her." }),
        )
        .await;
    r.assert_error(409, "not_acknowledged");
    assert_eq!(alert(&app, id).await.status, "open");

    let r = drbob
        .post_empty(&format!("/api/alerts/{id}/acknowledge"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "acknowledged");
    assert_eq!(r.body["acknowledged_by"], "Dr drbob");
    assert!(r.body["acknowledged_at"].is_string(), "{}", r.text);
    let a = alert(&app, id).await;
    assert_eq!(
        (a.status.as_str(), a.acknowledged_by),
        ("acknowledged", Some(bob_id))
    );
    assert!(a.acknowledged_at.is_some());

    for dr in [&drbob, &drcarol] {
        let r = dr
            .post_empty(&format!("/api/alerts/{id}/acknowledge"))
            .await;
        r.assert_error(409, "not_open");
    }
    assert_eq!(alert(&app, id).await.acknowledged_by, Some(bob_id));

    // An outcome note is required.
    for body in [json!({}), json!({ "outcome_note": "" })] {
        let r = drbob
            .post(&format!("/api/alerts/{id}/resolve"), body.clone())
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
    }
    assert_eq!(alert(&app, id).await.status, "acknowledged");

    let note = "Phoned her within the hour; safe tonight, safety plan reviewed.";
    let r = drbob
        .post(
            &format!("/api/alerts/{id}/resolve"),
            json!({ "outcome_note": note }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "resolved");
    assert_eq!(r.body["resolved_by"], "Dr drbob");
    assert_eq!(r.body["outcome_note"], note);
    let a = alert(&app, id).await;
    assert_eq!(
        (a.status.as_str(), a.resolved_by),
        ("resolved", Some(bob_id))
    );
    // The outcome note is clinical text: stored encrypted under the
    // patient's key, readable in plain text only through the API.
    let stored = a.outcome_note.expect("an outcome note");
    assert!(stored.starts_with("enc:v1:"), "{stored}");
    assert_eq!(
        app.decrypt("alice", "alert.outcome_note", &stored).await,
        note
    );
    assert_eq!(r.body["outcome_note"], note);
    assert!(a.resolved_at.is_some());
    let r = drcarol.get("/api/alerts?status=resolved").await;
    assert_eq!(r.body["alerts"][0]["id"], id, "{}", r.text);
    let r = drcarol.get("/api/alerts?status=open").await;
    assert_eq!(r.body["alerts"], json!([]), "{}", r.text);
    let r = drcarol.get("/api/alerts?status=bogus").await;
    r.assert_error(400, "invalid_field");

    // Each step is audited, by whom, without the note's words.
    for action in ["alert.raised", "alert.acknowledged", "alert.resolved"] {
        let rows = audit_rows(&app, action).await;
        assert_eq!(rows.len(), 1, "{action}: {rows:?}");
        assert_eq!(rows[0].1, Some(alice_id), "{action}");
        assert_eq!(rows[0].2["alert_id"], id, "{action}");
        if action != "alert.raised" {
            assert_eq!(rows[0].0, Some(bob_id), "{action}");
        }
    }
    assert!(!audit_text(&app).await.contains("Phoned her"));
}

#[tokio::test]
async fn escalation_reaches_the_whole_care_team_once() {
    let app = TestApp::with(|c| {
        c.clinical.escalate_after = Duration::from_secs(60);
        c.clinical.job_interval = Duration::from_millis(50);
    })
    .await;
    let alice = app.patient("alice").await;
    let bea = app.patient("bea").await;
    let drbob = app.clinician("drbob").await;
    let drcarol = app.clinician("drcarol").await;
    let ops = app.developer("ops").await;
    app.link(&alice, &drbob).await;
    app.link(&alice, &drcarol).await;
    app.link(&bea, &drbob).await;
    let alice_id = app.user_id("alice").await;
    let jobs = healing_space::jobs::spawn(app.state.clone());

    let r = submit(&alice, "phq9", json!({ "answers": phq9(0, json!(1)) })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let overdue = r.body["risk"]["alert_id"].as_i64().unwrap();
    // Bea's alert is acknowledged in time and must never be escalated.
    let r = submit(&bea, "phq9", json!({ "answers": phq9(0, json!(2)) })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let handled = r.body["risk"]["alert_id"].as_i64().unwrap();
    let r = drbob
        .post_empty(&format!("/api/alerts/{handled}/acknowledge"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    app.clock().advance(61);
    // The job runs every 50 ms; the audit row is written last.
    let mut waited = 0;
    while audit_rows(&app, "alert.escalated").await.is_empty() && waited < 60 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let escalated = audit_rows(&app, "alert.escalated").await;
    assert_eq!(escalated.len(), 1, "{escalated:?}");
    assert_eq!(escalated[0].1, Some(alice_id));
    assert_eq!(escalated[0].2["alert_id"], overdue);
    assert_eq!(escalated[0].2["clinicians_notified"], 2);

    let a = alert(&app, overdue).await;
    assert!(a.escalated_at.is_some(), "{a:?}");
    assert_eq!(a.status, "open");
    let b = alert(&app, handled).await;
    assert_eq!((b.escalated_at, b.status.as_str()), (None, "acknowledged"));

    for dr in [&drbob, &drcarol] {
        let urgent = notifications(dr, "alert_escalated").await;
        assert_eq!(urgent.len(), 1, "{}: {urgent:?}", dr.username);
        let message = urgent[0]["message"].as_str().unwrap();
        assert!(message.contains(&format!("#{overdue}")), "{message}");
    }
    // Raised: two mails for Alice's alert, one for Bea's; escalated: two.
    let mails = app.outbox(5).await;
    let subject = format!("Subject: ESCALATED: Healing Space risk alert #{overdue}");
    assert_eq!(
        mails.iter().filter(|m| m.contains(&subject)).count(),
        2,
        "{mails:?}"
    );
    let r = drcarol.get("/api/alerts").await;
    assert_eq!(r.body["alerts"][0]["escalated"], true, "{}", r.text);

    // Once only, whoever runs the job next.
    assert_eq!(
        healing_space::risk::escalation::run_once(&app.state)
            .await
            .unwrap(),
        0
    );
    app.clock().advance(3600);
    assert_eq!(
        healing_space::risk::escalation::run_once(&app.state)
            .await
            .unwrap(),
        0
    );
    jobs.abort();
    assert_eq!(audit_rows(&app, "alert.escalated").await.len(), 1);
    assert_eq!(notifications(&drbob, "alert_escalated").await.len(), 1);

    // The operator sees the count and nothing about who or why.
    let r = ops.get("/api/developer/stats").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["alerts"]["escalated_unacknowledged"], 1,
        "{}",
        r.text
    );
    assert_eq!(r.body["alerts"]["escalated_total"], 1, "{}", r.text);
    assert_eq!(
        r.body["alerts"]["by_status"],
        json!({ "open": { "high": 1 }, "acknowledged": { "high": 1 } })
    );
    for secret in ["alice", "bea", "phq9", "item9"] {
        assert!(!r.text.contains(secret), "{secret} in {}", r.text);
    }

    // Acknowledging the escalated alert takes it off the unacknowledged
    // count but not off the total.
    let r = drcarol
        .post_empty(&format!("/api/alerts/{overdue}/acknowledge"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = ops.get("/api/developer/stats").await;
    assert_eq!(r.body["alerts"]["escalated_unacknowledged"], 0);
    assert_eq!(r.body["alerts"]["escalated_total"], 1);
}

/// The unmistakable threat the detector tests use.
const THREAT: &str = "I am going to kill myself tonight";

#[tokio::test]
async fn detector_a_journal_threat_runs_the_whole_alert_loop() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let zed = app.patient("zed").await;
    let drbob = app.clinician("drbob").await;
    let drcarol = app.clinician("drcarol").await;
    let drdan = app.clinician("drdan").await;
    app.link(&alice, &drbob).await;
    app.link(&alice, &drcarol).await;
    app.link(&zed, &drdan).await;
    let alice_id = app.user_id("alice").await;

    let r = alice.post("/api/journal", json!({ "body": THREAT })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let stored = alerts(&app).await;
    assert_eq!(stored.len(), 1, "the detector must flag {THREAT:?}");
    let id = stored[0].id;
    assert_eq!(
        (
            stored[0].patient_id,
            stored[0].level.as_str(),
            stored[0].source.as_str()
        ),
        (alice_id, "high", "journal")
    );
    assert_risk(&r.body["risk"], "high", id);
    // The entry is kept: a warning is no reason to lose what she wrote.
    assert_eq!(r.body["body"], THREAT);

    for dr in [&drbob, &drcarol] {
        let told = notifications(dr, "alert").await;
        assert_eq!(told.len(), 1, "{}", dr.username);
        assert!(!told[0]["message"].as_str().unwrap().contains("kill"));
    }
    let mails = app.outbox(2).await;
    assert_eq!(mails.len(), 2);
    for mail in &mails {
        assert!(!mail.contains("kill"), "patient text in a mail: {mail}");
    }
    assert!(!audit_text(&app).await.contains("kill"));
    let r = drdan.get("/api/alerts").await;
    assert_eq!(r.body["alerts"], json!([]), "{}", r.text);
    let r = drdan
        .post_empty(&format!("/api/alerts/{id}/acknowledge"))
        .await;
    r.assert_error(404, "not_found");

    // Writing it again while the alert is open does not make a second one.
    let r = alice.post("/api/journal", json!({ "body": THREAT })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_risk(&r.body["risk"], "high", id);
    assert_eq!(alerts(&app).await.len(), 1);

    let r = drbob
        .post_empty(&format!("/api/alerts/{id}/acknowledge"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = drbob
        .post(
            &format!("/api/alerts/{id}/resolve"),
            json!({ "outcome_note": "Crisis team visited; safe." }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for action in ["alert.raised", "alert.acknowledged", "alert.resolved"] {
        assert_eq!(audit_rows(&app, action).await.len(), 1, "{action}");
    }
}

#[tokio::test]
async fn detector_risk_language_in_every_screened_record_raises_an_alert() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let r = alice
        .post("/api/gratitude", json!({ "body": THREAT }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["risk"]["level"], "high", "{}", r.text);
    let r = alice
        .post("/api/mood", json!({ "mood": 2, "note": THREAT }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["risk"]["level"], "high", "{}", r.text);
    let r = alice
        .post(
            "/api/thought-records",
            json!({
                "situation": "Alone at home after the call.",
                "automatic_thought": THREAT,
                "emotions": [{ "name": "despair", "intensity": 95 }],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["risk"]["level"], "high", "{}", r.text);
    let sources: Vec<String> = alerts(&app).await.into_iter().map(|a| a.source).collect();
    assert_eq!(sources, ["gratitude", "mood_note", "thought_record"]);
}

// ---------------------------------------------------------------------
// The rest of the daily record (SPEC §7)
// ---------------------------------------------------------------------

/// Every column of one journal or gratitude entry, to prove a refused
/// write left it alone.
async fn entry_snapshot(app: &TestApp, table: &str, id: i64) -> String {
    app.text(&format!(
        "SELECT CAST(patient_id AS TEXT) || '|' || body || '|' || entry_date || '|' \
         || CAST(created_at AS TEXT) || '|' || CAST(updated_at AS TEXT) \
         FROM {table} WHERE id = {id}"
    ))
    .await
    .expect("the entry exists")
}

#[tokio::test]
async fn journal_and_gratitude_entries_belong_to_their_patient() {
    let app = TestApp::with(long_sessions).await;
    app.clock().set(at("UTC", "2026-06-01T21:00"));
    let tz = "Asia/Tokyo";
    let alice = app.patient_in("alice", tz).await;
    let bob = app.patient("bob").await;
    let drbob = app.clinician("drbob").await;
    let drdan = app.clinician("drdan").await;
    app.link(&alice, &drbob).await;
    app.link(&bob, &drdan).await;

    for (path, table) in [
        ("journal", "journal_entries"),
        ("gratitude", "gratitude_entries"),
    ] {
        let first = "Walked by the river with my sister.";
        let r = alice
            .post(&format!("/api/{path}"), json!({ "body": first }))
            .await;
        assert_eq!(r.status, 201, "{path}: {}", r.text);
        let id = r.body["id"].as_i64().unwrap();
        assert_eq!(r.body["body"], first);
        // 21:00 UTC is already the next morning in Tokyo.
        assert_eq!(r.body["date"], "2026-06-02");
        assert_eq!(r.body["risk"], json!({ "level": "none" }));
        assert_eq!(
            app.scalar(&format!("SELECT COUNT(*) FROM {table}")).await,
            1
        );

        // Length: 1 to 2,000 characters, no control characters.
        let long = "é".repeat(2000);
        let r = alice
            .post(&format!("/api/{path}"), json!({ "body": long }))
            .await;
        assert_eq!(r.status, 201, "{path}: 2,000 characters: {}", r.text);
        let long_id = r.body["id"].as_i64().unwrap();
        for bad in [
            json!("é".repeat(2001)),
            json!(""),
            json!("   "),
            json!("bell\u{7}"),
            json!(5),
        ] {
            let r = alice
                .post(&format!("/api/{path}"), json!({ "body": bad }))
                .await;
            r.assert_error(400, "invalid_field");
            assert_eq!(r.body["field"], "body");
        }
        let r = alice
            .post(
                &format!("/api/{path}"),
                json!({ "body": "x", "patient_id": 2 }),
            )
            .await;
        r.assert_error(400, "unknown_field");
        assert_eq!(
            app.scalar(&format!("SELECT COUNT(*) FROM {table}")).await,
            2
        );

        app.clock().advance(60);
        let edited = "Walked by the river. Felt calmer after.";
        let r = alice
            .put(&format!("/api/{path}/{id}"), json!({ "body": edited }))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["body"], edited);
        assert_ne!(r.body["updated_at"], r.body["created_at"]);
        let r = alice.get(&format!("/api/{path}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let entries = r.body["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{}", r.text);
        assert_eq!(entries[1]["id"], id, "newest first");
        assert_eq!(entries[1]["body"], edited);

        // Another patient: the entry is not there for them.
        let snapshot = entry_snapshot(&app, table, id).await;
        let r = bob
            .put(&format!("/api/{path}/{id}"), json!({ "body": "mine now" }))
            .await;
        r.assert_error(404, "not_found");
        let r = bob.delete(&format!("/api/{path}/{id}")).await;
        r.assert_error(404, "not_found");
        let r = bob.get(&format!("/api/{path}")).await;
        assert_eq!(r.body["entries"], json!([]), "{}", r.text);
        assert_eq!(entry_snapshot(&app, table, id).await, snapshot);

        // Clinicians have no record of their own to write to.
        let r = drbob
            .post(&format!("/api/{path}"), json!({ "body": "x" }))
            .await;
        r.assert_error(403, "forbidden");

        // The linked clinician reads it, and the read is logged.
        let r = drbob
            .get(&format!("/api/clinician/patients/alice/{path}"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["patient"], "alice");
        assert_eq!(r.body["entries"].as_array().unwrap().len(), 2);
        assert_eq!(access_logged(&app, "alice", "drbob", path).await, 1);
        // Anyone else gets the same 404 as for no such patient.
        let r = drdan
            .get(&format!("/api/clinician/patients/alice/{path}"))
            .await;
        r.assert_error(404, "not_found");
        let r = drbob
            .get(&format!("/api/clinician/patients/bob/{path}"))
            .await;
        r.assert_error(404, "not_found");
        let r = drbob
            .get(&format!("/api/clinician/patients/nobody/{path}"))
            .await;
        r.assert_error(404, "not_found");
        let r = bob
            .get(&format!("/api/clinician/patients/alice/{path}"))
            .await;
        r.assert_error(403, "forbidden");
        assert_eq!(access_logged(&app, "alice", "drdan", path).await, 0);
        assert_eq!(access_logged(&app, "alice", "bob", path).await, 0);

        let r = alice.delete(&format!("/api/{path}/{long_id}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body, json!({ "deleted": 1 }));
        let r = alice.delete(&format!("/api/{path}/{long_id}")).await;
        r.assert_error(404, "not_found");
        assert_eq!(
            app.scalar(&format!("SELECT COUNT(*) FROM {table}")).await,
            1
        );
    }
}

fn thought_record(emotions: Value) -> Value {
    json!({
        "situation": "My manager did not reply to my email.",
        "automatic_thought": "She thinks my work is useless.",
        "emotions": emotions,
        "evidence_for": "She replied to others first.",
        "evidence_against": "She praised the report last week.",
        "balanced_thought": "She is busy; silence is not a verdict.",
        "rerated_emotions": [{ "name": "anxious", "intensity": 30 }],
    })
}

fn emotions(n: usize) -> Value {
    json!(
        (0..n)
            .map(|i| json!({ "name": format!("feeling {i}"), "intensity": 50 }))
            .collect::<Vec<_>>()
    )
}

#[tokio::test]
async fn thought_records_check_emotions_and_belong_to_their_patient() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let bob = app.patient("bob").await;
    let drbob = app.clinician("drbob").await;
    let drdan = app.clinician("drdan").await;
    app.link(&alice, &drbob).await;
    let count = || app.scalar("SELECT COUNT(*) FROM thought_records");

    let edges = json!([
        { "name": "anxious", "intensity": 0 },
        { "name": "ashamed", "intensity": 100 },
    ]);
    let r = alice
        .post("/api/thought-records", thought_record(edges.clone()))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["emotions"], edges);
    assert_eq!(
        r.body["rerated_emotions"],
        json!([{ "name": "anxious", "intensity": 30 }])
    );
    assert_eq!(
        r.body["balanced_thought"],
        "She is busy; silence is not a verdict."
    );
    assert_eq!(r.body["risk"], json!({ "level": "none" }));
    // Read back as stored; the text is encrypted at rest, so the check
    // goes through the API rather than the column.
    let r = alice.get(&format!("/api/thought-records/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["emotions"], edges);
    assert_eq!(
        r.body["automatic_thought"],
        "She thinks my work is useless."
    );
    let r = alice
        .post("/api/thought-records", thought_record(emotions(10)))
        .await;
    assert_eq!(r.status, 201, "ten emotions: {}", r.text);
    assert_eq!(count().await, 2);

    let refusals = [
        (
            thought_record(json!([{ "name": "anxious", "intensity": 101 }])),
            "emotions[0].intensity",
        ),
        (
            thought_record(json!([{ "name": "anxious", "intensity": -1 }])),
            "emotions[0].intensity",
        ),
        (
            thought_record(json!([{ "name": "anxious", "intensity": 50.5 }])),
            "emotions[0].intensity",
        ),
        (
            thought_record(json!([{ "name": "", "intensity": 5 }])),
            "emotions[0].name",
        ),
        (thought_record(json!([])), "emotions"),
        (thought_record(emotions(11)), "emotions"),
    ];
    for (body, field) in refusals {
        let r = alice.post("/api/thought-records", body.clone()).await;
        r.assert_error(400, "invalid_field");
        assert_eq!(r.body["field"], field, "{}", r.text);
    }
    let mut rerated = thought_record(emotions(1));
    rerated["rerated_emotions"] = json!([{ "name": "anxious", "intensity": 101 }]);
    let r = alice.post("/api/thought-records", rerated.clone()).await;
    r.assert_error(400, "invalid_field");
    rerated["rerated_emotions"] = emotions(11);
    let r = alice.post("/api/thought-records", rerated).await;
    r.assert_error(400, "invalid_field");
    assert_eq!(r.body["field"], "rerated_emotions");
    let mut missing = thought_record(emotions(1));
    missing.as_object_mut().unwrap().remove("automatic_thought");
    let r = alice.post("/api/thought-records", missing).await;
    r.assert_error(400, "missing_field");
    assert_eq!(count().await, 2);

    // Editing is checked the same way; a refused edit changes nothing.
    let before = alice.get(&format!("/api/thought-records/{id}")).await;
    assert_eq!(before.status, 200, "{}", before.text);
    let r = alice
        .put(
            &format!("/api/thought-records/{id}"),
            thought_record(emotions(11)),
        )
        .await;
    r.assert_error(400, "invalid_field");
    assert_eq!(
        alice.get(&format!("/api/thought-records/{id}")).await.body,
        before.body
    );
    let r = alice
        .put(
            &format!("/api/thought-records/{id}"),
            thought_record(emotions(3)),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["emotions"], emotions(3));
    let current = alice.get(&format!("/api/thought-records/{id}")).await.body;

    // Another patient cannot read, change or delete it.
    let r = bob.get(&format!("/api/thought-records/{id}")).await;
    r.assert_error(404, "not_found");
    let r = bob
        .put(
            &format!("/api/thought-records/{id}"),
            thought_record(emotions(1)),
        )
        .await;
    r.assert_error(404, "not_found");
    let r = bob.delete(&format!("/api/thought-records/{id}")).await;
    r.assert_error(404, "not_found");
    assert_eq!(
        alice.get(&format!("/api/thought-records/{id}")).await.body,
        current
    );
    let r = bob.get("/api/thought-records").await;
    assert_eq!(r.body["thought_records"], json!([]), "{}", r.text);

    let r = drbob
        .get("/api/clinician/patients/alice/thought-records")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["thought_records"].as_array().unwrap().len(), 2);
    assert_eq!(
        access_logged(&app, "alice", "drbob", "thought_records").await,
        1
    );
    let r = drdan
        .get("/api/clinician/patients/alice/thought-records")
        .await;
    r.assert_error(404, "not_found");
    assert_eq!(
        access_logged(&app, "alice", "drdan", "thought_records").await,
        0
    );

    let r = alice.delete(&format!("/api/thought-records/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(count().await, 1);
    let r = alice.get(&format!("/api/thought-records/{id}")).await;
    r.assert_error(404, "not_found");
}

#[tokio::test]
async fn the_safety_plan_is_checked_and_shared_with_the_care_team() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let bob = app.patient("bob").await;
    let drbob = app.clinician("drbob").await;
    let drdan = app.clinician("drdan").await;
    app.link(&alice, &drbob).await;
    let plan_row = || app.text("SELECT plan FROM safety_plans");

    let empty = json!({
        "warning_signs": [],
        "coping_strategies": [],
        "distractions": [],
        "people_to_ask_for_help": [],
        "professionals_and_crisis_lines": [],
        "making_the_environment_safe": [],
        "reasons_for_living": [],
    });
    let r = alice.get("/api/safety-plan").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["plan"], empty);
    assert_eq!(r.body["updated_at"], Value::Null);

    let plan = json!({
        "warning_signs": ["Not sleeping", "Cancelling plans"],
        "coping_strategies": ["Cold water on my face", "Box breathing"],
        "distractions": ["The café on Mill Road"],
        "people_to_ask_for_help": ["My sister Ann"],
        "professionals_and_crisis_lines": ["Dr Bob", "Samaritans 116 123"],
        "making_the_environment_safe": ["Medication kept by Ann"],
        "reasons_for_living": ["My niece", "Finishing the mural"],
    });
    let r = alice.put("/api/safety-plan", plan.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["plan"], plan);
    assert!(r.body["updated_at"].is_string());
    // A safety plan names warning signs on purpose: writing one is not a
    // risk signal.
    assert_eq!(alerts(&app).await.len(), 0);

    // Twenty items a section; the twenty-first is refused.
    let items = |n: usize| json!((0..n).map(|i| format!("sign {i}")).collect::<Vec<_>>());
    let r = alice
        .put("/api/safety-plan", json!({ "warning_signs": items(20) }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["plan"]["warning_signs"], items(20));
    assert_eq!(r.body["plan"]["reasons_for_living"], json!([]));
    let r = alice.put("/api/safety-plan", plan.clone()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let saved = plan_row().await;
    for (body, code, field) in [
        (
            json!({ "warning_signs": items(21) }),
            "invalid_field",
            "warning_signs",
        ),
        (
            json!({ "reasons_for_living": items(21) }),
            "invalid_field",
            "reasons_for_living",
        ),
        (
            json!({ "warning_signs": ["x".repeat(501)] }),
            "invalid_field",
            "warning_signs[0]",
        ),
        (
            json!({ "warning_signs": [""] }),
            "invalid_field",
            "warning_signs[0]",
        ),
        (json!({ "owner": "bob" }), "unknown_field", "owner"),
    ] {
        let r = alice.put("/api/safety-plan", body.clone()).await;
        r.assert_error(400, code);
        assert_eq!(r.body["field"], field, "{body}: {}", r.text);
        assert_eq!(plan_row().await, saved, "{body} must change nothing");
    }

    let r = drbob.get("/api/clinician/patients/alice/safety-plan").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["plan"], plan);
    assert_eq!(
        access_logged(&app, "alice", "drbob", "safety_plan").await,
        1
    );
    let r = drdan.get("/api/clinician/patients/alice/safety-plan").await;
    r.assert_error(404, "not_found");
    assert_eq!(
        access_logged(&app, "alice", "drdan", "safety_plan").await,
        0
    );

    // Bob's plan is his own and does not touch Alice's.
    let r = bob.get("/api/safety-plan").await;
    assert_eq!(r.body["plan"], empty);
    let r = bob
        .put(
            "/api/safety-plan",
            json!({ "reasons_for_living": ["My dog"] }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = alice.get("/api/safety-plan").await;
    assert_eq!(r.body["plan"], plan);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM safety_plans").await, 2);
}

// ---------------------------------------------------------------------
// The daily mood reminder (SPEC §7)
// ---------------------------------------------------------------------

async fn reminders(state: &healing_space::AppState) -> usize {
    healing_space::reminders::run_once(state).await.unwrap()
}

#[tokio::test]
async fn the_mood_reminder_comes_once_a_day_at_the_local_hour() {
    let app = TestApp::with(long_sessions).await;
    let ny = "America/New_York";
    app.clock().set(at(ny, "2026-03-10T12:00"));
    let alice = app.patient_in("alice", ny).await;
    let bob = app.patient("bob").await;
    let carol = app.patient_in("carol", ny).await;
    let drbob = app.clinician("drbob").await;
    let alice_id = app.user_id("alice").await;

    let r = alice.get("/api/me/reminder").await;
    assert_eq!(
        r.body,
        json!({ "hour": null, "enabled": false }),
        "{}",
        r.text
    );
    let r = alice
        .put("/api/me/reminder", json!({ "hour": 20, "enabled": true }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({ "hour": 20, "enabled": true }));
    let r = alice.get("/api/me/reminder").await;
    assert_eq!(r.body, json!({ "hour": 20, "enabled": true }));
    let r = bob
        .put("/api/me/reminder", json!({ "hour": 18, "enabled": true }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Carol chose an hour but turned reminders off.
    let r = carol
        .put("/api/me/reminder", json!({ "hour": 0, "enabled": false }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    for bad in [
        json!({ "hour": 24, "enabled": true }),
        json!({ "hour": -1, "enabled": true }),
        json!({ "hour": 7.5, "enabled": true }),
        json!({ "hour": 7 }),
        json!({ "hour": 7, "enabled": true, "patient": "bob" }),
    ] {
        let r = alice.put("/api/me/reminder", bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
    }
    let r = drbob
        .put("/api/me/reminder", json!({ "hour": 7, "enabled": true }))
        .await;
    r.assert_error(403, "forbidden");
    assert_eq!(
        app.scalar(&format!(
            "SELECT hour FROM reminder_settings WHERE patient_id = {alice_id}"
        ))
        .await,
        20
    );

    // 19:59 in New York (23:59 UTC): before Alice's hour; Bob, in UTC,
    // is past his but logs his mood first.
    app.clock().set(at(ny, "2026-03-10T19:59"));
    let r = bob.post("/api/mood", json!({ "mood": 6 })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["date"], "2026-03-10");
    assert_eq!(reminders(&app.state).await, 0);

    // 20:30 in New York, already 11 March in UTC.
    app.clock().set(at(ny, "2026-03-10T20:30"));
    assert_eq!(reminders(&app.state).await, 1);
    let sent = notifications(&alice, "mood_reminder").await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        app.text(&format!(
            "SELECT reminder_date FROM reminders_sent WHERE patient_id = {alice_id}"
        ))
        .await
        .as_deref(),
        Some("2026-03-10"),
        "the date is New York's, not UTC's"
    );
    assert_eq!(reminders(&app.state).await, 0);

    // Across a restart: a second server on the same database sends
    // nothing more today.
    let second = healing_space::AppState::open((*app.state.config).clone(), app.clock().clone())
        .await
        .unwrap();
    assert_eq!(reminders(&second).await, 0);
    app.clock().set(at(ny, "2026-03-10T23:30"));
    assert_eq!(reminders(&second).await, 0);
    assert_eq!(reminders(&app.state).await, 0);

    // 11 March, 18:30 UTC: Bob logged yesterday, not today.
    app.clock().set(at("UTC", "2026-03-11T18:30"));
    assert_eq!(reminders(&app.state).await, 1);
    assert_eq!(notifications(&bob, "mood_reminder").await.len(), 1);
    assert_eq!(reminders(&second).await, 0);

    // Alice logs on 11 March before her hour: no reminder that evening.
    let r = alice.post("/api/mood", json!({ "mood": 5 })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["date"], "2026-03-11");
    app.clock().set(at(ny, "2026-03-11T20:05"));
    assert_eq!(reminders(&app.state).await, 0);
    assert_eq!(reminders(&second).await, 0);

    // The next day she has not logged: one reminder again, from whichever
    // server gets there first.
    app.clock().set(at(ny, "2026-03-12T20:05"));
    assert_eq!(reminders(&second).await, 1);
    assert_eq!(reminders(&app.state).await, 0);
    assert_eq!(notifications(&alice, "mood_reminder").await.len(), 2);
    assert_eq!(notifications(&bob, "mood_reminder").await.len(), 1);
    assert_eq!(notifications(&carol, "mood_reminder").await.len(), 0);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM reminders_sent").await, 3);
}

// ---------------------------------------------------------------------
// The clinician workspace (SPEC §11)
// ---------------------------------------------------------------------

async fn insert_mood(app: &TestApp, patient: i64, date: &str, mood: i64, created_at: i64) {
    sqlx::query(
        "INSERT INTO mood_entries (patient_id, entry_date, mood, medication, created_at, \
         updated_at) VALUES ($1, $2, $3, '[]', $4, $4)",
    )
    .bind(patient)
    .bind(date)
    .bind(mood)
    .bind(created_at)
    .execute(app.state.db.pool())
    .await
    .unwrap();
}

async fn insert_assessment(
    app: &TestApp,
    patient: i64,
    instrument: &str,
    (total, band): (i64, &str),
    taken_on: &str,
) {
    let items = if instrument == "phq9" { 9 } else { 7 };
    sqlx::query(
        "INSERT INTO assessments (patient_id, instrument, answers, total, band, taken_on, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(patient)
    .bind(instrument)
    .bind(serde_json::to_string(&spread(items, total)).unwrap())
    .bind(total)
    .bind(band)
    .bind(taken_on)
    .bind(at("UTC", &format!("{taken_on}T09:00")))
    .execute(app.state.db.pool())
    .await
    .unwrap();
}

/// An alert in `status`; acknowledged and resolved ones name `clinician`.
async fn insert_alert(app: &TestApp, patient: i64, level: &str, status: &str, clinician: i64) {
    let at = app.clock().now() - 3600;
    let by = (status != "open").then_some(clinician);
    let resolved = (status == "resolved").then_some(clinician);
    sqlx::query(
        "INSERT INTO alerts (patient_id, level, source, reason, status, created_at, \
         acknowledged_at, acknowledged_by, resolved_at, resolved_by, outcome_note) \
         VALUES ($1, $2, 'phq9_item9', 'phq9_item9', $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(patient)
    .bind(level)
    .bind(status)
    .bind(at)
    .bind(by.map(|_| at + 60))
    .bind(by)
    .bind(resolved.map(|_| at + 120))
    .bind(resolved)
    .bind(resolved.map(|_| "Reviewed."))
    .execute(app.state.db.pool())
    .await
    .unwrap();
}

fn find<'a>(list: &'a Value, username: &str) -> &'a Value {
    list["patients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["username"] == username)
        .unwrap_or_else(|| panic!("{username} in {list}"))
}

fn usernames(list: &Value) -> Vec<String> {
    list["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["username"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_caseload_metrics_match_hand_computed_values() {
    let app = TestApp::with(long_sessions).await;
    // Noon on 20 March in UTC is already 21 March in Auckland.
    let now = at("UTC", "2026-03-20T12:00");
    app.clock().set(now);
    let drbob = app.clinician("drbob").await;
    let drcarol = app.clinician("drcarol").await;
    let bob_id = app.user_id("drbob").await;
    let mut ids = std::collections::HashMap::new();
    for (name, tz) in [
        ("zoe", "UTC"),
        ("yan", "UTC"),
        ("dan", "Pacific/Auckland"),
        ("cat", "UTC"),
        ("abe", "UTC"),
    ] {
        let c = app.patient_in(name, tz).await;
        app.link(&c, &drbob).await;
        ids.insert(name, app.user_id(name).await);
    }
    // Not on Dr Bob's caseload: another clinician's patient, and a
    // request still pending.
    let ivy = app.patient("ivy").await;
    app.link(&ivy, &drcarol).await;
    let pia = app.patient("pia").await;
    app.request_link(&pia, &drbob).await;
    let noon = |date: &str| at("UTC", &format!("{date}T12:00"));

    // Zoe: an open high alert and an acknowledged moderate one; moods in
    // the week 14–20 March (4, 6, 8) and one just before it (10).
    let zoe = ids["zoe"];
    for (date, mood) in [
        ("2026-03-13", 10),
        ("2026-03-14", 8),
        ("2026-03-18", 6),
        ("2026-03-20", 4),
    ] {
        insert_mood(&app, zoe, date, mood, noon(date)).await;
    }
    insert_assessment(&app, zoe, "phq9", (20, "severe"), "2026-03-01").await;
    insert_assessment(&app, zoe, "phq9", (10, "moderate"), "2026-03-15").await;
    insert_assessment(&app, zoe, "gad7", (12, "moderate"), "2026-03-01").await;
    insert_alert(&app, zoe, "high", "open", bob_id).await;
    insert_alert(&app, zoe, "moderate", "acknowledged", bob_id).await;

    // Yan: an acknowledged moderate alert (and a resolved high one, which
    // no longer counts); PHQ-9 from 8 to 3.
    let yan = ids["yan"];
    for (date, mood) in [("2026-03-15", 6), ("2026-03-16", 6), ("2026-03-17", 5)] {
        insert_mood(&app, yan, date, mood, noon(date)).await;
    }
    insert_assessment(&app, yan, "phq9", (8, "mild"), "2026-03-01").await;
    insert_assessment(&app, yan, "phq9", (3, "minimal"), "2026-03-15").await;
    insert_alert(&app, yan, "moderate", "acknowledged", bob_id).await;
    insert_alert(&app, yan, "high", "resolved", bob_id).await;

    // Dan, in Auckland: his week is 15–21 March, so 14 March is outside it.
    let dan = ids["dan"];
    insert_mood(
        &app,
        dan,
        "2026-03-10",
        3,
        at("Pacific/Auckland", "2026-03-10T20:00"),
    )
    .await;
    insert_mood(
        &app,
        dan,
        "2026-03-14",
        5,
        at("Pacific/Auckland", "2026-03-14T20:00"),
    )
    .await;
    insert_assessment(&app, dan, "phq9", (12, "moderate"), "2026-03-01").await;
    insert_assessment(&app, dan, "phq9", (18, "moderately_severe"), "2026-03-15").await;

    // Cat: no mood entries; one PHQ-9; GAD-7 from 10 to 4.
    let cat = ids["cat"];
    insert_assessment(&app, cat, "phq9", (16, "moderately_severe"), "2026-03-02").await;
    insert_assessment(&app, cat, "gad7", (10, "moderate"), "2026-03-02").await;
    insert_assessment(&app, cat, "gad7", (4, "minimal"), "2026-03-16").await;

    // Ivy's alert belongs to Dr Carol's caseload only.
    insert_alert(&app, app.user_id("ivy").await, "high", "open", bob_id).await;

    let r = drbob.get("/api/clinician/patients").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["sort"], "risk");
    let list = &r.body;

    let p = find(list, "zoe");
    assert_eq!(p["display_name"], "Patient zoe");
    assert_eq!(p["last_mood"], json!({ "mood": 4, "date": "2026-03-20" }));
    assert_eq!(p["mood_avg_7d"], json!(6.0));
    assert_eq!(p["days_since_last_entry"], 0);
    assert_eq!(
        p["phq9"],
        json!({
            "latest": 10, "band": "moderate", "taken_on": "2026-03-15", "baseline": 20,
            "change": -10, "count": 2, "response": true, "remission": false,
        })
    );
    assert_eq!(
        p["gad7"],
        json!({
            "latest": 12, "band": "moderate", "taken_on": "2026-03-01", "baseline": 12,
            "change": 0, "count": 1, "response": false, "remission": false,
        })
    );
    assert_eq!(
        (
            p["open_alerts"].clone(),
            p["unacknowledged_alerts"].clone(),
            p["highest_alert_level"].clone()
        ),
        (json!(2), json!(1), json!("high"))
    );

    let p = find(list, "yan");
    assert_eq!(p["last_mood"], json!({ "mood": 5, "date": "2026-03-17" }));
    assert_eq!(p["mood_avg_7d"], json!(5.67), "17 / 3, to two places");
    assert_eq!(p["days_since_last_entry"], 3);
    assert_eq!(
        p["phq9"],
        json!({
            "latest": 3, "band": "minimal", "taken_on": "2026-03-15", "baseline": 8,
            "change": -5, "count": 2, "response": true, "remission": true,
        })
    );
    assert_eq!(p["gad7"], Value::Null);
    assert_eq!(
        (
            p["open_alerts"].clone(),
            p["unacknowledged_alerts"].clone(),
            p["highest_alert_level"].clone()
        ),
        (json!(1), json!(0), json!("moderate"))
    );

    let p = find(list, "dan");
    assert_eq!(p["last_mood"], json!({ "mood": 5, "date": "2026-03-14" }));
    assert_eq!(p["mood_avg_7d"], Value::Null, "no entry in his week");
    assert_eq!(p["days_since_last_entry"], 7, "14 to 21 March, his today");
    assert_eq!(
        p["phq9"],
        json!({
            "latest": 18, "band": "moderately_severe", "taken_on": "2026-03-15",
            "baseline": 12, "change": 6, "count": 2, "response": false, "remission": false,
        })
    );
    assert_eq!(
        (
            p["open_alerts"].clone(),
            p["unacknowledged_alerts"].clone(),
            p["highest_alert_level"].clone()
        ),
        (json!(0), json!(0), Value::Null)
    );

    let p = find(list, "cat");
    assert_eq!(p["last_mood"], Value::Null);
    assert_eq!(p["mood_avg_7d"], Value::Null);
    assert_eq!(p["days_since_last_entry"], Value::Null);
    assert_eq!(
        p["phq9"],
        json!({
            "latest": 16, "band": "moderately_severe", "taken_on": "2026-03-02",
            "baseline": 16, "change": 0, "count": 1, "response": false, "remission": false,
        })
    );
    assert_eq!(
        p["gad7"],
        json!({
            "latest": 4, "band": "minimal", "taken_on": "2026-03-16", "baseline": 10,
            "change": -6, "count": 2, "response": true, "remission": true,
        })
    );

    let p = find(list, "abe");
    for field in [
        "last_mood",
        "mood_avg_7d",
        "days_since_last_entry",
        "phq9",
        "gad7",
        "highest_alert_level",
    ] {
        assert_eq!(p[field], Value::Null, "abe {field}");
    }
    assert_eq!(
        (p["open_alerts"].clone(), p["unacknowledged_alerts"].clone()),
        (json!(0), json!(0))
    );

    // By risk: the high alert, the moderate one, then by PHQ-9 severity.
    assert_eq!(usernames(list), ["zoe", "yan", "dan", "cat", "abe"]);
    let r = drbob.get("/api/clinician/patients?sort=name").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["sort"], "name");
    assert_eq!(usernames(&r.body), ["abe", "cat", "dan", "yan", "zoe"]);
    assert_eq!(find(&r.body, "zoe"), find(list, "zoe"));
    let r = drbob.get("/api/clinician/patients?sort=risk").await;
    assert_eq!(usernames(&r.body), ["zoe", "yan", "dan", "cat", "abe"]);
    let r = drbob.get("/api/clinician/patients?sort=bogus").await;
    r.assert_error(400, "invalid_field");
    assert_eq!(r.body["field"], "sort");
    let r = drbob.get("/api/clinician/patients?order=name").await;
    assert_eq!(r.status, 400, "{}", r.text);

    // Dr Carol sees only Ivy; a patient sees no caseload.
    let r = drcarol.get("/api/clinician/patients").await;
    assert_eq!(usernames(&r.body), ["ivy"]);
    let r = ivy.get("/api/clinician/patients").await;
    r.assert_error(403, "forbidden");

    // Analytics: five approved, one pending; three patients logged in the
    // last seven days (Zoe, Yan, and Dan on his 14 March); alerts of the
    // caseload only.
    let r = drbob.get("/api/clinician/analytics").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["caseload_size"], 5);
    assert_eq!(r.body["pending_requests"], 1);
    assert_eq!(r.body["active_patients_7d"], 3);
    assert_eq!(
        r.body["alerts_by_status"],
        json!({ "open": 1, "acknowledged": 2, "resolved": 1 })
    );
    let r = drcarol.get("/api/clinician/analytics").await;
    assert_eq!(r.body["caseload_size"], 1);
    assert_eq!(r.body["pending_requests"], 0);
    assert_eq!(r.body["active_patients_7d"], 0);
    assert_eq!(r.body["alerts_by_status"], json!({ "open": 1 }));
    let r = pia.get("/api/clinician/analytics").await;
    r.assert_error(403, "forbidden");
}

#[tokio::test]
async fn the_timeline_puts_the_record_in_order_with_trends() {
    let app = TestApp::with(long_sessions).await;
    let london = "Europe/London";
    app.clock().set(at("UTC", "2026-04-01T09:00"));
    let alice = app.patient_in("alice", london).await;
    let drbob = app.clinician("drbob").await;
    let drdan = app.clinician("drdan").await;
    app.link(&alice, &drbob).await;

    let r = alice
        .post(
            "/api/mood",
            json!({ "mood": 6, "sleep_hours": 7.5, "sleep_quality": 7, "anxiety": 3 }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["date"].clone()),
        (201, json!("2026-04-01"))
    );
    app.clock().set(at("UTC", "2026-04-02T10:00"));
    let r = submit(&alice, "phq9", json!({ "answers": phq9(0, json!(1)) })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let alert_id = r.body["risk"]["alert_id"].as_i64().unwrap();
    app.clock().set(at("UTC", "2026-04-03T10:00"));
    let r = drbob
        .post(
            "/api/clinician/patients/alice/notes",
            json!({ "body": "Phoned after the PHQ-9; safety plan reviewed." }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let note_id = r.body["id"].as_i64().unwrap();
    // 23:30 UTC is 00:30 on 5 April in London (summer time).
    app.clock().set(at("UTC", "2026-04-04T23:30"));
    let r = alice.post("/api/mood", json!({ "mood": 4 })).await;
    assert_eq!(
        (r.status, r.body["date"].clone()),
        (201, json!("2026-04-05"))
    );

    let r = drbob.get("/api/clinician/patients/alice/timeline").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["patient"], "alice");
    assert_eq!(r.body["to"], "2026-04-05");
    let events = r.body["events"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["date"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("mood", "2026-04-05"),
            ("note", "2026-04-03"),
            ("assessment", "2026-04-02"),
            ("alert", "2026-04-02"),
            ("mood", "2026-04-01"),
        ],
        "newest first"
    );
    assert_eq!(events[0]["entry"]["mood"], 4);
    assert_eq!(events[1]["note"]["id"], note_id);
    assert_eq!(events[1]["note"]["author"], "Dr drbob");
    assert_eq!(events[2]["assessment"]["total"], 1);
    assert_eq!(events[3]["alert"]["id"], alert_id);
    assert_eq!(events[3]["alert"]["level"], "high");
    assert_eq!(events[4]["entry"]["sleep_hours"], 7.5);
    assert_eq!(
        r.body["trends"],
        json!({
            "mood": [
                {
                    "date": "2026-04-01",
                    "mood": 6,
                    "sleep_hours": 7.5,
                    "sleep_quality": 7,
                    "anxiety": 3,
                },
                {
                    "date": "2026-04-05",
                    "mood": 4,
                    "sleep_hours": null,
                    "sleep_quality": null,
                    "anxiety": null,
                },
            ],
            "phq9": [{ "date": "2026-04-02", "total": 1, "band": "minimal" }],
            "gad7": [],
        })
    );
    assert_eq!(access_logged(&app, "alice", "drbob", "timeline").await, 1);

    let r = drbob
        .get("/api/clinician/patients/alice/timeline?from=2026-04-02&to=2026-04-03")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let kinds: Vec<&str> = r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["note", "assessment", "alert"]);
    assert_eq!(r.body["trends"]["mood"], json!([]));
    let r = drbob
        .get("/api/clinician/patients/alice/timeline?from=2026-04-05&to=2026-04-01")
        .await;
    r.assert_error(400, "invalid_field");
    let r = drbob
        .get("/api/clinician/patients/alice/timeline?from=yesterday")
        .await;
    assert_eq!(r.status, 400, "{}", r.text);

    let r = drdan.get("/api/clinician/patients/alice/timeline").await;
    r.assert_error(404, "not_found");
    assert_eq!(access_logged(&app, "alice", "drdan", "timeline").await, 0);
    let r = alice.get("/api/clinician/patients/alice/timeline").await;
    r.assert_error(403, "forbidden");
}

/// A note body of `n` copies of `c`.
fn note(c: char, n: usize) -> Value {
    json!({ "body": c.to_string().repeat(n) })
}

#[tokio::test]
async fn notes_take_up_to_50000_characters_and_only_their_author_deletes_them() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let drbob = app.clinician("drbob").await;
    let drcarol = app.clinician("drcarol").await;
    let drdan = app.clinician("drdan").await;
    app.link(&alice, &drbob).await;
    app.link(&alice, &drcarol).await;
    let path = "/api/clinician/patients/alice/notes";
    let count = || app.scalar("SELECT COUNT(*) FROM clinician_notes");

    // 50,000 characters, whatever their size in bytes: "é" makes a body of
    // about 100 KB and an emoji about 200 KB, over the 64 KiB JSON default.
    for c in ['a', 'é', '😀'] {
        let r = drbob.post(path, note(c, 50_000)).await;
        assert_eq!(r.status, 201, "50,000 × {c:?}: {}", r.text);
        assert_eq!(r.body["body"], note(c, 50_000)["body"]);
        assert_eq!(r.body["author"], "Dr drbob");
        assert_eq!(r.body["own"], true);
    }
    assert_eq!(count().await, 3);
    for body in [note('a', 50_001), note('é', 50_001), json!({ "body": "" })] {
        let r = drbob.post(path, body).await;
        r.assert_error(400, "invalid_field");
        assert_eq!(r.body["field"], "body");
    }
    // The notes route's limit is larger, not absent.
    let mut padded = br#"{"body":"a"}"#.to_vec();
    padded.resize(300 * 1024, b' ');
    let r = drbob.post_raw(path, Some("application/json"), padded).await;
    r.assert_error(413, "payload_too_large");
    assert_eq!(count().await, 3);

    let r = drcarol
        .post(path, json!({ "body": "Second opinion: agree with plan." }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let carols = r.body["id"].as_i64().unwrap();

    let r = drbob.get(path).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let notes = r.body["notes"].as_array().unwrap();
    assert_eq!(notes.len(), 4);
    assert_eq!(notes[0]["id"], carols, "newest first");
    assert_eq!(
        notes.iter().map(|n| n["own"].clone()).collect::<Vec<_>>(),
        [false, true, true, true]
    );
    // Each long note reads back whole, newest first.
    for (n, c) in [(1, '😀'), (2, 'é'), (3, 'a')] {
        assert_eq!(notes[n]["body"], note(c, 50_000)["body"], "{c:?}");
    }
    let bobs = notes[1]["id"].as_i64().unwrap();
    // Three notes written and one listing; refused bodies never reached
    // the record.
    assert_eq!(access_logged(&app, "alice", "drbob", "notes").await, 4);

    // Another clinician's note: refused, and still there.
    let r = drbob.delete(&format!("{path}/{carols}")).await;
    r.assert_error(403, "not_author");
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM clinician_notes WHERE id = {carols}"
        ))
        .await,
        1
    );
    // Someone off the care team learns nothing and changes nothing.
    for r in [
        drdan.get(path).await,
        drdan.post(path, json!({ "body": "x" })).await,
        drdan.delete(&format!("{path}/{bobs}")).await,
    ] {
        r.assert_error(404, "not_found");
    }
    let r = alice.get(path).await;
    r.assert_error(403, "forbidden");
    let r = alice.delete(&format!("{path}/{bobs}")).await;
    r.assert_error(403, "forbidden");
    assert_eq!(count().await, 4);

    let r = drbob.delete(&format!("{path}/{bobs}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({ "deleted": 1 }));
    let r = drbob.delete(&format!("{path}/{bobs}")).await;
    r.assert_error(404, "not_found");
    assert_eq!(count().await, 3);
    assert_eq!(audit_rows(&app, "note.created").await.len(), 4);
    let deleted = audit_rows(&app, "note.deleted").await;
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].2["note_id"], bobs);
    assert!(!audit_text(&app).await.contains("Second opinion"));
}
