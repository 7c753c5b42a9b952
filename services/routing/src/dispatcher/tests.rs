use std::sync::Arc;
use std::time::Duration;

use baton_proto::v1::{
    Channel, ChannelCapacity, Contact, ContactState, Presence, audience::Target,
};

use super::*;
use crate::domain::record::{ContactRecord, audience};
use crate::domain::state::AgentUpdate;
use crate::store::EmbeddedRoutingStore;

const T: &str = "acme";

fn idem(key: &str) -> Idem {
    Idem {
        tenant_id: T.into(),
        operation: "test",
        key: key.into(),
        digest: [1; 32],
    }
}

async fn setup() -> (DispatcherHandle, tempfile::TempDir, Shutdown) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(EmbeddedRoutingStore::open(dir.path()).expect("open"));
    let config = RoutingConfig::default();
    let shutdown = Shutdown::new();
    let handle = Dispatcher::spawn(
        RoutingState::new(config.priority_aging),
        Persister::spawn(store, None, Shutdown::new()),
        KeyRing::generate("k1").expect("ring"),
        config,
        shutdown.clone(),
        crate::metrics::RoutingMetrics::global(),
    );
    (handle, dir, shutdown)
}

async fn agent(d: &DispatcherHandle, id: &str) -> mpsc::Receiver<AgentSessionResponse> {
    let update = AgentUpdate {
        agent_id: id.into(),
        presence: Some(Presence::Available),
        capacities: Some(vec![ChannelCapacity {
            channel: Channel::Voice as i32,
            max_contacts: 1,
            exclusive: false,
        }]),
        queue_ids: Some(vec!["q".into()]),
        ..AgentUpdate::default()
    };
    let acked = d
        .call(|reply| Command::SetAgent {
            idem: idem(id),
            update,
            reply,
        })
        .await
        .expect("call")
        .expect("set");
    acked.durable.await.expect("sent").expect("durable");
    let (tx, mut rx) = mpsc::channel(8);
    d.call(|reply| Command::OpenSession {
        tenant_id: T.into(),
        agent_id: id.into(),
        tx,
        reply,
    })
    .await
    .expect("call")
    .expect("open");
    assert!(matches!(
        rx.recv().await.and_then(|m| m.event),
        Some(Event::Welcome(_))
    ));
    rx
}

fn record(id: &str) -> ContactRecord {
    ContactRecord {
        contact: Contact {
            contact_id: id.into(),
            tenant_id: T.into(),
            channel: Channel::Voice as i32,
            state: ContactState::Queued as i32,
            ..Contact::default()
        },
        target: Some(audience(Target::Tier(1))),
        ..ContactRecord::default()
    }
}

async fn start(d: &DispatcherHandle, id: &str, key: &str) -> Acked<StartContactResponse> {
    d.call(|reply| Command::Start {
        idem: idem(key),
        record: Box::new(record(id)),
        response: Box::default(),
        reply,
    })
    .await
    .expect("call")
    .expect("start")
}

#[tokio::test(start_paused = true)]
async fn an_unanswered_offer_times_out_and_moves_to_the_next_agent() {
    let (d, _dir, _shutdown) = setup().await;
    let mut a = agent(&d, "a").await;
    let mut b = agent(&d, "b").await;
    let acked = start(&d, "c1", "k1").await;
    acked.durable.await.expect("sent").expect("durable");
    let Some(Event::Offer(offer)) = a.recv().await.and_then(|m| m.event) else {
        panic!("a is offered first");
    };
    let started = Instant::now();
    // Nobody answers: with time paused, the runtime jumps to the offer's deadline.
    let Some(Event::Withdrawn(withdrawn)) = a.recv().await.and_then(|m| m.event) else {
        panic!("withdrawn expected");
    };
    assert_eq!(withdrawn.offer_id, offer.offer_id);
    assert_eq!(withdrawn.reason, "offer timed out");
    assert!(started.elapsed() >= Duration::from_secs(30));
    let Some(Event::Offer(next)) = b.recv().await.and_then(|m| m.event) else {
        panic!("b is offered next");
    };
    assert_eq!(next.contact.map(|c| c.contact_id), Some("c1".into()));
}

#[tokio::test]
async fn a_repeated_request_gets_the_first_answer_and_changes_nothing() {
    let (d, _dir, _shutdown) = setup().await;
    let first = start(&d, "c1", "same").await;
    let again = start(&d, "c2", "same").await;
    assert!(again.replayed);
    assert_eq!(first.value, again.value);
    let c2 = d
        .call(|reply| Command::Contact {
            tenant_id: T.into(),
            contact_id: "c2".into(),
            reply,
        })
        .await
        .expect("call");
    assert!(c2.is_none(), "the retry created nothing");
}

#[tokio::test]
async fn a_key_that_comes_back_with_another_request_is_refused_and_changes_nothing() {
    let (d, _dir, _shutdown) = setup().await;
    let first = start(&d, "c1", "same").await;
    let reused = d
        .call(|reply| Command::Start {
            idem: Idem {
                digest: [2; 32],
                ..idem("same")
            },
            record: Box::new(record("c2")),
            response: Box::default(),
            reply,
        })
        .await
        .expect("call");
    assert!(matches!(reused, Err(Error::KeyReused)), "{reused:?}");
    let again = start(&d, "c3", "same").await;
    assert!(
        again.replayed,
        "the first request's retry still gets its answer"
    );
    assert_eq!(again.value, first.value);
    for id in ["c2", "c3"] {
        let live = d
            .call(|reply| Command::Contact {
                tenant_id: T.into(),
                contact_id: id.into(),
                reply,
            })
            .await
            .expect("call");
        assert!(live.is_none(), "{id} was never created");
    }
}

#[tokio::test]
async fn a_second_session_is_refused_while_the_first_is_open_and_not_once_it_is_gone() {
    let (d, _dir, _shutdown) = setup().await;
    let first = agent(&d, "a").await;
    let open = |tx| {
        d.call(|reply| Command::OpenSession {
            tenant_id: T.into(),
            agent_id: "a".into(),
            tx,
            reply,
        })
    };
    let (tx, _second) = mpsc::channel(8);
    let refused = open(tx).await.expect("call");
    assert!(
        matches!(refused, Err(Error::AlreadyExists(_))),
        "{refused:?}"
    );
    // The first desk's stream is gone (nothing can reach it any more): it no longer holds
    // the agent.
    drop(first);
    let (tx, mut third) = mpsc::channel(8);
    open(tx).await.expect("call").expect("opens");
    assert!(matches!(
        third.recv().await.and_then(|m| m.event),
        Some(Event::Welcome(_))
    ));
}

#[tokio::test]
async fn shutdown_ends_every_session() {
    let (d, _dir, shutdown) = setup().await;
    let mut a = agent(&d, "a").await;
    shutdown.trigger();
    assert!(a.recv().await.is_none(), "the session's stream ends");
    let (tx, _rx) = mpsc::channel(1);
    let refused = d
        .call(|reply| Command::OpenSession {
            tenant_id: T.into(),
            agent_id: "a".into(),
            tx,
            reply,
        })
        .await
        .expect("call");
    assert!(matches!(refused, Err(Error::Busy(_))));
}

#[tokio::test(start_paused = true)]
async fn a_rejected_contact_nobody_else_can_take_comes_back_after_the_cool_down() {
    let (d, _dir, _shutdown) = setup().await;
    let mut a = agent(&d, "a").await;
    let acked = start(&d, "c1", "k1").await;
    acked.durable.await.expect("sent").expect("durable");
    let Some(Event::Offer(offer)) = a.recv().await.and_then(|m| m.event) else {
        panic!("a is offered");
    };
    let rejected_at = Instant::now();
    d.tell(Command::Reject {
        tenant_id: T.into(),
        agent_id: "a".into(),
        session: 1,
        offer_id: offer.offer_id.clone(),
    })
    .await;
    // With time paused, the runtime jumps to the next timer: the cool-down's end.
    let next = tokio::time::timeout(Duration::from_secs(600), a.recv()).await;
    let Ok(Some(AgentSessionResponse {
        event: Some(Event::Offer(again)),
    })) = next
    else {
        panic!("offered again within the cool-down, got {next:?}");
    };
    let waited = rejected_at.elapsed();
    let cooldown = RoutingConfig::default().offer_cooldown;
    assert!(waited >= cooldown, "{waited:?}");
    assert!(
        waited < RoutingConfig::default().offer_timeout,
        "{waited:?}"
    );
    assert_ne!(again.offer_id, offer.offer_id);
    assert_eq!(again.contact.map(|c| c.contact_id), Some("c1".into()));
}

#[tokio::test(start_paused = true)]
async fn a_warm_transfer_nobody_accepts_is_returned_to_the_first_agents_desk() {
    let (d, _dir, _shutdown) = setup().await;
    let mut a = agent(&d, "a").await;
    let mut b = agent(&d, "b").await;
    start(&d, "c1", "k1").await;
    let Some(Event::Offer(offer)) = a.recv().await.and_then(|m| m.event) else {
        panic!("a is offered first");
    };
    let accepted = d
        .call(|reply| Command::Accept {
            tenant_id: T.into(),
            agent_id: "a".into(),
            session: 1,
            offer_id: offer.offer_id.clone(),
            reply,
        })
        .await
        .expect("call")
        .expect("accept");
    accepted.durable.await.expect("sent").expect("durable");
    let plan = crate::domain::state::TransferPlan {
        target: Target::Tier(1),
        extra_skills: Vec::new(),
        warm: true,
        from_agent_id: "a".into(),
        handover: None,
        token_id: "tok-warm".into(),
    };
    let transferred_at = Instant::now();
    d.call(|reply| Command::Transfer {
        idem: idem("t1"),
        contact_id: "c1".into(),
        plan: Box::new(plan),
        parts: Box::default(),
        reply,
    })
    .await
    .expect("call")
    .expect("transfer");
    let Some(Event::Offer(to_b)) = b.recv().await.and_then(|m| m.event) else {
        panic!("b is offered the transfer");
    };
    assert_eq!(to_b.contact.map(|c| c.holding_agent_id), Some("a".into()));
    // Nobody at b's desk answers: offers lapse, cool down and come back until the
    // escalation timeout gives the contact back to a, who is told.
    let returned = loop {
        let next = tokio::time::timeout(Duration::from_secs(600), a.recv()).await;
        match next {
            Ok(Some(AgentSessionResponse {
                event: Some(Event::TransferReturned(r)),
            })) => break r,
            Ok(Some(_)) => {}
            other => panic!("a is told of the return, got {other:?}"),
        }
    };
    assert!(transferred_at.elapsed() >= RoutingConfig::default().warm_transfer_timeout);
    assert_eq!(returned.reason, "nobody accepted the transfer in time");
    let contact = returned.contact.expect("contact");
    assert_eq!(
        (
            contact.state,
            contact.agent_id.as_str(),
            contact.holding_agent_id.as_str()
        ),
        (ContactState::Connected as i32, "a", "")
    );
    let live = d
        .call(|reply| Command::Contact {
            tenant_id: T.into(),
            contact_id: "c1".into(),
            reply,
        })
        .await
        .expect("call")
        .expect("live");
    assert_eq!(live.contact.agent_id, "a");
    assert!(live.warm_origin.is_none());
}

#[tokio::test]
async fn a_contact_waiting_for_its_busy_preferred_agent_widens_to_others_on_time() {
    let (d, _dir, _shutdown) = setup().await;
    let queue = baton_proto::v1::Queue {
        queue_id: "q".into(),
        tier: 1,
        widening: Some(baton_proto::v1::Widening {
            preferred_agent_secs: 1,
            ..Default::default()
        }),
        ..Default::default()
    };
    d.call(|reply| Command::UpsertQueue {
        idem: idem("q"),
        queue,
        reply,
    })
    .await
    .expect("call")
    .expect("queue");
    let mut a = agent(&d, "a").await;
    // A call for "a" alone takes its only place.
    let mut busy = record("c0");
    busy.target = Some(audience(Target::AgentId("a".into())));
    d.call(|reply| Command::Start {
        idem: idem("k0"),
        record: Box::new(busy),
        response: Box::default(),
        reply,
    })
    .await
    .expect("call")
    .expect("start");
    assert!(matches!(
        a.recv().await.and_then(|m| m.event),
        Some(Event::Offer(_))
    ));
    let mut b = agent(&d, "b").await;
    let mut waiting = record("c1");
    waiting.target = Some(audience(Target::QueueId("q".into())));
    waiting.contact.preferred_agent_id = "a".into();
    waiting.contact.requested_at = Some(to_timestamp(SystemTime::now()));
    d.call(|reply| Command::Start {
        idem: idem("k1"),
        record: Box::new(waiting),
        response: Box::default(),
        reply,
    })
    .await
    .expect("call")
    .expect("start");
    // Inside the preferred agent's ring, "b" is not offered it...
    let early = tokio::time::timeout(Duration::from_millis(500), b.recv()).await;
    assert!(early.is_err(), "offered before the ring widened: {early:?}");
    // ...and once the second is over, with nothing else happening, it is.
    let Ok(Some(AgentSessionResponse {
        event: Some(Event::Offer(offer)),
    })) = tokio::time::timeout(Duration::from_secs(5), b.recv()).await
    else {
        panic!("b is offered the contact once the ring widens");
    };
    assert_eq!(offer.contact.map(|c| c.contact_id), Some("c1".into()));
}

#[tokio::test]
async fn wrap_up_after_a_queue_contact_ends_on_time_and_the_desk_hears_both() {
    let (d, _dir, _shutdown) = setup().await;
    let queue = baton_proto::v1::Queue {
        queue_id: "q".into(),
        tier: 1,
        wrap_up_secs: 1,
        ..Default::default()
    };
    d.call(|reply| Command::UpsertQueue {
        idem: idem("q"),
        queue,
        reply,
    })
    .await
    .expect("call")
    .expect("queue");
    let mut a = agent(&d, "a").await;
    let mut call = record("c1");
    call.target = Some(audience(Target::QueueId("q".into())));
    d.call(|reply| Command::Start {
        idem: idem("k1"),
        record: Box::new(call),
        response: Box::default(),
        reply,
    })
    .await
    .expect("call")
    .expect("start");
    let Some(Event::Offer(offer)) = a.recv().await.and_then(|m| m.event) else {
        panic!("a is offered the call");
    };
    let accepted = d
        .call(|reply| Command::Accept {
            tenant_id: T.into(),
            agent_id: "a".into(),
            session: 1,
            offer_id: offer.offer_id,
            reply,
        })
        .await
        .expect("call")
        .expect("accept");
    accepted.durable.await.expect("sent").expect("durable");
    let ended = d
        .call(|reply| Command::End {
            idem: idem("end"),
            contact_id: "c1".into(),
            agent_id: "a".into(),
            reply,
        })
        .await
        .expect("call")
        .expect("end");
    ended.durable.await.expect("sent").expect("durable");
    let presence = |event: Option<AgentSessionResponse>| match event.and_then(|m| m.event) {
        Some(Event::PresenceChanged(agent)) => (agent.presence, agent.wrap_up_until.is_some()),
        other => panic!("a presence change expected, got {other:?}"),
    };
    assert_eq!(
        presence(a.recv().await),
        (Presence::WrapUp as i32, true),
        "the desk is told it wraps up, and until when"
    );
    let stored = d
        .call(|reply| Command::Agent {
            tenant_id: T.into(),
            agent_id: "a".into(),
            reply,
        })
        .await
        .expect("call")
        .expect("agent");
    assert_eq!(stored.profile.presence, Presence::WrapUp as i32);
    let back = tokio::time::timeout(Duration::from_secs(5), a.recv())
        .await
        .expect("wrap-up ends within its second");
    assert_eq!(presence(back), (Presence::Available as i32, false));
}
