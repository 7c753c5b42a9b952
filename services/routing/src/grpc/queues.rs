//! ListQueues, GetQueueStats and ListAgents: what a supervisor watches, read from the
//! dispatcher's live state. The auth layer admits supervisors and administrators; the tenant
//! is the caller's.

use baton_proto::v1::{
    GetQueueStatsRequest, GetQueueStatsResponse, ListAgentsRequest, ListAgentsResponse,
    ListQueuesRequest, ListQueuesResponse,
};

use super::RoutingGrpc;
use crate::dispatcher::Command;
use crate::domain::state::stats::page_len;
use crate::error::Error;
use crate::store::RoutingStore;

impl<S: RoutingStore> RoutingGrpc<S> {
    pub(super) async fn queues(&self, r: ListQueuesRequest) -> Result<ListQueuesResponse, Error> {
        let (queues, next) = self
            .dispatcher
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
            .dispatcher
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
            .dispatcher
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
