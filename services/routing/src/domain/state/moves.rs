//! How contacts move: start, transfer, end, and the answers to offers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use baton_proto::v1::{ContactState, Hop, HopKind, Placement, Presence, audience::Target};
use baton_runtime::time::to_timestamp;

use super::{
    Effect, LiveContact, REJECTED, Return, RoutingState, TIMED_OUT, TenantState, TransferPlan,
    escalation_secs, withdraw,
};
use crate::domain::matching::{Declined, Need, relax, unservable};
use crate::domain::record::{ContactRecord, WarmOrigin, audience};
use crate::domain::skills;
use crate::error::Error;

impl RoutingState {
    /// Adds a new contact and places it: self-service contacts stay as they are; others wait
    /// and are offered at once to the best eligible agent if there is one.
    pub fn start(
        &mut self,
        mut record: ContactRecord,
        now: SystemTime,
    ) -> (ContactRecord, Placement, Vec<Effect>) {
        let tenant = record.contact.tenant_id.clone();
        let id = record.contact.contact_id.clone();
        // A retry that lost its remembered answer may bring a contact already live: it is
        // answered as it stands rather than placed twice.
        if let Some(live) = self.contact(&tenant, &id) {
            let record = live.record.clone();
            return (record, self.placement(&tenant, &id, now), Vec::new());
        }
        record.contact.required_skills =
            skills::requirements(std::mem::take(&mut record.contact.required_skills));
        if record.state() != ContactState::SelfService {
            record.contact.state = ContactState::Queued as i32;
        }
        record.contact.state_since = Some(to_timestamp(now));
        self.tenant_mut(&tenant).contacts.insert(
            id.clone(),
            LiveContact {
                record,
                excluded: BTreeSet::new(),
                declined: BTreeMap::new(),
                offer_id: None,
            },
        );
        self.tenant_mut(&tenant).sync(&id, now);
        let effects = self.dispatch(&tenant, now);
        let record = self.record(&tenant, &id);
        let placement = self.placement(&tenant, &id, now);
        (record, placement, effects)
    }

    /// Moves a contact to a new target with a new hop. `seal` builds and seals the hop's
    /// token from the updated record (its newest hop names the token id).
    ///
    /// `plan.from_agent_id`, when not empty, must be the agent the contact is offered or
    /// connected to, or the one holding it. Cold: the current agent is released at once. Warm:
    /// the current agent (or the agent already holding) keeps the contact and its capacity
    /// until the next agent accepts; an agent it was only offered to holds nothing. The
    /// transferring agent is not offered the contact back on this hop.
    pub fn transfer(
        &mut self,
        tenant: &str,
        contact_id: &str,
        plan: TransferPlan,
        now: SystemTime,
        seal: impl FnOnce(&ContactRecord) -> Vec<u8>,
    ) -> Result<(ContactRecord, Placement, Vec<Effect>), Error> {
        self.check_transfer(tenant, contact_id, &plan)?;
        let not_found = || Error::NotFound {
            kind: "contact",
            id: contact_id.to_owned(),
        };
        let t = self.tenants.get_mut(tenant).ok_or_else(not_found)?;
        let contact = &t
            .contacts
            .get(contact_id)
            .ok_or_else(not_found)?
            .record
            .contact;
        let connected_agent = (contact.state == ContactState::Connected as i32)
            .then(|| contact.agent_id.clone())
            .filter(|a| !a.is_empty());
        let holder = Some(contact.holding_agent_id.clone()).filter(|a| !a.is_empty());
        // What a warm transfer goes back to: the contact with its first agent, before this
        // hop (or before the first warm hop, when it is already held).
        let before = {
            let record = &t.contacts.get(contact_id).ok_or_else(not_found)?.record;
            record.warm_origin.clone().unwrap_or_else(|| WarmOrigin {
                contact: Some(record.contact.clone()),
                target: record.target.clone(),
                token: record.token.clone(),
            })
        };
        let mut effects = Vec::new();
        effects.extend(withdraw(t, contact_id, "contact transferred", now));
        let first = connected_agent.clone().or(holder.clone());
        let new_holder = if plan.warm { first.clone() } else { None };
        for agent_id in [connected_agent, holder].into_iter().flatten() {
            if Some(&agent_id) != new_holder.as_ref()
                && let Some(agent) = t.agents.get_mut(&agent_id)
            {
                agent.release(contact_id, now);
            }
        }
        let holding_channel = new_holder
            .as_ref()
            .and_then(|h| t.agents.get(h))
            .and_then(|a| a.active.get(contact_id).copied())
            .unwrap_or(0);
        let from_agent_id = if plan.from_agent_id.is_empty() {
            first.unwrap_or_default()
        } else {
            plan.from_agent_id.clone()
        };
        let live = t.contacts.get_mut(contact_id).ok_or_else(not_found)?;
        let record = &mut live.record;
        let c = &mut record.contact;
        let kind = match &plan.target {
            Target::Channel(channel) => {
                c.channel = *channel;
                HopKind::ChannelSwitch
            }
            Target::Tier(tier) => {
                c.tier = *tier;
                hop_kind(plan.warm)
            }
            Target::QueueId(queue_id) => {
                c.queue_id = queue_id.clone();
                if let Some(queue) = t.queues.get(queue_id) {
                    c.tier = queue.tier;
                }
                hop_kind(plan.warm)
            }
            Target::AgentId(_) => hop_kind(plan.warm),
        };
        c.state = ContactState::Queued as i32;
        c.state_since = Some(to_timestamp(now));
        c.agent_id.clear();
        let held = new_holder.is_some();
        c.holding_agent_id = new_holder.unwrap_or_default();
        record.holding_channel = holding_channel;
        record.warm_origin = held.then_some(before);
        c.required_skills = skills::requirements(
            c.required_skills
                .drain(..)
                .chain(plan.extra_skills)
                .collect(),
        );
        c.handover = plan.handover;
        c.path.push(Hop {
            index: u32::try_from(c.path.len()).unwrap_or(u32::MAX),
            kind: kind as i32,
            at: Some(to_timestamp(now)),
            channel: c.channel,
            to: Some(audience(plan.target.clone())),
            from_agent_id: from_agent_id.clone(),
            token_id: plan.token_id.clone(),
        });
        c.token_id = plan.token_id;
        record.target = Some(audience(plan.target.clone()));
        live.excluded.clear();
        live.declined.clear();
        if !from_agent_id.is_empty() && plan.target != Target::AgentId(from_agent_id.clone()) {
            live.excluded.insert(from_agent_id);
        }
        live.record.token = seal(&live.record);
        if held {
            effects.push(Effect::WarmTransferPending {
                tenant_id: tenant.to_owned(),
                contact_id: contact_id.to_owned(),
                token_id: live.record.contact.token_id.clone(),
                timeout_secs: escalation_secs(t, Some(&plan.target)),
            });
        }
        t.sync(contact_id, now);
        effects.extend(self.dispatch(tenant, now));
        let record = self.record(tenant, contact_id);
        let placement = self.placement(tenant, contact_id, now);
        Ok((record, placement, effects))
    }

    /// Whether [`Self::transfer`] would take `plan`: `from_agent_id`, when not empty, has the
    /// contact; a named agent exists; and some registered agent other than the one
    /// transferring could ever take the contact where it goes (its target, channel and every
    /// skill at its proficiency, whatever the agent's presence, session or load now; see
    /// [`unservable`]). Changes nothing, so a handler can ask before it records anything.
    pub fn check_transfer(
        &self,
        tenant: &str,
        contact_id: &str,
        plan: &TransferPlan,
    ) -> Result<(), Error> {
        let not_found = || Error::NotFound {
            kind: "contact",
            id: contact_id.to_owned(),
        };
        let t = self.tenants.get(tenant).ok_or_else(not_found)?;
        let record = &t.contacts.get(contact_id).ok_or_else(not_found)?.record;
        if !plan.from_agent_id.is_empty() && !record.is_with(&plan.from_agent_id) {
            return Err(Error::FailedPrecondition(format!(
                "contact {contact_id} is not offered to, connected to or held by agent {}",
                plan.from_agent_id
            )));
        }
        if let Target::AgentId(agent_id) = &plan.target
            && !t.agents.contains_key(agent_id)
        {
            return Err(Error::NotFound {
                kind: "agent",
                id: agent_id.clone(),
            });
        }
        let contact = &record.contact;
        let transferring = if plan.from_agent_id.is_empty() {
            let connected = (contact.state == ContactState::Connected as i32)
                .then_some(contact.agent_id.as_str());
            connected
                .filter(|a| !a.is_empty())
                .unwrap_or(&contact.holding_agent_id)
        } else {
            &plan.from_agent_id
        };
        let except = match &plan.target {
            Target::AgentId(agent_id) if agent_id == transferring => "",
            _ => transferring,
        };
        let channel = match &plan.target {
            Target::Channel(channel) => *channel,
            _ => contact.channel,
        };
        let queue = match &plan.target {
            Target::QueueId(q) => t.queues.get(q),
            _ => None,
        };
        let queue_skills = queue
            .map(|q| q.required_skills.as_slice())
            .unwrap_or_default();
        let mut skills = skills::requirements(
            contact
                .required_skills
                .iter()
                .chain(&plan.extra_skills)
                .chain(queue_skills)
                .cloned()
                .collect(),
        );
        // A queue that relaxes its requirements in time is served by whoever meets them then.
        if let Some(w) = queue
            .and_then(|q| q.widening.as_ref())
            .filter(|w| w.relax_after_secs > 0)
        {
            skills = relax(&skills, w.relax_levels);
        }
        let need = Need {
            channel,
            skills: &skills,
            target: &plan.target,
            except,
        };
        match unservable(t.agents.values(), &need) {
            None => Ok(()),
            Some(reason) => Err(Error::FailedPrecondition(format!(
                "transfer of contact {contact_id} refused: {reason}, so no agent could ever \
                 take it"
            ))),
        }
    }

    /// Ends a live contact: its offer is withdrawn, its agent and holding agent are released,
    /// and it leaves the live state. `by_agent`, when not empty, must be the agent the contact
    /// is offered or connected to, or the one holding it during a warm transfer: an agent ends
    /// only their own contacts. Returns the ended record.
    pub fn end(
        &mut self,
        tenant: &str,
        contact_id: &str,
        by_agent: &str,
        now: SystemTime,
    ) -> Result<(ContactRecord, Vec<Effect>), Error> {
        let not_found = || Error::NotFound {
            kind: "contact",
            id: contact_id.to_owned(),
        };
        let t = self.tenants.get_mut(tenant).ok_or_else(not_found)?;
        let Some(live) = t.contacts.get(contact_id) else {
            return Err(not_found());
        };
        let contact = &live.record.contact;
        if !by_agent.is_empty()
            && by_agent != contact.agent_id
            && by_agent != contact.holding_agent_id
        {
            return Err(Error::FailedPrecondition(format!(
                "contact {contact_id} is not with agent {by_agent}"
            )));
        }
        // Ended while waiting, with nobody holding the customer: abandoned.
        let waiting = matches!(
            live.record.state(),
            ContactState::Queued | ContactState::Offered
        ) && contact.holding_agent_id.is_empty();
        let mut effects = Vec::new();
        effects.extend(withdraw(t, contact_id, "contact ended", now));
        let live = t.contacts.remove(contact_id).ok_or_else(not_found)?;
        if waiting {
            t.abandoned(&live.record, now);
        }
        let mut record = live.record;
        for agent_id in [&record.contact.agent_id, &record.contact.holding_agent_id] {
            if let Some(agent) = t.agents.get_mut(agent_id) {
                agent.release(contact_id, now);
            }
        }
        // The agent who had the customer wraps up, when the queue asks for it.
        let wrap_up = match record.target() {
            Some(Target::QueueId(q)) => t.queues.get(q).map_or(0, |q| q.wrap_up_secs),
            _ => 0,
        };
        if wrap_up > 0
            && record.state() == ContactState::Connected
            && let Some(agent) = t.agents.get_mut(&record.contact.agent_id)
            && agent.profile.presence == Presence::Available as i32
        {
            let until = now + std::time::Duration::from_secs(wrap_up.into());
            let p = &mut agent.profile;
            p.presence = Presence::WrapUp as i32;
            p.presence_since = Some(to_timestamp(now));
            p.wrap_up_until = Some(to_timestamp(until));
            effects.push(Effect::WrapUp {
                tenant_id: tenant.to_owned(),
                agent_id: record.contact.agent_id.clone(),
                until,
            });
        }
        record.contact.state = ContactState::Ended as i32;
        record.contact.state_since = Some(to_timestamp(now));
        record.contact.holding_agent_id.clear();
        record.holding_channel = 0;
        record.warm_origin = None;
        t.sync(contact_id, now);
        effects.extend(self.dispatch(tenant, now));
        Ok((record, effects))
    }

    /// An agent accepts an offer: the contact is connected to them and a warm transfer's
    /// holding agent is released.
    pub fn accept(
        &mut self,
        tenant: &str,
        agent_id: &str,
        session: u64,
        offer_id: &str,
        now: SystemTime,
    ) -> Result<(ContactRecord, Vec<Effect>), Error> {
        let contact_id = self.check_offer(tenant, agent_id, session, offer_id)?;
        let not_open = || Error::FailedPrecondition(format!("offer {offer_id} is no longer open"));
        let t = self.tenants.get_mut(tenant).ok_or_else(not_open)?;
        t.offers.remove(offer_id);
        t.tally.accepted += 1;
        let live = t.contacts.get_mut(&contact_id).ok_or_else(not_open)?;
        live.offer_id = None;
        let c = &mut live.record.contact;
        c.state = ContactState::Connected as i32;
        c.state_since = Some(to_timestamp(now));
        let holder = std::mem::take(&mut c.holding_agent_id);
        live.record.holding_channel = 0;
        live.record.warm_origin = None;
        let record = live.record.clone();
        t.answered(&record, now);
        t.sync(&contact_id, now);
        if !holder.is_empty()
            && holder != agent_id
            && let Some(agent) = t.agents.get_mut(&holder)
        {
            agent.release(&contact_id, now);
        }
        let effects = self.dispatch(tenant, now);
        Ok((self.record(tenant, &contact_id), effects))
    }

    /// An agent rejects an offer: the contact goes on to the next eligible agent, and back to
    /// this one on this hop only after its cool-down ([`Effect::CoolDown`]) and when nobody
    /// else can take it.
    pub fn reject(
        &mut self,
        tenant: &str,
        agent_id: &str,
        session: u64,
        offer_id: &str,
        now: SystemTime,
    ) -> Result<Vec<Effect>, Error> {
        let contact_id = self.check_offer(tenant, agent_id, session, offer_id)?;
        let mut effects = Vec::new();
        if let Some(t) = self.tenants.get_mut(tenant) {
            // The rejecting agent knows: no withdrawal message.
            withdraw(t, &contact_id, REJECTED, now);
            effects.extend(decline(t, &contact_id, agent_id, offer_id));
        }
        effects.extend(self.dispatch(tenant, now));
        Ok(effects)
    }

    /// A warm transfer goes back to the agent holding the customer: any outstanding offer to
    /// the next agent is withdrawn, and the contact is connected to the holding agent again
    /// as it was before the transfer (its target, channel, skills and token), which the
    /// agent is told. The holding agent kept its capacity all along, so none is taken.
    /// Returns the record to store. `Lapsed` of a hop that is no longer the contact's, or of
    /// a transfer already accepted, is `FailedPrecondition` and changes nothing, as is a
    /// `Cancelled` by an agent not holding a warm transfer of the contact.
    pub fn return_warm_transfer(
        &mut self,
        tenant: &str,
        contact_id: &str,
        cause: &Return,
        now: SystemTime,
    ) -> Result<(ContactRecord, Vec<Effect>), Error> {
        let none_pending = || {
            Error::FailedPrecondition(format!(
                "contact {contact_id} has no warm transfer pending{}",
                match cause {
                    Return::Cancelled { agent_id } => format!(" from agent {agent_id}"),
                    Return::Lapsed { .. } => String::new(),
                }
            ))
        };
        let t = self.tenants.get_mut(tenant).ok_or_else(none_pending)?;
        let live = t.contacts.get(contact_id).ok_or_else(none_pending)?;
        let c = &live.record.contact;
        let applies = match cause {
            Return::Lapsed { token_id } => c.token_id == *token_id,
            Return::Cancelled { agent_id } => c.holding_agent_id == *agent_id,
        };
        if !applies || c.holding_agent_id.is_empty() || live.record.warm_origin.is_none() {
            return Err(none_pending());
        }
        let (withdrawn, reason) = match cause {
            Return::Lapsed { .. } => (
                "transfer returned to the first agent",
                "nobody accepted the transfer in time",
            ),
            Return::Cancelled { .. } => ("transfer cancelled", "transfer cancelled"),
        };
        let mut effects: Vec<Effect> = withdraw(t, contact_id, withdrawn, now)
            .into_iter()
            .collect();
        let live = t.contacts.get_mut(contact_id).ok_or_else(none_pending)?;
        let holder = live.record.contact.holding_agent_id.clone();
        let origin = live.record.warm_origin.take().unwrap_or_default();
        let mut contact = origin
            .contact
            .unwrap_or_else(|| live.record.contact.clone());
        contact.state = ContactState::Connected as i32;
        contact.agent_id = holder.clone();
        contact.holding_agent_id.clear();
        contact.state_since = Some(to_timestamp(now));
        live.record.contact = contact;
        live.record.target = origin.target;
        if !origin.token.is_empty() {
            live.record.token = origin.token;
        }
        live.record.holding_channel = 0;
        live.excluded.clear();
        live.declined.clear();
        let record = live.record.clone();
        t.sync(contact_id, now);
        if let Some(agent) = t.agents.get_mut(&holder) {
            agent
                .active
                .insert(contact_id.to_owned(), record.contact.channel);
            if let Some(session) = agent.session {
                effects.push(Effect::TransferReturned {
                    tenant_id: tenant.to_owned(),
                    agent_id: holder,
                    session,
                    contact: Box::new(record.contact.clone()),
                    reason,
                });
            }
        }
        effects.extend(self.dispatch(tenant, now));
        Ok((record, effects))
    }

    /// The cool-down of an agent who declined a contact is over: from now on the agent may be
    /// offered it again when nobody else can take it, which may be at once. Does nothing if
    /// the contact moved on (ended, transferred) or the agent declined it again since.
    pub fn cool_down_over(
        &mut self,
        tenant: &str,
        contact_id: &str,
        agent_id: &str,
        offer_id: &str,
        now: SystemTime,
    ) -> Vec<Effect> {
        let Some(declined) = self
            .tenants
            .get_mut(tenant)
            .and_then(|t| t.contacts.get_mut(contact_id))
            .and_then(|live| live.declined.get_mut(agent_id))
            .filter(|d| d.offer_id == offer_id && !d.cooled)
        else {
            return Vec::new();
        };
        declined.cooled = true;
        self.dispatch(tenant, now)
    }

    /// An offer lapsed: withdrawn from its agent ("offer timed out"), and the contact goes on
    /// to the next eligible agent. A lapsed agent counts as having rejected it on this hop
    /// (a cool-down, then offered again only when nobody else can take it), so a desk left
    /// unattended does not hold the contact again and again. Does nothing if the offer was
    /// already answered or withdrawn.
    pub fn offer_timed_out(
        &mut self,
        tenant: &str,
        offer_id: &str,
        now: SystemTime,
    ) -> Vec<Effect> {
        let Some(t) = self.tenants.get_mut(tenant) else {
            return Vec::new();
        };
        let Some(contact_id) = t.offers.get(offer_id).cloned() else {
            return Vec::new();
        };
        let agent_id = t
            .contacts
            .get(&contact_id)
            .map(|c| c.record.contact.agent_id.clone())
            .unwrap_or_default();
        let mut effects: Vec<Effect> = withdraw(t, &contact_id, TIMED_OUT, now)
            .into_iter()
            .collect();
        effects.extend(decline(t, &contact_id, &agent_id, offer_id));
        effects.extend(self.dispatch(tenant, now));
        effects
    }
}

/// Records that `agent_id` declined `offer_id` of a contact, and asks for its cool-down.
fn decline(
    t: &mut TenantState,
    contact_id: &str,
    agent_id: &str,
    offer_id: &str,
) -> Option<Effect> {
    let live = t.contacts.get_mut(contact_id)?;
    live.declined.insert(
        agent_id.to_owned(),
        Declined {
            offer_id: offer_id.to_owned(),
            cooled: false,
        },
    );
    Some(Effect::CoolDown {
        tenant_id: live.record.contact.tenant_id.clone(),
        contact_id: contact_id.to_owned(),
        agent_id: agent_id.to_owned(),
        offer_id: offer_id.to_owned(),
    })
}

fn hop_kind(warm: bool) -> HopKind {
    if warm {
        HopKind::WarmTransfer
    } else {
        HopKind::ColdTransfer
    }
}
