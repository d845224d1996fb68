-- Storage protections: the audit log becomes a hash chain, and each
-- patient gets a data key (wrapped by the master key) for their free text.

-- Each row carries the hash of the row before it and its own hash, so an
-- edited, inserted or deleted row breaks the chain (healing-space audit verify).
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN row_hash TEXT;

-- A patient's data key, encrypted ("wrapped") under the master key.
-- Erasing the patient deletes this row, which makes every ciphertext of
-- theirs unreadable at once, wherever copies of it remain.
CREATE TABLE patient_keys (
    patient_id  INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    wrapped_key TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- The patient a notification is about, so that erasing the patient also
-- removes what other people's notifications say about them.
ALTER TABLE notifications ADD COLUMN subject_id INTEGER REFERENCES users (id) ON DELETE CASCADE;
