//! What a channel parser reads out of one raw event. The projector in the
//! store turns these into contacts, conversations, messages, mentions and reviews.

use crate::clock::Timestamp;
use crate::model::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "inbound", rename_all = "snake_case")]
pub enum Inbound {
    Message(InboundMessage),
    Status(StatusUpdate),
    Reaction(ReactionUpdate),
    /// The customer has read everything we sent up to this time (Messenger/IG watermark).
    ReadUpTo(ReadWatermark),
    /// A customer's channel identity was replaced (WhatsApp `user_id_update`).
    IdentityChanged(IdentityChange),
    Mention(Mention),
    Review(Review),
    /// Valid input we do not model (yet): kept with its raw JSON, never dropped.
    Unrecognized(Unrecognized),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub channel: Channel,
    /// Business account: WhatsApp phone_number_id, Facebook page id, Instagram id.
    pub account: String,
    /// Outbound for echoes of messages our business sent from elsewhere.
    pub direction: Direction,
    /// The customer's identity; the first one decides the contact.
    pub customer: Vec<Identity>,
    pub profile_name: Option<String>,
    pub external_id: String,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub location: Option<Location>,
    pub reply_to: Option<String>,
    pub sent_at: Timestamp,
    /// The message object exactly as the channel sent it.
    pub raw: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusUpdate {
    pub channel: Channel,
    pub account: String,
    /// External id of our outbound message.
    pub external_id: String,
    pub state: DeliveryState,
    pub at: Timestamp,
    pub raw: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReactionUpdate {
    pub channel: Channel,
    pub account: String,
    pub customer: Vec<Identity>,
    /// External id of the message reacted to.
    pub target_external_id: String,
    /// `None` when the customer removed the reaction.
    pub emoji: Option<String>,
    pub at: Timestamp,
    pub raw: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReadWatermark {
    pub channel: Channel,
    pub account: String,
    pub customer: Vec<Identity>,
    pub up_to: Timestamp,
}

/// The channel replaced some of a customer's identities with new ones.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdentityChange {
    pub channel: Channel,
    pub account: String,
    /// Identities that stay (a phone number): they find the contact too.
    pub kept: Vec<Identity>,
    pub previous: Vec<Identity>,
    pub current: Vec<Identity>,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unrecognized {
    /// e.g. `whatsapp:message_template_status_update`.
    pub kind: String,
    pub raw: serde_json::Value,
}
