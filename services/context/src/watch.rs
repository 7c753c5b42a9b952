//! One watch of a customer's history, gap-free.
//!
//! The watch subscribes to the hub before it reads anything, so an event committed at any
//! moment is either in the store read or in the live feed (or both, and the duplicate is
//! skipped by its sequence). Live events are forwarded only when they are exactly the next
//! sequence; anything else (a lag of the broadcast, two appends published out of order) is
//! filled from the store, which is the truth. The channel to the client is bounded, so a slow
//! client slows its own watch instead of growing memory.
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

use std::sync::Arc;

use baton_proto::v1::Event;
use baton_runtime::shutdown::Shutdown;
use tokio::sync::mpsc;
use tracing::Instrument as _;

use crate::{
    Error,
    hub::{Hub, Received, Subscription},
    store::ContextStore,
};

/// Events buffered towards one client.
const CLIENT_BUFFER: usize = 64;
/// Events read from the store at a time while catching up.
const READ_BATCH: usize = 256;

/// Starts a watch task and returns its receiving end.
pub(crate) fn spawn<S: ContextStore>(
    store: Arc<S>,
    hub: &Hub,
    shutdown: Shutdown,
    tenant_id: &str,
    customer_id: &str,
    after_version: u64,
) -> mpsc::Receiver<Result<Event, Error>> {
    let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
    let subscription = hub.subscribe(tenant_id, customer_id);
    let span = tracing::info_span!("watch", tenant = %tenant_id, customer = %customer_id);
    let mut watch = Watch {
        store,
        tx: tx.clone(),
        tenant_id: tenant_id.to_owned(),
        customer_id: customer_id.to_owned(),
        last: after_version,
        last_id: None,
    };
    tokio::spawn(
        async move {
            tokio::select! {
                () = shutdown.triggered() => tracing::debug!("watch ended by shutdown"),
                () = tx.closed() => tracing::debug!("watcher went away"),
                () = watch.run(subscription) => {}
            }
        }
        .instrument(span),
    );
    rx
}

/// The watch ends: the client left or an error was already sent.
struct Stop;

struct Watch<S> {
    store: Arc<S>,
    tx: mpsc::Sender<Result<Event, Error>>,
    tenant_id: String,
    customer_id: String,
    /// The sequence of the last event sent (or the caller's `after_version`).
    last: u64,
    /// The id of the last event sent; `None` before the first.
    last_id: Option<String>,
}

impl<S: ContextStore> Watch<S> {
    async fn run(&mut self, mut subscription: Subscription) {
        if self.catch_up(false).await.is_err() {
            return;
        }
        loop {
            if self.receive(subscription.recv().await).await.is_err() {
                return;
            }
        }
    }

    /// Forwards what the hub delivered, filling any gap from the store.
    async fn receive(&mut self, received: Received) -> Result<(), Stop> {
        match received {
            Received::Event(event) if event.sequence <= self.last => Ok(()),
            Received::Event(event) if event.sequence == self.last + 1 => {
                self.send(Arc::unwrap_or_clone(event)).await
            }
            // Already sent (this process's own append, heard again from the store).
            Received::Changed(version) if version <= self.last => Ok(()),
            Received::Event(_) | Received::Changed(_) => self.catch_up(false).await,
            Received::Recheck | Received::Lagged => self.catch_up(true).await,
            Received::Closed => {
                tracing::debug!("watch ended by erasure");
                Err(Stop)
            }
        }
    }

    /// Sends every stored event after the last one sent. With `check_last` (a recheck) the
    /// first read starts at the last event sent, which must still be there, the same event:
    /// when it is not, the history was erased through another process (whose erasure closes
    /// no channel of this process's hub), and the watch ends. One read either way.
    async fn catch_up(&mut self, check_last: bool) -> Result<(), Stop> {
        let mut check = check_last && self.last > 0;
        loop {
            let from = if check { self.last - 1 } else { self.last };
            let batch = self
                .store
                .events_after(&self.tenant_id, &self.customer_id, from, READ_BATCH)
                .await;
            let events = match batch {
                Ok(events) => events,
                Err(err) => {
                    let _ = self.tx.send(Err(err)).await;
                    return Err(Stop);
                }
            };
            let complete = events.len() < READ_BATCH;
            let mut events = events.into_iter();
            if std::mem::take(&mut check)
                && events.next().is_none_or(|first| {
                    first.sequence != self.last
                        || self
                            .last_id
                            .as_ref()
                            .is_some_and(|id| *id != first.event_id)
                })
            {
                tracing::debug!("watch ended by erasure through another process");
                return Err(Stop);
            }
            for event in events {
                self.send(event).await?;
            }
            if complete {
                return Ok(());
            }
        }
    }

    async fn send(&mut self, event: Event) -> Result<(), Stop> {
        self.last = event.sequence;
        self.last_id = Some(event.event_id.clone());
        self.tx.send(Ok(event)).await.map_err(|_| Stop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{conformance, history::History, store::memory::MemoryStore};

    async fn next(rx: &mut mpsc::Receiver<Result<Event, Error>>) -> Option<u64> {
        tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("the watch answers in time")
            .map(|item| item.expect("no error").sequence)
    }

    #[tokio::test]
    async fn a_watcher_that_falls_far_behind_still_gets_every_event_once() {
        let store = MemoryStore::default();
        let history = History::new(store, Shutdown::new());
        let mut rx = history.watch("t1", "c1", 0);
        // Far more than the client buffer and the broadcast capacity together, unread.
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
}
