//! WhatsApp Cloud API send payloads, checked against Meta's limits before
//! anything leaves the process.

use super::ValidationError;
use serde_json::{Map, Value, json};

/// Media by uploaded id or by public link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaRef {
    Id(String),
    Link(String),
}

impl MediaRef {
    fn to_json(&self) -> Map<String, Value> {
        let mut m = Map::new();
        match self {
            MediaRef::Id(id) => m.insert("id".into(), json!(id)),
            MediaRef::Link(link) => m.insert("link".into(), json!(link)),
        };
        m
    }
}

/// Who a message goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaRecipient {
    /// Customer phone (any format; sent as `+<digits>` in `to`).
    Phone(String),
    /// Business-scoped user id (`DE.1349…`, or a parent `DE.ENT.…`) of a
    /// customer known only by username, sent in `recipient`. Meta reads a
    /// BSUID in `to` as a phone number and drops the message without an error.
    UserId(String),
}

impl From<&resonanz_core::Identity> for WaRecipient {
    /// A business-scoped user id goes in `recipient`; any other identity is a phone number.
    fn from(identity: &resonanz_core::Identity) -> Self {
        match identity.kind {
            resonanz_core::IdentityKind::WhatsAppBsuid => Self::UserId(identity.value.clone()),
            _ => Self::Phone(identity.value.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct WaMessage {
    pub to: WaRecipient,
    /// wamid to quote (contextual reply).
    pub reply_to: Option<String>,
    /// Echoed in status webhooks as `biz_opaque_callback_data` (our outbox id).
    pub callback_data: Option<String>,
    pub content: WaContent,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WaContent {
    Text {
        body: String,
        preview_url: bool,
    },
    Template(TemplateMessage),
    Document {
        media: MediaRef,
        caption: Option<String>,
        filename: Option<String>,
    },
    Image {
        media: MediaRef,
        caption: Option<String>,
    },
    /// Audio takes no caption.
    Audio {
        media: MediaRef,
    },
    /// A WebP sticker; no caption either.
    Sticker {
        media: MediaRef,
    },
    Video {
        media: MediaRef,
        caption: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    Buttons(ReplyButtons),
    List(ListMessage),
    /// An empty `emoji` removes our reaction.
    Reaction {
        message_id: String,
        emoji: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TemplateMessage {
    pub name: String,
    /// e.g. `de`, `en_US`.
    pub language: String,
    pub header: Option<HeaderParam>,
    pub body: Vec<BodyParam>,
    pub buttons: Vec<ButtonParam>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HeaderParam {
    Text(String),
    Image(MediaRef),
    Video(MediaRef),
    Document {
        media: MediaRef,
        filename: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct BodyParam {
    /// Set for named-parameter templates (`{{first_name}}`).
    pub name: Option<String>,
    pub value: BodyValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BodyValue {
    Text(String),
    Currency {
        fallback: String,
        code: String,
        amount_1000: i64,
    },
    DateTime {
        fallback: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ButtonParam {
    pub index: u8,
    pub kind: ButtonParamKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ButtonParamKind {
    QuickReply {
        payload: String,
    },
    /// The dynamic suffix of a URL button.
    Url {
        text: String,
    },
    CopyCode {
        code: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReplyButtons {
    pub header: Option<String>,
    pub body: String,
    pub footer: Option<String>,
    /// `(id, title)`.
    pub buttons: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListMessage {
    pub header: Option<String>,
    pub body: String,
    pub footer: Option<String>,
    /// Label of the button that opens the list.
    pub button: String,
    pub sections: Vec<ListSection>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListSection {
    pub title: Option<String>,
    pub rows: Vec<ListRow>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListRow {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
}

fn check_len(field: &'static str, text: &str, max: usize) -> Result<(), ValidationError> {
    let len = text.chars().count();
    if len > max {
        return Err(ValidationError::TooLong { field, max, len });
    }
    Ok(())
}

fn check_nonempty(field: &'static str, text: &str) -> Result<(), ValidationError> {
    if text.trim().is_empty() {
        return Err(ValidationError::Empty(field));
    }
    Ok(())
}

/// `+` and digits: Meta prepends the *business* country code when the `+`
/// is missing, which would send a German customer's message abroad.
pub fn recipient(to: &str) -> Result<String, ValidationError> {
    let trimmed = to.trim();
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    let only_phone_chars = trimmed
        .chars()
        .all(|c| c.is_ascii_digit() || " +-()/.".contains(c));
    if !only_phone_chars || digits.len() < 6 || digits.len() > 15 {
        return Err(ValidationError::BadRecipient(to.to_owned()));
    }
    let digits = digits.strip_prefix("00").unwrap_or(&digits);
    Ok(format!("+{digits}"))
}

/// A business-scoped user id: an ISO country code, a dot, an optional
/// `ENT.` (a parent id for several business portfolios) and up to 128
/// letters or digits.
pub fn user_id(id: &str) -> Result<&str, ValidationError> {
    let bad = || ValidationError::BadRecipient(id.to_owned());
    let (country, rest) = id.split_once('.').ok_or_else(bad)?;
    let local = rest.strip_prefix("ENT.").unwrap_or(rest);
    let country_ok = country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase());
    let local_ok =
        (1..=128).contains(&local.len()) && local.bytes().all(|b| b.is_ascii_alphanumeric());
    if country_ok && local_ok {
        Ok(id)
    } else {
        Err(bad())
    }
}

impl WaMessage {
    pub fn validate(&self) -> Result<(), ValidationError> {
        match &self.to {
            WaRecipient::Phone(phone) => recipient(phone).map(drop)?,
            WaRecipient::UserId(id) => user_id(id).map(drop)?,
        }
        match &self.content {
            WaContent::Text { body, .. } => {
                check_nonempty("text.body", body)?;
                check_len("text.body", body, 4096)
            }
            WaContent::Template(t) => {
                check_nonempty("template.name", &t.name)?;
                check_nonempty("template.language", &t.language)?;
                if let Some(HeaderParam::Text(text)) = &t.header {
                    check_len("template.header", text, 60)?;
                }
                Ok(())
            }
            WaContent::Document { media, caption, .. }
            | WaContent::Image { media, caption }
            | WaContent::Video { media, caption } => {
                let (MediaRef::Id(r) | MediaRef::Link(r)) = media;
                check_nonempty("media", r)?;
                if let Some(c) = caption {
                    check_len("caption", c, 1024)?;
                }
                Ok(())
            }
            WaContent::Audio { media } | WaContent::Sticker { media } => {
                let (MediaRef::Id(r) | MediaRef::Link(r)) = media;
                check_nonempty("media", r)
            }
            WaContent::Location {
                latitude,
                longitude,
                ..
            } => {
                if !(-90.0..=90.0).contains(latitude) || !(-180.0..=180.0).contains(longitude) {
                    return Err(ValidationError::BadLocation);
                }
                Ok(())
            }
            WaContent::Buttons(b) => {
                check_nonempty("body", &b.body)?;
                check_len("body", &b.body, 1024)?;
                if let Some(h) = &b.header {
                    check_len("header", h, 60)?;
                }
                if let Some(f) = &b.footer {
                    check_len("footer", f, 60)?;
                }
                if b.buttons.is_empty() || b.buttons.len() > 3 {
                    return Err(ValidationError::Count {
                        field: "buttons",
                        min: 1,
                        max: 3,
                        len: b.buttons.len(),
                    });
                }
                let mut ids = Vec::new();
                for (id, title) in &b.buttons {
                    check_nonempty("button.id", id)?;
                    check_len("button.id", id, 256)?;
                    check_nonempty("button.title", title)?;
                    check_len("button.title", title, 20)?;
                    if ids.contains(&id) {
                        return Err(ValidationError::Duplicate(id.clone()));
                    }
                    ids.push(id);
                }
                Ok(())
            }
            WaContent::List(l) => {
                check_nonempty("body", &l.body)?;
                check_len("body", &l.body, 4096)?;
                if let Some(h) = &l.header {
                    check_len("header", h, 60)?;
                }
                if let Some(f) = &l.footer {
                    check_len("footer", f, 60)?;
                }
                check_nonempty("button", &l.button)?;
                check_len("button", &l.button, 20)?;
                if l.sections.is_empty() || l.sections.len() > 10 {
                    return Err(ValidationError::Count {
                        field: "sections",
                        min: 1,
                        max: 10,
                        len: l.sections.len(),
                    });
                }
                let rows: Vec<&ListRow> = l.sections.iter().flat_map(|s| &s.rows).collect();
                if rows.is_empty() || rows.len() > 10 {
                    return Err(ValidationError::Count {
                        field: "rows",
                        min: 1,
                        max: 10,
                        len: rows.len(),
                    });
                }
                // Meta requires section titles once there is more than one section.
                if l.sections.len() > 1
                    && l.sections
                        .iter()
                        .any(|s| s.title.as_deref().is_none_or(|t| t.trim().is_empty()))
                {
                    return Err(ValidationError::Empty("section.title"));
                }
                for s in &l.sections {
                    if let Some(t) = &s.title {
                        check_len("section.title", t, 24)?;
                    }
                }
                let mut ids = Vec::new();
                for row in rows {
                    check_nonempty("row.id", &row.id)?;
                    check_len("row.id", &row.id, 200)?;
                    check_nonempty("row.title", &row.title)?;
                    check_len("row.title", &row.title, 24)?;
                    if let Some(d) = &row.description {
                        check_len("row.description", d, 72)?;
                    }
                    if ids.contains(&&row.id) {
                        return Err(ValidationError::Duplicate(row.id.clone()));
                    }
                    ids.push(&row.id);
                }
                Ok(())
            }
            WaContent::Reaction { message_id, .. } => {
                check_nonempty("reaction.message_id", message_id)
            }
        }
    }

    /// The request body for `POST /{phone_number_id}/messages`. Call `validate` first.
    pub fn to_json(&self) -> Value {
        let (type_name, payload) = self.content_json();
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "type": type_name,
        });
        match &self.to {
            WaRecipient::Phone(phone) => {
                body["to"] = json!(recipient(phone).unwrap_or_else(|_| phone.clone()))
            }
            WaRecipient::UserId(id) => body["recipient"] = json!(id),
        }
        body[type_name] = payload;
        if let Some(id) = &self.reply_to {
            body["context"] = json!({ "message_id": id });
        }
        if let Some(data) = &self.callback_data {
            body["biz_opaque_callback_data"] = json!(data);
        }
        body
    }

    fn content_json(&self) -> (&'static str, Value) {
        match &self.content {
            WaContent::Text { body, preview_url } => {
                ("text", json!({ "body": body, "preview_url": preview_url }))
            }
            WaContent::Template(t) => ("template", template_json(t)),
            WaContent::Document {
                media,
                caption,
                filename,
            } => {
                let mut m = media.to_json();
                if let Some(c) = caption {
                    m.insert("caption".into(), json!(c));
                }
                if let Some(f) = filename {
                    m.insert("filename".into(), json!(f));
                }
                ("document", Value::Object(m))
            }
            WaContent::Image { media, caption } | WaContent::Video { media, caption } => {
                let mut m = media.to_json();
                if let Some(c) = caption {
                    m.insert("caption".into(), json!(c));
                }
                let kind = match self.content {
                    WaContent::Image { .. } => "image",
                    _ => "video",
                };
                (kind, Value::Object(m))
            }
            WaContent::Audio { media } => ("audio", Value::Object(media.to_json())),
            WaContent::Sticker { media } => ("sticker", Value::Object(media.to_json())),
            WaContent::Location {
                latitude,
                longitude,
                name,
                address,
            } => {
                let mut m = json!({ "latitude": latitude, "longitude": longitude });
                if let Some(n) = name {
                    m["name"] = json!(n);
                }
                if let Some(a) = address {
                    m["address"] = json!(a);
                }
                ("location", m)
            }
            WaContent::Buttons(b) => {
                let mut m = json!({
                    "type": "button",
                    "body": { "text": b.body },
                    "action": { "buttons": b.buttons.iter().map(|(id, title)| json!({
                        "type": "reply", "reply": { "id": id, "title": title }
                    })).collect::<Vec<_>>() },
                });
                if let Some(h) = &b.header {
                    m["header"] = json!({ "type": "text", "text": h });
                }
                if let Some(f) = &b.footer {
                    m["footer"] = json!({ "text": f });
                }
                ("interactive", m)
            }
            WaContent::List(l) => {
                let sections: Vec<Value> = l
                    .sections
                    .iter()
                    .map(|s| {
                        let mut sec = json!({ "rows": s.rows.iter().map(|r| {
                        let mut row = json!({ "id": r.id, "title": r.title });
                        if let Some(d) = &r.description {
                            row["description"] = json!(d);
                        }
                        row
                    }).collect::<Vec<_>>() });
                        if let Some(t) = &s.title {
                            sec["title"] = json!(t);
                        }
                        sec
                    })
                    .collect();
                let mut m = json!({
                    "type": "list",
                    "body": { "text": l.body },
                    "action": { "button": l.button, "sections": sections },
                });
                if let Some(h) = &l.header {
                    m["header"] = json!({ "type": "text", "text": h });
                }
                if let Some(f) = &l.footer {
                    m["footer"] = json!({ "text": f });
                }
                ("interactive", m)
            }
            WaContent::Reaction { message_id, emoji } => (
                "reaction",
                json!({ "message_id": message_id, "emoji": emoji }),
            ),
        }
    }
}

fn template_json(t: &TemplateMessage) -> Value {
    let mut components = Vec::new();
    if let Some(header) = &t.header {
        let param = match header {
            HeaderParam::Text(text) => json!({ "type": "text", "text": text }),
            HeaderParam::Image(m) => {
                json!({ "type": "image", "image": Value::Object(m.to_json()) })
            }
            HeaderParam::Video(m) => {
                json!({ "type": "video", "video": Value::Object(m.to_json()) })
            }
            HeaderParam::Document { media, filename } => {
                let mut d = media.to_json();
                if let Some(f) = filename {
                    d.insert("filename".into(), json!(f));
                }
                json!({ "type": "document", "document": Value::Object(d) })
            }
        };
        components.push(json!({ "type": "header", "parameters": [param] }));
    }
    if !t.body.is_empty() {
        let params: Vec<Value> = t.body.iter().map(|p| {
            let mut v = match &p.value {
                BodyValue::Text(text) => json!({ "type": "text", "text": text }),
                BodyValue::Currency { fallback, code, amount_1000 } => json!({
                    "type": "currency",
                    "currency": { "fallback_value": fallback, "code": code, "amount_1000": amount_1000 }
                }),
                BodyValue::DateTime { fallback } => json!({
                    "type": "date_time", "date_time": { "fallback_value": fallback }
                }),
            };
            if let Some(name) = &p.name {
                v["parameter_name"] = json!(name);
            }
            v
        }).collect();
        components.push(json!({ "type": "body", "parameters": params }));
    }
    for b in &t.buttons {
        let (sub_type, param) = match &b.kind {
            ButtonParamKind::QuickReply { payload } => (
                "quick_reply",
                json!({ "type": "payload", "payload": payload }),
            ),
            ButtonParamKind::Url { text } => ("url", json!({ "type": "text", "text": text })),
            ButtonParamKind::CopyCode { code } => (
                "copy_code",
                json!({ "type": "coupon_code", "coupon_code": code }),
            ),
        };
        components.push(json!({
            "type": "button", "sub_type": sub_type, "index": b.index.to_string(), "parameters": [param]
        }));
    }
    let mut v = json!({ "name": t.name, "language": { "code": t.language } });
    if !components.is_empty() {
        v["components"] = Value::Array(components);
    }
    v
}

/// `POST /{phone_number_id}/messages` body that marks an inbound message read.
pub fn mark_read_json(message_id: &str) -> Value {
    json!({ "messaging_product": "whatsapp", "status": "read", "message_id": message_id })
}
