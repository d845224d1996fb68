//! The demo clinic loaded by `healing-space demo`.
//!
//! Two clinicians, one developer and a dozen patients with ninety days of
//! mood history, written straight into an empty database so a newcomer can
//! log in and see a caseload that looks like real use. The history comes
//! from a seeded generator, so every load gives the same clinic (relative
//! to "today"); only the TOTP secrets are fresh, because a demo that ends
//! up reachable from a network must not share its second factor with every
//! other copy.

use anyhow::Context;
use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use sqlx::{Any, Transaction};

use crate::AppState;
use crate::accounts::types::{Password, Pin, Role};
use crate::audit::{self, Event};
use crate::crypto::{self, totp};
use crate::db::Backend;
use crate::types::local_date;
use crate::vault::PatientKey;

/// The password every demo account shares. It meets the password policy.
pub const DEMO_PASSWORD: &str = "Demo!pass1";
/// The PIN every demo account shares (patients log in with it).
pub const DEMO_PIN: &str = "1234";
/// Days of mood history before today. Today is left empty so a newcomer
/// can log today's mood as the patient.
pub const HISTORY_DAYS: i64 = 90;

/// Base seed of the generator; each patient adds their index, so adding a
/// patient at the end changes nobody else's history.
const SEED: u64 = 0x4845_414c_494e_4753;

const DAY: i64 = 24 * 3600;
const HOUR: i64 = 3600;

struct Staff {
    username: &'static str,
    display_name: &'static str,
    role: Role,
    areas: &'static str,
}

const STAFF: &[Staff] = &[
    Staff {
        username: "dr.adeyemi",
        display_name: "Dr Ruth Adeyemi",
        role: Role::Clinician,
        areas: "low mood, anxiety, CBT",
    },
    Staff {
        username: "dr.lindqvist",
        display_name: "Dr Erik Lindqvist",
        role: Role::Clinician,
        areas: "sleep, stress, behavioural activation",
    },
    Staff {
        username: "ops",
        display_name: "Platform Operator",
        role: Role::Developer,
        areas: "",
    },
];

/// The overall direction of a patient's mood over the ninety days.
#[derive(Clone, Copy)]
enum Course {
    Improving {
        from: f64,
        to: f64,
    },
    Declining {
        from: f64,
        to: f64,
    },
    Stable {
        level: f64,
    },
    /// Weeks-long ups and downs around a level.
    Variable {
        level: f64,
        swing: f64,
    },
}

impl Course {
    /// The underlying mood at `progress`, 0 at the oldest day and 1 at
    /// yesterday.
    fn level(self, progress: f64) -> f64 {
        let eased = progress * progress * (3.0 - 2.0 * progress);
        match self {
            Course::Improving { from, to } | Course::Declining { from, to } => {
                from + (to - from) * eased
            }
            Course::Stable { level } => level,
            Course::Variable { level, swing } => {
                level + swing * (progress * std::f64::consts::TAU * 3.0).sin()
            }
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Course::Improving { .. } => "improving",
            Course::Declining { .. } => "declining",
            Course::Stable { .. } => "stable",
            Course::Variable { .. } => "up and down",
        }
    }
}

/// The care-team history of a demo patient.
#[derive(Clone, Copy)]
enum Care {
    /// Approved by the clinician (index into `STAFF`).
    Approved(usize),
    /// Waiting for the clinician for this many days.
    Pending(usize, i64),
    /// Turned down by the first clinician, now waiting for the second.
    RejectedThenPending(usize, usize),
    /// Ended by the first clinician (a transfer), approved by the second.
    EndedThenApproved(usize, usize),
}

struct DemoPatient {
    username: &'static str,
    display_name: &'static str,
    time_zone: &'static str,
    course: Course,
    /// Usual anxiety when mood is middling.
    anxiety: f64,
    /// Usual sleep in tenths of an hour.
    sleep_tenths: f64,
    medication: &'static [&'static str],
    /// Chance of skipping an ordinary day.
    skip: f64,
    /// Runs of missing days: (days before today of the first missing day, length).
    gaps: &'static [(i64, i64)],
    /// Logs in the morning rather than the evening.
    morning: bool,
    care: Care,
}

impl DemoPatient {
    /// What a newcomer should know before logging in as this patient.
    fn describe(&self, care: &str) -> String {
        let mut about = format!("{}; {care}", self.course.describe());
        if self.time_zone != "Europe/London" {
            about.push_str(&format!("; {}", self.time_zone));
        }
        if let Some((_, len)) = self.gaps.iter().find(|(start, len)| start - len < 1) {
            about.push_str(&format!("; nothing logged for {len} days"));
        } else if !self.gaps.is_empty() {
            about.push_str("; gaps of several days");
        }
        about
    }
}

const PATIENTS: &[DemoPatient] = &[
    DemoPatient {
        username: "amelia.hughes",
        display_name: "Amelia Hughes",
        time_zone: "Europe/London",
        course: Course::Improving { from: 3.6, to: 7.0 },
        anxiety: 6.0,
        sleep_tenths: 62.0,
        medication: &["Sertraline 50 mg"],
        skip: 0.04,
        gaps: &[],
        morning: false,
        care: Care::Approved(0),
    },
    DemoPatient {
        username: "oliver.bennett",
        display_name: "Oliver Bennett",
        time_zone: "Europe/London",
        course: Course::Stable { level: 6.2 },
        anxiety: 3.0,
        sleep_tenths: 72.0,
        medication: &[],
        skip: 0.08,
        gaps: &[],
        morning: true,
        care: Care::Approved(0),
    },
    DemoPatient {
        username: "priya.sharma",
        display_name: "Priya Sharma",
        time_zone: "Europe/London",
        course: Course::Declining { from: 6.8, to: 4.0 },
        anxiety: 5.0,
        sleep_tenths: 68.0,
        medication: &[],
        skip: 0.05,
        gaps: &[(20, 4)],
        morning: false,
        care: Care::Approved(0),
    },
    DemoPatient {
        username: "chloe.davies",
        display_name: "Chloe Davies",
        time_zone: "Europe/London",
        course: Course::Improving { from: 4.0, to: 6.5 },
        anxiety: 7.0,
        sleep_tenths: 66.0,
        medication: &["Propranolol 10 mg"],
        skip: 0.06,
        gaps: &[],
        morning: false,
        care: Care::Approved(0),
    },
    DemoPatient {
        username: "mohammed.rahman",
        display_name: "Mohammed Rahman",
        time_zone: "Europe/London",
        course: Course::Variable {
            level: 5.5,
            swing: 1.6,
        },
        anxiety: 4.0,
        sleep_tenths: 64.0,
        medication: &["Citalopram 20 mg", "Vitamin D"],
        skip: 0.05,
        gaps: &[],
        morning: true,
        care: Care::Approved(0),
    },
    DemoPatient {
        username: "emily.walsh",
        display_name: "Emily Walsh",
        time_zone: "Europe/London",
        course: Course::Declining { from: 6.0, to: 4.3 },
        anxiety: 6.0,
        sleep_tenths: 70.0,
        medication: &["Fluoxetine 20 mg"],
        skip: 0.07,
        gaps: &[(41, 6)],
        morning: false,
        care: Care::Approved(0),
    },
    DemoPatient {
        username: "liam.oconnor",
        display_name: "Liam O'Connor",
        time_zone: "Europe/Dublin",
        course: Course::Stable { level: 5.4 },
        anxiety: 4.0,
        sleep_tenths: 69.0,
        medication: &[],
        skip: 0.1,
        gaps: &[(62, 7), (25, 5)],
        morning: false,
        care: Care::Approved(1),
    },
    DemoPatient {
        username: "grace.thompson",
        display_name: "Grace Thompson",
        time_zone: "Europe/London",
        course: Course::Improving { from: 4.5, to: 6.0 },
        anxiety: 5.0,
        sleep_tenths: 58.0,
        medication: &["Mirtazapine 15 mg"],
        skip: 0.12,
        gaps: &[(75, 8), (48, 5), (14, 4)],
        morning: false,
        care: Care::Approved(1),
    },
    DemoPatient {
        username: "daniel.kowalski",
        display_name: "Daniel Kowalski",
        time_zone: "Europe/Warsaw",
        course: Course::Improving { from: 3.8, to: 6.8 },
        anxiety: 5.0,
        sleep_tenths: 61.0,
        medication: &[],
        skip: 0.05,
        gaps: &[],
        morning: true,
        care: Care::Approved(1),
    },
    DemoPatient {
        username: "noah.campbell",
        display_name: "Noah Campbell",
        time_zone: "America/Toronto",
        course: Course::Stable { level: 6.8 },
        anxiety: 3.0,
        sleep_tenths: 74.0,
        medication: &[],
        skip: 0.06,
        gaps: &[],
        morning: false,
        care: Care::EndedThenApproved(0, 1),
    },
    DemoPatient {
        username: "samuel.okafor",
        display_name: "Samuel Okafor",
        time_zone: "Europe/London",
        course: Course::Variable {
            level: 5.0,
            swing: 1.2,
        },
        anxiety: 5.0,
        sleep_tenths: 65.0,
        medication: &[],
        skip: 0.09,
        gaps: &[(33, 5)],
        morning: false,
        care: Care::Pending(0, 2),
    },
    DemoPatient {
        username: "isla.morgan",
        display_name: "Isla Morgan",
        time_zone: "Europe/London",
        course: Course::Declining { from: 5.8, to: 4.6 },
        anxiety: 6.0,
        sleep_tenths: 67.0,
        medication: &[],
        skip: 0.08,
        // Has not logged for the last week.
        gaps: &[(7, 7), (55, 4)],
        morning: true,
        care: Care::RejectedThenPending(0, 1),
    },
];

/// Short, neutral notes by mood band (low, middling, good). Nothing here
/// may read as risk language: the demo must not look like a clinic in crisis.
const NOTES: [&[&str]; 3] = [
    &[
        "Tired today, kept things simple.",
        "Stayed in most of the day.",
        "Slow start this morning.",
        "Early night.",
        "Rainy and grey, read for a while.",
        "Busy shift, not much energy left.",
    ],
    &[
        "Ordinary day at work.",
        "Cooked a proper dinner.",
        "Short walk at lunchtime.",
        "Caught up with emails.",
        "Phoned my sister.",
        "Did the weekly shop.",
        "Tried the breathing exercise before bed.",
    ],
    &[
        "Walked to the park with a friend.",
        "Good session this week.",
        "Went swimming.",
        "Coffee with an old colleague.",
        "Sunny, spent the afternoon outside.",
        "Finished the book I was reading.",
        "Played football after work.",
    ],
];

/// One login of the demo clinic, as printed for the newcomer.
pub struct DemoLogin {
    pub username: String,
    pub role: Role,
    pub display_name: String,
    /// The Base32 TOTP secret of clinicians and the developer.
    pub totp_secret: Option<String>,
    /// A few words on what this account shows.
    pub about: String,
}

/// What [`seed`] wrote.
pub struct DemoClinic {
    pub logins: Vec<DemoLogin>,
    pub mood_entries: usize,
}

/// Loads the demo clinic into an empty database and prints its logins.
pub async fn load(state: &AppState) -> anyhow::Result<()> {
    let clinic = seed(state).await?;
    print!("{}", summary(state, &clinic));
    Ok(())
}

/// Writes the demo clinic. Refuses a database that already has users.
///
/// Accounts, care links and notifications go in one transaction. The mood
/// history follows in a second, because its notes and medication are
/// sealed under each patient's key and the vault makes those keys through
/// its own connection, which needs the patients committed. If anything
/// after the first commit fails, the demo users are deleted again (their
/// rows cascade) so that a retry meets an empty database.
pub async fn seed(state: &AppState) -> anyhow::Result<DemoClinic> {
    let password = Password::parse(DEMO_PASSWORD.to_owned())
        .map_err(|e| anyhow::anyhow!("the demo password {e}"))?;
    let pin = Pin::parse(DEMO_PIN.to_owned()).map_err(|e| anyhow::anyhow!("the demo PIN {e}"))?;
    // Two Argon2 runs in all, shared by every account: per-user hashing
    // would make loading take seconds for no benefit in a demo.
    let (password_hash, pin_hash) = tokio::try_join!(
        crypto::hash_secret(password.expose().to_owned()),
        crypto::hash_secret(pin.expose().to_owned()),
    )?;
    let hashes = Hashes {
        password: &password_hash,
        pin: &pin_hash,
    };
    let now = state.clock.now();

    // On SQLite the write lock is taken at BEGIN, so the emptiness check
    // below and the inserts cannot interleave with another writer (a
    // deferred transaction that reads first fails with SQLITE_BUSY instead
    // of waiting when it later writes).
    let pool = state.db.pool();
    let tx = match state.db.backend() {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    };
    let mut tx = tx.context("starting the demo transaction")?;
    let (existing,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users")
        .fetch_one(&mut *tx)
        .await
        .context("counting users")?;
    if existing > 0 {
        anyhow::bail!(
            "the database already has {existing} user(s); the demo clinic loads only into an \
             empty database (give a fresh --data-dir)"
        );
    }

    let mut logins = Vec::new();
    let mut staff_ids = Vec::new();
    for (i, staff) in STAFF.iter().enumerate() {
        let secret = totp::new_secret();
        let id = insert_user(
            &mut tx,
            &NewDemoUser {
                username: staff.username,
                role: staff.role,
                display_name: staff.display_name,
                time_zone: "Europe/London",
                areas: staff.areas,
                totp_secret: Some(&secret),
                created_at: now - (400 + 30 * i as i64) * DAY,
            },
            &hashes,
        )
        .await?;
        staff_ids.push(id);
        logins.push(DemoLogin {
            username: staff.username.to_owned(),
            role: staff.role,
            display_name: staff.display_name.to_owned(),
            totp_secret: Some(secret),
            about: match staff.role {
                Role::Developer => "operator: statistics and audit, no clinical content".into(),
                _ => staff.areas.to_owned(),
            },
        });
    }

    let mut patient_ids = Vec::new();
    for (i, patient) in PATIENTS.iter().enumerate() {
        let id = insert_user(
            &mut tx,
            &NewDemoUser {
                username: patient.username,
                role: Role::Patient,
                display_name: patient.display_name,
                time_zone: patient.time_zone,
                areas: "",
                totp_secret: None,
                created_at: now - (HISTORY_DAYS + 10 + 3 * i as i64) * DAY,
            },
            &hashes,
        )
        .await?;
        // Staggered by a few hours so the links do not all share one instant.
        let stagger = i as i64 * 7 * HOUR;
        let care = insert_care(&mut tx, patient, id, &staff_ids, now - stagger).await?;
        patient_ids.push(id);
        logins.push(DemoLogin {
            username: patient.username.to_owned(),
            role: Role::Patient,
            display_name: patient.display_name.to_owned(),
            totp_secret: None,
            about: patient.describe(&care),
        });
    }
    tx.commit().await.context("saving the demo accounts")?;

    let mood_entries = match write_histories(state, &patient_ids, now).await {
        Ok(n) => n,
        Err(err) => {
            let ids = staff_ids.iter().chain(&patient_ids);
            if let Err(undo) = delete_users(state, ids).await {
                return Err(err.context(format!(
                    "the demo clinic is only partly loaded and could not be removed ({undo:#}); \
                     delete the data folder and try again"
                )));
            }
            return Err(err);
        }
    };

    audit::record(
        &state.db,
        now,
        Event::new("demo.load", "ok").detail(json!({
            "users": logins.len(),
            "mood_entries": mood_entries,
        })),
    )
    .await
    .map_err(|e| anyhow::anyhow!("recording the demo load in the audit log: {e}"))?;
    Ok(DemoClinic {
        logins,
        mood_entries,
    })
}

/// Writes every patient's history in one transaction; returns how many
/// entries.
async fn write_histories(state: &AppState, patient_ids: &[i64], now: i64) -> anyhow::Result<usize> {
    let mut keys = Vec::new();
    for id in patient_ids {
        let key = state
            .vault
            .key(&state.db, *id)
            .await
            .map_err(|e| anyhow::anyhow!("making a demo patient's data key: {e}"))?;
        keys.push(key);
    }
    let mut tx = state
        .db
        .pool()
        .begin()
        .await
        .context("starting the demo history")?;
    let mut written = 0;
    for (i, ((patient, id), key)) in PATIENTS.iter().zip(patient_ids).zip(&keys).enumerate() {
        let mut rng = StdRng::seed_from_u64(SEED + i as u64);
        written += insert_history(&mut tx, patient, *id, key, now, &mut rng).await?;
    }
    tx.commit().await.context("saving the demo history")?;
    Ok(written)
}

/// Removes the demo users after a failed load.
async fn delete_users(state: &AppState, ids: impl Iterator<Item = &i64>) -> anyhow::Result<()> {
    for id in ids {
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(*id)
            .execute(state.db.pool())
            .await?;
    }
    Ok(())
}

/// The text `healing-space demo` prints: a table of logins and how to get
/// a TOTP code.
pub fn summary(state: &AppState, clinic: &DemoClinic) -> String {
    let mut out = format!(
        "Demo clinic loaded into {}: {} accounts, {} mood entries.\n\
         Every account: password {DEMO_PASSWORD}; patients add PIN {DEMO_PIN}, staff a TOTP code.\n\n",
        state.config.data_dir.display(),
        clinic.logins.len(),
        clinic.mood_entries,
    );
    out.push_str(&format!(
        "{:<16} {:<10} {:<33} {}\n",
        "username", "role", "TOTP secret", "about"
    ));
    for login in &clinic.logins {
        out.push_str(&format!(
            "{:<16} {:<10} {:<33} {}\n",
            login.username,
            login.role.as_str(),
            login.totp_secret.as_deref().unwrap_or("-"),
            login.about,
        ));
    }
    out.push_str(
        "\nCurrent TOTP code for a staff login: healing-space totp-code --secret <TOTP secret>\n",
    );
    out
}

struct Hashes<'a> {
    password: &'a str,
    pin: &'a str,
}

struct NewDemoUser<'a> {
    username: &'a str,
    role: Role,
    display_name: &'a str,
    time_zone: &'a str,
    areas: &'a str,
    totp_secret: Option<&'a str>,
    created_at: i64,
}

async fn insert_user(
    tx: &mut Transaction<'static, Any>,
    user: &NewDemoUser<'_>,
    hashes: &Hashes<'_>,
) -> anyhow::Result<i64> {
    // Demo staff arrive active with TOTP confirmed, as if a developer had
    // activated them and they had enrolled; emails are marked verified.
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (username, username_lower, role, status, display_name, email, \
         email_verified, password_hash, pin_hash, totp_secret, time_zone, areas, created_at, \
         activated_at) \
         VALUES ($1, $2, $3, 'active', $4, $5, 1, $6, $7, $8, $9, $10, $11, $11) RETURNING id",
    )
    .bind(user.username)
    .bind(user.username.to_ascii_lowercase())
    .bind(user.role.as_str())
    .bind(user.display_name)
    .bind(format!("{}@example.org", user.username))
    .bind(hashes.password)
    .bind(hashes.pin)
    .bind(user.totp_secret)
    .bind(user.time_zone)
    .bind(user.areas)
    .bind(user.created_at)
    .fetch_one(&mut **tx)
    .await
    .with_context(|| format!("adding demo user {}", user.username))?;
    Ok(id)
}

/// A care link with its timeline.
struct Link {
    patient_id: i64,
    clinician_id: i64,
    status: &'static str,
    created_at: i64,
    decided_at: Option<i64>,
    ended_at: Option<i64>,
    ended_by: Option<i64>,
}

/// Writes the patient's care links and the notifications each step would
/// have sent, timed back from `anchor`; returns a few words for the
/// printed table.
async fn insert_care(
    tx: &mut Transaction<'static, Any>,
    patient: &DemoPatient,
    patient_id: i64,
    staff_ids: &[i64],
    anchor: i64,
) -> anyhow::Result<String> {
    let name = |i: usize| STAFF[i].username;
    let approved = |clinician: usize, since: i64| Link {
        patient_id,
        clinician_id: staff_ids[clinician],
        status: "approved",
        created_at: anchor - since,
        decided_at: Some(anchor - since + 20 * HOUR),
        ended_at: None,
        ended_by: None,
    };
    let pending = |clinician: usize, since: i64| Link {
        patient_id,
        clinician_id: staff_ids[clinician],
        status: "pending",
        created_at: anchor - since,
        decided_at: None,
        ended_at: None,
        ended_by: None,
    };
    let (links, about) = match patient.care {
        Care::Approved(c) => (
            vec![approved(c, (HISTORY_DAYS + 5) * DAY)],
            format!("approved by {}", name(c)),
        ),
        Care::Pending(c, days) => (
            vec![pending(c, days * DAY)],
            format!("request pending with {}", name(c)),
        ),
        Care::RejectedThenPending(first, second) => (
            vec![
                Link {
                    status: "rejected",
                    decided_at: Some(anchor - 11 * DAY),
                    ..pending(first, 12 * DAY)
                },
                pending(second, 10 * DAY),
            ],
            format!("rejected by {}, pending with {}", name(first), name(second)),
        ),
        Care::EndedThenApproved(first, second) => (
            vec![
                Link {
                    status: "ended",
                    ended_at: Some(anchor - 70 * DAY),
                    ended_by: Some(staff_ids[first]),
                    ..approved(first, 120 * DAY)
                },
                approved(second, 68 * DAY),
            ],
            format!("moved from {} to {}", name(first), name(second)),
        ),
    };
    for link in &links {
        sqlx::query(
            "INSERT INTO care_links (patient_id, clinician_id, status, created_at, decided_at, \
             ended_at, ended_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(link.patient_id)
        .bind(link.clinician_id)
        .bind(link.status)
        .bind(link.created_at)
        .bind(link.decided_at)
        .bind(link.ended_at)
        .bind(link.ended_by)
        .execute(&mut **tx)
        .await
        .with_context(|| format!("adding a care link for {}", patient.username))?;
        let clinician = STAFF[staff_ids
            .iter()
            .position(|id| *id == link.clinician_id)
            .unwrap_or(0)]
        .display_name;
        // Messages in the words the care-team routes use, each about the
        // patient so that erasing the patient removes them. Old ones are
        // read; a pending request is still unread by the clinician.
        let mut notes = vec![
            (
                link.clinician_id,
                "care_request",
                format!(
                    "{} asked you to join their care team.",
                    patient.display_name
                ),
                link.created_at,
                link.decided_at.is_some(),
            ),
            (
                patient_id,
                "care_request_sent",
                format!("Your request to {clinician} was sent."),
                link.created_at,
                true,
            ),
        ];
        if let Some(at) = link.decided_at {
            let message = if link.status == "rejected" {
                format!("{clinician} could not take you on; you can ask another clinician.")
            } else {
                format!("{clinician} accepted your request to join your care team.")
            };
            let kind = if link.status == "rejected" {
                "care_rejected"
            } else {
                "care_approved"
            };
            notes.push((patient_id, kind, message, at, true));
        }
        if let Some(at) = link.ended_at {
            notes.push((
                patient_id,
                "care_ended",
                format!("{clinician} ended the care-team link."),
                at,
                true,
            ));
        }
        for (user_id, kind, message, at, read) in notes {
            sqlx::query(
                "INSERT INTO notifications (user_id, subject_id, kind, message, created_at, \
                 read_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(user_id)
            .bind(patient_id)
            .bind(kind)
            .bind(message)
            .bind(at)
            .bind(read.then_some(at + HOUR))
            .execute(&mut **tx)
            .await
            .context("adding a demo notification")?;
        }
    }
    Ok(about)
}

/// Uniform noise with a rough bell shape, mean 0 and spread about ±`scale`.
fn noise(rng: &mut StdRng, scale: f64) -> f64 {
    (rng.r#gen::<f64>() + rng.r#gen::<f64>() + rng.r#gen::<f64>() - 1.5) * scale
}

fn clamp_round(value: f64, min: i64, max: i64) -> i64 {
    (value.round() as i64).clamp(min, max)
}

/// One day's entry as the generator makes it.
struct Entry {
    mood: i64,
    sleep_quality: Option<i64>,
    sleep_tenths: Option<i64>,
    anxiety: Option<i64>,
    exercise_minutes: Option<i64>,
    outdoor_minutes: Option<i64>,
    medication: String,
    note: Option<&'static str>,
}

fn make_entry(patient: &DemoPatient, progress: f64, weekend: bool, rng: &mut StdRng) -> Entry {
    let mut level = patient.course.level(progress) + noise(rng, 1.4);
    if weekend {
        level += 0.3;
    }
    // Now and then a day well off the trend, either way.
    if rng.gen_bool(0.05) {
        level += if rng.gen_bool(0.5) { 2.0 } else { -2.0 };
    }
    let mood = clamp_round(level, 1, 10);
    let m = mood as f64;
    // A missing answer is stored as missing, so a few are left out.
    let answered = |rng: &mut StdRng, p: f64| !rng.gen_bool(p);
    let sleep_quality =
        answered(rng, 0.06).then(|| clamp_round(0.8 * m + 1.2 + noise(rng, 2.5), 0, 10));
    let sleep_tenths = answered(rng, 0.05).then(|| {
        clamp_round(
            patient.sleep_tenths + (m - 5.5) * 3.0 + noise(rng, 16.0),
            35,
            105,
        )
    });
    let anxiety = answered(rng, 0.06)
        .then(|| clamp_round(patient.anxiety + (5.5 - m) * 0.7 + noise(rng, 2.0), 0, 10));
    let exercise_minutes = answered(rng, 0.08).then(|| {
        if rng.gen_bool((0.15 + 0.05 * m).min(0.8)) {
            [10, 15, 20, 30, 30, 40, 45, 60][rng.gen_range(0..8)]
        } else {
            0
        }
    });
    let outdoor_extra = if weekend { 6 } else { 0 };
    let outdoor_minutes =
        answered(rng, 0.08).then(|| 5 * rng.gen_range(1..=(4 + 2 * mood + outdoor_extra)));
    let taken: Vec<&str> = if rng.gen_bool(0.93) {
        patient.medication.to_vec()
    } else {
        Vec::new()
    };
    let medication = serde_json::to_string(&taken).unwrap_or_else(|_| "[]".into());
    let note = rng.gen_bool(0.22).then(|| {
        let band = match mood {
            ..=4 => NOTES[0],
            5..=6 => NOTES[1],
            _ => NOTES[2],
        };
        band[rng.gen_range(0..band.len())]
    });
    Entry {
        mood,
        sleep_quality,
        sleep_tenths,
        anxiety,
        exercise_minutes,
        outdoor_minutes,
        medication,
        note,
    }
}

/// Unix seconds of `hour:minute` on `date` in `zone`.
fn local_time(date: Date, hour: i8, minute: i8, zone: &TimeZone) -> anyhow::Result<i64> {
    Ok(date
        .at(hour, minute, 0, 0)
        .to_zoned(zone.clone())
        .context("placing a demo entry in its time zone")?
        .timestamp()
        .as_second())
}

/// Field names the daily record binds into each sealed value; they must
/// match `daily_record::mood`, or the demo's notes will not open (the demo
/// tests read them back over HTTP).
const NOTE_FIELD: &str = "mood.note";
const MEDICATION_FIELD: &str = "mood.medication";

/// Writes the patient's mood entries for the days before today (in their
/// time zone), free text sealed as the API would; returns how many.
async fn insert_history(
    tx: &mut Transaction<'static, Any>,
    patient: &DemoPatient,
    patient_id: i64,
    key: &PatientKey,
    now: i64,
    rng: &mut StdRng,
) -> anyhow::Result<usize> {
    let zone = TimeZone::get(patient.time_zone)
        .with_context(|| format!("unknown demo time zone {}", patient.time_zone))?;
    let today = local_date(now, patient.time_zone);
    let mut written = 0;
    for days_ago in (1..=HISTORY_DAYS).rev() {
        // Draw the day's numbers even for a skipped day, so a change to the
        // gaps does not reshuffle every later day.
        let progress = (HISTORY_DAYS - days_ago) as f64 / (HISTORY_DAYS - 1) as f64;
        let date = today
            .checked_sub(days_ago.days())
            .context("a demo date out of range")?;
        let weekend = matches!(
            date.weekday(),
            jiff::civil::Weekday::Saturday | jiff::civil::Weekday::Sunday
        );
        let entry = make_entry(patient, progress, weekend, rng);
        let (hour, minute) = if patient.morning {
            (rng.gen_range(7..=9), rng.gen_range(0..60))
        } else {
            (rng.gen_range(19..=21), rng.gen_range(0..60))
        };
        let edited = rng.gen_bool(0.05).then(|| rng.gen_range(5..=60) * 60);
        let skipped = rng.gen_bool(patient.skip)
            || patient
                .gaps
                .iter()
                .any(|&(start, len)| days_ago <= start && days_ago > start - len);
        if skipped {
            continue;
        }
        let created_at = local_time(date, hour, minute, &zone)?;
        sqlx::query(
            "INSERT INTO mood_entries (patient_id, entry_date, mood, sleep_quality, sleep_tenths, \
             anxiety, exercise_minutes, outdoor_minutes, medication, note, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(patient_id)
        .bind(date.to_string())
        .bind(entry.mood)
        .bind(entry.sleep_quality)
        .bind(entry.sleep_tenths)
        .bind(entry.anxiety)
        .bind(entry.exercise_minutes)
        .bind(entry.outdoor_minutes)
        .bind(key.seal(MEDICATION_FIELD, &entry.medication))
        .bind(key.seal_opt(NOTE_FIELD, entry.note))
        .bind(created_at)
        .bind(created_at + edited.unwrap_or(0))
        .execute(&mut **tx)
        .await
        .with_context(|| format!("adding mood history for {}", patient.username))?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_secrets_meet_the_policy() {
        assert!(Password::parse(DEMO_PASSWORD.into()).is_ok());
        assert!(Pin::parse(DEMO_PIN.into()).is_ok());
    }

    #[test]
    fn demo_accounts_are_valid() {
        use crate::accounts::types::{Email, Username};
        use crate::types::TimeZoneName;
        for name in STAFF
            .iter()
            .map(|s| s.username)
            .chain(PATIENTS.iter().map(|p| p.username))
        {
            assert!(Username::parse(name).is_ok(), "{name}");
            assert!(
                Email::parse(&format!("{name}@example.org")).is_ok(),
                "{name}"
            );
        }
        for p in PATIENTS {
            assert!(TimeZoneName::parse(p.time_zone).is_ok(), "{}", p.time_zone);
        }
    }

    #[test]
    fn courses_stay_on_the_scale() {
        for p in PATIENTS {
            for step in 0..=10 {
                let level = p.course.level(step as f64 / 10.0);
                assert!((1.0..=10.0).contains(&level), "{} at {step}", p.username);
            }
        }
    }
}
