-- A contact's conversations (CRM timeline), newest first, without a scan.
CREATE INDEX conversations_contact ON conversations (contact_id, last_message_at);
