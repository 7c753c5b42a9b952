//! Routing's state in Redis.
//!
//! # Keys
//!
//! Every key is in one group, `mesh` (see [`RedisDb::key`]; `␟` is the 0x1F separator):
//!
//! | key                                               | type   | holds                                       |
//! |---------------------------------------------------|--------|---------------------------------------------|
//! | `baton:routing:{mesh}:version`                    | string | the guard every commit bumps                |
//! | `baton:routing:{mesh}:contact␟<tenant>␟<id>`      | string | the encoded [`ContactRecord`], ended or not |
//! | `baton:routing:{mesh}:live`                       | set    | `<tenant>␟<id>` of every contact not ended  |
//! | `baton:routing:{mesh}:agents`                     | hash   | `<tenant>␟<agent id>` to the encoded agent  |
//! | `baton:routing:{mesh}:queues`                     | hash   | `<tenant>␟<queue id>` to the encoded queue  |
//! | `baton:routing:{mesh}:answer␟<tenant>␟<op>␟<key>` | string | a request's digest, then its answer (an erasure finds a tenant's by `SCAN`, of every master on a cluster) |
//! | `baton:routing:{mesh}:customer␟<tenant>␟<id>`     | set    | `<tenant>␟<contact id>` of the customer's contacts |
//! | `baton:routing:{mesh}:jobs`                       | hash   | `<tenant>␟<key>` to an open erasure job     |
//! | `baton:routing:{mesh}:leases`                     | hash   | shard to `<epoch>␟<replica>␟<address>`, its current lease |
//! | `baton:routing:{mesh}:lease-expiry`               | hash   | shard to when its lease lapses (ms, the server's clock) |
//!
//! The customer index is what an erasure reads to find a customer's contacts; it may name a
//! contact whose customer changed since, so readers check the record. Contacts written before
//! the index existed are not in it.
//!
//! Contacts are one string each rather than fields of one hash so that ended ones can later be
//! given a retention TTL; agents and queues are configuration, small enough to read whole.
//!
//! # Atomicity
//!
//! The persister folds the changes of many requests, of any tenants, into one
//! [`RoutingStore::apply`], which must commit all or nothing. So the group is not a tenant but
//! one fixed `mesh`: every key lives in one hash slot and one [`RedisDb::commit`] script
//! applies the whole batch. That puts all of routing's keys on one node of a cluster, which is
//! fine while routing runs as a single replica; when router replicas share state, the group
//! has to follow whatever they partition by. Every multi-key read (`MGET`, the `MULTI` of a
//! load) is of that one slot, so it reaches one node and stays atomic on a cluster.
//!
//! A remembered answer is the record `baton_store::idempotency::seal` builds (the request's
//! digest, then the answer) and is read back through `idempotency::open`, so a key that comes
//! back with a different request is refused as on the embedded store.
//!
//! Routing's writes are blind (they store the state the dispatcher already decided), so a
//! commit checks nothing ([`RedisDb::commit_checked`] with no checks: one round trip); it
//! still bumps the guard, which is what `load` relies on. Every write stores an absolute
//! value, so re-applying a batch whose outcome was unknown (a timeout after the server ran it)
//! leaves the same state. Durability is the server's: with
//! `appendfsync always` an acknowledged commit survives a crash of Redis.
//!
//! # Shards
//!
//! Router replicas split the tenants into shards and hold each through a lease (see the
//! `shards` module). A claim is one script that reads the server's clock: it takes a shard
//! nobody holds or whose holder let it lapse (the epoch goes up by one), extends a lease the
//! claimant holds, and otherwise names the holder's address. A commit for a shard checks that
//! the shard's lease is still the one it was decided under, with the commit's own value check
//! in the same script, so a replica that lost its lease (paused, cut off, or simply slower
//! than its lapse) writes nothing once another has taken over. The expiry is a second hash
//! because renewals change it and the fence must not change.
//!
//! [`RoutingStore::load`] reads in two steps (the live set, then those contacts), each a
//! `MULTI`. It is read by a replica that just took shards, and only a shard's holder writes
//! its tenants' agents, queues and live contacts, so what other replicas commit in between
//! concerns tenants it then leaves aside.

use std::collections::BTreeMap;
use std::time::Duration;

use baton_proto::v1::{Agent, ContactState, Queue};
use baton_store::redis_db::{Commit, RedisDb, Writes};
use baton_store::{StoreError, codec, idempotency, keys, redis};

use super::{
    Claim, CustomerAnswer, Holder, Lease, Loaded, Member, PendingEvent, RoutingStore, Write,
};
use crate::domain::erasure::{ErasureJob, answered_contact};
use crate::domain::record::ContactRecord;

/// The one group of every routing key: a batch may span tenants and must commit atomically.
const GROUP: &str = "mesh";

/// A hash of scoped ids (`<tenant>␟<id>`) to encoded messages, ordered like the embedded
/// store's tables.
type Encoded = BTreeMap<String, Vec<u8>>;

/// How many keys one `SCAN` step asks for, and one `MGET` reads, while an erasure looks
/// through a tenant's answers.
const SCAN_BATCH: usize = 500;

/// Claims a shard: KEYS leases, lease-expiry; ARGV shard, replica, address, ttl (ms). A holder
/// at the claimant's own address is an earlier process there (it bound the address, so it is
/// gone): the claimant takes over at once rather than wait for the lease to lapse. Answers
/// `{'held', fence, 'renewed' or 'taken'}` when the claimant holds it, `{'elsewhere', address}`
/// when another does.
const CLAIM: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me = ARGV[2] .. '\31' .. ARGV[3]
local fence = redis.call('HGET', KEYS[1], ARGV[1])
local epoch = 0
if fence then
  local sep = string.find(fence, '\31', 1, true)
  epoch = tonumber(string.sub(fence, 1, sep - 1))
  local holder = string.sub(fence, sep + 1)
  if holder == me then
    redis.call('HSET', KEYS[2], ARGV[1], now + tonumber(ARGV[4]))
    return {'held', fence, 'renewed'}
  end
  local at = string.find(holder, '\31', 1, true)
  local address = string.sub(holder, at + 1)
  local expires = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  if expires > now and address ~= ARGV[3] then
    return {'elsewhere', address}
  end
end
local taken = tostring(epoch + 1) .. '\31' .. me
redis.call('HSET', KEYS[1], ARGV[1], taken)
redis.call('HSET', KEYS[2], ARGV[1], now + tonumber(ARGV[4]))
return {'held', taken, 'taken'}
";

/// Releases a lease: KEYS leases, lease-expiry; ARGV shard, fence. The fence stays (the next
/// holder's epoch follows it); the lease lapses now.
const RELEASE: &str = r"
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HSET', KEYS[2], ARGV[1], 0)
end
return 0
";

/// The shards whose lease lapsed: KEYS lease-expiry.
const LAPSED: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) <= now then
    table.insert(out, all[i])
  end
end
return out
";

/// Announces a replica: KEYS members, member-expiry; ARGV replica, address, ttl (ms). Drops
/// the members whose announcement lapsed and answers the live ones as a flat list of
/// `replica, address` pairs.
const ANNOUNCE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], now + tonumber(ARGV[3]))
local expiry = redis.call('HGETALL', KEYS[2])
for i = 1, #expiry, 2 do
  if tonumber(expiry[i + 1]) <= now then
    redis.call('HDEL', KEYS[1], expiry[i])
    redis.call('HDEL', KEYS[2], expiry[i])
  end
end
return redis.call('HGETALL', KEYS[1])
";

/// The holders of the leases that have not lapsed: KEYS leases, lease-expiry. Answers a flat
/// list of `shard, fence` pairs.
const HOLDERS: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local leases = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #leases, 2 do
  if tonumber(redis.call('HGET', KEYS[2], leases[i]) or '0') > now then
    table.insert(out, leases[i])
    table.insert(out, leases[i + 1])
  end
end
return out
";

/// Passes a lease on: KEYS leases, lease-expiry; ARGV shard, fence, replica, address, ttl
/// (ms). Answers the receiver's fence (the next epoch), or an empty string when the fence
/// given is no longer the shard's.
const HAND_OVER: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local fence = redis.call('HGET', KEYS[1], ARGV[1])
if fence ~= ARGV[2] then
  return ''
end
local sep = string.find(fence, '\31', 1, true)
local epoch = tonumber(string.sub(fence, 1, sep - 1))
local given = tostring(epoch + 1) .. '\31' .. ARGV[3] .. '\31' .. ARGV[4]
redis.call('HSET', KEYS[1], ARGV[1], given)
redis.call('HSET', KEYS[2], ARGV[1], now + tonumber(ARGV[5]))
return given
";

/// The replica and address a fence names (`epoch ␟ replica ␟ address`).
fn fence_holder(fence: &str) -> Option<(&str, &str)> {
    let mut parts = fence.splitn(3, '\u{1f}');
    let _epoch = parts.next()?;
    Some((parts.next()?, parts.next()?))
}

fn script(
    source: &'static str,
    cell: &'static std::sync::OnceLock<redis::Script>,
) -> &'static redis::Script {
    cell.get_or_init(|| redis::Script::new(source))
}

/// Routing's store on Redis, for a deployment that keeps its state off the pod.
#[derive(Debug, Clone)]
pub struct RedisRoutingStore {
    /// The shared connection and key builder.
    db: RedisDb,
}

impl RedisRoutingStore {
    /// The store on `db` (connected for the `routing` service).
    pub fn new(db: RedisDb) -> Self {
        Self { db }
    }

    /// The guard every commit checks and bumps.
    fn guard(&self) -> String {
        self.db.key(GROUP, &["version"])
    }

    /// The key of one contact; `scoped` is `<tenant>␟<id>` (see [`keys::scoped`]).
    fn contact_key(&self, scoped: &str) -> String {
        self.db.key(GROUP, &["contact", scoped])
    }

    /// The set of every contact that is not ended.
    fn live_key(&self) -> String {
        self.db.key(GROUP, &["live"])
    }

    /// The hash of agent profiles.
    fn agents_key(&self) -> String {
        self.db.key(GROUP, &["agents"])
    }

    /// The hash of queues.
    fn queues_key(&self) -> String {
        self.db.key(GROUP, &["queues"])
    }

    /// The set of a customer's contacts (scoped contact ids).
    fn customer_key(&self, tenant_id: &str, customer_id: &str) -> String {
        self.db.key(GROUP, &["customer", tenant_id, customer_id])
    }

    /// The hash of open erasure jobs.
    fn jobs_key(&self) -> String {
        self.db.key(GROUP, &["jobs"])
    }

    /// The hash of every shard's current lease (its fence).
    fn leases_key(&self) -> String {
        self.db.key(GROUP, &["leases"])
    }

    /// The hash of when each shard's lease lapses.
    fn expiry_key(&self) -> String {
        self.db.key(GROUP, &["lease-expiry"])
    }

    /// The hash of history events waiting for context (`tenant ␟ key` to the encoded event).
    fn pending_key(&self) -> String {
        self.db.key(GROUP, &["pending-events"])
    }

    /// The hash of live replicas' addresses.
    fn members_key(&self) -> String {
        self.db.key(GROUP, &["members"])
    }

    /// The hash of when each replica's announcement lapses.
    fn member_expiry_key(&self) -> String {
        self.db.key(GROUP, &["member-expiry"])
    }

    /// The key of one remembered answer.
    fn answer_key(&self, tenant_id: &str, operation: &str, key: &str) -> String {
        self.db.key(GROUP, &["answer", tenant_id, operation, key])
    }

    /// The Redis writes for one batch, in order (a later write to a contact wins, as in the
    /// batch).
    fn writes(&self, writes: Vec<Write>) -> Writes {
        let mut out = Writes::new();
        let (live, agents, queues) = (self.live_key(), self.agents_key(), self.queues_key());
        let jobs = self.jobs_key();
        for write in writes {
            match write {
                Write::Contact(record) => {
                    let scoped = keys::scoped(record.tenant_id(), &[record.contact_id()]);
                    out.set(&self.contact_key(&scoped), &codec::encode(record.as_ref()));
                    if record.state() == ContactState::Ended {
                        out.srem(&live, scoped.as_bytes());
                    } else {
                        out.sadd(&live, scoped.as_bytes());
                    }
                    let customer = &record.contact.customer_id;
                    if !customer.is_empty() {
                        out.sadd(
                            &self.customer_key(record.tenant_id(), customer),
                            scoped.as_bytes(),
                        );
                    }
                }
                Write::Agent { tenant_id, agent } => {
                    let field = keys::scoped(&tenant_id, &[&agent.agent_id]);
                    out.hset(&agents, field.as_bytes(), &codec::encode(&agent));
                }
                Write::Queue { tenant_id, queue } => {
                    let field = keys::scoped(&tenant_id, &[&queue.queue_id]);
                    out.hset(&queues, field.as_bytes(), &codec::encode(&queue));
                }
                Write::Answer {
                    tenant_id,
                    operation,
                    key,
                    digest,
                    answer,
                } => {
                    out.set(
                        &self.answer_key(&tenant_id, operation, &key),
                        &idempotency::seal(&digest, &answer),
                    );
                }
                Write::Job(job) => {
                    let field = keys::scoped(&job.tenant_id, &[&job.key]);
                    out.hset(&jobs, field.as_bytes(), &codec::encode(job.as_ref()));
                }
                Write::CloseJob { tenant_id, key } => {
                    out.hdel(&jobs, keys::scoped(&tenant_id, &[&key]).as_bytes());
                }
                Write::EraseContact {
                    tenant_id,
                    contact_id,
                    customer_id,
                } => {
                    let scoped = keys::scoped(&tenant_id, &[&contact_id]);
                    out.del(&self.contact_key(&scoped));
                    out.srem(&live, scoped.as_bytes());
                    out.srem(
                        &self.customer_key(&tenant_id, &customer_id),
                        scoped.as_bytes(),
                    );
                }
                Write::ForgetAnswer {
                    tenant_id,
                    operation,
                    key,
                } => {
                    out.del(&self.answer_key(&tenant_id, &operation, &key));
                }
                Write::Pending(event) => {
                    let field = keys::scoped(&event.tenant_id, &[&event.key]);
                    out.hset(
                        &self.pending_key(),
                        field.as_bytes(),
                        &codec::encode(event.as_ref()),
                    );
                }
                Write::Delivered { tenant_id, key } => {
                    out.hdel(
                        &self.pending_key(),
                        keys::scoped(&tenant_id, &[&key]).as_bytes(),
                    );
                }
            }
        }
        out
    }

    /// The agents, queues and live contacts, each step one `MULTI` (see the module docs).
    async fn read_all(&self) -> Result<Loaded, StoreError> {
        let mut conn = self.db.conn();
        let (agents, queues, live): (Encoded, Encoded, Vec<String>) = redis::pipe()
            .atomic()
            .hgetall(self.agents_key())
            .hgetall(self.queues_key())
            .smembers(self.live_key())
            .query_async(&mut conn)
            .await?;

        let mut loaded = Loaded::default();
        for (field, value) in agents {
            let agent: Agent = codec::decode(&value)?;
            loaded.agents.push((tenant_of(&field), agent));
        }
        for (field, value) in queues {
            let queue: Queue = codec::decode(&value)?;
            loaded.queues.push((tenant_of(&field), queue));
        }
        if live.is_empty() {
            return Ok(loaded);
        }

        let contact_keys: Vec<String> = live.iter().map(|s| self.contact_key(s)).collect();
        let contacts: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&contact_keys)
            .query_async(&mut conn)
            .await?;
        // A live id always has its contact (both are written by one commit); skip rather than
        // fail on one that does not, as the embedded store does. One ended by another shard's
        // holder in between is left out here as it would be a moment later.
        for value in contacts.into_iter().flatten() {
            let record: ContactRecord = codec::decode(&value)?;
            if record.state() != ContactState::Ended {
                loaded.contacts.push(record);
            }
        }
        Ok(loaded)
    }
}

impl RoutingStore for RedisRoutingStore {
    #[tracing::instrument(skip_all, fields(writes = writes.len()))]
    async fn apply_fenced(
        &self,
        lease: Option<&Lease>,
        writes: Vec<Write>,
    ) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let mut writes = self.writes(writes);
        if let Some(lease) = lease {
            writes.expect_field(
                &self.leases_key(),
                lease.shard.to_string().as_bytes(),
                Some(lease.fence.as_bytes()),
            );
        }
        match self.db.commit_checked(&self.guard(), &writes).await? {
            Commit::Done(_) => Ok(()),
            // Only the lease is checked.
            Commit::Conflict => Err(StoreError::Fenced(format!(
                "shard {} was taken by another replica",
                lease.map_or(0, |l| l.shard)
            ))),
        }
    }

    #[tracing::instrument(skip_all, fields(shard))]
    async fn claim(
        &self,
        shard: u32,
        replica: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<Claim, StoreError> {
        static CELL: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let answer: Vec<String> = script(CLAIM, &CELL)
            .key(self.leases_key())
            .key(self.expiry_key())
            .arg(shard)
            .arg(replica)
            .arg(address)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut self.db.conn())
            .await?;
        match answer.as_slice() {
            [held, fence, how] if held == "held" => Ok(Claim::Held {
                lease: Lease {
                    shard,
                    fence: fence.clone(),
                },
                renewed: how == "renewed",
            }),
            [elsewhere, address] if elsewhere == "elsewhere" => Ok(Claim::Elsewhere {
                address: address.clone(),
            }),
            _ => Err(StoreError::Corrupt(format!(
                "a lease claim answered {answer:?}"
            ))),
        }
    }

    #[tracing::instrument(skip_all, fields(shard = lease.shard))]
    async fn release(&self, lease: &Lease) -> Result<(), StoreError> {
        static CELL: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let _: i64 = script(RELEASE, &CELL)
            .key(self.leases_key())
            .key(self.expiry_key())
            .arg(lease.shard)
            .arg(lease.fence.as_str())
            .invoke_async(&mut self.db.conn())
            .await?;
        Ok(())
    }

    async fn lapsed(&self) -> Result<Vec<u32>, StoreError> {
        static CELL: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let shards: Vec<String> = script(LAPSED, &CELL)
            .key(self.expiry_key())
            .invoke_async(&mut self.db.conn())
            .await?;
        Ok(shards.iter().filter_map(|s| s.parse().ok()).collect())
    }

    async fn announce(
        &self,
        replica: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<Vec<Member>, StoreError> {
        static CELL: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let flat: Vec<String> = script(ANNOUNCE, &CELL)
            .key(self.members_key())
            .key(self.member_expiry_key())
            .arg(replica)
            .arg(address)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut self.db.conn())
            .await?;
        let mut members: Vec<Member> = flat
            .chunks_exact(2)
            .map(|pair| Member {
                replica: pair[0].clone(),
                address: pair[1].clone(),
            })
            .collect();
        members.sort_by(|a, b| a.replica.cmp(&b.replica));
        Ok(members)
    }

    async fn leave(&self, replica: &str) -> Result<(), StoreError> {
        let _: () = redis::pipe()
            .hdel(self.members_key(), replica)
            .ignore()
            .hdel(self.member_expiry_key(), replica)
            .ignore()
            .query_async(&mut self.db.conn())
            .await?;
        Ok(())
    }

    async fn holders(&self) -> Result<Vec<Holder>, StoreError> {
        static CELL: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let flat: Vec<String> = script(HOLDERS, &CELL)
            .key(self.leases_key())
            .key(self.expiry_key())
            .invoke_async(&mut self.db.conn())
            .await?;
        let mut holders = Vec::new();
        for pair in flat.chunks_exact(2) {
            let (Ok(shard), Some((replica, address))) = (pair[0].parse(), fence_holder(&pair[1]))
            else {
                return Err(StoreError::Corrupt(format!(
                    "shard {:?} has the lease {:?}",
                    pair[0], pair[1]
                )));
            };
            holders.push(Holder {
                shard,
                replica: replica.to_owned(),
                address: address.to_owned(),
            });
        }
        holders.sort_by_key(|h| h.shard);
        Ok(holders)
    }

    #[tracing::instrument(skip_all, fields(shard = lease.shard))]
    async fn hand_over(
        &self,
        lease: &Lease,
        replica: &str,
        address: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        static CELL: std::sync::OnceLock<redis::Script> = std::sync::OnceLock::new();
        let given: String = script(HAND_OVER, &CELL)
            .key(self.leases_key())
            .key(self.expiry_key())
            .arg(lease.shard)
            .arg(lease.fence.as_str())
            .arg(replica)
            .arg(address)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut self.db.conn())
            .await?;
        if given.is_empty() {
            return Ok(None);
        }
        Ok(Some(Lease {
            shard: lease.shard,
            fence: given,
        }))
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id, operation = %operation))]
    async fn answer(
        &self,
        tenant_id: &str,
        operation: &str,
        key: &str,
        digest: &[u8; 32],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let record: Option<Vec<u8>> = redis::cmd("GET")
            .arg(self.answer_key(tenant_id, operation, key))
            .query_async(&mut self.db.conn())
            .await?;
        record
            .map(|r| idempotency::open(&r, digest, operation))
            .transpose()
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id, contact = %contact_id))]
    async fn contact(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> Result<Option<ContactRecord>, StoreError> {
        let key = self.contact_key(&keys::scoped(tenant_id, &[contact_id]));
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.db.conn())
            .await?;
        value.map(|v| codec::decode(&v)).transpose()
    }

    async fn pending(&self, limit: usize) -> Result<Vec<PendingEvent>, StoreError> {
        // Events wait here only while context is out of reach: few, so read whole.
        let all: Encoded = redis::cmd("HGETALL")
            .arg(self.pending_key())
            .query_async(&mut self.db.conn())
            .await?;
        all.into_values()
            .take(limit)
            .map(|value| codec::decode(&value))
            .collect()
    }

    #[tracing::instrument(skip_all)]
    async fn load(&self) -> Result<Loaded, StoreError> {
        self.read_all().await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id))]
    async fn customer_contacts(
        &self,
        tenant_id: &str,
        customer_id: &str,
    ) -> Result<Vec<ContactRecord>, StoreError> {
        let mut conn = self.db.conn();
        let scoped: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.customer_key(tenant_id, customer_id))
            .query_async(&mut conn)
            .await?;
        if scoped.is_empty() {
            return Ok(Vec::new());
        }
        let contact_keys: Vec<String> = scoped.iter().map(|s| self.contact_key(s)).collect();
        let values: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
            .arg(&contact_keys)
            .query_async(&mut conn)
            .await?;
        let mut found = Vec::new();
        for value in values.into_iter().flatten() {
            let record: ContactRecord = codec::decode(&value)?;
            if record.contact.customer_id == customer_id {
                found.push(record);
            }
        }
        Ok(found)
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id))]
    async fn customer_answers(
        &self,
        tenant_id: &str,
        customer_id: &str,
    ) -> Result<Vec<CustomerAnswer>, StoreError> {
        // Answers are one string each, so the tenant's are found by `SCAN` over their prefix
        // (on a cluster, of every master: a `SCAN` walks one node's keys only).
        let mut prefix = self.db.key(GROUP, &["answer", tenant_id]);
        prefix.push(keys::SEP);
        let pattern = format!("{}*", glob_escape(&prefix));
        let names = self.db.scan(&pattern, SCAN_BATCH).await?;
        let mut conn = self.db.conn();
        let mut found = Vec::new();
        for chunk in names.chunks(SCAN_BATCH) {
            let records: Vec<Option<Vec<u8>>> =
                redis::cmd("MGET").arg(chunk).query_async(&mut conn).await?;
            for (name, record) in chunk.iter().zip(records) {
                // Forgotten since the scan.
                let Some(record) = record else { continue };
                let Some((operation, key)) = name
                    .strip_prefix(prefix.as_str())
                    .and_then(|rest| rest.split_once(keys::SEP))
                else {
                    continue;
                };
                let answer = idempotency::answer(&record)?;
                if let Some(contact_id) = answered_contact(operation, answer, customer_id) {
                    found.push(CustomerAnswer {
                        operation: operation.to_owned(),
                        key: key.to_owned(),
                        contact_id,
                    });
                }
            }
        }
        Ok(found)
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant_id))]
    async fn job(&self, tenant_id: &str, key: &str) -> Result<Option<ErasureJob>, StoreError> {
        let value: Option<Vec<u8>> = redis::cmd("HGET")
            .arg(self.jobs_key())
            .arg(keys::scoped(tenant_id, &[key]))
            .query_async(&mut self.db.conn())
            .await?;
        value.map(|v| codec::decode(&v)).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn open_jobs(&self) -> Result<Vec<ErasureJob>, StoreError> {
        let jobs: Encoded = redis::cmd("HGETALL")
            .arg(self.jobs_key())
            .query_async(&mut self.db.conn())
            .await?;
        jobs.values().map(|v| codec::decode(v)).collect()
    }
}

/// `text` as a `SCAN MATCH` pattern that matches only itself.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The tenant part of a scoped hash field.
fn tenant_of(field: &str) -> String {
    field.split(keys::SEP).next().unwrap_or_default().to_owned()
}
