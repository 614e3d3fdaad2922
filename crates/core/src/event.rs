//! Domain events: what changed, published on the bus after commit and kept
//! in the store's event table (the CRM timeline and radar read them).

use crate::analysis::Sentiment;
use crate::clock::Timestamp;
use crate::ids::*;
use crate::model::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DomainEvent {
    ContactCreated {
        contact_id: ContactId,
        display_name: Option<String>,
    },
    MessageReceived {
        message_id: MessageId,
        conversation_id: ConversationId,
        contact_id: ContactId,
        channel: Channel,
        kind: MessageKind,
        sentiment: Option<Sentiment>,
    },
    MessageEchoed {
        message_id: MessageId,
        conversation_id: ConversationId,
        channel: Channel,
    },
    DeliveryChanged {
        message_id: MessageId,
        state: DeliveryState,
    },
    ReactionChanged {
        message_id: MessageId,
        emoji: Option<String>,
    },
    MentionCaptured {
        mention_id: MentionId,
        platform: Platform,
        sentiment: Option<Sentiment>,
    },
    ReviewCaptured {
        review_id: ReviewId,
        stars: Stars,
    },
    NoteAdded {
        note_id: NoteId,
        contact_id: ContactId,
    },
    /// The contact is now reached by `current` instead of `previous`.
    IdentityChanged {
        contact_id: ContactId,
        previous: Vec<Identity>,
        current: Vec<Identity>,
    },
    Unrecognized {
        raw_event_id: RawEventId,
        kind: String,
    },
    /// An agent changed a conversation's status or assignee, or wrote a note.
    /// (Agent-authored: kept in the workflow tables, which a replay leaves alone.)
    ConversationChanged {
        conversation_id: String,
        /// `status`, `assignee`, `note`, `correction`.
        change: String,
        agent_id: String,
    },
    /// A note mentions this agent.
    AgentMentioned {
        agent_id: String,
        conversation_id: String,
        note_id: i64,
    },
}

impl DomainEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            DomainEvent::ContactCreated { .. } => "contact_created",
            DomainEvent::MessageReceived { .. } => "message_received",
            DomainEvent::MessageEchoed { .. } => "message_echoed",
            DomainEvent::DeliveryChanged { .. } => "delivery_changed",
            DomainEvent::ReactionChanged { .. } => "reaction_changed",
            DomainEvent::MentionCaptured { .. } => "mention_captured",
            DomainEvent::ReviewCaptured { .. } => "review_captured",
            DomainEvent::NoteAdded { .. } => "note_added",
            DomainEvent::IdentityChanged { .. } => "identity_changed",
            DomainEvent::Unrecognized { .. } => "unrecognized",
            DomainEvent::ConversationChanged { .. } => "conversation_changed",
            DomainEvent::AgentMentioned { .. } => "agent_mentioned",
        }
    }
}

/// A committed event with its position in the event table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub seq: i64,
    pub at: Timestamp,
    pub event: DomainEvent,
}
