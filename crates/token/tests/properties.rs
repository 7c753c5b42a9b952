//! Properties of opening: no input panics, and no change to a sealed token gets through.

mod common;

use baton_proto::v1::audience::Target;
use baton_token::{KeyRing, OpenError};
use common::*;
use proptest::prelude::*;

fn ring() -> KeyRing {
    KeyRing::parse("k1=AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=").expect("valid spec")
}

proptest! {
    #[test]
    fn open_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(ring().open(&bytes, &agent(), now()).is_err());
    }

    #[test]
    fn open_never_panics_past_the_header(
        kid_len in any::<u8>(),
        rest in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        // A well-formed prefix naming the known key, so the seal check sees the random bytes.
        let mut bytes = b"BTN\x01".to_vec();
        bytes.push(kid_len);
        bytes.extend_from_slice(b"k1");
        bytes.extend_from_slice(&rest);
        let result = ring().open(&bytes, &agent(), now());
        prop_assert!(result.is_err());
        if kid_len == 2 && rest.len() >= 24 + 16 {
            prop_assert_eq!(result, Err(OpenError::Tampered));
        }
    }

    #[test]
    fn any_single_byte_change_is_refused(index in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let ring = ring();
        let mut sealed = ring.seal(&token());
        let at = index.index(sealed.len());
        sealed[at] ^= xor;
        prop_assert!(ring.open(&sealed, &agent(), now()).is_err());
    }

    #[test]
    fn any_truncation_or_extension_is_refused(
        cut in any::<prop::sample::Index>(),
        extra in proptest::collection::vec(any::<u8>(), 1..32),
    ) {
        let ring = ring();
        let sealed = ring.seal(&token());
        let len = cut.index(sealed.len());
        prop_assert!(ring.open(&sealed[..len], &agent(), now()).is_err());
        let mut longer = sealed.clone();
        longer.extend_from_slice(&extra);
        prop_assert!(ring.open(&longer, &agent(), now()).is_err());
    }

    #[test]
    fn round_trip_holds_for_any_text(
        summary in any::<String>(),
        utterance in any::<String>(),
        queue in "[a-z]{1,12}",
    ) {
        let ring = ring();
        let mut token = token_for(Target::QueueId(queue.clone()));
        if let Some(handover) = token.handover.as_mut() {
            handover.summary = summary;
        }
        token.utterance = utterance;
        let mut expect = agent();
        if let baton_token::Opener::Agent { queue_ids, .. } = &mut expect.opener {
            *queue_ids = vec![queue];
        }
        prop_assert_eq!(ring.open(&ring.seal(&token), &expect, now()), Ok(token));
    }
}
