//! Listening to a pub/sub channel on a connection of its own, through every reconnection.
//!
//! A subscribed connection can issue no other command, so it is never the shared one: each
//! [`Subscriber`] holds one dedicated connection, made with the same url, password and TLS
//! settings as the store's (on a cluster, to one seed node at a time: a `PUBLISH` reaches
//! subscribers on every node, so any one will do, and a failed attempt tries the next). Redis keeps no message for a subscriber that is away, so every
//! time the subscription is (re)established the subscriber says so ([`Heard::Subscribed`]):
//! whoever listens must then re-read whatever it follows, since notices may have been missed.

use std::time::Duration;

use redis::aio::{PubSubSink, PubSubStream};
use tokio_stream::StreamExt as _;

use super::RedisDb;

/// How long connecting and subscribing may take before the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a quiet subscription checks that its connection still answers: a connection
/// that died without closing (a lost peer, a partition) would otherwise go unnoticed, and
/// with it every message. One command per subscriber per period, whatever listens behind it.
const PING_EVERY: Duration = Duration::from_secs(30);
/// How long the server may take to answer that check.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest pause between two attempts to reconnect.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// What a [`Subscriber`] hears next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// The subscription is established, for the first time or again after its connection
    /// was lost: anything published in between was missed.
    Subscribed,
    /// A message published on the channel.
    Message(Vec<u8>),
}

/// One channel, heard on a dedicated connection that reconnects by itself. Made by
/// [`RedisDb::subscriber`]; it connects on the first [`next`](Self::next).
pub struct Subscriber {
    /// Open the dedicated connection (the store's client, or a cluster's seeds in turn: same
    /// password and TLS). Never empty.
    clients: Vec<redis::Client>,
    /// `host:port`, for messages (never the url, which may hold a password).
    addr: String,
    /// The channel listened to.
    channel: String,
    /// The live subscription; `None` until connected and after the connection is lost.
    live: Option<Live>,
    /// Failed attempts since the subscription was last established, for the pause.
    failures: u32,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber")
            .field("addr", &self.addr)
            .field("channel", &self.channel)
            .field("subscribed", &self.live.is_some())
            .finish_non_exhaustive()
    }
}

/// An established subscription.
struct Live {
    /// Sends the liveness checks.
    sink: PubSubSink,
    /// Yields the messages; ends when the connection does.
    stream: PubSubStream,
    /// When the next liveness check is due.
    ping: tokio::time::Interval,
}

impl RedisDb {
    /// The name of the service's pub/sub channel `name`: `baton:<service>:<name>`. Not a key:
    /// it holds nothing and belongs to no slot.
    pub fn channel(&self, name: &str) -> String {
        format!("baton:{}:{name}", self.service)
    }

    /// A subscriber to `channel` on a connection of its own, made as this one was. Nothing
    /// happens until its first [`Subscriber::next`].
    pub fn subscriber(&self, channel: &str) -> Subscriber {
        Subscriber {
            clients: self.subscribe_via.clone(),
            addr: self.addr.clone(),
            channel: channel.to_owned(),
            live: None,
            failures: 0,
        }
    }
}

impl Subscriber {
    /// Waits for what comes next: [`Heard::Subscribed`] each time the subscription is
    /// (re)established, then the messages. Never fails: a lost connection is made again,
    /// with a growing pause between failed attempts, and is logged. Cancel-safe between
    /// messages: dropping the future loses no message already received.
    pub async fn next(&mut self) -> Heard {
        loop {
            let Some(live) = self.live.as_mut() else {
                match self.subscribe().await {
                    Ok(live) => {
                        if self.failures > 0 {
                            tracing::info!(addr = %self.addr, channel = %self.channel, "subscribed again");
                        }
                        self.live = Some(live);
                        self.failures = 0;
                        return Heard::Subscribed;
                    }
                    Err(err) => {
                        tracing::warn!(addr = %self.addr, channel = %self.channel, attempt = self.failures + 1, error = %err, "subscription failed");
                        let pause = reconnect_delay(self.failures);
                        self.failures = self.failures.saturating_add(1);
                        tokio::time::sleep(pause).await;
                        continue;
                    }
                }
            };
            tokio::select! {
                message = live.stream.next() => match message {
                    Some(message) => return Heard::Message(message.get_payload_bytes().to_vec()),
                    None => {
                        tracing::warn!(addr = %self.addr, channel = %self.channel, "subscription lost");
                        self.live = None;
                    }
                },
                _ = live.ping.tick() => {
                    let answer = tokio::time::timeout(PING_TIMEOUT, live.sink.ping::<redis::Value>()).await;
                    if !matches!(answer, Ok(Ok(_))) {
                        tracing::warn!(addr = %self.addr, channel = %self.channel, "subscription does not answer");
                        self.live = None;
                    }
                }
            }
        }
    }

    /// Connects and subscribes, within [`CONNECT_TIMEOUT`].
    async fn subscribe(&self) -> Result<Live, String> {
        let connect = async {
            // After each failure the next seed, so one node down does not stop the listening.
            let client = &self.clients[self.failures as usize % self.clients.len()];
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&self.channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        let pubsub = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| format!("no answer within {CONNECT_TIMEOUT:?}"))?
            .map_err(|e| e.to_string())?;
        let (sink, stream) = pubsub.split();
        let start = tokio::time::Instant::now() + PING_EVERY;
        let mut ping = tokio::time::interval_at(start, PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ok(Live { sink, stream, ping })
    }
}

/// The pause after failed attempt number `failures` (from 0): 50 ms doubling up to
/// [`MAX_RECONNECT_DELAY`], so a restarted server is found again quickly and a lasting outage
/// costs one attempt every two seconds.
fn reconnect_delay(failures: u32) -> Duration {
    Duration::from_millis(50 << failures.min(6)).min(MAX_RECONNECT_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis_db::{RedisServer, Writes};

    async fn next(subscriber: &mut Subscriber) -> Heard {
        tokio::time::timeout(Duration::from_secs(10), subscriber.next())
            .await
            .expect("the subscriber hears something in time")
    }

    #[tokio::test]
    async fn a_committed_publish_is_heard_and_a_conflicting_one_is_not() {
        let server = RedisServer::start();
        let db = RedisDb::connect(&server.url(), "test")
            .await
            .expect("connect");
        let channel = db.channel("notices");
        assert_eq!(channel, "baton:test:notices");
        let mut subscriber = db.subscriber(&channel);
        assert_eq!(next(&mut subscriber).await, Heard::Subscribed);

        let guard = db.key("t1", &["version"]);
        let mut writes = Writes::new();
        writes
            .set(&db.key("t1", &["a"]), b"1")
            .publish(&channel, b"one");
        db.commit(&guard, 0, &writes).await.expect("commit");
        let mut stale = Writes::new();
        stale.publish(&channel, b"stale");
        assert_eq!(
            db.commit(&guard, 0, &stale).await.expect("commit"),
            super::super::Commit::Conflict
        );
        let mut alone = Writes::new();
        alone.publish(&channel, b"two");
        db.commit(&guard, 1, &alone).await.expect("commit");
        assert_eq!(next(&mut subscriber).await, Heard::Message(b"one".to_vec()));
        assert_eq!(next(&mut subscriber).await, Heard::Message(b"two".to_vec()));
    }

    #[tokio::test]
    async fn a_killed_subscription_is_established_again_and_says_so() {
        let server = RedisServer::start();
        let db = RedisDb::connect(&server.url(), "test")
            .await
            .expect("connect");
        let channel = db.channel("notices");
        let mut subscriber = db.subscriber(&channel);
        assert_eq!(next(&mut subscriber).await, Heard::Subscribed);
        let killed: u64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut db.conn())
            .await
            .expect("client kill");
        assert_eq!(killed, 1);
        assert_eq!(next(&mut subscriber).await, Heard::Subscribed);
        let _: u64 = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg("after")
            .query_async(&mut db.conn())
            .await
            .expect("publish");
        assert_eq!(
            next(&mut subscriber).await,
            Heard::Message(b"after".to_vec())
        );
    }

    #[test]
    fn reconnect_delays_grow_to_a_ceiling() {
        assert_eq!(reconnect_delay(0), Duration::from_millis(50));
        assert_eq!(reconnect_delay(1), Duration::from_millis(100));
        assert_eq!(reconnect_delay(30), MAX_RECONNECT_DELAY);
    }
}
