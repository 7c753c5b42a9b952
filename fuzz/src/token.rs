//! The fixed key ring, clock and openers of the token targets, and the checks of whatever
//! [`KeyRing::open`] answers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use baton_proto::v1::{Channel, ContextToken};
use baton_token::{
    CLOCK_SKEW_SECS, Expectations, FORMAT_VERSION, KEY_LEN, Key, KeyRing, MAGIC, NONCE_LEN,
    OpenError, Opener, PAYLOAD_VERSION,
};
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use prost::Message as _;
use prost_types::Timestamp;
use tonic::Code;

use crate::status::assert_transmittable;

/// The fixed "now" every token is opened at, so sealed seeds never expire.
pub const NOW_SECS: i64 = 1_700_000_000;
/// How long the seed tokens live.
pub const TTL_SECS: i64 = 300;
/// The tenant the openers act for.
pub const TENANT: &str = "acme";
/// The id of the active key, which seals new tokens.
pub const ACTIVE_KID: &str = "k1";
/// The active key.
pub const ACTIVE_KEY: [u8; KEY_LEN] = [1; KEY_LEN];
/// The id of the older key, kept so the tokens it sealed still open during a rotation.
pub const RETIRING_KID: &str = "k0";
/// The older key.
pub const RETIRING_KEY: [u8; KEY_LEN] = [2; KEY_LEN];

/// The ring every target opens with: the retiring key, then the active one.
///
/// # Panics
///
/// Never: both key ids are valid and distinct.
pub fn ring() -> KeyRing {
    let mut ring = retiring_ring();
    ring.push(ACTIVE_KID, Key::from_bytes(ACTIVE_KEY))
        .expect("a valid, new key id");
    ring
}

/// A ring holding only the retiring key, as before the rotation: seals tokens that [`ring`]
/// must still open.
///
/// # Panics
///
/// Never: the key id is valid.
pub fn retiring_ring() -> KeyRing {
    KeyRing::new(RETIRING_KID, Key::from_bytes(RETIRING_KEY)).expect("a valid key id")
}

/// The fixed clock.
pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECS.unsigned_abs())
}

/// Agent `a-1`, tier 2, queue `billing`, channel chat, in tenant `acme`.
pub fn agent() -> Expectations {
    Expectations {
        tenant_id: TENANT.into(),
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
        tenant_id: TENANT.into(),
        opener: Opener::ChannelSystem {
            channel: Channel::Voice,
        },
    }
}

/// A supervisor of tenant `acme`: in every audience a token can name.
pub fn supervisor() -> Expectations {
    Expectations {
        tenant_id: TENANT.into(),
        opener: Opener::Supervisor,
    }
}

/// Opens `sealed` as an agent, a channel system and a supervisor of one tenant, checks each
/// answer with [`assert_accepted`] or [`assert_refused`], and checks that the answers agree:
/// the checks before the audience do not depend on who opens, and a supervisor opens whatever
/// the others open. Returns the answers in that order.
///
/// # Panics
///
/// When an answer is wrong or the answers disagree.
pub fn open_as_each(ring: &KeyRing, sealed: &[u8]) -> [Result<ContextToken, OpenError>; 3] {
    let answers = [agent(), ivr(), supervisor()].map(|expect| {
        let answer = ring.open(sealed, &expect, now());
        match &answer {
            Ok(token) => assert_accepted(ring, token, &expect),
            Err(err) => assert_refused(err),
        }
        answer
    });
    let [agent, ivr, supervisor] = &answers;
    for other in [agent, ivr] {
        match (other, supervisor) {
            (Ok(token), Ok(opened)) => assert_eq!(token.encode_to_vec(), opened.encode_to_vec()),
            (Ok(_), Err(err)) => panic!("a supervisor was refused a token an agent opens: {err}"),
            (Err(OpenError::WrongAudience { .. }), _) => {}
            (Err(err), answer) => assert_eq!(answer.as_ref().err(), Some(err)),
        }
    }
    answers
}

/// `payload` sealed with the active key in the sealed format `baton-token` documents (the
/// nonce is zeros: these bytes are never a secret), so that opening it passes the structure,
/// key and seal checks whatever the payload is.
///
/// # Panics
///
/// Never for a payload a fuzzer produces: the cipher's limit is about 256 GiB.
pub fn seal_payload(payload: &[u8]) -> Vec<u8> {
    let mut sealed = MAGIC.to_vec();
    sealed.push(FORMAT_VERSION);
    sealed.push(ACTIVE_KID.len() as u8);
    sealed.extend_from_slice(ACTIVE_KID.as_bytes());
    let nonce = [0; NONCE_LEN];
    sealed.extend_from_slice(&nonce);
    let ciphertext = XChaCha20Poly1305::new(&ACTIVE_KEY.into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: payload,
                aad: &sealed,
            },
        )
        .expect("a fuzz input is far below the cipher's message size limit");
    sealed.extend_from_slice(&ciphertext);
    sealed
}

/// A timestamp as nanoseconds since the epoch, without normalizing it first: an independent
/// reading of what "later than" means for the expiry checks.
pub fn nanos(ts: &Timestamp) -> i128 {
    i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos)
}

/// [`NOW_SECS`] in nanoseconds.
pub fn now_nanos() -> i128 {
    i128::from(NOW_SECS) * 1_000_000_000
}

/// Checks a token `ring` opened for `expect`: it passed every check `open` documents, and
/// sealing it again opens to the same token.
///
/// # Panics
///
/// When a check was skipped or the token changes on the way.
pub fn assert_accepted(ring: &KeyRing, token: &ContextToken, expect: &Expectations) {
    assert_eq!(token.version, PAYLOAD_VERSION);
    assert!(!token.tenant_id.is_empty());
    assert_eq!(token.tenant_id, expect.tenant_id);
    let (Some(issued_at), Some(expires_at)) = (&token.issued_at, &token.expires_at) else {
        panic!("a token without both times was accepted: {token:?}");
    };
    assert!(nanos(expires_at) > now_nanos(), "expired: {token:?}");
    let latest = now_nanos() + i128::from(CLOCK_SKEW_SECS) * 1_000_000_000;
    assert!(
        nanos(issued_at) <= latest,
        "issued in the future: {token:?}"
    );
    assert!(
        token.audience.as_ref().is_some_and(|a| a.target.is_some()),
        "a token without an audience was accepted: {token:?}"
    );
    match ring.open(&ring.seal(token), expect, now()) {
        Ok(again) => assert_eq!(again.encode_to_vec(), token.encode_to_vec()),
        Err(err) => panic!("an accepted token sealed again does not open: {err}"),
    }
}

/// Checks a refusal: a label for metrics, a message, and the status code `baton-token`
/// documents for the check that failed, in a status that reaches the caller intact.
///
/// # Panics
///
/// When the refusal maps to the wrong code or cannot be sent.
pub fn assert_refused(err: &OpenError) {
    assert!(!err.check().is_empty());
    assert!(!err.to_string().is_empty());
    let status = tonic::Status::from(err.clone());
    let expected = if err.is_permission_denied() {
        Code::PermissionDenied
    } else {
        Code::Unauthenticated
    };
    assert_eq!(status.code(), expected, "{err:?}");
    assert_transmittable(&status);
}
