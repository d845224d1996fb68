//! Registration, login, TOTP, passwords and developer functions.

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn patient_journey_register_log_mood_and_read_it_back() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let r = alice.get("/api/auth/session").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["user"]["username"], "alice");
    assert_eq!(r.body["user"]["role"], "patient");
    let r = alice
        .post("/api/mood", json!({ "mood": 6, "sleep_hours": 7.5 }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = alice.get("/api/mood/today").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["entry"]["mood"], 6);
    assert_eq!(r.body["entry"]["sleep_hours"], 7.5);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mood_entries").await, 1);
}

#[tokio::test]
async fn clinician_journey_activated_enrolled_linked_reads_patient_mood() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let dr = app.clinician("drbob").await;
    let r = alice
        .post("/api/mood", json!({ "mood": 4, "note": "tired" }))
        .await;
    assert_eq!(r.status, 201);
    app.link(&alice, &dr).await;
    let r = dr.get("/api/clinician/patients/alice/mood").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["entries"][0]["mood"], 4);
    let r = alice.get("/api/me/access-log").await;
    assert_eq!(r.body["entries"][0]["by"], "Dr drbob");
    assert_eq!(r.body["entries"][0]["resource"], "mood");
    // A fresh login needs the TOTP code, not the PIN.
    let mut again = app.client();
    again.totp_secret = dr.totp_secret.clone();
    let r = again.login_pin("drbob", PASSWORD, PIN).await;
    r.assert_error(401, "invalid_credentials");
    let code = app.next_totp(&again);
    let r = again.login_totp("drbob", PASSWORD, &code).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = again.get("/api/clinician/patients").await;
    assert_eq!(r.body["patients"][0]["username"], "alice");
}
