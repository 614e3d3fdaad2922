//! Response-time goals counted in business hours: a weekly calendar in
//! German local time and the public holidays of a Bundesland. Pure
//! functions, so the inbox, a report and a test compute the same due times.

use crate::Timestamp;
use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month, Weekday};

/// The sixteen Länder by their ISO 3166-2:DE codes (without `DE-`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Bundesland {
    Bw,
    By,
    Be,
    Bb,
    Hb,
    Hh,
    He,
    Mv,
    Ni,
    Nw,
    Rp,
    Sl,
    Sn,
    St,
    Sh,
    Th,
}

/// Easter Sunday (Gregorian; the anonymous algorithm of Meeus/Jones/Butcher).
pub fn easter_sunday(year: i32) -> Date {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::from_calendar_date(
        year,
        Month::try_from(month as u8).expect("March or April"),
        day as u8,
    )
    .expect("Easter is a date")
}

fn date(year: i32, month: Month, day: u8) -> Date {
    Date::from_calendar_date(year, month, day).expect("a fixed holiday is a date")
}

/// The public holidays of a year in a Land (the statutory ones; Augsburg's
/// Friedensfest and Mariä Himmelfahrt in Bavaria's Catholic communes are
/// local and left out).
pub fn public_holidays(year: i32, land: Bundesland) -> Vec<Date> {
    use Bundesland::*;
    let easter = easter_sunday(year);
    let mut days = vec![
        date(year, Month::January, 1),
        easter - Duration::days(2), // Karfreitag
        easter + Duration::days(1), // Ostermontag
        date(year, Month::May, 1),
        easter + Duration::days(39), // Christi Himmelfahrt
        easter + Duration::days(50), // Pfingstmontag
        date(year, Month::October, 3),
        date(year, Month::December, 25),
        date(year, Month::December, 26),
    ];
    if matches!(land, Bw | By | St) {
        days.push(date(year, Month::January, 6)); // Heilige Drei Könige
    }
    if matches!(land, Be) || (matches!(land, Mv) && year >= 2023) {
        days.push(date(year, Month::March, 8)); // Internationaler Frauentag
    }
    if matches!(land, Bw | By | He | Nw | Rp | Sl) {
        days.push(easter + Duration::days(60)); // Fronleichnam
    }
    if matches!(land, Sl) {
        days.push(date(year, Month::August, 15)); // Mariä Himmelfahrt
    }
    if matches!(land, Th) && year >= 2019 {
        days.push(date(year, Month::September, 20)); // Weltkindertag
    }
    if matches!(land, Bb | Mv | Sn | St | Th) || (matches!(land, Hb | Hh | Ni | Sh) && year >= 2018)
    {
        days.push(date(year, Month::October, 31)); // Reformationstag
    }
    if matches!(land, Bw | By | Nw | Rp | Sl) {
        days.push(date(year, Month::November, 1)); // Allerheiligen
    }
    if matches!(land, Sn) {
        // Buß- und Bettag: the Wednesday before 23 November.
        let mut day = date(year, Month::November, 22);
        while day.weekday() != Weekday::Wednesday {
            day = day.previous_day().expect("a day in November");
        }
        days.push(day);
    }
    days.sort();
    days
}

/// Opening hours of one weekday in minutes after local midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hours {
    pub open: u16,
    pub close: u16,
}

/// When the team works: hours per weekday (Monday first) in German local
/// time, closed on the Land's public holidays.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessCalendar {
    pub week: [Option<Hours>; 7],
    pub land: Bundesland,
}

impl BusinessCalendar {
    /// Monday to Friday, `open` to `close` (minutes after midnight).
    pub fn weekdays(open: u16, close: u16, land: Bundesland) -> Self {
        let day = Some(Hours { open, close });
        Self {
            week: [day, day, day, day, day, None, None],
            land,
        }
    }

    fn hours_on(&self, day: Date) -> Option<Hours> {
        let hours = self.week[day.weekday().number_days_from_monday() as usize]?;
        if hours.close <= hours.open || public_holidays(day.year(), self.land).contains(&day) {
            return None;
        }
        Some(hours)
    }

    /// The moment `minutes` of business time after `start`.
    pub fn add_business_minutes(&self, start: Timestamp, minutes: i64) -> Timestamp {
        let Some(local) = start.to_german_local() else {
            return start;
        };
        let mut remaining = minutes.max(0);
        let mut day = local.date();
        let mut at = u16::from(local.hour()) * 60 + u16::from(local.minute());
        // A year without one open minute would loop for ever; stop after two.
        for _ in 0..740 {
            if let Some(hours) = self.hours_on(day) {
                let from = at.max(hours.open);
                if from < hours.close {
                    let available = i64::from(hours.close - from);
                    if remaining <= available {
                        let minute = from as i64 + remaining;
                        return local_moment(day, minute).unwrap_or(start);
                    }
                    remaining -= available;
                }
            }
            day = match day.next_day() {
                Some(next) => next,
                None => return start,
            };
            at = 0;
        }
        start
    }

    /// Business minutes from `from` to `to` (0 if `to` is earlier).
    pub fn business_minutes_between(&self, from: Timestamp, to: Timestamp) -> i64 {
        if to <= from {
            return 0;
        }
        // Find the count by bisection on `add_business_minutes`, which is
        // monotone; spans in an inbox are days, not years.
        let (mut low, mut high) = (0_i64, (to.0 - from.0) / 60_000 + 1);
        while low < high {
            let mid = (low + high + 1) / 2;
            if self.add_business_minutes(from, mid) <= to {
                low = mid;
            } else {
                high = mid - 1;
            }
        }
        low
    }
}

/// The UTC moment of minute `minute` after local midnight on `day`.
fn local_moment(day: Date, minute: i64) -> Option<Timestamp> {
    let hour = minute / 60;
    let text = format!(
        "{:02}.{:02}.{} {:02}:{:02}",
        day.day(),
        u8::from(day.month()),
        day.year(),
        hour.min(23),
        if hour >= 24 { 59 } else { minute % 60 }
    );
    let at = Timestamp::parse_german_local(&text)?;
    // The close of a day that ends at 24:00 is the next midnight.
    Some(if hour >= 24 {
        at.plus_millis(60_000)
    } else {
        at
    })
}

/// Response-time goals in business minutes; `None` where a channel has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goals {
    pub first_response_minutes: Option<i64>,
    pub next_response_minutes: Option<i64>,
}

/// Where a conversation stands against its response goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Due at this moment; `at_risk` once less than a quarter of the goal is left.
    Pending { due_at: Timestamp, at_risk: bool },
    /// The goal passed unanswered.
    Breached { due_at: Timestamp },
}

impl Due {
    pub fn due_at(self) -> Timestamp {
        match self {
            Due::Pending { due_at, .. } | Due::Breached { due_at } => due_at,
        }
    }
}

/// The response goal of a conversation whose customer has waited since
/// `waiting_since`: the first response if the business never wrote in it,
/// else the next one.
pub fn response_due(
    calendar: &BusinessCalendar,
    goals: &Goals,
    waiting_since: Timestamp,
    answered_before: bool,
    now: Timestamp,
) -> Option<Due> {
    let minutes = if answered_before {
        goals.next_response_minutes
    } else {
        goals.first_response_minutes
    }?;
    let due_at = calendar.add_business_minutes(waiting_since, minutes);
    if now >= due_at {
        return Some(Due::Breached { due_at });
    }
    let left = calendar.business_minutes_between(now, due_at);
    Some(Due::Pending {
        due_at,
        at_risk: left * 4 < minutes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_german_local(text).unwrap()
    }

    #[test]
    fn easter_and_the_holidays_that_follow_it() {
        assert_eq!(easter_sunday(2026), date(2026, Month::April, 5));
        assert_eq!(easter_sunday(2027), date(2027, Month::March, 28));
        let nrw = public_holidays(2026, Bundesland::Nw);
        for day in [
            date(2026, Month::April, 3), // Karfreitag
            date(2026, Month::May, 14),  // Himmelfahrt
            date(2026, Month::June, 4),  // Fronleichnam
            date(2026, Month::November, 1),
        ] {
            assert!(nrw.contains(&day), "{day} in NW");
        }
        assert!(!nrw.contains(&date(2026, Month::October, 31)));
    }

    #[test]
    fn each_land_has_its_own_holidays() {
        let has = |land, day| public_holidays(2026, land).contains(&day);
        assert!(
            has(Bundesland::Sn, date(2026, Month::November, 18)),
            "Buß- und Bettag"
        );
        assert!(!has(Bundesland::By, date(2026, Month::November, 18)));
        assert!(has(Bundesland::Be, date(2026, Month::March, 8)));
        assert!(has(Bundesland::Hh, date(2026, Month::October, 31)));
        assert!(has(Bundesland::By, date(2026, Month::January, 6)));
        assert!(!has(Bundesland::Hh, date(2026, Month::January, 6)));
        assert!(has(Bundesland::Th, date(2026, Month::September, 20)));
        assert_eq!(public_holidays(2026, Bundesland::Hb).len(), 10);
    }

    #[test]
    fn business_time_skips_nights_weekends_and_holidays() {
        let office = BusinessCalendar::weekdays(8 * 60, 18 * 60, Bundesland::Nw);
        // Friday 17:00 + 2 h → Monday 09:00.
        assert_eq!(
            office.add_business_minutes(at("04.12.2026 17:00"), 120),
            at("07.12.2026 09:00")
        );
        // Saturday counts from Monday's opening.
        assert_eq!(
            office.add_business_minutes(at("05.12.2026 11:00"), 30),
            at("07.12.2026 08:30")
        );
        // Christmas Eve (a Thursday) 17:30 + 1 h: 25th and 26th are holidays, then a weekend.
        assert_eq!(
            office.add_business_minutes(at("24.12.2026 17:30"), 60),
            at("28.12.2026 08:30")
        );
        // Across the change to summer time (29.03.2026) the local clock still rules.
        assert_eq!(
            office.add_business_minutes(at("27.03.2026 17:00"), 120),
            at("30.03.2026 09:00")
        );
        assert_eq!(
            office.business_minutes_between(at("04.12.2026 17:00"), at("07.12.2026 09:00")),
            120
        );
    }

    #[test]
    fn a_response_is_due_at_risk_or_breached() {
        let office = BusinessCalendar::weekdays(8 * 60, 18 * 60, Bundesland::By);
        let goals = Goals {
            first_response_minutes: Some(60),
            next_response_minutes: Some(240),
        };
        let asked = at("07.12.2026 10:00");
        let due = response_due(&office, &goals, asked, false, at("07.12.2026 10:10")).unwrap();
        assert_eq!(
            due,
            Due::Pending {
                due_at: at("07.12.2026 11:00"),
                at_risk: false
            }
        );
        let late = response_due(&office, &goals, asked, false, at("07.12.2026 10:50")).unwrap();
        assert!(matches!(late, Due::Pending { at_risk: true, .. }));
        let over = response_due(&office, &goals, asked, false, at("07.12.2026 11:00")).unwrap();
        assert_eq!(
            over,
            Due::Breached {
                due_at: at("07.12.2026 11:00")
            }
        );
        let next = response_due(&office, &goals, asked, true, at("07.12.2026 10:10")).unwrap();
        assert_eq!(next.due_at(), at("07.12.2026 14:00"));
        let none = Goals {
            first_response_minutes: None,
            next_response_minutes: None,
        };
        assert!(response_due(&office, &none, asked, false, asked).is_none());
    }
}
