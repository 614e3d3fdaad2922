-- Outbound: every send is stored here first (with its idempotency key),
-- then delivered by the sender worker. Agent-authored, so replay keeps it.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    channel TEXT NOT NULL,
    account TEXT NOT NULL,
    recipient_kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_at INTEGER,
    last_error_code TEXT,
    last_error_de TEXT,
    last_error_en TEXT,
    external_id TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_conversation ON outbox (conversation_id, created_at);

-- Consent history, append only: the newest opt-in and opt-out decide.
-- `origin` makes automatic records (keyword opt-outs) idempotent.
CREATE TABLE consents (
    id INTEGER PRIMARY KEY,
    contact_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    at INTEGER NOT NULL,
    evidence TEXT,
    origin TEXT UNIQUE
);
CREATE INDEX consents_contact ON consents (contact_id, channel, at);

-- Local cache of Meta's message templates.
CREATE TABLE templates (
    waba_id TEXT NOT NULL,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    template_id TEXT,
    category TEXT,
    status TEXT NOT NULL,
    components TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (waba_id, name, language)
);

CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    password_hash TEXT,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    agent_id TEXT NOT NULL REFERENCES agents (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Position of background consumers in the events table.
CREATE TABLE cursors (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
