//! Random agents, contacts and events: capacity is never exceeded, no contact is ever offered
//! to two agents, offers only go to eligible agents, and no contact is ever lost.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::domain::matching::serves_target;

#[derive(Debug, Clone)]
enum Step {
    Start {
        channel: i32,
        tier: u32,
        skill: Option<u32>,
        preferred: Option<usize>,
        /// Base priority and how long before `t0` the customer asked, so positions mix
        /// priorities and aging.
        priority: i32,
        waited_secs: u64,
    },
    Accept(usize),
    Reject(usize),
    Timeout(usize),
    End(usize),
    Transfer {
        contact: usize,
        tier: u32,
        warm: bool,
        channel: Option<i32>,
    },
    Presence {
        agent: usize,
        available: bool,
    },
    Session {
        agent: usize,
        open: bool,
    },
    /// A warm transfer lapses (or, with `cancel`, its holding agent takes it back).
    Return {
        contact: usize,
        cancel: bool,
    },
    /// Some declined agent's cool-down ends.
    CoolDownOver(usize),
}

fn channel() -> impl Strategy<Value = i32> {
    prop_oneof![Just(VOICE), Just(CHAT)]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (channel(), 1u32..=2, proptest::option::of(1u32..=10), proptest::option::of(0usize..6), -2i32..=2, 0u64..300)
            .prop_map(|(channel, tier, skill, preferred, priority, waited_secs)| Step::Start { channel, tier, skill, preferred, priority, waited_secs }),
        3 => any::<prop::sample::Index>().prop_map(|i| Step::Accept(i.index(1 << 16))),
        1 => any::<prop::sample::Index>().prop_map(|i| Step::Reject(i.index(1 << 16))),
        1 => any::<prop::sample::Index>().prop_map(|i| Step::Timeout(i.index(1 << 16))),
        2 => any::<prop::sample::Index>().prop_map(|i| Step::End(i.index(1 << 16))),
        2 => (any::<prop::sample::Index>(), 1u32..=2, any::<bool>(), proptest::option::of(channel()))
            .prop_map(|(i, tier, warm, channel)| Step::Transfer { contact: i.index(1 << 16), tier, warm, channel }),
        1 => (0usize..6, any::<bool>()).prop_map(|(agent, available)| Step::Presence { agent, available }),
        1 => (0usize..6, any::<bool>()).prop_map(|(agent, open)| Step::Session { agent, open }),
        1 => (any::<prop::sample::Index>(), any::<bool>())
            .prop_map(|(i, cancel)| Step::Return { contact: i.index(1 << 16), cancel }),
        1 => any::<prop::sample::Index>().prop_map(|i| Step::CoolDownOver(i.index(1 << 16))),
    ]
}

type AgentSpec = (u32, u32, u32, u32);

fn agent_spec() -> impl Strategy<Value = AgentSpec> {
    // tier, voice capacity, chat capacity, "billing" proficiency
    (1u32..=2, 0u32..=1, 0u32..=3, 1u32..=10)
}

fn pick<T: Clone>(items: &[T], i: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[i % items.len()].clone())
}

/// The index of queued contacts agrees with the contacts: the waiting counts, and every
/// queued contact's position against one counted over all contacts.
fn check_queue_index(s: &RoutingState) {
    assert_eq!(s.waiting_by_tier(T), s.waiting_by_tier_counted(T));
    let t = s.tenants.get(T).expect("tenant");
    let key = |l: &LiveContact| {
        let c = &l.record.contact;
        let at = c
            .requested_at
            .as_ref()
            .map_or(t0(), baton_runtime::time::from_timestamp);
        crate::domain::matching::queue_order_key(c.priority, at, &c.contact_id, t0(), s.aging)
    };
    for (id, c) in &t.contacts {
        let ahead = t.queued.ahead_of(id, t0(), s.aging);
        if c.record.state() != ContactState::Queued {
            assert_eq!(ahead, None, "{id} is not queued");
            continue;
        }
        let counted = t
            .contacts
            .values()
            .filter(|l| {
                l.record.state() == ContactState::Queued
                    && l.record.target == c.record.target
                    && key(l) < key(c)
            })
            .count();
        assert_eq!(ahead, Some(counted), "position of {id}");
    }
    // What a queue's figures read from the index: depth, offered and the oldest request.
    let targets: BTreeSet<_> = t
        .contacts
        .values()
        .map(|l| format!("{:?}", l.record.target()))
        .collect();
    for target in targets {
        let members: Vec<&LiveContact> = t
            .contacts
            .values()
            .filter(|l| format!("{:?}", l.record.target()) == target)
            .collect();
        let group = super::super::queued::Group {
            target: members[0].record.target().cloned(),
        };
        let queued: Vec<&&LiveContact> = members
            .iter()
            .filter(|l| l.record.state() == ContactState::Queued && l.offer_id.is_none())
            .collect();
        let counted = super::super::queued::Figures {
            depth: queued.len(),
            offered: members.iter().filter(|l| l.offer_id.is_some()).count(),
            oldest: queued
                .iter()
                .map(|l| {
                    l.record
                        .contact
                        .requested_at
                        .as_ref()
                        .map_or(t0(), baton_runtime::time::from_timestamp)
                })
                .min(),
        };
        assert_eq!(t.queued.figures(&group), counted, "figures of {target}");
    }
}

fn check_invariants(s: &RoutingState, started: &BTreeSet<String>, effects: &[Effect]) {
    check_queue_index(s);
    let t = s.tenants.get(T).expect("tenant");
    for agent in t.agents.values() {
        for channel in [VOICE, CHAT] {
            assert!(
                agent.active_on(channel) <= agent.capacity_on(channel),
                "agent {} over capacity on {channel}: {:?}",
                agent.id(),
                agent.active
            );
        }
    }
    let live: BTreeSet<String> = t.contacts.keys().cloned().collect();
    assert_eq!(&live, started, "a contact was lost or resurrected");
    for (id, c) in &t.contacts {
        let holders: Vec<&str> = t
            .agents
            .values()
            .filter(|a| a.active.contains_key(id))
            .map(AgentState::id)
            .collect();
        let state = c.record.state();
        let mut expected: Vec<&str> = Vec::new();
        if matches!(state, ContactState::Offered | ContactState::Connected) {
            expected.push(&c.record.contact.agent_id);
        }
        if !c.record.contact.holding_agent_id.is_empty() {
            expected.push(&c.record.contact.holding_agent_id);
        }
        expected.sort_unstable();
        assert_eq!(
            holders, expected,
            "capacity accounting of {id} in {state:?}"
        );
        assert_eq!(c.offer_id.is_some(), state == ContactState::Offered);
        if let Some(offer) = &c.offer_id {
            assert_eq!(t.offers.get(offer), Some(id));
        }
    }
    assert_eq!(
        t.offers.len(),
        t.contacts.values().filter(|c| c.offer_id.is_some()).count(),
        "one offer per offered contact"
    );
    let tally = t.tally;
    assert_eq!(
        tally.offered,
        tally.accepted
            + tally.rejected
            + tally.timed_out
            + tally.withdrawn
            + u64::try_from(t.offers.len()).unwrap_or(u64::MAX),
        "every offer ends exactly once: {tally:?}"
    );
    for effect in effects {
        let Effect::Offer {
            agent_id, contact, ..
        } = effect
        else {
            continue;
        };
        let agent = t.agents.get(agent_id).expect("offered agent exists");
        let live = t.contacts.get(&contact.contact_id);
        // Only judge offers that still stand at the end of the step.
        let Some(live) =
            live.filter(|l| l.record.contact.agent_id == *agent_id && l.offer_id.is_some())
        else {
            continue;
        };
        assert_eq!(agent.profile.presence, Presence::Available as i32);
        assert!(agent.session.is_some());
        assert!(serves_target(agent, live.record.target()));
        assert!(!live.excluded.contains(agent_id));
        assert!(
            live.declined.get(agent_id).is_none_or(|d| d.cooled),
            "an agent who declined is offered again only after its cool-down"
        );
        for req in &live.record.contact.required_skills {
            assert!(agent.proficiency(&req.name) >= req.min_proficiency.max(1));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn routing_invariants_hold_under_any_sequence(
        agents in proptest::collection::vec(agent_spec(), 1..6),
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let mut s = state();
        let mut started = BTreeSet::new();
        let mut next_session = 1u64;
        let mut sessions: Vec<Option<u64>> = Vec::new();
        for (i, (tier, voice, chat, billing)) in agents.iter().enumerate() {
            add_agent(&mut s, &format!("a{i}"), *tier, &[("billing", *billing)], &[(VOICE, *voice), (CHAT, *chat)], Some(next_session));
            sessions.push(Some(next_session));
            next_session += 1;
        }
        let agent_ids: Vec<String> = (0..agents.len()).map(|i| format!("a{i}")).collect();
        for (n, step) in steps.into_iter().enumerate() {
            let live: Vec<String> = started.iter().cloned().collect();
            let offered: Vec<(String, String)> = s.tenants.get(T).map(|t| t.offers.iter().map(|(o, c)| (o.clone(), c.clone())).collect()).unwrap_or_default();
            let mut offered = offered;
            offered.sort();
            let session_of = |s: &RoutingState, agent: &str| s.agent(T, agent).and_then(|a| a.session).unwrap_or(0);
            let effects = match step {
                Step::Start { channel, tier, skill, preferred, priority, waited_secs } => {
                    let id = format!("c{n}");
                    let mut c = contact(&id, channel, Target::Tier(tier));
                    c.contact.tier = tier;
                    c.contact.priority = priority;
                    c.contact.requested_at = Some(to_timestamp(t0() - Duration::from_secs(waited_secs)));
                    if let Some(min) = skill {
                        c.contact.required_skills = vec![SkillRequirement { name: "billing".into(), min_proficiency: min }];
                    }
                    if let Some(p) = preferred.and_then(|p| pick(&agent_ids, p)) {
                        c.contact.preferred_agent_id = p;
                    }
                    started.insert(id);
                    s.start(c, t0()).2
                }
                Step::Accept(i) | Step::Reject(i) if offered.is_empty() => { let _ = i; Vec::new() }
                Step::Accept(i) => {
                    let (offer, contact) = offered[i % offered.len()].clone();
                    let agent = s.contact(T, &contact).map(|c| c.record.contact.agent_id.clone()).unwrap_or_default();
                    let session = session_of(&s, &agent);
                    s.accept(T, &agent, session, &offer, t0()).map(|r| r.1).unwrap_or_default()
                }
                Step::Reject(i) => {
                    let (offer, contact) = offered[i % offered.len()].clone();
                    let agent = s.contact(T, &contact).map(|c| c.record.contact.agent_id.clone()).unwrap_or_default();
                    let session = session_of(&s, &agent);
                    s.reject(T, &agent, session, &offer, t0()).unwrap_or_default()
                }
                Step::Timeout(i) => match pick(&offered, i) {
                    Some((offer, _)) => s.offer_timed_out(T, &offer, t0()),
                    None => Vec::new(),
                },
                Step::End(i) => match pick(&live, i) {
                    Some(id) => {
                        started.remove(&id);
                        s.end(T, &id, "", t0()).map(|r| r.1).unwrap_or_default()
                    }
                    None => Vec::new(),
                },
                Step::Transfer { contact, tier, warm, channel } => match pick(&live, contact) {
                    Some(id) => {
                        let target = channel.map_or(Target::Tier(tier), Target::Channel);
                        s.transfer(T, &id, plan(target, warm, ""), t0(), |_| Vec::new()).map(|r| r.2).unwrap_or_default()
                    }
                    None => Vec::new(),
                },
                Step::Presence { agent, available } => {
                    let Some(id) = pick(&agent_ids, agent) else { continue };
                    let presence = if available { Presence::Available } else { Presence::Away };
                    s.set_agent(T, AgentUpdate { agent_id: id, presence: Some(presence), ..AgentUpdate::default() }, t0()).1
                }
                Step::Return { contact, cancel } => match pick(&live, contact) {
                    Some(id) => {
                        let holder = s.contact(T, &id).map(|c| c.record.contact.holding_agent_id.clone()).unwrap_or_default();
                        let cause = if cancel { Return::Cancelled { agent_id: holder } } else { Return::Lapsed { token_id: "tok-next".into() } };
                        s.return_warm_transfer(T, &id, &cause, t0()).map(|r| r.1).unwrap_or_default()
                    }
                    None => Vec::new(),
                },
                Step::CoolDownOver(i) => {
                    let declined: Vec<(String, String, String)> = s.contacts(T)
                        .flat_map(|l| l.declined.iter().map(|(a, d)| (l.record.contact.contact_id.clone(), a.clone(), d.offer_id.clone())))
                        .collect();
                    match pick(&declined, i) {
                        Some((contact, agent, offer)) => s.cool_down_over(T, &contact, &agent, &offer, t0()),
                        None => Vec::new(),
                    }
                }
                Step::Session { agent, open } => {
                    let i = agent % agent_ids.len();
                    let id = agent_ids[i].clone();
                    if open {
                        next_session += 1;
                        sessions[i] = Some(next_session);
                        s.open_session(T, &id, next_session, t0()).map(|r| r.1).unwrap_or_default()
                    } else {
                        match sessions[i].take() {
                            Some(session) => s.close_session(T, &id, session, t0()),
                            None => Vec::new(),
                        }
                    }
                }
            };
            check_invariants(&s, &started, &effects);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn positions_in_a_long_queue_are_counted_from_the_index_as_over_every_contact(
        waiting in proptest::collection::vec((-2i32..=2, 0u64..600, 1u32..=2), 1..80),
    ) {
        let mut s = state();
        for (n, (priority, waited_secs, tier)) in waiting.into_iter().enumerate() {
            let mut c = contact(&format!("c{n:02}"), VOICE, Target::Tier(tier));
            c.contact.priority = priority;
            c.contact.requested_at = Some(to_timestamp(t0() - Duration::from_secs(waited_secs)));
            let (_, placement, _) = s.start(c, t0());
            prop_assert_eq!(placement.state, ContactState::Queued as i32);
        }
        check_queue_index(&s);
    }
}
