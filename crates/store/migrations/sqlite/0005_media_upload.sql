-- Files agents upload for sending (bytes in the content-addressed blob
-- store under `sha256`, which is also the handle a draft names).
-- Agent-authored, so replay keeps it.
CREATE TABLE outbound_files (
    sha256 TEXT PRIMARY KEY,
    -- document | image | audio | video: how WhatsApp must send it
    kind TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    filename TEXT,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Meta's media id for a file uploaded from a business number; Meta keeps
-- uploads 30 days, so a later send of the same file reuses the id.
CREATE TABLE media_uploads (
    sha256 TEXT NOT NULL,
    account TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    media_id TEXT NOT NULL,
    uploaded_at INTEGER NOT NULL,
    PRIMARY KEY (sha256, account, mime_type)
);
