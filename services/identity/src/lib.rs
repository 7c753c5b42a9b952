//! IdentityService: turns channel identifiers and person traits into one canonical customer,
//! says how sure it is, and keeps merges explicit and reversible.
//!
//! # Layout
//!
//! - [`normalize`]: identifiers in canonical form (E.164 phones, e-mail without case or
//!   plus-tags, compact account numbers) and the [`normalize::IdentityKey`] the index uses.
//! - [`matching`]: the decision (matched, new, ambiguous) from what the index found, with
//!   per-field evidence and the question that separates ambiguous candidates. Exact
//!   identifier matches today; the weights are Fellegi–Sunter style so fuzzy trait
//!   comparisons can join the same sums.
//! - [`verification`]: the verification level from matched identifiers and proofs.
//! - [`domain`]: the operations (resolve, upsert, link, merge, unmerge, forget) as store
//!   transactions, with profile and person-trait rules in [`domain::profile`] and
//!   [`domain::person`]. No gRPC types.
//! - [`store`]: the [`IdentityStore`] trait, [`EmbeddedIdentityStore`] on redb and
//!   [`RedisIdentityStore`] on Redis; the [`conformance`] suite every backend must pass.
//! - [`grpc`]: the adapter implementing `baton.v1.IdentityService`: request validation
//!   (field violations) in [`grpc::validate`], then the domain, then [`Error`] to status.
//! - [`known_facts`]: what is on record, as facts for routing's handover and forms.
//!
//! Invariants: the index and the profiles change in one transaction and never disagree; an
//! identifier belongs to at most one customer per tenant; nothing attaches an identifier to
//! an existing profile on a mere claim; conflicting identifiers never merge by themselves;
//! logs and spans carry ids only.

#![forbid(unsafe_code)]

pub mod compare;
pub mod conformance;
pub mod domain;
mod error;
mod facts;
pub mod grpc;
pub mod matching;
pub mod normalize;
pub mod standardize;
pub mod store;
pub mod verification;

use std::path::Path;

use baton_proto::v1::identity_service_server::IdentityServiceServer;
use baton_runtime::shutdown::Shutdown;
use baton_store::{StoreError, redis_db::RedisDb};

pub use domain::Identity;
pub use error::Error;
pub use facts::known_facts;
pub use grpc::{IdentityGrpc, PhoneRegions, RegionError};
pub use store::{EmbeddedIdentityStore, IdentityStore, RedisIdentityStore};

/// Opens (creating if needed) the embedded identity store in `data_dir`
/// (`<data_dir>/identity.redb`).
pub fn open_embedded(data_dir: &Path) -> Result<EmbeddedIdentityStore, StoreError> {
    EmbeddedIdentityStore::open(data_dir)
}

/// Connects to the Redis identity store at `url` (`redis://host:port/db`); fails when Redis
/// does not answer now, so a misconfigured deployment fails at start.
pub async fn open_redis(url: &str) -> Result<RedisIdentityStore, StoreError> {
    Ok(RedisIdentityStore::new(
        RedisDb::connect(url, "identity").await?,
    ))
}

/// The gRPC service over `store`, ready for `tonic::transport::Server::add_service`; phone
/// numbers without a country code are read in `regions` (each tenant's, else the default).
/// The decoding limit applies to each message of the ImportProfiles stream too.
pub fn grpc_service<S: IdentityStore>(
    store: S,
    regions: PhoneRegions,
    shutdown: Shutdown,
) -> IdentityServiceServer<IdentityGrpc<S>> {
    IdentityServiceServer::new(IdentityGrpc::new(store, regions, shutdown))
        .max_decoding_message_size(grpc::validate::MAX_REQUEST_BYTES)
}
