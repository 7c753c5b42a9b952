//! Routing's durable state behind one trait: contacts (every state change), agent profiles,
//! queues, remembered answers to mutating requests and open erasure jobs. Offers and sessions are not stored:
//! they die with the process, and reloading turns an offered contact back into a waiting one.

use std::future::Future;
use std::time::Duration;

use baton_proto::v1::{Agent, Queue};
use baton_store::StoreError;

use crate::domain::erasure::ErasureJob;
use crate::domain::record::ContactRecord;

mod embedded;
mod redis;

pub use embedded::EmbeddedRoutingStore;
pub use redis::RedisRoutingStore;

/// One change to durable state. A batch of writes commits atomically.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Stores a contact as it is now; an ended contact leaves the set reloaded at start.
    Contact(Box<ContactRecord>),
    /// Stores an agent's profile (its runtime fields are not stored).
    Agent {
        /// The tenant.
        tenant_id: String,
        /// The profile.
        agent: Agent,
    },
    /// Stores a queue.
    Queue {
        /// The tenant.
        tenant_id: String,
        /// The queue.
        queue: Queue,
    },
    /// Remembers the answer to a mutating request under its idempotency key, bound to the
    /// request's digest.
    Answer {
        /// The tenant.
        tenant_id: String,
        /// The operation ("start", "transfer", ...).
        operation: &'static str,
        /// The idempotency key, scoped to the caller.
        key: String,
        /// The digest of the request answered: the key answers it and no other.
        digest: [u8; 32],
        /// The encoded response.
        answer: Vec<u8>,
    },
    /// Stores an open erasure job as it is now (opening it, or recording a step done).
    Job(Box<ErasureJob>),
    /// Closes an erasure job; it commits with the receipt's [`Write::Answer`].
    CloseJob {
        /// The tenant.
        tenant_id: String,
        /// The job's key (the caller-scoped idempotency key).
        key: String,
    },
    /// Removes a contact's record for good (an erasure; only ever an ended contact).
    EraseContact {
        /// The tenant.
        tenant_id: String,
        /// The contact.
        contact_id: String,
        /// The customer it was for (the Redis backend indexes contacts by customer).
        customer_id: String,
    },
    /// Queues a history event context could not take, to be appended when it can (see
    /// `grpc::outbox`).
    Pending(Box<PendingEvent>),
    /// Removes a queued event: appended, or erased with its customer.
    Delivered {
        /// The tenant.
        tenant_id: String,
        /// The queued event's key.
        key: String,
    },
    /// Forgets a remembered answer for good (an erasure: the answer describes the customer);
    /// a retry with its key then runs anew.
    ForgetAnswer {
        /// The tenant.
        tenant_id: String,
        /// The operation it answered.
        operation: String,
        /// The idempotency key, scoped to the caller.
        key: String,
    },
}

/// A remembered answer that describes a customer's contact (see
/// [`answered_contact`](crate::domain::erasure::answered_contact)).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CustomerAnswer {
    /// The operation it answered.
    pub operation: String,
    /// The idempotency key, scoped to the caller.
    pub key: String,
    /// The contact it describes (empty when the answer could not be decoded).
    pub contact_id: String,
}

/// A history event waiting for context: the append exactly as it was first sent, with the same
/// idempotency key, so it is appended once however often it is sent again.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PendingEvent {
    /// The tenant.
    #[prost(string, tag = "1")]
    pub tenant_id: String,
    /// Orders the queue (a time-ordered id): events go to context in the order they were
    /// queued.
    #[prost(string, tag = "2")]
    pub key: String,
    /// The contact it happened on, to label the call.
    #[prost(string, tag = "3")]
    pub contact_id: String,
    /// The append.
    #[prost(message, optional, tag = "4")]
    pub request: Option<baton_proto::v1::AppendEventRequest>,
}

/// Everything routing reloads at start.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// Agent profiles with their tenant.
    pub agents: Vec<(String, Agent)>,
    /// Queues with their tenant.
    pub queues: Vec<(String, Queue)>,
    /// Contacts that are not ended.
    pub contacts: Vec<ContactRecord>,
}

/// A replica's hold on one shard of routing's tenants (see the `shards` module). While it is
/// current, the replica's commits for those tenants land; once another replica has taken the
/// shard, they fail, so two replicas never both decide for one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The shard.
    pub shard: u32,
    /// What the store holds for the shard while this lease is current (an epoch, the replica
    /// and its address); a commit fenced by the lease checks it. Empty on a store that only
    /// one process can open, where every claim is granted.
    pub fence: String,
}

/// The outcome of claiming a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This replica holds the shard: taken now (`renewed` false: load its state first) or
    /// still held from an earlier claim (`renewed` true).
    Held {
        /// The lease to fence commits with.
        lease: Lease,
        /// True when the claim extended a lease this replica already held.
        renewed: bool,
    },
    /// Another replica holds the shard and has not let it lapse.
    Elsewhere {
        /// Where that replica takes calls (its advertised url; empty when it gave none).
        address: String,
    },
}

/// A routing replica that announced itself and has not let its announcement lapse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The replica's name in the leases (new at every start of a process).
    pub replica: String,
    /// Where it takes calls sent on by other replicas.
    pub address: String,
}

/// Who holds one shard's current lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The shard.
    pub shard: u32,
    /// The replica holding it.
    pub replica: String,
    /// Where that replica takes calls.
    pub address: String,
}

/// Routing's storage. Implemented by the embedded store and by Redis; both run the
/// [`conformance`](crate::conformance) suite.
pub trait RoutingStore: Send + Sync + 'static {
    /// Applies `writes` in one atomic, durable commit.
    fn apply(&self, writes: Vec<Write>) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.apply_fenced(None, writes)
    }

    /// Applies `writes` in one atomic, durable commit if `lease` (when given) is still the
    /// current lease on its shard; [`StoreError::Fenced`] when another replica has taken
    /// the shard since, and then nothing was written.
    fn apply_fenced(
        &self,
        lease: Option<&Lease>,
        writes: Vec<Write>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Claims `shard` for the replica `replica`, reachable at `address`, for `ttl` from now
    /// by the store's clock: taken when nobody holds it, its holder let it lapse, or its
    /// holder is an earlier process at the same `address` (restarted there); extended when
    /// `replica` holds it already; else left with its holder.
    fn claim(
        &self,
        shard: u32,
        replica: &str,
        address: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Gives up `lease` at once (when it is still current), so another replica may take the
    /// shard without waiting for it to lapse.
    fn release(&self, lease: &Lease) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The shards some replica held and let lapse: what the survivors of a replica that
    /// died take over.
    fn lapsed(&self) -> impl Future<Output = Result<Vec<u32>, StoreError>> + Send;

    /// Announces `replica`, reachable at `address`, as live for `ttl` from now by the store's
    /// clock, forgets the replicas whose announcement lapsed, and answers every live one
    /// (this one included), ordered by name: how replicas learn how many share the shards.
    fn announce(
        &self,
        replica: &str,
        address: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Vec<Member>, StoreError>> + Send;

    /// Withdraws `replica`'s announcement (it is stopping).
    fn leave(&self, replica: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The holder of every shard whose lease has not lapsed, by shard.
    fn holders(&self) -> impl Future<Output = Result<Vec<Holder>, StoreError>> + Send;

    /// Passes `lease`, when it is still current, to `replica` at `address` for `ttl`: the
    /// shard's next lease, which fences every later commit of the giver. Answers the lease
    /// given (`None` when `lease` was no longer current). The receiver holds it as if it had
    /// claimed it, and takes the shard up on its next claim.
    fn hand_over(
        &self,
        lease: &Lease,
        replica: &str,
        address: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<Lease>, StoreError>> + Send;

    /// The remembered answer for a tenant's operation and idempotency key, if it answers
    /// the request whose digest is `digest`; [`StoreError::KeyReused`] when the key answered a
    /// different request.
    fn answer(
        &self,
        tenant_id: &str,
        operation: &str,
        key: &str,
        digest: &[u8; 32],
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// One contact, ended or not.
    fn contact(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> impl Future<Output = Result<Option<ContactRecord>, StoreError>> + Send;

    /// Up to `limit` queued events of every tenant, oldest first within a tenant.
    fn pending(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingEvent>, StoreError>> + Send;

    /// Every agent, queue and not-ended contact of every tenant.
    fn load(&self) -> impl Future<Output = Result<Loaded, StoreError>> + Send;

    /// Every stored contact of a tenant's customer, ended or not.
    fn customer_contacts(
        &self,
        tenant_id: &str,
        customer_id: &str,
    ) -> impl Future<Output = Result<Vec<ContactRecord>, StoreError>> + Send;

    /// Every remembered answer of a tenant that describes one of the customer's contacts:
    /// what an erasure forgets with them. Erasure is rare, so this scans the tenant's answers.
    fn customer_answers(
        &self,
        tenant_id: &str,
        customer_id: &str,
    ) -> impl Future<Output = Result<Vec<CustomerAnswer>, StoreError>> + Send;

    /// The open erasure job under a tenant's caller-scoped key, if any.
    fn job(
        &self,
        tenant_id: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<ErasureJob>, StoreError>> + Send;

    /// Every open erasure job of every tenant: what a start resumes.
    fn open_jobs(&self) -> impl Future<Output = Result<Vec<ErasureJob>, StoreError>> + Send;
}
