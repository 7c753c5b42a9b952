//! SetAgentState, UpsertQueue and OpenToken.

use std::time::SystemTime;

use baton_auth::Principal;
use baton_proto::v1::{
    Channel, OpenTokenRequest, OpenTokenResponse, Presence, SetAgentStateRequest,
    SetAgentStateResponse, UpsertQueueRequest, UpsertQueueResponse, open_token_request,
};
use baton_token::{Expectations, OpenError, Opener};

use super::{RoutingGrpc, access, durable};
use crate::dispatcher::{Command, Idem};
use crate::domain::matching::AgentState;
use crate::domain::state::AgentUpdate;
use crate::error::Error;
use crate::store::RoutingStore;

impl<S: RoutingStore> RoutingGrpc<S> {
    pub(super) async fn set_agent(
        &self,
        caller: &Principal,
        r: SetAgentStateRequest,
        idem: Idem,
    ) -> Result<SetAgentStateResponse, Error> {
        access::may_set_agent(caller, &r)?;
        if let Some(answer) = self.recall(&idem).await? {
            return Ok(answer);
        }
        // An agent sets the presence of the agent a supervisor or admin created for it; it
        // never creates one (nor another tenant's: the tenant is the caller's).
        if access::is_desk(caller) && self.agent(&r.tenant_id, &r.agent_id).await?.is_none() {
            return Err(Error::PermissionDenied(format!(
                "agent {} does not exist: creating an agent needs supervisor or admin",
                r.agent_id
            )));
        }
        let update = AgentUpdate {
            agent_id: r.agent_id.clone(),
            presence: Presence::try_from(r.presence)
                .ok()
                .filter(|p| *p != Presence::Unspecified),
            display_name: r.display_name,
            tier: r.tier,
            skills: r.skills.map(|s| s.skills),
            capacities: r.capacities.map(|c| c.capacities),
            queue_ids: r.queues.map(|q| q.queue_ids),
            team: r.team,
        };
        let acked = self
            .dispatcher(&idem.tenant_id)?
            .call(|reply| Command::SetAgent {
                idem,
                update,
                reply,
            })
            .await??;
        durable(acked.durable).await?;
        Ok(acked.value)
    }

    pub(super) async fn queue(
        &self,
        r: UpsertQueueRequest,
        idem: Idem,
    ) -> Result<UpsertQueueResponse, Error> {
        if let Some(answer) = self.recall(&idem).await? {
            return Ok(answer);
        }
        let queue = r.queue.unwrap_or_default();
        let acked = self
            .dispatcher(&idem.tenant_id)?
            .call(|reply| Command::UpsertQueue { idem, queue, reply })
            .await??;
        durable(acked.durable).await?;
        Ok(UpsertQueueResponse {
            queue: Some(acked.value),
        })
    }

    /// An agent of the tenant, as the dispatcher holds it.
    async fn agent(&self, tenant_id: &str, agent_id: &str) -> Result<Option<AgentState>, Error> {
        self.dispatcher(tenant_id)?
            .call(|reply| Command::Agent {
                tenant_id: tenant_id.to_owned(),
                agent_id: agent_id.to_owned(),
                reply,
            })
            .await
    }

    /// Opens a token for the opener the request names, which the handler already checked is
    /// the caller (an agent desk as itself, a gateway as a channel system); the token crate
    /// then checks seal, expiry, tenant (the caller's) and audience, in that order.
    pub(super) async fn open(&self, r: OpenTokenRequest) -> Result<OpenTokenResponse, Error> {
        let opener = match r.opener {
            Some(open_token_request::Opener::AgentId(agent_id)) => {
                let agent =
                    self.agent(&r.tenant_id, &agent_id)
                        .await?
                        .ok_or(OpenError::WrongAudience {
                            reason: "unknown agent",
                        })?;
                Opener::Agent {
                    agent_id,
                    tier: agent.profile.tier,
                    queue_ids: agent.profile.queue_ids.clone(),
                    channels: agent
                        .channels()
                        .into_iter()
                        .filter_map(|c| Channel::try_from(c).ok())
                        .collect(),
                }
            }
            Some(open_token_request::Opener::Channel(channel)) => Opener::ChannelSystem {
                channel: Channel::try_from(channel).unwrap_or(Channel::Unspecified),
            },
            Some(open_token_request::Opener::Supervisor(true)) => Opener::Supervisor,
            Some(open_token_request::Opener::Supervisor(false)) => {
                return Err(Error::Token(OpenError::WrongAudience {
                    reason: "opener supervisor must be true when set",
                }));
            }
            None => {
                return Err(Error::Token(OpenError::WrongAudience {
                    reason: "no opener named",
                }));
            }
        };
        let expect = Expectations {
            tenant_id: r.tenant_id.clone(),
            opener,
        };
        let token = self
            .keys
            .open(&r.token, &expect, SystemTime::now())
            .inspect_err(|e| tracing::info!(check = e.check(), "token refused"))?;
        tracing::info!(token = %token.token_id, contact = %token.contact_id, "token opened");
        Ok(OpenTokenResponse { token: Some(token) })
    }
}
