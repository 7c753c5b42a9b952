//! Identity state behind one trait, so the embedded store and the Redis backend run the same
//! domain code and the same conformance suite.
//!
//! The domain asks for a transaction and runs its whole decision inside it: every lookup it
//! bases a change on is read in the same transaction that writes the change, so the index
//! (normalized identifier to customer) and the profiles never disagree, and two concurrent
//! Resolves for the same new phone number cannot create two customers. A backend provides
//! the primitive reads and writes ([`IdentityRead`], [`IdentityWrite`]) over one tenant and
//! the atomicity of [`IdentityStore::write`].
//!
//! Backends: [`EmbeddedIdentityStore`] (redb, one process) and [`RedisIdentityStore`] (Redis or
//! Redis Cluster, shared by replicas of the service).

mod embedded;
mod records;
mod redis;

use std::future::Future;

use baton_auth::digest::RequestDigest;
use baton_proto::v1::Profile;
use baton_store::{StoreError, idempotency};

use crate::{Error, normalize::IdentityKey};

pub use embedded::EmbeddedIdentityStore;
pub use records::{AuditRecord, MatchWeights, MergeRecord};
pub use redis::RedisIdentityStore;

/// The remembered-answer slot of a mutating request.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// The operation ("resolve", "merge", ...), so one key used on two RPCs means two things.
    pub operation: &'static str,
    /// The caller's key as stored: scoped to the caller, so callers never share a slot.
    pub key: String,
    /// The digest of the request the key came with: an answer remembered for another digest
    /// is refused ([`StoreError::KeyReused`]), never returned.
    pub digest: RequestDigest,
}

impl Idempotency {
    /// The slot for `key` on `operation`, bound to the request whose digest is `digest`.
    pub fn new(operation: &'static str, key: impl Into<String>, digest: RequestDigest) -> Self {
        Self {
            operation,
            key: key.into(),
            digest,
        }
    }
}

/// What the domain derives from the profiles and can rebuild from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    /// The blocking keys and their members ([`IdentityWrite::put_block`]).
    Blocks,
    /// The term counts ([`IdentityWrite::count`]).
    Counts,
}

/// Reads within one tenant, all from one consistent snapshot.
pub trait IdentityRead {
    /// The live profile stored under `customer_id` (retired ids have none).
    fn profile(&self, customer_id: &str) -> Result<Option<Profile>, StoreError>;
    /// The customer an identifier is linked to.
    fn owner(&self, key: &IdentityKey) -> Result<Option<String>, StoreError>;
    /// The profile a retired id was merged into.
    fn survivor_of(&self, retired_id: &str) -> Result<Option<String>, StoreError>;
    /// One merge from the ledger.
    fn merge_record(&self, merge_id: &str) -> Result<Option<MergeRecord>, StoreError>;
    /// The ids of every ledger entry naming `customer_id` as survivor or merged profile.
    fn merges_involving(&self, customer_id: &str) -> Result<Vec<String>, StoreError>;
    /// The newest `limit` audit records, newest first.
    fn audit_trail(&self, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;
    /// The live profiles stored under `customer_ids`, in that order (backends fetch them in
    /// one round trip where they can).
    fn profiles(&self, customer_ids: &[String]) -> Result<Vec<Option<Profile>>, StoreError> {
        customer_ids.iter().map(|id| self.profile(id)).collect()
    }
    /// The members of each blocking key, as the domain stored them (`None`: no members).
    fn blocks(&self, keys: &[String]) -> Result<Vec<Option<String>>, StoreError>;
    /// How many profiles hold each of `terms` (counted by [`IdentityWrite::count`]). These
    /// are statistics: a backend may read them outside the transaction's conflict checks.
    fn frequencies(&self, terms: &[String]) -> Result<Vec<u64>, StoreError>;
    /// The tenant's matching weights, when it was ever trained.
    fn weights(&self) -> Result<Option<MatchWeights>, StoreError>;
    /// Up to `limit` live profiles of the tenant, which ones being the backend's choice (for
    /// training, which estimates from a sample).
    fn sample_profiles(&self, limit: usize) -> Result<Vec<Profile>, StoreError>;
    /// The ids of every live profile of the tenant, in no particular order (for rebuilding
    /// the fuzzy index, which visits each of them).
    fn profile_ids(&self) -> Result<Vec<String>, StoreError>;
}

/// Writes within one tenant, applied atomically with everything else in the transaction.
pub trait IdentityWrite: IdentityRead {
    /// Stores a profile under its `customer_id`, replacing any previous version.
    fn put_profile(&mut self, profile: &Profile) -> Result<(), StoreError>;
    /// Removes a profile; false when there was none.
    fn remove_profile(&mut self, customer_id: &str) -> Result<bool, StoreError>;
    /// Links an identifier to a customer, replacing any previous owner.
    fn set_owner(&mut self, key: &IdentityKey, customer_id: &str) -> Result<(), StoreError>;
    /// Unlinks an identifier; false when it was not linked.
    fn remove_owner(&mut self, key: &IdentityKey) -> Result<bool, StoreError>;
    /// Makes `retired_id` resolve to `survivor_id`.
    fn retire(&mut self, retired_id: &str, survivor_id: &str) -> Result<(), StoreError>;
    /// Makes `retired_id` stop resolving anywhere; false when it was not retired.
    fn unretire(&mut self, retired_id: &str) -> Result<bool, StoreError>;
    /// Stores a ledger entry, findable by its id and by both customers it names.
    fn put_merge_record(&mut self, record: &MergeRecord) -> Result<(), StoreError>;
    /// Removes a ledger entry and its lookups; false when there was none.
    fn remove_merge_record(&mut self, merge_id: &str) -> Result<bool, StoreError>;
    /// Stores the members of a blocking key; empty `members` removes the key.
    fn put_block(&mut self, key: &str, members: &str) -> Result<(), StoreError>;
    /// Adds `delta` to the count of `term` (see [`IdentityRead::frequencies`]).
    fn count(&mut self, term: &str, delta: i64) -> Result<(), StoreError>;
    /// Removes up to `limit` of the tenant's blocking keys or term counts (a backend that
    /// drops them all at once may remove more), returning whether any are left. Later reads
    /// in the same transaction see them gone, and later writes in it start from nothing.
    fn clear_derived(&mut self, what: Derived, limit: usize) -> Result<bool, StoreError>;
    /// Stores the tenant's matching weights.
    fn put_weights(&mut self, weights: &MatchWeights) -> Result<(), StoreError>;
    /// Appends to the audit trail.
    fn append_audit(&mut self, record: &AuditRecord) -> Result<(), StoreError>;
    /// Removes every remembered idempotent answer of the tenant that mentions one of
    /// `customer_ids` (they can hold the profile), returning how many went.
    fn forget_answers_mentioning(&mut self, customer_ids: &[String]) -> Result<u64, StoreError>;
}

/// A backend for identity state.
pub trait IdentityStore: Send + Sync + 'static {
    /// Records an import stream commits in one transaction ([`IdentityStore::write`]).
    ///
    /// A commit's cost grows with the pages it dirties, and at scale each record dirties
    /// pages of its own (its blocking keys and identifiers land all over the index), so a
    /// larger batch shares more of them; but the batch holds the tenant's writes meanwhile.
    const IMPORT_BATCH: usize = 1_000;

    /// Runs `f` against one consistent snapshot of `tenant`.
    ///
    /// `f` may run more than once on backends without snapshots, which run it again when a
    /// write landed while it read; only the last run's answer is returned, so `f` must not
    /// act outside the read.
    fn read<T, F>(&self, tenant: &str, f: F) -> impl Future<Output = Result<T, Error>> + Send
    where
        T: Send + 'static,
        F: FnMut(&dyn IdentityRead) -> Result<T, Error> + Send + 'static;

    /// Runs `f` in one atomic write transaction on `tenant`: everything it writes commits
    /// together when it returns `Ok`, nothing does when it returns `Err`, and the call
    /// returns only after the commit is durable.
    ///
    /// With `idempotency`, an answer remembered under the same slot is returned instead and
    /// `f` does not run (or, when it was remembered for a different request, the write is
    /// refused with [`StoreError::KeyReused`]); otherwise `f`'s answer is remembered, with the
    /// request's digest, in the same transaction.
    /// `f` may run more than once on backends that retry on contention, so it must not act
    /// outside the transaction.
    fn write<T, F>(
        &self,
        tenant: &str,
        idempotency: Option<Idempotency>,
        f: F,
    ) -> impl Future<Output = Result<T, Error>> + Send
    where
        T: prost::Message + Default + Send + 'static,
        F: FnMut(&mut dyn IdentityWrite) -> Result<T, Error> + Send + 'static;
}

/// Whether a remembered answer names one of `customer_ids`. Customer ids are stored verbatim
/// in encoded protobuf strings, so a byte search finds every answer that names one. `record`
/// is the stored record; only its answer is searched, not the request digest before it (a
/// record too short to hold one is searched whole).
fn answer_mentions(record: &[u8], customer_ids: &[String]) -> bool {
    let answer = idempotency::answer(record).unwrap_or(record);
    customer_ids.iter().any(|id| {
        let needle = id.as_bytes();
        !needle.is_empty() && answer.windows(needle.len()).any(|w| w == needle)
    })
}
