-- Conversations with the AI companion.

CREATE TABLE conversations (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id  BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX conversations_patient ON conversations (patient_id, updated_at);

-- Every turn. A patient's message is stored before the model is asked, so
-- it is kept whatever happens to the reply. `status` labels replies that
-- are not the model's own words: an error notice, or a reply withheld
-- because it failed the risk screen.
CREATE TABLE chat_messages (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id BIGINT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content         TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'error', 'withheld')),
    risk_level      TEXT NOT NULL DEFAULT 'none' CHECK (risk_level IN ('none', 'moderate', 'high')),
    created_at      BIGINT NOT NULL
);
CREATE INDEX chat_messages_conversation ON chat_messages (conversation_id, id);
