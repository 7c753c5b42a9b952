//! Person traits in the form matching compares: names folded to plain lower-case letters
//! with their nickname-resolved and phonetic forms, dates checked, addresses split into
//! house number, unit, street and place tokens with abbreviations spelled out.
//!
//! Pure, and a fixed point like [`crate::normalize`]: standardizing a value already
//! standardized gives it back, so stored traits and presented traits meet in one form.

pub mod address;
pub mod date;
pub mod name;

use baton_proto::v1::{CalendarDate, PersonTraits};

pub use address::Address;
pub use name::Name;

/// A person's traits as matching compares them. Every part may be empty (not given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    /// Given name(s).
    pub given: Name,
    /// Family name(s).
    pub family: Name,
    /// Date of birth, when given and a real calendar date.
    pub date_of_birth: Option<CalendarDate>,
    /// Home address.
    pub address: Address,
}

impl Person {
    /// Whether nothing comparable was given.
    pub fn is_empty(&self) -> bool {
        self.given.is_empty()
            && self.family.is_empty()
            && self.date_of_birth.is_none()
            && self.address.is_empty()
    }
}

/// The comparable form of `traits`.
pub fn person(traits: &PersonTraits) -> Person {
    Person {
        given: name::given(&traits.given_name),
        family: name::family(&traits.family_name),
        date_of_birth: traits.date_of_birth.filter(date::is_valid),
        address: traits
            .address
            .as_ref()
            .map(address::standardize)
            .unwrap_or_default(),
    }
}
