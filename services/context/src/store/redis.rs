//! The context store on Redis (keys laid out for Redis Cluster), over [`baton_store::redis_db`].
//!
//! # Keys
//!
//! The group (hash tag) is the tenant, so one commit can change a customer's history and the
//! tenant-wide idempotency records together. Within it (`␟` is the key part separator):
//!
//! - `events␟<customer>`: a sorted set of the encoded [`Event`]s scored by sequence, so a page
//!   is one `ZRANGE .. BYSCORE LIMIT`. Scores are doubles, exact for sequences below 2^53.
//! - `view␟<customer>`: the encoded view ([`ContextSnapshot`]); its version is the history's.
//! - `append␟<idempotency key>`: what the tenant remembers of one idempotency key (scoped to
//!   its caller), a hash with `customer` (whose append used it) and `answer` (the digest of the
//!   request it acknowledged followed by the encoded [`AppendEventResponse`], as
//!   [`idempotency::seal`] writes it).
//! - `append-keys␟<customer>`: the idempotency keys of the customer's appends, so erasure finds
//!   their records without scanning the tenant.
//! - `guard␟<shard>`: the commit guard ([`RedisDb::commit`]) of every customer whose id hashes
//!   to that shard, one of [`GUARD_SHARDS`]. A guard must never go back to a value it held
//!   (a writer that read the old value could then commit over an erased history), so it
//!   outlives erasure; shared by a shard of customers, it names none of them, and nothing
//!   about an erased customer remains. The price is an occasional needless retry when two
//!   customers of one shard append at the same moment.
//!
//! # Why it is atomic
//!
//! Every change to a customer's events, view and `append-keys`, and to an `append` record
//! naming the customer, is one guarded commit on the customer's guard, decided on a `MULTI`
//! snapshot that read the guard with the state: all of it applies, and only when nothing about
//! the customer changed since the snapshot; otherwise the operation reads again and decides
//! again (at most [`MAX_ATTEMPTS`] times). That keeps sequences gap-free and the view the fold
//! of the events under any concurrency.
//!
//! The idempotency key is tenant-wide, though, and appends for two customers use two guards.
//! So the commit also checks the key's record ([`Writes::expect_field`]): it applies only if
//! the record's `customer` is still what the snapshot saw (none, for a new key). Of two
//! customers appending with one new key at once, the first commit writes the record and the
//! second fails that check, reads again, and finds the key used by another customer
//! ([`Error::IdempotencyKeyReused`]). A record naming this customer returns its answer when
//! it was for the same request, and is refused when it was not
//! ([`StoreError::KeyReused`](baton_store::StoreError)); the request's digest is written by the
//! same commit as the customer, so the check covers it too. An append refused for its `expected_version` writes nothing, so a refused key is not
//! remembered.
//!
//! Erasure is one guarded commit too: the events, the view, the `append-keys` set and every
//! `append` record naming the customer.
//!
//! # Notices
//!
//! Every commit that changes a history also publishes, in the same script, a notice on the
//! service's channel `baton:context:notices`: `<version>␟<tenant>␟<customer>`, the version
//! in decimal after an append or `erased` after an erasure. A committed change is therefore
//! never left unannounced by a crash between commit and publish. Each process listens on one
//! dedicated connection ([`ContextStore::follow`]) and hands what it hears to its hub; when
//! that subscription is (re)established, it asks every watch to read the store once, for
//! the notices it missed meanwhile. The cost of watching is one connection per process, not
//! a read per watch per interval. A notice names ids only, and Redis keeps none of them.

use baton_proto::v1::{AppendEventResponse, ContextSnapshot, Event};
use baton_store::{
    codec, idempotency,
    keys::SEP,
    redis::{self, RedisError},
    redis_db::{Commit, Heard, MAX_ATTEMPTS, RedisDb, Writes, back_off, contended},
};
use tracing::Instrument as _;

use super::{APPEND_OPERATION, Appended, ContextStore, Feed, NewEvent};
use crate::{
    Error,
    view::{self, View},
};

/// How many guards each tenant's customers are spread over.
const GUARD_SHARDS: u64 = 1024;

/// The field of an `append` record naming the customer whose append used the key.
const CUSTOMER: &str = "customer";
/// The field of an `append` record holding the remembered answer, after the request's digest.
const ANSWER: &str = "answer";

/// The name of the channel notices are published on, within the service's.
const NOTICES: &str = "notices";
/// The version part of an erasure's notice.
const ERASED: &str = "erased";

/// A [`ContextStore`] in Redis. Cheap to clone; clones share the connection.
#[derive(Clone, Debug)]
pub struct RedisContextStore {
    /// The service's connection and key builder (`baton:context:{tenant}:..`).
    db: RedisDb,
    /// The channel every commit announces itself on (`baton:context:notices`).
    notices: String,
}

impl RedisContextStore {
    /// The store on `db`, connected for the `context` service.
    pub fn new(db: RedisDb) -> Self {
        let notices = db.channel(NOTICES);
        Self { db, notices }
    }

    /// The keys of one customer's history.
    fn customer(&self, tenant_id: &str, customer_id: &str) -> CustomerKeys {
        let shard = format!("{:03x}", guard_shard(customer_id));
        CustomerKeys {
            guard: self.db.key(tenant_id, &["guard", &shard]),
            events: self.db.key(tenant_id, &["events", customer_id]),
            view: self.db.key(tenant_id, &["view", customer_id]),
            append_keys: self.db.key(tenant_id, &["append-keys", customer_id]),
        }
    }

    /// The tenant-wide record of one idempotency key.
    fn append_record(&self, tenant_id: &str, idempotency_key: &str) -> String {
        self.db.key(tenant_id, &["append", idempotency_key])
    }
}

/// The keys one customer's operations read and write; all in the tenant's group.
#[derive(Debug)]
struct CustomerKeys {
    guard: String,
    events: String,
    view: String,
    append_keys: String,
}

/// The guard shard of a customer: FNV-1a, fixed forever, because every process serving a
/// tenant must guard a customer with the same key (a hash that changed between builds would
/// let two versions of the service interleave commits on one history during a rollout).
fn guard_shard(customer_id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in customer_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash % GUARD_SHARDS
}

/// A change to one history, as announced on the notices channel.
#[derive(Debug, PartialEq, Eq)]
enum Notice<'a> {
    /// The history reached this version.
    Appended(&'a str, &'a str, u64),
    /// The history was erased.
    Erased(&'a str, &'a str),
}

impl<'a> Notice<'a> {
    /// `<version or erased>␟<tenant>␟<customer>`. A tenant holds no `␟`; the customer comes
    /// last, so its id needs no escaping.
    fn encode(&self) -> Vec<u8> {
        let (what, tenant, customer) = match self {
            Notice::Appended(tenant, customer, version) => (version.to_string(), tenant, customer),
            Notice::Erased(tenant, customer) => (ERASED.to_owned(), tenant, customer),
        };
        format!("{what}{SEP}{tenant}{SEP}{customer}").into_bytes()
    }

    /// The notice in `bytes`, or `None` when they are not one.
    fn decode(bytes: &'a [u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut parts = text.splitn(3, SEP);
        let (what, tenant, customer) = (parts.next()?, parts.next()?, parts.next()?);
        if what == ERASED {
            return Some(Notice::Erased(tenant, customer));
        }
        Some(Notice::Appended(tenant, customer, what.parse().ok()?))
    }

    /// Passes the notice on to the watchers it concerns.
    fn report(&self, feed: &Feed) {
        match *self {
            Notice::Appended(tenant, customer, version) => {
                feed.appended(tenant, customer, version);
            }
            Notice::Erased(tenant, customer) => feed.erased(tenant, customer),
        }
    }
}

/// Waits (briefly) until the shared connection answers. A subscription made again usually
/// means the server was lost, and the shared connection fails the first command after such
/// a loss while it reconnects: better this ping than the reads of every watch woken next.
async fn reconnected(db: &RedisDb) {
    for attempt in 1..=10u32 {
        let answer: Result<String, RedisError> =
            redis::cmd("PING").query_async(&mut db.conn()).await;
        match answer {
            Ok(_) => return,
            Err(err) => {
                tracing::debug!(attempt, error = %err, "shared connection not back yet");
                tokio::time::sleep(std::time::Duration::from_millis(50) * attempt).await;
            }
        }
    }
}

/// Any Redis failure as the service's error.
fn backend(err: RedisError) -> Error {
    Error::Store(err.into())
}

/// A stored view, or the empty one of a customer with no history.
fn decode_view(stored: Option<Vec<u8>>, customer_id: &str) -> Result<View, Error> {
    Ok(stored
        .map(|bytes| codec::decode::<ContextSnapshot>(&bytes))
        .transpose()?
        .map_or_else(|| View::empty(customer_id), View::from_stored))
}

/// What an append reads, in one `MULTI` snapshot: the guard, then the key's record (the
/// customer whose append used it, and its answer), then the stored view.
type AppendSnapshot = (
    Option<u64>,
    (Option<Vec<u8>>, Option<Vec<u8>>),
    Option<Vec<u8>>,
);

/// What erasure reads, in one `MULTI` snapshot: the guard, the number of events, whether a
/// view is stored, and the idempotency keys of its appends.
type ForgetSnapshot = (Option<u64>, u64, bool, Vec<String>);

impl ContextStore for RedisContextStore {
    /// Other replicas append to the same Redis: listens to the notices of every commit on a
    /// connection of its own, and resyncs the feed each time that subscription is made.
    fn follow(&self, mut feed: Feed) {
        let mut subscriber = self.db.subscriber(&self.notices);
        let db = self.db.clone();
        let listen = async move {
            loop {
                let heard = tokio::select! {
                    () = feed.closed() => return,
                    heard = subscriber.next() => heard,
                };
                match heard {
                    Heard::Subscribed => {
                        tracing::debug!("subscribed to notices: every watch reads the store");
                        reconnected(&db).await;
                        feed.resync();
                    }
                    Heard::Message(bytes) => match Notice::decode(&bytes) {
                        Some(notice) => notice.report(&feed),
                        None => tracing::warn!(len = bytes.len(), "unreadable notice ignored"),
                    },
                }
            }
        };
        tokio::spawn(listen.instrument(tracing::info_span!("context_notices")));
    }

    #[tracing::instrument(skip_all, fields(tenant = %new.tenant_id, customer = %new.customer_id))]
    async fn append(&self, new: NewEvent) -> Result<Appended, Error> {
        let NewEvent {
            tenant_id,
            customer_id,
            idempotency_key,
            request_digest,
            expected_version,
            event,
        } = new;
        let keys = self.customer(&tenant_id, &customer_id);
        let record = self.append_record(&tenant_id, &idempotency_key);

        for attempt in 0..MAX_ATTEMPTS {
            let (guard, (owner, answer), stored): AppendSnapshot = redis::pipe()
                .atomic()
                .cmd("GET")
                .arg(&keys.guard)
                .cmd("HMGET")
                .arg(&record)
                .arg(CUSTOMER)
                .arg(ANSWER)
                .cmd("GET")
                .arg(&keys.view)
                .query_async(&mut self.db.conn())
                .await
                .map_err(backend)?;
            let guard = guard.unwrap_or(0);

            match (&owner, answer) {
                (Some(owner), _) if owner != customer_id.as_bytes() => {
                    return Err(Error::IdempotencyKeyReused);
                }
                (Some(_), Some(record)) => {
                    let answer = idempotency::open(&record, &request_digest, APPEND_OPERATION)?;
                    let answer: AppendEventResponse = codec::decode(&answer)?;
                    return Ok(Appended {
                        event: answer.event.unwrap_or_default(),
                        version: answer.version,
                        duplicate: true,
                    });
                }
                _ => {}
            }

            let mut current = decode_view(stored, &customer_id)?;
            let version = current.version();
            if expected_version != 0 && expected_version != version {
                return Err(Error::VersionConflict {
                    current: version,
                    expected: expected_version,
                });
            }

            let mut event = event.clone();
            event.sequence = version + 1;
            event.customer_id.clone_from(&customer_id);
            view::apply(&mut current, &event);
            let encoded_event = codec::encode(&event);
            let answer = AppendEventResponse {
                event: Some(event),
                version: version + 1,
                duplicate: false,
            };
            let record_answer = idempotency::seal(&request_digest, &codec::encode(&answer));
            let mut writes = Writes::new();
            writes
                .expect_field(&record, CUSTOMER.as_bytes(), owner.as_deref())
                .zadd(&keys.events, (version + 1) as f64, &encoded_event)
                .set(&keys.view, &codec::encode(current.as_stored()))
                .command(
                    "HSET",
                    &record,
                    &[
                        CUSTOMER.as_bytes(),
                        customer_id.as_bytes(),
                        ANSWER.as_bytes(),
                        &record_answer,
                    ],
                )
                .sadd(&keys.append_keys, idempotency_key.as_bytes())
                .publish(
                    &self.notices,
                    &Notice::Appended(&tenant_id, &customer_id, version + 1).encode(),
                );
            match self.db.commit(&keys.guard, guard, &writes).await? {
                Commit::Done(_) => {
                    return Ok(Appended {
                        event: answer.event.unwrap_or_default(),
                        version: answer.version,
                        duplicate: false,
                    });
                }
                Commit::Conflict => tokio::time::sleep(back_off(attempt)).await,
            }
        }
        Err(contended("append").into())
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id, customer = %customer_id))]
    async fn view(&self, tenant_id: &str, customer_id: &str) -> Result<Option<View>, Error> {
        let keys = self.customer(tenant_id, customer_id);
        let stored: Option<Vec<u8>> = redis::cmd("GET")
            .arg(&keys.view)
            .query_async(&mut self.db.conn())
            .await
            .map_err(backend)?;
        Ok(stored
            .map(|bytes| codec::decode::<ContextSnapshot>(&bytes))
            .transpose()?
            .map(View::from_stored))
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id, customers = customer_ids.len()))]
    async fn views(
        &self,
        tenant_id: &str,
        customer_ids: &[String],
    ) -> Result<Vec<Option<View>>, Error> {
        if customer_ids.is_empty() {
            return Ok(Vec::new());
        }
        // The tenant is the hash tag, so every view is in one slot and one MGET reads them
        // all atomically, on a cluster too.
        let mut get = redis::cmd("MGET");
        for id in customer_ids {
            get.arg(self.db.key(tenant_id, &["view", id]));
        }
        let stored: Vec<Option<Vec<u8>>> = get
            .query_async(&mut self.db.conn())
            .await
            .map_err(backend)?;
        stored
            .into_iter()
            .map(|bytes| {
                Ok(bytes
                    .map(|bytes| codec::decode::<ContextSnapshot>(&bytes))
                    .transpose()?
                    .map(View::from_stored))
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id, customer = %customer_id, after))]
    async fn events_after(
        &self,
        tenant_id: &str,
        customer_id: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, Error> {
        if after == u64::MAX || limit == 0 {
            return Ok(Vec::new());
        }
        let keys = self.customer(tenant_id, customer_id);
        let stored: Vec<Vec<u8>> = redis::cmd("ZRANGE")
            .arg(&keys.events)
            .arg(format!("({after}"))
            .arg("+inf")
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(i64::try_from(limit).unwrap_or(i64::MAX))
            .query_async(&mut self.db.conn())
            .await
            .map_err(backend)?;
        Ok(stored
            .iter()
            .map(|bytes| codec::decode::<Event>(bytes))
            .collect::<Result<_, _>>()?)
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id, customer = %customer_id))]
    async fn forget(&self, tenant_id: &str, customer_id: &str) -> Result<u64, Error> {
        let keys = self.customer(tenant_id, customer_id);
        for attempt in 0..MAX_ATTEMPTS {
            let (guard, events, has_view, used): ForgetSnapshot = redis::pipe()
                .atomic()
                .cmd("GET")
                .arg(&keys.guard)
                .cmd("ZCARD")
                .arg(&keys.events)
                .cmd("EXISTS")
                .arg(&keys.view)
                .cmd("SMEMBERS")
                .arg(&keys.append_keys)
                .query_async(&mut self.db.conn())
                .await
                .map_err(backend)?;
            let guard = guard.unwrap_or(0);
            if events == 0 && !has_view && used.is_empty() {
                return Ok(0);
            }

            // Only records naming this customer go.
            // Those naming it change only under its guard, so the commit below checks them.
            let records: Vec<String> = used
                .iter()
                .map(|key| self.append_record(tenant_id, key))
                .collect();
            let owners: Vec<Option<Vec<u8>>> = if records.is_empty() {
                Vec::new()
            } else {
                let mut read = redis::pipe();
                for record in &records {
                    read.cmd("HGET").arg(record).arg(CUSTOMER);
                }
                read.query_async(&mut self.db.conn())
                    .await
                    .map_err(backend)?
            };

            let mut writes = Writes::new();
            writes.del(&keys.events).del(&keys.view);
            for ((record, owner), key) in records.iter().zip(&owners).zip(&used) {
                if owner.as_deref() == Some(customer_id.as_bytes()) {
                    writes.del(record);
                }
                writes.srem(&keys.append_keys, key.as_bytes());
            }
            writes.publish(
                &self.notices,
                &Notice::Erased(tenant_id, customer_id).encode(),
            );
            match self.db.commit(&keys.guard, guard, &writes).await? {
                Commit::Done(_) => return Ok(events + u64::from(has_view)),
                Commit::Conflict => tokio::time::sleep(back_off(attempt)).await,
            }
        }
        Err(contended("erasure").into())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use baton_proto::v1::{NoteAdded, event::Payload};
    use baton_store::redis_db::RedisServer;

    use super::*;
    use crate::conformance::{self, new_event, started};

    async fn open(server: &RedisServer) -> RedisContextStore {
        crate::open_redis(&server.url()).await.expect("connect")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn redis_store_passes_the_conformance_suite() {
        let server = RedisServer::start();
        conformance::run_all(|| open(&server)).await;
    }

    use std::time::Duration;

    use crate::history::{Append, History};

    /// An append of a started contact to `customer`, with the idempotency key `key`.
    fn append_of(customer: &str, key: &str) -> Append {
        Append {
            tenant_id: "t-watch".into(),
            customer_id: customer.into(),
            event: Event {
                payload: Some(started("chat")),
                ..Default::default()
            },
            idempotency_key: key.into(),
            request_digest: [7; 32],
            expected_version: 0,
        }
    }

    /// The next thing a watch sends within `wait`: `Some(sequence)`, or `None` when it ended.
    async fn next_within(watch: &mut crate::watch::Events, wait: Duration) -> Option<u64> {
        use futures::StreamExt as _;
        tokio::time::timeout(wait, watch.next())
            .await
            .expect("the watch answers in time")
            .map(|item| item.expect("no error").sequence)
    }

    /// A plain connection for inspecting the server.
    async fn admin(server: &RedisServer) -> redis::aio::MultiplexedConnection {
        redis::Client::open(server.url())
            .expect("client")
            .get_multiplexed_async_connection()
            .await
            .expect("connect")
    }

    /// `(commands processed, ZRANGE calls)` so far, as `INFO` counts them.
    async fn commands(conn: &mut redis::aio::MultiplexedConnection) -> (u64, u64) {
        let info: String = redis::cmd("INFO")
            .arg("stats")
            .arg("commandstats")
            .query_async(conn)
            .await
            .expect("info");
        let field = |prefix: &str| {
            info.lines()
                .find_map(|line| line.strip_prefix(prefix))
                .map_or(0, |rest| {
                    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                    digits.parse().expect("a count")
                })
        };
        (
            field("total_commands_processed:"),
            field("cmdstat_zrange:calls="),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn on_a_cluster_watches_hear_of_appends_through_another_replica_whatever_node_holds_them()
    {
        use baton_store::redis_db::RedisCluster;
        let cluster = RedisCluster::start();
        let open = || async {
            let db = RedisDb::connect_with(&cluster.url(), "context", &RedisCluster::options())
                .await
                .expect("connect to the cluster");
            RedisContextStore::new(db)
        };
        let shutdown = baton_runtime::shutdown::Shutdown::new();
        let watching = History::new(open().await, shutdown.clone());
        let writing = History::new(open().await, shutdown.clone());
        // Tenants hash to slots all over the cluster; the subscriber listens on one node.
        let tenants: Vec<String> = (0..6).map(|i| format!("t-cluster-{i}")).collect();
        let mut watches: Vec<_> = tenants.iter().map(|t| watching.watch(t, "c1", 0)).collect();
        for (tenant, watch) in tenants.iter().zip(&mut watches) {
            let append = Append {
                tenant_id: tenant.clone(),
                ..append_of("c1", &format!("k-{tenant}"))
            };
            writing
                .append(append)
                .await
                .expect("append through the other replica");
            assert_eq!(
                next_within(watch, Duration::from_secs(2)).await,
                Some(1),
                "{tenant}"
            );
        }
        shutdown.trigger();
    }

    #[tokio::test]
    async fn a_merged_watch_hears_of_appends_under_a_merged_id_through_another_replica() {
        let server = RedisServer::start();
        let shutdown = baton_runtime::shutdown::Shutdown::new();
        let watching = History::new(open(&server).await, shutdown.clone());
        let writing = History::new(open(&server).await, shutdown.clone());
        writing
            .append(append_of("survivor", "s1"))
            .await
            .expect("append");
        let merged = ["retired".to_owned()];
        let mut watch = watching.watch_merged("t-watch", "survivor", 0, &merged, &[]);
        async fn next(watch: &mut crate::Events) -> (String, u64) {
            use futures::StreamExt as _;
            let event = tokio::time::timeout(Duration::from_secs(2), watch.next())
                .await
                .expect("the watch answers in time")
                .expect("the watch goes on")
                .expect("no error");
            (event.customer_id, event.sequence)
        }
        assert_eq!(next(&mut watch).await, ("survivor".to_owned(), 1));
        for n in 1..=2u64 {
            writing
                .append(append_of("retired", &format!("r{n}")))
                .await
                .expect("append under the merged id through the other replica");
            assert_eq!(next(&mut watch).await, ("retired".to_owned(), n));
        }
        shutdown.trigger();
    }

    #[tokio::test]
    async fn a_watch_hears_of_appends_and_erasure_through_another_replica_without_polling() {
        let server = RedisServer::start();
        let shutdown = baton_runtime::shutdown::Shutdown::new();
        let watching = History::new(open(&server).await, shutdown.clone());
        let writing = History::new(open(&server).await, shutdown.clone());
        let mut watch = watching.watch("t-watch", "c1", 0);
        let mut admin = admin(&server).await;
        for n in 1..=3u64 {
            writing
                .append(append_of("c1", &format!("k{n}")))
                .await
                .expect("append through the other replica");
            assert_eq!(
                next_within(&mut watch, Duration::from_secs(1)).await,
                Some(n)
            );
        }

        // Idle for several of the old poll intervals: the watch reads nothing.
        let (_, before) = commands(&mut admin).await;
        tokio::time::sleep(Duration::from_millis(800)).await;
        let (_, after) = commands(&mut admin).await;
        assert_eq!(after, before, "an idle watch does not read the store");

        writing
            .forget("t-watch", "c1")
            .await
            .expect("erase through the other replica");
        let ended =
            tokio::time::timeout(Duration::from_secs(1), futures::StreamExt::next(&mut watch))
                .await
                .expect("the watch ends promptly");
        assert!(
            ended.is_none(),
            "the watch ends, it does not send: {ended:?}"
        );
        shutdown.trigger();
    }

    #[tokio::test]
    async fn a_lost_subscription_resyncs_and_the_watch_misses_nothing() {
        let server = RedisServer::start();
        let shutdown = baton_runtime::shutdown::Shutdown::new();
        let watching = History::new(open(&server).await, shutdown.clone());
        let writing = History::new(open(&server).await, shutdown.clone());
        let mut watch = watching.watch("t-watch", "c1", 0);
        let mut admin = admin(&server).await;
        writing.append(append_of("c1", "k1")).await.expect("append");
        assert_eq!(
            next_within(&mut watch, Duration::from_secs(5)).await,
            Some(1)
        );
        // Both replicas are subscribed, and what the watch was told of that (a subscription
        // made is a resync) is taken now: below, only what reaches it after the cut counts.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let clients: String = redis::cmd("CLIENT")
                .arg("LIST")
                .arg("TYPE")
                .arg("pubsub")
                .query_async(&mut admin)
                .await
                .expect("client list");
            if clients.lines().count() >= 2 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "both replicas subscribe"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let quiet = tokio::time::timeout(
            Duration::from_millis(300),
            futures::StreamExt::next(&mut watch),
        )
        .await;
        assert!(quiet.is_err(), "nothing new yet: {quiet:?}");

        // New connections are refused (established ones stay signed in), so the watching
        // replica's subscription stays down while appends are announced to nobody.
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("requirepass")
            .arg("for-the-test")
            .query_async(&mut admin)
            .await
            .expect("config set");
        let killed: u64 = redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("pubsub")
            .query_async(&mut admin)
            .await
            .expect("client kill");
        assert_eq!(killed, 2, "one subscription per replica");
        for n in 2..=4 {
            writing
                .append(append_of("c1", &format!("k{n}")))
                .await
                .expect("append while the watching replica is deaf");
        }
        let unheard = tokio::time::timeout(
            Duration::from_millis(300),
            futures::StreamExt::next(&mut watch),
        )
        .await;
        assert!(
            unheard.is_err(),
            "nothing can reach the watch yet: {unheard:?}"
        );

        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("requirepass")
            .arg("")
            .query_async(&mut admin)
            .await
            .expect("config set");
        for n in 2..=4 {
            assert_eq!(
                next_within(&mut watch, Duration::from_secs(10)).await,
                Some(n),
                "the resync reads what was missed"
            );
        }
        writing.append(append_of("c1", "k5")).await.expect("append");
        assert_eq!(
            next_within(&mut watch, Duration::from_secs(5)).await,
            Some(5),
            "nothing was sent twice, and notices are heard again"
        );
        shutdown.trigger();
    }

    #[tokio::test]
    async fn a_watch_carries_on_across_a_redis_restart() {
        let mut server = RedisServer::start();
        let shutdown = baton_runtime::shutdown::Shutdown::new();
        let watching = History::new(open(&server).await, shutdown.clone());
        let writing = History::new(open(&server).await, shutdown.clone());
        let mut watch = watching.watch("t-watch", "c1", 0);
        writing.append(append_of("c1", "k1")).await.expect("append");
        assert_eq!(
            next_within(&mut watch, Duration::from_secs(5)).await,
            Some(1)
        );

        server.crash_and_restart();
        for n in 2..=3 {
            // The writer's connection reconnects on its own, maybe after a refused attempt.
            let mut attempts = 0;
            while let Err(err) = writing.append(append_of("c1", &format!("k{n}"))).await {
                attempts += 1;
                assert!(attempts < 50, "the writer never reconnected: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        assert_eq!(
            next_within(&mut watch, Duration::from_secs(10)).await,
            Some(2)
        );
        assert_eq!(
            next_within(&mut watch, Duration::from_secs(10)).await,
            Some(3)
        );
        writing.append(append_of("c1", "k4")).await.expect("append");
        assert_eq!(
            next_within(&mut watch, Duration::from_secs(5)).await,
            Some(4),
            "each event once, in order"
        );
        shutdown.trigger();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idle_watches_cost_redis_no_commands() {
        let server = RedisServer::start();
        let shutdown = baton_runtime::shutdown::Shutdown::new();
        let history = History::new(open(&server).await, shutdown.clone());
        let mut admin = admin(&server).await;
        let mut watches = Vec::new();
        for n in [1, 100, 1000] {
            while watches.len() < n {
                let customer = format!("c{}", watches.len());
                watches.push(history.watch("t-watch", &customer, 0));
            }
            // Time for every new watch to make its first read.
            tokio::time::sleep(Duration::from_secs(1)).await;

            let (total, zrange) = commands(&mut admin).await;
            let window = Duration::from_secs(2);
            tokio::time::sleep(window).await;
            let (total_after, zrange_after) = commands(&mut admin).await;
            // The second INFO is counted, the first is not yet.
            let per_second = (total_after - total - 1) as f64 / window.as_secs_f64();
            println!("{n} idle watches: {per_second:.1} commands/s");
            assert_eq!(zrange_after, zrange, "{n} idle watches read nothing");
            assert_eq!(
                total_after - total,
                1,
                "{n} idle watches: only INFO was sent"
            );
        }
        shutdown.trigger();
    }

    #[tokio::test]
    async fn an_acknowledged_append_survives_a_redis_crash() {
        let mut server = RedisServer::start();
        let store = open(&server).await;
        for key in ["k1", "k2"] {
            store
                .append(new_event(
                    "t1",
                    "alice",
                    key,
                    0,
                    started("before the crash"),
                ))
                .await
                .expect("append");
        }
        drop(store);

        server.crash_and_restart();

        let store = open(&server).await;
        let stored = store
            .events_after("t1", "alice", 0, 10)
            .await
            .expect("read");
        assert_eq!(
            stored.iter().map(|e| e.sequence).collect::<Vec<_>>(),
            [1, 2]
        );
        let view = store.view("t1", "alice").await.expect("view");
        assert_eq!(view.map(|v| v.version()), Some(2));
        let replay = store
            .append(new_event(
                "t1",
                "alice",
                "k1",
                0,
                started("before the crash"),
            ))
            .await
            .expect("replay");
        assert!(replay.duplicate, "the remembered answer survived too");
        let next = store
            .append(new_event("t1", "alice", "k3", 2, started("x")))
            .await
            .expect("append after the crash");
        assert_eq!(next.version, 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_key_raced_by_two_customers_acknowledges_one_of_them() {
        let server = RedisServer::start();
        let store = Arc::new(open(&server).await);
        for round in 0..20 {
            let key = format!("race-{round}");
            let tasks: Vec<_> = ["alice", "bob"]
                .into_iter()
                .map(|customer| {
                    let store = Arc::clone(&store);
                    let key = key.clone();
                    tokio::spawn(async move {
                        let result = store
                            .append(new_event("t1", customer, &key, 0, started("x")))
                            .await;
                        (customer, result)
                    })
                })
                .collect();
            let mut winners = Vec::new();
            for task in tasks {
                match task.await.expect("task") {
                    (customer, Ok(appended)) => {
                        assert!(!appended.duplicate);
                        assert_eq!(appended.event.customer_id, customer);
                        winners.push(customer);
                    }
                    (_, Err(Error::IdempotencyKeyReused)) => {}
                    (_, Err(err)) => panic!("unexpected failure: {err}"),
                }
            }
            assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
            let replay = store
                .append(new_event("t1", winners[0], &key, 0, started("x")))
                .await
                .expect("replay");
            assert!(
                replay.duplicate,
                "the winner's answer is the one remembered"
            );
        }
        let alice = store
            .events_after("t1", "alice", 0, 100)
            .await
            .expect("read");
        let bob = store.events_after("t1", "bob", 0, 100).await.expect("read");
        assert_eq!(alice.len() + bob.len(), 20, "one event per key");
    }

    #[tokio::test]
    async fn a_refused_append_leaves_its_key_unused() {
        let server = RedisServer::start();
        let store = open(&server).await;
        let stale = store
            .append(new_event("t1", "alice", "k1", 5, started("x")))
            .await;
        assert!(
            matches!(
                stale,
                Err(Error::VersionConflict {
                    current: 0,
                    expected: 5
                })
            ),
            "{stale:?}"
        );
        let bob = store
            .append(new_event("t1", "bob", "k1", 0, started("x")))
            .await
            .expect("a refused key is not remembered");
        assert_eq!((bob.version, bob.duplicate), (1, false));
        let alice = store
            .append(new_event("t1", "alice", "k1", 0, started("x")))
            .await;
        assert!(
            matches!(alice, Err(Error::IdempotencyKeyReused)),
            "{alice:?}"
        );
    }

    /// Every key and every value in the database, as text, for scanning.
    async fn everything_stored(server: &RedisServer) -> Vec<String> {
        let client = redis::Client::open(server.url()).expect("client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut conn)
            .await
            .expect("keys");
        let mut all = Vec::new();
        for key in keys {
            let kind: String = redis::cmd("TYPE")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("type");
            let read = match kind.as_str() {
                "string" => redis::cmd("GET").arg(&key).clone(),
                "hash" => redis::cmd("HGETALL").arg(&key).clone(),
                "set" => redis::cmd("SMEMBERS").arg(&key).clone(),
                "zset" => redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).clone(),
                other => panic!("unexpected type {other}"),
            };
            let values: Vec<Vec<u8>> = match kind.as_str() {
                "string" => vec![read.query_async(&mut conn).await.expect("get")],
                _ => read.query_async(&mut conn).await.expect("read"),
            };
            all.push(String::from_utf8_lossy(&key).into_owned());
            all.extend(
                values
                    .iter()
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
            );
        }
        all
    }

    #[tokio::test]
    async fn nothing_about_an_erased_customer_remains() {
        let server = RedisServer::start();
        let store = open(&server).await;
        for (n, customer) in ["erased-customer-42", "kept-customer"].iter().enumerate() {
            let note = Payload::Note(NoteAdded {
                case_id: String::new(),
                text: format!("secret-note-of-{customer}"),
            });
            let key = format!("key-{n}");
            store
                .append(new_event("t1", customer, &key, 0, note))
                .await
                .expect("append");
            store
                .append(new_event(
                    "t1",
                    customer,
                    &format!("{key}-b"),
                    0,
                    started("hello"),
                ))
                .await
                .expect("append");
        }
        assert_eq!(store.forget("t1", "erased-customer-42").await.ok(), Some(3));
        let all = everything_stored(&server).await;
        assert!(
            all.iter().any(|s| s.contains("kept-customer")),
            "the scan sees stored data"
        );
        for item in &all {
            assert!(
                !item.contains("erased-customer-42") && !item.contains("secret-note-of-erased"),
                "erased customer still present: {item:?}"
            );
        }
        assert!(
            !all.iter().any(|s| s.contains("key-0")),
            "its idempotency keys are gone"
        );
    }

    #[test]
    fn guard_shards_never_change() {
        // Processes of different builds must pick the same guard for a customer.
        assert_eq!(guard_shard(""), 0xcbf2_9ce4_8422_2325 % GUARD_SHARDS);
        assert_eq!(guard_shard("a"), 0xaf63_dc4c_8601_ec8c % GUARD_SHARDS);
        assert!(guard_shard("alice") < GUARD_SHARDS);
    }
}
