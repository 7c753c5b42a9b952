//! ContextService: the universal customer history.
//!
//! Every customer has an append-only event log (contacts, transfers, channel switches,
//! messages, notes, cases, purchases, offers, automated steps) and a materialized view of it
//! (recent interactions across channels, open cases with progress notes, purchases, offers,
//! tenure) that `GetContext` cuts into a bounded snapshot with a version. `WatchContext`
//! streams a history from any version, gap-free; `ForgetCustomer` erases it.
//!
//! # Layout
//!
//! - [`view`]: the pure fold from events to the view, and the snapshot bounds.
//! - [`history`]: the domain: appends (ids, clocks, publishing to watchers), snapshots,
//!   pages, watches and erasure over any store. No gRPC types.
//! - `watch`: one gap-free watch (store read, then live events, re-reading on any gap): a
//!   stream the response polls, with no task, channel or thread of its own.
//! - `hub`: the in-process fan-out of committed events to watchers, and the [`store::Feed`]
//!   through which a shared store reports changes made by other processes.
//! - [`store`]: the [`ContextStore`] trait, the embedded redb implementation and the Redis one.
//! - [`conformance`]: the test suite every store backend must pass.
//! - `validate`: request checks as field violations.
//! - [`grpc`]: the `baton.v1.ContextService` adapter.
//! - [`error`]: the one error type and its status codes.
//!
//! Merges are reads, not writes: history stays under the id it was recorded for, and a
//! `GetContext` that names the ids merged into a customer shows their histories as one
//! ([`view::snapshot_of_merged`]); `ListEvents` and `WatchContext` that name them list and
//! stream every named history, each under its own id and sequence. An unmerge has nothing to
//! undo.
//!
//! Invariants: a customer's sequences run 1, 2, 3, ... without gaps; the stored view is always
//! the fold of the stored events (both change in one transaction); an acknowledged append is
//! durable; nothing crosses tenants.

use std::path::Path;

use baton_proto::v1::context_service_server::ContextServiceServer;
use baton_runtime::shutdown::Shutdown;
use baton_store::{StoreError, redis_db::RedisDb};

#[doc(hidden)]
pub mod conformance;
pub mod error;
pub mod grpc;
pub mod history;
mod hub;
pub mod store;
#[doc(hidden)]
pub mod validate;
pub mod view;
mod watch;

pub use error::Error;
pub use grpc::ContextGrpc;
pub use history::History;
pub use store::{ContextStore, EmbeddedContextStore, RedisContextStore};
pub use watch::Events;

/// The gRPC service over `store`, ready to add to a server. Watches end when `shutdown` fires.
pub fn grpc_service<S: ContextStore>(
    store: S,
    shutdown: Shutdown,
) -> ContextServiceServer<ContextGrpc<S>> {
    ContextServiceServer::new(ContextGrpc::new(History::new(store, shutdown)))
        .max_decoding_message_size(validate::MAX_REQUEST_BYTES)
}

/// Opens (creating if needed) the embedded store in `data_dir` (`context.redb`).
pub fn open_embedded(data_dir: &Path) -> Result<EmbeddedContextStore, StoreError> {
    EmbeddedContextStore::open(data_dir)
}

/// Connects to the Redis store at `url` (`redis://host:port/db`); fails when the server cannot
/// be reached now, so a misconfigured deployment fails at start.
pub async fn open_redis(url: &str) -> Result<RedisContextStore, StoreError> {
    Ok(RedisContextStore::new(
        RedisDb::connect(url, "context").await?,
    ))
}
