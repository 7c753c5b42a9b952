//! Comparing two standardized people field by field, for Fellegi–Sunter record linkage.
//!
//! [`compare`] places each field of a pair at a comparison level (exact, nickname, similar
//! spelling, sounds alike, a transposed date, ..., different) and says in words why.
//! [`model`] holds what each level is worth (its m and u probabilities and the log2 ratio of
//! the two) and turns comparisons into summed weights and evidence; [`em`] estimates those
//! probabilities from unlabelled candidate pairs.
//!
//! Pure: no store, no network, no clock.

pub mod em;
pub mod model;

use baton_proto::v1::CalendarDate;
use strsim::{jaro_winkler, osa_distance};

use crate::standardize::{Address, Name, Person, address::is_street_type, name::formal};

pub use model::{Level, Model, evidence};

/// A compared field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    /// Given (first) name.
    GivenName,
    /// Family (last) name.
    FamilyName,
    /// Date of birth.
    DateOfBirth,
    /// House (street) number.
    HouseNumber,
    /// Street name and type.
    Street,
    /// City, town or suburb.
    Locality,
    /// Postal or ZIP code.
    PostalCode,
    /// State, province or county.
    Region,
}

impl Field {
    /// Every field, in the order comparisons are listed.
    pub const ALL: [Field; 8] = [
        Field::GivenName,
        Field::FamilyName,
        Field::DateOfBirth,
        Field::HouseNumber,
        Field::Street,
        Field::Locality,
        Field::PostalCode,
        Field::Region,
    ];

    /// The field's name in evidence and in trained weights ("given_name").
    pub fn name(self) -> &'static str {
        match self {
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::DateOfBirth => "date_of_birth",
            Field::HouseNumber => "house_number",
            Field::Street => "street",
            Field::Locality => "locality",
            Field::PostalCode => "postal_code",
            Field::Region => "region",
        }
    }

    /// The field called `name`, as [`Field::name`] spells it.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The field's position in [`Field::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the field is a person's name (its exact agreements carry a term for
    /// term-frequency adjustment).
    pub fn is_name(self) -> bool {
        matches!(self, Field::GivenName | Field::FamilyName)
    }
}

/// How one field of two people compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The field.
    pub field: Field,
    /// Index into `model.levels(field)`, 0 the most similar; `None` when the field is
    /// missing on either side.
    pub level: Option<usize>,
    /// The similarity measured, in [0, 1], where one was measured (Jaro–Winkler for names
    /// and places, token similarity for streets); 0 otherwise.
    pub similarity: f64,
    /// The level in words ("exact", "nickname", "jaro-winkler 0.93", "one digit").
    pub detail: String,
    /// For an exact name agreement, the canonical name, so its weight can reflect how
    /// common the name is; empty otherwise.
    pub term: String,
}

/// Levels of a name comparison, most similar first; [`model::Model::default`] gives each
/// its m and u in this order.
pub mod name_level {
    /// Equal once folded.
    pub const EXACT: usize = 0;
    /// Equal once nicknames are resolved ("bob" and "robert").
    pub const NICKNAME: usize = 1;
    /// Jaro–Winkler of the canonical forms at least [`super::NAME_CLOSE`], or one name is
    /// the other without a middle or second name ("john" and "john michael").
    pub const CLOSE: usize = 2;
    /// Jaro–Winkler at least [`super::NAME_SIMILAR`].
    pub const SIMILAR: usize = 3;
    /// Same Double Metaphone code.
    pub const SOUNDS_ALIKE: usize = 4;
    /// One side is an initial, the other's first letter.
    pub const INITIAL: usize = 5;
    /// None of the above.
    pub const DIFFERENT: usize = 6;
}

/// Levels of a date-of-birth comparison, most similar first.
pub mod date_level {
    /// The same date.
    pub const EXACT: usize = 0;
    /// Day and month swapped (one side read in the other order).
    pub const TRANSPOSED: usize = 1;
    /// One digit of YYYYMMDD wrong, two adjacent digits swapped, or a day apart.
    pub const ONE_DIGIT: usize = 2;
    /// Same year and month, or same day and month.
    pub const CLOSE: usize = 3;
    /// Only the year agrees.
    pub const SAME_YEAR: usize = 4;
    /// None of the above.
    pub const DIFFERENT: usize = 5;
}

/// Levels of a street comparison, most similar first.
pub mod street_level {
    /// The same words.
    pub const EXACT: usize = 0;
    /// Token similarity at least [`super::STREET_CLOSE`].
    pub const CLOSE: usize = 1;
    /// Token similarity at least [`super::STREET_SIMILAR`].
    pub const SIMILAR: usize = 2;
    /// None of the above.
    pub const DIFFERENT: usize = 3;
}

/// Levels of a locality comparison, most similar first.
pub mod locality_level {
    /// The same folded text.
    pub const EXACT: usize = 0;
    /// Jaro–Winkler at least [`super::LOCALITY_SIMILAR`].
    pub const SIMILAR: usize = 1;
    /// None of the above.
    pub const DIFFERENT: usize = 2;
}

/// Levels of a postal code comparison, most similar first.
pub mod postal_level {
    /// The same code.
    pub const EXACT: usize = 0;
    /// One edit apart.
    pub const ONE_EDIT: usize = 1;
    /// None of the above.
    pub const DIFFERENT: usize = 2;
}

/// Levels of house number and region comparisons: exact (0) or different (1).
pub mod exact_level {
    /// The same value.
    pub const EXACT: usize = 0;
    /// Different values.
    pub const DIFFERENT: usize = 1;
}

/// Jaro–Winkler at which two names are close: typically one typo in a name of six or more
/// letters ("catherine" and "catharine" score 0.96).
pub const NAME_CLOSE: f64 = 0.94;
/// Jaro–Winkler at which two names are similar: two typos, or one in a short name.
pub const NAME_SIMILAR: f64 = 0.88;
/// Token similarity at which two streets are close (one word misspelt).
pub const STREET_CLOSE: f64 = 0.9;
/// Token similarity at which two streets are similar.
pub const STREET_SIMILAR: f64 = 0.75;
/// Jaro–Winkler at which two localities are similar.
pub const LOCALITY_SIMILAR: f64 = 0.92;

/// Compares `query` against `record`, one [`Comparison`] per [`Field::ALL`] in that order.
/// Names are compared in both orientations (given and family swapped) and the swapped one
/// is kept only when it is clearly better, at no better than the close level and with the
/// detail "given and family names swapped".
pub fn compare(query: &Person, record: &Person) -> Vec<Comparison> {
    let (given, family) = compare_names(query, record);
    let (qa, ra) = (&query.address, &record.address);
    vec![
        given,
        family,
        compare_dates(query.date_of_birth.as_ref(), record.date_of_birth.as_ref()),
        compare_exact(Field::HouseNumber, &qa.number, &ra.number),
        compare_streets(qa, ra),
        compare_localities(&qa.locality, &ra.locality),
        compare_postal_codes(&qa.postal_code, &ra.postal_code),
        compare_exact(Field::Region, &qa.region, &ra.region),
    ]
}

/// Whether two identifier values are at most one edit apart (a substitution, insertion,
/// deletion or adjacent transposition) and not equal.
pub fn within_one_edit(a: &str, b: &str) -> bool {
    a != b && a.chars().count().abs_diff(b.chars().count()) <= 1 && osa_distance(a, b) <= 1
}

/// A field missing on one side.
fn missing(field: Field) -> Comparison {
    Comparison {
        field,
        level: None,
        similarity: 0.0,
        detail: "missing".to_owned(),
        term: String::new(),
    }
}

/// A field at `level`, with nothing measured and no term.
fn at_level(field: Field, level: usize, detail: &str) -> Comparison {
    Comparison {
        field,
        level: Some(level),
        similarity: 0.0,
        detail: detail.to_owned(),
        term: String::new(),
    }
}

/// Given and family name comparisons, straight or swapped.
fn compare_names(query: &Person, record: &Person) -> (Comparison, Comparison) {
    let given = compare_name(Field::GivenName, &query.given, &record.given);
    let family = compare_name(Field::FamilyName, &query.family, &record.family);
    let (Some(g), Some(f)) = (given.level, family.level) else {
        return (given, family);
    };
    let crossed_given = compare_name(Field::GivenName, &query.given, &record.family);
    let crossed_family = compare_name(Field::FamilyName, &query.family, &record.given);
    let (Some(cg), Some(cf)) = (crossed_given.level, crossed_family.level) else {
        return (given, family);
    };
    // Swapping explains the pair only when both crossed names agree well and the pair
    // then reads clearly better than it does straight.
    let clearly_better = cg.max(cf) <= name_level::SIMILAR && cg + cf + 2 < g + f;
    if !clearly_better {
        return (given, family);
    }
    let swapped = |c: Comparison| Comparison {
        level: c.level.map(|l| l.max(name_level::CLOSE)),
        detail: "given and family names swapped".to_owned(),
        term: String::new(),
        ..c
    };
    (swapped(crossed_given), swapped(crossed_family))
}

/// One name against another, at the levels of [`name_level`].
fn compare_name(field: Field, a: &Name, b: &Name) -> Comparison {
    if a.is_empty() || b.is_empty() {
        return missing(field);
    }
    // Spelling is compared as written as well as resolved: a typo in a nickname ("jajie"
    // for "jamie") is close to what was written, not to the formal name it stands for.
    let (written_a, written_b) = (a.folded.replace(' ', ""), b.folded.replace(' ', ""));
    let mut similarity = jaro_winkler(&a.canonical, &b.canonical);
    if written_a != a.canonical || written_b != b.canonical {
        similarity = similarity.max(jaro_winkler(&written_a, &written_b));
    }
    let (level, detail) = if written_a == written_b {
        (name_level::EXACT, "exact".to_owned())
    } else if a.canonical == b.canonical {
        (name_level::NICKNAME, "nickname".to_owned())
    } else if similarity >= NAME_CLOSE {
        (name_level::CLOSE, format!("jaro-winkler {similarity:.2}"))
    } else if words_contained(a, b) || words_contained(b, a) {
        (
            name_level::CLOSE,
            "same name without a middle or second name".to_owned(),
        )
    } else if similarity >= NAME_SIMILAR {
        (name_level::SIMILAR, format!("jaro-winkler {similarity:.2}"))
    } else if !a.phonetic.is_empty() && a.phonetic == b.phonetic {
        (name_level::SOUNDS_ALIKE, "sounds alike".to_owned())
    } else if is_initial_of(&a.folded, &b.folded) || is_initial_of(&b.folded, &a.folded) {
        (name_level::INITIAL, "initial".to_owned())
    } else {
        (name_level::DIFFERENT, "different".to_owned())
    };
    Comparison {
        field,
        level: Some(level),
        similarity,
        detail,
        term: if level == name_level::EXACT {
            a.canonical.clone()
        } else {
            String::new()
        },
    }
}

/// Whether every word of `part` (resolved from nicknames for given names) is one of the
/// words of `whole`, and `whole` has more: "john" and "john michael", "smith" and "smith
/// jones".
fn words_contained(part: &Name, whole: &Name) -> bool {
    let words = |n: &Name| -> Vec<String> {
        n.folded
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(|w| formal(w).to_owned())
            .collect()
    };
    let (part, whole) = (words(part), words(whole));
    !part.is_empty() && part.len() < whole.len() && part.iter().all(|w| whole.contains(w))
}

/// Whether `initial` is a single letter and `name` starts with it.
fn is_initial_of(initial: &str, name: &str) -> bool {
    let mut letters = initial.chars();
    match (letters.next(), letters.next()) {
        (Some(letter), None) => name.starts_with(letter) && name.chars().count() > 1,
        _ => false,
    }
}

/// Dates of birth, at the levels of [`date_level`].
fn compare_dates(a: Option<&CalendarDate>, b: Option<&CalendarDate>) -> Comparison {
    let field = Field::DateOfBirth;
    let (Some(a), Some(b)) = (a, b) else {
        return missing(field);
    };
    let (level, detail) = if a == b {
        (date_level::EXACT, "exact")
    } else if a.year == b.year && a.month == b.day && a.day == b.month {
        (date_level::TRANSPOSED, "day and month transposed")
    } else if digits_one_apart(&date_digits(a), &date_digits(b)) {
        (date_level::ONE_DIGIT, "one digit")
    } else if (day_number(a) - day_number(b)).abs() == 1 {
        (date_level::ONE_DIGIT, "one day apart")
    } else if a.year == b.year && a.month == b.month {
        (date_level::CLOSE, "same year and month")
    } else if a.month == b.month && a.day == b.day {
        (date_level::CLOSE, "same day and month")
    } else if a.year == b.year {
        (date_level::SAME_YEAR, "same year")
    } else {
        (date_level::DIFFERENT, "different")
    };
    at_level(field, level, detail)
}

/// A date as the eight digits YYYYMMDD.
fn date_digits(date: &CalendarDate) -> String {
    format!("{:04}{:02}{:02}", date.year, date.month, date.day)
}

/// Whether two equal-length digit strings differ in exactly one digit or by one swap of
/// adjacent digits.
fn digits_one_apart(a: &str, b: &str) -> bool {
    a.len() == b.len() && a != b && osa_distance(a, b) == 1
}

/// Days since 1970-01-01 of a (valid) date, so neighbouring days across a month end are
/// recognised.
fn day_number(date: &CalendarDate) -> i64 {
    let (y, m, d) = (
        i64::from(date.year),
        i64::from(date.month),
        i64::from(date.day),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A field that either agrees exactly or not (house number, region).
fn compare_exact(field: Field, a: &str, b: &str) -> Comparison {
    if a.is_empty() || b.is_empty() {
        missing(field)
    } else if a == b {
        at_level(field, exact_level::EXACT, "exact")
    } else {
        at_level(field, exact_level::DIFFERENT, "different")
    }
}

/// Streets by their words, at the levels of [`street_level`].
fn compare_streets(a: &Address, b: &Address) -> Comparison {
    let field = Field::Street;
    if a.street.is_empty() || b.street.is_empty() {
        return missing(field);
    }
    if a.street == b.street {
        return Comparison {
            similarity: 1.0,
            ..at_level(field, street_level::EXACT, "exact")
        };
    }
    let similarity = token_similarity(&a.street, &b.street);
    let (level, detail) = if similarity >= STREET_CLOSE {
        (
            street_level::CLOSE,
            format!("token similarity {similarity:.2}"),
        )
    } else if similarity >= STREET_SIMILAR {
        (
            street_level::SIMILAR,
            format!("token similarity {similarity:.2}"),
        )
    } else {
        (street_level::DIFFERENT, "different".to_owned())
    };
    Comparison {
        similarity,
        ..at_level(field, level, &detail)
    }
}

/// Symmetric Monge–Elkan similarity of two streets' words: each word matched to its most
/// similar word on the other side by Jaro–Winkler, averaged, then the two directions
/// averaged. Street types and directions ("street", "north") count a third as much as
/// the name words, since strangers share them so often. Name words joined on one side and
/// split on the other ("fitz roy", "fitzroy") are also compared joined.
pub fn token_similarity(a: &[String], b: &[String]) -> f64 {
    const TYPE_WEIGHT: f64 = 1.0 / 3.0;
    let weight = |w: &str| if is_street_type(w) { TYPE_WEIGHT } else { 1.0 };
    let one_way = |from: &[String], to: &[String]| -> f64 {
        let (mut total, mut weights) = (0.0, 0.0);
        for w in from {
            let best = to.iter().map(|v| jaro_winkler(w, v)).fold(0.0, f64::max);
            total += weight(w) * best;
            weights += weight(w);
        }
        if weights > 0.0 { total / weights } else { 0.0 }
    };
    let by_word = (one_way(a, b) + one_way(b, a)) / 2.0;
    let joined = |words: &[String], types: bool| -> String {
        words
            .iter()
            .filter(|w| is_street_type(w) == types)
            .map(String::as_str)
            .collect()
    };
    let (names_a, names_b) = (joined(a, false), joined(b, false));
    if names_a.is_empty() || names_b.is_empty() {
        return by_word;
    }
    let names = jaro_winkler(&names_a, &names_b);
    let (types_a, types_b) = (joined(a, true), joined(b, true));
    let types = if types_a.is_empty() && types_b.is_empty() {
        1.0
    } else {
        jaro_winkler(&types_a, &types_b)
    };
    by_word.max((names + TYPE_WEIGHT * types) / (1.0 + TYPE_WEIGHT))
}

/// Localities, at the levels of [`locality_level`].
fn compare_localities(a: &str, b: &str) -> Comparison {
    let field = Field::Locality;
    if a.is_empty() || b.is_empty() {
        return missing(field);
    }
    let similarity = jaro_winkler(a, b);
    let (level, detail) = if a == b {
        (locality_level::EXACT, "exact".to_owned())
    } else if similarity >= LOCALITY_SIMILAR {
        (
            locality_level::SIMILAR,
            format!("jaro-winkler {similarity:.2}"),
        )
    } else {
        (locality_level::DIFFERENT, "different".to_owned())
    };
    Comparison {
        similarity,
        ..at_level(field, level, &detail)
    }
}

/// Postal codes, at the levels of [`postal_level`].
fn compare_postal_codes(a: &str, b: &str) -> Comparison {
    let field = Field::PostalCode;
    if a.is_empty() || b.is_empty() {
        missing(field)
    } else if a == b {
        at_level(field, postal_level::EXACT, "exact")
    } else if within_one_edit(a, b) {
        at_level(field, postal_level::ONE_EDIT, "one edit")
    } else {
        at_level(field, postal_level::DIFFERENT, "different")
    }
}

#[cfg(test)]
mod tests;
