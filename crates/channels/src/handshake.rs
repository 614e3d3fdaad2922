//! The GET verification handshake Meta performs when a callback URL is saved:
//! `hub.mode=subscribe&hub.verify_token=…&hub.challenge=…`.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// Answer 400.
    #[error("query parameter {0} missing")]
    MissingParameter(&'static str),
    /// Answer 400.
    #[error("hub.mode must be `subscribe`")]
    WrongMode,
    /// Answer 403: the endpoint stays unverified.
    #[error("hub.verify_token does not match")]
    TokenMismatch,
}

impl HandshakeError {
    pub fn http_status(&self) -> u16 {
        match self {
            HandshakeError::TokenMismatch => 403,
            _ => 400,
        }
    }
}

/// Compares secrets without leaking where they differ or how long they are:
/// both sides are hashed first, so the comparison always runs over 32 bytes.
pub fn secrets_equal(given: &[u8], expected: &[u8]) -> bool {
    let a = Sha256::digest(given);
    let b = Sha256::digest(expected);
    bool::from(a.as_slice().ct_eq(b.as_slice())) && !expected.is_empty()
}

/// Returns the `hub.challenge` to echo verbatim (HTTP 200, text/plain) when
/// the token matches. `query` are the decoded query pairs.
pub fn verify_subscription<K, V>(
    query: &[(K, V)],
    expected_token: &str,
) -> Result<String, HandshakeError>
where
    K: AsRef<str>,
    V: AsRef<str>,
{
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v.as_ref())
    };
    let mode = get("hub.mode").ok_or(HandshakeError::MissingParameter("hub.mode"))?;
    let token =
        get("hub.verify_token").ok_or(HandshakeError::MissingParameter("hub.verify_token"))?;
    let challenge =
        get("hub.challenge").ok_or(HandshakeError::MissingParameter("hub.challenge"))?;
    if mode != "subscribe" {
        return Err(HandshakeError::WrongMode);
    }
    if !secrets_equal(token.as_bytes(), expected_token.as_bytes()) {
        return Err(HandshakeError::TokenMismatch);
    }
    Ok(challenge.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(mode: &str, token: &str, challenge: &str) -> Vec<(String, String)> {
        vec![
            ("hub.mode".into(), mode.into()),
            ("hub.challenge".into(), challenge.into()),
            ("hub.verify_token".into(), token.into()),
        ]
    }

    #[test]
    fn matching_token_echoes_the_challenge_verbatim() {
        let challenge = "1158201444 ä&x=1";
        assert_eq!(
            verify_subscription(&q("subscribe", "geheim", challenge), "geheim"),
            Ok(challenge.to_string())
        );
    }

    #[test]
    fn wrong_prefix_longer_or_empty_tokens_are_refused_with_403() {
        for token in ["geheim2", "gehei", "", "GEHEIM"] {
            let err = verify_subscription(&q("subscribe", token, "42"), "geheim").unwrap_err();
            assert_eq!(err, HandshakeError::TokenMismatch, "token {token:?}");
            assert_eq!(err.http_status(), 403);
        }
        // An unset expected token must never verify, even against an empty one.
        assert_eq!(
            verify_subscription(&q("subscribe", "", "42"), ""),
            Err(HandshakeError::TokenMismatch)
        );
    }

    #[test]
    fn wrong_mode_and_missing_parameters_are_400() {
        let err = verify_subscription(&q("unsubscribe", "geheim", "42"), "geheim").unwrap_err();
        assert_eq!(err, HandshakeError::WrongMode);
        assert_eq!(err.http_status(), 400);
        let only_mode = [("hub.mode", "subscribe")];
        assert_eq!(
            verify_subscription(&only_mode, "geheim"),
            Err(HandshakeError::MissingParameter("hub.verify_token"))
        );
    }

    #[test]
    fn secrets_equal_is_exact() {
        assert!(secrets_equal(b"abc", b"abc"));
        assert!(!secrets_equal(b"abc", b"abd"));
        assert!(!secrets_equal(b"ab", b"abc"));
    }
}
