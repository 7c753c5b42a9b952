//! The input format of the `normalize` target, and what a normalized identifier promises.
//!
//! An input is three selector bytes, then UTF-8 text: `[kind, assurance, region]` and
//! `value` or `value|namespace`. The region byte picks one of [`REGIONS`], or, past the end of
//! the list, takes the namespace text as the region too, so region parsing sees any text.

use baton_identity::normalize::{self, Normalized};
use baton_proto::v1::Identifier;

/// Default regions the region byte picks from: empty (the fallback), known codes in the
/// spellings callers send, and unknown ones.
pub const REGIONS: &[&str] = &[
    "", "US", "GB", "gb", " de ", "FR", "IN", "JP", "BR", "CN", "AU", "XX", "001",
];

/// The region byte that reads the region from the namespace text.
pub const REGION_IN_TEXT: u8 = REGIONS.len() as u8;

/// The kind byte that stands for a kind number this version does not know.
pub const UNKNOWN_KIND: u8 = 9;

/// The assurance byte that stands for an assurance number this version does not know.
pub const UNKNOWN_ASSURANCE: u8 = 4;

/// The identifier an input stands for, or `None` when it is too short or not UTF-8.
pub fn parse(data: &[u8]) -> Option<Identifier> {
    let [kind, assurance, region, text @ ..] = data else {
        return None;
    };
    let text = std::str::from_utf8(text).ok()?;
    let (value, namespace) = text.split_once('|').unwrap_or((text, ""));
    let region = REGIONS
        .get(usize::from(*region) % (REGIONS.len() + 1))
        .copied()
        .unwrap_or(namespace);
    let kind = match kind % (UNKNOWN_KIND + 1) {
        UNKNOWN_KIND => 99,
        known => i32::from(known),
    };
    let assurance = match assurance % (UNKNOWN_ASSURANCE + 1) {
        UNKNOWN_ASSURANCE => 42,
        known => i32::from(known),
    };
    Some(Identifier {
        kind,
        value: value.to_owned(),
        assurance,
        namespace: namespace.to_owned(),
        default_region: region.to_owned(),
    })
}

/// The input [`parse`] reads as an identifier of the given kind, assurance and region bytes,
/// with `text` being `value` or `value|namespace`; for seeds.
pub fn encode(kind: u8, assurance: u8, region: u8, text: &str) -> Vec<u8> {
    let mut data = vec![kind, assurance, region];
    data.extend_from_slice(text.as_bytes());
    data
}

/// Checks the promise the identity index relies on: the stored form of a normalized
/// identifier, presented again (by a CRM export, a later contact), normalizes to the same key.
///
/// # Panics
///
/// When the stored form is refused or normalizes to something else.
pub fn assert_stored_form_matches(normalized: &Normalized) {
    let stored = normalized.key.to_identifier(normalized.assurance);
    match normalize::identifier(&stored) {
        Ok(again) => assert_eq!(&again, normalized, "stored form {stored:?}"),
        Err(invalid) => {
            panic!("the stored form {stored:?} of {normalized:?} is refused: {invalid}")
        }
    }
}
