//! Shared fixtures: a clock, a fully populated token, and openers.

#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use baton_proto::v1::{
    Actor, ActorKind, Audience, Channel, ContextSnapshot, ContextToken, Greeting, Handover, Hop,
    HopKind, KnownFact, Recommendations, Tenure, Verification, VerificationLevel,
    VerificationMethod, audience::Target,
};
use baton_token::{Expectations, ISSUER, Opener, PAYLOAD_VERSION};
use prost_types::Timestamp;

/// The fixed "now" every test opens at.
pub const NOW_SECS: u64 = 1_700_000_000;
/// How long fixture tokens live.
pub const TTL_SECS: u64 = 300;

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

pub fn ts(secs: u64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: secs as i64,
        nanos: 0,
    })
}

/// A token with every field set to a non-default value, for the audience given.
pub fn token_for(target: Target) -> ContextToken {
    ContextToken {
        version: PAYLOAD_VERSION,
        token_id: "tok-1".into(),
        issuer: ISSUER.into(),
        audience: Some(Audience {
            target: Some(target.clone()),
        }),
        issued_at: ts(NOW_SECS),
        expires_at: ts(NOW_SECS + TTL_SECS),
        tenant_id: "acme".into(),
        contact_id: "c-42".into(),
        customer_id: "cust-7".into(),
        verification: Some(Verification {
            level: VerificationLevel::Verified as i32,
            methods: vec![VerificationMethod::OneTimePasscode as i32],
            verified_at: ts(NOW_SECS - 60),
            channel: Channel::Chat as i32,
        }),
        path: vec![Hop {
            index: 0,
            kind: HopKind::Start as i32,
            at: ts(NOW_SECS - 120),
            channel: Channel::Chat as i32,
            to: Some(Audience {
                target: Some(target),
            }),
            from_agent_id: "a-0".into(),
            token_id: "tok-0".into(),
        }],
        handover: Some(Handover {
            summary: "card declined twice".into(),
            reason: "needs billing".into(),
            intent: "billing.dispute".into(),
            from: Some(Actor {
                kind: ActorKind::Agent as i32,
                id: "a-0".into(),
            }),
            at: ts(NOW_SECS - 5),
        }),
        context: Some(ContextSnapshot {
            customer_id: "cust-7".into(),
            version: 17,
            tenure: Some(Tenure {
                customer_since: ts(1_400_000_000),
                contact_count: 12,
                ..Default::default()
            }),
            truncated: true,
            ..Default::default()
        }),
        recommendations: Some(Recommendations {
            offers_suppressed_reason: "open complaint".into(),
            greeting: Some(Greeting {
                text: "Welcome back".into(),
                facts: vec!["customer for 10 years".into()],
            }),
            model_version: "m-3".into(),
            ..Default::default()
        }),
        context_version: 17,
        channel: Channel::Voice as i32,
        partial: true,
        partial_reasons: vec!["recommendations unavailable".into()],
        known_facts: vec![KnownFact {
            field: "email".into(),
            value: "j***@example.com".into(),
            source: "profile".into(),
            verified: true,
            recorded_at: ts(NOW_SECS - 86_400),
        }],
        origin_traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        utterance: "my card was charged twice".into(),
    }
}

/// The fixture token, addressed to agent `a-1`.
pub fn token() -> ContextToken {
    token_for(Target::AgentId("a-1".into()))
}

/// Agent `a-1`, tier 2, queue `billing`, channel chat, in tenant `acme`.
pub fn agent() -> Expectations {
    Expectations {
        tenant_id: "acme".into(),
        opener: Opener::Agent {
            agent_id: "a-1".into(),
            tier: 2,
            queue_ids: vec!["billing".into()],
            channels: vec![Channel::Chat],
        },
    }
}

/// A voice IVR in tenant `acme`.
pub fn ivr() -> Expectations {
    Expectations {
        tenant_id: "acme".into(),
        opener: Opener::ChannelSystem {
            channel: Channel::Voice,
        },
    }
}

/// Offset of the first nonce byte for a key id of `kid_len` bytes.
pub fn nonce_offset(kid_len: usize) -> usize {
    3 + 1 + 1 + kid_len
}
