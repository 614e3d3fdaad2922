//! Download state of inbound media, one row per attachment: pending, stored
//! (with its blob key), retrying (with the reason and when) or failed for
//! good (too large, type not accepted, gone at Meta). A file is never lost
//! silently: every attachment of a WhatsApp message gets a row, and a row
//! leaves `pending`/`retrying` only by being stored or failing with a reason.
//!
//! These writes bypass the group-commit writer: they are few, small and not
//! part of any webhook's acknowledgement.

use crate::{Result, Store, StoreError};
use resonanz_core::{Attachment, Timestamp};
use serde::Serialize;
use sqlx::{Pool, Postgres, Sqlite};
use std::fmt;
use std::str::FromStr;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    Pending,
    Stored,
    /// The last attempt failed for a reason that may pass; tried again at `next_attempt_at`.
    Retrying,
    /// Will not be tried again; `last_error` says why.
    Failed,
}

impl MediaState {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaState::Pending => "pending",
            MediaState::Stored => "stored",
            MediaState::Retrying => "retrying",
            MediaState::Failed => "failed",
        }
    }
}

impl fmt::Display for MediaState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MediaState {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => MediaState::Pending,
            "stored" => MediaState::Stored,
            "retrying" => MediaState::Retrying,
            "failed" => MediaState::Failed,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown media state {other:?}"
                )));
            }
        })
    }
}

/// An attachment to download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaJob {
    pub message_id: String,
    pub position: i64,
    pub channel: String,
    /// The business account (WhatsApp phone_number_id) whose token fetches it.
    pub account: String,
    pub kind: String,
    /// WhatsApp media id.
    pub media_ref: String,
    /// Meta's SHA-256 from the webhook (base64).
    pub expected_sha256: Option<String>,
    pub attempts: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MediaRow {
    pub message_id: String,
    pub position: i64,
    pub kind: String,
    pub media_ref: String,
    pub state: MediaState,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    /// Hex SHA-256 of the content: the blob store key.
    pub blob_sha256: Option<String>,
    pub size: Option<i64>,
    pub mime_type: Option<String>,
}

type MediaTuple = (
    String,
    i64,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

fn media_row(t: MediaTuple) -> Result<MediaRow> {
    Ok(MediaRow {
        message_id: t.0,
        position: t.1,
        kind: t.2,
        media_ref: t.3,
        state: t.4.parse()?,
        attempts: t.5,
        next_attempt_at: t.6,
        last_error: t.7,
        blob_sha256: t.8,
        size: t.9,
        mime_type: t.10,
    })
}

/// A file to fetch: every WhatsApp media id; on Messenger and Instagram only
/// files behind an http(s) URL (not shared links, locations or templates).
fn downloadable(channel: &str, attachment: &Attachment) -> bool {
    channel == "whatsapp"
        || (matches!(
            attachment.kind.as_str(),
            "image" | "video" | "audio" | "file"
        ) && (attachment.media_ref.starts_with("https://")
            || attachment.media_ref.starts_with("http://")))
}

macro_rules! media_sql {
    ($module:ident, $db:ty) => {
        mod $module {
            use super::*;
            type Db = $db;

            pub(super) async fn discover(pool: &Pool<Db>, now: i64, limit: i64) -> Result<usize> {
                // WhatsApp media ids (fetched through the Graph API) and Messenger/
                // Instagram CDN URLs of files (their links expire: fetch them early).
                let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                    "SELECT m.id, m.channel, c.account, m.attachments FROM messages m \
                     JOIN conversations c ON c.id = m.conversation_id \
                     WHERE m.attachments <> '[]' AND m.direction = 'in' \
                       AND m.channel IN ('whatsapp', 'messenger', 'instagram') \
                       AND NOT EXISTS (SELECT 1 FROM media x WHERE x.message_id = m.id) \
                     ORDER BY m.id LIMIT $1",
                )
                .bind(limit)
                .fetch_all(pool)
                .await?;
                let mut added = 0;
                for (message_id, channel, account, attachments) in rows {
                    let attachments: Vec<Attachment> = serde_json::from_str(&attachments)
                        .map_err(|e| StoreError::Corrupt(format!("{e}: {attachments}")))?;
                    for (position, attachment) in attachments.iter().enumerate() {
                        if !downloadable(&channel, attachment) {
                            continue;
                        }
                        let done = sqlx::query(
                            "INSERT INTO media (message_id, position, channel, account, kind, media_ref, mime_type, \
                               expected_sha256, state, attempts, next_attempt_at, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9, $9) \
                             ON CONFLICT (message_id, position) DO NOTHING",
                        )
                        .bind(message_id.as_str())
                        .bind(position as i64)
                        .bind(channel.as_str())
                        .bind(account.as_str())
                        .bind(attachment.kind.as_str())
                        .bind(attachment.media_ref.as_str())
                        .bind(attachment.mime_type.as_deref())
                        .bind(attachment.sha256.as_deref())
                        .bind(now)
                        .execute(pool)
                        .await?;
                        added += done.rows_affected() as usize;
                    }
                }
                Ok(added)
            }

            pub(super) async fn due(pool: &Pool<Db>, now: i64, limit: i64) -> Result<Vec<MediaJob>> {
                let rows: Vec<(String, i64, String, String, String, String, Option<String>, i64)> =
                    sqlx::query_as(
                        "SELECT message_id, position, channel, account, kind, media_ref, expected_sha256, attempts \
                         FROM media WHERE state IN ('pending', 'retrying') AND next_attempt_at <= $1 \
                         ORDER BY next_attempt_at, message_id, position LIMIT $2",
                    )
                    .bind(now)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| MediaJob {
                        message_id: r.0,
                        position: r.1,
                        channel: r.2,
                        account: r.3,
                        kind: r.4,
                        media_ref: r.5,
                        expected_sha256: r.6,
                        attempts: r.7,
                    })
                    .collect())
            }

            pub(super) async fn stored(
                pool: &Pool<Db>,
                message_id: &str,
                position: i64,
                blob_sha256: &str,
                size: i64,
                mime_type: &str,
                now: i64,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE media SET state = 'stored', attempts = attempts + 1, last_error = NULL, \
                       blob_sha256 = $1, size = $2, mime_type = $3, updated_at = $4 \
                     WHERE message_id = $5 AND position = $6",
                )
                .bind(blob_sha256)
                .bind(size)
                .bind(mime_type)
                .bind(now)
                .bind(message_id)
                .bind(position)
                .execute(pool)
                .await?;
                Ok(())
            }

            pub(super) async fn failed(
                pool: &Pool<Db>,
                message_id: &str,
                position: i64,
                reason: &str,
                retry_at: Option<i64>,
                now: i64,
            ) -> Result<()> {
                let state = if retry_at.is_some() { "retrying" } else { "failed" };
                sqlx::query(
                    "UPDATE media SET state = $1, attempts = attempts + 1, last_error = $2, \
                       next_attempt_at = $3, updated_at = $4 \
                     WHERE message_id = $5 AND position = $6",
                )
                .bind(state)
                .bind(reason)
                .bind(retry_at.unwrap_or(now))
                .bind(now)
                .bind(message_id)
                .bind(position)
                .execute(pool)
                .await?;
                Ok(())
            }

            pub(super) async fn of_message(pool: &Pool<Db>, message_id: &str) -> Result<Vec<MediaRow>> {
                let rows: Vec<MediaTuple> = sqlx::query_as(
                    "SELECT message_id, position, kind, media_ref, state, attempts, next_attempt_at, last_error, \
                       blob_sha256, size, mime_type FROM media WHERE message_id = $1 ORDER BY position",
                )
                .bind(message_id)
                .fetch_all(pool)
                .await?;
                rows.into_iter().map(media_row).collect()
            }
        }
    };
}

media_sql!(sqlite_media, Sqlite);
media_sql!(postgres_media, Postgres);

macro_rules! on_pool {
    ($backend:expr, $pool:ident, $func:ident $(, $arg:expr)*) => {
        match $backend {
            crate::Backend::Sqlite { $pool, .. } => sqlite_media::$func($pool $(, $arg)*).await,
            crate::Backend::Postgres(pool) => postgres_media::$func(pool $(, $arg)*).await,
        }
    };
}

impl Store {
    /// Registers the attachments of inbound WhatsApp messages that have no
    /// download row yet; returns how many rows were added.
    pub async fn media_discover(&self, now: Timestamp, limit: i64) -> Result<usize> {
        on_pool!(self.backend(), write, discover, now.0, limit)
    }

    /// Pending and retrying downloads whose time has come, oldest first.
    pub async fn media_due(&self, now: Timestamp, limit: i64) -> Result<Vec<MediaJob>> {
        on_pool!(self.backend(), write, due, now.0, limit)
    }

    pub async fn media_stored(
        &self,
        job: &MediaJob,
        blob_sha256: &str,
        size: u64,
        mime_type: &str,
        now: Timestamp,
    ) -> Result<()> {
        let size = i64::try_from(size).unwrap_or(i64::MAX);
        on_pool!(
            self.backend(),
            write,
            stored,
            &job.message_id,
            job.position,
            blob_sha256,
            size,
            mime_type,
            now.0
        )
    }

    /// Records a failed attempt: `retry_at` schedules the next one, `None`
    /// marks the download failed for good.
    pub async fn media_failed(
        &self,
        job: &MediaJob,
        reason: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<()> {
        on_pool!(
            self.backend(),
            write,
            failed,
            &job.message_id,
            job.position,
            reason,
            retry_at.map(|t| t.0),
            now.0
        )
    }

    /// Download state of each attachment of a message.
    pub async fn media_of_message(&self, message_id: &str) -> Result<Vec<MediaRow>> {
        on_pool!(self.backend(), read, of_message, message_id)
    }
}
