//! A queue's figures and an agent's load, as a supervisor reads them.

use super::*;
use crate::domain::state::stats::{AgentFilter, SERVICE_LEVEL_WINDOW};

fn billing(percent: u32, answer_secs: u32) -> Queue {
    Queue {
        queue_id: "billing".into(),
        tier: 1,
        service_level_percent: percent,
        service_level_answer_secs: answer_secs,
        ..Queue::default()
    }
}

/// A contact for the billing queue that asked for help `waited` before `t0()`.
fn waiting(id: &str, waited: u64) -> ContactRecord {
    let mut c = contact(id, VOICE, Target::QueueId("billing".into()));
    c.contact.requested_at = Some(to_timestamp(t0() - Duration::from_secs(waited)));
    c
}

#[test]
fn a_queue_counts_waiting_and_offered_contacts_its_oldest_wait_and_who_serves_it() {
    let mut s = state();
    s.upsert_queue(T, billing(0, 0), t0());
    for (id, waited) in [("c1", 30), ("c2", 90), ("c3", 10)] {
        s.start(waiting(id, waited), t0());
    }
    let stats = s.queue_stats(T, "billing", t0()).expect("queue");
    assert_eq!((stats.depth, stats.offered), (3, 0));
    assert_eq!(stats.oldest_wait_ms, 90_000);
    assert_eq!(
        stats.oldest_requested_at,
        Some(to_timestamp(t0() - Duration::from_secs(90)))
    );
    assert_eq!((stats.agents_logged_in, stats.agents_available), (0, 0));
    assert!(stats.channels.is_empty());
    assert_eq!(stats.service_level, None, "no target, no service level");

    // One agent at a desk takes the oldest; one without a session is counted nowhere live.
    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1), (CHAT, 2)], Some(1));
    add_agent(&mut s, "b", 1, &[], &[(VOICE, 1)], None);
    let stats = s.queue_stats(T, "billing", t0()).expect("queue");
    assert_eq!((stats.depth, stats.offered), (2, 1));
    assert_eq!(
        stats.oldest_wait_ms, 30_000,
        "c2 is offered, c1 waits longest"
    );
    assert_eq!(stats.agents_logged_in, 1);
    assert_eq!(
        stats.agents_available, 1,
        "a still has chat capacity, so it could take some contact of the queue"
    );
    assert_eq!(stats.channels, [VOICE, CHAT]);
    assert_eq!(s.queue_stats(T, "nope", t0()), None);
}

#[test]
fn service_level_counts_answers_within_target_against_every_contact_that_left() {
    let mut s = state();
    s.upsert_queue(T, billing(80, 20), t0());
    let level = |s: &RoutingState, at| {
        s.queue_stats(T, "billing", at)
            .and_then(|q| q.service_level)
            .expect("a target")
    };
    let empty = level(&s, t0());
    assert_eq!(
        (empty.answered, empty.abandoned, empty.achieved),
        (0, 0, 1.0)
    );
    assert!(empty.met);

    add_agent(&mut s, "a", 1, &[], &[(VOICE, 1)], Some(1));
    for (id, waited) in [("fast", 5), ("slow", 60)] {
        let (_, _, effects) = s.start(waiting(id, waited), t0());
        let (_, _, offer_id) = offers(&effects).pop().expect("offered");
        s.accept(T, "a", 1, &offer_id, t0()).expect("accept");
        s.end(T, id, "a", t0()).expect("end");
    }
    s.set_agent(
        T,
        AgentUpdate {
            agent_id: "a".into(),
            presence: Some(Presence::Away),
            ..AgentUpdate::default()
        },
        t0(),
    );
    s.start(waiting("gave-up", 1), t0());
    s.end(T, "gave-up", "", t0()).expect("end");

    let l = level(&s, t0());
    assert_eq!((l.answered, l.answered_in_target, l.abandoned), (2, 1, 1));
    assert!((l.achieved - 1.0 / 3.0).abs() < 1e-9, "{}", l.achieved);
    assert!(!l.met);
    assert_eq!((l.answer_secs, l.target_percent), (20, 80));

    let later = t0() + SERVICE_LEVEL_WINDOW + Duration::from_secs(1);
    let l = level(&s, later);
    assert_eq!(
        (l.answered, l.abandoned),
        (0, 0),
        "outcomes leave the window"
    );
}

#[test]
fn lists_come_in_id_order_in_pages_and_agents_show_their_load() {
    let mut s = state();
    for id in ["q3", "q1", "q2"] {
        s.upsert_queue(
            T,
            Queue {
                queue_id: id.into(),
                ..Queue::default()
            },
            t0(),
        );
    }
    let (page, next) = s.list_queues(T, "", 2, t0());
    let ids: Vec<_> = page
        .iter()
        .filter_map(|q| q.queue.as_ref().map(|q| q.queue_id.as_str()))
        .collect();
    assert_eq!((ids, next.as_deref()), (vec!["q1", "q2"], Some("q2")));
    let (page, next) = s.list_queues(T, "q2", 2, t0());
    assert_eq!((page.len(), next), (1, None));

    for id in ["b", "a", "c"] {
        add_agent(
            &mut s,
            id,
            1,
            &[("billing", 5)],
            &[(VOICE, 1), (CHAT, 3)],
            Some(1),
        );
    }
    s.start(contact("c1", CHAT, Target::QueueId("billing".into())), t0());
    let (page, next) = s.list_agents(T, "", 2, &AgentFilter::default());
    assert_eq!(next.as_deref(), Some("b"));
    let a = &page[0];
    assert_eq!(a.agent.as_ref().map(|a| a.agent_id.as_str()), Some("a"));
    let load: Vec<_> = a
        .load
        .iter()
        .map(|l| (l.channel, l.active, l.max_contacts))
        .collect();
    assert_eq!(
        load,
        [(VOICE, 0, 1), (CHAT, 1, 3)],
        "a was offered the chat"
    );
    assert_eq!(
        a.agent.as_ref().map(|a| a.active_contact_ids.clone()),
        Some(vec!["c1".to_owned()])
    );
    let (page, next) = s.list_agents(T, "b", 2, &AgentFilter::default());
    assert_eq!((page.len(), next), (1, None));
    let (page, _) = s.list_agents(T, "", 10, &AgentFilter::queue("elsewhere"));
    assert!(page.is_empty(), "nobody serves another queue");
    s.set_agent(
        T,
        AgentUpdate {
            agent_id: "c".into(),
            team: Some("north".into()),
            ..AgentUpdate::default()
        },
        t0(),
    );
    let north = AgentFilter {
        queue_id: "billing",
        team: "north",
    };
    let (page, _) = s.list_agents(T, "", 10, &north);
    let ids: Vec<_> = page
        .iter()
        .filter_map(|a| a.agent.as_ref())
        .map(|a| (a.agent_id.as_str(), a.team.as_str()))
        .collect();
    assert_eq!(ids, [("c", "north")]);
}
