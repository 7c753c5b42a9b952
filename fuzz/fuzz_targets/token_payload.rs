//! Arbitrary bytes as the payload of an authentic token (sealed with the ring's active key),
//! opened: the payload, expiry, tenant and audience checks see any input, and authentic bytes
//! never fail the structure, key or seal checks.

#![no_main]

use baton_fuzz::token::{open_as_each, ring, seal_payload};
use baton_proto::v1::ContextToken;
use baton_token::{OpenError, PAYLOAD_VERSION};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;

fuzz_target!(|payload: &[u8]| {
    let decoded = ContextToken::decode(payload).ok();
    for answer in open_as_each(&ring(), &seal_payload(payload)) {
        match answer {
            // Accepted as it was sealed: nothing added, nothing lost but unknown fields.
            Ok(token) => match &decoded {
                Some(decoded) => assert_eq!(token.encode_to_vec(), decoded.encode_to_vec()),
                None => panic!("a payload that does not decode was accepted"),
            },
            Err(err @ (OpenError::UnknownKey { .. } | OpenError::Tampered)) => {
                panic!("an authentic token failed the key or seal check: {err}")
            }
            // Only the payload can be malformed: the header is the documented one.
            Err(OpenError::Malformed { reason }) => assert!(
                decoded.as_ref().is_none_or(|t| t.version != PAYLOAD_VERSION
                    || t.issued_at.is_none()
                    || t.expires_at.is_none()),
                "a well-formed payload was refused as malformed: {reason}"
            ),
            Err(_) => {}
        }
    }
});
