//! Typed ids. Projected ids are derived from the source's own keys, so that a
//! replay of the raw log rebuilds byte-identical projections.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// Stable 80-bit digest of the parts (unit separator between them).
pub fn stable_digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update([0x1f]);
        }
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..10])
}

/// Longest natural key kept readable in an id; longer ones are digested.
pub const PLAIN_KEY_MAX: usize = 64;

/// Whether `(namespace, key)` can stand in an id as written. A digested id
/// never holds `:` and a namespace never does, so the two forms cannot meet.
/// The store's migration 0008 applies the same rule in SQL.
fn is_plain_key(namespace: &str, key: &str) -> bool {
    let plain = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    };
    plain(namespace) && plain(key) && namespace.len() + key.len() <= PLAIN_KEY_MAX
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// Derives the id deterministically from the item's natural key.
            pub fn derive(parts: &[&str]) -> Self {
                Self(format!("{}_{}", $prefix, stable_digest(parts)))
            }

            /// The id of an item a platform names by `(namespace, key)`: readable and
            /// in the platform's own order where both are plain (letters, digits,
            /// `.`, `_`, `-`; short), so ascending platform ids fill the id index
            /// at its end instead of at random pages. Other keys are digested.
            pub fn from_natural_key(namespace: &str, key: &str) -> Self {
                if is_plain_key(namespace, key) {
                    Self(format!("{}_{}:{}", $prefix, namespace, key))
                } else {
                    Self::derive(&[namespace, key])
                }
            }

            /// Wraps an id read back from storage or a URL.
            pub fn from_stored(value: impl Into<String>) -> Self {
                Self(value.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

typed_id!(
    /// One person, however many channel identities they have.
    ContactId,
    "ct"
);
typed_id!(
    /// One thread between a contact and one business account on one channel.
    ConversationId,
    "cv"
);
typed_id!(
    /// A message in or out.
    MessageId,
    "msg"
);
typed_id!(
    /// A public post that mentions the brand.
    MentionId,
    "mn"
);
typed_id!(
    /// A product review from a portal or marketplace.
    ReviewId,
    "rv"
);
typed_id!(
    /// An internal note on a contact.
    NoteId,
    "nt"
);

/// Position of an item in the raw event log (assigned by the store).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RawEventId(pub i64);

impl fmt::Display for RawEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_prefixed() {
        let a = MessageId::derive(&["whatsapp", "wamid.1"]);
        let b = MessageId::derive(&["whatsapp", "wamid.1"]);
        assert_eq!(a, b);
        assert!(a.as_str().starts_with("msg_"));
        assert_ne!(a, MessageId::derive(&["whatsapp", "wamid.2"]));
        // The separator keeps ("ab","c") apart from ("a","bc").
        assert_ne!(stable_digest(&["ab", "c"]), stable_digest(&["a", "bc"]));
    }

    #[test]
    fn natural_key_ids_keep_plain_keys_readable_and_digest_the_rest() {
        assert_eq!(
            MentionId::from_natural_key("x", "1790000000000000001").as_str(),
            "mn_x:1790000000000000001"
        );
        // Ascending platform ids give ascending ids (the index fills at its end).
        assert!(
            MentionId::from_natural_key("x", "1790000000000000002")
                > MentionId::from_natural_key("x", "1790000000000000001")
        );
        let url = MentionId::from_natural_key("news", "https://example.org/a?b=1");
        assert_eq!(
            url,
            MentionId::derive(&["news", "https://example.org/a?b=1"])
        );
        assert!(!url.as_str().contains(':'));
        let long = "9".repeat(PLAIN_KEY_MAX);
        assert_eq!(
            MentionId::from_natural_key("x", &long),
            MentionId::derive(&["x", &long])
        );
        assert_eq!(
            ReviewId::from_natural_key("Check24", "r-1").as_str(),
            "rv_Check24:r-1"
        );
        assert_eq!(
            ReviewId::from_natural_key("Check 24", "r-1"),
            ReviewId::derive(&["Check 24", "r-1"])
        );
        assert_eq!(
            ReviewId::from_natural_key("", "r-1"),
            ReviewId::derive(&["", "r-1"])
        );
    }
}
