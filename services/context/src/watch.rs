//! One watch of a customer's history (and of the histories merged into it), gap-free.
//!
//! A watch is a stream the response body polls directly: no task of its own, no channel and
//! no buffer beyond the events of one store read, so an idle watch is its subscriptions and a
//! few positions. It subscribes to the hub before it reads anything, so an event committed at
//! any moment is either in the store read or in the live feed (or both, and the duplicate is
//! skipped by its sequence). Live events are forwarded only when they are exactly the next
//! sequence; anything else (a lag of the broadcast, two appends published out of order) is
//! filled from the store, which is the truth. Nothing is read or sent ahead of the client: a
//! slow client slows its own watch (HTTP/2 flow control stops polling it) instead of growing
//! memory.
//!
//! On a store shared by several processes (Redis), appends and erasures made through another
//! replica reach the hub as notices ([`ContextStore::follow`]): a new version wakes the
//! watch to read what it lacks, an erasure to check that the last event it sent is still
//! stored (and to end when it is not). Notices missed while the store's subscription was
//! down are made up for by a resync: every watch checks the store once. The watch never
//! polls; with nothing happening it costs the store nothing.
//!
//! The check compares the stored event at the last sequence sent with the one sent, id and
//! all, so an erased history that grew back to that length meanwhile is not mistaken for it.
//!
//! A watch of several histories (a customer and the ids merged into it) keeps a position in
//! each and subscribes to each. Stored events are merged by `recorded_at`: the next event
//! sent is the earliest of the histories' next ones, each history in sequence order, and a
//! history with more stored is read before anything later is sent. The watch ends when any
//! of its histories is erased.

use std::{collections::VecDeque, pin::Pin, sync::Arc};

use baton_proto::v1::Event;
use baton_runtime::shutdown::Shutdown;
use futures::{Stream, future};

use crate::{
    Error,
    hub::{Hub, Received, Subscription},
    store::ContextStore,
};

/// Events read from the store at a time while catching up.
const READ_BATCH: usize = 256;

/// What a watch yields: events in order, or one error after which it ends.
pub type Events = Pin<Box<dyn Stream<Item = Result<Event, Error>> + Send>>;

/// Opens a watch of `histories` (customer id and the sequence to start after; the customer's
/// own first) of `tenant_id`, ending when `shutdown` fires.
pub(crate) fn open<S: ContextStore>(
    store: Arc<S>,
    hub: &Hub,
    shutdown: Shutdown,
    tenant_id: &str,
    histories: Vec<(String, u64)>,
) -> Events {
    let followed = histories
        .into_iter()
        .map(|(customer_id, after)| Followed {
            subscription: hub.subscribe(tenant_id, &customer_id),
            customer_id,
            last: after,
            last_id: None,
            read: after,
            unread: true,
            check: false,
            queue: VecDeque::new(),
        })
        .collect();
    let watch = Watch {
        store,
        tenant_id: tenant_id.to_owned(),
        followed,
    };
    Box::pin(futures::stream::unfold(
        Some((watch, shutdown)),
        |state| async move {
            let (mut watch, shutdown) = state?;
            let next = tokio::select! {
                () = shutdown.triggered() => {
                    tracing::debug!("watch ended by shutdown");
                    return None;
                }
                next = watch.next() => next,
            };
            match next {
                Ok(event) => Some((Ok(event), Some((watch, shutdown)))),
                Err(Stop::Ended) => None,
                // The error is the last item: the watch is dropped with it.
                Err(Stop::Failed(err)) => Some((Err(err), None)),
            }
        },
    ))
}

/// Why a watch stops.
enum Stop {
    /// Its history was erased.
    Ended,
    /// The store failed; the client is told.
    Failed(Error),
}

/// One history a watch follows.
struct Followed {
    customer_id: String,
    /// Live events and nudges for this history.
    subscription: Subscription,
    /// The sequence of the last event sent (or the caller's starting point).
    last: u64,
    /// The id of the last event sent; `None` before the first.
    last_id: Option<String>,
    /// The sequence of the last event read from the store into `queue` (or `last`).
    read: u64,
    /// The store may hold events after `read`: read them before waiting for anything.
    unread: bool,
    /// The next read starts at the last event sent, which must still be the same one.
    check: bool,
    /// Events read and not sent yet, in sequence order.
    queue: VecDeque<Event>,
}

struct Watch<S> {
    store: Arc<S>,
    tenant_id: String,
    /// The customer's own history first, then those merged into it.
    followed: Vec<Followed>,
}

/// Where an event sorts among several histories' events: by when the store recorded it,
/// then by which history it is in (the customer's own first, then `merged_ids` in order).
pub(crate) fn order(event: &Event, history: usize) -> (i64, i32, usize) {
    let at = event.recorded_at.unwrap_or_default();
    (at.seconds, at.nanos, history)
}

impl<S: ContextStore> Watch<S> {
    /// The next event to send.
    async fn next(&mut self) -> Result<Event, Stop> {
        loop {
            for i in 0..self.followed.len() {
                if self.followed[i].unread && self.followed[i].queue.is_empty() {
                    self.read(i).await?;
                }
            }
            let earliest = self
                .followed
                .iter()
                .enumerate()
                .filter_map(|(i, f)| f.queue.front().map(|event| order(event, i)))
                .min();
            if let Some((_, _, i)) = earliest {
                let followed = &mut self.followed[i];
                let event = followed.queue.pop_front().ok_or(Stop::Ended)?;
                followed.last = event.sequence;
                followed.last_id = Some(event.event_id.clone());
                return Ok(event);
            }
            if let Some(event) = self.wait().await? {
                return Ok(event);
            }
        }
    }

    /// Waits for something to happen to any history: a live event that is exactly the next
    /// one of its history is returned; anything else marks what to read.
    async fn wait(&mut self) -> Result<Option<Event>, Stop> {
        let (received, i) = match self.followed.as_mut_slice() {
            [only] => (only.subscription.recv().await, 0),
            several => {
                let (received, i, _) =
                    future::select_all(several.iter_mut().map(|f| Box::pin(f.subscription.recv())))
                        .await;
                (received, i)
            }
        };
        let followed = &mut self.followed[i];
        match received {
            Received::Event(event) if event.sequence <= followed.last => Ok(None),
            Received::Event(event) if event.sequence == followed.last + 1 && !followed.unread => {
                let event = Arc::unwrap_or_clone(event);
                followed.last = event.sequence;
                followed.read = event.sequence;
                followed.last_id = Some(event.event_id.clone());
                Ok(Some(event))
            }
            // Already sent (this process's own append, heard again from the store).
            Received::Changed(version) if version <= followed.last => Ok(None),
            Received::Event(_) | Received::Changed(_) => {
                followed.unread = true;
                Ok(None)
            }
            Received::Recheck | Received::Lagged => {
                followed.unread = true;
                followed.check = true;
                Ok(None)
            }
            Received::Closed => {
                tracing::debug!("watch ended by erasure");
                Err(Stop::Ended)
            }
        }
    }

    /// Reads the next batch of history `i` into its queue. With `check` (a recheck) the
    /// read starts at the last event sent, which must still be there, the same event: when it
    /// is not, the history was erased through another process (whose erasure closes no
    /// channel of this process's hub), and the watch ends.
    async fn read(&mut self, i: usize) -> Result<(), Stop> {
        let followed = &mut self.followed[i];
        // A check happens only once everything read was sent, so `read` is `last` then.
        let check = std::mem::take(&mut followed.check) && followed.last > 0;
        let from = if check {
            followed.last - 1
        } else {
            followed.read
        };
        let events = self
            .store
            .events_after(&self.tenant_id, &followed.customer_id, from, READ_BATCH)
            .await
            .map_err(Stop::Failed)?;
        followed.unread = events.len() == READ_BATCH;
        let mut events = events.into_iter();
        if check
            && events.next().is_none_or(|first| {
                first.sequence != followed.last
                    || followed
                        .last_id
                        .as_ref()
                        .is_some_and(|id| *id != first.event_id)
            })
        {
            tracing::debug!("watch ended by erasure through another process");
            return Err(Stop::Ended);
        }
        followed.queue.extend(events);
        if let Some(event) = followed.queue.back() {
            followed.read = event.sequence;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{conformance, history::History, store::memory::MemoryStore};

    use std::sync::atomic::Ordering;

    use futures::StreamExt as _;

    fn spawn<S: ContextStore>(
        store: Arc<S>,
        hub: &Hub,
        shutdown: Shutdown,
        tenant_id: &str,
        customer_id: &str,
        after: u64,
    ) -> Events {
        open(
            store,
            hub,
            shutdown,
            tenant_id,
            vec![(customer_id.into(), after)],
        )
    }

    async fn next(rx: &mut Events) -> Option<u64> {
        tokio::time::timeout(std::time::Duration::from_secs(10), rx.next())
            .await
            .expect("the watch answers in time")
            .map(|item| item.expect("no error").sequence)
    }

    #[tokio::test]
    async fn a_watcher_that_falls_far_behind_still_gets_every_event_once() {
        let store = MemoryStore::default();
        let history = History::new(store, Shutdown::new());
        let mut rx = history.watch("t1", "c1", 0);
        // Far more than the broadcast capacity and a store read together, unread.
        let total = 1000;
        for n in 0..total {
            let new =
                conformance::new_event("t1", "c1", &format!("k{n}"), 0, conformance::started("x"));
            history
                .append(crate::history::Append {
                    tenant_id: new.tenant_id,
                    customer_id: new.customer_id,
                    event: new.event,
                    idempotency_key: new.idempotency_key,
                    request_digest: new.request_digest,
                    expected_version: 0,
                })
                .await
                .expect("append");
        }
        for expected in 1..=total {
            assert_eq!(next(&mut rx).await, Some(expected));
        }
    }

    #[tokio::test]
    async fn live_events_out_of_order_are_filled_from_the_store_and_never_repeated() {
        let store = Arc::new(MemoryStore::default());
        let hub = Hub::new();
        let append = |n: u64| {
            let store = Arc::clone(&store);
            async move {
                store
                    .append(conformance::new_event(
                        "t1",
                        "c1",
                        &format!("k{n}"),
                        0,
                        conformance::started("x"),
                    ))
                    .await
                    .expect("append")
                    .event
            }
        };
        for n in 1..=3 {
            append(n).await;
        }
        let mut rx = spawn(Arc::clone(&store), &hub, Shutdown::new(), "t1", "c1", 1);
        assert_eq!(next(&mut rx).await, Some(2));
        assert_eq!(next(&mut rx).await, Some(3));

        // 4 and 5 commit, but 5 is published first (two appends racing to publish).
        let four = append(4).await;
        let five = append(5).await;
        hub.publish("t1", &five);
        assert_eq!(
            next(&mut rx).await,
            Some(4),
            "the gap is read from the store"
        );
        assert_eq!(next(&mut rx).await, Some(5));
        hub.publish("t1", &four);
        hub.publish("t1", &five);
        let six = append(6).await;
        hub.publish("t1", &six);
        assert_eq!(next(&mut rx).await, Some(6), "late duplicates are skipped");
    }

    #[tokio::test]
    async fn a_recheck_keeps_an_intact_watch_and_ends_one_whose_history_grew_back() {
        let store = Arc::new(MemoryStore::default());
        let hub = Hub::new();
        let feed = hub.feed();
        let append = |key: &'static str| {
            let store = Arc::clone(&store);
            async move {
                store
                    .append(conformance::new_event(
                        "t1",
                        "c1",
                        key,
                        0,
                        conformance::started("x"),
                    ))
                    .await
                    .expect("append")
            }
        };
        append("a1").await;
        append("a2").await;
        let mut rx = spawn(Arc::clone(&store), &hub, Shutdown::new(), "t1", "c1", 0);
        assert_eq!(next(&mut rx).await, Some(1));
        assert_eq!(next(&mut rx).await, Some(2));

        // A resync over an unchanged history sends nothing and ends nothing.
        feed.resync();
        append("a3").await;
        feed.appended("t1", "c1", 3);
        feed.appended("t1", "c1", 3);
        assert_eq!(next(&mut rx).await, Some(3), "read once, sent once");

        // Erased elsewhere and grown back to the same length before the notice arrives: the
        // sequences match, the events do not.
        store.forget("t1", "c1").await.expect("forget");
        for key in ["b1", "b2", "b3"] {
            append(key).await;
        }
        feed.erased("t1", "c1");
        assert_eq!(next(&mut rx).await, None, "the watch ends");
    }

    #[tokio::test]
    async fn shutdown_ends_the_watch_and_unsubscribes() {
        let store = Arc::new(MemoryStore::default());
        let hub = Hub::new();
        let shutdown = Shutdown::new();
        let mut rx = spawn(store, &hub, shutdown.clone(), "t1", "c1", 0);
        assert_eq!(hub.watched(), 1);
        shutdown.trigger();
        assert_eq!(next(&mut rx).await, None);
        assert_eq!(hub.watched(), 0);
    }

    #[tokio::test]
    async fn a_dropped_watch_unsubscribes_and_holds_no_task() {
        let store = Arc::new(MemoryStore::default());
        let hub = Hub::new();
        let shutdown = Shutdown::new();
        let rx = spawn(Arc::clone(&store), &hub, shutdown.clone(), "t1", "c1", 0);
        let merged = open(
            store,
            &hub,
            shutdown,
            "t1",
            vec![("c2".into(), 0), ("c3".into(), 0)],
        );
        assert_eq!(hub.watched(), 3);
        drop((rx, merged));
        assert_eq!(hub.watched(), 0, "nothing of the watches is left running");
    }

    #[tokio::test]
    async fn a_merged_watch_interleaves_stored_histories_and_follows_each_live() {
        let store = Arc::new(MemoryStore::default());
        let hub = Hub::new();
        let recorded = std::sync::atomic::AtomicI64::new(0);
        let append = |customer: &'static str, key: String| {
            let store = Arc::clone(&store);
            let mut new =
                conformance::new_event("t1", customer, &key, 0, conformance::started("x"));
            new.event.recorded_at = Some(prost_types::Timestamp {
                seconds: 1_700_000_000 + recorded.fetch_add(1, Ordering::Relaxed),
                nanos: 0,
            });
            async move { store.append(new).await.expect("append").event }
        };
        // Recorded alternately: a1 b1 a2 b2 a3 b3.
        for n in 1..=3 {
            append("a", format!("a{n}")).await;
            append("b", format!("b{n}")).await;
        }
        let mut rx = open(
            Arc::clone(&store),
            &hub,
            Shutdown::new(),
            "t1",
            vec![("a".into(), 1), ("b".into(), 0)],
        );
        let mut seen = Vec::new();
        for _ in 0..5 {
            let event = rx.next().await.expect("an event").expect("no error");
            seen.push(format!("{}{}", event.customer_id, event.sequence));
        }
        assert_eq!(
            seen,
            ["b1", "a2", "b2", "a3", "b3"],
            "from each one's position, by time"
        );

        // Live: an append under the merged id wakes the watch, a gap is read from the store.
        let b4 = append("b", "b4".into()).await;
        hub.publish("t1", &b4);
        let event = rx.next().await.expect("an event").expect("no error");
        assert_eq!((event.customer_id.as_str(), event.sequence), ("b", 4));
        append("a", "a4".into()).await;
        let a5 = append("a", "a5".into()).await;
        hub.publish("t1", &a5);
        for expected in [4, 5] {
            let event = rx.next().await.expect("an event").expect("no error");
            assert_eq!(
                (event.customer_id.as_str(), event.sequence),
                ("a", expected)
            );
        }
        // Erasing any of the histories ends the watch.
        hub.close("t1", "b");
        assert!(rx.next().await.is_none());
    }
}
