//! The receipt of an accepted send, appended to the raw log as a
//! `Source::Outbox` event (dedupe key = outbox id). The projector turns it
//! into an outbound message, so status webhooks update it and a replay of
//! the raw log rebuilds it like any inbound item.

use crate::app::AppState;
use resonanz_channels::outbound::SentMessage;
use resonanz_core::{
    Attachment, Channel, Direction, Identity, Inbound, InboundMessage, Location, MessageKind,
    RawEvent, Source, Timestamp, Verification,
};
use resonanz_store::OutboxRow;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub outbox_id: String,
    pub channel: Channel,
    pub account: String,
    pub recipient: Identity,
    /// wamid / mid Meta assigned.
    pub external_id: String,
    pub kind: MessageKind,
    pub text: Option<String>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    pub location: Option<Location>,
    pub reply_to: Option<String>,
    pub sent_at: Timestamp,
    pub created_by: String,
    /// The Graph request body as sent.
    pub request: Value,
    /// Meta's answer, or the status webhook that proved acceptance.
    pub response: Value,
}

impl Receipt {
    pub fn new(
        row: &OutboxRow,
        envelope: &super::draft::DraftEnvelope,
        rendered_text: Option<String>,
        request: Value,
        sent: &SentMessage,
        upload_id: Option<&str>,
        now: Timestamp,
    ) -> Self {
        Receipt {
            outbox_id: row.id.clone(),
            channel: row.channel,
            account: row.account.clone(),
            recipient: row.recipient.clone(),
            external_id: sent.id.clone(),
            kind: envelope.draft.message_kind(),
            text: rendered_text.or_else(|| envelope.draft.text()),
            attachments: envelope.draft.attachments(upload_id),
            location: envelope.draft.location(),
            reply_to: envelope.reply_to.clone(),
            sent_at: now,
            created_by: row.created_by.clone(),
            request,
            response: serde_json::to_value(sent).unwrap_or(Value::Null),
        }
    }

    pub fn to_raw(&self) -> RawEvent {
        RawEvent {
            id: None,
            source: Source::Outbox,
            dedupe_key: self.outbox_id.clone(),
            received_at: self.sent_at,
            // The receipt came back over our authenticated API connection.
            verification: Verification::Polled,
            payload: serde_json::to_vec(self).expect("receipt serialises"),
        }
    }
}

/// The projector's parser for `Source::Outbox`.
pub fn parse(payload: &[u8]) -> Result<Vec<Inbound>, String> {
    let receipt: Receipt = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    Ok(vec![Inbound::Message(InboundMessage {
        channel: receipt.channel,
        account: receipt.account,
        direction: Direction::Outbound,
        customer: vec![receipt.recipient],
        profile_name: None,
        external_id: receipt.external_id,
        kind: receipt.kind,
        text: receipt.text,
        attachments: receipt.attachments,
        location: receipt.location,
        reply_to: receipt.reply_to,
        sent_at: receipt.sent_at,
        raw: receipt.request,
    })])
}

/// Logs the receipt durably (once per outbox id) and projects it.
pub async fn record(app: &AppState, receipt: &Receipt) -> anyhow::Result<()> {
    let projection = app.pipeline.project(receipt.to_raw());
    if let Some(err) = &projection.parse_error {
        anyhow::bail!("receipt does not parse: {err}");
    }
    app.store.ingest(vec![projection]).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use resonanz_core::IdentityKind;

    #[test]
    fn a_receipt_parses_into_an_outbound_message_to_the_customer() {
        let receipt = Receipt {
            outbox_id: "ob_1".into(),
            channel: Channel::WhatsApp,
            account: "106540352242922".into(),
            recipient: Identity::new(IdentityKind::WhatsApp, "491701234567"),
            external_id: "wamid.X".into(),
            kind: MessageKind::Text,
            text: Some("Guten Tag".into()),
            attachments: vec![],
            location: None,
            reply_to: None,
            sent_at: Timestamp(1),
            created_by: "ag_1".into(),
            request: serde_json::json!({"type": "text"}),
            response: Value::Null,
        };
        let raw = receipt.to_raw();
        assert_eq!(raw.source, Source::Outbox);
        assert_eq!(raw.dedupe_key, "ob_1");
        let items = parse(&raw.payload).unwrap();
        let Inbound::Message(message) = &items[0] else {
            panic!("not a message")
        };
        assert_eq!(message.direction, Direction::Outbound);
        assert_eq!(message.external_id, "wamid.X");
        assert_eq!(message.customer[0].value, "491701234567");
    }
}
