//! Fuzz targets for what crosses baton's boundaries: sealed context tokens, channel
//! identifiers and gRPC requests. Every target's first property is that no input panics; each
//! also asserts what the code under it promises.
//!
//! # Targets
//!
//! - `token_open`: arbitrary bytes opened as a sealed token with a fixed key ring, by an
//!   agent, a channel system and a supervisor, whose answers must agree.
//! - `token_payload`: arbitrary bytes sealed, in the documented format, as the payload of an
//!   authentic token, then opened: reaches the payload, expiry, tenant and audience checks,
//!   which forged bytes never get past the seal to.
//! - `token_roundtrip`: any decodable `ContextToken` sealed and opened back unchanged, refused
//!   exactly when its times are out of range, refused for another tenant or when altered.
//! - `normalize`: every identifier normalizer on arbitrary text; the output is a fixed point
//!   and the stored form of a normalized identifier normalizes to itself.
//! - `validate_identity`, `validate_context`, `validate_routing`, `validate_recommendation`:
//!   arbitrary protobuf bytes decoded into each service's request types and validated (the
//!   first input byte picks the request type); a refusal is `INVALID_ARGUMENT` naming at least
//!   one field, and survives the trip through gRPC trailers.
//!
//! # Running
//!
//! `make fuzz` (`FUZZ_SECS` per target) and `make fuzz-short` (CI) run every target with the
//! seeds in `corpus/<target>/` as a read-only corpus; what the fuzzer finds goes to a
//! temporary directory, crashes to `artifacts/<target>/`. To reproduce one:
//! `cargo +nightly fuzz run <target> artifacts/<target>/<file>` from this directory. The
//! seeds are written by `cargo run --example seeds`.
//!
//! # Layout
//!
//! - [`token`]: the fixed key ring, clock and openers, and the checks of an opened token.
//! - [`identifier`]: the `normalize` target's input format and the stored-form check.
//! - [`requests`]: which request type each validator target's first byte picks.
//! - [`status`]: the checks of a validation refusal.
//! - [`seeds`]: the meaningful inputs each corpus starts from.

#![forbid(unsafe_code)]

pub mod identifier;
pub mod requests;
pub mod seeds;
pub mod status;
pub mod token;

use prost::Message;

/// The request type picked by the first input byte (modulo `choices`) and the rest of the
/// input, or `None` for an empty input.
pub fn pick(data: &[u8], choices: u8) -> Option<(u8, &[u8])> {
    let (&first, rest) = data.split_first()?;
    Some((first % choices, rest))
}

/// Runs `check` on the request `bytes` decode to, decoded as the services' codec does; bytes
/// that do not decode are skipped (the codec refuses them before any handler runs).
pub fn with_decoded<M: Message + Default>(bytes: &[u8], check: impl FnOnce(M)) {
    if let Ok(request) = M::decode(bytes) {
        check(request);
    }
}
