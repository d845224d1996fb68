//! Fixes found by probing the running service: each test fails without
//! its fix.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn operators_cannot_tie_clinical_events_to_a_patient() {
    let app = TestApp::new().await;
    let ops = app.developer("ops").await;
    let alice = app.patient("alice").await;
    let dr = app.clinician("drbob").await;
    app.link(&alice, &dr).await;
    let r = alice
        .post(
            "/api/assessments/phq9",
            json!({ "answers": [0, 0, 0, 0, 0, 0, 0, 0, 2] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let alice_id = app.user_id("alice").await;
    // The raw log knows whom the alert concerns…
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'alert.raised' AND target_id = {alice_id}"
        ))
        .await,
        1
    );
    // …the operator's view does not.
    let r = ops.get("/api/developer/audit?action=alert.raised").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let entry = &r.body["entries"][0];
    assert_eq!(entry["action"], "alert.raised");
    assert_eq!(entry["target_id"], serde_json::Value::Null);
    assert_eq!(entry["actor_id"], serde_json::Value::Null);
    assert_eq!(entry["detail"], json!({}));
    for action in ["care_team.approve", "care_team.request"] {
        let r = ops
            .get(&format!("/api/developer/audit?action={action}"))
            .await;
        assert_eq!(r.body["entries"][0]["target_id"], serde_json::Value::Null);
    }
    // Non-clinical events keep their subject.
    let r = ops.get("/api/developer/audit?action=auth.login").await;
    assert!(r.body["entries"][0]["target_id"].is_i64(), "{}", r.text);
}

#[tokio::test]
async fn the_caseload_and_alert_queue_are_reads_of_the_record() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let dr = app.clinician("drbob").await;
    app.link(&alice, &dr).await;
    let r = alice
        .post(
            "/api/assessments/phq9",
            json!({ "answers": [0, 0, 0, 0, 0, 0, 0, 0, 1] }),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(dr.get("/api/clinician/patients").await.status, 200);
    assert_eq!(dr.get("/api/alerts").await.status, 200);
    let r = alice.get("/api/me/access-log").await;
    let resources: Vec<&str> = r.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"].as_str().unwrap())
        .collect();
    assert_eq!(resources, vec!["alerts", "caseload"], "{}", r.text);
}

#[tokio::test]
async fn a_request_withdraw_loop_cannot_flood_a_clinicians_inbox() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let dr = app.clinician("drbob").await;
    let dr_id = app.user_id("drbob").await;
    for _ in 0..6 {
        let id = app.request_link(&alice, &dr).await;
        let r = alice
            .post_empty(&format!("/api/care-team/links/{id}/end"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    // Six requests exist, but only three announced themselves.
    assert_eq!(app.scalar("SELECT COUNT(*) FROM care_links").await, 6);
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM notifications WHERE user_id = {dr_id} AND kind = 'care_request'"
        ))
        .await,
        3
    );
    // A day later a new request is announced again.
    app.clock().advance(24 * 3600 + 1);
    let mut alice = alice;
    let r = alice.login_pin("alice", PASSWORD, PIN).await;
    assert_eq!(r.status, 200);
    let mut dr = dr;
    let code = app.next_totp(&dr);
    assert_eq!(dr.login_totp("drbob", PASSWORD, &code).await.status, 200);
    app.request_link(&alice, &dr).await;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM notifications WHERE user_id = {dr_id} AND kind = 'care_request'"
        ))
        .await,
        4
    );
}

#[tokio::test]
async fn disguised_risk_language_still_raises_the_alert() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    for body in [
        "I am going to ki\u{200b}ll myself tonight",
        "I am going to k\u{0456}ll myself tonight",
    ] {
        app.exec("DELETE FROM alerts").await;
        let r = alice.post("/api/journal", json!({ "body": body })).await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.body["risk"]["level"], "high", "{body:?}: {}", r.text);
        assert_eq!(
            app.scalar("SELECT COUNT(*) FROM alerts WHERE level = 'high'")
                .await,
            1
        );
    }
}

#[tokio::test]
async fn the_crisis_message_never_claims_an_absent_care_team_was_told() {
    let app = TestApp::new().await;
    let alone = app.patient("alone").await;
    let r = alone
        .post(
            "/api/journal",
            json!({ "body": "I am going to kill myself tonight" }),
        )
        .await;
    assert_eq!(r.body["risk"]["care_team_told"], false, "{}", r.text);
    let message = r.body["risk"]["message"].as_str().unwrap();
    assert!(message.contains("nobody here has been told"), "{message}");
    assert!(
        !message.contains("Your care team has been told"),
        "{message}"
    );

    let linked = app.patient("linked").await;
    let dr = app.clinician("drbob").await;
    app.link(&linked, &dr).await;
    let r = linked
        .post(
            "/api/journal",
            json!({ "body": "I am going to kill myself tonight" }),
        )
        .await;
    assert_eq!(r.body["risk"]["care_team_told"], true, "{}", r.text);
    assert!(
        r.body["risk"]["message"]
            .as_str()
            .unwrap()
            .contains("Your care team has been told")
    );
}

#[tokio::test]
async fn a_stolen_session_cannot_bind_an_authenticator() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let r = alice.post_empty("/api/auth/totp/enrol").await;
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let code = healing_space::crypto::totp::code_at(&secret, app.clock().now()).unwrap();
    // Without the password, or with a wrong one: refused, nothing bound.
    let r = alice
        .post("/api/auth/totp/confirm", json!({ "code": code }))
        .await;
    r.assert_error(400, "missing_field");
    let r = alice
        .post(
            "/api/auth/totp/confirm",
            json!({ "code": code, "password": "Wr0ng!guess" }),
        )
        .await;
    r.assert_error(400, "invalid_field");
    assert_eq!(r.body["field"], "password");
    assert_eq!(
        app.text("SELECT totp_secret FROM users WHERE username_lower = 'alice'")
            .await,
        None
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM recovery_codes").await, 0);
    // With it: bound, and the owner is told by mail.
    let r = alice
        .post(
            "/api/auth/totp/confirm",
            json!({ "code": code, "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mail = app.outbox(1).await;
    assert!(
        mail.iter()
            .any(|m| m.contains("An authenticator was added")),
        "{mail:?}"
    );
}

#[tokio::test]
async fn re_enabling_never_skips_a_clinicians_activation() {
    let app = TestApp::new().await;
    let ops = app.developer("ops").await;
    let mut waiting = app.client();
    let r = waiting
        .post(
            "/api/auth/register/clinician",
            json!({
                "username": "dr.copy",
                "password": PASSWORD,
                "pin": PIN,
                "email": "copy@example.org",
                "display_name": "Dr Copy",
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    waiting.csrf = None;
    let r = ops.post_empty("/api/developer/users/dr.copy/disable").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = ops.post_empty("/api/developer/users/dr.copy/enable").await;
    assert_eq!(
        r.body,
        json!({ "username": "dr.copy", "status": "pending" })
    );
    assert_eq!(
        app.text("SELECT status FROM users WHERE username_lower = 'dr.copy'")
            .await
            .as_deref(),
        Some("pending")
    );
    // Once activated, a disabled clinician comes back active.
    let r = ops
        .post_empty("/api/developer/clinicians/dr.copy/activate")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    ops.post_empty("/api/developer/users/dr.copy/disable").await;
    let r = ops.post_empty("/api/developer/users/dr.copy/enable").await;
    assert_eq!(r.body, json!({ "username": "dr.copy", "status": "active" }));
}

#[tokio::test]
async fn concurrent_audited_writes_never_fail() {
    let app = TestApp::new().await;
    let names: Vec<String> = (0..6).map(|i| format!("user{i}")).collect();
    for name in &names {
        app.patient(name).await;
    }
    // Logins write sessions, lockout rows and audit rows at once; a
    // transaction that reads before it writes must wait, not fail.
    let mut tasks = Vec::new();
    for round in 0..4 {
        for name in &names {
            let mut c = app.client();
            let name = name.clone();
            tasks.push(tokio::spawn(async move {
                let r = c.login_pin(&name, PASSWORD, PIN).await;
                (round, name, r.status, r.text)
            }));
        }
    }
    for task in tasks {
        let (round, name, status, text) = task.await.unwrap();
        assert_eq!(status, 200, "round {round}, {name}: {text}");
    }
    let (ok,) = (app
        .scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND outcome = 'ok'")
        .await,);
    assert_eq!(ok, 24);
    assert!(matches!(
        healing_space::audit::verify_chain(&app.state.db)
            .await
            .unwrap(),
        healing_space::audit::ChainReport::Intact { .. }
    ));
}

#[tokio::test]
async fn the_safety_check_is_for_patients_and_names_no_rule() {
    let app = TestApp::new().await;
    let body = json!({ "text": "I am going to kill myself tonight" });
    let anonymous = app.client();
    anonymous
        .post("/api/safety/check", body.clone())
        .await
        .assert_error(401, "unauthorized");
    let dr = app.clinician("drbob").await;
    dr.post("/api/safety/check", body.clone())
        .await
        .assert_error(403, "forbidden");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM alerts").await, 0);

    let alice = app.patient("alice").await;
    let r = alice
        .post(
            "/api/safety/check",
            json!({ "text": "A quiet walk today." }),
        )
        .await;
    assert_eq!(r.body, json!({ "risk": { "level": "none" } }));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM alerts").await, 0);
    let r = alice.post("/api/safety/check", body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["risk"]["level"], "high");
    assert!(r.body["risk"]["crisis_resources"].is_array());
    assert!(r.body["risk"].get("reason").is_none(), "{}", r.text);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM alerts WHERE source = 'safety_check'")
            .await,
        1
    );
}

#[tokio::test]
async fn lowering_todays_mood_by_an_edit_is_a_sharp_fall_too() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let alice_id = app.user_id("alice").await;
    // A steady week at 8, written straight into the record.
    for day in 1..=5 {
        app.exec(&format!(
            "INSERT INTO mood_entries (patient_id, entry_date, mood, medication, created_at, \
             updated_at) VALUES ({alice_id}, '{}', 8, '[]', 0, 0)",
            healing_space::types::local_date(app.clock().now() - day * 86400, "UTC")
        ))
        .await;
    }
    let r = alice.post("/api/mood", json!({ "mood": 8 })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["risk"]["level"], "none");
    let id = r.body["id"].as_i64().unwrap();
    let r = alice
        .put(&format!("/api/mood/{id}"), json!({ "mood": 2 }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["risk"]["level"], "moderate", "{}", r.text);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM alerts WHERE source = 'mood_drop'")
            .await,
        1
    );
}
