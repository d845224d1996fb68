-- Accounts, sessions, the care team, the daily mood record, notifications
-- and the audit and access logs. Times are Unix seconds; dates are
-- ISO 8601 text in the owner's time zone; flags are 0/1.

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- As typed at registration, for display.
    username        TEXT NOT NULL,
    -- Lower-case form: the unique key, and what logins and limits compare.
    username_lower  TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('patient', 'clinician', 'developer')),
    -- Clinicians start 'pending' until a developer activates them.
    status          TEXT NOT NULL CHECK (status IN ('active', 'pending', 'disabled')),
    display_name    TEXT NOT NULL,
    email           TEXT NOT NULL,
    email_verified  INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
    password_hash   TEXT NOT NULL,
    pin_hash        TEXT,
    -- Base32 TOTP secret once enrolment is confirmed; the pending one until then.
    totp_secret     TEXT,
    totp_pending    TEXT,
    -- The last accepted time step, so a code is accepted once.
    totp_last_step  INTEGER,
    time_zone       TEXT NOT NULL DEFAULT 'UTC',
    -- Clinicians' areas of practice, shown in the public directory.
    areas           TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL
);

CREATE TABLE recovery_codes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used_at     INTEGER
);
CREATE INDEX recovery_codes_user ON recovery_codes (user_id);

-- Failed logins are counted per lower-case username, known or not, so a
-- lock says nothing about whether the account exists.
CREATE TABLE login_failures (
    username_lower  TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL DEFAULT 0 CHECK (failures >= 0),
    lock_count      INTEGER NOT NULL DEFAULT 0 CHECK (lock_count >= 0),
    locked_until    INTEGER,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE sessions (
    -- SHA-256 of the cookie value; the value itself is never stored.
    id_hash         TEXT PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token      TEXT NOT NULL,
    csrf_failures   INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    last_seen_at    INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE password_resets (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

CREATE TABLE email_codes (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    used_at     INTEGER
);
CREATE INDEX email_codes_user ON email_codes (user_id);

CREATE TABLE care_links (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    clinician_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected', 'ended')),
    created_at      INTEGER NOT NULL,
    decided_at      INTEGER,
    ended_at        INTEGER,
    ended_by        INTEGER REFERENCES users (id) ON DELETE SET NULL
);
-- At most one open (pending or approved) link per pair.
CREATE UNIQUE INDEX care_links_open ON care_links (patient_id, clinician_id)
    WHERE status IN ('pending', 'approved');
CREATE INDEX care_links_clinician ON care_links (clinician_id, status);

CREATE TABLE mood_entries (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The day in the patient's time zone when the entry was made.
    entry_date          TEXT NOT NULL,
    mood                INTEGER NOT NULL CHECK (mood BETWEEN 1 AND 10),
    -- Everything but mood is optional: a missing answer is NULL, never 0.
    sleep_quality       INTEGER CHECK (sleep_quality BETWEEN 0 AND 10),
    -- Hours of sleep in tenths, so 7.5 h is 75 and no float is stored.
    sleep_tenths        INTEGER CHECK (sleep_tenths BETWEEN 0 AND 240),
    anxiety             INTEGER CHECK (anxiety BETWEEN 0 AND 10),
    exercise_minutes    INTEGER CHECK (exercise_minutes BETWEEN 0 AND 1440),
    outdoor_minutes     INTEGER CHECK (outdoor_minutes BETWEEN 0 AND 1440),
    -- JSON array of medication names taken that day.
    medication          TEXT NOT NULL DEFAULT '[]',
    note                TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    UNIQUE (patient_id, entry_date)
);

CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    read_at     INTEGER
);
CREATE INDEX notifications_user ON notifications (user_id, id);

-- Who opened a patient's record, for the patient to read.
CREATE TABLE access_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    accessor_id     INTEGER REFERENCES users (id) ON DELETE SET NULL,
    accessor_name   TEXT NOT NULL,
    accessor_role   TEXT NOT NULL,
    resource        TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX access_log_patient ON access_log (patient_id, id);

-- Append-only security log. It keeps ids and codes, never secrets or
-- clinical free text. Rows are never updated or deleted by the service.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  INTEGER NOT NULL,
    actor_id    INTEGER,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    target_id   INTEGER,
    ip          TEXT,
    request_id  TEXT,
    detail      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_action ON audit_log (action, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
