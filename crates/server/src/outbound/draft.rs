//! What an agent asks to send: the API body, stored verbatim as the outbox
//! payload, and its translation into the channel's wire message.

use resonanz_channels::outbound::{
    AttachmentType, BodyParam, BodyValue, ButtonParam, ButtonParamKind, HeaderParam, ListMessage,
    ListRow, ListSection, MediaRef, MessagingType, MetaContent, MetaMessage, ReplyButtons,
    TemplateMessage, ValidationError, WaContent, WaMessage, WaRecipient,
};
use resonanz_core::rules::{Author, DraftKind, TemplateCategory, TemplateStatus};
use resonanz_core::{Attachment, Channel, Location, MessageKind};
use serde::{Deserialize, Serialize};

/// A send request: the content plus who writes and what it replies to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DraftEnvelope {
    #[serde(flatten)]
    pub draft: Draft,
    /// Message to quote (our `msg_…` id or the channel's wamid/mid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// `human` (default) or `automated`: Messenger's 7-day HUMAN_AGENT rule needs to know.
    #[serde(default = "human")]
    pub author: Author,
}

fn human() -> Author {
    Author::Human
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Draft {
    Text {
        text: String,
        #[serde(default)]
        preview_url: bool,
    },
    /// A PDF or other file by public link, Meta media id, or a file uploaded
    /// to Resonanz (`upload`: the handle from `POST /api/media`, uploaded to
    /// Meta just before the send).
    Document {
        link: Option<String>,
        media_id: Option<String>,
        upload: Option<String>,
        /// Shown to the customer; its extension picks the icon. Defaults to
        /// the uploaded file's name.
        filename: Option<String>,
        caption: Option<String>,
    },
    Image {
        link: Option<String>,
        media_id: Option<String>,
        upload: Option<String>,
        caption: Option<String>,
    },
    Audio {
        link: Option<String>,
        media_id: Option<String>,
        upload: Option<String>,
    },
    Video {
        link: Option<String>,
        media_id: Option<String>,
        upload: Option<String>,
        caption: Option<String>,
    },
    /// A WebP sticker (WhatsApp only). It takes no caption; one given is
    /// kept here only to refuse the draft instead of dropping the text.
    Sticker {
        link: Option<String>,
        media_id: Option<String>,
        upload: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        caption: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    /// Up to three reply buttons.
    Buttons {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        buttons: Vec<Choice>,
    },
    List {
        body: String,
        header: Option<String>,
        footer: Option<String>,
        button: String,
        sections: Vec<Section>,
    },
    /// Reacts to a customer message; an empty emoji removes our reaction.
    Reaction { message_id: String, emoji: String },
    Template {
        name: String,
        #[serde(default = "german")]
        language: String,
        /// Body variables in order (`{{1}}`, …) or by name.
        #[serde(default)]
        body: Vec<Param>,
        /// Text, or the file of an IMAGE/VIDEO/DOCUMENT header (by link,
        /// Meta media id or `upload`), matching the template's header format.
        header: Option<TemplateHeader>,
        #[serde(default)]
        buttons: Vec<TemplateButton>,
    },
}

fn german() -> String {
    "de".into()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub id: String,
    pub title: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Section {
    pub title: Option<String>,
    pub rows: Vec<Row>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub id: String,
    pub title: String,
    pub description: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Param {
    Positional(String),
    Named { name: String, text: String },
}

impl Param {
    fn text(&self) -> &str {
        match self {
            Param::Positional(text) | Param::Named { text, .. } => text,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TemplateHeader {
    Text {
        text: String,
    },
    Image {
        link: Option<String>,
        media_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upload: Option<String>,
    },
    Video {
        link: Option<String>,
        media_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upload: Option<String>,
    },
    Document {
        link: Option<String>,
        media_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upload: Option<String>,
        /// Defaults to the uploaded file's name.
        filename: Option<String>,
    },
}

impl TemplateHeader {
    /// `text`, `image`, `video` or `document`: what the header carries.
    pub fn kind(&self) -> &'static str {
        match self {
            TemplateHeader::Text { .. } => "text",
            TemplateHeader::Image { .. } => "image",
            TemplateHeader::Video { .. } => "video",
            TemplateHeader::Document { .. } => "document",
        }
    }

    fn upload(&self) -> Option<&str> {
        match self {
            TemplateHeader::Text { .. } => None,
            TemplateHeader::Image { upload, .. }
            | TemplateHeader::Video { upload, .. }
            | TemplateHeader::Document { upload, .. } => upload.as_deref(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TemplateButton {
    QuickReply { index: u8, payload: String },
    Url { index: u8, text: String },
    CopyCode { index: u8, code: String },
}

/// A draft that cannot become a message on this channel.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DraftError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("give exactly one of link, media_id or upload for the file")]
    Media,
    /// The uploaded file has no Meta media id yet (the worker uploads it).
    #[error("the uploaded file is not at Meta yet")]
    UploadPending,
    #[error("{0} messages cannot be sent on {1}")]
    Unsupported(&'static str, Channel),
    /// WhatsApp shows no text with stickers (or audio).
    #[error("{0} messages take no caption")]
    Caption(&'static str),
}

impl DraftError {
    pub fn message_de(&self) -> String {
        match self {
            DraftError::Invalid(err) => {
                format!("Die Nachricht verletzt eine Grenze von Meta: {err}")
            }
            DraftError::Media => "Bitte genau eines angeben: link, media_id oder upload.".into(),
            DraftError::UploadPending => "Die Datei ist noch nicht bei Meta hochgeladen.".into(),
            DraftError::Unsupported(kind, channel) => {
                format!("Nachrichten vom Typ {kind} können über {channel} nicht gesendet werden.")
            }
            DraftError::Caption(kind) => format!(
                "Nachrichten vom Typ {kind} können keinen Begleittext (caption) haben; bitte den Text als eigene Nachricht senden."
            ),
        }
    }
}

fn media(link: &Option<String>, media_id: &Option<String>) -> Result<MediaRef, DraftError> {
    match (link, media_id) {
        (Some(link), None) => Ok(MediaRef::Link(link.clone())),
        (None, Some(id)) => Ok(MediaRef::Id(id.clone())),
        _ => Err(DraftError::Media),
    }
}

/// As `media`, with an uploaded file: `upload_id` is Meta's id for it.
fn sendable(
    link: &Option<String>,
    media_id: &Option<String>,
    upload: &Option<String>,
    upload_id: Option<&str>,
) -> Result<MediaRef, DraftError> {
    match (link, media_id, upload) {
        (None, None, Some(_)) => upload_id
            .map(|id| MediaRef::Id(id.to_owned()))
            .ok_or(DraftError::UploadPending),
        (_, _, None) => media(link, media_id),
        _ => Err(DraftError::Media),
    }
}

impl Draft {
    pub fn type_name(&self) -> &'static str {
        match self {
            Draft::Text { .. } => "text",
            Draft::Document { .. } => "document",
            Draft::Image { .. } => "image",
            Draft::Audio { .. } => "audio",
            Draft::Video { .. } => "video",
            Draft::Sticker { .. } => "sticker",
            Draft::Location { .. } => "location",
            Draft::Buttons { .. } => "buttons",
            Draft::List { .. } => "list",
            Draft::Reaction { .. } => "reaction",
            Draft::Template { .. } => "template",
        }
    }

    pub fn message_kind(&self) -> MessageKind {
        match self {
            Draft::Text { .. } => MessageKind::Text,
            Draft::Document { .. } => MessageKind::Document,
            Draft::Image { .. } => MessageKind::Image,
            Draft::Audio { .. } => MessageKind::Audio,
            Draft::Video { .. } => MessageKind::Video,
            Draft::Sticker { .. } => MessageKind::Sticker,
            Draft::Location { .. } => MessageKind::Location,
            Draft::Buttons { .. } | Draft::List { .. } => MessageKind::Interactive,
            Draft::Reaction { .. } => MessageKind::Reaction,
            Draft::Template { .. } => MessageKind::Template,
        }
    }

    /// The text the agent wrote (for the emoji check and the timeline).
    pub fn text(&self) -> Option<String> {
        match self {
            Draft::Text { text, .. } => Some(text.clone()),
            Draft::Document { caption, .. }
            | Draft::Image { caption, .. }
            | Draft::Video { caption, .. } => caption.clone(),
            // A sticker's caption is refused, never shown.
            Draft::Audio { .. } | Draft::Sticker { .. } => None,
            Draft::Buttons { body, .. } | Draft::List { body, .. } => Some(body.clone()),
            Draft::Location { name, address, .. } => name.clone().or_else(|| address.clone()),
            Draft::Reaction { emoji, .. } => Some(emoji.clone()).filter(|e| !e.is_empty()),
            Draft::Template { .. } => None,
        }
    }

    /// The uploaded file's handle (hex SHA-256 of its bytes), if any: the
    /// message's file, or the file in a template's header.
    pub fn upload(&self) -> Option<&str> {
        match self {
            Draft::Document { upload, .. }
            | Draft::Image { upload, .. }
            | Draft::Audio { upload, .. }
            | Draft::Video { upload, .. }
            | Draft::Sticker { upload, .. } => upload.as_deref(),
            Draft::Template { header, .. } => header.as_ref().and_then(TemplateHeader::upload),
            _ => None,
        }
    }

    /// What kind of file the upload must be: the message's own type, or the
    /// template header's.
    pub fn upload_kind(&self) -> &'static str {
        match self {
            Draft::Template {
                header: Some(header),
                ..
            } => header.kind(),
            other => other.type_name(),
        }
    }

    /// The attachment as sent; `upload_id` is Meta's media id of an uploaded
    /// file, whose handle goes into `sha256` so the timeline finds the blob.
    pub fn attachments(&self, upload_id: Option<&str>) -> Vec<Attachment> {
        let none = None;
        let (kind, link, media_id, upload, filename, caption) = match self {
            Draft::Document {
                link,
                media_id,
                upload,
                filename,
                caption,
            } => ("document", link, media_id, upload, filename, caption),
            Draft::Image {
                link,
                media_id,
                upload,
                caption,
            } => ("image", link, media_id, upload, &none, caption),
            Draft::Audio {
                link,
                media_id,
                upload,
            } => ("audio", link, media_id, upload, &none, &none),
            Draft::Video {
                link,
                media_id,
                upload,
                caption,
            } => ("video", link, media_id, upload, &none, caption),
            Draft::Sticker {
                link,
                media_id,
                upload,
                ..
            } => ("sticker", link, media_id, upload, &none, &none),
            Draft::Template {
                header: Some(header),
                ..
            } => match header {
                TemplateHeader::Text { .. } => return Vec::new(),
                TemplateHeader::Image {
                    link,
                    media_id,
                    upload,
                } => ("image", link, media_id, upload, &none, &none),
                TemplateHeader::Video {
                    link,
                    media_id,
                    upload,
                } => ("video", link, media_id, upload, &none, &none),
                TemplateHeader::Document {
                    link,
                    media_id,
                    upload,
                    filename,
                } => ("document", link, media_id, upload, filename, &none),
            },
            _ => return Vec::new(),
        };
        vec![Attachment {
            kind: kind.into(),
            media_ref: link
                .clone()
                .or_else(|| media_id.clone())
                .or_else(|| upload.as_ref().and(upload_id.map(str::to_owned)))
                .or_else(|| upload.clone())
                .unwrap_or_default(),
            mime_type: None,
            filename: filename.clone(),
            caption: caption.clone(),
            sha256: upload.clone(),
        }]
    }

    pub fn location(&self) -> Option<Location> {
        match self {
            Draft::Location {
                latitude,
                longitude,
                name,
                address,
            } => Some(Location {
                latitude: *latitude,
                longitude: *longitude,
                name: name.clone(),
                address: address.clone(),
            }),
            _ => None,
        }
    }

    /// Template body with its variables filled in, for the timeline.
    pub fn render_template(&self, body_text: Option<&str>) -> Option<String> {
        let Draft::Template { body, .. } = self else {
            return None;
        };
        let mut text = body_text?.to_owned();
        for (i, param) in body.iter().enumerate() {
            let placeholder = match param {
                Param::Positional(_) => format!("{{{{{}}}}}", i + 1),
                Param::Named { name, .. } => format!("{{{{{name}}}}}"),
            };
            text = text.replace(&placeholder, param.text());
        }
        Some(text)
    }
}

impl DraftEnvelope {
    /// What the rule check sees. A template's status and category come from
    /// the cache; an unknown category counts as MARKETING (the safe side).
    pub fn rule_kind(
        &self,
        cached: Option<(TemplateStatus, Option<TemplateCategory>)>,
    ) -> DraftKind {
        match &self.draft {
            Draft::Template { name, .. } => {
                let (status, category) =
                    cached.unwrap_or((TemplateStatus::Other("UNKNOWN".into()), None));
                DraftKind::Template {
                    name: name.clone(),
                    status,
                    category: category.unwrap_or(TemplateCategory::Marketing),
                }
            }
            other => DraftKind::FreeForm {
                author: self.author,
                text: other.text(),
            },
        }
    }

    /// The WhatsApp message; `callback_data` (our outbox id) comes back in
    /// every status webhook as `biz_opaque_callback_data`; `upload_id` is
    /// Meta's media id for the draft's uploaded file.
    pub fn to_whatsapp(
        &self,
        to: &WaRecipient,
        callback_data: &str,
        upload_id: Option<&str>,
    ) -> Result<WaMessage, DraftError> {
        let content = match &self.draft {
            Draft::Text { text, preview_url } => WaContent::Text {
                body: text.clone(),
                preview_url: *preview_url,
            },
            Draft::Document {
                link,
                media_id,
                upload,
                filename,
                caption,
            } => WaContent::Document {
                media: sendable(link, media_id, upload, upload_id)?,
                caption: caption.clone(),
                filename: filename.clone(),
            },
            Draft::Image {
                link,
                media_id,
                upload,
                caption,
            } => WaContent::Image {
                media: sendable(link, media_id, upload, upload_id)?,
                caption: caption.clone(),
            },
            Draft::Audio {
                link,
                media_id,
                upload,
            } => WaContent::Audio {
                media: sendable(link, media_id, upload, upload_id)?,
            },
            Draft::Video {
                link,
                media_id,
                upload,
                caption,
            } => WaContent::Video {
                media: sendable(link, media_id, upload, upload_id)?,
                caption: caption.clone(),
            },
            Draft::Sticker {
                link,
                media_id,
                upload,
                caption,
            } => {
                if caption.is_some() {
                    return Err(DraftError::Caption("sticker"));
                }
                WaContent::Sticker {
                    media: sendable(link, media_id, upload, upload_id)?,
                }
            }
            Draft::Location {
                latitude,
                longitude,
                name,
                address,
            } => WaContent::Location {
                latitude: *latitude,
                longitude: *longitude,
                name: name.clone(),
                address: address.clone(),
            },
            Draft::Buttons {
                body,
                header,
                footer,
                buttons,
            } => WaContent::Buttons(ReplyButtons {
                header: header.clone(),
                body: body.clone(),
                footer: footer.clone(),
                buttons: buttons
                    .iter()
                    .map(|b| (b.id.clone(), b.title.clone()))
                    .collect(),
            }),
            Draft::List {
                body,
                header,
                footer,
                button,
                sections,
            } => WaContent::List(ListMessage {
                header: header.clone(),
                body: body.clone(),
                footer: footer.clone(),
                button: button.clone(),
                sections: sections
                    .iter()
                    .map(|s| ListSection {
                        title: s.title.clone(),
                        rows: s
                            .rows
                            .iter()
                            .map(|r| ListRow {
                                id: r.id.clone(),
                                title: r.title.clone(),
                                description: r.description.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
            }),
            Draft::Reaction { message_id, emoji } => WaContent::Reaction {
                message_id: message_id.clone(),
                emoji: emoji.clone(),
            },
            Draft::Template {
                name,
                language,
                body,
                header,
                buttons,
            } => WaContent::Template(TemplateMessage {
                name: name.clone(),
                language: language.clone(),
                header: header
                    .as_ref()
                    .map(|h| template_header(h, upload_id))
                    .transpose()?,
                body: body
                    .iter()
                    .map(|p| BodyParam {
                        name: match p {
                            Param::Named { name, .. } => Some(name.clone()),
                            Param::Positional(_) => None,
                        },
                        value: BodyValue::Text(p.text().to_owned()),
                    })
                    .collect(),
                buttons: buttons.iter().map(template_button).collect(),
            }),
        };
        let message = WaMessage {
            to: to.clone(),
            reply_to: self.reply_to.clone(),
            callback_data: Some(callback_data.to_owned()),
            content,
        };
        message.validate()?;
        Ok(message)
    }

    /// The Messenger/Instagram message; `messaging_type` comes from the rule check.
    pub fn to_meta(
        &self,
        channel: Channel,
        recipient_id: &str,
        messaging_type: MessagingType,
    ) -> Result<MetaMessage, DraftError> {
        let content = match &self.draft {
            Draft::Text { text, .. } => MetaContent::Text(text.clone()),
            Draft::Image {
                link: Some(url),
                upload: None,
                ..
            } => MetaContent::Attachment {
                kind: AttachmentType::Image,
                url: url.clone(),
            },
            Draft::Document {
                link: Some(url),
                upload: None,
                ..
            } => MetaContent::Attachment {
                kind: AttachmentType::File,
                url: url.clone(),
            },
            Draft::Audio {
                link: Some(url),
                upload: None,
                ..
            } => MetaContent::Attachment {
                kind: AttachmentType::Audio,
                url: url.clone(),
            },
            Draft::Video {
                link: Some(url),
                upload: None,
                ..
            } => MetaContent::Attachment {
                kind: AttachmentType::Video,
                url: url.clone(),
            },
            other => return Err(DraftError::Unsupported(other.type_name(), channel)),
        };
        let message = MetaMessage {
            recipient_id: recipient_id.to_owned(),
            messaging_type,
            content,
        };
        message.validate(channel)?;
        Ok(message)
    }
}

/// The header parameter; `upload_id` is Meta's media id of an uploaded file.
fn template_header(
    header: &TemplateHeader,
    upload_id: Option<&str>,
) -> Result<HeaderParam, DraftError> {
    Ok(match header {
        TemplateHeader::Text { text } => HeaderParam::Text(text.clone()),
        TemplateHeader::Image {
            link,
            media_id,
            upload,
        } => HeaderParam::Image(sendable(link, media_id, upload, upload_id)?),
        TemplateHeader::Video {
            link,
            media_id,
            upload,
        } => HeaderParam::Video(sendable(link, media_id, upload, upload_id)?),
        TemplateHeader::Document {
            link,
            media_id,
            upload,
            filename,
        } => HeaderParam::Document {
            media: sendable(link, media_id, upload, upload_id)?,
            filename: filename.clone(),
        },
    })
}

fn template_button(button: &TemplateButton) -> ButtonParam {
    match button {
        TemplateButton::QuickReply { index, payload } => ButtonParam {
            index: *index,
            kind: ButtonParamKind::QuickReply {
                payload: payload.clone(),
            },
        },
        TemplateButton::Url { index, text } => ButtonParam {
            index: *index,
            kind: ButtonParamKind::Url { text: text.clone() },
        },
        TemplateButton::CopyCode { index, code } => ButtonParam {
            index: *index,
            kind: ButtonParamKind::CopyCode { code: code.clone() },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn anna() -> WaRecipient {
        WaRecipient::Phone("491701234567".into())
    }

    #[test]
    fn a_document_draft_becomes_a_whatsapp_document_with_filename_and_callback() {
        let envelope: DraftEnvelope = serde_json::from_value(json!({
            "type": "document", "link": "https://example.org/police.pdf",
            "filename": "Police_HR-123456.pdf", "caption": "Ihre Police"
        }))
        .unwrap();
        let wire = envelope
            .to_whatsapp(&anna(), "ob_1", None)
            .unwrap()
            .to_json();
        assert_eq!(wire["type"], "document");
        assert_eq!(wire["document"]["filename"], "Police_HR-123456.pdf");
        assert_eq!(wire["biz_opaque_callback_data"], "ob_1");
        assert_eq!(wire["to"], "+491701234567");
    }

    #[test]
    fn an_uploaded_file_is_sent_by_the_media_id_meta_gave_it() {
        let sha = "ab".repeat(32);
        let envelope: DraftEnvelope = serde_json::from_value(json!({
            "type": "document", "upload": sha, "filename": "Versicherungsschein.pdf",
            "caption": "Ihr Versicherungsschein"
        }))
        .unwrap();
        assert_eq!(envelope.draft.upload(), Some(sha.as_str()));
        assert!(matches!(
            envelope.to_whatsapp(&anna(), "ob_1", None),
            Err(DraftError::UploadPending)
        ));
        let wire = envelope
            .to_whatsapp(&anna(), "ob_1", Some("1037543291543636"))
            .unwrap()
            .to_json();
        assert_eq!(
            wire["document"],
            json!({"id": "1037543291543636", "filename": "Versicherungsschein.pdf",
                   "caption": "Ihr Versicherungsschein"})
        );
        let attachment = &envelope.draft.attachments(Some("1037543291543636"))[0];
        assert_eq!(attachment.media_ref, "1037543291543636");
        assert_eq!(attachment.sha256.as_deref(), Some(sha.as_str()));
        // An upload beside a link is ambiguous; uploads go over WhatsApp only.
        let both: DraftEnvelope = serde_json::from_value(json!({
            "type": "video", "upload": sha, "link": "https://example.org/v.mp4"
        }))
        .unwrap();
        assert!(matches!(
            both.to_whatsapp(&anna(), "ob_1", Some("1")),
            Err(DraftError::Media)
        ));
        assert!(matches!(
            envelope.to_meta(Channel::Messenger, "7105448321", MessagingType::Response),
            Err(DraftError::Unsupported("document", Channel::Messenger))
        ));
    }

    #[test]
    fn a_sticker_goes_by_id_and_a_caption_refuses_it() {
        let sha = "cd".repeat(32);
        let envelope: DraftEnvelope =
            serde_json::from_value(json!({"type": "sticker", "upload": sha})).unwrap();
        assert_eq!(envelope.draft.upload(), Some(sha.as_str()));
        assert_eq!(envelope.draft.upload_kind(), "sticker");
        let wire = envelope
            .to_whatsapp(&anna(), "ob_1", Some("55"))
            .unwrap()
            .to_json();
        assert_eq!(
            (&wire["type"], &wire["sticker"]),
            (&json!("sticker"), &json!({"id": "55"}))
        );
        let captioned: DraftEnvelope = serde_json::from_value(
            json!({"type": "sticker", "upload": sha, "caption": "Viel Erfolg!"}),
        )
        .unwrap();
        let err = captioned
            .to_whatsapp(&anna(), "ob_1", Some("55"))
            .unwrap_err();
        assert_eq!(err, DraftError::Caption("sticker"));
        assert!(err.message_de().contains("Begleittext"));
    }

    #[test]
    fn a_template_header_names_an_upload_sent_by_its_media_id() {
        let sha = "ef".repeat(32);
        let envelope: DraftEnvelope = serde_json::from_value(json!({
            "type": "template", "name": "versicherungsschein_versand", "body": ["Anna"],
            "header": {"type": "document", "upload": sha, "filename": "Police.pdf"}
        }))
        .unwrap();
        assert_eq!(envelope.draft.upload(), Some(sha.as_str()));
        assert_eq!(envelope.draft.upload_kind(), "document");
        assert!(matches!(
            envelope.to_whatsapp(&anna(), "ob_1", None),
            Err(DraftError::UploadPending)
        ));
        let wire = envelope
            .to_whatsapp(&anna(), "ob_1", Some("77"))
            .unwrap()
            .to_json();
        assert_eq!(
            wire["template"]["components"][0],
            json!({"type": "header", "parameters": [{"type": "document",
                   "document": {"id": "77", "filename": "Police.pdf"}}]})
        );
        let attachment = &envelope.draft.attachments(Some("77"))[0];
        assert_eq!(
            (attachment.kind.as_str(), attachment.sha256.as_deref()),
            ("document", Some(sha.as_str()))
        );
        // Stored payloads from before keep reading: no `upload` in the header.
        let old: DraftEnvelope = serde_json::from_value(json!({
            "type": "template", "name": "x",
            "header": {"type": "image", "link": "https://example.org/a.png", "media_id": null}
        }))
        .unwrap();
        assert_eq!(old.draft.upload(), None);
    }

    #[test]
    fn four_reply_buttons_are_refused_before_sending() {
        let envelope: DraftEnvelope = serde_json::from_value(json!({
            "type": "buttons", "body": "Wie können wir helfen?",
            "buttons": [{"id":"a","title":"A"},{"id":"b","title":"B"},{"id":"c","title":"C"},{"id":"d","title":"D"}]
        }))
        .unwrap();
        assert!(matches!(
            envelope.to_whatsapp(&anna(), "ob_1", None),
            Err(DraftError::Invalid(_))
        ));
    }

    #[test]
    fn templates_render_their_variables_for_the_timeline() {
        let envelope: DraftEnvelope = serde_json::from_value(json!({
            "type": "template", "name": "fristerinnerung", "body": ["Anna", "30.06.2026"]
        }))
        .unwrap();
        assert_eq!(
            envelope
                .draft
                .render_template(Some("Hallo {{1}}, bitte denken Sie an die Frist am {{2}}."))
                .unwrap(),
            "Hallo Anna, bitte denken Sie an die Frist am 30.06.2026."
        );
    }

    #[test]
    fn a_template_of_unknown_category_is_treated_as_marketing() {
        let envelope: DraftEnvelope =
            serde_json::from_value(json!({"type": "template", "name": "x"})).unwrap();
        assert!(matches!(
            envelope.rule_kind(Some((TemplateStatus::Approved, None))),
            DraftKind::Template {
                category: TemplateCategory::Marketing,
                ..
            }
        ));
    }
}
