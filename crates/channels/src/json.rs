//! Defensive accessors over `serde_json::Value`: webhook payloads are
//! untrusted, so every field is optional until proven otherwise.

use resonanz_core::Timestamp;
use serde_json::Value;

/// Why a webhook body could not be read at all. Items inside a valid body
/// that we cannot read are kept as `Inbound::Unrecognized` instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("body is JSON but not an object")]
    NotAnObject,
    #[error("unexpected `object` {found:?}, expected {expected:?}")]
    WrongObject {
        expected: &'static str,
        found: Option<String>,
    },
    #[error("`entry` is missing or not an array")]
    MissingEntries,
}

pub(crate) fn parse_body(body: &[u8]) -> Result<Value, ParseError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ParseError::NotAnObject);
    }
    Ok(value)
}

pub(crate) fn object_name(value: &Value) -> Option<&str> {
    value.get("object").and_then(Value::as_str)
}

pub(crate) fn entries(value: &Value) -> Result<&Vec<Value>, ParseError> {
    value
        .get("entry")
        .and_then(Value::as_array)
        .ok_or(ParseError::MissingEntries)
}

pub(crate) fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = value;
    for key in path {
        cur = cur.get(key)?;
    }
    cur.as_str()
}

pub(crate) fn string_at(value: &Value, path: &[&str]) -> Option<String> {
    str_at(value, path).map(str::to_owned)
}

/// A non-empty string field; Meta sends `""` for absent values (BSUID users).
pub(crate) fn nonempty(value: &Value, path: &[&str]) -> Option<String> {
    str_at(value, path)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_owned)
}

pub(crate) fn array_at<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// WhatsApp's `"timestamp": "1750016800"` (seconds, as a string; numbers accepted).
pub(crate) fn unix_seconds(value: Option<&Value>) -> Option<Timestamp> {
    let secs = match value? {
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64()?,
        _ => return None,
    };
    if secs < 0 {
        return None;
    }
    Timestamp::checked_from_secs(secs)
}

/// Messenger/Instagram milliseconds (numbers; strings accepted).
pub(crate) fn unix_millis(value: Option<&Value>) -> Option<Timestamp> {
    let ms = match value? {
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        _ => return None,
    };
    (ms >= 0).then_some(Timestamp::from_millis(ms))
}

pub(crate) fn i64_at(value: &Value, path: &[&str]) -> Option<i64> {
    let mut cur = value;
    for key in path {
        cur = cur.get(key)?;
    }
    match cur {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}
