//! The single writer task: group commit over whatever is queued.
//!
//! Webhooks are *accepted*: their raw events are committed (one fsync for the
//! group) and answered at once, and their projections, already parsed and
//! analysed by the caller, are applied in a second, larger transaction as
//! soon as no acceptance is waiting. Every other write first applies what is
//! pending, so projections always follow the raw log's order.
//!
//! With an acceptance journal (the embedded store), webhooks are already
//! durable in the journal when they reach the writer: their raw events and
//! projections are committed together, in the same batches.

use crate::backend::Backend;
use crate::bus::EventBus;
use crate::journal::Journal;
use crate::{AcceptObserver, ApplyMode, IngestOutcome, Projection, Result};
use resonanz_core::RawEventId;
use std::sync::{Arc, OnceLock};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot};

/// Pending projections applied at once even while acceptances keep coming,
/// so that under sustained load the projections keep up.
const PROJECT_AT: usize = 4000;

/// Longest an accepted raw event waits for its projection while
/// acceptances keep arriving: projecting several acceptance groups at once
/// costs one commit instead of one per group, and a large commit writes each
/// page of a random-key index once for many rows. bench webhooks (journal),
/// A/B: 40 ms gives 16.7-17.2k deliveries/s and 8 KB written per delivery
/// against 13.8-14.7k and 12-13 KB with 10 ms; 100 ms wrote less still but
/// doubled the p99 acknowledgement at 2,000/s.
const PROJECT_WITHIN: std::time::Duration = std::time::Duration::from_millis(40);

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
    /// Raw events durable in the acceptance journal through sequence
    /// number `through`, to be stored with their projections.
    /// `permits` go back to the journal's backlog once they are stored.
    Journaled {
        projections: Vec<Projection>,
        through: u64,
        permits: usize,
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
    /// When the oldest of `unprojected` or `journaled` was accepted.
    oldest_unprojected: Option<tokio::time::Instant>,
    /// Journaled raw events not yet in the database.
    journaled: Vec<Projection>,
    journaled_through: u64,
    /// Backlog permits held by `journaled`.
    journaled_permits: usize,
    /// A journaled raw event could not be stored: the journal keeps all.
    journal_stuck: bool,
    journal: Option<Arc<Journal>>,
    observer: Arc<OnceLock<AcceptObserver>>,
}

pub(crate) async fn run(
    backend: Backend,
    mut jobs: mpsc::Receiver<WriteJob>,
    bus: Arc<dyn EventBus>,
    max_batch: usize,
    journal: Option<Arc<Journal>>,
    observer: Arc<OnceLock<AcceptObserver>>,
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
        journaled: Vec::new(),
        journaled_through: 0,
        journaled_permits: 0,
        journal_stuck: false,
        journal,
        observer,
    };
    let mut held: Option<WriteJob> = None;
    let mut shutdown_reply = None;
    loop {
        let first = match held.take() {
            Some(job) => job,
            None => match jobs.try_recv() {
                Ok(job) => job,
                Err(TryRecvError::Empty) if writer.has_pending() => {
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
            WriteJob::Journaled {
                projections,
                through,
                permits,
            } => {
                writer.journaled(projections, through, permits);
                if writer.projection_due() {
                    writer.project_accepted().await;
                }
                continue;
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
            if writer.projection_due() {
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
    fn has_pending(&self) -> bool {
        !self.unprojected.is_empty() || !self.journaled.is_empty()
    }

    fn projection_due(&self) -> bool {
        let due = self
            .oldest_unprojected
            .is_some_and(|oldest| oldest.elapsed() >= PROJECT_WITHIN);
        due || self.unprojected.len() + self.journaled.len() >= PROJECT_AT
    }

    fn journaled(&mut self, projections: Vec<Projection>, through: u64, permits: usize) {
        self.journaled_permits += permits;
        if projections.is_empty() {
            return;
        }
        self.oldest_unprojected
            .get_or_insert_with(tokio::time::Instant::now);
        self.journaled_through = self.journaled_through.max(through);
        self.journaled.extend(projections);
    }

    fn observe(&self, projection: &Projection, outcome: IngestOutcome) {
        if let Some(observer) = self.observer.get() {
            observer(projection.raw.source, outcome);
        }
    }

    /// Stores journaled raw events with their projections, then lets the
    /// journal drop them. A batch that fails is retried singly; one that
    /// still fails is stored raw (projected at the next start). Should the
    /// database refuse even that, the journal keeps everything from there on
    /// and the next start applies it again.
    async fn apply_journaled(&mut self) {
        if self.journaled.is_empty() {
            return;
        }
        let journaled = std::mem::take(&mut self.journaled);
        let through = std::mem::take(&mut self.journaled_through);
        let permits = std::mem::take(&mut self.journaled_permits);
        let all: Vec<&Projection> = journaled.iter().collect();
        let mut all_stored = true;
        match self.backend.apply(&all, ApplyMode::Ingest).await {
            Ok((outcomes, events)) => {
                let _ = self.committed.try_send(());
                self.bus.publish(&events);
                for (projection, outcome) in journaled.iter().zip(outcomes) {
                    self.observe(projection, outcome);
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, raw_events = all.len(), "storing journaled raw events failed, retrying singly");
                for projection in &journaled {
                    match self.backend.apply(&[projection], ApplyMode::Ingest).await {
                        Ok((outcomes, events)) => {
                            self.bus.publish(&events);
                            self.observe(projection, outcomes[0]);
                        }
                        Err(err) => {
                            tracing::error!(error = %err, "projecting a journaled raw event failed; storing it unprojected");
                            match self.backend.apply(&[projection], ApplyMode::Accept).await {
                                Ok((outcomes, _)) => self.observe(projection, outcomes[0]),
                                Err(err) => {
                                    tracing::error!(error = %err, "a journaled raw event cannot be stored; it stays in the journal");
                                    all_stored = false;
                                }
                            }
                        }
                    }
                }
                let _ = self.committed.try_send(());
            }
        }
        if !all_stored {
            self.journal_stuck = true;
        }
        if let Some(journal) = &self.journal {
            if !self.journal_stuck {
                journal.applied(through);
            }
            journal.release(permits);
        }
    }

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
        self.project_unprojected().await;
        self.apply_journaled().await;
    }

    async fn project_unprojected(&mut self) {
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
