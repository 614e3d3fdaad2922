-- "Customer waiting" pages newest first over only the conversations whose
-- newest message is the customer's (the filter's own condition), so a list
-- of the few waiting among many answered ones reads no others.
CREATE INDEX conversations_waiting ON conversations (last_message_at DESC, id)
    WHERE last_inbound_at = last_message_at;
