//! Outbound storage: the outbox, consent records, the template cache, agents
//! and their sessions. Like `backend.rs`, the SQL is written once in the
//! `outbound_sql!` macro and instantiated for SQLite and PostgreSQL.
//!
//! These tables are agent-authored (or, for consents, idempotent by origin),
//! so `reset_projections` leaves them alone and a replay keeps them.

use crate::backend::Backend;
use crate::{Result, Store, StoreError};
use resonanz_core::rules::{
    Consent, OptIn, OptOut, OptOutSource, TemplateCategory, TemplateStatus,
};
use resonanz_core::{Channel, Identity, IdentityKind, RawEvent, RawEventId, Source, Timestamp};
use serde::Serialize;
use sqlx::{Pool, Postgres, Sqlite};

/// Where an outbox row stands. Only `queued` rows are claimed; `sending`
/// means a worker holds it and the API call's outcome is not yet recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    Queued,
    Sending,
    Sent,
    Failed,
    Blocked,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Queued => "queued",
            OutboxState::Sending => "sending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
            OutboxState::Blocked => "blocked",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "queued" => OutboxState::Queued,
            "sending" => OutboxState::Sending,
            "sent" => OutboxState::Sent,
            "failed" => OutboxState::Failed,
            "blocked" => OutboxState::Blocked,
            other => return Err(StoreError::Corrupt(format!("outbox state {other:?}"))),
        })
    }
}

/// Why a send did not (yet) go out: a rule code (`window_closed`) or Meta's
/// numeric code, with the explanation the agent reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutboxError {
    pub code: String,
    pub de: String,
    pub en: String,
}

#[derive(Clone, Debug)]
pub struct NewOutbox {
    pub id: String,
    pub idempotency_key: String,
    pub channel: Channel,
    pub account: String,
    pub recipient: Identity,
    pub contact_id: String,
    pub conversation_id: String,
    /// The draft as JSON (the server's `Draft` type).
    pub payload: serde_json::Value,
    /// The uploaded file (`outbound_files.sha256`) the draft names: such a
    /// file is never cleaned out.
    pub upload: Option<String>,
    pub created_by: String,
    pub now: Timestamp,
    /// Set when the rule check already refused the draft: stored as `blocked`.
    pub blocked: Option<OutboxError>,
}

#[derive(Clone, Debug, Serialize)]
pub struct OutboxRow {
    pub id: String,
    pub idempotency_key: String,
    pub channel: Channel,
    pub account: String,
    pub recipient: Identity,
    pub contact_id: String,
    pub conversation_id: String,
    pub payload: serde_json::Value,
    pub state: OutboxState,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub claimed_at: Option<Timestamp>,
    pub error: Option<OutboxError>,
    pub external_id: Option<String>,
    pub created_by: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Clone, Debug)]
pub enum Enqueued {
    Created(OutboxRow),
    /// The idempotency key was used before: the original row, nothing new stored.
    Existing(OutboxRow),
}

/// A file an agent uploaded for sending; its bytes are in the blob store
/// under `sha256`, the handle a draft names. Kept while an outbox row or an
/// inbound file uses it, else until the retention after its last use ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutboundFile {
    pub sha256: String,
    /// `document`, `image`, `audio`, `video` or `sticker`: how WhatsApp must send it.
    pub kind: String,
    pub mime_type: String,
    pub size: i64,
    /// Already sanitised (no path, no control characters).
    pub filename: Option<String>,
    pub created_by: String,
    pub created_at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    OptIn,
    OptOut,
    Block,
}

impl ConsentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsentKind::OptIn => "opt_in",
            ConsentKind::OptOut => "opt_out",
            ConsentKind::Block => "block",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "opt_in" => ConsentKind::OptIn,
            "opt_out" => ConsentKind::OptOut,
            "block" => ConsentKind::Block,
            other => return Err(StoreError::Corrupt(format!("consent kind {other:?}"))),
        })
    }
}

/// One consent record: who recorded what, when, how, with which evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConsentRecord {
    pub contact_id: String,
    pub channel: Channel,
    pub kind: ConsentKind,
    /// How it was given: `keyword`, `agent`, `web_form`, `phone`, …
    pub source: String,
    pub recorded_by: String,
    pub at: Timestamp,
    pub evidence: Option<String>,
    /// Unique origin of an automatic record (e.g. the opt-out message id).
    pub origin: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CachedTemplate {
    pub waba_id: String,
    pub name: String,
    pub language: String,
    pub template_id: Option<String>,
    pub category: Option<TemplateCategory>,
    pub status: TemplateStatus,
    pub components: Vec<serde_json::Value>,
    pub updated_at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Agent,
    /// Reads everything, changes nothing (reporting, quality assurance).
    Analyst,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Analyst => "analyst",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            "analyst" => Some(Role::Analyst),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AgentRow {
    pub id: String,
    pub name: String,
    pub role: Role,
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// The web app's language: `de` or `en`.
    pub locale: String,
}

#[derive(Clone, Debug)]
pub struct NewAgent {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// argon2 PHC string.
    pub password_hash: Option<String>,
    /// SHA-256 of the API token (the token itself is never stored).
    pub token_hash: String,
    pub now: Timestamp,
}

/// A conversation with what a send needs to know about it.
#[derive(Clone, Debug, Serialize)]
pub struct ConversationInfo {
    pub id: String,
    pub contact_id: String,
    pub channel: Channel,
    pub account: String,
    pub last_inbound_at: Option<Timestamp>,
    /// The customer's latest message that came through a free entry point
    /// (a Click-to-WhatsApp ad or Page button: it carries a `referral`).
    pub free_entry_opened_at: Option<Timestamp>,
    /// The contact's identities, for the recipient on this channel.
    pub identities: Vec<Identity>,
}

impl ConversationInfo {
    /// The identity a send on this conversation's channel goes to. On
    /// WhatsApp the phone number comes first (Meta then keeps sending it in
    /// webhooks); a customer known only by username gets their user id.
    pub fn recipient(&self) -> Option<&Identity> {
        let preference: &[IdentityKind] = match self.channel {
            Channel::WhatsApp => &[IdentityKind::WhatsApp, IdentityKind::WhatsAppBsuid],
            Channel::Messenger => &[IdentityKind::MessengerPsid],
            Channel::Instagram => &[IdentityKind::InstagramId],
        };
        preference
            .iter()
            .find_map(|kind| self.identities.iter().find(|i| i.kind == *kind))
    }

    /// WhatsApp knows this customer by username only (no phone number).
    pub fn username_only(&self) -> bool {
        self.recipient()
            .is_some_and(|i| i.kind == IdentityKind::WhatsAppBsuid)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct MessageRef {
    pub id: String,
    pub conversation_id: String,
    pub channel: Channel,
    pub account: String,
    pub direction: String,
    pub external_id: String,
    pub contact_id: String,
}

fn parse_channel(text: &str) -> Result<Channel> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("{e}")))
}

fn parse_identity_kind(text: &str) -> Result<IdentityKind> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("{e}")))
}

fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serialises")
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|err| StoreError::Corrupt(format!("{err}: {text}")))
}

const OUTBOX_COLUMNS: &str = "id, idempotency_key, channel, account, recipient_kind, recipient, contact_id, \
     conversation_id, payload, state, attempts, next_attempt_at, claimed_at, last_error_code, last_error_de, \
     last_error_en, external_id, created_by, created_at, updated_at";

struct OutboxFields {
    text: [String; 10],
    attempts: i64,
    next_attempt_at: i64,
    claimed_at: Option<i64>,
    error: [Option<String>; 4],
    created_by: String,
    created_at: i64,
    updated_at: i64,
}

fn outbox_row(f: OutboxFields) -> Result<OutboxRow> {
    let [
        id,
        idempotency_key,
        channel,
        account,
        recipient_kind,
        recipient,
        contact_id,
        conversation_id,
        payload,
        state,
    ] = f.text;
    let [code, de, en, external_id] = f.error;
    Ok(OutboxRow {
        id,
        idempotency_key,
        channel: parse_channel(&channel)?,
        account,
        recipient: Identity::new(parse_identity_kind(&recipient_kind)?, recipient),
        contact_id,
        conversation_id,
        payload: from_json(&payload)?,
        state: OutboxState::parse(&state)?,
        attempts: f.attempts,
        next_attempt_at: Timestamp(f.next_attempt_at),
        claimed_at: f.claimed_at.map(Timestamp),
        error: code.map(|code| OutboxError {
            code,
            de: de.unwrap_or_default(),
            en: en.unwrap_or_default(),
        }),
        external_id,
        created_by: f.created_by,
        created_at: Timestamp(f.created_at),
        updated_at: Timestamp(f.updated_at),
    })
}

type TemplateTuple = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    i64,
);

fn template_row(t: TemplateTuple) -> Result<CachedTemplate> {
    Ok(CachedTemplate {
        waba_id: t.0,
        name: t.1,
        language: t.2,
        template_id: t.3,
        category: t.4.as_deref().and_then(|c| c.parse().ok()),
        status: TemplateStatus::parse(&t.5),
        components: from_json(&t.6)?,
        updated_at: Timestamp(t.7),
    })
}

macro_rules! outbound_sql {
    ($module:ident, $db:ty, $skip_locked:literal, $payload_contains:literal) => {
        pub(crate) mod $module {
            use super::*;
            type Db = $db;
            type Row = <Db as sqlx::Database>::Row;

            /// More columns than sqlx's tuple decoding takes, so by position.
            fn decode(row: &Row) -> Result<OutboxRow> {
                use sqlx::Row as _;
                let text = |i: usize| row.try_get::<String, _>(i);
                let opt = |i: usize| row.try_get::<Option<String>, _>(i);
                outbox_row(OutboxFields {
                    text: [text(0)?, text(1)?, text(2)?, text(3)?, text(4)?, text(5)?, text(6)?, text(7)?, text(8)?, text(9)?],
                    attempts: row.try_get(10)?,
                    next_attempt_at: row.try_get(11)?,
                    claimed_at: row.try_get(12)?,
                    error: [opt(13)?, opt(14)?, opt(15)?, opt(16)?],
                    created_by: text(17)?,
                    created_at: row.try_get(18)?,
                    updated_at: row.try_get(19)?,
                })
            }

            pub(crate) async fn enqueue(pool: &Pool<Db>, new: &NewOutbox) -> Result<Enqueued> {
                let (state, error) = match &new.blocked {
                    Some(error) => (OutboxState::Blocked, Some(error)),
                    None => (OutboxState::Queued, None),
                };
                let inserted: Option<String> = sqlx::query_scalar(
                    "INSERT INTO outbox (id, idempotency_key, channel, account, recipient_kind, recipient, contact_id, \
                       conversation_id, payload, state, attempts, next_attempt_at, last_error_code, last_error_de, \
                       last_error_en, created_by, created_at, updated_at, upload_sha256) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, $11, $12, $13, $14, $15, $11, $11, $16) \
                     ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
                )
                .bind(&new.id)
                .bind(&new.idempotency_key)
                .bind(new.channel.as_str())
                .bind(&new.account)
                .bind(new.recipient.kind.as_str())
                .bind(&new.recipient.value)
                .bind(&new.contact_id)
                .bind(&new.conversation_id)
                .bind(json_text(&new.payload))
                .bind(state.as_str())
                .bind(new.now.0)
                .bind(error.map(|e| e.code.as_str()))
                .bind(error.map(|e| e.de.as_str()))
                .bind(error.map(|e| e.en.as_str()))
                .bind(&new.created_by)
                .bind(new.upload.as_deref())
                .fetch_optional(pool)
                .await?;
                let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE idempotency_key = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(&new.idempotency_key)
                    .fetch_one(pool)
                    .await?;
                let row = decode(&row)?;
                Ok(if inserted.is_some() { Enqueued::Created(row) } else { Enqueued::Existing(row) })
            }

            pub(crate) async fn outbox(pool: &Pool<Db>, id: &str) -> Result<Option<OutboxRow>> {
                let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1");
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(decode).transpose()
            }

            /// A conversation's sends that are not (yet) messages: queued,
            /// in flight, failed or blocked, oldest first.
            pub(crate) async fn unsent_outbox(pool: &Pool<Db>, conversation_id: &str) -> Result<Vec<OutboxRow>> {
                let sql = format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE conversation_id = $1 AND state <> 'sent' \
                     ORDER BY created_at, id LIMIT 200"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(conversation_id)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(decode).collect()
            }

            /// Atomically moves due `queued` rows to `sending`: two workers
            /// (or two nodes) never claim the same row.
            pub(crate) async fn claim(pool: &Pool<Db>, now: Timestamp, limit: i64) -> Result<Vec<OutboxRow>> {
                let sql = format!(
                    "UPDATE outbox SET state = 'sending', attempts = attempts + 1, claimed_at = $1, updated_at = $1 \
                     WHERE id IN (SELECT id FROM outbox WHERE state = 'queued' AND next_attempt_at <= $1 \
                                  ORDER BY next_attempt_at, created_at LIMIT $2{}) \
                       AND state = 'queued' \
                     RETURNING {OUTBOX_COLUMNS}",
                    $skip_locked
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(now.0)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                let mut rows = rows.iter().map(decode).collect::<Result<Vec<_>>>()?;
                rows.sort_by_key(|r| (r.next_attempt_at, r.created_at));
                Ok(rows)
            }

            /// Moves a `sending` row on; false if it was not `sending` (another
            /// path already settled it).
            pub(crate) async fn settle(
                pool: &Pool<Db>,
                id: &str,
                state: OutboxState,
                next_attempt_at: Option<Timestamp>,
                error: Option<&OutboxError>,
                external_id: Option<&str>,
                now: Timestamp,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE outbox SET state = $2, next_attempt_at = COALESCE($3, next_attempt_at), \
                       last_error_code = COALESCE($4, last_error_code), last_error_de = COALESCE($5, last_error_de), \
                       last_error_en = COALESCE($6, last_error_en), external_id = COALESCE($7, external_id), \
                       updated_at = $8 \
                     WHERE id = $1 AND state = 'sending'",
                )
                .bind(id)
                .bind(state.as_str())
                .bind(next_attempt_at.map(|t| t.0))
                .bind(error.map(|e| e.code.as_str()))
                .bind(error.map(|e| e.de.as_str()))
                .bind(error.map(|e| e.en.as_str()))
                .bind(external_id)
                .bind(now.0)
                .execute(pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            /// Claims one `queued` row by id (due or not), like `claim`.
            pub(crate) async fn claim_one(pool: &Pool<Db>, id: &str, now: Timestamp) -> Result<Option<OutboxRow>> {
                let sql = format!(
                    "UPDATE outbox SET state = 'sending', attempts = attempts + 1, claimed_at = $2, updated_at = $2 \
                     WHERE id = $1 AND state = 'queued' RETURNING {OUTBOX_COLUMNS}"
                );
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(id)
                    .bind(now.0)
                    .fetch_optional(pool)
                    .await?;
                row.as_ref().map(decode).transpose()
            }

            /// Gives a claimed row back (`sending` → `queued`) before any API
            /// call; the claim does not count as an attempt.
            pub(crate) async fn release(pool: &Pool<Db>, id: &str, now: Timestamp) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE outbox SET state = 'queued', attempts = attempts - 1, claimed_at = NULL, updated_at = $2 \
                     WHERE id = $1 AND state = 'sending'",
                )
                .bind(id)
                .bind(now.0)
                .execute(pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            /// Settles a released (`queued`) row after a failed preparation
            /// (the file upload): counts the attempt and records the error.
            pub(crate) async fn settle_released(
                pool: &Pool<Db>,
                id: &str,
                state: OutboxState,
                next_attempt_at: Option<Timestamp>,
                error: &OutboxError,
                now: Timestamp,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE outbox SET state = $2, attempts = attempts + 1, \
                       next_attempt_at = COALESCE($3, next_attempt_at), last_error_code = $4, \
                       last_error_de = $5, last_error_en = $6, updated_at = $7 \
                     WHERE id = $1 AND state = 'queued'",
                )
                .bind(id)
                .bind(state.as_str())
                .bind(next_attempt_at.map(|t| t.0))
                .bind(&error.code)
                .bind(&error.de)
                .bind(&error.en)
                .bind(now.0)
                .execute(pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            /// Same bytes again: the newest kind, type and name win and count
            /// as a use; the first uploader and time stay.
            pub(crate) async fn save_file(pool: &Pool<Db>, file: &OutboundFile) -> Result<()> {
                sqlx::query(
                    "INSERT INTO outbound_files (sha256, kind, mime_type, size, filename, created_by, created_at, last_used_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
                     ON CONFLICT (sha256) DO UPDATE SET kind = excluded.kind, mime_type = excluded.mime_type, \
                       filename = excluded.filename, last_used_at = excluded.last_used_at",
                )
                .bind(&file.sha256)
                .bind(&file.kind)
                .bind(&file.mime_type)
                .bind(file.size)
                .bind(file.filename.as_deref())
                .bind(&file.created_by)
                .bind(file.created_at.0)
                .execute(pool)
                .await?;
                Ok(())
            }

            pub(crate) async fn file(pool: &Pool<Db>, sha256: &str) -> Result<Option<OutboundFile>> {
                let row: Option<(String, String, String, i64, Option<String>, String, i64)> = sqlx::query_as(
                    "SELECT sha256, kind, mime_type, size, filename, created_by, created_at \
                     FROM outbound_files WHERE sha256 = $1",
                )
                .bind(sha256)
                .fetch_optional(pool)
                .await?;
                Ok(row.map(|r| OutboundFile {
                    sha256: r.0,
                    kind: r.1,
                    mime_type: r.2,
                    size: r.3,
                    filename: r.4,
                    created_by: r.5,
                    created_at: Timestamp(r.6),
                }))
            }

            pub(crate) async fn touch_file(pool: &Pool<Db>, sha256: &str, now: Timestamp) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE outbound_files SET last_used_at = $1 WHERE sha256 = $2 AND last_used_at < $1",
                )
                .bind(now.0)
                .bind(sha256)
                .execute(pool)
                .await?;
                if done.rows_affected() == 1 {
                    return Ok(true);
                }
                // Used at `now` or later already (the clock may lag another node's).
                let exists: Option<i64> =
                    sqlx::query_scalar("SELECT size FROM outbound_files WHERE sha256 = $1")
                        .bind(sha256)
                        .fetch_optional(pool)
                        .await?;
                Ok(exists.is_some())
            }

            pub(crate) async fn unused_files(
                pool: &Pool<Db>,
                used_before: Timestamp,
                limit: i64,
            ) -> Result<Vec<OutboundFile>> {
                let rows: Vec<(String, String, String, i64, Option<String>, String, i64)> = sqlx::query_as(
                    "SELECT f.sha256, f.kind, f.mime_type, f.size, f.filename, f.created_by, f.created_at \
                     FROM outbound_files f WHERE f.last_used_at < $1 \
                       AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.upload_sha256 = f.sha256) \
                       AND NOT EXISTS (SELECT 1 FROM media m WHERE m.blob_sha256 = f.sha256) \
                     ORDER BY f.last_used_at, f.sha256 LIMIT $2",
                )
                .bind(used_before.0)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| OutboundFile {
                        sha256: r.0,
                        kind: r.1,
                        mime_type: r.2,
                        size: r.3,
                        filename: r.4,
                        created_by: r.5,
                        created_at: Timestamp(r.6),
                    })
                    .collect())
            }

            /// One statement, so a draft naming the file (which touches it
            /// first) or a row using it cannot slip in between check and delete.
            pub(crate) async fn delete_unused_file(
                pool: &Pool<Db>,
                sha256: &str,
                used_before: Timestamp,
            ) -> Result<bool> {
                let done = sqlx::query(
                    "DELETE FROM outbound_files WHERE sha256 = $1 AND last_used_at < $2 \
                       AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.upload_sha256 = $1) \
                       AND NOT EXISTS (SELECT 1 FROM media m WHERE m.blob_sha256 = $1)",
                )
                .bind(sha256)
                .bind(used_before.0)
                .execute(pool)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                // Meta's ids for it are useless without the file.
                sqlx::query("DELETE FROM media_uploads WHERE sha256 = $1")
                    .bind(sha256)
                    .execute(pool)
                    .await?;
                Ok(true)
            }

            pub(crate) async fn blob_in_use(pool: &Pool<Db>, sha256: &str) -> Result<bool> {
                let used: Option<String> = sqlx::query_scalar(
                    "SELECT sha256 FROM outbound_files WHERE sha256 = $1 \
                     UNION ALL SELECT blob_sha256 FROM media WHERE blob_sha256 = $1 LIMIT 1",
                )
                .bind(sha256)
                .fetch_optional(pool)
                .await?;
                Ok(used.is_some())
            }

            pub(crate) async fn media_upload(
                pool: &Pool<Db>,
                sha256: &str,
                account: &str,
                mime_type: &str,
                uploaded_after: Timestamp,
            ) -> Result<Option<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT media_id FROM media_uploads \
                     WHERE sha256 = $1 AND account = $2 AND mime_type = $3 AND uploaded_at > $4",
                )
                .bind(sha256)
                .bind(account)
                .bind(mime_type)
                .bind(uploaded_after.0)
                .fetch_optional(pool)
                .await?)
            }

            pub(crate) async fn record_media_upload(
                pool: &Pool<Db>,
                sha256: &str,
                account: &str,
                mime_type: &str,
                media_id: &str,
                now: Timestamp,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO media_uploads (sha256, account, mime_type, media_id, uploaded_at) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (sha256, account, mime_type) DO UPDATE SET media_id = excluded.media_id, \
                       uploaded_at = excluded.uploaded_at",
                )
                .bind(sha256)
                .bind(account)
                .bind(mime_type)
                .bind(media_id)
                .bind(now.0)
                .execute(pool)
                .await?;
                Ok(())
            }

            pub(crate) async fn forget_media_upload(pool: &Pool<Db>, account: &str, media_id: &str) -> Result<()> {
                sqlx::query("DELETE FROM media_uploads WHERE account = $1 AND media_id = $2")
                    .bind(account)
                    .bind(media_id)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            pub(crate) async fn sending_claimed_before(pool: &Pool<Db>, before: Timestamp) -> Result<Vec<OutboxRow>> {
                let sql = format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = 'sending' AND claimed_at < $1 ORDER BY claimed_at"
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(before.0)
                    .fetch_all(pool)
                    .await?;
                rows.iter().map(decode).collect()
            }

            pub(crate) async fn record_consent(pool: &Pool<Db>, record: &ConsentRecord) -> Result<bool> {
                let done = sqlx::query(
                    "INSERT INTO consents (contact_id, channel, kind, source, recorded_by, at, evidence, origin) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (origin) DO NOTHING",
                )
                .bind(&record.contact_id)
                .bind(record.channel.as_str())
                .bind(record.kind.as_str())
                .bind(&record.source)
                .bind(&record.recorded_by)
                .bind(record.at.0)
                .bind(record.evidence.as_deref())
                .bind(record.origin.as_deref())
                .execute(pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn consent_history(
                pool: &Pool<Db>,
                contact_id: &str,
            ) -> Result<Vec<ConsentRecord>> {
                let rows: Vec<(String, String, String, String, String, i64, Option<String>, Option<String>)> =
                    sqlx::query_as(
                        "SELECT contact_id, channel, kind, source, recorded_by, at, evidence, origin FROM consents \
                         WHERE contact_id = $1 ORDER BY at, id",
                    )
                    .bind(contact_id)
                    .fetch_all(pool)
                    .await?;
                rows.into_iter()
                    .map(|r| {
                        Ok(ConsentRecord {
                            contact_id: r.0,
                            channel: parse_channel(&r.1)?,
                            kind: ConsentKind::parse(&r.2)?,
                            source: r.3,
                            recorded_by: r.4,
                            at: Timestamp(r.5),
                            evidence: r.6,
                            origin: r.7,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn upsert_template(pool: &Pool<Db>, t: &CachedTemplate) -> Result<()> {
                sqlx::query(
                    "INSERT INTO templates (waba_id, name, language, template_id, category, status, components, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                     ON CONFLICT (waba_id, name, language) DO UPDATE SET template_id = excluded.template_id, \
                       category = excluded.category, status = excluded.status, components = excluded.components, \
                       updated_at = excluded.updated_at",
                )
                .bind(&t.waba_id)
                .bind(&t.name)
                .bind(&t.language)
                .bind(t.template_id.as_deref())
                .bind(t.category.map(|c| c.as_str()))
                .bind(t.status.as_str())
                .bind(json_text(&t.components))
                .bind(t.updated_at.0)
                .execute(pool)
                .await?;
                Ok(())
            }

            pub(crate) async fn delete_templates(
                pool: &Pool<Db>,
                waba_id: &str,
                name: &str,
                template_id: Option<&str>,
            ) -> Result<u64> {
                let done = sqlx::query(
                    "DELETE FROM templates WHERE waba_id = $1 AND name = $2 \
                     AND (CAST($3 AS TEXT) IS NULL OR template_id = $3)",
                )
                .bind(waba_id)
                .bind(name)
                .bind(template_id)
                .execute(pool)
                .await?;
                Ok(done.rows_affected())
            }

            /// Status (and category, which Meta may change) from a template
            /// status webhook; matched by Meta's template id or by name and language.
            pub(crate) async fn update_template_status(
                pool: &Pool<Db>,
                template_id: &str,
                name: &str,
                language: &str,
                status: &TemplateStatus,
                category: Option<TemplateCategory>,
                now: Timestamp,
            ) -> Result<u64> {
                let done = sqlx::query(
                    "UPDATE templates SET status = $4, category = COALESCE($5, category), updated_at = $6 \
                     WHERE template_id = $1 OR (name = $2 AND language = $3)",
                )
                .bind(template_id)
                .bind(name)
                .bind(language)
                .bind(status.as_str())
                .bind(category.map(|c| c.as_str()))
                .bind(now.0)
                .execute(pool)
                .await?;
                Ok(done.rows_affected())
            }

            pub(crate) async fn template(
                pool: &Pool<Db>,
                waba_id: &str,
                name: &str,
                language: &str,
            ) -> Result<Option<CachedTemplate>> {
                let row: Option<TemplateTuple> = sqlx::query_as(
                    "SELECT waba_id, name, language, template_id, category, status, components, updated_at \
                     FROM templates WHERE waba_id = $1 AND name = $2 AND language = $3",
                )
                .bind(waba_id)
                .bind(name)
                .bind(language)
                .fetch_optional(pool)
                .await?;
                row.map(template_row).transpose()
            }

            pub(crate) async fn templates(pool: &Pool<Db>, waba_id: &str) -> Result<Vec<CachedTemplate>> {
                let rows: Vec<TemplateTuple> = sqlx::query_as(
                    "SELECT waba_id, name, language, template_id, category, status, components, updated_at \
                     FROM templates WHERE waba_id = $1 ORDER BY name, language",
                )
                .bind(waba_id)
                .fetch_all(pool)
                .await?;
                rows.into_iter().map(template_row).collect()
            }

            pub(crate) async fn create_agent(pool: &Pool<Db>, agent: &NewAgent) -> Result<()> {
                sqlx::query(
                    "INSERT INTO agents (id, name, role, password_hash, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&agent.id)
                .bind(&agent.name)
                .bind(agent.role.as_str())
                .bind(agent.password_hash.as_deref())
                .bind(&agent.token_hash)
                .bind(agent.now.0)
                .execute(pool)
                .await?;
                Ok(())
            }

            fn agent_row(r: (String, String, String, Option<String>, String)) -> Result<AgentRow> {
                Ok(AgentRow {
                    role: Role::parse(&r.2).ok_or_else(|| StoreError::Corrupt(format!("role {:?}", r.2)))?,
                    id: r.0,
                    name: r.1,
                    password_hash: r.3,
                    locale: r.4,
                })
            }

            pub(crate) async fn agent_by_name(pool: &Pool<Db>, name: &str) -> Result<Option<AgentRow>> {
                let row: Option<(String, String, String, Option<String>, String)> =
                    sqlx::query_as("SELECT id, name, role, password_hash, locale FROM agents WHERE name = $1")
                        .bind(name)
                        .fetch_optional(pool)
                        .await?;
                row.map(agent_row).transpose()
            }

            /// The agent owning an API token or an unexpired session token.
            pub(crate) async fn agent_by_token_hash(
                pool: &Pool<Db>,
                token_hash: &str,
                now: Timestamp,
            ) -> Result<Option<AgentRow>> {
                let row: Option<(String, String, String, Option<String>, String)> = sqlx::query_as(
                    "SELECT id, name, role, password_hash, locale FROM agents WHERE token_hash = $1 \
                     UNION ALL \
                     SELECT a.id, a.name, a.role, a.password_hash, a.locale FROM sessions s JOIN agents a ON a.id = s.agent_id \
                     WHERE s.token_hash = $1 AND s.expires_at > $2",
                )
                .bind(token_hash)
                .bind(now.0)
                .fetch_optional(pool)
                .await?;
                row.map(agent_row).transpose()
            }

            pub(crate) async fn create_session(
                pool: &Pool<Db>,
                token_hash: &str,
                agent_id: &str,
                now: Timestamp,
                expires_at: Timestamp,
            ) -> Result<()> {
                sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
                    .bind(now.0)
                    .execute(pool)
                    .await?;
                sqlx::query("INSERT INTO sessions (token_hash, agent_id, created_at, expires_at) VALUES ($1, $2, $3, $4)")
                    .bind(token_hash)
                    .bind(agent_id)
                    .bind(now.0)
                    .bind(expires_at.0)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            pub(crate) async fn conversation_info(pool: &Pool<Db>, id: &str) -> Result<Option<ConversationInfo>> {
                // The stored raw message is compact JSON (serde), so a referral reads `"referral":{`.
                let row: Option<(String, String, String, String, Option<i64>, Option<i64>)> = sqlx::query_as(
                    "SELECT c.id, c.contact_id, c.channel, c.account, c.last_inbound_at, \
                       (SELECT MAX(m.sent_at) FROM messages m WHERE m.conversation_id = c.id \
                          AND m.direction = 'in' AND m.raw LIKE '%\"referral\":{%') \
                     FROM conversations c WHERE c.id = $1",
                )
                .bind(id)
                .fetch_optional(pool)
                .await?;
                let Some((id, contact_id, channel, account, last_inbound_at, free_entry_opened_at)) = row else {
                    return Ok(None);
                };
                let identities: Vec<(String, String)> =
                    sqlx::query_as("SELECT kind, value FROM identities WHERE contact_id = $1 ORDER BY created_at, kind, value")
                        .bind(&contact_id)
                        .fetch_all(pool)
                        .await?;
                Ok(Some(ConversationInfo {
                    id,
                    contact_id,
                    channel: parse_channel(&channel)?,
                    account,
                    last_inbound_at: last_inbound_at.map(Timestamp),
                    free_entry_opened_at: free_entry_opened_at.map(Timestamp),
                    identities: identities
                        .into_iter()
                        .map(|(kind, value)| Ok(Identity::new(parse_identity_kind(&kind)?, value)))
                        .collect::<Result<_>>()?,
                }))
            }

            pub(crate) async fn contact_exists(pool: &Pool<Db>, id: &str) -> Result<bool> {
                let found: Option<String> = sqlx::query_scalar("SELECT id FROM contacts WHERE id = $1")
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
                Ok(found.is_some())
            }

            pub(crate) async fn message_ref(pool: &Pool<Db>, id: &str) -> Result<Option<MessageRef>> {
                let row: Option<(String, String, String, String, String, String, String)> = sqlx::query_as(
                    "SELECT m.id, m.conversation_id, m.channel, c.account, m.direction, m.external_id, m.contact_id \
                     FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.id = $1",
                )
                .bind(id)
                .fetch_optional(pool)
                .await?;
                row.map(|r| {
                    Ok(MessageRef {
                        id: r.0,
                        conversation_id: r.1,
                        channel: parse_channel(&r.2)?,
                        account: r.3,
                        direction: r.4,
                        external_id: r.5,
                        contact_id: r.6,
                    })
                })
                .transpose()
            }

            pub(crate) async fn short_message_texts(
                pool: &Pool<Db>,
                ids: &[&str],
                max_chars: i64,
            ) -> Result<Vec<(String, String, i64)>> {
                let mut found = Vec::new();
                for chunk in ids.chunks(500) {
                    let mut query = sqlx::QueryBuilder::<Db>::new(
                        "SELECT id, body, sent_at FROM messages WHERE body IS NOT NULL AND length(body) <= ",
                    );
                    query.push_bind(max_chars).push(" AND id IN (");
                    let mut list = query.separated(", ");
                    for id in chunk {
                        list.push_bind(*id);
                    }
                    query.push(")");
                    let rows: Vec<(String, String, i64)> =
                        query.build_query_as().persistent(false).fetch_all(pool).await?;
                    found.extend(rows);
                }
                Ok(found)
            }

            /// Raw events of `source` received since `since` whose payload contains `needle`.
            pub(crate) async fn raw_events_containing(
                pool: &Pool<Db>,
                source: &str,
                since: Timestamp,
                needle: &str,
            ) -> Result<Vec<RawEvent>> {
                // Needles are our own ids ([a-z0-9_]), so no LIKE escaping is needed.
                let sql = format!(
                    "SELECT id, dedupe_key, received_at, verification, payload FROM raw_events \
                     WHERE source = $1 AND received_at >= $2 AND {} ORDER BY id",
                    $payload_contains
                );
                let rows: Vec<(i64, String, i64, String, Vec<u8>)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(source)
                .bind(since.0)
                .bind(needle)
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|(id, dedupe_key, received_at, verification, payload)| {
                        Ok(RawEvent {
                            id: Some(RawEventId(id)),
                            source: source.parse().map_err(|e| StoreError::Corrupt(format!("{e}")))?,
                            dedupe_key,
                            received_at: Timestamp(received_at),
                            verification: verification.parse().map_err(|e| StoreError::Corrupt(format!("{e}")))?,
                            payload,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn raw_event_by_key(pool: &Pool<Db>, source: &str, key: &str) -> Result<Option<i64>> {
                Ok(sqlx::query_scalar("SELECT id FROM raw_events WHERE source = $1 AND dedupe_key = $2")
                    .bind(source)
                    .bind(key)
                    .fetch_optional(pool)
                    .await?)
            }

            pub(crate) async fn unrecognized_of(pool: &Pool<Db>, raw_event_id: i64) -> Result<Vec<(String, String)>> {
                Ok(sqlx::query_as("SELECT kind, raw FROM unrecognized WHERE raw_event_id = $1 ORDER BY position")
                    .bind(raw_event_id)
                    .fetch_all(pool)
                    .await?)
            }

            pub(crate) async fn cursor(pool: &Pool<Db>, name: &str) -> Result<i64> {
                let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM cursors WHERE name = $1")
                    .bind(name)
                    .fetch_optional(pool)
                    .await?;
                Ok(seq.unwrap_or(0))
            }

            pub(crate) async fn set_cursor(pool: &Pool<Db>, name: &str, seq: i64) -> Result<()> {
                sqlx::query(
                    "INSERT INTO cursors (name, seq) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
                )
                .bind(name)
                .bind(seq)
                .execute(pool)
                .await?;
                Ok(())
            }

            pub(crate) async fn max_event_seq(pool: &Pool<Db>) -> Result<i64> {
                let seq: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM events").fetch_one(pool).await?;
                Ok(seq.unwrap_or(0))
            }
        }
    };
}

// SQLite has one writer and no row locks; PostgreSQL nodes skip rows another
// node is claiming instead of waiting for it.
outbound_sql!(
    sqlite_out,
    Sqlite,
    "",
    "instr(payload, CAST($3 AS BLOB)) > 0"
);
outbound_sql!(
    postgres_out,
    Postgres,
    " FOR UPDATE SKIP LOCKED",
    "position(convert_to($3, 'UTF8') in payload) > 0"
);

macro_rules! on {
    ($store:ident, $func:ident, read $(, $arg:expr)*) => {
        match $store.backend() {
            Backend::Sqlite { read, .. } => sqlite_out::$func(read $(, $arg)*).await,
            Backend::Postgres(pool) => postgres_out::$func(pool $(, $arg)*).await,
        }
    };
    ($store:ident, $func:ident, write $(, $arg:expr)*) => {
        match $store.backend() {
            Backend::Sqlite { write, .. } => sqlite_out::$func(write $(, $arg)*).await,
            Backend::Postgres(pool) => postgres_out::$func(pool $(, $arg)*).await,
        }
    };
}

/// Folds consent history into the state the rules read: the newest opt-in
/// and the newest opt-out or block.
pub fn fold_consents(records: &[ConsentRecord], channel: Channel) -> Consent {
    let mut consent = Consent::default();
    for record in records.iter().filter(|r| r.channel == channel) {
        match record.kind {
            ConsentKind::OptIn => {
                if consent.opt_in.as_ref().is_none_or(|o| o.at <= record.at) {
                    consent.record_opt_in(OptIn {
                        recorded_by: record.recorded_by.clone(),
                        at: record.at,
                        method: record
                            .evidence
                            .clone()
                            .unwrap_or_else(|| record.source.clone()),
                    });
                }
            }
            ConsentKind::OptOut | ConsentKind::Block => {
                if consent.opt_out.as_ref().is_none_or(|o| o.at <= record.at) {
                    let source = match record.kind {
                        ConsentKind::Block => OptOutSource::Blocked,
                        _ if record.source == "keyword" => OptOutSource::Keyword {
                            keyword: record.evidence.clone().unwrap_or_default(),
                        },
                        _ => OptOutSource::Agent {
                            recorded_by: record.recorded_by.clone(),
                        },
                    };
                    consent.record_opt_out(OptOut {
                        at: record.at,
                        source,
                    });
                }
            }
        }
    }
    consent
}

impl Store {
    /// Stores a draft, or returns the row an earlier request with the same
    /// idempotency key created.
    pub async fn enqueue_outbox(&self, new: NewOutbox) -> Result<Enqueued> {
        on!(self, enqueue, write, &new)
    }

    pub async fn outbox(&self, id: &str) -> Result<Option<OutboxRow>> {
        on!(self, outbox, read, id)
    }

    /// A conversation's sends not yet accepted by Meta (or never to be).
    pub async fn unsent_outbox(&self, conversation_id: &str) -> Result<Vec<OutboxRow>> {
        on!(self, unsent_outbox, read, conversation_id)
    }

    /// Claims up to `limit` due rows (state `queued` → `sending`).
    pub async fn claim_outbox(&self, now: Timestamp, limit: i64) -> Result<Vec<OutboxRow>> {
        on!(self, claim, write, now, limit)
    }

    /// Meta accepted it under `external_id`.
    pub async fn outbox_sent(&self, id: &str, external_id: &str, now: Timestamp) -> Result<bool> {
        on!(
            self,
            settle,
            write,
            id,
            OutboxState::Sent,
            None,
            None,
            Some(external_id),
            now
        )
    }

    /// A retryable failure: back to `queued`, due at `next_attempt_at`.
    pub async fn outbox_retry(
        &self,
        id: &str,
        next_attempt_at: Timestamp,
        error: &OutboxError,
        now: Timestamp,
    ) -> Result<bool> {
        on!(
            self,
            settle,
            write,
            id,
            OutboxState::Queued,
            Some(next_attempt_at),
            Some(error),
            None,
            now
        )
    }

    pub async fn outbox_failed(
        &self,
        id: &str,
        error: &OutboxError,
        now: Timestamp,
    ) -> Result<bool> {
        on!(
            self,
            settle,
            write,
            id,
            OutboxState::Failed,
            None,
            Some(error),
            None,
            now
        )
    }

    /// The rule check refused it; no API call was made.
    pub async fn outbox_blocked(
        &self,
        id: &str,
        error: &OutboxError,
        now: Timestamp,
    ) -> Result<bool> {
        on!(
            self,
            settle,
            write,
            id,
            OutboxState::Blocked,
            None,
            Some(error),
            None,
            now
        )
    }

    /// Claims one `queued` row by id (after its file was uploaded, so it
    /// goes out before the rows claimed after it); `None` if not `queued`.
    pub async fn claim_outbox_row(&self, id: &str, now: Timestamp) -> Result<Option<OutboxRow>> {
        on!(self, claim_one, write, id, now)
    }

    /// Gives a claimed row back to `queued` before any API call was made
    /// (e.g. to upload its file first); the claim is not counted as an attempt.
    /// False if the row was not `sending`.
    pub async fn outbox_release(&self, id: &str, now: Timestamp) -> Result<bool> {
        on!(self, release, write, id, now)
    }

    /// A released row whose preparation (file upload) failed and may pass:
    /// counts the attempt, due again at `next_attempt_at`.
    pub async fn outbox_released_retry(
        &self,
        id: &str,
        next_attempt_at: Timestamp,
        error: &OutboxError,
        now: Timestamp,
    ) -> Result<bool> {
        on!(
            self,
            settle_released,
            write,
            id,
            OutboxState::Queued,
            Some(next_attempt_at),
            error,
            now
        )
    }

    /// A released row whose preparation failed for good.
    pub async fn outbox_released_failed(
        &self,
        id: &str,
        error: &OutboxError,
        now: Timestamp,
    ) -> Result<bool> {
        on!(
            self,
            settle_released,
            write,
            id,
            OutboxState::Failed,
            None,
            error,
            now
        )
    }

    /// Records (or updates) an uploaded file's metadata.
    pub async fn save_outbound_file(&self, file: &OutboundFile) -> Result<()> {
        on!(self, save_file, write, file)
    }

    pub async fn outbound_file(&self, sha256: &str) -> Result<Option<OutboundFile>> {
        on!(self, file, read, sha256)
    }

    /// Marks an upload as used now (a draft names it), so the cleanup keeps
    /// it a full retention period from now; false if there is no such upload.
    pub async fn touch_outbound_file(&self, sha256: &str, now: Timestamp) -> Result<bool> {
        on!(self, touch_file, write, sha256, now)
    }

    /// Uploads last used before `used_before` that no outbox row and no
    /// inbound file uses, oldest first.
    pub async fn unused_outbound_files(
        &self,
        used_before: Timestamp,
        limit: i64,
    ) -> Result<Vec<OutboundFile>> {
        on!(self, unused_files, write, used_before, limit)
    }

    /// Deletes an upload's row (and Meta's ids for it) if it is still unused
    /// and last used before `used_before`; true if it was deleted.
    pub async fn delete_unused_outbound_file(
        &self,
        sha256: &str,
        used_before: Timestamp,
    ) -> Result<bool> {
        on!(self, delete_unused_file, write, sha256, used_before)
    }

    /// Whether an upload or an inbound file names this blob.
    pub async fn blob_in_use(&self, sha256: &str) -> Result<bool> {
        on!(self, blob_in_use, write, sha256)
    }

    /// Meta's media id for this file from this number, if uploaded after
    /// `uploaded_after` (Meta keeps uploads 30 days).
    pub async fn media_upload(
        &self,
        sha256: &str,
        account: &str,
        mime_type: &str,
        uploaded_after: Timestamp,
    ) -> Result<Option<String>> {
        on!(
            self,
            media_upload,
            read,
            sha256,
            account,
            mime_type,
            uploaded_after
        )
    }

    pub async fn record_media_upload(
        &self,
        sha256: &str,
        account: &str,
        mime_type: &str,
        media_id: &str,
        now: Timestamp,
    ) -> Result<()> {
        on!(
            self,
            record_media_upload,
            write,
            sha256,
            account,
            mime_type,
            media_id,
            now
        )
    }

    /// Drops a media id Meta no longer accepts, so the next send uploads again.
    pub async fn forget_media_upload(&self, account: &str, media_id: &str) -> Result<()> {
        on!(self, forget_media_upload, write, account, media_id)
    }

    /// Rows left in `sending` (a crash or an unknown outcome) claimed before `before`.
    pub async fn outbox_sending_before(&self, before: Timestamp) -> Result<Vec<OutboxRow>> {
        on!(self, sending_claimed_before, read, before)
    }

    /// Appends a consent record; false if its `origin` was recorded before.
    pub async fn record_consent(&self, record: &ConsentRecord) -> Result<bool> {
        on!(self, record_consent, write, record)
    }

    pub async fn consent_history(&self, contact_id: &str) -> Result<Vec<ConsentRecord>> {
        on!(self, consent_history, read, contact_id)
    }

    /// The consent in force for a contact on a channel.
    pub async fn consent(&self, contact_id: &str, channel: Channel) -> Result<Consent> {
        let history = self.consent_history(contact_id).await?;
        Ok(fold_consents(&history, channel))
    }

    pub async fn upsert_template(&self, template: &CachedTemplate) -> Result<()> {
        on!(self, upsert_template, write, template)
    }

    /// Removes cached templates: every language of `name`, or the one with `template_id`.
    pub async fn delete_templates(
        &self,
        waba_id: &str,
        name: &str,
        template_id: Option<&str>,
    ) -> Result<u64> {
        on!(self, delete_templates, write, waba_id, name, template_id)
    }

    pub async fn update_template_status(
        &self,
        template_id: &str,
        name: &str,
        language: &str,
        status: &TemplateStatus,
        category: Option<TemplateCategory>,
        now: Timestamp,
    ) -> Result<u64> {
        on!(
            self,
            update_template_status,
            write,
            template_id,
            name,
            language,
            status,
            category,
            now
        )
    }

    pub async fn template(
        &self,
        waba_id: &str,
        name: &str,
        language: &str,
    ) -> Result<Option<CachedTemplate>> {
        on!(self, template, read, waba_id, name, language)
    }

    pub async fn templates(&self, waba_id: &str) -> Result<Vec<CachedTemplate>> {
        on!(self, templates, read, waba_id)
    }

    pub async fn create_agent(&self, agent: &NewAgent) -> Result<()> {
        on!(self, create_agent, write, agent)
    }

    pub async fn agent_by_name(&self, name: &str) -> Result<Option<AgentRow>> {
        on!(self, agent_by_name, read, name)
    }

    pub async fn agent_by_token_hash(
        &self,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<Option<AgentRow>> {
        on!(self, agent_by_token_hash, read, token_hash, now)
    }

    pub async fn create_session(
        &self,
        token_hash: &str,
        agent_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<()> {
        on!(
            self,
            create_session,
            write,
            token_hash,
            agent_id,
            now,
            expires_at
        )
    }

    pub async fn conversation_info(&self, id: &str) -> Result<Option<ConversationInfo>> {
        on!(self, conversation_info, read, id)
    }

    pub async fn contact_exists(&self, id: &str) -> Result<bool> {
        on!(self, contact_exists, read, id)
    }

    pub async fn message_ref(&self, id: &str) -> Result<Option<MessageRef>> {
        on!(self, message_ref, read, id)
    }

    /// Id, text and send time of those of `ids` whose text is at most
    /// `max_chars` long (keyword detection reads only short messages).
    pub async fn short_message_texts(
        &self,
        ids: &[&str],
        max_chars: usize,
    ) -> Result<Vec<(String, String, Timestamp)>> {
        let max_chars = i64::try_from(max_chars).unwrap_or(i64::MAX);
        let found = on!(self, short_message_texts, read, ids, max_chars)?;
        Ok(found
            .into_iter()
            .map(|(id, body, at)| (id, body, Timestamp(at)))
            .collect())
    }

    pub async fn raw_events_containing(
        &self,
        source: Source,
        since: Timestamp,
        needle: &str,
    ) -> Result<Vec<RawEvent>> {
        on!(
            self,
            raw_events_containing,
            read,
            source.as_str(),
            since,
            needle
        )
    }

    /// The id of a raw event, if the log holds it.
    pub async fn raw_event_id(
        &self,
        source: Source,
        dedupe_key: &str,
    ) -> Result<Option<RawEventId>> {
        let id = on!(self, raw_event_by_key, read, source.as_str(), dedupe_key)?;
        Ok(id.map(RawEventId))
    }

    /// `(kind, raw JSON)` of the unrecognized items of a raw event.
    pub async fn unrecognized_of(
        &self,
        raw_event_id: RawEventId,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        let rows = on!(self, unrecognized_of, read, raw_event_id.0)?;
        rows.into_iter()
            .map(|(kind, raw)| Ok((kind, from_json(&raw)?)))
            .collect()
    }

    /// Where the named events consumer stopped.
    pub async fn cursor(&self, name: &str) -> Result<i64> {
        on!(self, cursor, read, name)
    }

    pub async fn set_cursor(&self, name: &str, seq: i64) -> Result<()> {
        on!(self, set_cursor, write, name, seq)
    }

    pub async fn max_event_seq(&self) -> Result<i64> {
        on!(self, max_event_seq, read)
    }
}
