-- The web app: each agent's language, login throttling that every node
-- sees, and the append-only audit log of who did what.
ALTER TABLE agents ADD COLUMN locale TEXT NOT NULL DEFAULT 'de';

CREATE INDEX sessions_agent ON sessions (agent_id);

-- Failed logins of the last day, counted per account and per address.
CREATE TABLE login_failures (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    address TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_name ON login_failures (name, at);
CREATE INDEX login_failures_address ON login_failures (address, at);

CREATE TABLE audit_log (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    agent_id TEXT,
    agent_name TEXT,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT NOT NULL,
    address TEXT
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
