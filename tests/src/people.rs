//! A labelled population for measuring record linkage: people with realistic duplicates and
//! the hard negatives that trip matchers (twins, a parent and child of the same name,
//! households sharing an address and phone, namesakes born the same year).
//!
//! Deterministic: the same seed and [`Config`] give the same records, on any machine. Every
//! record carries the person it truly describes ([`Record::entity`]) and, for members of a
//! hard-negative group, which group ([`Record::group`]), so an evaluation can count the
//! merges that should never happen.
//!
//! Records come group by group from [`Generator`] (a million profiles need not sit in memory
//! at once) or all together from [`generate`].

mod corrupt;
pub mod names;

use std::fmt;

use baton_identity::standardize::name::formal;

/// SplitMix64: small, fast, and good enough to draw test data; never for anything secret.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        // The modulo bias is below 2^-40 for the sizes drawn here.
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i32, hi: i32) -> i32 {
        lo + self.below((hi - lo + 1) as usize) as i32
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One item, uniformly.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// One item, favouring the front of the list (the square of a uniform draw), so a list
    /// ordered from common to rare gives common names often and rare ones seldom.
    pub fn skewed<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let u = self.unit();
        &items[((u * u) * items.len() as f64) as usize]
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// A calendar date (always a valid one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Date {
    /// Four-digit year.
    pub year: i32,
    /// 1 to 12.
    pub month: i32,
    /// 1 to the month's length.
    pub day: i32,
}

impl Date {
    /// The date, when `year`-`month`-`day` exists.
    pub fn new(year: i32, month: i32, day: i32) -> Option<Self> {
        let valid = (1800..=2100).contains(&year)
            && (1..=12).contains(&month)
            && (1..=days_in(year, month)).contains(&day);
        valid.then_some(Self { year, month, day })
    }
}

fn days_in(year: i32, month: i32) -> i32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// A postal address as a record holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Street lines: the street line first, then a unit or building when there is one.
    pub lines: Vec<String>,
    /// Town.
    pub locality: String,
    /// State.
    pub region: String,
    /// Postcode.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country_code: String,
}

/// The kinds of hard negative: different people a matcher is tempted to merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HardNegative {
    /// Same family name, date of birth, address and phone; different given names.
    Twins,
    /// Same full name and address, dates of birth 25 to 35 years apart.
    ParentChild,
    /// Same family name, address and phone; different given names and dates of birth.
    Household,
    /// A common full name and the same birth year, elsewhere.
    Namesakes,
}

impl fmt::Display for HardNegative {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Twins => "twins",
            Self::ParentChild => "parent-child",
            Self::Household => "household",
            Self::Namesakes => "namesakes",
        })
    }
}

/// Membership of a hard-negative group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Group {
    /// What the members have in common.
    pub kind: HardNegative,
    /// Unique across the population.
    pub id: u64,
}

/// What was done to a duplicate, for reading failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Corruption {
    /// An inserted, deleted, substituted or transposed character.
    Typo,
    /// A key next to the right one.
    Keyboard,
    /// An OCR confusion (rn/m, o/0, l/1, s/5).
    Ocr,
    /// A sound spelled another way, or a letter doubled or undoubled.
    Phonetic,
    /// A nickname for the given name.
    Nickname,
    /// Given and family names swapped.
    NamesSwapped,
    /// A field left empty.
    Missing,
    /// Day and month of the date of birth swapped.
    DayMonthSwapped,
    /// One digit of the date of birth wrong.
    DateDigit,
    /// One digit of the national id wrong.
    IdDigit,
    /// A new address altogether (and sometimes a new phone).
    Moved,
    /// The street type abbreviated ("Street" to "St").
    StreetAbbreviated,
    /// Names in capitals or lower case.
    Case,
    /// Diacritics dropped.
    Ascii,
}

/// One record about a person, as a system of record would hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Unique: `p<entity>-<copy>`.
    pub id: String,
    /// The person it describes: the label an evaluation checks against.
    pub entity: u64,
    /// 0 for the person's original record, 1.. for duplicates.
    pub copy: u32,
    /// The hard-negative group the person belongs to, if any.
    pub group: Option<Group>,
    /// Given name (may be empty).
    pub given_name: String,
    /// Family name (may be empty).
    pub family_name: String,
    /// Date of birth.
    pub date_of_birth: Option<Date>,
    /// Home address.
    pub address: Option<Address>,
    /// Phone number as written (US, national notation or with +1).
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Nine-digit national id, sometimes written with dashes.
    pub national_id: Option<String>,
    /// What was done to this copy; empty for an original.
    pub corruptions: Vec<Corruption>,
}

/// How the population is made.
#[derive(Debug, Clone)]
pub struct Config {
    /// Stop once at least this many records exist (a group is never cut).
    pub records: usize,
    /// The probability that a person has duplicates.
    pub duplicate_share: f64,
    /// The most duplicates one person has.
    pub max_duplicates: u32,
    /// The probability that the next draw is a hard-negative group rather than one person.
    pub hard_negative_share: f64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            records: 10_000,
            duplicate_share: 0.4,
            max_duplicates: 3,
            hard_negative_share: 0.2,
        }
    }
}

/// All records of a population, originals and duplicates interleaved person by person.
pub fn generate(seed: u64, config: &Config) -> Vec<Record> {
    let mut generator = Generator::new(seed, config.clone());
    let mut records = Vec::with_capacity(config.records + 16);
    while records.len() < config.records {
        records.extend(generator.next_group());
    }
    records
}

/// A person as they are, before any record of them is written.
#[derive(Debug, Clone)]
struct Person {
    given: String,
    family: String,
    dob: Date,
    home: Home,
    /// Ten digits.
    phone: String,
    email: String,
    national_id: String,
}

/// Where a person lives, kept in parts so a record can write it several ways.
#[derive(Debug, Clone)]
struct Home {
    number: u32,
    unit: Option<u32>,
    street: &'static str,
    street_type: (&'static str, &'static str),
    town: usize,
}

/// Draws people and their records group by group.
#[derive(Debug)]
pub struct Generator {
    rng: Rng,
    config: Config,
    next_entity: u64,
    next_group: u64,
}

impl Generator {
    /// A generator of the population `config` describes.
    pub fn new(seed: u64, config: Config) -> Self {
        Self {
            rng: Rng::new(seed),
            config,
            next_entity: 0,
            next_group: 0,
        }
    }

    /// The records of the next person, or of every member of the next hard-negative group.
    pub fn next_group(&mut self) -> Vec<Record> {
        let (people, kind) = if self.rng.chance(self.config.hard_negative_share) {
            let kind = *self.rng.pick(&[
                HardNegative::Twins,
                HardNegative::ParentChild,
                HardNegative::Household,
                HardNegative::Namesakes,
            ]);
            (self.hard_negatives(kind), Some(kind))
        } else {
            (vec![self.person()], None)
        };
        let group = kind.map(|kind| {
            self.next_group += 1;
            Group {
                kind,
                id: self.next_group,
            }
        });
        let mut records = Vec::new();
        for person in people {
            let entity = self.next_entity;
            self.next_entity += 1;
            let original = self.write(&person, entity, group);
            let copies = if self.rng.chance(self.config.duplicate_share) {
                1 + self.geometric(self.config.max_duplicates.saturating_sub(1))
            } else {
                0
            };
            records.push(original.clone());
            for copy in 1..=copies {
                records.push(self.duplicate(&original, copy));
            }
        }
        records
    }

    /// 0..=max, each step half as likely as the one before.
    fn geometric(&mut self, max: u32) -> u32 {
        let mut n = 0;
        while n < max && self.rng.chance(0.5) {
            n += 1;
        }
        n
    }

    fn dob(&mut self, years: std::ops::RangeInclusive<i32>) -> Date {
        let year = self.rng.range(*years.start(), *years.end());
        let month = self.rng.range(1, 12);
        let day = self.rng.range(1, days_in(year, month));
        Date { year, month, day }
    }

    fn home(&mut self) -> Home {
        Home {
            number: if self.rng.chance(0.7) {
                self.rng.range(1, 199) as u32
            } else {
                self.rng.range(200, 9999) as u32
            },
            unit: self.rng.chance(0.2).then(|| self.rng.range(1, 40) as u32),
            street: names::STREETS[self.rng.below(names::STREETS.len())],
            street_type: *self.rng.skewed(names::STREET_TYPES),
            town: self.rng.below(names::TOWNS.len()),
        }
    }

    fn phone(&mut self) -> String {
        let area = self.rng.pick(names::AREA_CODES);
        // Exchanges start 2-9 and are never N11.
        let exchange = loop {
            let e = self.rng.range(200, 999);
            if e % 100 != 11 {
                break e;
            }
        };
        let line = self.rng.range(0, 9999);
        format!("{area}{exchange}{line:04}")
    }

    fn national_id(&mut self) -> String {
        format!("{}", self.rng.range(100_000_000, 899_999_999))
    }

    fn email(&mut self, given: &str, family: &str) -> String {
        let clean = |s: &str| -> String {
            corrupt::fold_ascii(s)
                .to_lowercase()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect()
        };
        let (g, f) = (clean(given), clean(family));
        let local = match self.rng.below(4) {
            0 => format!("{g}.{f}"),
            1 => format!("{}{f}", g.chars().next().unwrap_or('x')),
            2 => format!("{g}{}", self.rng.range(1, 99)),
            _ => format!("{g}_{f}{}", self.rng.range(1960, 2010)),
        };
        // Uniqueness: two people of one name must not share a mailbox by accident.
        let tag = self.rng.below(1000);
        format!("{local}{tag}@{}", self.rng.pick(names::MAIL_DOMAINS))
    }

    fn person(&mut self) -> Person {
        let given = (*self.rng.skewed(names::GIVEN)).to_owned();
        let family = (*self.rng.skewed(names::FAMILY)).to_owned();
        let dob = self.dob(1935..=2006);
        self.person_named(given, family, dob)
    }

    fn person_named(&mut self, given: String, family: String, dob: Date) -> Person {
        let email = self.email(&given, &family);
        Person {
            home: self.home(),
            phone: self.phone(),
            national_id: self.national_id(),
            given,
            family,
            dob,
            email,
        }
    }

    /// A given name other than every one in `taken`, and not another form of one of them:
    /// parents do not name a child's twin or sibling "Billy" beside "William".
    fn other_given(&mut self, taken: &[&str]) -> String {
        let formal = |name: &str| formal(&name.to_lowercase()).to_owned();
        let formals: Vec<String> = taken.iter().map(|t| formal(t)).collect();
        loop {
            let g = *self.rng.skewed(names::GIVEN);
            if !formals.contains(&formal(g)) {
                return g.to_owned();
            }
        }
    }

    fn hard_negatives(&mut self, kind: HardNegative) -> Vec<Person> {
        let first = self.person();
        match kind {
            HardNegative::Twins => {
                let given = self.other_given(&[&first.given]);
                let mut twin = self.person_named(given, first.family.clone(), first.dob);
                twin.home = first.home.clone();
                twin.phone = first.phone.clone();
                vec![first, twin]
            }
            HardNegative::ParentChild => {
                let mut child = first.clone();
                child.dob = self.dob(first.dob.year.max(1965)..=first.dob.year.max(1965));
                let gap = self.rng.range(25, 35);
                let mut parent = first;
                parent.dob = self.dob(child.dob.year - gap..=child.dob.year - gap);
                child.national_id = self.national_id();
                child.email = self.email(&child.given, &child.family);
                if self.rng.chance(0.5) {
                    child.phone = self.phone();
                }
                vec![parent, child]
            }
            HardNegative::Household => {
                let size = self.rng.range(3, 5) as usize;
                let mut members = vec![first];
                let parents_year = members[0].dob.year.clamp(1940, 1980);
                while members.len() < size {
                    let taken: Vec<&str> = members.iter().map(|m| m.given.as_str()).collect();
                    let given = self.other_given(&taken);
                    let dob = if members.len() == 1 {
                        self.dob(parents_year - 5..=parents_year + 5)
                    } else {
                        self.dob(parents_year + 22..=parents_year + 38)
                    };
                    let mut m = self.person_named(given, members[0].family.clone(), dob);
                    m.home = members[0].home.clone();
                    m.phone = members[0].phone.clone();
                    members.push(m);
                }
                members
            }
            HardNegative::Namesakes => {
                // The most common names, where namesakes really occur.
                let given = names::GIVEN[self.rng.below(12)].to_owned();
                let family = names::FAMILY[self.rng.below(12)].to_owned();
                let year = first.dob.year;
                let count = self.rng.range(2, 3);
                (0..count)
                    .map(|_| {
                        let dob = self.dob(year..=year);
                        self.person_named(given.clone(), family.clone(), dob)
                    })
                    .collect()
            }
        }
    }

    fn address(&mut self, home: &Home) -> Address {
        let (town, state) = names::TOWNS[home.town];
        let mut lines = vec![format!(
            "{} {} {}",
            home.number, home.street, home.street_type.0
        )];
        if let Some(unit) = home.unit {
            lines.push(format!("Apt {unit}"));
        }
        Address {
            lines,
            locality: town.to_owned(),
            region: state.to_owned(),
            // A town keeps one code; 5 digits from its position in the list.
            postal_code: format!("{:05}", 10_000 + (home.town as u32 * 7_919) % 89_000),
            country_code: "US".to_owned(),
        }
    }

    fn write_phone(&mut self, digits: &str) -> String {
        let (a, e, l) = (&digits[..3], &digits[3..6], &digits[6..]);
        match self.rng.below(4) {
            0 => format!("({a}) {e}-{l}"),
            1 => format!("{a}-{e}-{l}"),
            2 => format!("+1 {a} {e} {l}"),
            _ => digits.to_owned(),
        }
    }

    fn write_national_id(&mut self, digits: &str) -> String {
        if self.rng.chance(0.3) {
            format!("{}-{}-{}", &digits[..3], &digits[3..5], &digits[5..])
        } else {
            digits.to_owned()
        }
    }

    /// The person's original record, every field present.
    fn write(&mut self, person: &Person, entity: u64, group: Option<Group>) -> Record {
        Record {
            id: format!("p{entity}-0"),
            entity,
            copy: 0,
            group,
            given_name: person.given.clone(),
            family_name: person.family.clone(),
            date_of_birth: Some(person.dob),
            address: Some(self.address(&person.home)),
            phone: Some(self.write_phone(&person.phone)),
            email: Some(person.email.clone()),
            national_id: Some(self.write_national_id(&person.national_id)),
            corruptions: Vec::new(),
        }
    }

    /// A duplicate of `original` with one to three corruptions, each of which changed it.
    fn duplicate(&mut self, original: &Record, copy: u32) -> Record {
        let mut record = original.clone();
        record.id = format!("p{}-{copy}", original.entity);
        record.copy = copy;
        let wanted = 1 + self.geometric(2);
        let mut attempts = 0;
        while (record.corruptions.len() as u32) < wanted && attempts < 50 {
            attempts += 1;
            let kind = *self.rng.pick(CORRUPTIONS);
            if self.corrupt(&mut record, kind) {
                record.corruptions.push(kind);
            }
        }
        record
    }

    /// Applies one corruption; false when it does not apply to this record.
    fn corrupt(&mut self, r: &mut Record, kind: Corruption) -> bool {
        let rng = &mut self.rng;
        match kind {
            Corruption::Typo | Corruption::Keyboard | Corruption::Ocr | Corruption::Phonetic => {
                let edit = |rng: &mut Rng, text: &str| match kind {
                    Corruption::Typo => corrupt::typo(rng, text),
                    Corruption::Keyboard => corrupt::keyboard(rng, text),
                    Corruption::Ocr => corrupt::ocr(rng, text),
                    _ => corrupt::phonetic(rng, text),
                };
                let field = match rng.below(6) {
                    0 | 1 => &mut r.given_name,
                    2 | 3 => &mut r.family_name,
                    4 => match r.address.as_mut() {
                        Some(a) => &mut a.lines[0],
                        None => return false,
                    },
                    _ => match r.address.as_mut() {
                        Some(a) => &mut a.locality,
                        None => return false,
                    },
                };
                replace(field, edit(rng, field))
            }
            Corruption::Nickname => {
                let nicks: Vec<&str> = names::NICKNAMES
                    .iter()
                    .filter(|(formal, _)| *formal == r.given_name)
                    .map(|(_, nick)| *nick)
                    .collect();
                if nicks.is_empty() {
                    return false;
                }
                r.given_name = (*rng.pick(&nicks)).to_owned();
                true
            }
            Corruption::NamesSwapped => {
                if r.given_name == r.family_name || r.given_name.is_empty() {
                    return false;
                }
                std::mem::swap(&mut r.given_name, &mut r.family_name);
                true
            }
            Corruption::Missing => match rng.below(6) {
                0 => r.date_of_birth.take().is_some(),
                1 => r.address.take().is_some(),
                2 => r.phone.take().is_some(),
                3 => r.email.take().is_some(),
                4 => r.national_id.take().is_some(),
                _ => !std::mem::take(&mut r.given_name).is_empty(),
            },
            Corruption::DayMonthSwapped => {
                let Some(d) = r.date_of_birth else {
                    return false;
                };
                match Date::new(d.year, d.day, d.month) {
                    Some(swapped) if swapped != d => {
                        r.date_of_birth = Some(swapped);
                        true
                    }
                    _ => false,
                }
            }
            Corruption::DateDigit => {
                let Some(d) = r.date_of_birth else {
                    return false;
                };
                let digit = rng.range(0, 9);
                let wrong = match rng.below(3) {
                    0 => Date::new(d.year - d.year % 10 + digit, d.month, d.day),
                    1 => Date::new(d.year, d.month, d.day - d.day % 10 + digit),
                    _ => Date::new(d.year, d.month - d.month % 10 + digit, d.day),
                };
                match wrong {
                    Some(w) if w != d => {
                        r.date_of_birth = Some(w);
                        true
                    }
                    _ => false,
                }
            }
            Corruption::IdDigit => {
                let Some(id) = r.national_id.as_mut() else {
                    return false;
                };
                let digits: Vec<usize> = id
                    .char_indices()
                    .filter(|(_, c)| c.is_ascii_digit())
                    .map(|(i, _)| i)
                    .collect();
                let at = *rng.pick(&digits);
                let old = id.as_bytes()[at] - b'0';
                let new = (old + 1 + rng.below(9) as u8) % 10;
                id.replace_range(at..=at, &new.to_string());
                true
            }
            Corruption::Moved => {
                let home = self.home();
                r.address = Some(self.address(&home));
                if self.rng.chance(0.3) {
                    let digits = self.phone();
                    r.phone = Some(self.write_phone(&digits));
                }
                true
            }
            Corruption::StreetAbbreviated => {
                let Some(address) = r.address.as_mut() else {
                    return false;
                };
                let line = &mut address.lines[0];
                let found = names::STREET_TYPES
                    .iter()
                    .find(|(full, _)| line.ends_with(&format!(" {full}")));
                match found {
                    Some((full, short)) => {
                        let cut = line.len() - full.len();
                        line.replace_range(cut.., short);
                        true
                    }
                    None => false,
                }
            }
            Corruption::Case => {
                let upper = rng.chance(0.5);
                let before = (r.given_name.clone(), r.family_name.clone());
                for name in [&mut r.given_name, &mut r.family_name] {
                    *name = if upper {
                        name.to_uppercase()
                    } else {
                        name.to_lowercase()
                    };
                }
                before != (r.given_name.clone(), r.family_name.clone())
            }
            Corruption::Ascii => {
                let before = (r.given_name.clone(), r.family_name.clone());
                r.given_name = corrupt::fold_ascii(&r.given_name);
                r.family_name = corrupt::fold_ascii(&r.family_name);
                before != (r.given_name.clone(), r.family_name.clone())
            }
        }
    }
}

/// The corruptions a duplicate draws from; the commonest errors are listed more than once.
const CORRUPTIONS: &[Corruption] = &[
    Corruption::Typo,
    Corruption::Typo,
    Corruption::Typo,
    Corruption::Keyboard,
    Corruption::Keyboard,
    Corruption::Ocr,
    Corruption::Phonetic,
    Corruption::Phonetic,
    Corruption::Nickname,
    Corruption::NamesSwapped,
    Corruption::Missing,
    Corruption::Missing,
    Corruption::DayMonthSwapped,
    Corruption::DateDigit,
    Corruption::IdDigit,
    Corruption::Moved,
    Corruption::StreetAbbreviated,
    Corruption::StreetAbbreviated,
    Corruption::Case,
    Corruption::Ascii,
];

/// Replaces `field` with `new` when there is one; true when it changed.
fn replace(field: &mut String, new: Option<String>) -> bool {
    match new {
        Some(n) if n != *field => {
            *field = n;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
