-- A message's id is derived from (channel, external id), so one unique key
-- suffices: the second index cost a random-page write for every message.
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_channel_external_id_key;
