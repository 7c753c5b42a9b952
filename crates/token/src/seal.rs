//! The sealed format: header, nonce, ciphertext; and the checks run when opening.

use std::time::SystemTime;

use baton_proto::v1::ContextToken;
use chacha20poly1305::aead::{Aead as _, AeadCore as _, AeadInPlace as _, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use prost::Message as _;
use prost_types::Timestamp;

use crate::PAYLOAD_VERSION;
use crate::audience::{Expectations, check_audience};
use crate::error::OpenError;
use crate::keyring::{KeyRing, is_valid_kid};

/// First bytes of every sealed token.
pub const MAGIC: &[u8; 3] = b"BTN";

/// The sealed format version this crate writes and reads.
pub const FORMAT_VERSION: u8 = 1;

/// Length of the random XChaCha20 nonce.
pub const NONCE_LEN: usize = 24;

/// Length of the Poly1305 tag at the end of the ciphertext.
const TAG_LEN: usize = 16;

/// How far in the future `issued_at` may be before a token is refused, to allow for clocks
/// on different machines disagreeing.
pub const CLOCK_SKEW_SECS: i64 = 60;

/// The clear header of a sealed token, borrowed from the sealed bytes.
struct Header<'a> {
    kid: &'a str,
    nonce: &'a [u8],
    /// Everything before the ciphertext: the associated data.
    bytes: &'a [u8],
    ciphertext: &'a [u8],
}

impl KeyRing {
    /// Seals `token` with the active key: `BTN`, format version, key id length, key id, a
    /// fresh random nonce, then the encrypted token with everything before it authenticated.
    ///
    /// # Panics
    ///
    /// Only if the encoded token exceeds the cipher's limit of about 256 GiB per message.
    pub fn seal(&self, token: &ContextToken) -> Vec<u8> {
        let (kid, key) = self.active();
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut sealed = Vec::with_capacity(
            MAGIC.len() + 2 + kid.len() + NONCE_LEN + token.encoded_len() + TAG_LEN,
        );
        sealed.extend_from_slice(MAGIC);
        sealed.push(FORMAT_VERSION);
        // Kids are at most MAX_KID_LEN (64) bytes, checked when they enter the ring.
        sealed.push(kid.len() as u8);
        sealed.extend_from_slice(kid.as_bytes());
        sealed.extend_from_slice(&nonce);
        // Encoded and encrypted where it ends up: no copy of the token on the way.
        let header_len = sealed.len();
        token
            .encode(&mut sealed)
            .expect("a Vec grows to hold any message");
        let (header, payload) = sealed.split_at_mut(header_len);
        let tag = key
            .cipher()
            .encrypt_in_place_detached(&nonce, header, payload)
            .expect("a context token is far below the cipher's message size limit");
        sealed.extend_from_slice(&tag);
        sealed
    }

    /// Opens a sealed token, running the checks in order: structure, key id, seal, payload,
    /// expiry, tenant, audience. The first failure is returned; no input panics.
    ///
    /// Any key in the ring opens a token it sealed, so rotation needs no downtime.
    pub fn open(
        &self,
        sealed: &[u8],
        expect: &Expectations,
        now: SystemTime,
    ) -> Result<ContextToken, OpenError> {
        let header = parse_header(sealed)?;
        let key = self.get(header.kid).ok_or_else(|| OpenError::UnknownKey {
            kid: header.kid.to_owned(),
        })?;
        let plaintext = key
            .cipher()
            .decrypt(
                XNonce::from_slice(header.nonce),
                Payload {
                    msg: header.ciphertext,
                    aad: header.bytes,
                },
            )
            .map_err(|_| OpenError::Tampered)?;
        let token = decode_payload(&plaintext)?;
        check_times(&token, now)?;
        if expect.tenant_id.is_empty() || token.tenant_id != expect.tenant_id {
            return Err(OpenError::WrongTenant);
        }
        check_audience(token.audience.as_ref(), &expect.opener)?;
        Ok(token)
    }
}

fn malformed(reason: &'static str) -> OpenError {
    OpenError::Malformed { reason }
}

fn parse_header(sealed: &[u8]) -> Result<Header<'_>, OpenError> {
    let too_short = || malformed("token is too short");
    let (magic, rest) = sealed.split_at_checked(MAGIC.len()).ok_or_else(too_short)?;
    if magic != MAGIC {
        return Err(malformed("token does not start with BTN"));
    }
    let (&version, rest) = rest.split_first().ok_or_else(too_short)?;
    if version != FORMAT_VERSION {
        return Err(malformed("unsupported format version"));
    }
    let (&kid_len, rest) = rest.split_first().ok_or_else(too_short)?;
    let (kid, rest) = rest
        .split_at_checked(usize::from(kid_len))
        .ok_or_else(too_short)?;
    if !is_valid_kid(kid) {
        return Err(malformed("bad key id"));
    }
    let kid = std::str::from_utf8(kid).map_err(|_| malformed("bad key id"))?;
    let (nonce, ciphertext) = rest.split_at_checked(NONCE_LEN).ok_or_else(too_short)?;
    if ciphertext.len() < TAG_LEN {
        return Err(too_short());
    }
    let header_len = sealed.len() - ciphertext.len();
    Ok(Header {
        kid,
        nonce,
        bytes: &sealed[..header_len],
        ciphertext,
    })
}

fn decode_payload(plaintext: &[u8]) -> Result<ContextToken, OpenError> {
    let token =
        ContextToken::decode(plaintext).map_err(|_| malformed("payload does not decode"))?;
    if token.version != PAYLOAD_VERSION {
        return Err(malformed("unsupported payload version"));
    }
    // Fail closed: a token without both times cannot be checked for expiry or skew.
    if token.issued_at.is_none() || token.expires_at.is_none() {
        return Err(malformed("payload has no issue or expiry time"));
    }
    Ok(token)
}

fn check_times(token: &ContextToken, now: SystemTime) -> Result<(), OpenError> {
    let now = Timestamp::from(now);
    let expired_at = token.expires_at.unwrap_or_default().normalized();
    if as_tuple(&expired_at) <= as_tuple(&now) {
        return Err(OpenError::Expired { expired_at });
    }
    let issued_at = token.issued_at.unwrap_or_default().normalized();
    let latest = (now.seconds.saturating_add(CLOCK_SKEW_SECS), now.nanos);
    if as_tuple(&issued_at) > latest {
        return Err(OpenError::NotYetValid { issued_at });
    }
    Ok(())
}

fn as_tuple(ts: &Timestamp) -> (i64, i32) {
    (ts.seconds, ts.nanos)
}
