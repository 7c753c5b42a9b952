//! [`IdentityStore`] on Redis (keys laid out for Redis Cluster), on the shared plumbing in
//! `baton_store::redis_db`.
//!
//! # Keys
//!
//! Every key of a tenant is `baton:identity:{<tenant>}:<name>`: the tenant is the hash tag, so
//! all of a tenant's keys live in one slot and one script can write any of them together, on a
//! cluster too. ␟ is the key-part separator (0x1F).
//!
//! | name | type | holds |
//! |---|---|---|
//! | `version` | counter | the tenant's guard, bumped by every commit |
//! | `profiles` | hash | customer id → `Profile` |
//! | `index` | hash | kind ␟ namespace ␟ normalized value → customer id |
//! | `retired` | hash | retired id → survivor id |
//! | `ledger` | hash | merge id → `MergeRecord` |
//! | `merges` ␟ customer id | set | the ids of the ledger entries naming the customer |
//! | `audit` | hash | audit id → `AuditRecord` |
//! | `audit_order` | sorted set | audit ids, all scored 0 so they sort by id (UUIDv7: by time) |
//! | `blocks` | hash | blocking key → its members, as the domain encodes them |
//! | `counts` | hash | term → how many profiles hold it (increments, never checked) |
//! | `settings` | hash | `weights` → `MatchWeights` |
//! | `answers` | hash | operation ␟ idempotency key → the request's digest, then the encoded answer |
//!
//! # Why a write is atomic
//!
//! A write transaction runs the domain's closure on the blocking pool against a transaction
//! object (`txn::Txn`) that reads through to Redis and buffers every change, so the closure
//! sees its own writes. Every field it read from Redis is remembered with the value it held.
//! When the closure returns `Ok`, the buffered changes and the remembered answer go to Redis in
//! one Lua script that first checks every field read still holds that value (compared by
//! digest) and applies nothing otherwise: the decision and its writes are one serializable
//! step, landing all together or not at all. When a check fails, the closure runs again from
//! scratch on the new state (bounded, with a short backoff). This is what makes two concurrent
//! Resolves of one new phone number create one customer: both read the phone's index field as
//! absent, the second commit's check fails, and its rerun finds the first one's customer.
//! Writes that touch different customers read different fields and never conflict, however
//! busy the tenant.
//!
//! Field checks cannot cover a read of a whole set (a customer's merges, the audit trail,
//! every answer during erasure), since a member added later was never read. A transaction that
//! reads one also checks the tenant's `version`, which every commit bumps, as read before the
//! set: when a write began (with its remembered answer, in one round trip), or just before a
//! read's first set read (so that reads of fields alone pay no round trip for it). Those are
//! merges, unmerges, erasures and the audit trail, which are rare.
//!
//! A closure that fails is answered with its error only if what it read still holds, since
//! the failure might come from reads on both sides of another commit. Reads end the same way:
//! their checks run alone (nothing is written), and if one fails the closure runs again.
//!
//! # Idempotency and erasure
//!
//! The remembered answer of a slot is looked up in the same round trip as the first `version`
//! read; when there is one it is returned and the closure does not run, or, when it was
//! remembered for a different request (another digest), the write is refused. Otherwise the
//! request's digest and the encoded answer ([`idempotency::seal`]) are written by the same
//! commit as the change they acknowledge, so a crash can never keep one without the other;
//! that commit checks the slot is still empty, so a first answer landing meanwhile makes it
//! run again and meet that answer's digest. Erasure scans the tenant's `answers` (`HSCAN`) for answers
//! naming a customer and deletes them in the erasing commit, as the embedded store does.
//!
//! # Durability
//!
//! A commit returns once Redis has applied the script; it is on disk when the server runs with
//! `appendonly yes` and `appendfsync always` (and on replicas with `wait_for_replicas`). That
//! is the deployment's configuration, not something this store can enforce.

mod txn;

use std::fmt;

use tracing::Instrument as _;

use baton_store::{
    StoreError, codec, idempotency, keys,
    redis_db::{MAX_ATTEMPTS, RedisDb, back_off, contended},
};

use super::{Idempotency, IdentityRead, IdentityStore, IdentityWrite};
use crate::Error;
use txn::{Keys, Link, Txn};

/// Identity state in Redis; clones share the connection.
#[derive(Clone)]
pub struct RedisIdentityStore {
    /// The shared connection, building keys under `baton:identity:`.
    db: RedisDb,
}

impl fmt::Debug for RedisIdentityStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisIdentityStore")
            .field("db", &self.db)
            .finish()
    }
}

impl RedisIdentityStore {
    /// The store over `db`, which must be connected for the `identity` service
    /// (`RedisDb::connect(url, "identity")`).
    pub fn new(db: RedisDb) -> Self {
        Self { db }
    }
}

/// Runs a transaction loop on the blocking pool: the domain's closures are synchronous and
/// wait on Redis for each read.
async fn blocking<T, F>(f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::from(StoreError::Task(e.to_string())))?
}

impl IdentityStore for RedisIdentityStore {
    fn read<T, F>(&self, tenant: &str, mut f: F) -> impl Future<Output = Result<T, Error>> + Send
    where
        T: Send + 'static,
        F: FnMut(&dyn IdentityRead) -> Result<T, Error> + Send + 'static,
    {
        let span = tracing::info_span!("identity_store.read", tenant = %tenant);
        let keys = Keys::new(&self.db, tenant);
        let db = self.db.clone();
        let inner = span.clone();
        async move {
            blocking(move || {
                let _entered = inner.enter();
                let redis = Link::current(&db);
                for attempt in 1..=MAX_ATTEMPTS {
                    let txn = Txn::new(&redis, &keys, None);
                    let result = f(&txn);
                    match redis.still_holds(&txn) {
                        Ok(false) => {
                            tracing::debug!(attempt, "read overtaken by a write; reading again");
                            std::thread::sleep(back_off(attempt));
                        }
                        // A failed check keeps the closure's own error, which says more.
                        Ok(true) => return result,
                        Err(err) => return result.and(Err(err.into())),
                    }
                }
                Err(contended("identity read").into())
            })
            .await
        }
        .instrument(span)
    }

    fn write<T, F>(
        &self,
        tenant: &str,
        idempotency: Option<Idempotency>,
        mut f: F,
    ) -> impl Future<Output = Result<T, Error>> + Send
    where
        T: prost::Message + Default + Send + 'static,
        F: FnMut(&mut dyn IdentityWrite) -> Result<T, Error> + Send + 'static,
    {
        let span = tracing::info_span!(
            "identity_store.write",
            tenant = %tenant,
            operation = idempotency.as_ref().map_or("", |slot| slot.operation),
        );
        let keys = Keys::new(&self.db, tenant);
        let slot = idempotency
            .as_ref()
            .map(|slot| keys::scoped(slot.operation, &[&slot.key]));
        let bound = idempotency.map(|slot| (slot.operation, slot.digest));
        let db = self.db.clone();
        let inner = span.clone();
        async move {
            blocking(move || {
                let _entered = inner.enter();
                let redis = Link::current(&db);
                for attempt in 1..=MAX_ATTEMPTS {
                    let (version, remembered) = redis.begin(&keys, slot.as_deref())?;
                    if let (Some(record), Some((operation, digest))) = (remembered, &bound) {
                        let answer = idempotency::open(&record, digest, operation)?;
                        tracing::debug!("answering a retry from memory");
                        return Ok(codec::decode::<T>(&answer)?);
                    }
                    let mut txn = Txn::new(&redis, &keys, Some(version));
                    if let Some(field) = &slot {
                        txn.slot_was_empty(field);
                    }
                    let answer = match f(&mut txn) {
                        Ok(answer) => answer,
                        Err(err) => match redis.still_holds(&txn) {
                            Ok(false) => {
                                tracing::debug!(attempt, "failed on state that moved; again");
                                std::thread::sleep(back_off(attempt));
                                continue;
                            }
                            _ => return Err(err),
                        },
                    };
                    if let (Some(field), Some((_, digest))) = (&slot, &bound) {
                        txn.remember(field, idempotency::seal(digest, &codec::encode(&answer)));
                    }
                    let committed = redis.commit(txn)?;
                    if committed {
                        return Ok(answer);
                    }
                    tracing::debug!(attempt, "write conflicted with another; running it again");
                    std::thread::sleep(back_off(attempt));
                }
                Err(contended("identity write").into())
            })
            .await
        }
        .instrument(span)
    }
}
