-- What the team does with a conversation: status, snooze, assignee. Agent-
-- authored, so a replay keeps it; no row means open and unassigned.
CREATE TABLE conversation_work (
    conversation_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    snoozed_until INTEGER,
    assignee_id TEXT,
    status_changed_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX conversation_work_assignee ON conversation_work (assignee_id);

-- The thread's history beside the messages: notes, status and assignment
-- changes, corrections, in order; append only.
CREATE TABLE conversation_activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL,
    at INTEGER NOT NULL,
    agent_id TEXT NOT NULL,
    agent_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT,
    detail TEXT NOT NULL
);
CREATE INDEX conversation_activity_conversation ON conversation_activity (conversation_id, id);

-- An agent named in a note (@name): unread until they open the conversation.
CREATE TABLE agent_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    activity_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    read_at INTEGER
);
CREATE INDEX agent_notifications_agent ON agent_notifications (agent_id, read_at);
