//! Where histories live: the storage trait and its embedded (redb) and Redis implementations.
//!
//! The trait is the whole contract a backend must keep; [`crate::conformance`] checks it, and
//! every backend runs that suite. Sequences and views are the backend's job because they must
//! change in the same atomic step as the event itself.

use std::future::Future;

use baton_proto::v1::Event;

use crate::{Error, view::View};

mod embedded;
#[cfg(test)]
pub(crate) mod memory;
mod redis;

pub use embedded::EmbeddedContextStore;
pub use redis::RedisContextStore;

pub use crate::hub::Feed;

/// The operation appends remember their answers under (and name when a key is reused).
pub(crate) const APPEND_OPERATION: &str = "context.append";

/// An event to append, with everything the service assigns before the store sees it.
#[derive(Clone, Debug)]
pub struct NewEvent {
    /// The tenant whose history it is.
    pub tenant_id: String,
    /// The customer whose history it is; the store writes it into the event.
    pub customer_id: String,
    /// The idempotency key as stored, scoped to the caller: a retry with the same key (same
    /// tenant) and the same request gets the first answer back.
    pub idempotency_key: String,
    /// The digest of the request as the caller sent it, which the key is bound to: the same
    /// key with another digest is refused.
    pub request_digest: [u8; 32],
    /// When non-zero, append only if the history's version equals it.
    pub expected_version: u64,
    /// The event with `event_id`, `recorded_at` and `occurred_at` set; the store assigns
    /// `sequence` and `customer_id`.
    pub event: Event,
}

/// The outcome of an append.
#[derive(Clone, Debug, PartialEq)]
pub struct Appended {
    /// The event as stored.
    pub event: Event,
    /// The history's version after the append (the event's sequence).
    pub version: u64,
    /// True when this was a retry of an earlier append and nothing changed.
    pub duplicate: bool,
}

/// Per-customer append-only histories with their materialized views.
///
/// Every method is scoped by tenant; nothing one tenant writes is visible to another.
pub trait ContextStore: Send + Sync + 'static {
    /// Appends one event atomically: replays a remembered answer for a known idempotency key
    /// (refusing a key used for another customer with [`Error::IdempotencyKeyReused`], and one
    /// used for a different request with [`StoreError::KeyReused`](baton_store::StoreError));
    /// else checks `expected_version` ([`Error::VersionConflict`]), numbers the event
    /// `version + 1`, stores it, folds it into the view with [`crate::view::apply`] and
    /// remembers the answer, all or nothing. Returns only once durable.
    fn append(&self, new: NewEvent) -> impl Future<Output = Result<Appended, Error>> + Send;

    /// The customer's view, or `None` when nothing is held.
    fn view(
        &self,
        tenant_id: &str,
        customer_id: &str,
    ) -> impl Future<Output = Result<Option<View>, Error>> + Send;

    /// The views of several customers of the tenant, one for each of `customer_ids` in that
    /// order, `None` for one with nothing held. All are read at one instant: a snapshot
    /// made of several histories never shows one of them newer than another was.
    fn views(
        &self,
        tenant_id: &str,
        customer_ids: &[String],
    ) -> impl Future<Output = Result<Vec<Option<View>>, Error>> + Send;

    /// Starts reporting to `feed` the appends and erasures committed through other
    /// processes, until the feed closes; called once, by [`History::new`](crate::History::new),
    /// on a Tokio runtime. Reports are nudges: watches read the store when woken, so a store
    /// may report late, twice or out of order, and must [`Feed::resync`] whenever it may have
    /// missed some. The default does nothing: right for a store that only this process writes
    /// (the embedded one), whose appends all reach the hub directly.
    fn follow(&self, feed: Feed) {
        let _ = feed;
    }

    /// Up to `limit` events with a sequence greater than `after`, oldest first.
    fn events_after(
        &self,
        tenant_id: &str,
        customer_id: &str,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Event>, Error>> + Send;

    /// Erases the customer's events, view and remembered append answers. Returns how many
    /// records (events and the view) were removed; 0 when nothing was held.
    fn forget(
        &self,
        tenant_id: &str,
        customer_id: &str,
    ) -> impl Future<Output = Result<u64, Error>> + Send;
}
