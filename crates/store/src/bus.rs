//! The event bus: committed domain events go to every subscriber (SSE,
//! radar, automations). In-process broadcast now; NATS JetStream plugs in
//! behind the same trait for several nodes.

use resonanz_core::event::EventEnvelope;
use tokio::sync::broadcast;

pub trait EventBus: Send + Sync + 'static {
    /// Called by the writer after commit, in commit order.
    fn publish(&self, events: &[EventEnvelope]);
    fn subscribe(&self) -> broadcast::Receiver<EventEnvelope>;
}

pub struct BroadcastBus {
    sender: broadcast::Sender<EventEnvelope>,
}

impl BroadcastBus {
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity).0,
        }
    }
}

impl EventBus for BroadcastBus {
    fn publish(&self, events: &[EventEnvelope]) {
        for event in events {
            // No subscriber is fine: the event table is the durable record.
            let _ = self.sender.send(event.clone());
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<EventEnvelope> {
        self.sender.subscribe()
    }
}
