//! The gRPC adapter: take the tenant from the caller, validate, call the domain, map errors.
//! Nothing else happens here.
//!
//! Every handler asks the caller's principal which tenant the request is for before anything
//! else and writes it back into the request, so validation and the domain see only a tenant
//! the caller may act for. A mutating request's idempotency key is scoped to the caller and
//! bound to the digest of the request as it arrived (computed before the tenant is written).
//! Phone numbers without a country code are given the tenant's region ([`PhoneRegions`])
//! during validation, after the digest.
//!
//! - [`validate`]: requests to commands, field violations; a record's own problems refuse
//!   that record alone.
//! - [`import`]: the ImportProfiles stream, in pipelined batches.
//! - [`regions`]: the configured default regions of phone numbers.

pub mod import;
pub mod regions;
pub mod validate;

use baton_auth::digest;
use baton_proto::v1::{
    ForgetCustomerRequest, ForgetCustomerResponse, GetProfileRequest, GetProfileResponse,
    ImportProfilesRequest, ImportProfilesResponse, LinkIdentifierRequest, LinkIdentifierResponse,
    MergeProfilesRequest, MergeProfilesResponse, RebuildIndexProgress, RebuildIndexRequest,
    ResolveRequest, ResolveResponse, TrainMatcherRequest, TrainMatcherResponse,
    UnmergeProfileRequest, UnmergeProfileResponse, UpsertProfileRequest, UpsertProfileResponse,
    identity_service_server::IdentityService,
};
use baton_runtime::shutdown::Shutdown;
use std::{
    collections::HashSet,
    pin::Pin,
    sync::{Arc, Mutex},
};
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::{Request, Response, Status, Streaming};
use tracing::{Instrument as _, Span};

pub use regions::{PhoneRegions, RegionError};

use crate::{domain::Identity, store::IdentityStore};

/// `baton.v1.IdentityService` over an [`IdentityStore`].
#[derive(Debug)]
pub struct IdentityGrpc<S> {
    /// The domain operations (shared with the index rebuilds running in tasks of their own).
    identity: Arc<Identity<S>>,
    /// Where each tenant's phone numbers without a country code are read.
    regions: PhoneRegions,
    /// The process stop signal: an import stream ends on it, saying how much committed.
    shutdown: Shutdown,
    /// Tenants whose index this process is rebuilding.
    rebuilding: Arc<Mutex<HashSet<String>>>,
}

/// The RebuildIndex reply stream.
pub type RebuildStream = Pin<Box<dyn Stream<Item = Result<RebuildIndexProgress, Status>> + Send>>;

impl<S: IdentityStore> IdentityGrpc<S> {
    /// The adapter over `store`, reading local phone numbers in `regions`.
    pub fn new(store: S, regions: PhoneRegions, shutdown: Shutdown) -> Self {
        Self {
            identity: Arc::new(Identity::new(store)),
            regions,
            shutdown,
            rebuilding: Arc::default(),
        }
    }
}

/// Puts validated ids on the handler's span (never the raw request's: a malformed request
/// may carry anything in an id field), so errors logged while mapping to a status carry them.
fn record_ids(tenant: &str, customer: &str) {
    let span = Span::current();
    span.record("tenant", tenant);
    if !customer.is_empty() {
        span.record("customer", customer);
    }
}

#[tonic::async_trait]
impl<S: IdentityStore> IdentityService for IdentityGrpc<S> {
    #[tracing::instrument(level = "debug", skip_all, fields(tenant, customer))]
    async fn resolve(
        &self,
        request: Request<ResolveRequest>,
    ) -> Result<Response<ResolveResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        let digest = digest::of(&req);
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        let region = self.regions.for_tenant(&req.tenant_id);
        let mut cmd = validate::resolve(req, region)?;
        cmd.idempotency_key = caller.scoped_key(&cmd.idempotency_key);
        record_ids(&cmd.tenant, "");
        let answer = self.identity.resolve(cmd, digest).await?;
        tracing::info!(
            customer = %answer.customer_id,
            decision = answer.decision,
            level = answer.verification.as_ref().map_or(0, |v| v.level),
            "resolved"
        );
        Span::current().record("customer", answer.customer_id.as_str());
        Ok(Response::new(answer))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant, customer))]
    async fn upsert_profile(
        &self,
        request: Request<UpsertProfileRequest>,
    ) -> Result<Response<UpsertProfileResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        let digest = digest::of(&req);
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        let region = self.regions.for_tenant(&req.tenant_id);
        let validate::Upsert {
            command: mut cmd,
            refused,
        } = validate::upsert(req, region)?;
        cmd.idempotency_key = caller.scoped_key(&cmd.idempotency_key);
        record_ids(&cmd.tenant, "");
        // The domain sees only the valid records (and remembers its answer for them alone);
        // the refused ones are put back in request order, on a retry too.
        let applied = self.identity.upsert(cmd, digest).await?;
        Ok(Response::new(UpsertProfileResponse {
            results: validate::splice(applied.results, refused),
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant, customer))]
    async fn get_profile(
        &self,
        request: Request<GetProfileRequest>,
    ) -> Result<Response<GetProfileResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        validate::get_profile(&req.tenant_id, &req.customer_id)?;
        record_ids(&req.tenant_id, &req.customer_id);
        let profile = self
            .identity
            .profile(&req.tenant_id, &req.customer_id)
            .await?;
        let retired_id = if profile.customer_id == req.customer_id {
            String::new()
        } else {
            req.customer_id
        };
        Ok(Response::new(GetProfileResponse {
            profile: Some(profile),
            retired_id,
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant, customer))]
    async fn link_identifier(
        &self,
        request: Request<LinkIdentifierRequest>,
    ) -> Result<Response<LinkIdentifierResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        let digest = digest::of(&req);
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        let region = self.regions.for_tenant(&req.tenant_id);
        let mut cmd = validate::link(req, region)?;
        cmd.idempotency_key = caller.scoped_key(&cmd.idempotency_key);
        record_ids(&cmd.tenant, &cmd.customer_id);
        Ok(Response::new(self.identity.link(cmd, digest).await?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant, customer))]
    async fn merge_profiles(
        &self,
        request: Request<MergeProfilesRequest>,
    ) -> Result<Response<MergeProfilesResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        let digest = digest::of(&req);
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        let mut cmd = validate::merge(req)?;
        cmd.idempotency_key = caller.scoped_key(&cmd.idempotency_key);
        record_ids(&cmd.tenant, &cmd.survivor_id);
        Ok(Response::new(self.identity.merge(cmd, digest).await?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant, customer))]
    async fn unmerge_profile(
        &self,
        request: Request<UnmergeProfileRequest>,
    ) -> Result<Response<UnmergeProfileResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        let digest = digest::of(&req);
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        let mut cmd = validate::unmerge(req)?;
        cmd.idempotency_key = caller.scoped_key(&cmd.idempotency_key);
        record_ids(&cmd.tenant, "");
        Ok(Response::new(self.identity.unmerge(cmd, digest).await?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant, customer))]
    async fn forget_customer(
        &self,
        request: Request<ForgetCustomerRequest>,
    ) -> Result<Response<ForgetCustomerResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        let digest = digest::of(&req);
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        let mut cmd = validate::forget(req)?;
        cmd.idempotency_key = caller.scoped_key(&cmd.idempotency_key);
        record_ids(&cmd.tenant, &cmd.customer_id);
        Ok(Response::new(self.identity.forget(cmd, digest).await?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant, customer))]
    async fn import_profiles(
        &self,
        request: Request<Streaming<ImportProfilesRequest>>,
    ) -> Result<Response<ImportProfilesResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut stream = request.into_inner();
        // The first message settles the tenant; an empty stream imports nothing.
        let Some(first) = stream.message().await? else {
            return Ok(Response::new(ImportProfilesResponse::default()));
        };
        let tenant = caller.tenant(&first.tenant_id)?;
        validate::import_message(&tenant, first.records.len())?;
        record_ids(&tenant, "");
        let region = self.regions.for_tenant(&tenant);
        let answer = import::run(
            &self.identity,
            &self.shutdown,
            &tenant,
            region,
            first,
            stream,
        )
        .await?;
        Ok(Response::new(answer))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant, customer))]
    async fn train_matcher(
        &self,
        request: Request<TrainMatcherRequest>,
    ) -> Result<Response<TrainMatcherResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        let max_pairs = validate::train(&req)?;
        record_ids(&req.tenant_id, "");
        Ok(Response::new(
            self.identity.train(&req.tenant_id, max_pairs).await?,
        ))
    }

    type RebuildIndexStream = RebuildStream;

    #[tracing::instrument(level = "debug", skip_all, fields(tenant, customer))]
    async fn rebuild_index(
        &self,
        request: Request<RebuildIndexRequest>,
    ) -> Result<Response<RebuildStream>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        validate::rebuild(&req)?;
        record_ids(&req.tenant_id, "");
        let tenant = req.tenant_id;
        if !lock(&self.rebuilding).insert(tenant.clone()) {
            return Err(Status::already_exists(
                "this tenant's index is being rebuilt already; wait for that rebuild to finish",
            ));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let identity = Arc::clone(&self.identity);
        let shutdown = self.shutdown.clone();
        let rebuilding = Arc::clone(&self.rebuilding);
        // A task of its own: the rebuild finishes when the caller goes away.
        tokio::spawn(
            async move {
                let progress_tx = tx.clone();
                let outcome = identity
                    .rebuild_index(
                        &tenant,
                        || shutdown.is_triggered(),
                        |p| {
                            // Progress is dropped, never waited for, when the caller lags.
                            let _ = progress_tx.try_send(Ok(progress_message(p)));
                        },
                    )
                    .await;
                lock(&rebuilding).remove(&tenant);
                match outcome {
                    Ok(done) => {
                        tracing::info!(profiles = done.filed, names = done.terms, "index rebuilt");
                        let _ = tx.send(Ok(progress_message(done))).await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "index rebuild did not finish");
                        let _ = tx.send(Err(Status::from(e))).await;
                    }
                }
            }
            .instrument(Span::current()),
        );
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

fn progress_message(p: crate::domain::rebuild::Progress) -> RebuildIndexProgress {
    RebuildIndexProgress {
        profiles_filed: p.filed,
        profiles_total: p.total,
        names_counted: p.terms,
        done: p.done,
    }
}

/// The set of rebuilding tenants; a panic elsewhere while it was held leaves it usable.
fn lock(set: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    set.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
