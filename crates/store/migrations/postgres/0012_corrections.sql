-- Agents' corrections of the analysis (who, when, old, new), append only;
-- the newest per message and field counts. Agent-authored, kept by replay,
-- exported as labelled data to train the model on the team's customers.
CREATE TABLE analysis_corrections (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    agent_name TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX analysis_corrections_message ON analysis_corrections (message_id, field, id);
CREATE INDEX analysis_corrections_conversation ON analysis_corrections (conversation_id);
