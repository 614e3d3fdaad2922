//! Customers writing in: building Meta-shaped inbound webhooks and delivering them.

use crate::media::{MediaItem, MediaKind};
use crate::state::{Channel, Sim, WebhookKind, WebhookRecord, new_wamid, random_token};
use crate::wire::meta_json;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashSet;

/// What the customer sends. JSON: `{"type":"text","text":"…"}` etc., flattened into
/// [`InboundRequest`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundContent {
    Text {
        text: String,
    },
    Image {
        caption: Option<String>,
    },
    /// `voice: true` is a voice note (`audio/ogg; codecs=opus`).
    Audio {
        #[serde(default = "yes")]
        voice: bool,
    },
    Video {
        caption: Option<String>,
    },
    Document {
        filename: String,
        caption: Option<String>,
    },
    Sticker {
        #[serde(default)]
        animated: bool,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    /// A shared contact card.
    Contacts {
        contact_name: String,
        phone: String,
    },
    ButtonReply {
        id: String,
        title: String,
    },
    ListReply {
        id: String,
        title: String,
        description: Option<String>,
    },
    /// Quick-reply tap on a template.
    Button {
        payload: String,
        text: String,
    },
    /// `emoji: None` removes the reaction.
    Reaction {
        message_id: String,
        emoji: Option<String>,
    },
    Order {
        catalog_id: String,
        product_retailer_id: String,
        quantity: u32,
        item_price: f64,
        currency: String,
    },
    /// The customer changed numbers.
    System {
        new_wa_id: String,
    },
    /// Meta could not render it (`unsupported.type` e.g. `poll_creation`).
    Unsupported {
        unsupported_type: String,
    },
    /// A type from the future, delivered with its raw object under `type_name`.
    Future {
        type_name: String,
        payload: Value,
    },
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InboundRequest {
    #[serde(default)]
    pub channel: Channel,
    /// wa_id (digits), PSID or IGSID. Empty for a BSUID-only WhatsApp user.
    pub from: String,
    /// Profile name; defaults to the known customer's name.
    pub name: Option<String>,
    /// Business-scoped user id; with an empty `from`, the user is BSUID-only.
    pub user_id: Option<String>,
    /// Quote this wamid/mid (`context.id` / `reply_to.mid`).
    pub reply_to: Option<String>,
    /// Click-to-WhatsApp ad referral.
    #[serde(default)]
    pub referral: bool,
    /// Re-send the identical bytes a second time.
    #[serde(default)]
    pub duplicate: bool,
    #[serde(flatten)]
    pub content: InboundContent,
}

impl InboundRequest {
    pub fn whatsapp(from: &str, content: InboundContent) -> Self {
        Self {
            channel: Channel::Whatsapp,
            from: from.into(),
            name: None,
            user_id: None,
            reply_to: None,
            referral: false,
            duplicate: false,
            content,
        }
    }

    pub fn text(from: &str, text: &str) -> Self {
        Self::whatsapp(from, InboundContent::Text { text: text.into() })
    }
}

/// How several inbound items share one POST.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum BatchLayout {
    /// One change (one `messaging[]`) holding every message.
    #[default]
    Messages,
    /// One entry with one change per message (WhatsApp only).
    Changes,
    /// One entry per message.
    Entries,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboundReceipt {
    /// `wamid.…` / `m_…` of each message, in order.
    pub message_ids: Vec<String>,
    /// Media ids created for media messages.
    pub media_ids: Vec<String>,
    /// One per POST made (two when duplicated).
    pub deliveries: Vec<WebhookRecord>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InboundError {
    #[error("{0} is not available on {1:?}")]
    Unsupported(&'static str, Channel),
    #[error("a batch needs at least one item, all on the same channel")]
    BadBatch,
    #[error("{0}")]
    Invalid(String),
}

struct Built {
    message: Value,
    contact: Option<Value>,
    id: String,
    media_id: Option<String>,
    window_key: String,
}

impl Sim {
    pub(crate) async fn deliver_inbound(
        &self,
        items: Vec<InboundRequest>,
        layout: BatchLayout,
    ) -> Result<InboundReceipt, InboundError> {
        let Some(first) = items.first() else {
            return Err(InboundError::BadBatch);
        };
        let channel = first.channel;
        if items.iter().any(|i| i.channel != channel)
            || (channel != Channel::Whatsapp && layout == BatchLayout::Changes)
        {
            return Err(InboundError::BadBatch);
        }
        let duplicate = items.iter().any(|i| i.duplicate);
        let now = self.now();
        let now_ms = self.now_ms();
        let built = items
            .iter()
            .map(|i| match channel {
                Channel::Whatsapp => self.build_wa(i, now),
                _ => self.build_fb(i, now_ms),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let payload = match channel {
            Channel::Whatsapp => self.wa_payload(&built, layout),
            _ => self.fb_payload(channel, &built, layout, now_ms),
        };

        // The window opens when the message is sent, whatever Resonanz answers.
        {
            let mut st = self.lock();
            for b in &built {
                match channel {
                    Channel::Whatsapp => {
                        st.wa_windows.insert(
                            (self.config.phone_number_id.clone(), b.window_key.clone()),
                            now,
                        );
                        st.inbound_ids.insert(b.id.clone());
                        if !b.window_key.is_empty() {
                            st.known_wa.insert(b.window_key.clone());
                        }
                    }
                    _ => {
                        let object_id = if channel == Channel::Instagram {
                            &self.config.ig_id
                        } else {
                            &self.config.page_id
                        };
                        st.fb_windows
                            .insert((object_id.clone(), b.window_key.clone()), now);
                        st.known_scoped.insert(b.window_key.clone());
                    }
                }
            }
        }

        let bytes = meta_json(&payload);
        let mut deliveries = vec![
            self.deliver_bytes(channel, WebhookKind::Inbound, bytes.clone(), false)
                .await,
        ];
        if duplicate {
            deliveries.push(
                self.deliver_bytes(channel, WebhookKind::Inbound, bytes, true)
                    .await,
            );
        }
        Ok(InboundReceipt {
            message_ids: built.iter().map(|b| b.id.clone()).collect(),
            media_ids: built.iter().filter_map(|b| b.media_id.clone()).collect(),
            deliveries,
        })
    }

    fn customer_name(&self, from: &str) -> String {
        self.config
            .known_customers
            .iter()
            .find(|c| {
                c.wa_id == from
                    || c.psid.as_deref() == Some(from)
                    || c.igsid.as_deref() == Some(from)
            })
            .map_or_else(|| "Kunde".to_owned(), |c| c.name.clone())
    }

    fn wa_media(
        &self,
        kind: MediaKind,
        filename: Option<&str>,
        tun_url: bool,
    ) -> (MediaItem, Value) {
        let item = self.create_media(kind, filename);
        let mut obj = json!({"mime_type": item.mime_type, "sha256": item.sha256, "id": item.id});
        if tun_url {
            obj["url"] = json!(self.media_url(&item.id));
        }
        (item, obj)
    }

    fn build_wa(&self, req: &InboundRequest, now: i64) -> Result<Built, InboundError> {
        let bsuid_only = req.from.is_empty();
        if bsuid_only && req.user_id.is_none() {
            return Err(InboundError::Invalid(
                "from is empty and no user_id given".into(),
            ));
        }
        if !req.from.bytes().all(|b| b.is_ascii_digit()) {
            return Err(InboundError::Invalid(format!(
                "from must be digits: {}",
                req.from
            )));
        }
        let include_url = self.tunables().include_media_url;
        let id = new_wamid(if bsuid_only {
            req.user_id.as_deref().unwrap_or_default()
        } else {
            &req.from
        });
        let mut msg = json!({"from": req.from, "id": id, "timestamp": now.to_string()});
        if let Some(uid) = &req.user_id {
            msg["from_user_id"] = json!(uid);
        }
        let mut media_id = None;
        let (ty, obj): (String, Value) = match &req.content {
            InboundContent::Text { text } => ("text".into(), json!({"body": text})),
            InboundContent::Image { caption } | InboundContent::Video { caption } => {
                let (kind, ty) = if matches!(req.content, InboundContent::Image { .. }) {
                    (MediaKind::Image, "image")
                } else {
                    (MediaKind::Video, "video")
                };
                let (item, mut obj) = self.wa_media(kind, None, include_url);
                if let Some(c) = caption {
                    obj["caption"] = json!(c);
                }
                media_id = Some(item.id);
                (ty.into(), obj)
            }
            InboundContent::Audio { voice } => {
                let (item, mut obj) = self.wa_media(MediaKind::VoiceNote, None, include_url);
                obj["voice"] = json!(voice);
                media_id = Some(item.id);
                ("audio".into(), obj)
            }
            InboundContent::Document { filename, caption } => {
                let (item, mut obj) = self.wa_media(MediaKind::Pdf, Some(filename), include_url);
                obj["filename"] = json!(filename);
                if let Some(c) = caption {
                    obj["caption"] = json!(c);
                }
                media_id = Some(item.id);
                ("document".into(), obj)
            }
            InboundContent::Sticker { animated } => {
                let (item, mut obj) = self.wa_media(MediaKind::Sticker, None, include_url);
                obj["animated"] = json!(animated);
                media_id = Some(item.id);
                ("sticker".into(), obj)
            }
            InboundContent::Location {
                latitude,
                longitude,
                name,
                address,
            } => {
                let mut obj = json!({"latitude": latitude, "longitude": longitude});
                if let Some(n) = name {
                    obj["name"] = json!(n);
                }
                if let Some(a) = address {
                    obj["address"] = json!(a);
                }
                ("location".into(), obj)
            }
            InboundContent::Contacts {
                contact_name,
                phone,
            } => {
                let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
                let (first, last) = contact_name.split_once(' ').unwrap_or((contact_name, ""));
                (
                    "contacts".into(),
                    json!([{
                        "name": {"formatted_name": contact_name, "first_name": first, "last_name": last},
                        "phones": [{"phone": phone, "wa_id": digits, "type": "CELL"}],
                    }]),
                )
            }
            InboundContent::ButtonReply { id: bid, title } => (
                "interactive".into(),
                json!({"type": "button_reply", "button_reply": {"id": bid, "title": title}}),
            ),
            InboundContent::ListReply {
                id: rid,
                title,
                description,
            } => {
                let mut lr = json!({"id": rid, "title": title});
                if let Some(d) = description {
                    lr["description"] = json!(d);
                }
                (
                    "interactive".into(),
                    json!({"type": "list_reply", "list_reply": lr}),
                )
            }
            InboundContent::Button { payload, text } => {
                ("button".into(), json!({"payload": payload, "text": text}))
            }
            InboundContent::Reaction { message_id, emoji } => {
                let mut obj = json!({"message_id": message_id});
                if let Some(e) = emoji {
                    obj["emoji"] = json!(e);
                }
                ("reaction".into(), obj)
            }
            InboundContent::Order {
                catalog_id,
                product_retailer_id,
                quantity,
                item_price,
                currency,
            } => (
                "order".into(),
                json!({
                    "catalog_id": catalog_id,
                    "text": "",
                    "product_items": [{"product_retailer_id": product_retailer_id, "quantity": quantity, "item_price": item_price, "currency": currency}],
                }),
            ),
            InboundContent::System { new_wa_id } => (
                "system".into(),
                json!({
                    "body": format!("User {} changed from {} to {}", self.customer_name(&req.from), req.from, new_wa_id),
                    "wa_id": new_wa_id,
                    "type": "user_changed_number",
                }),
            ),
            InboundContent::Unsupported { unsupported_type } => {
                msg["errors"] = json!([{
                    "code": 131051,
                    "title": "Message type unknown",
                    "message": "Message type unknown",
                    "error_data": {"details": "Message type is currently not supported."},
                }]);
                ("unsupported".into(), json!({"type": unsupported_type}))
            }
            InboundContent::Future { type_name, payload } => (type_name.clone(), payload.clone()),
        };
        msg["type"] = json!(ty);
        msg[ty.as_str()] = obj;
        if let Some(ctx) = &req.reply_to {
            msg["context"] = json!({"from": self.config.display_phone_number, "id": ctx});
        }
        if req.referral {
            msg["referral"] = json!({
                "source_url": "https://fb.me/3cr4Wqqkv",
                "source_id": "120212345678900123",
                "source_type": "ad",
                "body": "Jetzt Kfz-Versicherung wechseln und sparen.",
                "headline": "Kfz-Wechsel 2026",
                "media_type": "image",
                "image_url": "https://scontent.xx.fbcdn.net/v/t45.1600-4/ad.png",
                "ctwa_clid": random_token(60),
            });
        }
        let name = req
            .name
            .clone()
            .unwrap_or_else(|| self.customer_name(&req.from));
        let mut contact = json!({"profile": {"name": name}, "wa_id": req.from});
        if let Some(uid) = &req.user_id {
            contact["user_id"] = json!(uid);
        }
        let window_key = if bsuid_only {
            req.user_id.clone().unwrap_or_default()
        } else {
            req.from.clone()
        };
        // System messages carry no contacts array.
        let is_system = matches!(req.content, InboundContent::System { .. });
        Ok(Built {
            message: msg,
            contact: (!is_system).then_some(contact),
            id,
            media_id,
            window_key,
        })
    }

    fn wa_payload(&self, built: &[Built], layout: BatchLayout) -> Value {
        let value_for = |bs: &[&Built]| {
            let mut seen = HashSet::new();
            let contacts: Vec<Value> = bs
                .iter()
                .filter_map(|b| b.contact.clone())
                .filter(|c| seen.insert(c.to_string()))
                .collect();
            let mut value = json!({
                "messaging_product": "whatsapp",
                "metadata": self.wa_metadata(),
                "messages": bs.iter().map(|b| b.message.clone()).collect::<Vec<_>>(),
            });
            if !contacts.is_empty() {
                value["contacts"] = json!(contacts);
            }
            value
        };
        let refs: Vec<&Built> = built.iter().collect();
        match layout {
            BatchLayout::Messages => self.wa_envelope(vec![(value_for(&refs), "messages")]),
            BatchLayout::Changes => self.wa_envelope(
                refs.iter()
                    .map(|b| (value_for(&[*b]), "messages"))
                    .collect(),
            ),
            BatchLayout::Entries => {
                let entries: Vec<Value> = refs
                    .iter()
                    .map(|b| json!({"id": self.config.waba_id, "changes": [{"value": value_for(&[*b]), "field": "messages"}]}))
                    .collect();
                json!({"object": "whatsapp_business_account", "entry": entries})
            }
        }
    }

    fn build_fb(&self, req: &InboundRequest, now_ms: i64) -> Result<Built, InboundError> {
        let channel = req.channel;
        if req.from.is_empty() {
            return Err(InboundError::Invalid(
                "from (PSID/IGSID) is required".into(),
            ));
        }
        let object_id = if channel == Channel::Instagram {
            &self.config.ig_id
        } else {
            &self.config.page_id
        };
        let mid = new_mid_inbound(channel);
        let mut event = json!({"sender": {"id": req.from}, "recipient": {"id": object_id}, "timestamp": now_ms});
        let attachment = |ty: &str, kind: MediaKind, filename: Option<&str>| {
            let item = self.create_media(kind, filename);
            (
                item.id.clone(),
                json!({"type": ty, "payload": {"url": self.cdn_url(&item.id)}}),
            )
        };
        let mut media_id = None;
        let mut message = json!({"mid": mid});
        match &req.content {
            InboundContent::Text { text } => message["text"] = json!(text),
            InboundContent::Image { caption } => {
                let (id, a) = attachment("image", MediaKind::Image, None);
                media_id = Some(id);
                message["attachments"] = json!([a]);
                if let Some(c) = caption {
                    message["text"] = json!(c);
                }
            }
            InboundContent::Audio { .. } => {
                let (id, a) = attachment("audio", MediaKind::VoiceNote, None);
                media_id = Some(id);
                message["attachments"] = json!([a]);
            }
            InboundContent::Video { .. } => {
                let (id, a) = attachment("video", MediaKind::Video, None);
                media_id = Some(id);
                message["attachments"] = json!([a]);
            }
            InboundContent::Document { filename, .. } => {
                if channel == Channel::Instagram {
                    return Err(InboundError::Unsupported("document", channel));
                }
                let (id, a) = attachment("file", MediaKind::Pdf, Some(filename));
                media_id = Some(id);
                message["attachments"] = json!([a]);
            }
            InboundContent::Location {
                latitude,
                longitude,
                ..
            } if channel == Channel::Messenger => {
                message["attachments"] = json!([{"type": "location", "payload": {"coordinates": {"lat": latitude, "long": longitude}}}]);
            }
            InboundContent::ButtonReply { id, title } => {
                message["text"] = json!(title);
                message["quick_reply"] = json!({"payload": id});
            }
            InboundContent::Reaction { message_id, emoji } => {
                let reaction = match emoji {
                    Some(e) => {
                        json!({"mid": message_id, "action": "react", "reaction": "love", "emoji": e})
                    }
                    None => json!({"mid": message_id, "action": "unreact"}),
                };
                event["reaction"] = reaction;
                return Ok(Built {
                    message: event,
                    contact: None,
                    id: mid,
                    media_id: None,
                    window_key: req.from.clone(),
                });
            }
            other => {
                let name = match other {
                    InboundContent::Location { .. } => "location",
                    InboundContent::Sticker { .. } => "sticker",
                    InboundContent::Contacts { .. } => "contacts",
                    InboundContent::ListReply { .. } => "list_reply",
                    InboundContent::Button { .. } => "button",
                    InboundContent::Order { .. } => "order",
                    InboundContent::System { .. } => "system",
                    InboundContent::Unsupported { .. } => "unsupported",
                    _ => "future",
                };
                return Err(InboundError::Unsupported(name, channel));
            }
        }
        if let Some(r) = &req.reply_to {
            message["reply_to"] = json!({"mid": r});
        }
        event["message"] = message;
        Ok(Built {
            message: event,
            contact: None,
            id: mid,
            media_id,
            window_key: req.from.clone(),
        })
    }

    fn fb_payload(
        &self,
        channel: Channel,
        built: &[Built],
        layout: BatchLayout,
        now_ms: i64,
    ) -> Value {
        let object = if channel == Channel::Instagram {
            "instagram"
        } else {
            "page"
        };
        let object_id = if channel == Channel::Instagram {
            &self.config.ig_id
        } else {
            &self.config.page_id
        };
        let entries: Vec<Value> = match layout {
            BatchLayout::Entries => built
                .iter()
                .map(|b| json!({"id": object_id, "time": now_ms, "messaging": [b.message]}))
                .collect(),
            _ => vec![
                json!({"id": object_id, "time": now_ms, "messaging": built.iter().map(|b| b.message.clone()).collect::<Vec<_>>()}),
            ],
        };
        json!({"object": object, "entry": entries})
    }
}

fn new_mid_inbound(channel: Channel) -> String {
    use base64::Engine;
    match channel {
        Channel::Instagram => base64::engine::general_purpose::STANDARD
            .encode(format!("ig_message_item:1:{}", random_token(40))),
        _ => format!("m_{}", random_token(40)),
    }
}
