-- When an account first became active. For clinicians this records that a
-- developer activated them, so re-enabling a disabled clinician who was
-- never activated puts them back in the queue instead of skipping it.
ALTER TABLE users ADD COLUMN activated_at BIGINT;
UPDATE users SET activated_at = created_at WHERE status = 'active';
