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
//! [`RoutingStore::load`] reads in two steps (the live set, then those contacts), each a
//! `MULTI` with the guard; when the guard moved in between, it reads again.

use std::collections::BTreeMap;

use baton_proto::v1::{Agent, ContactState, Queue};
use baton_store::redis_db::{Commit, RedisDb, Writes};
use baton_store::{StoreError, codec, idempotency, keys, redis};

use super::{CustomerAnswer, Loaded, RoutingStore, Write};
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

/// How many times a load starts again after a commit moved the guard.
const ATTEMPTS: u32 = 8;

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
            }
        }
        out
    }

    /// One consistent read of the agents, queues and live contacts, or `None` when a commit
    /// landed while reading.
    async fn try_load(&self) -> Result<Option<Loaded>, StoreError> {
        let mut conn = self.db.conn();
        let guard = self.guard();
        let (before, agents, queues, live): (Option<u64>, Encoded, Encoded, Vec<String>) =
            redis::pipe()
                .atomic()
                .get(&guard)
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
            return Ok(Some(loaded));
        }

        let contact_keys: Vec<String> = live.iter().map(|s| self.contact_key(s)).collect();
        let (contacts, after): (Vec<Option<Vec<u8>>>, Option<u64>) = redis::pipe()
            .atomic()
            .mget(&contact_keys)
            .get(&guard)
            .query_async(&mut conn)
            .await?;
        if after != before {
            return Ok(None);
        }
        // A live id always has its contact (both are written by one commit); skip rather than
        // fail on one that does not, as the embedded store does.
        for value in contacts.into_iter().flatten() {
            loaded.contacts.push(codec::decode(&value)?);
        }
        Ok(Some(loaded))
    }
}

impl RoutingStore for RedisRoutingStore {
    #[tracing::instrument(skip_all, fields(writes = writes.len()))]
    async fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let writes = self.writes(writes);
        match self.db.commit_checked(&self.guard(), &writes).await? {
            Commit::Done(_) => Ok(()),
            // Only a failed check conflicts, and a blind batch has none.
            Commit::Conflict => Err(StoreError::Backend(
                "a routing commit without checks reported a conflict".into(),
            )),
        }
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

    #[tracing::instrument(skip_all)]
    async fn load(&self) -> Result<Loaded, StoreError> {
        for attempt in 1..=ATTEMPTS {
            if let Some(loaded) = self.try_load().await? {
                return Ok(loaded);
            }
            tracing::warn!(
                attempt,
                "routing state changed while loading, reading again"
            );
        }
        Err(StoreError::Backend(format!(
            "routing state changed under {ATTEMPTS} loads in a row: another writer commits to \
             the same redis keys (is a second routing replica running?)"
        )))
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
