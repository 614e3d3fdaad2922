//! Resonanz storage. One API over SQLite (embedded default) and PostgreSQL
//! (scale-out). Writes go through a single writer task that batches
//! concurrent requests into one transaction (group commit): many webhooks
//! share one fsync, and a caller is answered only after its commit.

mod backend;
pub mod bus;
mod journal;
mod media;
mod outbound;
mod reads;
mod team;
mod workflow;
mod writer;

use resonanz_core::analysis::Analysis;
use resonanz_core::event::EventEnvelope;
use resonanz_core::{Inbound, RawEvent, RawEventId, Source};
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot};

pub use backend::{
    Assignee, Backend, ConversationFilter, ConversationRow, Counts, LastMessage, MentionRow,
    MessageRow,
};
pub use bus::{BroadcastBus, EventBus};
pub use media::*;
pub use outbound::*;
pub use reads::{ContactRow, ConversationCounts, StatusRow, UnrecognizedRow};
pub use team::{AuditEntry, CannedReply, LoginFailures, NewAudit};
pub use workflow::{
    ActivityRow, Actor, AgentSummary, Correction, CorrectionRow, NotificationRow, WorkState,
};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "unsupported database URL {0:?}: use sqlite://PATH (embedded) or postgres://USER@HOST/DB"
    )]
    UnsupportedUrl(String),
    #[error("stored data could not be read back: {0}")]
    Corrupt(String),
    #[error("file system: {0}")]
    Io(String),
    #[error("the store is shut down")]
    Closed,
}

/// A raw event with what its parser and the analyser made of it.
#[derive(Clone, Debug)]
pub struct Projection {
    pub raw: RawEvent,
    pub items: Vec<ProjectedItem>,
    /// Set when the payload was accepted but could not be parsed; the raw
    /// event is still stored and a later parser can replay it.
    pub parse_error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct ProjectedItem {
    pub inbound: Inbound,
    pub analysis: Option<Analysis>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Newly stored under this id.
    Stored(RawEventId),
    /// Already in the log (a retried or duplicated delivery): nothing changed.
    Duplicate,
    /// Durable in the acceptance journal; stored, or found to be a
    /// duplicate, moments later (the accept observer hears which).
    Accepted,
}

/// Hears whether each journaled raw event was stored or was a duplicate.
pub type AcceptObserver = Box<dyn Fn(Source, IngestOutcome) + Send + Sync>;

/// What one write does with its projections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplyMode {
    /// Raw events and their projections in one transaction (import, outbox).
    Ingest,
    /// Raw events only, marked unprojected; the writer projects them next.
    Accept,
    /// Projections of raw events already in the log (replay, deferred projection).
    Reproject,
}

#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Most raw events one group commit takes.
    pub max_batch: usize,
    /// SQLite: fsync every commit (`synchronous=FULL`) so an ack survives power loss.
    pub sqlite_sync_full: bool,
    pub read_connections: u32,
    /// SQLite file: acknowledge webhooks once they are in the acceptance
    /// journal beside the database, not after a database commit. Off, or
    /// when another process holds the journal, `accept` commits to the database.
    pub accept_journal: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_batch: 5000,
            sqlite_sync_full: true,
            read_connections: 4,
            accept_journal: false,
        }
    }
}

/// Cheap to clone; all clones share one writer task.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    writer: mpsc::Sender<writer::WriteJob>,
    writer_done: Arc<tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>>,
    bus: Arc<dyn EventBus>,
    journal: Option<Arc<journal::Journal>>,
    observer: Arc<OnceLock<AcceptObserver>>,
}

impl Store {
    /// Opens (creating if needed) and migrates the database named by `url`:
    /// `sqlite://PATH` or `postgres://…`.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Store> {
        Self::open_with_bus(url, options, Arc::new(BroadcastBus::new(4096))).await
    }

    pub async fn open_with_bus(
        url: &str,
        options: StoreOptions,
        bus: Arc<dyn EventBus>,
    ) -> Result<Store> {
        let backend = Backend::connect(url, &options).await?;
        backend.migrate().await?;
        let (tx, rx) = mpsc::channel(1024);
        let journal = match backend.sqlite_file() {
            Some(file) if options.accept_journal => {
                open_journal(&backend, &journal::dir_for(file), tx.clone()).await?
            }
            _ => None,
        };
        let observer = Arc::new(OnceLock::new());
        let handle = tokio::spawn(writer::run(
            backend.clone(),
            rx,
            bus.clone(),
            options.max_batch,
            journal.clone(),
            observer.clone(),
        ));
        Ok(Store {
            backend,
            writer: tx,
            writer_done: Arc::new(tokio::sync::Mutex::new(Some(handle))),
            bus,
            journal,
            observer,
        })
    }

    /// Whether `accept` acknowledges from the acceptance journal.
    pub fn has_accept_journal(&self) -> bool {
        self.journal.is_some()
    }

    /// Webhooks acknowledged from the acceptance journal and not yet
    /// committed to the database.
    pub fn accept_backlog(&self) -> usize {
        self.journal.as_ref().map_or(0, |journal| journal.backlog())
    }

    /// Sets who hears the outcomes of journaled raw events (once per store).
    pub fn observe_accepted(&self, observer: AcceptObserver) {
        let _ = self.observer.set(observer);
    }

    /// Stores raw events and their projections durably; returns once committed.
    pub async fn ingest(&self, projections: Vec<Projection>) -> Result<Vec<IngestOutcome>> {
        self.write(projections, ApplyMode::Ingest).await
    }

    /// Stores raw events durably and returns once they are: in the
    /// acceptance journal (outcome `Accepted`) or committed to the database.
    /// Their projections (already parsed and analysed) are applied right
    /// after, off the caller's path. `flush` waits for them.
    pub async fn accept(&self, projections: Vec<Projection>) -> Result<Vec<IngestOutcome>> {
        match &self.journal {
            Some(journal) => {
                let count = projections.len();
                journal.append(projections).await?;
                Ok(vec![IngestOutcome::Accepted; count])
            }
            None => self.write(projections, ApplyMode::Accept).await,
        }
    }

    /// Re-applies projections of raw events that are already in the log (replay).
    pub async fn reproject(&self, projections: Vec<Projection>) -> Result<()> {
        self.write(projections, ApplyMode::Reproject)
            .await
            .map(|_| ())
    }

    /// Waits until every raw event accepted so far is projected.
    pub async fn flush(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(writer::WriteJob::Flush { reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)
    }

    /// Raw events accepted but never projected (the server stopped in
    /// between), oldest first.
    pub async fn unprojected_raw_events(&self, limit: i64) -> Result<Vec<RawEvent>> {
        self.backend.unprojected_raw_events(limit).await
    }

    async fn write(
        &self,
        projections: Vec<Projection>,
        mode: ApplyMode,
    ) -> Result<Vec<IngestOutcome>> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(writer::WriteJob::Ingest {
                projections,
                mode,
                reply,
            })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Empties every table derived from the raw log (the log itself and
    /// agent-authored notes stay), so that a replay can rebuild them.
    pub async fn reset_projections(&self) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(writer::WriteJob::Reset { reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Waits until every accepted write is committed, then stops the writer.
    pub async fn close(&self) {
        if let Some(journal) = &self.journal {
            journal.stop().await;
        }
        let (reply, answer) = oneshot::channel();
        if self
            .writer
            .send(writer::WriteJob::Shutdown { reply })
            .await
            .is_ok()
        {
            let _ = answer.await;
        }
        if let Some(handle) = self.writer_done.lock().await.take() {
            let _ = handle.await;
        }
        if let Some(journal) = &self.journal {
            journal.finish();
        }
        self.backend.close().await;
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<EventEnvelope> {
        self.bus.subscribe()
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    pub async fn ping(&self) -> Result<()> {
        self.backend.ping().await
    }

    pub async fn counts(&self) -> Result<Counts> {
        self.backend.counts().await
    }

    /// Raw events with id greater than `after`, oldest first.
    pub async fn raw_events_after(&self, after: i64, limit: i64) -> Result<Vec<RawEvent>> {
        self.backend.raw_events_after(after, limit).await
    }

    /// Every projected row as text, in a stable order: two stores with the
    /// same snapshot hold the same projections.
    pub async fn snapshot(&self) -> Result<Vec<String>> {
        self.backend.snapshot().await
    }

    pub async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<EventEnvelope>> {
        self.backend.events_after(after, limit).await
    }

    /// The newest committed event's number, 0 before the first.
    pub async fn last_event_seq(&self) -> Result<i64> {
        self.backend.last_event_seq().await
    }

    /// The newest conversations (by last message), `limit` at most.
    pub async fn recent_conversations(&self, limit: i64) -> Result<Vec<ConversationRow>> {
        self.conversations(limit, &ConversationFilter::default())
            .await
    }

    /// The conversations `filter` selects, newest message first.
    pub async fn conversations(
        &self,
        limit: i64,
        filter: &ConversationFilter<'_>,
    ) -> Result<Vec<ConversationRow>> {
        self.backend.recent_conversations(limit, filter).await
    }

    /// One contact's messages over all channels, newest first: the CRM
    /// timeline; `before` = (sent_at ms, id) of the previous page's last.
    pub async fn contact_messages(
        &self,
        contact_id: &str,
        limit: i64,
        before: Option<(i64, &str)>,
    ) -> Result<Vec<MessageRow>> {
        self.backend
            .contact_messages(contact_id, limit, before)
            .await
    }

    pub async fn conversation_messages(&self, conversation_id: &str) -> Result<Vec<MessageRow>> {
        self.backend.conversation_messages(conversation_id).await
    }

    pub async fn message_by_external_id(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Option<MessageRow>> {
        self.backend
            .message_by_external_id(channel, external_id)
            .await
    }

    pub async fn recent_mentions(&self, limit: i64) -> Result<Vec<MentionRow>> {
        self.backend.recent_mentions(limit).await
    }
}

/// Takes the acceptance journal in `dir`: stores what the last run left in
/// it as raw events (duplicates change nothing; the server projects the rest
/// at start), then starts appending.
async fn open_journal(
    backend: &Backend,
    dir: &std::path::Path,
    writer: mpsc::Sender<writer::WriteJob>,
) -> Result<Option<Arc<journal::Journal>>> {
    let Some(mut opened) = journal::Opened::open(dir)? else {
        tracing::warn!(
            journal = %dir.display(),
            "another process holds the acceptance journal; webhooks are acknowledged after a database commit"
        );
        return Ok(None);
    };
    let recovered: Vec<Projection> = std::mem::take(&mut opened.recovered)
        .into_iter()
        .map(|raw| Projection {
            raw,
            items: Vec::new(),
            parse_error: None,
        })
        .collect();
    let mut stored = 0;
    for chunk in recovered.chunks(1000) {
        let refs: Vec<&Projection> = chunk.iter().collect();
        let (outcomes, _) = backend.apply(&refs, ApplyMode::Accept).await?;
        stored += outcomes
            .iter()
            .filter(|outcome| matches!(outcome, IngestOutcome::Stored(_)))
            .count();
    }
    if !recovered.is_empty() {
        tracing::info!(
            records = recovered.len(),
            stored,
            "acceptance journal replayed into the raw log"
        );
    }
    Ok(Some(Arc::new(opened.start(writer)?)))
}
