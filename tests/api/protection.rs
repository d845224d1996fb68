//! Protection of what the service stores (SPEC §13, §14): patients' free
//! text encrypted at rest under per-patient keys wrapped by the master
//! key, erasure that leaves nothing personal behind, exports of one's own
//! data, and the hash-chained, append-only audit log.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use data_encoding::BASE64;
use healing_space::audit::{ChainReport, verify_chain};
use healing_space::clock::Clock;
use healing_space::config::{Config, SecretText};
use healing_space::db::Backend;
use healing_space::{AppState, app};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

// ---------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------

/// One unique marker per kind of free text, so that a leak names its
/// source. No marker contains a username, so searches for one cannot be
/// confused with the other.
struct Marks {
    mood_note: String,
    medication: String,
    journal: String,
    gratitude: String,
    thought: String,
    safety_plan: String,
    chat: String,
    clinician_note: String,
}

impl Marks {
    fn new(tag: &str) -> Marks {
        let m = |words: &str| format!("{words}-{tag}");
        Marks {
            mood_note: m("zebra-umbrella"),
            medication: m("quokka-lantern"),
            journal: m("walrus-teapot"),
            gratitude: m("narwhal-kettle"),
            thought: m("pangolin-anchor"),
            safety_plan: m("axolotl-compass"),
            chat: m("ocelot-trumpet"),
            clinician_note: m("tapir-mandolin"),
        }
    }

    fn all(&self) -> [&str; 8] {
        [
            &self.mood_note,
            &self.medication,
            &self.journal,
            &self.gratitude,
            &self.thought,
            &self.safety_plan,
            &self.chat,
            &self.clinician_note,
        ]
    }

    fn note_text(&self) -> String {
        format!("Felt calmer after the walk {}", self.mood_note)
    }

    fn journal_text(&self) -> String {
        format!("Wrote about the week {}", self.journal)
    }

    fn gratitude_text(&self) -> String {
        format!("My sister called {}", self.gratitude)
    }

    fn situation_text(&self) -> String {
        format!("The meeting ran late {}", self.thought)
    }

    fn warning_sign(&self) -> String {
        format!("Skipping meals {}", self.safety_plan)
    }

    fn chat_text(&self) -> String {
        format!("I kept thinking about the weekend {}", self.chat)
    }

    fn clinician_note_text(&self) -> String {
        format!("Reviewed sleep diary {}", self.clinician_note)
    }
}

/// What a patient wrote that the tests come back to.
struct Written {
    conversation: i64,
}

/// The patient writes one of each kind of free text, each carrying its
/// marker; the clinician, when given, writes a note on the patient.
async fn write_everything(patient: &Client, clinician: Option<&Client>, marks: &Marks) -> Written {
    let r = patient
        .post(
            "/api/mood",
            json!({
                "mood": 6,
                "sleep_hours": 7.5,
                "medication": [marks.medication],
                "note": marks.note_text(),
            }),
        )
        .await;
    assert_eq!(r.status, 201, "mood: {}", r.text);
    let r = patient
        .post("/api/journal", json!({ "body": marks.journal_text() }))
        .await;
    assert_eq!(r.status, 201, "journal: {}", r.text);
    let r = patient
        .post("/api/gratitude", json!({ "body": marks.gratitude_text() }))
        .await;
    assert_eq!(r.status, 201, "gratitude: {}", r.text);
    let r = patient
        .post(
            "/api/thought-records",
            json!({
                "situation": marks.situation_text(),
                "automatic_thought": "They think I am slow.",
                "emotions": [{ "name": "anxious", "intensity": 60 }],
                "balanced_thought": "Meetings overrun for everyone.",
            }),
        )
        .await;
    assert_eq!(r.status, 201, "thought record: {}", r.text);
    let r = patient
        .put(
            "/api/safety-plan",
            json!({ "warning_signs": [marks.warning_sign()] }),
        )
        .await;
    assert_eq!(r.status, 200, "safety plan: {}", r.text);
    let r = patient
        .post("/api/therapy/chat", json!({ "message": marks.chat_text() }))
        .await;
    assert_eq!(r.status, 200, "chat: {}", r.text);
    assert_eq!(r.body["message"]["content"], marks.chat_text());
    let conversation = r.body["conversation_id"].as_i64().expect("a conversation");
    if let Some(clinician) = clinician {
        let r = clinician
            .post(
                &format!("/api/clinician/patients/{}/notes", patient.username),
                json!({ "body": marks.clinician_note_text() }),
            )
            .await;
        assert_eq!(r.status, 201, "note: {}", r.text);
    }
    Written { conversation }
}

/// Every piece of free text reads back in plain text through the API.
async fn assert_reads_everything(
    patient: &Client,
    clinician: &Client,
    marks: &Marks,
    written: &Written,
) {
    let r = patient.get("/api/mood").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["entries"][0]["note"], marks.note_text());
    assert_eq!(
        r.body["entries"][0]["medication"],
        json!([marks.medication])
    );
    let r = patient.get("/api/journal").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["entries"][0]["body"], marks.journal_text());
    let r = patient.get("/api/gratitude").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["entries"][0]["body"], marks.gratitude_text());
    let r = patient.get("/api/thought-records").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["thought_records"][0]["situation"],
        marks.situation_text()
    );
    assert_eq!(
        r.body["thought_records"][0]["emotions"],
        json!([{ "name": "anxious", "intensity": 60 }])
    );
    let r = patient.get("/api/safety-plan").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["plan"]["warning_signs"],
        json!([marks.warning_sign()])
    );
    let r = patient
        .get(&format!(
            "/api/therapy/conversations/{}",
            written.conversation
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["messages"][0]["role"], "user");
    assert_eq!(r.body["messages"][0]["content"], marks.chat_text());
    let r = clinician
        .get(&format!(
            "/api/clinician/patients/{}/notes",
            patient.username
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["notes"][0]["body"], marks.clinician_note_text());
}

/// The encrypted columns, as `(table, column, field bound into the
/// ciphertext)`.
const SEALED_COLUMNS: [(&str, &str, &str); 11] = [
    ("mood_entries", "note", "mood.note"),
    ("mood_entries", "medication", "mood.medication"),
    ("journal_entries", "body", "journal.body"),
    ("gratitude_entries", "body", "gratitude.body"),
    ("thought_records", "situation", "thought.situation"),
    (
        "thought_records",
        "automatic_thought",
        "thought.automatic_thought",
    ),
    ("thought_records", "emotions", "thought.emotions"),
    ("safety_plans", "plan", "safety_plan.plan"),
    ("conversations", "title", "conversation.title"),
    ("clinician_notes", "body", "note.body"),
    ("chat_messages", "content", "chat.content"),
];

fn on_postgres(app: &TestApp) -> bool {
    app.state.db.backend() == Backend::Postgres
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The bytes of the SQLite database as they lie on disk, main file and
/// write-ahead log, after moving the log into the main file.
async fn database_file_bytes(app: &TestApp) -> Vec<u8> {
    app.exec("PRAGMA wal_checkpoint(TRUNCATE)").await;
    let mut bytes = std::fs::read(app.data_dir.join("test.db")).expect("the database file");
    if let Ok(wal) = std::fs::read(app.data_dir.join("test.db-wal")) {
        bytes.extend(wal);
    }
    bytes
}

/// Serves another `AppState` on 127.0.0.1 and returns its base URL.
async fn serve(state: AppState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app(state);
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    format!("http://{addr}")
}

/// The same persona (same cookies, same CSRF token) talking to another
/// server. Cookies are matched by host, not port, so the session follows.
fn at(c: &Client, base: &str) -> Client {
    Client {
        jar: c.jar.clone(),
        http: c.http.clone(),
        base: base.to_owned(),
        csrf: c.csrf.clone(),
        username: c.username.clone(),
        totp_secret: c.totp_secret.clone(),
    }
}

/// Asserts the opaque 500 a request gets when stored text cannot be
/// opened: a request id to quote, and none of the text.
fn assert_unreadable(r: &Resp, secret: &str, what: &str) {
    r.assert_error(500, "internal_error");
    let id = r.body["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no request_id: {}", r.text));
    assert!(!id.is_empty(), "{what}");
    assert_eq!(r.header("x-request-id"), Some(id), "{what}");
    assert!(!r.text.contains(secret), "{what}: {}", r.text);
}

/// A folder removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "hs-protection-{}",
            healing_space::crypto::random_token(9).replace(['-', '_'], "x")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `DELETE /api/me` with a JSON body.
async fn erase(c: &Client, body: Value) -> Resp {
    c.send(c.request(Method::DELETE, "/api/me").json(&body))
        .await
}

/// Where a patient's rows live, as `(table, column holding their id)`.
const PATIENT_ROWS: [(&str, &str); 21] = [
    ("users", "id"),
    ("sessions", "user_id"),
    ("recovery_codes", "user_id"),
    ("password_resets", "user_id"),
    ("email_codes", "user_id"),
    ("mood_entries", "patient_id"),
    ("journal_entries", "patient_id"),
    ("gratitude_entries", "patient_id"),
    ("thought_records", "patient_id"),
    ("safety_plans", "patient_id"),
    ("reminder_settings", "patient_id"),
    ("conversations", "patient_id"),
    ("assessments", "patient_id"),
    ("alerts", "patient_id"),
    ("care_links", "patient_id"),
    ("notifications", "user_id"),
    ("notifications", "subject_id"),
    ("access_log", "patient_id"),
    ("access_log", "accessor_id"),
    ("patient_keys", "patient_id"),
    ("clinician_notes", "patient_id"),
];

/// How many rows each table holds for user `id`.
async fn footprint(app: &TestApp, id: i64) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for (table, column) in PATIENT_ROWS {
        let n = app
            .scalar(&format!(
                "SELECT COUNT(*) FROM {table} WHERE {column} = {id}"
            ))
            .await;
        out.push((format!("{table}.{column}"), n));
    }
    out
}

/// Every `(table, column)` of the schema but the migrations' own table.
async fn all_columns(app: &TestApp) -> Vec<(String, String)> {
    let sql = if on_postgres(app) {
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations' \
         ORDER BY table_name, column_name"
    } else {
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' \
         AND m.name <> '_sqlx_migrations' ORDER BY m.name, p.name"
    };
    sqlx::query_as(sql)
        .fetch_all(app.state.db.pool())
        .await
        .unwrap()
}

/// Every `table.column` whose value, as text, contains `needle` (any case).
async fn mentions(app: &TestApp, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (table, column) in all_columns(app).await {
        let n = app
            .scalar(&format!(
                "SELECT COUNT(*) FROM {table} \
                 WHERE LOWER(CAST({column} AS TEXT)) LIKE '%{}%'",
                needle.to_lowercase()
            ))
            .await;
        if n > 0 {
            found.push(format!("{table}.{column} ({n})"));
        }
    }
    found
}

type AuditRow = (
    i64,
    i64,
    Option<i64>,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

async fn audit_rows(app: &TestApp) -> Vec<AuditRow> {
    sqlx::query_as(
        "SELECT id, created_at, actor_id, action, outcome, target_id, ip, request_id, detail, \
         prev_hash, row_hash FROM audit_log ORDER BY id",
    )
    .fetch_all(app.state.db.pool())
    .await
    .unwrap()
}

async fn audit_count(app: &TestApp, action: &str, actor: i64, target: i64) -> i64 {
    app.scalar(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = '{action}' \
         AND actor_id = {actor} AND target_id = {target}"
    ))
    .await
}

async fn wrapped_key(app: &TestApp, patient: i64) -> Option<String> {
    app.text(&format!(
        "SELECT wrapped_key FROM patient_keys WHERE patient_id = {patient}"
    ))
    .await
}

/// Notifications `user` holds about patient `subject`.
async fn notifications_about(app: &TestApp, user: i64, subject: i64) -> i64 {
    app.scalar(&format!(
        "SELECT COUNT(*) FROM notifications WHERE user_id = {user} AND subject_id = {subject}"
    ))
    .await
}

/// Times `reader` exported `patient`'s CSV, by the patient's access log.
async fn csv_reads(app: &TestApp, patient: i64, reader: i64) -> i64 {
    app.scalar(&format!(
        "SELECT COUNT(*) FROM access_log WHERE patient_id = {patient} \
         AND accessor_id = {reader} AND resource = 'csv_export'"
    ))
    .await
}

async fn chain(app: &TestApp) -> ChainReport {
    verify_chain(&app.state.db).await.expect("walk the chain")
}

/// `healing-space audit verify` on the app's data folder and database:
/// its exit status and standard output.
async fn audit_verify_cli(app: &TestApp) -> (i32, String) {
    let data_dir = app.data_dir.clone();
    let url = app.state.config.database_url.clone();
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_healing-space"))
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--database-url")
            .arg(&url)
            .args(["audit", "verify"])
            .env_remove("HS_MASTER_KEY")
            .env_remove("HS_PRODUCTION")
            .env_remove("HS_DATA_DIR")
            .env_remove("HS_DATABASE_URL")
            .env_remove("HS_LOG_FORMAT")
            .env("HS_LOG", "error")
            .output()
            .expect("run healing-space");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// Drops the triggers that keep the audit log append-only, as someone
/// with direct database access could.
async fn drop_audit_triggers(app: &TestApp) {
    if on_postgres(app) {
        app.exec("DROP TRIGGER audit_log_no_change ON audit_log")
            .await;
    } else {
        app.exec("DROP TRIGGER audit_log_no_update").await;
        app.exec("DROP TRIGGER audit_log_no_delete").await;
    }
}

// ---------------------------------------------------------------------
// Encryption at rest (SPEC §14)
// ---------------------------------------------------------------------

#[tokio::test]
async fn free_text_is_stored_encrypted_and_read_back_in_plain_text() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let drbob = app.clinician("drbob").await;
    app.link(&alice, &drbob).await;
    let marks = Marks::new("k1");
    let written = write_everything(&alice, Some(&drbob), &marks).await;
    assert_reads_everything(&alice, &drbob, &marks, &written).await;

    // Every sealed column of hers is ciphertext that opens, with her key,
    // to what she wrote.
    let alice_id = app.user_id("alice").await;
    for (table, column, field) in SEALED_COLUMNS {
        let owner = if table == "chat_messages" {
            format!("conversation_id = {}", written.conversation)
        } else {
            format!("patient_id = {alice_id}")
        };
        let stored: Vec<(String,)> =
            sqlx::query_as(&format!("SELECT {column} FROM {table} WHERE {owner}"))
                .fetch_all(app.state.db.pool())
                .await
                .unwrap();
        assert!(!stored.is_empty(), "{table}.{column} holds nothing");
        for (value,) in stored {
            assert!(
                value.starts_with("enc:v1:"),
                "{table}.{column} stored in clear: {value}"
            );
            let plain = app.decrypt("alice", field, &value).await;
            assert_ne!(plain, value, "{table}.{column}");
        }
    }
    assert_eq!(
        app.plain(
            "alice",
            "journal.body",
            &format!("SELECT body FROM journal_entries WHERE patient_id = {alice_id}")
        )
        .await
        .as_deref(),
        Some(marks.journal_text().as_str())
    );
    assert_eq!(
        app.plain(
            "alice",
            "note.body",
            &format!("SELECT body FROM clinician_notes WHERE patient_id = {alice_id}")
        )
        .await
        .as_deref(),
        Some(marks.clinician_note_text().as_str())
    );
    assert_eq!(
        app.plain(
            "alice",
            "mood.medication",
            &format!("SELECT medication FROM mood_entries WHERE patient_id = {alice_id}")
        )
        .await
        .as_deref(),
        Some(json!([marks.medication]).to_string().as_str())
    );

    // No marker is anywhere in the database files, in any page or in the
    // log. Her email is stored in clear, which shows the search would find
    // clear text if there were any.
    if !on_postgres(&app) {
        let bytes = database_file_bytes(&app).await;
        assert!(
            contains(&bytes, b"alice@example.org"),
            "the byte search finds clear text"
        );
        for marker in marks.all() {
            assert!(
                !contains(&bytes, marker.as_bytes()),
                "{marker} lies in clear in the database file"
            );
        }
    }

    // The master key file the first start made: 32 random bytes in
    // Base64, readable by its owner only.
    let key_file = app.data_dir.join("master.key");
    let text = std::fs::read_to_string(&key_file).expect("master.key exists");
    assert_eq!(BASE64.decode(text.trim().as_bytes()).unwrap().len(), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "master.key mode {mode:o}");
    }
    // The stored patient key is wrapped, not the raw key.
    let wrapped = app
        .text(&format!(
            "SELECT wrapped_key FROM patient_keys WHERE patient_id = {alice_id}"
        ))
        .await
        .expect("alice has a data key");
    assert!(BASE64.decode(wrapped.as_bytes()).unwrap().len() > 32);
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_patient_or_field_does_not_open() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let bob = app.patient("bob").await;
    let alice_marks = Marks::new("k1");
    let bob_marks = Marks::new("k2");
    write_everything(&alice, None, &alice_marks).await;
    write_everything(&bob, None, &bob_marks).await;
    let alice_id = app.user_id("alice").await;
    let bob_id = app.user_id("bob").await;
    let alices = app
        .text(&format!(
            "SELECT body FROM journal_entries WHERE patient_id = {alice_id}"
        ))
        .await
        .unwrap();

    // Bob's key does not open Alice's ciphertext; hers does.
    let bob_key = app.state.vault.key(&app.state.db, bob_id).await.unwrap();
    assert!(bob_key.open("journal.body", &alices).is_err());
    assert_eq!(
        app.decrypt("alice", "journal.body", &alices).await,
        alice_marks.journal_text()
    );

    // Copied into Bob's row, it fails to open: Bob gets an opaque error,
    // never Alice's words.
    app.exec(&format!(
        "UPDATE journal_entries SET body = '{alices}' WHERE patient_id = {bob_id}"
    ))
    .await;
    let r = bob.get("/api/journal").await;
    assert_unreadable(&r, &alice_marks.journal, "bob's journal");
    assert!(!r.text.contains(&bob_marks.journal), "{}", r.text);
    // Alice's own copy still reads.
    let r = alice.get("/api/journal").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["entries"][0]["body"], alice_marks.journal_text());

    // Moved to another field of her own, it fails too: the field name is
    // bound into the ciphertext.
    let note = app
        .text(&format!(
            "SELECT note FROM mood_entries WHERE patient_id = {alice_id}"
        ))
        .await
        .unwrap();
    app.exec(&format!(
        "UPDATE gratitude_entries SET body = '{note}' WHERE patient_id = {alice_id}"
    ))
    .await;
    let r = alice.get("/api/gratitude").await;
    assert_unreadable(&r, &alice_marks.mood_note, "alice's gratitude");
}

#[tokio::test]
async fn the_same_master_key_reads_everything_after_a_restart_and_another_reads_nothing() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let drbob = app.clinician("drbob").await;
    app.link(&alice, &drbob).await;
    let marks = Marks::new("k1");
    let written = write_everything(&alice, Some(&drbob), &marks).await;
    let alice_id = app.user_id("alice").await;
    let wrapped_before = wrapped_key(&app, alice_id).await;

    // A second start on the same data folder takes the same master.key.
    let same = AppState::open((*app.state.config).clone(), app.clock().clone())
        .await
        .expect("a restart opens");
    let base = serve(same).await;
    assert_reads_everything(&at(&alice, &base), &at(&drbob, &base), &marks, &written).await;

    // A start with another master key finds the same database but cannot
    // unwrap the patient keys: every read is an opaque 500.
    let other: Vec<u8> = (100..132).collect();
    let mut config = (*app.state.config).clone();
    config.master_key = Some(SecretText(BASE64.encode(&other)));
    let stranger = AppState::open(config, app.clock().clone())
        .await
        .expect("a strong key opens");
    let base = serve(stranger).await;
    let (alice2, drbob2) = (at(&alice, &base), at(&drbob, &base));
    for (path, marker) in [
        ("/api/mood", &marks.mood_note),
        ("/api/journal", &marks.journal),
        ("/api/gratitude", &marks.gratitude),
        ("/api/thought-records", &marks.thought),
        ("/api/safety-plan", &marks.safety_plan),
        ("/api/me/export", &marks.chat),
    ] {
        assert_unreadable(&alice2.get(path).await, marker, path);
    }
    let r = alice2
        .get(&format!(
            "/api/therapy/conversations/{}",
            written.conversation
        ))
        .await;
    assert_unreadable(&r, &marks.chat, "conversation");
    let r = drbob2.get("/api/clinician/patients/alice/notes").await;
    assert_unreadable(&r, &marks.clinician_note, "notes");

    // It replaced nothing: the wrapped key is as it was, and the first
    // server still reads everything.
    assert_eq!(wrapped_key(&app, alice_id).await, wrapped_before);
    assert_reads_everything(&alice, &drbob, &marks, &written).await;
}

#[tokio::test]
async fn production_mode_requires_a_strong_configured_master_key() {
    let dir = TempDir::new();
    let mut config = Config::for_data_dir(dir.path());
    config.production = true;
    let refusal = |result: anyhow::Result<AppState>| match result {
        Ok(_) => panic!("the service started"),
        Err(err) => format!("{err:#}"),
    };

    let message = refusal(AppState::open(config.clone(), Clock::default()).await);
    assert!(
        message.contains("production mode needs a master key in HS_MASTER_KEY"),
        "{message}"
    );
    // Thirty-two zero bytes are the right length and no key at all.
    config.master_key = Some(SecretText(BASE64.encode(&[0u8; 32])));
    let message = refusal(AppState::open(config.clone(), Clock::default()).await);
    assert!(message.contains("too regular to be random"), "{message}");
    config.master_key = Some(SecretText(BASE64.encode(&[7u8; 16])));
    let message = refusal(AppState::open(config.clone(), Clock::default()).await);
    assert!(message.contains("must be 32 bytes"), "{message}");
    assert!(
        !dir.path().join("master.key").exists(),
        "production never falls back to a key file"
    );

    let strong = healing_space::crypto::random_bytes(32);
    config.master_key = Some(SecretText(BASE64.encode(&strong)));
    let state = AppState::open(config, Clock::default())
        .await
        .expect("a strong key starts the service");
    assert!(!dir.path().join("master.key").exists());
    assert_eq!(format!("{:?}", state.vault), "Vault(****)");
    assert!(!format!("{:?}", state.config).contains(&BASE64.encode(&strong)));
}

// ---------------------------------------------------------------------
// Erasure (SPEC §13)
// ---------------------------------------------------------------------

#[tokio::test]
async fn erasure_removes_every_trace_and_keeps_an_impersonal_tombstone() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let bob = app.patient("bob").await;
    let drbob = app.clinician("drbob").await;
    app.link(&alice, &drbob).await;
    app.link(&bob, &drbob).await;
    let marks = Marks::new("k1");
    let bob_marks = Marks::new("k2");
    let written = write_everything(&alice, Some(&drbob), &marks).await;
    write_everything(&bob, Some(&drbob), &bob_marks).await;
    // A PHQ-9 with thoughts of self-harm raises an alert, which tells
    // drbob about her.
    let r = alice
        .post(
            "/api/assessments/phq9",
            json!({ "answers": [1, 1, 1, 1, 1, 1, 1, 1, 1] }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = alice
        .put("/api/me/reminder", json!({ "hour": 9, "enabled": true }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = alice.post_empty("/api/auth/send-verification").await;
    assert_eq!(r.status, 202, "{}", r.text);
    let r = app
        .client()
        .post("/api/auth/forgot-password", json!({ "username": "alice" }))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    // A mistyped password leaves a failed-login counter under her name.
    let r = app.client().login_pin("alice", "Wrong!pass1", PIN).await;
    r.assert_error(401, "invalid_credentials");
    let r = drbob.get("/api/clinician/patients/alice/mood").await;
    assert_eq!(r.status, 200, "{}", r.text);

    let alice_id = app.user_id("alice").await;
    let drbob_id = app.user_id("drbob").await;
    let before = footprint(&app, alice_id).await;
    for (place, n) in &before {
        // She read nobody's record, and has no TOTP.
        if !["access_log.accessor_id", "recovery_codes.user_id"].contains(&place.as_str()) {
            assert!(*n > 0, "no data in {place} to erase: {before:?}");
        }
    }
    // Her request, his approval and the alert.
    assert_eq!(notifications_about(&app, drbob_id, alice_id).await, 3);
    let bob_before = footprint(&app, app.user_id("bob").await).await;
    let session = alice.session_cookie().expect("alice is logged in");

    // Without the password, or with a wrong one: refused, nothing changes.
    let r = erase(&alice, json!({})).await;
    r.assert_error(400, "missing_field");
    assert_eq!(r.body["field"], "password");
    let r = erase(&alice, json!({ "password": "Wrong!pass1" })).await;
    r.assert_error(400, "invalid_field");
    assert_eq!(r.body["field"], "password");
    assert_eq!(r.header("set-cookie"), None);
    assert_eq!(footprint(&app, alice_id).await, before);
    assert_eq!(alice.get("/api/me").await.status, 200);
    assert_eq!(
        audit_count(&app, "account.erased", alice_id, alice_id).await,
        0
    );

    // With it: erased at once, and the browser told to forget the cookie.
    let r = erase(&alice, json!({ "password": PASSWORD })).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({ "status": "erased" }));
    let cookie = r.header("set-cookie").expect("a clearing cookie");
    assert!(
        cookie.starts_with("hs_session=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );

    // Nothing of hers is left in any table.
    for (place, n) in footprint(&app, alice_id).await {
        assert_eq!(n, 0, "{place} still holds her rows");
    }
    assert_eq!(
        app.scalar(&format!(
            "SELECT COUNT(*) FROM chat_messages WHERE conversation_id = {}",
            written.conversation
        ))
        .await,
        0
    );
    assert_eq!(notifications_about(&app, drbob_id, alice_id).await, 0);
    // No row anywhere but the audit log's tombstone even names her.
    assert_eq!(mentions(&app, "alice").await, Vec::<String>::new());
    assert_eq!(
        mentions(&app, "alice@example.org").await,
        Vec::<String>::new()
    );
    // Bob lost nothing.
    assert_eq!(footprint(&app, app.user_id("bob").await).await, bob_before);
    let r = drbob.get("/api/clinician/patients/bob/journal").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["entries"][0]["body"], bob_marks.journal_text());

    // Her old session is dead, and her credentials open nothing.
    let stale = app.client();
    stale.set_session_cookie(&session);
    stale
        .get("/api/me")
        .await
        .assert_error(401, "session_expired");
    alice.get("/api/me").await.assert_error(401, "unauthorized");
    let r = app.client().login_pin("alice", PASSWORD, PIN).await;
    r.assert_error(401, "invalid_credentials");

    // Her clinician finds no trace of her behind any route.
    for path in [
        "mood",
        "journal",
        "gratitude",
        "thought-records",
        "safety-plan",
        "assessments",
        "notes",
        "timeline",
    ] {
        let r = drbob
            .get(&format!("/api/clinician/patients/alice/{path}"))
            .await;
        r.assert_error(404, "not_found");
    }
    let r = drbob
        .post(
            "/api/clinician/patients/alice/notes",
            json!({ "body": "Follow-up booked." }),
        )
        .await;
    r.assert_error(404, "not_found");
    for path in [
        "/api/export/csv?patient=alice",
        "/api/export/fhir?patient=alice",
    ] {
        drbob.get(path).await.assert_error(404, "not_found");
    }
    for path in [
        "/api/clinician/patients",
        "/api/notifications",
        "/api/alerts",
    ] {
        let r = drbob.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert!(
            !r.text.to_lowercase().contains("alice"),
            "{path}: {}",
            r.text
        );
    }

    // The audit log keeps the fact, with her number and nothing personal.
    let tombstones: Vec<AuditRow> = audit_rows(&app)
        .await
        .into_iter()
        .filter(|r| r.3 == "account.erased")
        .collect();
    assert_eq!(tombstones.len(), 1, "{tombstones:?}");
    let t = &tombstones[0];
    assert_eq!(
        (t.2, t.4.as_str(), t.5),
        (Some(alice_id), "ok", Some(alice_id))
    );
    assert_eq!(
        serde_json::from_str::<Value>(&t.8).unwrap(),
        json!({ "role": "patient" })
    );
    let everything = format!("{:?}", audit_rows(&app).await).to_lowercase();
    for needle in ["alice", "alice@example.org"]
        .into_iter()
        .chain(marks.all())
        .chain(bob_marks.all())
    {
        assert!(!everything.contains(needle), "the audit log holds {needle}");
    }
    let rows = app.scalar("SELECT COUNT(*) FROM audit_log").await as u64;
    assert_eq!(chain(&app).await, ChainReport::Intact { rows });
}

#[tokio::test]
async fn only_patients_erase_themselves_through_the_api() {
    let app = TestApp::new().await;
    let drbob = app.clinician("drbob").await;
    let drbob_id = app.user_id("drbob").await;
    let before = footprint(&app, drbob_id).await;
    let r = erase(&drbob, json!({ "password": PASSWORD })).await;
    r.assert_error(403, "forbidden");
    assert_eq!(footprint(&app, drbob_id).await, before);
    assert_eq!(drbob.get("/api/me").await.status, 200);
    let dev = app.developer("ops").await;
    erase(&dev, json!({ "password": PASSWORD }))
        .await
        .assert_error(403, "forbidden");
    assert_eq!(app.scalar("SELECT COUNT(*) FROM users").await, 2);
    app.client()
        .send(
            app.client()
                .request(Method::DELETE, "/api/me")
                .json(&json!({ "password": PASSWORD })),
        )
        .await
        .assert_error(401, "unauthorized");
}

// ---------------------------------------------------------------------
// Exports (SPEC §13)
// ---------------------------------------------------------------------

#[tokio::test]
async fn the_full_copy_holds_her_data_in_plain_text_and_nobody_elses() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let bob = app.patient("bob").await;
    let drbob = app.clinician("drbob").await;
    app.link(&alice, &drbob).await;
    let marks = Marks::new("k1");
    let bob_marks = Marks::new("k2");
    write_everything(&alice, Some(&drbob), &marks).await;
    write_everything(&bob, None, &bob_marks).await;
    let alice_id = app.user_id("alice").await;

    let r = alice.get("/api/me/export").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"healing-space-alice.json\"")
    );
    let b = &r.body;
    assert_eq!(b["account"]["username"], "alice");
    assert_eq!(b["account"]["email"], "alice@example.org");
    assert_eq!(b["mood_entries"][0]["note"], marks.note_text());
    assert_eq!(
        b["mood_entries"][0]["medication"],
        json!([marks.medication])
    );
    assert_eq!(b["journal"][0]["body"], marks.journal_text());
    assert_eq!(b["gratitude"][0]["body"], marks.gratitude_text());
    assert_eq!(b["thought_records"][0]["situation"], marks.situation_text());
    assert_eq!(
        b["safety_plan"]["warning_signs"],
        json!([marks.warning_sign()])
    );
    assert_eq!(
        b["conversations"][0]["messages"][0]["content"],
        marks.chat_text()
    );
    assert_eq!(b["care_team"][0]["clinician"], "drbob");
    assert_eq!(b["care_team"][0]["status"], "approved");
    // drbob's note was written into her record, and she sees who looked.
    assert_eq!(b["access_log"][0]["resource"], "notes");
    for marker in bob_marks.all() {
        assert!(!r.text.contains(marker), "bob's {marker} in alice's copy");
    }
    assert!(!r.text.contains("bob@example.org"));
    assert_eq!(
        audit_count(&app, "export.full", alice_id, alice_id).await,
        1
    );

    // Only a patient has a record to copy; nobody copies another's.
    drbob
        .get("/api/me/export")
        .await
        .assert_error(403, "forbidden");
    app.client()
        .get("/api/me/export")
        .await
        .assert_error(401, "unauthorized");
    let r = bob.get("/api/me/export").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"healing-space-bob.json\"")
    );
    for marker in marks.all() {
        assert!(!r.text.contains(marker), "alice's {marker} in bob's copy");
    }
}

const CSV_HEADER: &str = "date,mood,sleep_quality,sleep_hours,anxiety,exercise_minutes,\
outdoor_minutes,medication,note";

#[tokio::test]
async fn the_csv_follows_rfc_4180_and_defuses_formulas() {
    let app = TestApp::new().await;
    let mut alice = app.patient("alice").await;
    let entries = [
        json!({
            "mood": 6,
            "sleep_quality": 7,
            "sleep_hours": 7.5,
            "anxiety": 3,
            "exercise_minutes": 30,
            "outdoor_minutes": 45,
            "medication": ["sertraline 50mg", "melatonin"],
            "note": "Walked, then \"rested\"\nall evening",
        }),
        json!({ "mood": 4, "sleep_hours": 8, "note": "=1+2" }),
        json!({ "mood": 5, "note": "+44 20 7946 0000" }),
        json!({ "mood": 3, "note": "-5 points today" }),
        json!({ "mood": 7, "note": "@SUM(A1:A9)", "medication": ["=cmd|' /C calc'!A0"] }),
        json!({ "mood": 8 }),
    ];
    let mut dates = Vec::new();
    for entry in &entries {
        let r = alice.post("/api/mood", entry.clone()).await;
        assert_eq!(r.status, 201, "{entry}: {}", r.text);
        dates.push(r.body["date"].as_str().unwrap().to_owned());
        // One entry a day: the next one is tomorrow's, in a new session
        // since a day is longer than the idle timeout.
        app.clock().advance(86_400);
        let r = alice.login_pin("alice", PASSWORD, PIN).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    let r = alice.get("/api/export/csv").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"daily-record-alice.csv\"")
    );
    let expected = [
        CSV_HEADER.to_owned(),
        format!(
            "{},6,7,7.5,3,30,45,sertraline 50mg; melatonin,\"Walked, then \"\"rested\"\"\nall evening\"",
            dates[0]
        ),
        format!("{},4,,8,,,,,'=1+2", dates[1]),
        format!("{},5,,,,,,,'+44 20 7946 0000", dates[2]),
        format!("{},3,,,,,,,'-5 points today", dates[3]),
        format!("{},7,,,,,,'=cmd|' /C calc'!A0,'@SUM(A1:A9)", dates[4]),
        format!("{},8,,,,,,,", dates[5]),
    ];
    let expected: String = expected.iter().map(|line| format!("{line}\r\n")).collect();
    assert_eq!(r.text, expected);
    // Every record ends with CRLF; the only bare LF is inside the quoted
    // note.
    assert_eq!(r.text.matches("\r\n").count(), 7);
    assert_eq!(r.text.matches('\n').count(), 8);
    let alice_id = app.user_id("alice").await;
    assert_eq!(audit_count(&app, "export.csv", alice_id, alice_id).await, 1);

    // An empty record is the header alone.
    let bob = app.patient("bob").await;
    let r = bob.get("/api/export/csv").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text, format!("{CSV_HEADER}\r\n"));
}

#[tokio::test]
async fn a_linked_clinician_exports_a_patients_csv_and_nobody_else_can() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let bob = app.patient("bob").await;
    let drbob = app.clinician("drbob").await;
    let drcarol = app.clinician("drcarol").await;
    app.link(&alice, &drbob).await;
    let r = alice
        .post("/api/mood", json!({ "mood": 6, "note": "quiet day" }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let date = r.body["date"].as_str().unwrap().to_owned();
    let alice_id = app.user_id("alice").await;
    let drbob_id = app.user_id("drbob").await;
    let drcarol_id = app.user_id("drcarol").await;

    let r = drbob.get("/api/export/csv?patient=alice").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.text,
        format!("{CSV_HEADER}\r\n{date},6,,,,,,,quiet day\r\n")
    );
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"daily-record-alice.csv\"")
    );
    assert_eq!(csv_reads(&app, alice_id, drbob_id).await, 1);
    assert_eq!(audit_count(&app, "export.csv", drbob_id, alice_id).await, 1);
    // She can see that he did.
    let r = alice.get("/api/me/access-log").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("csv_export"), "{}", r.text);

    // A clinician off her care team learns nothing, and nothing is logged
    // as read.
    let r = drcarol.get("/api/export/csv?patient=alice").await;
    r.assert_error(404, "not_found");
    assert_eq!(csv_reads(&app, alice_id, drcarol_id).await, 0);
    assert_eq!(
        audit_count(&app, "export.csv", drcarol_id, alice_id).await,
        0
    );
    // A clinician has no record of their own.
    drbob
        .get("/api/export/csv")
        .await
        .assert_error(403, "forbidden");
    // Another patient may not name her.
    let r = bob.get("/api/export/csv?patient=alice").await;
    r.assert_error(403, "forbidden");
    assert!(!r.text.contains("quiet day"));
    // Naming herself is her own export.
    let r = alice.get("/api/export/csv?patient=alice").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        csv_reads(&app, alice_id, alice_id).await,
        0,
        "her own reads are not logged"
    );
    // Nobody logged in gets nothing.
    for path in ["/api/export/csv", "/api/export/csv?patient=alice"] {
        app.client()
            .get(path)
            .await
            .assert_error(401, "unauthorized");
    }
}

// ---------------------------------------------------------------------
// The audit chain (SPEC §14)
// ---------------------------------------------------------------------

/// A few audited actions: registrations, a link, logins, a failed login,
/// a record read and an export.
async fn some_history(app: &TestApp) {
    let mut alice = app.patient("alice").await;
    let drbob = app.clinician("drbob").await;
    app.link(&alice, &drbob).await;
    let r = alice.post("/api/mood", json!({ "mood": 5 })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        drbob.get("/api/clinician/patients/alice/mood").await.status,
        200
    );
    assert_eq!(alice.get("/api/export/csv").await.status, 200);
    let r = app.client().login_pin("alice", "Wrong!pass1", PIN).await;
    r.assert_error(401, "invalid_credentials");
    let r = alice.login_pin("alice", PASSWORD, PIN).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn the_audit_chain_verifies_in_code_and_from_the_command_line() {
    let app = TestApp::new().await;
    assert_eq!(chain(&app).await, ChainReport::Intact { rows: 0 });
    some_history(&app).await;
    let rows = audit_rows(&app).await;
    assert!(rows.len() >= 8, "{rows:?}");
    // The first row starts from the genesis hash, every other links to
    // the one before it.
    assert_eq!(rows[0].9.as_deref(), Some(healing_space::audit::GENESIS));
    for pair in rows.windows(2) {
        assert_eq!(
            pair[1].9, pair[0].10,
            "row {} links to row {}",
            pair[1].0, pair[0].0
        );
    }
    for r in &rows {
        let hash = healing_space::audit::row_hash(
            r.9.as_deref().unwrap(),
            r.1,
            r.2,
            &r.3,
            &r.4,
            r.5,
            r.6.as_deref(),
            r.7.as_deref(),
            &r.8,
        );
        assert_eq!(Some(hash), r.10, "row {}", r.0);
    }
    let n = rows.len() as u64;
    assert_eq!(chain(&app).await, ChainReport::Intact { rows: n });

    let (code, out) = audit_verify_cli(&app).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines()
            .any(|l| l == format!("audit log intact: {n} rows")),
        "{out}"
    );
}

#[tokio::test]
async fn an_edited_audit_row_is_found_by_verify_and_the_command_line() {
    let app = TestApp::new().await;
    some_history(&app).await;
    let rows = audit_rows(&app).await;
    let victim = rows
        .iter()
        .find(|r| r.3 == "account.register")
        .expect("a registration")
        .0;
    drop_audit_triggers(&app).await;
    app.exec(&format!(
        "UPDATE audit_log SET detail = '{{\"role\":\"developer\"}}' WHERE id = {victim}"
    ))
    .await;

    match chain(&app).await {
        ChainReport::Broken { id, reason } => {
            assert_eq!(id, victim);
            assert!(reason.contains("edited"), "{reason}");
        }
        intact => panic!("an edit went unnoticed: {intact:?}"),
    }
    let (code, out) = audit_verify_cli(&app).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines().any(
            |l| l.starts_with(&format!("audit log broken at row {victim}: "))
                && l.contains("edited")
        ),
        "{out}"
    );
}

#[tokio::test]
async fn a_removed_audit_row_breaks_the_chain_at_the_next_row() {
    let app = TestApp::new().await;
    some_history(&app).await;
    let ids: Vec<i64> = audit_rows(&app).await.iter().map(|r| r.0).collect();
    assert!(ids.len() >= 3);
    let (removed, next) = (ids[1], ids[2]);
    drop_audit_triggers(&app).await;
    app.exec(&format!("DELETE FROM audit_log WHERE id = {removed}"))
        .await;

    match chain(&app).await {
        ChainReport::Broken { id, reason } => {
            assert_eq!(id, next);
            assert!(reason.contains("removed"), "{reason}");
        }
        intact => panic!("a removal went unnoticed: {intact:?}"),
    }
    let (code, out) = audit_verify_cli(&app).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines().any(
            |l| l.starts_with(&format!("audit log broken at row {next}: "))
                && l.contains("removed")
        ),
        "{out}"
    );
}

#[tokio::test]
async fn the_audit_log_refuses_updates_and_deletes_while_its_triggers_stand() {
    let app = TestApp::new().await;
    some_history(&app).await;
    let before = audit_rows(&app).await;
    let victim = before[1].0;
    for sql in [
        format!("UPDATE audit_log SET detail = '{{}}' WHERE id = {victim}"),
        format!("UPDATE audit_log SET actor_id = NULL, target_id = NULL WHERE id = {victim}"),
        format!("DELETE FROM audit_log WHERE id = {victim}"),
        "DELETE FROM audit_log".to_owned(),
    ] {
        let err = sqlx::query(&sql)
            .execute(app.state.db.pool())
            .await
            .expect_err(&sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    assert_eq!(audit_rows(&app).await, before);
    assert_eq!(
        chain(&app).await,
        ChainReport::Intact {
            rows: before.len() as u64
        }
    );
}
