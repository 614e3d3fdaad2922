-- Inbound media downloads, one row per attachment of an inbound message.
-- It records work done against the Graph API, not a projection of the raw
-- log: replay keeps it (message ids are derived, so rows still match).
CREATE TABLE media (
    message_id TEXT NOT NULL,
    position BIGINT NOT NULL,
    channel TEXT NOT NULL,
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    media_ref TEXT NOT NULL,
    mime_type TEXT,
    expected_sha256 TEXT,
    -- pending | stored | retrying | failed
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    last_error TEXT,
    blob_sha256 TEXT,
    size BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (message_id, position)
);
CREATE INDEX media_due ON media (state, next_attempt_at);
-- Lets the worker find messages with attachments without scanning all.
CREATE INDEX messages_with_attachments ON messages (id) WHERE attachments <> '[]';
