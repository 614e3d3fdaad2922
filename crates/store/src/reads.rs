//! Read-only views the inbox and the integration tests need beyond the core
//! projections: unrecognized items, a contact's identities, a message's raw
//! payload and its receipts.

use crate::{Result, Store, StoreError};
use resonanz_core::{Identity, IdentityKind, MessageId};
use serde::Serialize;
use sqlx::{Pool, Postgres, Sqlite};

/// An item a parser could not model, kept with its raw JSON.
#[derive(Clone, Debug, Serialize)]
pub struct UnrecognizedRow {
    pub raw_event_id: i64,
    pub position: i64,
    pub kind: String,
    pub raw: serde_json::Value,
}

#[derive(Clone, Debug, Serialize)]
pub struct ContactRow {
    pub id: String,
    pub display_name: Option<String>,
    pub identities: Vec<Identity>,
}

/// How many conversations each inbox filter shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ConversationCounts {
    pub total: i64,
    /// The customer wrote last.
    pub awaiting: i64,
    pub whatsapp: i64,
    pub messenger: i64,
    pub instagram: i64,
    pub open: i64,
    pub pending: i64,
    pub snoozed: i64,
    pub resolved: i64,
    /// Assigned to the agent who asks.
    pub mine: i64,
    pub unassigned: i64,
}

impl ConversationCounts {
    /// Each count by name, for pages that show them.
    pub fn pairs(&self) -> [(&'static str, i64); 11] {
        [
            ("total", self.total),
            ("awaiting", self.awaiting),
            ("whatsapp", self.whatsapp),
            ("messenger", self.messenger),
            ("instagram", self.instagram),
            ("open", self.open),
            ("pending", self.pending),
            ("snoozed", self.snoozed),
            ("resolved", self.resolved),
            ("mine", self.mine),
            ("unassigned", self.unassigned),
        ]
    }
}

/// One delivery receipt as it arrived (also for messages not yet known).
#[derive(Clone, Debug, Serialize)]
pub struct StatusRow {
    pub state: String,
    pub at: i64,
    pub raw_event_id: i64,
}

fn corrupt(err: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(err.to_string())
}

macro_rules! reads_sql {
    ($module:ident, $db:ty) => {
        mod $module {
            use super::*;
            type Db = $db;

            pub(super) async fn unrecognized(
                pool: &Pool<Db>,
                after_raw_id: i64,
                limit: i64,
            ) -> Result<Vec<UnrecognizedRow>> {
                let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
                    "SELECT raw_event_id, position, kind, raw FROM unrecognized \
                     WHERE raw_event_id > $1 ORDER BY raw_event_id, position LIMIT $2",
                )
                .bind(after_raw_id)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|(raw_event_id, position, kind, raw)| {
                        Ok(UnrecognizedRow {
                            raw_event_id,
                            position,
                            kind,
                            raw: serde_json::from_str(&raw).map_err(corrupt)?,
                        })
                    })
                    .collect()
            }

            pub(super) async fn contact_by_identity(
                pool: &Pool<Db>,
                kind: &str,
                value: &str,
            ) -> Result<Option<ContactRow>> {
                let contact: Option<(String, Option<String>)> = sqlx::query_as(
                    "SELECT c.id, c.display_name FROM identities i JOIN contacts c ON c.id = i.contact_id \
                     WHERE i.kind = $1 AND i.value = $2",
                )
                .bind(kind)
                .bind(value)
                .fetch_optional(pool)
                .await?;
                let Some((id, display_name)) = contact else {
                    return Ok(None);
                };
                with_identities(pool, id, display_name).await.map(Some)
            }

            pub(super) async fn contact(pool: &Pool<Db>, id: &str) -> Result<Option<ContactRow>> {
                let contact: Option<(String, Option<String>)> =
                    sqlx::query_as("SELECT id, display_name FROM contacts WHERE id = $1")
                        .bind(id)
                        .fetch_optional(pool)
                        .await?;
                let Some((id, display_name)) = contact else {
                    return Ok(None);
                };
                with_identities(pool, id, display_name).await.map(Some)
            }

            async fn with_identities(
                pool: &Pool<Db>,
                id: String,
                display_name: Option<String>,
            ) -> Result<ContactRow> {
                let identities: Vec<(String, String)> = sqlx::query_as(
                    "SELECT kind, value FROM identities WHERE contact_id = $1 ORDER BY created_at, kind, value",
                )
                .bind(id.as_str())
                .fetch_all(pool)
                .await?;
                let identities = identities
                    .into_iter()
                    .map(|(kind, value)| {
                        Ok(Identity::new(kind.parse::<IdentityKind>().map_err(corrupt)?, value))
                    })
                    .collect::<Result<_>>()?;
                Ok(ContactRow {
                    id,
                    display_name,
                    identities,
                })
            }

            pub(super) async fn conversation_counts(
                pool: &Pool<Db>,
                agent_id: &str,
                now: i64,
            ) -> Result<ConversationCounts> {
                // The status as the team sees it, as in the inbox list. "Customer
                // waiting" reads the conversation row alone (the newest message is
                // the customer's when it is also their newest), not one lookup per
                // conversation; the list's filter breaks a same-millisecond tie by id.
                let status = "(CASE WHEN w.status IS NULL THEN 'open' \
                    WHEN w.status <> 'open' AND c.last_inbound_at > w.status_changed_at THEN 'open' \
                    WHEN w.status = 'snoozed' AND w.snoozed_until <= $1 THEN 'open' ELSE w.status END)";
                let sql = format!(
                    "SELECT COUNT(*), \
                       COUNT(*) FILTER (WHERE c.last_inbound_at = c.last_message_at), \
                       COUNT(*) FILTER (WHERE c.channel = 'whatsapp'), \
                       COUNT(*) FILTER (WHERE c.channel = 'messenger'), \
                       COUNT(*) FILTER (WHERE c.channel = 'instagram'), \
                       COUNT(*) FILTER (WHERE {status} = 'open'), \
                       COUNT(*) FILTER (WHERE {status} = 'pending'), \
                       COUNT(*) FILTER (WHERE {status} = 'snoozed'), \
                       COUNT(*) FILTER (WHERE {status} = 'resolved'), \
                       COUNT(*) FILTER (WHERE w.assignee_id = $2), \
                       COUNT(*) FILTER (WHERE w.assignee_id IS NULL) \
                     FROM conversations c LEFT JOIN conversation_work w ON w.conversation_id = c.id"
                );
                type Row = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);
                let r: Row = sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(agent_id)
                    .fetch_one(pool)
                    .await?;
                Ok(ConversationCounts {
                    total: r.0,
                    awaiting: r.1,
                    whatsapp: r.2,
                    messenger: r.3,
                    instagram: r.4,
                    open: r.5,
                    pending: r.6,
                    snoozed: r.7,
                    resolved: r.8,
                    mine: r.9,
                    unassigned: r.10,
                })
            }

            pub(super) async fn blob_mime_type(pool: &Pool<Db>, sha256: &str) -> Result<Option<String>> {
                let mime: Option<String> = sqlx::query_scalar(
                    "SELECT mime_type FROM media WHERE blob_sha256 = $1 AND mime_type IS NOT NULL \
                     UNION ALL SELECT mime_type FROM outbound_files WHERE sha256 = $1 LIMIT 1",
                )
                .bind(sha256)
                .fetch_optional(pool)
                .await?;
                Ok(mime)
            }

            pub(super) async fn message_raw(
                pool: &Pool<Db>,
                channel: &str,
                external_id: &str,
            ) -> Result<Option<serde_json::Value>> {
                let raw: Option<Option<String>> = sqlx::query_scalar(
                    "SELECT raw FROM messages WHERE id = $1",
                )
                .bind(MessageId::derive(&[channel, external_id]).as_str())
                .fetch_optional(pool)
                .await?;
                raw.flatten()
                    .map(|text| serde_json::from_str(&text).map_err(corrupt))
                    .transpose()
            }

            pub(super) async fn message_statuses(
                pool: &Pool<Db>,
                channel: &str,
                external_id: &str,
            ) -> Result<Vec<StatusRow>> {
                let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                    "SELECT state, at, raw_event_id FROM message_statuses \
                     WHERE channel = $1 AND external_id = $2 ORDER BY at, raw_event_id, state",
                )
                .bind(channel)
                .bind(external_id)
                .fetch_all(pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(state, at, raw_event_id)| StatusRow {
                        state,
                        at,
                        raw_event_id,
                    })
                    .collect())
            }
        }
    };
}

reads_sql!(sqlite_reads, Sqlite);
reads_sql!(postgres_reads, Postgres);

macro_rules! dispatch_read {
    ($backend:expr, $func:ident $(, $arg:expr)*) => {
        match $backend {
            crate::Backend::Sqlite { read, .. } => sqlite_reads::$func(read $(, $arg)*).await,
            crate::Backend::Postgres(pool) => postgres_reads::$func(pool $(, $arg)*).await,
        }
    };
}

impl crate::Backend {
    pub async fn unrecognized(
        &self,
        after_raw_id: i64,
        limit: i64,
    ) -> Result<Vec<UnrecognizedRow>> {
        dispatch_read!(self, unrecognized, after_raw_id, limit)
    }

    pub async fn contact_by_identity(
        &self,
        kind: IdentityKind,
        value: &str,
    ) -> Result<Option<ContactRow>> {
        dispatch_read!(self, contact_by_identity, kind.as_str(), value)
    }

    pub async fn message_raw(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Option<serde_json::Value>> {
        dispatch_read!(self, message_raw, channel, external_id)
    }

    pub async fn contact(&self, id: &str) -> Result<Option<ContactRow>> {
        dispatch_read!(self, contact, id)
    }

    pub async fn conversation_counts(
        &self,
        agent_id: &str,
        now: i64,
    ) -> Result<ConversationCounts> {
        dispatch_read!(self, conversation_counts, agent_id, now)
    }

    pub async fn blob_mime_type(&self, sha256: &str) -> Result<Option<String>> {
        dispatch_read!(self, blob_mime_type, sha256)
    }

    pub async fn message_statuses(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Vec<StatusRow>> {
        dispatch_read!(self, message_statuses, channel, external_id)
    }
}

impl Store {
    /// Unrecognized items of raw events after `after_raw_id`, oldest first.
    pub async fn unrecognized(
        &self,
        after_raw_id: i64,
        limit: i64,
    ) -> Result<Vec<UnrecognizedRow>> {
        self.backend().unrecognized(after_raw_id, limit).await
    }

    /// The contact owning an identity, with all of its identities.
    pub async fn contact_by_identity(
        &self,
        kind: IdentityKind,
        value: &str,
    ) -> Result<Option<ContactRow>> {
        self.backend().contact_by_identity(kind, value).await
    }

    /// A contact with all of its identities.
    pub async fn contact(&self, id: &str) -> Result<Option<ContactRow>> {
        self.backend().contact(id).await
    }

    /// The MIME type a stored file (inbound media or an upload) came with;
    /// `None` if no message or upload names the blob.
    pub async fn blob_mime_type(&self, sha256: &str) -> Result<Option<String>> {
        self.backend().blob_mime_type(sha256).await
    }

    /// Conversations per inbox filter (all, customer waiting, each channel,
    /// each status as the team sees it at `now`, the agent's, nobody's).
    pub async fn conversation_counts(
        &self,
        agent_id: &str,
        now: resonanz_core::Timestamp,
    ) -> Result<ConversationCounts> {
        self.backend().conversation_counts(agent_id, now.0).await
    }

    /// The message object exactly as the channel sent it.
    pub async fn message_raw(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Option<serde_json::Value>> {
        self.backend().message_raw(channel, external_id).await
    }

    /// Receipts for a message, in arrival order of their timestamps.
    pub async fn message_statuses(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Vec<StatusRow>> {
        self.backend().message_statuses(channel, external_id).await
    }
}
