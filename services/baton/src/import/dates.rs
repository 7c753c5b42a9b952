//! Dates of birth as CRM exports write them: ISO (`1990-07-14`), compact (`19900714`), or
//! with slashes, dashes or dots in the order the export's country uses (`14/07/1990`,
//! `07/14/1990`), with four- or two-digit years.

use baton_proto::v1::CalendarDate;
use clap::ValueEnum;

/// How a date written `NN/NN/YYYY` is read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum DateOrder {
    /// `14/07/1990`: day, month, year (most of the world).
    #[default]
    DayFirst,
    /// `07/14/1990`: month, day, year (the United States).
    MonthFirst,
}

/// A day, to decide which century a two-digit year of birth is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Today {
    /// The year.
    pub year: i32,
    /// The month, 1 to 12.
    pub month: i32,
    /// The day, 1 to 31.
    pub day: i32,
}

impl Today {
    /// Today, in UTC.
    pub fn now() -> Self {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let days = i64::try_from(secs / 86_400).unwrap_or(0);
        let (year, month, day) = civil_from_days(days);
        Self { year, month, day }
    }
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i32, i32, i32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Years of any realistic clock fit an i32 by far.
    (
        i32::try_from(year).unwrap_or(i32::MAX),
        month as i32,
        day as i32,
    )
}

fn days_in_month(year: i32, month: i32) -> i32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    }
}

/// Reads `text` as a date of birth; `Ok(None)` when it is blank.
pub fn parse(text: &str, order: DateOrder, today: Today) -> Result<Option<CalendarDate>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let unreadable = || format!("date of birth {text:?} is not a date this import reads");
    let parts: Vec<&str> = text.split(['-', '/', '.']).collect();
    let number = |s: &str| -> Option<i32> {
        (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (year, month, day, two_digit_year) = match parts[..] {
        [compact] if compact.len() == 8 => {
            let n = |r: std::ops::Range<usize>| compact.get(r).and_then(number);
            (n(0..4), n(4..6), n(6..8), false)
        }
        [y, m, d] if y.len() == 4 => (number(y), number(m), number(d), false),
        [a, b, y] if y.len() == 4 || y.len() == 2 => {
            let (d, m) = match order {
                DateOrder::DayFirst => (a, b),
                DateOrder::MonthFirst => (b, a),
            };
            (number(y), number(m), number(d), y.len() == 2)
        }
        _ => return Err(unreadable()),
    };
    let (Some(mut year), Some(month), Some(day)) = (year, month, day) else {
        return Err(unreadable());
    };
    if two_digit_year {
        // A birth date is in the past: "03" is 2003 if that has come, else 1903.
        year += 2000;
        if (year, month, day) > (today.year, today.month, today.day) {
            year -= 100;
        }
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(format!("date of birth {text:?} is not a calendar date"));
    }
    if (year, month, day) > (today.year, today.month, today.day) || year < 1000 {
        return Err(format!("date of birth {text:?} is not in the past"));
    }
    Ok(Some(CalendarDate { year, month, day }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Today = Today {
        year: 2026,
        month: 3,
        day: 15,
    };

    fn date(year: i32, month: i32, day: i32) -> Option<CalendarDate> {
        Some(CalendarDate { year, month, day })
    }

    fn read(text: &str, order: DateOrder) -> Result<Option<CalendarDate>, String> {
        parse(text, order, TODAY)
    }

    #[test]
    fn every_written_form_reads_the_same_day() {
        for text in [
            "1990-07-14",
            "1990/07/14",
            "19900714",
            "14/07/1990",
            "14-07-1990",
            "14.7.1990",
            " 14/07/90 ",
        ] {
            assert_eq!(
                read(text, DateOrder::DayFirst),
                Ok(date(1990, 7, 14)),
                "{text}"
            );
        }
        assert_eq!(
            read("07/14/1990", DateOrder::MonthFirst),
            Ok(date(1990, 7, 14))
        );
        assert_eq!(
            read("1990-07-14", DateOrder::MonthFirst),
            Ok(date(1990, 7, 14))
        );
        assert_eq!(read("", DateOrder::DayFirst), Ok(None));
    }

    #[test]
    fn two_digit_years_are_in_the_past() {
        assert_eq!(read("01/02/03", DateOrder::DayFirst), Ok(date(2003, 2, 1)));
        assert_eq!(read("15/03/26", DateOrder::DayFirst), Ok(date(2026, 3, 15)));
        assert_eq!(read("16/03/26", DateOrder::DayFirst), Ok(date(1926, 3, 16)));
        assert_eq!(read("01/01/45", DateOrder::DayFirst), Ok(date(1945, 1, 1)));
    }

    #[test]
    fn impossible_or_unreadable_dates_are_refused() {
        for text in [
            "30/02/1990",
            "07/14/1990",
            "1990-13-01",
            "1990-02-29",
            "2027-01-01",
            "yesterday",
            "1990-07",
            "199007140",
            "14/07/199",
            "+1/07/1990",
        ] {
            assert!(read(text, DateOrder::DayFirst).is_err(), "{text}");
        }
        assert_eq!(
            read("1992-02-29", DateOrder::DayFirst),
            Ok(date(1992, 2, 29))
        );
    }

    #[test]
    fn the_clock_gives_a_plausible_day() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_527), (2026, 3, 15));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let today = Today::now();
        assert!(today.year >= 2024, "{today:?}");
    }
}
