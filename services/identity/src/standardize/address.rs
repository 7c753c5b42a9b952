//! Postal addresses: house number, unit, street and place tokens.

use baton_proto::v1::PostalAddress;

use super::name::fold;

/// An address in comparable form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// The house (street) number as written, folded ("12", "12a"); empty when none.
    pub number: String,
    /// The unit, flat or apartment number; empty when none.
    pub unit: String,
    /// The street's words with abbreviations spelled out ("stanley street").
    pub street: Vec<String>,
    /// Words of the other lines (a building or property name).
    pub other: Vec<String>,
    /// City or town, folded.
    pub locality: String,
    /// Postal code: letters and digits only, upper-case.
    pub postal_code: String,
    /// State or region, folded.
    pub region: String,
    /// ISO country code, upper-case.
    pub country: String,
}

impl Address {
    /// Whether nothing was given.
    pub fn is_empty(&self) -> bool {
        self.number.is_empty()
            && self.unit.is_empty()
            && self.street.is_empty()
            && self.other.is_empty()
            && self.locality.is_empty()
            && self.postal_code.is_empty()
            && self.region.is_empty()
    }
}

/// The comparable form of `address`.
pub fn standardize(address: &PostalAddress) -> Address {
    let mut out = Address {
        locality: fold(&address.locality),
        postal_code: address
            .postal_code
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
            .to_ascii_uppercase(),
        region: fold(&address.region),
        country: address.country_code.trim().to_ascii_uppercase(),
        ..Default::default()
    };
    for (i, line) in address.lines.iter().enumerate() {
        let words: Vec<String> = fold(line)
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect();
        if i == 0 {
            out.street = words;
        } else {
            out.other.extend(words);
        }
    }
    out
}
