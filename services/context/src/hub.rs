//! The in-process fan-out of appended events to watchers.
//!
//! One broadcast channel per `(tenant, customer)` that somebody watches. The channel exists
//! only while it has subscribers: the last [`Subscription`] to drop removes it, so customers
//! nobody watches cost nothing. The hub is a notification path only; the store stays the
//! truth, and a watcher that falls behind re-reads from the store instead of losing events.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex, MutexGuard},
};

use baton_proto::v1::Event;
use tokio::sync::broadcast;

/// Events buffered per watched customer before a slow watcher lags (and then catches up
/// from the store).
const CAPACITY: usize = 256;

type Key = (String, String);

/// Shared map of watched customers. Cheap to clone.
#[derive(Clone, Default)]
pub struct Hub {
    /// `(tenant, customer)` to the channel its watchers listen on.
    channels: Arc<Mutex<HashMap<Key, broadcast::Sender<Arc<Event>>>>>,
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

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, broadcast::Sender<Arc<Event>>>> {
        // A panic while holding the lock cannot leave the map inconsistent (every change is a
        // single insert or remove), so a poisoned lock is still safe to use.
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
        let key = (tenant_id.to_owned(), event.customer_id.clone());
        if let Some(sender) = self.lock().get(&key) {
            // An error means no receiver is left; the last one's drop removes the entry.
            let _ = sender.send(Arc::new(event.clone()));
        }
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

/// A watcher's end of a customer's channel. Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    /// Always `Some` until drop, which takes it to unsubscribe before checking for others.
    receiver: Option<broadcast::Receiver<Arc<Event>>>,
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
    /// Events were dropped because this subscriber fell behind; re-read from the store.
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
            Ok(event) => Received::Event(event),
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
    async fn closing_ends_the_subscription() {
        let hub = Hub::new();
        let mut sub = hub.subscribe("t1", "c1");
        hub.close("t1", "c1");
        assert_eq!(sub.recv().await, Received::Closed);
        assert_eq!(hub.watched(), 0);
    }
}
