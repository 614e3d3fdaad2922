//! The domain entities as the store projects them.

use crate::analysis::Analysis;
use crate::clock::Timestamp;
use crate::ids::*;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Error for a value that does not parse into a domain enum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind}: {value:?}")]
pub struct UnknownValue {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(UnknownValue { kind: stringify!($name), value: other.to_owned() }),
                }
            }
        }
    };
}

string_enum!(
    /// A private messaging channel.
    Channel {
        WhatsApp => "whatsapp",
        Messenger => "messenger",
        Instagram => "instagram",
    }
);

string_enum!(
    /// Where the team stands with a conversation. A new customer message
    /// reopens a pending, snoozed or resolved one; a snooze also ends at its time.
    ConversationStatus {
        Open => "open",
        Pending => "pending",
        Snoozed => "snoozed",
        Resolved => "resolved",
    }
);

string_enum!(
    /// Where a public mention was posted.
    Platform {
        X => "x",
        Facebook => "facebook",
        Instagram => "instagram",
        YouTube => "youtube",
        TikTok => "tiktok",
        LinkedIn => "linkedin",
        News => "news",
        Blog => "blog",
        Forum => "forum",
        Other => "other",
    }
);

string_enum!(
    /// The kind of a channel identity; one contact may have many.
    IdentityKind {
        WhatsApp => "whatsapp",
        WhatsAppBsuid => "whatsapp_bsuid",
        MessengerPsid => "messenger_psid",
        InstagramId => "instagram_id",
        XHandle => "x_handle",
        Email => "email",
        Phone => "phone",
    }
);

string_enum!(
    Direction {
        Inbound => "in",
        Outbound => "out",
    }
);

string_enum!(
    /// What a message carries, as the channel names it. Unknown types are kept
    /// as `Unknown` together with their raw payload, never dropped.
    MessageKind {
        Text => "text",
        Image => "image",
        Audio => "audio",
        Video => "video",
        Document => "document",
        Sticker => "sticker",
        Location => "location",
        Contacts => "contacts",
        Interactive => "interactive",
        Button => "button",
        Reaction => "reaction",
        Order => "order",
        System => "system",
        Postback => "postback",
        StoryReply => "story_reply",
        StoryMention => "story_mention",
        Template => "template",
        Unsupported => "unsupported",
        Unknown => "unknown",
    }
);

/// A channel identity such as a WhatsApp number or a Messenger PSID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    pub kind: IdentityKind,
    pub value: String,
}

impl Identity {
    pub fn new(kind: IdentityKind, value: impl Into<String>) -> Self {
        Self {
            kind,
            value: value.into(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    pub id: ContactId,
    pub display_name: Option<String>,
    pub identities: Vec<Identity>,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub contact_id: ContactId,
    pub channel: Channel,
    /// The business account: WhatsApp phone_number_id, page id or Instagram id.
    pub account: String,
    pub last_inbound_at: Option<Timestamp>,
    pub last_message_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// image, audio, video, document, sticker, file…
    pub kind: String,
    /// The channel's media id (WhatsApp) or URL (Messenger/Instagram).
    pub media_ref: String,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    pub caption: Option<String>,
    pub sha256: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    pub name: Option<String>,
    pub address: Option<String>,
}

impl Location {
    /// A map link a towing partner can open.
    pub fn map_url(&self) -> String {
        format!(
            "https://www.openstreetmap.org/?mlat={:.6}&mlon={:.6}#map=17/{:.6}/{:.6}",
            self.latitude, self.longitude, self.latitude, self.longitude
        )
    }
}

/// Delivery state of an outbound message. It only moves forward: a late
/// "delivered" after "read" changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryState {
    Received,
    Queued,
    Sent,
    Delivered,
    Read,
    Played,
    Failed { code: i64, title: String },
    Deleted,
}

impl DeliveryState {
    fn rank(&self) -> u8 {
        match self {
            DeliveryState::Received | DeliveryState::Queued => 0,
            DeliveryState::Sent => 1,
            DeliveryState::Delivered => 2,
            DeliveryState::Read => 3,
            DeliveryState::Played => 4,
            DeliveryState::Failed { .. } => 5,
            DeliveryState::Deleted => 6,
        }
    }

    /// The state after `next` arrives; never goes back. A failure cannot
    /// override a message the customer has already read.
    pub fn advance(&self, next: &DeliveryState) -> DeliveryState {
        let read_already = matches!(self, DeliveryState::Read | DeliveryState::Played);
        if matches!(next, DeliveryState::Failed { .. }) && read_already {
            return self.clone();
        }
        if next.rank() > self.rank() {
            next.clone()
        } else {
            self.clone()
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryState::Received => "received",
            DeliveryState::Queued => "queued",
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Read => "read",
            DeliveryState::Played => "played",
            DeliveryState::Failed { .. } => "failed",
            DeliveryState::Deleted => "deleted",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    pub emoji: String,
    pub from_customer: bool,
    pub at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub contact_id: ContactId,
    pub channel: Channel,
    pub direction: Direction,
    pub external_id: String,
    pub kind: MessageKind,
    pub text: Option<String>,
    pub attachments: Vec<Attachment>,
    pub location: Option<Location>,
    /// External id of the message this one replies to.
    pub reply_to: Option<String>,
    pub reactions: Vec<Reaction>,
    pub delivery: DeliveryState,
    pub sent_at: Timestamp,
    pub analysis: Option<Analysis>,
    pub raw_event_id: Option<RawEventId>,
}

/// The author of a public post, with the reach that makes a post dangerous.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Author {
    pub handle: String,
    pub name: Option<String>,
    pub followers: u64,
    pub verified: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mention {
    pub id: MentionId,
    pub platform: Platform,
    pub external_id: String,
    pub url: Option<String>,
    pub author: Author,
    pub text: String,
    pub lang: Option<String>,
    pub reshares: u64,
    pub replies: u64,
    pub likes: u64,
    /// External id of the post this one answers or quotes.
    pub parent: Option<String>,
    pub published_at: Timestamp,
    pub analysis: Option<Analysis>,
}

/// 1 to 5 stars; anything else is rejected at the edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Stars(u8);

impl Stars {
    pub fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Stars {
    type Error = String;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        if (1..=5).contains(&value) {
            Ok(Stars(value))
        } else {
            Err(format!("stars must be 1 to 5, got {value}"))
        }
    }
}

impl From<Stars> for u8 {
    fn from(stars: Stars) -> u8 {
        stars.0
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub id: ReviewId,
    pub portal: String,
    pub external_id: String,
    pub product: Option<String>,
    pub stars: Stars,
    pub title: Option<String>,
    pub text: String,
    pub author: Option<String>,
    pub published_at: Timestamp,
    pub analysis: Option<Analysis>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Note {
    pub id: NoteId,
    pub contact_id: ContactId,
    pub author: String,
    pub text: String,
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_state_never_goes_back() {
        let read = DeliveryState::Sent.advance(&DeliveryState::Read);
        assert_eq!(read, DeliveryState::Read);
        assert_eq!(read.advance(&DeliveryState::Delivered), DeliveryState::Read);
        let failed = DeliveryState::Failed {
            code: 131047,
            title: "Re-engagement message".into(),
        };
        assert_eq!(DeliveryState::Sent.advance(&failed), failed);
        assert_eq!(read.advance(&failed), DeliveryState::Read);
        assert_eq!(failed.advance(&DeliveryState::Delivered), failed);
    }

    #[test]
    fn stars_outside_one_to_five_are_rejected() {
        assert!(Stars::try_from(0).is_err());
        assert!(Stars::try_from(6).is_err());
        assert_eq!(Stars::try_from(4).unwrap().get(), 4);
    }

    #[test]
    fn enums_round_trip_through_text() {
        for channel in Channel::ALL {
            assert_eq!(channel.as_str().parse::<Channel>().unwrap(), *channel);
        }
        assert!("telegram".parse::<Channel>().is_err());
    }
}
