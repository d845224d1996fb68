//! The demo clinic (`healing-space demo`): it loads only into an empty
//! database, holds what the SPEC promises a newcomer, is the same on every
//! load, and its accounts log in with the documented secrets.
//!
//! Each test opens its own data folder and database rather than a
//! `TestApp`'s, so the demo always meets a database nobody else has
//! written to. Like the rest of the suite, it uses a fresh PostgreSQL
//! database instead of SQLite when `HS_TEST_POSTGRES_URL` is set.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use healing_space::clock::Clock;
use healing_space::config::{Config, Limit};
use healing_space::crypto::{self, Verified, totp};
use healing_space::demo::{self, DEMO_PASSWORD, DEMO_PIN, HISTORY_DAYS};
use healing_space::types::local_date;
use healing_space::{AppState, app};
use reqwest::cookie::Jar;

use crate::support::Client;

/// A demo data folder with its state, served on 127.0.0.1:0, removed when
/// dropped.
struct DemoApp {
    state: AppState,
    base: String,
    dir: PathBuf,
}

impl Drop for DemoApp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl DemoApp {
    async fn open(clock: Clock) -> DemoApp {
        let dir = std::env::temp_dir().join(format!(
            "hs-demo-{}",
            crypto::random_token(9).replace(['-', '_'], "x")
        ));
        let mut config = Config::for_data_dir(&dir);
        if let Some(url) = postgres_database().await {
            config.database_url = url;
        }
        config.rate_limits.login_per_ip = Limit::per_minute(10_000);
        config.rate_limits.login_per_account = Limit::per_minute(10_000);
        let state = AppState::open(config, clock)
            .await
            .expect("open demo state");
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
        DemoApp {
            state,
            base: format!("http://{addr}"),
            dir,
        }
    }

    fn client(&self) -> Client {
        let jar = Arc::new(Jar::default());
        Client {
            jar: jar.clone(),
            http: reqwest::Client::builder()
                .cookie_provider(jar)
                .build()
                .unwrap(),
            base: self.base.clone(),
            csrf: None,
            username: String::new(),
            totp_secret: None,
        }
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql)
            .fetch_one(self.state.db.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        n
    }

    async fn text(&self, sql: &str) -> String {
        let (s,): (String,) = sqlx::query_as(sql)
            .fetch_one(self.state.db.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        s
    }
}

/// A new PostgreSQL database when the suite runs against one.
async fn postgres_database() -> Option<String> {
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;
    let admin = std::env::var("HS_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())?;
    let name = format!(
        "hs_demo_{}",
        crypto::random_token(9)
            .to_ascii_lowercase()
            .replace(['-', '_'], "x")
    );
    let mut conn = sqlx::postgres::PgConnectOptions::from_str(&admin)
        .unwrap()
        .connect()
        .await
        .expect("connect to PostgreSQL");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create a demo database");
    conn.close().await.ok();
    let (base, _) = admin.rsplit_once('/').expect("a URL with a database name");
    Some(format!("{base}/{name}"))
}

#[tokio::test]
async fn demo_clinic_has_staff_patients_history_and_care_links() {
    let app = DemoApp::open(Clock::default()).await;
    demo::load(&app.state).await.expect("demo loads");

    let count = |role: &str| {
        format!(
            "SELECT COUNT(*) FROM users WHERE role = '{role}' AND status = 'active' \
             AND totp_secret IS NOT NULL"
        )
    };
    assert_eq!(app.scalar(&count("clinician")).await, 2);
    assert_eq!(app.scalar(&count("developer")).await, 1);
    let patients = app
        .scalar("SELECT COUNT(*) FROM users WHERE role = 'patient' AND status = 'active'")
        .await;
    assert_eq!(patients, 12, "{patients} patients");
    assert!(
        app.scalar("SELECT COUNT(DISTINCT time_zone) FROM users WHERE role = 'patient'")
            .await
            >= 2,
        "patients live in more than one time zone"
    );

    let rows = app.scalar("SELECT COUNT(*) FROM mood_entries").await;
    assert!(
        (patients * 60..=patients * HISTORY_DAYS).contains(&rows),
        "{rows} mood entries for {patients} patients"
    );
    // Every patient has a history, some with gaps of several days.
    let thinnest = app
        .scalar(
            "SELECT MIN(n) FROM (SELECT COUNT(m.id) AS n FROM users u \
             LEFT JOIN mood_entries m ON m.patient_id = u.id \
             WHERE u.role = 'patient' GROUP BY u.id) t",
        )
        .await;
    assert!(
        thinnest >= 40,
        "the thinnest history has {thinnest} entries"
    );
    assert!(
        app.scalar("SELECT COUNT(*) FROM mood_entries WHERE note IS NOT NULL")
            .await
            > 0
    );
    // Free text is sealed at rest like anything the API writes (SPEC §14).
    assert_eq!(
        app.scalar(
            "SELECT COUNT(*) FROM mood_entries WHERE medication NOT LIKE 'enc:v1:%' \
             OR (note IS NOT NULL AND note NOT LIKE 'enc:v1:%')"
        )
        .await,
        0
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM patient_keys").await,
        patients
    );
    // History ends yesterday: today is left for the newcomer to log.
    let now = app.state.clock.now();
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM mood_entries WHERE created_at > {now} OR updated_at > {now} \
             OR updated_at < created_at"
        ))
        .await,
        0
    );
    let london_today = local_date(now, "Europe/London").to_string();
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM mood_entries m JOIN users u ON u.id = m.patient_id \
             WHERE u.time_zone = 'Europe/London' AND m.entry_date >= '{london_today}'"
        ))
        .await,
        0
    );

    for (status, min) in [
        ("approved", 8),
        ("pending", 1),
        ("rejected", 1),
        ("ended", 1),
    ] {
        let n = app
            .scalar(&format!(
                "SELECT COUNT(*) FROM care_links WHERE status = '{status}'"
            ))
            .await;
        assert!(n >= min, "{n} {status} links");
    }

    // One hash for everyone (hashed once), and it is the documented password.
    assert_eq!(
        app.scalar("SELECT COUNT(DISTINCT password_hash) FROM users")
            .await,
        1
    );
    let hash = app
        .text("SELECT password_hash FROM users WHERE role = 'patient' LIMIT 1")
        .await;
    assert_eq!(
        crypto::verify_secret_blocking(DEMO_PASSWORD, &hash),
        Verified::Yes
    );
    let pin = app
        .text("SELECT pin_hash FROM users WHERE role = 'patient' LIMIT 1")
        .await;
    assert_eq!(
        crypto::verify_secret_blocking(DEMO_PIN, &pin),
        Verified::Yes
    );
}

#[tokio::test]
async fn demo_refuses_a_database_that_already_has_users() {
    let app = DemoApp::open(Clock::default()).await;
    demo::seed(&app.state).await.expect("first load");
    let users = app.scalar("SELECT COUNT(*) FROM users").await;
    let moods = app.scalar("SELECT COUNT(*) FROM mood_entries").await;

    let err = demo::load(&app.state)
        .await
        .expect_err("a second load is refused");
    assert!(
        format!("{err:#}").contains("already has"),
        "a clear reason: {err:#}"
    );
    assert_eq!(app.scalar("SELECT COUNT(*) FROM users").await, users);
    assert_eq!(app.scalar("SELECT COUNT(*) FROM mood_entries").await, moods);
}

/// One mood entry as compared between loads: who, day, mood, sleep, whether
/// it has a note (sealed notes differ by their random nonce), time.
type HistoryRow = (String, String, i64, Option<i64>, i64, i64);

#[tokio::test]
async fn demo_history_is_the_same_on_every_load() {
    let mut loads: Vec<Vec<HistoryRow>> = Vec::new();
    for _ in 0..2 {
        let clock = Clock::default();
        clock.set(1_790_000_000);
        let app = DemoApp::open(clock).await;
        demo::seed(&app.state).await.expect("demo loads");
        let rows = sqlx::query_as(
            "SELECT u.username, m.entry_date, m.mood, m.sleep_tenths, \
             CASE WHEN m.note IS NULL THEN 0 ELSE 1 END, m.created_at \
             FROM mood_entries m JOIN users u ON u.id = m.patient_id \
             ORDER BY u.username, m.entry_date",
        )
        .fetch_all(app.state.db.pool())
        .await
        .unwrap();
        loads.push(rows);
    }
    assert!(!loads[0].is_empty());
    assert_eq!(loads[0], loads[1]);
}

#[tokio::test]
async fn demo_patient_and_clinician_log_in_with_the_printed_secrets() {
    let app = DemoApp::open(Clock::default()).await;
    let clinic = demo::seed(&app.state).await.expect("demo loads");
    let printed = demo::summary(&app.state, &clinic);
    assert!(printed.contains(DEMO_PASSWORD) && printed.contains("totp-code"));

    let mut patient = app.client();
    let r = patient
        .login_pin("amelia.hughes", DEMO_PASSWORD, DEMO_PIN)
        .await;
    assert_eq!(r.status, 200, "patient login: {}", r.body);
    let r = patient.get("/api/mood").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let entries = r.body["entries"].as_array().unwrap();
    assert!(
        (20..=30).contains(&entries.len()),
        "{} entries in 30 days",
        entries.len()
    );
    // The sealed notes and medication open with the patient's key.
    assert!(entries.iter().any(|e| e["note"].is_string()), "{}", r.body);
    assert!(
        entries
            .iter()
            .all(|e| e["medication"].as_array().is_some_and(|m| m.len() <= 1)),
        "{}",
        r.body
    );
    assert!(
        entries
            .iter()
            .any(|e| e["medication"][0] == "Sertraline 50 mg"),
        "{}",
        r.body
    );

    let clinician = clinic
        .logins
        .iter()
        .find(|l| l.username == "dr.adeyemi")
        .unwrap();
    let secret = clinician.totp_secret.as_deref().expect("a TOTP secret");
    assert!(
        printed.contains(secret),
        "the secret is printed for the newcomer"
    );
    let code = totp::code_at(secret, app.state.clock.now()).unwrap();
    let mut c = app.client();
    let r = c.login_totp("dr.adeyemi", DEMO_PASSWORD, &code).await;
    assert_eq!(r.status, 200, "clinician login: {}", r.body);
    let r = c.get("/api/clinician/patients").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let caseload = r.body["patients"].as_array().unwrap();
    assert!(
        caseload.iter().any(|p| p["username"] == "amelia.hughes"),
        "{}",
        r.body
    );
    let r = c.get("/api/clinician/patients/amelia.hughes/mood").await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A patient with only a pending request stays closed to the clinician.
    let r = c.get("/api/clinician/patients/samuel.okafor/mood").await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.body["error"], "not_found");
}
