//! Messenger / Instagram Send API payloads.

use super::ValidationError;
use resonanz_core::Channel;
use resonanz_core::rules::Delivery;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagingType {
    /// Inside the 24 h standard window.
    Response,
    Update,
    /// `MESSAGE_TAG` + `HUMAN_AGENT`: a human reply within 7 days.
    HumanAgent,
}

impl MessagingType {
    /// The messaging type the rule check decided on.
    pub fn from_delivery(delivery: Delivery) -> Option<Self> {
        match delivery {
            Delivery::MessagingResponse => Some(MessagingType::Response),
            Delivery::HumanAgentTag => Some(MessagingType::HumanAgent),
            Delivery::WhatsAppSession | Delivery::WhatsAppTemplate => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachmentType {
    Image,
    Audio,
    Video,
    File,
}

impl AttachmentType {
    fn as_str(self) -> &'static str {
        match self {
            AttachmentType::Image => "image",
            AttachmentType::Audio => "audio",
            AttachmentType::Video => "video",
            AttachmentType::File => "file",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum MetaContent {
    Text(String),
    Attachment { kind: AttachmentType, url: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetaMessage {
    /// PSID or IGSID.
    pub recipient_id: String,
    pub messaging_type: MessagingType,
    pub content: MetaContent,
}

impl MetaMessage {
    pub fn validate(&self, channel: Channel) -> Result<(), ValidationError> {
        if self.recipient_id.trim().is_empty() {
            return Err(ValidationError::BadRecipient(self.recipient_id.clone()));
        }
        match &self.content {
            MetaContent::Text(text) => {
                if text.trim().is_empty() {
                    return Err(ValidationError::Empty("message.text"));
                }
                match channel {
                    // Messenger: under 2000 characters.
                    Channel::Messenger if text.chars().count() >= 2000 => {
                        Err(ValidationError::TooLong {
                            field: "message.text",
                            max: 1999,
                            len: text.chars().count(),
                        })
                    }
                    // Instagram counts UTF-8 bytes: at most 1000.
                    Channel::Instagram if text.len() > 1000 => Err(ValidationError::TooLong {
                        field: "message.text (bytes)",
                        max: 1000,
                        len: text.len(),
                    }),
                    _ => Ok(()),
                }
            }
            MetaContent::Attachment { url, .. } => {
                if url.trim().is_empty() {
                    Err(ValidationError::Empty("attachment.url"))
                } else {
                    Ok(())
                }
            }
        }
    }

    pub fn to_json(&self) -> Value {
        let message = match &self.content {
            MetaContent::Text(text) => json!({ "text": text }),
            MetaContent::Attachment { kind, url } => json!({
                "attachment": { "type": kind.as_str(), "payload": { "url": url, "is_reusable": true } }
            }),
        };
        let mut body = json!({ "recipient": { "id": self.recipient_id }, "message": message });
        match self.messaging_type {
            MessagingType::Response => body["messaging_type"] = json!("RESPONSE"),
            MessagingType::Update => body["messaging_type"] = json!("UPDATE"),
            MessagingType::HumanAgent => {
                body["messaging_type"] = json!("MESSAGE_TAG");
                body["tag"] = json!("HUMAN_AGENT");
            }
        }
        body
    }
}

/// `sender_action: MARK_SEEN` body.
pub fn mark_seen_json(recipient_id: &str) -> Value {
    json!({ "recipient": { "id": recipient_id }, "sender_action": "MARK_SEEN" })
}
