//! The FHIR R4 resources of an export, built from the patient's rows.
//!
//! Resources are plain `serde_json` values: the export writes six resource
//! types and reads none, and the independent validator in `tools/` checks
//! the result against the R4 models. Every resource gets a `urn:uuid:`
//! full URL derived from the signing key, its kind and its row id, so the
//! same row keeps the same identity in every export of one installation,
//! and two installations never share one.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::signing::PublicKey;
use crate::assessments::{AssessmentRow, Instrument};
use crate::daily_record::mood::MoodRow;
use crate::types::rfc3339;

/// The product's own code system for the daily record (mood, sleep
/// quality, anxiety, exercise, time outdoors).
pub const DAILY_RECORD_SYSTEM: &str = "https://healing-space.example/fhir/CodeSystem/daily-record";
/// The product's code system for questionnaire severity bands.
pub const SEVERITY_SYSTEM: &str = "https://healing-space.example/fhir/CodeSystem/severity-band";
/// The identifier system of usernames.
pub const USERNAME_SYSTEM: &str = "https://healing-space.example/fhir/NamingSystem/username";
/// The identifier system of signing keys: values are JWK thumbprints.
pub const SIGNING_KEY_SYSTEM: &str = "https://healing-space.example/fhir/NamingSystem/signing-key";
/// Names the signing rule, recorded as the Provenance's policy.
pub const SIGNING_POLICY: &str = "https://healing-space.example/fhir/signing/ed25519-jcs-v1";

const LOINC: &str = "http://loinc.org";
const UCUM: &str = "http://unitsofmeasure.org";
const OBSERVATION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";
const ORDINAL_VALUE: &str = "http://hl7.org/fhir/StructureDefinition/ordinalValue";
const SIGNATURE_TYPE: &str = "urn:iso-astm:E1762-95:2013";

/// The questionnaire canonical URLs (LOINC panels).
pub const PHQ9_QUESTIONNAIRE: &str = "http://loinc.org/q/44249-1";
pub const GAD7_QUESTIONNAIRE: &str = "http://loinc.org/q/69737-5";

/// LOINC answers to the frequency items, by score 0–3.
const FREQUENCY_ANSWERS: [(&str, &str); 4] = [
    ("LA6568-5", "Not at all"),
    ("LA6569-3", "Several days"),
    ("LA6570-1", "More than half the days"),
    ("LA6571-9", "Nearly every day"),
];

/// LOINC answers to the unscored difficulty item, by value 0–3.
const DIFFICULTY_ANSWERS: [(&str, &str); 4] = [
    ("LA6572-7", "Not difficult at all"),
    ("LA6573-5", "Somewhat difficult"),
    ("LA6575-0", "Very difficult"),
    ("LA6574-3", "Extremely difficult"),
];

const DIFFICULTY_ITEM: (&str, &str) = (
    "69722-7",
    "How difficult have these problems made it for you to do your work, take care of things \
     at home, or get along with other people?",
);

const PHQ9_ITEMS: [(&str, &str); 9] = [
    ("44250-9", "Little interest or pleasure in doing things"),
    ("44255-8", "Feeling down, depressed, or hopeless"),
    (
        "44259-0",
        "Trouble falling or staying asleep, or sleeping too much",
    ),
    ("44254-1", "Feeling tired or having little energy"),
    ("44251-7", "Poor appetite or overeating"),
    (
        "44258-2",
        "Feeling bad about yourself - or that you are a failure or have let yourself or your \
         family down",
    ),
    (
        "44252-5",
        "Trouble concentrating on things, such as reading the newspaper or watching television",
    ),
    (
        "44253-3",
        "Moving or speaking so slowly that other people could have noticed. Or the opposite - \
         being so fidgety or restless that you have been moving around a lot more than usual",
    ),
    (
        "44260-8",
        "Thoughts that you would be better off dead, or of hurting yourself in some way",
    ),
];

const GAD7_ITEMS: [(&str, &str); 7] = [
    ("69725-0", "Feeling nervous, anxious or on edge"),
    ("68509-9", "Not being able to stop or control worrying"),
    ("69733-4", "Worrying too much about different things"),
    ("69734-2", "Trouble relaxing"),
    ("69735-9", "Being so restless that it is hard to sit still"),
    ("69689-8", "Becoming easily annoyed or irritable"),
    (
        "69736-7",
        "Feeling afraid as if something awful might happen",
    ),
];

/// What LOINC calls each instrument's panel and total score.
struct InstrumentCodes {
    questionnaire: &'static str,
    items: &'static [(&'static str, &'static str)],
    total_code: &'static str,
    total_display: &'static str,
    total_text: &'static str,
}

fn codes(instrument: Instrument) -> InstrumentCodes {
    match instrument {
        Instrument::Phq9 => InstrumentCodes {
            questionnaire: PHQ9_QUESTIONNAIRE,
            items: &PHQ9_ITEMS,
            total_code: "44261-6",
            total_display: "Patient Health Questionnaire 9 item (PHQ-9) total score [Reported]",
            total_text: "PHQ-9 total score",
        },
        Instrument::Gad7 => InstrumentCodes {
            questionnaire: GAD7_QUESTIONNAIRE,
            items: &GAD7_ITEMS,
            total_code: "70274-6",
            total_display: "Generalized anxiety disorder 7 item (GAD-7) total score [Reported.PHQ]",
            total_text: "GAD-7 total score",
        },
    }
}

/// The patient as the Patient resource shows them.
#[derive(Debug, Clone)]
pub struct PatientInfo {
    pub id: i64,
    pub username: String,
    pub display_name: String,
}

/// Where an appointment stands (SPEC §12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppointmentState {
    /// Booked by the clinician, not yet accepted by the patient.
    Proposed,
    Accepted,
    Declined,
    Cancelled,
    Attended,
    NoShow,
    CancelledLate,
}

/// One session between the patient and a clinician.
#[derive(Debug, Clone)]
pub struct AppointmentInfo {
    pub id: i64,
    /// Unix seconds.
    pub start: i64,
    pub end: i64,
    pub state: AppointmentState,
    pub clinician_name: String,
}

/// Everything one export holds.
#[derive(Debug, Clone)]
pub struct ExportData {
    pub patient: PatientInfo,
    pub moods: Vec<MoodRow>,
    pub assessments: Vec<AssessmentRow>,
    pub appointments: Vec<AppointmentInfo>,
}

/// A UUID that is the same for the same row in every export signed with
/// `signer`: SHA-256 of the key, the kind of resource and the row id, laid
/// out as an RFC 9562 version 8 (custom) UUID.
pub fn stable_uuid(signer: &PublicKey, kind: &str, id: i64) -> String {
    let mut hash = Sha256::new();
    hash.update(b"healing-space/fhir-resource\0");
    hash.update(signer.to_bytes());
    hash.update(kind.as_bytes());
    hash.update(b"\0");
    hash.update(id.to_string().as_bytes());
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    format_uuid(&bytes)
}

/// A random (version 4) UUID, for what exists once per export.
pub fn random_uuid() -> String {
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&crate::crypto::random_bytes(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    format_uuid(&bytes)
}

fn format_uuid(b: &[u8; 16]) -> String {
    let hex = data_encoding::HEXLOWER.encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn coding(system: &str, code: &str, display: &str) -> Value {
    json!({ "system": system, "code": code, "display": display })
}

fn concept(system: &str, code: &str, display: &str, text: &str) -> Value {
    json!({ "coding": [coding(system, code, display)], "text": text })
}

fn category(code: &str, display: &str) -> Value {
    json!([{ "coding": [coding(OBSERVATION_CATEGORY, code, display)] }])
}

/// A LOINC answer coding that also carries its score, so a receiver can
/// add up the items without a table of answer codes.
fn scored_answer(answers: &[(&str, &str); 4], score: i64) -> Result<Value, String> {
    let (code, display) = usize::try_from(score)
        .ok()
        .and_then(|i| answers.get(i))
        .ok_or_else(|| format!("a stored answer {score} is outside 0–3"))?;
    Ok(json!({
        "extension": [{ "url": ORDINAL_VALUE, "valueDecimal": score }],
        "system": LOINC,
        "code": code,
        "display": display,
    }))
}

fn quantity(value: Value, unit: &str) -> Value {
    json!({ "value": value, "unit": unit, "system": UCUM, "code": unit })
}

/// Tenths of an hour as a JSON number: `7` rather than `7.0`, `7.5` as is.
fn hours(tenths: i64) -> Value {
    if tenths % 10 == 0 {
        json!(tenths / 10)
    } else {
        json!(tenths as f64 / 10.0)
    }
}

struct Builder<'a> {
    signer: &'a PublicKey,
    patient_url: String,
    entries: Vec<(String, Value)>,
}

impl Builder<'_> {
    /// Adds a resource under its stable identity; returns its full URL.
    fn add(&mut self, kind: &str, id: i64, mut resource: Value) -> String {
        let uuid = stable_uuid(self.signer, kind, id);
        resource["id"] = json!(uuid);
        let url = format!("urn:uuid:{uuid}");
        self.entries.push((url.clone(), resource));
        url
    }

    fn subject(&self) -> Value {
        json!({ "reference": self.patient_url })
    }

    fn observation(
        &self,
        category_code: (&str, &str),
        code: Value,
        effective: &str,
        issued: i64,
        value: (&str, Value),
    ) -> Value {
        let mut obs = json!({
            "resourceType": "Observation",
            "status": "final",
            "category": category(category_code.0, category_code.1),
            "code": code,
            "subject": self.subject(),
            "effectiveDateTime": effective,
            "issued": rfc3339(issued),
        });
        obs[value.0] = value.1;
        obs
    }

    fn mood_entry(&mut self, row: &MoodRow) {
        const SURVEY: (&str, &str) = ("survey", "Survey");
        const ACTIVITY: (&str, &str) = ("activity", "Activity");
        let own = |code: &str, display: &str| concept(DAILY_RECORD_SYSTEM, code, display, display);
        let date = row.entry_date.as_str();

        let mut mood = self.observation(
            SURVEY,
            own("mood", "Mood (1 = lowest, 10 = best)"),
            date,
            row.updated_at,
            ("valueInteger", json!(row.mood)),
        );
        if let Some(note) = row.note.as_deref().filter(|n| !n.is_empty()) {
            mood["note"] = json!([{ "text": note }]);
        }
        self.add("mood", row.id, mood);

        if let Some(quality) = row.sleep_quality {
            let obs = self.observation(
                SURVEY,
                own("sleep-quality", "Sleep quality (0 = worst, 10 = best)"),
                date,
                row.updated_at,
                ("valueInteger", json!(quality)),
            );
            self.add("sleep-quality", row.id, obs);
        }
        if let Some(tenths) = row.sleep_tenths {
            let obs = self.observation(
                ACTIVITY,
                concept(LOINC, "93832-4", "Sleep duration", "Sleep duration"),
                date,
                row.updated_at,
                ("valueQuantity", quantity(hours(tenths), "h")),
            );
            self.add("sleep-duration", row.id, obs);
        }
        if let Some(anxiety) = row.anxiety {
            let obs = self.observation(
                SURVEY,
                own("anxiety", "Anxiety (0 = none, 10 = worst)"),
                date,
                row.updated_at,
                ("valueInteger", json!(anxiety)),
            );
            self.add("anxiety", row.id, obs);
        }
        let minutes = [
            ("exercise-minutes", "Exercise", row.exercise_minutes),
            ("outdoor-minutes", "Time outdoors", row.outdoor_minutes),
        ];
        for (code, display, value) in minutes {
            if let Some(value) = value {
                let obs = self.observation(
                    ACTIVITY,
                    own(code, display),
                    date,
                    row.updated_at,
                    ("valueQuantity", quantity(json!(value), "min")),
                );
                self.add(code, row.id, obs);
            }
        }
    }

    fn assessment(&mut self, row: &AssessmentRow) -> Result<(), String> {
        const SURVEY: (&str, &str) = ("survey", "Survey");
        let instrument = Instrument::parse(&row.instrument)
            .ok_or_else(|| format!("assessment {} has an unknown instrument", row.id))?;
        let codes = codes(instrument);
        let answers: Vec<i64> = serde_json::from_str(&row.answers)
            .map_err(|_| format!("assessment {} has unreadable answers", row.id))?;
        if answers.len() != codes.items.len() {
            return Err(format!(
                "assessment {} has the wrong number of answers",
                row.id
            ));
        }
        let authored = rfc3339(row.created_at);

        let mut items = Vec::with_capacity(codes.items.len() + 2);
        for ((link_id, text), score) in codes.items.iter().zip(&answers) {
            items.push(json!({
                "linkId": link_id,
                "text": text,
                "answer": [{ "valueCoding": scored_answer(&FREQUENCY_ANSWERS, *score)? }],
            }));
        }
        if let Some(difficulty) = row.difficulty {
            items.push(json!({
                "linkId": DIFFICULTY_ITEM.0,
                "text": DIFFICULTY_ITEM.1,
                "answer": [{ "valueCoding": scored_answer(&DIFFICULTY_ANSWERS, difficulty)? }],
            }));
        }
        items.push(json!({
            "linkId": codes.total_code,
            "text": codes.total_text,
            "answer": [{ "valueInteger": row.total }],
        }));
        let response = json!({
            "resourceType": "QuestionnaireResponse",
            "questionnaire": codes.questionnaire,
            "status": "completed",
            "subject": self.subject(),
            "authored": authored,
            "item": items,
        });
        let response_url = self.add("questionnaire-response", row.id, response);
        let derived_from = json!([{ "reference": response_url }]);

        let band = band_display(&row.band)
            .ok_or_else(|| format!("assessment {} has an unknown band", row.id))?;
        let mut total = self.observation(
            SURVEY,
            concept(
                LOINC,
                codes.total_code,
                codes.total_display,
                codes.total_text,
            ),
            &authored,
            row.created_at,
            ("valueInteger", json!(row.total)),
        );
        total["interpretation"] = json!([concept(SEVERITY_SYSTEM, &row.band, band, band)]);
        total["derivedFrom"] = derived_from.clone();
        self.add("total-score", row.id, total);

        if instrument == Instrument::Phq9 {
            let item9 = answers[8];
            let answer = scored_answer(&FREQUENCY_ANSWERS, item9)?;
            let text = answer["display"].clone();
            let mut obs = self.observation(
                SURVEY,
                json!({
                    "coding": [{ "system": LOINC, "code": "44260-8" }],
                    "text": "PHQ-9 item 9: thoughts that you would be better off dead, or of \
                             hurting yourself",
                }),
                &authored,
                row.created_at,
                (
                    "valueCodeableConcept",
                    json!({ "coding": [answer], "text": text }),
                ),
            );
            if item9 >= 1 {
                obs["interpretation"] = json!([{
                    "coding": [coding(INTERPRETATION, "A", "Abnormal")],
                    "text": "Answered above \"Not at all\": a risk signal",
                }]);
            }
            obs["derivedFrom"] = derived_from;
            self.add("phq9-item9", row.id, obs);
        }
        Ok(())
    }

    fn appointment(&mut self, appointment: &AppointmentInfo) {
        use AppointmentState::*;
        let (status, patient_status) = match appointment.state {
            Proposed => ("proposed", "needs-action"),
            Accepted => ("booked", "accepted"),
            Declined => ("cancelled", "declined"),
            Cancelled | CancelledLate => ("cancelled", "accepted"),
            Attended => ("fulfilled", "accepted"),
            NoShow => ("noshow", "accepted"),
        };
        let mut resource = json!({
            "resourceType": "Appointment",
            "status": status,
            "start": rfc3339(appointment.start),
            "end": rfc3339(appointment.end),
            "participant": [
                {
                    "actor": self.subject(),
                    "required": "required",
                    "status": patient_status,
                },
                {
                    "actor": { "display": appointment.clinician_name },
                    "required": "required",
                    "status": "accepted",
                },
            ],
        });
        if appointment.state == CancelledLate {
            resource["comment"] = json!("cancelled late");
        }
        self.add("appointment", appointment.id, resource);
    }
}

fn band_display(band: &str) -> Option<&'static str> {
    Some(match band {
        "minimal" => "Minimal",
        "mild" => "Mild",
        "moderate" => "Moderate",
        "moderately_severe" => "Moderately severe",
        "severe" => "Severe",
        _ => return None,
    })
}

/// The export service as a Provenance agent and signer.
fn service(signer: &PublicKey) -> Value {
    json!({
        "identifier": { "system": SIGNING_KEY_SYSTEM, "value": signer.key_id() },
        "display": "Healing Space export service",
    })
}

/// The Bundle, complete but for the signature's `data`: its Provenance
/// targets every other entry and carries one signature element with the
/// type, time and signer filled in, ready for [`super::sign`].
pub fn unsigned_bundle(data: &ExportData, signer: &PublicKey, now: i64) -> Result<Value, String> {
    let patient_uuid = stable_uuid(signer, "patient", data.patient.id);
    let mut builder = Builder {
        signer,
        patient_url: format!("urn:uuid:{patient_uuid}"),
        entries: Vec::new(),
    };
    builder.add(
        "patient",
        data.patient.id,
        json!({
            "resourceType": "Patient",
            "identifier": [{ "system": USERNAME_SYSTEM, "value": data.patient.username }],
            "active": true,
            "name": [{ "text": data.patient.display_name }],
        }),
    );
    for row in &data.moods {
        builder.mood_entry(row);
    }
    for row in &data.assessments {
        builder.assessment(row)?;
    }
    for appointment in &data.appointments {
        builder.appointment(appointment);
    }

    let recorded = rfc3339(now);
    let targets: Vec<Value> = builder
        .entries
        .iter()
        .map(|(url, _)| json!({ "reference": url }))
        .collect();
    let provenance_uuid = random_uuid();
    let provenance = json!({
        "resourceType": "Provenance",
        "id": provenance_uuid,
        "target": targets,
        "recorded": recorded,
        "policy": [SIGNING_POLICY],
        "agent": [{
            "type": {
                "coding": [coding(
                    "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                    "assembler",
                    "Assembler",
                )],
            },
            "who": service(signer),
        }],
        "signature": [{
            "type": [coding(SIGNATURE_TYPE, "1.2.840.10065.1.12.1.5", "Verification Signature")],
            "when": recorded,
            "who": service(signer),
            "targetFormat": "application/fhir+json",
            "sigFormat": "application/octet-stream",
        }],
    });
    builder
        .entries
        .push((format!("urn:uuid:{provenance_uuid}"), provenance));

    let bundle_uuid = random_uuid();
    let entries: Vec<Value> = builder
        .entries
        .into_iter()
        .map(|(url, resource)| json!({ "fullUrl": url, "resource": resource }))
        .collect();
    Ok(json!({
        "resourceType": "Bundle",
        "id": bundle_uuid,
        "identifier": { "system": "urn:ietf:rfc:3986", "value": format!("urn:uuid:{bundle_uuid}") },
        "type": "collection",
        "timestamp": recorded,
        "entry": entries,
    }))
}

/// Serialises a FHIR value for people to read: indented, with each
/// object's `resourceType` first as FHIR's JSON examples have it. The
/// signature does not depend on this layout.
pub fn to_pretty_json(value: &Value) -> String {
    serde_json::to_string_pretty(&FhirOrder(value)).unwrap_or_default()
}

struct FhirOrder<'a>(&'a Value);

impl Serialize for FhirOrder<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(members) => {
                let mut map = s.serialize_map(Some(members.len()))?;
                if let Some(kind) = members.get("resourceType") {
                    map.serialize_entry("resourceType", kind)?;
                }
                for (name, member) in members.iter().filter(|(n, _)| *n != "resourceType") {
                    map.serialize_entry(name, &FhirOrder(member))?;
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&FhirOrder(item))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}
