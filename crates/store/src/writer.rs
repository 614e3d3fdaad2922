//! The single writer task: group commit over whatever is queued.

use crate::backend::Backend;
use crate::bus::EventBus;
use crate::{IngestOutcome, Projection, Result};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

pub(crate) enum WriteJob {
    Ingest {
        projections: Vec<Projection>,
        reproject: bool,
        reply: oneshot::Sender<Result<Vec<IngestOutcome>>>,
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
    reproject: bool,
    reply: oneshot::Sender<Result<Vec<IngestOutcome>>>,
}

pub(crate) async fn run(
    backend: Backend,
    mut jobs: mpsc::Receiver<WriteJob>,
    bus: Arc<dyn EventBus>,
    max_batch: usize,
) {
    let mut held: Option<WriteJob> = None;
    loop {
        let first = match held.take() {
            Some(job) => job,
            None => match jobs.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut group = match first {
            WriteJob::Reset { reply } => {
                let _ = reply.send(backend.reset_projections().await);
                continue;
            }
            WriteJob::Shutdown { reply } => {
                let _ = reply.send(());
                return;
            }
            WriteJob::Ingest {
                projections,
                reproject,
                reply,
            } => vec![Pending {
                projections,
                reproject,
                reply,
            }],
        };
        // Take everything already waiting (up to the batch size): one commit for all.
        let mut rows: usize = group[0].projections.len();
        let reproject = group[0].reproject;
        while rows < max_batch {
            match jobs.try_recv() {
                Ok(WriteJob::Ingest {
                    projections,
                    reproject: r,
                    reply,
                }) if r == reproject => {
                    rows += projections.len();
                    group.push(Pending {
                        projections,
                        reproject: r,
                        reply,
                    });
                }
                Ok(other) => {
                    held = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        commit_group(&backend, group, reproject, bus.as_ref()).await;
    }
}

async fn commit_group(backend: &Backend, group: Vec<Pending>, reproject: bool, bus: &dyn EventBus) {
    let all: Vec<&Projection> = group.iter().flat_map(|p| p.projections.iter()).collect();
    match backend.apply(&all, reproject).await {
        Ok((outcomes, events)) => {
            let mut outcomes = outcomes.into_iter();
            for pending in group {
                let mine: Vec<IngestOutcome> =
                    outcomes.by_ref().take(pending.projections.len()).collect();
                let _ = pending.reply.send(Ok(mine));
            }
            bus.publish(&events);
        }
        Err(err) if group.len() > 1 => {
            // One bad request must not fail its neighbours: retry one by one.
            tracing::warn!(error = %err, jobs = group.len(), "group commit failed, retrying jobs singly");
            for pending in group {
                let refs: Vec<&Projection> = pending.projections.iter().collect();
                let result = backend
                    .apply(&refs, reproject)
                    .await
                    .map(|(outcomes, events)| {
                        bus.publish(&events);
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
