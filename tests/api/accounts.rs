//! Registration, login, TOTP, passwords and developer functions.

use serde_json::{Value, json};

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

// ---------------------------------------------------------------- helpers

const OTHER_PASSWORD: &str = "0ther!Secret";

fn valid_registration(username: &str) -> Value {
    json!({
        "username": username,
        "password": PASSWORD,
        "pin": PIN,
        "email": format!("{username}@example.org"),
        "display_name": "Somebody",
    })
}

/// The registration body with one field replaced.
fn registration_with(field: &str, value: Value) -> Value {
    let mut body = valid_registration("newbie");
    body[field] = value;
    body
}

/// Mails in the outbox that contain every one of `needles`.
fn mails_with<'a>(mails: &'a [String], needles: &[&str]) -> Vec<&'a String> {
    mails
        .iter()
        .filter(|m| needles.iter().all(|n| m.contains(n)))
        .collect()
}

/// The reset token in a reset mail: the one 43-character base64url word.
fn reset_token(mail: &str) -> String {
    let words: Vec<&str> = mail
        .split_whitespace()
        .filter(|w| {
            w.len() == 43
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .collect();
    assert_eq!(words.len(), 1, "one token in: {mail}");
    words[0].to_owned()
}

/// The six digits after "code is " in a verification mail.
fn verification_code(mail: &str) -> String {
    let (_, rest) = mail.split_once("code is ").expect("a code in the mail");
    let code: String = rest.chars().take(6).collect();
    assert!(code.bytes().all(|b| b.is_ascii_digit()), "{mail}");
    code
}

/// A six-digit code that is not `code`.
fn other_code(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

async fn user_count(app: &TestApp) -> i64 {
    app.scalar("SELECT COUNT(*) FROM users").await
}

async fn audit_count(app: &TestApp, action: &str, outcome: &str) -> i64 {
    app.scalar(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = '{action}' AND outcome = '{outcome}'"
    ))
    .await
}

/// Audit rows whose `column` (an SQL text expression) contains `needle`.
async fn audit_rows_containing(app: &TestApp, column: &str, needle: &str) -> i64 {
    app.scalar(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE {column} LIKE '%{}%'",
        needle.replace('\'', "''")
    ))
    .await
}

/// How long the current lock of `key` lasts, as stored: the lock's end
/// minus the moment it was set, so the answer does not depend on when the
/// test reads it.
async fn lock_seconds(app: &TestApp, key: &str) -> i64 {
    app.scalar(&format!(
        "SELECT locked_until - updated_at FROM login_failures WHERE username_lower = '{key}'"
    ))
    .await
}

/// Logs in with the right password and PIN while `username` is locked,
/// and checks the refusal: 429 `account_locked`, with `retry_after` (body
/// and header) counting down to the stored end of the lock.
async fn assert_locked(app: &TestApp, username: &str) -> Resp {
    let until = app
        .scalar(&format!(
            "SELECT locked_until FROM login_failures WHERE username_lower = '{}'",
            username.to_ascii_lowercase()
        ))
        .await;
    let before = app.clock().now();
    let r = attempt(app, username, PASSWORD, PIN).await;
    let after = app.clock().now();
    r.assert_error(429, "account_locked");
    let retry = r.body["retry_after"].as_i64().unwrap();
    assert!(
        (until - after..=until - before).contains(&retry),
        "retry_after {retry}, lock ends in {}",
        until - before
    );
    assert_eq!(r.header("retry-after"), Some(retry.to_string().as_str()));
    assert_eq!(r.header("set-cookie"), None);
    r
}

/// One login attempt from a fresh client.
async fn attempt(app: &TestApp, username: &str, password: &str, pin: &str) -> Resp {
    app.client().login_pin(username, password, pin).await
}

/// A developer made the way the command line makes one, logged in with
/// the PIN and without TOTP.
async fn developer_without_totp(app: &TestApp, username: &str) -> Client {
    let hash = healing_space::crypto::hash_secret(PASSWORD.into())
        .await
        .unwrap();
    let pin = healing_space::crypto::hash_secret(PIN.into())
        .await
        .unwrap();
    healing_space::accounts::store::insert(
        &app.state.db,
        &healing_space::accounts::store::NewUser {
            username,
            role: healing_space::accounts::types::Role::Developer,
            status: "active",
            display_name: "Operator",
            email: "ops2@example.org",
            password_hash: &hash,
            pin_hash: Some(&pin),
            time_zone: "UTC",
            areas: "",
            now: app.clock().now(),
        },
    )
    .await
    .unwrap();
    let mut c = app.client();
    c.username = username.to_owned();
    assert_eq!(c.login_pin(username, PASSWORD, PIN).await.status, 200);
    c
}

/// Registers a clinician who stays pending, logged in on the returned client.
async fn pending_clinician(app: &TestApp, username: &str) -> Client {
    let mut c = app.client();
    let r = c
        .post(
            "/api/auth/register/clinician",
            json!({
                "username": username,
                "password": PASSWORD,
                "pin": PIN,
                "email": format!("{username}@example.org"),
                "display_name": format!("Dr {username}"),
                "areas": "trauma",
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    c.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
    c.username = username.to_owned();
    c
}

/// An Argon2i hash with the small parameters of an older release.
fn legacy_hash(secret: &str) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use argon2::{Algorithm, Argon2, Params, Version};
    let argon = Argon2::new(
        Algorithm::Argon2i,
        Version::V0x13,
        Params::new(4096, 1, 1, None).unwrap(),
    );
    let salt = SaltString::encode_b64(b"legacy-salt-0001").unwrap();
    argon
        .hash_password(secret.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

const CURRENT_ARGON2: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

// ----------------------------------------------------------- registration

#[tokio::test]
async fn registration_creates_an_active_patient_with_argon2id_hashes() {
    let app = TestApp::new().await;
    let c = app.client();
    let r = c
        .post("/api/auth/register", valid_registration("Alice.B-2_"))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.body["user"],
        json!({
            "username": "Alice.B-2_",
            "display_name": "Somebody",
            "role": "patient",
            "status": "active",
            "email": "Alice.B-2_@example.org",
            "email_verified": false,
            "totp_enabled": false,
            "time_zone": "UTC",
        })
    );
    assert!(r.body["csrf_token"].as_str().is_some_and(|t| t.len() == 43));
    let cookie = c.session_cookie().expect("registration logs in");
    let row = "FROM users WHERE username_lower = 'alice.b-2_'";
    let password_hash = app
        .text(&format!("SELECT password_hash {row}"))
        .await
        .unwrap();
    let pin_hash = app.text(&format!("SELECT pin_hash {row}")).await.unwrap();
    assert!(password_hash.starts_with(CURRENT_ARGON2), "{password_hash}");
    assert!(pin_hash.starts_with(CURRENT_ARGON2), "{pin_hash}");
    assert!(!password_hash.contains(PASSWORD) && !pin_hash.contains(PIN));
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM sessions WHERE id_hash = '{}'",
            healing_space::crypto::sha256_hex(&cookie)
        ))
        .await,
        1
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM users").await, 1);
}

#[tokio::test]
async fn registration_refuses_bad_usernames() {
    let app = TestApp::new().await;
    let c = app.client();
    let long = "a".repeat(33);
    for bad in [
        "ab",
        long.as_str(),
        "al ice",
        "ålice",
        "a/b",
        "alice@home",
        "",
    ] {
        let r = c
            .post(
                "/api/auth/register",
                registration_with("username", json!(bad)),
            )
            .await;
        r.assert_error(400, "invalid_field");
        assert_eq!(r.body["field"], "username", "{bad:?}: {}", r.text);
    }
    assert_eq!(user_count(&app).await, 0);
    // The limits themselves are allowed.
    let longest = "a".repeat(32);
    for good in ["abc", longest.as_str(), "A.b_c-9"] {
        // A fresh client each time: a logged-in one would need its CSRF token.
        let r = app
            .client()
            .post("/api/auth/register", valid_registration(good))
            .await;
        assert_eq!(r.status, 201, "{good}: {}", r.text);
    }
    assert_eq!(user_count(&app).await, 3);
}

#[tokio::test]
async fn usernames_are_unique_ignoring_case() {
    let app = TestApp::new().await;
    drop(app.patient("alice").await);
    for taken in ["alice", "ALICE", "aLiCe"] {
        let r = app
            .client()
            .post("/api/auth/register", valid_registration(taken))
            .await;
        r.assert_error(409, "username_taken");
        let r = app
            .client()
            .post("/api/auth/register/clinician", valid_registration(taken))
            .await;
        r.assert_error(409, "username_taken");
    }
    assert_eq!(user_count(&app).await, 1);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM sessions").await, 1);
}

#[tokio::test]
async fn registration_enforces_the_password_policy() {
    let app = TestApp::new().await;
    let c = app.client();
    let too_long = format!("Aa1!{}", "x".repeat(125));
    let cases = [
        ("Sh0rt!a", "must be 8 to 128 characters"),
        (too_long.as_str(), "must be 8 to 128 characters"),
        ("n0upper!case", "must contain"),
        ("N0LOWER!CASE", "must contain"),
        ("No!digits!here", "must contain"),
        ("N0symbolshere", "must contain"),
        ("P@ssw0rd", "too common"),
        ("Welcome123!", "too common"),
        ("Bell\u{7}in!Pass1", "control characters"),
    ];
    for (password, says) in cases {
        let r = c
            .post(
                "/api/auth/register",
                registration_with("password", json!(password)),
            )
            .await;
        r.assert_error(400, "invalid_field");
        assert_eq!(r.body["field"], "password", "{password:?}");
        let message = r.body["message"].as_str().unwrap();
        assert!(message.contains(says), "{password:?}: {message}");
        assert!(
            !message.contains(password),
            "the refusal does not echo the password"
        );
    }
    assert_eq!(user_count(&app).await, 0);
    let max = format!("Aa1!{}", "x".repeat(124));
    let mut body = registration_with("password", json!(max));
    body["username"] = json!("longpass");
    assert_eq!(c.post("/api/auth/register", body).await.status, 201);
}

#[tokio::test]
async fn registration_enforces_the_pin_rules() {
    let app = TestApp::new().await;
    let c = app.client();
    for pin in [
        json!("123"),
        json!("123456789"),
        json!("12a4"),
        json!(""),
        json!(4821),
    ] {
        let r = c
            .post("/api/auth/register", registration_with("pin", pin.clone()))
            .await;
        r.assert_error(400, "invalid_field");
        assert_eq!(r.body["field"], "pin", "{pin}");
    }
    assert_eq!(user_count(&app).await, 0);
    for (name, pin) in [("fourpin", "0000"), ("eightpin", "12345678")] {
        let mut body = valid_registration(name);
        body["pin"] = json!(pin);
        let r = app.client().post("/api/auth/register", body).await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
}

#[tokio::test]
async fn a_client_cannot_choose_its_role_or_status() {
    let app = TestApp::new().await;
    let c = app.client();
    for (path, field, value) in [
        ("/api/auth/register", "role", json!("developer")),
        ("/api/auth/register", "role", json!("clinician")),
        ("/api/auth/register", "status", json!("active")),
        ("/api/auth/register/clinician", "role", json!("developer")),
        ("/api/auth/register/clinician", "status", json!("active")),
        ("/api/auth/register", "id", json!(1)),
    ] {
        let mut body = valid_registration("sneaky");
        body[field] = value;
        let r = c.post(path, body).await;
        r.assert_error(400, "unknown_field");
        assert_eq!(r.body["field"], field);
    }
    assert_eq!(user_count(&app).await, 0);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM sessions").await, 0);
    assert_eq!(c.session_cookie(), None);
}

#[tokio::test]
async fn a_registered_clinician_waits_for_activation() {
    let app = TestApp::new().await;
    let carol = pending_clinician(&app, "drcarol").await;
    let r = carol.get("/api/me").await;
    assert_eq!(r.body["role"], "clinician");
    assert_eq!(r.body["status"], "pending");
    let r = app.client().get("/api/clinicians").await;
    assert_eq!(r.body, json!({ "clinicians": [] }));
    let r = carol.get("/api/clinician/patients").await;
    r.assert_error(403, "clinician_not_active");
}

// ------------------------------------------------------------------ login

#[tokio::test]
async fn every_failed_login_looks_the_same() {
    let app = TestApp::new().await;
    drop(app.patient("alice").await);
    let dr = app.clinician("drbob").await;
    drop(app.patient("mallory").await);
    app.exec("UPDATE users SET status = 'disabled' WHERE username_lower = 'mallory'")
        .await;
    let code = app.next_totp(&dr);

    let mut failures = vec![
        ("unknown user", attempt(&app, "nobody", PASSWORD, PIN).await),
        (
            "wrong password",
            attempt(&app, "alice", "Wr0ng!pass", PIN).await,
        ),
        ("wrong pin", attempt(&app, "alice", PASSWORD, "9999").await),
        (
            "disabled user",
            attempt(&app, "mallory", PASSWORD, PIN).await,
        ),
        (
            "pin for a totp user",
            attempt(&app, "drbob", PASSWORD, PIN).await,
        ),
        (
            "wrong password for a totp user",
            app.client().login_totp("drbob", "Wr0ng!pass", &code).await,
        ),
    ];
    let r = app
        .client()
        .post(
            "/api/auth/login",
            json!({ "username": "alice", "password": PASSWORD }),
        )
        .await;
    failures.push(("missing pin", r));
    let r = app
        .client()
        .post(
            "/api/auth/login",
            json!({ "username": "alice", "password": PASSWORD, "pin": PIN, "totp_code": "123456" }),
        )
        .await;
    failures.push(("pin and totp together", r));

    let (_, first) = &failures[0];
    first.assert_error(401, "invalid_credentials");
    assert_eq!(first.body["message"], "invalid credentials");
    assert_eq!(
        first.body.as_object().unwrap().len(),
        2,
        "nothing but error and message: {}",
        first.text
    );
    for (case, r) in &failures {
        assert_eq!(r.status, 401, "{case}: {}", r.text);
        assert_eq!(r.body, first.body, "{case}");
        assert_eq!(r.header("set-cookie"), None, "{case}");
    }
    assert_eq!(audit_count(&app, "auth.login", "failed").await, 8);
    // Only the sessions from registration: alice, drbob and mallory's stale one.
    assert_eq!(app.scalar("SELECT COUNT(*) FROM sessions").await, 3);
}

#[tokio::test]
async fn usernames_log_in_ignoring_case() {
    let app = TestApp::new().await;
    drop(app.patient("Alice").await);
    let mut c = app.client();
    let r = c.login_pin("ALICE", PASSWORD, PIN).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user"]["username"], "Alice");
}

#[tokio::test]
async fn ten_failures_lock_the_account_for_fifteen_minutes() {
    let app = TestApp::new().await;
    drop(app.patient("alice").await);
    drop(app.patient("bob").await);

    for n in 1..=10 {
        let r = attempt(&app, "alice", "Wr0ng!pass", PIN).await;
        r.assert_error(401, "invalid_credentials");
        if n < 10 {
            let failures = app
                .scalar("SELECT failures FROM login_failures WHERE username_lower = 'alice'")
                .await;
            assert_eq!(failures, n);
        }
    }
    let row = "FROM login_failures WHERE username_lower = 'alice'";
    assert_eq!(lock_seconds(&app, "alice").await, 15 * 60);
    assert_eq!(app.scalar(&format!("SELECT lock_count {row}")).await, 1);
    assert_eq!(app.scalar(&format!("SELECT failures {row}")).await, 0);

    // Even the right password and PIN are turned away.
    let r = assert_locked(&app, "alice").await;
    let retry = r.body["retry_after"].as_i64().unwrap();
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM sessions WHERE user_id = (SELECT id FROM users \
             WHERE username_lower = 'alice')"
        )
        .await,
        1,
        "only the session from registration"
    );
    // A locked account's attempts are not counted further.
    assert_eq!(app.scalar(&format!("SELECT failures {row}")).await, 0);
    assert_eq!(audit_count(&app, "auth.login", "failed").await, 9);
    assert_eq!(
        audit_count(&app, "auth.login", "failed_and_locked").await,
        1
    );
    assert_eq!(audit_count(&app, "auth.login", "locked").await, 1);

    // Nobody else is affected.
    assert_eq!(attempt(&app, "bob", PASSWORD, PIN).await.status, 200);

    let mails = app.outbox(1).await;
    let locks = mails_with(
        &mails,
        &[
            "To: alice@example.org",
            "Subject: Your Healing Space account was locked",
            "locked for 15 minutes",
        ],
    );
    assert_eq!(locks.len(), 1, "{mails:?}");
    assert!(!locks[0].contains(PASSWORD));

    // Still locked a second before the end; open after it.
    app.clock().advance(retry - 2);
    attempt(&app, "alice", PASSWORD, PIN)
        .await
        .assert_error(429, "account_locked");
    app.clock().advance(3);
    let r = attempt(&app, "alice", PASSWORD, PIN).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.scalar(&format!("SELECT COUNT(*) {row}")).await,
        0,
        "a successful login clears the failures"
    );
}

#[tokio::test]
async fn the_next_lock_lasts_twice_as_long() {
    let app = TestApp::new().await;
    drop(app.patient("alice").await);
    let row = "FROM login_failures WHERE username_lower = 'alice'";

    for _ in 0..10 {
        attempt(&app, "alice", "Wr0ng!pass", PIN).await;
    }
    assert_locked(&app, "alice").await;
    app.clock().advance(901);
    // Failures after the first lock ends, with mixed case: the same account.
    for n in 0..10 {
        let name = if n % 2 == 0 { "ALICE" } else { "alice" };
        attempt(&app, name, "Wr0ng!pass", PIN)
            .await
            .assert_error(401, "invalid_credentials");
    }
    assert_eq!(app.scalar(&format!("SELECT lock_count {row}")).await, 2);
    assert_eq!(lock_seconds(&app, "alice").await, 30 * 60);
    assert_locked(&app, "alice").await;

    let mails = app.outbox(2).await;
    assert_eq!(
        mails_with(&mails, &["To: alice@example.org", "locked for 30 minutes"]).len(),
        1,
        "{mails:?}"
    );

    app.clock().advance(1801);
    let r = attempt(&app, "alice", PASSWORD, PIN).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(app.scalar(&format!("SELECT COUNT(*) {row}")).await, 0);
}

#[tokio::test]
async fn locks_double_up_to_twenty_four_hours() {
    // One failure per lock keeps the test short; the doubling is the same.
    let app = TestApp::with(|c| c.lockout.threshold = 1).await;
    drop(app.patient("alice").await);
    let mut seen = Vec::new();
    for _ in 0..9 {
        attempt(&app, "alice", "Wr0ng!pass", PIN)
            .await
            .assert_error(401, "invalid_credentials");
        let lock = lock_seconds(&app, "alice").await;
        seen.push(lock / 60);
        app.clock().advance(lock + 1);
    }
    assert_eq!(seen, [15, 30, 60, 120, 240, 480, 960, 1440, 1440]);
}

#[tokio::test]
async fn unknown_usernames_lock_exactly_like_real_ones() {
    let app = TestApp::new().await;
    drop(app.patient("alice").await);
    for _ in 0..10 {
        attempt(&app, "alice", "Wr0ng!pass", PIN)
            .await
            .assert_error(401, "invalid_credentials");
        attempt(&app, "ghost", "Wr0ng!pass", PIN)
            .await
            .assert_error(401, "invalid_credentials");
    }
    assert_eq!(lock_seconds(&app, "alice").await, 15 * 60);
    assert_eq!(lock_seconds(&app, "ghost").await, 15 * 60);
    let real = assert_locked(&app, "alice").await;
    let ghost = assert_locked(&app, "ghost").await;
    let strip = |r: &Resp| {
        let mut body = r.body.clone();
        body.as_object_mut().unwrap().remove("retry_after");
        body
    };
    assert_eq!(strip(&real), strip(&ghost));
    assert_eq!(
        app.scalar("SELECT lock_count FROM login_failures WHERE username_lower = 'ghost'")
            .await,
        1
    );
    assert_eq!(
        audit_count(&app, "auth.login", "failed_and_locked").await,
        2
    );
}

// ------------------------------------------------------------------- TOTP

#[tokio::test]
async fn totp_enrolment_gives_ten_recovery_codes_and_a_new_session() {
    let app = TestApp::new().await;
    let mut alice = app.patient("alice").await;
    let before = alice.session_cookie().unwrap();
    let row = "FROM users WHERE username_lower = 'alice'";

    let r = alice.post_empty("/api/auth/totp/enrol").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32, "160 bits in Base32");
    assert_eq!(
        r.body["otpauth_uri"],
        format!(
            "otpauth://totp/Healing%20Space:alice?secret={secret}&issuer=Healing%20Space\
             &algorithm=SHA1&digits=6&period=30"
        )
    );
    assert_eq!(
        app.text(&format!("SELECT totp_pending {row}")).await,
        Some(secret.clone())
    );
    assert_eq!(app.text(&format!("SELECT totp_secret {row}")).await, None);

    let now = app.clock().now();
    let wrong = other_code(&healing_space::crypto::totp::code_at(&secret, now).unwrap());
    let r = alice
        .post(
            "/api/auth/totp/confirm",
            json!({ "code": wrong, "password": PASSWORD }),
        )
        .await;
    r.assert_error(400, "invalid_field");
    assert_eq!(r.body["field"], "code");
    assert_eq!(app.text(&format!("SELECT totp_secret {row}")).await, None);

    let code = healing_space::crypto::totp::code_at(&secret, now).unwrap();
    let r = alice
        .post(
            "/api/auth/totp/confirm",
            json!({ "code": code, "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["user"]["totp_enabled"], true);
    let codes: Vec<String> = r.body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let mut distinct = codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 10);
    for c in &codes {
        assert_eq!(c.len(), 14, "{c}");
        assert!(
            c.split('-')
                .all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_digit()))
        );
    }
    alice.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
    let after = alice.session_cookie().unwrap();
    assert_ne!(after, before, "enrolment is a privilege change");
    let thief = app.client();
    thief.set_session_cookie(&before);
    thief
        .get("/api/auth/session")
        .await
        .assert_error(401, "session_expired");
    assert_eq!(alice.get("/api/auth/session").await.status, 200);

    assert_eq!(
        app.text(&format!("SELECT totp_secret {row}")).await,
        Some(secret)
    );
    assert_eq!(app.text(&format!("SELECT totp_pending {row}")).await, None);
    let id = app.user_id("alice").await;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = {id} AND used_at IS NULL"
        ))
        .await,
        10
    );
    for c in &codes {
        let digits = c.replace('-', "");
        let stored = app
            .scalar(&format!(
                "SELECT COUNT(*) FROM recovery_codes WHERE code_hash = '{}'",
                healing_space::crypto::sha256_hex(&digits)
            ))
            .await;
        assert_eq!(stored, 1, "only the hash is kept");
        let plain = app
            .scalar(&format!(
                "SELECT COUNT(*) FROM recovery_codes WHERE code_hash = '{c}' \
                 OR code_hash = '{digits}'"
            ))
            .await;
        assert_eq!(plain, 0);
    }
    assert_eq!(audit_count(&app, "auth.totp_enrolled", "ok").await, 1);

    let r = alice.post_empty("/api/auth/totp/enrol").await;
    r.assert_error(409, "totp_already_enabled");
}

#[tokio::test]
async fn a_totp_code_is_accepted_once() {
    let app = TestApp::new().await;
    let dr = app.clinician("drbob").await;
    // The code that confirmed enrolment cannot log in.
    let step = app
        .scalar("SELECT totp_last_step FROM users WHERE username_lower = 'drbob'")
        .await;
    let confirmed =
        healing_space::crypto::totp::code_at_step(dr.totp_secret.as_ref().unwrap(), step).unwrap();
    app.client()
        .login_totp("drbob", PASSWORD, &confirmed)
        .await
        .assert_error(401, "invalid_credentials");

    let code = app.next_totp(&dr);
    let mut first = app.client();
    let r = first.login_totp("drbob", PASSWORD, &code).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.client().login_totp("drbob", PASSWORD, &code).await;
    r.assert_error(401, "invalid_credentials");
    assert_eq!(first.get("/api/clinician/patients").await.status, 200);
    // The next step's code works.
    let code = app.next_totp(&dr);
    assert_eq!(
        app.client()
            .login_totp("drbob", PASSWORD, &code)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn totp_allows_one_step_of_drift() {
    let app = TestApp::new().await;
    let dr = app.clinician("drbob").await;
    let secret = dr.totp_secret.clone().unwrap();
    // One second into a fresh step well after enrolment, so the steps the
    // test computes are the steps the server sees.
    let later = app.clock().now() + 600;
    app.clock().set(later - later % 30 + 1);
    let now = app.clock().now();
    let code_at = |t: i64| healing_space::crypto::totp::code_at(&secret, t).unwrap();

    let login = |code: String| {
        let mut c = app.client();
        async move { c.login_totp("drbob", PASSWORD, &code).await }
    };
    login(code_at(now - 60))
        .await
        .assert_error(401, "invalid_credentials");
    assert_eq!(login(code_at(now - 30)).await.status, 200);
    login(code_at(now + 60))
        .await
        .assert_error(401, "invalid_credentials");
    assert_eq!(login(code_at(now + 30)).await.status, 200);
}

#[tokio::test]
async fn a_recovery_code_works_once() {
    let app = TestApp::new().await;
    let mut alice = app.patient("alice").await;
    let codes = app.enrol_totp(&mut alice).await;
    let id = app.user_id("alice").await;
    let login = |code: &str| {
        let body = json!({ "username": "alice", "password": PASSWORD, "recovery_code": code });
        let c = app.client();
        async move { c.post("/api/auth/login", body).await }
    };

    let r = login(&codes[0]).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM recovery_codes WHERE user_id = {id} AND used_at IS NOT NULL"
        ))
        .await,
        1
    );
    login(&codes[0])
        .await
        .assert_error(401, "invalid_credentials");
    // Typed without dashes, with spaces instead: still the same code.
    let spaced = codes[1].replace('-', " ");
    assert_eq!(login(&spaced).await.status, 200);
    login(&codes[1])
        .await
        .assert_error(401, "invalid_credentials");
    login("0000-0000-0000")
        .await
        .assert_error(401, "invalid_credentials");
    // A recovery code with the PIN instead of a password is no login.
    let r = app
        .client()
        .post(
            "/api/auth/login",
            json!({ "username": "alice", "password": PASSWORD, "pin": PIN,
                    "recovery_code": codes[2] }),
        )
        .await;
    r.assert_error(401, "invalid_credentials");
}

#[tokio::test]
async fn a_pin_login_fails_once_totp_is_enrolled() {
    let app = TestApp::new().await;
    let mut alice = app.patient("alice").await;
    app.enrol_totp(&mut alice).await;
    attempt(&app, "alice", PASSWORD, PIN)
        .await
        .assert_error(401, "invalid_credentials");
    let code = app.next_totp(&alice);
    assert_eq!(
        app.client()
            .login_totp("alice", PASSWORD, &code)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_clinician_without_totp_sees_no_patients() {
    let app = TestApp::new().await;
    let ops = app.developer("ops").await;
    drop(pending_clinician(&app, "drcarol").await);
    let r = ops
        .post_empty("/api/developer/clinicians/drcarol/activate")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    let mut carol = app.client();
    assert_eq!(carol.login_pin("drcarol", PASSWORD, PIN).await.status, 200);
    carol
        .get("/api/clinician/patients")
        .await
        .assert_error(403, "totp_required");
    carol.totp_secret = None;
    app.enrol_totp(&mut carol).await;
    let r = carol.get("/api/clinician/patients").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["patients"], json!([]));
}

#[tokio::test]
async fn a_pending_clinician_sees_no_patients_even_with_totp() {
    let app = TestApp::new().await;
    let mut carol = pending_clinician(&app, "drcarol").await;
    carol
        .get("/api/clinician/patients")
        .await
        .assert_error(403, "clinician_not_active");
    app.enrol_totp(&mut carol).await;
    carol
        .get("/api/clinician/patients")
        .await
        .assert_error(403, "clinician_not_active");
}

#[tokio::test]
async fn an_older_password_hash_is_upgraded_at_login() {
    let app = TestApp::new().await;
    drop(app.patient("alice").await);
    let legacy_password = legacy_hash(PASSWORD);
    let legacy_pin = legacy_hash(PIN);
    assert!(legacy_password.starts_with("$argon2i$v=19$m=4096,t=1,p=1$"));
    sqlx::query("UPDATE users SET password_hash = $1, pin_hash = $2 WHERE username_lower = $3")
        .bind(&legacy_password)
        .bind(&legacy_pin)
        .bind("alice")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let row = "FROM users WHERE username_lower = 'alice'";

    // A failed login leaves the old hash alone.
    attempt(&app, "alice", "Wr0ng!pass", PIN)
        .await
        .assert_error(401, "invalid_credentials");
    assert_eq!(
        app.text(&format!("SELECT password_hash {row}"))
            .await
            .unwrap(),
        legacy_password
    );

    let r = attempt(&app, "alice", PASSWORD, PIN).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let password_hash = app
        .text(&format!("SELECT password_hash {row}"))
        .await
        .unwrap();
    let pin_hash = app.text(&format!("SELECT pin_hash {row}")).await.unwrap();
    assert!(password_hash.starts_with(CURRENT_ARGON2), "{password_hash}");
    assert!(pin_hash.starts_with(CURRENT_ARGON2), "{pin_hash}");
    // The upgraded hashes still open the account, and stay as they are.
    assert_eq!(attempt(&app, "alice", PASSWORD, PIN).await.status, 200);
    assert_eq!(
        app.text(&format!("SELECT password_hash {row}"))
            .await
            .unwrap(),
        password_hash
    );
}

// ------------------------------------------------------------- passwords

#[tokio::test]
async fn forgot_password_answers_the_same_for_unknown_accounts() {
    let app = TestApp::new().await;
    drop(app.patient("alice").await);
    let known = app
        .client()
        .post("/api/auth/forgot-password", json!({ "username": "alice" }))
        .await;
    let unknown = app
        .client()
        .post("/api/auth/forgot-password", json!({ "username": "nobody" }))
        .await;
    assert_eq!(known.status, 202, "{}", known.text);
    assert_eq!(unknown.status, 202);
    assert_eq!(known.body, unknown.body);
    assert_eq!(known.body["status"], "accepted");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM password_resets").await, 1);

    let mails = app.outbox(1).await;
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].contains("To: alice@example.org"));
    let token = reset_token(&mails[0]);
    let stored = app
        .text("SELECT token_hash FROM password_resets")
        .await
        .unwrap();
    assert_eq!(stored, healing_space::crypto::sha256_hex(&token));
    assert_ne!(stored, token);
}

#[tokio::test]
async fn a_reset_token_works_once_and_ends_every_session() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let mut phone = app.client();
    assert_eq!(phone.login_pin("alice", PASSWORD, PIN).await.status, 200);
    let r = app
        .client()
        .post("/api/auth/forgot-password", json!({ "username": "ALICE" }))
        .await;
    assert_eq!(r.status, 202);
    let token = reset_token(mails_with(&app.outbox(1).await, &["Reset your"])[0]);
    let anon = app.client();

    let r = anon
        .post(
            "/api/auth/reset-password",
            json!({ "token": healing_space::crypto::random_token(32),
                    "new_password": OTHER_PASSWORD }),
        )
        .await;
    r.assert_error(400, "invalid_token");
    let r = anon
        .post(
            "/api/auth/reset-password",
            json!({ "token": token, "new_password": "weakpassword" }),
        )
        .await;
    r.assert_error(400, "invalid_field");
    assert_eq!(r.body["field"], "new_password");
    assert_eq!(alice.get("/api/auth/session").await.status, 200);

    // The weak attempt did not spend the token.
    let r = anon
        .post(
            "/api/auth/reset-password",
            json!({ "token": token, "new_password": OTHER_PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({ "status": "password_reset" }));
    let id = app.user_id("alice").await;
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
    phone
        .get("/api/auth/session")
        .await
        .assert_error(401, "session_expired");

    attempt(&app, "alice", PASSWORD, PIN)
        .await
        .assert_error(401, "invalid_credentials");
    assert_eq!(
        attempt(&app, "alice", OTHER_PASSWORD, PIN).await.status,
        200
    );

    let r = anon
        .post(
            "/api/auth/reset-password",
            json!({ "token": token, "new_password": "Th1rd!Password" }),
        )
        .await;
    r.assert_error(400, "invalid_token");
    assert_eq!(
        attempt(&app, "alice", OTHER_PASSWORD, PIN).await.status,
        200
    );

    let mails = app.outbox(2).await;
    assert_eq!(
        mails_with(&mails, &["To: alice@example.org", "password was reset"]).len(),
        1
    );
    assert_eq!(audit_count(&app, "auth.password_reset", "ok").await, 1);
}

#[tokio::test]
async fn a_reset_token_expires_after_an_hour() {
    let app = TestApp::new().await;
    drop(app.patient("alice").await);
    forgot(&app, "alice").await;
    let stale = reset_token(app.outbox(1).await[0].as_str());
    app.clock().advance(3600);
    let r = app
        .client()
        .post(
            "/api/auth/reset-password",
            json!({ "token": stale, "new_password": OTHER_PASSWORD }),
        )
        .await;
    r.assert_error(400, "invalid_token");
    assert_eq!(attempt(&app, "alice", PASSWORD, PIN).await.status, 200);

    // A fresh token used just inside its hour works.
    forgot(&app, "alice").await;
    let mails = app.outbox(2).await;
    let fresh = mails
        .iter()
        .map(|m| reset_token(m))
        .find(|t| *t != stale)
        .unwrap();
    app.clock().advance(3600 - 60);
    let r = app
        .client()
        .post(
            "/api/auth/reset-password",
            json!({ "token": fresh, "new_password": OTHER_PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

// --------------------------------------------------- email verification

async fn forgot(app: &TestApp, username: &str) {
    let r = app
        .client()
        .post("/api/auth/forgot-password", json!({ "username": username }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
}

async fn send_code(app: &TestApp, c: &Client, mails_before: usize) -> String {
    let r = c.post_empty("/api/auth/send-verification").await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body, json!({ "status": "sent" }));
    let mails = app.outbox(mails_before + 1).await;
    let found = mails_with(&mails, &["Subject: Your Healing Space verification code"]);
    assert_eq!(found.len(), mails_before + 1);
    // The outbox is in delivery order, but two quick mails may swap; the
    // newest code is the one no earlier call returned.
    let codes: Vec<String> = found.iter().map(|m| verification_code(m)).collect();
    codes.last().unwrap().clone()
}

async fn verified(app: &TestApp) -> i64 {
    app.scalar("SELECT email_verified FROM users WHERE username_lower = 'alice'")
        .await
}

#[tokio::test]
async fn the_right_verification_code_verifies_the_email_once() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let code = send_code(&app, &alice, 0).await;
    let mails = app.outbox(1).await;
    assert!(mails[0].contains("To: alice@example.org"));
    assert!(mails[0].contains("valid for 10 minutes"));
    let stored = app.text("SELECT code_hash FROM email_codes").await.unwrap();
    assert_ne!(stored, code, "only a hash is kept");
    assert_eq!(stored.len(), 64, "a SHA-256 in hex: {stored}");

    let r = alice
        .post(
            "/api/auth/verify-code",
            json!({ "code": other_code(&code) }),
        )
        .await;
    r.assert_error(400, "invalid_field");
    assert_eq!(r.body["field"], "code");
    assert_eq!(verified(&app).await, 0);

    let r = alice
        .post("/api/auth/verify-code", json!({ "code": code }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({ "status": "verified" }));
    assert_eq!(verified(&app).await, 1);
    assert_eq!(alice.get("/api/me").await.body["email_verified"], true);

    let r = alice
        .post("/api/auth/verify-code", json!({ "code": code }))
        .await;
    r.assert_error(400, "no_code");
}

#[tokio::test]
async fn five_wrong_codes_exhaust_a_verification_code() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let code = send_code(&app, &alice, 0).await;
    let wrong = other_code(&code);
    for n in 1..=5 {
        let r = alice
            .post("/api/auth/verify-code", json!({ "code": wrong }))
            .await;
        r.assert_error(400, "invalid_field");
        assert_eq!(
            app.scalar("SELECT attempts FROM email_codes").await,
            n,
            "attempt {n}"
        );
    }
    let r = alice
        .post("/api/auth/verify-code", json!({ "code": code }))
        .await;
    r.assert_error(400, "code_exhausted");
    assert_eq!(verified(&app).await, 0);

    // A new code replaces the exhausted one and works.
    let fresh = send_code(&app, &alice, 1).await;
    let r = alice
        .post("/api/auth/verify-code", json!({ "code": fresh }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(verified(&app).await, 1);
}

#[tokio::test]
async fn a_verification_code_expires_after_ten_minutes() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let code = send_code(&app, &alice, 0).await;
    app.clock().advance(600);
    let r = alice
        .post("/api/auth/verify-code", json!({ "code": code }))
        .await;
    r.assert_error(400, "no_code");
    assert_eq!(verified(&app).await, 0);
}

#[tokio::test]
async fn a_new_verification_code_replaces_the_old_one() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let first = send_code(&app, &alice, 0).await;
    let r = alice.post_empty("/api/auth/send-verification").await;
    assert_eq!(r.status, 202);
    let mails = app.outbox(2).await;
    let codes: Vec<String> = mails.iter().map(|m| verification_code(m)).collect();
    let Some(second) = codes.iter().find(|c| **c != first) else {
        // The two random codes came out equal (one chance in a million),
        // so there is nothing to tell apart.
        return;
    };
    let r = alice
        .post("/api/auth/verify-code", json!({ "code": first }))
        .await;
    r.assert_error(400, "invalid_field");
    let r = alice
        .post("/api/auth/verify-code", json!({ "code": second }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

// ------------------------------------------------------------ developers

#[tokio::test]
async fn a_developer_activates_a_pending_clinician() {
    let app = TestApp::new().await;
    let ops = app.developer("ops").await;
    let patient = app.patient("alice").await;
    drop(pending_clinician(&app, "drcarol").await);

    patient
        .post_empty("/api/developer/clinicians/drcarol/activate")
        .await
        .assert_error(403, "forbidden");
    let r = ops
        .post_empty("/api/developer/clinicians/drcarol/activate")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({ "username": "drcarol", "status": "active" }));
    assert_eq!(
        app.text("SELECT status FROM users WHERE username_lower = 'drcarol'")
            .await
            .unwrap(),
        "active"
    );
    let r = app.client().get("/api/clinicians").await;
    assert_eq!(
        r.body,
        json!({ "clinicians": [
            { "username": "drcarol", "display_name": "Dr drcarol", "areas": "trauma" }
        ] })
    );
    let carol = app.user_id("drcarol").await;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM notifications WHERE user_id = {carol} \
             AND kind = 'account_activated'"
        ))
        .await,
        1
    );
    let dev = app.user_id("ops").await;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'admin.activate_clinician' \
             AND outcome = 'ok' AND actor_id = {dev} AND target_id = {carol}"
        ))
        .await,
        1
    );

    ops.post_empty("/api/developer/clinicians/drcarol/activate")
        .await
        .assert_error(409, "not_pending");
    ops.post_empty("/api/developer/clinicians/alice/activate")
        .await
        .assert_error(404, "not_found");
    ops.post_empty("/api/developer/clinicians/nobody/activate")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn only_a_developer_disables_users_and_never_themselves() {
    let app = TestApp::new().await;
    let ops = app.developer("ops").await;
    let alice = app.patient("alice").await;
    let dr = app.clinician("drbob").await;
    for c in [&alice, &dr] {
        c.post_empty("/api/developer/users/alice/disable")
            .await
            .assert_error(403, "forbidden");
    }
    assert_eq!(
        app.text("SELECT status FROM users WHERE username_lower = 'alice'")
            .await
            .unwrap(),
        "active"
    );
    ops.post_empty("/api/developer/users/ops/disable")
        .await
        .assert_error(409, "cannot_disable_self");
    ops.post_empty("/api/developer/users/nobody/disable")
        .await
        .assert_error(404, "not_found");

    let r = ops.post_empty("/api/developer/users/alice/disable").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = ops.post_empty("/api/developer/users/alice/enable").await;
    assert_eq!(r.body, json!({ "username": "alice", "status": "active" }));
    assert_eq!(attempt(&app, "alice", PASSWORD, PIN).await.status, 200);
    ops.post_empty("/api/developer/users/alice/enable")
        .await
        .assert_error(409, "not_disabled");
}

#[tokio::test]
async fn developer_stats_are_counts() {
    let app = TestApp::new().await;
    let ops = app.developer("ops").await;
    let alice = app.patient("alice").await;
    drop(app.patient("carlos").await);
    let dr = app.clinician("drbob").await;
    drop(pending_clinician(&app, "drcarol").await);
    app.link(&alice, &dr).await;
    assert_eq!(
        alice.post("/api/mood", json!({ "mood": 3 })).await.status,
        201
    );
    attempt(&app, "carlos", "Wr0ng!pass", PIN).await;
    alice
        .get("/api/developer/stats")
        .await
        .assert_error(403, "forbidden");

    let r = ops.get("/api/developer/stats").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({
            "users": {
                "clinician": { "active": 1, "pending": 1 },
                "developer": { "active": 1 },
                "patient": { "active": 2 },
            },
            "alerts": {
                "by_status": {},
                "escalated_total": 0,
                "escalated_unacknowledged": 0,
            },
            "care_links": { "approved": 1 },
            "sessions_active": 5,
            "mood_entries": 1,
            "logins_24h": 1,
            "failed_logins_24h": 1,
            "refusals_24h": 1,
        })
    );
}

#[tokio::test]
async fn debug_analytics_is_for_developers_and_holds_counts_only() {
    let app = TestApp::new().await;
    let ops = app.developer("ops").await;
    let alice = app.patient("alice").await;
    let carlos = app.patient("carlos").await;
    let dr = app.clinician("drbob").await;
    app.link(&alice, &dr).await;
    app.request_link(&carlos, &dr).await;
    assert_eq!(
        alice
            .post("/api/mood", json!({ "mood": 3, "note": "a private note" }))
            .await
            .status,
        201
    );
    let path = "/api/debug/analytics/drbob";

    app.client()
        .get(path)
        .await
        .assert_error(401, "unauthorized");
    alice.get(path).await.assert_error(403, "forbidden");
    dr.get(path).await.assert_error(403, "forbidden");

    let r = ops.get(path).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({
            "clinician": "drbob",
            "status": "active",
            "care_links": { "approved": 1, "pending": 1 },
            "patients_active_7d": 1,
        })
    );
    for private in ["alice", "carlos", "Patient ", "private note"] {
        assert!(!r.text.contains(private), "{private} in {}", r.text);
    }
    ops.get("/api/debug/analytics/alice")
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn a_developer_without_totp_is_refused_operator_functions() {
    let app = TestApp::new().await;
    drop(app.clinician("drbob").await);
    let dev = developer_without_totp(&app, "ops2").await;
    for path in [
        "/api/developer/stats",
        "/api/developer/users",
        "/api/developer/audit",
        "/api/debug/analytics/drbob",
    ] {
        dev.get(path).await.assert_error(403, "totp_required");
    }
    dev.post_empty("/api/developer/users/drbob/disable")
        .await
        .assert_error(403, "totp_required");
    assert_eq!(
        app.text("SELECT status FROM users WHERE username_lower = 'drbob'")
            .await
            .unwrap(),
        "active"
    );
}

// ------------------------------------------------------------------ audit

#[tokio::test]
async fn account_events_are_audited_without_secrets() {
    let app = TestApp::new().await;
    let ops = app.developer("ops").await;
    let mut alice = app.patient("alice").await;
    let alice_id = app.user_id("alice").await;
    let dev_id = app.user_id("ops").await;
    let mut secrets = vec![
        PASSWORD.to_owned(),
        OTHER_PASSWORD.to_owned(),
        "Wr0ng!pass".to_owned(),
    ];
    secrets.extend(alice.session_cookie());
    secrets.extend(alice.csrf.clone());

    attempt(&app, "alice", "Wr0ng!pass", PIN).await;
    attempt(&app, "alice", PASSWORD, "9999").await;
    let r = alice.login_pin("alice", PASSWORD, PIN).await;
    assert_eq!(r.status, 200);
    secrets.extend(alice.session_cookie());
    secrets.extend(alice.csrf.clone());

    let code = send_code(&app, &alice, 0).await;
    assert_eq!(
        alice
            .post("/api/auth/verify-code", json!({ "code": code }))
            .await
            .status,
        200
    );
    secrets.push(code);
    let recovery = app.enrol_totp(&mut alice).await;
    let totp_secret = alice.totp_secret.clone().unwrap();
    secrets.push(totp_secret.clone());
    secrets.extend(recovery.iter().cloned());
    let r = alice
        .post(
            "/api/auth/password",
            json!({ "current_password": PASSWORD, "new_password": OTHER_PASSWORD }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    alice.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
    let r = app
        .client()
        .post("/api/auth/forgot-password", json!({ "username": "alice" }))
        .await;
    assert_eq!(r.status, 202);
    let mails = app.outbox(3).await;
    let token = reset_token(mails_with(&mails, &["Reset your"])[0]);
    let r = app
        .client()
        .post(
            "/api/auth/reset-password",
            json!({ "token": token, "new_password": "Th1rd!Password" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    secrets.push(token);
    secrets.push("Th1rd!Password".to_owned());

    let mut alice = app.client();
    alice.totp_secret = Some(totp_secret);
    let totp = app.next_totp(&alice);
    let r = alice.login_totp("alice", "Th1rd!Password", &totp).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(alice.post_empty("/api/auth/logout").await.status, 200);
    assert_eq!(
        ops.post_empty("/api/developer/users/alice/disable")
            .await
            .status,
        200
    );
    assert_eq!(
        ops.post_empty("/api/developer/users/alice/enable")
            .await
            .status,
        200
    );

    let expect = [
        ("account.register", "ok", Some(alice_id), Some(alice_id), 1),
        ("auth.login", "failed", None, Some(alice_id), 2),
        ("auth.login", "ok", Some(alice_id), Some(alice_id), 2),
        ("auth.logout", "ok", Some(alice_id), None, 1),
        (
            "auth.totp_enrolled",
            "ok",
            Some(alice_id),
            Some(alice_id),
            1,
        ),
        (
            "auth.password_changed",
            "ok",
            Some(alice_id),
            Some(alice_id),
            1,
        ),
        ("auth.reset_requested", "ok", None, Some(alice_id), 1),
        ("auth.password_reset", "ok", None, Some(alice_id), 1),
        ("admin.disable_user", "ok", Some(dev_id), Some(alice_id), 1),
        ("admin.enable_user", "ok", Some(dev_id), Some(alice_id), 1),
    ];
    let is = |column: &str, id: Option<i64>| match id {
        Some(id) => format!("{column} = {id}"),
        None => format!("{column} IS NULL"),
    };
    for (action, outcome, actor, target, n) in expect {
        let found = app
            .scalar(&format!(
                "SELECT COUNT(*) FROM audit_log WHERE action = '{action}' \
                 AND outcome = '{outcome}' AND {} AND {} AND ip = '127.0.0.1'",
                is("actor_id", actor),
                is("target_id", target)
            ))
            .await;
        assert_eq!(found, n, "{action} {outcome}");
    }
    assert_eq!(
        app.text("SELECT detail FROM audit_log WHERE action = 'account.register'")
            .await
            .unwrap(),
        r#"{"role":"patient"}"#
    );

    // Long secrets must appear in no column; the PINs in no detail.
    let everything = "(action || outcome || detail || COALESCE(ip, '') || \
                      COALESCE(request_id, ''))";
    for secret in &secrets {
        assert_eq!(
            audit_rows_containing(&app, everything, secret).await,
            0,
            "{secret} in the audit log"
        );
    }
    for pin in [PIN, "9999"] {
        assert_eq!(audit_rows_containing(&app, "detail", pin).await, 0);
    }
    assert!(app.scalar("SELECT COUNT(*) FROM audit_log").await >= 12);
}

#[tokio::test]
async fn the_current_password_cannot_be_guessed_from_a_session() {
    let app = TestApp::with(|c| {
        c.rate_limits.login_per_account = healing_space::config::Limit::per_minute(5);
    })
    .await;
    let alice = app.patient("alice").await;
    let hash = app
        .text("SELECT password_hash FROM users WHERE username_lower = 'alice'")
        .await;
    for _ in 0..5 {
        let r = alice
            .post(
                "/api/auth/password",
                json!({ "current_password": "Wr0ng!guess", "new_password": "N3w!passw0rd" }),
            )
            .await;
        r.assert_error(400, "invalid_field");
    }
    // Even the right password waits now, and nothing changed.
    let r = alice
        .post(
            "/api/auth/password",
            json!({ "current_password": PASSWORD, "new_password": "N3w!passw0rd" }),
        )
        .await;
    r.assert_error(429, "rate_limited");
    let r = alice
        .delete_json("/api/me", json!({ "password": PASSWORD }))
        .await;
    r.assert_error(429, "rate_limited");
    assert_eq!(
        app.text("SELECT password_hash FROM users WHERE username_lower = 'alice'")
            .await,
        hash
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM users").await, 1);
    app.clock().advance(61);
    let r = alice
        .post(
            "/api/auth/password",
            json!({ "current_password": PASSWORD, "new_password": "N3w!passw0rd" }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}
