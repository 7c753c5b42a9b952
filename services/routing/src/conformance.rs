//! The behaviour every [`RoutingStore`] backend must have. Each function panics on a
//! violation; backends call them from their own tests on a fresh store.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use baton_proto::v1::{
    Agent, Channel, ChannelCapacity, Contact, ContactState, Presence, Queue, ServiceErasure, Skill,
    SkillRequirement, audience::Target,
};
use baton_runtime::time::to_timestamp;
use baton_store::StoreError;

use crate::domain::erasure::ErasureJob;
use crate::domain::record::{ContactRecord, WarmOrigin, audience};
use crate::domain::state::RoutingState;
use crate::domain::state::stats::AgentFilter;
use crate::store::{PendingEvent, RoutingStore, Write};

fn record(tenant: &str, id: &str, state: ContactState) -> ContactRecord {
    ContactRecord {
        contact: Contact {
            contact_id: id.into(),
            tenant_id: tenant.into(),
            customer_id: "cust_1".into(),
            channel: Channel::Voice as i32,
            state: state as i32,
            tier: 2,
            ..Contact::default()
        },
        token: b"sealed".to_vec(),
        ..ContactRecord::default()
    }
}

/// Runs every check, each on the same store (they use distinct tenants).
pub async fn run_all<S: RoutingStore>(store: &S) {
    contacts_round_trip_and_ended_ones_leave_the_live_set(store).await;
    agents_and_queues_round_trip(store).await;
    answers_are_remembered_per_tenant_and_operation(store).await;
    a_key_reused_for_another_request_is_refused(store).await;
    tenants_are_isolated(store).await;
    a_customers_contacts_are_found_and_erased(store).await;
    a_customers_answers_are_found_and_forgotten(store).await;
    erasure_jobs_stay_open_with_their_steps_until_closed_with_the_receipt(store).await;
    a_warm_transfer_keeps_what_it_returns_to(store).await;
    queue_figures_read_the_same_after_a_reload(store).await;
    history_events_wait_in_order_until_delivered(store).await;
}

/// History events kept for context come back oldest first within a tenant, exactly as kept,
/// and go once delivered.
pub async fn history_events_wait_in_order_until_delivered<S: RoutingStore>(store: &S) {
    let kept = |tenant: &str, key: &str| PendingEvent {
        tenant_id: tenant.into(),
        key: key.into(),
        contact_id: format!("con_{key}"),
        request: Some(baton_proto::v1::AppendEventRequest {
            tenant_id: tenant.into(),
            customer_id: "cus_1".into(),
            idempotency_key: format!("start/{key}"),
            ..Default::default()
        }),
    };
    let events = [
        kept("conf-h", "0002"),
        kept("conf-h", "0001"),
        kept("conf-h2", "0001"),
    ];
    store
        .apply(
            events
                .iter()
                .map(|e| Write::Pending(Box::new(e.clone())))
                .collect(),
        )
        .await
        .expect("keep");
    let mine = |all: Vec<PendingEvent>| -> Vec<PendingEvent> {
        all.into_iter()
            .filter(|e| e.tenant_id.starts_with("conf-h"))
            .collect()
    };
    let waiting = mine(store.pending(100).await.expect("pending"));
    assert_eq!(
        waiting,
        [events[1].clone(), events[0].clone(), events[2].clone()],
        "by tenant, oldest first"
    );
    store
        .apply(vec![Write::Delivered {
            tenant_id: "conf-h".into(),
            key: "0001".into(),
        }])
        .await
        .expect("delivered");
    let waiting = mine(store.pending(100).await.expect("pending"));
    assert_eq!(waiting, [events[0].clone(), events[2].clone()]);
}

/// What every figure of the queue check below is taken at.
fn stats_now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// A contact of tenant `conf-q` for `queue` that asked for help `waited` seconds before
/// [`stats_now`].
fn in_queue(id: &str, queue: &str, state: ContactState, waited: u64) -> ContactRecord {
    let mut r = record("conf-q", id, state);
    r.contact.tier = 1;
    r.contact.queue_id = queue.into();
    r.contact.requested_at = Some(to_timestamp(stats_now() - Duration::from_secs(waited)));
    r.target = Some(audience(Target::QueueId(queue.into())));
    r
}

/// A queue's figures and an agent's load, read from the routing state the store reloads,
/// are the same on every backend: depth and oldest wait from the index of the queued contacts
/// (an offered one comes back queued, connected and ended ones are not waiting), the agents
/// serving each queue, queues and agents in id order.
pub async fn queue_figures_read_the_same_after_a_reload<S: RoutingStore>(store: &S) {
    let billing = Queue {
        queue_id: "billing".into(),
        tier: 1,
        service_level_percent: 80,
        service_level_answer_secs: 20,
        ..Queue::default()
    };
    let claims = Queue {
        queue_id: "claims".into(),
        tier: 1,
        ..Queue::default()
    };
    let ann = Agent {
        agent_id: "ann".into(),
        tier: 1,
        presence: Presence::Available as i32,
        queue_ids: vec!["billing".into()],
        capacities: vec![ChannelCapacity {
            channel: Channel::Voice as i32,
            max_contacts: 1,
            exclusive: false,
        }],
        ..Agent::default()
    };
    let mut connected = in_queue("c-connected", "billing", ContactState::Connected, 300);
    connected.contact.agent_id = "ann".into();
    let mut writes = vec![
        Write::Queue {
            tenant_id: "conf-q".into(),
            queue: claims,
        },
        Write::Queue {
            tenant_id: "conf-q".into(),
            queue: billing.clone(),
        },
        Write::Agent {
            tenant_id: "conf-q".into(),
            agent: ann,
        },
        Write::Contact(Box::new(connected)),
    ];
    for (id, queue, state, waited) in [
        ("c-oldest", "billing", ContactState::Queued, 90),
        ("c-newer", "billing", ContactState::Queued, 30),
        ("c-offered", "billing", ContactState::Offered, 10),
        ("c-ended", "billing", ContactState::Ended, 600),
        ("c-claims", "claims", ContactState::Queued, 5),
    ] {
        writes.push(Write::Contact(Box::new(in_queue(id, queue, state, waited))));
    }
    store.apply(writes).await.expect("apply");

    let loaded = store.load().await.expect("load");
    let mut state = RoutingState::new(Duration::from_secs(60));
    state.load(loaded.agents, loaded.queues, loaded.contacts);
    let stats = state
        .queue_stats("conf-q", "billing", stats_now())
        .expect("billing reloads");
    assert_eq!(stats.queue.as_ref(), Some(&billing));
    assert_eq!((stats.depth, stats.offered), (3, 0));
    assert_eq!(stats.oldest_wait_ms, 90_000);
    assert_eq!(
        stats.oldest_requested_at,
        Some(to_timestamp(stats_now() - Duration::from_secs(90)))
    );
    assert_eq!(stats.channels, [Channel::Voice as i32]);
    assert_eq!(
        (stats.agents_logged_in, stats.agents_available),
        (0, 0),
        "no desk is open after a restart"
    );
    let level = stats.service_level.expect("billing has a target");
    assert_eq!(
        (level.answered, level.abandoned, level.achieved),
        (0, 0, 1.0)
    );

    let (queues, next) = state.list_queues("conf-q", "", 10, stats_now());
    let figures: Vec<(&str, u32, u64)> = queues
        .iter()
        .map(|q| {
            let id = q.queue.as_ref().map_or("", |q| q.queue_id.as_str());
            (id, q.depth, q.oldest_wait_ms)
        })
        .collect();
    assert_eq!(figures, [("billing", 3, 90_000), ("claims", 1, 5_000)]);
    assert_eq!(next, None);

    let (agents, _) = state.list_agents("conf-q", "", 10, &AgentFilter::queue("billing"));
    let ann = agents.first().expect("ann reloads");
    assert_eq!(
        ann.agent.as_ref().map(|a| a.active_contact_ids.clone()),
        Some(vec!["c-connected".to_owned()])
    );
    let load: Vec<(i32, u32, u32)> = ann
        .load
        .iter()
        .map(|l| (l.channel, l.active, l.max_contacts))
        .collect();
    assert_eq!(load, [(Channel::Voice as i32, 1, 1)]);
}

/// A contact held during a warm transfer reads back and reloads with what it returns to if
/// nobody accepts (so a restart can still give it back to the holding agent).
pub async fn a_warm_transfer_keeps_what_it_returns_to<S: RoutingStore>(store: &S) {
    let first = record("conf-w", "con_w", ContactState::Connected);
    let mut held = record("conf-w", "con_w", ContactState::Queued);
    held.contact.holding_agent_id = "ann".into();
    held.contact.tier = 3;
    held.holding_channel = Channel::Voice as i32;
    held.warm_origin = Some(WarmOrigin {
        contact: Some(first.contact.clone()),
        target: first.target.clone(),
        token: b"first hop".to_vec(),
    });
    store
        .apply(vec![Write::Contact(Box::new(held.clone()))])
        .await
        .expect("apply");
    assert_eq!(
        store.contact("conf-w", "con_w").await.expect("read"),
        Some(held.clone())
    );
    let loaded = store.load().await.expect("load");
    let reloaded = loaded
        .contacts
        .iter()
        .find(|c| c.tenant_id() == "conf-w" && c.contact_id() == "con_w");
    assert_eq!(reloaded, Some(&held));
}

/// A stored contact reads back whole; ending it keeps it readable but out of `load`.
pub async fn contacts_round_trip_and_ended_ones_leave_the_live_set<S: RoutingStore>(store: &S) {
    let queued = record("conf-a", "con_1", ContactState::Queued);
    let connected = record("conf-a", "con_2", ContactState::Connected);
    store
        .apply(vec![
            Write::Contact(Box::new(queued.clone())),
            Write::Contact(Box::new(connected.clone())),
        ])
        .await
        .expect("apply");
    assert_eq!(
        store.contact("conf-a", "con_1").await.expect("read"),
        Some(queued.clone())
    );
    let live = |loaded: &crate::store::Loaded| {
        let mut ids: Vec<String> = loaded
            .contacts
            .iter()
            .filter(|c| c.tenant_id() == "conf-a")
            .map(|c| c.contact_id().to_owned())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(live(&store.load().await.expect("load")), ["con_1", "con_2"]);
    let mut ended = queued;
    ended.contact.state = ContactState::Ended as i32;
    store
        .apply(vec![Write::Contact(Box::new(ended.clone()))])
        .await
        .expect("apply");
    assert_eq!(live(&store.load().await.expect("load")), ["con_2"]);
    assert_eq!(
        store.contact("conf-a", "con_1").await.expect("read"),
        Some(ended),
        "ended contacts stay readable"
    );
    assert_eq!(store.contact("conf-a", "con_9").await.expect("read"), None);
}

/// Agents and queues read back with their tenant; a second write replaces the first.
pub async fn agents_and_queues_round_trip<S: RoutingStore>(store: &S) {
    let mut agent = Agent {
        agent_id: "ag_1".into(),
        tier: 2,
        presence: Presence::Available as i32,
        skills: vec![Skill {
            name: "billing".into(),
            proficiency: 7,
        }],
        ..Agent::default()
    };
    let queue = Queue {
        queue_id: "billing".into(),
        tier: 1,
        required_skills: vec![SkillRequirement {
            name: "billing".into(),
            min_proficiency: 2,
        }],
        ..Queue::default()
    };
    store
        .apply(vec![
            Write::Agent {
                tenant_id: "conf-b".into(),
                agent: agent.clone(),
            },
            Write::Queue {
                tenant_id: "conf-b".into(),
                queue: queue.clone(),
            },
        ])
        .await
        .expect("apply");
    agent.tier = 3;
    store
        .apply(vec![Write::Agent {
            tenant_id: "conf-b".into(),
            agent: agent.clone(),
        }])
        .await
        .expect("apply");
    let loaded = store.load().await.expect("load");
    let agents: Vec<&Agent> = loaded
        .agents
        .iter()
        .filter(|(t, _)| t == "conf-b")
        .map(|(_, a)| a)
        .collect();
    assert_eq!(agents, [&agent]);
    assert!(loaded.queues.contains(&("conf-b".to_owned(), queue)));
}

/// The digest of the request a test answer answers.
const FIRST: [u8; 32] = [1; 32];
/// The digest of a different request.
const OTHER: [u8; 32] = [2; 32];

/// An answer is found by tenant, operation and key, and by nothing else.
pub async fn answers_are_remembered_per_tenant_and_operation<S: RoutingStore>(store: &S) {
    store
        .apply(vec![Write::Answer {
            tenant_id: "conf-c".into(),
            operation: "start",
            key: "k1".into(),
            digest: FIRST,
            answer: b"first".to_vec(),
        }])
        .await
        .expect("apply");
    let answer = |tenant: &'static str, op: &'static str, key: &'static str| async move {
        store.answer(tenant, op, key, &FIRST).await.expect("read")
    };
    assert_eq!(
        answer("conf-c", "start", "k1").await,
        Some(b"first".to_vec())
    );
    assert_eq!(answer("conf-c", "end", "k1").await, None);
    assert_eq!(answer("conf-c", "start", "k2").await, None);
    assert_eq!(answer("conf-x", "start", "k1").await, None);
}

/// A key that comes back with a different request is refused, and the answer to the first
/// request stays as it was.
pub async fn a_key_reused_for_another_request_is_refused<S: RoutingStore>(store: &S) {
    store
        .apply(vec![Write::Answer {
            tenant_id: "conf-f".into(),
            operation: "start",
            key: "k1".into(),
            digest: FIRST,
            answer: b"first".to_vec(),
        }])
        .await
        .expect("apply");
    let reused = store.answer("conf-f", "start", "k1", &OTHER).await;
    assert!(
        matches!(&reused, Err(StoreError::KeyReused { operation }) if operation == "start"),
        "{reused:?}"
    );
    assert_eq!(
        store
            .answer("conf-f", "start", "k1", &FIRST)
            .await
            .expect("read"),
        Some(b"first".to_vec()),
        "the first answer is untouched"
    );
    assert_eq!(
        store
            .answer("conf-f", "end", "k1", &OTHER)
            .await
            .expect("read"),
        None,
        "a key is bound per operation"
    );
}

/// One tenant's contact is invisible to another, even under the same id.
pub async fn tenants_are_isolated<S: RoutingStore>(store: &S) {
    store
        .apply(vec![Write::Contact(Box::new(record(
            "conf-d",
            "con_shared",
            ContactState::Queued,
        )))])
        .await
        .expect("apply");
    assert_eq!(
        store.contact("conf-e", "con_shared").await.expect("read"),
        None
    );
    let loaded = store.load().await.expect("load");
    assert!(
        loaded
            .contacts
            .iter()
            .filter(|c| c.contact_id() == "con_shared")
            .all(|c| c.tenant_id() == "conf-d")
    );
}

/// A customer's contacts, ended or not, are found by customer; an erased one is gone from
/// every read, and other customers' and tenants' contacts stay.
pub async fn a_customers_contacts_are_found_and_erased<S: RoutingStore>(store: &S) {
    let ended = record("conf-f", "con_1", ContactState::Ended);
    let live = record("conf-f", "con_2", ContactState::Queued);
    let mut other = record("conf-f", "con_3", ContactState::Ended);
    other.contact.customer_id = "cust_2".into();
    let elsewhere = record("conf-g", "con_1", ContactState::Ended);
    store
        .apply(
            [&ended, &live, &other, &elsewhere]
                .into_iter()
                .map(|r| Write::Contact(Box::new(r.clone())))
                .collect(),
        )
        .await
        .expect("apply");
    let ids = |mut found: Vec<ContactRecord>| {
        found.sort_by(|a, b| a.contact_id().cmp(b.contact_id()));
        found
            .iter()
            .map(|r| r.contact_id().to_owned())
            .collect::<Vec<_>>()
    };
    let found = store
        .customer_contacts("conf-f", "cust_1")
        .await
        .expect("read");
    assert_eq!(ids(found), ["con_1", "con_2"]);
    store
        .apply(vec![Write::EraseContact {
            tenant_id: "conf-f".into(),
            contact_id: "con_1".into(),
            customer_id: "cust_1".into(),
        }])
        .await
        .expect("erase");
    assert_eq!(store.contact("conf-f", "con_1").await.expect("read"), None);
    let found = store
        .customer_contacts("conf-f", "cust_1")
        .await
        .expect("read");
    assert_eq!(ids(found), ["con_2"]);
    assert!(
        store
            .contact("conf-f", "con_3")
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        store
            .contact("conf-g", "con_1")
            .await
            .expect("read")
            .is_some()
    );
    assert!(
        store
            .customer_contacts("conf-f", "cust_9")
            .await
            .expect("read")
            .is_empty()
    );
}

/// A start's answer remembered for `cust_1` is found among that customer's answers and,
/// forgotten, no longer answers its key (a retry runs anew); `cust_10`'s, another tenant's and
/// an answer naming no customer stay.
pub async fn a_customers_answers_are_found_and_forgotten<S: RoutingStore>(store: &S) {
    use crate::store::CustomerAnswer;
    use baton_proto::v1::StartContactResponse;
    use prost::Message;

    let start = |contact_id: &str, customer_id: &str| {
        StartContactResponse {
            contact: Some(Contact {
                contact_id: contact_id.into(),
                customer_id: customer_id.into(),
                ..Contact::default()
            }),
            ..StartContactResponse::default()
        }
        .encode_to_vec()
    };
    let answer =
        |tenant: &str, operation: &'static str, key: &str, answer: Vec<u8>| Write::Answer {
            tenant_id: tenant.into(),
            operation,
            key: key.into(),
            digest: [7; 32],
            answer,
        };
    let (c, d) = (start("con_1", "cust_1"), start("con_2", "cust_10"));
    store
        .apply(vec![
            answer("conf-h", "start", "k1", c.clone()),
            answer("conf-h", "start", "k2", d.clone()),
            answer("conf-h", "queue", "k3", b"cust_1".to_vec()),
            answer("conf-i", "start", "k1", c.clone()),
        ])
        .await
        .expect("apply");
    let found = store
        .customer_answers("conf-h", "cust_1")
        .await
        .expect("read");
    assert_eq!(
        found,
        [CustomerAnswer {
            operation: "start".into(),
            key: "k1".into(),
            contact_id: "con_1".into(),
        }]
    );
    assert!(
        store
            .customer_answers("conf-h", "cust_9")
            .await
            .expect("read")
            .is_empty()
    );
    store
        .apply(vec![Write::ForgetAnswer {
            tenant_id: "conf-h".into(),
            operation: "start".into(),
            key: "k1".into(),
        }])
        .await
        .expect("forget");
    let recall = |tenant: &'static str, operation: &'static str, key: &'static str| async move {
        store
            .answer(tenant, operation, key, &[7; 32])
            .await
            .expect("read")
    };
    assert_eq!(
        recall("conf-h", "start", "k1").await,
        None,
        "a retry runs anew"
    );
    assert_eq!(recall("conf-h", "start", "k2").await, Some(d));
    assert_eq!(
        recall("conf-h", "queue", "k3").await,
        Some(b"cust_1".to_vec())
    );
    assert_eq!(recall("conf-i", "start", "k1").await, Some(c));
    assert!(
        store
            .customer_answers("conf-h", "cust_1")
            .await
            .expect("read")
            .is_empty()
    );
}

/// An erasure job reads back with the steps done so far, is listed among the open jobs, and
/// once closed (with its receipt as the answer, in one commit) is gone while the receipt
/// answers its key.
pub async fn erasure_jobs_stay_open_with_their_steps_until_closed_with_the_receipt<
    S: RoutingStore,
>(
    store: &S,
) {
    let digest = [7u8; 32];
    let mut job = ErasureJob {
        tenant_id: "conf-h".into(),
        customer_id: "cust_1".into(),
        key: "admin\u{1f}k1".into(),
        digest: digest.to_vec(),
        reason: "request".into(),
        done: Vec::new(),
    };
    store
        .apply(vec![Write::Job(Box::new(job.clone()))])
        .await
        .expect("open");
    assert_eq!(
        store.job("conf-h", &job.key).await.expect("read"),
        Some(job.clone())
    );
    assert_eq!(store.job("conf-i", &job.key).await.expect("read"), None);
    job.mark_done(ServiceErasure {
        service: "identity".into(),
        found: true,
        records_removed: 2,
    });
    store
        .apply(vec![Write::Job(Box::new(job.clone()))])
        .await
        .expect("step");
    let open = store.open_jobs().await.expect("list");
    assert_eq!(
        open.iter()
            .filter(|j| j.tenant_id == "conf-h")
            .collect::<Vec<_>>(),
        [&job]
    );
    store
        .apply(vec![
            Write::Answer {
                tenant_id: "conf-h".into(),
                operation: "forget",
                key: job.key.clone(),
                digest,
                answer: b"receipt".to_vec(),
            },
            Write::CloseJob {
                tenant_id: "conf-h".into(),
                key: job.key.clone(),
            },
        ])
        .await
        .expect("close");
    assert_eq!(store.job("conf-h", &job.key).await.expect("read"), None);
    assert!(
        store
            .open_jobs()
            .await
            .expect("list")
            .iter()
            .all(|j| j.tenant_id != "conf-h")
    );
    assert_eq!(
        store
            .answer("conf-h", "forget", &job.key, &digest)
            .await
            .expect("answer"),
        Some(b"receipt".to_vec())
    );
}
