use std::time::{Duration, SystemTime, UNIX_EPOCH};

use baton_proto::v1::{
    Agent, Channel, ChannelCapacity, Contact, ContactState, Hop, HopKind, Presence, Queue, Skill,
    SkillRequirement, Widening, audience::Target,
};
use baton_runtime::time::to_timestamp;

use super::*;
use crate::domain::record::audience;

mod properties;
mod stats;

pub(super) const T: &str = "acme";
pub(super) const VOICE: i32 = Channel::Voice as i32;
pub(super) const CHAT: i32 = Channel::Chat as i32;

pub(super) fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

pub(super) fn state() -> RoutingState {
    RoutingState::new(Duration::from_secs(60))
}

pub(super) fn add_agent(
    s: &mut RoutingState,
    id: &str,
    tier: u32,
    skills: &[(&str, u32)],
    caps: &[(i32, u32)],
    session: Option<u64>,
) -> Vec<Effect> {
    let update = AgentUpdate {
        agent_id: id.into(),
        presence: Some(Presence::Available),
        tier: Some(tier),
        skills: Some(
            skills
                .iter()
                .map(|(n, p)| Skill {
                    name: (*n).into(),
                    proficiency: *p,
                })
                .collect(),
        ),
        capacities: Some(
            caps.iter()
                .map(|(c, m)| ChannelCapacity {
                    channel: *c,
                    max_contacts: *m,
                    exclusive: false,
                })
                .collect(),
        ),
        queue_ids: Some(vec!["billing".into()]),
        ..AgentUpdate::default()
    };
    let mut effects = s.set_agent(T, update, t0()).1;
    if let Some(session) = session {
        effects.extend(
            s.open_session(T, id, session, t0())
                .expect("agent exists")
                .1,
        );
    }
    effects
}

pub(super) fn contact(id: &str, channel: i32, target: Target) -> ContactRecord {
    ContactRecord {
        contact: Contact {
            contact_id: id.into(),
            tenant_id: T.into(),
            channel,
            tier: 1,
            requested_at: Some(to_timestamp(t0())),
            path: vec![Hop {
                index: 0,
                kind: HopKind::Start as i32,
                token_id: format!("tok-{id}"),
                ..Hop::default()
            }],
            ..Contact::default()
        },
        token: format!("sealed-{id}").into_bytes(),
        target: Some(audience(target)),
        ..ContactRecord::default()
    }
}

pub(super) fn offers(effects: &[Effect]) -> Vec<(String, String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Offer {
                agent_id,
                offer_id,
                contact,
                ..
            } => Some((
                contact.contact_id.clone(),
                agent_id.clone(),
                offer_id.clone(),
            )),
            _ => None,
        })
        .collect()
}

fn withdrawn(effects: &[Effect]) -> Vec<(String, &'static str)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Withdrawn {
                agent_id, reason, ..
            } => Some((agent_id.clone(), *reason)),
            _ => None,
        })
        .collect()
}

fn plan(target: Target, warm: bool, from: &str) -> TransferPlan {
    TransferPlan {
        target,
        extra_skills: vec![],
        warm,
        from_agent_id: from.into(),
        handover: None,
        token_id: "tok-next".into(),
    }
}

fn active(s: &RoutingState, agent: &str) -> Vec<String> {
    s.agent(T, agent)
        .map(|a| a.active.keys().cloned().collect())
        .unwrap_or_default()
}

/// Starts `id`, then has `agent` accept its offer.
fn connect(s: &mut RoutingState, id: &str, agent: &str, session: u64) {
    let (_, _, effects) = s.start(contact(id, VOICE, Target::Tier(1)), t0());
    let (_, to, offer_id) = offers(&effects).pop().expect("offered");
    assert_eq!(to, agent);
    s.accept(T, agent, session, &offer_id, t0())
        .expect("accept");
}

#[test]
fn a_contact_is_offered_at_once_to_an_eligible_agent_else_queued_with_its_position() {
    let mut s = state();
    let (record, placement, effects) = s.start(contact("c1", VOICE, Target::Tier(1)), t0());
    assert_eq!(placement.state, ContactState::Queued as i32);
    assert_eq!(placement.position, 1);
    assert!(effects.is_empty());
    let (_, placement, _) = s.start(contact("c2", VOICE, Target::Tier(1)), t0());
    assert_eq!(placement.position, 2);
    assert_eq!(record.state(), ContactState::Queued);

    let effects = add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    let offered = offers(&effects);
    assert_eq!(offered.len(), 1, "voice capacity 1: one offer");
    assert_eq!(offered[0].0, "c1", "the earlier contact goes first");
    let c1 = s.contact(T, "c1").expect("live");
    assert_eq!(c1.record.state(), ContactState::Offered);
    assert_eq!(c1.record.contact.agent_id, "a");
    assert_eq!(s.placement(T, "c2", t0()).position, 1);
}

#[test]
fn starting_a_live_contact_again_changes_nothing() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 2)], Some(1));
    let (first, _, effects) = s.start(contact("c1", VOICE, Target::Tier(1)), t0());
    assert_eq!(offers(&effects).len(), 1);
    let (again, placement, effects) = s.start(contact("c1", VOICE, Target::Tier(1)), t0());
    assert_eq!(again, first);
    assert_eq!(placement.agent_id, "a");
    assert!(effects.is_empty());
    assert_eq!(active(&s, "a"), ["c1"]);
}

#[test]
fn skills_and_tier_pick_the_agent_able_to_help() {
    let mut s = state();
    add_agent(
        &mut s,
        "first-line",
        1,
        &[("billing", 5)],
        &[(VOICE, 1)],
        Some(1),
    );
    add_agent(
        &mut s,
        "mortgage",
        2,
        &[("mortgages", 8)],
        &[(VOICE, 1)],
        Some(2),
    );
    let mut c = contact("c1", VOICE, Target::Tier(2));
    c.contact.required_skills = vec![SkillRequirement {
        name: "mortgages".into(),
        min_proficiency: 6,
    }];
    let (_, placement, _) = s.start(c, t0());
    assert_eq!(placement.agent_id, "mortgage");
}

#[test]
fn skills_match_however_they_were_spelled() {
    let mut s = state();
    add_agent(&mut s, "ann", 1, &[("Billing", 5)], &[(VOICE, 1)], Some(1));
    assert_eq!(
        s.agent(T, "ann").map(|a| a.profile.skills[0].name.clone()),
        Some("billing".to_owned())
    );
    s.upsert_queue(
        T,
        Queue {
            queue_id: "disputes".into(),
            required_skills: vec![SkillRequirement {
                name: " BILLING ".into(),
                min_proficiency: 2,
            }],
            ..Queue::default()
        },
        t0(),
    );
    assert_eq!(
        s.queue(T, "disputes")
            .map(|q| q.required_skills[0].name.clone()),
        Some("billing".to_owned())
    );
    let mut c = contact("c1", VOICE, Target::Tier(1));
    c.contact.required_skills = vec![
        SkillRequirement {
            name: "billing".into(),
            min_proficiency: 3,
        },
        SkillRequirement {
            name: "Billing".into(),
            min_proficiency: 4,
        },
    ];
    let (record, placement, _) = s.start(c, t0());
    assert_eq!(placement.agent_id, "ann");
    assert_eq!(
        record.contact.required_skills,
        [SkillRequirement {
            name: "billing".into(),
            min_proficiency: 4,
        }],
        "one requirement per normalized name, the higher minimum kept"
    );
}

#[test]
fn queue_skills_count_when_the_contact_targets_the_queue() {
    let mut s = state();
    s.upsert_queue(
        T,
        Queue {
            queue_id: "billing".into(),
            tier: 0,
            required_skills: vec![SkillRequirement {
                name: "disputes".into(),
                min_proficiency: 3,
            }],
            ..Queue::default()
        },
        t0(),
    );
    assert_eq!(s.queue(T, "billing").map(|q| q.tier), Some(1));
    add_agent(&mut s, "plain", 1, &[], &[(VOICE, 1)], Some(1));
    let (_, placement, _) = s.start(
        contact("c1", VOICE, Target::QueueId("billing".into())),
        t0(),
    );
    assert_eq!(placement.state, ContactState::Queued as i32);
    let effects = add_agent(
        &mut s,
        "disputes",
        1,
        &[("disputes", 3)],
        &[(VOICE, 1)],
        Some(2),
    );
    assert_eq!(offers(&effects)[0].1, "disputes");
}

#[test]
fn capacity_is_per_channel() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1), (CHAT, 2)], Some(1));
    let mut offered = Vec::new();
    for (id, channel) in [
        ("v1", VOICE),
        ("v2", VOICE),
        ("c1", CHAT),
        ("c2", CHAT),
        ("c3", CHAT),
    ] {
        let (_, placement, _) = s.start(contact(id, channel, Target::Tier(1)), t0());
        if placement.state == ContactState::Offered as i32 {
            offered.push(id);
        }
    }
    assert_eq!(offered, ["v1", "c1", "c2"]);
}

#[test]
fn an_agent_away_or_without_session_gets_nothing_and_presence_available_brings_offers() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], None);
    let (_, placement, _) = s.start(contact("c1", VOICE, Target::Tier(1)), t0());
    assert_eq!(placement.state, ContactState::Queued as i32, "no session");
    let away = AgentUpdate {
        agent_id: "a".into(),
        presence: Some(Presence::Away),
        ..AgentUpdate::default()
    };
    s.set_agent(T, away, t0());
    let (_, effects) = s.open_session(T, "a", 1, t0()).expect("open");
    assert!(offers(&effects).is_empty(), "away");
    let back = AgentUpdate {
        agent_id: "a".into(),
        presence: Some(Presence::Available),
        ..AgentUpdate::default()
    };
    let (profile, effects) = s.set_agent(T, back, t0());
    assert_eq!(profile.tier, 1, "unset fields keep their value");
    assert_eq!(offers(&effects).len(), 1);
}

#[test]
fn going_away_withdraws_outstanding_offers_and_they_move_on() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    s.start(contact("c1", VOICE, Target::Tier(1)), t0());
    add_agent(&mut s, "b", 1, &[], &[(VOICE, 1)], Some(2));
    let away = AgentUpdate {
        agent_id: "a".into(),
        presence: Some(Presence::Away),
        ..AgentUpdate::default()
    };
    let (_, effects) = s.set_agent(T, away, t0());
    assert_eq!(
        withdrawn(&effects),
        [("a".to_owned(), "agent is no longer available")]
    );
    assert_eq!(offers(&effects)[0].1, "b");
}

#[test]
fn the_preferred_agent_wins_and_when_away_someone_else_takes_it_at_once() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    add_agent(&mut s, "pref", 1, &[], &[(VOICE, 1)], Some(2));
    let mut c = contact("c1", VOICE, Target::Tier(1));
    c.contact.preferred_agent_id = "pref".into();
    let (_, placement, _) = s.start(c.clone(), t0());
    assert_eq!(placement.agent_id, "pref");

    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    add_agent(&mut s, "pref", 1, &[], &[(VOICE, 1)], Some(2));
    let away = AgentUpdate {
        agent_id: "pref".into(),
        presence: Some(Presence::Away),
        ..AgentUpdate::default()
    };
    s.set_agent(T, away, t0());
    let (_, placement, _) = s.start(c, t0());
    assert_eq!(placement.agent_id, "a");
}

#[test]
fn a_freed_agent_gets_the_contact_with_the_highest_aged_priority() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    connect(&mut s, "busy", "a", 1);
    let mut old = contact("old-low", VOICE, Target::Tier(1));
    old.contact.requested_at = Some(to_timestamp(t0() - Duration::from_secs(300)));
    let mut high = contact("new-high", VOICE, Target::Tier(1));
    high.contact.priority = 3;
    s.start(high, t0());
    s.start(old, t0());
    let (_, effects) = s.end(T, "busy", "", t0()).expect("end");
    // old-low has waited 5 minutes: priority 0 + 5 beats 3.
    assert_eq!(offers(&effects)[0].0, "old-low");
}

#[test]
fn reject_sends_the_contact_to_the_next_agent_never_back_on_this_hop() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    add_agent(&mut s, "b", 1, &[], &[(VOICE, 1)], Some(2));
    let (_, _, effects) = s.start(contact("c1", VOICE, Target::Tier(1)), t0());
    let (_, first, offer_id) = offers(&effects).pop().expect("offer");
    assert_eq!(first, "a");
    let effects = s.reject(T, "a", 1, &offer_id, t0()).expect("reject");
    let (_, second, offer_id) = offers(&effects).pop().expect("offer");
    assert_eq!(second, "b");
    let effects = s.reject(T, "b", 2, &offer_id, t0()).expect("reject");
    assert!(offers(&effects).is_empty(), "both rejected: it waits");
    assert_eq!(
        s.placement(T, "c1", t0()).state,
        ContactState::Queued as i32
    );
    // Answering a withdrawn offer is refused.
    assert!(s.accept(T, "b", 2, &offer_id, t0()).is_err());
}

#[test]
fn an_offer_answers_only_for_its_own_agent_and_session() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    add_agent(&mut s, "b", 1, &[], &[(VOICE, 1)], Some(2));
    let (_, _, effects) = s.start(contact("c1", VOICE, Target::Tier(1)), t0());
    let (_, _, offer_id) = offers(&effects).pop().expect("offer");
    assert!(s.accept(T, "b", 2, &offer_id, t0()).is_err());
    assert!(s.accept(T, "a", 9, &offer_id, t0()).is_err());
    assert!(s.accept(T, "a", 1, &offer_id, t0()).is_ok());
}

#[test]
fn a_timed_out_offer_is_withdrawn_and_goes_to_the_next_agent() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    add_agent(&mut s, "b", 1, &[], &[(VOICE, 1)], Some(2));
    let (_, _, effects) = s.start(contact("c1", VOICE, Target::Tier(1)), t0());
    let (_, _, offer_id) = offers(&effects).pop().expect("offer");
    let effects = s.offer_timed_out(T, &offer_id, t0());
    assert_eq!(withdrawn(&effects), [("a".to_owned(), "offer timed out")]);
    assert_eq!(offers(&effects)[0].1, "b");
    assert!(
        s.offer_timed_out(T, &offer_id, t0()).is_empty(),
        "fires once"
    );
}

fn cool_downs(effects: &[Effect]) -> Vec<(String, String, String)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::CoolDown {
                contact_id,
                agent_id,
                offer_id,
                ..
            } => Some((contact_id.clone(), agent_id.clone(), offer_id.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn an_agent_who_rejected_is_offered_the_contact_again_after_its_cool_down_when_nobody_else_can() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    let (_, _, effects) = s.start(contact("c1", VOICE, Target::Tier(1)), t0());
    let (_, _, first) = offers(&effects).pop().expect("offer");
    let effects = s.reject(T, "a", 1, &first, t0()).expect("reject");
    assert!(offers(&effects).is_empty(), "not at once");
    assert_eq!(
        cool_downs(&effects),
        [("c1".to_owned(), "a".to_owned(), first.clone())]
    );
    // Refreshing its state neither brings the contact back early nor loses the cool-down.
    let refreshed = add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], None);
    assert!(offers(&refreshed).is_empty());
    assert!(
        s.cool_down_over(T, "c1", "a", "some-other-offer", t0())
            .is_empty()
    );
    let effects = s.cool_down_over(T, "c1", "a", &first, t0());
    let (contact, to, second) = offers(&effects).pop().expect("offered again");
    assert_eq!((contact.as_str(), to.as_str()), ("c1", "a"));
    assert!(
        s.cool_down_over(T, "c1", "a", &first, t0()).is_empty(),
        "a cool-down ends once"
    );

    // Lapsing counts as declining; meanwhile someone else who can take it goes first, and
    // the cooled agent is next only when that one cannot.
    let effects = s.offer_timed_out(T, &second, t0());
    assert!(offers(&effects).is_empty());
    assert_eq!(cool_downs(&effects).len(), 1);
    add_agent(&mut s, "b", 1, &[], &[(VOICE, 1)], Some(2));
    let b_offer = s
        .contact(T, "c1")
        .and_then(|l| l.offer_id.clone())
        .expect("offered to b");
    assert_eq!(
        s.contact(T, "c1")
            .map(|l| l.record.contact.agent_id.clone()),
        Some("b".into())
    );
    let effects = s.cool_down_over(T, "c1", "a", &second, t0());
    assert!(offers(&effects).is_empty(), "b holds the offer");
    let effects = s.reject(T, "b", 2, &b_offer, t0()).expect("b rejects");
    assert_eq!(
        offers(&effects)
            .into_iter()
            .map(|o| o.1)
            .collect::<Vec<_>>(),
        ["a"],
        "b cools down; a's cool-down is over"
    );
}

#[test]
fn a_transfer_forgets_who_declined() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    add_agent(&mut s, "b", 2, &[], &[(VOICE, 1)], Some(2));
    let (_, _, effects) = s.start(contact("c1", VOICE, Target::Tier(2)), t0());
    let (_, to, offer_id) = offers(&effects).pop().expect("offer");
    assert_eq!(to, "b");
    s.reject(T, "b", 2, &offer_id, t0()).expect("reject");
    let (_, placement, _) = s
        .transfer(T, "c1", plan(Target::Tier(2), false, ""), t0(), |_| {
            Vec::new()
        })
        .expect("transfer");
    assert_eq!(placement.agent_id, "b", "a new hop: b may take it at once");
}

#[test]
fn offers_are_tallied_by_how_they_end_and_waiting_contacts_by_tier() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    add_agent(&mut s, "b", 1, &[], &[(VOICE, 1)], Some(2));
    let (_, _, effects) = s.start(contact("c1", VOICE, Target::Tier(1)), t0());
    let (_, _, offer_id) = offers(&effects).pop().expect("offer");
    let effects = s.reject(T, "a", 1, &offer_id, t0()).expect("reject");
    let (_, _, offer_id) = offers(&effects).pop().expect("offer to b");
    let effects = s.offer_timed_out(T, &offer_id, t0());
    assert!(offers(&effects).is_empty(), "both excluded: it waits");
    let mut waiting = contact("c2", VOICE, Target::Tier(2));
    waiting.contact.tier = 2;
    s.start(waiting, t0());
    assert_eq!(
        s.waiting_by_tier(T),
        BTreeMap::from([(1, 1), (2, 1)]),
        "queued contacts count by tier"
    );
    s.end(T, "c1", "", t0()).expect("end");
    connect(&mut s, "c3", "a", 1);
    s.close_session(T, "b", 2, t0());
    assert_eq!(s.waiting_by_tier(T), BTreeMap::from([(2, 1)]));
    assert_eq!(
        s.take_offer_tally(T),
        OfferTally {
            offered: 3,
            accepted: 1,
            rejected: 1,
            timed_out: 1,
            withdrawn: 0,
        }
    );
    assert_eq!(s.take_offer_tally(T), OfferTally::default(), "taken once");

    // An offer outstanding when its contact ends is withdrawn.
    add_agent(&mut s, "c", 1, &[], &[(VOICE, 1)], Some(3));
    let (_, _, effects) = s.start(contact("c4", VOICE, Target::Tier(1)), t0());
    assert_eq!(offers(&effects).len(), 1);
    s.end(T, "c4", "", t0()).expect("end");
    let tally = s.take_offer_tally(T);
    assert_eq!((tally.offered, tally.withdrawn), (1, 1));
}

#[test]
fn closing_a_session_requeues_its_offers_and_keeps_connected_contacts() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(CHAT, 2)], Some(1));
    let (_, _, effects) = s.start(contact("c1", CHAT, Target::Tier(1)), t0());
    let (_, _, offer_id) = offers(&effects).pop().expect("offer");
    s.accept(T, "a", 1, &offer_id, t0()).expect("accept");
    s.start(contact("c2", CHAT, Target::Tier(1)), t0());
    assert_eq!(active(&s, "a"), ["c1", "c2"]);
    // A stale session id changes nothing.
    assert!(s.close_session(T, "a", 7, t0()).is_empty());
    s.close_session(T, "a", 1, t0());
    assert_eq!(active(&s, "a"), ["c1"]);
    assert_eq!(
        s.contact(T, "c1").map(|c| c.record.state()),
        Some(ContactState::Connected)
    );
    assert_eq!(
        s.contact(T, "c2").map(|c| c.record.state()),
        Some(ContactState::Queued)
    );
}

#[test]
fn a_second_session_is_refused_and_the_first_keeps_its_offers() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    let (_, _, effects) = s.start(contact("c1", VOICE, Target::Tier(1)), t0());
    let (_, _, offer) = offers(&effects).pop().expect("offer");
    let refused = s.open_session(T, "a", 2, t0());
    assert!(
        matches!(&refused, Err(Error::AlreadyExists(m)) if m.contains("agent a already has an open session")),
        "{refused:?}"
    );
    assert_eq!(s.agent(T, "a").and_then(|a| a.session), Some(1));
    s.accept(T, "a", 1, &offer, t0())
        .expect("the first session still answers its offer");
    // Once the first closes, a new one opens.
    s.close_session(T, "a", 1, t0());
    let (view, _) = s.open_session(T, "a", 3, t0()).expect("open");
    assert!(view.session_open);
}

#[test]
fn cold_transfer_releases_the_first_agent_at_once() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    // Tier 2 has an agent who could take it, not logged in yet.
    add_agent(&mut s, "t2", 2, &[], &[(VOICE, 1)], None);
    connect(&mut s, "c1", "a", 1);
    let (record, placement, _) = s
        .transfer(T, "c1", plan(Target::Tier(2), false, "a"), t0(), |_| {
            b"t2".to_vec()
        })
        .expect("transfer");
    assert!(active(&s, "a").is_empty());
    assert_eq!(placement.state, ContactState::Queued as i32);
    assert_eq!(record.contact.tier, 2);
    assert_eq!(record.contact.path.len(), 2);
    let hop = &record.contact.path[1];
    assert_eq!((hop.index, hop.kind), (1, HopKind::ColdTransfer as i32));
    assert_eq!(hop.from_agent_id, "a");
    assert_eq!(record.token, b"t2");
    assert_eq!(
        record.contact.requested_at,
        Some(to_timestamp(t0())),
        "kept"
    );
    let effects = add_agent(&mut s, "b", 2, &[], &[(VOICE, 1)], Some(2));
    assert_eq!(offers(&effects)[0].0, "c1");
    let Some(Effect::Offer { token, .. }) = effects.first() else {
        panic!("offer expected");
    };
    assert_eq!(token, b"t2", "the offer carries the newest token");
}

#[test]
fn warm_transfer_holds_the_first_agent_until_the_next_accepts_even_past_a_reject() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    add_agent(&mut s, "b", 2, &[], &[(VOICE, 1)], Some(2));
    add_agent(&mut s, "c", 2, &[], &[(VOICE, 1)], Some(3));
    connect(&mut s, "c1", "a", 1);
    let (record, placement, effects) = s
        .transfer(T, "c1", plan(Target::Tier(2), true, "a"), t0(), |_| {
            Vec::new()
        })
        .expect("transfer");
    assert_eq!(record.contact.holding_agent_id, "a");
    assert_eq!(placement.state, ContactState::Offered as i32);
    assert_eq!(active(&s, "a"), ["c1"], "still holding");
    let (_, first, offer_id) = offers(&effects).pop().expect("offer");
    let effects = s
        .reject(T, &first, if first == "b" { 2 } else { 3 }, &offer_id, t0())
        .expect("reject");
    assert_eq!(active(&s, "a"), ["c1"], "holding through a reject");
    let (_, second, offer_id) = offers(&effects).pop().expect("next");
    assert_ne!(first, second);
    let session = if second == "b" { 2 } else { 3 };
    let (record, _) = s
        .accept(T, &second, session, &offer_id, t0())
        .expect("accept");
    assert_eq!(record.contact.holding_agent_id, "");
    assert_eq!(record.contact.agent_id, second);
    assert!(active(&s, "a").is_empty(), "released on accept");
}

#[test]
fn transfer_checks_the_transferring_agent_and_the_target_agent() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    connect(&mut s, "c1", "a", 1);
    let err = s
        .transfer(T, "c1", plan(Target::Tier(2), false, "zed"), t0(), |_| {
            Vec::new()
        })
        .expect_err("not theirs");
    assert!(matches!(err, Error::FailedPrecondition(_)), "{err:?}");
    let err = s
        .transfer(
            T,
            "c1",
            plan(Target::AgentId("ghost".into()), false, "a"),
            t0(),
            |_| Vec::new(),
        )
        .expect_err("unknown agent");
    assert!(
        matches!(err, Error::NotFound { kind: "agent", .. }),
        "{err:?}"
    );
    let err = s
        .transfer(T, "nope", plan(Target::Tier(2), false, ""), t0(), |_| {
            Vec::new()
        })
        .expect_err("unknown contact");
    assert!(
        matches!(
            err,
            Error::NotFound {
                kind: "contact",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_transfer_nobody_could_ever_take_is_refused_and_changes_nothing() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[("billing", 5)], &[(VOICE, 1)], Some(1));
    // Offline and without a session: still someone who could take it once logged in.
    add_agent(&mut s, "m", 2, &[("mortgages", 7)], &[(VOICE, 1)], None);
    s.set_agent(
        T,
        AgentUpdate {
            agent_id: "m".into(),
            presence: Some(Presence::Offline),
            ..AgentUpdate::default()
        },
        t0(),
    );
    connect(&mut s, "c1", "a", 1);
    let before = s.contact(T, "c1").cloned();
    let mut to_mortgages = plan(Target::Tier(2), true, "a");
    to_mortgages.extra_skills = vec![SkillRequirement {
        name: "Mortgages".into(),
        min_proficiency: 9,
    }];
    let err = s
        .transfer(T, "c1", to_mortgages.clone(), t0(), |_| Vec::new())
        .expect_err("nobody that proficient");
    let Error::FailedPrecondition(message) = &err else {
        panic!("{err:?}");
    };
    assert!(
        message.contains("has skill mortgages at proficiency 9 or more"),
        "{message}"
    );
    assert_eq!(s.contact(T, "c1").cloned(), before, "nothing moved");
    assert_eq!(active(&s, "a"), ["c1"]);

    let err = s
        .transfer(T, "c1", plan(Target::Tier(3), false, "a"), t0(), |_| {
            Vec::new()
        })
        .expect_err("no tier 3");
    assert!(
        err.to_string()
            .contains("no registered agent serves tier 3"),
        "{err}"
    );
    let err = s
        .transfer(
            T,
            "c1",
            plan(Target::Channel(CHAT), false, "a"),
            t0(),
            |_| Vec::new(),
        )
        .expect_err("nobody chats");
    assert!(err.to_string().contains("serves chat contacts"), "{err}");

    to_mortgages.extra_skills[0].min_proficiency = 7;
    let (_, placement, _) = s
        .transfer(T, "c1", to_mortgages, t0(), |_| Vec::new())
        .expect("m could take it");
    assert_eq!(placement.state, ContactState::Queued as i32);
    assert_eq!(active(&s, "a"), ["c1"], "warm: a holds until m accepts");
}

#[test]
fn the_agent_a_contact_is_offered_to_may_transfer_it_and_holds_nothing() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    add_agent(&mut s, "b", 2, &[], &[(VOICE, 1)], Some(2));
    let (_, _, effects) = s.start(contact("c1", VOICE, Target::Tier(1)), t0());
    let (_, to, _) = offers(&effects).pop().expect("offer");
    assert_eq!(to, "a");
    let (record, placement, effects) = s
        .transfer(T, "c1", plan(Target::Tier(2), true, "a"), t0(), |_| {
            Vec::new()
        })
        .expect("a may pass on what it is offered");
    assert_eq!(
        withdrawn(&effects),
        [("a".to_owned(), "contact transferred")]
    );
    assert_eq!(
        record.contact.holding_agent_id, "",
        "a never took the customer"
    );
    assert_eq!(record.contact.path[1].from_agent_id, "a");
    assert_eq!(placement.agent_id, "b");
    assert!(active(&s, "a").is_empty());
}

#[test]
fn channel_switch_moves_the_contact_to_an_agent_serving_the_new_channel() {
    let mut s = state();
    add_agent(&mut s, "chat", 1, &[], &[(CHAT, 3)], Some(1));
    add_agent(&mut s, "voice", 1, &[], &[(VOICE, 1)], Some(2));
    let (_, _, effects) = s.start(contact("c1", CHAT, Target::Tier(1)), t0());
    let (_, to, offer_id) = offers(&effects).pop().expect("offer");
    assert_eq!(to, "chat");
    s.accept(T, "chat", 1, &offer_id, t0()).expect("accept");
    let (record, placement, _) = s
        .transfer(
            T,
            "c1",
            plan(Target::Channel(VOICE), true, "chat"),
            t0(),
            |_| Vec::new(),
        )
        .expect("switch");
    assert_eq!(record.contact.channel, VOICE);
    assert_eq!(record.contact.path[1].kind, HopKind::ChannelSwitch as i32);
    assert_eq!(placement.agent_id, "voice");
    assert_eq!(record.holding_channel, CHAT, "the chat agent holds on chat");
}

#[test]
fn ending_withdraws_the_offer_and_frees_everyone() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    add_agent(&mut s, "b", 2, &[], &[(VOICE, 1)], Some(2));
    connect(&mut s, "c1", "a", 1);
    s.transfer(T, "c1", plan(Target::Tier(2), true, "a"), t0(), |_| {
        Vec::new()
    })
    .expect("transfer");
    let refused = s
        .end(T, "c1", "c", t0())
        .expect_err("an unrelated agent cannot end it");
    assert!(
        matches!(refused, Error::FailedPrecondition(_)),
        "{refused:?}"
    );
    assert!(
        s.contact(T, "c1").is_some(),
        "still live after a refused end"
    );
    let (record, effects) = s
        .end(T, "c1", "a", t0())
        .expect("the holding agent may end it");
    assert_eq!(record.state(), ContactState::Ended);
    assert_eq!(withdrawn(&effects), [("b".to_owned(), "contact ended")]);
    assert!(active(&s, "a").is_empty() && active(&s, "b").is_empty());
    assert!(s.contact(T, "c1").is_none());
    assert!(s.end(T, "c1", "", t0()).is_err());
}

#[test]
fn self_service_contacts_are_not_offered() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(Channel::App as i32, 1)], Some(1));
    let mut c = contact(
        "c1",
        Channel::App as i32,
        Target::Channel(Channel::App as i32),
    );
    c.contact.state = ContactState::SelfService as i32;
    let (_, placement, effects) = s.start(c, t0());
    assert_eq!(placement.state, ContactState::SelfService as i32);
    assert!(effects.is_empty());
}

#[test]
fn tenants_never_see_each_others_agents_or_contacts() {
    let mut s = state();
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    let mut other = contact("c1", VOICE, Target::Tier(1));
    other.contact.tenant_id = "globex".into();
    let (_, placement, _) = s.start(other, t0());
    assert_eq!(placement.state, ContactState::Queued as i32);
    assert!(s.contact(T, "c1").is_none());
    assert!(s.agent("globex", "a").is_none());
}

#[test]
fn reload_requeues_offered_contacts_and_keeps_connected_ones_with_their_agent() {
    let mut s = state();
    let agent = |id: &str| {
        (
            T.to_owned(),
            Agent {
                agent_id: id.into(),
                tier: 1,
                presence: Presence::Available as i32,
                capacities: vec![ChannelCapacity {
                    channel: VOICE,
                    max_contacts: 1,
                    exclusive: false,
                }],
                session_open: true,
                ..Agent::default()
            },
        )
    };
    let mut offered = contact("offered", VOICE, Target::Tier(1));
    offered.contact.state = ContactState::Offered as i32;
    offered.contact.agent_id = "a".into();
    let mut connected = contact("connected", VOICE, Target::Tier(1));
    connected.contact.state = ContactState::Connected as i32;
    connected.contact.agent_id = "b".into();
    let mut ended = contact("ended", VOICE, Target::Tier(1));
    ended.contact.state = ContactState::Ended as i32;
    s.load(
        vec![agent("a"), agent("b")],
        vec![],
        vec![offered, connected, ended],
    );
    let o = s.contact(T, "offered").expect("kept");
    assert_eq!(o.record.state(), ContactState::Queued);
    assert_eq!(o.record.contact.agent_id, "");
    assert_eq!(active(&s, "b"), ["connected"]);
    assert!(s.contact(T, "ended").is_none());
    assert!(s.agent(T, "a").is_some_and(|a| a.session.is_none()));
    // The first session to open gets the waiting contact.
    let (_, effects) = s.open_session(T, "a", 1, t0()).expect("open");
    assert_eq!(offers(&effects)[0].0, "offered");
}

fn pending_escalations(effects: &[Effect]) -> Vec<(String, u32)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::WarmTransferPending {
                token_id,
                timeout_secs,
                ..
            } => Some((token_id.clone(), *timeout_secs)),
            _ => None,
        })
        .collect()
}

fn returned(effects: &[Effect]) -> Vec<(String, &'static str, i32)> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::TransferReturned {
                agent_id,
                reason,
                contact,
                ..
            } => Some((agent_id.clone(), *reason, contact.state)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_warm_transfer_nobody_accepts_goes_back_to_the_agent_holding_the_customer() {
    let mut s = state();
    add_agent(&mut s, "ann", 1, &[], &[(VOICE, 1)], Some(1));
    add_agent(&mut s, "tim", 2, &[], &[(VOICE, 1)], Some(2));
    connect(&mut s, "c1", "ann", 1);
    let before = s.contact(T, "c1").map(|l| l.record.clone()).expect("live");
    let (_, _, effects) = s
        .transfer(T, "c1", plan(Target::Tier(2), true, "ann"), t0(), |_| {
            b"t2".to_vec()
        })
        .expect("transfer");
    assert_eq!(pending_escalations(&effects), [("tok-next".to_owned(), 0)]);
    let (_, to, tims_offer) = offers(&effects).pop().expect("offered to tim");
    assert_eq!(to, "tim");

    let stale = Return::Lapsed {
        token_id: "tok-c1".into(),
    };
    assert!(
        s.return_warm_transfer(T, "c1", &stale, t0()).is_err(),
        "an older hop's timer"
    );
    let lapsed = Return::Lapsed {
        token_id: "tok-next".into(),
    };
    let (record, effects) = s
        .return_warm_transfer(T, "c1", &lapsed, t0())
        .expect("returned");
    assert_eq!(
        withdrawn(&effects),
        [("tim".to_owned(), "transfer returned to the first agent")]
    );
    assert_eq!(
        returned(&effects),
        [(
            "ann".to_owned(),
            "nobody accepted the transfer in time",
            ContactState::Connected as i32
        )]
    );
    assert_eq!(record.state(), ContactState::Connected);
    assert_eq!(record.contact.agent_id, "ann");
    assert_eq!(record.contact.holding_agent_id, "");
    assert_eq!(record.contact.tier, 1);
    assert_eq!(
        record.contact.path, before.contact.path,
        "as before the transfer"
    );
    assert_eq!((record.target, record.token), (before.target, before.token));
    assert!(record.warm_origin.is_none());
    assert_eq!(active(&s, "ann"), ["c1"]);
    assert!(active(&s, "tim").is_empty());
    assert!(
        s.accept(T, "tim", 2, &tims_offer, t0()).is_err(),
        "never assigned twice"
    );
    assert!(
        s.return_warm_transfer(T, "c1", &lapsed, t0()).is_err(),
        "once"
    );
}

#[test]
fn the_holding_agent_may_cancel_a_warm_transfer_until_it_is_accepted() {
    let mut s = state();
    add_agent(&mut s, "ann", 1, &[], &[(VOICE, 1)], Some(1));
    add_agent(&mut s, "tim", 2, &[], &[(VOICE, 1)], Some(2));
    s.upsert_queue(
        T,
        Queue {
            queue_id: "loans".into(),
            tier: 2,
            escalation_timeout_secs: 45,
            ..Queue::default()
        },
        t0(),
    );
    s.set_agent(
        T,
        AgentUpdate {
            agent_id: "tim".into(),
            queue_ids: Some(vec!["loans".into()]),
            ..AgentUpdate::default()
        },
        t0(),
    );
    connect(&mut s, "c1", "ann", 1);
    let (_, _, effects) = s
        .transfer(
            T,
            "c1",
            plan(Target::QueueId("loans".into()), true, "ann"),
            t0(),
            |_| Vec::new(),
        )
        .expect("transfer");
    assert_eq!(
        pending_escalations(&effects),
        [("tok-next".to_owned(), 45)],
        "the queue's escalation timeout"
    );
    let by_tim = Return::Cancelled {
        agent_id: "tim".into(),
    };
    assert!(s.return_warm_transfer(T, "c1", &by_tim, t0()).is_err());
    let by_ann = Return::Cancelled {
        agent_id: "ann".into(),
    };
    let (record, effects) = s
        .return_warm_transfer(T, "c1", &by_ann, t0())
        .expect("cancelled");
    assert_eq!(
        withdrawn(&effects),
        [("tim".to_owned(), "transfer cancelled")]
    );
    assert_eq!(returned(&effects)[0].1, "transfer cancelled");
    assert_eq!(record.contact.agent_id, "ann");

    // Accepted: there is nothing to cancel or lapse any more.
    let (_, _, effects) = s
        .transfer(T, "c1", plan(Target::Tier(2), true, "ann"), t0(), |_| {
            Vec::new()
        })
        .expect("again");
    let (_, _, offer_id) = offers(&effects).pop().expect("offer");
    s.accept(T, "tim", 2, &offer_id, t0()).expect("accept");
    assert!(s.return_warm_transfer(T, "c1", &by_ann, t0()).is_err());
    let lapsed = Return::Lapsed {
        token_id: "tok-next".into(),
    };
    assert!(s.return_warm_transfer(T, "c1", &lapsed, t0()).is_err());
    assert_eq!(active(&s, "tim"), ["c1"]);
    assert!(active(&s, "ann").is_empty());
}

/// The time of the next [`Effect::Widen`] among `effects`.
fn widens_at(effects: &[Effect]) -> Option<SystemTime> {
    effects.iter().find_map(|e| match e {
        Effect::Widen { at, .. } => Some(*at),
        _ => None,
    })
}

#[test]
fn a_queue_widens_from_the_preferred_agent_to_the_team_to_everyone() {
    let mut s = state();
    let (queue, _) = s.upsert_queue(
        T,
        Queue {
            queue_id: "billing".into(),
            widening: Some(Widening {
                preferred_agent_secs: 30,
                team_secs: 60,
                ..Widening::default()
            }),
            ..Queue::default()
        },
        t0(),
    );
    assert!(queue.widening.is_some());
    for (i, (id, team)) in [("pat", "north"), ("sam", "north"), ("kim", "")]
        .into_iter()
        .enumerate()
    {
        add_agent(&mut s, id, 1, &[], &[(VOICE, 1)], Some(i as u64 + 1));
        if id == "pat" {
            // Pat is on a call.
            connect(&mut s, "call", "pat", 1);
        }
        s.set_agent(
            T,
            AgentUpdate {
                agent_id: id.into(),
                team: Some(team.into()),
                ..AgentUpdate::default()
            },
            t0(),
        );
    }
    // Sam is on a break.
    s.set_agent(
        T,
        AgentUpdate {
            agent_id: "sam".into(),
            presence: Some(Presence::Away),
            ..AgentUpdate::default()
        },
        t0(),
    );
    let mut c = contact("c2", VOICE, Target::QueueId("billing".into()));
    c.contact.preferred_agent_id = "pat".into();
    let (_, placement, effects) = s.start(c, t0());
    assert_eq!(placement.state, ContactState::Queued as i32);
    assert!(
        offers(&effects).is_empty(),
        "Kim is free but outside the ring"
    );
    let secs = Duration::from_secs;
    assert_eq!(widens_at(&effects), Some(t0() + secs(30)));

    // A change before the ring widens keeps it waiting for Pat.
    let effects = s.widen(T, t0() + secs(10));
    assert!(offers(&effects).is_empty());
    // The team's ring: Pat is still busy and Sam away, so nobody yet.
    let effects = s.widen(T, t0() + secs(30));
    assert!(offers(&effects).is_empty());
    assert_eq!(widens_at(&effects), Some(t0() + secs(90)));
    // Sam comes back inside the team's ring and gets it before Kim.
    let (_, effects) = s.set_agent(
        T,
        AgentUpdate {
            agent_id: "sam".into(),
            presence: Some(Presence::Available),
            ..AgentUpdate::default()
        },
        t0() + secs(40),
    );
    let offered = offers(&effects);
    assert_eq!(offered.len(), 1);
    assert_eq!(
        (offered[0].0.as_str(), offered[0].1.as_str()),
        ("c2", "sam")
    );
    // Sam lets it go; at 90 s anyone may take it, and Kim does.
    s.reject(T, "sam", 2, &offered[0].2, t0() + secs(41))
        .expect("open offer");
    let effects = s.widen(T, t0() + secs(90));
    let offered = offers(&effects);
    assert_eq!(offered.len(), 1);
    assert_eq!(offered[0].1, "kim");
}

#[test]
fn an_away_preferred_agent_does_not_hold_the_contact() {
    let mut s = state();
    s.upsert_queue(
        T,
        Queue {
            queue_id: "billing".into(),
            widening: Some(Widening {
                preferred_agent_secs: 600,
                ..Widening::default()
            }),
            ..Queue::default()
        },
        t0(),
    );
    add_agent(&mut s, "pat", 1, &[], &[(VOICE, 1)], None);
    add_agent(&mut s, "kim", 1, &[], &[(VOICE, 1)], Some(2));
    let mut c = contact("c1", VOICE, Target::QueueId("billing".into()));
    c.contact.preferred_agent_id = "pat".into();
    // Pat has no desk open: skipped at once.
    let (_, _, effects) = s.start(c, t0());
    let offered = offers(&effects);
    assert_eq!(offered.len(), 1);
    assert_eq!(offered[0].1, "kim");
    assert_eq!(widens_at(&effects), None);
}

#[test]
fn relaxed_requirements_let_a_less_practised_agent_take_a_long_wait() {
    let mut s = state();
    s.upsert_queue(
        T,
        Queue {
            queue_id: "billing".into(),
            required_skills: vec![SkillRequirement {
                name: "mortgages".into(),
                min_proficiency: 8,
            }],
            widening: Some(Widening {
                relax_after_secs: 120,
                relax_levels: 3,
                ..Widening::default()
            }),
            ..Queue::default()
        },
        t0(),
    );
    add_agent(
        &mut s,
        "junior",
        1,
        &[("mortgages", 5)],
        &[(VOICE, 1)],
        Some(1),
    );
    let (_, _, effects) = s.start(
        contact("c1", VOICE, Target::QueueId("billing".into())),
        t0(),
    );
    assert!(offers(&effects).is_empty());
    assert_eq!(widens_at(&effects), Some(t0() + Duration::from_secs(120)));
    let effects = s.widen(T, t0() + Duration::from_secs(120));
    assert_eq!(offers(&effects).len(), 1);
    // A transfer into the queue is not refused for want of an 8: a 5 will do in time.
    add_agent(&mut s, "other", 1, &[], &[(VOICE, 1)], None);
    s.start(contact("c9", VOICE, Target::Tier(1)), t0());
    assert!(
        s.check_transfer(T, "c9", &plan(Target::QueueId("billing".into()), false, ""))
            .is_ok()
    );
}

#[test]
fn an_agent_wraps_up_after_a_queue_contact_and_is_available_again_after() {
    let mut s = state();
    s.upsert_queue(
        T,
        Queue {
            queue_id: "billing".into(),
            wrap_up_secs: 60,
            ..Queue::default()
        },
        t0(),
    );
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    let queued = || contact("c1", VOICE, Target::QueueId("billing".into()));
    let (_, _, effects) = s.start(queued(), t0());
    let (_, _, offer_id) = offers(&effects).pop().expect("offered");
    s.accept(T, "a", 1, &offer_id, t0()).expect("accept");
    let (_, effects) = s.end(T, "c1", "a", t0()).expect("end");
    let until = t0() + Duration::from_secs(60);
    assert!(effects.contains(&Effect::WrapUp {
        tenant_id: T.into(),
        agent_id: "a".into(),
        until,
    }));
    let a = s.agent(T, "a").expect("agent");
    assert_eq!(a.profile.presence, Presence::WrapUp as i32);
    assert_eq!(a.profile.wrap_up_until, Some(to_timestamp(until)));
    assert_eq!(s.wrap_ups(), [(T.to_owned(), "a".to_owned(), until)]);
    // Nothing is offered during wrap-up...
    let (_, _, effects) = s.start(contact("c2", VOICE, Target::Tier(1)), t0());
    assert!(offers(&effects).is_empty());
    // ...and once it is over the agent is available and gets what waits.
    let (profile, effects) = s
        .wrap_up_over(T, "a", until, until)
        .expect("wrap-up stands");
    assert_eq!(profile.presence, Presence::Available as i32);
    assert_eq!(profile.wrap_up_until, None);
    assert_eq!(offers(&effects).len(), 1);
    assert!(s.wrap_ups().is_empty());

    // A contact outside such a queue leaves its agent available.
    let (_, effects) = s.end(T, "c2", "", until).expect("end");
    assert!(!effects.iter().any(|e| matches!(e, Effect::WrapUp { .. })));
    // Ending wrap-up early by setting a presence: the timer then changes nothing.
    let (_, _, effects) = s.start(queued(), until);
    let (_, _, offer_id) = offers(&effects).pop().expect("offered");
    s.accept(T, "a", 1, &offer_id, until).expect("accept");
    s.end(T, "c1", "a", until).expect("end");
    let (profile, _) = s.set_agent(
        T,
        AgentUpdate {
            agent_id: "a".into(),
            presence: Some(Presence::Away),
            ..AgentUpdate::default()
        },
        until,
    );
    assert_eq!(profile.wrap_up_until, None);
    let later = until + Duration::from_secs(60);
    assert!(s.wrap_up_over(T, "a", later, later).is_none());
    assert_eq!(
        s.agent(T, "a").map(|a| a.profile.presence),
        Some(Presence::Away as i32)
    );
}
