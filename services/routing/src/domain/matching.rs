//! Which agents may take a contact, which one gets it, and which waiting contact goes first.
//!
//! Pure functions over plain data. The invariants the property tests hold them to: an offer
//! never goes to an ineligible agent, never takes an agent over capacity on a channel, and a
//! contact is never offered to two agents at once (the last is the state machine's job; these
//! functions pick at most one agent).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use baton_proto::v1::{
    Agent, AgentSelection, Channel, Presence, SkillRequirement, Widening, audience::Target,
};

/// An agent as the router sees it: the stored profile plus what only exists while running.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentState {
    /// The durable profile (skills, tier, capacities, queues, presence). Its
    /// `active_contact_ids` and `session_open` are left empty: they are derived below.
    pub profile: Agent,
    /// The open desktop session, if any; offers go only to agents with one.
    pub session: Option<u64>,
    /// Contacts offered to, connected to or held by the agent, with the channel each uses
    /// up capacity on.
    pub active: BTreeMap<String, i32>,
    /// The router's offer counter when this agent last got an offer (0: never), so the agent
    /// who waited longest for work goes first among equals.
    pub last_offer: u64,
    /// Since when the agent has had no contact and been available (their last contact left
    /// them, they became available or opened their desk); `None`: since before this process
    /// started, which counts as longest.
    pub idle_since: Option<SystemTime>,
}

impl AgentState {
    /// An agent with this profile, no session and no contacts.
    pub fn new(profile: Agent) -> Self {
        Self {
            profile,
            ..Self::default()
        }
    }

    /// The agent id.
    pub fn id(&self) -> &str {
        &self.profile.agent_id
    }

    /// How many contacts the agent may have on `channel` at once.
    pub fn capacity_on(&self, channel: i32) -> u32 {
        self.profile
            .capacities
            .iter()
            .filter(|c| c.channel == channel)
            .map(|c| c.max_contacts)
            .max()
            .unwrap_or(0)
    }

    /// How many contacts the agent has on `channel` now (offered ones count).
    pub fn active_on(&self, channel: i32) -> u32 {
        let n = self.active.values().filter(|c| **c == channel).count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The agent's proficiency in `skill` (0 without it).
    pub fn proficiency(&self, skill: &str) -> u32 {
        self.profile
            .skills
            .iter()
            .filter(|s| s.name == skill)
            .map(|s| s.proficiency)
            .max()
            .unwrap_or(0)
    }

    /// Takes `contact_id` off the agent; one left with nothing is idle from `now`.
    pub fn release(&mut self, contact_id: &str, now: SystemTime) {
        if self.active.remove(contact_id).is_some() && self.active.is_empty() {
            self.idle_since = Some(now);
        }
    }

    /// Whether a contact on `channel` is shut out by the agent's contacts on other channels:
    /// one of them is on an exclusive channel, or `channel` itself is exclusive and the agent
    /// has something elsewhere.
    pub fn blocked_on(&self, channel: i32) -> bool {
        let exclusive = |ch: i32| {
            self.profile
                .capacities
                .iter()
                .any(|c| c.channel == ch && c.exclusive)
        };
        self.active
            .values()
            .any(|&ch| ch != channel && (exclusive(ch) || exclusive(channel)))
    }

    /// Whether the agent has room for one more contact on `channel`: free capacity there and
    /// nothing elsewhere that shuts it out.
    pub fn has_room_on(&self, channel: i32) -> bool {
        self.capacity_on(channel) > self.active_on(channel) && !self.blocked_on(channel)
    }

    /// Whether the agent is at a desk and working: a session open and available, or in
    /// wrap-up (about to be free). Widening waits only for agents who are.
    pub fn is_present(&self) -> bool {
        self.session.is_some()
            && (self.profile.presence == Presence::Available as i32
                || self.profile.presence == Presence::WrapUp as i32)
    }

    /// How full the agent is, in millionths of their total capacity.
    fn occupancy(&self) -> u64 {
        let capacity: u64 = self
            .profile
            .capacities
            .iter()
            .map(|c| u64::from(c.max_contacts))
            .sum();
        let active = self.active.len() as u64;
        (active * 1_000_000)
            .checked_div(capacity)
            .unwrap_or(u64::MAX)
    }

    /// Channels the agent takes contacts on (capacity above zero).
    pub fn channels(&self) -> Vec<i32> {
        let mut channels: Vec<i32> = self
            .profile
            .capacities
            .iter()
            .filter(|c| c.max_contacts > 0)
            .map(|c| c.channel)
            .collect();
        channels.sort_unstable();
        channels.dedup();
        channels
    }

    /// The agent as callers see it: profile plus session and active contacts.
    pub fn view(&self) -> Agent {
        Agent {
            active_contact_ids: self.active.keys().cloned().collect(),
            session_open: self.session.is_some(),
            ..self.profile.clone()
        }
    }
}

/// What a contact needs from an agent on its current hop.
#[derive(Debug, Clone, Copy)]
pub struct Demand<'a> {
    /// The channel the contact is on; the agent needs free capacity on it.
    pub channel: i32,
    /// Every skill needed (the contact's and its queue's), already merged.
    pub skills: &'a [SkillRequirement],
    /// The tier, queue, agent or channel the contact is for.
    pub target: Option<&'a Target>,
    /// The agent the customer prefers; wins whenever eligible.
    pub preferred_agent_id: &'a str,
    /// Agents never to be offered it on this hop (the one who transferred it).
    pub excluded: &'a BTreeSet<String>,
    /// Agents who rejected it (or let an offer lapse) on this hop: offered it again only
    /// once their cool-down is over, and only when nobody else can take it now.
    pub declined: &'a BTreeMap<String, Declined>,
    /// Who may be offered it now, as its queue's widening stands.
    pub ring: Ring<'a>,
    /// How the queue chooses among those who may.
    pub selection: AgentSelection,
}

/// The agents a waiting contact may be offered to now (bullseye routing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ring<'a> {
    /// Only its preferred agent.
    Preferred,
    /// Its preferred agent and the agents of this team.
    Team(&'a str),
    /// Every agent able to.
    Everyone,
}

/// Where a waiting contact stands in its queue's widening.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage<'a> {
    /// Who may be offered it now.
    pub ring: Ring<'a>,
    /// Whether its proficiency requirements are relaxed.
    pub relaxed: bool,
    /// How long after starting its hop the stage next changes by itself, if it does.
    pub changes_at: Option<Duration>,
}

/// The widening stage of a contact that has waited `waited` on its hop, whose preferred
/// agent (if any) is `preferred`, with `team_present` telling whether any agent of that
/// agent's team is present ([`AgentState::is_present`]). A ring nobody present is in is
/// skipped at once: a preferred agent who is away or offline does not hold the contact.
pub fn stage<'a>(
    widening: Option<&Widening>,
    waited: Duration,
    preferred: Option<&'a AgentState>,
    team_present: bool,
) -> Stage<'a> {
    let Some(w) = widening else {
        return Stage {
            ring: Ring::Everyone,
            relaxed: false,
            changes_at: None,
        };
    };
    let secs = Duration::from_secs;
    let mut changes: Vec<Duration> = Vec::new();
    let relax_at = (w.relax_after_secs > 0).then(|| secs(w.relax_after_secs.into()));
    let relaxed = relax_at.is_some_and(|at| waited >= at);
    if let Some(at) = relax_at.filter(|_| !relaxed) {
        changes.push(at);
    }
    let preferred_until = secs(w.preferred_agent_secs.into());
    let team_until = preferred_until + secs(w.team_secs.into());
    let ring = match preferred {
        Some(agent) if waited < preferred_until && agent.is_present() => {
            changes.push(preferred_until);
            Ring::Preferred
        }
        Some(agent) if waited < team_until && !agent.profile.team.is_empty() && team_present => {
            changes.push(team_until);
            Ring::Team(&agent.profile.team)
        }
        _ => Ring::Everyone,
    };
    Stage {
        ring,
        relaxed,
        changes_at: changes.into_iter().min(),
    }
}

/// `requirements` with every minimum proficiency lowered by `levels`, never below 1.
pub fn relax(requirements: &[SkillRequirement], levels: u32) -> Vec<SkillRequirement> {
    requirements
        .iter()
        .map(|r| SkillRequirement {
            name: r.name.clone(),
            min_proficiency: r.min_proficiency.max(1).saturating_sub(levels).max(1),
        })
        .collect()
}

/// An agent's refusal of a contact on one hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declined {
    /// The offer refused; only the cool-down started for it may end it (a later refusal
    /// starts a new one).
    pub offer_id: String,
    /// Whether the cool-down is over: the agent may be offered the contact again when
    /// nobody else can take it.
    pub cooled: bool,
}

/// Whether `agent` may be offered a contact with `demand` now, before any agent who
/// declined it. Tenancy is structural: the router only ever asks about agents of the
/// contact's own tenant.
pub fn is_eligible(agent: &AgentState, demand: &Demand<'_>) -> bool {
    is_able(agent, demand) && !demand.declined.contains_key(agent.id())
}

/// Whether `agent`, who declined a contact with `demand`, may be offered it again now that
/// nobody else can take it: its cool-down is over and it is able to.
fn may_retry(agent: &AgentState, demand: &Demand<'_>) -> bool {
    demand.declined.get(agent.id()).is_some_and(|d| d.cooled) && is_able(agent, demand)
}

/// Whether `agent` could take some contact for `target` now, whatever its channel and skills:
/// available, at a desk, inside the target and with free capacity on some channel. What every
/// eligible agent is, so a target nobody is this for has no eligible agent at all.
pub fn may_take_some(agent: &AgentState, target: Option<&Target>) -> bool {
    agent.profile.presence == Presence::Available as i32
        && agent.session.is_some()
        && serves_target(agent, target)
        && agent
            .profile
            .capacities
            .iter()
            .any(|c| agent.has_room_on(c.channel))
}

/// Whether `agent` could take a contact with `demand` now, leaving refusals aside.
fn is_able(agent: &AgentState, demand: &Demand<'_>) -> bool {
    agent.profile.presence == Presence::Available as i32
        && agent.session.is_some()
        && agent.has_room_on(demand.channel)
        && in_ring(agent, demand)
        && demand
            .skills
            .iter()
            .all(|req| agent.proficiency(&req.name) >= req.min_proficiency.max(1))
        && serves_target(agent, demand.target)
        && !demand.excluded.contains(agent.id())
}

/// Whether the agent is inside the ring a contact may be offered to now.
fn in_ring(agent: &AgentState, demand: &Demand<'_>) -> bool {
    match demand.ring {
        Ring::Everyone => true,
        Ring::Preferred => agent.id() == demand.preferred_agent_id,
        Ring::Team(team) => agent.id() == demand.preferred_agent_id || agent.profile.team == team,
    }
}

/// Whether the agent is inside the audience a contact's target names. The same rules the
/// token's audience check applies, so an offered agent can always open the token it gets.
pub fn serves_target(agent: &AgentState, target: Option<&Target>) -> bool {
    match target {
        // No target: any agent of the tenant (never produced by routing itself).
        None => true,
        Some(Target::Tier(tier)) => *tier != 0 && agent.profile.tier == *tier,
        Some(Target::QueueId(queue)) => agent.profile.queue_ids.iter().any(|q| q == queue),
        Some(Target::AgentId(id)) => agent.id() == id,
        Some(Target::Channel(channel)) => agent.capacity_on(*channel) > 0,
    }
}

/// What a contact will need of its next agent, whatever that agent is doing now.
#[derive(Debug, Clone, Copy)]
pub struct Need<'a> {
    /// The channel the contact will be on.
    pub channel: i32,
    /// Every skill needed (the contact's, the transfer's and the queue's), merged.
    pub skills: &'a [SkillRequirement],
    /// The tier, queue, agent or channel it will be for.
    pub target: &'a Target,
    /// An agent who will never be offered it (the one transferring it), or empty.
    pub except: &'a str,
}

/// Why no agent among `agents` could ever take a contact with `need`, counting every
/// registered agent whatever its presence, session or current load (those change by
/// themselves; a tier, queue list, channel capacity or skill set changes only when someone
/// edits the agent). `None` when at least one could. The reason names the first thing
/// nobody has: the target, then the channel, then a skill at its proficiency, then the skills
/// together.
pub fn unservable<'a>(
    agents: impl IntoIterator<Item = &'a AgentState>,
    need: &Need<'_>,
) -> Option<String> {
    let target = describe(need.target);
    let serving: Vec<&AgentState> = agents
        .into_iter()
        .filter(|a| a.id() != need.except && serves_target(a, Some(need.target)))
        .collect();
    if serving.is_empty() {
        return Some(format!("no registered agent serves {target}"));
    }
    let channel = channel_name(need.channel);
    let on_channel: Vec<&AgentState> = serving
        .into_iter()
        .filter(|a| a.capacity_on(need.channel) > 0)
        .collect();
    if on_channel.is_empty() {
        return Some(format!(
            "no registered agent serving {target} takes {channel} contacts"
        ));
    }
    let has = |a: &AgentState, req: &SkillRequirement| {
        a.proficiency(&req.name) >= req.min_proficiency.max(1)
    };
    for req in need.skills {
        if !on_channel.iter().any(|a| has(a, req)) {
            return Some(format!(
                "no registered agent serving {target} on {channel} has skill {} at \
                 proficiency {} or more",
                req.name,
                req.min_proficiency.max(1)
            ));
        }
    }
    if !on_channel
        .iter()
        .any(|a| need.skills.iter().all(|req| has(a, req)))
    {
        let all: Vec<String> = need
            .skills
            .iter()
            .map(|r| format!("{} ({}+)", r.name, r.min_proficiency.max(1)))
            .collect();
        return Some(format!(
            "no registered agent serving {target} on {channel} has all of {}",
            all.join(", ")
        ));
    }
    None
}

/// A target as a message names it.
fn describe(target: &Target) -> String {
    match target {
        Target::Tier(tier) => format!("tier {tier}"),
        Target::QueueId(queue) => format!("queue {queue}"),
        Target::AgentId(agent) => format!("agent {agent}"),
        Target::Channel(channel) => format!("{} contacts", channel_name(*channel)),
    }
}

/// A channel as a message names it: "voice", "chat".
fn channel_name(channel: i32) -> String {
    Channel::try_from(channel)
        .map(|c| {
            c.as_str_name()
                .trim_start_matches("CHANNEL_")
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|_| format!("channel {channel}"))
}

/// The agent to offer a contact to: the preferred agent when eligible; otherwise the eligible
/// agent the queue's [`AgentSelection`] ranks first (ties end on the smallest id, so the
/// choice is deterministic). When no agent is eligible, the same choice among the agents who
/// declined it and whose cool-down is over.
pub fn choose<'a>(
    agents: impl IntoIterator<Item = &'a AgentState> + Clone,
    demand: &Demand<'_>,
) -> Option<&'a AgentState> {
    pick(
        agents
            .clone()
            .into_iter()
            .filter(|a| is_eligible(a, demand)),
        demand,
    )
    .or_else(|| pick(agents.into_iter().filter(|a| may_retry(a, demand)), demand))
}

/// The best of `candidates` for `demand` (see [`choose`]).
fn pick<'a>(
    candidates: impl Iterator<Item = &'a AgentState>,
    demand: &Demand<'_>,
) -> Option<&'a AgentState> {
    let eligible: Vec<&AgentState> = candidates.collect();
    if !demand.preferred_agent_id.is_empty()
        && let Some(preferred) = eligible
            .iter()
            .find(|a| a.id() == demand.preferred_agent_id)
    {
        return Some(preferred);
    }
    let proficiency = |a: &AgentState| -> u32 {
        demand
            .skills
            .iter()
            .map(|req| a.proficiency(&req.name))
            .sum()
    };
    // Idle agents first, longest idle first; busy ones after (their `idle_since` is stale).
    let idle = |a: &AgentState| (!a.active.is_empty(), a.idle_since);
    match demand.selection {
        AgentSelection::LongestIdle => eligible
            .into_iter()
            .min_by_key(|a| (idle(a), a.occupancy(), a.last_offer, a.id().to_owned())),
        AgentSelection::MostProficient => eligible.into_iter().min_by_key(|a| {
            (
                Reverse(proficiency(a)),
                a.occupancy(),
                idle(a),
                a.id().to_owned(),
            )
        }),
        AgentSelection::LeastOccupied | AgentSelection::Unspecified => {
            eligible.into_iter().min_by_key(|a| {
                (
                    a.occupancy(),
                    Reverse(proficiency(a)),
                    idle(a),
                    a.last_offer,
                    a.id().to_owned(),
                )
            })
        }
    }
}

/// A contact's priority after waiting: one step up per `aging` waited since `requested_at`.
pub fn effective_priority(
    priority: i32,
    requested_at: SystemTime,
    now: SystemTime,
    aging: Duration,
) -> i64 {
    let waited = now.duration_since(requested_at).unwrap_or_default();
    let steps = if aging.is_zero() {
        0
    } else {
        i64::try_from(waited.as_nanos() / aging.as_nanos()).unwrap_or(i64::MAX)
    };
    i64::from(priority).saturating_add(steps)
}

/// The order waiting contacts are served in: highest effective priority first, then the
/// earliest request, then the smallest id. Returns a key to sort ascending by.
pub fn queue_order_key(
    priority: i32,
    requested_at: SystemTime,
    contact_id: &str,
    now: SystemTime,
    aging: Duration,
) -> (Reverse<i64>, SystemTime, String) {
    (
        Reverse(effective_priority(priority, requested_at, now, aging)),
        requested_at,
        contact_id.to_owned(),
    )
}

/// `a` and `b` merged by skill name, keeping the higher minimum (0 read as 1), sorted by name.
pub fn merge_requirements(a: &[SkillRequirement], b: &[SkillRequirement]) -> Vec<SkillRequirement> {
    let mut merged: BTreeMap<&str, u32> = BTreeMap::new();
    for req in a.iter().chain(b) {
        let min = req.min_proficiency.max(1);
        merged
            .entry(req.name.as_str())
            .and_modify(|m| *m = (*m).max(min))
            .or_insert(min);
    }
    merged
        .into_iter()
        .map(|(name, min_proficiency)| SkillRequirement {
            name: name.to_owned(),
            min_proficiency,
        })
        .collect()
}

#[cfg(test)]
mod tests;
