//! The Redis backend's plumbing, shared by every service's Redis store.
//!
//! # Keys
//!
//! Every key is `baton:<service>:{<group>}:<parts joined by 0x1F>`. The braces are a Redis
//! Cluster hash tag: all keys of one group live in one slot, so one script can read and write
//! all of them atomically on a single server and on a cluster alike. A service chooses its
//! group as the widest unit one transaction spans: the tenant, for every service today (a
//! tenant-wide index, such as context's idempotency keys, must be written in the same step as
//! the change it records). Routing, which writes batches across tenants, uses one fixed group.
//!
//! # Transactions
//!
//! Optimistic, guarded by a version counter: a key of the same group, chosen by the service as
//! the narrowest unit that must not change under a decision, so that unrelated writes do not
//! conflict (identity: the tenant; context and recommendation: a customer, or a shard of
//! customers):
//!
//! 1. read the guard ([`RedisDb::version`]), then whatever the decision needs;
//! 2. build the writes ([`Writes`]) and [`RedisDb::commit`] them with the version read in 1.
//!    One Lua script checks that the guard has not moved, applies every write and bumps the
//!    guard, all or nothing; it returns [`Commit::Conflict`] when another writer committed in
//!    between, and the caller starts again from 1 (the decision may differ now).
//!
//! Reads that must be consistent with each other (a read-only "transaction") check the guard
//! again at the end with [`RedisDb::version`] and retry when it moved.
//!
//! A guard shared by many unrelated writers makes them conflict with each other. Finer: each
//! value a decision read becomes a check of its commit ([`Writes::expect_field`]), and
//! [`RedisDb::commit_checked`] applies the writes only if every such value is unchanged,
//! whatever the guard holds (it still bumps the guard for decisions that read a whole set and
//! so must rely on it). Checks alone, without writes, validate a read: every value it read was
//! there together at that moment.
//!
//! Durability is the server's: with `appendonly yes` and `appendfsync always` an
//! acknowledged commit survives a crash of the Redis process; with replicas, `wait_replicas`
//! makes each commit wait until that many replicas have it. [`RedisDb::connect`] checks those
//! settings (on a cluster, on every master) and refuses a server without them unless told to
//! allow it ([`RedisOptions::allow_weak_durability`]); see `durability` for a server that
//! hides them.
//!
//! # Announcing
//!
//! A commit may publish a message ([`Writes::publish`]) in the same script as its writes, so
//! that a change is never committed unannounced; a [`Subscriber`] hears a channel on a
//! connection of its own and says when it (re)subscribed, since messages sent while it was
//! away are lost.
//!
//! # Connecting
//!
//! [`RedisOptions`] adds what a url should not hold: a password read from a file, and for
//! `rediss://` (TLS through rustls) a CA of its own and a client certificate.
//!
//! # Redis Cluster
//!
//! With [`RedisOptions::cluster`] the url is a comma-separated list of seed nodes and
//! [`RedisDb`] holds a cluster connection instead of one to a single server, behind the same
//! [`RedisConn`]: each command goes to the node holding its key's slot. What that takes of the
//! stores, and how it is kept:
//!
//! - one commit script, one `MULTI` or pipeline, one `MGET` must touch one slot: every key
//!   they name is of one group, and [`RedisDb::commit`] refuses keys of another group than
//!   the guard's on a single server too, so a mistake fails its tests without a cluster;
//! - `WAIT` goes to the master of the commit's slot, the one that took its writes;
//! - the durability check runs on every master;
//! - [`RedisDb::scan`] walks every master (a cluster's `SCAN` walks one node's keys).
//!
//! The cluster client follows `MOVED` and `ASK` redirects and reconnects to nodes on its own,
//! retrying a command a few times, as the single-server connection does after a lost
//! connection.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::{StoreError, keys::SEP};

mod conn;
mod connect;
mod durability;
mod pubsub;

pub use conn::RedisConn;
pub use connect::RedisOptions;
pub use pubsub::{Heard, Subscriber};

/// One connection to Redis, shared by every task of a service (multiplexed, reconnecting): to
/// one server, or to every node of a Redis Cluster.
#[derive(Clone)]
pub struct RedisDb {
    conn: RedisConn,
    /// Open the dedicated connections a shared one cannot serve ([`Subscriber`]s): the
    /// server's client, or one per seed of a cluster (any node hears every `PUBLISH`).
    subscribe_via: Vec<redis::Client>,
    /// `host:port` of the server, or of the cluster's seeds, for messages.
    addr: String,
    service: &'static str,
    wait_replicas: u32,
}

impl std::fmt::Debug for RedisDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisDb")
            .field("service", &self.service)
            .field("cluster", &self.conn.is_cluster())
            .field("wait_replicas", &self.wait_replicas)
            .finish_non_exhaustive()
    }
}

/// How many times an optimistic operation reads and decides again after losing a commit race
/// before it gives up; each loss means another writer made progress, so this bounds waiting,
/// not correctness.
pub const MAX_ATTEMPTS: u32 = 64;

/// The pause after losing commit race number `attempt` (from 0): a random part of a ceiling
/// that doubles with each loss (up to about 3 ms), so writers that conflicted do not retry in
/// lockstep.
pub fn back_off(attempt: u32) -> Duration {
    use std::hash::{BuildHasher as _, Hasher as _};
    let ceiling = 50u64 << attempt.min(6);
    // Every `RandomState` is seeded afresh: a cheap random number without another crate.
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    Duration::from_micros(random % ceiling)
}

/// The error of an operation that lost [`MAX_ATTEMPTS`] commit races in a row.
pub fn contended(operation: &str) -> StoreError {
    StoreError::Backend(format!(
        "{operation} lost {MAX_ATTEMPTS} commit races in a row to other writers"
    ))
}

/// How long a commit waits for replicas before it fails.
const WAIT_TIMEOUT: Duration = Duration::from_secs(2);

/// Applies guarded writes. KEYS[1] is the guard; ARGV[1] the version the caller read, or empty
/// to skip that check; ARGV[2] the number of value checks, each four arguments: the kind (`h`,
/// a hash field), the index of its key in KEYS, the field, and the SHA-1 of the value expected
/// there (empty: absent). Then, per write: the command name, the index of its key in KEYS, how
/// many further arguments follow, and those arguments; index 0 names no key, for a command
/// that takes none (`PUBLISH`: its channel is an argument, never declared in KEYS). Returns -1
/// when a check failed; else, with writes, the guard's new version, without, its current one.
const COMMIT: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] ~= '' and current ~= tonumber(ARGV[1]) then
  return -1
end
local i = 3
for _ = 1, tonumber(ARGV[2]) do
  local value = redis.call('HGET', KEYS[tonumber(ARGV[i + 1])], ARGV[i + 2])
  if value then
    value = redis.sha1hex(value)
  else
    value = ''
  end
  if value ~= ARGV[i + 3] then
    return -1
  end
  i = i + 4
end
if i > #ARGV then
  return current
end
while i <= #ARGV do
  local command = ARGV[i]
  local index = tonumber(ARGV[i + 1])
  local n = tonumber(ARGV[i + 2])
  if index == 0 then
    redis.call(command, unpack(ARGV, i + 3, i + 2 + n))
  else
    redis.call(command, KEYS[index], unpack(ARGV, i + 3, i + 2 + n))
  end
  i = i + 3 + n
end
return redis.call('INCR', KEYS[1])
";

/// What a guarded commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// The writes are applied; the group's version is now this.
    Done(u64),
    /// Another writer committed since the version was read; nothing was applied.
    Conflict,
}

impl RedisDb {
    /// Connects to `url` for `service` with the default [`RedisOptions`]; see
    /// [`connect_with`](Self::connect_with).
    pub async fn connect(url: &str, service: &'static str) -> Result<Self, StoreError> {
        Self::connect_with(url, service, &RedisOptions::default()).await
    }

    /// Connects to `url` (`redis://[user[:password]@]host:port/db`, or `rediss://` for TLS)
    /// for `service`, whose keys all start `baton:<service>:`, with `options` (password file,
    /// CA, client certificate). With [`RedisOptions::cluster`], `url` is one or more
    /// comma-separated seed node urls of a Redis Cluster. Fails when the server (or no seed)
    /// cannot be reached or refuses the credentials now, and when it (or any master of the
    /// cluster) does not fsync every write to an append-only file (unless `options` allow
    /// that), so a misconfigured deployment fails at start, not on the first call. Messages
    /// name the server by `host:port`, never with the url's password.
    pub async fn connect_with(
        url: &str,
        service: &'static str,
        options: &RedisOptions,
    ) -> Result<Self, StoreError> {
        let (conn, subscribe_via, addr) = if options.cluster {
            let (client, addr) = connect::cluster_client(url, options).await?;
            let conn = client
                .get_async_connection()
                .await
                .map_err(|e| connect::refused(&addr, options, e))?;
            let mut seeds = Vec::new();
            for seed in url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
                seeds.push(connect::client(seed, options).await?.0);
            }
            (RedisConn::cluster(conn), seeds, addr)
        } else {
            if url.contains(',') {
                return Err(StoreError::Config(
                    "the redis url names several servers (separated by commas), which only a \
                     cluster takes: say that it is one (--redis-cluster) or give one url"
                        .to_owned(),
                ));
            }
            let (client, addr) = connect::client(url, options).await?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(connect::TIMEOUT))
                .set_response_timeout(Some(connect::TIMEOUT))
                .set_number_of_retries(connect::RETRIES as usize);
            let conn = ConnectionManager::new_with_config(client.clone(), config)
                .await
                .map_err(|e| connect::refused(&addr, options, e))?;
            (RedisConn::single(conn), vec![client], addr)
        };
        let db = Self {
            conn,
            subscribe_via,
            addr,
            service,
            wait_replicas: 0,
        };
        // Every master: on a cluster, a refused password or a weak node anywhere fails now.
        let addr = &db.addr;
        let masters = db
            .conn()
            .masters(addr)
            .await
            .map_err(|e| connect::refused(addr, options, e))?;
        for mut master in masters {
            let _: String = redis::cmd("PING")
                .query_async(&mut master)
                .await
                .map_err(|e| connect::refused(&master.addr, options, e))?;
            let durability = durability::inspect(&mut master).await?;
            durability::enforce(&durability, &master.addr, options.allow_weak_durability)?;
        }
        Ok(db)
    }

    /// Makes every commit wait until `replicas` replicas acknowledged it.
    pub fn wait_for_replicas(mut self, replicas: u32) -> Self {
        self.wait_replicas = replicas;
        self
    }

    /// A handle for issuing commands (cheap: the connection is shared).
    pub fn conn(&self) -> RedisConn {
        self.conn.clone()
    }

    /// True when connected to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.conn.is_cluster()
    }

    /// Every key matching `pattern` (a `SCAN MATCH` glob), each once, in no particular order.
    /// On a cluster every master is scanned, since a `SCAN` walks the keys of the one node it
    /// reaches. Like `SCAN`, it sees every key that exists throughout, and may or may not see
    /// one written or removed meanwhile.
    pub async fn scan(&self, pattern: &str, count: usize) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        for mut master in self.conn().masters(&self.addr).await? {
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(count)
                    .query_async(&mut master)
                    .await?;
                names.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        // SCAN may return a key twice, and a slot moving between masters meanwhile may show
        // its keys on both.
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// The key of `parts` within `group`.
    pub fn key(&self, group: &str, parts: &[&str]) -> String {
        let mut key = String::with_capacity(
            16 + self.service.len()
                + group.len()
                + parts.iter().map(|p| p.len() + 1).sum::<usize>(),
        );
        key.push_str("baton:");
        key.push_str(self.service);
        key.push_str(":{");
        key.push_str(group);
        key.push('}');
        for (i, part) in parts.iter().enumerate() {
            key.push(if i == 0 { ':' } else { SEP });
            key.push_str(part);
        }
        key
    }

    /// The current version held in the guard key `guard` (0 before its first commit).
    pub async fn version(&self, guard: &str) -> Result<u64, StoreError> {
        let v: Option<u64> = redis::cmd("GET")
            .arg(guard)
            .query_async(&mut self.conn())
            .await?;
        Ok(v.unwrap_or(0))
    }

    /// Applies `writes` if the guard key `guard` still holds `expected` and every value check
    /// of `writes` holds, and then bumps the guard; see the module docs. `guard` and every key
    /// of `writes` must share one group.
    pub async fn commit(
        &self,
        guard: &str,
        expected: u64,
        writes: &Writes,
    ) -> Result<Commit, StoreError> {
        self.run_commit(guard, Some(expected), writes).await
    }

    /// Applies `writes` if every value check of `writes` holds, whatever the guard holds, and
    /// then bumps the guard (so that guarded decisions still see the change). Without writes,
    /// only checks: a read whose checks cover everything it read is then a consistent
    /// snapshot of this moment.
    pub async fn commit_checked(&self, guard: &str, writes: &Writes) -> Result<Commit, StoreError> {
        self.run_commit(guard, None, writes).await
    }

    async fn run_commit(
        &self,
        guard: &str,
        expected: Option<u64>,
        writes: &Writes,
    ) -> Result<Commit, StoreError> {
        // A cluster refuses a script whose keys are in different slots (CROSSSLOT); refusing
        // it here on one server too makes such a caller fail its tests before a cluster.
        if let Some(key) = writes.keys.iter().find(|k| hash_tag(k) != hash_tag(guard)) {
            return Err(StoreError::Backend(format!(
                "a commit guarded by {guard} writes {key}, of another group: every key of one \
                 commit must share the guard's hash tag"
            )));
        }
        let script = commit_script();
        let mut invocation = script.key(guard);
        for key in &writes.keys {
            invocation.key(key);
        }
        match expected {
            Some(version) => invocation.arg(version),
            None => invocation.arg(""),
        };
        invocation.arg(writes.checks.len() / 4);
        for arg in writes.checks.iter().chain(&writes.args) {
            invocation.arg(arg.as_slice());
        }
        let version: i64 = invocation.invoke_async(&mut self.conn()).await?;
        if version < 0 {
            return Ok(Commit::Conflict);
        }
        if !writes.is_empty() {
            self.wait(guard).await?;
        }
        Ok(Commit::Done(version as u64))
    }

    /// Waits for the configured replicas (no-op without replicas). `WAIT` counts the replicas
    /// that have every write sent on this connection to the node it reaches, so on a cluster it
    /// goes to the master of the commit's slot, the guard's.
    async fn wait(&self, guard: &str) -> Result<(), StoreError> {
        if self.wait_replicas == 0 {
            return Ok(());
        }
        let mut wait = redis::cmd("WAIT");
        wait.arg(self.wait_replicas)
            .arg(WAIT_TIMEOUT.as_millis() as u64);
        let acked: u32 = self.conn().at_key(&wait, guard).await?;
        if acked < self.wait_replicas {
            return Err(StoreError::Backend(format!(
                "only {acked} of {} replicas acknowledged the write within {WAIT_TIMEOUT:?}",
                self.wait_replicas
            )));
        }
        Ok(())
    }
}

/// The part of `key` Redis Cluster hashes to find its slot: the text between the first `{`
/// and the first `}` after it when that is not empty, else the whole key.
fn hash_tag(key: &str) -> &str {
    key.find('{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            rest.find('}')
                .filter(|&close| close > 0)
                .map(|close| &rest[..close])
        })
        .unwrap_or(key)
}

fn commit_script() -> &'static redis::Script {
    static SCRIPT: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
    SCRIPT.get_or_init(|| redis::Script::new(COMMIT))
}

/// Writes to apply in one guarded commit, in order, and the values they were decided on. Every
/// key must belong to the guard's group (built with [`RedisDb::key`] for that group). A commit
/// with no writes only checks.
#[derive(Debug, Default, Clone)]
pub struct Writes {
    keys: Vec<String>,
    /// Four arguments per value check (see `COMMIT`).
    checks: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl Writes {
    /// No writes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when no write was added (checks do not count).
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// The number of `key` in the script's KEYS.
    fn key_index(&mut self, key: &str) -> Vec<u8> {
        let index = match self.keys.iter().position(|k| k == key) {
            Some(i) => i,
            None => {
                self.keys.push(key.to_owned());
                self.keys.len() - 1
            }
        };
        // KEYS[1] is the guard, so the first other key is KEYS[2].
        (index + 2).to_string().into_bytes()
    }

    /// Makes the commit apply only if `field` of the hash `key` still holds `value` (`None`:
    /// absent), as when the decision read it. Compared by SHA-1, so large values cost their
    /// digest on the wire, not themselves.
    pub fn expect_field(&mut self, key: &str, field: &[u8], value: Option<&[u8]>) -> &mut Self {
        let index = self.key_index(key);
        let digest = value.map_or_else(String::new, |v| sha1_smol::Sha1::from(v).hexdigest());
        self.checks.push(b"h".to_vec());
        self.checks.push(index);
        self.checks.push(field.to_vec());
        self.checks.push(digest.into_bytes());
        self
    }

    /// Adds `command key args...`: any Redis command whose first argument is its only key
    /// (`SET`, `DEL`, `HSET`, `HDEL`, `RPUSH`, `LTRIM`, `ZADD`, `ZREM`, `SADD`, `SREM`, ...).
    pub fn command(&mut self, command: &str, key: &str, args: &[&[u8]]) -> &mut Self {
        let index = self.key_index(key);
        self.args.push(command.as_bytes().to_vec());
        self.args.push(index);
        self.args.push(args.len().to_string().into_bytes());
        self.args.extend(args.iter().map(|a| a.to_vec()));
        self
    }

    /// `SET key value`.
    pub fn set(&mut self, key: &str, value: &[u8]) -> &mut Self {
        self.command("SET", key, &[value])
    }

    /// `DEL key`.
    pub fn del(&mut self, key: &str) -> &mut Self {
        self.command("DEL", key, &[])
    }

    /// `HSET key field value`.
    pub fn hset(&mut self, key: &str, field: &[u8], value: &[u8]) -> &mut Self {
        self.command("HSET", key, &[field, value])
    }

    /// `HDEL key field`.
    pub fn hdel(&mut self, key: &str, field: &[u8]) -> &mut Self {
        self.command("HDEL", key, &[field])
    }

    /// `ZADD key score member`.
    pub fn zadd(&mut self, key: &str, score: f64, member: &[u8]) -> &mut Self {
        let score = score.to_string();
        self.command("ZADD", key, &[score.as_bytes(), member])
    }

    /// `ZREM key member`.
    pub fn zrem(&mut self, key: &str, member: &[u8]) -> &mut Self {
        self.command("ZREM", key, &[member])
    }

    /// `SADD key member`.
    pub fn sadd(&mut self, key: &str, member: &[u8]) -> &mut Self {
        self.command("SADD", key, &[member])
    }

    /// `SREM key member`.
    pub fn srem(&mut self, key: &str, member: &[u8]) -> &mut Self {
        self.command("SREM", key, &[member])
    }

    /// `PUBLISH channel message`, sent only if the commit applies, by the same script: a
    /// committed change is never left unannounced, nor an unapplied one announced. Subscribers
    /// hear it once the commit is done (Redis runs nothing between). The channel is not a key
    /// and is not declared as one; on a cluster the message reaches subscribers on every node.
    pub fn publish(&mut self, channel: &str, message: &[u8]) -> &mut Self {
        self.args.push(b"PUBLISH".to_vec());
        // Index 0: no key (see `COMMIT`).
        self.args.push(b"0".to_vec());
        self.args.push(b"2".to_vec());
        self.args.push(channel.as_bytes().to_vec());
        self.args.push(message.to_vec());
        self
    }
}

impl From<redis::RedisError> for StoreError {
    fn from(err: redis::RedisError) -> Self {
        StoreError::Backend(format!("redis: {err}"))
    }
}

#[cfg(any(test, feature = "test-support"))]
mod cluster_server;
#[cfg(any(test, feature = "test-support"))]
mod server;
#[cfg(any(test, feature = "test-support"))]
pub use cluster_server::{CLUSTER_MASTERS, RedisCluster};
#[cfg(any(test, feature = "test-support"))]
pub use server::{RedisServer, RedisServerBuilder, ServerTls};

#[cfg(test)]
mod tests {
    use super::*;

    async fn db(server: &RedisServer) -> RedisDb {
        RedisDb::connect(&server.url(), "test")
            .await
            .expect("connect")
    }

    #[test]
    fn keys_of_one_group_share_a_hash_tag() {
        let (a, b) = (
            "baton:identity:{t1}:profile\u{1f}c1",
            "baton:identity:{t1}:version",
        );
        let tag = |k: &str| k[k.find('{').expect("{")..=k.find('}').expect("}")].to_owned();
        assert_eq!(tag(a), tag(b));
    }

    #[tokio::test]
    async fn a_commit_applies_every_write_and_bumps_the_version() {
        let server = RedisServer::start();
        let db = db(&server).await;
        assert_eq!(
            db.key("t1", &["profile", "c1"]),
            "baton:test:{t1}:profile\u{1f}c1"
        );
        let mut w = Writes::new();
        w.set(&db.key("t1", &["a"]), b"1")
            .hset(&db.key("t1", &["h"]), b"f", b"v")
            .zadd(&db.key("t1", &["z"]), 2.5, b"m");
        let guard = db.key("t1", &["version"]);
        assert_eq!(
            db.commit(&guard, 0, &w).await.expect("commit"),
            Commit::Done(1)
        );
        let mut c = db.conn();
        let a: Option<Vec<u8>> = redis::cmd("GET")
            .arg(db.key("t1", &["a"]))
            .query_async(&mut c)
            .await
            .expect("get");
        assert_eq!(a.as_deref(), Some(&b"1"[..]));
        let score: f64 = redis::cmd("ZSCORE")
            .arg(db.key("t1", &["z"]))
            .arg("m")
            .query_async(&mut c)
            .await
            .expect("zscore");
        assert_eq!(score, 2.5);
        assert_eq!(db.version(&guard).await.expect("version"), 1);
        let other = db.key("t2", &["version"]);
        assert_eq!(db.version(&other).await.expect("version"), 0);
    }

    #[test]
    fn the_hash_tag_is_what_redis_cluster_hashes() {
        assert_eq!(hash_tag("baton:identity:{t1}:profile\u{1f}c1"), "t1");
        assert_eq!(hash_tag("a{b}c{d}"), "b");
        assert_eq!(hash_tag("a{}b{c}"), "a{}b{c}");
        assert_eq!(hash_tag("no-tag"), "no-tag");
        assert_eq!(hash_tag("open{only"), "open{only");
    }

    #[tokio::test]
    async fn a_commit_across_groups_is_refused_before_it_reaches_redis() {
        let server = RedisServer::start();
        let db = db(&server).await;
        let mut w = Writes::new();
        w.set(&db.key("t1", &["a"]), b"1")
            .set(&db.key("t2", &["a"]), b"2");
        let err = db
            .commit(&db.key("t1", &["version"]), 0, &w)
            .await
            .expect_err("two groups");
        assert!(err.to_string().contains("another group"), "{err}");
        let a: Option<String> = redis::cmd("GET")
            .arg(db.key("t1", &["a"]))
            .query_async(&mut db.conn())
            .await
            .expect("get");
        assert_eq!(a, None);
    }

    #[tokio::test]
    async fn a_commit_on_a_stale_version_applies_nothing() {
        let server = RedisServer::start();
        let db = db(&server).await;
        let key = db.key("t1", &["a"]);
        let guard = db.key("t1", &["version"]);
        let mut first = Writes::new();
        first.set(&key, b"first");
        assert_eq!(
            db.commit(&guard, 0, &first).await.expect("commit"),
            Commit::Done(1)
        );
        let mut stale = Writes::new();
        stale.set(&key, b"stale").del(&db.key("t1", &["other"]));
        assert_eq!(
            db.commit(&guard, 0, &stale).await.expect("commit"),
            Commit::Conflict
        );
        let a: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut db.conn())
            .await
            .expect("get");
        assert_eq!(a.as_deref(), Some("first"));
        assert_eq!(db.version(&guard).await.expect("version"), 1);
    }

    #[tokio::test]
    async fn a_checked_commit_applies_only_on_the_values_it_was_decided_on() {
        let server = RedisServer::start();
        let db = db(&server).await;
        let (guard, index) = (db.key("t1", &["version"]), db.key("t1", &["index"]));
        let claim = |value: Option<&[u8]>, owner: &[u8]| {
            let mut w = Writes::new();
            w.expect_field(&index, b"phone", value)
                .hset(&index, b"phone", owner);
            w
        };
        // Two decisions made on "absent": the first applies, the second conflicts.
        let first = claim(None, b"c1");
        let second = claim(None, b"c2");
        assert_eq!(
            db.commit_checked(&guard, &first).await.expect("commit"),
            Commit::Done(1)
        );
        assert_eq!(
            db.commit_checked(&guard, &second).await.expect("commit"),
            Commit::Conflict
        );
        // Decided on what is there now: applies, whatever the guard was.
        let third = claim(Some(b"c1"), b"c3");
        assert_eq!(
            db.commit_checked(&guard, &third).await.expect("commit"),
            Commit::Done(2)
        );
        // Checks alone validate a read without writing or bumping anything.
        let mut read = Writes::new();
        read.expect_field(&index, b"phone", Some(b"c3"));
        assert_eq!(
            db.commit_checked(&guard, &read).await.expect("check"),
            Commit::Done(2)
        );
        let mut stale = Writes::new();
        stale.expect_field(&index, b"phone", Some(b"c1"));
        assert_eq!(
            db.commit_checked(&guard, &stale).await.expect("check"),
            Commit::Conflict
        );
        // A guarded commit still sees checked commits through the guard.
        let mut guarded = Writes::new();
        guarded.hset(&index, b"mail", b"c9");
        assert_eq!(
            db.commit(&guard, 1, &guarded).await.expect("commit"),
            Commit::Conflict
        );
        let owner: Option<String> = redis::cmd("HGET")
            .arg(&index)
            .arg("phone")
            .query_async(&mut db.conn())
            .await
            .expect("hget");
        assert_eq!(owner.as_deref(), Some("c3"));
    }

    #[tokio::test]
    async fn an_acknowledged_commit_survives_a_redis_crash() {
        let mut server = RedisServer::start();
        let db = db(&server).await;
        let guard = db.key("t1", &["version"]);
        let mut w = Writes::new();
        w.set(&db.key("t1", &["a"]), b"kept");
        assert_eq!(
            db.commit(&guard, 0, &w).await.expect("commit"),
            Commit::Done(1)
        );

        server.crash_and_restart();
        let db = RedisDb::connect(&server.url(), "test")
            .await
            .expect("reconnect");
        let a: Option<String> = redis::cmd("GET")
            .arg(db.key("t1", &["a"]))
            .query_async(&mut db.conn())
            .await
            .expect("get");
        assert_eq!(a.as_deref(), Some("kept"));
        assert_eq!(db.version(&guard).await.expect("version"), 1);
    }

    #[test]
    fn back_off_stays_under_a_ceiling_that_doubles() {
        for attempt in 0..10 {
            let ceiling = Duration::from_micros(50 << attempt.min(6));
            assert!((0..100).all(|_| back_off(attempt) < ceiling));
        }
    }

    #[tokio::test]
    async fn a_refused_url_fails_at_connect() {
        let err = RedisDb::connect("redis://127.0.0.1:1/", "test")
            .await
            .expect_err("nothing listens on port 1");
        assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
    }
}
