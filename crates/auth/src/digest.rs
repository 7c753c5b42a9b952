//! What an idempotency key is bound to: a digest of the request it first came with.
//!
//! A retry carries the same key and the same request, and gets the first answer. The same key
//! with a different request is a client bug or a replay, and is refused, never answered with
//! the first request's result.

use sha2::{Digest as _, Sha256};

/// A request's digest: SHA-256 of its protobuf encoding.
pub type RequestDigest = [u8; 32];

/// The digest of `request` (prost encodes a message's fields in field order, so one message
/// always encodes to the same bytes).
pub fn of(request: &impl prost::Message) -> RequestDigest {
    Sha256::digest(request.encode_to_vec()).into()
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::GetProfileRequest;

    use super::*;

    #[test]
    fn equal_requests_have_equal_digests_and_others_differ() {
        let a = GetProfileRequest {
            tenant_id: "acme".into(),
            customer_id: "c1".into(),
        };
        let mut b = a.clone();
        assert_eq!(of(&a), of(&b));
        b.customer_id = "c2".into();
        assert_ne!(of(&a), of(&b));
    }
}
