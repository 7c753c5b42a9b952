//! Every comparison level, reached by a pair that should reach it.

use baton_proto::v1::{CalendarDate, PersonTraits, PostalAddress};
use proptest::prelude::*;

use super::*;
use crate::standardize::{name, person};

fn people(given: &str, family: &str) -> Person {
    person(&PersonTraits {
        given_name: given.to_owned(),
        family_name: family.to_owned(),
        ..Default::default()
    })
}

fn given_level(a: &str, b: &str) -> (Option<usize>, String) {
    let c = compare_name(Field::GivenName, &name::given(a), &name::given(b));
    (c.level, c.detail)
}

fn family_level(a: &str, b: &str) -> Option<usize> {
    compare_name(Field::FamilyName, &name::family(a), &name::family(b)).level
}

#[test]
fn fields_are_listed_in_order_with_their_names() {
    let names: Vec<&str> = Field::ALL.iter().map(|f| f.name()).collect();
    assert_eq!(
        names,
        [
            "given_name",
            "family_name",
            "date_of_birth",
            "house_number",
            "street",
            "locality",
            "postal_code",
            "region"
        ]
    );
    for (i, field) in Field::ALL.into_iter().enumerate() {
        assert_eq!(field.index(), i);
        assert_eq!(Field::from_name(field.name()), Some(field));
    }
    assert_eq!(Field::from_name("shoe_size"), None);
}

#[test]
fn name_levels() {
    assert_eq!(
        given_level("José", "jose"),
        (Some(name_level::EXACT), "exact".to_owned())
    );
    assert_eq!(
        given_level("Mary Ann", "maryann").0,
        Some(name_level::EXACT)
    );
    assert_eq!(
        given_level("Bob", "Robert"),
        (Some(name_level::NICKNAME), "nickname".to_owned())
    );
    let (level, detail) = given_level("catherine", "catharine");
    assert_eq!(level, Some(name_level::CLOSE));
    assert!(detail.starts_with("jaro-winkler 0.9"), "{detail}");
    assert_eq!(family_level("johnson", "jonson"), Some(name_level::CLOSE));
    assert_eq!(
        given_level("Jo", "Bob Jo"),
        (
            Some(name_level::CLOSE),
            "same name without a middle or second name".to_owned()
        )
    );
    assert_eq!(
        given_level("Bob", "Robert Anthony").0,
        Some(name_level::CLOSE)
    );
    assert_eq!(
        family_level("Smith", "Smith-Jones"),
        Some(name_level::CLOSE)
    );
    assert_eq!(family_level("smith", "smyth"), Some(name_level::SIMILAR));
    // A typo in a nickname is near what was written, though far from the formal name
    // ("jamie" stands for "james").
    assert_eq!(given_level("jamie", "jajie").0, Some(name_level::SIMILAR));
    assert_eq!(
        given_level("Geoff", "Jeff"),
        (Some(name_level::SOUNDS_ALIKE), "sounds alike".to_owned())
    );
    assert_eq!(
        given_level("J", "John"),
        (Some(name_level::INITIAL), "initial".to_owned())
    );
    assert_eq!(
        given_level("John", "j."),
        (Some(name_level::INITIAL), "initial".to_owned())
    );
    assert_eq!(
        given_level("John", "Mary"),
        (Some(name_level::DIFFERENT), "different".to_owned())
    );
    assert_eq!(given_level("", "Mary").0, None);
}

#[test]
fn an_exact_name_carries_its_canonical_form_as_the_term() {
    let c = compare(&people("Bobby", "Smith"), &people("bobby", "SMITH"));
    assert_eq!(c[0].term, "robert");
    assert_eq!(c[1].term, "smith");
    let c = compare(&people("Bob", "Smith"), &people("Robert", "Smyth"));
    assert_eq!(c[0].term, "");
    assert_eq!(c[1].term, "");
}

#[test]
fn swapped_names_are_recognised_with_a_penalty() {
    let c = compare(&people("Smith", "John"), &people("John", "Smith"));
    for comparison in &c[..2] {
        assert_eq!(comparison.level, Some(name_level::CLOSE));
        assert_eq!(comparison.detail, "given and family names swapped");
        assert_eq!(comparison.term, "");
    }
    // Straight agreement always wins over a swapped reading.
    let c = compare(&people("John", "John"), &people("John", "John"));
    assert_eq!(c[0].level, Some(name_level::EXACT));
    // One crossed name alone is not a swap.
    let c = compare(&people("Smith", "Brown"), &people("John", "Smith"));
    assert_eq!(c[0].detail, "different");
}

fn dob(year: i32, month: i32, day: i32) -> Option<CalendarDate> {
    Some(CalendarDate { year, month, day })
}

#[test]
fn date_levels() {
    let level = |a, b| {
        let c = compare_dates(Option::as_ref(&a), Option::as_ref(&b));
        (c.level, c.detail)
    };
    let base = dob(1951, 11, 5);
    assert_eq!(
        level(base, base),
        (Some(date_level::EXACT), "exact".to_owned())
    );
    assert_eq!(
        level(base, dob(1951, 5, 11)),
        (
            Some(date_level::TRANSPOSED),
            "day and month transposed".to_owned()
        )
    );
    assert_eq!(
        level(base, dob(1957, 11, 5)),
        (Some(date_level::ONE_DIGIT), "one digit".to_owned())
    );
    assert_eq!(
        level(base, dob(1915, 11, 5)),
        (Some(date_level::ONE_DIGIT), "one digit".to_owned())
    );
    assert_eq!(
        level(dob(1951, 10, 31), dob(1951, 11, 1)),
        (Some(date_level::ONE_DIGIT), "one day apart".to_owned())
    );
    assert_eq!(
        level(base, dob(1951, 11, 27)),
        (Some(date_level::CLOSE), "same year and month".to_owned())
    );
    assert_eq!(
        level(base, dob(1962, 11, 5)),
        (Some(date_level::CLOSE), "same day and month".to_owned())
    );
    assert_eq!(
        level(base, dob(1951, 3, 22)),
        (Some(date_level::SAME_YEAR), "same year".to_owned())
    );
    assert_eq!(
        level(base, dob(1963, 3, 22)),
        (Some(date_level::DIFFERENT), "different".to_owned())
    );
    assert_eq!(level(base, None).0, None);
}

fn at(lines: &[&str], locality: &str, postal_code: &str, region: &str) -> Person {
    person(&PersonTraits {
        address: Some(PostalAddress {
            lines: lines.iter().map(|l| (*l).to_owned()).collect(),
            locality: locality.to_owned(),
            region: region.to_owned(),
            postal_code: postal_code.to_owned(),
            country_code: "AU".to_owned(),
        }),
        ..Default::default()
    })
}

fn level_of(comparisons: &[Comparison], field: Field) -> Option<usize> {
    comparisons[field.index()].level
}

#[test]
fn address_levels() {
    let home = at(&["12 Smith St"], "Sydney", "2000", "NSW");
    let c = compare(&home, &at(&["12 smith street"], "sydney", "2000", "nsw"));
    for field in [
        Field::HouseNumber,
        Field::Street,
        Field::Locality,
        Field::PostalCode,
        Field::Region,
    ] {
        assert_eq!(level_of(&c, field), Some(0), "{}", field.name());
    }
    let c = compare(&home, &at(&["14 Smyth St"], "Sydnee", "2001", "Vic"));
    assert_eq!(
        level_of(&c, Field::HouseNumber),
        Some(exact_level::DIFFERENT)
    );
    assert_eq!(level_of(&c, Field::Street), Some(street_level::CLOSE));
    assert_eq!(level_of(&c, Field::Locality), Some(locality_level::SIMILAR));
    assert_eq!(
        level_of(&c, Field::PostalCode),
        Some(postal_level::ONE_EDIT)
    );
    assert_eq!(level_of(&c, Field::Region), Some(exact_level::DIFFERENT));
    let c = compare(&home, &at(&["12 Smith Rd"], "Parramatta", "2150", "NSW"));
    assert_eq!(level_of(&c, Field::Street), Some(street_level::SIMILAR));
    assert_eq!(
        level_of(&c, Field::Locality),
        Some(locality_level::DIFFERENT)
    );
    assert_eq!(
        level_of(&c, Field::PostalCode),
        Some(postal_level::DIFFERENT)
    );
    let c = compare(&home, &at(&["3 Jones Ave"], "", "", ""));
    assert_eq!(level_of(&c, Field::Street), Some(street_level::DIFFERENT));
    assert_eq!(level_of(&c, Field::Locality), None);
    assert_eq!(level_of(&c, Field::PostalCode), None);
    assert_eq!(c[Field::Street.index()].detail, "different");
}

#[test]
fn compare_lists_every_field_in_order() {
    let c = compare(&Person::default(), &Person::default());
    assert_eq!(c.len(), Field::ALL.len());
    for (comparison, field) in c.iter().zip(Field::ALL) {
        assert_eq!(comparison.field, field);
        assert_eq!(comparison.level, None);
    }
}

#[test]
fn one_edit_means_one_edit_and_not_equal() {
    assert!(within_one_edit("2000", "2001"));
    assert!(within_one_edit("2000", "200"));
    assert!(within_one_edit("2010", "2100"));
    assert!(within_one_edit("ab", "abc"));
    assert!(within_one_edit("é", "e"));
    assert!(!within_one_edit("2000", "2000"));
    assert!(!within_one_edit("2000", "2011"));
    assert!(!within_one_edit("2000", "20000000"));
}

#[test]
fn token_similarity_forgives_split_and_misspelt_words() {
    let words = |t: &str| -> Vec<String> { t.split(' ').map(str::to_owned).collect() };
    assert!(token_similarity(&words("fitz roy street"), &words("fitzroy street")) > 0.9);
    assert!(token_similarity(&words("smith street"), &words("jones road")) < 0.75);
    assert_eq!(token_similarity(&words("a b"), &words("a b")), 1.0);
}

proptest! {
    #[test]
    fn comparing_never_panics_and_stays_in_range(
        a in prop::collection::vec(any::<String>(), 6),
        b in prop::collection::vec(any::<String>(), 6),
    ) {
        let make = |v: &[String]| person(&PersonTraits {
            given_name: v[0].clone(),
            family_name: v[1].clone(),
            date_of_birth: None,
            address: Some(PostalAddress {
                lines: vec![v[2].clone()],
                locality: v[3].clone(),
                region: v[4].clone(),
                postal_code: v[5].clone(),
                country_code: String::new(),
            }),
            language: String::new(),
        });
        let (pa, pb) = (make(&a), make(&b));
        let model = Model::default();
        for c in compare(&pa, &pb) {
            prop_assert!((0.0..=1.0).contains(&c.similarity));
            if let Some(level) = c.level {
                prop_assert!(level < model.levels(c.field).len());
            }
        }
        // Comparing a person with themself agrees wherever something was given.
        for c in compare(&pa, &pa) {
            prop_assert!(c.level.is_none() || c.level == Some(0), "{:?}", c);
        }
    }
}
