//! WhatsApp Cloud API webhook parser. Reads every entry, change, message and
//! status of a batched delivery; anything it cannot model is returned as
//! `Inbound::Unrecognized` with its raw JSON, never dropped.

use crate::json::*;
use resonanz_core::{
    Attachment, Channel, DeliveryState, Direction, Identity, IdentityChange, IdentityKind, Inbound,
    InboundMessage, Location, MessageKind, ReactionUpdate, StatusUpdate, Timestamp, Unrecognized,
};
use serde_json::Value;

pub use crate::json::ParseError;

pub const OBJECT: &str = "whatsapp_business_account";

/// Parses one webhook POST body (already signature-checked).
pub fn parse_webhook(body: &[u8]) -> Result<Vec<Inbound>, ParseError> {
    let root = parse_body(body)?;
    parse_value(&root)
}

/// Same as [`parse_webhook`] for a body that is already parsed.
pub fn parse_value(root: &Value) -> Result<Vec<Inbound>, ParseError> {
    if !root.is_object() {
        return Err(ParseError::NotAnObject);
    }
    if object_name(root) != Some(OBJECT) {
        return Err(ParseError::WrongObject {
            expected: OBJECT,
            found: object_name(root).map(str::to_owned),
        });
    }
    let mut out = Vec::new();
    for entry in entries(root)? {
        let changes = array_at(entry, "changes");
        if changes.is_empty() {
            out.push(unrecognized("entry_without_changes", entry));
        }
        for change in changes {
            parse_change(change, &mut out);
        }
    }
    Ok(out)
}

fn unrecognized(kind: &str, raw: &Value) -> Inbound {
    Inbound::Unrecognized(Unrecognized {
        kind: format!("whatsapp:{kind}"),
        raw: raw.clone(),
    })
}

fn parse_change(change: &Value, out: &mut Vec<Inbound>) {
    let field = str_at(change, &["field"]).unwrap_or("");
    let Some(value) = change.get("value").filter(|v| v.is_object()) else {
        out.push(unrecognized("change_without_value", change));
        return;
    };
    match field {
        "messages" => parse_messages_value(value, out),
        "smb_message_echoes" => parse_echoes_value(value, out),
        "user_id_update" => parse_user_id_updates(value, out),
        "" => out.push(unrecognized("change_without_field", change)),
        other => out.push(unrecognized(other, change)),
    }
}

fn parse_messages_value(value: &Value, out: &mut Vec<Inbound>) {
    let account = string_at(value, &["metadata", "phone_number_id"]).unwrap_or_default();
    let contacts = array_at(value, "contacts");
    for msg in array_at(value, "messages") {
        match parse_message(msg, &account, contacts, Direction::Inbound) {
            Some(item) => out.push(item),
            None => out.push(unrecognized("malformed_message", msg)),
        }
    }
    for status in array_at(value, "statuses") {
        match parse_status(status, &account) {
            Some(item) => out.push(item),
            None => out.push(unrecognized("status", status)),
        }
    }
    // Value-level errors (e.g. 130429) carry no message; keep them with the
    // metadata so the account they belong to is known.
    if !array_at(value, "errors").is_empty() {
        out.push(unrecognized("errors", value));
    }
    let has_payload = ["messages", "statuses", "errors"]
        .iter()
        .any(|k| value.get(*k).is_some());
    if !has_payload {
        out.push(unrecognized("messages_value", value));
    }
}

/// `smb_message_echoes`: messages the business sent from the WhatsApp
/// Business app (coexistence). They are ours, so the customer is `to`.
fn parse_echoes_value(value: &Value, out: &mut Vec<Inbound>) {
    let account = string_at(value, &["metadata", "phone_number_id"]).unwrap_or_default();
    let echoes = array_at(value, "message_echoes");
    if echoes.is_empty() {
        out.push(unrecognized("smb_message_echoes", value));
    }
    for msg in echoes {
        match parse_message(msg, &account, &[], Direction::Outbound) {
            Some(item) => out.push(item),
            None => out.push(unrecognized("malformed_message", msg)),
        }
    }
}

/// `user_id_update`: Meta gave a customer a new business-scoped user id.
/// Parent ids (shared across business portfolios) are not identities here.
fn parse_user_id_updates(value: &Value, out: &mut Vec<Inbound>) {
    let account = string_at(value, &["metadata", "phone_number_id"]).unwrap_or_default();
    let updates = array_at(value, "user_id_update");
    if updates.is_empty() {
        out.push(unrecognized("user_id_update", value));
    }
    for update in updates {
        let previous = nonempty(update, &["user_id", "previous"]);
        let current = nonempty(update, &["user_id", "current"]);
        let at = unix_seconds(update.get("timestamp"));
        let (Some(previous), Some(current), Some(at)) = (previous, current, at) else {
            out.push(unrecognized("malformed_user_id_update", update));
            continue;
        };
        let bsuid = |id| Identity::new(IdentityKind::WhatsAppBsuid, id);
        out.push(Inbound::IdentityChanged(IdentityChange {
            channel: Channel::WhatsApp,
            account: account.clone(),
            kept: nonempty(update, &["wa_id"])
                .map(|phone| Identity::new(IdentityKind::WhatsApp, phone))
                .into_iter()
                .collect(),
            previous: vec![bsuid(previous)],
            current: vec![bsuid(current)],
            at,
        }));
    }
}

/// The customer's identities: phone (`wa_id`) first, then the BSUID.
fn customer_identities(
    msg: &Value,
    contacts: &[Value],
    direction: Direction,
) -> (Vec<Identity>, Option<String>) {
    let (phone_key, bsuid_key) = match direction {
        Direction::Inbound => ("from", "from_user_id"),
        Direction::Outbound => ("to", "to_user_id"),
    };
    let msg_phone = nonempty(msg, &[phone_key]);
    let msg_bsuid = nonempty(msg, &[bsuid_key]);
    // Match the contact by wa_id or user_id; a lone contact belongs to the message.
    let contact = contacts
        .iter()
        .find(|c| {
            let wa = nonempty(c, &["wa_id"]);
            let uid = nonempty(c, &["user_id"]);
            (wa.is_some() && wa == msg_phone) || (uid.is_some() && uid == msg_bsuid)
        })
        .or_else(|| (contacts.len() == 1).then(|| &contacts[0]));
    let phone = contact.and_then(|c| nonempty(c, &["wa_id"])).or(msg_phone);
    let bsuid = contact
        .and_then(|c| nonempty(c, &["user_id"]))
        .or(msg_bsuid);
    let mut ids = Vec::new();
    if let Some(p) = phone {
        ids.push(Identity::new(IdentityKind::WhatsApp, p));
    }
    if let Some(b) = bsuid {
        ids.push(Identity::new(IdentityKind::WhatsAppBsuid, b));
    }
    let name = contact.and_then(|c| nonempty(c, &["profile", "name"]));
    (ids, name)
}

fn media_attachment(kind: &str, obj: &Value) -> Option<Attachment> {
    Some(Attachment {
        kind: kind.to_owned(),
        media_ref: nonempty(obj, &["id"])?,
        mime_type: string_at(obj, &["mime_type"]),
        filename: string_at(obj, &["filename"]),
        caption: string_at(obj, &["caption"]),
        sha256: string_at(obj, &["sha256"]),
    })
}

fn contacts_summary(cards: &[Value]) -> Option<String> {
    let lines: Vec<String> = cards
        .iter()
        .map(|card| {
            let name = str_at(card, &["name", "formatted_name"])
                .or_else(|| str_at(card, &["name", "first_name"]))
                .unwrap_or("?")
                .to_owned();
            let phones: Vec<&str> = array_at(card, "phones")
                .iter()
                .filter_map(|p| str_at(p, &["phone"]))
                .collect();
            if phones.is_empty() {
                name
            } else {
                format!("{name}: {}", phones.join(", "))
            }
        })
        .collect();
    (!lines.is_empty()).then(|| lines.join("\n"))
}

fn parse_message(
    msg: &Value,
    account: &str,
    contacts: &[Value],
    direction: Direction,
) -> Option<Inbound> {
    let id = nonempty(msg, &["id"])?;
    let sent_at = unix_seconds(msg.get("timestamp"))?;
    let type_name = str_at(msg, &["type"]).unwrap_or("");
    let (customer, profile_name) = customer_identities(msg, contacts, direction);
    if customer.is_empty() {
        return None;
    }

    if type_name == "reaction" {
        let reaction = msg.get("reaction")?;
        return Some(Inbound::Reaction(ReactionUpdate {
            channel: Channel::WhatsApp,
            account: account.to_owned(),
            customer,
            target_external_id: nonempty(reaction, &["message_id"])?,
            // Omitted (or empty) when the customer removes the reaction.
            emoji: nonempty(reaction, &["emoji"]),
            at: sent_at,
            raw: msg.clone(),
        }));
    }

    let body = msg.get(type_name).unwrap_or(&Value::Null);
    let mut text = None;
    let mut attachments = Vec::new();
    let mut location = None;
    let kind = match type_name {
        "text" => {
            text = string_at(body, &["body"]);
            MessageKind::Text
        }
        "image" | "video" | "audio" | "document" | "sticker" => {
            attachments.extend(media_attachment(type_name, body));
            text = string_at(body, &["caption"]);
            match type_name {
                "image" => MessageKind::Image,
                "video" => MessageKind::Video,
                "audio" => MessageKind::Audio,
                "document" => MessageKind::Document,
                _ => MessageKind::Sticker,
            }
        }
        "location" => {
            let lat = body.get("latitude").and_then(Value::as_f64);
            let lon = body.get("longitude").and_then(Value::as_f64);
            if let (Some(latitude), Some(longitude)) = (lat, lon) {
                location = Some(Location {
                    latitude,
                    longitude,
                    name: string_at(body, &["name"]),
                    address: string_at(body, &["address"]),
                });
            }
            MessageKind::Location
        }
        "contacts" => {
            text = contacts_summary(array_at(msg, "contacts"));
            MessageKind::Contacts
        }
        "interactive" => {
            text = match str_at(body, &["type"]) {
                Some("button_reply") => string_at(body, &["button_reply", "title"]),
                Some("list_reply") => string_at(body, &["list_reply", "title"]),
                Some("nfm_reply") => string_at(body, &["nfm_reply", "body"])
                    .or_else(|| string_at(body, &["nfm_reply", "response_json"])),
                _ => None,
            };
            MessageKind::Interactive
        }
        "button" => {
            text = string_at(body, &["text"]).or_else(|| string_at(body, &["payload"]));
            MessageKind::Button
        }
        "order" => {
            text = string_at(body, &["text"]);
            MessageKind::Order
        }
        "system" => {
            text = string_at(body, &["body"]);
            MessageKind::System
        }
        // The user opened the chat for the first time; no content, but it
        // opens the service window. `raw.type` keeps the distinction.
        "request_welcome" => MessageKind::System,
        "unsupported" => MessageKind::Unsupported,
        // Echoed templates from the Business app.
        "template" => MessageKind::Template,
        _ => MessageKind::Unknown,
    };

    Some(Inbound::Message(InboundMessage {
        channel: Channel::WhatsApp,
        account: account.to_owned(),
        direction,
        customer,
        profile_name,
        external_id: id,
        kind,
        text,
        attachments,
        location,
        // Forward markers (`forwarded: true`) carry no id and are not replies.
        reply_to: nonempty(msg, &["context", "id"]),
        sent_at,
        raw: msg.clone(),
    }))
}

fn parse_status(status: &Value, account: &str) -> Option<Inbound> {
    let id = nonempty(status, &["id"])?;
    let at = unix_seconds(status.get("timestamp"))?;
    let state = match str_at(status, &["status"])? {
        "sent" => DeliveryState::Sent,
        "delivered" => DeliveryState::Delivered,
        "read" => DeliveryState::Read,
        "played" => DeliveryState::Played,
        "deleted" => DeliveryState::Deleted,
        "failed" => {
            let first = array_at(status, "errors").first();
            let code = first.and_then(|e| i64_at(e, &["code"])).unwrap_or_default();
            let title = first
                .and_then(|e| string_at(e, &["title"]).or_else(|| string_at(e, &["message"])))
                .unwrap_or_else(|| "failed".to_owned());
            DeliveryState::Failed { code, title }
        }
        _ => return None,
    };
    Some(Inbound::Status(StatusUpdate {
        channel: Channel::WhatsApp,
        account: account.to_owned(),
        external_id: id,
        state,
        at,
        raw: status.clone(),
    }))
}

/// Click-to-WhatsApp ad data of an inbound message, if any (`raw.referral`).
pub fn referral(raw: &Value) -> Option<&Value> {
    raw.get("referral").filter(|r| r.is_object())
}

/// The timestamp an inbound message opens the service window with.
pub fn message_time(raw: &Value) -> Option<Timestamp> {
    unix_seconds(raw.get("timestamp"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const BATCH: &str = include_str!("../tests/fixtures/wa_batch.json");
    const TYPES: &str = include_str!("../tests/fixtures/wa_types.json");
    const OTHER: &str = include_str!("../tests/fixtures/wa_other_fields.json");
    const BSUID: &str = include_str!("../tests/fixtures/wa_bsuid.json");
    const ECHOES: &str = include_str!("../tests/fixtures/wa_echoes.json");

    fn messages(items: &[Inbound]) -> Vec<&InboundMessage> {
        items
            .iter()
            .filter_map(|i| match i {
                Inbound::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    fn by_id<'a>(items: &'a [Inbound], id: &str) -> &'a InboundMessage {
        messages(items)
            .into_iter()
            .find(|m| m.external_id == id)
            .unwrap_or_else(|| panic!("no message {id}"))
    }

    #[test]
    fn batch_with_three_messages_and_two_statuses_across_two_entries_yields_five_items() {
        let items = parse_webhook(BATCH.as_bytes()).unwrap();
        assert_eq!(items.len(), 5, "{items:#?}");
        let ids: Vec<&str> = messages(&items)
            .iter()
            .map(|m| m.external_id.as_str())
            .collect();
        assert_eq!(ids, vec!["wamid.A1", "wamid.B1", "wamid.A2"]);

        let first = by_id(&items, "wamid.A1");
        assert_eq!(first.account, "106540352242922");
        assert_eq!(first.direction, Direction::Inbound);
        assert_eq!(
            first.text.as_deref(),
            Some("Ich möchte einen Wasserschaden melden.")
        );
        assert_eq!(first.sent_at, Timestamp::from_secs(1_750_016_800));
        assert_eq!(first.profile_name.as_deref(), Some("Anna Keller"));
        assert_eq!(first.raw["id"], "wamid.A1");
        // The second sender is matched to their own contact entry, not the first.
        let second = by_id(&items, "wamid.B1");
        assert_eq!(second.profile_name.as_deref(), Some("Jonas Weber"));
        assert_eq!(
            second.customer,
            vec![Identity::new(IdentityKind::WhatsApp, "491609876543")]
        );

        let loc = by_id(&items, "wamid.A2").location.clone().unwrap();
        assert_eq!((loc.latitude, loc.longitude), (52.520008, 13.404954));
        assert_eq!(
            loc.address.as_deref(),
            Some("Alexanderplatz 1, 10178 Berlin")
        );

        let statuses: Vec<&StatusUpdate> = items
            .iter()
            .filter_map(|i| match i {
                Inbound::Status(s) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(statuses.len(), 2);
        assert_eq!(statuses[0].external_id, "wamid.OUT1");
        assert_eq!(statuses[0].state, DeliveryState::Delivered);
        assert_eq!(statuses[0].raw["pricing"]["category"], "utility");
        assert_eq!(
            statuses[1].state,
            DeliveryState::Failed {
                code: 131047,
                title: "Re-engagement message".into()
            }
        );
        assert_eq!(statuses[1].at, Timestamp::from_secs(1_751_142_888));
    }

    #[test]
    fn every_message_type_is_read_with_its_content() {
        let items = parse_webhook(TYPES.as_bytes()).unwrap();
        // 20 messages in, 20 items out: nothing dropped.
        assert_eq!(items.len(), 20);

        let img = by_id(&items, "wamid.img");
        assert_eq!(img.kind, MessageKind::Image);
        assert_eq!(img.text.as_deref(), Some("Schaden am Auto"));
        assert_eq!(img.attachments[0].media_ref, "1001");
        assert_eq!(img.attachments[0].mime_type.as_deref(), Some("image/jpeg"));

        let aud = by_id(&items, "wamid.aud");
        assert_eq!(aud.kind, MessageKind::Audio);
        assert_eq!(aud.attachments[0].kind, "audio");
        assert_eq!(by_id(&items, "wamid.vid").kind, MessageKind::Video);

        let doc = by_id(&items, "wamid.doc");
        assert_eq!(doc.kind, MessageKind::Document);
        assert_eq!(
            doc.attachments[0].filename.as_deref(),
            Some("polizeibericht.pdf")
        );
        assert_eq!(
            doc.attachments[0].sha256.as_deref(),
            Some("V5OPpLD/gEG6Xjg0MbmQDLFgcKsL+j5LfY4ny/pZ4MY=")
        );
        assert_eq!(doc.attachments[0].media_ref, "622684793477189");

        let stk = by_id(&items, "wamid.stk");
        assert_eq!(stk.kind, MessageKind::Sticker);
        assert_eq!(stk.attachments[0].mime_type.as_deref(), Some("image/webp"));

        let con = by_id(&items, "wamid.con");
        assert_eq!(con.kind, MessageKind::Contacts);
        assert_eq!(
            con.text.as_deref(),
            Some("Werkstatt Müller: +49 30 1234567")
        );

        let ibr = by_id(&items, "wamid.ibr");
        assert_eq!(ibr.kind, MessageKind::Interactive);
        assert_eq!(ibr.text.as_deref(), Some("Ja, melden"));
        assert_eq!(ibr.reply_to.as_deref(), Some("wamid.OUTbtn"));
        assert_eq!(
            by_id(&items, "wamid.ilr").text.as_deref(),
            Some("Kfz-Schaden")
        );
        assert_eq!(by_id(&items, "wamid.nfm").text.as_deref(), Some("Sent"));

        let btn = by_id(&items, "wamid.btn");
        assert_eq!(btn.kind, MessageKind::Button);
        assert_eq!(btn.text.as_deref(), Some("Rückruf bitte"));
        assert_eq!(btn.reply_to.as_deref(), Some("wamid.OUTtpl"));

        let ord = by_id(&items, "wamid.ord");
        assert_eq!(ord.kind, MessageKind::Order);
        assert_eq!(
            ord.raw["order"]["product_items"][0]["product_retailer_id"],
            "haftpflicht"
        );

        let sys = by_id(&items, "wamid.sys");
        assert_eq!(sys.kind, MessageKind::System);
        assert!(sys.text.as_deref().unwrap().contains("changed from"));

        let wel = by_id(&items, "wamid.wel");
        assert_eq!(wel.kind, MessageKind::System);
        assert_eq!(wel.raw["type"], "request_welcome");

        let uns = by_id(&items, "wamid.uns");
        assert_eq!(uns.kind, MessageKind::Unsupported);
        assert_eq!(uns.raw["unsupported"]["type"], "poll_creation");
        assert_eq!(by_id(&items, "wamid.unk").kind, MessageKind::Unknown);
        let fut = by_id(&items, "wamid.fut");
        assert_eq!(fut.kind, MessageKind::Unknown);
        assert_eq!(fut.raw["hologram"]["x"], 1);

        let reactions: Vec<&ReactionUpdate> = items
            .iter()
            .filter_map(|i| match i {
                Inbound::Reaction(r) => Some(r),
                _ => None,
            })
            .collect();
        assert_eq!(reactions.len(), 2);
        assert_eq!(reactions[0].emoji.as_deref(), Some("👍"));
        assert_eq!(reactions[0].target_external_id, "wamid.OUTdoc");
        assert_eq!(reactions[1].emoji, None, "removal has no emoji");

        let refm = by_id(&items, "wamid.ref");
        assert_eq!(referral(&refm.raw).unwrap()["ctwa_clid"], "clid1");
        assert_eq!(by_id(&items, "wamid.fwd").reply_to, None);
    }

    #[test]
    fn a_user_id_update_replaces_the_previous_bsuid_and_keeps_the_phone() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"user_id_update","value":{
          "messaging_product":"whatsapp","metadata":{"display_phone_number":"4930123456789","phone_number_id":"P"},
          "contacts":[{"profile":{"name":"Anna"},"wa_id":"491701234567"}],
          "user_id_update":[{"wa_id":"491701234567","detail":"User id for Anna has been updated.",
            "user_id":{"previous":"DE.10101010101010101010","current":"DE.13491208655302741918"},
            "parent_user_id":{"previous":"DE.ENT.1010","current":"DE.ENT.1181"},"timestamp":"1749416383"},
            {"wa_id":"491701234567","user_id":{"previous":"DE.1"}}]}}]}]}"#;
        let items = parse_webhook(body).unwrap();
        let Inbound::IdentityChanged(change) = &items[0] else {
            panic!("{items:?}")
        };
        assert_eq!(change.account, "P");
        assert_eq!(
            change.kept,
            [Identity::new(IdentityKind::WhatsApp, "491701234567")]
        );
        assert_eq!(
            change.previous,
            [Identity::new(
                IdentityKind::WhatsAppBsuid,
                "DE.10101010101010101010"
            )]
        );
        assert_eq!(
            change.current,
            [Identity::new(
                IdentityKind::WhatsAppBsuid,
                "DE.13491208655302741918"
            )]
        );
        assert_eq!(change.at, Timestamp(1_749_416_383_000));
        assert!(
            matches!(&items[1], Inbound::Unrecognized(u) if u.kind == "whatsapp:malformed_user_id_update"),
            "an update without its current id is kept, not dropped"
        );
    }

    #[test]
    fn bsuid_only_user_gets_a_bsuid_identity_and_both_ids_keep_phone_first() {
        let items = parse_webhook(BSUID.as_bytes()).unwrap();
        let only = by_id(&items, "wamid.bs1");
        assert_eq!(
            only.customer,
            vec![Identity::new(
                IdentityKind::WhatsAppBsuid,
                "DE.13491208655302741918"
            )]
        );
        assert_eq!(only.profile_name.as_deref(), Some("kfz_fan"));
        let both = by_id(&items, "wamid.bs2");
        assert_eq!(
            both.customer,
            vec![
                Identity::new(IdentityKind::WhatsApp, "491701234567"),
                Identity::new(IdentityKind::WhatsAppBsuid, "DE.99999999999999999999"),
            ]
        );
    }

    #[test]
    fn other_fields_and_value_level_errors_are_kept_as_unrecognized() {
        let items = parse_webhook(OTHER.as_bytes()).unwrap();
        let kinds: Vec<&str> = items
            .iter()
            .map(|i| match i {
                Inbound::Unrecognized(u) => u.kind.as_str(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            vec![
                "whatsapp:message_template_status_update",
                "whatsapp:account_update",
                "whatsapp:errors"
            ]
        );
        let Inbound::Unrecognized(tpl) = &items[0] else {
            unreachable!()
        };
        assert_eq!(tpl.raw["value"]["message_template_name"], "schaden_eingang");
        let Inbound::Unrecognized(err) = &items[2] else {
            unreachable!()
        };
        assert_eq!(err.raw["errors"][0]["code"], 130429);
        assert_eq!(err.raw["metadata"]["phone_number_id"], "106540352242922");
    }

    #[test]
    fn smb_echoes_are_outbound_with_the_customer_as_recipient() {
        let items = parse_webhook(ECHOES.as_bytes()).unwrap();
        assert_eq!(items.len(), 1);
        let echo = by_id(&items, "wamid.echo1");
        assert_eq!(echo.direction, Direction::Outbound);
        assert_eq!(
            echo.customer,
            vec![Identity::new(IdentityKind::WhatsApp, "491701234567")]
        );
        assert_eq!(echo.text.as_deref(), Some("Wir rufen Sie gleich an."));
    }

    #[test]
    fn malformed_bodies_are_errors_with_a_clear_message() {
        let err = parse_webhook(b"{\"object\":").unwrap_err();
        assert!(
            err.to_string().starts_with("body is not valid JSON"),
            "{err}"
        );
        assert_eq!(parse_webhook(b"[1,2]"), Err(ParseError::NotAnObject));
        let err = parse_webhook(br#"{"object":"page","entry":[]}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected `object` Some(\"page\"), expected \"whatsapp_business_account\""
        );
        assert_eq!(
            parse_webhook(br#"{"object":"whatsapp_business_account"}"#),
            Err(ParseError::MissingEntries)
        );
    }

    #[test]
    fn unreadable_items_inside_a_valid_body_are_kept_not_dropped() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{
          "metadata":{"phone_number_id":"P"},
          "messages":[{"from":"49170","type":"text","text":{"body":"no id"}},
                      {"from":"49170","id":"wamid.x","timestamp":"soon","type":"text"}],
          "statuses":[{"id":"wamid.s","status":"teleported","timestamp":"1"}]}}]}]}"#;
        let items = parse_webhook(body).unwrap();
        assert_eq!(items.len(), 3);
        assert!(items.iter().all(|i| matches!(i, Inbound::Unrecognized(_))));
    }

    #[test]
    fn played_and_read_statuses_map_to_their_states() {
        let body = br#"{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{
          "metadata":{"phone_number_id":"P"},
          "statuses":[{"id":"w1","status":"read","timestamp":"10","recipient_id":"49"},
                      {"id":"w2","status":"played","timestamp":"11","recipient_id":"49"},
                      {"id":"w3","status":"sent","timestamp":12,"recipient_id":"49"}]}}]}]}"#;
        let states: Vec<DeliveryState> = parse_webhook(body)
            .unwrap()
            .into_iter()
            .map(|i| match i {
                Inbound::Status(s) => s.state,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            states,
            vec![
                DeliveryState::Read,
                DeliveryState::Played,
                DeliveryState::Sent
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(body in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = parse_webhook(&body);
        }

        #[test]
        fn never_panics_on_arbitrary_json_in_the_envelope(value in arb_json()) {
            let root = serde_json::json!({"object": OBJECT, "entry": [
                {"changes": [{"field": "messages", "value": value.clone()}]},
                {"changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": "P"},
                    "contacts": value.clone(), "messages": [value.clone()], "statuses": [value]}}]}
            ]});
            let _ = parse_value(&root);
        }
    }

    pub(crate) fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            prop_oneof![
                Just("text".to_string()),
                Just("reaction".to_string()),
                Just("failed".to_string()),
                Just("1750016800".to_string()),
                ".{0,8}"
            ]
            .prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            let keys = prop_oneof![
                Just("id".to_string()),
                Just("type".to_string()),
                Just("from".to_string()),
                Just("timestamp".to_string()),
                Just("text".to_string()),
                Just("reaction".to_string()),
                Just("status".to_string()),
                Just("errors".to_string()),
                Just("location".to_string()),
                Just("latitude".to_string()),
                Just("message_id".to_string()),
                Just("emoji".to_string()),
                Just("wa_id".to_string()),
                Just("user_id".to_string()),
                Just("context".to_string()),
                Just("interactive".to_string()),
                Just("image".to_string()),
                Just("contacts".to_string()),
                "[a-z_]{1,6}"
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map(keys, inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
