-- The inbox pages newest first with the id as tie-breaker: an index in that
-- exact order lets a page stop after its rows instead of sorting them all.
CREATE INDEX conversations_inbox_order ON conversations (last_message_at DESC, id);
