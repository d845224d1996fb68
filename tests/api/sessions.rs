//! Server-side sessions (SPEC §2): fixation, logout, hashed ids, timeouts,
//! and every event that must end a user's sessions at once.

use healing_space::crypto::sha256_hex;
use serde_json::json;

use crate::support::*;

const IDLE: i64 = 2 * 3600;
const ABSOLUTE: i64 = 12 * 3600;

/// Number of session rows the user has.
async fn sessions_of(app: &TestApp, username: &str) -> i64 {
    let id = app.user_id(username).await;
    app.scalar(&format!(
        "SELECT COUNT(*) FROM sessions WHERE user_id = {id}"
    ))
    .await
}

/// Whether a sessions row exists for this cookie value.
async fn row_exists(app: &TestApp, cookie: &str) -> bool {
    app.scalar(&format!(
        "SELECT COUNT(*) FROM sessions WHERE id_hash = '{}'",
        sha256_hex(cookie)
    ))
    .await
        == 1
}

/// A new anonymous client carrying `cookie` and nothing else, as a thief
/// replaying a copied cookie would.
fn replay(app: &TestApp, cookie: &str) -> Client {
    let c = app.client();
    c.set_session_cookie(cookie);
    c
}

#[tokio::test]
async fn planted_cookie_neither_authenticates_nor_survives_login() {
    let app = TestApp::new().await;
    drop(app.patient("alice").await);
    let planted = healing_space::crypto::random_token(32);
    replay(&app, &planted)
        .get("/api/auth/session")
        .await
        .assert_error(401, "session_expired");

    // The victim's browser carries the planted cookie into the login.
    let mut victim = replay(&app, &planted);
    assert_eq!(victim.session_cookie().as_deref(), Some(planted.as_str()));
    let r = victim.login_pin("alice", PASSWORD, PIN).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let issued = victim
        .session_cookie()
        .expect("a session cookie after login");
    assert_ne!(issued, planted, "login must issue a fresh session id");
    assert!(row_exists(&app, &issued).await);
    assert!(!row_exists(&app, &planted).await);

    // The attacker, who knows only the planted value, gets nothing.
    let r = replay(&app, &planted).get("/api/auth/session").await;
    r.assert_error(401, "session_expired");
    let r = victim.get("/api/auth/session").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["user"]["username"], "alice");
}

#[tokio::test]
async fn login_while_logged_in_replaces_the_old_session() {
    let app = TestApp::new().await;
    let mut alice = app.patient("alice").await;
    let old = alice.session_cookie().unwrap();
    let old_csrf = alice.csrf.clone().unwrap();

    let r = alice.login_pin("alice", PASSWORD, PIN).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let new = alice.session_cookie().unwrap();
    assert_ne!(new, old);
    assert_ne!(
        alice.csrf.clone().unwrap(),
        old_csrf,
        "a new CSRF token too"
    );
    assert!(!row_exists(&app, &old).await);
    assert_eq!(sessions_of(&app, "alice").await, 1);

    let r = replay(&app, &old).get("/api/auth/session").await;
    r.assert_error(401, "session_expired");
    assert_eq!(alice.get("/api/auth/session").await.status, 200);
}

#[tokio::test]
async fn logging_in_as_someone_else_ends_the_previous_users_session() {
    let app = TestApp::new().await;
    drop(app.patient("bob").await);
    let mut shared = app.patient("alice").await;
    let alices = shared.session_cookie().unwrap();

    let r = shared.login_pin("bob", PASSWORD, PIN).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user"]["username"], "bob");
    assert_eq!(sessions_of(&app, "alice").await, 0);
    let r = replay(&app, &alices).get("/api/auth/session").await;
    r.assert_error(401, "session_expired");
}

#[tokio::test]
async fn logout_deletes_the_session_and_its_cookie_cannot_be_replayed() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let cookie = alice.session_cookie().unwrap();
    assert!(row_exists(&app, &cookie).await);

    let r = alice.post_empty("/api/auth/logout").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({ "status": "logged_out" }));
    let set_cookie = r.header("set-cookie").unwrap();
    assert!(
        set_cookie.starts_with("hs_session=;") && set_cookie.contains("Max-Age=0"),
        "the browser is told to drop the cookie: {set_cookie}"
    );
    assert!(!row_exists(&app, &cookie).await);
    assert_eq!(sessions_of(&app, "alice").await, 0);

    // The browser forgot the cookie, so it is simply anonymous now.
    alice
        .get("/api/auth/session")
        .await
        .assert_error(401, "unauthorized");
    // A copy of the old value is worthless, for reads and writes alike.
    // Each attempt starts from a new client, because a refusal also tells
    // the client's jar to drop the cookie and a thief would not oblige.
    let r = replay(&app, &cookie).get("/api/auth/session").await;
    r.assert_error(401, "session_expired");
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    replay(&app, &cookie)
        .post_empty("/api/auth/logout")
        .await
        .assert_error(401, "session_expired");
    replay(&app, &cookie)
        .post("/api/mood", json!({ "mood": 5 }))
        .await
        .assert_error(401, "session_expired");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mood_entries").await, 0);
}

#[tokio::test]
async fn only_a_hash_of_the_session_id_is_stored() {
    let app = TestApp::new().await;
    drop(app.patient("alice").await);
    let mut c = app.client();
    let r = c.login_pin("alice", PASSWORD, PIN).await;
    assert_eq!(r.status, 200);
    let cookie = c.session_cookie().unwrap();

    // 256 random bits, base64url without padding.
    assert_eq!(cookie.len(), 43, "{cookie}");
    assert!(
        cookie
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let set_cookie = r.header("set-cookie").unwrap();
    assert_eq!(
        set_cookie,
        format!("hs_session={cookie}; HttpOnly; SameSite=Lax; Path=/; Max-Age={ABSOLUTE}")
    );

    assert!(row_exists(&app, &cookie).await, "found by its SHA-256");
    let leaks = app
        .scalar(&format!(
            "SELECT COUNT(*) FROM sessions WHERE id_hash = '{cookie}' \
             OR csrf_token = '{cookie}'"
        ))
        .await;
    assert_eq!(leaks, 0, "the cookie value itself is nowhere in sessions");
}

#[tokio::test]
async fn an_idle_session_ends_after_two_hours() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let cookie = alice.session_cookie().unwrap();

    app.clock().advance(IDLE + 1);
    let r = alice.get("/api/auth/session").await;
    r.assert_error(401, "session_expired");
    assert!(!row_exists(&app, &cookie).await, "the row is removed");
    // The browser is told to drop the dead cookie.
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
}

#[tokio::test]
async fn activity_just_before_the_idle_limit_keeps_the_session() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let id = app.user_id("alice").await;

    for _ in 0..3 {
        app.clock().advance(IDLE - 60);
        let r = alice.get("/api/auth/session").await;
        assert_eq!(r.status, 200, "{}", r.text);
        let seen = app
            .scalar(&format!(
                "SELECT last_seen_at FROM sessions WHERE user_id = {id}"
            ))
            .await;
        assert!(app.clock().now() - seen < 5, "activity is recorded");
    }
    // Then a quiet spell of two hours ends it.
    app.clock().advance(IDLE);
    alice
        .get("/api/auth/session")
        .await
        .assert_error(401, "session_expired");
    assert_eq!(sessions_of(&app, "alice").await, 0);
}

#[tokio::test]
async fn a_session_ends_after_twelve_hours_however_active() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;

    for hour in 1..12 {
        app.clock().advance(3600);
        let r = alice.get("/api/auth/session").await;
        assert_eq!(r.status, 200, "hour {hour}: {}", r.text);
    }
    app.clock().advance(3600);
    alice
        .get("/api/auth/session")
        .await
        .assert_error(401, "session_expired");
    assert_eq!(sessions_of(&app, "alice").await, 0);
    // A fresh login works again.
    let mut again = app.client();
    assert_eq!(again.login_pin("alice", PASSWORD, PIN).await.status, 200);
}

#[tokio::test]
async fn password_change_ends_every_session_and_hands_the_caller_a_new_one() {
    let app = TestApp::new().await;
    let mut alice = app.patient("alice").await;
    let mut phone = app.client();
    assert_eq!(phone.login_pin("alice", PASSWORD, PIN).await.status, 200);
    let old = alice.session_cookie().unwrap();
    assert_eq!(sessions_of(&app, "alice").await, 2);

    let new_password = "N3w!passphrase";
    let r = alice
        .post(
            "/api/auth/password",
            json!({ "current_password": PASSWORD, "new_password": new_password }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user"]["username"], "alice");
    alice.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
    let fresh = alice.session_cookie().unwrap();
    assert_ne!(fresh, old);
    assert_eq!(sessions_of(&app, "alice").await, 1);
    assert!(row_exists(&app, &fresh).await);

    phone
        .get("/api/auth/session")
        .await
        .assert_error(401, "session_expired");
    replay(&app, &old)
        .get("/api/auth/session")
        .await
        .assert_error(401, "session_expired");
    let r = alice.get("/api/auth/session").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        alice.post("/api/mood", json!({ "mood": 7 })).await.status,
        201,
        "the new session and its CSRF token work for writes"
    );

    let mut c = app.client();
    c.login_pin("alice", PASSWORD, PIN)
        .await
        .assert_error(401, "invalid_credentials");
    assert_eq!(c.login_pin("alice", new_password, PIN).await.status, 200);

    let mails = app.outbox(1).await;
    assert!(
        mails.iter().any(|m| m.contains("To: alice@example.org")
            && m.contains("Subject: Your Healing Space password was changed")),
        "{mails:?}"
    );
}

#[tokio::test]
async fn a_wrong_current_password_changes_nothing() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let mut phone = app.client();
    assert_eq!(phone.login_pin("alice", PASSWORD, PIN).await.status, 200);
    let hash_sql = "SELECT password_hash FROM users WHERE username_lower = 'alice'";
    let before = app.text(hash_sql).await.unwrap();

    let r = alice
        .post(
            "/api/auth/password",
            json!({ "current_password": "Wr0ng!pass", "new_password": "N3w!passphrase" }),
        )
        .await;
    r.assert_error(400, "invalid_field");
    assert_eq!(r.body["field"], "current_password");
    // A new password that breaks the policy is refused before anything else.
    let r = alice
        .post(
            "/api/auth/password",
            json!({ "current_password": PASSWORD, "new_password": "weakpass" }),
        )
        .await;
    r.assert_error(400, "invalid_field");
    assert_eq!(r.body["field"], "new_password");

    assert_eq!(app.text(hash_sql).await.unwrap(), before);
    assert_eq!(sessions_of(&app, "alice").await, 2);
    assert_eq!(phone.get("/api/auth/session").await.status, 200);
    assert_eq!(alice.get("/api/auth/session").await.status, 200);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.password_changed'")
            .await,
        0
    );
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions_at_once() {
    let app = TestApp::new().await;
    let ops = app.developer("ops").await;
    let alice = app.patient("alice").await;
    let mut phone = app.client();
    assert_eq!(phone.login_pin("alice", PASSWORD, PIN).await.status, 200);
    assert_eq!(sessions_of(&app, "alice").await, 2);

    let r = ops.post_empty("/api/developer/users/alice/disable").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({ "username": "alice", "status": "disabled", "sessions_ended": 2 })
    );
    assert_eq!(sessions_of(&app, "alice").await, 0);
    assert_eq!(
        app.text("SELECT status FROM users WHERE username_lower = 'alice'")
            .await
            .unwrap(),
        "disabled"
    );
    alice
        .get("/api/auth/session")
        .await
        .assert_error(401, "session_expired");
    phone
        .get("/api/mood/today")
        .await
        .assert_error(401, "session_expired");

    // The right password no longer opens the account, and says no more
    // than a wrong one would.
    let mut c = app.client();
    let refused = c.login_pin("alice", PASSWORD, PIN).await;
    refused.assert_error(401, "invalid_credentials");
    let wrong = c.login_pin("alice", "Wr0ng!pass", PIN).await;
    assert_eq!(refused.body, wrong.body);
    assert_eq!(sessions_of(&app, "alice").await, 0);
}

#[tokio::test]
async fn every_request_rechecks_that_the_user_is_active() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let cookie = alice.session_cookie().unwrap();
    // Disabled behind the service's back: no session was revoked.
    app.exec("UPDATE users SET status = 'disabled' WHERE username_lower = 'alice'")
        .await;
    assert!(row_exists(&app, &cookie).await);

    alice
        .get("/api/auth/session")
        .await
        .assert_error(401, "session_expired");
    assert!(!row_exists(&app, &cookie).await);
    // Enabling the account again does not revive the ended session.
    app.exec("UPDATE users SET status = 'active' WHERE username_lower = 'alice'")
        .await;
    replay(&app, &cookie)
        .get("/api/auth/session")
        .await
        .assert_error(401, "session_expired");
}

#[tokio::test]
async fn a_deleted_users_sessions_stop_working() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let id = app.user_id("alice").await;
    app.exec(&format!("DELETE FROM users WHERE id = {id}"))
        .await;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM sessions WHERE user_id = {id}"
        ))
        .await,
        0
    );
    alice
        .get("/api/auth/session")
        .await
        .assert_error(401, "session_expired");
}

#[tokio::test]
async fn activating_a_clinician_is_a_privilege_change_that_ends_their_session() {
    let app = TestApp::new().await;
    let ops = app.developer("ops").await;
    let carol = app.client();
    let r = carol
        .post(
            "/api/auth/register/clinician",
            json!({
                "username": "drcarol",
                "password": PASSWORD,
                "pin": PIN,
                "email": "carol@example.org",
                "display_name": "Dr Carol",
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let pending = carol.session_cookie().unwrap();

    let r = ops
        .post_empty("/api/developer/clinicians/drcarol/activate")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    carol
        .get("/api/auth/session")
        .await
        .assert_error(401, "session_expired");
    assert!(!row_exists(&app, &pending).await);
    assert_eq!(sessions_of(&app, "drcarol").await, 0);
}
