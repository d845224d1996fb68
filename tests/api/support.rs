//! The test application: a real server on 127.0.0.1:0 with its own
//! database, and clients with cookie jars that play the personas.
//!
//! Tests run on SQLite by default. With `HS_TEST_POSTGRES_URL` set (an
//! administrative URL such as `postgres://postgres@127.0.0.1/postgres`)
//! every test gets a fresh PostgreSQL database instead.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use healing_space::clock::Clock;
use healing_space::config::{Config, Limit};
use healing_space::crypto::totp;
use healing_space::{AppState, app};
use reqwest::Method;
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const PASSWORD: &str = "Tr1cky!pass";
pub const PIN: &str = "4821";

/// A running service for one test.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub state: AppState,
    pub data_dir: PathBuf,
}

/// A temporary folder removed when the test ends.
fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "hs-test-{}",
        healing_space::crypto::random_token(9).replace(['-', '_'], "x")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// Makes a fresh PostgreSQL database when the suite runs against one.
async fn database_url(data_dir: &std::path::Path) -> String {
    match std::env::var("HS_TEST_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() => {
            use sqlx::ConnectOptions;
            use sqlx::Connection;
            use std::str::FromStr;
            let name = format!(
                "hs_test_{}",
                healing_space::crypto::random_token(9)
                    .to_ascii_lowercase()
                    .replace(['-', '_'], "x")
            );
            let options = sqlx::postgres::PgConnectOptions::from_str(&admin).unwrap();
            let mut conn = options.connect().await.expect("connect to PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .expect("create a test database");
            conn.close().await.ok();
            let (base, _) = admin.rsplit_once('/').expect("a URL with a database name");
            format!("{base}/{name}")
        }
        _ => format!("sqlite://{}", data_dir.join("test.db").display()),
    }
}

impl TestApp {
    /// A service with the default configuration.
    pub async fn new() -> TestApp {
        TestApp::with(|_| {}).await
    }

    /// A service whose configuration `tweak` may change first.
    pub async fn with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        let data_dir = temp_dir();
        let mut config = Config::for_data_dir(&data_dir);
        config.database_url = database_url(&data_dir).await;
        // Personas log in many times; tests of the login limit set it back.
        config.rate_limits.login_per_ip = Limit::per_minute(10_000);
        config.rate_limits.login_per_account = Limit::per_minute(10_000);
        config.rate_limits.register_per_ip = Limit::per_minute(10_000);
        tweak(&mut config);
        let state = AppState::open(config, Clock::default())
            .await
            .expect("open app");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = app(state.clone());
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .unwrap();
        });
        TestApp {
            addr,
            base: format!("http://{addr}"),
            state,
            data_dir,
        }
    }

    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// A fresh anonymous client with its own cookie jar.
    pub fn client(&self) -> Client {
        let jar = Arc::new(Jar::default());
        Client {
            jar: jar.clone(),
            http: reqwest::Client::builder()
                .cookie_provider(jar)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: self.base.clone(),
            csrf: None,
            username: String::new(),
            totp_secret: None,
        }
    }

    /// Registers and logs in a patient.
    pub async fn patient(&self, username: &str) -> Client {
        self.patient_in(username, "UTC").await
    }

    /// Registers and logs in a patient living in time zone `tz`.
    pub async fn patient_in(&self, username: &str, tz: &str) -> Client {
        let mut c = self.client();
        let r = c
            .post(
                "/api/auth/register",
                json!({
                    "username": username,
                    "password": PASSWORD,
                    "pin": PIN,
                    "email": format!("{username}@example.org"),
                    "display_name": format!("Patient {username}"),
                    "time_zone": tz,
                }),
            )
            .await;
        assert_eq!(r.status, 201, "register {username}: {}", r.body);
        c.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
        c.username = username.to_owned();
        c
    }

    /// Registers a clinician, activates it, enrols TOTP and logs in.
    pub async fn clinician(&self, username: &str) -> Client {
        let mut c = self.client();
        let r = c
            .post(
                "/api/auth/register/clinician",
                json!({
                    "username": username,
                    "password": PASSWORD,
                    "pin": PIN,
                    "email": format!("{username}@example.org"),
                    "display_name": format!("Dr {username}"),
                    "areas": "anxiety, depression",
                }),
            )
            .await;
        assert_eq!(r.status, 201, "register clinician {username}: {}", r.body);
        c.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
        c.username = username.to_owned();
        self.exec(&format!(
            "UPDATE users SET status = 'active', activated_at = created_at \
             WHERE username_lower = '{}'",
            username.to_ascii_lowercase()
        ))
        .await;
        // Activation ended nothing here (no developer did it), so the
        // session still works; enrol TOTP on it.
        self.enrol_totp(&mut c).await;
        c
    }

    /// Creates a developer the way the command line does, then logs in
    /// and enrols TOTP.
    pub async fn developer(&self, username: &str) -> Client {
        let hash = healing_space::crypto::hash_secret(PASSWORD.into())
            .await
            .unwrap();
        let pin = healing_space::crypto::hash_secret(PIN.into())
            .await
            .unwrap();
        healing_space::accounts::store::insert(
            &self.state.db,
            &healing_space::accounts::store::NewUser {
                username,
                role: healing_space::accounts::types::Role::Developer,
                status: "active",
                display_name: "Operator",
                email: "ops@example.org",
                password_hash: &hash,
                pin_hash: Some(&pin),
                time_zone: "UTC",
                areas: "",
                now: self.clock().now(),
            },
        )
        .await
        .unwrap();
        let mut c = self.client();
        c.username = username.to_owned();
        let r = c.login_pin(username, PASSWORD, PIN).await;
        assert_eq!(r.status, 200, "developer login: {}", r.body);
        self.enrol_totp(&mut c).await;
        c
    }

    /// Enrols TOTP on the client's session and keeps the secret.
    pub async fn enrol_totp(&self, c: &mut Client) -> Vec<String> {
        let r = c.post_empty("/api/auth/totp/enrol").await;
        assert_eq!(r.status, 200, "totp enrol: {}", r.body);
        let secret = r.body["secret"].as_str().unwrap().to_owned();
        let code = totp::code_at(&secret, self.clock().now()).unwrap();
        let r = c
            .post(
                "/api/auth/totp/confirm",
                json!({ "code": code, "password": PASSWORD }),
            )
            .await;
        assert_eq!(r.status, 200, "totp confirm: {}", r.body);
        c.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
        c.totp_secret = Some(secret);
        // The owner is told by mail; personas are set up before a test
        // begins, so that notice is taken out of the outbox.
        self.discard_mail("An authenticator was added").await;
        r.body["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }

    /// A TOTP code for `c` that has not been used yet: the clock moves on
    /// one step first, since each code is accepted once.
    pub fn next_totp(&self, c: &Client) -> String {
        self.clock().advance(30);
        totp::code_at(
            c.totp_secret.as_ref().expect("enrolled"),
            self.clock().now(),
        )
        .unwrap()
    }

    /// `patient` asks `clinician` for care and the clinician approves.
    pub async fn link(&self, patient: &Client, clinician: &Client) -> i64 {
        let id = self.request_link(patient, clinician).await;
        let r = clinician
            .post_empty(&format!("/api/care-team/requests/{id}/approve"))
            .await;
        assert_eq!(r.status, 200, "approve: {}", r.body);
        id
    }

    /// `patient` asks `clinician` for care; returns the pending link id.
    pub async fn request_link(&self, patient: &Client, clinician: &Client) -> i64 {
        let r = patient
            .post(
                "/api/care-team/requests",
                json!({ "clinician": clinician.username }),
            )
            .await;
        assert_eq!(r.status, 201, "request care: {}", r.body);
        r.body["id"].as_i64().unwrap()
    }

    /// Runs a statement directly on the database.
    pub async fn exec(&self, sql: &str) {
        sqlx::query(sql)
            .execute(self.state.db.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The single integer a query returns (COUNT(*) and the like).
    pub async fn scalar(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql)
            .fetch_one(self.state.db.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        n
    }

    /// The single text value a query returns, if any row.
    pub async fn text(&self, sql: &str) -> Option<String> {
        let row: Option<(Option<String>,)> = sqlx::query_as(sql)
            .fetch_optional(self.state.db.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        row.and_then(|r| r.0)
    }

    /// Decrypts a free-text column value as stored in the database.
    /// Patients' free text (mood notes and medication, journal, gratitude,
    /// thought records, safety plan, chat messages and titles, clinician
    /// notes) is encrypted at rest; `field` is the name bound into the
    /// ciphertext, e.g. "mood.note", "mood.medication", "journal.body",
    /// "gratitude.body", "thought.situation", "safety_plan.plan",
    /// "chat.content", "conversation.title", "note.body".
    pub async fn decrypt(&self, patient: &str, field: &str, stored: &str) -> String {
        let id = self.user_id(patient).await;
        let key = self.state.vault.key(&self.state.db, id).await.unwrap();
        key.open(field, stored).expect("the stored value opens")
    }

    /// Like `text`, then decrypted for `patient`'s `field`.
    pub async fn plain(&self, patient: &str, field: &str, sql: &str) -> Option<String> {
        match self.text(sql).await {
            Some(stored) => Some(self.decrypt(patient, field, &stored).await),
            None => None,
        }
    }

    /// The id of a user.
    pub async fn user_id(&self, username: &str) -> i64 {
        self.scalar(&format!(
            "SELECT id FROM users WHERE username_lower = '{}'",
            username.to_ascii_lowercase()
        ))
        .await
    }

    /// Waits for a message whose text holds `subject` and removes it from
    /// the outbox.
    pub async fn discard_mail(&self, subject: &str) {
        let dir = self.data_dir.join("outbox");
        for _ in 0..100 {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for entry in entries.filter_map(|e| e.ok()) {
                    let path = entry.path();
                    if path.extension().is_some_and(|x| x == "eml") {
                        let text = std::fs::read_to_string(&path).unwrap_or_default();
                        if text.contains(subject) {
                            std::fs::remove_file(&path).unwrap();
                            return;
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no message {subject:?} in the outbox");
    }

    /// Messages in the mail outbox, oldest first, waiting briefly for
    /// background delivery.
    pub async fn outbox(&self, min: usize) -> Vec<String> {
        let dir = self.data_dir.join("outbox");
        for _ in 0..100 {
            let mut names: Vec<_> = std::fs::read_dir(&dir)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| e.path())
                        .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                        .collect()
                })
                .unwrap_or_default();
            if names.len() >= min {
                names.sort();
                return names
                    .iter()
                    .map(|p| std::fs::read_to_string(p).unwrap())
                    .collect();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("expected at least {min} messages in the outbox");
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the JSON error shape with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status; body: {}", self.text);
        assert_eq!(self.body["error"], code, "error code; body: {}", self.text);
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "a human message; body: {}",
            self.text
        );
    }
}

/// An HTTP client with a cookie jar that sends its CSRF token.
pub struct Client {
    pub jar: Arc<Jar>,
    pub http: reqwest::Client,
    pub base: String,
    pub csrf: Option<String>,
    pub username: String,
    pub totp_secret: Option<String>,
}

impl Client {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request with the CSRF token added when the client has one.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut rb = self.http.request(method, self.url(path));
        if let Some(token) = &self.csrf {
            rb = rb.header("x-csrf-token", token);
        }
        rb
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let response = rb.send().await.expect("request sent");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::POST, path).json(&body))
            .await
    }

    pub async fn post_empty(&self, path: &str) -> Resp {
        self.send(self.request(Method::POST, path)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::PUT, path).json(&body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::PATCH, path).json(&body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.request(Method::DELETE, path)).await
    }

    pub async fn delete_json(&self, path: &str, body: Value) -> Resp {
        self.send(self.request(Method::DELETE, path).json(&body))
            .await
    }

    /// Sends raw bytes with the given content type.
    pub async fn post_raw(&self, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Resp {
        let mut rb = self.request(Method::POST, path).body(body);
        if let Some(ct) = content_type {
            rb = rb.header("content-type", ct);
        }
        self.send(rb).await
    }

    /// Logs in with password and PIN; keeps the new CSRF token on success.
    pub async fn login_pin(&mut self, username: &str, password: &str, pin: &str) -> Resp {
        let r = self
            .post(
                "/api/auth/login",
                json!({ "username": username, "password": password, "pin": pin }),
            )
            .await;
        if r.status == 200 {
            self.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
        }
        r
    }

    /// Logs in with password and TOTP code.
    pub async fn login_totp(&mut self, username: &str, password: &str, code: &str) -> Resp {
        let r = self
            .post(
                "/api/auth/login",
                json!({ "username": username, "password": password, "totp_code": code }),
            )
            .await;
        if r.status == 200 {
            self.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
        }
        r
    }

    /// The session cookie's value currently in the jar.
    pub fn session_cookie(&self) -> Option<String> {
        let url = self.base.parse().unwrap();
        let header = self.jar.cookies(&url)?;
        header
            .to_str()
            .ok()?
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| *k == "hs_session")
            .map(|(_, v)| v.to_owned())
    }

    /// Puts a session cookie into the jar, as an attacker planting one would.
    pub fn set_session_cookie(&self, value: &str) {
        let url = self.base.parse().unwrap();
        self.jar
            .add_cookie_str(&format!("hs_session={value}; Path=/"), &url);
    }
}
