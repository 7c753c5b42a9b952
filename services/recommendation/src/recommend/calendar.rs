//! Calendar arithmetic on UTC timestamps: dates for display, whole days, months and years
//! between two instants.
//!
//! Everything takes seconds since the Unix epoch; the caller decides what "now" is, so the
//! modules that use this stay pure and testable at any date.

use std::fmt;

/// Seconds in a day (UTC has no daylight saving).
pub const SECONDS_PER_DAY: i64 = 86_400;

/// A UTC calendar date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    /// The year, proleptic Gregorian.
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
}

impl fmt::Display for Date {
    /// ISO 8601: `2026-03-02`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The UTC date of an instant.
pub fn date_of(unix_seconds: i64) -> Date {
    civil_from_days(unix_seconds.div_euclid(SECONDS_PER_DAY))
}

/// The date `days` days after 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date { year, month, day }
}

/// Days from 1970-01-01 to `date` (the inverse of [`civil_from_days`]).
pub fn days_from_civil(date: Date) -> i64 {
    let year = date.year - i64::from(date.month <= 2);
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(date.month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(date.day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Whole days from `earlier` to `later`; negative when `later` comes first.
pub fn whole_days(earlier: i64, later: i64) -> i64 {
    (later - earlier).div_euclid(SECONDS_PER_DAY)
}

/// Whole calendar months from `earlier` to `later` (a month is complete on the same day of
/// the month), or 0 when `later` is not after `earlier`.
pub fn whole_months(earlier: i64, later: i64) -> i64 {
    if later <= earlier {
        return 0;
    }
    let (from, to) = (date_of(earlier), date_of(later));
    let months = (to.year - from.year) * 12 + i64::from(to.month) - i64::from(from.month);
    (months - i64::from(to.day < from.day)).max(0)
}

/// "today", "yesterday" or "N days ago" for a number of whole days elapsed.
pub fn days_ago(days: i64) -> String {
    match days {
        i64::MIN..=0 => "today".to_owned(),
        1 => "yesterday".to_owned(),
        n => format!("{n} days ago"),
    }
}

/// "1 day", "N days" (and the same for any unit with a regular plural).
pub fn count_of(n: i64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(year: i64, month: u32, day: u32) -> i64 {
        days_from_civil(Date { year, month, day }) * SECONDS_PER_DAY
    }

    #[test]
    fn known_dates() {
        assert_eq!(date_of(0).to_string(), "1970-01-01");
        assert_eq!(date_of(1_772_409_600).to_string(), "2026-03-02");
        assert_eq!(date_of(-1).to_string(), "1969-12-31");
        assert_eq!(date_of(at(2024, 2, 29)).to_string(), "2024-02-29");
    }

    #[test]
    fn months_count_whole_calendar_months() {
        assert_eq!(whole_months(at(2025, 7, 2), at(2026, 3, 2)), 8);
        assert_eq!(whole_months(at(2025, 7, 3), at(2026, 3, 2)), 7);
        assert_eq!(whole_months(at(2016, 3, 2), at(2026, 3, 2)) / 12, 10);
        assert_eq!(whole_months(at(2026, 3, 2), at(2025, 3, 2)), 0);
    }

    #[test]
    fn relative_days_read_naturally() {
        assert_eq!(days_ago(0), "today");
        assert_eq!(days_ago(1), "yesterday");
        assert_eq!(days_ago(2), "2 days ago");
        assert_eq!(count_of(1, "year"), "1 year");
        assert_eq!(count_of(10, "year"), "10 years");
    }

    proptest! {
        #[test]
        fn days_round_trip_through_dates(days in -1_000_000i64..1_000_000) {
            let date = civil_from_days(days);
            prop_assert!((1..=12).contains(&date.month));
            prop_assert!((1..=31).contains(&date.day));
            prop_assert_eq!(days_from_civil(date), days);
        }

        #[test]
        fn dates_increase_with_time(days in -1_000_000i64..1_000_000) {
            prop_assert!(civil_from_days(days) < civil_from_days(days + 1));
        }
    }
}
