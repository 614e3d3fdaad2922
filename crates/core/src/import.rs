//! Bulk import of historical mentions and reviews (JSONL or CSV).
//!
//! One record per line (JSONL) or row (CSV with a header). Columns/fields:
//! - `type`: `mention` (default) or `review`
//! - mention: `id`*, `platform`* (x, facebook, instagram, youtube, tiktok, linkedin,
//!   news, blog, forum, other), `text`*, `published_at`* (RFC 3339, unix seconds or a German
//!   `05.12.2026 14:30`, read as German local time),
//!   `url`, `author`, `author_name`, `followers`, `verified`, `lang`, `reshares`,
//!   `replies`, `likes`, `parent`
//! - review: `id`*, `portal`*, `stars`* (1–5), `text`*, `published_at`*, `product`,
//!   `title`, `author`
//!
//! Every record is normalised to a flat JSON object first; that object is what
//! the raw log keeps, so a CSV row and its JSONL twin are the same raw event.

use crate::clock::Timestamp;
use crate::ids::{MentionId, ReviewId};
use crate::model::*;
use crate::raw::Source;
use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq)]
pub enum ImportItem {
    Mention(Mention),
    Review(Review),
}

impl ImportItem {
    pub fn source(&self) -> Source {
        match self {
            ImportItem::Mention(_) => Source::ImportMention,
            ImportItem::Review(_) => Source::ImportReview,
        }
    }

    /// Unique per source: the platform's (or portal's) own id.
    pub fn dedupe_key(&self) -> String {
        match self {
            ImportItem::Mention(m) => format!("{}:{}", m.platform, m.external_id),
            ImportItem::Review(r) => format!("{}:{}", r.portal, r.external_id),
        }
    }
}

/// Why a record was rejected; shown to the operator with its line number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error("a record must be a JSON object")]
    NotAnObject,
    #[error("missing required field `{0}`")]
    Missing(&'static str),
    #[error("field `{field}`: {reason}")]
    Invalid { field: &'static str, reason: String },
}

/// Parses one JSONL line into its normalised record.
pub fn record_from_json_line(line: &str) -> Result<Map<String, Value>, ImportError> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ImportError::NotAnObject),
        Err(err) => Err(ImportError::Json(err.to_string())),
    }
}

/// Builds the normalised record of one CSV row (empty cells are absent).
pub fn record_from_csv_row(headers: &[String], row: &[String]) -> Map<String, Value> {
    headers
        .iter()
        .zip(row)
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(key, value)| (key.trim().to_owned(), Value::String(value.clone())))
        .collect()
}

/// Turns a normalised record into a mention or review.
pub fn parse_record(record: &Map<String, Value>) -> Result<ImportItem, ImportError> {
    let kind = opt_text(record, "type")?.unwrap_or_else(|| "mention".into());
    match kind.as_str() {
        "mention" => parse_mention(record).map(ImportItem::Mention),
        "review" => parse_review(record).map(ImportItem::Review),
        other => Err(ImportError::Invalid {
            field: "type",
            reason: format!("expected `mention` or `review`, got {other:?}"),
        }),
    }
}

fn parse_mention(record: &Map<String, Value>) -> Result<Mention, ImportError> {
    let platform_text = text(record, "platform")?;
    let platform: Platform = platform_text.parse().map_err(|_| ImportError::Invalid {
        field: "platform",
        reason: format!("unknown platform {platform_text:?}"),
    })?;
    let external_id = text(record, "id")?;
    Ok(Mention {
        id: MentionId::from_natural_key(platform.as_str(), &external_id),
        platform,
        url: opt_text(record, "url")?,
        author: Author {
            handle: opt_text(record, "author")?.unwrap_or_default(),
            name: opt_text(record, "author_name")?,
            followers: count(record, "followers")?,
            verified: flag(record, "verified")?,
        },
        text: text(record, "text")?,
        lang: opt_text(record, "lang")?,
        reshares: count(record, "reshares")?,
        replies: count(record, "replies")?,
        likes: count(record, "likes")?,
        parent: opt_text(record, "parent")?,
        published_at: timestamp(record, "published_at")?,
        analysis: None,
        external_id,
    })
}

fn parse_review(record: &Map<String, Value>) -> Result<Review, ImportError> {
    let portal = text(record, "portal")?;
    let external_id = text(record, "id")?;
    let stars_value = count(record, "stars")?;
    if !record.contains_key("stars") {
        return Err(ImportError::Missing("stars"));
    }
    let stars = u8::try_from(stars_value)
        .map_err(|_| "too large".to_string())
        .and_then(Stars::try_from)
        .map_err(|reason| ImportError::Invalid {
            field: "stars",
            reason,
        })?;
    Ok(Review {
        id: ReviewId::from_natural_key(&portal, &external_id),
        product: opt_text(record, "product")?,
        stars,
        title: opt_text(record, "title")?,
        text: text(record, "text")?,
        author: opt_text(record, "author")?,
        published_at: timestamp(record, "published_at")?,
        analysis: None,
        portal,
        external_id,
    })
}

fn opt_text(
    record: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ImportError> {
    match record.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(ImportError::Invalid {
            field,
            reason: format!("expected text, got {other}"),
        }),
    }
}

fn text(record: &Map<String, Value>, field: &'static str) -> Result<String, ImportError> {
    match opt_text(record, field)? {
        Some(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(ImportError::Missing(field)),
    }
}

fn count(record: &Map<String, Value>, field: &'static str) -> Result<u64, ImportError> {
    let invalid = |reason: String| ImportError::Invalid { field, reason };
    match record.get(field) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| invalid(format!("expected a whole number ≥ 0, got {n}"))),
        Some(Value::String(s)) => parse_count(s.trim())
            .ok_or_else(|| invalid(format!("expected a whole number ≥ 0, got {s:?}"))),
        Some(other) => Err(invalid(format!("expected a number, got {other}"))),
    }
}

/// `1200`, or `1.200` as Excel writes counts with German settings: dots only
/// between groups of three digits, since a count has no decimals.
fn parse_count(text: &str) -> Option<u64> {
    if let Ok(count) = text.parse::<u64>() {
        return Some(count);
    }
    let mut groups = text.split('.');
    let first = groups.next()?;
    let grouped = (1..=3).contains(&first.len()) && groups.all(|group| group.len() == 3);
    // The digits themselves are checked by the parse.
    grouped
        .then(|| text.replace('.', "").parse().ok())
        .flatten()
}

fn flag(record: &Map<String, Value>, field: &'static str) -> Result<bool, ImportError> {
    match record.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "ja" => Ok(true),
            "false" | "0" | "no" | "nein" | "" => Ok(false),
            _ => Err(ImportError::Invalid {
                field,
                reason: format!("expected true/false, got {s:?}"),
            }),
        },
        Some(other) => Err(ImportError::Invalid {
            field,
            reason: format!("expected true/false, got {other}"),
        }),
    }
}

fn timestamp(record: &Map<String, Value>, field: &'static str) -> Result<Timestamp, ImportError> {
    match record.get(field) {
        Some(Value::Number(n)) => {
            n.as_i64()
                .and_then(Timestamp::checked_from_secs)
                .ok_or(ImportError::Invalid {
                    field,
                    reason: format!("expected unix seconds, got {n}"),
                })
        }
        Some(Value::String(s)) => Timestamp::parse(s)
            .or_else(|| Timestamp::parse_german_local(s))
            .ok_or_else(|| ImportError::Invalid {
                field,
                reason: format!(
                    "expected RFC 3339 time, unix seconds or a German date (05.12.2026 14:30), got {s:?}"
                ),
            }),
        _ => Err(ImportError::Missing(field)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_mention_parses_with_defaults() {
        let record = record_from_json_line(
            r#"{"id":"1","platform":"x","text":"Die Hotline ist nie erreichbar","published_at":"2024-03-01T08:00:00Z","followers":120000}"#,
        )
        .unwrap();
        let ImportItem::Mention(m) = parse_record(&record).unwrap() else {
            panic!("expected a mention")
        };
        assert_eq!(m.platform, Platform::X);
        assert_eq!(m.author.followers, 120_000);
        assert_eq!(m.likes, 0);
        assert_eq!(m.id, MentionId::from_natural_key("x", "1"));
    }

    #[test]
    fn a_csv_review_parses() {
        let headers: Vec<String> = ["type", "id", "portal", "stars", "text", "published_at"]
            .map(String::from)
            .to_vec();
        let row: Vec<String> = [
            "review",
            "r9",
            "trustpilot",
            "2",
            "Regulierung dauert ewig",
            "1700000000",
        ]
        .map(String::from)
        .to_vec();
        let ImportItem::Review(r) = parse_record(&record_from_csv_row(&headers, &row)).unwrap()
        else {
            panic!("expected a review")
        };
        assert_eq!(r.stars.get(), 2);
        assert_eq!(r.published_at, Timestamp::from_secs(1_700_000_000));
    }

    #[test]
    fn bad_records_say_what_is_wrong() {
        let cases = [
            (
                r#"{"id":"1","platform":"x","text":"t"}"#,
                "missing required field `published_at`",
            ),
            (
                r#"{"id":"1","platform":"myspace","text":"t","published_at":1}"#,
                "unknown platform",
            ),
            (
                r#"{"type":"review","id":"1","portal":"p","stars":7,"text":"t","published_at":1}"#,
                "stars must be 1 to 5",
            ),
            (
                r#"{"id":"1","platform":"x","text":"t","published_at":"gestern"}"#,
                "expected RFC 3339",
            ),
            (
                r#"{"id":"1","platform":"x","text":"t","published_at":80000000000000000}"#,
                "expected unix seconds",
            ),
            (
                r#"{"id":"1","platform":"x","text":"t","published_at":"80000000000000000"}"#,
                "expected RFC 3339 time, unix seconds or a German date",
            ),
            (
                r#"{"id":"1","platform":"x","text":"t","published_at":1,"likes":-3}"#,
                "whole number",
            ),
        ];
        for wrong in ["1.2", "1.2000", ".200", "1..200", "12345.678", "-1", "1,5"] {
            assert_eq!(parse_count(wrong), None, "{wrong}");
        }
        assert_eq!(parse_count("1.200"), Some(1200));
        assert_eq!(parse_count("12.345.678"), Some(12_345_678));
        for (line, expected) in cases {
            let err = parse_record(&record_from_json_line(line).unwrap()).unwrap_err();
            assert!(err.to_string().contains(expected), "{line}: {err}");
        }
        assert!(matches!(
            record_from_json_line("{oops"),
            Err(ImportError::Json(_))
        ));
        assert_eq!(record_from_json_line("[1]"), Err(ImportError::NotAnObject));
    }
}
