//! Messenger (`object: page`) and Instagram (`object: instagram`) webhooks:
//! `entry[].messaging[]` with millisecond timestamps. Every event becomes an
//! `Inbound`; events we do not model are kept as `Unrecognized`.

use crate::json::*;
use resonanz_core::{
    Attachment, Channel, DeliveryState, Direction, Identity, IdentityKind, Inbound, InboundMessage,
    Location, MessageKind, ReactionUpdate, ReadWatermark, StatusUpdate, Timestamp, Unrecognized,
};
use serde_json::Value;

pub use crate::json::ParseError;

/// The webhook `object` for a channel.
pub fn object_for(channel: Channel) -> &'static str {
    match channel {
        Channel::Messenger => "page",
        Channel::Instagram => "instagram",
        Channel::WhatsApp => crate::whatsapp::OBJECT,
    }
}

fn identity_kind(channel: Channel) -> IdentityKind {
    match channel {
        Channel::Instagram => IdentityKind::InstagramId,
        _ => IdentityKind::MessengerPsid,
    }
}

/// Parses a Messenger or Instagram webhook body.
pub fn parse_webhook(body: &[u8], channel: Channel) -> Result<Vec<Inbound>, ParseError> {
    let root = parse_body(body)?;
    parse_value(&root, channel)
}

pub fn parse_value(root: &Value, channel: Channel) -> Result<Vec<Inbound>, ParseError> {
    let expected = object_for(channel);
    if channel == Channel::WhatsApp || object_name(root) != Some(expected) {
        return Err(ParseError::WrongObject {
            expected,
            found: object_name(root).map(str::to_owned),
        });
    }
    let parser = Parser { channel };
    let mut out = Vec::new();
    for entry in entries(root)? {
        let entry_id = str_at(entry, &["id"]).unwrap_or("");
        let messaging = array_at(entry, "messaging");
        for event in messaging {
            parser.event(event, entry_id, &mut out);
        }
        // Standby (another app owns the thread), feed/comment changes: kept raw.
        for event in array_at(entry, "standby") {
            out.push(parser.unrecognized("standby", event));
        }
        for change in array_at(entry, "changes") {
            let field = str_at(change, &["field"]).unwrap_or("change");
            out.push(parser.unrecognized(field, change));
        }
        if messaging.is_empty()
            && array_at(entry, "standby").is_empty()
            && array_at(entry, "changes").is_empty()
        {
            out.push(parser.unrecognized("empty_entry", entry));
        }
    }
    Ok(out)
}

struct Parser {
    channel: Channel,
}

impl Parser {
    fn unrecognized(&self, kind: &str, raw: &Value) -> Inbound {
        Inbound::Unrecognized(Unrecognized {
            kind: format!("{}:{kind}", self.channel.as_str()),
            raw: raw.clone(),
        })
    }

    fn identity(&self, id: String) -> Vec<Identity> {
        vec![Identity::new(identity_kind(self.channel), id)]
    }

    fn event(&self, event: &Value, entry_id: &str, out: &mut Vec<Inbound>) {
        let sender = nonempty(event, &["sender", "id"]);
        let recipient = nonempty(event, &["recipient", "id"]);
        let at = unix_millis(event.get("timestamp"));
        let (Some(sender), Some(at)) = (sender, at) else {
            out.push(self.unrecognized("malformed_event", event));
            return;
        };
        // Inbound: the page/IG account is the recipient.
        let account = recipient.clone().unwrap_or_else(|| entry_id.to_owned());

        if let Some(message) = event.get("message").filter(|m| m.is_object()) {
            let echo = message.get("is_echo").and_then(Value::as_bool) == Some(true);
            let (account, customer) = if echo {
                // Our own send coming back: sender is the page, recipient the user.
                match recipient {
                    Some(user) => (sender, user),
                    None => {
                        out.push(self.unrecognized("malformed_event", event));
                        return;
                    }
                }
            } else {
                (account, sender)
            };
            out.push(self.message(event, message, account, customer, echo, at));
        } else if let Some(postback) = event.get("postback").filter(|p| p.is_object()) {
            let external_id = nonempty(postback, &["mid"])
                // Older postbacks have no mid: a stable id keeps dedupe working.
                .unwrap_or_else(|| format!("postback:{sender}:{}", at.millis()));
            out.push(Inbound::Message(InboundMessage {
                channel: self.channel,
                account,
                direction: Direction::Inbound,
                customer: self.identity(sender),
                profile_name: None,
                external_id,
                kind: MessageKind::Postback,
                text: string_at(postback, &["title"]).or_else(|| string_at(postback, &["payload"])),
                attachments: Vec::new(),
                location: None,
                reply_to: None,
                sent_at: at,
                raw: event.clone(),
            }));
        } else if let Some(reaction) = event.get("reaction").filter(|r| r.is_object()) {
            let Some(target) = nonempty(reaction, &["mid"]) else {
                out.push(self.unrecognized("reaction", event));
                return;
            };
            let removed = str_at(reaction, &["action"]) == Some("unreact");
            out.push(Inbound::Reaction(ReactionUpdate {
                channel: self.channel,
                account,
                customer: self.identity(sender),
                target_external_id: target,
                emoji: if removed {
                    None
                } else {
                    nonempty(reaction, &["emoji"]).or_else(|| nonempty(reaction, &["reaction"]))
                },
                at,
                raw: event.clone(),
            }));
        } else if let Some(read) = event.get("read").filter(|r| r.is_object()) {
            if let Some(up_to) = unix_millis(read.get("watermark")) {
                out.push(Inbound::ReadUpTo(ReadWatermark {
                    channel: self.channel,
                    account,
                    customer: self.identity(sender),
                    up_to,
                }));
            } else if let Some(mid) = nonempty(read, &["mid"]) {
                // Instagram's messaging_seen names the message instead.
                out.push(self.status(account, mid, DeliveryState::Read, at, event));
            } else {
                out.push(self.unrecognized("read", event));
            }
        } else if let Some(delivery) = event.get("delivery").filter(|d| d.is_object()) {
            let mids = array_at(delivery, "mids");
            let mut any = false;
            for mid in mids
                .iter()
                .filter_map(Value::as_str)
                .filter(|m| !m.is_empty())
            {
                any = true;
                out.push(self.status(
                    account.clone(),
                    mid.to_owned(),
                    DeliveryState::Delivered,
                    at,
                    event,
                ));
            }
            if !any {
                // A bare watermark names no message we could advance.
                out.push(self.unrecognized("delivery_watermark", event));
            }
        } else {
            let kind = event
                .as_object()
                .and_then(|o| {
                    o.keys()
                        .find(|k| !["sender", "recipient", "timestamp"].contains(&k.as_str()))
                })
                .map(String::as_str)
                .unwrap_or("event");
            out.push(self.unrecognized(kind, event));
        }
    }

    fn status(
        &self,
        account: String,
        external_id: String,
        state: DeliveryState,
        at: Timestamp,
        raw: &Value,
    ) -> Inbound {
        Inbound::Status(StatusUpdate {
            channel: self.channel,
            account,
            external_id,
            state,
            at,
            raw: raw.clone(),
        })
    }

    fn message(
        &self,
        event: &Value,
        message: &Value,
        account: String,
        customer: String,
        echo: bool,
        at: Timestamp,
    ) -> Inbound {
        let Some(mid) = nonempty(message, &["mid"]) else {
            return self.unrecognized("malformed_message", event);
        };
        if message.get("is_deleted").and_then(Value::as_bool) == Some(true) {
            return self.status(account, mid, DeliveryState::Deleted, at, event);
        }
        let text = string_at(message, &["text"]);
        let mut attachments = Vec::new();
        let mut location = None;
        let mut first_kind: Option<MessageKind> = None;
        for att in array_at(message, "attachments") {
            let att_type = str_at(att, &["type"]).unwrap_or("unknown");
            let payload = att.get("payload").unwrap_or(&Value::Null);
            let kind = match att_type {
                "image" => MessageKind::Image,
                "video" => MessageKind::Video,
                "audio" => MessageKind::Audio,
                "file" => MessageKind::Document,
                "location" => MessageKind::Location,
                "story_mention" => MessageKind::StoryMention,
                "template" => MessageKind::Template,
                "sticker" | "animated_image" => MessageKind::Sticker,
                // fallback (link share), share, ig_reel, reel…: shown as a link.
                _ => MessageKind::Unknown,
            };
            first_kind.get_or_insert(kind);
            if att_type == "location" {
                let lat = payload.pointer("/coordinates/lat").and_then(Value::as_f64);
                let lon = payload.pointer("/coordinates/long").and_then(Value::as_f64);
                if let (Some(latitude), Some(longitude)) = (lat, lon) {
                    location = Some(Location {
                        latitude,
                        longitude,
                        name: string_at(att, &["title"]),
                        address: None,
                    });
                    continue;
                }
            }
            let media_ref = nonempty(payload, &["url"])
                .or_else(|| nonempty(payload, &["id"]))
                .or_else(|| nonempty(att, &["url"]));
            if let Some(media_ref) = media_ref {
                attachments.push(Attachment {
                    kind: att_type.to_owned(),
                    media_ref,
                    mime_type: None,
                    filename: None,
                    caption: string_at(att, &["title"]),
                    sha256: None,
                });
            }
        }
        let story_reply = message.pointer("/reply_to/story").filter(|s| s.is_object());
        let kind = if story_reply.is_some() {
            MessageKind::StoryReply
        } else if let Some(kind) = first_kind {
            kind
        } else if message.get("sticker_id").is_some() {
            MessageKind::Sticker
        } else if message.get("quick_reply").is_some() {
            MessageKind::Button
        } else if text.is_some() {
            MessageKind::Text
        } else {
            // e.g. Instagram's `is_unsupported: true`.
            MessageKind::Unsupported
        };
        let reply_to = nonempty(message, &["reply_to", "mid"])
            .or_else(|| story_reply.and_then(|s| nonempty(s, &["id"])));
        Inbound::Message(InboundMessage {
            channel: self.channel,
            account,
            direction: if echo {
                Direction::Outbound
            } else {
                Direction::Inbound
            },
            customer: self.identity(customer),
            profile_name: None,
            external_id: mid,
            kind,
            text,
            attachments,
            location,
            reply_to,
            sent_at: at,
            raw: event.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSENGER: &str = include_str!("../tests/fixtures/messenger_batch.json");
    const INSTAGRAM: &str = include_str!("../tests/fixtures/instagram_batch.json");

    fn message<'a>(items: &'a [Inbound], id: &str) -> &'a InboundMessage {
        items
            .iter()
            .find_map(|i| match i {
                Inbound::Message(m) if m.external_id == id => Some(m),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no message {id}"))
    }

    #[test]
    fn messenger_batch_reads_every_event_of_every_entry() {
        let items = parse_webhook(MESSENGER.as_bytes(), Channel::Messenger).unwrap();
        // 14 events, one delivery names two mids: 15 items.
        assert_eq!(items.len(), 15, "{items:#?}");

        let text = message(&items, "m_text");
        assert_eq!(text.kind, MessageKind::Text);
        assert_eq!(text.account, "PAGE1");
        assert_eq!(
            text.customer,
            vec![Identity::new(IdentityKind::MessengerPsid, "PSID1")]
        );
        assert_eq!(text.sent_at, Timestamp::from_millis(1_518_479_195_308));
        assert_eq!(text.direction, Direction::Inbound);

        let qr = message(&items, "m_qr");
        assert_eq!(qr.kind, MessageKind::Button);
        assert_eq!(qr.raw["message"]["quick_reply"]["payload"], "CLAIM");

        let img = message(&items, "m_img");
        assert_eq!(img.kind, MessageKind::Image);
        assert_eq!(
            img.attachments[0].media_ref,
            "https://scontent.xx.fbcdn.net/v/damage.jpg"
        );
        assert_eq!(img.reply_to.as_deref(), Some("m_ours"));

        let loc = message(&items, "m_loc");
        assert_eq!(loc.kind, MessageKind::Location);
        let location = loc.location.as_ref().unwrap();
        assert_eq!(
            (location.latitude, location.longitude),
            (48.137154, 11.576124)
        );
        assert_eq!(location.name.as_deref(), Some("Unfallort"));
        assert!(loc.attachments.is_empty());

        assert_eq!(message(&items, "m_file").kind, MessageKind::Document);
        let pb = message(&items, "m_pb");
        assert_eq!(pb.kind, MessageKind::Postback);
        assert_eq!(pb.text.as_deref(), Some("Rückruf vereinbaren"));

        let reactions: Vec<&ReactionUpdate> = items
            .iter()
            .filter_map(|i| match i {
                Inbound::Reaction(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(reactions.len(), 2);
        assert_eq!(reactions[0].emoji.as_deref(), Some("❤"));
        assert_eq!(reactions[1].emoji, None);
        assert_eq!(reactions[1].target_external_id, "m_ours");

        assert!(items.iter().any(|i| matches!(i, Inbound::ReadUpTo(w)
            if w.up_to == Timestamp::from_millis(1_518_479_195_999) && w.account == "PAGE1")));
        let delivered: Vec<&str> = items
            .iter()
            .filter_map(|i| match i {
                Inbound::Status(s) if s.state == DeliveryState::Delivered => {
                    Some(s.external_id.as_str())
                }
                _ => None,
            })
            .collect();
        assert_eq!(delivered, vec!["m_ours", "m_ours2"]);

        let echo = message(&items, "m_echo");
        assert_eq!(echo.direction, Direction::Outbound);
        assert_eq!(echo.account, "PAGE1");
        assert_eq!(
            echo.customer,
            vec![Identity::new(IdentityKind::MessengerPsid, "PSID1")]
        );

        assert!(items.iter().any(|i| matches!(i, Inbound::Status(s)
            if s.external_id == "m_text" && s.state == DeliveryState::Deleted)));
        assert!(
            items
                .iter()
                .any(|i| matches!(i, Inbound::Unrecognized(u) if u.kind == "messenger:optin"))
        );
        assert_eq!(message(&items, "m_p2").account, "PAGE2");
    }

    #[test]
    fn instagram_story_replies_mentions_echoes_and_seen() {
        let items = parse_webhook(INSTAGRAM.as_bytes(), Channel::Instagram).unwrap();
        assert_eq!(items.len(), 6);
        let text = message(&items, "ig_text");
        assert_eq!(text.channel, Channel::Instagram);
        assert_eq!(
            text.customer,
            vec![Identity::new(IdentityKind::InstagramId, "IGSID1")]
        );

        let reply = message(&items, "ig_story_reply");
        assert_eq!(reply.kind, MessageKind::StoryReply);
        assert_eq!(reply.reply_to.as_deref(), Some("story_17"));
        assert_eq!(reply.text.as_deref(), Some("Tolle Aktion!"));

        let mention = message(&items, "ig_mention");
        assert_eq!(mention.kind, MessageKind::StoryMention);
        assert_eq!(
            mention.attachments[0].media_ref,
            "https://lookaside.fbsbx.com/mention.jpg"
        );

        let echo = message(&items, "ig_echo");
        assert_eq!(echo.direction, Direction::Outbound);
        assert_eq!(echo.account, "IG1");
        assert!(items.iter().any(|i| matches!(i, Inbound::Status(s)
            if s.external_id == "ig_echo" && s.state == DeliveryState::Read)));
        assert_eq!(
            message(&items, "ig_unsupported").kind,
            MessageKind::Unsupported
        );
    }

    #[test]
    fn wrong_object_for_the_channel_is_an_error() {
        assert!(matches!(
            parse_webhook(MESSENGER.as_bytes(), Channel::Instagram),
            Err(ParseError::WrongObject {
                expected: "instagram",
                ..
            })
        ));
        assert!(matches!(
            parse_webhook(br#"{"object":"page"}"#, Channel::WhatsApp),
            Err(ParseError::WrongObject { .. })
        ));
        assert!(matches!(
            parse_webhook(b"not json", Channel::Messenger),
            Err(ParseError::InvalidJson(_))
        ));
    }

    #[test]
    fn events_without_sender_or_timestamp_are_kept_raw() {
        let body = br#"{"object":"page","entry":[{"id":"P","messaging":[
            {"recipient":{"id":"P"},"timestamp":1,"message":{"mid":"m","text":"x"}},
            {"sender":{"id":"U"},"recipient":{"id":"P"},"message":{"mid":"m2","text":"x"}}]}]}"#;
        let items = parse_webhook(body, Channel::Messenger).unwrap();
        assert_eq!(items.len(), 2);
        assert!(items.iter().all(
            |i| matches!(i, Inbound::Unrecognized(u) if u.kind == "messenger:malformed_event")
        ));
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_json_events(value in crate::whatsapp::tests::arb_json()) {
            for channel in [Channel::Messenger, Channel::Instagram] {
                let root = serde_json::json!({"object": object_for(channel), "entry": [
                    {"id": "P", "messaging": [value.clone(),
                        {"sender": {"id": "U"}, "recipient": {"id": "P"}, "timestamp": 1, "message": value.clone()},
                        {"sender": {"id": "U"}, "timestamp": 2, "reaction": value.clone(), "read": value.clone()}]},
                    value.clone()
                ]});
                let _ = parse_value(&root, channel);
            }
        }
    }
}
