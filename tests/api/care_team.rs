//! The care team (SPEC §6): requests, decisions and ends, the single gate
//! to a patient's record, the access log, and notifications (§12).

use serde_json::{Value, json};

use crate::support::*;

/// The clinician route to a patient's mood history.
fn mood_of(username: &str) -> String {
    format!("/api/clinician/patients/{username}/mood")
}

/// A clinician account that registered but was never activated.
async fn pending_clinician(app: &TestApp, username: &str) {
    let r = app
        .client()
        .post(
            "/api/auth/register/clinician",
            json!({
                "username": username,
                "password": PASSWORD,
                "pin": PIN,
                "email": format!("{username}@example.org"),
                "display_name": format!("Dr {username}"),
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// Status, decision time, end time and who ended it, as one string, to
/// prove a refused action left a link alone.
async fn link_state(app: &TestApp, id: i64) -> String {
    app.text(&format!(
        "SELECT status || '|' || COALESCE(CAST(decided_at AS TEXT), '-') || '|' \
         || COALESCE(CAST(ended_at AS TEXT), '-') || '|' \
         || COALESCE(CAST(ended_by AS TEXT), '-') FROM care_links WHERE id = {id}"
    ))
    .await
    .expect("the link exists")
}

async fn link_status(app: &TestApp, id: i64) -> String {
    app.text(&format!("SELECT status FROM care_links WHERE id = {id}"))
        .await
        .expect("the link exists")
}

/// The kinds of a user's notifications, oldest first, read from the
/// database.
async fn notification_kinds(app: &TestApp, username: &str) -> Vec<String> {
    let id = app.user_id(username).await;
    let rows: Vec<(String,)> =
        sqlx::query_as("SELECT kind FROM notifications WHERE user_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    rows.into_iter().map(|(k,)| k).collect()
}

async fn record_reads(app: &TestApp) -> i64 {
    app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'record.read'")
        .await
}

fn not_found_body() -> Value {
    json!({ "error": "not_found", "message": "not found" })
}

#[tokio::test]
async fn only_an_approved_link_opens_a_record_and_every_other_case_looks_like_no_patient() {
    let app = TestApp::new().await;
    let dr = app.clinician("drbob").await;
    let other_dr = app.clinician("drcarol").await;
    let unlinked = app.patient("ursula").await;
    let pending = app.patient("pat").await;
    let rejected = app.patient("rita").await;
    let ended = app.patient("eddie").await;
    let approved = app.patient("alice").await;
    let with_other = app.patient("olga").await;
    let disabled = app.patient("dora").await;
    for p in [
        &unlinked,
        &pending,
        &rejected,
        &ended,
        &approved,
        &with_other,
        &disabled,
    ] {
        let r = p
            .post("/api/mood", json!({ "mood": 3, "note": "private" }))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    app.request_link(&pending, &dr).await;
    let id = app.request_link(&rejected, &dr).await;
    let r = dr
        .post_empty(&format!("/api/care-team/requests/{id}/reject"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let id = app.link(&ended, &dr).await;
    let r = ended
        .post_empty(&format!("/api/care-team/links/{id}/end"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.link(&approved, &dr).await;
    app.link(&with_other, &other_dr).await;
    app.link(&disabled, &dr).await;
    app.exec("UPDATE users SET status = 'disabled' WHERE username_lower = 'dora'")
        .await;

    let missing = dr.get(&mood_of("nobody")).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body, not_found_body());
    for username in [
        "ursula", "pat", "rita", "eddie", "olga", "dora", "drcarol", "drbob", "PAT",
    ] {
        let r = dr.get(&mood_of(username)).await;
        assert_eq!(r.status, 404, "{username}: {}", r.text);
        assert_eq!(r.text, missing.text, "{username} must look like no patient");
        assert_eq!(r.header("content-type"), missing.header("content-type"));
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM access_log").await, 0);
    assert_eq!(record_reads(&app).await, 0);

    for username in ["alice", "ALICE"] {
        let r = dr.get(&mood_of(username)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.body["patient"], "alice");
        assert_eq!(r.body["entries"][0]["mood"], 3);
        assert_eq!(r.body["entries"][0]["note"], "private");
        assert_eq!(r.body["entries"].as_array().unwrap().len(), 1);
    }
    let alice_id = app.user_id("alice").await;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM access_log WHERE patient_id = {alice_id}"
        ))
        .await,
        2
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM access_log").await, 2);

    let r = dr.get("/api/clinician/patients").await;
    assert_eq!(r.status, 200);
    let names: Vec<&str> = r.body["patients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["username"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"alice"), "{names:?}");
    for hidden in ["ursula", "pat", "rita", "eddie", "olga"] {
        assert!(!names.contains(&hidden), "{hidden} in {names:?}");
    }
}

#[tokio::test]
async fn ending_an_approved_link_stops_access_at_once_from_either_side() {
    let app = TestApp::new().await;
    let dr = app.clinician("drbob").await;
    let alice = app.patient("alice").await;
    let bob = app.patient("bob").await;
    let alice_link = app.link(&alice, &dr).await;
    let bob_link = app.link(&bob, &dr).await;
    assert_eq!(dr.get(&mood_of("alice")).await.status, 200);
    assert_eq!(dr.get(&mood_of("bob")).await.status, 200);

    let r = alice
        .post_empty(&format!("/api/care-team/links/{alice_link}/end"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = dr.get(&mood_of("alice")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, not_found_body());

    let r = dr
        .post_empty(&format!("/api/care-team/links/{bob_link}/end"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = dr.get(&mood_of("bob")).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, not_found_body());

    let r = dr.get("/api/clinician/patients").await;
    assert_eq!(r.body["patients"], json!([]));
    // Only the two reads made while the links were approved are logged.
    assert_eq!(record_reads(&app).await, 2);

    // Asking again opens a new request; access waits for a new approval.
    let again = app.request_link(&alice, &dr).await;
    assert_ne!(again, alice_link);
    assert_eq!(dr.get(&mood_of("alice")).await.status, 404);
    let r = dr
        .post_empty(&format!("/api/care-team/requests/{again}/approve"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(dr.get(&mood_of("alice")).await.status, 200);
    assert_eq!(link_status(&app, alice_link).await, "ended");
}

#[tokio::test]
async fn a_clinician_that_is_no_longer_active_loses_access_at_once() {
    let app = TestApp::new().await;
    let dr = app.clinician("drbob").await;
    let alice = app.patient("alice").await;
    app.link(&alice, &dr).await;
    assert_eq!(dr.get(&mood_of("alice")).await.status, 200);

    app.exec("UPDATE users SET status = 'pending' WHERE username_lower = 'drbob'")
        .await;
    dr.get(&mood_of("alice"))
        .await
        .assert_error(403, "clinician_not_active");
    app.exec("UPDATE users SET status = 'disabled' WHERE username_lower = 'drbob'")
        .await;
    dr.get(&mood_of("alice"))
        .await
        .assert_error(401, "session_expired");
    assert_eq!(record_reads(&app).await, 1);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM access_log").await, 1);
}

#[tokio::test]
async fn every_clinician_read_is_in_the_access_log_and_own_reads_are_not() {
    let app = TestApp::new().await;
    let dr = app.clinician("drbob").await;
    let carol = app.clinician("drcarol").await;
    let alice = app.patient("alice").await;
    let bob = app.patient("bob").await;
    app.link(&alice, &dr).await;
    app.link(&alice, &carol).await;
    app.link(&bob, &dr).await;
    assert_eq!(
        alice.post("/api/mood", json!({ "mood": 5 })).await.status,
        201
    );

    // The patient's own reads, by every route, leave no trace.
    for path in [
        "/api/mood",
        "/api/mood/today",
        "/api/mood?from=2020-01-01&to=2020-12-31",
        &mood_of("alice"),
        &mood_of("ALICE"),
    ] {
        let r = alice.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    let r = alice.get("/api/me/access-log").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({ "entries": [] }));
    assert_eq!(app.scalar("SELECT COUNT(*) FROM access_log").await, 0);
    assert_eq!(record_reads(&app).await, 0);

    assert_eq!(dr.get(&mood_of("alice")).await.status, 200);
    assert_eq!(
        dr.get(&format!(
            "{}?from=2020-01-01&to=2020-12-31",
            mood_of("alice")
        ))
        .await
        .status,
        200
    );
    assert_eq!(carol.get(&mood_of("alice")).await.status, 200);

    let r = alice.get("/api/me/access-log").await;
    assert_eq!(r.status, 200);
    let entries = r.body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "{}", r.text);
    // Newest first.
    let who: Vec<(&str, &str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["by"].as_str().unwrap(),
                e["username"].as_str().unwrap(),
                e["role"].as_str().unwrap(),
                e["resource"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            ("Dr drcarol", "drcarol", "clinician", "mood"),
            ("Dr drbob", "drbob", "clinician", "mood"),
            ("Dr drbob", "drbob", "clinician", "mood"),
        ]
    );
    for e in entries {
        assert!(e["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{e}");
    }

    let alice_id = app.user_id("alice").await;
    let dr_id = app.user_id("drbob").await;
    let carol_id = app.user_id("drcarol").await;
    assert_eq!(record_reads(&app).await, 3);
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'record.read' \
                 AND actor_id = {dr_id} AND target_id = {alice_id} \
                 AND outcome = 'ok' AND detail = '{{\"resource\":\"mood\"}}'"
        ))
        .await,
        2
    );
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'record.read' \
                 AND actor_id = {carol_id} AND target_id = {alice_id}"
        ))
        .await,
        1
    );

    // Bob's log holds only reads of bob, and only the patient reads a log.
    let r = bob.get("/api/me/access-log").await;
    assert_eq!(r.body, json!({ "entries": [] }));
    assert_eq!(dr.get(&mood_of("bob")).await.status, 200);
    let r = bob.get("/api/me/access-log").await;
    assert_eq!(r.body["entries"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["entries"][0]["by"], "Dr drbob");
    dr.get("/api/me/access-log")
        .await
        .assert_error(403, "forbidden");
    let r = alice.get("/api/me/access-log").await;
    assert_eq!(r.body["entries"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn a_patient_can_neither_read_nor_write_another_patients_record() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let bob = app.patient("bob").await;
    let r = bob
        .post("/api/mood", json!({ "mood": 2, "note": "bob's day" }))
        .await;
    assert_eq!(r.status, 201);
    let bob_entry = r.body["id"].as_i64().unwrap();
    let before = app
        .text(&format!(
            "SELECT CAST(mood AS TEXT) || '|' || note || '|' || CAST(updated_at AS TEXT) \
             FROM mood_entries WHERE id = {bob_entry}"
        ))
        .await;

    // The clinician route refuses a patient by role, whether or not the
    // other username exists, so it reveals nothing.
    for username in ["bob", "nobody"] {
        let r = alice.get(&mood_of(username)).await;
        r.assert_error(403, "forbidden");
        assert_eq!(
            r.body,
            json!({ "error": "forbidden", "message": "you may not do this" })
        );
    }

    app.clock().advance(60);
    let r = alice
        .put(
            &format!("/api/mood/{bob_entry}"),
            json!({ "mood": 10, "note": "overwritten" }),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body, not_found_body());
    let after = app
        .text(&format!(
            "SELECT CAST(mood AS TEXT) || '|' || note || '|' || CAST(updated_at AS TEXT) \
             FROM mood_entries WHERE id = {bob_entry}"
        ))
        .await;
    assert_eq!(after, before);
    let r = bob.get("/api/mood/today").await;
    assert_eq!(r.body["entry"]["mood"], 2);
    assert_eq!(r.body["entry"]["note"], "bob's day");

    // Alice's own views hold nothing of bob's.
    let r = alice.get("/api/mood").await;
    assert_eq!(r.body["entries"], json!([]));
    let r = alice.get("/api/mood/today").await;
    assert_eq!(r.body["entry"], Value::Null);
    // Posting her own entry does not touch bob's.
    assert_eq!(
        alice.post("/api/mood", json!({ "mood": 7 })).await.status,
        201
    );
    let bob_id = app.user_id("bob").await;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM mood_entries WHERE patient_id = {bob_id}"
        ))
        .await,
        1
    );
    let r = bob.get("/api/me/access-log").await;
    assert_eq!(r.body, json!({ "entries": [] }));
}

#[tokio::test]
async fn a_clinician_cannot_log_or_edit_mood_entries() {
    let app = TestApp::new().await;
    let dr = app.clinician("drbob").await;
    let alice = app.patient("alice").await;
    app.link(&alice, &dr).await;
    let r = alice.post("/api/mood", json!({ "mood": 4 })).await;
    let entry = r.body["id"].as_i64().unwrap();
    let snapshot = format!(
        "SELECT CAST(mood AS TEXT) || '|' || CAST(updated_at AS TEXT) \
         FROM mood_entries WHERE id = {entry}"
    );
    let before = app.text(&snapshot).await;

    let r = dr.post("/api/mood", json!({ "mood": 5 })).await;
    r.assert_error(403, "forbidden");
    app.clock().advance(60);
    let r = dr
        .put(&format!("/api/mood/{entry}"), json!({ "mood": 9 }))
        .await;
    r.assert_error(403, "forbidden");
    dr.get("/api/mood").await.assert_error(403, "forbidden");
    dr.get("/api/mood/today")
        .await
        .assert_error(403, "forbidden");

    assert_eq!(app.scalar("SELECT COUNT(*) FROM mood_entries").await, 1);
    assert_eq!(app.text(&snapshot).await, before);
}

#[tokio::test]
async fn request_and_approve_with_conflicts_and_notifications() {
    let app = TestApp::new().await;
    let dr = app.clinician("drbob").await;
    let carol = app.clinician("drcarol").await;
    let alice = app.patient("alice").await;
    let _bob = app.patient("bob").await;
    pending_clinician(&app, "drnew").await;

    let r = alice
        .post("/api/care-team/requests", json!({ "clinician": "drbob" }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_i64().unwrap();
    assert_eq!(r.body["status"], "pending");
    assert_eq!(
        r.body["patient"],
        json!({ "username": "alice", "display_name": "Patient alice" })
    );
    assert_eq!(
        r.body["clinician"],
        json!({ "username": "drbob", "display_name": "Dr drbob" })
    );
    assert_eq!(r.body["decided_at"], Value::Null);
    assert_eq!(r.body["ended_at"], Value::Null);
    assert_eq!(link_state(&app, id).await, "pending|-|-|-");
    assert_eq!(notification_kinds(&app, "drbob").await, ["care_request"]);
    assert_eq!(
        notification_kinds(&app, "alice").await,
        ["care_request_sent"]
    );
    let r = dr.get("/api/notifications").await;
    assert_eq!(r.body["unread"], 1);
    assert_eq!(
        r.body["notifications"][0]["message"],
        "Patient alice asked you to join their care team."
    );

    // A second open request to the same clinician, in any letter case.
    for name in ["drbob", "DrBob"] {
        let r = alice
            .post("/api/care-team/requests", json!({ "clinician": name }))
            .await;
        r.assert_error(409, "request_exists");
    }
    // Only active clinicians can be asked.
    for name in ["bob", "alice", "nobody", "drnew", "x", "bad name!"] {
        let r = alice
            .post("/api/care-team/requests", json!({ "clinician": name }))
            .await;
        r.assert_error(400, "invalid_field");
        assert_eq!(r.body["field"], "clinician", "{name}");
    }
    let r = alice.post("/api/care-team/requests", json!({})).await;
    r.assert_error(400, "missing_field");
    assert_eq!(r.body["field"], "clinician");
    // Only patients ask.
    let r = carol
        .post("/api/care-team/requests", json!({ "clinician": "drbob" }))
        .await;
    r.assert_error(403, "forbidden");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM care_links").await, 1);
    assert_eq!(notification_kinds(&app, "drbob").await, ["care_request"]);
    assert_eq!(
        notification_kinds(&app, "alice").await,
        ["care_request_sent"]
    );

    // Another clinician cannot see or decide this request; the patient
    // cannot approve it for the clinician.
    for path in ["approve", "reject"] {
        let r = carol
            .post_empty(&format!("/api/care-team/requests/{id}/{path}"))
            .await;
        assert_eq!(r.status, 404, "{}", r.text);
        assert_eq!(r.body, not_found_body());
        alice
            .post_empty(&format!("/api/care-team/requests/{id}/{path}"))
            .await
            .assert_error(403, "forbidden");
    }
    let r = dr
        .post_empty(&format!("/api/care-team/requests/{}/approve", id + 1000))
        .await;
    assert_eq!(r.body, not_found_body());
    assert_eq!(link_state(&app, id).await, "pending|-|-|-");
    assert_eq!(
        notification_kinds(&app, "drcarol").await,
        Vec::<String>::new()
    );
    assert_eq!(
        carol.get("/api/care-team").await.body,
        json!({ "links": [] })
    );

    let r = dr
        .post_empty(&format!("/api/care-team/requests/{id}/approve"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], id);
    assert_eq!(r.body["status"], "approved");
    assert!(r.body["decided_at"].is_string());
    assert_eq!(link_status(&app, id).await, "approved");
    assert_eq!(
        notification_kinds(&app, "drbob").await,
        ["care_request", "care_approved"]
    );
    assert_eq!(
        notification_kinds(&app, "alice").await,
        ["care_request_sent", "care_approved"]
    );
    let r = alice.get("/api/notifications").await;
    assert_eq!(
        r.body["notifications"][0]["message"],
        "Dr drbob accepted your request to join your care team."
    );
    let dr_id = app.user_id("drbob").await;
    let alice_id = app.user_id("alice").await;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'care_team.approve' \
                 AND actor_id = {dr_id} AND target_id = {alice_id}"
        ))
        .await,
        1
    );

    // Deciding twice, either way, conflicts and changes nothing.
    let decided = link_state(&app, id).await;
    for path in ["approve", "reject"] {
        app.clock().advance(60);
        let r = dr
            .post_empty(&format!("/api/care-team/requests/{id}/{path}"))
            .await;
        r.assert_error(409, "not_pending");
        assert_eq!(link_state(&app, id).await, decided);
    }
    assert_eq!(notification_kinds(&app, "alice").await.len(), 2);
    // An approved link is open too: no second request.
    let r = alice
        .post("/api/care-team/requests", json!({ "clinician": "drbob" }))
        .await;
    r.assert_error(409, "request_exists");

    for c in [&alice, &dr] {
        let r = c.get("/api/care-team").await;
        assert_eq!(r.status, 200);
        let links = r.body["links"].as_array().unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0]["id"], id);
        assert_eq!(links[0]["status"], "approved");
    }
    let r = dr.get("/api/clinician/patients").await;
    assert_eq!(r.body["patients"][0]["username"], "alice");
}

#[tokio::test]
async fn reject_then_the_patient_may_ask_again() {
    let app = TestApp::new().await;
    let dr = app.clinician("drbob").await;
    let alice = app.patient("alice").await;
    let id = app.request_link(&alice, &dr).await;

    let r = dr
        .post_empty(&format!("/api/care-team/requests/{id}/reject"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "rejected");
    assert_eq!(link_status(&app, id).await, "rejected");
    assert_eq!(
        notification_kinds(&app, "alice").await,
        ["care_request_sent", "care_rejected"]
    );
    assert_eq!(
        notification_kinds(&app, "drbob").await,
        ["care_request", "care_rejected"]
    );
    let rejected = link_state(&app, id).await;

    for path in ["approve", "reject"] {
        dr.post_empty(&format!("/api/care-team/requests/{id}/{path}"))
            .await
            .assert_error(409, "not_pending");
    }
    for c in [&alice, &dr] {
        c.post_empty(&format!("/api/care-team/links/{id}/end"))
            .await
            .assert_error(409, "not_open");
    }
    assert_eq!(link_state(&app, id).await, rejected);
    assert_eq!(dr.get(&mood_of("alice")).await.body, not_found_body());

    let again = app.request_link(&alice, &dr).await;
    assert_ne!(again, id);
    assert_eq!(link_status(&app, again).await, "pending");
}

#[tokio::test]
async fn either_side_ends_a_link_once_and_strangers_cannot() {
    let app = TestApp::new().await;
    let dr = app.clinician("drbob").await;
    let carol = app.clinician("drcarol").await;
    let alice = app.patient("alice").await;
    let bob = app.patient("bob").await;
    let eve = app.patient("eve").await;
    let alice_link = app.link(&alice, &dr).await;
    let bob_link = app.link(&bob, &dr).await;
    let alice_id = app.user_id("alice").await;
    let dr_id = app.user_id("drbob").await;

    // Strangers to the link: it does not exist for them.
    let open = link_state(&app, alice_link).await;
    for c in [&carol, &eve, &bob] {
        let r = c
            .post_empty(&format!("/api/care-team/links/{alice_link}/end"))
            .await;
        assert_eq!(r.status, 404, "{}", r.text);
        assert_eq!(r.body, not_found_body());
    }
    assert_eq!(link_state(&app, alice_link).await, open);

    // The patient ends it.
    let r = alice
        .post_empty(&format!("/api/care-team/links/{alice_link}/end"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "ended");
    assert!(r.body["ended_at"].is_string());
    assert_eq!(link_status(&app, alice_link).await, "ended");
    assert_eq!(
        app.scalar(&format!(
            "SELECT ended_by FROM care_links WHERE id = {alice_link}"
        ))
        .await,
        alice_id
    );
    assert_eq!(
        notification_kinds(&app, "alice").await,
        ["care_request_sent", "care_approved", "care_ended"]
    );
    assert_eq!(
        notification_kinds(&app, "drbob").await,
        [
            "care_request",
            "care_approved",
            "care_request",
            "care_approved",
            "care_ended"
        ]
    );
    let r = dr.get("/api/notifications").await;
    assert_eq!(
        r.body["notifications"][0]["message"],
        "Patient alice ended the care-team link."
    );
    let ended = link_state(&app, alice_link).await;
    for c in [&alice, &dr] {
        app.clock().advance(60);
        c.post_empty(&format!("/api/care-team/links/{alice_link}/end"))
            .await
            .assert_error(409, "not_open");
    }
    assert_eq!(link_state(&app, alice_link).await, ended);

    // The clinician ends the other.
    let r = dr
        .post_empty(&format!("/api/care-team/links/{bob_link}/end"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.scalar(&format!(
            "SELECT ended_by FROM care_links WHERE id = {bob_link}"
        ))
        .await,
        dr_id
    );
    assert_eq!(
        notification_kinds(&app, "bob").await,
        ["care_request_sent", "care_approved", "care_ended"]
    );
    let r = bob.get("/api/notifications").await;
    assert_eq!(
        r.body["notifications"][0]["message"],
        "Dr drbob ended the care-team link."
    );
    assert_eq!(
        notification_kinds(&app, "drbob").await.last().unwrap(),
        "care_ended"
    );
    bob.post_empty(&format!("/api/care-team/links/{bob_link}/end"))
        .await
        .assert_error(409, "not_open");
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'care_team.end'")
            .await,
        2
    );

    // A patient may withdraw a request that is still pending.
    let pending = app.request_link(&eve, &dr).await;
    let r = eve
        .post_empty(&format!("/api/care-team/links/{pending}/end"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(link_status(&app, pending).await, "ended");
    dr.post_empty(&format!("/api/care-team/requests/{pending}/approve"))
        .await
        .assert_error(409, "not_pending");
    assert_eq!(link_status(&app, pending).await, "ended");
}

#[tokio::test]
async fn registration_naming_a_clinician_opens_a_pending_request() {
    let app = TestApp::new().await;
    let dr = app.clinician("drbob").await;
    let _bob = app.patient("bob").await;
    pending_clinician(&app, "drnew").await;
    let register = |username: &str, clinician: &str| {
        json!({
            "username": username,
            "password": PASSWORD,
            "pin": PIN,
            "email": format!("{username}@example.org"),
            "display_name": format!("Patient {username}"),
            "clinician": clinician,
        })
    };

    let alice = app.client();
    let r = alice
        .post("/api/auth/register", register("alice", "DrBob"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let alice_id = app.user_id("alice").await;
    let dr_id = app.user_id("drbob").await;
    assert_eq!(
        app.text(&format!(
            "SELECT status FROM care_links WHERE patient_id = {alice_id} \
             AND clinician_id = {dr_id}"
        ))
        .await
        .as_deref(),
        Some("pending")
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM care_links").await, 1);
    assert_eq!(notification_kinds(&app, "drbob").await, ["care_request"]);
    assert_eq!(
        notification_kinds(&app, "alice").await,
        ["care_request_sent"]
    );
    let r = alice.get("/api/care-team").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["links"][0]["status"], "pending");
    assert_eq!(r.body["links"][0]["clinician"]["username"], "drbob");
    let r = dr.get("/api/care-team").await;
    assert_eq!(r.body["links"][0]["patient"]["username"], "alice");
    assert_eq!(dr.get(&mood_of("alice")).await.body, not_found_body());

    // A clinician who cannot be asked refuses the whole registration.
    for (username, clinician) in [("carl", "nobody"), ("dina", "drnew"), ("emil", "bob")] {
        let r = app
            .client()
            .post("/api/auth/register", register(username, clinician))
            .await;
        r.assert_error(400, "invalid_field");
        assert_eq!(r.body["field"], "clinician");
        assert_eq!(
            app.scalar(&format!(
                "SELECT COUNT(*) FROM users WHERE username_lower = '{username}'"
            ))
            .await,
            0,
            "{username} must not be created"
        );
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM care_links").await, 1);
}

#[tokio::test]
async fn notifications_list_mark_read_delete_and_clear_only_ones_own() {
    let app = TestApp::new().await;
    let dr = app.clinician("drbob").await;
    let alice = app.patient("alice").await;
    let link = app.link(&alice, &dr).await;
    let r = alice
        .post_empty(&format!("/api/care-team/links/{link}/end"))
        .await;
    assert_eq!(r.status, 200);

    let r = alice.get("/api/notifications").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["unread"], 3);
    let list = r.body["notifications"].as_array().unwrap().clone();
    let kinds: Vec<&str> = list.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["care_ended", "care_approved", "care_request_sent"]);
    assert!(list.iter().all(|n| n["read"] == false));
    let ids: Vec<i64> = list.iter().map(|n| n["id"].as_i64().unwrap()).collect();
    let (ended, approved, sent) = (ids[0], ids[1], ids[2]);
    let read_at = |id: i64| format!("SELECT read_at FROM notifications WHERE id = {id}");
    let exists = |id: i64| format!("SELECT COUNT(*) FROM notifications WHERE id = {id}");

    let r = alice
        .post_empty(&format!("/api/notifications/{sent}/read"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({ "id": sent, "read": true }));
    let first_read = app.scalar(&read_at(sent)).await;
    let r = alice.get("/api/notifications").await;
    assert_eq!(r.body["unread"], 2);
    assert_eq!(r.body["notifications"][2]["read"], true);
    // Marking again keeps the first time it was read.
    app.clock().advance(600);
    let r = alice
        .post_empty(&format!("/api/notifications/{sent}/read"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(app.scalar(&read_at(sent)).await, first_read);

    // The clinician cannot touch alice's notifications, nor can anyone
    // without a session.
    let dr_notes = notification_kinds(&app, "drbob").await.len();
    for id in [approved, ended] {
        let r = dr
            .post_empty(&format!("/api/notifications/{id}/read"))
            .await;
        assert_eq!(r.status, 404);
        assert_eq!(r.body, not_found_body());
        let r = dr.delete(&format!("/api/notifications/{id}")).await;
        assert_eq!(r.body, not_found_body());
        assert_eq!(
            app.text(&format!(
                "SELECT CAST(read_at AS TEXT) FROM notifications WHERE id = {id}"
            ))
            .await,
            None,
            "still unread"
        );
        assert_eq!(app.scalar(&exists(id)).await, 1, "still there");
    }
    let r = dr.get("/api/notifications").await;
    assert_eq!(r.body["notifications"].as_array().unwrap().len(), dr_notes);
    assert!(
        r.body["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| !ids.contains(&n["id"].as_i64().unwrap()))
    );
    app.client()
        .get("/api/notifications")
        .await
        .assert_error(401, "unauthorized");
    let r = alice
        .post_empty(&format!("/api/notifications/{}/read", ended + 1000))
        .await;
    assert_eq!(r.body, not_found_body());

    // Delete one of her own.
    let r = alice
        .delete(&format!("/api/notifications/{approved}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({ "deleted": 1 }));
    assert_eq!(app.scalar(&exists(approved)).await, 0);
    let r = alice
        .delete(&format!("/api/notifications/{approved}"))
        .await;
    assert_eq!(r.status, 404);

    // Clear-read removes only her read ones; the clinician's read
    // notification stays.
    let dr_first = app
        .scalar(&format!(
            "SELECT MIN(id) FROM notifications WHERE user_id = {}",
            app.user_id("drbob").await
        ))
        .await;
    assert_eq!(
        dr.post_empty(&format!("/api/notifications/{dr_first}/read"))
            .await
            .status,
        200
    );
    let r = alice.post_empty("/api/notifications/clear-read").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({ "deleted": 1 }));
    assert_eq!(app.scalar(&exists(sent)).await, 0);
    assert_eq!(app.scalar(&exists(ended)).await, 1);
    assert_eq!(app.scalar(&exists(dr_first)).await, 1);
    let r = alice.get("/api/notifications").await;
    assert_eq!(r.body["unread"], 1);
    assert_eq!(r.body["notifications"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["notifications"][0]["id"], ended);
    let r = alice.post_empty("/api/notifications/clear-read").await;
    assert_eq!(r.body, json!({ "deleted": 0 }));
    let r = dr.get("/api/notifications").await;
    assert_eq!(r.body["notifications"].as_array().unwrap().len(), dr_notes);
    assert_eq!(r.body["unread"], dr_notes - 1);
}

#[tokio::test]
async fn a_developer_has_no_place_in_the_care_team() {
    let app = TestApp::new().await;
    let dev = app.developer("ops").await;
    let dr = app.clinician("drbob").await;
    let alice = app.patient("alice").await;
    let id = app.request_link(&alice, &dr).await;

    let r = dev.get("/api/care-team").await;
    r.assert_error(403, "forbidden");
    dev.post("/api/care-team/requests", json!({ "clinician": "drbob" }))
        .await
        .assert_error(403, "forbidden");
    dev.post_empty(&format!("/api/care-team/requests/{id}/approve"))
        .await
        .assert_error(403, "forbidden");
    dev.get(&mood_of("alice"))
        .await
        .assert_error(403, "forbidden");
    dev.get("/api/clinician/patients")
        .await
        .assert_error(403, "forbidden");
    assert_eq!(link_status(&app, id).await, "pending");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM care_links").await, 1);
    assert_eq!(record_reads(&app).await, 0);
}

#[tokio::test]
async fn the_unread_count_covers_every_notification_not_only_the_listed_ones() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let id = app.user_id("alice").await;
    // More notifications than one listing returns.
    app.exec(&format!(
        "INSERT INTO notifications (user_id, kind, message, created_at) \
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 250) \
         SELECT {id}, 'test', 'seeded', 0 FROM n"
    ))
    .await;
    let r = alice.get("/api/notifications").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["notifications"].as_array().unwrap().len(), 200);
    assert_eq!(r.body["unread"], 250);

    let oldest = app
        .scalar(&format!(
            "SELECT MIN(id) FROM notifications WHERE user_id = {id}"
        ))
        .await;
    let r = alice
        .post_empty(&format!("/api/notifications/{oldest}/read"))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(alice.get("/api/notifications").await.body["unread"], 249);
}

#[tokio::test]
async fn a_clinician_sees_no_patient_before_totp_enrolment_and_activation() {
    let app = TestApp::new().await;
    // An activated clinician who has not enrolled TOTP yet can already be
    // asked for care.
    let mut dr = app.client();
    let r = dr
        .post(
            "/api/auth/register/clinician",
            json!({
                "username": "drbob",
                "password": PASSWORD,
                "pin": PIN,
                "email": "drbob@example.org",
                "display_name": "Dr drbob",
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    dr.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
    dr.username = "drbob".into();
    app.exec("UPDATE users SET status = 'active' WHERE username_lower = 'drbob'")
        .await;
    let alice = app.patient("alice").await;
    let id = app.request_link(&alice, &dr).await;

    // Who asked is patient data: nothing names alice until TOTP is on.
    for r in [
        dr.get("/api/care-team").await,
        dr.get("/api/notifications").await,
        dr.get("/api/clinician/patients").await,
        dr.post_empty(&format!("/api/care-team/requests/{id}/approve"))
            .await,
        dr.post_empty(&format!("/api/care-team/links/{id}/end"))
            .await,
    ] {
        r.assert_error(403, "totp_required");
        assert!(!r.text.contains("alice"), "{}", r.text);
    }
    assert_eq!(link_status(&app, id).await, "pending");

    app.enrol_totp(&mut dr).await;
    let r = dr.get("/api/care-team").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["links"][0]["patient"]["username"], "alice");
    let r = dr.get("/api/notifications").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["unread"], 1);

    // Put back to pending by an operator: the same holds.
    app.exec("UPDATE users SET status = 'pending' WHERE username_lower = 'drbob'")
        .await;
    for r in [
        dr.get("/api/care-team").await,
        dr.get("/api/notifications").await,
        dr.post_empty(&format!("/api/care-team/links/{id}/end"))
            .await,
    ] {
        r.assert_error(403, "clinician_not_active");
    }
    assert_eq!(link_status(&app, id).await, "pending");
}

#[tokio::test]
async fn the_access_log_tells_apart_clinicians_with_the_same_name() {
    let app = TestApp::new().await;
    let smith = app.clinician("drsmith").await;
    let other = app.clinician("drsmith2").await;
    // Display names are free text: the second clinician takes the first's.
    app.exec("UPDATE users SET display_name = 'Dr Smith' WHERE role = 'clinician'")
        .await;
    let alice = app.patient("alice").await;
    app.link(&alice, &smith).await;
    app.link(&alice, &other).await;
    assert_eq!(other.get(&mood_of("alice")).await.status, 200);
    assert_eq!(smith.get(&mood_of("alice")).await.status, 200);

    let r = alice.get("/api/me/access-log").await;
    let entries = r.body["entries"].as_array().unwrap();
    let who: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["by"].as_str().unwrap(), e["username"].as_str().unwrap()))
        .collect();
    assert_eq!(who, [("Dr Smith", "drsmith"), ("Dr Smith", "drsmith2")]);
}
