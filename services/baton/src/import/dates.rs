//! Dates of birth as CRM exports write them: ISO (`1990-07-14`), compact (`19900714`), or
//! with slashes, dashes or dots in the order the export's country uses (`14/07/1990`,
//! `07/14/1990`), with four- or two-digit years.

use baton_identity::standardize::date;
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
pub type Today = CalendarDate;

/// Today, in UTC.
pub fn today() -> Today {
    date::today()
}

/// Reads `text` as a date of birth the way identity standardizes one (so the import refuses
/// exactly what the service would); `Ok(None)` when it is blank.
pub fn parse(text: &str, order: DateOrder, today: Today) -> Result<Option<CalendarDate>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let order = match order {
        DateOrder::DayFirst => date::DateOrder::DayFirst,
        DateOrder::MonthFirst => date::DateOrder::MonthFirst,
    };
    date::parse_on(text, order, today)
        .map(Some)
        .map_err(|why| format!("date of birth {text:?}: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Today = CalendarDate {
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
        assert!(today().year >= 2024, "{:?}", today());
    }
}
