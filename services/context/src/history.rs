//! The customer history: appends, snapshots, pages, watches and erasure, on any
//! [`ContextStore`]. Requests arrive here already validated; nothing here knows about gRPC.

use std::{collections::VecDeque, sync::Arc};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use baton_proto::v1::{ContextSnapshot, Event, ForgetCustomerResponse, event::Payload};
use baton_runtime::{shutdown::Shutdown, time};

use crate::{
    Error,
    hub::Hub,
    store::{Appended, ContextStore, NewEvent},
    view::{self, DEFAULT_SNAPSHOT_INTERACTIONS, MAX_SNAPSHOT_INTERACTIONS, View},
    watch,
};

/// Events in a page when the caller does not say.
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// Most events in a page; larger requests are served this many.
pub const MAX_PAGE_SIZE: usize = 1000;

/// The history service over a store. Cheap to clone.
#[derive(Debug)]
pub struct History<S> {
    /// Where events and views live.
    store: Arc<S>,
    /// Tells watchers about appends committed by this process.
    hub: Hub,
    /// Ends every watch when the server stops.
    shutdown: Shutdown,
}

impl<S> Clone for History<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            hub: self.hub.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

/// An append as the caller asked for it.
#[derive(Clone, Debug)]
pub struct Append {
    /// Tenant.
    pub tenant_id: String,
    /// The customer.
    pub customer_id: String,
    /// The event; assigned fields are overwritten.
    pub event: Event,
    /// Makes retries safe: the key as stored, already scoped to the caller.
    pub idempotency_key: String,
    /// The digest of the request as received, which the key is bound to.
    pub request_digest: [u8; 32],
    /// Optimistic concurrency; 0 appends whatever the version.
    pub expected_version: u64,
}

/// A page of history.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    /// Events, oldest first.
    pub events: Vec<Event>,
    /// Where the next page starts; `None` on the last page.
    pub next_page_token: Option<String>,
}

impl<S: ContextStore> History<S> {
    /// A history over `store`; watches end when `shutdown` fires. A store shared with other
    /// processes starts following their changes ([`ContextStore::follow`]), so call this on a
    /// Tokio runtime.
    pub fn new(store: S, shutdown: Shutdown) -> Self {
        let hub = Hub::new();
        store.follow(hub.feed());
        Self {
            store: Arc::new(store),
            hub,
            shutdown,
        }
    }

    /// Appends one event and tells the customer's watchers. A retry of an earlier append
    /// returns that append's answer with `duplicate` set and changes nothing; the same key with
    /// a different request is refused.
    pub async fn append(&self, append: Append) -> Result<Appended, Error> {
        let recorded_at = time::now();
        let mut event = append.event;
        event.event_id = format!("evt_{}", uuid::Uuid::now_v7().simple());
        event.recorded_at = Some(recorded_at);
        event.occurred_at = event.occurred_at.or(Some(recorded_at));
        if let Some(Payload::AutomatedStep(step)) = event.payload.as_mut() {
            // Dated by the event; the field is the view's, not the caller's.
            step.at = None;
        }
        let new = NewEvent {
            tenant_id: append.tenant_id,
            customer_id: append.customer_id,
            idempotency_key: append.idempotency_key,
            request_digest: append.request_digest,
            expected_version: append.expected_version,
            event,
        };
        let store = Arc::clone(&self.store);
        let hub = self.hub.clone();
        // Run to the end even if the caller goes away: once the event commits, its watchers
        // must hear about it now, not when the next event happens to reveal the gap.
        let task = tokio::spawn(async move {
            let tenant_id = new.tenant_id.clone();
            let appended = store.append(new).await?;
            if !appended.duplicate {
                hub.publish(&tenant_id, &appended.event);
            }
            Ok(appended)
        });
        task.await
            .map_err(|e| Error::Store(baton_store::StoreError::Task(e.to_string())))?
    }

    /// The customer's snapshot with at most `max_interactions` interactions (0: the
    /// default), showing the histories of `merged_ids` (the ids merged into the customer) as
    /// the customer's own (see [`view::snapshot_of_merged`]). A customer without history
    /// gets an empty snapshot at version 0.
    ///
    /// Nothing is ever copied between histories: a merge or an unmerge changes which ids the
    /// caller names, and with them what the snapshot shows, so an unmerge restores each
    /// customer's history exactly.
    pub async fn context(
        &self,
        tenant_id: &str,
        customer_id: &str,
        merged_ids: &[String],
        max_interactions: usize,
    ) -> Result<ContextSnapshot, Error> {
        let max = match max_interactions {
            0 => DEFAULT_SNAPSHOT_INTERACTIONS,
            n => n.min(MAX_SNAPSHOT_INTERACTIONS),
        };
        if merged_ids.is_empty() {
            let view = self.store.view(tenant_id, customer_id).await?;
            return Ok(view
                .unwrap_or_else(|| View::empty(customer_id))
                .snapshot(max));
        }
        let mut ids = Vec::with_capacity(merged_ids.len() + 1);
        ids.push(customer_id.to_owned());
        ids.extend_from_slice(merged_ids);
        let views = self.store.views(tenant_id, &ids).await?;
        Ok(view::snapshot_of_merged(
            customer_id,
            views.into_iter().flatten().collect(),
            max,
        ))
    }

    /// One page of the customer's events, oldest first; with `merged_ids` (the ids merged
    /// into the customer) the pages hold their histories too, each in sequence order and
    /// interleaved by when the store recorded the events (`recorded_at`, then the order of
    /// the ids).
    pub async fn list_events(
        &self,
        tenant_id: &str,
        customer_id: &str,
        merged_ids: &[String],
        page_size: usize,
        page_token: &str,
    ) -> Result<Page, Error> {
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        };
        if !merged_ids.is_empty() {
            let mut ids = Vec::with_capacity(merged_ids.len() + 1);
            ids.push(customer_id.to_owned());
            ids.extend_from_slice(merged_ids);
            return self.list_merged(tenant_id, &ids, size, page_token).await;
        }
        let after = decode_page_token(page_token)?;
        // One more than asked tells whether another page exists without a second read.
        let mut events = self
            .store
            .events_after(tenant_id, customer_id, after, size + 1)
            .await?;
        let next_page_token = if events.len() > size {
            events.truncate(size);
            events.last().map(|e| encode_page_token(e.sequence))
        } else {
            None
        };
        Ok(Page {
            events,
            next_page_token,
        })
    }

    /// A page of several histories merged. Each is read one past the page size from where
    /// the token says it got to: the page takes at most `size` events of all of them, so a
    /// history whose read was used up was read to its end, and the merge never passes over an
    /// event it did not read.
    async fn list_merged(
        &self,
        tenant_id: &str,
        ids: &[String],
        size: usize,
        page_token: &str,
    ) -> Result<Page, Error> {
        let mut positions = decode_merged_token(page_token, ids)?;
        let mut queues = Vec::with_capacity(ids.len());
        for (id, after) in ids.iter().zip(&positions) {
            let read = self
                .store
                .events_after(tenant_id, id, *after, size + 1)
                .await?;
            queues.push(VecDeque::from(read));
        }
        let mut events = Vec::with_capacity(size);
        while events.len() < size {
            let earliest = queues
                .iter()
                .enumerate()
                .filter_map(|(i, queue)| queue.front().map(|event| watch::order(event, i)))
                .min();
            let Some((.., i)) = earliest else { break };
            let Some(event) = queues[i].pop_front() else {
                break;
            };
            positions[i] = event.sequence;
            events.push(event);
        }
        let next_page_token = queues
            .iter()
            .any(|queue| !queue.is_empty())
            .then(|| encode_merged_token(&positions, ids));
        Ok(Page {
            events,
            next_page_token,
        })
    }

    /// Streams the customer's events with a sequence above `after_version`: the stored ones,
    /// then new ones as they are appended, in order and without gaps. The stream ends when
    /// it is dropped, the server shuts down or the customer is erased.
    pub fn watch(&self, tenant_id: &str, customer_id: &str, after_version: u64) -> watch::Events {
        self.watch_merged(tenant_id, customer_id, after_version, &[], &[])
    }

    /// [`watch`](Self::watch) of the customer and the ids merged into it: each history from
    /// its own position (`merged_after[i]` for `merged_ids[i]`, 0 where there is none), in
    /// its own order and without gaps, stored events interleaved by when they were recorded.
    /// It ends when any of the histories is erased.
    pub fn watch_merged(
        &self,
        tenant_id: &str,
        customer_id: &str,
        after_version: u64,
        merged_ids: &[String],
        merged_after: &[u64],
    ) -> watch::Events {
        let mut histories = Vec::with_capacity(merged_ids.len() + 1);
        histories.push((customer_id.to_owned(), after_version));
        histories.extend(
            merged_ids
                .iter()
                .enumerate()
                .map(|(i, id)| (id.clone(), merged_after.get(i).copied().unwrap_or(0))),
        );
        watch::open(
            Arc::clone(&self.store),
            &self.hub,
            self.shutdown.clone(),
            tenant_id,
            histories,
        )
    }

    /// Erases the customer's history, view and remembered appends, and ends their watches.
    pub async fn forget(
        &self,
        tenant_id: &str,
        customer_id: &str,
    ) -> Result<ForgetCustomerResponse, Error> {
        let removed = self.store.forget(tenant_id, customer_id).await?;
        self.hub.close(tenant_id, customer_id);
        Ok(ForgetCustomerResponse {
            found: removed > 0,
            records_removed: removed,
        })
    }
}

/// The token naming the page after `sequence`.
fn encode_page_token(sequence: u64) -> String {
    URL_SAFE_NO_PAD.encode(sequence.to_be_bytes())
}

/// The sequence a page token continues after; the empty token starts at the beginning.
fn decode_page_token(token: &str) -> Result<u64, Error> {
    if token.is_empty() {
        return Ok(0);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| Error::MalformedPageToken)?;
    let bytes: [u8; 8] = bytes.try_into().map_err(|_| Error::MalformedPageToken)?;
    Ok(u64::from_be_bytes(bytes))
}

/// A fingerprint of the ids a merged listing reads, so that a token is refused for another
/// set of ids (FNV-1a over the ids, each ended by a byte no id holds).
fn fingerprint(ids: &[String]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in ids.iter().flat_map(|id| id.bytes().chain([0xff])) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The token of a merged listing: the fingerprint of its ids, then the sequence each
/// history got to, in the order of `ids`.
fn encode_merged_token(positions: &[u64], ids: &[String]) -> String {
    let mut bytes = Vec::with_capacity(8 * (positions.len() + 1));
    bytes.extend_from_slice(&fingerprint(ids).to_be_bytes());
    for position in positions {
        bytes.extend_from_slice(&position.to_be_bytes());
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Where each of `ids` continues after; the empty token starts them all at the beginning.
/// A token of another listing (another set of ids, or a single history's) is malformed.
fn decode_merged_token(token: &str, ids: &[String]) -> Result<Vec<u64>, Error> {
    if token.is_empty() {
        return Ok(vec![0; ids.len()]);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| Error::MalformedPageToken)?;
    if bytes.len() != 8 * (ids.len() + 1) {
        return Err(Error::MalformedPageToken);
    }
    let mut words = bytes
        .chunks_exact(8)
        .map(|chunk| u64::from_be_bytes(chunk.try_into().unwrap_or_default()));
    if words.next() != Some(fingerprint(ids)) {
        return Err(Error::MalformedPageToken);
    }
    Ok(words.collect())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn malformed_page_tokens_are_refused() {
        for bad in ["!!", "AAAA", "not base64 at all", "AAAAAAAAAAAAAAAAAAAA"] {
            assert!(
                matches!(decode_page_token(bad), Err(Error::MalformedPageToken)),
                "{bad}"
            );
        }
        assert_eq!(decode_page_token("").ok(), Some(0));
    }

    #[test]
    fn a_merged_token_is_refused_for_other_ids_and_a_single_token_for_merged_ones() {
        let ids = |names: &[&str]| -> Vec<String> { names.iter().map(|n| (*n).into()).collect() };
        let token = encode_merged_token(&[3, 9], &ids(&["a", "b"]));
        assert_eq!(
            decode_merged_token(&token, &ids(&["a", "b"])).ok(),
            Some(vec![3, 9])
        );
        for other in [ids(&["b", "a"]), ids(&["a", "c"]), ids(&["ab", ""])] {
            assert!(
                matches!(
                    decode_merged_token(&token, &other),
                    Err(Error::MalformedPageToken)
                ),
                "{other:?}"
            );
        }
        assert!(matches!(
            decode_merged_token(&token, &ids(&["a", "b", "c"])),
            Err(Error::MalformedPageToken)
        ));
        assert!(matches!(
            decode_merged_token(&encode_page_token(3), &ids(&["a", "b"])),
            Err(Error::MalformedPageToken)
        ));
        assert_eq!(
            decode_merged_token("", &ids(&["a", "b"])).ok(),
            Some(vec![0, 0])
        );
    }

    proptest! {
        #[test]
        fn page_tokens_round_trip(sequence: u64) {
            prop_assert_eq!(decode_page_token(&encode_page_token(sequence)).ok(), Some(sequence));
        }

        #[test]
        fn merged_page_tokens_round_trip(positions in proptest::collection::vec(any::<u64>(), 2..34)) {
            let ids: Vec<String> = (0..positions.len()).map(|n| format!("cust-{n}")).collect();
            let token = encode_merged_token(&positions, &ids);
            prop_assert!(token.len() <= 512);
            prop_assert_eq!(decode_merged_token(&token, &ids).ok(), Some(positions));
        }
    }
}
