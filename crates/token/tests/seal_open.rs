//! Sealing and opening: the round trip, and one test per refused check.

mod common;

use std::time::Duration;

use baton_proto::v1::{Channel, ContextToken, audience::Target};
use baton_token::{
    CLOCK_SKEW_SECS, Expectations, FORMAT_VERSION, Key, KeyRing, MAGIC, NONCE_LEN, OpenError,
    Opener,
};
use common::*;

fn ring() -> KeyRing {
    KeyRing::generate("k1").expect("valid kid")
}

#[test]
fn round_trip_preserves_every_field() {
    let ring = ring();
    let token = token();
    // Destructured without `..`: a field added to the contract fails to compile here until the
    // fixture sets it, so "every field" stays true.
    let ContextToken {
        version,
        token_id,
        issuer,
        audience,
        issued_at,
        expires_at,
        tenant_id,
        contact_id,
        customer_id,
        verification,
        path,
        handover,
        context,
        recommendations,
        context_version,
        channel,
        partial,
        partial_reasons,
        known_facts,
        origin_traceparent,
        utterance,
    } = &token;
    assert!(*version != 0 && *context_version != 0 && *channel != 0 && *partial);
    assert!(audience.is_some() && issued_at.is_some() && expires_at.is_some());
    assert!(verification.is_some() && handover.is_some() && context.is_some());
    assert!(recommendations.is_some());
    assert!(!path.is_empty() && !partial_reasons.is_empty() && !known_facts.is_empty());
    for s in [
        token_id,
        issuer,
        tenant_id,
        contact_id,
        customer_id,
        origin_traceparent,
        utterance,
    ] {
        assert!(!s.is_empty());
    }

    let sealed = ring.seal(&token);
    assert_eq!(ring.open(&sealed, &agent(), now()), Ok(token));
}

#[test]
fn sealed_bytes_follow_the_documented_format() {
    let ring = ring();
    let token = token();
    let sealed = ring.seal(&token);
    assert_eq!(&sealed[..3], MAGIC);
    assert_eq!(sealed[3], FORMAT_VERSION);
    assert_eq!(sealed[4], 2);
    assert_eq!(&sealed[5..7], b"k1");
    let body = nonce_offset(2) + NONCE_LEN;
    assert_eq!(
        sealed.len(),
        body + prost::Message::encoded_len(&token) + 16
    );
    // The payload is not readable in the clear.
    let needle = b"my card was charged twice";
    assert!(!sealed.windows(needle.len()).any(|w| w == needle));
    // A fresh nonce every time.
    assert_ne!(sealed, ring.seal(&token));
}

#[test]
fn sealed_bytes_open_with_a_plain_implementation_of_the_format() {
    use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    use prost::Message as _;

    let ring = KeyRing::new("kid-a", Key::from_bytes([5; 32])).expect("valid kid");
    let sealed = ring.seal(&token());
    let nonce_at = nonce_offset(5);
    let header = &sealed[..nonce_at + NONCE_LEN];
    let cipher = XChaCha20Poly1305::new(&[5u8; 32].into());
    let nonce = XNonce::from_slice(&sealed[nonce_at..nonce_at + NONCE_LEN]);
    let ciphertext = &sealed[nonce_at + NONCE_LEN..];
    let plaintext = cipher
        .decrypt(
            nonce,
            Payload {
                msg: ciphertext,
                aad: header,
            },
        )
        .expect("the whole header is the associated data");
    assert_eq!(ContextToken::decode(plaintext.as_slice()), Ok(token()));
    // Without the header as associated data the tag does not verify.
    assert!(cipher.decrypt(nonce, ciphertext).is_err());
}

fn open_modified(edit: impl FnOnce(&mut Vec<u8>)) -> Result<ContextToken, OpenError> {
    let ring = ring();
    let mut sealed = ring.seal(&token());
    edit(&mut sealed);
    ring.open(&sealed, &agent(), now())
}

#[test]
fn flipped_ciphertext_byte_breaks_the_seal() {
    assert_eq!(
        open_modified(|s| s[nonce_offset(2) + NONCE_LEN + 3] ^= 0x01),
        Err(OpenError::Tampered)
    );
    assert_eq!(
        open_modified(|s| {
            let last = s.len() - 1;
            s[last] ^= 0x80;
        }),
        Err(OpenError::Tampered)
    );
}

#[test]
fn flipped_nonce_byte_breaks_the_seal() {
    assert_eq!(
        open_modified(|s| s[nonce_offset(2)] ^= 0x01),
        Err(OpenError::Tampered)
    );
    assert_eq!(
        open_modified(|s| s[nonce_offset(2) + NONCE_LEN - 1] ^= 0xff),
        Err(OpenError::Tampered)
    );
}

#[test]
fn changed_kid_names_an_unknown_key() {
    assert_eq!(
        open_modified(|s| s[6] = b'9'),
        Err(OpenError::UnknownKey { kid: "k9".into() })
    );
}

#[test]
fn kid_switched_to_another_key_in_the_ring_breaks_the_seal() {
    let mut ring = ring();
    ring.push("k2", Key::generate()).expect("new kid");
    let mut sealed = ring.seal(&token());
    assert_eq!(&sealed[5..7], b"k2");
    sealed[6] = b'1';
    assert_eq!(
        ring.open(&sealed, &agent(), now()),
        Err(OpenError::Tampered)
    );
}

#[test]
fn kid_with_forbidden_characters_is_malformed() {
    assert!(matches!(
        open_modified(|s| s[5] = b'='),
        Err(OpenError::Malformed { .. })
    ));
}

#[test]
fn bad_kid_length_is_malformed() {
    for len in [0u8, 65, 255] {
        assert!(
            matches!(
                open_modified(|s| s[4] = len),
                Err(OpenError::Malformed { .. })
            ),
            "kid length {len}"
        );
    }
}

#[test]
fn truncation_is_refused() {
    let sealed = ring().seal(&token());
    let header = nonce_offset(2) + NONCE_LEN;
    // Cut into the header or leaving less than a tag: too short to be a token.
    for len in [0, 1, 3, 4, 5, 6, header - 1, header, header + 15] {
        assert_eq!(
            ring().open(&sealed[..len], &agent(), now()),
            Err(OpenError::Malformed {
                reason: "token is too short"
            }),
            "length {len}"
        );
    }
    // Cut inside the ciphertext: the tag no longer matches.
    assert_eq!(
        open_modified(|s| s.truncate(s.len() - 1)),
        Err(OpenError::Tampered)
    );
    assert_eq!(
        open_modified(|s| s.truncate(header + 16)),
        Err(OpenError::Tampered)
    );
}

#[test]
fn wrong_magic_is_malformed() {
    assert_eq!(
        open_modified(|s| s[0] = b'X'),
        Err(OpenError::Malformed {
            reason: "token does not start with BTN"
        })
    );
}

#[test]
fn unknown_format_version_is_malformed() {
    assert_eq!(
        open_modified(|s| s[3] = 2),
        Err(OpenError::Malformed {
            reason: "unsupported format version"
        })
    );
}

#[test]
fn payload_without_times_or_with_another_version_is_malformed() {
    let ring = ring();
    let mut no_expiry = token();
    no_expiry.expires_at = None;
    let mut no_issue = token();
    no_issue.issued_at = None;
    let mut v2 = token();
    v2.version = 2;
    for bad in [no_expiry, no_issue, v2] {
        assert!(matches!(
            ring.open(&ring.seal(&bad), &agent(), now()),
            Err(OpenError::Malformed { .. })
        ));
    }
}

#[test]
fn expired_token_is_refused() {
    let ring = ring();
    let sealed = ring.seal(&token());
    let expiry = now() + Duration::from_secs(TTL_SECS);
    assert!(
        ring.open(&sealed, &agent(), expiry - Duration::from_nanos(1))
            .is_ok()
    );
    for at in [expiry, expiry + Duration::from_secs(3600)] {
        assert_eq!(
            ring.open(&sealed, &agent(), at),
            Err(OpenError::Expired {
                expired_at: ts(NOW_SECS + TTL_SECS).expect("set")
            })
        );
    }
}

#[test]
fn token_from_the_future_is_refused_beyond_clock_skew() {
    let ring = ring();
    let sealed = ring.seal(&token());
    let skew = Duration::from_secs(CLOCK_SKEW_SECS as u64);
    assert!(ring.open(&sealed, &agent(), now() - skew).is_ok());
    assert_eq!(
        ring.open(&sealed, &agent(), now() - skew - Duration::from_secs(1)),
        Err(OpenError::NotYetValid {
            issued_at: ts(NOW_SECS).expect("set")
        })
    );
}

#[test]
fn wrong_tenant_is_refused() {
    let ring = ring();
    let sealed = ring.seal(&token());
    for tenant in ["globex", "", "ACME"] {
        let expect = Expectations {
            tenant_id: tenant.into(),
            ..agent()
        };
        assert_eq!(
            ring.open(&sealed, &expect, now()),
            Err(OpenError::WrongTenant)
        );
    }
    // Fail closed: an empty tenant never matches, not even an empty one in the token.
    let mut no_tenant = token();
    no_tenant.tenant_id.clear();
    let expect = Expectations {
        tenant_id: String::new(),
        ..agent()
    };
    assert_eq!(
        ring.open(&ring.seal(&no_tenant), &expect, now()),
        Err(OpenError::WrongTenant)
    );
}

fn open_for(target: Target, expect: &Expectations) -> Result<ContextToken, OpenError> {
    let ring = ring();
    ring.open(&ring.seal(&token_for(target)), expect, now())
}

fn is_wrong_audience(result: Result<ContextToken, OpenError>) -> bool {
    matches!(result, Err(OpenError::WrongAudience { .. }))
}

#[test]
fn audience_agent() {
    assert!(open_for(Target::AgentId("a-1".into()), &agent()).is_ok());
    assert!(is_wrong_audience(open_for(
        Target::AgentId("a-2".into()),
        &agent()
    )));
    assert!(is_wrong_audience(open_for(
        Target::AgentId("a-1".into()),
        &ivr()
    )));
}

#[test]
fn audience_tier() {
    assert!(open_for(Target::Tier(2), &agent()).is_ok());
    assert!(is_wrong_audience(open_for(Target::Tier(1), &agent())));
    assert!(is_wrong_audience(open_for(Target::Tier(2), &ivr())));
}

#[test]
fn audience_queue() {
    assert!(open_for(Target::QueueId("billing".into()), &agent()).is_ok());
    assert!(is_wrong_audience(open_for(
        Target::QueueId("mortgages".into()),
        &agent()
    )));
    assert!(is_wrong_audience(open_for(
        Target::QueueId("billing".into()),
        &ivr()
    )));
}

#[test]
fn audience_channel() {
    let chat = Target::Channel(Channel::Chat as i32);
    let voice = Target::Channel(Channel::Voice as i32);
    assert!(open_for(chat.clone(), &agent()).is_ok());
    assert!(is_wrong_audience(open_for(voice.clone(), &agent())));
    assert!(open_for(voice, &ivr()).is_ok());
    assert!(is_wrong_audience(open_for(chat, &ivr())));
}

#[test]
fn token_without_audience_never_opens() {
    let ring = ring();
    let mut token = token();
    token.audience = None;
    assert_eq!(
        ring.open(&ring.seal(&token), &agent(), now()),
        Err(OpenError::WrongAudience {
            reason: "token names no audience"
        })
    );
}

#[test]
fn checks_run_in_order() {
    // Expired and for another tenant and audience: expiry is reported first.
    let ring = ring();
    let sealed = ring.seal(&token());
    let stranger = Expectations {
        tenant_id: "globex".into(),
        opener: Opener::ChannelSystem {
            channel: Channel::Sms,
        },
    };
    let late = now() + Duration::from_secs(TTL_SECS);
    assert!(matches!(
        ring.open(&sealed, &stranger, late),
        Err(OpenError::Expired { .. })
    ));
    assert_eq!(
        ring.open(&sealed, &stranger, now()),
        Err(OpenError::WrongTenant)
    );
}

#[test]
fn errors_map_to_labels_and_status_codes() {
    let cases = [
        (
            OpenError::Malformed {
                reason: "token is too short",
            },
            "malformed",
            tonic::Code::Unauthenticated,
        ),
        (
            OpenError::UnknownKey { kid: "k0".into() },
            "unknown_key",
            tonic::Code::Unauthenticated,
        ),
        (OpenError::Tampered, "seal", tonic::Code::Unauthenticated),
        (
            OpenError::Expired {
                expired_at: Default::default(),
            },
            "expired",
            tonic::Code::Unauthenticated,
        ),
        (
            OpenError::NotYetValid {
                issued_at: Default::default(),
            },
            "not_yet_valid",
            tonic::Code::Unauthenticated,
        ),
        (
            OpenError::WrongTenant,
            "tenant",
            tonic::Code::PermissionDenied,
        ),
        (
            OpenError::WrongAudience {
                reason: "token is for another agent",
            },
            "audience",
            tonic::Code::PermissionDenied,
        ),
    ];
    for (err, label, code) in cases {
        assert_eq!(err.check(), label);
        assert_eq!(
            err.is_permission_denied(),
            code == tonic::Code::PermissionDenied
        );
        let message = err.to_string();
        assert!(
            message.contains("check failed"),
            "{message} names its check"
        );
        assert!(!message.ends_with('.'), "{message}");
        assert!(
            message.starts_with(|c: char| c.is_ascii_lowercase()),
            "{message}"
        );
        let status = tonic::Status::from(err);
        assert_eq!(status.code(), code);
        assert_eq!(status.message(), message);
    }
    assert_eq!(
        OpenError::Tampered.to_string(),
        "seal check failed: token was altered or sealed with another key"
    );
}
