//! Person traits on a profile: what counts as present, and the three ways they change
//! (fill the gaps from a contact, replace from a system of record, undo a fill).

use baton_proto::v1::{CalendarDate, PersonTraits, PostalAddress};

/// Whether an address says anything.
pub fn address_present(address: &PostalAddress) -> bool {
    address.lines.iter().any(|l| !l.trim().is_empty())
        || [
            &address.locality,
            &address.region,
            &address.postal_code,
            &address.country_code,
        ]
        .iter()
        .any(|s| !s.trim().is_empty())
}

fn date_present(date: &CalendarDate) -> bool {
    *date != CalendarDate::default()
}

/// Whether traits say anything at all.
pub fn is_empty(traits: &PersonTraits) -> bool {
    traits.given_name.trim().is_empty()
        && traits.family_name.trim().is_empty()
        && traits.language.trim().is_empty()
        && !traits.date_of_birth.as_ref().is_some_and(date_present)
        && !traits.address.as_ref().is_some_and(address_present)
}

/// Copies into `on_record` every field it lacks and `given` has; returns exactly the fields
/// that were filled (the rest unset), so the change can be undone.
pub fn fill_empty(on_record: &mut PersonTraits, given: &PersonTraits) -> PersonTraits {
    let mut filled = PersonTraits::default();
    fill_text(
        &mut on_record.given_name,
        &given.given_name,
        &mut filled.given_name,
    );
    fill_text(
        &mut on_record.family_name,
        &given.family_name,
        &mut filled.family_name,
    );
    fill_text(
        &mut on_record.language,
        &given.language,
        &mut filled.language,
    );
    if !on_record.date_of_birth.as_ref().is_some_and(date_present)
        && let Some(dob) = given.date_of_birth.filter(date_present)
    {
        on_record.date_of_birth = Some(dob);
        filled.date_of_birth = Some(dob);
    }
    if !on_record.address.as_ref().is_some_and(address_present)
        && let Some(address) = given.address.as_ref().filter(|a| address_present(a))
    {
        on_record.address = Some(address.clone());
        filled.address = Some(address.clone());
    }
    filled
}

fn fill_text(on_record: &mut String, given: &str, filled: &mut String) {
    if on_record.trim().is_empty() && !given.trim().is_empty() {
        given.trim().clone_into(on_record);
        given.trim().clone_into(filled);
    }
}

/// Replaces in `on_record` every field `given` has (a system of record is the authority for
/// what it sends). Returns whether anything changed.
pub fn replace_present(on_record: &mut PersonTraits, given: &PersonTraits) -> bool {
    let before = on_record.clone();
    for (field, value) in [
        (&mut on_record.given_name, &given.given_name),
        (&mut on_record.family_name, &given.family_name),
        (&mut on_record.language, &given.language),
    ] {
        if !value.trim().is_empty() {
            value.trim().clone_into(field);
        }
    }
    if let Some(dob) = given.date_of_birth.filter(date_present) {
        on_record.date_of_birth = Some(dob);
    }
    if let Some(address) = given.address.as_ref().filter(|a| address_present(a)) {
        on_record.address = Some(address.clone());
    }
    *on_record != before
}

/// Undoes [`fill_empty`]: clears each field of `filled` that still holds the filled value
/// (a field changed since belongs to whoever changed it and stays).
pub fn unfill(on_record: &mut PersonTraits, filled: &PersonTraits) {
    for (field, value) in [
        (&mut on_record.given_name, &filled.given_name),
        (&mut on_record.family_name, &filled.family_name),
        (&mut on_record.language, &filled.language),
    ] {
        if !value.is_empty() && field == value {
            field.clear();
        }
    }
    if filled.date_of_birth.is_some() && on_record.date_of_birth == filled.date_of_birth {
        on_record.date_of_birth = None;
    }
    if filled.address.is_some() && on_record.address == filled.address {
        on_record.address = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn traits(given: &str, family: &str, dob: Option<(i32, i32, i32)>) -> PersonTraits {
        PersonTraits {
            given_name: given.into(),
            family_name: family.into(),
            date_of_birth: dob.map(|(year, month, day)| CalendarDate { year, month, day }),
            ..Default::default()
        }
    }

    #[test]
    fn fill_then_unfill_restores_the_record() {
        let original = traits("Ann", "", None);
        let mut record = original.clone();
        let filled = fill_empty(&mut record, &traits("Anne", "Lee", Some((1980, 2, 3))));
        assert_eq!(record, traits("Ann", "Lee", Some((1980, 2, 3))));
        assert_eq!(filled, traits("", "Lee", Some((1980, 2, 3))));
        unfill(&mut record, &filled);
        assert_eq!(record, original);
    }

    #[test]
    fn replace_takes_only_present_fields() {
        let mut record = traits("Ann", "Lee", Some((1980, 2, 3)));
        assert!(replace_present(&mut record, &traits("", "Smith", None)));
        assert_eq!(record, traits("Ann", "Smith", Some((1980, 2, 3))));
        assert!(!replace_present(&mut record, &traits(" ", "", None)));
    }

    #[test]
    fn emptiness_ignores_blank_values() {
        assert!(is_empty(&traits(" ", "", None)));
        assert!(is_empty(&PersonTraits {
            address: Some(PostalAddress::default()),
            date_of_birth: Some(CalendarDate::default()),
            ..Default::default()
        }));
        assert!(!is_empty(&traits("", "", Some((1980, 1, 1)))));
    }
}
