-- Raw event log: every inbound payload verbatim, before it is acknowledged.
CREATE TABLE raw_events (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    dedupe_key TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    verification TEXT NOT NULL,
    payload BLOB NOT NULL,
    parse_error TEXT,
    UNIQUE (source, dedupe_key)
);

CREATE TABLE contacts (
    id TEXT PRIMARY KEY,
    display_name TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE identities (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts (id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX identities_contact ON identities (contact_id);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    contact_id TEXT NOT NULL REFERENCES contacts (id),
    channel TEXT NOT NULL,
    account TEXT NOT NULL,
    last_inbound_at INTEGER,
    last_message_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX conversations_recent ON conversations (last_message_at DESC);

CREATE TABLE messages (
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
    raw TEXT,
    UNIQUE (channel, external_id)
);
CREATE INDEX messages_conversation ON messages (conversation_id, sent_at);

-- Delivery receipts, kept even when they arrive before we know the message.
CREATE TABLE message_statuses (
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    state TEXT NOT NULL,
    delivery TEXT NOT NULL,
    at INTEGER NOT NULL,
    raw_event_id INTEGER NOT NULL,
    PRIMARY KEY (channel, external_id, state)
);

CREATE TABLE mentions (
    id TEXT PRIMARY KEY,
    platform TEXT NOT NULL,
    external_id TEXT NOT NULL,
    url TEXT,
    author_handle TEXT NOT NULL,
    author_name TEXT,
    followers INTEGER NOT NULL,
    verified INTEGER NOT NULL,
    body TEXT NOT NULL,
    lang TEXT,
    reshares INTEGER NOT NULL,
    replies INTEGER NOT NULL,
    likes INTEGER NOT NULL,
    parent TEXT,
    published_at INTEGER NOT NULL,
    analysis TEXT,
    raw_event_id INTEGER
);
CREATE INDEX mentions_published ON mentions (published_at);

CREATE TABLE reviews (
    id TEXT PRIMARY KEY,
    portal TEXT NOT NULL,
    external_id TEXT NOT NULL,
    product TEXT,
    stars INTEGER NOT NULL,
    title TEXT,
    body TEXT NOT NULL,
    author TEXT,
    published_at INTEGER NOT NULL,
    analysis TEXT,
    raw_event_id INTEGER
);
CREATE INDEX reviews_published ON reviews (published_at);

CREATE TABLE unrecognized (
    raw_event_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL,
    raw TEXT NOT NULL,
    PRIMARY KEY (raw_event_id, position)
);

-- Agent-authored data: not derived from the raw log, so replay keeps it.
CREATE TABLE notes (
    id TEXT PRIMARY KEY,
    contact_id TEXT NOT NULL,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Domain events in commit order (timeline, radar, bus catch-up).
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    raw_event_id INTEGER
);
