//! Risk: the detector for risk language, the structured signals
//! (questionnaire answers, a sharp fall in mood) and the alerts they raise
//! (SPEC §9).
//!
//! Every text-bearing write calls [`screen_texts`] before it is stored, and
//! every structured signal calls [`raise`]. Both return a [`RiskOutcome`]
//! that the handler puts into its response, so the patient sees crisis
//! resources in the answer to the very request that raised the alert.

use serde_json::{Value, json};

use crate::AppState;
use crate::audit::{self, Event};
use crate::care_team::gate::PatientAccess;
use crate::error::AppResult;
use crate::mail::Mail;
use crate::notifications;

pub mod alerts;
pub mod detector;
pub mod escalation;

pub use detector::{Level, Screening, screen};

/// Where a risk signal came from. Stored with the alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    MoodNote,
    MoodDrop,
    Journal,
    Gratitude,
    ThoughtRecord,
    Chat,
    SafetyCheck,
    Phq9Item9,
    Phq9Total,
    Gad7Total,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::MoodNote => "mood_note",
            Source::MoodDrop => "mood_drop",
            Source::Journal => "journal",
            Source::Gratitude => "gratitude",
            Source::ThoughtRecord => "thought_record",
            Source::Chat => "chat",
            Source::SafetyCheck => "safety_check",
            Source::Phq9Item9 => "phq9_item9",
            Source::Phq9Total => "phq9_total",
            Source::Gad7Total => "gad7_total",
        }
    }

    /// The source stored in an alert row.
    pub fn parse(s: &str) -> Source {
        [
            Source::MoodNote,
            Source::MoodDrop,
            Source::Journal,
            Source::Gratitude,
            Source::ThoughtRecord,
            Source::Chat,
            Source::Phq9Item9,
            Source::Phq9Total,
            Source::Gad7Total,
        ]
        .into_iter()
        .find(|src| src.as_str() == s)
        .unwrap_or(Source::SafetyCheck)
    }
}

/// What the risk check of one request found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskOutcome {
    pub level: Level,
    pub reason: &'static str,
    pub alert_id: Option<i64>,
    /// Whether a clinician of the patient's care team was told. The
    /// patient is never told "your care team knows" when nobody does.
    pub care_team_told: bool,
}

impl RiskOutcome {
    pub fn none() -> RiskOutcome {
        RiskOutcome {
            level: Level::None,
            reason: "none",
            alert_id: None,
            care_team_told: false,
        }
    }

    pub fn is_risk(&self) -> bool {
        self.level > Level::None
    }

    /// The `risk` member of a response: the level and, whenever anything
    /// was found, the crisis resources to show at once.
    pub fn to_json(&self, state: &AppState) -> Value {
        if !self.is_risk() {
            return json!({ "level": "none" });
        }
        json!({
            "level": level_name(self.level),
            "alert_id": self.alert_id,
            "message": crisis_message(self.level, self.care_team_told),
            "care_team_told": self.care_team_told,
            "crisis_resources": state.config.clinical.crisis_resources,
        })
    }
}

pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::None => "none",
        Level::Moderate => "moderate",
        Level::High => "high",
    }
}

/// The sentence shown above the crisis resources. It names no number: the
/// resources (configurable per deployment) carry the numbers.
pub fn crisis_message(level: Level, care_team_told: bool) -> String {
    let opening = match level {
        Level::High => {
            "It sounds like you may be in danger. You do not have to face this alone. If you \
             might act on these thoughts, call emergency services now, or contact one of these \
             services."
        }
        _ => {
            "It sounds like things are really hard right now. These services are there to \
             listen at any time."
        }
    };
    let care_team = if care_team_told {
        "Your care team has been told."
    } else {
        "You have no clinician linked in Healing Space yet, so nobody here has been told: \
         please reach out to one of these services now."
    };
    format!("{opening} {care_team}")
}

/// Screens each text of one write and raises an alert for the most
/// worrying. Every text is screened whole, whatever its length.
pub async fn screen_texts(
    state: &AppState,
    access: &PatientAccess,
    source: Source,
    texts: &[&str],
) -> AppResult<RiskOutcome> {
    let worst = texts
        .iter()
        .map(|t| screen(t))
        .max_by_key(|s| s.level)
        .unwrap_or(Screening {
            level: Level::None,
            reason: "none",
        });
    if worst.level == Level::None {
        return Ok(RiskOutcome::none());
    }
    raise(
        state,
        access.patient_id(),
        worst.level,
        source,
        worst.reason,
    )
    .await
}

/// Stores an alert and tells the patient's clinicians. Several signals of
/// the same kind while an alert is still open are folded into that alert
/// (raised in level if need be), so a patient writing several worrying
/// messages produces one alert for the clinician to act on, not a flood.
pub async fn raise(
    state: &AppState,
    patient_id: i64,
    level: Level,
    source: Source,
    reason: &'static str,
) -> AppResult<RiskOutcome> {
    if level == Level::None {
        return Ok(RiskOutcome::none());
    }
    let now = state.clock.now();
    let open: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, level FROM alerts WHERE patient_id = $1 AND source = $2 AND status = 'open' \
         ORDER BY id DESC LIMIT 1",
    )
    .bind(patient_id)
    .bind(source.as_str())
    .fetch_optional(state.db.pool())
    .await?;
    if let Some((id, existing)) = open {
        if existing == "high" || level == Level::Moderate {
            // The care team was told when this alert was raised.
            return Ok(RiskOutcome {
                level,
                reason,
                alert_id: Some(id),
                care_team_told: care_team_size(state, patient_id).await? > 0,
            });
        }
        // A higher level than the open alert: raise that alert and tell
        // the clinicians again.
        sqlx::query("UPDATE alerts SET level = 'high', reason = $1 WHERE id = $2")
            .bind(reason)
            .bind(id)
            .execute(state.db.pool())
            .await?;
        let told = notify_care_team(state, patient_id, id, level, source, false).await?;
        return Ok(RiskOutcome {
            level,
            reason,
            alert_id: Some(id),
            care_team_told: told > 0,
        });
    }
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO alerts (patient_id, level, source, reason, status, created_at) \
         VALUES ($1, $2, $3, $4, 'open', $5) RETURNING id",
    )
    .bind(patient_id)
    .bind(level_name(level))
    .bind(source.as_str())
    .bind(reason)
    .bind(now)
    .fetch_one(state.db.pool())
    .await?;
    audit::record(
        &state.db,
        now,
        Event::new("alert.raised", "ok")
            .target(patient_id)
            .detail(json!({
                "alert_id": id,
                "level": level_name(level),
                "source": source.as_str(),
                "reason": reason,
            })),
    )
    .await?;
    let told = notify_care_team(state, patient_id, id, level, source, false).await?;
    tracing::info!(
        alert_id = id,
        level = level_name(level),
        source = source.as_str(),
        "risk alert raised"
    );
    Ok(RiskOutcome {
        level,
        reason,
        alert_id: Some(id),
        care_team_told: told > 0,
    })
}

/// How many active clinicians have an approved link with the patient.
async fn care_team_size(state: &AppState, patient_id: i64) -> AppResult<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM care_links l JOIN users c ON c.id = l.clinician_id \
         WHERE l.patient_id = $1 AND l.status = 'approved' AND c.status = 'active'",
    )
    .bind(patient_id)
    .fetch_one(state.db.pool())
    .await?;
    Ok(n)
}

/// Tells every clinician with an approved link, in the app and by mail.
/// Messages name the patient and the kind of signal, never their words.
pub(crate) async fn notify_care_team(
    state: &AppState,
    patient_id: i64,
    alert_id: i64,
    level: Level,
    source: Source,
    escalated: bool,
) -> AppResult<usize> {
    let clinicians: Vec<(i64, String)> = sqlx::query_as(
        "SELECT c.id, c.email FROM care_links l JOIN users c ON c.id = l.clinician_id \
         WHERE l.patient_id = $1 AND l.status = 'approved' AND c.status = 'active'",
    )
    .bind(patient_id)
    .fetch_all(state.db.pool())
    .await?;
    let (patient,): (String,) = sqlx::query_as("SELECT display_name FROM users WHERE id = $1")
        .bind(patient_id)
        .fetch_one(state.db.pool())
        .await?;
    let now = state.clock.now();
    let prefix = if escalated { "ESCALATED: " } else { "" };
    let message = format!(
        "{prefix}{} risk alert #{alert_id} for {patient} (signal: {}). Please review it now.",
        level_name(level),
        source.as_str().replace('_', " "),
    );
    for (clinician_id, email) in &clinicians {
        let kind = if escalated {
            "alert_escalated"
        } else {
            "alert"
        };
        notifications::notify_about(&state.db, *clinician_id, patient_id, kind, &message, now)
            .await?;
        state.mailer.send(Mail {
            to: email.clone(),
            subject: format!("{prefix}Healing Space risk alert #{alert_id}"),
            // Mail may cross servers we do not control: it says that an
            // alert needs review, not whom it concerns.
            body: format!(
                "{prefix}A {} risk alert (#{alert_id}) for one of your patients needs your \
                 review.\n\nOpen Healing Space to see and acknowledge it.",
                level_name(level)
            ),
        });
    }
    Ok(clinicians.len())
}

/// A sharp fall in mood: `mood` this many points below the average of the
/// patient's previous entries raises a moderate alert.
pub async fn check_mood_drop(
    state: &AppState,
    access: &PatientAccess,
    mood: i64,
    entry_date: &str,
) -> AppResult<RiskOutcome> {
    let clinical = &state.config.clinical;
    let previous: Vec<(i64,)> = sqlx::query_as(
        "SELECT mood FROM mood_entries WHERE patient_id = $1 AND entry_date < $2 \
         ORDER BY entry_date DESC LIMIT $3",
    )
    .bind(access.patient_id())
    .bind(entry_date)
    .bind(clinical.mood_drop_window)
    .fetch_all(state.db.pool())
    .await?;
    // Three earlier entries at least, so one bad day after one good one
    // does not count as a trend.
    if previous.len() < 3 {
        return Ok(RiskOutcome::none());
    }
    let sum: i64 = previous.iter().map(|(m,)| m).sum();
    let average = sum as f64 / previous.len() as f64;
    if average - mood as f64 >= clinical.mood_drop_points as f64 {
        raise(
            state,
            access.patient_id(),
            Level::Moderate,
            Source::MoodDrop,
            "mood_drop",
        )
        .await
    } else {
        Ok(RiskOutcome::none())
    }
}

/// The more worrying of two outcomes.
pub fn worst(a: RiskOutcome, b: RiskOutcome) -> RiskOutcome {
    if b.level > a.level { b } else { a }
}
