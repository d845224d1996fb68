//! The protections every request gets whatever its route (SPEC §4): CSRF,
//! body type and size, unknown fields, hostile JSON, security headers,
//! rate limits and error bodies that never leak internals.

use std::io::{Read, Write};

use healing_space::config::Limit;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

/// Refusals the audit log holds with this outcome.
async fn refusals(app: &TestApp, outcome: &str) -> i64 {
    app.scalar(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'request.refused' AND outcome = '{outcome}'"
    ))
    .await
}

async fn mood_rows(app: &TestApp) -> i64 {
    app.scalar("SELECT COUNT(*) FROM mood_entries").await
}

async fn sessions_of(app: &TestApp, username: &str) -> i64 {
    let id = app.user_id(username).await;
    app.scalar(&format!(
        "SELECT COUNT(*) FROM sessions WHERE user_id = {id}"
    ))
    .await
}

/// The headers SPEC §4 puts on every response, whatever its status.
fn assert_protective_headers(r: &Resp, what: &str) {
    let csp = r
        .header("content-security-policy")
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    assert!(!csp.contains("unsafe-inline"), "{what}: CSP {csp}");
    assert!(!csp.contains("unsafe-eval"), "{what}: CSP {csp}");
    for directive in [
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    ] {
        assert!(csp.contains(directive), "{what}: CSP lacks {directive}");
    }
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{what}");
    let permissions = r
        .header("permissions-policy")
        .unwrap_or_else(|| panic!("{what}: no Permissions-Policy"));
    for feature in ["geolocation", "camera", "microphone", "payment", "usb"] {
        assert!(
            permissions.contains(&format!("{feature}=()")),
            "{what}: Permissions-Policy does not deny {feature}: {permissions}"
        );
    }
    assert_eq!(
        r.header("cross-origin-opener-policy"),
        Some("same-origin"),
        "{what}"
    );
    assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
    assert!(
        r.header("x-request-id")
            .is_some_and(|id| id.len() >= 12 && id != "-"),
        "{what}: X-Request-Id {:?}",
        r.header("x-request-id")
    );
    assert_eq!(
        r.header("strict-transport-security"),
        None,
        "{what}: HSTS is only for TLS"
    );
}

/// An error in the JSON shape of SPEC §4, served as JSON.
fn assert_json_error(r: &Resp, status: u16, code: &str) {
    r.assert_error(status, code);
    assert!(
        r.header("content-type")
            .is_some_and(|ct| ct.starts_with("application/json")),
        "content type {:?}",
        r.header("content-type")
    );
}

/// A login attempt, optionally as relayed by a proxy for `forwarded_for`.
async fn login_attempt(
    c: &Client,
    forwarded_for: Option<&str>,
    username: &str,
    password: &str,
) -> Resp {
    let mut rb = c.request(Method::POST, "/api/auth/login").json(&json!({
        "username": username,
        "password": password,
        "pin": PIN,
    }));
    if let Some(xff) = forwarded_for {
        rb = rb.header("x-forwarded-for", xff);
    }
    c.send(rb).await
}

/// The app with the login limits of SPEC §4 (the harness raises them so
/// personas can log in freely).
async fn app_with_login_limits(trust_loopback_proxy: bool) -> TestApp {
    TestApp::with(|c| {
        c.rate_limits.login_per_ip = Limit::per_minute(5);
        c.rate_limits.login_per_account = Limit::per_minute(5);
        if trust_loopback_proxy {
            c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        }
    })
    .await
}

fn assert_rate_limited(r: &Resp) {
    assert_json_error(r, 429, "rate_limited");
    let header: u64 = r
        .header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in seconds");
    assert_eq!(r.body["retry_after"], header, "body and header agree");
    assert!((1..=60).contains(&header), "retry after {header} s");
    assert_protective_headers(r, "429");
}

/// A raw HTTP/1.1 response read off a socket.
struct RawResponse {
    status: u16,
    body: Value,
}

/// Sends a POST whose body goes out in chunked transfer encoding with no
/// Content-Length, which the HTTP client cannot do for an in-memory body.
/// The body is written from a second thread while the response is read,
/// since the server may answer before it has read everything.
async fn post_chunked(app: &TestApp, c: &Client, path: &str, body: Vec<u8>) -> RawResponse {
    let addr = app.addr;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n"
    );
    if let Some(cookie) = c.session_cookie() {
        head.push_str(&format!("Cookie: hs_session={cookie}\r\n"));
    }
    if let Some(token) = &c.csrf {
        head.push_str(&format!("X-CSRF-Token: {token}\r\n"));
    }
    head.push_str("\r\n");
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut writer = stream.try_clone().unwrap();
        let sender = std::thread::spawn(move || {
            writer.write_all(head.as_bytes())?;
            for chunk in body.chunks(4096) {
                writer.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
                writer.write_all(chunk)?;
                writer.write_all(b"\r\n")?;
            }
            writer.write_all(b"0\r\n\r\n")
        });
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        // Until the server closes; a reset after the answer arrived is fine.
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
        }
        let _ = sender.join();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n").expect("a response head");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status code");
        RawResponse {
            status,
            body: serde_json::from_str(rest).unwrap_or(Value::Null),
        }
    })
    .await
    .unwrap()
}

// ---------------------------------------------------------------- CSRF

#[tokio::test]
async fn csrf_token_missing_wrong_or_from_another_session_is_refused() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let bob = app.patient("bob").await;
    let entry = json!({ "mood": 6 });

    // The cookie alone, as a forged request from a browser would carry it.
    let r = alice
        .send(alice.http.post(alice.url("/api/mood")).json(&entry))
        .await;
    assert_json_error(&r, 403, "csrf_failed");

    let r = alice
        .send(
            alice
                .http
                .post(alice.url("/api/mood"))
                .header("x-csrf-token", "not-the-token")
                .json(&entry),
        )
        .await;
    assert_json_error(&r, 403, "csrf_failed");

    // A genuine token, but bound to someone else's session.
    let r = alice
        .send(
            alice
                .http
                .post(alice.url("/api/mood"))
                .header("x-csrf-token", bob.csrf.as_deref().unwrap())
                .json(&entry),
        )
        .await;
    assert_json_error(&r, 403, "csrf_failed");

    // The same checks hold for PATCH and DELETE.
    let r = alice
        .send(
            alice
                .http
                .patch(alice.url("/api/me"))
                .json(&json!({ "display_name": "Forged" })),
        )
        .await;
    assert_json_error(&r, 403, "csrf_failed");
    let r = alice
        .send(alice.http.post(alice.url("/api/auth/logout")))
        .await;
    assert_json_error(&r, 403, "csrf_failed");

    assert_eq!(mood_rows(&app).await, 0);
    assert_eq!(
        app.text("SELECT display_name FROM users WHERE username_lower = 'alice'")
            .await
            .as_deref(),
        Some("Patient alice")
    );
    assert_eq!(sessions_of(&app, "alice").await, 1, "logout was refused");
    let alice_id = app.user_id("alice").await;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'request.refused' \
             AND outcome = 'csrf_failed' AND actor_id = {alice_id}"
        ))
        .await,
        5
    );
    assert_eq!(
        app.scalar(&format!(
            "SELECT csrf_failures FROM sessions WHERE user_id = {alice_id}"
        ))
        .await,
        5
    );

    // With her own token the same request goes through.
    let r = alice.post("/api/mood", entry).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(mood_rows(&app).await, 1);
}

#[tokio::test]
async fn cross_site_requests_are_refused_even_with_the_right_token() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let entry = json!({ "mood": 6 });
    let cross_site = [
        ("origin", "https://evil.example".to_owned()),
        ("origin", "null".to_owned()),
        // Another port is another origin.
        ("origin", "http://127.0.0.1:1".to_owned()),
        // A host name that merely starts with ours.
        ("origin", format!("http://{}.evil.example", app.addr)),
        ("sec-fetch-site", "cross-site".to_owned()),
    ];
    for (name, value) in &cross_site {
        let r = alice
            .send(
                alice
                    .request(Method::POST, "/api/mood")
                    .header(*name, value)
                    .json(&entry),
            )
            .await;
        assert_json_error(&r, 403, "csrf_failed");
    }
    assert_eq!(mood_rows(&app).await, 0);
    assert_eq!(refusals(&app, "csrf_failed").await, cross_site.len() as i64);

    // The app's own pages send their own origin.
    let r = alice
        .send(
            alice
                .request(Method::POST, "/api/mood")
                .header("origin", format!("http://{}", app.addr))
                .header("sec-fetch-site", "same-origin")
                .json(&entry),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(mood_rows(&app).await, 1);
}

#[tokio::test]
async fn anonymous_cross_site_login_is_refused() {
    let app = TestApp::new().await;
    app.patient("alice").await;
    let sessions_before = app.scalar("SELECT COUNT(*) FROM sessions").await;
    let visitor = app.client();
    let credentials = json!({ "username": "alice", "password": PASSWORD, "pin": PIN });
    // A page elsewhere logging the visitor into the attacker's account.
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let r = visitor
            .send(
                visitor
                    .request(Method::POST, "/api/auth/login")
                    .header(name, value)
                    .json(&credentials),
            )
            .await;
        assert_json_error(&r, 403, "csrf_failed");
        assert_eq!(r.header("set-cookie"), None);
    }
    assert_eq!(visitor.session_cookie(), None);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM sessions").await,
        sessions_before
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login'")
            .await,
        0,
        "the login was never attempted"
    );
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'request.refused' \
             AND outcome = 'csrf_failed' AND actor_id IS NULL AND ip = '127.0.0.1'"
        )
        .await,
        2
    );

    let r = visitor
        .send(
            visitor
                .request(Method::POST, "/api/auth/login")
                .header("origin", format!("http://{}", app.addr))
                .json(&credentials),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn more_than_ten_csrf_failures_end_the_session() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let cookie = alice.session_cookie().expect("a session cookie");
    let forged = || {
        alice
            .http
            .post(alice.url("/api/mood"))
            .header("x-csrf-token", "guess")
            .json(&json!({ "mood": 3 }))
    };
    for attempt in 1..=10 {
        let r = alice.send(forged()).await;
        assert_json_error(&r, 403, "csrf_failed");
        assert_eq!(sessions_of(&app, "alice").await, 1, "attempt {attempt}");
    }
    let r = alice.get("/api/auth/session").await;
    assert_eq!(r.status, 200, "ten failures are tolerated: {}", r.text);

    let r = alice.send(forged()).await;
    assert_json_error(&r, 403, "csrf_failed");
    assert_eq!(
        sessions_of(&app, "alice").await,
        0,
        "the session row is gone"
    );

    let r = alice.get("/api/auth/session").await;
    assert_json_error(&r, 401, "session_expired");
    assert!(
        r.header("set-cookie")
            .is_some_and(|c| c.starts_with("hs_session=;") && c.contains("Max-Age=0")),
        "the browser is told to drop the cookie: {:?}",
        r.header("set-cookie")
    );
    // A copy of the old cookie is worthless, even with the right token.
    alice.set_session_cookie(&cookie);
    let r = alice.post("/api/mood", json!({ "mood": 3 })).await;
    assert_json_error(&r, 401, "session_expired");
    assert_eq!(mood_rows(&app).await, 0);
    // At most ten refusals a minute per client reach the audit log, so a
    // flood cannot flood it.
    assert_eq!(refusals(&app, "csrf_failed").await, 10);
}

// ------------------------------------------------------ body type and size

#[tokio::test]
async fn json_routes_refuse_other_content_types() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let body = br#"{"mood":6}"#.to_vec();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonp"),
        None,
    ] {
        let r = alice
            .post_raw("/api/mood", content_type, body.clone())
            .await;
        assert_json_error(&r, 415, "unsupported_media_type");
    }
    // No body and no type at all.
    let r = alice.post_empty("/api/mood").await;
    assert_json_error(&r, 415, "unsupported_media_type");

    let visitor = app.client();
    let registration = json!({
        "username": "carol",
        "password": PASSWORD,
        "pin": PIN,
        "email": "carol@example.org",
        "display_name": "Carol",
    });
    let r = visitor
        .post_raw(
            "/api/auth/register",
            Some("text/plain"),
            registration.to_string().into_bytes(),
        )
        .await;
    assert_json_error(&r, 415, "unsupported_media_type");

    assert_eq!(mood_rows(&app).await, 0);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM users WHERE username_lower = 'carol'")
            .await,
        0
    );
    assert_eq!(refusals(&app, "unsupported_media_type").await, 6);

    // A charset parameter is still JSON.
    let r = alice
        .post_raw("/api/mood", Some("application/json; charset=utf-8"), body)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

#[tokio::test]
async fn bodies_over_64_kib_with_a_length_are_refused() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let limit = 64 * 1024;
    // Valid JSON padded with whitespace, so only the size can be at fault.
    let padded = |len: usize| {
        let mut body = br#"{"mood":6}"#.to_vec();
        body.resize(len, b' ');
        body
    };
    let r = alice
        .post_raw("/api/mood", Some("application/json"), padded(limit + 1))
        .await;
    assert_json_error(&r, 413, "payload_too_large");
    let r = alice
        .post_raw(
            "/api/auth/register",
            Some("application/json"),
            padded(1024 * 1024),
        )
        .await;
    assert_json_error(&r, 413, "payload_too_large");
    assert_eq!(mood_rows(&app).await, 0);
    assert_eq!(refusals(&app, "payload_too_large").await, 2);

    // Exactly at the limit is accepted.
    let r = alice
        .post_raw("/api/mood", Some("application/json"), padded(limit))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(mood_rows(&app).await, 1);
}

#[tokio::test]
async fn chunked_bodies_over_the_limit_are_refused() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let mut big = br#"{"mood":6}"#.to_vec();
    big.resize(64 * 1024 + 4096, b' ');
    let r = post_chunked(&app, &alice, "/api/mood", big).await;
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.body["error"], "payload_too_large");
    assert_eq!(mood_rows(&app).await, 0);
    assert_eq!(refusals(&app, "payload_too_large").await, 1);

    // A small chunked body is fine: the size was the only fault.
    let r = post_chunked(&app, &alice, "/api/mood", br#"{"mood":6}"#.to_vec()).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(mood_rows(&app).await, 1);
    let r = alice.get("/api/health").await;
    assert_eq!(r.status, 200);
}

// ---------------------------------------------------------- unknown fields

#[tokio::test]
async fn fields_a_route_does_not_take_are_refused() {
    let app = TestApp::new().await;
    let visitor = app.client();
    let registration = |extra: (&str, Value)| {
        let mut body = json!({
            "username": "mallory",
            "password": PASSWORD,
            "pin": PIN,
            "email": "mallory@example.org",
            "display_name": "Mallory",
        });
        body[extra.0] = extra.1;
        body
    };
    for (field, value) in [
        ("role", json!("clinician")),
        ("id", json!(1)),
        ("status", json!("active")),
    ] {
        let r = visitor
            .post("/api/auth/register", registration((field, value)))
            .await;
        assert_json_error(&r, 400, "unknown_field");
        assert_eq!(r.body["field"], field);
    }
    assert_eq!(app.scalar("SELECT COUNT(*) FROM users").await, 0);

    let alice = app.patient("alice").await;
    let bob = app.patient("bob").await;
    let bob_id = app.user_id("bob").await;
    for (field, value) in [
        ("role", json!("developer")),
        ("username", json!("admin")),
        ("id", json!(bob_id)),
    ] {
        let mut body = json!({ "display_name": "Alice A." });
        body[field] = value;
        let r = alice.patch("/api/me", body).await;
        assert_json_error(&r, 400, "unknown_field");
        assert_eq!(r.body["field"], field);
    }
    let who = app
        .text("SELECT username || ':' || role || ':' || display_name FROM users WHERE username_lower = 'alice'")
        .await;
    assert_eq!(who.as_deref(), Some("alice:patient:Patient alice"));

    for (field, value) in [
        ("patient_id", json!(bob_id)),
        ("owner", json!("bob")),
        ("username", json!("bob")),
        ("id", json!(1)),
    ] {
        let mut body = json!({ "mood": 2 });
        body[field] = value;
        let r = alice.post("/api/mood", body).await;
        assert_json_error(&r, 400, "unknown_field");
        assert_eq!(r.body["field"], field);
    }
    assert_eq!(mood_rows(&app).await, 0);
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM mood_entries WHERE patient_id = {bob_id}"
        ))
        .await,
        0
    );
    let r = bob.get("/api/mood/today").await;
    assert_eq!(r.body["entry"], Value::Null);
}

// ------------------------------------------------------------ hostile JSON

#[tokio::test]
async fn hostile_json_is_refused_and_the_server_carries_on() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let nested_field = {
        let mut b = br#"{"mood":5,"medication":"#.to_vec();
        b.extend(std::iter::repeat_n(b'[', 10_000));
        b
    };
    // (what, body, error code, field named in the answer)
    let cases: Vec<(&str, Vec<u8>, &str, Option<&str>)> = vec![
        (
            "truncated",
            br#"{"mood":5,"note":"half"#.to_vec(),
            "invalid_json",
            None,
        ),
        ("empty", Vec::new(), "invalid_json", None),
        ("deeply nested", vec![b'['; 10_000], "invalid_json", None),
        (
            "deeply nested field",
            nested_field,
            "invalid_field",
            Some("medication[0]"),
        ),
        (
            "duplicate key",
            br#"{"mood":5,"mood":9}"#.to_vec(),
            "invalid_field",
            None,
        ),
        (
            "lone leading surrogate",
            br#"{"mood":5,"note":"\ud800"}"#.to_vec(),
            "invalid_json",
            None,
        ),
        (
            "lone trailing surrogate",
            br#"{"mood":5,"note":"a\udc00b"}"#.to_vec(),
            "invalid_json",
            None,
        ),
        (
            "invalid UTF-8",
            b"{\"mood\":5,\"note\":\"\xff\xfe\xc3\"}".to_vec(),
            "invalid_json",
            None,
        ),
        ("NaN", br#"{"mood":NaN}"#.to_vec(), "invalid_json", None),
        (
            "Infinity",
            br#"{"mood":Infinity}"#.to_vec(),
            "invalid_json",
            None,
        ),
        (
            "-Infinity",
            br#"{"mood":-Infinity}"#.to_vec(),
            "invalid_json",
            None,
        ),
        (
            "exponent too large",
            br#"{"mood":1e999}"#.to_vec(),
            "invalid_json",
            None,
        ),
        (
            "integer too large",
            br#"{"mood":123456789012345678901234567890}"#.to_vec(),
            "invalid_field",
            Some("mood"),
        ),
        (
            "a second document behind the first",
            br#"{"mood":5} {"mood":9}"#.to_vec(),
            "invalid_json",
            None,
        ),
    ];
    for (what, body, code, field) in cases {
        let r = alice
            .post_raw("/api/mood", Some("application/json"), body)
            .await;
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        assert_eq!(r.body["error"], code, "{what}: {}", r.text);
        assert_eq!(
            r.body.get("field").and_then(Value::as_str),
            field,
            "{what}: {}",
            r.text
        );
        assert!(
            r.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {}",
            r.text
        );
        assert!(
            r.header("content-type")
                .is_some_and(|ct| ct.starts_with("application/json")),
            "{what}"
        );
        assert_eq!(mood_rows(&app).await, 0, "{what}");
        let health = alice.get("/api/health").await;
        assert_eq!(health.status, 200, "{what}: the server still answers");
    }
    // The refusal does not quote the patient's text back.
    let r = alice
        .post_raw(
            "/api/mood",
            Some("application/json"),
            br#"{"mood":5,"note":"I feel hopeless",}"#.to_vec(),
        )
        .await;
    assert_json_error(&r, 400, "invalid_json");
    assert!(!r.text.contains("hopeless"), "{}", r.text);

    let r = alice
        .post("/api/mood", json!({ "mood": 5, "note": "fine" }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(mood_rows(&app).await, 1);
}

// --------------------------------------------------------- response headers

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = TestApp::with(|c| c.rate_limits.login_per_ip = Limit::per_minute(1)).await;
    let alice = app.patient("alice").await;
    let visitor = app.client();

    let r = visitor.get("/api/health").await;
    assert_eq!(r.status, 200);
    assert_protective_headers(&r, "200");

    let r = visitor.get("/api/me").await;
    assert_json_error(&r, 401, "unauthorized");
    assert_protective_headers(&r, "401");

    let r = alice.get("/api/developer/users").await;
    assert_json_error(&r, 403, "forbidden");
    assert_protective_headers(&r, "403");

    let r = visitor.get("/api/no-such-thing").await;
    assert_json_error(&r, 404, "not_found");
    assert_protective_headers(&r, "404");

    let r = visitor.get("/api/auth/login").await;
    assert_json_error(&r, 405, "method_not_allowed");
    assert_protective_headers(&r, "405");

    let mut big = br#"{"mood":6}"#.to_vec();
    big.resize(70 * 1024, b' ');
    let r = alice
        .post_raw("/api/mood", Some("application/json"), big)
        .await;
    assert_json_error(&r, 413, "payload_too_large");
    assert_protective_headers(&r, "413");

    let r = alice
        .post_raw("/api/mood", Some("text/plain"), b"{}".to_vec())
        .await;
    assert_json_error(&r, 415, "unsupported_media_type");
    assert_protective_headers(&r, "415");

    let r = login_attempt(&visitor, None, "alice", "Wrong!pass1").await;
    assert_json_error(&r, 401, "invalid_credentials");
    let r = login_attempt(&visitor, None, "alice", "Wrong!pass1").await;
    assert_rate_limited(&r);

    app.state.db.close().await;
    let r = alice.get("/api/auth/session").await;
    assert_json_error(&r, 500, "internal_error");
    assert_protective_headers(&r, "500");
}

#[tokio::test]
async fn internal_errors_carry_a_request_id_and_nothing_internal() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    app.state.db.close().await;
    for path in ["/api/auth/session", "/api/mood/today"] {
        let r = alice.get(path).await;
        assert_json_error(&r, 500, "internal_error");
        let id = r.header("x-request-id").expect("X-Request-Id").to_owned();
        assert_eq!(r.body["request_id"], id.as_str());
        let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["error", "message", "request_id"]);
        let lower = r.text.to_lowercase();
        for leak in [
            "select", "sqlite", "sqlx", "pool", "database", "query", "/tmp", ".rs", "panick",
        ] {
            assert!(!lower.contains(leak), "{path} leaks {leak:?}: {}", r.text);
        }
    }
    // Each failure gets its own id.
    let a = alice.get("/api/auth/session").await;
    let b = alice.get("/api/auth/session").await;
    assert_ne!(a.header("x-request-id"), b.header("x-request-id"));
}

#[tokio::test]
async fn tls_adds_hsts_and_secure_cookies() {
    let registration = json!({
        "username": "alice",
        "password": PASSWORD,
        "pin": PIN,
        "email": "alice@example.org",
        "display_name": "Alice",
    });

    let app = TestApp::with(|c| c.tls = true).await;
    let visitor = app.client();
    let r = visitor
        .post("/api/auth/register", registration.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );
    let cookie = r.header("set-cookie").expect("a session cookie");
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(attributes[0].starts_with("hs_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Secure"] {
        assert!(attributes.contains(&attribute), "{attribute} in {cookie}");
    }
    let r = visitor.get("/api/no-such-thing").await;
    assert_eq!(r.status, 404);
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=31536000; includeSubDomains")
    );

    let app = TestApp::new().await;
    let r = app.client().post("/api/auth/register", registration).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_protective_headers(&r, "plain HTTP");
    let cookie = r.header("set-cookie").expect("a session cookie");
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert!(!attributes.contains(&"Secure"), "{cookie}");
    assert!(attributes.contains(&"HttpOnly"), "{cookie}");
}

// ------------------------------------------------------------- rate limits

#[tokio::test]
async fn login_is_limited_to_five_a_minute_per_address() {
    let app = app_with_login_limits(false).await;
    app.patient("alice").await;
    let sessions_before = sessions_of(&app, "alice").await;
    let visitor = app.client();
    // Different accounts each time, so only the address limit is in play.
    for i in 1..=5 {
        let r = login_attempt(&visitor, None, &format!("ghost{i}"), "Wrong!pass1").await;
        assert_json_error(&r, 401, "invalid_credentials");
    }
    // Even the right password is refused once the budget is spent.
    let r = login_attempt(&visitor, None, "alice", PASSWORD).await;
    assert_rate_limited(&r);
    assert_eq!(r.header("set-cookie"), None);
    assert_eq!(sessions_of(&app, "alice").await, sessions_before);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login'")
            .await,
        5,
        "the refused attempt never reached the password check"
    );
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'request.refused' \
             AND outcome = 'rate_limited' AND ip = '127.0.0.1'"
        )
        .await,
        1
    );

    app.clock().advance(60);
    let r = login_attempt(&visitor, None, "alice", PASSWORD).await;
    assert_eq!(r.status, 200, "the window reopened: {}", r.text);
}

#[tokio::test]
async fn a_spoofed_forwarded_for_does_not_escape_the_login_limit() {
    let app = app_with_login_limits(false).await;
    let visitor = app.client();
    for i in 1..=5 {
        let r = login_attempt(
            &visitor,
            Some(&format!("203.0.113.{i}")),
            &format!("ghost{i}"),
            "Wrong!pass1",
        )
        .await;
        assert_json_error(&r, 401, "invalid_credentials");
    }
    let r = login_attempt(&visitor, Some("198.51.100.1"), "ghost6", "Wrong!pass1").await;
    assert_rate_limited(&r);
    // The audit log has the real peer, not the claimed address.
    assert_eq!(
        app.text(
            "SELECT ip FROM audit_log WHERE action = 'request.refused' \
             AND outcome = 'rate_limited'"
        )
        .await
        .as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE ip <> '127.0.0.1'")
            .await,
        0
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_budget() {
    let app = app_with_login_limits(true).await;
    app.patient("alice").await;
    let visitor = app.client();
    for i in 1..=5 {
        let r = login_attempt(
            &visitor,
            Some("203.0.113.7"),
            &format!("ghost{i}"),
            "Wrong!pass1",
        )
        .await;
        assert_json_error(&r, 401, "invalid_credentials");
    }
    let r = login_attempt(&visitor, Some("203.0.113.7"), "ghost6", "Wrong!pass1").await;
    assert_rate_limited(&r);
    // The client can prepend whatever it likes; the proxy appends the
    // address it really saw, and that is the one counted.
    let r = login_attempt(
        &visitor,
        Some("198.51.100.77, 203.0.113.7"),
        "ghost7",
        "Wrong!pass1",
    )
    .await;
    assert_rate_limited(&r);
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'request.refused' \
             AND outcome = 'rate_limited' AND ip = '203.0.113.7'"
        )
        .await,
        2
    );

    let r = login_attempt(&visitor, Some("198.51.100.9"), "alice", PASSWORD).await;
    assert_eq!(r.status, 200, "another address: {}", r.text);
}

#[tokio::test]
async fn login_is_limited_to_five_a_minute_per_account_across_addresses() {
    let app = app_with_login_limits(true).await;
    app.patient("alice").await;
    app.patient("bob").await;
    let visitor = app.client();
    for i in 1..=5 {
        let r = login_attempt(
            &visitor,
            Some(&format!("203.0.113.{i}")),
            "alice",
            "Wrong!pass1",
        )
        .await;
        assert_json_error(&r, 401, "invalid_credentials");
    }
    // A fresh address and another spelling of the name change nothing.
    let r = login_attempt(&visitor, Some("203.0.113.99"), "ALICE", PASSWORD).await;
    assert_rate_limited(&r);
    assert_eq!(r.header("set-cookie"), None);
    assert_eq!(refusals(&app, "rate_limited").await, 1);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND outcome = 'ok'")
            .await,
        0
    );

    // Other accounts are not affected.
    let r = login_attempt(&app.client(), Some("203.0.113.100"), "bob", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.text);

    app.clock().advance(60);
    let r = login_attempt(&visitor, Some("203.0.113.99"), "alice", PASSWORD).await;
    assert_eq!(r.status, 200, "the window reopened: {}", r.text);
}

#[tokio::test]
async fn the_general_limit_counts_per_session_and_per_address() {
    let app = TestApp::with(|c| c.rate_limits.general = Limit::per_minute(3)).await;
    // Registering spends one request of the address's budget.
    let alice = app.patient("alice").await;
    for _ in 0..3 {
        let r = alice.get("/api/mood/today").await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = alice.get("/api/mood/today").await;
    assert_rate_limited(&r);
    let r = alice.post("/api/mood", json!({ "mood": 7 })).await;
    assert_rate_limited(&r);
    assert_eq!(mood_rows(&app).await, 0);

    // Anonymous callers from this address have their own budget.
    let visitor = app.client();
    for _ in 0..2 {
        let r = visitor.get("/api/clinicians").await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = visitor.get("/api/clinicians").await;
    assert_rate_limited(&r);

    let alice_id = app.user_id("alice").await;
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'request.refused' \
             AND outcome = 'rate_limited' AND actor_id = {alice_id}"
        ))
        .await,
        2
    );
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'request.refused' \
             AND outcome = 'rate_limited' AND actor_id IS NULL"
        )
        .await,
        1
    );

    app.clock().advance(60);
    let r = alice.post("/api/mood", json!({ "mood": 7 })).await;
    assert_eq!(r.status, 201, "the window reopened: {}", r.text);
    let r = visitor.get("/api/clinicians").await;
    assert_eq!(r.status, 200, "{}", r.text);
}

// ------------------------------------------------------------------ errors

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let app = TestApp::new().await;
    let visitor = app.client();
    for path in [
        "/api/no-such-thing",
        "/api/mood/1/secret-admin",
        "/nothing-here",
    ] {
        let r = visitor.get(path).await;
        assert_json_error(&r, 404, "not_found");
        assert!(!r.text.contains(path), "the path is not echoed: {}", r.text);
    }
    let r = visitor.get("/api/auth/login").await;
    assert_json_error(&r, 405, "method_not_allowed");
    let r = visitor.delete("/api/health").await;
    assert_json_error(&r, 405, "method_not_allowed");
    let r = visitor.post("/api/clinicians", json!({})).await;
    assert_json_error(&r, 405, "method_not_allowed");
    let keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["error", "message"]);
}
