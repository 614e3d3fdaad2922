//! The durable raw event log's unit: a payload exactly as it arrived.

use crate::clock::Timestamp;
use crate::ids::RawEventId;
use crate::model::UnknownValue;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a raw event came from; the projector picks its parser by this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    WhatsApp,
    Messenger,
    Instagram,
    X,
    ImportMention,
    ImportReview,
    /// Our own send, accepted by the channel API: the receipt is logged like
    /// any inbound item, so a replay rebuilds outbound messages too.
    Outbox,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::WhatsApp => "whatsapp",
            Source::Messenger => "messenger",
            Source::Instagram => "instagram",
            Source::X => "x",
            Source::ImportMention => "import.mention",
            Source::ImportReview => "import.review",
            Source::Outbox => "outbox",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Source {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "whatsapp" => Source::WhatsApp,
            "messenger" => Source::Messenger,
            "instagram" => Source::Instagram,
            "x" => Source::X,
            "import.mention" => Source::ImportMention,
            "import.review" => Source::ImportReview,
            "outbox" => Source::Outbox,
            other => {
                return Err(UnknownValue {
                    kind: "Source",
                    value: other.to_owned(),
                });
            }
        })
    }
}

/// How the payload's authenticity was established.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verification {
    /// HMAC signature checked against the app secret.
    SignatureValid,
    /// Read from a local file by an operator (`resonanz import`).
    OperatorImport,
    /// Pulled by us over an authenticated API connection.
    Polled,
}

impl Verification {
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::SignatureValid => "signature_valid",
            Verification::OperatorImport => "operator_import",
            Verification::Polled => "polled",
        }
    }
}

impl FromStr for Verification {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "signature_valid" => Verification::SignatureValid,
            "operator_import" => Verification::OperatorImport,
            "polled" => Verification::Polled,
            other => {
                return Err(UnknownValue {
                    kind: "Verification",
                    value: other.to_owned(),
                });
            }
        })
    }
}

/// A payload as received. `dedupe_key` is unique per source: the body's
/// SHA-256 for webhooks (Meta retries byte-identical bodies), the item's own
/// id for imports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RawEvent {
    pub id: Option<RawEventId>,
    pub source: Source,
    pub dedupe_key: String,
    pub received_at: Timestamp,
    pub verification: Verification,
    pub payload: Vec<u8>,
}

impl RawEvent {
    /// A webhook body, deduplicated by its content hash.
    pub fn webhook(source: Source, body: Vec<u8>, received_at: Timestamp) -> Self {
        use sha2::{Digest, Sha256};
        let dedupe_key = hex::encode(Sha256::digest(&body));
        Self {
            id: None,
            source,
            dedupe_key,
            received_at,
            verification: Verification::SignatureValid,
            payload: body,
        }
    }
}
