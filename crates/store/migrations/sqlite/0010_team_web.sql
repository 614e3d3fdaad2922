-- The web app: each agent's language, login throttling that every node
-- sees, and the append-only audit log of who did what.
ALTER TABLE agents ADD COLUMN locale TEXT NOT NULL DEFAULT 'de';

CREATE INDEX sessions_agent ON sessions (agent_id);

-- Failed logins of the last day, counted per account and per address.
CREATE TABLE login_failures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX login_failures_name ON login_failures (name, at);
CREATE INDEX login_failures_address ON login_failures (address, at);

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    agent_id TEXT,
    agent_name TEXT,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT NOT NULL,
    address TEXT
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
