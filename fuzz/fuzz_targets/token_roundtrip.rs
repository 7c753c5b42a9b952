//! Any decodable `ContextToken`, given what opening requires (the payload version, a tenant,
//! an audience someone is in, both times), sealed and opened: it comes back unchanged, it is
//! refused exactly when its times are out of range, a supervisor of its tenant opens it too,
//! and it never opens for another tenant or once a byte of it changes.

#![no_main]

use baton_fuzz::token::{NOW_SECS, TENANT, TTL_SECS, assert_refused, nanos, now, now_nanos, ring};
use baton_proto::v1::audience::Target;
use baton_proto::v1::{Audience, Channel, ContextToken};
use baton_token::{CLOCK_SKEW_SECS, Expectations, OpenError, Opener, PAYLOAD_VERSION};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use prost_types::Timestamp;

/// An opener in the audience, or `None` for an audience that matches nobody (none, an empty
/// id, tier 0, an unknown or unspecified channel).
fn opener_in(audience: Option<&Audience>) -> Option<Opener> {
    let agent = |agent_id: &str, tier: u32, queue: Option<&str>| Opener::Agent {
        agent_id: agent_id.to_owned(),
        tier,
        queue_ids: queue.map(str::to_owned).into_iter().collect(),
        channels: Vec::new(),
    };
    match audience?.target.as_ref()? {
        Target::AgentId(id) => (!id.is_empty()).then(|| agent(id, 0, None)),
        Target::Tier(tier) => (*tier != 0).then(|| agent("", *tier, None)),
        Target::QueueId(queue) => (!queue.is_empty()).then(|| agent("", 0, Some(queue))),
        Target::Channel(raw) => Channel::try_from(*raw)
            .ok()
            .filter(|channel| *channel != Channel::Unspecified)
            .map(|channel| Opener::ChannelSystem { channel }),
    }
}

/// An opener in the token's audience, first giving a token whose audience matches nobody
/// agent `a-1` as its audience.
fn opener_for(token: &mut ContextToken) -> Opener {
    if let Some(opener) = opener_in(token.audience.as_ref()) {
        return opener;
    }
    token.audience = Some(Audience {
        target: Some(Target::AgentId("a-1".into())),
    });
    opener_in(token.audience.as_ref()).expect("agent a-1 is an audience")
}

fn ts(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp { seconds, nanos: 0 })
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(mut token) = ContextToken::decode(bytes) else {
        return;
    };
    token.version = PAYLOAD_VERSION;
    if token.tenant_id.is_empty() {
        token.tenant_id = TENANT.into();
    }
    if token.issued_at.is_none() || token.expires_at.is_none() {
        token.issued_at = ts(NOW_SECS);
        token.expires_at = ts(NOW_SECS + TTL_SECS);
    }
    let expect = Expectations {
        tenant_id: token.tenant_id.clone(),
        opener: opener_for(&mut token),
    };
    let ring = ring();

    // The times decide, read independently of how `open` normalizes them.
    let expires = nanos(token.expires_at.as_ref().expect("set above"));
    let issued = nanos(token.issued_at.as_ref().expect("set above"));
    let skew = i128::from(CLOCK_SKEW_SECS) * 1_000_000_000;
    match ring.open(&ring.seal(&token), &expect, now()) {
        Ok(opened) => {
            assert!(expires > now_nanos() && issued <= now_nanos() + skew);
            assert_eq!(opened.encode_to_vec(), token.encode_to_vec());
        }
        Err(err @ OpenError::Expired { .. }) => {
            assert!(expires <= now_nanos(), "refused as expired: {token:?}");
            assert_refused(&err);
        }
        Err(err @ OpenError::NotYetValid { .. }) => {
            assert!(
                expires > now_nanos() && issued > now_nanos() + skew,
                "refused as not yet valid: {token:?}"
            );
            assert_refused(&err);
        }
        Err(err) => panic!("an openable token was refused: {err}: {token:?}"),
    }

    // With times in range it opens, and only as sealed.
    token.issued_at = ts(NOW_SECS);
    token.expires_at = ts(NOW_SECS + TTL_SECS);
    let mut sealed = ring.seal(&token);
    match ring.open(&sealed, &expect, now()) {
        Ok(opened) => assert_eq!(opened.encode_to_vec(), token.encode_to_vec()),
        Err(err) => panic!("an openable token was refused: {err}: {token:?}"),
    }
    let other = Expectations {
        tenant_id: format!("{}-other", token.tenant_id),
        opener: expect.opener.clone(),
    };
    assert_eq!(
        ring.open(&sealed, &other, now()),
        Err(OpenError::WrongTenant)
    );
    let supervisor = Expectations {
        tenant_id: token.tenant_id.clone(),
        opener: Opener::Supervisor,
    };
    match ring.open(&sealed, &supervisor, now()) {
        Ok(opened) => assert_eq!(opened.encode_to_vec(), token.encode_to_vec()),
        Err(err) => panic!("a supervisor of the tenant was refused: {err}: {token:?}"),
    }
    let at = bytes.len() % sealed.len();
    sealed[at] ^= 0x01;
    match ring.open(&sealed, &expect, now()) {
        Ok(_) => panic!("a token with byte {at} changed was accepted"),
        Err(err) => assert_refused(&err),
    }
});
