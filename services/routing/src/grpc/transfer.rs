//! Transfer: record the move and the handover, re-read the context, re-recommend, and mint the
//! destination's token.

use baton_auth::Principal;
use baton_proto::v1::{
    ChannelSwitched, ContactState, ContactTransferred, HopKind, TransferMode, TransferRequest,
    TransferResponse, audience, event::Payload, transfer_target,
};
use baton_runtime::time::now;
use baton_runtime::trace;

use super::deps::{Ask, CONTEXT_UNAVAILABLE, ForContact, NewEvent};
use super::start::agent_or_system;
use super::{RoutingGrpc, access, durable};
use crate::dispatcher::{Command, Idem};
use crate::domain::ids;
use crate::domain::mint::TokenParts;
use crate::domain::state::TransferPlan;
use crate::error::Error;
use crate::store::RoutingStore;

impl<S: RoutingStore> RoutingGrpc<S> {
    pub(super) async fn transfer_contact(
        &self,
        caller: &Principal,
        r: TransferRequest,
        idem: Idem,
    ) -> Result<TransferResponse, Error> {
        if let Some(answer) = self.recall(&idem).await? {
            return Ok(answer);
        }
        let tenant = r.tenant_id.as_str();
        let record = self.find_contact(tenant, &r.contact_id).await?;
        access::may_transfer(caller, &record)?;
        // A transfer is its own trace (an agent's call, maybe long after the start): link it
        // to the contact's first one.
        trace::link_current_to(&record.origin_traceparent);
        let c = &record.contact;
        if c.state == ContactState::Ended as i32 {
            return Err(Error::FailedPrecondition(format!(
                "contact {} has ended and cannot be transferred",
                r.contact_id
            )));
        }
        let target_msg = r.target.clone().unwrap_or_default();
        let target = match target_msg.target.clone() {
            Some(transfer_target::Target::Tier(t)) => audience::Target::Tier(t),
            Some(transfer_target::Target::QueueId(q)) => audience::Target::QueueId(q),
            Some(transfer_target::Target::AgentId(a)) => audience::Target::AgentId(a),
            Some(transfer_target::Target::Channel(ch)) => audience::Target::Channel(ch),
            // Validation requires a target; this is unreachable for validated requests.
            None => {
                return Err(Error::FailedPrecondition(
                    "transfer target is required".into(),
                ));
            }
        };
        let warm = r.mode == TransferMode::Warm as i32;
        // A transfer nobody could ever take is refused before anything is recorded. The
        // dispatcher asks again when it applies the transfer (an agent may change between).
        let check = TransferPlan {
            target: target.clone(),
            extra_skills: target_msg.required_skills.clone(),
            warm,
            from_agent_id: r.from_agent_id.clone(),
            handover: None,
            token_id: String::new(),
        };
        self.dispatcher(tenant)?
            .call(|reply| Command::CheckTransfer {
                tenant_id: tenant.to_owned(),
                contact_id: r.contact_id.clone(),
                plan: Box::new(check),
                reply,
            })
            .await??;
        let mode = if warm {
            TransferMode::Warm
        } else {
            TransferMode::Cold
        };
        let actor = agent_or_system(&r.from_agent_id);
        let mut handover = r.handover.clone().unwrap_or_default();
        handover.from = Some(actor.clone());
        handover.at = Some(now());
        if handover.intent.is_empty() {
            handover.intent = c.intent.clone();
        }

        let mut partial_reasons = Vec::new();
        if !c.customer_id.is_empty() {
            let payload = match target {
                audience::Target::Channel(to) => Payload::ChannelSwitched(ChannelSwitched {
                    from_channel: c.channel,
                    to_channel: to,
                    handover: Some(handover.clone()),
                }),
                _ => Payload::ContactTransferred(ContactTransferred {
                    from_agent_id: r.from_agent_id.clone(),
                    target: Some(target_msg.clone()),
                    mode: mode as i32,
                    handover: Some(handover.clone()),
                }),
            };
            let appended = self
                .history
                .append(NewEvent {
                    tenant_id: tenant,
                    customer_id: &c.customer_id,
                    contact_id: &c.contact_id,
                    channel: c.channel,
                    actor,
                    payload,
                    idempotency_key: format!("transfer/{}", idem.derived()),
                    token: &record.token,
                })
                .await;
            if appended.is_err() {
                partial_reasons.push(CONTEXT_UNAVAILABLE.to_owned());
            }
        }
        let given_name = record
            .known_facts
            .iter()
            .find(|f| f.field == "given_name")
            .map(|f| f.value.clone())
            .unwrap_or_default();
        let channel_after = match target {
            audience::Target::Channel(ch) => ch,
            _ => c.channel,
        };
        let fetched = self
            .deps
            .fetch(Ask {
                call: ForContact {
                    tenant_id: tenant,
                    contact_id: &c.contact_id,
                    token: &record.token,
                },
                customer_id: &c.customer_id,
                merged_ids: &record.merged_ids,
                utterance: &c.utterance,
                intent: &handover.intent,
                channel: channel_after,
                given_name: &given_name,
                customer_since: None,
            })
            .await;
        for reason in fetched.partial_reasons {
            if !partial_reasons.contains(&reason) {
                partial_reasons.push(reason);
            }
        }
        let plan = TransferPlan {
            target,
            extra_skills: target_msg.required_skills,
            warm,
            from_agent_id: r.from_agent_id.clone(),
            handover: Some(handover),
            token_id: ids::token_id(),
        };
        let parts = TokenParts {
            snapshot: fetched.snapshot,
            recommendations: fetched.recommendations,
            partial_reasons,
        };
        let acked = self
            .dispatcher(&idem.tenant_id)?
            .call(|reply| Command::Transfer {
                idem,
                contact_id: r.contact_id.clone(),
                plan: Box::new(plan),
                parts: Box::new(parts),
                reply,
            })
            .await??;
        durable(acked.durable).await?;
        let answer = acked.value;
        if let Some(contact) = answer.contact.as_ref().filter(|_| !acked.replayed) {
            self.metrics.transferred(contact);
            if !contact.customer_id.is_empty() {
                let kind = contact
                    .path
                    .last()
                    .and_then(|h| HopKind::try_from(h.kind).ok())
                    .unwrap_or(HopKind::ColdTransfer);
                self.token_issued(contact, kind, &answer.token).await;
            }
        }
        tracing::info!(contact = %r.contact_id, warm, "contact transferred");
        Ok(answer)
    }
}
