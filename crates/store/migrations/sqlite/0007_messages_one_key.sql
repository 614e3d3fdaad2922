-- A message's id is derived from (channel, external id), so one unique key
-- suffices: the second index cost a random-page write for every message.
CREATE TABLE messages_one_key (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    contact_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    direction TEXT NOT NULL,
    external_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT,
    attachments TEXT NOT NULL,
    location TEXT,
    reply_to TEXT,
    reactions TEXT NOT NULL,
    delivery TEXT NOT NULL,
    delivery_state TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    analysis TEXT,
    raw_event_id INTEGER,
    raw TEXT
);
INSERT INTO messages_one_key (id, conversation_id, contact_id, channel, direction, external_id, kind, body,
    attachments, location, reply_to, reactions, delivery, delivery_state, sent_at, analysis, raw_event_id, raw)
SELECT id, conversation_id, contact_id, channel, direction, external_id, kind, body,
    attachments, location, reply_to, reactions, delivery, delivery_state, sent_at, analysis, raw_event_id, raw
FROM messages ORDER BY rowid;
DROP TABLE messages;
ALTER TABLE messages_one_key RENAME TO messages;
CREATE INDEX messages_conversation ON messages (conversation_id, sent_at);
CREATE INDEX messages_with_attachments ON messages (id) WHERE attachments <> '[]';
