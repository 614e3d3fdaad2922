//! What an agent asks to send: the API body, stored verbatim as the outbox
//! payload, and its translation into the channel's wire message.

use resonanz_channels::outbound::{
    AttachmentType, BodyParam, BodyValue, ButtonParam, ButtonParamKind, HeaderParam, ListMessage,
    ListRow, ListSection, MediaRef, MessagingType, MetaContent, MetaMessage, ReplyButtons,
    TemplateMessage, ValidationError, WaContent, WaMessage,
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
    /// A PDF or other file by public link or uploaded media id.
    Document {
        link: Option<String>,
        media_id: Option<String>,
        filename: String,
        caption: Option<String>,
    },
    Image {
        link: Option<String>,
        media_id: Option<String>,
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
    },
    Document {
        link: Option<String>,
        media_id: Option<String>,
        filename: Option<String>,
    },
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
    #[error("give either link or media_id for the file")]
    Media,
    #[error("{0} messages cannot be sent on {1}")]
    Unsupported(&'static str, Channel),
}

impl DraftError {
    pub fn message_de(&self) -> String {
        match self {
            DraftError::Invalid(err) => {
                format!("Die Nachricht verletzt eine Grenze von Meta: {err}")
            }
            DraftError::Media => "Bitte genau eines angeben: link oder media_id.".into(),
            DraftError::Unsupported(kind, channel) => {
                format!("Nachrichten vom Typ {kind} können über {channel} nicht gesendet werden.")
            }
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

impl Draft {
    pub fn type_name(&self) -> &'static str {
        match self {
            Draft::Text { .. } => "text",
            Draft::Document { .. } => "document",
            Draft::Image { .. } => "image",
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
            Draft::Document { caption, .. } | Draft::Image { caption, .. } => caption.clone(),
            Draft::Buttons { body, .. } | Draft::List { body, .. } => Some(body.clone()),
            Draft::Location { name, address, .. } => name.clone().or_else(|| address.clone()),
            Draft::Reaction { emoji, .. } => Some(emoji.clone()).filter(|e| !e.is_empty()),
            Draft::Template { .. } => None,
        }
    }

    pub fn attachments(&self) -> Vec<Attachment> {
        let (kind, link, media_id, filename, caption) = match self {
            Draft::Document {
                link,
                media_id,
                filename,
                caption,
            } => ("document", link, media_id, Some(filename.clone()), caption),
            Draft::Image {
                link,
                media_id,
                caption,
            } => ("image", link, media_id, None, caption),
            _ => return Vec::new(),
        };
        vec![Attachment {
            kind: kind.into(),
            media_ref: link
                .clone()
                .or_else(|| media_id.clone())
                .unwrap_or_default(),
            mime_type: None,
            filename,
            caption: caption.clone(),
            sha256: None,
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
    /// every status webhook as `biz_opaque_callback_data`.
    pub fn to_whatsapp(&self, to: &str, callback_data: &str) -> Result<WaMessage, DraftError> {
        let content = match &self.draft {
            Draft::Text { text, preview_url } => WaContent::Text {
                body: text.clone(),
                preview_url: *preview_url,
            },
            Draft::Document {
                link,
                media_id,
                filename,
                caption,
            } => WaContent::Document {
                media: media(link, media_id)?,
                caption: caption.clone(),
                filename: Some(filename.clone()),
            },
            Draft::Image {
                link,
                media_id,
                caption,
            } => WaContent::Image {
                media: media(link, media_id)?,
                caption: caption.clone(),
            },
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
                header: header.as_ref().map(template_header).transpose()?,
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
            to: to.to_owned(),
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
                link: Some(url), ..
            } => MetaContent::Attachment {
                kind: AttachmentType::Image,
                url: url.clone(),
            },
            Draft::Document {
                link: Some(url), ..
            } => MetaContent::Attachment {
                kind: AttachmentType::File,
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

fn template_header(header: &TemplateHeader) -> Result<HeaderParam, DraftError> {
    Ok(match header {
        TemplateHeader::Text { text } => HeaderParam::Text(text.clone()),
        TemplateHeader::Image { link, media_id } => HeaderParam::Image(media(link, media_id)?),
        TemplateHeader::Document {
            link,
            media_id,
            filename,
        } => HeaderParam::Document {
            media: media(link, media_id)?,
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

    #[test]
    fn a_document_draft_becomes_a_whatsapp_document_with_filename_and_callback() {
        let envelope: DraftEnvelope = serde_json::from_value(json!({
            "type": "document", "link": "https://example.org/police.pdf",
            "filename": "Police_HR-123456.pdf", "caption": "Ihre Police"
        }))
        .unwrap();
        let wire = envelope
            .to_whatsapp("491701234567", "ob_1")
            .unwrap()
            .to_json();
        assert_eq!(wire["type"], "document");
        assert_eq!(wire["document"]["filename"], "Police_HR-123456.pdf");
        assert_eq!(wire["biz_opaque_callback_data"], "ob_1");
        assert_eq!(wire["to"], "+491701234567");
    }

    #[test]
    fn four_reply_buttons_are_refused_before_sending() {
        let envelope: DraftEnvelope = serde_json::from_value(json!({
            "type": "buttons", "body": "Wie können wir helfen?",
            "buttons": [{"id":"a","title":"A"},{"id":"b","title":"B"},{"id":"c","title":"C"},{"id":"d","title":"D"}]
        }))
        .unwrap();
        assert!(matches!(
            envelope.to_whatsapp("491701234567", "ob_1"),
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
