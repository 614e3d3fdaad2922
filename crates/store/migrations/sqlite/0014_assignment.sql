-- Automatic assignment: who is there to take conversations, and where the
-- round robin stands (in the database, so several nodes share one rotation).
ALTER TABLE agents ADD COLUMN availability TEXT NOT NULL DEFAULT 'offline';

CREATE TABLE assignment_rotation (
    name TEXT PRIMARY KEY,
    last_agent_id TEXT NOT NULL
);
