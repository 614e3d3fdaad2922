//! Automatic assignment (`[assignment] auto = true`): a conversation that a
//! customer opens or reopens and nobody holds goes to the next online agent
//! in a round robin who holds fewer than `max_open_per_agent` unresolved
//! conversations. The rotation and each agent's load are read from the
//! store, and a conversation is assigned only if it is still free, so
//! several nodes may run this at once and assign each conversation once.

use crate::app::AppState;
use crate::config::AssignmentSettings;
use resonanz_core::event::DomainEvent;
use resonanz_core::{Clock, ConversationStatus};
use resonanz_store::{Actor, AgentSummary, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The events consumer's name in the `cursors` table.
const CURSOR: &str = "auto_assign";
/// The rotation's name in `assignment_rotation`.
const ROTATION: &str = "default";
/// Who the history names for an automatic assignment.
const SYSTEM: &str = "system";
const SYSTEM_NAME: &str = "Automatik";

pub struct AutoAssigner {
    store: Store,
    clock: Arc<dyn Clock>,
    settings: AssignmentSettings,
}

pub struct AutoAssignerHandle {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl AutoAssignerHandle {
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The next agent after `last` (by name) with room for one more.
pub fn next_agent<'a>(
    online: &'a [(AgentSummary, i64)],
    last: Option<&str>,
    max_open: i64,
) -> Option<&'a AgentSummary> {
    let start = last
        .and_then(|id| online.iter().position(|(agent, _)| agent.id == id))
        .map_or(0, |at| at + 1);
    (0..online.len())
        .map(|step| &online[(start + step) % online.len()])
        .find(|(_, open)| *open < max_open)
        .map(|(agent, _)| agent)
}

impl AutoAssigner {
    pub fn new(state: &AppState) -> Self {
        Self {
            store: state.store.clone(),
            clock: state.clock.clone(),
            settings: state.settings.assignment.clone(),
        }
    }

    pub fn spawn(self) -> AutoAssignerHandle {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(self.run(stopped));
        AutoAssignerHandle { stop, task }
    }

    async fn run(self, mut stopped: watch::Receiver<bool>) {
        if !self.settings.auto {
            let _ = stopped.wait_for(|s| *s).await;
            return;
        }
        let mut events = self.store.subscribe();
        if let Err(err) = self.start_at_the_present().await {
            tracing::warn!(error = %err, "automatic assignment could not read its position");
        }
        let poll = Duration::from_millis(self.settings.poll_interval_ms.max(10));
        loop {
            if let Err(err) = self.round().await {
                tracing::warn!(error = %err, "automatic assignment failed, trying again later");
            }
            let wake = events.recv();
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                _ = tokio::time::sleep(poll) => {}
                _ = wake => {}
            }
        }
    }

    /// Switched on for the first time, it takes new conversations, not all
    /// of history (a cursor still at 0 has never moved).
    async fn start_at_the_present(&self) -> anyhow::Result<()> {
        if self.store.cursor(CURSOR).await? == 0 {
            let now = self.store.max_event_seq().await?;
            self.store.set_cursor(CURSOR, now).await?;
        }
        Ok(())
    }

    /// Assigns the conversations that customers wrote in since the last round.
    pub async fn round(&self) -> anyhow::Result<usize> {
        let after = self.store.cursor(CURSOR).await?;
        let batch = self.store.events_after(after, 500).await?;
        let mut assigned = 0;
        for envelope in &batch {
            if let DomainEvent::MessageReceived {
                conversation_id, ..
            } = &envelope.event
                && self.assign(conversation_id.as_str()).await?
            {
                assigned += 1;
            }
        }
        if let Some(last) = batch.last() {
            self.store.set_cursor(CURSOR, last.seq).await?;
        }
        Ok(assigned)
    }

    async fn assign(&self, conversation_id: &str) -> anyhow::Result<bool> {
        let now = self.clock.now();
        let state = self.store.work_state(conversation_id, now).await?;
        if state.assignee_id.is_some() || state.status != ConversationStatus::Open {
            return Ok(false);
        }
        let online = self.store.online_load(now).await?;
        let last = self.store.rotation(ROTATION).await?;
        let Some(agent) = next_agent(&online, last.as_deref(), self.settings.max_open_per_agent)
        else {
            return Ok(false);
        };
        let actor = Actor {
            agent_id: SYSTEM,
            agent_name: SYSTEM_NAME,
            now,
        };
        let taken = self
            .store
            .assign_if_free(conversation_id, agent, actor)
            .await?;
        if taken {
            self.store.set_rotation(ROTATION, &agent.id).await?;
        }
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn online(load: &[(&str, i64)]) -> Vec<(AgentSummary, i64)> {
        load.iter()
            .map(|(name, open)| {
                (
                    AgentSummary {
                        id: format!("ag_{name}"),
                        name: (*name).to_owned(),
                        role: "agent".into(),
                    },
                    *open,
                )
            })
            .collect()
    }

    #[test]
    fn the_round_robin_goes_on_after_the_last_and_skips_full_agents() {
        let team = online(&[("anna", 0), ("bernd", 5), ("carla", 1)]);
        let pick = |last, max| next_agent(&team, last, max).map(|a| a.name.as_str());
        assert_eq!(pick(None, 5), Some("anna"));
        assert_eq!(pick(Some("ag_anna"), 5), Some("carla"), "bernd is full");
        assert_eq!(pick(Some("ag_carla"), 5), Some("anna"));
        assert_eq!(pick(Some("ag_gone"), 10), Some("anna"));
        assert_eq!(pick(Some("ag_anna"), 1), Some("anna"), "only anna has room");
        assert_eq!(pick(None, 0), None);
        assert_eq!(next_agent(&[], None, 5).map(|a| a.name.as_str()), None);
    }
}
