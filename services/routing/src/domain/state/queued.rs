//! The index of queued contacts, so that placing one contact never goes through every waiting
//! contact of the tenant.
//!
//! Queued contacts are grouped by who may take them (their target), then by base
//! priority, each group ordered by request time and id. `dispatch` only reads the groups some
//! agent could take a contact of now, and a position is counted within the contact's group
//! from whichever end of each priority is nearer (see [`Queued::ahead_of`]). Every change to a
//! contact is followed by [`TenantState::sync`], which keeps the index and the waiting counts
//! equal to what the contacts say (the property tests check it).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use baton_proto::v1::{ContactState, audience::Target};
use baton_runtime::time::from_timestamp;

use super::TenantState;
use crate::domain::matching::effective_priority;

/// Who may take a queued contact: its target (tier, queue, agent, channel), if any. A
/// position counts the contacts waiting for the same target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Group {
    /// The target.
    pub target: Option<Target>,
}

/// Where a queued contact sits in the index.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    group: Group,
    priority: i32,
    requested_at: SystemTime,
}

/// Queued contacts by group, base priority, request time and id.
#[derive(Debug, Default)]
pub(super) struct Queued {
    /// The index.
    groups: HashMap<Group, BTreeMap<i32, BTreeSet<(SystemTime, String)>>>,
    /// Each indexed contact's entry, to take it out again.
    entries: HashMap<String, Entry>,
    /// Contacts waiting for an agent (queued or offered) by tier, and each one's tier.
    waiting: BTreeMap<u32, i64>,
    waiting_tier: HashMap<String, u32>,
    /// Offered contacts (out of `groups` until the offer ends) by group, and each one's group,
    /// so a queue's figures count them without going through the contacts.
    offered: HashMap<Group, usize>,
    offered_group: HashMap<String, Group>,
}

/// What the index says of one group: see [`Queued::figures`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Figures {
    /// Queued contacts, not offered to anyone.
    pub depth: usize,
    /// Contacts with an outstanding offer.
    pub offered: usize,
    /// The earliest request time among the queued ones.
    pub oldest: Option<SystemTime>,
}

impl Queued {
    /// Groups with at least one queued contact.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.keys()
    }

    /// The queued contacts of `group`, as `(base priority, requested at, id)`.
    pub fn members<'a>(
        &'a self,
        group: &Group,
    ) -> impl Iterator<Item = (i32, SystemTime, &'a str)> + 'a {
        self.groups.get(group).into_iter().flat_map(|by_priority| {
            by_priority.iter().flat_map(|(priority, set)| {
                set.iter()
                    .map(move |(at, id)| (*priority, *at, id.as_str()))
            })
        })
    }

    /// How many contacts wait for `group` (queued, and offered) and the earliest request
    /// among the queued: each base priority's set is ordered by request time, so this costs one
    /// step per distinct priority, however many contacts wait.
    pub fn figures(&self, group: &Group) -> Figures {
        let mut figures = Figures {
            offered: self.offered.get(group).copied().unwrap_or(0),
            ..Figures::default()
        };
        for set in self
            .groups
            .get(group)
            .into_iter()
            .flat_map(BTreeMap::values)
        {
            figures.depth += set.len();
            if let Some((at, _)) = set.first() {
                figures.oldest = Some(figures.oldest.map_or(*at, |o| o.min(*at)));
            }
        }
        figures
    }

    /// Contacts waiting for an agent, by tier.
    pub fn waiting_by_tier(&self) -> BTreeMap<u32, i64> {
        self.waiting.clone()
    }

    /// How many queued contacts of `contact_id`'s group go before it at `now`; `None` when it
    /// is not queued. The contacts before it in one base priority are a prefix of that
    /// priority's order (an earlier request never has a lower effective priority), so each
    /// priority is walked from both ends at once until the prefix's end is found: the cost is
    /// the smaller side, and a contact that just arrived costs next to nothing.
    pub fn ahead_of(&self, contact_id: &str, now: SystemTime, aging: Duration) -> Option<usize> {
        let entry = self.entries.get(contact_id)?;
        let own_priority = effective_priority(entry.priority, entry.requested_at, now, aging);
        let own = (own_priority, entry.requested_at, contact_id);
        let by_priority = self.groups.get(&entry.group)?;
        let mut ahead = 0;
        for (priority, set) in by_priority {
            let before = |(at, id): &(SystemTime, String)| {
                let theirs = effective_priority(*priority, *at, now, aging);
                theirs > own.0 || (theirs == own.0 && (*at, id.as_str()) < (own.1, own.2))
            };
            let mut front = set.iter();
            let mut back = set.iter().rev();
            let (mut prefix, mut suffix) = (0, 0);
            loop {
                match front.next() {
                    Some(e) if before(e) => prefix += 1,
                    _ => {
                        ahead += prefix;
                        break;
                    }
                }
                match back.next() {
                    Some(e) if !before(e) => suffix += 1,
                    _ => {
                        ahead += set.len() - suffix;
                        break;
                    }
                }
            }
        }
        Some(ahead)
    }

    fn remove(&mut self, contact_id: &str) {
        if let Some(group) = self.offered_group.remove(contact_id)
            && let Some(n) = self.offered.get_mut(&group)
        {
            *n -= 1;
            if *n == 0 {
                self.offered.remove(&group);
            }
        }
        if let Some(tier) = self.waiting_tier.remove(contact_id)
            && let Some(n) = self.waiting.get_mut(&tier)
        {
            *n -= 1;
            if *n == 0 {
                self.waiting.remove(&tier);
            }
        }
        let Some(entry) = self.entries.remove(contact_id) else {
            return;
        };
        if let Some(by_priority) = self.groups.get_mut(&entry.group) {
            if let Some(set) = by_priority.get_mut(&entry.priority) {
                set.remove(&(entry.requested_at, contact_id.to_owned()));
                if set.is_empty() {
                    by_priority.remove(&entry.priority);
                }
            }
            if by_priority.is_empty() {
                self.groups.remove(&entry.group);
            }
        }
    }
}

impl TenantState {
    /// Brings the index up to date with `contact_id` as it is now (queued, offered, anything
    /// else, or gone).
    pub(super) fn sync(&mut self, contact_id: &str, now: SystemTime) {
        self.queued.remove(contact_id);
        let Some(live) = self.contacts.get(contact_id) else {
            return;
        };
        let state = live.record.state();
        let c = &live.record.contact;
        if matches!(state, ContactState::Queued | ContactState::Offered) {
            *self.queued.waiting.entry(c.tier).or_insert(0) += 1;
            self.queued
                .waiting_tier
                .insert(contact_id.to_owned(), c.tier);
        }
        let group = Group {
            target: live.record.target().cloned(),
        };
        if live.offer_id.is_some() {
            *self.queued.offered.entry(group.clone()).or_insert(0) += 1;
            self.queued
                .offered_group
                .insert(contact_id.to_owned(), group);
            return;
        }
        if state != ContactState::Queued {
            return;
        }
        let entry = Entry {
            group,
            priority: c.priority,
            requested_at: c.requested_at.as_ref().map_or(now, from_timestamp),
        };
        self.queued
            .groups
            .entry(entry.group.clone())
            .or_default()
            .entry(entry.priority)
            .or_default()
            .insert((entry.requested_at, contact_id.to_owned()));
        self.queued.entries.insert(contact_id.to_owned(), entry);
    }
}
