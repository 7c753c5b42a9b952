//! How sure we are that the person on the contact is the customer Resolve named.
//!
//! Pure: the level follows from the identifiers that matched (with the assurance the channel
//! gave each) and the extra proofs the channel performed. Every other service carries the
//! result unchanged, so the rule lives in one place.

use baton_proto::v1::{
    Channel, IdentifierAssurance, IdentifierKind, Verification, VerificationLevel,
    VerificationMethod,
};
use prost_types::Timestamp;

/// The method an identifier contributes: a verified login is an authenticated session, any
/// other verified identifier was proved by a one-time passcode to it, and unproved
/// identifiers only say what the channel observed or the customer claimed.
pub fn method_for(kind: IdentifierKind, assurance: IdentifierAssurance) -> VerificationMethod {
    match assurance {
        IdentifierAssurance::Verified if kind == IdentifierKind::Login => {
            VerificationMethod::AuthenticatedSession
        }
        IdentifierAssurance::Verified => VerificationMethod::OneTimePasscode,
        IdentifierAssurance::Observed => VerificationMethod::ObservedIdentifier,
        IdentifierAssurance::Claimed | IdentifierAssurance::Unspecified => {
            VerificationMethod::ClaimedIdentifier
        }
    }
}

/// Whether a method proves identity rather than suggesting it.
pub fn is_strong(method: VerificationMethod) -> bool {
    !matches!(
        method,
        VerificationMethod::Unspecified
            | VerificationMethod::ClaimedIdentifier
            | VerificationMethod::ObservedIdentifier
            | VerificationMethod::MatchedTraits
    )
}

/// Rank for ordering methods strongest first (higher is stronger). An agent who checked
/// documents in person beats a login session, which beats a passcode (possession of one
/// device), which beats biometrics and knowledge answers (both can be phished or replayed).
fn strength(method: VerificationMethod) -> u8 {
    match method {
        VerificationMethod::AgentCheck => 7,
        VerificationMethod::AuthenticatedSession => 6,
        VerificationMethod::OneTimePasscode => 5,
        VerificationMethod::VoiceBiometric => 4,
        VerificationMethod::KnowledgeQuestions => 3,
        VerificationMethod::ObservedIdentifier => 2,
        VerificationMethod::ClaimedIdentifier | VerificationMethod::MatchedTraits => 1,
        VerificationMethod::Unspecified => 0,
    }
}

/// Every distinct method behind an identification, strongest first.
pub fn methods(
    matched: &[(IdentifierKind, IdentifierAssurance)],
    proofs: &[VerificationMethod],
) -> Vec<VerificationMethod> {
    let mut methods: Vec<VerificationMethod> = matched
        .iter()
        .map(|&(kind, assurance)| method_for(kind, assurance))
        .chain(proofs.iter().copied())
        .filter(|m| *m != VerificationMethod::Unspecified)
        .collect();
    methods.sort_by_key(|m| std::cmp::Reverse(strength(*m)));
    methods.dedup();
    methods
}

/// The level that `methods` reach: two or more distinct strong methods are STRONG, one is
/// VERIFIED, only claimed or observed identifiers are IDENTIFIED, and nothing is NONE.
pub fn level(methods: &[VerificationMethod]) -> VerificationLevel {
    let mut strong: Vec<VerificationMethod> =
        methods.iter().copied().filter(|m| is_strong(*m)).collect();
    strong.sort_by_key(|m| strength(*m));
    strong.dedup();
    match strong.len() {
        0 if methods.is_empty() => VerificationLevel::None,
        0 => VerificationLevel::Identified,
        1 => VerificationLevel::Verified,
        _ => VerificationLevel::Strong,
    }
}

/// The verification Resolve reports. `identifies` is false when nobody was named (an
/// ambiguous answer, or a lookup that found nothing): the level is then NONE whatever was
/// presented, because there is no customer to be verified as.
pub fn assess(
    identifies: bool,
    matched: &[(IdentifierKind, IdentifierAssurance)],
    proofs: &[VerificationMethod],
    channel: Channel,
    now: Timestamp,
) -> Verification {
    let (level, methods) = if identifies {
        let methods = methods(matched, proofs);
        (level(&methods), methods)
    } else {
        (VerificationLevel::None, Vec::new())
    };
    let verified_at = (level >= VerificationLevel::Verified).then_some(now);
    Verification {
        level: level as i32,
        methods: methods.into_iter().map(|m| m as i32).collect(),
        verified_at,
        channel: channel as i32,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    use IdentifierAssurance as A;
    use IdentifierKind as K;
    use VerificationLevel as L;
    use VerificationMethod as M;

    fn at() -> Timestamp {
        Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }
    }

    #[test]
    fn verified_login_is_an_authenticated_session() {
        let v = assess(true, &[(K::Login, A::Verified)], &[], Channel::App, at());
        assert_eq!(v.level, L::Verified as i32);
        assert_eq!(v.methods, [M::AuthenticatedSession as i32]);
        assert_eq!(v.verified_at, Some(at()));
        assert_eq!(v.channel, Channel::App as i32);
    }

    #[test]
    fn caller_id_alone_only_identifies() {
        let v = assess(true, &[(K::Phone, A::Observed)], &[], Channel::Voice, at());
        assert_eq!(v.level, L::Identified as i32);
        assert_eq!(v.methods, [M::ObservedIdentifier as i32]);
        assert_eq!(v.verified_at, None);
    }

    #[test]
    fn two_distinct_proofs_are_strong_and_sorted_strongest_first() {
        let v = assess(
            true,
            &[(K::Phone, A::Observed), (K::Email, A::Verified)],
            &[M::KnowledgeQuestions],
            Channel::Voice,
            at(),
        );
        assert_eq!(v.level, L::Strong as i32);
        assert_eq!(
            v.methods,
            [
                M::OneTimePasscode as i32,
                M::KnowledgeQuestions as i32,
                M::ObservedIdentifier as i32
            ]
        );
    }

    #[test]
    fn the_same_proof_twice_is_one_factor() {
        let v = assess(
            true,
            &[(K::Email, A::Verified), (K::Phone, A::Verified)],
            &[M::OneTimePasscode],
            Channel::Chat,
            at(),
        );
        assert_eq!(v.level, L::Verified as i32);
        assert_eq!(v.methods, [M::OneTimePasscode as i32]);
    }

    #[test]
    fn nobody_named_is_none_whatever_was_shown() {
        let v = assess(
            false,
            &[(K::Login, A::Verified)],
            &[M::AgentCheck],
            Channel::Voice,
            at(),
        );
        assert_eq!(v.level, L::None as i32);
        assert!(v.methods.is_empty());
        assert_eq!(v.verified_at, None);
        assert_eq!(level(&[]), L::None);
    }

    fn method() -> impl Strategy<Value = VerificationMethod> {
        (1i32..=7).prop_map(|n| VerificationMethod::try_from(n).unwrap_or(M::ClaimedIdentifier))
    }

    fn presented() -> impl Strategy<Value = (IdentifierKind, IdentifierAssurance)> {
        (1i32..=7, 0i32..=3).prop_map(|(k, a)| {
            (
                IdentifierKind::try_from(k).unwrap_or(K::Phone),
                IdentifierAssurance::try_from(a).unwrap_or(A::Claimed),
            )
        })
    }

    proptest! {
        #[test]
        fn more_evidence_never_lowers_the_level(
            matched in proptest::collection::vec(presented(), 0..5),
            proofs in proptest::collection::vec(method(), 0..4),
            extra in method(),
        ) {
            let before = level(&methods(&matched, &proofs));
            let mut more = proofs.clone();
            more.push(extra);
            let after = level(&methods(&matched, &more));
            prop_assert!(after >= before);
        }

        #[test]
        fn methods_are_distinct_and_strongest_first(
            matched in proptest::collection::vec(presented(), 0..6),
            proofs in proptest::collection::vec(method(), 0..6),
        ) {
            let ms = methods(&matched, &proofs);
            for pair in ms.windows(2) {
                prop_assert!(strength(pair[0]) > strength(pair[1]));
            }
            let strong = ms.iter().filter(|m| is_strong(**m)).count();
            let expected = match strong {
                0 if ms.is_empty() => L::None,
                0 => L::Identified,
                1 => L::Verified,
                _ => L::Strong,
            };
            prop_assert_eq!(level(&ms), expected);
        }
    }
}
