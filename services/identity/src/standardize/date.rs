//! Dates of birth: validity and reading them from text.
//!
//! People and systems write dates many ways. [`parse`] reads the common ones: ISO
//! (`1951-11-15`), compact (`19511115`), numeric with `/`, `.` or `-` in day-first or
//! month-first order, and with the month named (`15 Nov 1951`, `Nov 15, 1951`). A two-digit
//! year is the most recent year with those digits that is not in the future, since a birth
//! date is in the past.

use std::time::{SystemTime, UNIX_EPOCH};

use baton_proto::v1::CalendarDate;

/// Whether `date` is a real calendar date with a four-digit year.
pub fn is_valid(date: &CalendarDate) -> bool {
    let (y, m, d) = (date.year, date.month, date.day);
    (1000..=9999).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

/// Days in month `month` (1 to 12) of `year`; 0 for a month out of range.
pub fn days_in_month(year: i32, month: i32) -> i32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        _ => 0,
    }
}

/// Which number comes first in an all-numeric date such as `05/11/1951`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateOrder {
    /// Day, month, year: most of the world (`15/11/1951`).
    DayFirst,
    /// Month, day, year: the United States (`11/15/1951`).
    MonthFirst,
}

/// Reads a date of birth from `text` in `order` when the numbers alone do not say which is
/// the day, relative to today (UTC). Errors describe what is wrong without repeating the
/// value, which may be personal data.
pub fn parse(text: &str, order: DateOrder) -> Result<CalendarDate, String> {
    parse_on(text, order, today())
}

/// [`parse`] with "today" given: a two-digit year is read as the latest year that does not
/// put the date after `today`, and dates after `today` are refused.
pub fn parse_on(text: &str, order: DateOrder, today: CalendarDate) -> Result<CalendarDate, String> {
    let tokens = tokenize(text)?;
    let (year, month, day) = match tokens.as_slice() {
        [Token::Number(digits)] if digits.len() == 8 => (
            number(&digits[..4]),
            number(&digits[4..6]),
            number(&digits[6..]),
        ),
        [Token::Number(_)] => {
            return Err("expected a date such as 1951-11-15 or 15 Nov 1951".to_owned());
        }
        [Token::Number(a), Token::Number(b), Token::Number(c)] => {
            if a.len() == 4 {
                (year_of(a, &today)?, number(b), number(c))
            } else if c.len() == 4 || c.len() == 2 {
                let year = year_of(c, &today)?;
                match order {
                    DateOrder::DayFirst => (year, number(b), number(a)),
                    DateOrder::MonthFirst => (year, number(a), number(b)),
                }
            } else {
                return Err("the year must have four or two digits".to_owned());
            }
        }
        [_, _, _] => named_month(&tokens, &today)?,
        _ => return Err("expected a day, a month and a year".to_owned()),
    };
    if !(1..=12).contains(&month) {
        return Err("the month must be 1 to 12".to_owned());
    }
    // A two-digit year in today's year whose day has not come yet is a century earlier:
    // "16/03/26" written on 15 March 2026 is a birth in 1926.
    let two_digit = !tokens
        .iter()
        .any(|t| matches!(t, Token::Number(n) if n.len() >= 4));
    let year = if two_digit && (year, month, day) > (today.year, today.month, today.day) {
        year - 100
    } else {
        year
    };
    if !(1000..=9999).contains(&year) {
        return Err("the year must have four digits".to_owned());
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("that month has no such day".to_owned());
    }
    let date = CalendarDate { year, month, day };
    if (date.year, date.month, date.day) > (today.year, today.month, today.day) {
        return Err("a date of birth cannot be in the future".to_owned());
    }
    Ok(date)
}

/// A piece of a written date.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A run of ASCII digits.
    Number(String),
    /// A month named in words, 1 to 12.
    Month(i32),
}

/// Splits `text` into numbers and month names, skipping separators, ordinal suffixes
/// ("15th") and "of".
fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    const MAX_TOKENS: usize = 8;
    let mut tokens = Vec::new();
    let mut rest = text.trim();
    while let Some(start) = rest.find(|c: char| c.is_ascii_alphanumeric()) {
        if tokens.len() == MAX_TOKENS {
            return Err("expected a day, a month and a year".to_owned());
        }
        let (separator, tail) = rest.split_at(start);
        if separator
            .chars()
            .any(|c| !matches!(c, ' ' | ',' | '/' | '.' | '-'))
        {
            return Err("only digits, month names and / . - , separate a date".to_owned());
        }
        let digits = tail.starts_with(|c: char| c.is_ascii_digit());
        let len = tail
            .find(|c: char| {
                if digits {
                    !c.is_ascii_digit()
                } else {
                    !c.is_ascii_alphabetic()
                }
            })
            .unwrap_or(tail.len());
        let (word, after) = tail.split_at(len);
        rest = after;
        if digits {
            if word.len() > 8 {
                return Err("a date has no number that long".to_owned());
            }
            tokens.push(Token::Number(word.to_owned()));
            continue;
        }
        let lower = word.to_ascii_lowercase();
        match month_named(&lower) {
            Some(month) => tokens.push(Token::Month(month)),
            None if matches!(lower.as_str(), "st" | "nd" | "rd" | "th" | "of") => {}
            None => return Err("a word in the date is not a month name".to_owned()),
        }
    }
    if !rest.trim().is_empty() {
        return Err("only digits, month names and / . - , separate a date".to_owned());
    }
    Ok(tokens)
}

/// The month `word` (lower-case) names, in English, in full or shortened to at least its
/// first three letters ("sept" too).
fn month_named(word: &str) -> Option<i32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    if word.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| m.starts_with(word))
        .and_then(|i| i32::try_from(i + 1).ok())
}

/// Year, month and day from a day or year, a month name and the remaining number in any
/// of the orders people write them ("15 Nov 1951", "Nov 15, 1951", "1951 Nov 15").
fn named_month(tokens: &[Token], today: &CalendarDate) -> Result<(i32, i32, i32), String> {
    let mut month = None;
    let mut numbers = Vec::new();
    for token in tokens {
        match token {
            Token::Month(m) if month.is_none() => month = Some(*m),
            Token::Month(_) => return Err("the month is named twice".to_owned()),
            Token::Number(n) => numbers.push(n.as_str()),
        }
    }
    let (Some(month), [first, second]) = (month, numbers.as_slice()) else {
        return Err("expected a day, a month and a year".to_owned());
    };
    // The year is the number with four digits, else the one that cannot be a day (the
    // last, as people write "Nov 15, 51").
    let (day, year) = if first.len() == 4 || (first.len() > 2 && second.len() <= 2) {
        (second, first)
    } else {
        (first, second)
    };
    if day.len() > 2 {
        return Err("the day must have one or two digits".to_owned());
    }
    Ok((year_of(year, today)?, month, number(day)))
}

/// A four-digit year as written, or a two-digit one in the latest century that does not
/// put it after `today`'s year.
fn year_of(digits: &str, today: &CalendarDate) -> Result<i32, String> {
    match digits.len() {
        4 => Ok(number(digits)),
        2 => {
            let yy = number(digits);
            let century = today.year - today.year.rem_euclid(100);
            let year = century + yy;
            Ok(if year > today.year { year - 100 } else { year })
        }
        _ => Err("the year must have four or two digits".to_owned()),
    }
}

/// The value of a run of at most eight ASCII digits.
fn number(digits: &str) -> i32 {
    digits
        .bytes()
        .fold(0, |n, b| n * 10 + i32::from(b.wrapping_sub(b'0')))
}

/// Today's date in UTC, from the system clock (1970-01-01 if the clock is before it).
pub fn today() -> CalendarDate {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    civil_from_days(i64::try_from(seconds / 86_400).unwrap_or(0))
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's civil-from-days).
fn civil_from_days(days: i64) -> CalendarDate {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    CalendarDate {
        year: i32::try_from(year).unwrap_or(i32::MAX),
        month: i32::try_from(month).unwrap_or(1),
        day: i32::try_from(day).unwrap_or(1),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn date(year: i32, month: i32, day: i32) -> CalendarDate {
        CalendarDate { year, month, day }
    }

    const TODAY: CalendarDate = CalendarDate {
        year: 2026,
        month: 12,
        day: 1,
    };

    fn read(text: &str) -> Result<CalendarDate, String> {
        parse_on(text, DateOrder::DayFirst, TODAY)
    }

    #[test]
    fn validity_knows_month_lengths_and_leap_years() {
        assert!(is_valid(&date(2000, 2, 29)));
        assert!(!is_valid(&date(1900, 2, 29)));
        assert!(is_valid(&date(1996, 2, 29)));
        assert!(!is_valid(&date(1951, 4, 31)));
        assert!(!is_valid(&date(1951, 13, 1)));
        assert!(!is_valid(&date(51, 1, 1)));
        assert!(!is_valid(&date(1951, 1, 0)));
    }

    #[test]
    fn every_common_format_reads_the_same_date() {
        let expected = date(1951, 11, 15);
        for text in [
            "1951-11-15",
            "19511115",
            "15/11/1951",
            "15.11.1951",
            "15-11-1951",
            "15 Nov 1951",
            "Nov 15, 1951",
            "15 November 1951",
            "15th of November, 1951",
            "November 15th 1951",
            "1951 Nov 15",
            "15-nov-51",
            " 15/11/51 ",
        ] {
            assert_eq!(read(text), Ok(expected), "{text}");
        }
        assert_eq!(
            parse_on("11/15/1951", DateOrder::MonthFirst, TODAY),
            Ok(expected)
        );
        assert_eq!(read("11/05/1951"), Ok(date(1951, 5, 11)));
        assert_eq!(
            parse_on("11/05/1951", DateOrder::MonthFirst, TODAY),
            Ok(date(1951, 11, 5))
        );
    }

    #[test]
    fn two_digit_years_are_in_the_past() {
        assert_eq!(read("15/11/51"), Ok(date(1951, 11, 15)));
        assert_eq!(read("01/02/09"), Ok(date(2009, 2, 1)));
        assert_eq!(read("01/02/26"), Ok(date(2026, 2, 1)));
        assert_eq!(read("01/02/27"), Ok(date(1927, 2, 1)));
        // In the year written, before its day has come: a century earlier.
        let ides = date(2026, 3, 15);
        assert_eq!(
            parse_on("15/03/26", DateOrder::DayFirst, ides),
            Ok(date(2026, 3, 15))
        );
        assert_eq!(
            parse_on("16/03/26", DateOrder::DayFirst, ides),
            Ok(date(1926, 3, 16))
        );
        assert_eq!(
            parse_on("Mar 16, 26", DateOrder::DayFirst, ides),
            Ok(date(1926, 3, 16))
        );
        let early = date(2008, 6, 1);
        assert_eq!(
            parse_on("01/02/09", DateOrder::DayFirst, early),
            Ok(date(1909, 2, 1))
        );
    }

    #[test]
    fn impossible_dates_are_refused_without_echoing_them() {
        for text in [
            "31/04/1951",
            "29/02/1951",
            "1951-13-01",
            "00/01/1951",
            "15/11/195",
            "19511315",
            "1951111",
            "15 Smarch 1951",
            "tomorrow",
            "",
            "15/11",
            "1/2/3/4",
            "01/01/2030",
            "15 Nov Nov 1951",
            "15 <b>Nov</b> 1951",
        ] {
            let error = read(text).expect_err(text);
            for piece in text.split(|c: char| !c.is_ascii_alphanumeric()) {
                if piece.len() >= 2 {
                    assert!(!error.contains(piece), "{error} echoes {piece}");
                }
            }
        }
    }

    #[test]
    fn today_is_a_real_date() {
        assert!(is_valid(&today()));
        assert_eq!(civil_from_days(0), date(1970, 1, 1));
        assert_eq!(civil_from_days(11_016), date(2000, 2, 29));
    }

    /// Valid birth dates up to `TODAY`.
    fn birth_date() -> impl Strategy<Value = CalendarDate> {
        (1900..=2026i32, 1..=12i32, 1..=31i32).prop_filter_map(
            "a real date",
            |(year, month, day)| {
                let d = date(year, month, day.min(days_in_month(year, month)));
                (d.year < 2026 || d.month < 12 || d.day == 1).then_some(d)
            },
        )
    }

    const MONTH_ABBREVIATIONS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];

    proptest! {
        #[test]
        fn valid_dates_round_trip_in_every_format(d in birth_date()) {
            let (y, m, day) = (d.year, d.month, d.day);
            let name = MONTH_ABBREVIATIONS[usize::try_from(m - 1).unwrap_or(0)];
            for text in [
                format!("{y:04}-{m:02}-{day:02}"),
                format!("{y:04}{m:02}{day:02}"),
                format!("{day:02}/{m:02}/{y:04}"),
                format!("{day}.{m}.{y}"),
                format!("{day:02}-{m:02}-{y:04}"),
                format!("{day} {name} {y}"),
                format!("{name} {day}, {y}"),
            ] {
                prop_assert_eq!(read(&text), Ok(d), "{}", text);
            }
            prop_assert_eq!(parse_on(&format!("{m}/{day}/{y}"), DateOrder::MonthFirst, TODAY), Ok(d));
            // Two digits lose the century; the reading is the latest one not in the future.
            let two = parse_on(&format!("{day:02}/{m:02}/{:02}", y % 100), DateOrder::DayFirst, TODAY);
            if let Ok(two) = two {
                prop_assert_eq!((two.year % 100, two.month, two.day), (y % 100, m, day));
                let key = |d: &CalendarDate| (d.year, d.month, d.day);
                prop_assert!(key(&two) <= key(&TODAY), "{:?} is after today", two);
                prop_assert!(
                    (two.year + 100, two.month, two.day) > key(&TODAY),
                    "{:?} is a century earlier than it needs to be",
                    two
                );
            }
        }

        #[test]
        fn parsing_never_panics(text in any::<String>(), month_first in any::<bool>()) {
            let order = if month_first { DateOrder::MonthFirst } else { DateOrder::DayFirst };
            if let Ok(d) = parse_on(&text, order, TODAY) {
                prop_assert!(is_valid(&d));
            }
            let _ = parse(&text, order);
        }
    }
}
