//! Blocking: the index keys that make a fuzzy query touch a bounded candidate set.
//!
//! Every profile is filed under a handful of keys built from its traits and its identifiers
//! (phonetic family name and birth year, given-name prefix and postal code, the whole date of
//! birth, postal code and house number, the halves of an account or national number, ...).
//! A query computes the same keys from what the customer gave and reads those keys only:
//! two records of one person share at least one key unless every one of those fields is
//! wrong at once, and a query never scans the tenant's profiles.
//!
//! A key whose members would pass [`MAX_MEMBERS`] is *saturated*: it stops growing and no
//! longer yields candidates (a key that common does not tell people apart; the other keys
//! of the same query still do). Saturation is sticky, so a key never yields a partial list.

use std::collections::{BTreeMap, BTreeSet};

use baton_proto::v1::{CalendarDate, IdentifierKind, Profile};

use crate::{
    normalize::IdentityKey,
    standardize::{self, Person},
};

/// Most members a key lists before it saturates.
pub const MAX_MEMBERS: usize = 200;

/// Most candidates a query reads and scores: those sharing the most keys with it.
pub const MAX_CANDIDATES: usize = 24;

/// The stored form of a saturated key.
const SATURATED: &str = "*";

/// Identifier kinds filed by the halves of their value, so that a value with one wrong
/// character still finds its customer.
const FUZZY_KINDS: [IdentifierKind; 3] = [
    IdentifierKind::NationalId,
    IdentifierKind::AccountNumber,
    IdentifierKind::Phone,
];

/// Shortest identifier value filed by halves (shorter halves would block too widely).
const MIN_FUZZY_LEN: usize = 6;

/// The keys of a person's traits.
pub fn trait_keys(person: &Person, keys: &mut BTreeSet<String>) {
    let given = &person.given;
    let family = &person.family;
    let dob = person.date_of_birth.as_ref();
    let postcode = &person.address.postal_code;
    if let Some(d) = dob {
        keys.insert(format!("d:{}", ymd(d)));
    }
    if !family.phonetic.is_empty() {
        if let Some(d) = dob {
            keys.insert(format!("fy:{}:{}", family.phonetic, d.year));
        }
        if !given.phonetic.is_empty() {
            // Order-free, so given and family names written the other way round meet.
            let (a, b) = ordered(&given.phonetic, &family.phonetic);
            keys.insert(format!("gf:{a}:{b}"));
        }
    }
    if !given.canonical.is_empty() {
        if !postcode.is_empty() {
            keys.insert(format!("gp:{}:{postcode}", prefix(&given.canonical, 3)));
        }
        if let Some(d) = dob {
            keys.insert(format!("gm:{}:{}-{:02}", given.phonetic, d.year, d.month));
        }
    }
    if !family.canonical.is_empty() && !postcode.is_empty() {
        keys.insert(format!("fp:{}:{postcode}", prefix(&family.canonical, 3)));
    }
    let number = &person.address.number;
    if !number.is_empty() && !postcode.is_empty() {
        keys.insert(format!("pn:{postcode}:{number}"));
    }
    if let (Some(street), false) = (person.address.street.first(), number.is_empty()) {
        keys.insert(format!("sn:{street}:{number}:{}", person.address.locality));
    }
}

/// The extra keys a query reads (never stored): its date of birth with day and month
/// swapped, so a transposed date still meets its record.
pub fn query_keys(person: &Person, keys: &mut BTreeSet<String>) {
    trait_keys(person, keys);
    if let Some(d) = person.date_of_birth
        && d.day != d.month
        && d.day <= 12
    {
        let swapped = CalendarDate {
            year: d.year,
            month: d.day,
            day: d.month,
        };
        if standardize::date::is_valid(&swapped) {
            let transposed = Person {
                date_of_birth: Some(swapped),
                ..person.clone()
            };
            trait_keys(&transposed, keys);
        }
    }
}

/// The keys of one identifier: the halves of a value of a fuzzy kind.
pub fn identifier_keys(key: &IdentityKey, keys: &mut BTreeSet<String>) {
    if !FUZZY_KINDS.contains(&key.kind) {
        return;
    }
    let chars: Vec<char> = key.value.chars().collect();
    if chars.len() < MIN_FUZZY_LEN {
        return;
    }
    let half = chars.len() / 2;
    let head: String = chars[..half].iter().collect();
    let tail: String = chars[half..].iter().collect();
    let kind = key.kind as i32;
    keys.insert(format!("i{kind}:{}:<{head}", key.namespace));
    keys.insert(format!("i{kind}:{}:>{tail}", key.namespace));
}

/// Every key a stored profile is filed under: those of its traits, of each source record's
/// traits, and of its identifiers.
pub fn profile_keys(profile: &Profile) -> BTreeSet<String> {
    profile_keys_with(profile, None)
}

/// [`profile_keys`], given the profile's own traits already standardized (`own`), which are
/// then not standardized again.
pub fn profile_keys_with(profile: &Profile, own: Option<&Person>) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    // A profile's own traits are usually its first record's: each distinct set once.
    let mut seen: Vec<&baton_proto::v1::PersonTraits> = Vec::new();
    if let (Some(traits), Some(person)) = (&profile.traits, own) {
        seen.push(traits);
        trait_keys(person, &mut keys);
    }
    for traits in profile
        .traits
        .iter()
        .chain(profile.records.iter().filter_map(|r| r.traits.as_ref()))
    {
        if !seen.contains(&traits) {
            seen.push(traits);
            trait_keys(&standardize::person(traits), &mut keys);
        }
    }
    for linked in &profile.identifiers {
        if let Some(key) = linked.identifier.as_ref().and_then(IdentityKey::of_stored) {
            identifier_keys(&key, &mut keys);
        }
    }
    keys
}

/// A key's members as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Members {
    /// Too common to list; yields no candidates.
    pub saturated: bool,
    /// The customers filed under it, in id order without repeats (a sorted list rather than
    /// a set: keys are decoded on every query and every profile write, and a list of a
    /// couple of hundred ids is built and searched far faster than a tree of them).
    pub ids: Vec<String>,
}

impl Members {
    /// Reads the stored form (`None`: no members).
    pub fn decode(stored: Option<&str>) -> Self {
        match stored {
            None => Self::default(),
            Some(SATURATED) => Self {
                saturated: true,
                ids: Vec::new(),
            },
            Some(list) => {
                let mut ids: Vec<String> = list
                    .split(' ')
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                // Written sorted; checked so a list written otherwise still reads as a set.
                if !ids.is_sorted_by(|a, b| a < b) {
                    ids.sort_unstable();
                    ids.dedup();
                }
                Self {
                    saturated: false,
                    ids,
                }
            }
        }
    }

    /// The stored form; empty when there are no members.
    pub fn encode(&self) -> String {
        if self.saturated {
            SATURATED.to_owned()
        } else {
            self.ids
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        }
    }

    /// Adds a member; saturates instead when the list is full.
    pub fn add(&mut self, id: &str) {
        if self.saturated {
            return;
        }
        let Err(at) = self.ids.binary_search_by(|m| m.as_str().cmp(id)) else {
            return;
        };
        if self.ids.len() >= MAX_MEMBERS {
            self.saturated = true;
            self.ids.clear();
        } else {
            self.ids.insert(at, id.to_owned());
        }
    }

    /// Removes a member (a saturated key stays saturated).
    pub fn remove(&mut self, id: &str) {
        if let Ok(at) = self.ids.binary_search_by(|m| m.as_str().cmp(id)) {
            self.ids.remove(at);
        }
    }
}

/// A query with at least this many keys scores only candidates sharing two or more of them.
///
/// Two records of one person share most of their keys (each key is built from a pair of
/// fields, and the fields overlap), so a candidate sharing a single key of many shares one
/// field pair and nothing else: it cannot reach the review threshold, and scoring it is
/// most of the work of placing a new person (whose best candidates share one key each).
pub const SINGLE_KEY_QUERY_LIMIT: usize = 4;

/// The candidates of a query from the members of its keys: the customers sharing the most
/// keys with it first (ties by id, so answers are stable), at most [`MAX_CANDIDATES`], only
/// those sharing at least half as many keys as the first, and, when the query has
/// [`SINGLE_KEY_QUERY_LIMIT`] keys or more, at least two.
pub fn rank<'a>(
    members: impl IntoIterator<Item = &'a Members>,
    exclude: &BTreeSet<String>,
) -> Vec<String> {
    let members: Vec<&Members> = members.into_iter().collect();
    let least = if members.len() >= SINGLE_KEY_QUERY_LIMIT {
        2
    } else {
        1
    };
    let mut shared: BTreeMap<&str, usize> = BTreeMap::new();
    for m in members {
        for id in &m.ids {
            if !exclude.contains(id) {
                *shared.entry(id.as_str()).or_default() += 1;
            }
        }
    }
    let mut ranked: Vec<(&str, usize)> = shared.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    // A customer sharing less than half the keys the best one shares is very unlikely to
    // outscore it, and scoring costs far more than reading a key.
    let best = ranked.first().map_or(0, |r| r.1);
    ranked
        .into_iter()
        .take_while(|(_, n)| n * 2 >= best && *n >= least)
        .take(MAX_CANDIDATES)
        .map(|(id, _)| id.to_owned())
        .collect()
}

fn ymd(d: &CalendarDate) -> String {
    format!("{:04}{:02}{:02}", d.year, d.month, d.day)
}

fn prefix(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn ordered<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b { (a, b) } else { (b, a) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_traits_standardized_already_are_the_same_keys() {
        use baton_proto::v1::{PersonTraits, PostalAddress, SourceRecord};
        let traits = |given: &str| PersonTraits {
            given_name: given.to_owned(),
            family_name: "Okafor".to_owned(),
            date_of_birth: Some(CalendarDate {
                year: 1961,
                month: 3,
                day: 14,
            }),
            address: Some(PostalAddress {
                lines: vec!["61 Harbour Street".to_owned()],
                postal_code: "2480".to_owned(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let profile = Profile {
            traits: Some(traits("Margaret")),
            records: vec![SourceRecord {
                traits: Some(traits("Peggy")),
                ..Default::default()
            }],
            ..Default::default()
        };
        let own = standardize::person(&traits("Margaret"));
        let keys = profile_keys(&profile);
        assert!(keys.len() > 3, "{keys:?}");
        assert_eq!(profile_keys_with(&profile, Some(&own)), keys);
        assert_eq!(profile_keys_with(&profile, None), keys);
    }

    #[test]
    fn members_round_trip_and_saturate() {
        let mut m = Members::default();
        assert_eq!(m.encode(), "");
        m.add("b");
        m.add("a");
        m.add("a");
        assert_eq!(m.encode(), "a b");
        assert_eq!(Members::decode(Some("a b")), m);
        for i in 0..MAX_MEMBERS {
            m.add(&format!("c{i:04}"));
        }
        assert!(m.saturated, "a key past the bound saturates");
        m.remove("a");
        assert_eq!(Members::decode(Some(&m.encode())), m);
        assert!(
            Members::decode(Some(&m.encode())).saturated,
            "saturation is sticky"
        );
    }

    #[test]
    fn ranking_prefers_customers_sharing_more_keys() {
        let a = Members::decode(Some("x y"));
        let b = Members::decode(Some("y z"));
        let c = Members::decode(Some("y"));
        let d = Members::decode(Some("x y"));
        let none = BTreeSet::new();
        assert_eq!(rank([&a, &b], &none), ["y", "x", "z"]);
        assert_eq!(
            rank([&a, &b, &c, &d], &none),
            ["y", "x"],
            "z shares one key against four"
        );
        let skip: BTreeSet<String> = ["y".to_owned()].into();
        assert_eq!(rank([&a, &b, &c], &skip), ["x", "z"]);
    }

    #[test]
    fn a_query_with_many_keys_skips_candidates_sharing_one() {
        let keys: Vec<Members> = ["p q", "p", "r", "s"]
            .iter()
            .map(|m| Members::decode(Some(m)))
            .collect();
        let none = BTreeSet::new();
        assert_eq!(
            rank(&keys, &none),
            ["p"],
            "q, r and s share one key of four"
        );
        let lone: Vec<Members> = ["r", "s"]
            .iter()
            .map(|m| Members::decode(Some(m)))
            .collect();
        assert_eq!(
            rank(&lone, &none),
            ["r", "s"],
            "a query of two keys keeps them"
        );
    }

    #[test]
    fn identifiers_are_filed_by_halves_so_one_wrong_digit_still_meets() {
        let key = |v: &str| IdentityKey {
            kind: IdentifierKind::NationalId,
            namespace: String::new(),
            value: v.to_owned(),
        };
        let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
        identifier_keys(&key("5304218"), &mut a);
        identifier_keys(&key("5304213"), &mut b);
        assert_eq!(a.intersection(&b).count(), 1);
        let mut short = BTreeSet::new();
        identifier_keys(&key("123"), &mut short);
        assert!(short.is_empty());
    }
}
