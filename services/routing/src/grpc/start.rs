//! StartContact: identify once, record the start, read the history, recommend, mint the first
//! token and place the contact.

use std::time::SystemTime;

use baton_proto::v1::{
    Actor, ActorKind, Contact, ContactStarted, ContactState, Hop, HopKind, KnownFact,
    ResolveDecision, ResolveRequest, ResolveResponse, StartContactRequest, StartContactResponse,
    TokenIssued, Verification, VerificationLevel, audience::Target, event::Payload,
};
use baton_runtime::time::to_timestamp;
use baton_runtime::trace::{self, CallSpan};
use tonic::Code;

use super::deps::{self, Ask, CONTEXT_UNAVAILABLE, ForContact, IDENTITY_UNAVAILABLE, NewEvent};
use super::{RoutingGrpc, durable, record_ids};
use crate::dispatcher::{Command, Idem};
use crate::domain::ids;
use crate::domain::mint::{self, TokenParts};
use crate::domain::record::{ContactRecord, audience};
use crate::domain::skills;
use crate::error::Error;
use crate::store::RoutingStore;

/// Who routing says it is in histories.
pub(crate) const SYSTEM: &str = "baton-routing";

/// Routing as the actor of events it records on its own behalf.
fn system_actor() -> Actor {
    Actor {
        kind: ActorKind::System as i32,
        id: SYSTEM.to_owned(),
    }
}

/// The agent who acted, or routing itself when no agent is named.
pub(super) fn agent_or_system(agent_id: &str) -> Actor {
    if agent_id.is_empty() {
        system_actor()
    } else {
        Actor {
            kind: ActorKind::Agent as i32,
            id: agent_id.to_owned(),
        }
    }
}

impl<S: RoutingStore> RoutingGrpc<S> {
    pub(super) async fn start(
        &self,
        call: &CallSpan,
        r: StartContactRequest,
        idem: Idem,
    ) -> Result<StartContactResponse, Error> {
        if let Some(answer) = self.recall::<StartContactResponse>(&idem).await? {
            if let Some(contact) = &answer.contact {
                record_ids(call, "", &contact.contact_id);
            }
            return Ok(answer);
        }
        let tenant = r.tenant_id.as_str();
        // The keys of the calls made for this start: this caller's and this request's only.
        let derived = idem.derived();
        let mut partial_reasons = Vec::new();
        // Every later hop of this contact happens in another trace and links back to this one.
        let origin_traceparent = trace::current_traceparent();

        // Minted before identifying, so that every call made for the contact names it. (A
        // retry whose first attempt reached the history keeps that attempt's id, below; its
        // Resolve call was labelled with this candidate.)
        let mut contact_id = ids::contact_id();
        let ResolveResponse {
            decision,
            customer_id,
            verification,
            profile,
            ..
        } = self
            .identify(&r, &derived, &contact_id, &mut partial_reasons)
            .await?;
        let verification = verification.unwrap_or(Verification {
            level: VerificationLevel::None as i32,
            channel: r.channel,
            ..Verification::default()
        });

        let queue = if r.queue_id.is_empty() {
            None
        } else {
            self.dispatcher(tenant)?
                .call(|reply| Command::Queue {
                    tenant_id: tenant.to_owned(),
                    queue_id: r.queue_id.clone(),
                    reply,
                })
                .await?
        };
        // An unknown queue is still a queue: agents may serve it before anyone describes it.
        let tier = match (r.tier, &queue) {
            (0, Some(q)) => q.tier.max(1),
            (0, None) => 1,
            (tier, _) => tier,
        };
        let target = if r.self_service {
            Target::Channel(r.channel)
        } else if !r.queue_id.is_empty() {
            Target::QueueId(r.queue_id.clone())
        } else {
            Target::Tier(tier)
        };

        let mut recorded = true;
        if !customer_id.is_empty() {
            let started = self
                .history
                .append(NewEvent {
                    tenant_id: tenant,
                    customer_id: &customer_id,
                    contact_id: &contact_id,
                    channel: r.channel,
                    actor: Actor {
                        kind: ActorKind::Customer as i32,
                        id: String::new(),
                    },
                    payload: Payload::ContactStarted(ContactStarted {
                        utterance: r.utterance.clone(),
                        intent: r.intent.clone(),
                        queue_id: r.queue_id.clone(),
                        tier,
                        verification: Some(verification.clone()),
                    }),
                    idempotency_key: format!("start/{derived}/started"),
                    token: &[],
                })
                .await;
            match started {
                // A retry whose first attempt got this far: keep the contact id the history
                // already names.
                Ok(resp) if resp.duplicate => {
                    if let Some(event) = resp.event.filter(|e| !e.contact_id.is_empty()) {
                        contact_id = event.contact_id;
                    }
                }
                Ok(_) => {}
                Err(_) => recorded = false,
            }
        }
        record_ids(call, "", &contact_id);

        let given_name = profile
            .as_ref()
            .and_then(|p| p.traits.as_ref())
            .map(|t| t.given_name.clone())
            .unwrap_or_default();
        // History stays under the id it was recorded for; the context of a customer others
        // were merged into is read with theirs.
        let merged_ids = profile
            .as_ref()
            .filter(|_| !customer_id.is_empty())
            .map(|p| deps::merged_ids(&customer_id, &p.retired_ids))
            .unwrap_or_default();
        let fetched = self
            .deps
            .fetch(Ask {
                call: ForContact {
                    tenant_id: tenant,
                    contact_id: &contact_id,
                    token: &[],
                },
                customer_id: &customer_id,
                merged_ids: &merged_ids,
                utterance: &r.utterance,
                intent: &r.intent,
                channel: r.channel,
                given_name: &given_name,
                customer_since: profile.as_ref().and_then(|p| p.customer_since),
            })
            .await;
        partial_reasons.extend(fetched.partial_reasons);
        if !recorded && !partial_reasons.iter().any(|p| p == CONTEXT_UNAVAILABLE) {
            partial_reasons.push(CONTEXT_UNAVAILABLE.to_owned());
        }

        // Data on record is only shown to confirm when the customer proved who they are.
        let known_facts: Vec<KnownFact> = match &profile {
            Some(p) if verification.level >= VerificationLevel::Verified as i32 => {
                baton_identity::known_facts(p)
            }
            _ => Vec::new(),
        };

        let now = SystemTime::now();
        let token_id = ids::token_id();
        let mut record = ContactRecord {
            contact: Contact {
                contact_id,
                tenant_id: tenant.to_owned(),
                customer_id: customer_id.clone(),
                channel: r.channel,
                state: if r.self_service {
                    ContactState::SelfService as i32
                } else {
                    ContactState::Queued as i32
                },
                queue_id: r.queue_id.clone(),
                tier,
                required_skills: skills::requirements(r.required_skills.clone()),
                priority: r.priority,
                preferred_agent_id: r.preferred_agent_id.clone(),
                requested_at: Some(to_timestamp(now)),
                state_since: Some(to_timestamp(now)),
                path: vec![Hop {
                    index: 0,
                    kind: HopKind::Start as i32,
                    at: Some(to_timestamp(now)),
                    channel: r.channel,
                    to: Some(audience(target.clone())),
                    from_agent_id: String::new(),
                    token_id: token_id.clone(),
                }],
                token_id: token_id.clone(),
                verification: Some(verification),
                utterance: r.utterance.clone(),
                intent: r.intent.clone(),
                ..Contact::default()
            },
            target: Some(audience(target.clone())),
            known_facts: known_facts.clone(),
            origin_traceparent,
            merged_ids,
            ..ContactRecord::default()
        };
        let partial = !partial_reasons.is_empty();
        let parts = TokenParts {
            snapshot: fetched.snapshot,
            recommendations: fetched.recommendations.clone(),
            partial_reasons,
        };
        record.token = mint::seal(&self.keys, &record, parts, now, self.config.token_ttl);

        let response = StartContactResponse {
            identity_decision: decision,
            greeting: fetched
                .recommendations
                .as_ref()
                .and_then(|r| r.greeting.clone()),
            recommendations: fetched.recommendations,
            on_record: known_facts,
            partial,
            ..StartContactResponse::default()
        };
        let acked = self
            .dispatcher(&idem.tenant_id)?
            .call(|reply| Command::Start {
                idem,
                record: Box::new(record),
                response: Box::new(response),
                reply,
            })
            .await??;
        durable(acked.durable).await?;
        let answer = acked.value;
        if let Some(contact) = answer.contact.as_ref().filter(|_| !acked.replayed)
            && !customer_id.is_empty()
        {
            self.token_issued(contact, HopKind::Start, &answer.token)
                .await;
        }
        tracing::info!(
            contact = %answer.contact.as_ref().map_or("", |c| c.contact_id.as_str()),
            customer = %customer_id,
            partial,
            "contact started"
        );
        Ok(answer)
    }

    /// Resolves the customer, or continues unidentified when identity is down. A contact with
    /// nothing to identify by is anonymous and skips the call.
    async fn identify(
        &self,
        r: &StartContactRequest,
        derived_key: &str,
        contact_id: &str,
        partial_reasons: &mut Vec<String>,
    ) -> Result<ResolveResponse, Error> {
        if r.identifiers.is_empty() && r.traits.is_none() && r.proofs.is_empty() {
            return Ok(ResolveResponse::default());
        }
        let request = ResolveRequest {
            tenant_id: r.tenant_id.clone(),
            identifiers: r.identifiers.clone(),
            traits: r.traits.clone(),
            channel: r.channel,
            lookup_only: false,
            proofs: r.proofs.clone(),
            idempotency_key: format!("start/{derived_key}"),
        };
        let call = ForContact {
            tenant_id: &r.tenant_id,
            contact_id,
            token: &[],
        };
        match self.deps.resolve(call, request).await {
            Ok(resolved) => Ok(resolved),
            // The caller's identifiers are wrong: they can fix that, so say so.
            Err(status) if status.code() == Code::InvalidArgument => Err(Error::Rejected {
                dependency: "identity",
                message: status.message().to_owned(),
            }),
            Err(_) => {
                partial_reasons.push(IDENTITY_UNAVAILABLE.to_owned());
                Ok(ResolveResponse {
                    decision: ResolveDecision::Unspecified as i32,
                    ..ResolveResponse::default()
                })
            }
        }
    }

    /// Records that a token was minted for a contact (best effort: the token is valid either
    /// way, the record is for the history). `token` is the one just minted.
    pub(super) async fn token_issued(&self, contact: &Contact, kind: HopKind, token: &[u8]) {
        let Some(hop) = contact.path.last() else {
            return;
        };
        let _ = self
            .history
            .append(NewEvent {
                tenant_id: &contact.tenant_id,
                customer_id: &contact.customer_id,
                contact_id: &contact.contact_id,
                channel: contact.channel,
                actor: system_actor(),
                payload: Payload::TokenIssued(TokenIssued {
                    token_id: hop.token_id.clone(),
                    audience: hop.to.clone(),
                    hop_kind: kind as i32,
                }),
                idempotency_key: format!("token/{}", hop.token_id),
                token,
            })
            .await;
    }
}
