//! Times as German users read them: Europe/Berlin, `08.12.2026 14:30`,
//! durations in minutes, hours and days, in the page's language.

use super::i18n::Texts;
use resonanz_core::Timestamp;

/// `08.12.2026 14:30` in German local time.
pub fn datetime(at: Timestamp) -> String {
    match at.to_german_local() {
        Some(t) => format!(
            "{:02}.{:02}.{} {:02}:{:02}",
            t.day(),
            u8::from(t.month()),
            t.year(),
            t.hour(),
            t.minute()
        ),
        None => at.to_rfc3339(),
    }
}

/// `14:30` for a time today, else the date and time.
pub fn short(at: Timestamp, now: Timestamp) -> String {
    match (at.to_german_local(), now.to_german_local()) {
        (Some(t), Some(today)) if t.date() == today.date() => {
            format!("{:02}:{:02}", t.hour(), t.minute())
        }
        _ => datetime(at),
    }
}

/// `12 Min.`, `3 Std. 5 Min.`, `2 Tg. 4 Std.`; under a minute counts as one.
pub fn duration(t: &Texts, millis: i64) -> String {
    let minutes = (millis.max(0) / 60_000).max(1);
    if minutes < 60 {
        t.count("duration-minutes", "minutes", minutes)
    } else if minutes < 24 * 60 {
        let mut args = fluent_bundle::FluentArgs::new();
        args.set("hours", minutes / 60);
        args.set("minutes", minutes % 60);
        t.with_args("duration-hours", &args)
    } else {
        let mut args = fluent_bundle::FluentArgs::new();
        args.set("days", minutes / (24 * 60));
        args.set("hours", minutes % (24 * 60) / 60);
        t.with_args("duration-days", &args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Lang;

    #[test]
    fn times_read_as_in_germany() {
        let at = Timestamp::parse("2026-12-08T13:05:00Z").unwrap();
        assert_eq!(datetime(at), "08.12.2026 14:05");
        let later_that_day = at.plus_millis(3 * 3_600_000);
        assert_eq!(short(at, later_that_day), "14:05");
        assert_eq!(
            short(at, at.plus_millis(24 * 3_600_000)),
            "08.12.2026 14:05"
        );
    }

    #[test]
    fn durations_read_in_minutes_hours_and_days() {
        let de = Texts::new(Lang::De);
        let en = Texts::new(Lang::En);
        assert_eq!(duration(&de, 5_000), "1 Min.");
        assert_eq!(duration(&de, 12 * 60_000), "12 Min.");
        assert_eq!(duration(&de, (3 * 60 + 5) * 60_000), "3 Std. 5 Min.");
        assert_eq!(duration(&en, (3 * 60 + 5) * 60_000), "3 h 5 min");
        assert_eq!(duration(&de, (2 * 24 + 4) * 3_600_000), "2 Tg. 4 Std.");
    }
}
