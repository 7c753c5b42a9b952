//! What a context token holds. One function builds every token routing mints (start,
//! transfer, channel switch), so every hop carries the same things.

use std::time::{Duration, SystemTime};

use baton_proto::v1::{Channel, ContextSnapshot, ContextToken, Recommendations, audience::Target};
use baton_runtime::time::{from_timestamp, to_timestamp};
use baton_token::{Expectations, ISSUER, KeyRing, OpenError, Opener, PAYLOAD_VERSION};

use crate::domain::record::{ContactRecord, audience};

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

/// Why an offer's token lacks the hop's context: the hop's token no longer opened (its key was
/// retired), so the offer's was built from the record alone.
pub const HOP_TOKEN_UNREADABLE: &str = "hop token unreadable";

/// The token an offer of `record` to `agent_id` carries: the hop's token (its newest, whose
/// audience is the hop's target) addressed to that one agent, issued now, sealed with the
/// active key. A re-offer to another agent gets a token of its own, so an offer's token opens
/// for the agent it was offered to and for no other agent of the tier or queue.
///
/// Routing opens its own hop token to re-address it: as the hop's audience, at the hop's time
/// (a contact may wait longer than a token lives). When that fails, the token is built from
/// the record without the hop's context and recommendations, and says so.
pub fn for_offer(
    keys: &KeyRing,
    record: &ContactRecord,
    agent_id: &str,
    issued_at: SystemTime,
    ttl: Duration,
) -> Vec<u8> {
    let addressed = Some(audience(Target::AgentId(agent_id.to_owned())));
    let mut token = match open_hop_token(keys, record) {
        Ok(token) => token,
        Err(err) => {
            tracing::warn!(
                contact = %record.contact_id(),
                check = err.check(),
                "hop token does not open, offering a token without its context"
            );
            let parts = TokenParts {
                partial_reasons: vec![HOP_TOKEN_UNREADABLE.to_owned()],
                ..TokenParts::default()
            };
            build_token(record, parts, issued_at, ttl)
        }
    };
    token.audience = addressed;
    token.issued_at = Some(to_timestamp(issued_at));
    token.expires_at = Some(to_timestamp(issued_at + ttl));
    keys.seal(&token)
}

/// Opens `record`'s newest token as its own audience would, at the time of the hop it was
/// minted for.
fn open_hop_token(keys: &KeyRing, record: &ContactRecord) -> Result<ContextToken, OpenError> {
    let hop = record.contact.path.last();
    let at = hop
        .and_then(|h| h.at.as_ref())
        .map_or_else(SystemTime::now, from_timestamp);
    let target = record.target().or_else(|| {
        hop.and_then(|h| h.to.as_ref())
            .and_then(|a| a.target.as_ref())
    });
    let opener = match target {
        Some(Target::Channel(channel)) => Opener::ChannelSystem {
            channel: Channel::try_from(*channel).unwrap_or(Channel::Unspecified),
        },
        Some(Target::AgentId(agent_id)) => Opener::Agent {
            agent_id: agent_id.clone(),
            tier: 0,
            queue_ids: Vec::new(),
            channels: Vec::new(),
        },
        Some(Target::Tier(tier)) => Opener::Agent {
            agent_id: String::new(),
            tier: *tier,
            queue_ids: Vec::new(),
            channels: Vec::new(),
        },
        Some(Target::QueueId(queue_id)) => Opener::Agent {
            agent_id: String::new(),
            tier: 0,
            queue_ids: vec![queue_id.clone()],
            channels: Vec::new(),
        },
        None => {
            return Err(OpenError::WrongAudience {
                reason: "token names no audience",
            });
        }
    };
    let expect = Expectations {
        tenant_id: record.tenant_id().to_owned(),
        opener,
    };
    keys.open(&record.token, &expect, at)
}

#[cfg(test)]
mod tests {
    use baton_proto::v1::{
        Contact, ContextSnapshot, Hop, HopKind, Verification, VerificationLevel,
    };
    use baton_token::Key;

    use super::*;

    fn agent(agent_id: &str, tier: u32) -> Opener {
        Opener::Agent {
            agent_id: agent_id.into(),
            tier,
            queue_ids: vec!["billing".into()],
            channels: vec![Channel::Voice],
        }
    }

    fn open_as(
        keys: &KeyRing,
        sealed: &[u8],
        opener: Opener,
        now: SystemTime,
    ) -> Result<ContextToken, OpenError> {
        let expect = Expectations {
            tenant_id: "acme".into(),
            opener,
        };
        keys.open(sealed, &expect, now)
    }

    /// A contact waiting for tier 1 whose start hop was at `at`, with its sealed token.
    fn waiting(keys: &KeyRing, target: Target, at: SystemTime) -> ContactRecord {
        let mut record = ContactRecord {
            contact: Contact {
                contact_id: "con_1".into(),
                tenant_id: "acme".into(),
                channel: Channel::Voice as i32,
                path: vec![Hop {
                    kind: HopKind::Start as i32,
                    at: Some(to_timestamp(at)),
                    to: Some(audience(target.clone())),
                    token_id: "tok_1".into(),
                    ..Hop::default()
                }],
                ..Contact::default()
            },
            target: Some(audience(target)),
            ..ContactRecord::default()
        };
        let parts = TokenParts {
            snapshot: Some(ContextSnapshot {
                version: 7,
                ..ContextSnapshot::default()
            }),
            ..TokenParts::default()
        };
        record.token = seal(keys, &record, parts, at, Duration::from_secs(60));
        record
    }

    #[test]
    fn an_offer_token_opens_for_the_agent_offered_to_and_no_other_of_its_tier() {
        let keys = KeyRing::generate("k1").expect("ring");
        let now = SystemTime::now();
        for target in [
            Target::Tier(1),
            Target::QueueId("billing".into()),
            Target::Channel(Channel::Voice as i32),
            Target::AgentId("ann".into()),
        ] {
            let record = waiting(&keys, target.clone(), now);
            let sealed = for_offer(&keys, &record, "ann", now, Duration::from_secs(60));
            let token = open_as(&keys, &sealed, agent("ann", 1), now).expect("ann opens");
            assert_eq!(token.token_id, "tok_1", "{target:?}");
            assert_eq!(token.context_version, 7, "the hop's context is kept");
            assert!(!token.partial);
            let refused = open_as(&keys, &sealed, agent("bob", 1), now).expect_err("bob");
            assert!(
                matches!(
                    refused,
                    OpenError::WrongAudience {
                        reason: "token is for another agent"
                    }
                ),
                "{target:?}: {refused:?}"
            );
            let gateway = Opener::ChannelSystem {
                channel: Channel::Voice,
            };
            assert!(open_as(&keys, &sealed, gateway, now).is_err(), "{target:?}");
        }
    }

    #[test]
    fn a_contact_that_waited_longer_than_a_token_lives_is_offered_a_fresh_token() {
        let keys = KeyRing::generate("k1").expect("ring");
        let started = SystemTime::now() - Duration::from_secs(3600);
        let record = waiting(&keys, Target::Tier(1), started);
        let now = SystemTime::now();
        assert!(
            open_as(&keys, &record.token, agent("ann", 1), now).is_err(),
            "the hop's token has expired"
        );
        let sealed = for_offer(&keys, &record, "ann", now, Duration::from_secs(60));
        let token = open_as(&keys, &sealed, agent("ann", 1), now).expect("opens now");
        assert_eq!(token.context_version, 7);
    }

    #[test]
    fn an_offer_token_is_sealed_with_the_newest_key_and_without_its_hop_says_so() {
        let mut keys = KeyRing::generate("old").expect("ring");
        let now = SystemTime::now();
        let record = waiting(&keys, Target::Tier(1), now);
        keys.push("new", Key::generate()).expect("rotate");
        let sealed = for_offer(&keys, &record, "ann", now, Duration::from_secs(60));
        let only_new = KeyRing::new("new", Key::from_bytes([0; 32])).expect("ring");
        assert!(
            open_as(&only_new, &sealed, agent("ann", 1), now).is_err(),
            "a different key of the same id does not open it"
        );
        assert_eq!(&sealed[5..8], b"new", "sealed with the newest key");

        // A hop token nobody can open any more: the offer still carries a token, without the
        // hop's context, and says why.
        let retired = KeyRing::generate("other").expect("ring");
        let sealed = for_offer(&retired, &record, "ann", now, Duration::from_secs(60));
        let token = open_as(&retired, &sealed, agent("ann", 1), now).expect("opens");
        assert!(token.partial);
        assert_eq!(token.partial_reasons, [HOP_TOKEN_UNREADABLE]);
        assert_eq!(token.contact_id, "con_1");
        assert!(open_as(&retired, &sealed, agent("bob", 1), now).is_err());
    }

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
