//! ListQueues, GetQueueStats and ListAgents: what a supervisor watches, read from the
//! dispatcher's live state; WatchRouting, every change as it happens. The auth layer admits
//! supervisors and administrators; the tenant is the caller's.

use std::sync::Arc;
use std::time::SystemTime;

use baton_proto::v1::{
    GetQueueStatsRequest, GetQueueStatsResponse, ListAgentsRequest, ListAgentsResponse,
    ListQueuesRequest, ListQueuesResponse, RoutingEvent, WatchRoutingRequest,
    routing_event::Change,
};
use baton_runtime::shutdown::Shutdown;
use baton_runtime::time::to_timestamp;
use tokio::sync::broadcast;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::RoutingGrpc;
use crate::dispatcher::Command;
use crate::dispatcher::events::Announced;
use crate::domain::state::stats::page_len;
use crate::error::Error;
use crate::store::RoutingStore;

impl<S: RoutingStore> RoutingGrpc<S> {
    pub(super) async fn queues(&self, r: ListQueuesRequest) -> Result<ListQueuesResponse, Error> {
        let (queues, next) = self
            .dispatcher(&r.tenant_id)?
            .call(|reply| Command::ListQueues {
                tenant_id: r.tenant_id,
                after: r.page_token,
                limit: page_len(r.page_size),
                reply,
            })
            .await?;
        Ok(ListQueuesResponse {
            queues,
            next_page_token: next.unwrap_or_default(),
        })
    }

    pub(super) async fn queue_stats(
        &self,
        r: GetQueueStatsRequest,
    ) -> Result<GetQueueStatsResponse, Error> {
        let queue_id = r.queue_id.clone();
        let stats = self
            .dispatcher(&r.tenant_id)?
            .call(|reply| Command::QueueStats {
                tenant_id: r.tenant_id,
                queue_id: r.queue_id,
                reply,
            })
            .await?
            .ok_or(Error::NotFound {
                kind: "queue",
                id: queue_id,
            })?;
        Ok(GetQueueStatsResponse { stats: Some(stats) })
    }

    pub(super) async fn agents(&self, r: ListAgentsRequest) -> Result<ListAgentsResponse, Error> {
        let (agents, next) = self
            .dispatcher(&r.tenant_id)?
            .call(|reply| Command::ListAgents {
                tenant_id: r.tenant_id,
                after: r.page_token,
                limit: page_len(r.page_size),
                queue_id: r.queue_id,
                team: r.team,
                reply,
            })
            .await?;
        Ok(ListAgentsResponse {
            agents,
            next_page_token: next.unwrap_or_default(),
        })
    }
}

/// The events of `request`'s tenant (and queue) from `rx` until shutdown; a watcher that
/// fell behind is told how many it missed and goes on from the newest.
pub(super) fn watch(
    rx: broadcast::Receiver<Arc<Announced>>,
    request: WatchRoutingRequest,
    shutdown: Shutdown,
) -> super::WatchRoutingStream {
    let events = BroadcastStream::new(rx).filter_map(move |item| match item {
        Ok(announced) => announced
            .is_for(&request.tenant_id, &request.queue_id)
            .then(|| Ok(announced.event.clone())),
        Err(BroadcastStreamRecvError::Lagged(missed)) => Some(Ok(RoutingEvent {
            at: Some(to_timestamp(SystemTime::now())),
            change: Some(Change::Lagged(missed)),
        })),
    });
    // Shutdown ends the stream, so an open wallboard never holds the drain.
    Box::pin(futures::StreamExt::take_until(events, async move {
        shutdown.triggered().await;
    }))
}
