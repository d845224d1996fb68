//! The signed FHIR R4 export (SPEC §13).
//!
//! `GET /api/export/fhir` gives the patient their own record as a Bundle of
//! type `collection`; a clinician adds `?patient=USERNAME` and goes through
//! the care-team gate, which writes the access log. The Bundle holds the
//! Patient, the daily record as Observations, each PHQ-9 and GAD-7 as a
//! QuestionnaireResponse with its score Observations, the appointments, and
//! one Provenance that targets every other entry and carries the signature.
//!
//! # What is signed
//!
//! The signature is Ed25519 (RFC 8032) over the RFC 8785 canonical JSON of
//! the whole Bundle with exactly one member removed: `data` of the single
//! `signature` element of the Bundle's Provenance entry. Everything else
//! is signed, the rest of that signature element (type, `when`, `who`)
//! included, so the time and the signer cannot be changed either. The
//! `data` member holds standard Base64 of the raw 64-byte signature.
//!
//! To verify: parse the Bundle (a member name repeated within one object
//! makes it invalid), find the one `signature` element among the
//! Provenance resources of `Bundle.entry` (none, or more than one, makes it
//! invalid), take out its `data`, canonicalise what is left and check the
//! signature with the public key from `GET /api/export/fhir/public-key`.
//! Layout does not matter (whitespace, member order); any changed,
//! added, removed or reordered array element or value does.

use std::path::Path;

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use data_encoding::BASE64;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::accounts::session::CurrentUser;
use crate::assessments;
use crate::audit::{self, Event};
use crate::care_team::gate::{self, PatientAccess};
use crate::companion::attachment;
use crate::config::Config;
use crate::daily_record::mood;
use crate::error::{AppError, AppResult, ErrorCode, error_body};
use crate::http::extract::{ClientIp, Query};
use crate::types::{Date, local_date};

pub mod bundle;
pub mod canonical;
pub mod signing;

pub use bundle::{AppointmentInfo, AppointmentState, ExportData, PatientInfo};
use signing::{ExportKey, PublicKey};

/// The verify route, named here so the body-size rules can find it.
pub const VERIFY_ROUTE: &str = "/api/export/fhir/verify";
/// Bundles sent to the verify route may be this large: a few years of daily
/// entries. Larger ones can be checked with `healing-space fhir verify`,
/// which has no limit. Parsing takes several times the body in memory, so
/// the size is kept modest and only two checks run at once.
pub const VERIFY_BODY_LIMIT: usize = 4 * 1024 * 1024;

fn verify_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| tokio::sync::Semaphore::new(2))
}

pub fn router() -> Router<AppState> {
    let verify_route = Router::new()
        .route(VERIFY_ROUTE, post(verify))
        .route_layer(DefaultBodyLimit::max(VERIFY_BODY_LIMIT));
    Router::new()
        .route("/api/export/fhir", get(export))
        .route("/api/export/fhir/public-key", get(public_key))
        .merge(verify_route)
}

/// Why a Bundle did not verify. Each has a stable code for the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// Not JSON, or a member name repeated within one object.
    Unreadable(String),
    NotABundle,
    NoSignature,
    SeveralSignatures,
    /// `data` missing, not Base64, or not 64 bytes.
    MalformedSignature,
    /// The signature does not match this content under this key.
    Mismatch,
}

impl Invalid {
    pub fn code(&self) -> &'static str {
        match self {
            Invalid::Unreadable(_) => "invalid_json",
            Invalid::NotABundle => "not_a_bundle",
            Invalid::NoSignature => "signature_missing",
            Invalid::SeveralSignatures => "signature_ambiguous",
            Invalid::MalformedSignature => "signature_malformed",
            Invalid::Mismatch => "signature_invalid",
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Unreadable(why) => f.write_str(why),
            Invalid::NotABundle => f.write_str("the document is not a FHIR Bundle"),
            Invalid::NoSignature => f.write_str("the Bundle has no Provenance signature"),
            Invalid::SeveralSignatures => {
                f.write_str("the Bundle has more than one Provenance signature")
            }
            Invalid::MalformedSignature => {
                f.write_str("the signature data is not Base64 of a 64-byte Ed25519 signature")
            }
            Invalid::Mismatch => f.write_str(
                "the signature does not match the Bundle's content under this public key",
            ),
        }
    }
}

/// What a valid signature tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub key_id: String,
    /// The signature's `when`, as written in the Bundle.
    pub signed_at: String,
    pub entries: usize,
}

/// The one signature element of the Bundle's Provenance entries.
fn signature_mut(bundle: &mut Value) -> Result<&mut serde_json::Map<String, Value>, Invalid> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return Err(Invalid::NotABundle);
    }
    let entries = match bundle.get_mut("entry") {
        None => return Err(Invalid::NoSignature),
        Some(Value::Array(entries)) => entries,
        Some(_) => return Err(Invalid::NotABundle),
    };
    let mut found = Vec::new();
    for entry in entries.iter_mut() {
        let Some(resource) = entry.get_mut("resource") else {
            continue;
        };
        if resource.get("resourceType").and_then(Value::as_str) != Some("Provenance") {
            continue;
        }
        if let Some(signatures) = resource.get_mut("signature") {
            let Value::Array(signatures) = signatures else {
                return Err(Invalid::MalformedSignature);
            };
            found.extend(signatures.iter_mut());
        }
    }
    match found.len() {
        0 => Err(Invalid::NoSignature),
        1 => found
            .pop()
            .and_then(Value::as_object_mut)
            .ok_or(Invalid::MalformedSignature),
        _ => Err(Invalid::SeveralSignatures),
    }
}

/// Signs an unsigned Bundle in place: fills in `data` of its one
/// Provenance signature.
pub fn sign(bundle: &mut Value, key: &ExportKey) -> Result<(), Invalid> {
    signature_mut(bundle)?.remove("data");
    let signature = key.sign(canonical::canonicalize(bundle).as_bytes());
    signature_mut(bundle)?.insert("data".into(), json!(BASE64.encode(&signature)));
    Ok(())
}

/// Checks a parsed Bundle's signature under `key`.
pub fn verify_value(bundle: &Value, key: &PublicKey) -> Result<Verified, Invalid> {
    let mut unsigned = bundle.clone();
    let signature = signature_mut(&mut unsigned)?;
    let data = signature
        .remove("data")
        .ok_or(Invalid::MalformedSignature)?;
    let signed_at = signature
        .get("when")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let bytes = data
        .as_str()
        .and_then(|d| BASE64.decode(d.as_bytes()).ok())
        .ok_or(Invalid::MalformedSignature)?;
    let bytes: [u8; 64] = bytes.try_into().map_err(|_| Invalid::MalformedSignature)?;
    if !key.verify(canonical::canonicalize(&unsigned).as_bytes(), &bytes) {
        return Err(Invalid::Mismatch);
    }
    Ok(Verified {
        key_id: key.key_id(),
        signed_at,
        entries: bundle
            .get("entry")
            .and_then(Value::as_array)
            .map_or(0, Vec::len),
    })
}

/// Checks a Bundle as sent (bytes of JSON) under `key`.
pub fn verify_bytes(bytes: &[u8], key: &PublicKey) -> Result<Verified, Invalid> {
    let bundle = canonical::parse_strict(bytes).map_err(Invalid::Unreadable)?;
    verify_value(&bundle, key)
}

/// Builds and signs the export of `data`.
pub fn signed_bundle(data: &ExportData, key: &ExportKey, now: i64) -> anyhow::Result<Value> {
    let mut bundle = bundle::unsigned_bundle(data, &key.public(), now)
        .map_err(|why| anyhow::anyhow!("building the FHIR export: {why}"))?;
    sign(&mut bundle, key).map_err(|why| anyhow::anyhow!("signing the FHIR export: {why}"))?;
    Ok(bundle)
}

/// `healing-space fhir verify FILE [--public-key KEY]`: the line to print
/// when the Bundle is valid, or an error whose text is the reason.
pub fn verify_file(
    config: &Config,
    file: &Path,
    public_key: Option<&str>,
) -> anyhow::Result<String> {
    let key = match public_key {
        Some(given) => {
            let path = Path::new(given);
            let text = if path.is_file() {
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading the public key file {}", path.display()))?
            } else {
                given.to_owned()
            };
            PublicKey::parse(&text).map_err(|why| anyhow::anyhow!("--public-key: {why}"))?
        }
        None => ExportKey::load_existing(config)?
            .with_context(|| {
                format!(
                    "no --public-key given and no signing key in {}",
                    config.data_dir.display()
                )
            })?
            .public(),
    };
    let bytes = if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .context("reading the Bundle from standard input")?;
        bytes
    } else {
        std::fs::read(file).with_context(|| format!("reading {}", file.display()))?
    };
    match verify_bytes(&bytes, &key) {
        Ok(v) => Ok(format!(
            "valid: Bundle of {} entries signed at {} by key {}",
            v.entries, v.signed_at, v.key_id
        )),
        Err(why) => anyhow::bail!("invalid: {why}"),
    }
}

/// Loads the signing key off the async executor (it may create the file).
async fn export_key(state: &AppState) -> AppResult<ExportKey> {
    let config = state.config.clone();
    tokio::task::spawn_blocking(move || ExportKey::load_or_create(&config))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("the key task failed: {e}")))?
        .map_err(AppError::Internal)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    patient: Option<String>,
}

async fn export_data(state: &AppState, access: &PatientAccess) -> AppResult<ExportData> {
    let (display_name,): (String,) = sqlx::query_as("SELECT display_name FROM users WHERE id = $1")
        .bind(access.patient_id())
        .fetch_one(state.db.pool())
        .await?;
    let everything = (
        Date(jiff::civil::date(1, 1, 1)),
        Date(jiff::civil::date(9999, 12, 31)),
    );
    let moods = mood::list(&state.db, access, everything.0, everything.1).await?;
    let assessments = assessments::list(&state.db, access, None).await?;
    Ok(ExportData {
        patient: PatientInfo {
            id: access.patient_id(),
            username: access.patient_username().to_owned(),
            display_name,
        },
        moods,
        assessments,
        appointments: appointments(state, access).await?,
    })
}

/// The patient's appointments.
// TODO: there is no appointments table yet (SPEC §12), so exports hold no
// Appointment; read the patient's sessions here once it exists. The
// resource mapping in `bundle.rs` is ready and tested.
async fn appointments(
    _state: &AppState,
    _access: &PatientAccess,
) -> AppResult<Vec<AppointmentInfo>> {
    Ok(Vec::new())
}

async fn export(
    State(state): State<AppState>,
    user: CurrentUser,
    ip: ClientIp,
    Query(query): Query<ExportQuery>,
) -> AppResult<Response> {
    let access = match &query.patient {
        None => gate::own(&state, &user).await?,
        Some(username) => gate::for_viewer(&state, &user, username, "fhir_export").await?,
    };
    let data = export_data(&state, &access).await?;
    let key = export_key(&state).await?;
    let now = state.clock.now();
    let body = tokio::task::spawn_blocking(move || {
        signed_bundle(&data, &key, now).map(|b| bundle::to_pretty_json(&b))
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("the export task failed: {e}")))??;
    audit::record(
        &state.db,
        now,
        Event::new("export.fhir", "ok")
            .actor(user.id)
            .target(access.patient_id())
            .ip(ip),
    )
    .await?;
    let date = local_date(now, access.time_zone());
    // Usernames are letters, digits, `.`, `_` and `-`: safe in a header.
    let name = format!("{}-fhir-{date}.json", access.patient_username());
    Ok(attachment("application/fhir+json", &name, body))
}

async fn public_key(State(state): State<AppState>) -> AppResult<axum::Json<Value>> {
    let key = export_key(&state).await?.public();
    Ok(axum::Json(json!({
        "algorithm": "Ed25519",
        "public_key": key.to_base64(),
        "key_id": key.key_id(),
        "jwk": key.jwk(),
        "signed_content": "RFC 8785 canonical JSON of the Bundle without the `data` member \
                           of its Provenance signature",
    })))
}

/// Anyone with a session may check a Bundle: the answer reveals nothing
/// but whether this server signed exactly that content.
async fn verify(
    State(state): State<AppState>,
    _user: CurrentUser,
    body: Result<Bytes, BytesRejection>,
) -> AppResult<Response> {
    let _permit = verify_permits()
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge
        } else {
            AppError::bad_request("invalid_body", "the request body could not be read")
        }
    })?;
    let key = export_key(&state).await?.public();
    let outcome = tokio::task::spawn_blocking(move || verify_bytes(&body, &key))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("the verify task failed: {e}")))?;
    Ok(match outcome {
        Ok(v) => axum::Json(json!({
            "valid": true,
            "key_id": v.key_id,
            "signed_at": v.signed_at,
            "entries": v.entries,
        }))
        .into_response(),
        Err(Invalid::Unreadable(why)) => AppError::bad_request("invalid_json", why).into_response(),
        Err(why) => {
            let mut body = error_body(why.code(), &why.to_string());
            body.insert("valid".into(), json!(false));
            let mut response = (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(Value::Object(body)),
            )
                .into_response();
            // Marks the body as ours, so the error layer leaves it alone.
            response.extensions_mut().insert(ErrorCode(why.code()));
            response
        }
    })
}
