//! What is on record about a customer, as facts an agent or form confirms instead of asking.

use baton_proto::v1::{CalendarDate, IdentifierKind, KnownFact, PostalAddress, Profile};

use crate::domain::person;

/// The fields on record in `profile`: names, date of birth (YYYY-MM-DD), address on one
/// line, language, each e-mail address, phone number and account number. Source `profile`;
/// an identifier's fact is verified when the customer proved control of it, traits never are.
pub fn known_facts(profile: &Profile) -> Vec<KnownFact> {
    let traits_at = profile.updated_at;
    let mut facts = Vec::new();
    let mut push = |field: &str, value: String, verified: bool, at| {
        if !value.trim().is_empty() {
            facts.push(KnownFact {
                field: field.to_owned(),
                value,
                source: "profile".to_owned(),
                verified,
                recorded_at: at,
            });
        }
    };
    if let Some(traits) = &profile.traits {
        push("given_name", traits.given_name.clone(), false, traits_at);
        push("family_name", traits.family_name.clone(), false, traits_at);
        if let Some(dob) = traits
            .date_of_birth
            .filter(|d| *d != CalendarDate::default())
        {
            push("date_of_birth", iso_date(&dob), false, traits_at);
        }
        if let Some(address) = traits
            .address
            .as_ref()
            .filter(|a| person::address_present(a))
        {
            push("address", one_line(address), false, traits_at);
        }
        push("language", traits.language.clone(), false, traits_at);
    }
    for linked in &profile.identifiers {
        let Some(identifier) = &linked.identifier else {
            continue;
        };
        let field = match IdentifierKind::try_from(identifier.kind) {
            Ok(IdentifierKind::Email) => "email",
            Ok(IdentifierKind::Phone) => "phone",
            Ok(IdentifierKind::AccountNumber) => "account_number",
            _ => continue,
        };
        let at = linked.last_seen_at.or(linked.linked_at);
        push(field, identifier.value.clone(), linked.verified, at);
    }
    facts
}

fn iso_date(d: &CalendarDate) -> String {
    format!("{:04}-{:02}-{:02}", d.year, d.month, d.day)
}

fn one_line(a: &PostalAddress) -> String {
    a.lines
        .iter()
        .map(String::as_str)
        .chain([
            a.locality.as_str(),
            a.region.as_str(),
            a.postal_code.as_str(),
            a.country_code.as_str(),
        ])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::{Identifier, LinkedIdentifier, PersonTraits};

    use super::*;

    #[test]
    fn lists_traits_and_contact_identifiers_with_their_proof() {
        let profile = Profile {
            customer_id: "cus_1".into(),
            traits: Some(PersonTraits {
                given_name: "Ann".into(),
                family_name: "Lee".into(),
                date_of_birth: Some(CalendarDate {
                    year: 1980,
                    month: 2,
                    day: 3,
                }),
                address: Some(PostalAddress {
                    lines: vec!["1 High St".into(), " ".into()],
                    locality: "Leeds".into(),
                    postal_code: "LS1 1AA".into(),
                    country_code: "GB".into(),
                    ..Default::default()
                }),
                language: String::new(),
            }),
            identifiers: vec![
                linked(IdentifierKind::Email, "ann@example.com", true),
                linked(IdentifierKind::Phone, "+442079460018", false),
                linked(IdentifierKind::Device, "dev-1", true),
                linked(IdentifierKind::AccountNumber, "AB12", false),
            ],
            ..Default::default()
        };
        let facts: Vec<(String, String, bool)> = known_facts(&profile)
            .into_iter()
            .map(|f| {
                assert_eq!(f.source, "profile");
                (f.field, f.value, f.verified)
            })
            .collect();
        let expected = [
            ("given_name", "Ann", false),
            ("family_name", "Lee", false),
            ("date_of_birth", "1980-02-03", false),
            ("address", "1 High St, Leeds, LS1 1AA, GB", false),
            ("email", "ann@example.com", true),
            ("phone", "+442079460018", false),
            ("account_number", "AB12", false),
        ]
        .map(|(f, v, b)| (f.to_owned(), v.to_owned(), b));
        assert_eq!(facts, expected);
    }

    fn linked(kind: IdentifierKind, value: &str, verified: bool) -> LinkedIdentifier {
        LinkedIdentifier {
            identifier: Some(Identifier {
                kind: kind as i32,
                value: value.into(),
                ..Default::default()
            }),
            verified,
            ..Default::default()
        }
    }
}
