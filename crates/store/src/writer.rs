//! The single writer task: group commit over whatever is queued.
//!
//! Webhooks are *accepted*: their raw events are committed (one fsync for the
//! group) and answered at once, and their projections, already parsed and
//! analysed by the caller, are applied in a second, larger transaction as
//! soon as no acceptance is waiting. Every other write first applies what is
//! pending, so projections always follow the raw log's order.

use crate::backend::Backend;
use crate::bus::EventBus;
use crate::{ApplyMode, IngestOutcome, Projection, Result};
use resonanz_core::RawEventId;
use std::sync::Arc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

/// Pending projections applied at once even while acceptances keep coming,
/// so that under sustained load the projections keep up.
const PROJECT_AT: usize = 1000;

/// Longest an accepted raw event waits for its projection while
/// acceptances keep arriving: projecting several acceptance groups at once
/// costs one commit instead of one per group.
const PROJECT_WITHIN: std::time::Duration = std::time::Duration::from_millis(10);

/// At most one WAL checkpoint this often. Small, frequent checkpoints keep
/// the WAL short (reused in place) and each database fsync small, so an
/// acknowledgement's fsync never queues behind megabytes of checkpoint
/// writes: at 2,000 deliveries/s the p99 ack latency about halves (A/B:
/// 19-26 ms with 5 ms against 45-52 ms with 250 ms), for about 60 % more
/// bytes written per delivery.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

pub(crate) enum WriteJob {
    Ingest {
        projections: Vec<Projection>,
        mode: ApplyMode,
        reply: oneshot::Sender<Result<Vec<IngestOutcome>>>,
    },
    /// Answers once everything accepted so far is projected.
    Flush {
        reply: oneshot::Sender<()>,
    },
    Reset {
        reply: oneshot::Sender<Result<()>>,
    },
    Shutdown {
        reply: oneshot::Sender<()>,
    },
}

struct Pending {
    projections: Vec<Projection>,
    reply: oneshot::Sender<Result<Vec<IngestOutcome>>>,
}

struct Writer {
    backend: Backend,
    bus: Arc<dyn EventBus>,
    max_batch: usize,
    /// Accepted (committed, answered) raw events whose projections wait.
    unprojected: Vec<Projection>,
    /// Commits wake the checkpointer; it ends when the writer is dropped.
    committed: mpsc::Sender<()>,
    /// When the oldest of `unprojected` was accepted.
    oldest_unprojected: Option<tokio::time::Instant>,
}

pub(crate) async fn run(
    backend: Backend,
    mut jobs: mpsc::Receiver<WriteJob>,
    bus: Arc<dyn EventBus>,
    max_batch: usize,
) {
    let (committed, mut wakeups) = mpsc::channel::<()>(1);
    let checkpointer = backend.clone();
    let checkpoints = tokio::spawn(async move {
        while wakeups.recv().await.is_some() {
            if let Err(err) = checkpointer.checkpoint().await {
                tracing::warn!(error = %err, "WAL checkpoint failed");
            }
            // Coalesce: a checkpoint per commit would cost more than it saves.
            tokio::time::sleep(CHECKPOINT_EVERY).await;
        }
    });
    let mut writer = Writer {
        backend,
        bus,
        max_batch,
        unprojected: Vec::new(),
        committed,
        oldest_unprojected: None,
    };
    let mut held: Option<WriteJob> = None;
    let mut shutdown_reply = None;
    loop {
        let first = match held.take() {
            Some(job) => job,
            None => match jobs.try_recv() {
                Ok(job) => job,
                Err(TryRecvError::Empty) if !writer.unprojected.is_empty() => {
                    let due = writer
                        .oldest_unprojected
                        .unwrap_or_else(tokio::time::Instant::now)
                        + PROJECT_WITHIN;
                    match tokio::time::timeout_at(due, jobs.recv()).await {
                        Ok(Some(job)) => job,
                        Ok(None) => break,
                        Err(_) => {
                            writer.project_accepted().await;
                            continue;
                        }
                    }
                }
                Err(TryRecvError::Empty) => match jobs.recv().await {
                    Some(job) => job,
                    None => break,
                },
                Err(TryRecvError::Disconnected) => break,
            },
        };
        let (first, mode) = match first {
            WriteJob::Flush { reply } => {
                writer.project_accepted().await;
                let _ = reply.send(());
                continue;
            }
            WriteJob::Reset { reply } => {
                writer.project_accepted().await;
                let _ = reply.send(writer.backend.reset_projections().await);
                continue;
            }
            WriteJob::Shutdown { reply } => {
                shutdown_reply = Some(reply);
                break;
            }
            WriteJob::Ingest {
                projections,
                mode,
                reply,
            } => (Pending { projections, reply }, mode),
        };
        // Take everything already waiting (up to the batch size): one commit for all.
        let mut rows = first.projections.len();
        let mut group = vec![first];
        while rows < writer.max_batch {
            match jobs.try_recv() {
                Ok(WriteJob::Ingest {
                    projections,
                    mode: m,
                    reply,
                }) if m == mode => {
                    rows += projections.len();
                    group.push(Pending { projections, reply });
                }
                Ok(other) => {
                    held = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        if mode == ApplyMode::Accept {
            writer.accept(group).await;
            let due = writer
                .oldest_unprojected
                .is_some_and(|oldest| oldest.elapsed() >= PROJECT_WITHIN);
            if due || writer.unprojected.len() >= PROJECT_AT {
                writer.project_accepted().await;
            }
        } else {
            writer.project_accepted().await;
            writer.commit_group(group, mode).await;
        }
    }
    writer.project_accepted().await;
    // The checkpointer ends once the writer (its wake-up sender) is gone. Waiting for it
    // keeps a last checkpoint from running against a pool the caller closes next.
    drop(writer);
    let _ = checkpoints.await;
    if let Some(reply) = shutdown_reply {
        let _ = reply.send(());
    }
}

impl Writer {
    async fn accept(&mut self, group: Vec<Pending>) {
        let all: Vec<&Projection> = group.iter().flat_map(|p| p.projections.iter()).collect();
        match self.backend.apply(&all, ApplyMode::Accept).await {
            Ok((outcomes, _)) => {
                let _ = self.committed.try_send(());
                let mut outcomes = outcomes.into_iter();
                for pending in group {
                    let mine: Vec<IngestOutcome> =
                        outcomes.by_ref().take(pending.projections.len()).collect();
                    self.answer_accepted(pending, mine);
                }
            }
            Err(err) => {
                // One bad request must not fail its neighbours: retry one by one.
                tracing::warn!(error = %err, jobs = group.len(), "accepting raw events failed, retrying singly");
                for pending in group {
                    let refs: Vec<&Projection> = pending.projections.iter().collect();
                    match self.backend.apply(&refs, ApplyMode::Accept).await {
                        Ok((outcomes, _)) => self.answer_accepted(pending, outcomes),
                        Err(err) => {
                            let _ = pending.reply.send(Err(err));
                        }
                    }
                }
            }
        }
    }

    fn answer_accepted(&mut self, pending: Pending, outcomes: Vec<IngestOutcome>) {
        for (mut projection, outcome) in pending.projections.into_iter().zip(&outcomes) {
            if let IngestOutcome::Stored(id) = outcome {
                projection.raw.id = Some(*id);
                self.oldest_unprojected
                    .get_or_insert_with(tokio::time::Instant::now);
                self.unprojected.push(projection);
            }
        }
        let _ = pending.reply.send(Ok(outcomes));
    }

    /// Applies the projections of accepted raw events. One that fails stays
    /// unprojected in the log and is retried when the server next starts.
    async fn project_accepted(&mut self) {
        self.oldest_unprojected = None;
        if self.unprojected.is_empty() {
            return;
        }
        let accepted = std::mem::take(&mut self.unprojected);
        let all: Vec<&Projection> = accepted.iter().collect();
        match self.backend.apply(&all, ApplyMode::Reproject).await {
            Ok((_, events)) => {
                let _ = self.committed.try_send(());
                self.bus.publish(&events);
            }
            Err(err) => {
                tracing::warn!(error = %err, raw_events = all.len(), "projecting accepted raw events failed, retrying singly");
                for projection in all {
                    match self
                        .backend
                        .apply(&[projection], ApplyMode::Reproject)
                        .await
                    {
                        Ok((_, events)) => self.bus.publish(&events),
                        Err(err) => tracing::error!(
                            error = %err,
                            raw_event = projection.raw.id.map(|RawEventId(id)| id),
                            "raw event left unprojected"
                        ),
                    }
                }
            }
        }
    }

    async fn commit_group(&self, group: Vec<Pending>, mode: ApplyMode) {
        let all: Vec<&Projection> = group.iter().flat_map(|p| p.projections.iter()).collect();
        match self.backend.apply(&all, mode).await {
            Ok((outcomes, events)) => {
                let _ = self.committed.try_send(());
                let mut outcomes = outcomes.into_iter();
                for pending in group {
                    let mine: Vec<IngestOutcome> =
                        outcomes.by_ref().take(pending.projections.len()).collect();
                    let _ = pending.reply.send(Ok(mine));
                }
                self.bus.publish(&events);
            }
            Err(err) if group.len() > 1 => {
                // One bad request must not fail its neighbours: retry one by one.
                tracing::warn!(error = %err, jobs = group.len(), "group commit failed, retrying jobs singly");
                for pending in group {
                    let refs: Vec<&Projection> = pending.projections.iter().collect();
                    let result = self
                        .backend
                        .apply(&refs, mode)
                        .await
                        .map(|(outcomes, events)| {
                            self.bus.publish(&events);
                            outcomes
                        });
                    let _ = pending.reply.send(result);
                }
            }
            Err(err) => {
                if let Some(pending) = group.into_iter().next() {
                    let _ = pending.reply.send(Err(err));
                }
            }
        }
    }
}
