//! Sealing and opening context tokens: the baton that carries a contact's identity,
//! verification, handover, context and recommendations from one hop to the next.
//!
//! Routing seals a [`ContextToken`](baton_proto::v1::ContextToken) with [`KeyRing::seal`];
//! whoever receives the bytes (in a response, an offer, or the `baton-context-bin` metadata
//! entry of a call) hands them back to routing, which opens them with [`KeyRing::open`].
//!
//! # Sealed format
//!
//! ```text
//! "BTN" | version: u8 = 1 | kid_len: u8 | kid (kid_len bytes) | nonce (24 bytes) | ciphertext
//! ```
//!
//! The ciphertext is the prost-encoded `ContextToken` encrypted with XChaCha20-Poly1305 under
//! the key named by `kid`, with everything before it (magic, version, kid length, kid, nonce)
//! as associated data, so the clear header cannot be changed either. Key ids are 1 to 64
//! characters from `A-Z a-z 0-9 . _ -`. Nonces are random: 192 bits make collisions
//! negligible without any nonce bookkeeping.
//!
//! # Opening
//!
//! [`KeyRing::open`] runs the checks in this order and reports the first failure as its own
//! [`OpenError`] variant: structure, key id known, seal (AEAD tag), payload decodes, expiry
//! (with [`CLOCK_SKEW_SECS`] of allowance for an issue time in the future), tenant, audience.
//! Structure, key, seal and expiry failures become `UNAUTHENTICATED`; tenant and audience
//! failures become `PERMISSION_DENIED`. No input makes it panic.
//!
//! # Key rotation
//!
//! A [`KeyRing`] holds keys by id, oldest first; the newest is active. Rotating is: add a new
//! key at the end of the spec (`old=...,new=...`) and restart or reload; new tokens are sealed
//! with `new` while tokens sealed with `old` keep opening. Once the longest token lifetime has
//! passed, remove `old`; tokens still sealed with it then fail with
//! [`OpenError::UnknownKey`]. On a single machine, [`KeyRing::load_or_create`] keeps one
//! generated key in a file so tokens survive restarts.
//!
//! # Layout
//!
//! - `keyring`: [`Key`], [`KeyRing`], the spec format and the key file.
//! - `seal`: the sealed format, [`KeyRing::seal`] and [`KeyRing::open`].
//! - `audience`: [`Expectations`], [`Opener`] and audience matching.
//! - `error`: [`OpenError`] and [`KeyRingError`].
//! - [`metadata`]: carrying sealed bytes on a gRPC call.

mod audience;
mod error;
mod keyring;
pub mod metadata;
mod seal;

pub use audience::{Expectations, Opener};
pub use error::{KeyRingError, OpenError};
pub use keyring::{KEY_LEN, Key, KeyRing, MAX_KID_LEN};
pub use metadata::TOKEN_METADATA_KEY;
pub use seal::{CLOCK_SKEW_SECS, FORMAT_VERSION, MAGIC, NONCE_LEN};

/// The `issuer` routing writes into every token it mints.
pub const ISSUER: &str = "baton-routing";

/// The `version` of the `ContextToken` payload this crate seals and opens.
pub const PAYLOAD_VERSION: u32 = 1;
