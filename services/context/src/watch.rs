//! One watch of a customer's history, gap-free.
//!
//! The watch subscribes to the hub before it reads anything, so an event committed at any
//! moment is either in the store read or in the live feed (or both, and the duplicate is
//! skipped by its sequence). Live events are forwarded only when they are exactly the next
//! sequence; anything else (a lag of the broadcast, two appends published out of order) is
//! filled from the store, which is the truth. The channel to the client is bounded, so a slow
//! client slows its own watch instead of growing memory.
//!
//! On a store shared by several processes (Redis), an append made through another replica
//! never reaches this process's feed; the watch then also reads the store every
//! [`ContextStore::shared_poll_interval`], so such an event arrives within that interval, and
//! a watch whose customer was erased through another replica ends within it.

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
}

impl<S: ContextStore> Watch<S> {
    async fn run(&mut self, mut subscription: Subscription) {
        if self.catch_up(false).await.is_err() {
            return;
        }
        let mut poll = self.store.shared_poll_interval().map(|every| {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            interval
        });
        loop {
            let step = match poll.as_mut() {
                None => self.receive(subscription.recv().await).await,
                Some(interval) => tokio::select! {
                    received = subscription.recv() => self.receive(received).await,
                    _ = interval.tick() => self.catch_up(true).await,
                },
            };
            if step.is_err() {
                return;
            }
        }
    }

    /// Forwards what the in-process feed delivered, filling any gap from the store.
    async fn receive(&mut self, received: Received) -> Result<(), Stop> {
        match received {
            Received::Event(event) if event.sequence <= self.last => Ok(()),
            Received::Event(event) if event.sequence == self.last + 1 => {
                self.send(Arc::unwrap_or_clone(event)).await
            }
            Received::Event(_) | Received::Lagged => self.catch_up(false).await,
            Received::Closed => {
                tracing::debug!("watch ended by erasure");
                Err(Stop)
            }
        }
    }

    /// Sends every stored event after the last one sent. With `check_last` (a poll of a shared
    /// store) the first read starts at the last event sent, which must still be there: when it
    /// is gone, the history was erased through another process, whose erasure never reaches
    /// this process's feed, and the watch ends. One read either way.
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
                && events
                    .next()
                    .is_none_or(|first| first.sequence != self.last)
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
