//! Time as a value. Window, SLA and radar logic take a `Clock`, so tests move
//! time forward instead of sleeping.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs * 1000)
    }
    /// For counts from outside (webhooks, imports): `None` when the seconds
    /// do not fit in milliseconds, instead of overflowing.
    pub const fn checked_from_secs(secs: i64) -> Option<Self> {
        match secs.checked_mul(1000) {
            Some(ms) => Some(Self(ms)),
            None => None,
        }
    }
    pub const fn millis(self) -> i64 {
        self.0
    }
    pub const fn plus_millis(self, ms: i64) -> Self {
        Self(self.0 + ms)
    }
    /// RFC 3339 in UTC, for humans and exports.
    pub fn to_rfc3339(self) -> String {
        time::OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| self.0.to_string())
    }
    /// Parses RFC 3339 / ISO 8601 (`2024-05-01T10:00:00Z`) or a plain unix second count.
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(secs) = text.parse::<i64>() {
            return Self::checked_from_secs(secs);
        }
        let parsed =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .ok()?;
        Some(Self((parsed.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let elapsed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(elapsed.as_millis() as i64)
    }
}

/// A clock tests set and advance by hand.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(ts: Timestamp) -> Self {
        Self(AtomicI64::new(ts.0))
    }
    pub fn set(&self, ts: Timestamp) {
        self.0.store(ts.0, Ordering::SeqCst);
    }
    pub fn advance_millis(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_and_unix_seconds() {
        assert_eq!(
            Timestamp::parse("2024-01-01T00:00:00Z"),
            Some(Timestamp(1_704_067_200_000))
        );
        assert_eq!(
            Timestamp::parse("1704067200"),
            Some(Timestamp(1_704_067_200_000))
        );
        assert_eq!(Timestamp::parse("gestern"), None);
        // Seconds beyond what milliseconds can hold are no time (found by fuzzing).
        assert_eq!(Timestamp::parse("80000000000000000"), None);
        assert_eq!(Timestamp::parse("-9223372036854775808"), None);
        assert_eq!(
            Timestamp(1_704_067_200_000).to_rfc3339(),
            "2024-01-01T00:00:00Z"
        );
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(Timestamp(1000));
        assert_eq!(clock.now(), Timestamp(1000));
        clock.advance_millis(500);
        assert_eq!(clock.now(), Timestamp(1500));
    }
}
