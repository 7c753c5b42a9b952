//! One transaction of the Redis identity store, as the domain's closures see it: reads go to
//! Redis once per field and are then remembered (so two reads of one field agree), writes are
//! buffered until the commit and visible to every later read of the same transaction. Every
//! field read from Redis becomes a value check of the commit (or of the validation that ends a
//! read), so the transaction applies only if nothing it read has changed since.

use std::{
    cell::{Cell, RefCell},
    collections::{BTreeMap, BTreeSet},
};

use tokio::runtime::Handle;

use baton_proto::v1::Profile;
use baton_store::{
    StoreError, codec,
    keys::scoped,
    redis::{self, FromRedisValue},
    redis_db::{Commit, RedisDb, Writes},
};

use crate::{
    normalize::IdentityKey,
    store::{
        AuditRecord, Derived, IdentityRead, IdentityWrite, MatchWeights, MergeRecord,
        answer_mentions,
    },
};

/// How many fields one `HSCAN` step asks for.
const SCAN_BATCH: usize = 500;

/// The keys of one tenant (the table in the `store::redis` docs).
#[derive(Debug, Clone)]
pub(in crate::store) struct Keys {
    /// Builds the per-customer keys.
    db: RedisDb,
    /// The hash tag of every key.
    tenant: String,
    /// The version every commit bumps, and that transactions which read whole sets check.
    pub(in crate::store) guard: String,
    profiles: String,
    index: String,
    retired: String,
    ledger: String,
    audit: String,
    audit_order: String,
    answers: String,
    blocks: String,
    counts: String,
    settings: String,
}

impl Keys {
    pub(in crate::store) fn new(db: &RedisDb, tenant: &str) -> Self {
        let key = |name: &str| db.key(tenant, &[name]);
        Self {
            guard: key("version"),
            profiles: key("profiles"),
            index: key("index"),
            retired: key("retired"),
            ledger: key("ledger"),
            audit: key("audit"),
            audit_order: key("audit_order"),
            answers: key("answers"),
            blocks: key("blocks"),
            counts: key("counts"),
            settings: key("settings"),
            db: db.clone(),
            tenant: tenant.to_owned(),
        }
    }

    /// The set of merge ids naming `customer_id`.
    fn merges(&self, customer_id: &str) -> String {
        self.db.key(&self.tenant, &["merges", customer_id])
    }
}

/// Redis as seen from a thread of the blocking pool, where waiting for a reply is allowed.
#[derive(Debug)]
pub(in crate::store) struct Link<'a> {
    db: &'a RedisDb,
    /// The runtime that drives the connection.
    handle: Handle,
}

impl<'a> Link<'a> {
    /// Must run on a thread of tokio's blocking pool (`spawn_blocking`), never on a worker.
    pub(in crate::store) fn current(db: &'a RedisDb) -> Self {
        Self {
            db,
            handle: Handle::current(),
        }
    }

    /// Waits for `future`.
    pub(in crate::store) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    fn query<T: FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, StoreError> {
        let mut conn = self.db.conn();
        Ok(self.block_on(cmd.query_async(&mut conn))?)
    }

    /// The tenant's version.
    fn version(&self, keys: &Keys) -> Result<u64, StoreError> {
        self.block_on(self.db.version(&keys.guard))
    }

    /// Whether everything `txn` read still holds (and, when it read a whole set, the tenant's
    /// version has not moved): its checks, run without writes.
    pub(in crate::store) fn still_holds(&self, txn: &Txn<'_>) -> Result<bool, StoreError> {
        self.submit(txn.keys, txn.guard(), &txn.checks())
    }

    /// Commits everything `txn` changed, if everything it read still holds; whether it did.
    pub(in crate::store) fn commit(&self, txn: Txn<'_>) -> Result<bool, StoreError> {
        let (keys, guard) = (txn.keys, txn.guard());
        self.submit(keys, guard, &txn.into_writes())
    }

    /// Runs `writes` (with their checks) guarded by the tenant's `guard` version, if any.
    fn submit(&self, keys: &Keys, guard: Option<u64>, writes: &Writes) -> Result<bool, StoreError> {
        let outcome = match guard {
            Some(version) => self.block_on(self.db.commit(&keys.guard, version, writes))?,
            None => self.block_on(self.db.commit_checked(&keys.guard, writes))?,
        };
        Ok(matches!(outcome, Commit::Done(_)))
    }

    /// The tenant's version and the answer remembered in `slot`, in one round trip. The
    /// version is read first, so an answer committed after it is either seen here or makes
    /// the commit conflict.
    pub(in crate::store) fn begin(
        &self,
        keys: &Keys,
        slot: Option<&str>,
    ) -> Result<(u64, Option<Vec<u8>>), StoreError> {
        let Some(slot) = slot else {
            return Ok((self.version(keys)?, None));
        };
        let mut conn = self.db.conn();
        let (version, answer): (Option<u64>, Option<Vec<u8>>) = self.block_on(
            redis::pipe()
                .cmd("GET")
                .arg(&keys.guard)
                .cmd("HGET")
                .arg(&keys.answers)
                .arg(slot)
                .query_async(&mut conn),
        )?;
        Ok((version.unwrap_or(0), answer))
    }
}

/// One field as the transaction sees it.
#[derive(Debug, Clone)]
struct Field {
    /// `None`: absent (never there, or removed by this transaction).
    value: Option<Vec<u8>>,
    /// Whether this transaction wrote it, so the commit must too.
    changed: bool,
    /// What Redis held when the transaction first read it (`None`: never read from Redis, only
    /// written): the commit applies only if Redis still holds that.
    read: Option<Option<Vec<u8>>>,
}

impl Field {
    fn read(value: Option<Vec<u8>>) -> Self {
        Self {
            read: Some(value.clone()),
            value,
            changed: false,
        }
    }
}

/// One Redis hash seen through the transaction.
#[derive(Debug)]
struct Hash {
    key: String,
    /// Every field read or written so far.
    fields: RefCell<BTreeMap<String, Field>>,
    /// Whether this transaction dropped the whole hash: fields it did not write since read
    /// as absent, and the commit deletes the hash before writing those it did.
    cleared: bool,
}

impl Hash {
    fn new(key: &str) -> Self {
        Self {
            key: key.to_owned(),
            fields: RefCell::default(),
            cleared: false,
        }
    }

    /// Drops every field (see [`Hash::cleared`]).
    fn clear(&mut self) {
        self.cleared = true;
        self.fields.get_mut().clear();
    }

    /// A field nobody wrote in a cleared hash: absent, with nothing to check at the commit.
    fn absent(&self, field: &str) -> Option<Vec<u8>> {
        self.fields.borrow_mut().insert(
            field.to_owned(),
            Field {
                value: None,
                changed: false,
                read: None,
            },
        );
        None
    }

    /// What the transaction holds for `field`, if it read or wrote it.
    fn known(&self, field: &str) -> Option<Option<Vec<u8>>> {
        self.fields.borrow().get(field).map(|f| f.value.clone())
    }

    fn get(&self, redis: &Link<'_>, field: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = self.known(field) {
            return Ok(value);
        }
        if self.cleared {
            return Ok(self.absent(field));
        }
        let value: Option<Vec<u8>> = redis.query(redis::cmd("HGET").arg(&self.key).arg(field))?;
        self.fields
            .borrow_mut()
            .insert(field.to_owned(), Field::read(value.clone()));
        Ok(value)
    }

    /// Several fields, fetching those not known yet in one `HMGET`.
    fn get_many(
        &self,
        redis: &Link<'_>,
        fields: &[String],
    ) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let missing: Vec<&String> = {
            let known = self.fields.borrow();
            fields.iter().filter(|f| !known.contains_key(*f)).collect()
        };
        if self.cleared {
            for field in missing {
                self.absent(field);
            }
        } else if !missing.is_empty() {
            let mut cmd = redis::cmd("HMGET");
            cmd.arg(&self.key);
            for field in &missing {
                cmd.arg(field.as_str());
            }
            let values: Vec<Option<Vec<u8>>> = redis.query(&cmd)?;
            let mut known = self.fields.borrow_mut();
            for (field, value) in missing.into_iter().zip(values) {
                known.insert(field.clone(), Field::read(value));
            }
        }
        let known = self.fields.borrow();
        Ok(fields
            .iter()
            .map(|f| known.get(f).and_then(|k| k.value.clone()))
            .collect())
    }

    fn set(&mut self, field: &str, value: Option<Vec<u8>>) {
        let fields = self.fields.get_mut();
        let read = fields.remove(field).and_then(|f| f.read);
        fields.insert(
            field.to_owned(),
            Field {
                value,
                changed: true,
                read,
            },
        );
    }

    /// Records that Redis held `value` in `field` when the transaction began (read by the
    /// caller in its first round trip).
    fn seen(&self, field: &str, value: Option<Vec<u8>>) {
        self.fields
            .borrow_mut()
            .insert(field.to_owned(), Field::read(value));
    }

    /// Removes `field`; whether it was there.
    fn remove(&mut self, redis: &Link<'_>, field: &str) -> Result<bool, StoreError> {
        let existed = self.get(redis, field)?.is_some();
        self.set(field, None);
        Ok(existed)
    }

    /// The fields this transaction wrote, with their final values.
    fn changes(&self) -> Vec<(String, Option<Vec<u8>>)> {
        self.fields
            .borrow()
            .iter()
            .filter(|(_, f)| f.changed)
            .map(|(name, f)| (name.clone(), f.value.clone()))
            .collect()
    }

    /// Adds a value check for every field read from Redis.
    fn check_into(&self, writes: &mut Writes) {
        for (field, f) in self.fields.borrow().iter() {
            if let Some(read) = &f.read {
                writes.expect_field(&self.key, field.as_bytes(), read.as_deref());
            }
        }
    }

    /// Adds the commands that apply [`Hash::changes`].
    fn write_into(&self, writes: &mut Writes) {
        if self.cleared {
            writes.del(&self.key);
        }
        for (field, value) in self.changes() {
            match value {
                Some(value) => writes.hset(&self.key, field.as_bytes(), &value),
                None => writes.hdel(&self.key, field.as_bytes()),
            };
        }
    }
}

/// One identity transaction over one tenant.
#[derive(Debug)]
pub(in crate::store) struct Txn<'a> {
    redis: &'a Link<'a>,
    keys: &'a Keys,
    profiles: Hash,
    index: Hash,
    retired: Hash,
    ledger: Hash,
    audit: Hash,
    answers: Hash,
    blocks: Hash,
    settings: Hash,
    /// Term counts this transaction changes, applied as increments (they commute, so they
    /// are neither read back nor checked).
    counts: RefCell<BTreeMap<String, i64>>,
    /// Whether this transaction dropped every count first (then `counts` are the values).
    counts_cleared: bool,
    /// Ledger lookups this transaction added (`true`) or removed (`false`), by customer id
    /// and merge id.
    merges: BTreeMap<(String, String), bool>,
    /// Whether it read a whole set (merges of a customer, the audit trail, every answer),
    /// which field checks cannot cover: then the tenant's guard must not have moved either.
    read_a_set: Cell<bool>,
    /// The tenant's version as read before anything the guard must cover: when the
    /// transaction began (a write), or just before its first whole-set read (a read, which
    /// then costs no round trip for it unless it reads a set).
    version: Cell<Option<u64>>,
}

impl<'a> Txn<'a> {
    /// A transaction; `version` is the tenant's version when the caller already read it.
    pub(in crate::store) fn new(redis: &'a Link<'a>, keys: &'a Keys, version: Option<u64>) -> Self {
        Self {
            redis,
            keys,
            profiles: Hash::new(&keys.profiles),
            index: Hash::new(&keys.index),
            retired: Hash::new(&keys.retired),
            ledger: Hash::new(&keys.ledger),
            audit: Hash::new(&keys.audit),
            answers: Hash::new(&keys.answers),
            blocks: Hash::new(&keys.blocks),
            settings: Hash::new(&keys.settings),
            counts: RefCell::default(),
            counts_cleared: false,
            merges: BTreeMap::new(),
            read_a_set: Cell::new(false),
            version: Cell::new(version),
        }
    }

    /// Notes a whole-set read about to happen, reading the tenant's version first if nothing
    /// did yet.
    fn reading_a_set(&self) -> Result<(), StoreError> {
        if self.version.get().is_none() {
            self.version.set(Some(self.redis.version(self.keys)?));
        }
        self.read_a_set.set(true);
        Ok(())
    }

    /// The version the tenant's guard must still hold at the commit, when it must be checked.
    fn guard(&self) -> Option<u64> {
        self.version.get().filter(|_| self.read_a_set.get())
    }

    /// Walks the fields of the hash `key` with their values, [`SCAN_BATCH`] at a time, while
    /// `each` answers true. A field may come twice when the hash changes meanwhile (`HSCAN`'s
    /// promise is that each one present throughout comes at least once).
    fn scan_hash(
        &self,
        key: &str,
        mut each: impl FnMut(Vec<u8>, Vec<u8>) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut cursor = 0u64;
        loop {
            let (next, flat): (u64, Vec<Vec<u8>>) = self.redis.query(
                redis::cmd("HSCAN")
                    .arg(key)
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(SCAN_BATCH),
            )?;
            let mut flat = flat.into_iter();
            while let (Some(field), Some(value)) = (flat.next(), flat.next()) {
                if !each(field, value)? {
                    return Ok(());
                }
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Records that the idempotency slot `field` was empty when the transaction began, so that
    /// a concurrent first answer in the same slot makes this commit conflict.
    pub(in crate::store) fn slot_was_empty(&self, field: &str) {
        self.answers.seen(field, None);
    }

    /// The value checks of everything read: applied alone, they validate a read or a failed
    /// decision.
    pub(in crate::store) fn checks(&self) -> Writes {
        let mut checks = Writes::new();
        for hash in self.hashes() {
            hash.check_into(&mut checks);
        }
        checks
    }

    fn hashes(&self) -> [&Hash; 8] {
        [
            &self.profiles,
            &self.index,
            &self.retired,
            &self.ledger,
            &self.audit,
            &self.answers,
            &self.blocks,
            &self.settings,
        ]
    }

    /// Remembers `answer` in the idempotency slot `field`, in this transaction's commit.
    pub(in crate::store) fn remember(&mut self, field: &str, answer: Vec<u8>) {
        self.answers.set(field, Some(answer));
    }

    /// Everything this transaction changed, as one commit's writes, with its checks.
    pub(in crate::store) fn into_writes(self) -> Writes {
        let mut writes = self.checks();
        for hash in self.hashes() {
            hash.write_into(&mut writes);
        }
        // Audit records are only ever added.
        for (audit_id, _) in self.audit.changes() {
            writes.zadd(&self.keys.audit_order, 0.0, audit_id.as_bytes());
        }
        if self.counts_cleared {
            writes.del(&self.keys.counts);
        }
        for (term, delta) in self.counts.borrow().iter().filter(|(_, d)| **d != 0) {
            writes.command(
                "HINCRBY",
                &self.keys.counts,
                &[term.as_bytes(), delta.to_string().as_bytes()],
            );
        }
        for ((customer_id, merge_id), present) in &self.merges {
            let key = self.keys.merges(customer_id);
            match present {
                true => writes.sadd(&key, merge_id.as_bytes()),
                false => writes.srem(&key, merge_id.as_bytes()),
            };
        }
        writes
    }
}

fn index_field(key: &IdentityKey) -> String {
    scoped(key.kind.as_str_name(), &[&key.namespace, &key.value])
}

fn message<M: prost::Message + Default>(bytes: Option<Vec<u8>>) -> Result<Option<M>, StoreError> {
    bytes.map(|b| codec::decode(&b)).transpose()
}

/// The setting holding the tenant's matching weights.
const WEIGHTS: &str = "weights";

fn text(bytes: Vec<u8>) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|e| StoreError::Corrupt(format!("stored id: {e}")))
}

impl IdentityRead for Txn<'_> {
    fn profile(&self, customer_id: &str) -> Result<Option<Profile>, StoreError> {
        message(self.profiles.get(self.redis, customer_id)?)
    }

    fn owner(&self, key: &IdentityKey) -> Result<Option<String>, StoreError> {
        self.index
            .get(self.redis, &index_field(key))?
            .map(text)
            .transpose()
    }

    fn survivor_of(&self, retired_id: &str) -> Result<Option<String>, StoreError> {
        self.retired
            .get(self.redis, retired_id)?
            .map(text)
            .transpose()
    }

    fn merge_record(&self, merge_id: &str) -> Result<Option<MergeRecord>, StoreError> {
        message(self.ledger.get(self.redis, merge_id)?)
    }

    fn merges_involving(&self, customer_id: &str) -> Result<Vec<String>, StoreError> {
        self.reading_a_set()?;
        let stored: Vec<String> = self
            .redis
            .query(redis::cmd("SMEMBERS").arg(self.keys.merges(customer_id)))?;
        // Sorted by merge id, as the embedded store's range scan returns them.
        let mut ids: BTreeSet<String> = stored.into_iter().collect();
        let own = self
            .merges
            .range((customer_id.to_owned(), String::new())..)
            .take_while(|((customer, _), _)| customer == customer_id);
        for ((_, merge_id), present) in own {
            if *present {
                ids.insert(merge_id.clone());
            } else {
                ids.remove(merge_id);
            }
        }
        Ok(ids.into_iter().collect())
    }

    fn audit_trail(&self, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.reading_a_set()?;
        let stop = i64::try_from(limit - 1).unwrap_or(i64::MAX);
        let stored: Vec<String> = self.redis.query(
            redis::cmd("ZREVRANGE")
                .arg(&self.keys.audit_order)
                .arg(0)
                .arg(stop),
        )?;
        // The newest `limit` overall are among the newest `limit` stored and the appended.
        let mut ids: BTreeSet<String> = stored.into_iter().collect();
        ids.extend(self.audit.changes().into_iter().map(|(id, _)| id));
        let newest: Vec<String> = ids.into_iter().rev().take(limit).collect();
        self.audit
            .get_many(self.redis, &newest)?
            .into_iter()
            .map(|bytes| match bytes {
                Some(bytes) => codec::decode(&bytes),
                None => Err(StoreError::Corrupt(
                    "an audit id is listed without its record".into(),
                )),
            })
            .collect()
    }

    fn profiles(&self, customer_ids: &[String]) -> Result<Vec<Option<Profile>>, StoreError> {
        self.profiles
            .get_many(self.redis, customer_ids)?
            .into_iter()
            .map(message)
            .collect()
    }

    fn blocks(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError> {
        self.blocks
            .get_many(self.redis, keys)?
            .into_iter()
            .map(|value| value.map(text).transpose())
            .collect()
    }

    fn frequencies(&self, terms: &[String]) -> Result<Vec<u64>, StoreError> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(&self.keys.counts);
        for term in terms {
            cmd.arg(term.as_str());
        }
        let stored: Vec<Option<i64>> = match self.counts_cleared {
            true => vec![None; terms.len()],
            false => self.redis.query(&cmd)?,
        };
        let pending = self.counts.borrow();
        Ok(terms
            .iter()
            .zip(stored)
            .map(|(term, n)| {
                let n = n.unwrap_or(0) + pending.get(term).copied().unwrap_or(0);
                n.max(0) as u64
            })
            .collect())
    }

    fn weights(&self) -> Result<Option<MatchWeights>, StoreError> {
        message(self.settings.get(self.redis, WEIGHTS)?)
    }

    fn sample_profiles(&self, limit: usize) -> Result<Vec<Profile>, StoreError> {
        self.reading_a_set()?;
        let mut profiles = BTreeMap::new();
        self.scan_hash(&self.keys.profiles, |field, bytes| {
            if profiles.len() < limit {
                profiles.insert(field, codec::decode::<Profile>(&bytes)?);
            }
            Ok(profiles.len() < limit)
        })?;
        Ok(profiles.into_values().collect())
    }

    fn profile_ids(&self) -> Result<Vec<String>, StoreError> {
        self.reading_a_set()?;
        let mut ids = BTreeSet::new();
        self.scan_hash(&self.keys.profiles, |field, _| {
            ids.insert(text(field)?);
            Ok(true)
        })?;
        Ok(ids.into_iter().collect())
    }
}

impl IdentityWrite for Txn<'_> {
    fn put_profile(&mut self, profile: &Profile) -> Result<(), StoreError> {
        self.profiles
            .set(&profile.customer_id, Some(codec::encode(profile)));
        Ok(())
    }

    fn remove_profile(&mut self, customer_id: &str) -> Result<bool, StoreError> {
        self.profiles.remove(self.redis, customer_id)
    }

    fn set_owner(&mut self, key: &IdentityKey, customer_id: &str) -> Result<(), StoreError> {
        self.index
            .set(&index_field(key), Some(customer_id.as_bytes().to_vec()));
        Ok(())
    }

    fn remove_owner(&mut self, key: &IdentityKey) -> Result<bool, StoreError> {
        self.index.remove(self.redis, &index_field(key))
    }

    fn retire(&mut self, retired_id: &str, survivor_id: &str) -> Result<(), StoreError> {
        self.retired
            .set(retired_id, Some(survivor_id.as_bytes().to_vec()));
        Ok(())
    }

    fn unretire(&mut self, retired_id: &str) -> Result<bool, StoreError> {
        self.retired.remove(self.redis, retired_id)
    }

    fn put_merge_record(&mut self, record: &MergeRecord) -> Result<(), StoreError> {
        self.ledger
            .set(&record.merge_id, Some(codec::encode(record)));
        for customer in [&record.survivor_id, &record.merged_id] {
            self.merges
                .insert((customer.clone(), record.merge_id.clone()), true);
        }
        Ok(())
    }

    fn remove_merge_record(&mut self, merge_id: &str) -> Result<bool, StoreError> {
        let Some(record) = self.merge_record(merge_id)? else {
            return Ok(false);
        };
        for customer in [record.survivor_id, record.merged_id] {
            self.merges.insert((customer, merge_id.to_owned()), false);
        }
        self.ledger.set(merge_id, None);
        Ok(true)
    }

    fn put_block(&mut self, key: &str, members: &str) -> Result<(), StoreError> {
        let value = (!members.is_empty()).then(|| members.as_bytes().to_vec());
        self.blocks.set(key, value);
        Ok(())
    }

    fn count(&mut self, term: &str, delta: i64) -> Result<(), StoreError> {
        *self.counts.get_mut().entry(term.to_owned()).or_default() += delta;
        Ok(())
    }

    /// Drops all of them at once (one `DEL` in the commit), so never leaves any for a later
    /// call.
    fn clear_derived(&mut self, what: Derived, _limit: usize) -> Result<bool, StoreError> {
        match what {
            Derived::Blocks => self.blocks.clear(),
            Derived::Counts => {
                self.counts_cleared = true;
                self.counts.get_mut().clear();
            }
        }
        Ok(false)
    }

    fn put_weights(&mut self, weights: &MatchWeights) -> Result<(), StoreError> {
        self.settings.set(WEIGHTS, Some(codec::encode(weights)));
        Ok(())
    }

    fn append_audit(&mut self, record: &AuditRecord) -> Result<(), StoreError> {
        self.audit
            .set(&record.audit_id, Some(codec::encode(record)));
        Ok(())
    }

    fn forget_answers_mentioning(&mut self, customer_ids: &[String]) -> Result<u64, StoreError> {
        if customer_ids.is_empty() {
            return Ok(0);
        }
        self.reading_a_set()?;
        let mut stored = BTreeMap::new();
        self.scan_hash(&self.keys.answers, |field, answer| {
            stored.insert(text(field)?, answer);
            Ok(true)
        })?;
        let mut fields: BTreeSet<String> = stored.keys().cloned().collect();
        fields.extend(self.answers.fields.get_mut().keys().cloned());
        let mut forgotten = 0;
        for field in fields {
            // What this transaction already changed wins over what Redis holds.
            let answer = match self.answers.known(&field) {
                Some(answer) => answer,
                None => stored.remove(&field),
            };
            if answer.is_some_and(|a| answer_mentions(&a, customer_ids)) {
                self.answers.set(&field, None);
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }
}
