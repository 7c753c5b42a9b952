use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use baton_proto::v1::{Agent, Channel, ChannelCapacity, Presence, Skill, SkillRequirement};

use super::*;

const VOICE: i32 = Channel::Voice as i32;
const CHAT: i32 = Channel::Chat as i32;

fn agent(id: &str, tier: u32, skills: &[(&str, u32)], caps: &[(i32, u32)]) -> AgentState {
    let mut a = AgentState::new(Agent {
        agent_id: id.into(),
        tier,
        skills: skills
            .iter()
            .map(|(n, p)| Skill {
                name: (*n).into(),
                proficiency: *p,
            })
            .collect(),
        capacities: caps
            .iter()
            .map(|(c, m)| ChannelCapacity {
                channel: *c,
                max_contacts: *m,
                exclusive: false,
            })
            .collect(),
        queue_ids: vec!["billing".into()],
        presence: Presence::Available as i32,
        ..Agent::default()
    });
    a.session = Some(1);
    a
}

fn req(name: &str, min: u32) -> SkillRequirement {
    SkillRequirement {
        name: name.into(),
        min_proficiency: min,
    }
}

/// Nobody declined.
static NO_REFUSALS: BTreeMap<String, Declined> = BTreeMap::new();

fn demand<'a>(
    skills: &'a [SkillRequirement],
    target: Option<&'a Target>,
    excluded: &'a BTreeSet<String>,
) -> Demand<'a> {
    Demand {
        channel: VOICE,
        skills,
        target,
        preferred_agent_id: "",
        excluded,
        declined: &NO_REFUSALS,
        ring: Ring::Everyone,
        selection: AgentSelection::Unspecified,
    }
}

#[test]
fn skills_below_the_minimum_make_an_agent_ineligible() {
    let none = BTreeSet::new();
    let skills = [req("mortgages", 5)];
    let d = demand(&skills, None, &none);
    assert!(is_eligible(
        &agent("a", 1, &[("mortgages", 5)], &[(VOICE, 1)]),
        &d
    ));
    assert!(!is_eligible(
        &agent("a", 1, &[("mortgages", 4)], &[(VOICE, 1)]),
        &d
    ));
    assert!(!is_eligible(&agent("a", 1, &[], &[(VOICE, 1)]), &d));
    // A minimum of 0 reads as 1: having the skill at all is enough.
    let any = [req("mortgages", 0)];
    assert!(!is_eligible(
        &agent("a", 1, &[], &[(VOICE, 1)]),
        &demand(&any, None, &none)
    ));
}

#[test]
fn tier_queue_agent_and_channel_targets_are_respected() {
    let none = BTreeSet::new();
    let a = agent("a", 2, &[], &[(VOICE, 1)]);
    let tier2 = Target::Tier(2);
    let tier1 = Target::Tier(1);
    let billing = Target::QueueId("billing".into());
    let loans = Target::QueueId("loans".into());
    let me = Target::AgentId("a".into());
    let other = Target::AgentId("b".into());
    let voice = Target::Channel(VOICE);
    let chat = Target::Channel(CHAT);
    for (target, ok) in [
        (&tier2, true),
        (&tier1, false),
        (&billing, true),
        (&loans, false),
        (&me, true),
        (&other, false),
        (&voice, true),
        (&chat, false),
    ] {
        assert_eq!(
            is_eligible(&a, &demand(&[], Some(target), &none)),
            ok,
            "{target:?}"
        );
    }
}

#[test]
fn capacity_is_per_channel_and_offers_count() {
    let none = BTreeSet::new();
    let mut a = agent("a", 1, &[], &[(VOICE, 1), (CHAT, 2)]);
    let voice = demand(&[], None, &none);
    let chat = Demand {
        channel: CHAT,
        ..voice
    };
    a.active.insert("c1".into(), CHAT);
    assert!(is_eligible(&a, &voice));
    assert!(is_eligible(&a, &chat));
    a.active.insert("c2".into(), CHAT);
    assert!(
        is_eligible(&a, &voice),
        "chat contacts do not use voice capacity"
    );
    assert!(!is_eligible(&a, &chat));
    a.active.insert("c3".into(), VOICE);
    assert!(!is_eligible(&a, &voice));
    // No capacity listed for a channel means none.
    let email = Demand {
        channel: Channel::Email as i32,
        ..voice
    };
    assert!(!is_eligible(&agent("b", 1, &[], &[(VOICE, 1)]), &email));
}

#[test]
fn presence_session_and_rejection_gate_offers() {
    let none = BTreeSet::new();
    let d = demand(&[], None, &none);
    let mut away = agent("a", 1, &[], &[(VOICE, 1)]);
    away.profile.presence = Presence::Away as i32;
    assert!(!is_eligible(&away, &d));
    let mut no_session = agent("a", 1, &[], &[(VOICE, 1)]);
    no_session.session = None;
    assert!(!is_eligible(&no_session, &d));
    let rejected: BTreeSet<String> = ["a".to_owned()].into();
    assert!(!is_eligible(
        &agent("a", 1, &[], &[(VOICE, 1)]),
        &demand(&[], None, &rejected)
    ));
}

#[test]
fn an_agent_who_declined_is_chosen_only_after_its_cool_down_and_when_nobody_else_can() {
    let none = BTreeSet::new();
    let cooling = Declined {
        offer_id: "o1".into(),
        cooled: false,
    };
    let mut declined = BTreeMap::from([("a".to_owned(), cooling)]);
    let d = Demand {
        declined: &declined,
        ..demand(&[], None, &none)
    };
    let a = agent("a", 1, &[], &[(VOICE, 1)]);
    let mut b = agent("b", 1, &[], &[(VOICE, 1)]);
    b.last_offer = 9;
    assert_eq!(choose([&a], &d).map(AgentState::id), None, "still cooling");
    declined.insert(
        "a".into(),
        Declined {
            offer_id: "o1".into(),
            cooled: true,
        },
    );
    let d = Demand {
        declined: &declined,
        ..demand(&[], None, &none)
    };
    assert_eq!(
        choose([&a], &d).map(AgentState::id),
        Some("a"),
        "cooled, and alone"
    );
    assert_eq!(
        choose([&a, &b], &d).map(AgentState::id),
        Some("b"),
        "anyone else first, even one offered work more recently"
    );
    let excluded: BTreeSet<String> = ["a".to_owned()].into();
    let d = Demand {
        declined: &declined,
        ..demand(&[], None, &excluded)
    };
    assert_eq!(
        choose([&a], &d).map(AgentState::id),
        None,
        "excluded stays excluded"
    );
    let mut away = a;
    away.profile.presence = Presence::Away as i32;
    let d = Demand {
        declined: &declined,
        ..demand(&[], None, &none)
    };
    assert_eq!(
        choose([&away], &d).map(AgentState::id),
        None,
        "and must be able to"
    );
}

#[test]
fn preferred_agent_wins_when_eligible_and_is_skipped_when_away() {
    let none = BTreeSet::new();
    let busy_pref = {
        let mut a = agent("pref", 1, &[], &[(VOICE, 2)]);
        a.active.insert("x".into(), VOICE);
        a
    };
    let idle = agent("idle", 1, &[], &[(VOICE, 2)]);
    let d = Demand {
        preferred_agent_id: "pref",
        ..demand(&[], None, &none)
    };
    let agents = [idle.clone(), busy_pref.clone()];
    assert_eq!(choose(&agents, &d).map(AgentState::id), Some("pref"));
    let mut away = busy_pref;
    away.profile.presence = Presence::Away as i32;
    let agents = [idle, away];
    assert_eq!(choose(&agents, &d).map(AgentState::id), Some("idle"));
}

#[test]
fn choice_prefers_fewest_contacts_then_proficiency_then_longest_idle() {
    let none = BTreeSet::new();
    let skills = [req("billing", 1)];
    let d = demand(&skills, None, &none);
    let mut loaded = agent("a", 1, &[("billing", 10)], &[(VOICE, 1), (CHAT, 3)]);
    loaded.active.insert("c".into(), CHAT);
    let novice = agent("b", 1, &[("billing", 2)], &[(VOICE, 1)]);
    let expert = agent("c", 1, &[("billing", 9)], &[(VOICE, 1)]);
    let agents = [loaded, novice.clone(), expert.clone()];
    assert_eq!(choose(&agents, &d).map(AgentState::id), Some("c"));
    let mut recent = expert.clone();
    recent.last_offer = 7;
    let mut earlier = expert;
    earlier.profile.agent_id = "d".into();
    earlier.last_offer = 3;
    let agents = [recent, earlier, novice];
    assert_eq!(choose(&agents, &d).map(AgentState::id), Some("d"));
}

#[test]
fn priority_ages_one_step_per_interval() {
    let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
    let aging = Duration::from_secs(60);
    assert_eq!(effective_priority(3, t0, t0, aging), 3);
    assert_eq!(
        effective_priority(3, t0, t0 + Duration::from_secs(59), aging),
        3
    );
    assert_eq!(
        effective_priority(3, t0, t0 + Duration::from_secs(120), aging),
        5
    );
    // A clock running backwards never lowers a priority.
    assert_eq!(
        effective_priority(3, t0, t0 - Duration::from_secs(120), aging),
        3
    );
    assert_eq!(effective_priority(3, t0, t0 + aging, Duration::ZERO), 3);
}

#[test]
fn aged_contacts_overtake_fresh_higher_priority_ones_and_ties_go_to_the_earliest() {
    let aging = Duration::from_secs(60);
    let now = UNIX_EPOCH + Duration::from_secs(10_000);
    let old: SystemTime = now - Duration::from_secs(180);
    let mut keys = [
        (
            "fresh-high",
            queue_order_key(2, now, "fresh-high", now, aging),
        ),
        ("old-low", queue_order_key(0, old, "old-low", now, aging)),
        (
            "fresh-low",
            queue_order_key(0, now, "fresh-low", now, aging),
        ),
    ];
    keys.sort_by(|a, b| a.1.cmp(&b.1));
    let order: Vec<&str> = keys.iter().map(|(n, _)| *n).collect();
    // old-low has aged to 3 and goes first; fresh-high (2) next; fresh-low (0) last.
    assert_eq!(order, ["old-low", "fresh-high", "fresh-low"]);
    let tie_a = queue_order_key(1, old, "b", now - Duration::from_secs(120), aging);
    let tie_b = queue_order_key(
        1,
        now - Duration::from_secs(150),
        "a",
        now - Duration::from_secs(120),
        aging,
    );
    assert!(
        tie_a < tie_b,
        "equal effective priority: the earlier request first"
    );
}

#[test]
fn requirements_merge_by_name_keeping_the_higher_minimum() {
    let merged = merge_requirements(
        &[req("billing", 3), req("loans", 0)],
        &[req("billing", 6), req("arabic", 2)],
    );
    assert_eq!(
        merged,
        vec![req("arabic", 2), req("billing", 6), req("loans", 1)]
    );
}

#[test]
fn a_contact_nobody_could_ever_take_is_told_apart_from_one_nobody_can_take_now() {
    let mut away = agent("ann", 2, &[("mortgages", 8)], &[(VOICE, 1)]);
    away.profile.presence = Presence::Offline as i32;
    away.session = None;
    let chat_only = agent("bob", 2, &[("mortgages", 9), ("billing", 5)], &[(CHAT, 3)]);
    let first_line = agent("cid", 1, &[("billing", 9)], &[(VOICE, 1)]);
    let agents = [away, chat_only, first_line];
    let need = |target: &Target, skills: &[SkillRequirement], channel: i32, except| {
        let need = Need {
            channel,
            skills,
            target,
            except,
        };
        unservable(&agents, &need)
    };
    let mortgages = [req("mortgages", 6)];
    assert_eq!(
        need(&Target::Tier(2), &mortgages, VOICE, ""),
        None,
        "an offline agent still counts: they may log in"
    );
    assert_eq!(
        need(&Target::Tier(3), &[], VOICE, "").as_deref(),
        Some("no registered agent serves tier 3")
    );
    assert_eq!(
        need(&Target::Tier(2), &mortgages, VOICE, "ann").as_deref(),
        Some("no registered agent serving tier 2 takes voice contacts"),
        "the transferring agent is never offered it back"
    );
    assert_eq!(
        need(&Target::Tier(2), &[req("mortgages", 10)], VOICE, "").as_deref(),
        Some(
            "no registered agent serving tier 2 on voice has skill mortgages at proficiency 10 or more"
        )
    );
    let both = [req("billing", 3), req("mortgages", 6)];
    assert_eq!(
        need(&Target::QueueId("billing".into()), &both, VOICE, "").as_deref(),
        Some(
            "no registered agent serving queue billing on voice has all of billing (3+), mortgages (6+)"
        )
    );
    assert_eq!(
        need(&Target::QueueId("billing".into()), &both, CHAT, ""),
        None
    );
    assert_eq!(
        need(
            &Target::Channel(Channel::Email as i32),
            &[],
            Channel::Email as i32,
            ""
        )
        .as_deref(),
        Some("no registered agent serves email contacts")
    );
    assert_eq!(
        need(&Target::AgentId("cid".into()), &[], VOICE, "bob").as_deref(),
        None
    );
}

#[test]
fn an_exclusive_channel_blocks_the_others_both_ways() {
    let none = BTreeSet::new();
    let mut a = agent("a", 1, &[], &[(VOICE, 1), (CHAT, 3)]);
    a.profile.capacities[0].exclusive = true;
    let voice = demand(&[], None, &none);
    let chat = Demand {
        channel: CHAT,
        ..voice
    };
    assert!(is_eligible(&a, &voice) && is_eligible(&a, &chat));
    a.active.insert("call".into(), VOICE);
    assert!(!is_eligible(&a, &chat), "a call blocks chats");
    assert!(
        !may_take_some(&a, None),
        "on a call the agent can take nothing"
    );
    a.release("call", UNIX_EPOCH);
    a.active.insert("chat".into(), CHAT);
    assert!(!is_eligible(&a, &voice), "a chat keeps calls away");
    assert!(is_eligible(&a, &chat), "chats still fill beside each other");
    // Without the flag, channels fill independently.
    a.profile.capacities[0].exclusive = false;
    assert!(is_eligible(&a, &voice));
}

#[test]
fn each_selection_rule_ranks_agents_its_own_way() {
    let none = BTreeSet::new();
    let t0 = UNIX_EPOCH + Duration::from_secs(1_000);
    // "busy" has a chat already; "idle" has been idle longest; "expert" is most proficient.
    let mut busy = agent("busy", 1, &[("billing", 5)], &[(CHAT, 4)]);
    busy.active.insert("c0".into(), CHAT);
    let mut idle = agent("idle", 1, &[("billing", 2)], &[(CHAT, 4)]);
    idle.idle_since = Some(t0);
    let mut expert = agent("expert", 1, &[("billing", 9)], &[(CHAT, 4)]);
    expert.idle_since = Some(t0 + Duration::from_secs(60));
    let agents = [busy, idle, expert];
    let skills = [req("billing", 1)];
    let pick = |selection| {
        let d = Demand {
            channel: CHAT,
            selection,
            ..demand(&skills, None, &none)
        };
        choose(agents.iter(), &d).map(|a| a.id().to_owned())
    };
    assert_eq!(
        pick(AgentSelection::LeastOccupied).as_deref(),
        Some("expert")
    );
    assert_eq!(pick(AgentSelection::Unspecified).as_deref(), Some("expert"));
    assert_eq!(pick(AgentSelection::LongestIdle).as_deref(), Some("idle"));
    let mut ranked = agents.clone();
    ranked[2].active.insert("c1".into(), CHAT);
    ranked[2].active.insert("c2".into(), CHAT);
    let d = Demand {
        channel: CHAT,
        selection: AgentSelection::MostProficient,
        ..demand(&skills, None, &none)
    };
    assert_eq!(
        choose(ranked.iter(), &d).map(AgentState::id),
        Some("expert")
    );
    let d = Demand {
        selection: AgentSelection::LeastOccupied,
        ..d
    };
    assert_eq!(choose(ranked.iter(), &d).map(AgentState::id), Some("idle"));
}

#[test]
fn widening_goes_from_the_preferred_agent_to_the_team_to_everyone_and_relaxes() {
    let w = Widening {
        preferred_agent_secs: 30,
        team_secs: 60,
        relax_after_secs: 120,
        relax_levels: 2,
    };
    let secs = Duration::from_secs;
    let mut pat = agent("pat", 1, &[], &[(VOICE, 1)]);
    pat.profile.team = "north".into();
    let at = |waited, team_present| stage(Some(&w), secs(waited), Some(&pat), team_present);
    assert_eq!(at(0, true).ring, Ring::Preferred);
    assert_eq!(at(0, true).changes_at, Some(secs(30)));
    assert_eq!(at(29, true).ring, Ring::Preferred);
    assert_eq!(at(30, true).ring, Ring::Team("north"));
    assert_eq!(at(30, true).changes_at, Some(secs(90)));
    assert_eq!(
        at(30, false).ring,
        Ring::Everyone,
        "nobody of the team is at a desk"
    );
    assert_eq!(at(90, true).ring, Ring::Everyone);
    assert_eq!(at(90, true).changes_at, Some(secs(120)));
    assert!(!at(119, true).relaxed);
    assert!(at(120, true).relaxed);
    assert_eq!(
        at(120, true).changes_at,
        None,
        "nothing widens after relaxing"
    );

    // An away preferred agent holds nothing: the team gets it at once.
    pat.profile.presence = Presence::Away as i32;
    let away = stage(Some(&w), secs(0), Some(&pat), true);
    assert_eq!(away.ring, Ring::Team("north"));
    // In wrap-up (soon free), the contact waits for them.
    pat.profile.presence = Presence::WrapUp as i32;
    assert_eq!(
        stage(Some(&w), secs(0), Some(&pat), true).ring,
        Ring::Preferred
    );
    // No preferred agent, or no widening: everyone at once.
    assert_eq!(stage(Some(&w), secs(0), None, true).ring, Ring::Everyone);
    assert_eq!(stage(None, secs(0), Some(&pat), true).ring, Ring::Everyone);
    assert_eq!(stage(None, secs(0), Some(&pat), true).changes_at, None);

    let relaxed = relax(&[req("mortgages", 7), req("billing", 2), req("any", 0)], 2);
    let mins: Vec<u32> = relaxed.iter().map(|r| r.min_proficiency).collect();
    assert_eq!(mins, [5, 1, 1]);
}

#[test]
fn a_ring_admits_only_its_agents() {
    let none = BTreeSet::new();
    let mut pat = agent("pat", 1, &[], &[(VOICE, 1)]);
    pat.profile.team = "north".into();
    let mut sam = agent("sam", 1, &[], &[(VOICE, 1)]);
    sam.profile.team = "north".into();
    let kim = agent("kim", 1, &[], &[(VOICE, 1)]);
    let base = Demand {
        preferred_agent_id: "pat",
        ..demand(&[], None, &none)
    };
    let admits = |ring, a: &AgentState| is_eligible(a, &Demand { ring, ..base });
    assert!(admits(Ring::Preferred, &pat));
    assert!(!admits(Ring::Preferred, &sam));
    assert!(admits(Ring::Team("north"), &sam));
    assert!(!admits(Ring::Team("north"), &kim));
    assert!(admits(Ring::Everyone, &kim));
    // Busy preferred agent in the team ring: the teammate gets it.
    pat.active.insert("c".into(), VOICE);
    let d = Demand {
        ring: Ring::Team("north"),
        ..base
    };
    assert_eq!(
        choose([&pat, &sam, &kim], &d).map(AgentState::id),
        Some("sam")
    );
}
