//! Bytes on the wire as Meta writes them: JSON with non-ASCII and `/` escaped
//! (`ä` → `\u00e4`, `/` → `\/`), signed with HMAC-SHA256 over exactly those bytes.

use hmac::{KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::io;

type HmacSha256 = hmac::Hmac<Sha256>;

/// A WhatsApp message id shaped like Meta's: `wamid.` and base64 of the
/// customer's number and an opaque tail, so ids of one customer share a
/// prefix and the rest is random, as an index sees them in production.
pub fn wamid(wa_id: &str, tail: [u8; 10]) -> String {
    use base64::Engine;
    let raw = format!("{wa_id}\x15\x02\x00\x11\x18\x14{}", hex::encode_upper(tail));
    format!(
        "wamid.{}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Serialises like Meta's webhook sender, so a receiver that re-serialises instead of
/// signing the raw body fails its signature check, as it would in production.
pub fn meta_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, MetaFormatter);
    value
        .serialize(&mut ser)
        .expect("serialising a serde_json-compatible value into memory cannot fail");
    out
}

struct MetaFormatter;

impl serde_json::ser::Formatter for MetaFormatter {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_ascii() && c != '/' {
                continue;
            }
            writer.write_all(&fragment.as_bytes()[start..i])?;
            if c == '/' {
                writer.write_all(b"\\/")?;
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
            start = i + c.len_utf8();
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// `sha256=<lowercase hex HMAC-SHA256(app_secret, body)>`.
pub fn signature_header(app_secret: &str, body: &[u8]) -> String {
    let mut mac =
        HmacSha256::new_from_slice(app_secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a `sha256=<hex>` header in constant time; used by the sim's own tests and by
/// anyone who wants a reference verifier.
pub fn verify_signature(app_secret: &str, body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    let mut mac =
        HmacSha256::new_from_slice(app_secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn non_ascii_and_slashes_are_escaped_like_meta() {
        let bytes = meta_json(&json!({"t": "äöå ß 👍 a/b"}));
        let s = String::from_utf8(bytes).unwrap();
        assert_eq!(s, r#"{"t":"\u00e4\u00f6\u00e5 \u00df \ud83d\udc4d a\/b"}"#);
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back["t"], "äöå ß 👍 a/b");
    }

    #[test]
    fn signature_round_trips_and_rejects_tampering() {
        let body = meta_json(&json!({"x": "Schäden"}));
        let header = signature_header("secret", &body);
        assert!(header.starts_with("sha256="));
        assert_eq!(header.len(), 7 + 64);
        assert!(verify_signature("secret", &body, &header));
        assert!(!verify_signature("other", &body, &header));
        let reserialised = serde_json::to_vec(&json!({"x": "Schäden"})).unwrap();
        assert!(!verify_signature("secret", &reserialised, &header));
    }

    #[test]
    fn known_hmac_vector() {
        // RFC 4231 test case 2.
        let h = signature_header("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            h,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
