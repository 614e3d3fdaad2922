//! The result of analysing one text (message, mention, review or draft).
//! Produced by `resonanz-analysis`, stored with the item, read by inbox and radar.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sentiment {
    Negative,
    Neutral,
    Positive,
}

impl Sentiment {
    pub const ALL: [Sentiment; 3] = [Sentiment::Negative, Sentiment::Neutral, Sentiment::Positive];
    pub fn as_str(self) -> &'static str {
        match self {
            Sentiment::Negative => "negative",
            Sentiment::Neutral => "neutral",
            Sentiment::Positive => "positive",
        }
    }
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "negative" | "neg" => Some(Sentiment::Negative),
            "neutral" | "neu" => Some(Sentiment::Neutral),
            "positive" | "pos" => Some(Sentiment::Positive),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Complaint,
    Question,
    Praise,
    ClaimReport,
    CancellationThreat,
    DocumentRequest,
    Other,
}

impl Intent {
    pub const ALL: [Intent; 7] = [
        Intent::Complaint,
        Intent::Question,
        Intent::Praise,
        Intent::ClaimReport,
        Intent::CancellationThreat,
        Intent::DocumentRequest,
        Intent::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Intent::Complaint => "complaint",
            Intent::Question => "question",
            Intent::Praise => "praise",
            Intent::ClaimReport => "claim_report",
            Intent::CancellationThreat => "cancellation_threat",
            Intent::DocumentRequest => "document_request",
            Intent::Other => "other",
        }
    }
}

/// Kinds of personal data (GDPR Art. 4) and special categories (Art. 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensitiveKind {
    Iban,
    CreditCard,
    Email,
    Phone,
    BirthDate,
    Address,
    PolicyNumber,
    ClaimNumber,
    LicensePlate,
    TaxId,
    InsuranceId,
    Health,
}

/// A span of sensitive data, as byte offsets into the analysed text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensitiveSpan {
    pub kind: SensitiveKind,
    pub start: usize,
    pub end: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// ISO 639-1 code, `None` when the text is too short to tell.
    pub language: Option<String>,
    pub sentiment: Sentiment,
    /// Signed score in -1..=1 (negative to positive).
    pub sentiment_score: f32,
    /// Probability that the text is offensive or abusive.
    pub offensive: f32,
    pub topics: Vec<String>,
    pub intents: Vec<Intent>,
    pub sensitive: Vec<SensitiveSpan>,
}
