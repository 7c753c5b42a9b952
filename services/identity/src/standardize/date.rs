//! Dates of birth: validity and reading them from text.

use baton_proto::v1::CalendarDate;

/// Whether `date` is a real calendar date with a four-digit year.
pub fn is_valid(date: &CalendarDate) -> bool {
    let (y, m, d) = (date.year, date.month, date.day);
    if !(1000..=9999).contains(&y) || !(1..=12).contains(&m) || d < 1 {
        return false;
    }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    d <= days
}
