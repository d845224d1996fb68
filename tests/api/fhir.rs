//! The signed FHIR R4 export (SPEC §13): RFC 8785 canonical JSON, the
//! Ed25519 signature and what breaks it, the key's life across restarts,
//! who may export whose record, the verify route and command, and the
//! independent validator on every kind of Bundle the service writes.
//!
//! The validator is `../shared/tools/fhir_validate.py`, run with the Python
//! named by `HS_FHIR_VALIDATOR_PYTHON` (default `/work/fhir-venv/bin/python`
//! when it exists, else `python3`). That Python needs the packages of
//! `tools/requirements.txt`; without them the tests fail and say so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use axum::body::Body;
use data_encoding::BASE64;
use healing_space::assessments::{AssessmentRow, Instrument};
use healing_space::clock::Clock;
use healing_space::config::{Config, SecretText};
use healing_space::daily_record::mood::MoodRow;
use healing_space::exports::fhir::bundle::{self, DAILY_RECORD_SYSTEM, SEVERITY_SYSTEM};
use healing_space::exports::fhir::canonical::{canonicalize, parse_strict};
use healing_space::exports::fhir::signing::{ExportKey, KEY_FILE, PublicKey};
use healing_space::exports::fhir::{
    self, AppointmentInfo, AppointmentState, ExportData, Invalid, PatientInfo,
};
use healing_space::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::support::{Client, Resp, TestApp};

// ---------------------------------------------------------------------------
// RFC 8785 canonical JSON

fn canon(text: &str) -> String {
    canonicalize(&parse_strict(text.as_bytes()).expect("valid JSON"))
}

#[test]
fn canonical_members_are_sorted_by_utf16_code_units() {
    // RFC 8785 §3.2.3: U+1F600 is the surrogate pair D83D DE00, which sorts
    // before U+FB33 in UTF-16 although its code point is larger.
    let input = r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#;
    let values: Vec<String> = canon(input)
        .split("\":\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap().to_owned())
        .collect();
    assert_eq!(
        values,
        [
            "Carriage Return",
            "One",
            "Control",
            "Latin Small Letter O With Diaeresis",
            "Euro Sign",
            "Emoji: Grinning Face",
            "Hebrew Letter Dalet With Dagesh",
        ]
    );
    // Nested objects are sorted too; arrays keep their order; no spaces.
    assert_eq!(
        canon(r#"{ "b" : [3, 1, {"z": 1, "a": [true, null]}], "a" : {"y": "", "x": {}} }"#),
        r#"{"a":{"x":{},"y":""},"b":[3,1,{"a":[true,null],"z":1}]}"#
    );
}

#[test]
fn canonical_numbers_are_written_as_ecmascript_writes_doubles() {
    let cases = [
        ("1.0", "1"),
        ("1", "1"),
        ("-0", "0"),
        ("-0.0", "0"),
        ("0.0", "0"),
        ("1e21", "1e+21"),
        ("1e20", "100000000000000000000"),
        ("1E30", "1e+30"),
        ("4.50", "4.5"),
        ("2e-3", "0.002"),
        ("0.000001", "0.000001"),
        ("1e-7", "1e-7"),
        ("-1e-7", "-1e-7"),
        ("0.000000000000000000000000001", "1e-27"),
        ("333333333.33333329", "333333333.3333333"),
        ("123456789012345678901", "123456789012345680000"),
        ("9007199254740993", "9007199254740992"),
        ("1.5e300", "1.5e+300"),
        ("100", "100"),
        ("7.5", "7.5"),
    ];
    for (input, expected) in cases {
        assert_eq!(canon(input), expected, "{input}");
    }
    // The IEEE 754 samples of RFC 8785 Appendix B.
    let samples = [
        (0x0000000000000000_u64, "0"),
        (0x8000000000000000, "0"),
        (0x0000000000000001, "5e-324"),
        (0x8000000000000001, "-5e-324"),
        (0x7fefffffffffffff, "1.7976931348623157e+308"),
        (0xffefffffffffffff, "-1.7976931348623157e+308"),
        (0x4340000000000000, "9007199254740992"),
        (0xc340000000000000, "-9007199254740992"),
        (0x4430000000000000, "295147905179352830000"),
        (0x44b52d02c7e14af5, "9.999999999999997e+22"),
        (0x44b52d02c7e14af6, "1e+23"),
        (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
        (0x444b1ae4d6e2ef4e, "999999999999999700000"),
        (0x444b1ae4d6e2ef4f, "999999999999999900000"),
        (0x444b1ae4d6e2ef50, "1e+21"),
        (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
        (0x3eb0c6f7a0b5ed8d, "0.000001"),
        (0x41b3de4355555553, "333333333.3333332"),
        (0x41b3de4355555554, "333333333.33333325"),
        (0x41b3de4355555555, "333333333.3333333"),
        (0x41b3de4355555556, "333333333.3333334"),
        (0x41b3de4355555557, "333333333.33333343"),
        (0xbecbf647612f3696, "-0.0000033333333333333333"),
        (0x43143ff3c1cb0959, "1424953923781206.2"),
    ];
    for (bits, expected) in samples {
        let x = f64::from_bits(bits);
        assert_eq!(canonicalize(&json!(x)), expected, "{bits:#018x}");
        // Written out and read back, the text denotes the same double.
        assert_eq!(
            canon(&json!(x).to_string()),
            expected,
            "{bits:#018x} re-read"
        );
    }
}

#[test]
fn canonical_strings_escape_only_what_rfc_8785_requires() {
    // The RFC's own example (§3.2.2), string member.
    assert_eq!(
        canon(r#""\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/""#),
        r#""€$\u000f\nA'B\"\\\\\"/""#
    );
    let cases = [
        ("\u{8}\t\n\u{c}\r", r#""\b\t\n\f\r""#),
        ("\u{0}\u{1}\u{1f}", r#""\u0000\u0001\u001f""#),
        // DEL, the line separators, non-ASCII and astral characters and
        // `/` stay as they are, in UTF-8.
        (
            "\u{7f}\u{2028}\u{2029}é😀/<>&",
            "\"\u{7f}\u{2028}\u{2029}é😀/<>&\"",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(canonicalize(&json!(input)), expected, "{input:?}");
    }
    // The RFC's whole example, members and numbers included.
    let input = r#"{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"#;
    assert_eq!(
        canon(input),
        r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
    );
}

#[test]
fn input_that_is_not_i_json_is_refused() {
    for bad in [
        r#"{"a":1,"a":1}"#,
        r#"{"resourceType":"Bundle","entry":[{"fullUrl":"x","fullUrl":"y"}]}"#,
        r#"{"a":1} {"a":2}"#,
        r#"{"a":"\ud800"}"#,
        "[1, 2",
    ] {
        assert!(parse_strict(bad.as_bytes()).is_err(), "{bad}");
    }
}

// ---------------------------------------------------------------------------
// Signing and verifying, on a fixed data set

fn fresh_key() -> ExportKey {
    ExportKey::from_base64(&BASE64.encode(&healing_space::crypto::random_bytes(32))).unwrap()
}

fn mood_row(id: i64, date: &str, mood: i64) -> MoodRow {
    MoodRow {
        id,
        patient_id: 7,
        entry_date: date.into(),
        mood,
        sleep_quality: None,
        sleep_tenths: None,
        anxiety: None,
        exercise_minutes: None,
        outdoor_minutes: None,
        medication: "[]".into(),
        note: None,
        created_at: 1_790_000_000 + id * 86_400,
        updated_at: 1_790_000_000 + id * 86_400 + 60,
    }
}

fn assessment_row(
    id: i64,
    instrument: Instrument,
    answers: &[i64],
    difficulty: Option<i64>,
) -> AssessmentRow {
    let total: i64 = answers.iter().sum();
    AssessmentRow {
        id,
        instrument: instrument.as_str().into(),
        answers: serde_json::to_string(answers).unwrap(),
        difficulty,
        total,
        band: instrument.band(total).into(),
        taken_on: "2026-09-20".into(),
        created_at: 1_790_000_000 + id * 3_600,
    }
}

/// A patient with every kind of row the export knows, appointments in
/// every state included.
fn fixture() -> ExportData {
    let mut full = mood_row(1, "2026-09-21", 7);
    full.sleep_quality = Some(6);
    full.sleep_tenths = Some(75);
    full.anxiety = Some(3);
    full.exercise_minutes = Some(30);
    full.outdoor_minutes = Some(0);
    full.note = Some("slept \"well\" \\ <b>not bold</b> 😀\nsecond line\ttab".into());
    let mut whole_hours = mood_row(2, "2026-09-22", 2);
    whole_hours.sleep_tenths = Some(80);
    let states = [
        AppointmentState::Proposed,
        AppointmentState::Accepted,
        AppointmentState::Declined,
        AppointmentState::Cancelled,
        AppointmentState::Attended,
        AppointmentState::NoShow,
        AppointmentState::CancelledLate,
    ];
    ExportData {
        patient: PatientInfo {
            id: 7,
            username: "robin.lee".into(),
            display_name: "Robin \"Rob\" Lee".into(),
        },
        moods: vec![full, whole_hours, mood_row(3, "2026-09-23", 10)],
        assessments: vec![
            assessment_row(10, Instrument::Phq9, &[3, 3, 3, 3, 3, 2, 2, 2, 2], Some(3)),
            assessment_row(11, Instrument::Gad7, &[3, 3, 3, 2, 2, 2, 2], Some(0)),
            assessment_row(12, Instrument::Phq9, &[0, 0, 0, 0, 0, 0, 0, 0, 1], None),
        ],
        appointments: states
            .iter()
            .enumerate()
            .map(|(i, state)| AppointmentInfo {
                id: i as i64 + 1,
                start: 1_790_500_000 + i as i64 * 86_400,
                end: 1_790_500_000 + i as i64 * 86_400 + 3_000,
                state: *state,
                clinician_name: "Dr Priya Shah".into(),
            })
            .collect(),
    }
}

fn signed_fixture(key: &ExportKey) -> Value {
    fhir::signed_bundle(&fixture(), key, 1_791_000_000).expect("the fixture exports")
}

/// JSON pointers of every scalar in `value`.
fn leaves(value: &Value, path: String, out: &mut Vec<String>) {
    match value {
        Value::Object(members) => {
            for (name, member) in members {
                let name = name.replace('~', "~0").replace('/', "~1");
                leaves(member, format!("{path}/{name}"), out);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                leaves(item, format!("{path}/{i}"), out);
            }
        }
        _ => out.push(path),
    }
}

fn changed(value: &Value) -> Value {
    match value {
        Value::String(s) => json!(format!("{s}x")),
        Value::Number(n) => match n.as_i64() {
            Some(i) => json!(i + 1),
            None => json!(n.as_f64().unwrap() + 0.5),
        },
        Value::Bool(b) => json!(!b),
        _ => json!(0),
    }
}

fn provenance_signature(bundle: &mut Value) -> &mut Value {
    let entries = bundle["entry"].as_array_mut().unwrap();
    let provenance = entries
        .iter_mut()
        .find(|e| e["resource"]["resourceType"] == "Provenance")
        .unwrap();
    &mut provenance["resource"]["signature"][0]
}

#[test]
fn a_signed_bundle_verifies_whatever_its_layout() {
    let key = fresh_key();
    let bundle = signed_fixture(&key);
    let public = key.public();
    let verified = fhir::verify_value(&bundle, &public).expect("valid");
    assert_eq!(verified.key_id, public.key_id());
    assert_eq!(verified.signed_at, bundle["timestamp"].as_str().unwrap());
    assert_eq!(verified.entries, bundle["entry"].as_array().unwrap().len());

    // The data member is standard Base64 of 64 raw bytes.
    let mut copy = bundle.clone();
    let data = provenance_signature(&mut copy)["data"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(BASE64.decode(data.as_bytes()).unwrap().len(), 64);

    // Compact with sorted members, indented with `resourceType` first, and
    // with an integer written as a decimal: the canonical form is the same.
    let compact = serde_json::to_string(&bundle).unwrap();
    let pretty = bundle::to_pretty_json(&bundle);
    assert!(pretty.starts_with("{\n  \"resourceType\": \"Bundle\""));
    assert_ne!(compact, pretty);
    let decimal = compact.replacen("\"valueInteger\":7", "\"valueInteger\":7.0", 1);
    assert_ne!(decimal, compact);
    // Raw line breaks only ever stand between tokens: strings escape theirs.
    let padded = format!("\n\t {}  \r\n", pretty.replace('\n', "\r\n\t "));
    for text in [&compact, &pretty, &decimal, &padded] {
        assert!(fhir::verify_bytes(text.as_bytes(), &public).is_ok());
    }
}

#[test]
fn a_single_changed_value_anywhere_breaks_the_signature() {
    let key = fresh_key();
    let bundle = signed_fixture(&key);
    let public = key.public();
    let mut pointers = Vec::new();
    leaves(&bundle, String::new(), &mut pointers);
    assert!(
        pointers.len() > 200,
        "a rich fixture: {} values",
        pointers.len()
    );
    for pointer in &pointers {
        let mut tampered = bundle.clone();
        let target = tampered.pointer_mut(pointer).unwrap();
        *target = changed(target);
        assert!(
            fhir::verify_value(&tampered, &public).is_err(),
            "changing {pointer} went unnoticed"
        );
    }
}

#[test]
fn removed_added_or_reordered_content_breaks_the_signature() {
    let key = fresh_key();
    let bundle = signed_fixture(&key);
    let public = key.public();
    let check = |tampered: &Value, expected: Invalid, what: &str| {
        assert_eq!(
            fhir::verify_value(tampered, &public).err(),
            Some(expected),
            "{what}"
        );
    };

    let mut t = bundle.clone();
    t["entry"].as_array_mut().unwrap().remove(1);
    check(&t, Invalid::Mismatch, "an entry removed");

    let mut t = bundle.clone();
    t["entry"].as_array_mut().unwrap().swap(1, 2);
    check(&t, Invalid::Mismatch, "two entries swapped");

    let mut t = bundle.clone();
    t["entry"][0]["resource"]["gender"] = json!("unknown");
    check(&t, Invalid::Mismatch, "a member added");

    let mut t = bundle.clone();
    t["entry"][0]["resource"]
        .as_object_mut()
        .unwrap()
        .remove("active");
    check(&t, Invalid::Mismatch, "a member removed");

    let mut t = bundle.clone();
    provenance_signature(&mut t)["when"] = json!("2030-01-01T00:00:00Z");
    check(&t, Invalid::Mismatch, "the signing time moved");

    let other = fresh_key();
    assert_eq!(
        fhir::verify_value(&bundle, &other.public()).err(),
        Some(Invalid::Mismatch),
        "checked with another key"
    );

    // A signature made with another key over the same content.
    let mut t = bundle.clone();
    provenance_signature(&mut t)
        .as_object_mut()
        .unwrap()
        .remove("data");
    fhir::sign(&mut t, &other).unwrap();
    check(&t, Invalid::Mismatch, "re-signed by another key");

    let mut t = bundle.clone();
    provenance_signature(&mut t)
        .as_object_mut()
        .unwrap()
        .remove("data");
    check(&t, Invalid::MalformedSignature, "no data");

    let mut t = bundle.clone();
    provenance_signature(&mut t)["data"] = json!(BASE64.encode(&[0u8; 63]));
    check(&t, Invalid::MalformedSignature, "a short signature");

    let mut t = bundle.clone();
    let copy = provenance_signature(&mut t).clone();
    let entries = t["entry"].as_array_mut().unwrap();
    let last = entries.len() - 1;
    entries[last]["resource"]["signature"]
        .as_array_mut()
        .unwrap()
        .push(copy);
    check(&t, Invalid::SeveralSignatures, "a second signature");

    let mut t = bundle.clone();
    t["entry"].as_array_mut().unwrap().pop();
    check(&t, Invalid::NoSignature, "the Provenance removed");

    check(
        &json!({ "resourceType": "Patient" }),
        Invalid::NotABundle,
        "a Patient",
    );
    check(&json!([1, 2]), Invalid::NotABundle, "an array");
}

#[test]
fn resource_identities_are_stable_per_row_and_per_installation() {
    let key = fresh_key();
    let first = signed_fixture(&key);
    let second = signed_fixture(&key);
    let urls = |b: &Value| -> Vec<String> {
        b["entry"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["fullUrl"].as_str().unwrap().to_owned())
            .collect()
    };
    let (a, b) = (urls(&first), urls(&second));
    let n = a.len();
    // Every row keeps its UUID; the Provenance and the Bundle are new.
    assert_eq!(a[..n - 1], b[..n - 1]);
    assert_ne!(a[n - 1], b[n - 1]);
    assert_ne!(first["id"], second["id"]);
    for url in &a {
        let uuid = url.strip_prefix("urn:uuid:").expect("a urn:uuid");
        assert_eq!(uuid.len(), 36);
        assert!(
            uuid.chars()
                .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
        );
    }
    // Another installation (another key) names the same rows differently.
    let elsewhere = urls(&signed_fixture(&fresh_key()));
    assert!(a.iter().all(|u| !elsewhere.contains(u)));
}

// ---------------------------------------------------------------------------
// The validator

fn validator_python() -> String {
    match std::env::var("HS_FHIR_VALIDATOR_PYTHON") {
        Ok(python) if !python.is_empty() => python,
        _ if Path::new("/work/fhir-venv/bin/python").exists() => {
            "/work/fhir-venv/bin/python".into()
        }
        _ => "python3".into(),
    }
}

/// Runs the independent validator on `files`; any error fails the test,
/// and so does a Python without the validator's packages.
fn validate(files: &[PathBuf]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tools/fhir_validate.py");
    assert!(
        script.is_file(),
        "the FHIR validator is not at {}",
        script.display()
    );
    let python = validator_python();
    let output = Command::new(&python)
        .arg(&script)
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "could not run {python} for the FHIR validator ({e}); set HS_FHIR_VALIDATOR_PYTHON \
                 to a Python with the packages of ../shared/tools/requirements.txt"
            )
        });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    match output.status.code() {
        Some(0) => stdout,
        Some(2) => panic!(
            "the FHIR validator cannot run with {python} (exit status 2): {stderr}{stdout}\n\
             Install its packages (`{python} -m pip install -r ../shared/tools/requirements.txt`, \
             in a virtual environment) or point HS_FHIR_VALIDATOR_PYTHON at a Python that has them."
        ),
        _ => panic!("the FHIR validator refused a Bundle:\n{stdout}{stderr}"),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A temporary folder, removed when dropped (a failed test included).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "hs-fhir-{}",
            healing_space::crypto::random_token(9).replace(['-', '_'], "x")
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn every_resource_type_passes_the_validator_appointments_included() {
    let dir = TempDir::new();
    let key = fresh_key();
    let bundle = signed_fixture(&key);
    let kinds: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["resourceType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.iter().filter(|k| **k == "Appointment").count(), 7);
    let statuses: Vec<&str> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Appointment")
        .map(|e| e["resource"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "proposed",
            "booked",
            "cancelled",
            "cancelled",
            "fulfilled",
            "noshow",
            "cancelled"
        ]
    );
    let file = write(&dir.0, "fixture.json", &bundle::to_pretty_json(&bundle));
    let report = validate(&[file]);
    assert!(report.contains("valid: Bundle with"), "{report}");
    assert!(report.contains("Appointment 7"), "{report}");
}

// ---------------------------------------------------------------------------
// The key across restarts

async fn public_key_of(state: AppState) -> Value {
    let request = axum::http::Request::get("/api/export/fhir/public-key")
        .body(Body::empty())
        .unwrap();
    let response = app(state).oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn the_signing_key_is_private_and_survives_a_restart() {
    let app = TestApp::new().await;
    let path = app.data_dir.join(KEY_FILE);
    assert!(!path.exists(), "no key before first use");

    let r = app.client().get("/api/export/fhir/public-key").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let published = r.body["public_key"].as_str().unwrap().to_owned();
    let public = PublicKey::parse(&published).unwrap();
    assert_eq!(r.body["algorithm"], "Ed25519");
    assert_eq!(r.body["key_id"], public.key_id());
    assert_eq!(
        r.body["jwk"],
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": data_encoding::BASE64URL_NOPAD.encode(&public.to_bytes()),
            "kid": public.key_id(),
            "use": "sig",
            "alg": "EdDSA",
        })
    );
    // The route's own JSON is accepted as a key, as the CLI reads it.
    assert_eq!(PublicKey::parse(&r.text).unwrap(), public);

    // Created on first use, owner-only, holding nothing the route shows.
    assert!(path.is_file());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "key file mode {:o}", mode & 0o777);
    }
    let secret = std::fs::read_to_string(&path).unwrap();
    assert!(!r.text.contains(secret.trim()));

    // A second request and a new AppState on the same data folder (a
    // restart) answer with the same key.
    let again = app.client().get("/api/export/fhir/public-key").await;
    assert_eq!(again.body["public_key"], published.as_str());
    let mut config = Config::for_data_dir(&app.data_dir);
    config.database_url = app.state.config.database_url.clone();
    let restarted = AppState::open(config.clone(), Clock::default())
        .await
        .unwrap();
    assert_eq!(
        public_key_of(restarted).await["public_key"],
        published.as_str()
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), secret);

    // A key file others can read is refused, not used.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = ExportKey::load_or_create(&config).unwrap_err();
        assert!(format!("{err:#}").contains("chmod 600"), "{err:#}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    // A configured key wins over the file; a patterned one is refused.
    let configured = BASE64.encode(&healing_space::crypto::random_bytes(32));
    let mut with_key = config.clone();
    with_key.fhir_signing_key = Some(SecretText(configured.clone()));
    let state = AppState::open(with_key.clone(), Clock::default())
        .await
        .unwrap();
    let expected = ExportKey::from_base64(&configured).unwrap().public();
    assert_eq!(
        public_key_of(state).await["public_key"],
        expected.to_base64()
    );
    with_key.fhir_signing_key = Some(SecretText(BASE64.encode(&[0u8; 32])));
    assert!(ExportKey::load_or_create(&with_key).is_err());
    assert!(!format!("{:?}", ExportKey::from_base64(&configured).unwrap()).contains(&configured));
}

// ---------------------------------------------------------------------------
// Who may export whose record

async fn export_count(app: &TestApp, actor: &str, patient: &str) -> i64 {
    let actor = app.user_id(actor).await;
    let patient = app.user_id(patient).await;
    app.scalar(&format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'export.fhir' AND outcome = 'ok' \
         AND actor_id = {actor} AND target_id = {patient} AND detail = '{{}}'"
    ))
    .await
}

async fn fhir_reads(app: &TestApp, accessor: &str, patient: &str) -> i64 {
    let accessor = app.user_id(accessor).await;
    let patient = app.user_id(patient).await;
    app.scalar(&format!(
        "SELECT COUNT(*) FROM access_log WHERE resource = 'fhir_export' \
         AND accessor_id = {accessor} AND patient_id = {patient}"
    ))
    .await
}

fn assert_is_fhir_download(r: &Resp, username: &str) {
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.header("content-type"), Some("application/fhir+json"));
    let disposition = r.header("content-disposition").unwrap_or_default();
    let prefix = format!("attachment; filename=\"{username}-fhir-");
    assert!(
        disposition.starts_with(&prefix) && disposition.ends_with(".json\""),
        "{disposition}"
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.body["resourceType"], "Bundle");
    assert_eq!(r.body["type"], "collection");
}

#[tokio::test]
async fn patients_export_their_own_record_and_linked_clinicians_theirs() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let bob = app.patient("bob").await;
    let dr_linked = app.clinician("dr.linked").await;
    let dr_other = app.clinician("dr.other").await;
    app.link(&alice, &dr_linked).await;
    let r = alice.post("/api/mood", json!({ "mood": 6 })).await;
    assert_eq!(r.status, 201, "{}", r.text);

    let own = alice.get("/api/export/fhir").await;
    assert_is_fhir_download(&own, "alice");
    let patient = &own.body["entry"][0]["resource"];
    assert_eq!(patient["resourceType"], "Patient");
    assert_eq!(patient["identifier"][0]["value"], "alice");
    assert_eq!(export_count(&app, "alice", "alice").await, 1);
    // Naming oneself is the same as asking for one's own record.
    let named = alice.get("/api/export/fhir?patient=alice").await;
    assert_is_fhir_download(&named, "alice");
    assert_eq!(export_count(&app, "alice", "alice").await, 2);

    let by_clinician = dr_linked.get("/api/export/fhir?patient=alice").await;
    assert_is_fhir_download(&by_clinician, "alice");
    assert_eq!(
        by_clinician.body["entry"][0]["fullUrl"],
        own.body["entry"][0]["fullUrl"]
    );
    assert_eq!(fhir_reads(&app, "dr.linked", "alice").await, 1);
    assert_eq!(export_count(&app, "dr.linked", "alice").await, 1);

    // A clinician without a link, and a patient naming someone else, learn
    // nothing; the exact answers are the gate's.
    dr_other
        .get("/api/export/fhir?patient=alice")
        .await
        .assert_error(404, "not_found");
    dr_other
        .get("/api/export/fhir?patient=nobody")
        .await
        .assert_error(404, "not_found");
    bob.get("/api/export/fhir?patient=alice")
        .await
        .assert_error(403, "forbidden");
    // Clinicians have no record of their own.
    dr_linked
        .get("/api/export/fhir")
        .await
        .assert_error(403, "forbidden");
    app.client()
        .get("/api/export/fhir")
        .await
        .assert_error(401, "unauthorized");
    app.client()
        .get("/api/export/fhir?patient=alice")
        .await
        .assert_error(401, "unauthorized");
    alice
        .get("/api/export/fhir?user=bob")
        .await
        .assert_error(400, "invalid_query");

    assert_eq!(fhir_reads(&app, "dr.other", "alice").await, 0);
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'export.fhir'")
            .await,
        3
    );
    assert_eq!(
        app.scalar("SELECT COUNT(*) FROM access_log WHERE resource = 'fhir_export'")
            .await,
        1
    );

    // Once the link ends, so does the clinician's access.
    let link: i64 = app
        .scalar("SELECT id FROM care_links WHERE status = 'approved'")
        .await;
    app.exec(&format!(
        "UPDATE care_links SET status = 'ended' WHERE id = {link}"
    ))
    .await;
    dr_linked
        .get("/api/export/fhir?patient=alice")
        .await
        .assert_error(404, "not_found");
}

// ---------------------------------------------------------------------------
// The verify route and command

async fn post_bundle(c: &Client, body: &str) -> Resp {
    c.post_raw(
        "/api/export/fhir/verify",
        Some("application/json"),
        body.as_bytes().to_vec(),
    )
    .await
}

#[tokio::test]
async fn the_verify_route_accepts_a_good_bundle_and_refuses_a_tampered_one() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let r = alice
        .post("/api/mood", json!({ "mood": 4, "sleep_hours": 6.5 }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let export = alice.get("/api/export/fhir").await;
    assert_eq!(export.status, 200);
    let key = app.client().get("/api/export/fhir/public-key").await;
    let entries = export.body["entry"].as_array().unwrap().len();

    let r = post_bundle(&alice, &export.text).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body,
        json!({
            "valid": true,
            "key_id": key.body["key_id"],
            "signed_at": export.body["timestamp"],
            "entries": entries,
        })
    );

    // One value changed: refused with a stable answer.
    let tampered = export
        .text
        .replacen("\"valueInteger\": 4", "\"valueInteger\": 5", 1);
    assert_ne!(tampered, export.text);
    let r = post_bundle(&alice, &tampered).await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(
        r.body,
        json!({
            "error": "signature_invalid",
            "message": "the signature does not match the Bundle's content under this public key",
            "valid": false,
        })
    );

    let mut unsigned = export.body.clone();
    provenance_signature(&mut unsigned)
        .as_object_mut()
        .unwrap()
        .remove("data");
    let r = post_bundle(&alice, &unsigned.to_string()).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["error"], "signature_malformed");
    assert_eq!(r.body["valid"], false);
    let r = post_bundle(&alice, r#"{"resourceType":"Bundle","type":"collection"}"#).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["error"], "signature_missing");
    let r = post_bundle(
        &alice,
        r#"{"resourceType":"Bundle","type":"x","type":"collection"}"#,
    )
    .await;
    r.assert_error(400, "invalid_json");
    post_bundle(&alice, "not json")
        .await
        .assert_error(400, "invalid_json");

    // A session is needed, and a JSON content type.
    post_bundle(&app.client(), &export.text)
        .await
        .assert_error(401, "unauthorized");
    alice
        .post_raw(
            "/api/export/fhir/verify",
            Some("text/plain"),
            export.text.clone().into_bytes(),
        )
        .await
        .assert_error(415, "unsupported_media_type");
}

#[tokio::test]
async fn bundles_larger_than_the_json_limit_can_be_verified_and_other_routes_keep_it() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let export = alice.get("/api/export/fhir").await;
    assert_eq!(export.status, 200);

    // Whitespace is not signed: a Bundle padded to 1 MiB still verifies,
    // sent with its length and sent in chunks.
    let mut big = export.text.clone();
    big.push_str(&" ".repeat(1024 * 1024));
    let r = post_bundle(&alice, &big).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["valid"], true);
    let (status, raw) =
        post_chunked(&app, &alice, "/api/export/fhir/verify", big.into_bytes()).await;
    assert_eq!(status, 200, "{raw}");
    assert!(raw.contains("\"valid\":true"), "{raw}");

    // Beyond the route's own limit: 413, declared or streamed.
    let mut huge = export.text.clone();
    huge.push_str(&" ".repeat(fhir::VERIFY_BODY_LIMIT));
    post_bundle(&alice, &huge)
        .await
        .assert_error(413, "payload_too_large");

    // The 64 KiB default still holds everywhere else.
    let mut padded = br#"{"mood":6}"#.to_vec();
    padded.resize(64 * 1024 + 1, b' ');
    alice
        .post_raw("/api/mood", Some("application/json"), padded)
        .await
        .assert_error(413, "payload_too_large");
}

/// Posts `body` in chunks, without a declared length, over a plain TCP
/// connection; returns the status and the raw response.
async fn post_chunked(app: &TestApp, c: &Client, path: &str, body: Vec<u8>) -> (u16, String) {
    use std::io::{Read, Write};
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
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        for chunk in body.chunks(64 * 1024) {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .unwrap();
            stream.write_all(chunk).unwrap();
            stream.write_all(b"\r\n").unwrap();
        }
        stream.write_all(b"0\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        (status, text)
    })
    .await
    .unwrap()
}

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_healing-space"))
        .args(args)
        .env_remove("HS_FHIR_SIGNING_KEY")
        .env_remove("HS_DATA_DIR")
        .env("HS_LOG", "error")
        .output()
        .expect("run healing-space")
}

#[tokio::test]
async fn the_command_line_verifies_a_file() {
    let app = TestApp::new().await;
    let alice = app.patient("alice").await;
    let r = alice.post("/api/mood", json!({ "mood": 7 })).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let export = alice.get("/api/export/fhir").await;
    assert_eq!(export.status, 200);
    let key = app.client().get("/api/export/fhir/public-key").await;
    let public = key.body["public_key"].as_str().unwrap();
    let dir = app.data_dir.to_str().unwrap();
    let good = write(&app.data_dir, "good.json", &export.text);
    let key_file = write(&app.data_dir, "key.json", &key.text);
    let tampered = write(
        &app.data_dir,
        "tampered.json",
        &export
            .text
            .replacen("\"valueInteger\": 7", "\"valueInteger\": 8", 1),
    );
    let good = good.to_str().unwrap();
    let tampered = tampered.to_str().unwrap();

    for args in [
        vec!["fhir", "verify", good, "--public-key", public],
        vec![
            "fhir",
            "verify",
            good,
            "--public-key",
            key_file.to_str().unwrap(),
        ],
        // Without a key: this installation's own, from its data folder.
        vec!["--data-dir", dir, "fhir", "verify", good],
    ] {
        let out = cli(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.starts_with("valid: Bundle of"), "{stdout}");
        assert!(
            stdout.contains(key.body["key_id"].as_str().unwrap()),
            "{stdout}"
        );
    }

    let out = cli(&["fhir", "verify", tampered, "--public-key", public]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "error: invalid: the signature does not match the Bundle's content under this public key\n"
    );
    let other = BASE64.encode(&fresh_key().public().to_bytes());
    let out = cli(&["fhir", "verify", good, "--public-key", &other]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);

    let missing = app.data_dir.join("missing.json");
    let out = cli(&[
        "fhir",
        "verify",
        missing.to_str().unwrap(),
        "--public-key",
        public,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let empty = std::env::temp_dir().join(format!(
        "hs-nokey-{}",
        healing_space::crypto::random_token(6).replace(['-', '_'], "x")
    ));
    let out = cli(&[
        "--data-dir",
        empty.to_str().unwrap(),
        "fhir",
        "verify",
        good,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no --public-key given"));
    assert!(
        !empty.join(KEY_FILE).exists(),
        "verifying never creates a key"
    );
}

// ---------------------------------------------------------------------------
// Bundles of real records through the validator

async fn submit(c: &Client, instrument: &str, answers: &[i64], difficulty: Option<i64>) {
    let mut body = json!({ "answers": answers });
    if let Some(d) = difficulty {
        body["difficulty"] = json!(d);
    }
    let r = c
        .post(&format!("/api/assessments/{instrument}"), body)
        .await;
    assert_eq!(r.status, 201, "{instrument} {answers:?}: {}", r.text);
}

fn resources<'a>(bundle: &'a Value, kind: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == kind)
        .collect()
}

fn observations<'a>(bundle: &'a Value, code: &str) -> Vec<&'a Value> {
    resources(bundle, "Observation")
        .into_iter()
        .filter(|o| o["code"]["coding"][0]["code"] == code)
        .collect()
}

#[tokio::test]
async fn exports_of_a_full_record_pass_the_validator() {
    let app = TestApp::with(|c| {
        // The record spans months of the test clock.
        c.session_idle = Duration::from_secs(365 * 86_400);
        c.session_absolute = Duration::from_secs(365 * 86_400);
    })
    .await;
    let alice = app.patient("alice").await;
    let empty = app.patient("bob").await;
    let dr = app.clinician("dr.shah").await;
    app.link(&alice, &dr).await;

    // Five fortnights: every band of both questionnaires, PHQ-9 item 9 at
    // 2, 0 and 1, sleep of 4.5, 8, 7.5, 0 and 24 hours.
    let rounds: [(Value, [i64; 9], Option<[i64; 7]>); 5] = [
        (
            json!({
                "mood": 3, "sleep_quality": 2, "sleep_hours": 4.5, "anxiety": 9,
                "exercise_minutes": 0, "outdoor_minutes": 10,
                "medication": ["Sertraline 50 mg"],
                "note": "Rough day \"at work\" & <b>tired</b> 😀\nslept badly",
            }),
            [3, 3, 3, 3, 3, 2, 2, 2, 2],
            Some([3, 3, 3, 2, 2, 2, 2]),
        ),
        (
            json!({ "mood": 5, "sleep_hours": 8 }),
            [2, 2, 2, 2, 2, 2, 2, 1, 0],
            Some([2, 2, 2, 2, 1, 1, 0]),
        ),
        (
            json!({ "mood": 6, "sleep_quality": 7, "sleep_hours": 7.5, "anxiety": 4 }),
            [2, 2, 2, 1, 1, 1, 1, 1, 1],
            Some([1, 1, 1, 1, 1, 1, 0]),
        ),
        (
            json!({ "mood": 8, "sleep_hours": 0 }),
            [1, 1, 1, 1, 1, 1, 0, 0, 0],
            Some([0, 0, 0, 1, 0, 1, 0]),
        ),
        (json!({ "mood": 9, "sleep_hours": 24 }), [0; 9], None),
    ];
    for (i, (mood, phq9, gad7)) in rounds.iter().enumerate() {
        if i > 0 {
            app.clock().advance(15 * 86_400);
        }
        let r = alice.post("/api/mood", mood.clone()).await;
        assert_eq!(r.status, 201, "{}", r.text);
        submit(&alice, "phq9", phq9, (i == 0).then_some(3)).await;
        if let Some(gad7) = gad7 {
            submit(&alice, "gad7", gad7, (i < 2).then_some(i as i64)).await;
        }
    }

    let own = alice.get("/api/export/fhir").await;
    assert_eq!(own.status, 200, "{}", own.text);
    let theirs = dr.get("/api/export/fhir?patient=alice").await;
    assert_eq!(theirs.status, 200, "{}", theirs.text);
    let nothing = empty.get("/api/export/fhir").await;
    assert_eq!(nothing.status, 200, "{}", nothing.text);
    let b = &own.body;

    // What the Bundle holds.
    assert_eq!(resources(b, "Patient").len(), 1);
    assert_eq!(resources(b, "QuestionnaireResponse").len(), 9);
    assert_eq!(
        resources(b, "Appointment").len(),
        0,
        "no appointments table yet"
    );
    assert_eq!(resources(b, "Provenance").len(), 1);
    assert_eq!(resources(b, "Observation").len(), 16 + 9 + 5);
    assert_eq!(b["entry"].as_array().unwrap().len(), 1 + 9 + 30 + 1);
    assert_eq!(resources(&nothing.body, "Observation").len(), 0);

    let moods = observations(b, "mood");
    assert_eq!(moods.len(), 5);
    assert_eq!(moods[0]["code"]["coding"][0]["system"], DAILY_RECORD_SYSTEM);
    assert_eq!(
        DAILY_RECORD_SYSTEM,
        "https://healing-space.example/fhir/CodeSystem/daily-record"
    );
    assert_eq!(moods[0]["valueInteger"], 3);
    assert_eq!(
        moods[0]["note"][0]["text"],
        "Rough day \"at work\" & <b>tired</b> 😀\nslept badly"
    );
    let sleep: Vec<&Value> = observations(b, "93832-4")
        .iter()
        .map(|o| &o["valueQuantity"])
        .collect();
    assert_eq!(sleep.len(), 5);
    let hours: Vec<String> = sleep.iter().map(|q| q["value"].to_string()).collect();
    assert_eq!(hours, ["4.5", "8", "7.5", "0", "24"]);
    for q in &sleep {
        assert_eq!(q["unit"], "h");
        assert_eq!(q["code"], "h");
        assert_eq!(q["system"], "http://unitsofmeasure.org");
    }
    assert_eq!(observations(b, "sleep-quality").len(), 2);
    assert_eq!(observations(b, "anxiety").len(), 2);

    let responses = resources(b, "QuestionnaireResponse");
    let phq9: Vec<&&Value> = responses
        .iter()
        .filter(|r| r["questionnaire"] == "http://loinc.org/q/44249-1")
        .collect();
    let gad7: Vec<&&Value> = responses
        .iter()
        .filter(|r| r["questionnaire"] == "http://loinc.org/q/69737-5")
        .collect();
    assert_eq!((phq9.len(), gad7.len()), (5, 4));
    let first = &phq9[0]["item"];
    assert_eq!(first[0]["linkId"], "44250-9");
    assert_eq!(first[8]["linkId"], "44260-8");
    assert_eq!(first[8]["answer"][0]["valueCoding"]["code"], "LA6570-1");
    assert_eq!(
        first[8]["answer"][0]["valueCoding"]["system"],
        "http://loinc.org"
    );
    assert_eq!(first[9]["linkId"], "69722-7");
    assert_eq!(first[9]["answer"][0]["valueCoding"]["code"], "LA6574-3");
    assert_eq!(first[10]["linkId"], "44261-6");
    assert_eq!(first[10]["answer"][0]["valueInteger"], 23);
    assert_eq!(gad7[0]["item"][0]["linkId"], "69725-0");
    assert_eq!(
        gad7[0]["item"][0]["answer"][0]["valueCoding"]["code"],
        "LA6571-9"
    );

    // Totals with their band, each derived from its response.
    let response_urls: Vec<&str> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "QuestionnaireResponse")
        .map(|e| e["fullUrl"].as_str().unwrap())
        .collect();
    let bands = |code: &str| -> Vec<(i64, String)> {
        observations(b, code)
            .iter()
            .map(|o| {
                assert_eq!(
                    o["interpretation"][0]["coding"][0]["system"],
                    SEVERITY_SYSTEM
                );
                let from = o["derivedFrom"][0]["reference"].as_str().unwrap();
                assert!(response_urls.contains(&from), "{from}");
                (
                    o["valueInteger"].as_i64().unwrap(),
                    o["interpretation"][0]["coding"][0]["code"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            })
            .collect()
    };
    let expect = |pairs: &[(i64, &str)]| -> Vec<(i64, String)> {
        pairs.iter().map(|(t, b)| (*t, (*b).to_owned())).collect()
    };
    assert_eq!(
        bands("44261-6"),
        expect(&[
            (23, "severe"),
            (15, "moderately_severe"),
            (12, "moderate"),
            (6, "mild"),
            (0, "minimal")
        ])
    );
    assert_eq!(
        bands("70274-6"),
        expect(&[
            (17, "severe"),
            (10, "moderate"),
            (6, "mild"),
            (2, "minimal")
        ])
    );
    let item9: Vec<(String, bool)> = observations(b, "44260-8")
        .iter()
        .map(|o| {
            let from = o["derivedFrom"][0]["reference"].as_str().unwrap();
            assert!(response_urls.contains(&from), "{from}");
            (
                o["valueCodeableConcept"]["coding"][0]["code"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                o.get("interpretation").is_some(),
            )
        })
        .collect();
    assert_eq!(
        item9,
        [
            ("LA6570-1".to_owned(), true),
            ("LA6568-5".to_owned(), false),
            ("LA6569-3".to_owned(), true),
            ("LA6568-5".to_owned(), false),
            ("LA6568-5".to_owned(), false),
        ]
    );

    // The Provenance covers every other entry, and signs.
    let provenance = resources(b, "Provenance")[0];
    let targets: Vec<&str> = provenance["target"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["reference"].as_str().unwrap())
        .collect();
    let others: Vec<&str> = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] != "Provenance")
        .map(|e| e["fullUrl"].as_str().unwrap())
        .collect();
    assert_eq!(targets, others);
    let signature = &provenance["signature"][0];
    assert_eq!(signature["type"][0]["code"], "1.2.840.10065.1.12.1.5");
    assert_eq!(signature["type"][0]["system"], "urn:iso-astm:E1762-95:2013");
    assert_eq!(signature["when"], b["timestamp"]);
    let key = app.client().get("/api/export/fhir/public-key").await;
    let public = PublicKey::parse(key.body["public_key"].as_str().unwrap()).unwrap();
    for bundle in [&own, &theirs, &nothing] {
        fhir::verify_bytes(bundle.text.as_bytes(), &public).expect("signed");
    }

    let files = [
        write(&app.data_dir, "own.json", &own.text),
        write(&app.data_dir, "clinician.json", &theirs.text),
        write(&app.data_dir, "empty.json", &nothing.text),
    ];
    let report = validate(&files);
    assert_eq!(report.matches("valid: Bundle with").count(), 3, "{report}");
}

#[tokio::test]
async fn exports_of_the_demo_clinic_pass_the_validator() {
    let app = TestApp::new().await;
    healing_space::demo::seed(&app.state)
        .await
        .expect("the demo clinic loads");
    let patients: Vec<(String,)> =
        sqlx::query_as("SELECT username FROM users WHERE role = 'patient' ORDER BY id")
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(patients.len(), 12, "{} demo patients", patients.len());
    let key = app.client().get("/api/export/fhir/public-key").await;
    let public = PublicKey::parse(key.body["public_key"].as_str().unwrap()).unwrap();
    let mut files = Vec::new();
    let mut observations = 0;
    for (username,) in &patients {
        let mut c = app.client();
        let r = c
            .login_pin(
                username,
                healing_space::demo::DEMO_PASSWORD,
                healing_space::demo::DEMO_PIN,
            )
            .await;
        assert_eq!(r.status, 200, "{username}: {}", r.text);
        let export = c.get("/api/export/fhir").await;
        assert_eq!(export.status, 200, "{username}: {}", export.text);
        fhir::verify_bytes(export.text.as_bytes(), &public).expect("signed");
        observations += resources(&export.body, "Observation").len();
        files.push(write(
            &app.data_dir,
            &format!("{username}.json"),
            &export.text,
        ));
    }
    assert!(observations > 1000, "{observations} observations");
    let report = validate(&files);
    assert_eq!(
        report.matches("valid: Bundle with").count(),
        patients.len(),
        "{report}"
    );
}
