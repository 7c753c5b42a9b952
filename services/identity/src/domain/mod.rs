//! The identity domain: what each operation decides and changes, on any [`IdentityStore`].
//!
//! No gRPC here. Requests arrive validated and normalized as commands; answers leave as the
//! contract's messages (plain data), which is also the form remembered for idempotent
//! retries. Each mutating operation runs as one store transaction: its reads and its writes
//! commit together or not at all. A mutating operation also takes the digest of the request it
//! came from: its idempotency key (already scoped to the caller) is bound to that request, and
//! the same key with another request is refused.

mod candidates;
mod customer;
pub mod index;
mod merge;
pub mod person;
pub mod profile;
pub mod rebuild;
mod resolve;
mod train;
mod upsert;

use baton_proto::v1::{
    ForgetCustomerResponse, LinkIdentifierResponse, MergeProfilesResponse, Profile, ProfileRecord,
    ResolveResponse, TrainMatcherResponse, UnmergeProfileResponse, UpsertProfileResponse,
};

pub use customer::{ForgetCommand, LinkCommand};
pub use merge::{MergeCommand, UnmergeCommand};
pub use resolve::ResolveCommand;
pub use upsert::UpsertCommand;

use baton_auth::digest::RequestDigest;

use crate::{
    Error,
    store::{Idempotency, IdentityStore},
};

/// The identity service's operations over a store.
#[derive(Debug, Clone)]
pub struct Identity<S> {
    /// Where profiles, the index, the merge ledger and remembered answers live.
    store: S,
}

impl<S: IdentityStore> Identity<S> {
    /// The service over `store`.
    pub fn new(store: S) -> Self {
        Self { store }
    }

    /// Resolves identifiers and traits to a customer (see the contract). With `lookup_only`
    /// nothing is written (and `digest` is unused); otherwise the answer is remembered under
    /// the idempotency key, bound to `digest`, so a retry never creates a second customer.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %cmd.tenant, lookup_only = cmd.lookup_only))]
    pub async fn resolve(
        &self,
        mut cmd: ResolveCommand,
        digest: RequestDigest,
    ) -> Result<ResolveResponse, Error> {
        cmd.identifiers = profile::dedupe(std::mem::take(&mut cmd.identifiers));
        let tenant = cmd.tenant.clone();
        if cmd.lookup_only {
            return self
                .store
                .read(&tenant, move |view| resolve::look(view, &cmd))
                .await;
        }
        let slot = Idempotency::new("resolve", cmd.idempotency_key.clone(), digest);
        self.store
            .write(&tenant, Some(slot), move |txn| resolve::apply(txn, &cmd))
            .await
    }

    /// Creates or updates profiles in bulk; refused records carry their reason.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %cmd.tenant, records = cmd.records.len()))]
    pub async fn upsert(
        &self,
        cmd: UpsertCommand,
        digest: RequestDigest,
    ) -> Result<UpsertProfileResponse, Error> {
        let tenant = cmd.tenant.clone();
        let slot = Idempotency::new("upsert", cmd.idempotency_key.clone(), digest);
        self.store
            .write(&tenant, Some(slot), move |txn| upsert::apply(txn, &cmd))
            .await
    }

    /// Applies one batch of an import stream: each record as [`Identity::upsert`] applies it,
    /// in one transaction, without a remembered answer (importing a record again is a no-op
    /// by itself: a record already on file as sent writes nothing). Records must be validated
    /// (each one's problems become its own error, never the batch's).
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, records = records.len()))]
    pub async fn import(
        &self,
        tenant: &str,
        records: Vec<ProfileRecord>,
    ) -> Result<UpsertProfileResponse, Error> {
        let cmd = UpsertCommand {
            tenant: tenant.to_owned(),
            records,
            idempotency_key: String::new(),
        };
        self.store
            .write(tenant, None, move |txn| upsert::apply(txn, &cmd))
            .await
    }

    /// Re-estimates the tenant's matching weights from its profiles (at most `max_pairs`
    /// candidate pairs compared), stores them and returns them.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant))]
    pub async fn train(
        &self,
        tenant: &str,
        max_pairs: usize,
    ) -> Result<TrainMatcherResponse, Error> {
        train::run(&self.store, tenant, max_pairs).await
    }

    /// Rebuilds the tenant's fuzzy index from its profiles (see [`rebuild`]), calling
    /// `report` as it goes and asking `stop` between batches.
    #[tracing::instrument(level = "info", skip_all, fields(tenant = %tenant))]
    pub async fn rebuild_index(
        &self,
        tenant: &str,
        stop: impl Fn() -> bool,
        report: impl FnMut(rebuild::Progress),
    ) -> Result<rebuild::Progress, Error> {
        rebuild::run(&self.store, tenant, stop, report).await
    }

    /// One profile; a retired id returns its survivor.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %tenant, customer = %customer_id))]
    pub async fn profile(&self, tenant: &str, customer_id: &str) -> Result<Profile, Error> {
        let id = customer_id.to_owned();
        self.store
            .read(tenant, move |view| customer::get(view, &id))
            .await
    }

    /// Links one identifier to a customer.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %cmd.tenant, customer = %cmd.customer_id))]
    pub async fn link(
        &self,
        cmd: LinkCommand,
        digest: RequestDigest,
    ) -> Result<LinkIdentifierResponse, Error> {
        let tenant = cmd.tenant.clone();
        let slot = Idempotency::new("link", cmd.idempotency_key.clone(), digest);
        self.store
            .write(&tenant, Some(slot), move |txn| customer::link(txn, &cmd))
            .await
    }

    /// Merges one profile into another and records how to undo it.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %cmd.tenant, customer = %cmd.survivor_id, merged = %cmd.merged_id))]
    pub async fn merge(
        &self,
        cmd: MergeCommand,
        digest: RequestDigest,
    ) -> Result<MergeProfilesResponse, Error> {
        let tenant = cmd.tenant.clone();
        let slot = Idempotency::new("merge", cmd.idempotency_key.clone(), digest);
        self.store
            .write(&tenant, Some(slot), move |txn| merge::merge(txn, &cmd))
            .await
    }

    /// Reverses one merge exactly.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %cmd.tenant, merge = %cmd.merge_id))]
    pub async fn unmerge(
        &self,
        cmd: UnmergeCommand,
        digest: RequestDigest,
    ) -> Result<UnmergeProfileResponse, Error> {
        let tenant = cmd.tenant.clone();
        let slot = Idempotency::new("unmerge", cmd.idempotency_key.clone(), digest);
        self.store
            .write(&tenant, Some(slot), move |txn| merge::unmerge(txn, &cmd))
            .await
    }

    /// Erases a customer.
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = %cmd.tenant, customer = %cmd.customer_id))]
    pub async fn forget(
        &self,
        cmd: ForgetCommand,
        digest: RequestDigest,
    ) -> Result<ForgetCustomerResponse, Error> {
        let tenant = cmd.tenant.clone();
        let slot = Idempotency::new("forget", cmd.idempotency_key.clone(), digest);
        self.store
            .write(&tenant, Some(slot), move |txn| customer::forget(txn, &cmd))
            .await
    }
}
