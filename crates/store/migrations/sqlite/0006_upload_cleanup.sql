-- Cleaning out unused uploads. An upload is kept for the retention period
-- after it was last uploaded or named in a draft (created_at keeps the first
-- upload), and for ever once an outbox row or an inbound file uses it.
ALTER TABLE outbound_files ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;
UPDATE outbound_files SET last_used_at = created_at;
CREATE INDEX outbound_files_last_used ON outbound_files (last_used_at);

-- The uploaded file an outbox row names (its own file or its template
-- header's), so the cleanup finds uses by index instead of by payload.
ALTER TABLE outbox ADD COLUMN upload_sha256 TEXT;
UPDATE outbox SET upload_sha256 = json_extract(payload, '$.upload')
 WHERE json_valid(payload) AND json_type(payload, '$.upload') = 'text';
CREATE INDEX outbox_upload ON outbox (upload_sha256) WHERE upload_sha256 IS NOT NULL;

-- Inbound files share the blob store: the same bytes are never deleted under them.
CREATE INDEX media_blob ON media (blob_sha256) WHERE blob_sha256 IS NOT NULL;
