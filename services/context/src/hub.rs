//! The in-process fan-out of appended events to watchers.
//!
//! One broadcast channel per `(tenant, customer)` that somebody watches. The channel exists
//! only while it has subscribers: the last [`Subscription`] to drop removes it, so customers
//! nobody watches cost nothing. The hub is a notification path only; the store stays the
//! truth, and a watcher that falls behind re-reads from the store instead of losing events.
//!
//! Appends made by this process arrive whole ([`Hub::publish`]). A store shared with other
//! processes tells the hub, through its [`Feed`], about changes committed elsewhere: a new
//! version, an erasure, or that notices may have been missed. Those carry no event; the
//! watchers they wake read the store.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, MutexGuard},
};

use baton_proto::v1::Event;
use tokio::sync::{broadcast, watch};

/// Events buffered per watched customer before a slow watcher lags (and then catches up
/// from the store). The channel allocates every slot when it is made, so this is paid per
/// watched customer whether or not anything happens: a customer's events arrive at the pace
/// of a conversation, and a watcher that misses some reads them from the store.
const CAPACITY: usize = 16;

type Key = (String, String);

type Channels = HashMap<Key, broadcast::Sender<Message>>;

/// What travels on a customer's channel.
#[derive(Clone, Debug)]
enum Message {
    /// An event this process committed.
    Event(Arc<Event>),
    /// The history reached this version through another process.
    Changed(u64),
    /// Read the store and check that what was sent is still there.
    Recheck,
}

/// Shared map of watched customers. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    /// `(tenant, customer)` to the channel its watchers listen on.
    channels: Arc<Mutex<Channels>>,
    /// Dropped with the last clone of the hub, which ends its [`Feed`].
    alive: Arc<watch::Sender<()>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            channels: Arc::default(),
            alive: Arc::new(watch::channel(()).0),
        }
    }
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("watched", &self.lock().len())
            .finish()
    }
}

impl Hub {
    /// An empty hub.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Channels> {
        lock(&self.channels)
    }

    /// Where a store shared with other processes reports their changes to this hub.
    pub fn feed(&self) -> Feed {
        Feed {
            channels: Arc::downgrade(&self.channels),
            alive: self.alive.subscribe(),
        }
    }

    /// Sends `message` to the customer's watchers, if there are any.
    fn send(&self, tenant_id: &str, customer_id: &str, message: Message) {
        send(&self.lock(), tenant_id, customer_id, message);
    }

    /// Starts receiving the customer's events published from now on.
    pub fn subscribe(&self, tenant_id: &str, customer_id: &str) -> Subscription {
        let key = (tenant_id.to_owned(), customer_id.to_owned());
        let receiver = self
            .lock()
            .entry(key.clone())
            .or_insert_with(|| broadcast::channel(CAPACITY).0)
            .subscribe();
        Subscription {
            receiver: Some(receiver),
            key,
            hub: self.clone(),
        }
    }

    /// Hands a committed event to the customer's watchers, if there are any.
    pub fn publish(&self, tenant_id: &str, event: &Event) {
        self.send(
            tenant_id,
            &event.customer_id,
            Message::Event(Arc::new(event.clone())),
        );
    }

    /// Ends every watch of the customer (after erasure their history restarts at 1, which
    /// no existing watcher's position can follow).
    pub fn close(&self, tenant_id: &str, customer_id: &str) {
        self.lock()
            .remove(&(tenant_id.to_owned(), customer_id.to_owned()));
    }

    /// How many customers are watched now.
    #[cfg(test)]
    pub fn watched(&self) -> usize {
        self.lock().len()
    }
}

fn lock(channels: &Mutex<Channels>) -> MutexGuard<'_, Channels> {
    // A panic while holding the lock cannot leave the map inconsistent (every change is a
    // single insert or remove), so a poisoned lock is still safe to use.
    channels
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn send(channels: &Channels, tenant_id: &str, customer_id: &str, message: Message) {
    if let Some(sender) = channels.get(&(tenant_id.to_owned(), customer_id.to_owned())) {
        // An error means no receiver is left; the last one's drop removes the entry.
        let _ = sender.send(message);
    }
}

/// A hub's intake for changes committed through other processes to a shared store. It holds
/// the hub weakly: once the hub is gone, reports go nowhere and [`closed`](Self::closed)
/// returns. Notices are nudges, never events: the watchers they wake read the store, and
/// a duplicate or stale notice costs at most one read.
#[derive(Debug)]
pub struct Feed {
    /// The hub's channels, while it lives.
    channels: std::sync::Weak<Mutex<Channels>>,
    /// Closed when the hub is dropped.
    alive: watch::Receiver<()>,
}

impl Feed {
    fn send(&self, tenant_id: &str, customer_id: &str, message: Message) {
        if let Some(channels) = self.channels.upgrade() {
            send(&lock(&channels), tenant_id, customer_id, message);
        }
    }

    /// The customer's history reached `version`: their watchers read what they lack.
    pub fn appended(&self, tenant_id: &str, customer_id: &str, version: u64) {
        self.send(tenant_id, customer_id, Message::Changed(version));
    }

    /// The customer's history was erased: their watchers check that what they sent is still
    /// stored, and end when it is not.
    pub fn erased(&self, tenant_id: &str, customer_id: &str) {
        self.send(tenant_id, customer_id, Message::Recheck);
    }

    /// Notices may have been missed (the subscription was lost and is back): every watcher
    /// reads the store once, and ends if its customer was erased meanwhile.
    pub fn resync(&self) {
        if let Some(channels) = self.channels.upgrade() {
            for sender in lock(&channels).values() {
                let _ = sender.send(Message::Recheck);
            }
        }
    }

    /// Returns once the hub is gone, so whoever feeds it can stop.
    pub async fn closed(&mut self) {
        while self.alive.changed().await.is_ok() {}
    }
}

/// A watcher's end of a customer's channel. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    /// Always `Some` until drop, which takes it to unsubscribe before checking for others.
    receiver: Option<broadcast::Receiver<Message>>,
    /// Which channel this is, to remove it when the last subscriber leaves.
    key: Key,
    /// The hub it belongs to.
    hub: Hub,
}

/// What a subscription yields next.
#[derive(Debug, PartialEq)]
pub enum Received {
    /// The next published event, shared by every subscriber.
    Event(Arc<Event>),
    /// The history reached this version through another process; read the store.
    Changed(u64),
    /// Notices may have been missed, or the history was erased through another process: read
    /// the store and check that the last event sent is still there.
    Recheck,
    /// Messages were dropped because this subscriber fell behind; re-read from the store
    /// (checking, as for [`Received::Recheck`], since an erasure notice may be among them).
    Lagged,
    /// The channel was closed (erasure); the watch must end.
    Closed,
}

impl Subscription {
    /// Waits for the next event.
    pub async fn recv(&mut self) -> Received {
        let Some(receiver) = self.receiver.as_mut() else {
            return Received::Closed;
        };
        match receiver.recv().await {
            Ok(Message::Event(event)) => Received::Event(event),
            Ok(Message::Changed(version)) => Received::Changed(version),
            Ok(Message::Recheck) => Received::Recheck,
            Err(broadcast::error::RecvError::Lagged(_)) => Received::Lagged,
            Err(broadcast::error::RecvError::Closed) => Received::Closed,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        drop(self.receiver.take());
        let mut channels = self.hub.lock();
        // Subscribing happens under the same lock, so nobody can join between this check and
        // the removal.
        if channels
            .get(&self.key)
            .is_some_and(|sender| sender.receiver_count() == 0)
        {
            channels.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(customer: &str, sequence: u64) -> Event {
        Event {
            customer_id: customer.into(),
            sequence,
            ..Event::default()
        }
    }

    #[tokio::test]
    async fn delivers_to_the_right_customer_only() {
        let hub = Hub::new();
        let mut a = hub.subscribe("t1", "c1");
        let mut other_tenant = hub.subscribe("t2", "c1");
        hub.publish("t1", &event("c2", 1));
        hub.publish("t1", &event("c1", 7));
        assert_eq!(a.recv().await, Received::Event(Arc::new(event("c1", 7))));
        hub.publish("t2", &event("c1", 9));
        assert_eq!(
            other_tenant.recv().await,
            Received::Event(Arc::new(event("c1", 9)))
        );
    }

    #[tokio::test]
    async fn the_last_subscriber_leaving_removes_the_channel() {
        let hub = Hub::new();
        let a = hub.subscribe("t1", "c1");
        let b = hub.subscribe("t1", "c1");
        assert_eq!(hub.watched(), 1);
        drop(a);
        assert_eq!(hub.watched(), 1);
        drop(b);
        assert_eq!(hub.watched(), 0);
        // Publishing to nobody is fine and creates nothing.
        hub.publish("t1", &event("c1", 1));
        assert_eq!(hub.watched(), 0);
    }

    #[tokio::test]
    async fn a_slow_subscriber_is_told_it_lagged() {
        let hub = Hub::new();
        let mut slow = hub.subscribe("t1", "c1");
        for n in 0..(CAPACITY as u64 + 5) {
            hub.publish("t1", &event("c1", n + 1));
        }
        assert_eq!(slow.recv().await, Received::Lagged);
    }

    #[tokio::test]
    async fn a_feed_nudges_the_right_watchers_and_ends_with_the_hub() {
        let hub = Hub::new();
        let feed = hub.feed();
        let mut a = hub.subscribe("t1", "c1");
        let mut b = hub.subscribe("t1", "c2");
        feed.appended("t1", "c2", 4);
        feed.appended("t1", "c1", 3);
        assert_eq!(a.recv().await, Received::Changed(3));
        assert_eq!(b.recv().await, Received::Changed(4));
        feed.erased("t1", "c1");
        assert_eq!(a.recv().await, Received::Recheck);
        feed.resync();
        assert_eq!(a.recv().await, Received::Recheck);
        assert_eq!(b.recv().await, Received::Recheck);

        let mut feed = feed;
        drop((a, b, hub));
        tokio::time::timeout(std::time::Duration::from_secs(5), feed.closed())
            .await
            .expect("the feed closes with its hub");
        feed.resync();
    }

    #[tokio::test]
    async fn closing_ends_the_subscription() {
        let hub = Hub::new();
        let mut sub = hub.subscribe("t1", "c1");
        hub.close("t1", "c1");
        assert_eq!(sub.recv().await, Received::Closed);
        assert_eq!(hub.watched(), 0);
    }
}
