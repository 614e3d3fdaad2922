-- Webhooks are acknowledged once their raw event is committed; the writer
-- projects them right after. 0 marks a raw event accepted but not yet
-- projected (after a crash, the server projects these on start).
ALTER TABLE raw_events ADD COLUMN projected INTEGER NOT NULL DEFAULT 1;
CREATE INDEX raw_events_unprojected ON raw_events (id) WHERE projected = 0;
