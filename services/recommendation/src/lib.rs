//! RecommendationService: what the customer probably wants and what to offer them.
//!
//! Given the customer's context snapshot (routing passes it in; this service never calls
//! another), it returns likely contact reasons with evidence ("order 123 is 3 days late"), next
//! best actions, offers that respect what the customer owns and declined and that pause
//! promotions during an open complaint, knowledge articles, and a greeting. It learns from
//! purchases, offer outcomes and confirmed contact reasons recorded with `RecordOutcome`.
//!
//! # Layout
//!
//! - [`recommend`]: the decisions, as pure functions of the snapshot, stored signals and a
//!   time passed in: `reasons` (with the learned `reason_model`), `actions`, `offers`,
//!   `articles` (full-text search), `greeting`, and the vocabulary they share.
//! - [`Recommender`] (`recommender.rs`): the use cases; reads the store, calls
//!   [`recommend`], records outcomes, and keeps per tenant what it builds from the store
//!   (article indexes, reason models, action rules) in `tenant_cache.rs`. No gRPC types.
//! - [`eval`]: offline evaluation of offers, reasons and articles against baselines.
//! - [`store`]: the [`RecommendationStore`] trait, the embedded redb backend
//!   ([`EmbeddedRecommendationStore`]) and the Redis backend ([`RedisRecommendationStore`]);
//!   [`conformance`] is the suite every backend must pass.
//! - `grpc.rs`: the adapter implementing the generated service trait (validate, call, map
//!   errors), with its request checks in `grpc/validate.rs`.
//! - `error.rs`: the one [`Error`] type and the status each variant becomes.
//!
//! The crate has no binary: the `baton` binary wires [`grpc_service`] into the shared server.

#![forbid(unsafe_code)]

pub mod conformance;
mod error;
pub mod eval;
mod grpc;
pub mod recommend;
mod recommender;
pub mod store;
mod tenant_cache;

use std::path::Path;

use baton_proto::v1::recommendation_service_server::RecommendationServiceServer;
use baton_runtime::shutdown::Shutdown;
use baton_store::redis_db::RedisDb;

pub use self::error::Error;
pub use self::grpc::RecommendationGrpc;
#[doc(hidden)]
pub use self::grpc::validate;
pub use self::recommender::{RecommendQuery, Recommender};
pub use self::store::{
    EmbeddedRecommendationStore, RecommendationStore, RedisRecommendationStore, StoreError,
};

/// The largest request message the server decodes. Sized from the largest requests at their
/// limits: an UpsertArticles of 200 articles (64 KiB body, 256-byte title, 32 tags of 64
/// bytes, ids) is about 13 MiB, a Recommend whose snapshot is full (20 open and 10 resolved
/// cases of 20 notes of 4 KiB, 50 interactions with 10 notes, utterance and summary of 4 KiB
/// each) about 5 MiB, an UpsertCatalog of 500 items about 2.2 MiB. Anything larger is refused
/// before it is decoded.
pub const MAX_REQUEST_BYTES: usize = 16 * 1024 * 1024;

/// The `RecommendationService` server over `store`; it refuses new calls once `shutdown`
/// fires.
pub fn grpc_service<S: RecommendationStore>(
    store: S,
    shutdown: Shutdown,
) -> RecommendationServiceServer<RecommendationGrpc<S>> {
    RecommendationServiceServer::new(RecommendationGrpc::new(store, shutdown))
        .max_decoding_message_size(MAX_REQUEST_BYTES)
}

/// Opens (creating if needed) the embedded store in `data_dir` (`recommendation.redb`).
pub fn open_embedded(data_dir: &Path) -> Result<EmbeddedRecommendationStore, StoreError> {
    EmbeddedRecommendationStore::open(data_dir)
}

/// Connects the Redis store to the server at `url` (`redis://host:port/db`); fails when the
/// server cannot be reached now, so a misconfigured deployment fails at start.
pub async fn open_redis(url: &str) -> Result<RedisRecommendationStore, StoreError> {
    Ok(RedisRecommendationStore::new(
        RedisDb::connect(url, "recommendation").await?,
    ))
}
