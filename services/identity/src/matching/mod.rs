//! Deciding who a contact is, and explaining the candidates, Fellegi–Sunter style.
//!
//! Pure. A candidate's weight is the sum of log2 likelihood ratios, one per compared field:
//! each presented identifier (exact through the index, one edit away, different, or not
//! held) and each person trait, compared level by level ([`crate::compare`]) against the
//! candidate's traits and every source record's traits (the best-agreeing variant counts).
//! The decision ([`decide`]) reads the weights against two thresholds and a few rules a good
//! agent follows: identifiers on different customers, a name or date of birth that
//! contradicts an identifier, two candidates too close to call, and a national id or login
//! that differs are questions for a person, never an automatic answer.

pub mod blocking;

use std::collections::{BTreeSet, HashMap};

use baton_proto::v1::{
    Candidate, DisambiguationQuestion, FieldComparison, FieldEvidence, IdentifierKind, Profile,
};

use crate::{
    compare::{
        self, Field,
        model::{self, Model},
    },
    normalize::{IdentityKey, Normalized, kind_field},
    standardize::{self, Person},
};

/// Most candidates an answer lists.
pub const MAX_CANDIDATES: usize = 10;

/// Log2 prior odds that a candidate is the person, before any evidence: about one in 256. A
/// single exact phone match (weight 9) then gives two to one, a verified login (weight 14)
/// better than 98 in 100.
pub const PRIOR_LOG2_ODDS: f64 = -8.0;

/// The weight at or above which a candidate matches without a question (when nothing
/// vetoes it and no other candidate comes close): with the prior, odds of 256 to 1.
pub const MATCH_WEIGHT: f64 = 16.0;

/// The weight at or above which a candidate is worth a question rather than a new customer.
pub const REVIEW_WEIGHT: f64 = 6.0;

/// How far ahead of the next candidate the best must be to match by traits alone, in bits
/// (a factor of 16 in likelihood).
pub const MARGIN: f64 = 4.0;

/// The trait weight at or below which traits contradict a matching identifier.
pub const CONTRADICTION: f64 = -4.0;

/// `(agreement, disagreement)` weights of an identifier kind, in log2 likelihood ratios.
/// Agreement is strong for every kind (identifiers are rarely shared); disagreement is mild
/// for kinds a person holds several of (phones, e-mails, devices, records in one CRM) and
/// sharper for those a system gives a person once (a login, a national id).
pub fn identifier_weights(kind: IdentifierKind) -> (f64, f64) {
    match kind {
        IdentifierKind::Login => (14.0, -2.0),
        IdentifierKind::NationalId => (13.0, -6.0),
        IdentifierKind::AccountNumber => (12.0, -1.0),
        IdentifierKind::CrmId => (12.0, 0.0),
        IdentifierKind::Email => (10.0, -1.0),
        IdentifierKind::Phone => (9.0, -1.0),
        IdentifierKind::SocialHandle => (8.0, -1.0),
        IdentifierKind::Device => (7.0, -0.5),
        IdentifierKind::Unspecified => (0.0, 0.0),
    }
}

/// The weight of an identifier one edit away from one the candidate holds: a typing slip
/// in a long number is far likelier between records of one person than a near miss between
/// two people, but it proves much less than the exact value.
fn near_miss_weight(kind: IdentifierKind) -> f64 {
    match kind {
        IdentifierKind::NationalId | IdentifierKind::AccountNumber => 6.0,
        IdentifierKind::Phone => 3.0,
        _ => 0.0,
    }
}

/// Identifier kinds a person holds one of per issuer: a different value on the candidate,
/// when either side proved its value, means a different person (or a data error a person
/// must look at).
fn unique_kind(kind: IdentifierKind) -> bool {
    matches!(kind, IdentifierKind::NationalId | IdentifierKind::Login)
}

/// Identifier kinds a household does not share: agreeing on one tells a person from their
/// relatives.
fn personal_kind(kind: IdentifierKind) -> bool {
    matches!(
        kind,
        IdentifierKind::NationalId
            | IdentifierKind::Login
            | IdentifierKind::Email
            | IdentifierKind::AccountNumber
            | IdentifierKind::CrmId
    )
}

/// Kinds compared within one edit (long numbers people type).
fn near_miss_kind(kind: IdentifierKind) -> bool {
    near_miss_weight(kind) > 0.0
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

/// How often names occur among the tenant's profiles, for term-frequency adjustment.
#[derive(Debug, Clone, Default)]
pub struct Frequencies {
    /// Live profiles of the tenant.
    pub profiles: u64,
    /// Profiles per canonical given name.
    pub given: HashMap<String, u64>,
    /// Profiles per canonical family name.
    pub family: HashMap<String, u64>,
}

/// Below this many profiles name counts say little, and weights stay unadjusted.
const MIN_PROFILES_FOR_FREQUENCIES: u64 = 1_000;

impl Frequencies {
    /// The share of profiles holding `term` in `field`, when the counts are worth using.
    pub fn share(&self, field: Field, term: &str) -> Option<f64> {
        if self.profiles < MIN_PROFILES_FOR_FREQUENCIES || term.is_empty() {
            return None;
        }
        let counts = match field {
            Field::GivenName => &self.given,
            Field::FamilyName => &self.family,
            _ => return None,
        };
        let n = counts.get(term).copied().unwrap_or(0).max(1);
        Some(n as f64 / self.profiles as f64)
    }
}

/// What the customer presented, standardized once for every candidate.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// Normalized identifiers.
    pub identifiers: &'a [Normalized],
    /// `owners[i]`: the live customer holding identifier i exactly.
    pub owners: &'a [Option<String>],
    /// The traits, when any were given.
    pub person: Option<Person>,
}

/// A candidate as the decision sees it.
#[derive(Debug, Clone)]
pub struct Scored {
    /// The answer's form: id, probability, evidence.
    pub candidate: Candidate,
    /// The summed weight, without the prior.
    pub weight: f64,
    /// The part of `weight` the traits gave.
    pub trait_weight: f64,
    /// Whether the candidate holds one of the presented identifiers exactly.
    pub holds_identifier: bool,
    /// Fields whose disagreement forbids matching this candidate without a question.
    pub vetoes: Vec<&'static str>,
    /// Whether the evidence tells the candidate from the people they live with: a personal
    /// identifier agrees, or both sides give a given name and a date of birth. Family name,
    /// address and a household phone are shared by twins, parents and children, so agreement
    /// on them alone never matches without a question.
    pub personal: bool,
}

/// Scores one candidate against the query, one field at a time.
pub fn score(
    model: &Model,
    frequencies: &Frequencies,
    query: &Query<'_>,
    candidate: &Profile,
) -> Scored {
    let held: Vec<(IdentityKey, bool)> = candidate
        .identifiers
        .iter()
        .filter_map(|l| {
            let key = l.identifier.as_ref().and_then(IdentityKey::of_stored)?;
            Some((key, l.verified))
        })
        .collect();
    let mut evidence = Vec::new();
    let mut vetoes = Vec::new();
    let mut holds_identifier = false;
    let mut personal = false;
    // A once-per-person identifier that differs: the traits must then name the same person
    // exactly to match without a question.
    let mut unique_differs = false;
    for (presented, owner) in query.identifiers.iter().zip(query.owners) {
        let kind = presented.key.kind;
        let (agree, disagree) = identifier_weights(kind);
        let same_kind: Vec<&(IdentityKey, bool)> = held
            .iter()
            .filter(|(k, _)| k.kind == kind && k.namespace == presented.key.namespace)
            .collect();
        let (comparison, weight, detail) =
            if owner.as_deref() == Some(candidate.customer_id.as_str()) {
                holds_identifier = true;
                (FieldComparison::Exact, agree, "exact")
            } else if near_miss_kind(kind)
                && same_kind
                    .iter()
                    .any(|(k, _)| compare::within_one_edit(&k.value, &presented.key.value))
            {
                (FieldComparison::Partial, near_miss_weight(kind), "one edit")
            } else if !same_kind.is_empty() {
                // Two proven values of a once-per-person identifier are two people; an
                // unproven one may be a typing or filing error, and weighs against.
                let proven = presented.is_verified() || same_kind.iter().any(|(_, v)| *v);
                if unique_kind(kind) && proven {
                    vetoes.push(presented.key.field());
                }
                unique_differs |= unique_kind(kind);
                (FieldComparison::Mismatch, disagree, "different")
            } else {
                (FieldComparison::Missing, 0.0, "not on record")
            };
        personal |= personal_kind(kind)
            && matches!(
                comparison,
                FieldComparison::Exact | FieldComparison::Partial
            );
        evidence.push(FieldEvidence {
            field: presented.key.field().to_owned(),
            comparison: comparison as i32,
            weight,
            similarity: 0.0,
            detail: detail.to_owned(),
        });
    }
    let mut trait_weight = 0.0;
    if let Some(person) = &query.person {
        let tf = |field: Field, term: &str| frequencies.share(field, term);
        let scored: Vec<(f64, Vec<FieldEvidence>, Vec<compare::Comparison>)> = variants(candidate)
            .map(|v| {
                let compared = compare::compare(person, &v);
                let (weight, fields) = model::evidence(model, &compared, &tf);
                (weight, fields, compared)
            })
            .collect();
        // A disagreement vetoes only when no variant that has the field agrees on it: a
        // record that lacks the given name must not hide that every record naming the
        // person names someone else.
        for field in [Field::GivenName, Field::DateOfBirth] {
            let mut compared = scored
                .iter()
                .filter_map(|(_, _, c)| c.iter().find(|c| c.field == field && c.level.is_some()));
            let first = compared.next();
            if let Some(first) = first
                && vetoing(model, first)
                && compared.all(|c| vetoing(model, c))
            {
                vetoes.push(field.name());
            }
        }
        if let Some((weight, fields, compared)) =
            scored.into_iter().max_by(|a, b| a.0.total_cmp(&b.0))
        {
            let given = |field: Field| {
                fields.iter().any(|e| {
                    e.field == field.name() && e.comparison != FieldComparison::Missing as i32
                })
            };
            personal |= given(Field::GivenName)
                && given(Field::DateOfBirth)
                && tells_apart(&compared, unique_differs);
            trait_weight = weight;
            evidence.extend(fields);
        }
    }
    let weight: f64 = evidence.iter().map(|e| e.weight).sum();
    Scored {
        candidate: Candidate {
            customer_id: candidate.customer_id.clone(),
            score: probability(weight),
            evidence,
        },
        weight,
        trait_weight,
        holds_identifier,
        vetoes,
        personal,
    }
}

/// Whether a given name and a date of birth that both agree (at some level) also tell the
/// person from a namesake or a relative, which a near agreement alone does not: a birth date
/// a digit off with the address elsewhere is as likely a namesake in the same town as a
/// mistyped date of someone who moved, and a name variant ("Billy" for "William") beside a
/// different national id is as likely a twin as a nickname. So a date that is not the same
/// (or day and month read the other way) needs the street to agree, and beside a differing
/// once-per-person identifier the given name and the date must both be the same.
fn tells_apart(compared: &[compare::Comparison], unique_differs: bool) -> bool {
    let level = |field: Field| {
        compared
            .iter()
            .find(|c| c.field == field)
            .and_then(|c| c.level)
    };
    let same_date = level(Field::DateOfBirth).is_some_and(|l| l <= compare::date_level::TRANSPOSED);
    if unique_differs {
        return same_date
            && level(Field::GivenName) == Some(compare::name_level::EXACT)
            && level(Field::DateOfBirth) == Some(compare::date_level::EXACT);
    }
    same_date || level(Field::Street).is_some_and(|l| l <= compare::street_level::CLOSE)
}

/// Whether a trait disagreement forbids a match without a question: a given name that is
/// different (not a typo, nickname, initial or sound-alike: a twin, a sibling or a parent
/// shares everything else), or a date of birth that agrees on the year at most or only on
/// the day and month (a parent or child with the same name, a namesake born the same year).
fn vetoing(model: &Model, c: &compare::Comparison) -> bool {
    let Some(level) = c.level else { return false };
    match c.field {
        Field::GivenName => level + 1 == model.levels(c.field).len(),
        // Another year on the same birthday is a parent or child more often than a typo
        // (a one-digit slip in the year is a level of its own).
        Field::DateOfBirth => {
            level >= compare::date_level::SAME_YEAR
                || (level == compare::date_level::CLOSE && c.detail == "same day and month")
        }
        _ => false,
    }
}

/// The trait sets a profile is known by: its own and each source record's, standardized.
/// Traits sent twice (a profile's own usually equal its first record's) are standardized
/// once.
fn variants(profile: &Profile) -> impl Iterator<Item = Person> + '_ {
    let mut seen: Vec<&baton_proto::v1::PersonTraits> = Vec::new();
    profile
        .traits
        .iter()
        .chain(profile.records.iter().filter_map(|r| r.traits.as_ref()))
        .filter(move |t| {
            let new = !seen.contains(t);
            if new {
                seen.push(t);
            }
            new
        })
        .map(standardize::person)
        .filter(|p| !p.is_empty())
}

/// Every candidate scored, best first (ties by id, so answers are stable).
pub fn rank(mut scored: Vec<Scored>) -> Vec<Scored> {
    scored.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then_with(|| a.candidate.customer_id.cmp(&b.candidate.customer_id))
    });
    scored
}

/// What Resolve decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nobody comes close.
    New {
        /// Why, in words.
        reason: String,
    },
    /// This customer, without a question.
    Matched {
        /// The customer.
        customer_id: String,
        /// True when no presented identifier is on the customer: traits alone matched.
        by_traits: bool,
        /// Why, in words.
        reason: String,
    },
    /// A person must decide (or the customer answer the question).
    Ambiguous {
        /// Why, in words.
        reason: String,
    },
}

/// Decides from the ranked candidates (best first) and the identifiers' owners.
pub fn decide(ranked: &[Scored], owners: &[Option<String>]) -> Decision {
    let distinct: BTreeSet<&String> = owners.iter().flatten().collect();
    if distinct.len() > 1 {
        return Decision::Ambiguous {
            reason: format!(
                "the identifiers belong to {} different customers",
                distinct.len()
            ),
        };
    }
    if let Some(owner) = distinct.first() {
        let Some(held) = ranked.iter().find(|s| &&s.candidate.customer_id == owner) else {
            return Decision::Ambiguous {
                reason: "the identifier's customer could not be scored".to_owned(),
            };
        };
        if held.trait_weight <= CONTRADICTION {
            let fields = contradicting(held);
            return Decision::Ambiguous {
                reason: format!("the identifier matches but the {fields} contradict it"),
            };
        }
        if held
            .vetoes
            .iter()
            .any(|v| *v == "national_id" || *v == "login")
        {
            return Decision::Ambiguous {
                reason: format!(
                    "the identifier matches but the {} differs",
                    held.vetoes.join(" and ")
                ),
            };
        }
        if let Some(other) = ranked
            .iter()
            .find(|s| &&s.candidate.customer_id != owner && s.vetoes.is_empty())
            && other.weight >= MATCH_WEIGHT
            && other.weight > held.weight
        {
            return Decision::Ambiguous {
                reason: "the identifier names one customer but the traits fit another better"
                    .to_owned(),
            };
        }
        return Decision::Matched {
            customer_id: (*owner).clone(),
            by_traits: false,
            reason: "an identifier is linked to this customer".to_owned(),
        };
    }
    let Some(best) = ranked.first() else {
        return Decision::New {
            reason: "no candidate shares a blocking key".to_owned(),
        };
    };
    if best.weight < REVIEW_WEIGHT {
        return Decision::New {
            reason: format!(
                "the best candidate weighs {:.1}, below the review threshold {REVIEW_WEIGHT}",
                best.weight
            ),
        };
    }
    if best.weight >= MATCH_WEIGHT {
        if !best.vetoes.is_empty() {
            return Decision::Ambiguous {
                reason: format!(
                    "a candidate scores above the match threshold but its {} differs",
                    best.vetoes.join(" and ")
                ),
            };
        }
        if !best.personal {
            return Decision::Ambiguous {
                reason: "a candidate scores above the match threshold on what a household \
                         shares, without a personal identifier or both a given name and a date \
                         of birth to tell them from a relative"
                    .to_owned(),
            };
        }
        let runner_up = ranked.get(1).map_or(f64::NEG_INFINITY, |s| s.weight);
        if runner_up >= REVIEW_WEIGHT && best.weight - runner_up < MARGIN {
            return Decision::Ambiguous {
                reason: "two candidates score too close to tell apart".to_owned(),
            };
        }
        return Decision::Matched {
            customer_id: best.candidate.customer_id.clone(),
            by_traits: true,
            reason: format!(
                "one candidate above the match threshold ({:.1} >= {MATCH_WEIGHT})",
                best.weight
            ),
        };
    }
    Decision::Ambiguous {
        reason: format!(
            "the best candidate weighs {:.1}, between the review ({REVIEW_WEIGHT}) and match ({MATCH_WEIGHT}) thresholds",
            best.weight
        ),
    }
}

/// The trait fields that disagree on a candidate, in words ("given_name and date_of_birth").
fn contradicting(scored: &Scored) -> String {
    let fields: Vec<&str> = scored
        .candidate
        .evidence
        .iter()
        .filter(|e| e.comparison == FieldComparison::Mismatch as i32 && e.weight < 0.0)
        .filter(|e| Field::ALL.iter().any(|f| f.name() == e.field))
        .map(|e| e.field.as_str())
        .collect();
    if fields.is_empty() {
        "traits".to_owned()
    } else {
        fields.join(" and ")
    }
}

/// Identifier kinds a customer can be asked for, most separating first.
const ASKABLE: [IdentifierKind; 3] = [
    IdentifierKind::AccountNumber,
    IdentifierKind::Email,
    IdentifierKind::Phone,
];

/// The question that best tells the candidates apart: the trait or identifier the customer
/// has not given (or gave in contradiction) on which the candidates' records differ most,
/// asking the date of birth before the postal code before an identifier.
pub fn question(query: &Query<'_>, profiles: &[&Profile]) -> DisambiguationQuestion {
    let person = query.person.clone().unwrap_or_default();
    let on_record: Vec<Person> = profiles
        .iter()
        .map(|p| {
            p.traits
                .as_ref()
                .map(standardize::person)
                .unwrap_or_default()
        })
        .collect();
    let distinct = |f: &dyn Fn(&Person) -> String| -> usize {
        on_record
            .iter()
            .map(f)
            .filter(|v| !v.is_empty())
            .collect::<BTreeSet<_>>()
            .len()
    };
    let dobs = distinct(&|p| {
        p.date_of_birth
            .map(|d| format!("{}-{}-{}", d.year, d.month, d.day))
            .unwrap_or_default()
    });
    // Without a date of birth nothing tells a person from a namesake in the household, so
    // it is the question whenever a candidate has one on record.
    if person.date_of_birth.is_none() && dobs >= 1 {
        return ask("date_of_birth");
    }
    let postcodes = distinct(&|p| p.address.postal_code.clone());
    if person.address.postal_code.is_empty() && postcodes >= 2 {
        return ask("postal_code");
    }
    let presented: BTreeSet<IdentifierKind> =
        query.identifiers.iter().map(|n| n.key.kind).collect();
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
        None if person.date_of_birth.is_none() => ask("date_of_birth"),
        None => ask("account_number"),
    }
}

fn ask(field: &str) -> DisambiguationQuestion {
    let prompt = match field {
        "date_of_birth" => "What is your date of birth?",
        "postal_code" => "What is the postcode of your home address?",
        "account_number" => "What is your account number?",
        "email" => "What e-mail address do you use with us?",
        _ => "What phone number do you use with us?",
    };
    DisambiguationQuestion {
        field: field.to_owned(),
        prompt: prompt.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::{Identifier, IdentifierAssurance};
    use proptest::prelude::*;

    use super::*;

    fn scored(
        id: &str,
        weight: f64,
        trait_weight: f64,
        holds: bool,
        vetoes: &[&'static str],
    ) -> Scored {
        Scored {
            candidate: Candidate {
                customer_id: id.to_owned(),
                score: probability(weight),
                evidence: Vec::new(),
            },
            weight,
            trait_weight,
            holds_identifier: holds,
            vetoes: vetoes.to_vec(),
            personal: true,
        }
    }

    fn owner(id: &str) -> Vec<Option<String>> {
        vec![Some(id.to_owned())]
    }

    #[test]
    fn identifiers_on_two_customers_are_a_question() {
        let ranked = [
            scored("a", 9.0, 0.0, true, &[]),
            scored("b", 9.0, 0.0, true, &[]),
        ];
        let owners = [Some("a".to_owned()), Some("b".to_owned())];
        assert!(matches!(
            decide(&ranked, &owners),
            Decision::Ambiguous { .. }
        ));
    }

    #[test]
    fn an_identifier_matches_unless_the_traits_contradict_it() {
        let agreeing = [scored("a", 20.0, 11.0, true, &[])];
        assert!(matches!(
            decide(&agreeing, &owner("a")),
            Decision::Matched {
                by_traits: false,
                ..
            }
        ));
        let silent = [scored("a", 9.0, 0.0, true, &[])];
        assert!(matches!(
            decide(&silent, &owner("a")),
            Decision::Matched { .. }
        ));
        let contradicted = [scored(
            "a",
            0.0,
            -9.0,
            true,
            &["given_name", "date_of_birth"],
        )];
        assert!(matches!(
            decide(&contradicted, &owner("a")),
            Decision::Ambiguous { .. }
        ));
        let other_id = [scored("a", 3.0, 0.0, true, &["national_id"])];
        assert!(matches!(
            decide(&other_id, &owner("a")),
            Decision::Ambiguous { .. }
        ));
    }

    #[test]
    fn traits_match_alone_only_above_the_threshold_and_clear_of_the_next() {
        let none: Vec<Option<String>> = vec![None];
        let clear = [
            scored("a", 25.0, 25.0, false, &[]),
            scored("b", 8.0, 8.0, false, &[]),
        ];
        assert!(matches!(
            decide(&clear, &none),
            Decision::Matched {
                by_traits: true,
                ..
            }
        ));
        let close = [
            scored("a", 25.0, 25.0, false, &[]),
            scored("b", 23.0, 23.0, false, &[]),
        ];
        assert!(matches!(decide(&close, &none), Decision::Ambiguous { .. }));
        let vetoed = [scored("a", 25.0, 25.0, false, &["given_name"])];
        assert!(matches!(decide(&vetoed, &none), Decision::Ambiguous { .. }));
        let between = [scored(
            "a",
            (REVIEW_WEIGHT + MATCH_WEIGHT) / 2.0,
            0.0,
            false,
            &[],
        )];
        assert!(matches!(
            decide(&between, &none),
            Decision::Ambiguous { .. }
        ));
        let low = [scored("a", REVIEW_WEIGHT - 1.0, 0.0, false, &[])];
        assert!(matches!(decide(&low, &none), Decision::New { .. }));
        assert!(matches!(decide(&[], &none), Decision::New { .. }));
    }

    fn traits(given: &str, dob: Option<(u32, u32, u32)>) -> baton_proto::v1::PersonTraits {
        baton_proto::v1::PersonTraits {
            given_name: given.to_owned(),
            family_name: "Okafor".to_owned(),
            date_of_birth: dob.map(|(year, month, day)| baton_proto::v1::CalendarDate {
                year: year as i32,
                month: month as i32,
                day: day as i32,
            }),
            address: Some(baton_proto::v1::PostalAddress {
                lines: vec!["14 Wattle Street".to_owned()],
                locality: "Ballarat".to_owned(),
                region: "VIC".to_owned(),
                postal_code: "3350".to_owned(),
                country_code: "AU".to_owned(),
            }),
            ..Default::default()
        }
    }

    fn national_id(value: &str, assurance: IdentifierAssurance) -> Normalized {
        crate::normalize::identifier(&Identifier {
            kind: IdentifierKind::NationalId as i32,
            value: value.to_owned(),
            assurance: assurance as i32,
            ..Default::default()
        })
        .expect("a valid national id")
    }

    fn on_file(traits: baton_proto::v1::PersonTraits, id: &Normalized, verified: bool) -> Profile {
        Profile {
            customer_id: "c".to_owned(),
            traits: Some(traits),
            identifiers: vec![baton_proto::v1::LinkedIdentifier {
                identifier: Some(id.key.to_identifier(id.assurance)),
                verified,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn score_against(
        query: &[Normalized],
        traits: &baton_proto::v1::PersonTraits,
        p: &Profile,
    ) -> Scored {
        let owners = vec![None; query.len()];
        let q = Query {
            identifiers: query,
            owners: &owners,
            person: Some(standardize::person(traits)),
        };
        score(&Model::default(), &Frequencies::default(), &q, p)
    }

    #[test]
    fn a_near_agreement_tells_a_person_from_a_namesake_only_with_more_evidence() {
        let on_record = traits("William", Some((1944, 2, 16)));
        let profile = Profile {
            customer_id: "c".to_owned(),
            traits: Some(on_record.clone()),
            ..Default::default()
        };
        // The same person with a mistyped birth date, at the same address.
        let typo = score_against(&[], &traits("William", Some((1944, 2, 18))), &profile);
        assert!(typo.personal);
        // A namesake born two days later across town.
        let mut elsewhere = traits("William", Some((1944, 2, 18)));
        elsewhere.address.as_mut().expect("address").lines = vec!["3 Creek Road".to_owned()];
        let namesake = score_against(&[], &elsewhere, &profile);
        assert!(!namesake.personal, "a digit off, elsewhere in town");
        // The same date and name elsewhere: someone who moved.
        let mut moved = on_record.clone();
        moved.address.as_mut().expect("address").lines = vec!["3 Creek Road".to_owned()];
        assert!(score_against(&[], &moved, &profile).personal);

        // Beside a national id that differs, a nickname is not enough.
        let stored = national_id("530421871", IdentifierAssurance::Claimed);
        let typed = national_id("812207455", IdentifierAssurance::Claimed);
        let with_id = on_file(on_record.clone(), &stored, false);
        let nickname = score_against(
            std::slice::from_ref(&typed),
            &traits("Billy", Some((1944, 2, 16))),
            &with_id,
        );
        assert!(!nickname.personal, "a twin as likely as a nickname");
        let same = score_against(std::slice::from_ref(&typed), &on_record, &with_id);
        assert!(same.personal, "the same name and date: a mistyped id");
    }

    #[test]
    fn only_a_proven_national_id_that_differs_vetoes() {
        let person = traits("Ada", Some((1980, 3, 14)));
        let stored = national_id("530421871", IdentifierAssurance::Claimed);
        let typed = national_id("812207455", IdentifierAssurance::Claimed);
        let proven = national_id("812207455", IdentifierAssurance::Verified);
        let unproven = score_against(
            std::slice::from_ref(&typed),
            &person,
            &on_file(person.clone(), &stored, false),
        );
        assert!(unproven.vetoes.is_empty(), "{:?}", unproven.vetoes);
        let (_, disagree) = identifier_weights(IdentifierKind::NationalId);
        assert!(
            unproven.weight < unproven.trait_weight,
            "a different value weighs against"
        );
        assert!(disagree < 0.0);
        let presented = score_against(
            std::slice::from_ref(&proven),
            &person,
            &on_file(person.clone(), &stored, false),
        );
        assert_eq!(presented.vetoes, ["national_id"]);
        let held = score_against(
            std::slice::from_ref(&typed),
            &person,
            &on_file(person.clone(), &stored, true),
        );
        assert_eq!(held.vetoes, ["national_id"]);
    }

    #[test]
    fn household_agreement_alone_is_a_question() {
        let stored = national_id("530421871", IdentifierAssurance::Claimed);
        let on_record = on_file(traits("Ada", Some((1980, 3, 14))), &stored, false);
        let none: Vec<Option<String>> = vec![];
        // Name and address agree but the caller gave no date of birth: a parent or child
        // with the same name scores the same.
        let no_dob = traits("Ada", None);
        let s = score_against(&[], &no_dob, &on_record);
        assert!(!s.personal);
        assert!(
            s.weight >= MATCH_WEIGHT,
            "strong enough to match otherwise: {}",
            s.weight
        );
        assert!(matches!(decide(&[s], &none), Decision::Ambiguous { .. }));
        // The same with a date of birth, or with the national id, matches.
        let full = score_against(&[], &traits("Ada", Some((1980, 3, 14))), &on_record);
        assert!(full.personal);
        assert!(matches!(decide(&[full], &none), Decision::Matched { .. }));
        let presented = [stored];
        let held = [Some("c".to_owned())];
        let q = Query {
            identifiers: &presented,
            owners: &held,
            person: Some(standardize::person(&no_dob)),
        };
        let id = score(&Model::default(), &Frequencies::default(), &q, &on_record);
        assert!(id.personal, "the national id on file tells them apart");
    }

    #[test]
    fn term_frequencies_need_enough_profiles() {
        let mut f = Frequencies {
            profiles: 10,
            ..Default::default()
        };
        f.family.insert("smith".into(), 5);
        assert_eq!(f.share(Field::FamilyName, "smith"), None);
        f.profiles = 10_000;
        assert_eq!(f.share(Field::FamilyName, "smith"), Some(0.0005));
        assert_eq!(f.share(Field::FamilyName, "rare"), Some(0.0001));
        assert_eq!(f.share(Field::DateOfBirth, "x"), None);
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
        fn a_match_always_names_a_candidate_or_the_owner(
            weights in proptest::collection::vec(-30.0f64..40.0, 0..6),
            owned in proptest::option::of(0usize..6),
        ) {
            let ranked = rank(weights.iter().enumerate()
                .map(|(i, w)| scored(&format!("c{i}"), *w, *w, owned == Some(i), &[]))
                .collect());
            let owners: Vec<Option<String>> = vec![owned.filter(|i| *i < weights.len()).map(|i| format!("c{i}"))];
            if let Decision::Matched { customer_id, by_traits, .. } = decide(&ranked, &owners) {
                prop_assert!(ranked.iter().any(|s| s.candidate.customer_id == customer_id));
                if by_traits {
                    prop_assert!(owners[0].is_none());
                    prop_assert!(ranked[0].weight >= MATCH_WEIGHT);
                }
            }
        }
    }
}
