use std::collections::{HashMap, HashSet};

use super::*;

fn population() -> Vec<Record> {
    generate(
        11,
        &Config {
            records: 3_000,
            ..Config::default()
        },
    )
}

#[test]
fn the_same_seed_gives_the_same_records() {
    assert_eq!(population(), population());
    let other = generate(
        12,
        &Config {
            records: 3_000,
            ..Config::default()
        },
    );
    assert_ne!(population(), other);
}

#[test]
fn ids_are_unique_and_originals_come_first() {
    let records = population();
    let ids: HashSet<&str> = records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), records.len());
    let mut seen = HashSet::new();
    for r in &records {
        if r.copy == 0 {
            assert!(r.corruptions.is_empty());
            seen.insert(r.entity);
        } else {
            assert!(seen.contains(&r.entity), "{} before its original", r.id);
        }
    }
}

#[test]
fn duplicates_differ_from_their_original() {
    let records = population();
    let originals: HashMap<u64, &Record> = records
        .iter()
        .filter(|r| r.copy == 0)
        .map(|r| (r.entity, r))
        .collect();
    let duplicates: Vec<&Record> = records.iter().filter(|r| r.copy > 0).collect();
    assert!(duplicates.len() > records.len() / 5, "too few duplicates");
    let mut kinds = HashSet::new();
    for d in duplicates {
        let o = originals[&d.entity];
        assert!(!d.corruptions.is_empty(), "{} is not corrupted", d.id);
        let same = Record {
            id: o.id.clone(),
            copy: 0,
            corruptions: Vec::new(),
            ..d.clone()
        };
        assert_ne!(&same, o, "{} equals its original", d.id);
        kinds.extend(d.corruptions.iter().copied());
    }
    assert_eq!(
        kinds.len(),
        CORRUPTIONS.iter().collect::<HashSet<_>>().len()
    );
}

#[test]
fn hard_negative_groups_hold_different_people_who_look_alike() {
    let records = population();
    let mut groups: HashMap<Group, Vec<&Record>> = HashMap::new();
    for r in records.iter().filter(|r| r.copy == 0) {
        if let Some(g) = r.group {
            groups.entry(g).or_default().push(r);
        }
    }
    let mut kinds = HashSet::new();
    for (group, members) in &groups {
        kinds.insert(group.kind);
        assert!(members.len() >= 2, "{group:?} has one member");
        let entities: HashSet<u64> = members.iter().map(|m| m.entity).collect();
        assert_eq!(entities.len(), members.len());
        let ids: HashSet<_> = members.iter().map(|m| m.national_id.clone()).collect();
        assert_eq!(ids.len(), members.len(), "{group:?} shares a national id");
        let (a, b) = (members[0], members[1]);
        assert_eq!(a.family_name, b.family_name);
        match group.kind {
            HardNegative::Twins => {
                assert_ne!(a.given_name, b.given_name);
                assert_eq!(a.date_of_birth, b.date_of_birth);
                assert_eq!(a.address, b.address);
                assert_eq!(digits(&a.phone), digits(&b.phone));
            }
            HardNegative::ParentChild => {
                assert_eq!(a.given_name, b.given_name);
                assert_eq!(a.address, b.address);
                let gap = b.date_of_birth.map(|d| d.year).unwrap_or_default()
                    - a.date_of_birth.map(|d| d.year).unwrap_or_default();
                assert!((25..=35).contains(&gap), "gap {gap}");
            }
            HardNegative::Household => {
                assert_eq!(a.address, b.address);
                assert_eq!(digits(&a.phone), digits(&b.phone));
                let given: HashSet<_> = members.iter().map(|m| &m.given_name).collect();
                assert_eq!(given.len(), members.len());
            }
            HardNegative::Namesakes => {
                assert_eq!(a.given_name, b.given_name);
                assert_eq!(
                    a.date_of_birth.map(|d| d.year),
                    b.date_of_birth.map(|d| d.year)
                );
            }
        }
    }
    assert_eq!(kinds.len(), 4, "every kind of hard negative occurs");
}

#[test]
fn phones_and_ids_normalize() {
    for r in population() {
        if let Some(phone) = &r.phone {
            let normalized = baton_identity::normalize::phone(phone, "US");
            assert!(normalized.is_ok(), "{phone}: {normalized:?}");
        }
        if let Some(id) = &r.national_id {
            let n = baton_identity::normalize::national_id(id).unwrap_or_default();
            assert_eq!(n.len(), 9, "{id}");
        }
    }
}

#[test]
fn names_come_from_several_cultures() {
    let records = population();
    let accented = records
        .iter()
        .filter(|r| !r.family_name.is_ascii() || !r.given_name.is_ascii())
        .count();
    assert!(accented > records.len() / 50, "{accented} accented names");
}

fn digits(phone: &Option<String>) -> String {
    let all: String = phone
        .iter()
        .flat_map(|p| p.chars())
        .filter(char::is_ascii_digit)
        .collect();
    all.trim_start_matches('1').to_owned()
}
