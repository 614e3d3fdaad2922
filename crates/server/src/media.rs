//! The media worker: downloads inbound media (WhatsApp media ids through the
//! Graph API, Messenger and Instagram CDN links) into the content-addressed
//! blob store. The state of every attachment is kept in
//! the store (`media` table), so a failed download is retried with backoff
//! across restarts and shows its reason until it succeeds or fails for good.

use crate::app::AppState;
use crate::config::{MediaSettings, MetaSettings};
use futures::StreamExt;
use resonanz_channels::media::{BlobStore, RetryPolicy};
use resonanz_channels::outbound::{GraphClient, GraphConfig, Secret};
use resonanz_core::event::DomainEvent;
use resonanz_core::{Clock, MessageKind, Timestamp};
use resonanz_store::{MediaJob, Store};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// Rows taken per round; the rest wait for the next one.
const BATCH: i64 = 64;

pub struct MediaWorker {
    store: Store,
    clock: Arc<dyn Clock>,
    settings: MediaSettings,
    blobs: BlobStore,
    /// One Graph client per WhatsApp phone_number_id, with that number's token.
    clients: HashMap<String, GraphClient>,
    /// For Messenger/Instagram CDN links, which must not get a token.
    public: Option<GraphClient>,
}

/// Stops the worker after its current round.
pub struct MediaWorkerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl MediaWorkerHandle {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn graph_clients(meta: &MetaSettings) -> HashMap<String, GraphClient> {
    meta.whatsapp
        .iter()
        .filter(|account| account.access_token.is_set())
        .filter_map(|account| {
            let config = GraphConfig::new(
                meta.graph_base_url.clone(),
                meta.graph_api_version.clone(),
                Secret::new(account.access_token.expose()),
            );
            match GraphClient::new(config) {
                Ok(client) => Some((account.phone_number_id.clone(), client)),
                Err(err) => {
                    tracing::error!(account = %account.phone_number_id, error = %err, "no Graph client for media");
                    None
                }
            }
        })
        .collect()
}

impl MediaWorker {
    pub fn new(state: &AppState) -> Self {
        Self {
            store: state.store.clone(),
            clock: state.clock.clone(),
            settings: state.settings.media.clone(),
            blobs: BlobStore::new(state.settings.media.dir.clone()),
            clients: graph_clients(&state.settings.meta),
            public: GraphClient::new(GraphConfig::new(
                state.settings.meta.graph_base_url.clone(),
                state.settings.meta.graph_api_version.clone(),
                Secret::new(""),
            ))
            .map_err(|err| tracing::error!(error = %err, "no HTTP client for attachment links"))
            .ok(),
        }
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Runs until the handle is stopped.
    pub fn spawn(self) -> MediaWorkerHandle {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(self.run(stopped));
        MediaWorkerHandle { stop, task }
    }

    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let mut events = self.store.subscribe();
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        loop {
            if let Err(err) = self.round().await {
                tracing::warn!(error = %err, "media round failed, trying again later");
            }
            // Wake early when a media message arrives; otherwise poll for due retries.
            let wake = wait_for_media_message(&mut events);
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(poll) => {}
                _ = wake => {}
            }
        }
    }

    /// Registers new attachments and attempts every due download once.
    pub async fn round(&self) -> resonanz_store::Result<usize> {
        let now = self.clock.now();
        self.store.media_discover(now, BATCH).await?;
        let due = self.store.media_due(now, BATCH).await?;
        let count = due.len();
        futures::stream::iter(due)
            .for_each_concurrent(self.settings.concurrency.max(1), |job| self.attempt(job))
            .await;
        Ok(count)
    }

    async fn attempt(&self, job: MediaJob) {
        // One try per round: the backoff lives in the store and survives restarts.
        let once = RetryPolicy {
            attempts: 1,
            ..RetryPolicy::default()
        };
        if job.channel != "whatsapp" {
            let Some(client) = &self.public else {
                self.record_failure(&job, "no HTTP client for attachment links", true)
                    .await;
                return;
            };
            let result = client
                .fetch_attachment_url(&job.media_ref, &job.kind, &self.blobs, once)
                .await;
            self.record(&job, result).await;
            return;
        }
        let Some(client) = self.clients.get(&job.account) else {
            // A configuration fix makes it work; keep it and try again later.
            let reason = format!(
                "no access token configured for WhatsApp number {}",
                job.account
            );
            self.record_failure(&job, &reason, true).await;
            return;
        };
        let result = client
            .fetch_whatsapp_media(
                &job.media_ref,
                &job.kind,
                job.expected_sha256.as_deref(),
                &self.blobs,
                once,
            )
            .await;
        self.record(&job, result).await;
    }

    async fn record(
        &self,
        job: &MediaJob,
        result: Result<resonanz_channels::media::StoredMedia, resonanz_channels::media::MediaError>,
    ) {
        match result {
            Ok(stored) => {
                let now = self.clock.now();
                if let Err(err) = self
                    .store
                    .media_stored(
                        job,
                        &stored.blob.sha256,
                        stored.blob.size,
                        &stored.mime_type,
                        now,
                    )
                    .await
                {
                    // The blob is there; the next round downloads it again and records it.
                    tracing::warn!(message_id = %job.message_id, error = %err, "media stored but not recorded");
                } else if !self.blob_present(&stored.blob.sha256).await {
                    // The upload cleanup removed the same bytes (an agent's old
                    // unused upload) just before the row claimed them: fetch again.
                    self.record_failure(job, "file removed while being stored", true)
                        .await;
                } else {
                    tracing::info!(message_id = %job.message_id, sha256 = %stored.blob.sha256, size = stored.blob.size, "media stored");
                }
            }
            Err(err) => {
                tracing::warn!(message_id = %job.message_id, media_id = %job.media_ref, error = %err, "media download failed");
                self.record_failure(job, &err.to_string(), err.is_retryable())
                    .await;
            }
        }
    }

    async fn blob_present(&self, sha256: &str) -> bool {
        match self.blobs.path_for(sha256) {
            Some(path) => tokio::fs::try_exists(path).await.unwrap_or(true),
            None => true,
        }
    }

    async fn record_failure(&self, job: &MediaJob, reason: &str, retry: bool) {
        let now = self.clock.now();
        let retry_at = retry.then(|| {
            let delay = backoff(&self.settings, job.attempts);
            Timestamp(now.0.saturating_add(delay.as_millis() as i64))
        });
        if let Err(err) = self.store.media_failed(job, reason, retry_at, now).await {
            tracing::warn!(message_id = %job.message_id, error = %err, "media failure not recorded");
        }
    }
}

/// Delay before attempt `attempts + 1`: base · 2^attempts, capped.
pub fn backoff(settings: &MediaSettings, attempts: i64) -> Duration {
    let base = Duration::from_millis(settings.retry_base_ms);
    let max = Duration::from_secs(settings.retry_max_secs);
    let factor = 1u32 << attempts.clamp(0, 20);
    base.saturating_mul(factor).min(max)
}

async fn wait_for_media_message(
    events: &mut broadcast::Receiver<resonanz_core::event::EventEnvelope>,
) {
    loop {
        match events.recv().await {
            Ok(envelope) => {
                if let DomainEvent::MessageReceived { kind, .. } = envelope.event
                    && matches!(
                        kind,
                        MessageKind::Image
                            | MessageKind::Audio
                            | MessageKind::Video
                            | MessageKind::Document
                            | MessageKind::Sticker
                    )
                {
                    return;
                }
            }
            // Missed events may include media: look now.
            Err(broadcast::error::RecvError::Lagged(_)) => return,
            Err(broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_base_and_is_capped() {
        let settings = MediaSettings {
            retry_base_ms: 1000,
            retry_max_secs: 5,
            ..MediaSettings::default()
        };
        assert_eq!(backoff(&settings, 0), Duration::from_secs(1));
        assert_eq!(backoff(&settings, 1), Duration::from_secs(2));
        assert_eq!(backoff(&settings, 2), Duration::from_secs(4));
        assert_eq!(backoff(&settings, 3), Duration::from_secs(5));
        assert_eq!(backoff(&settings, 400), Duration::from_secs(5));
    }
}
