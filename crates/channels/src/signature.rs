//! Webhook signatures. Meta signs the raw body with the app secret
//! (`X-Hub-Signature-256: sha256=<hex>`); X signs with the consumer secret and
//! base64. Both are checked in constant time over the exact bytes received:
//! re-serialising the JSON would change `\u00e4` escapes and break the check.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook signature was refused; every variant means HTTP 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature header missing")]
    Missing,
    #[error("signature header malformed: expected `sha256=<hex>`")]
    Malformed,
    #[error("signature does not match the body")]
    Mismatch,
    #[error("no app secret configured")]
    NoSecret,
}

fn mac(secret: &[u8], body: &[u8]) -> Result<HmacSha256, SignatureError> {
    if secret.is_empty() {
        // An empty key would accept anything signed with an empty key: refuse.
        return Err(SignatureError::NoSecret);
    }
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::NoSecret)?;
    mac.update(body);
    Ok(mac)
}

/// Checks Meta's `X-Hub-Signature-256` header against the raw request body.
pub fn verify_meta_signature(
    app_secret: &[u8],
    raw_body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let hex_part = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = hex::decode(hex_part).map_err(|_| SignatureError::Malformed)?;
    if expected.len() != 32 {
        return Err(SignatureError::Malformed);
    }
    mac(app_secret, raw_body)?
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// The header value Meta would send for `body`; used by the simulator and tests.
pub fn sign_meta(app_secret: &[u8], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(app_secret).expect("HMAC accepts any key length");
    mac.update(body);
    format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes().as_slice())
    )
}

/// X's CRC answer: `{"response_token": <this>}` for `GET ?crc_token=…`.
pub fn x_crc_response_token(consumer_secret: &[u8], crc_token: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(consumer_secret).expect("HMAC accepts any key length");
    mac.update(crc_token.as_bytes());
    format!(
        "sha256={}",
        BASE64.encode(mac.finalize().into_bytes().as_slice())
    )
}

/// Checks X's `x-twitter-webhooks-signature: sha256=<base64>` over the raw body.
pub fn verify_x_signature(
    consumer_secret: &[u8],
    raw_body: &[u8],
    header: Option<&str>,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?.trim();
    let b64 = header
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let expected = BASE64.decode(b64).map_err(|_| SignatureError::Malformed)?;
    mac(consumer_secret, raw_body)?
        .verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"app-secret-123";

    #[test]
    fn signature_over_escaped_unicode_body_verifies_only_on_the_raw_bytes() {
        // Meta sends "äöå" escaped; the parsed-and-reserialised JSON differs.
        let raw =
            br#"{"object":"whatsapp_business_account","entry":[{"text":"\u00e4\u00f6\u00e5"}]}"#;
        let header = sign_meta(SECRET, raw);
        assert!(verify_meta_signature(SECRET, raw, Some(&header)).is_ok());

        let reserialised =
            serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(raw).unwrap()).unwrap();
        assert_ne!(reserialised.as_slice(), raw.as_slice());
        assert_eq!(
            verify_meta_signature(SECRET, &reserialised, Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn known_vector_matches_an_independent_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let header = sign_meta(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            header,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn missing_malformed_and_forged_signatures_are_refused() {
        let body = b"{}";
        assert_eq!(
            verify_meta_signature(SECRET, body, None),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_meta_signature(SECRET, body, Some("sha1=abcd")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_meta_signature(SECRET, body, Some("sha256=zz")),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_meta_signature(SECRET, body, Some("sha256=abcd")),
            Err(SignatureError::Malformed)
        );
        let forged = sign_meta(b"other-secret", body);
        assert_eq!(
            verify_meta_signature(SECRET, body, Some(&forged)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_meta_signature(b"", body, Some(&sign_meta(b"", body))),
            Err(SignatureError::NoSecret)
        );
    }

    #[test]
    fn uppercase_hex_is_accepted() {
        let body = b"payload";
        let header = sign_meta(SECRET, body)
            .to_uppercase()
            .replace("SHA256=", "sha256=");
        assert!(verify_meta_signature(SECRET, body, Some(&header)).is_ok());
    }

    #[test]
    fn x_crc_token_is_base64_hmac_of_the_crc_token() {
        let token = x_crc_response_token(b"Jefe", "what do ya want for nothing?");
        assert_eq!(token, "sha256=W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
        let body = br#"{"for_user_id":"1"}"#;
        let mut mac = HmacSha256::new_from_slice(b"cs").unwrap();
        mac.update(body);
        let header = format!(
            "sha256={}",
            BASE64.encode(mac.finalize().into_bytes().as_slice())
        );
        assert!(verify_x_signature(b"cs", body, Some(&header)).is_ok());
        assert_eq!(
            verify_x_signature(b"cs", b"tampered", Some(&header)),
            Err(SignatureError::Mismatch)
        );
    }
}
