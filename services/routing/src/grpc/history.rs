//! What routing writes into customers' histories, and what it does when context cannot take
//! it.
//!
//! Every hop of a contact (started, assigned, transferred, switched, ended, a token issued) is
//! an event in the customer's history in context. When context is out of reach (down,
//! overloaded, too slow), the contact still routes, and the event is not lost: it is stored in
//! routing's own store exactly as it was sent, idempotency key included, and a background task
//! appends what is stored, oldest first, once context answers again. Context's idempotency
//! makes a late event appear once however often it is sent, and it keeps the time it happened
//! (`occurred_at`); its place in the history's sequence is when it arrived. An erasure of the
//! customer removes what is still waiting before it erases context.

use std::sync::Arc;
use std::time::Duration;

use baton_proto::v1::{AppendEventRequest, AppendEventResponse};
use baton_runtime::shutdown::Shutdown;
use tonic::{Code, Status};

use super::deps::{ForContact, NewEvent};
use crate::Dependencies;
use crate::metrics::RoutingMetrics;
use crate::shards::Shards;
use crate::store::{PendingEvent, RoutingStore, Write};

/// How many waiting events one round appends, at most.
const ROUND: usize = 200;
/// How long the task waits between rounds while nothing fails.
const EVERY: Duration = Duration::from_secs(1);
/// The longest wait between rounds while context keeps failing.
const MOST: Duration = Duration::from_secs(30);

/// Writes history events to context, keeping those it cannot take for later.
#[derive(Debug)]
pub(crate) struct History<S> {
    store: Arc<S>,
    deps: Dependencies,
    metrics: RoutingMetrics,
}

impl<S> Clone for History<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            deps: self.deps.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// Whether a failed call may succeed later unchanged: context was out of reach or too busy,
/// not refusing the event itself.
fn transient(code: Code) -> bool {
    matches!(
        code,
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::ResourceExhausted
    )
}

impl<S: RoutingStore> History<S> {
    pub(crate) fn new(store: Arc<S>, deps: Dependencies, metrics: RoutingMetrics) -> Self {
        Self {
            store,
            deps,
            metrics,
        }
    }

    /// Appends `e` to its customer's history. When context is out of reach the event is kept
    /// in routing's store for the background task, and the failure is still returned (the
    /// caller's token says the history is partial).
    pub(crate) async fn append(&self, e: NewEvent<'_>) -> Result<AppendEventResponse, Status> {
        let call = ForContact {
            tenant_id: e.tenant_id,
            contact_id: e.contact_id,
            token: e.token,
        };
        let request = e.request();
        let status = match self.deps.append_request(call, request.clone()).await {
            Ok(answer) => return Ok(answer),
            Err(status) => status,
        };
        if transient(status.code()) {
            self.keep(e.tenant_id, e.contact_id, request).await;
        }
        Err(status)
    }

    async fn keep(&self, tenant_id: &str, contact_id: &str, request: AppendEventRequest) {
        let pending = PendingEvent {
            tenant_id: tenant_id.to_owned(),
            key: uuid::Uuid::now_v7().to_string(),
            contact_id: contact_id.to_owned(),
            request: Some(request),
        };
        match self
            .store
            .apply(vec![Write::Pending(Box::new(pending))])
            .await
        {
            Ok(()) => {
                self.metrics.deferred_event("queued");
                tracing::info!(tenant = %tenant_id, contact = %contact_id, "history event kept until context answers");
            }
            Err(err) => {
                tracing::error!(tenant = %tenant_id, contact = %contact_id, error = %err, "history event lost: neither context nor routing's store took it");
            }
        }
    }

    /// Appends the kept events of the tenants this replica routes, oldest first, every
    /// second while that works and backing off to [`MOST`] while context fails; ends at
    /// `shutdown`.
    pub(crate) async fn deliver(self, shards: Arc<Shards<S>>, shutdown: Shutdown) {
        let mut wait = EVERY;
        loop {
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.triggered() => return,
            }
            // A round cut short at the stop sends nothing twice: what was appended and not
            // yet marked delivered is appended again, once, by its key.
            let round = tokio::select! {
                round = self.round(&shards) => round,
                () = shutdown.triggered() => return,
            };
            wait = match round {
                Ok(true) => EVERY,
                Ok(false) => (wait * 2).min(MOST),
                Err(err) => {
                    tracing::warn!(error = %err, "cannot read the history events waiting for context");
                    (wait * 2).min(MOST)
                }
            };
        }
    }

    /// One round: false when context failed again (the rest waits for the next round, so
    /// each customer's events keep their order).
    async fn round(&self, shards: &Shards<S>) -> Result<bool, baton_store::StoreError> {
        // Every waiting event is read (they wait only while context is out of reach), so the
        // events of this replica's tenants are found behind other replicas' ones.
        let pending = self.store.pending(usize::MAX).await?;
        let mine = pending
            .into_iter()
            // On a shared store the replica routing the tenant delivers its events.
            .filter(|event| shards.local(&event.tenant_id).is_ok())
            .take(ROUND);
        for event in mine {
            let Some(request) = event.request.clone() else {
                self.delivered(&event).await?;
                continue;
            };
            let call = ForContact {
                tenant_id: &event.tenant_id,
                contact_id: &event.contact_id,
                token: &[],
            };
            match self.deps.append_request(call, request).await {
                Ok(_) => {
                    self.metrics.deferred_event("delivered");
                    self.delivered(&event).await?;
                }
                Err(status) if transient(status.code()) => return Ok(false),
                Err(status) => {
                    tracing::error!(tenant = %event.tenant_id, contact = %event.contact_id, code = ?status.code(), message = status.message(), "context refused a kept history event; dropping it");
                    self.metrics.deferred_event("dropped");
                    self.delivered(&event).await?;
                }
            }
        }
        Ok(true)
    }

    async fn delivered(&self, event: &PendingEvent) -> Result<(), baton_store::StoreError> {
        self.store
            .apply(vec![Write::Delivered {
                tenant_id: event.tenant_id.clone(),
                key: event.key.clone(),
            }])
            .await
    }

    /// Removes the kept events of a customer about to be erased.
    pub(crate) async fn forget(
        &self,
        tenant_id: &str,
        customer_id: &str,
    ) -> Result<(), baton_store::StoreError> {
        let gone: Vec<Write> = self
            .store
            .pending(usize::MAX)
            .await?
            .into_iter()
            .filter(|e| {
                e.tenant_id == tenant_id
                    && e.request
                        .as_ref()
                        .is_some_and(|r| r.customer_id == customer_id)
            })
            .map(|e| Write::Delivered {
                tenant_id: e.tenant_id,
                key: e.key,
            })
            .collect();
        self.store.apply(gone).await
    }
}
