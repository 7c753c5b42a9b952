//! What a supervisor sees: each queue's figures (depth, oldest wait, agents who serve it,
//! service level) and each agent's load, read from the live state.
//!
//! Depth and oldest wait come from the index of queued contacts (`state::queued`), never
//! from going through the contacts. The agents serving a page of queues are counted in one
//! pass over the tenant's agents for the whole page. Service level is counted from the
//! outcomes kept here as contacts leave a queue: answered (an agent accepted) or abandoned
//! (ended while waiting).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use baton_proto::v1::{
    AgentStatus, ChannelLoad, Presence, Queue, QueueStats, ServiceLevel, audience::Target,
};
use baton_runtime::time::{from_timestamp, to_timestamp};

use super::queued::Group;
use super::{RoutingState, TenantState};
use crate::domain::matching::{AgentState, may_take_some};
use crate::domain::record::ContactRecord;

/// How far back a queue's service level looks.
pub const SERVICE_LEVEL_WINDOW: Duration = Duration::from_secs(15 * 60);

/// At most this many outcomes are kept per queue: past it the oldest go first, so the window
/// of a very busy queue may be shorter than [`SERVICE_LEVEL_WINDOW`].
pub const MAX_OUTCOMES_PER_QUEUE: usize = 10_000;

/// The largest page a list returns, and the size of a page asked for with 0.
pub const MAX_PAGE: usize = 500;
const DEFAULT_PAGE: usize = 100;

/// Which agents a listing shows; empty fields do not filter.
#[derive(Debug, Clone, Copy, Default)]
pub struct AgentFilter<'a> {
    /// Only agents serving this queue.
    pub queue_id: &'a str,
    /// Only agents of this team.
    pub team: &'a str,
}

impl<'a> AgentFilter<'a> {
    /// Only agents serving `queue_id`.
    pub fn queue(queue_id: &'a str) -> Self {
        Self { queue_id, team: "" }
    }

    /// Whether `agent` is listed.
    fn admits(&self, agent: &AgentState) -> bool {
        (self.queue_id.is_empty() || agent.profile.queue_ids.iter().any(|q| q == self.queue_id))
            && (self.team.is_empty() || agent.profile.team == self.team)
    }
}

/// How one contact left a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Outcome {
    /// When it left.
    at: SystemTime,
    /// How long it had waited since the customer first asked, if an agent accepted it;
    /// `None` when it ended while waiting.
    answered_after: Option<Duration>,
}

/// Outcomes per queue, oldest first.
#[derive(Debug, Default)]
pub(super) struct Outcomes {
    by_queue: HashMap<String, VecDeque<Outcome>>,
}

impl Outcomes {
    fn push(&mut self, queue_id: &str, outcome: Outcome) {
        let kept = self.by_queue.entry(queue_id.to_owned()).or_default();
        while kept.front().is_some_and(|o| {
            outcome.at.duration_since(o.at).unwrap_or_default() > SERVICE_LEVEL_WINDOW
        }) || kept.len() >= MAX_OUTCOMES_PER_QUEUE
        {
            kept.pop_front();
        }
        kept.push_back(outcome);
    }

    /// The service level of `queue` at `now`; `None` when it sets no target.
    fn service_level(&self, queue: &Queue, now: SystemTime) -> Option<ServiceLevel> {
        if queue.service_level_answer_secs == 0 && queue.service_level_percent == 0 {
            return None;
        }
        let target = Duration::from_secs(u64::from(queue.service_level_answer_secs));
        let mut level = ServiceLevel {
            answer_secs: queue.service_level_answer_secs,
            target_percent: queue.service_level_percent,
            window_secs: u32::try_from(SERVICE_LEVEL_WINDOW.as_secs()).unwrap_or(u32::MAX),
            ..ServiceLevel::default()
        };
        let recent = self
            .by_queue
            .get(&queue.queue_id)
            .into_iter()
            .flatten()
            .filter(|o| now.duration_since(o.at).unwrap_or_default() <= SERVICE_LEVEL_WINDOW);
        for outcome in recent {
            match outcome.answered_after {
                Some(waited) => {
                    level.answered += 1;
                    if waited <= target {
                        level.answered_in_target += 1;
                    }
                }
                None => level.abandoned += 1,
            }
        }
        let left = level.answered + level.abandoned;
        level.achieved = if left == 0 {
            1.0
        } else {
            f64::from(level.answered_in_target) / f64::from(left)
        };
        level.met = level.achieved * 100.0 >= f64::from(queue.service_level_percent);
        Some(level)
    }
}

/// The queue a contact waits in, if its target is one.
fn queue_of(record: &ContactRecord) -> Option<&str> {
    match record.target() {
        Some(Target::QueueId(q)) => Some(q),
        _ => None,
    }
}

impl TenantState {
    /// Notes that an agent accepted `record` at `now`, for its queue's service level.
    pub(super) fn answered(&mut self, record: &ContactRecord, now: SystemTime) {
        if let Some(queue) = queue_of(record) {
            let requested = record
                .contact
                .requested_at
                .as_ref()
                .map_or(now, from_timestamp);
            self.outcomes.push(
                queue,
                Outcome {
                    at: now,
                    answered_after: Some(now.duration_since(requested).unwrap_or_default()),
                },
            );
        }
    }

    /// Notes that `record` ended at `now` while waiting for an agent.
    pub(super) fn abandoned(&mut self, record: &ContactRecord, now: SystemTime) {
        if let Some(queue) = queue_of(record) {
            self.outcomes.push(
                queue,
                Outcome {
                    at: now,
                    answered_after: None,
                },
            );
        }
    }

    /// The figures of `queues`, with the agents serving them counted in one pass.
    fn figures(&self, queues: &[&Queue], now: SystemTime) -> Vec<QueueStats> {
        let mut stats: Vec<QueueStats> = queues
            .iter()
            .map(|q| {
                let target = Target::QueueId(q.queue_id.clone());
                let f = self.queued.figures(&Group {
                    target: Some(target),
                });
                let oldest_wait = f
                    .oldest
                    .map(|at| now.duration_since(at).unwrap_or_default())
                    .unwrap_or_default();
                QueueStats {
                    queue: Some((*q).clone()),
                    channels: Vec::new(),
                    depth: count(f.depth),
                    offered: count(f.offered),
                    oldest_requested_at: f.oldest.map(to_timestamp),
                    oldest_wait_ms: u64::try_from(oldest_wait.as_millis()).unwrap_or(u64::MAX),
                    agents_logged_in: 0,
                    agents_available: 0,
                    service_level: self.outcomes.service_level(q, now),
                    as_of: Some(to_timestamp(now)),
                }
            })
            .collect();
        let index: HashMap<&str, usize> = queues
            .iter()
            .enumerate()
            .map(|(i, q)| (q.queue_id.as_str(), i))
            .collect();
        let mut channels: Vec<BTreeSet<i32>> = vec![BTreeSet::new(); queues.len()];
        for agent in self.agents.values() {
            let served = agent
                .profile
                .queue_ids
                .iter()
                .filter_map(|q| index.get(q.as_str()).copied())
                .collect::<BTreeSet<usize>>();
            for i in served {
                let target = Target::QueueId(queues[i].queue_id.clone());
                channels[i].extend(agent.channels());
                if agent.session.is_some() && agent.profile.presence != Presence::Offline as i32 {
                    stats[i].agents_logged_in += 1;
                }
                if may_take_some(agent, Some(&target)) {
                    stats[i].agents_available += 1;
                }
            }
        }
        for (s, c) in stats.iter_mut().zip(channels) {
            s.channels = c.into_iter().collect();
        }
        stats
    }
}

/// A count as the contract carries it.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The size of a page asked for as `page_size`.
pub fn page_len(page_size: u32) -> usize {
    match usize::try_from(page_size).unwrap_or(MAX_PAGE) {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    }
}

/// An agent's load on each channel it takes contacts on.
fn load(agent: &AgentState) -> Vec<ChannelLoad> {
    agent
        .channels()
        .into_iter()
        .map(|channel| ChannelLoad {
            channel,
            active: agent.active_on(channel),
            max_contacts: agent.capacity_on(channel),
        })
        .collect()
}

/// A page: the items, and the id to start the next page after when more remain.
pub type Page<T> = (Vec<T>, Option<String>);

impl RoutingState {
    /// One queue's figures at `now`; `None` for a queue never upserted.
    pub fn queue_stats(&self, tenant: &str, queue_id: &str, now: SystemTime) -> Option<QueueStats> {
        let t = self.tenants.get(tenant)?;
        let queue = t.queues.get(queue_id)?;
        t.figures(&[queue], now).pop()
    }

    /// Up to `limit` queues' figures, by id, starting after `after` (empty: from the first).
    pub fn list_queues(
        &self,
        tenant: &str,
        after: &str,
        limit: usize,
        now: SystemTime,
    ) -> Page<QueueStats> {
        let Some(t) = self.tenants.get(tenant) else {
            return (Vec::new(), None);
        };
        let mut queues: Vec<&Queue> = t
            .queues
            .values()
            .filter(|q| q.queue_id.as_str() > after)
            .collect();
        queues.sort_by(|a, b| a.queue_id.cmp(&b.queue_id));
        let more = queues.len() > limit;
        queues.truncate(limit);
        let next = more
            .then(|| queues.last().map(|q| q.queue_id.clone()))
            .flatten();
        (t.figures(&queues, now), next)
    }

    /// Up to `limit` agents, by id, starting after `after`; only those serving `queue_id`
    /// when it is not empty.
    pub fn list_agents(
        &self,
        tenant: &str,
        after: &str,
        limit: usize,
        filter: &AgentFilter<'_>,
    ) -> Page<AgentStatus> {
        use std::ops::Bound::{Excluded, Unbounded};
        let Some(t) = self.tenants.get(tenant) else {
            return (Vec::new(), None);
        };
        let start = if after.is_empty() {
            Unbounded
        } else {
            Excluded(after.to_owned())
        };
        let mut matching = t
            .agents
            .range((start, Unbounded))
            .map(|(_, a)| a)
            .filter(|a| filter.admits(a));
        let page: Vec<AgentStatus> = matching
            .by_ref()
            .take(limit)
            .map(|a| AgentStatus {
                agent: Some(a.view()),
                load: load(a),
            })
            .collect();
        let next = matching
            .next()
            .and_then(|_| page.last())
            .and_then(|a| a.agent.as_ref())
            .map(|a| a.agent_id.clone());
        (page, next)
    }
}
