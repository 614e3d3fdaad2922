-- The team's canned replies; `{{contact.name}}` and `{{agent.name}}` are
-- filled in when an agent picks one. Agent-authored, kept by replay.
CREATE TABLE canned_replies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);
