//! Every identifier normalizer on arbitrary text (see `baton_fuzz::identifier` for the input
//! format): never a panic; the output is a fixed point, of the shape its kind promises; and
//! the stored form of a normalized identifier normalizes to the same key.

#![no_main]

use baton_fuzz::identifier::{assert_stored_form_matches, parse};
use baton_identity::normalize;
use baton_proto::v1::IdentifierKind;
use libfuzzer_sys::fuzz_target;

/// What each kind's normalized value looks like.
fn assert_shape(kind: IdentifierKind, value: &str) {
    match kind {
        IdentifierKind::Phone => {
            let digits = value.strip_prefix('+').unwrap_or_default();
            assert!(
                !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
                "not E.164: {value:?}"
            );
            // E.164 carries its country code: the default region no longer matters.
            assert_eq!(normalize::phone(value, "JP").as_deref(), Ok(value));
        }
        IdentifierKind::Email => {
            let (local, domain) = value.split_once('@').expect("an address has an '@'");
            assert!(!local.is_empty() && !local.contains('+'), "{value:?}");
            assert!(!domain.contains('@'), "{value:?}");
        }
        IdentifierKind::AccountNumber | IdentifierKind::NationalId => assert!(
            value
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
            "{value:?}"
        ),
        IdentifierKind::SocialHandle => assert!(
            !value.starts_with('@') && value.trim() == value,
            "{value:?}"
        ),
        IdentifierKind::CrmId | IdentifierKind::Login | IdentifierKind::Device => {
            assert_eq!(value.trim(), value);
        }
        IdentifierKind::Unspecified => panic!("an unspecified kind normalized to {value:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(raw) = parse(data) else {
        return;
    };
    if let Ok(kind) = IdentifierKind::try_from(raw.kind) {
        if let Ok(once) = normalize::value(kind, &raw.value, &raw.default_region) {
            assert!(!once.is_empty());
            assert_eq!(
                normalize::value(kind, &once, &raw.default_region).as_ref(),
                Ok(&once),
                "normalizing {once:?} again changes it"
            );
            assert_shape(kind, &once);
        }
        let namespace = normalize::namespace(kind, &raw.namespace);
        assert_eq!(normalize::namespace(kind, &namespace), namespace);
    }
    match normalize::identifier(&raw) {
        Ok(normalized) => assert_stored_form_matches(&normalized),
        Err(invalid) => {
            assert!(
                ["kind", "value", "namespace", "assurance", "default_region"]
                    .contains(&invalid.field),
                "{invalid:?}"
            );
            assert!(!invalid.problem.is_empty());
        }
    }
});
