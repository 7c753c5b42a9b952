//! What a context token holds. One function builds every token routing mints (start,
//! transfer, channel switch), so every hop carries the same things.

use std::time::{Duration, SystemTime};

use baton_proto::v1::{ContextSnapshot, ContextToken, Recommendations};
use baton_runtime::time::to_timestamp;
use baton_token::{ISSUER, KeyRing, PAYLOAD_VERSION};

use crate::domain::record::ContactRecord;

/// What the dependencies contributed to a token: the context and recommendations fetched for
/// this hop, and what could not be fetched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenParts {
    /// The customer's context, when it could be read.
    pub snapshot: Option<ContextSnapshot>,
    /// Recommendations for this hop, when they could be made.
    pub recommendations: Option<Recommendations>,
    /// Why parts are missing ("context unavailable"); empty when nothing is.
    pub partial_reasons: Vec<String>,
}

/// Builds the token for the newest hop of `record`: its audience is the record's target, its
/// id the newest hop's token id, and its path every hop so far. Takes `parts` whole: the
/// snapshot can be large and is needed nowhere else once minted.
pub fn build_token(
    record: &ContactRecord,
    parts: TokenParts,
    issued_at: SystemTime,
    ttl: Duration,
) -> ContextToken {
    let contact = &record.contact;
    ContextToken {
        version: PAYLOAD_VERSION,
        token_id: contact
            .path
            .last()
            .map(|hop| hop.token_id.clone())
            .unwrap_or_default(),
        issuer: ISSUER.to_owned(),
        audience: record.target.clone(),
        issued_at: Some(to_timestamp(issued_at)),
        expires_at: Some(to_timestamp(issued_at + ttl)),
        tenant_id: contact.tenant_id.clone(),
        contact_id: contact.contact_id.clone(),
        customer_id: contact.customer_id.clone(),
        verification: contact.verification.clone(),
        path: contact.path.clone(),
        handover: contact.handover.clone(),
        context_version: parts.snapshot.as_ref().map_or(0, |s| s.version),
        context: parts.snapshot,
        recommendations: parts.recommendations,
        channel: contact.channel,
        partial: !parts.partial_reasons.is_empty(),
        partial_reasons: parts.partial_reasons,
        known_facts: record.known_facts.clone(),
        origin_traceparent: record.origin_traceparent.clone(),
        utterance: contact.utterance.clone(),
    }
}

/// Builds and seals the token for the newest hop of `record` with the ring's active key.
pub fn seal(
    keys: &KeyRing,
    record: &ContactRecord,
    parts: TokenParts,
    issued_at: SystemTime,
    ttl: Duration,
) -> Vec<u8> {
    keys.seal(&build_token(record, parts, issued_at, ttl))
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::{
        Channel, Contact, Hop, HopKind, Verification, VerificationLevel, audience::Target,
    };
    use baton_token::{Expectations, Opener};

    use super::*;
    use crate::domain::record::audience;

    #[test]
    fn a_sealed_token_opens_for_its_audience_with_the_path_and_verification() {
        let keys = KeyRing::generate("k1").expect("ring");
        let record = ContactRecord {
            contact: Contact {
                contact_id: "con_1".into(),
                tenant_id: "acme".into(),
                customer_id: "cust_1".into(),
                channel: Channel::Chat as i32,
                verification: Some(Verification {
                    level: VerificationLevel::Verified as i32,
                    ..Verification::default()
                }),
                path: vec![Hop {
                    index: 0,
                    kind: HopKind::Start as i32,
                    token_id: "tok_1".into(),
                    ..Hop::default()
                }],
                utterance: "my card is blocked".into(),
                ..Contact::default()
            },
            target: Some(audience(Target::Tier(2))),
            origin_traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
            ..ContactRecord::default()
        };
        let parts = TokenParts {
            partial_reasons: vec!["context unavailable".into()],
            ..TokenParts::default()
        };
        let now = SystemTime::now();
        let sealed = seal(&keys, &record, parts, now, Duration::from_secs(60));
        let opener = Opener::Agent {
            agent_id: "a".into(),
            tier: 2,
            queue_ids: vec![],
            channels: vec![],
        };
        let token = keys
            .open(
                &sealed,
                &Expectations {
                    tenant_id: "acme".into(),
                    opener,
                },
                now,
            )
            .expect("opens");
        assert_eq!(token.token_id, "tok_1");
        assert_eq!(token.issuer, ISSUER);
        assert_eq!(token.path.len(), 1);
        assert!(token.partial);
        assert_eq!(token.utterance, "my card is blocked");
        assert_eq!(
            token.origin_traceparent,
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        );
        assert_eq!(
            token.verification.map(|v| v.level),
            Some(VerificationLevel::Verified as i32)
        );
    }
}
