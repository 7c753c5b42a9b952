//! The routing state machine: agents, queues, live contacts and outstanding offers, per tenant.
//!
//! Every operation takes the clock as an argument and returns the [`Effect`]s to deliver to
//! agent sessions (offers, withdrawals); nothing here sends, sleeps or stores. The dispatcher
//! task owns one `RoutingState`, so every change is applied by one thread in one order.
//!
//! Contact lifecycle: `QUEUED` -> `OFFERED` (to one agent) -> `CONNECTED`; an offer that is
//! rejected, times out or whose session closes goes back to `QUEUED` and on to the next
//! eligible agent; a transfer puts the contact back to `QUEUED` with a new target and hop;
//! `ENDED` removes it from the live state. A contact is never dropped: every exit from
//! `OFFERED` other than accept or end leads back to `QUEUED`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use baton_proto::v1::{
    Agent, AgentSelection, ChannelCapacity, Contact, ContactState, Handover, Placement, Presence,
    Queue, Skill, SkillRequirement, audience::Target,
};
use baton_runtime::time::to_timestamp;

use crate::domain::ids;
use crate::domain::matching::{
    AgentState, Declined, Demand, choose, may_take_some, merge_requirements, queue_order_key,
    relax, stage,
};
use crate::domain::record::ContactRecord;
use crate::domain::skills;
use crate::error::Error;

/// Something to tell an agent's desktop session.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Offer a contact to an agent.
    Offer {
        /// The tenant.
        tenant_id: String,
        /// The agent offered to.
        agent_id: String,
        /// The session the offer belongs to.
        session: u64,
        /// The new offer's id.
        offer_id: String,
        /// The contact as offered (state `OFFERED`).
        contact: Box<Contact>,
        /// The contact's newest sealed token.
        token: Vec<u8>,
    },
    /// Tell an agent an offer no longer stands.
    Withdrawn {
        /// The tenant.
        tenant_id: String,
        /// The agent the offer was for.
        agent_id: String,
        /// The session the offer was sent to.
        session: u64,
        /// The withdrawn offer.
        offer_id: String,
        /// The contact it offered.
        contact_id: String,
        /// Why ("offer timed out", "contact ended").
        reason: &'static str,
    },
    /// Start the escalation timer of a warm transfer: when it lapses and nobody has accepted,
    /// call [`RoutingState::return_warm_transfer`] with [`Return::Lapsed`] and this token id.
    WarmTransferPending {
        /// The tenant.
        tenant_id: String,
        /// The contact transferred.
        contact_id: String,
        /// The id of the token minted for the transfer's hop: a later hop has its own timer.
        token_id: String,
        /// The target queue's escalation timeout in seconds; 0 for the router's default.
        timeout_secs: u32,
    },
    /// Tell the agent holding a warm transfer that it came back: the agent is connected to
    /// the contact again.
    TransferReturned {
        /// The tenant.
        tenant_id: String,
        /// The agent who held the customer.
        agent_id: String,
        /// The agent's session.
        session: u64,
        /// The contact as it is now, connected to the agent.
        contact: Box<Contact>,
        /// Why ("nobody accepted the transfer in time", "transfer cancelled").
        reason: &'static str,
    },
    /// Start the cool-down of an agent who declined a contact (rejected it or let the offer
    /// lapse); when it is over, call [`RoutingState::cool_down_over`] with the same fields.
    CoolDown {
        /// The tenant.
        tenant_id: String,
        /// The contact declined.
        contact_id: String,
        /// The agent who declined it.
        agent_id: String,
        /// The offer declined.
        offer_id: String,
    },
    /// An agent went into wrap-up until `until` (its profile changed: store it with the
    /// change that caused it); then call [`RoutingState::wrap_up_over`], and tell the desk
    /// both times.
    WrapUp {
        /// The tenant.
        tenant_id: String,
        /// The agent.
        agent_id: String,
        /// When wrap-up ends.
        until: SystemTime,
    },
    /// A waiting contact's widening widens at `at` (a ring opens to more agents or its
    /// requirements relax) while agents outside its present ring could take it: call
    /// [`RoutingState::widen`] then. One per dispatch: the earliest of the tenant's.
    Widen {
        /// The tenant.
        tenant_id: String,
        /// When.
        at: SystemTime,
    },
}

/// Why a warm transfer goes back to the agent holding the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Return {
    /// Nobody accepted the hop minted with this token id within its escalation timeout.
    Lapsed {
        /// The hop's token id.
        token_id: String,
    },
    /// The holding agent took the transfer back.
    Cancelled {
        /// The agent cancelling; must be the one holding.
        agent_id: String,
    },
}

/// A change to an agent; `None` fields keep their value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentUpdate {
    /// The agent.
    pub agent_id: String,
    /// New presence.
    pub presence: Option<Presence>,
    /// New display name.
    pub display_name: Option<String>,
    /// New tier (at least 1).
    pub tier: Option<u32>,
    /// New skills.
    pub skills: Option<Vec<Skill>>,
    /// New capacities.
    pub capacities: Option<Vec<ChannelCapacity>>,
    /// New queues.
    pub queue_ids: Option<Vec<String>>,
    /// New team (empty: none).
    pub team: Option<String>,
}

/// How a contact moves on a transfer.
#[derive(Debug, Clone, PartialEq)]
pub struct TransferPlan {
    /// Where to: a tier, queue, agent or channel.
    pub target: Target,
    /// Skills the destination needs besides the contact's.
    pub extra_skills: Vec<SkillRequirement>,
    /// Warm: the current agent holds the customer until the next one accepts.
    pub warm: bool,
    /// The agent transferring, if an agent is.
    pub from_agent_id: String,
    /// What is passed on.
    pub handover: Option<Handover>,
    /// The id of the token minted for this hop.
    pub token_id: String,
}

/// A contact that is not ended, with what only matters while it is routed.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveContact {
    /// The durable record.
    pub record: ContactRecord,
    /// Agents never offered it on this hop (the one who transferred it); cleared by a
    /// transfer.
    pub excluded: BTreeSet<String>,
    /// Agents who rejected it or let an offer lapse on this hop, each offered it again only
    /// after a cool-down and when nobody else can take it; cleared by a transfer. Not stored:
    /// after a restart every agent may be offered it again.
    pub declined: BTreeMap<String, Declined>,
    /// The outstanding offer, if it is `OFFERED`.
    pub offer_id: Option<String>,
}

/// How offers ended, counted as they happen (for metrics). Every offer made ends exactly once:
/// `offered` is the sum of the others plus the offers still outstanding.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OfferTally {
    /// Offers made to an agent.
    pub offered: u64,
    /// Offers the agent accepted.
    pub accepted: u64,
    /// Offers the agent rejected.
    pub rejected: u64,
    /// Offers nobody answered in time.
    pub timed_out: u64,
    /// Offers taken back: the contact moved or ended, the agent went away or lost the session.
    pub withdrawn: u64,
}

/// The withdrawal reason of a rejected offer.
const REJECTED: &str = "rejected";
/// The withdrawal reason of a lapsed offer.
const TIMED_OUT: &str = "offer timed out";

/// One tenant's routing state; tenants never see each other's agents or contacts.
#[derive(Debug, Default)]
struct TenantState {
    /// Agents by id; a `BTreeMap` so iteration, and so choice, is deterministic.
    agents: BTreeMap<String, AgentState>,
    /// Queues by id.
    queues: HashMap<String, Queue>,
    /// Contacts not ended, by id.
    contacts: HashMap<String, LiveContact>,
    /// Outstanding offers: offer id to contact id.
    offers: HashMap<String, String>,
    /// Offer outcomes since the tally was last taken.
    tally: OfferTally,
    /// Queued contacts indexed by target and order, and waiting counts by tier.
    queued: queued::Queued,
    /// How contacts left each queue recently, for its service level.
    outcomes: stats::Outcomes,
}

/// Routing state for every tenant.
#[derive(Debug)]
pub struct RoutingState {
    /// Per tenant.
    tenants: HashMap<String, TenantState>,
    /// Counts offers, to order agents by how long ago they last got one.
    offer_seq: u64,
    /// Waiting this long raises a contact's priority by one.
    aging: Duration,
}

impl RoutingState {
    /// Empty state; `aging` is how long a contact waits to gain one priority step.
    pub fn new(aging: Duration) -> Self {
        Self {
            tenants: HashMap::new(),
            offer_seq: 0,
            aging,
        }
    }

    /// Restores state from the store after a restart. No session is open; an `OFFERED`
    /// contact goes back to `QUEUED` (its offer died with the process); a `CONNECTED` one
    /// stays with its agent, and a warm transfer's holding agent keeps holding. Ended contacts
    /// are skipped.
    pub fn load(
        &mut self,
        agents: Vec<(String, Agent)>,
        queues: Vec<(String, Queue)>,
        contacts: Vec<ContactRecord>,
    ) {
        // Records stored before names were normalized compare like the ones written since.
        for (tenant, agent) in agents {
            let mut profile = Agent {
                active_contact_ids: Vec::new(),
                session_open: false,
                ..agent
            };
            skills::normalize_skills(&mut profile.skills);
            self.tenant_mut(&tenant)
                .agents
                .insert(profile.agent_id.clone(), AgentState::new(profile));
        }
        for (tenant, mut queue) in queues {
            queue.required_skills = skills::requirements(queue.required_skills);
            self.tenant_mut(&tenant)
                .queues
                .insert(queue.queue_id.clone(), queue);
        }
        for mut record in contacts {
            let state = record.state();
            if state == ContactState::Ended {
                continue;
            }
            record.contact.required_skills =
                skills::requirements(std::mem::take(&mut record.contact.required_skills));
            if state == ContactState::Offered || state == ContactState::Unspecified {
                record.contact.state = ContactState::Queued as i32;
                record.contact.agent_id.clear();
            }
            let t = self.tenant_mut(&record.contact.tenant_id);
            let id = record.contact.contact_id.clone();
            if record.state() == ContactState::Connected
                && let Some(agent) = t.agents.get_mut(&record.contact.agent_id)
            {
                agent.active.insert(id.clone(), record.contact.channel);
            }
            if !record.contact.holding_agent_id.is_empty()
                && let Some(agent) = t.agents.get_mut(&record.contact.holding_agent_id)
            {
                let channel = if record.holding_channel != 0 {
                    record.holding_channel
                } else {
                    record.contact.channel
                };
                agent.active.insert(id.clone(), channel);
            }
            t.contacts.insert(
                id.clone(),
                LiveContact {
                    record,
                    excluded: BTreeSet::new(),
                    declined: BTreeMap::new(),
                    offer_id: None,
                },
            );
            // Every stored contact has its request time; one without goes first.
            t.sync(&id, SystemTime::UNIX_EPOCH);
        }
    }

    /// An agent of a tenant.
    pub fn agent(&self, tenant: &str, agent_id: &str) -> Option<&AgentState> {
        self.tenants.get(tenant)?.agents.get(agent_id)
    }

    /// A queue of a tenant.
    pub fn queue(&self, tenant: &str, queue_id: &str) -> Option<&Queue> {
        self.tenants.get(tenant)?.queues.get(queue_id)
    }

    /// A live (not ended) contact of a tenant.
    pub fn contact(&self, tenant: &str, contact_id: &str) -> Option<&LiveContact> {
        self.tenants.get(tenant)?.contacts.get(contact_id)
    }

    /// Every live contact of a tenant.
    pub fn contacts(&self, tenant: &str) -> impl Iterator<Item = &LiveContact> {
        self.tenants
            .get(tenant)
            .into_iter()
            .flat_map(|t| t.contacts.values())
    }

    /// Warm transfers waiting for an agent to accept them, as `(tenant, contact id, token
    /// id, queue escalation timeout in seconds or 0)`: after a restart their escalation
    /// timers start again.
    pub fn warm_transfers(&self) -> Vec<(String, String, String, u32)> {
        let mut pending = Vec::new();
        for (tenant, t) in &self.tenants {
            for live in t.contacts.values() {
                let c = &live.record.contact;
                if live.record.warm_origin.is_some() && !c.holding_agent_id.is_empty() {
                    pending.push((
                        tenant.clone(),
                        c.contact_id.clone(),
                        c.token_id.clone(),
                        escalation_secs(t, live.record.target()),
                    ));
                }
            }
        }
        pending
    }

    /// Every tenant that has state.
    pub fn tenant_ids(&self) -> impl Iterator<Item = &str> {
        self.tenants.keys().map(String::as_str)
    }

    /// How a tenant's offers ended since the last call (then counting starts again at zero).
    pub fn take_offer_tally(&mut self, tenant: &str) -> OfferTally {
        self.tenants
            .get_mut(tenant)
            .map(|t| std::mem::take(&mut t.tally))
            .unwrap_or_default()
    }

    /// A tenant's contacts waiting for an agent (queued, or offered and not yet accepted), by
    /// the tier they wait for.
    pub fn waiting_by_tier(&self, tenant: &str) -> BTreeMap<u32, i64> {
        self.tenants
            .get(tenant)
            .map(|t| t.queued.waiting_by_tier())
            .unwrap_or_default()
    }

    /// [`Self::waiting_by_tier`] counted from the contacts themselves (what the index must
    /// agree with).
    #[cfg(test)]
    fn waiting_by_tier_counted(&self, tenant: &str) -> BTreeMap<u32, i64> {
        let mut waiting = BTreeMap::new();
        for live in self.contacts(tenant) {
            if matches!(
                live.record.state(),
                ContactState::Queued | ContactState::Offered
            ) {
                *waiting.entry(live.record.contact.tier).or_insert(0) += 1;
            }
        }
        waiting
    }

    /// Creates or updates an agent. Returns the profile to store and the effects: an agent
    /// who stops being available loses their outstanding offers (the contacts go on to
    /// others); one who becomes available is offered waiting contacts.
    pub fn set_agent(
        &mut self,
        tenant: &str,
        update: AgentUpdate,
        now: SystemTime,
    ) -> (Agent, Vec<Effect>) {
        let t = self.tenant_mut(tenant);
        let agent = t.agents.entry(update.agent_id.clone()).or_insert_with(|| {
            AgentState::new(Agent {
                agent_id: update.agent_id.clone(),
                tier: 1,
                presence: Presence::Offline as i32,
                presence_since: Some(to_timestamp(now)),
                ..Agent::default()
            })
        });
        let p = &mut agent.profile;
        if let Some(presence) = update.presence {
            // Whatever the agent sets ends a wrap-up the router started.
            p.wrap_up_until = None;
            if p.presence != presence as i32 {
                p.presence = presence as i32;
                p.presence_since = Some(to_timestamp(now));
            }
        }
        if let Some(name) = update.display_name {
            p.display_name = name;
        }
        if let Some(tier) = update.tier {
            p.tier = tier.max(1);
        }
        if let Some(mut new_skills) = update.skills {
            skills::normalize_skills(&mut new_skills);
            p.skills = new_skills;
        }
        if let Some(capacities) = update.capacities {
            p.capacities = capacities;
        }
        if let Some(queue_ids) = update.queue_ids {
            p.queue_ids = queue_ids;
        }
        if let Some(team) = update.team {
            p.team = team;
        }
        if update.presence == Some(Presence::Available) && agent.active.is_empty() {
            agent.idle_since = Some(now);
        }
        let profile = agent.profile.clone();
        let mut effects = Vec::new();
        if profile.presence != Presence::Available as i32 {
            let offered: Vec<String> = offered_to(t, &profile.agent_id);
            for contact_id in offered {
                effects.extend(withdraw(
                    t,
                    &contact_id,
                    "agent is no longer available",
                    now,
                ));
            }
        }
        effects.extend(self.dispatch(tenant, now));
        (profile, effects)
    }

    /// Creates or replaces a queue (tier 0 reads as 1). Waiting contacts are reconsidered,
    /// since the queue's skills or tier may have changed who can take them.
    pub fn upsert_queue(
        &mut self,
        tenant: &str,
        mut queue: Queue,
        now: SystemTime,
    ) -> (Queue, Vec<Effect>) {
        queue.tier = queue.tier.max(1);
        queue.required_skills = skills::requirements(queue.required_skills);
        self.tenant_mut(tenant)
            .queues
            .insert(queue.queue_id.clone(), queue.clone());
        (queue, self.dispatch(tenant, now))
    }

    /// Opens a desktop session for an existing agent that has none open. A second session is
    /// refused (`AlreadyExists`) and the first keeps its offers: a session is never taken
    /// over. Returns the agent as it was when the session opened, then the offers it gets.
    pub fn open_session(
        &mut self,
        tenant: &str,
        agent_id: &str,
        session: u64,
        now: SystemTime,
    ) -> Result<(Agent, Vec<Effect>), Error> {
        let t = self.tenant_mut(tenant);
        let Some(agent) = t.agents.get_mut(agent_id) else {
            return Err(Error::NotFound {
                kind: "agent",
                id: agent_id.to_owned(),
            });
        };
        if agent.session.is_some() {
            return Err(Error::AlreadyExists(format!(
                "agent {agent_id} already has an open session on this server; close it first"
            )));
        }
        agent.session = Some(session);
        if agent.active.is_empty() {
            agent.idle_since = Some(now);
        }
        let view = agent.view();
        Ok((view, self.dispatch(tenant, now)))
    }

    /// Closes an agent's session if `session` is still the current one; its outstanding
    /// offers go back to waiting and on to other agents. Connected contacts stay connected.
    pub fn close_session(
        &mut self,
        tenant: &str,
        agent_id: &str,
        session: u64,
        now: SystemTime,
    ) -> Vec<Effect> {
        let Some(t) = self.tenants.get_mut(tenant) else {
            return Vec::new();
        };
        let Some(agent) = t.agents.get_mut(agent_id) else {
            return Vec::new();
        };
        if agent.session != Some(session) {
            return Vec::new();
        }
        agent.session = None;
        for contact_id in offered_to(t, agent_id) {
            withdraw(t, &contact_id, "session closed", now);
        }
        self.dispatch(tenant, now)
    }

    /// The live record of a contact (empty if gone, which callers rule out).
    fn record(&self, tenant: &str, contact_id: &str) -> ContactRecord {
        self.contact(tenant, contact_id)
            .map(|c| c.record.clone())
            .unwrap_or_default()
    }

    /// Where a contact is: its state, queue, agent and, while waiting, its position among the
    /// contacts waiting for the same target (from 1).
    pub fn placement(&self, tenant: &str, contact_id: &str, now: SystemTime) -> Placement {
        let Some(live) = self.contact(tenant, contact_id) else {
            return Placement::default();
        };
        let c = &live.record.contact;
        let mut placement = Placement {
            state: c.state,
            queue_id: c.queue_id.clone(),
            position: 0,
            agent_id: c.agent_id.clone(),
        };
        if c.state == ContactState::Queued as i32
            && let Some(ahead) = self
                .tenants
                .get(tenant)
                .and_then(|t| t.queued.ahead_of(contact_id, now, self.aging))
        {
            placement.position = u32::try_from(ahead + 1).unwrap_or(u32::MAX);
        }
        placement
    }

    /// Offers waiting contacts, highest effective priority first, each to its best eligible
    /// agent. One pass suffices: an offer only ever uses capacity up, so a contact nobody
    /// could take cannot become takeable later in the same pass.
    fn dispatch(&mut self, tenant: &str, now: SystemTime) -> Vec<Effect> {
        let aging = self.aging;
        let Some(t) = self.tenants.get_mut(tenant) else {
            return Vec::new();
        };
        // The agents who could take anything now (available, at a desk, with room on some
        // channel) are the only ones worth asking: on a busy floor, few of many.
        let free: Vec<String> = t
            .agents
            .values()
            .filter(|a| may_take_some(a, None))
            .map(|a| a.id().to_owned())
            .collect();
        if free.is_empty() {
            return Vec::new();
        }
        // Only contacts some free agent could take are looked at: a target none of them
        // serves is skipped whole, however many contacts wait for it.
        let mut waiting: Vec<_> = t
            .queued
            .groups()
            .filter(|g| {
                free.iter()
                    .filter_map(|id| t.agents.get(id))
                    .any(|a| may_take_some(a, g.target.as_ref()))
            })
            .flat_map(|g| t.queued.members(g))
            .map(|(priority, requested_at, id)| {
                (
                    queue_order_key(priority, requested_at, id, now, aging),
                    id.to_owned(),
                )
            })
            .collect();
        waiting.sort();
        let mut effects = Vec::new();
        let mut widens: Option<SystemTime> = None;
        for (_, contact_id) in waiting {
            let Some(live) = t.contacts.get(&contact_id) else {
                continue;
            };
            let c = &live.record.contact;
            let queue = match live.record.target() {
                Some(Target::QueueId(q)) => t.queues.get(q),
                _ => None,
            };
            let queue_skills = queue
                .map(|q| q.required_skills.as_slice())
                .unwrap_or_default();
            let mut skills = merge_requirements(&c.required_skills, queue_skills);
            let widening = queue.and_then(|q| q.widening.as_ref());
            let started = hop_started(c, now);
            let preferred = t.agents.get(&c.preferred_agent_id);
            let team_present = preferred.is_some_and(|p| {
                !p.profile.team.is_empty()
                    && t.agents
                        .values()
                        .any(|a| a.profile.team == p.profile.team && a.is_present())
            });
            let waited = now.duration_since(started).unwrap_or_default();
            let stage = stage(widening, waited, preferred, team_present);
            if stage.relaxed {
                skills = relax(&skills, widening.map_or(0, |w| w.relax_levels));
            }
            let demand = Demand {
                channel: c.channel,
                skills: &skills,
                target: live.record.target(),
                preferred_agent_id: &c.preferred_agent_id,
                excluded: &live.excluded,
                declined: &live.declined,
                ring: stage.ring,
                selection: queue.map_or(AgentSelection::Unspecified, Queue::agent_selection),
            };
            let free_agents = free.iter().filter_map(|id| t.agents.get(id));
            let Some(agent_id) = choose(free_agents, &demand).map(|a| a.id().to_owned()) else {
                if let Some(after) = stage.changes_at {
                    let at = started + after;
                    widens = Some(widens.map_or(at, |w| w.min(at)));
                }
                continue;
            };
            self.offer_seq += 1;
            effects.extend(offer(t, &contact_id, &agent_id, self.offer_seq, now));
        }
        if let Some(at) = widens {
            effects.push(Effect::Widen {
                tenant_id: tenant.to_owned(),
                at,
            });
        }
        effects
    }

    /// Ends the wrap-up of `agent_id` that was to end at `until`, if it still stands (the
    /// agent set no presence since): the agent is available again and offered waiting
    /// contacts. Returns the profile to store, or `None` when nothing changed.
    pub fn wrap_up_over(
        &mut self,
        tenant: &str,
        agent_id: &str,
        until: SystemTime,
        now: SystemTime,
    ) -> Option<(Agent, Vec<Effect>)> {
        let agent = self.tenants.get_mut(tenant)?.agents.get_mut(agent_id)?;
        let p = &mut agent.profile;
        if p.presence != Presence::WrapUp as i32 || p.wrap_up_until != Some(to_timestamp(until)) {
            return None;
        }
        p.presence = Presence::Available as i32;
        p.presence_since = Some(to_timestamp(now));
        p.wrap_up_until = None;
        if agent.active.is_empty() {
            agent.idle_since = Some(now);
        }
        let profile = agent.profile.clone();
        Some((profile, self.dispatch(tenant, now)))
    }

    /// Agents in a wrap-up the router started, with when it ends (to time them again after
    /// a restart): `(tenant, agent, until)`.
    pub fn wrap_ups(&self) -> Vec<(String, String, SystemTime)> {
        let mut all = Vec::new();
        for (tenant, t) in &self.tenants {
            for agent in t.agents.values() {
                if agent.profile.presence == Presence::WrapUp as i32
                    && let Some(until) = &agent.profile.wrap_up_until
                {
                    let until = baton_runtime::time::from_timestamp(until);
                    all.push((tenant.clone(), agent.id().to_owned(), until));
                }
            }
        }
        all
    }

    /// Offers waiting contacts whose widening has widened since the last offers were made
    /// (see [`Effect::Widen`]).
    pub fn widen(&mut self, tenant: &str, now: SystemTime) -> Vec<Effect> {
        self.dispatch(tenant, now)
    }

    fn check_offer(
        &self,
        tenant: &str,
        agent_id: &str,
        session: u64,
        offer_id: &str,
    ) -> Result<String, Error> {
        let not_open = || Error::FailedPrecondition(format!("offer {offer_id} is no longer open"));
        let t = self.tenants.get(tenant).ok_or_else(not_open)?;
        let contact_id = t.offers.get(offer_id).ok_or_else(not_open)?;
        let live = t.contacts.get(contact_id).ok_or_else(not_open)?;
        let agent = t.agents.get(agent_id).ok_or_else(not_open)?;
        if live.record.contact.agent_id != agent_id || agent.session != Some(session) {
            return Err(not_open());
        }
        Ok(contact_id.clone())
    }

    fn tenant_mut(&mut self, tenant: &str) -> &mut TenantState {
        self.tenants.entry(tenant.to_owned()).or_default()
    }
}

/// The escalation timeout of a transfer to `target`: its queue's, or 0 for the default.
fn escalation_secs(t: &TenantState, target: Option<&Target>) -> u32 {
    match target {
        Some(Target::QueueId(q)) => t.queues.get(q).map_or(0, |q| q.escalation_timeout_secs),
        _ => 0,
    }
}

/// When the contact's current hop began (its start or latest transfer): what widening and
/// the queue wait count from.
fn hop_started(c: &Contact, now: SystemTime) -> SystemTime {
    c.path
        .last()
        .and_then(|h| h.at.as_ref())
        .or(c.requested_at.as_ref())
        .map_or(now, baton_runtime::time::from_timestamp)
}

/// Contacts with an outstanding offer to `agent_id`.
fn offered_to(t: &TenantState, agent_id: &str) -> Vec<String> {
    let mut ids: Vec<String> = t
        .contacts
        .values()
        .filter(|l| l.offer_id.is_some() && l.record.contact.agent_id == agent_id)
        .map(|l| l.record.contact.contact_id.clone())
        .collect();
    ids.sort();
    ids
}

/// Offers a waiting contact to an agent chosen as eligible.
fn offer(
    t: &mut TenantState,
    contact_id: &str,
    agent_id: &str,
    seq: u64,
    now: SystemTime,
) -> Option<Effect> {
    let live = t.contacts.get_mut(contact_id)?;
    let agent = t.agents.get_mut(agent_id)?;
    let session = agent.session?;
    let offer_id = ids::offer_id();
    agent.last_offer = seq;
    agent
        .active
        .insert(contact_id.to_owned(), live.record.contact.channel);
    live.offer_id = Some(offer_id.clone());
    let c = &mut live.record.contact;
    c.state = ContactState::Offered as i32;
    c.agent_id = agent_id.to_owned();
    c.state_since = Some(to_timestamp(now));
    let effect = Effect::Offer {
        tenant_id: c.tenant_id.clone(),
        agent_id: agent_id.to_owned(),
        session,
        offer_id: offer_id.clone(),
        contact: Box::new(c.clone()),
        token: live.record.token.clone(),
    };
    t.offers.insert(offer_id, contact_id.to_owned());
    t.tally.offered += 1;
    t.sync(contact_id, now);
    Some(effect)
}

/// Takes back a contact's outstanding offer, if any: the agent's capacity is freed and the
/// contact waits again. Returns the message for the agent's session, if one is open.
fn withdraw(
    t: &mut TenantState,
    contact_id: &str,
    reason: &'static str,
    now: SystemTime,
) -> Option<Effect> {
    let live = t.contacts.get_mut(contact_id)?;
    let offer_id = live.offer_id.take()?;
    t.offers.remove(&offer_id);
    match reason {
        REJECTED => t.tally.rejected += 1,
        TIMED_OUT => t.tally.timed_out += 1,
        _ => t.tally.withdrawn += 1,
    }
    let c = &mut live.record.contact;
    let agent_id = std::mem::take(&mut c.agent_id);
    c.state = ContactState::Queued as i32;
    c.state_since = Some(to_timestamp(now));
    let tenant_id = c.tenant_id.clone();
    t.sync(contact_id, now);
    let agent = t.agents.get_mut(&agent_id)?;
    agent.release(contact_id, now);
    Some(Effect::Withdrawn {
        tenant_id,
        agent_id,
        session: agent.session?,
        offer_id,
        contact_id: contact_id.to_owned(),
        reason,
    })
}

mod moves;
mod queued;
pub mod stats;

#[cfg(test)]
mod tests;
