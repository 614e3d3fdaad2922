//! Cleaning out uploads nobody sends. An agent's file (`POST /api/media`)
//! stays in the blob store while any outbox row names it (sent, queued,
//! failed or blocked) or an inbound file has the same bytes; otherwise it is
//! deleted, row and bytes, once `[media] upload_retention_days` have passed
//! since it was last uploaded or named in a draft. `serve` runs this every
//! `upload_cleanup_interval_secs`; `resonanz clean-uploads` runs it once.
//!
//! Races with new uses are closed in the store and the blob store: the row
//! goes in one conditional statement (a draft touches the file first), and
//! the bytes are set aside and checked once more before they are deleted, so
//! an upload of the same content meanwhile keeps its file.

use crate::app::AppState;
use crate::config::Settings;
use resonanz_channels::media::BlobStore;
use resonanz_core::{Clock, Timestamp};
use resonanz_store::Store;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const DAY_MS: i64 = 24 * 3_600_000;
/// Rows looked at per query.
const BATCH: i64 = 200;

/// What one pass removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Upload rows deleted.
    pub removed: usize,
    /// Their size in bytes.
    pub bytes: u64,
    /// Deleted rows whose bytes stayed because something else uses them now.
    pub blobs_kept: usize,
    /// Uploads last used before this time were candidates (`None`: cleanup off).
    pub cutoff: Option<Timestamp>,
}

impl fmt::Display for CleanupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cutoff {
            None => f.write_str("upload cleanup is off ([media] upload_retention_days = 0)"),
            Some(cutoff) => write!(
                f,
                "removed {} unused uploads ({} bytes) last used before {}",
                self.removed,
                self.bytes,
                cutoff.to_rfc3339()
            ),
        }
    }
}

/// One pass with the settings' blob store and retention.
pub async fn run_once(
    store: &Store,
    settings: &Settings,
    now: Timestamp,
) -> anyhow::Result<CleanupReport> {
    let blobs = BlobStore::new(settings.media.dir.clone());
    clean_unused_uploads(store, &blobs, now, settings.media.upload_retention_days).await
}

/// Deletes every upload unused for `retention_days` (0: none).
pub async fn clean_unused_uploads(
    store: &Store,
    blobs: &BlobStore,
    now: Timestamp,
    retention_days: u64,
) -> anyhow::Result<CleanupReport> {
    let mut report = CleanupReport::default();
    if retention_days == 0 {
        return Ok(report);
    }
    let days = i64::try_from(retention_days).unwrap_or(i64::MAX / DAY_MS);
    let cutoff = now.plus_millis(-days.saturating_mul(DAY_MS));
    report.cutoff = Some(cutoff);
    loop {
        let files = store.unused_outbound_files(cutoff, BATCH).await?;
        let full = files.len() as i64 == BATCH;
        let mut progress = false;
        for file in files {
            // Checked again in the delete itself: a draft may name it now.
            if !store
                .delete_unused_outbound_file(&file.sha256, cutoff)
                .await?
            {
                continue;
            }
            progress = true;
            report.removed += 1;
            report.bytes += u64::try_from(file.size).unwrap_or(0);
            if let Some(aside) = blobs.set_aside(&file.sha256).await? {
                if store.blob_in_use(&file.sha256).await? {
                    blobs.put_back(&file.sha256, &aside).await?;
                    report.blobs_kept += 1;
                } else {
                    blobs.discard(&aside).await?;
                }
            }
            tracing::info!(
                sha256 = %file.sha256,
                kind = %file.kind,
                size = file.size,
                "unused upload removed"
            );
        }
        if !full || !progress {
            break;
        }
    }
    Ok(report)
}

/// The periodic cleanup inside `serve`.
pub struct UploadCleaner {
    store: Store,
    blobs: BlobStore,
    clock: Arc<dyn Clock>,
    retention_days: u64,
    interval: Duration,
}

/// Stops the cleaner after its current pass.
pub struct UploadCleanerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl UploadCleanerHandle {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl UploadCleaner {
    pub fn new(app: &AppState) -> Self {
        let media = &app.settings.media;
        Self {
            store: app.store.clone(),
            blobs: BlobStore::new(media.dir.clone()),
            clock: app.clock.clone(),
            retention_days: media.upload_retention_days,
            interval: Duration::from_secs(media.upload_cleanup_interval_secs.max(1)),
        }
    }

    /// A pass at start (a server restarted daily would otherwise never get
    /// to one), then one per interval.
    pub fn spawn(self) -> UploadCleanerHandle {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            if self.retention_days == 0 {
                return;
            }
            loop {
                let now = self.clock.now();
                match clean_unused_uploads(&self.store, &self.blobs, now, self.retention_days).await
                {
                    Ok(report) if report.removed > 0 => {
                        tracing::info!(
                            removed = report.removed,
                            bytes = report.bytes,
                            "unused uploads cleaned out"
                        );
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::warn!(error = %err, "upload cleanup failed, trying again later")
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(self.interval) => {}
                    _ = stopped.wait_for(|s| *s) => break,
                }
            }
        });
        UploadCleanerHandle { stop, task }
    }
}
