//! The gRPC adapter: take the tenant from the caller, validate the request, call the
//! history, map errors to statuses.
//!
//! Every handler asks the caller's principal which tenant the request is for before anything
//! else, and writes it back into the request, so validation and the history see only a tenant
//! the caller may act for. An append's idempotency key is stored scoped to the caller and bound
//! to the digest of the request as it arrived.

use std::pin::Pin;

use baton_auth::digest;
use baton_proto::v1::{
    AppendEventRequest, AppendEventResponse, ForgetCustomerRequest, ForgetCustomerResponse,
    GetContextRequest, GetContextResponse, ListEventsRequest, ListEventsResponse,
    WatchContextRequest, WatchContextResponse, context_service_server::ContextService,
};
use tokio_stream::{Stream, StreamExt as _};
use tonic::{Request, Response, Status};
use tracing::{Span, field::Empty};

use crate::{
    history::{Append, History},
    store::ContextStore,
    validate,
};

/// Puts the ids of a validated request on the handler's span (never before validation: a
/// malformed request may carry anything, personal data included, where an id belongs).
fn record_ids(tenant: &str, customer: &str) {
    let span = Span::current();
    span.record("tenant", tenant);
    span.record("customer", customer);
}

/// The stream of a `WatchContext` call.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchContextResponse, Status>> + Send>>;

/// `baton.v1.ContextService` over a [`History`].
#[derive(Debug)]
pub struct ContextGrpc<S> {
    /// The domain the calls are served from.
    history: History<S>,
}

impl<S: ContextStore> ContextGrpc<S> {
    /// Serves `history`.
    pub fn new(history: History<S>) -> Self {
        Self { history }
    }
}

/// The digest an append's key is bound to: the request without the event's `occurred_at`. A
/// sender stamps that when it sends, so the retry of an append that was acknowledged before a
/// crash carries a later time; it is still the same event, and must get the first answer.
fn append_digest(req: &AppendEventRequest) -> digest::RequestDigest {
    let mut unstamped = req.clone();
    if let Some(event) = unstamped.event.as_mut() {
        event.occurred_at = None;
    }
    digest::of(&unstamped)
}

#[tonic::async_trait]
impl<S: ContextStore> ContextService for ContextGrpc<S> {
    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, customer = Empty))]
    async fn append_event(
        &self,
        request: Request<AppendEventRequest>,
    ) -> Result<Response<AppendEventResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        let request_digest = append_digest(&req);
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        validate::append(&req).check()?;
        record_ids(&req.tenant_id, &req.customer_id);
        let appended = self
            .history
            .append(Append {
                tenant_id: req.tenant_id,
                customer_id: req.customer_id,
                event: req.event.unwrap_or_default(),
                idempotency_key: caller.scoped_key(&req.idempotency_key),
                request_digest,
                expected_version: req.expected_version,
            })
            .await?;
        tracing::debug!(
            sequence = appended.event.sequence,
            duplicate = appended.duplicate,
            "event appended"
        );
        Ok(Response::new(AppendEventResponse {
            event: Some(appended.event),
            version: appended.version,
            duplicate: appended.duplicate,
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, customer = Empty))]
    async fn get_context(
        &self,
        request: Request<GetContextRequest>,
    ) -> Result<Response<GetContextResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        validate::get_context(&req).check()?;
        record_ids(&req.tenant_id, &req.customer_id);
        let snapshot = self
            .history
            .context(
                &req.tenant_id,
                &req.customer_id,
                &req.merged_ids,
                req.max_interactions as usize,
            )
            .await?;
        Ok(Response::new(GetContextResponse {
            snapshot: Some(snapshot),
        }))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, customer = Empty))]
    async fn list_events(
        &self,
        request: Request<ListEventsRequest>,
    ) -> Result<Response<ListEventsResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        validate::list_events(&req).check()?;
        record_ids(&req.tenant_id, &req.customer_id);
        let page = self
            .history
            .list_events(
                &req.tenant_id,
                &req.customer_id,
                &req.merged_ids,
                req.page_size as usize,
                &req.page_token,
            )
            .await?;
        Ok(Response::new(ListEventsResponse {
            events: page.events,
            next_page_token: page.next_page_token.unwrap_or_default(),
        }))
    }

    type WatchContextStream = WatchStream;

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, customer = Empty))]
    async fn watch_context(
        &self,
        request: Request<WatchContextRequest>,
    ) -> Result<Response<Self::WatchContextStream>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        validate::watch(&req).check()?;
        record_ids(&req.tenant_id, &req.customer_id);
        let events = self.history.watch_merged(
            &req.tenant_id,
            &req.customer_id,
            req.after_version,
            &req.merged_ids,
            &req.merged_after_versions,
        );
        let stream = events.map(|item| {
            item.map(|event| WatchContextResponse { event: Some(event) })
                .map_err(Status::from)
        });
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(level = "debug", skip_all, fields(tenant = Empty, customer = Empty))]
    async fn forget_customer(
        &self,
        request: Request<ForgetCustomerRequest>,
    ) -> Result<Response<ForgetCustomerResponse>, Status> {
        let caller = baton_auth::caller(&request)?;
        let mut req = request.into_inner();
        req.tenant_id = caller.tenant(&req.tenant_id)?;
        validate::forget(&req).check()?;
        record_ids(&req.tenant_id, &req.customer_id);
        let answer = self
            .history
            .forget(&req.tenant_id, &req.customer_id)
            .await?;
        tracing::info!(
            found = answer.found,
            records_removed = answer.records_removed,
            "customer history erased"
        );
        Ok(Response::new(answer))
    }
}
