-- Questionnaires, risk alerts, the rest of the daily record, reminders and
-- clinician notes.

-- PHQ-9 and GAD-7 submissions, scored on the server. Raw answers are kept.
CREATE TABLE assessments (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    instrument  TEXT NOT NULL CHECK (instrument IN ('phq9', 'gad7')),
    -- JSON array of the item answers, each 0-3, in item order.
    answers     TEXT NOT NULL,
    -- The optional, unscored "how difficult" item (0-3).
    difficulty  BIGINT CHECK (difficulty BETWEEN 0 AND 3),
    total       BIGINT NOT NULL CHECK (total BETWEEN 0 AND 27),
    band        TEXT NOT NULL,
    -- The patient's local date of the submission, for the cooldown.
    taken_on    TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX assessments_patient ON assessments (patient_id, instrument, created_at);

-- Risk alerts. `reason` is a rule name, never the patient's words.
CREATE TABLE alerts (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id          BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    level               TEXT NOT NULL CHECK (level IN ('moderate', 'high')),
    source              TEXT NOT NULL,
    reason              TEXT NOT NULL,
    status              TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    created_at          BIGINT NOT NULL,
    acknowledged_at     BIGINT,
    acknowledged_by     BIGINT REFERENCES users (id) ON DELETE SET NULL,
    resolved_at         BIGINT,
    resolved_by         BIGINT REFERENCES users (id) ON DELETE SET NULL,
    outcome_note        TEXT,
    escalated_at        BIGINT
);
CREATE INDEX alerts_patient ON alerts (patient_id, status);
CREATE INDEX alerts_open ON alerts (status, created_at);

-- Journal and gratitude entries share one shape; `entry_date` is the
-- patient's local date when the entry was written.
CREATE TABLE journal_entries (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body        TEXT NOT NULL,
    entry_date  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX journal_patient ON journal_entries (patient_id, id);

CREATE TABLE gratitude_entries (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body        TEXT NOT NULL,
    entry_date  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX gratitude_patient ON gratitude_entries (patient_id, id);

-- CBT thought records. Emotions are JSON arrays of {name, intensity 0-100}.
CREATE TABLE thought_records (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id          BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    situation           TEXT NOT NULL,
    automatic_thought   TEXT NOT NULL,
    emotions            TEXT NOT NULL,
    evidence_for        TEXT,
    evidence_against    TEXT,
    balanced_thought    TEXT,
    rerated_emotions    TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);
CREATE INDEX thought_records_patient ON thought_records (patient_id, id);

-- One Stanley-Brown safety plan per patient, as a JSON document.
CREATE TABLE safety_plans (
    patient_id  BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    plan        TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- The hour (0-23, patient's time zone) of the daily mood reminder.
CREATE TABLE reminder_settings (
    patient_id  BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    hour        BIGINT NOT NULL CHECK (hour BETWEEN 0 AND 23),
    enabled     BIGINT NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1))
);

-- One row per reminder sent; the unique key makes "at most one a day"
-- hold across restarts and across app servers.
CREATE TABLE reminders_sent (
    patient_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reminder_date   TEXT NOT NULL,
    sent_at         BIGINT NOT NULL,
    PRIMARY KEY (patient_id, reminder_date)
);

CREATE TABLE clinician_notes (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    clinician_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);
CREATE INDEX clinician_notes_patient ON clinician_notes (patient_id, id);
