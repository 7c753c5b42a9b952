//! Deciding who a contact is from what the index found, and explaining the candidates.
//!
//! Pure. Today a customer matches only through an exact identifier (the index lookup); the
//! evidence is already written in Fellegi–Sunter terms (a log2 likelihood-ratio weight per
//! compared field, summed and turned into a probability) so that fuzzy trait comparisons can
//! add their weights to the same sums later without changing what callers read.

use std::collections::BTreeSet;

use baton_proto::v1::{
    CalendarDate, Candidate, DisambiguationQuestion, FieldComparison, FieldEvidence,
    IdentifierKind, PersonTraits, Profile,
};

use crate::normalize::{IdentityKey, Normalized, kind_field};

/// Most candidates an answer lists.
pub const MAX_CANDIDATES: usize = 10;

/// Log2 prior odds that two records picked at random are the same person: about one in
/// 256. A single exact phone match (weight 9) then gives two to one, a verified login
/// (weight 14) better than 98 in 100.
pub const PRIOR_LOG2_ODDS: f64 = -8.0;

/// What the index lookups say about the contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No presented identifier is linked to anyone.
    NoMatch,
    /// Every identifier that is linked points at this one customer.
    Unique {
        /// The customer.
        customer_id: String,
    },
    /// Identifiers point at two or more customers; they are listed in first-seen order.
    Ambiguous {
        /// The distinct customers.
        customer_ids: Vec<String>,
    },
}

/// Decides from `owners[i]`, the live customer holding the request's i-th identifier (or
/// `None`). Two customers are ambiguous whatever the assurances: conflicting identifiers,
/// verified or not, are a question for a person, never an automatic merge.
pub fn decide(owners: &[Option<String>]) -> Decision {
    let mut distinct: Vec<&String> = Vec::new();
    for owner in owners.iter().flatten() {
        if !distinct.contains(&owner) {
            distinct.push(owner);
        }
    }
    match distinct.as_slice() {
        [] => Decision::NoMatch,
        [one] => Decision::Unique {
            customer_id: (*one).clone(),
        },
        many => Decision::Ambiguous {
            customer_ids: many.iter().map(|s| (*s).clone()).collect(),
        },
    }
}

/// `(agreement, disagreement)` weights of an identifier kind, in log2 likelihood ratios.
/// Agreement is strong for every kind (identifiers are rarely shared); disagreement is mild
/// for kinds a person holds several of (phones, e-mails, devices) and sharper for those a
/// system gives a person once (a login, a CRM record).
pub fn identifier_weights(kind: IdentifierKind) -> (f64, f64) {
    match kind {
        IdentifierKind::Login => (14.0, -2.0),
        IdentifierKind::AccountNumber => (12.0, -1.0),
        IdentifierKind::CrmId => (12.0, -4.0),
        IdentifierKind::Email => (10.0, -1.0),
        IdentifierKind::Phone => (9.0, -1.0),
        IdentifierKind::NationalId => (13.0, -4.0),
        IdentifierKind::SocialHandle => (8.0, -1.0),
        IdentifierKind::Device => (7.0, -0.5),
        IdentifierKind::Unspecified => (0.0, 0.0),
    }
}

/// `(agreement, disagreement)` weights of the person traits compared exactly.
fn trait_weights(field: &str) -> (f64, f64) {
    match field {
        "date_of_birth" => (7.0, -5.0),
        "family_name" => (5.0, -3.0),
        _ => (4.0, -2.0),
    }
}

/// The match probability of a summed weight, in [0, 1].
pub fn probability(total_weight: f64) -> f64 {
    let odds = (total_weight + PRIOR_LOG2_ODDS).exp2();
    let p = odds / (1.0 + odds);
    if p.is_finite() {
        p.clamp(0.0, 1.0)
    } else {
        1.0
    }
}

/// Scores one candidate against the request, one field at a time.
pub fn score(
    request: &[Normalized],
    owners: &[Option<String>],
    traits: Option<&PersonTraits>,
    candidate: &Profile,
) -> Candidate {
    let held: Vec<IdentityKey> = candidate
        .identifiers
        .iter()
        .filter_map(|l| l.identifier.as_ref().and_then(IdentityKey::of_stored))
        .collect();
    let mut evidence = Vec::new();
    for (presented, owner) in request.iter().zip(owners) {
        let (agree, disagree) = identifier_weights(presented.key.kind);
        let same_kind_held = held
            .iter()
            .any(|k| k.kind == presented.key.kind && k.namespace == presented.key.namespace);
        let (comparison, weight) = if owner.as_deref() == Some(candidate.customer_id.as_str()) {
            (FieldComparison::Exact, agree)
        } else if same_kind_held {
            (FieldComparison::Mismatch, disagree)
        } else {
            (FieldComparison::Missing, 0.0)
        };
        evidence.push(evidence_of(presented.key.field(), comparison, weight));
    }
    if let Some(traits) = traits {
        let on_record = candidate.traits.clone().unwrap_or_default();
        compare_text(
            &mut evidence,
            "given_name",
            &traits.given_name,
            &on_record.given_name,
        );
        compare_text(
            &mut evidence,
            "family_name",
            &traits.family_name,
            &on_record.family_name,
        );
        compare_date(
            &mut evidence,
            traits.date_of_birth.as_ref(),
            on_record.date_of_birth.as_ref(),
        );
    }
    let total: f64 = evidence.iter().map(|e| e.weight).sum();
    Candidate {
        customer_id: candidate.customer_id.clone(),
        score: probability(total),
        evidence,
    }
}

/// Every candidate scored, best first (ties by id, so answers are stable), at most
/// [`MAX_CANDIDATES`].
pub fn candidates(
    request: &[Normalized],
    owners: &[Option<String>],
    traits: Option<&PersonTraits>,
    profiles: &[Profile],
) -> Vec<Candidate> {
    let mut scored: Vec<Candidate> = profiles
        .iter()
        .map(|p| score(request, owners, traits, p))
        .collect();
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.customer_id.cmp(&b.customer_id))
    });
    scored.truncate(MAX_CANDIDATES);
    scored
}

/// Identifier kinds a customer can be asked for, most separating first.
const ASKABLE: [IdentifierKind; 3] = [
    IdentifierKind::AccountNumber,
    IdentifierKind::Email,
    IdentifierKind::Phone,
];

/// The question that best tells the candidates apart: their date of birth when the
/// candidates' dates on record differ and the customer has not given one, else an
/// identifier kind the candidates hold and the customer has not presented.
pub fn question(
    request: &[Normalized],
    traits: Option<&PersonTraits>,
    profiles: &[Profile],
) -> DisambiguationQuestion {
    let dob_given = traits.is_some_and(|t| t.date_of_birth.is_some());
    let dobs: BTreeSet<(i32, i32, i32)> = profiles
        .iter()
        .filter_map(|p| p.traits.as_ref()?.date_of_birth)
        .map(|d| (d.year, d.month, d.day))
        .collect();
    if !dob_given && dobs.len() >= 2 {
        return ask("date_of_birth");
    }
    let presented: BTreeSet<IdentifierKind> = request.iter().map(|n| n.key.kind).collect();
    let held: BTreeSet<IdentifierKind> = profiles
        .iter()
        .flat_map(|p| &p.identifiers)
        .filter_map(|l| l.identifier.as_ref().and_then(IdentityKey::of_stored))
        .map(|k| k.kind)
        .collect();
    let kind = ASKABLE
        .iter()
        .find(|k| !presented.contains(k) && held.contains(k))
        .or_else(|| ASKABLE.iter().find(|k| !presented.contains(k)));
    match kind {
        Some(kind) => ask(kind_field(*kind)),
        None if !dob_given => ask("date_of_birth"),
        None => ask("account_number"),
    }
}

fn ask(field: &str) -> DisambiguationQuestion {
    let prompt = match field {
        "date_of_birth" => "What is your date of birth?",
        "account_number" => "What is your account number?",
        "email" => "What e-mail address do you use with us?",
        _ => "What phone number do you use with us?",
    };
    DisambiguationQuestion {
        field: field.to_owned(),
        prompt: prompt.to_owned(),
    }
}

fn evidence_of(field: &str, comparison: FieldComparison, weight: f64) -> FieldEvidence {
    FieldEvidence {
        field: field.to_owned(),
        comparison: comparison as i32,
        weight,
        ..Default::default()
    }
}

fn compare_text(evidence: &mut Vec<FieldEvidence>, field: &str, given: &str, on_record: &str) {
    let given = given.trim();
    if given.is_empty() {
        return;
    }
    let (agree, disagree) = trait_weights(field);
    let on_record = on_record.trim();
    let (comparison, weight) = if on_record.is_empty() {
        (FieldComparison::Missing, 0.0)
    } else if given.to_lowercase() == on_record.to_lowercase() {
        (FieldComparison::Exact, agree)
    } else {
        (FieldComparison::Mismatch, disagree)
    };
    evidence.push(evidence_of(field, comparison, weight));
}

fn compare_date(
    evidence: &mut Vec<FieldEvidence>,
    given: Option<&CalendarDate>,
    on_record: Option<&CalendarDate>,
) {
    let Some(given) = given else { return };
    let (agree, disagree) = trait_weights("date_of_birth");
    let (comparison, weight) = match on_record {
        None => (FieldComparison::Missing, 0.0),
        Some(d) if d == given => (FieldComparison::Exact, agree),
        Some(_) => (FieldComparison::Mismatch, disagree),
    };
    evidence.push(evidence_of("date_of_birth", comparison, weight));
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::{IdentifierAssurance, LinkedIdentifier};
    use proptest::prelude::*;

    use super::*;

    fn presented(kind: IdentifierKind, value: &str) -> Normalized {
        Normalized {
            key: IdentityKey {
                kind,
                namespace: String::new(),
                value: value.to_owned(),
            },
            assurance: IdentifierAssurance::Verified,
        }
    }

    fn profile(id: &str, held: &[(IdentifierKind, &str)], dob: Option<(i32, i32, i32)>) -> Profile {
        Profile {
            customer_id: id.to_owned(),
            identifiers: held
                .iter()
                .map(|(k, v)| LinkedIdentifier {
                    identifier: Some(
                        presented(*k, v)
                            .key
                            .to_identifier(IdentifierAssurance::Verified),
                    ),
                    verified: true,
                    ..Default::default()
                })
                .collect(),
            traits: Some(PersonTraits {
                date_of_birth: dob.map(|(year, month, day)| CalendarDate { year, month, day }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn decisions_follow_the_distinct_owners() {
        assert_eq!(decide(&[None, None]), Decision::NoMatch);
        assert_eq!(
            decide(&[Some("a".into()), None, Some("a".into())]),
            Decision::Unique {
                customer_id: "a".into()
            }
        );
        assert_eq!(
            decide(&[Some("b".into()), Some("a".into()), Some("b".into())]),
            Decision::Ambiguous {
                customer_ids: vec!["b".into(), "a".into()]
            }
        );
    }

    #[test]
    fn evidence_explains_each_candidate() {
        let request = [
            presented(IdentifierKind::Login, "sub-1"),
            presented(IdentifierKind::Phone, "+12015550123"),
        ];
        let owners = [Some("a".to_owned()), Some("b".to_owned())];
        let a = profile(
            "a",
            &[
                (IdentifierKind::Login, "sub-1"),
                (IdentifierKind::Phone, "+19995550000"),
            ],
            None,
        );
        let b = profile("b", &[(IdentifierKind::Phone, "+12015550123")], None);
        let found = candidates(&request, &owners, None, &[b, a]);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].customer_id, "a", "a login outweighs a phone");
        let a_evidence: Vec<(String, i32)> = found[0]
            .evidence
            .iter()
            .map(|e| (e.field.clone(), e.comparison))
            .collect();
        assert_eq!(
            a_evidence,
            [
                ("login".to_owned(), FieldComparison::Exact as i32),
                ("phone".to_owned(), FieldComparison::Mismatch as i32)
            ]
        );
        let b_evidence: Vec<i32> = found[1].evidence.iter().map(|e| e.comparison).collect();
        assert_eq!(
            b_evidence,
            [
                FieldComparison::Missing as i32,
                FieldComparison::Exact as i32
            ]
        );
    }

    #[test]
    fn asks_for_the_date_of_birth_when_it_separates() {
        let request = [presented(IdentifierKind::Phone, "+12015550123")];
        let a = profile("a", &[], Some((1980, 1, 2)));
        let b = profile("b", &[], Some((1991, 5, 6)));
        assert_eq!(
            question(&request, None, &[a.clone(), b]).field,
            "date_of_birth"
        );
        let same = profile("c", &[(IdentifierKind::Email, "x@y.z")], Some((1980, 1, 2)));
        assert_eq!(question(&request, None, &[a, same]).field, "email");
    }

    #[test]
    fn trait_evidence_is_exact_or_mismatch() {
        let mut on_record = profile("a", &[], Some((1980, 1, 2)));
        if let Some(t) = on_record.traits.as_mut() {
            t.family_name = "Lee".into();
        }
        let given = PersonTraits {
            family_name: " lee ".into(),
            date_of_birth: Some(CalendarDate {
                year: 1980,
                month: 1,
                day: 3,
            }),
            given_name: "Ann".into(),
            ..Default::default()
        };
        let c = score(&[], &[], Some(&given), &on_record);
        let got: Vec<(String, i32)> = c
            .evidence
            .iter()
            .map(|e| (e.field.clone(), e.comparison))
            .collect();
        assert_eq!(
            got,
            [
                ("given_name".to_owned(), FieldComparison::Missing as i32),
                ("family_name".to_owned(), FieldComparison::Exact as i32),
                ("date_of_birth".to_owned(), FieldComparison::Mismatch as i32)
            ]
        );
    }

    proptest! {
        #[test]
        fn probability_is_bounded_and_monotonic(a in -200.0f64..200.0, b in -200.0f64..200.0) {
            let (pa, pb) = (probability(a), probability(b));
            prop_assert!((0.0..=1.0).contains(&pa));
            if a <= b {
                prop_assert!(pa <= pb);
            }
        }

        #[test]
        fn decide_never_names_a_customer_nobody_pointed_at(
            owners in proptest::collection::vec(proptest::option::of("[abc]"), 0..8),
        ) {
            match decide(&owners) {
                Decision::NoMatch => prop_assert!(owners.iter().all(Option::is_none)),
                Decision::Unique { customer_id } => {
                    prop_assert!(owners.iter().flatten().all(|o| *o == customer_id));
                }
                Decision::Ambiguous { customer_ids } => {
                    prop_assert!(customer_ids.len() >= 2);
                    for id in &customer_ids {
                        prop_assert!(owners.iter().flatten().any(|o| o == id));
                    }
                }
            }
        }
    }
}
