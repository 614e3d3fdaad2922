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

    /// The time a clock in Germany shows (CET, or CEST in summer), for display.
    pub fn to_german_local(self) -> Option<time::OffsetDateTime> {
        let utc =
            time::OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000).ok()?;
        let hours = if in_central_european_summer_time(utc) {
            2
        } else {
            1
        };
        Some(utc.to_offset(time::UtcOffset::from_hms(hours, 0, 0).ok()?))
    }

    /// `05.12.2026`, `05.12.2026 14:30` or `05.12.2026 14:30:15`, how Excel
    /// shows dates with German settings, read as German local time: CET, and
    /// CEST from the last Sunday of March to the last Sunday of October
    /// (01:00 UTC both). In the repeated autumn hour the summer time wins.
    pub fn parse_german_local(text: &str) -> Option<Self> {
        let text = text.trim();
        let (date, clock) = match text.split_once(' ') {
            Some((date, clock)) => (date, Some(clock.trim())),
            None => (text, None),
        };
        let mut parts = date.split('.');
        let day: u8 = parts.next()?.parse().ok()?;
        let month: u8 = parts.next()?.parse().ok()?;
        let year_text = parts.next()?;
        // A two-digit year ("05.12.26") could be any century.
        if parts.next().is_some() || year_text.len() != 4 {
            return None;
        }
        let year: i32 = year_text.parse().ok()?;
        let (hour, minute, second) = match clock {
            None => (0, 0, 0),
            Some(clock) => {
                let mut fields = clock.split(':');
                let hour: u8 = fields.next()?.parse().ok()?;
                let minute: u8 = fields.next()?.parse().ok()?;
                let second: u8 = fields.next().map_or(Some(0), |s| s.parse().ok())?;
                if fields.next().is_some() {
                    return None;
                }
                (hour, minute, second)
            }
        };
        let local = time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day)
            .ok()?
            .with_hms(hour, minute, second)
            .ok()?
            .assume_utc();
        let summer = local - time::Duration::hours(2);
        let utc = if in_central_european_summer_time(summer) {
            summer
        } else {
            local - time::Duration::hours(1)
        };
        Some(Self((utc.unix_timestamp_nanos() / 1_000_000) as i64))
    }
}

/// The EU rule since 1996: summer time from 01:00 UTC on the last Sunday of
/// March to 01:00 UTC on the last Sunday of October.
fn in_central_european_summer_time(utc: time::OffsetDateTime) -> bool {
    let change = |month: time::Month| {
        let last = time::Date::from_calendar_date(utc.year(), month, month.length(utc.year()))
            .expect("the last day of a month exists");
        let sunday =
            last - time::Duration::days(i64::from(last.weekday().number_days_from_sunday()));
        sunday.with_hms(1, 0, 0).expect("01:00 exists").assume_utc()
    };
    utc >= change(time::Month::March) && utc < change(time::Month::October)
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
    fn german_local_time_follows_summer_time() {
        let winter = Timestamp::parse("2026-12-08T13:30:00Z").unwrap();
        let summer = Timestamp::parse("2026-07-01T13:30:00Z").unwrap();
        assert_eq!(winter.to_german_local().unwrap().hour(), 14);
        assert_eq!(summer.to_german_local().unwrap().hour(), 15);
    }

    #[test]
    fn german_excel_dates_are_german_local_time() {
        for (local, utc) in [
            // Winter: CET, one hour ahead of UTC.
            ("05.12.2026 14:30", "2026-12-05T13:30:00Z"),
            ("5.1.2026", "2026-01-04T23:00:00Z"),
            // Summer: CEST, two hours ahead.
            ("01.07.2025 08:15:30", "2025-07-01T06:15:30Z"),
            // 2026 changes on 29 March and 25 October.
            ("29.03.2026 01:59", "2026-03-29T00:59:00Z"),
            ("29.03.2026 03:00", "2026-03-29T01:00:00Z"),
            ("25.10.2026 02:30", "2026-10-25T00:30:00Z"),
            ("25.10.2026 03:00", "2026-10-25T02:00:00Z"),
        ] {
            assert_eq!(
                Timestamp::parse_german_local(local).map(Timestamp::to_rfc3339),
                Some(utc.to_owned()),
                "{local}"
            );
        }
        for wrong in [
            "31.02.2026",
            "05.12.26",
            "2026-12-05",
            "05.12.2026 25:00",
            "05.12.2026 14:30:00:00",
            "",
        ] {
            assert_eq!(Timestamp::parse_german_local(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(Timestamp(1000));
        assert_eq!(clock.now(), Timestamp(1000));
        clock.advance_millis(500);
        assert_eq!(clock.now(), Timestamp(1500));
    }
}
