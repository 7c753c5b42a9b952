//! The gRPC adapter: takes the tenant from the authenticated caller, validates each request,
//! calls the other services, asks the dispatcher to change the routing state, waits until the
//! change is durable, and maps errors to statuses. Every mutating request's idempotency key is
//! scoped to its caller and bound to the digest of the request as received.
//!
//! - `start`, `transfer`, `contacts` (end, note, get), `agents` (agents, queues, tokens),
//!   `queues` (what supervisors watch: queues' figures, agents' load): one file per group of
//!   RPCs.
//! - `access`: what a caller may do within a call (which agent it acts as, which contacts it
//!   touches); the auth layer already checked it may call the RPC at all.
//! - `forget`: ForgetCustomer across the mesh, as a durable job resumed after a crash.
//! - `session`: the agent desktop's bidirectional stream.
//! - `deps`: calls to identity, context and recommendation, and how routing degrades.
//! - `validate`: the field checks.

mod access;
mod agents;
mod contacts;
mod deps;
pub(crate) mod forget;
mod queues;
mod session;
mod start;
mod transfer;
pub mod validate;

use std::pin::Pin;
use std::sync::Arc;

use baton_auth::Principal;
use baton_auth::digest::{self, RequestDigest};
use baton_proto::v1::routing_service_server::RoutingService;
use baton_proto::v1::{
    AddNoteRequest, AddNoteResponse, AgentSessionRequest, AgentSessionResponse, EndContactRequest,
    EndContactResponse, ForgetCustomerReceipt, ForgetCustomerRequest, GetContactRequest,
    GetContactResponse, GetQueueStatsRequest, GetQueueStatsResponse, ListAgentsRequest,
    ListAgentsResponse, ListQueuesRequest, ListQueuesResponse, OpenTokenRequest, OpenTokenResponse,
    RoutingEvent, SetAgentStateRequest, SetAgentStateResponse, StartContactRequest,
    StartContactResponse, TransferRequest, TransferResponse, UpsertQueueRequest,
    UpsertQueueResponse, WatchRoutingRequest,
};
use baton_runtime::shutdown::Shutdown;
use baton_runtime::trace::CallSpan;
use baton_token::KeyRing;
use futures::Stream;
use prost::Message;
use tonic::{Request, Response, Status, Streaming};
use tracing::Span;
use tracing::field::Empty;

use crate::dispatcher::{Command, DispatcherHandle, Idem};
use crate::domain::record::ContactRecord;
use crate::error::Error;
use crate::metrics::RoutingMetrics;
use crate::persist::Durable;
use crate::store::RoutingStore;
use crate::{Dependencies, RoutingConfig};

/// The stream of events sent to an agent desktop.
pub type AgentSessionStream =
    Pin<Box<dyn Stream<Item = Result<AgentSessionResponse, Status>> + Send + 'static>>;

/// The stream of a supervisor's `WatchRouting`.
pub type WatchRoutingStream =
    Pin<Box<dyn Stream<Item = Result<RoutingEvent, Status>> + Send + 'static>>;

/// The `RoutingService` implementation over a [`RoutingStore`].
#[derive(Debug)]
pub struct RoutingGrpc<S> {
    /// Durable state: read for ended contacts and remembered answers; written only through
    /// the dispatcher's writer.
    store: Arc<S>,
    /// The services routing calls.
    deps: Dependencies,
    /// The task that owns the routing state.
    dispatcher: DispatcherHandle,
    /// Seals start tokens and opens tokens for OpenToken.
    keys: KeyRing,
    /// Timeouts and token lifetime.
    config: RoutingConfig,
    /// Ends agent sessions when it fires.
    shutdown: Shutdown,
    /// Transfers and tokens.
    metrics: RoutingMetrics,
    /// Runs erasures across the mesh.
    eraser: forget::Eraser<S>,
}

impl<S: RoutingStore> RoutingGrpc<S> {
    pub(crate) fn new(
        store: Arc<S>,
        deps: Dependencies,
        dispatcher: DispatcherHandle,
        keys: KeyRing,
        config: RoutingConfig,
        shutdown: Shutdown,
        metrics: RoutingMetrics,
    ) -> Self {
        Self {
            eraser: forget::Eraser::new(Arc::clone(&store), deps.clone()),
            store,
            deps,
            dispatcher,
            keys,
            config,
            shutdown,
            metrics,
        }
    }

    /// What runs erasures, for resuming the open ones in the background.
    pub(crate) fn eraser(&self) -> forget::Eraser<S> {
        self.eraser.clone()
    }

    /// The answer remembered in the store for this request, if any (no key: never).
    async fn recall<T: Message + Default>(&self, idem: &Idem) -> Result<Option<T>, Error> {
        if idem.key.is_empty() {
            return Ok(None);
        }
        let Some(bytes) = self
            .store
            .answer(&idem.tenant_id, idem.operation, &idem.key, &idem.digest)
            .await?
        else {
            return Ok(None);
        };
        T::decode(bytes.as_slice())
            .map(Some)
            .map_err(|e| Error::Store(baton_store::StoreError::from(e)))
    }

    /// A contact, live or ended.
    async fn find_contact(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> Result<ContactRecord, Error> {
        if let Some(live) = self.live_contact(tenant_id, contact_id).await? {
            return Ok(live);
        }
        self.store
            .contact(tenant_id, contact_id)
            .await?
            .ok_or_else(|| Error::NotFound {
                kind: "contact",
                id: contact_id.to_owned(),
            })
    }

    /// A live contact, from the dispatcher.
    async fn live_contact(
        &self,
        tenant_id: &str,
        contact_id: &str,
    ) -> Result<Option<ContactRecord>, Error> {
        self.dispatcher
            .call(|reply| Command::Contact {
                tenant_id: tenant_id.to_owned(),
                contact_id: contact_id.to_owned(),
                reply,
            })
            .await
    }
}

/// Waits until a change is durable.
async fn durable(durable: Durable) -> Result<(), Error> {
    durable
        .await
        .map_err(|_| Error::Busy("shutting down"))?
        .map_err(Error::Store)
}

/// Puts validated ids (never a raw request's: a malformed request may carry anything in an id
/// field) on the handler's span and on the call's `grpc.server` span, which the gateways
/// calling routing cannot label themselves.
fn record_ids(call: &CallSpan, tenant: &str, contact: &str) {
    let span = Span::current();
    if !tenant.is_empty() {
        span.record("tenant", tenant);
        call.record_tenant(tenant);
    }
    if !contact.is_empty() {
        span.record("contact", contact);
        call.record_contact(contact);
    }
}

/// The idempotency identity of a request: its key scoped to the caller (so no caller ever
/// finds another's answer), bound to the digest of the request as it was received.
fn idem(
    caller: &Principal,
    tenant_id: &str,
    operation: &'static str,
    key: &str,
    digest: RequestDigest,
) -> Idem {
    Idem {
        tenant_id: tenant_id.to_owned(),
        operation,
        key: if key.is_empty() {
            String::new()
        } else {
            caller.scoped_key(key)
        },
        digest,
    }
}

#[tonic::async_trait]
impl<S: RoutingStore> RoutingService for RoutingGrpc<S> {
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, contact = Empty))]
    async fn start_contact(
        &self,
        request: Request<StartContactRequest>,
    ) -> Result<Response<StartContactResponse>, Status> {
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        let mut request = request.into_inner();
        let digest = digest::of(&request);
        request.tenant_id = caller.tenant(&request.tenant_id)?;
        validate::start(&request)?;
        record_ids(&call, &request.tenant_id, "");
        let idem = idem(
            &caller,
            &request.tenant_id,
            "start",
            &request.idempotency_key,
            digest,
        );
        Ok(Response::new(self.start(&call, request, idem).await?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, contact = Empty))]
    async fn transfer(
        &self,
        request: Request<TransferRequest>,
    ) -> Result<Response<TransferResponse>, Status> {
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        let mut request = request.into_inner();
        let digest = digest::of(&request);
        request.tenant_id = caller.tenant(&request.tenant_id)?;
        access::act_as(&caller, &mut request.from_agent_id)?;
        validate::transfer(&request)?;
        record_ids(&call, &request.tenant_id, &request.contact_id);
        let idem = idem(
            &caller,
            &request.tenant_id,
            "transfer",
            &request.idempotency_key,
            digest,
        );
        Ok(Response::new(
            self.transfer_contact(&caller, request, idem).await?,
        ))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, contact = Empty))]
    async fn end_contact(
        &self,
        request: Request<EndContactRequest>,
    ) -> Result<Response<EndContactResponse>, Status> {
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        let mut request = request.into_inner();
        let digest = digest::of(&request);
        request.tenant_id = caller.tenant(&request.tenant_id)?;
        access::act_as(&caller, &mut request.agent_id)?;
        validate::end(&request)?;
        record_ids(&call, &request.tenant_id, &request.contact_id);
        let idem = idem(
            &caller,
            &request.tenant_id,
            "end",
            &request.idempotency_key,
            digest,
        );
        Ok(Response::new(self.end(&caller, request, idem).await?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, contact = Empty))]
    async fn add_note(
        &self,
        request: Request<AddNoteRequest>,
    ) -> Result<Response<AddNoteResponse>, Status> {
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        let mut request = request.into_inner();
        let digest = digest::of(&request);
        request.tenant_id = caller.tenant(&request.tenant_id)?;
        access::act_as(&caller, &mut request.agent_id)?;
        validate::add_note(&request)?;
        record_ids(&call, &request.tenant_id, &request.contact_id);
        let idem = idem(
            &caller,
            &request.tenant_id,
            "note",
            &request.idempotency_key,
            digest,
        );
        Ok(Response::new(self.note(&caller, request, idem).await?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, contact = Empty))]
    async fn get_contact(
        &self,
        request: Request<GetContactRequest>,
    ) -> Result<Response<GetContactResponse>, Status> {
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        let mut r = request.into_inner();
        r.tenant_id = caller.tenant(&r.tenant_id)?;
        validate::get_contact(&r)?;
        record_ids(&call, &r.tenant_id, &r.contact_id);
        let record = self.find_contact(&r.tenant_id, &r.contact_id).await?;
        access::may_read(&caller, &record)?;
        Ok(Response::new(GetContactResponse {
            contact: Some(record.contact),
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, agent = Empty))]
    async fn set_agent_state(
        &self,
        request: Request<SetAgentStateRequest>,
    ) -> Result<Response<SetAgentStateResponse>, Status> {
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        let mut request = request.into_inner();
        let digest = digest::of(&request);
        request.tenant_id = caller.tenant(&request.tenant_id)?;
        caller.acts_as_agent(&request.agent_id)?;
        validate::set_agent(&request)?;
        record_ids(&call, &request.tenant_id, "");
        Span::current().record("agent", request.agent_id.as_str());
        let idem = idem(
            &caller,
            &request.tenant_id,
            "agent",
            &request.idempotency_key,
            digest,
        );
        Ok(Response::new(self.set_agent(&caller, request, idem).await?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty))]
    async fn upsert_queue(
        &self,
        request: Request<UpsertQueueRequest>,
    ) -> Result<Response<UpsertQueueResponse>, Status> {
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        let mut request = request.into_inner();
        let digest = digest::of(&request);
        request.tenant_id = caller.tenant(&request.tenant_id)?;
        validate::upsert_queue(&request)?;
        record_ids(&call, &request.tenant_id, "");
        let idem = idem(
            &caller,
            &request.tenant_id,
            "queue",
            &request.idempotency_key,
            digest,
        );
        Ok(Response::new(self.queue(request, idem).await?))
    }

    type AgentSessionStream = AgentSessionStream;

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, agent = Empty))]
    async fn agent_session(
        &self,
        request: Request<Streaming<AgentSessionRequest>>,
    ) -> Result<Response<Self::AgentSessionStream>, Status> {
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        Ok(Response::new(
            self.session(&call, &caller, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, contact = Empty))]
    async fn open_token(
        &self,
        request: Request<OpenTokenRequest>,
    ) -> Result<Response<OpenTokenResponse>, Status> {
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        let mut request = request.into_inner();
        request.tenant_id = caller.tenant(&request.tenant_id)?;
        access::opener_of(&caller, &mut request.opener)?;
        validate::open_token(&request)?;
        record_ids(&call, &request.tenant_id, "");
        let opened = self.open(request).await;
        if let Ok(OpenTokenResponse { token: Some(token) }) = &opened {
            // Only an opened token says which contact it is for.
            record_ids(&call, "", &token.contact_id);
        }
        match &opened {
            Ok(_) => self.metrics.token_opened(),
            Err(Error::Token(refused)) => self.metrics.token_refused(refused.check()),
            Err(_) => {}
        }
        Ok(Response::new(opened?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, contact = Empty))]
    async fn forget_customer(
        &self,
        request: Request<ForgetCustomerRequest>,
    ) -> Result<Response<ForgetCustomerReceipt>, Status> {
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        let mut request = request.into_inner();
        let digest = digest::of(&request);
        request.tenant_id = caller.tenant(&request.tenant_id)?;
        validate::forget(&request)?;
        record_ids(&call, &request.tenant_id, "");
        let idem = idem(
            &caller,
            &request.tenant_id,
            forget::OPERATION,
            &request.idempotency_key,
            digest,
        );
        Ok(Response::new(self.eraser.forget(request, idem).await?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty))]
    async fn list_queues(
        &self,
        request: Request<ListQueuesRequest>,
    ) -> Result<Response<ListQueuesResponse>, Status> {
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        let mut request = request.into_inner();
        request.tenant_id = caller.tenant(&request.tenant_id)?;
        validate::list_queues(&request)?;
        record_ids(&call, &request.tenant_id, "");
        Ok(Response::new(self.queues(request).await?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty))]
    async fn get_queue_stats(
        &self,
        request: Request<GetQueueStatsRequest>,
    ) -> Result<Response<GetQueueStatsResponse>, Status> {
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        let mut request = request.into_inner();
        request.tenant_id = caller.tenant(&request.tenant_id)?;
        validate::get_queue_stats(&request)?;
        record_ids(&call, &request.tenant_id, "");
        Ok(Response::new(self.queue_stats(request).await?))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty))]
    async fn list_agents(
        &self,
        request: Request<ListAgentsRequest>,
    ) -> Result<Response<ListAgentsResponse>, Status> {
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        let mut request = request.into_inner();
        request.tenant_id = caller.tenant(&request.tenant_id)?;
        validate::list_agents(&request)?;
        record_ids(&call, &request.tenant_id, "");
        Ok(Response::new(self.agents(request).await?))
    }

    type WatchRoutingStream = WatchRoutingStream;

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty))]
    async fn watch_routing(
        &self,
        request: Request<WatchRoutingRequest>,
    ) -> Result<Response<WatchRoutingStream>, Status> {
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        let mut request = request.into_inner();
        request.tenant_id = caller.tenant(&request.tenant_id)?;
        validate::watch_routing(&request)?;
        record_ids(&call, &request.tenant_id, "");
        Ok(Response::new(queues::watch(
            self.dispatcher.watch(),
            request,
            self.shutdown.clone(),
        )))
    }
}
