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
pub(crate) mod history;
mod queues;
mod session;
mod start;
mod transfer;
pub mod validate;

use std::pin::Pin;
use std::sync::Arc;

use baton_auth::Principal;
use baton_auth::digest::{self, RequestDigest};
use baton_proto::v1::agent_session_request::Action;
use baton_proto::v1::routing_service_client::RoutingServiceClient;
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
use baton_runtime::client::ClientChannel;
use baton_runtime::shutdown::Shutdown;
use baton_runtime::trace::CallSpan;
use baton_token::KeyRing;
use futures::{Stream, StreamExt as _};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};
use tracing::Span;
use tracing::field::Empty;

use crate::dispatcher::{Command, DispatcherHandle, Idem};
use crate::domain::record::ContactRecord;
use crate::error::Error;
use crate::metrics::RoutingMetrics;
use crate::persist::Durable;
use crate::shards::{FORWARDED, Route, Shards};
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
    /// Durable state: read for ended contacts and remembered answers; routing state is
    /// written only through the dispatcher's writer (erasure jobs and history events kept for
    /// context are written beside it).
    store: Arc<S>,
    /// The services routing calls.
    deps: Dependencies,
    /// The shards of tenants this replica routes, each with the task that owns its state.
    shards: Arc<Shards<S>>,
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
    /// Writes history events, keeping those context cannot take yet.
    history: history::History<S>,
}

impl<S: RoutingStore> RoutingGrpc<S> {
    pub(crate) fn new(
        store: Arc<S>,
        deps: Dependencies,
        shards: Arc<Shards<S>>,
        keys: KeyRing,
        config: RoutingConfig,
        shutdown: Shutdown,
        metrics: RoutingMetrics,
    ) -> Self {
        let history = history::History::new(Arc::clone(&store), deps.clone(), metrics.clone());
        Self {
            eraser: forget::Eraser::new(Arc::clone(&store), deps.clone(), history.clone()),
            history,
            store,
            deps,
            shards,
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

    /// Delivers the history events kept while context was out of reach, in the background.
    pub(crate) fn deliver_kept_history(&self, shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
        tokio::spawn(
            self.history
                .clone()
                .deliver(Arc::clone(&self.shards), shutdown),
        )
    }

    /// The dispatcher of a tenant this replica routes (the call was routed here first).
    fn dispatcher(&self, tenant_id: &str) -> Result<DispatcherHandle, Error> {
        self.shards.local(tenant_id)
    }

    /// Keeps a call here when this replica routes its tenant (taking the tenant's shard when
    /// nobody does), or readies it to be sent on to the replica that does, with the caller's
    /// own metadata (credentials, trace) and marked as sent on.
    async fn routed<T>(
        &self,
        request: Request<T>,
        tenant: impl FnOnce(&T) -> &str,
    ) -> Result<Routed<T>, Status> {
        let caller = baton_auth::caller(&request)?;
        let tenant_id = caller.tenant(tenant(request.get_ref()))?;
        let forwarded = request.metadata().contains_key(FORWARDED);
        match self.shards.route(&tenant_id, forwarded).await? {
            Route::Here(_) => Ok(Routed::Here(request)),
            Route::There(peer) => {
                let extensions = request.extensions().clone();
                Ok(Routed::There(peer, forward(request), tenant_id, extensions))
            }
        }
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
        self.dispatcher(tenant_id)?
            .call(|reply| Command::Contact {
                tenant_id: tenant_id.to_owned(),
                contact_id: contact_id.to_owned(),
                reply,
            })
            .await
    }
}

/// Where a call is served.
enum Routed<T> {
    /// Here.
    Here(Request<T>),
    /// At the replica this client reaches, as this request, for this tenant; with what the
    /// call carried here (its caller), to serve it here after all.
    There(
        Box<RoutingServiceClient<ClientChannel>>,
        Request<T>,
        String,
        tonic::Extensions,
    ),
}

/// `request` as it is sent on to another replica: the caller's metadata, marked as sent on.
fn forward<T>(request: Request<T>) -> Request<T> {
    let (mut metadata, _, message) = request.into_parts();
    metadata.insert(FORWARDED, tonic::metadata::MetadataValue::from_static("1"));
    Request::from_parts(metadata, tonic::Extensions::default(), message)
}

/// Serves a unary call here, or returns what the replica routing its tenant answers. When that
/// replica cannot be reached (it stopped or died since it was found), where the tenant is
/// routed is asked again once: a shard handed back is then taken here or found elsewhere.
macro_rules! here_or_there {
    ($self:ident, $request:ident, $method:ident) => {
        let $request = match $self.routed($request, |r| r.tenant_id.as_str()).await? {
            Routed::Here(request) => request,
            Routed::There(mut peer, request, tenant_id, extensions) => {
                let mut metadata = request.metadata().clone();
                metadata.remove(FORWARDED);
                let again = Request::from_parts(metadata, extensions, request.get_ref().clone());
                match peer.$method(request).await.map_err(peer_failed) {
                    Err(status) if status.code() == tonic::Code::Unavailable => {
                        $self.shards.forget_holder(&tenant_id);
                        match $self.routed(again, |r| r.tenant_id.as_str()).await? {
                            Routed::Here(request) => request,
                            Routed::There(mut peer, request, _, _) => {
                                return peer.$method(request).await.map_err(peer_failed);
                            }
                        }
                    }
                    answered => return answered,
                }
            }
        };
    };
}

/// What a caller is told when the replica a call was sent on to did not answer it: a
/// connection that broke under the call (the replica stopped or died: a reset, a broken pipe)
/// is a call to retry.
fn peer_failed(status: Status) -> Status {
    let broke = match status.code() {
        tonic::Code::Cancelled | tonic::Code::Unknown => true,
        // h2 calls a stream the connection dropped under it an internal error; an internal
        // error the replica answered itself comes without a cause here and is passed on.
        tonic::Code::Internal => std::error::Error::source(&status).is_some(),
        _ => false,
    };
    if !broke {
        return status;
    }
    Status::unavailable(format!(
        "the routing replica holding this tenant did not answer ({}), retry",
        status.message()
    ))
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
        here_or_there!(self, request, start_contact);
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
        here_or_there!(self, request, transfer);
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
        here_or_there!(self, request, end_contact);
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
        here_or_there!(self, request, add_note);
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
        here_or_there!(self, request, get_contact);
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
        here_or_there!(self, request, set_agent_state);
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
        here_or_there!(self, request, upsert_queue);
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
        let forwarded = request.metadata().contains_key(FORWARDED);
        let (metadata, extensions, mut inbound) = request.into_parts();
        let first = inbound.message().await?;
        let Some(AgentSessionRequest {
            action: Some(Action::Hello(hello)),
        }) = first
        else {
            return Err(Status::failed_precondition(
                "the first message of an agent session must be hello",
            ));
        };
        let tenant_id = caller.tenant(&hello.tenant_id)?;
        match self.shards.route(&tenant_id, forwarded).await? {
            Route::Here(_) => Ok(Response::new(
                self.session(&call, &caller, hello, inbound).await?,
            )),
            Route::There(mut peer) => {
                // The desk's messages as they come, after its hello; its stream breaking
                // ends the one sent on, which closes the session at the replica routing it.
                let hello = AgentSessionRequest {
                    action: Some(Action::Hello(hello)),
                };
                let rest = inbound
                    .take_while(|m| std::future::ready(m.is_ok()))
                    .filter_map(|m| std::future::ready(m.ok()));
                let outbound = futures::stream::once(std::future::ready(hello)).chain(rest);
                let request = forward(Request::from_parts(metadata, extensions, outbound));
                let events = peer.agent_session(request).await.map_err(peer_failed)?;
                Ok(events
                    .map(|s| Box::pin(s.map(|e| e.map_err(peer_failed))) as AgentSessionStream))
            }
        }
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, contact = Empty))]
    async fn open_token(
        &self,
        request: Request<OpenTokenRequest>,
    ) -> Result<Response<OpenTokenResponse>, Status> {
        // An agent's token opens against its profile, which the replica routing its tenant
        // holds.
        here_or_there!(self, request, open_token);
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
        here_or_there!(self, request, forget_customer);
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
        here_or_there!(self, request, list_queues);
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
        here_or_there!(self, request, get_queue_stats);
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
        here_or_there!(self, request, list_agents);
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
        let request = match self.routed(request, |r| r.tenant_id.as_str()).await? {
            Routed::Here(request) => request,
            Routed::There(mut peer, request, _, _) => {
                let events = peer.watch_routing(request).await.map_err(peer_failed)?;
                return Ok(events
                    .map(|s| Box::pin(s.map(|e| e.map_err(peer_failed))) as WatchRoutingStream));
            }
        };
        let call = CallSpan::of(&request);
        let caller = baton_auth::caller(&request)?;
        let mut request = request.into_inner();
        request.tenant_id = caller.tenant(&request.tenant_id)?;
        validate::watch_routing(&request)?;
        record_ids(&call, &request.tenant_id, "");
        Ok(Response::new(queues::watch(
            self.dispatcher(&request.tenant_id)?.watch(),
            request,
            self.shutdown.clone(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_that_broke_under_a_forwarded_call_is_retried_an_answer_is_passed_on() {
        let mut reset = Status::internal("h2 protocol error: connection reset");
        reset.set_source(Arc::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert_eq!(peer_failed(reset).code(), tonic::Code::Unavailable);
        let broken_pipe = Status::from_error(Box::new(std::io::Error::from(
            std::io::ErrorKind::BrokenPipe,
        )));
        assert_eq!(peer_failed(broken_pipe).code(), tonic::Code::Unavailable);
        assert_eq!(
            peer_failed(Status::internal("a bug at the other replica")).code(),
            tonic::Code::Internal
        );
        assert_eq!(
            peer_failed(Status::not_found("contact c1 not found")).code(),
            tonic::Code::NotFound
        );
    }
}
