//! The conformance suite on every store backend (Redis as one server and as a three-master
//! Redis Cluster), and what survives restarting each (reopening the embedded file, a crash of
//! the Redis server).

use std::time::Duration;

use baton_proto::v1::{Agent, Channel, Contact, ContactState, audience::Target};
use baton_routing::domain::record::{ContactRecord, audience};
use baton_routing::domain::state::RoutingState;
use baton_routing::store::{Claim, RoutingStore, Write};
use baton_routing::{RedisRoutingStore, conformance, open_embedded, open_redis};
use baton_store::redis_db::{RedisCluster, RedisDb, RedisServer};

#[tokio::test]
async fn embedded_store_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_embedded(dir.path()).expect("open");
    conformance::run_all(&store).await;
}

fn record(id: &str, state: ContactState, agent: &str) -> ContactRecord {
    ContactRecord {
        contact: Contact {
            contact_id: id.into(),
            tenant_id: "acme".into(),
            channel: Channel::Voice as i32,
            state: state as i32,
            agent_id: agent.into(),
            ..Contact::default()
        },
        target: Some(audience(Target::Tier(1))),
        ..ContactRecord::default()
    }
}

/// What each restart test commits before the restart: an agent, a contact in each state that
/// matters and a remembered answer.
fn before_restart() -> Vec<Write> {
    vec![
        Write::Agent {
            tenant_id: "acme".into(),
            agent: Agent {
                agent_id: "a".into(),
                tier: 1,
                ..Agent::default()
            },
        },
        Write::Contact(Box::new(record("offered", ContactState::Offered, "a"))),
        Write::Contact(Box::new(record("connected", ContactState::Connected, "a"))),
        Write::Contact(Box::new(record("ended", ContactState::Ended, "a"))),
        Write::Answer {
            tenant_id: "acme".into(),
            operation: "start",
            key: "k1".into(),
            digest: [7; 32],
            answer: b"started".to_vec(),
        },
    ]
}

/// What each restart test expects after it: live contacts reload, the ended one stays
/// readable, the answer is still remembered, and an offered contact comes back queued.
async fn check_after_restart<S: RoutingStore>(store: &S) {
    let loaded = store.load().await.expect("load");
    let mut ids: Vec<&str> = loaded.contacts.iter().map(|c| c.contact_id()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["connected", "offered"]);
    assert!(
        store
            .contact("acme", "ended")
            .await
            .expect("read")
            .is_some_and(|c| c.state() == ContactState::Ended)
    );
    assert_eq!(
        store
            .answer("acme", "start", "k1", &[7; 32])
            .await
            .expect("read"),
        Some(b"started".to_vec())
    );

    let mut state = RoutingState::new(Duration::from_secs(60));
    state.load(loaded.agents, loaded.queues, loaded.contacts);
    let offered = state.contact("acme", "offered").expect("kept");
    assert_eq!(offered.record.state(), ContactState::Queued);
    assert_eq!(offered.record.contact.agent_id, "");
    let connected = state.contact("acme", "connected").expect("kept");
    assert_eq!(connected.record.state(), ContactState::Connected);
    assert!(
        state
            .agent("acme", "a")
            .is_some_and(|a| a.active.contains_key("connected") && a.session.is_none())
    );
}

#[tokio::test]
async fn contacts_survive_reopening_and_an_offered_one_comes_back_queued() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open_embedded(dir.path()).expect("open");
        store.apply(before_restart()).await.expect("apply");
    }
    let store = open_embedded(dir.path()).expect("reopen");
    check_after_restart(&store).await;
}

#[tokio::test]
async fn redis_store_passes_the_conformance_suite() {
    let server = RedisServer::start();
    let store = open_redis(&server.url()).await.expect("connect");
    conformance::run_all(&store).await;
}

#[tokio::test]
async fn redis_cluster_store_passes_the_conformance_suite() {
    let cluster = RedisCluster::start();
    let db = RedisDb::connect_with(&cluster.url(), "routing", &RedisCluster::options())
        .await
        .expect("connect to the cluster");
    conformance::run_all(&RedisRoutingStore::new(db)).await;
}

#[tokio::test]
async fn contacts_survive_a_redis_crash_and_an_offered_one_comes_back_queued() {
    let mut server = RedisServer::start();
    {
        let store = open_redis(&server.url()).await.expect("connect");
        store.apply(before_restart()).await.expect("apply");
    }
    // SIGKILL: only what the append-only file fsynced before the commit was acknowledged
    // comes back.
    server.crash_and_restart();
    let store = open_redis(&server.url()).await.expect("reconnect");
    check_after_restart(&store).await;
}

/// What a shard's lease does on Redis: one holder at a time, renewals keep the fence, a
/// release or a lapse lets another take it, a restart at the same address takes over at once,
/// and a commit under a lease another replica took writes nothing.
async fn leases_hold_one_replica_at_a_time_and_fence_its_commits(store: &RedisRoutingStore) {
    let ttl = Duration::from_secs(30);
    let Claim::Held { lease: a, renewed } =
        store.claim(0, "a", "http://a", ttl).await.expect("claim")
    else {
        panic!("a free shard is taken");
    };
    assert!(!renewed, "a shard nobody held is taken, not renewed");
    assert_eq!(
        store.claim(0, "b", "http://b", ttl).await.expect("claim"),
        Claim::Elsewhere {
            address: "http://a".into()
        },
        "a held shard stays with its holder and says where it is"
    );
    match store.claim(0, "a", "http://a", ttl).await.expect("renew") {
        Claim::Held { lease, renewed } => {
            assert!(renewed);
            assert_eq!(lease, a, "a renewal keeps the fence");
        }
        other => panic!("the holder renews, got {other:?}"),
    }
    let first = record("fenced-1", ContactState::Queued, "");
    store
        .apply_fenced(Some(&a), vec![Write::Contact(Box::new(first))])
        .await
        .expect("the holder commits");

    store.release(&a).await.expect("release");
    assert!(store.lapsed().await.expect("lapsed").contains(&0));
    let Claim::Held { lease: b, renewed } =
        store.claim(0, "b", "http://b", ttl).await.expect("claim")
    else {
        panic!("a released shard is taken by the next claimant");
    };
    assert!(!renewed);
    assert_ne!(a, b, "a new holder has a new fence");
    let late = record("fenced-2", ContactState::Queued, "");
    let refused = store
        .apply_fenced(Some(&a), vec![Write::Contact(Box::new(late))])
        .await
        .expect_err("the old holder's commit is fenced");
    assert!(
        matches!(refused, baton_store::StoreError::Fenced(_)),
        "{refused:?}"
    );
    assert!(
        store
            .contact("acme", "fenced-2")
            .await
            .expect("read")
            .is_none(),
        "a fenced commit wrote nothing"
    );
    assert!(
        store
            .contact("acme", "fenced-1")
            .await
            .expect("read")
            .is_some()
    );
    store
        .apply_fenced(
            Some(&b),
            vec![Write::Contact(Box::new(record(
                "fenced-3",
                ContactState::Queued,
                "",
            )))],
        )
        .await
        .expect("the new holder commits");

    // A lease that is not renewed lapses, and a survivor takes it.
    let short = Duration::from_millis(300);
    assert!(matches!(
        store.claim(1, "c", "http://c", short).await.expect("claim"),
        Claim::Held { .. }
    ));
    assert!(matches!(
        store.claim(1, "d", "http://d", ttl).await.expect("claim"),
        Claim::Elsewhere { .. }
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(store.lapsed().await.expect("lapsed").contains(&1));
    assert!(matches!(
        store.claim(1, "d", "http://d", ttl).await.expect("claim"),
        Claim::Held { renewed: false, .. }
    ));

    // A process restarted at the address of the holder takes over without waiting.
    let Claim::Held { lease: old, .. } = store.claim(2, "e", "http://e", ttl).await.expect("claim")
    else {
        panic!("free shard");
    };
    let Claim::Held {
        lease: new,
        renewed,
    } = store.claim(2, "e2", "http://e", ttl).await.expect("claim")
    else {
        panic!("a restart at the holder's address takes the shard");
    };
    assert!(!renewed);
    assert_ne!(old, new);

    // Replicas announce themselves; one whose announcement lapsed is forgotten.
    store
        .announce("z-gone", "http://z", Duration::from_millis(200))
        .await
        .expect("announce");
    tokio::time::sleep(Duration::from_millis(400)).await;
    store
        .announce("d", "http://d", ttl)
        .await
        .expect("announce");
    let members = store
        .announce("e2", "http://e", ttl)
        .await
        .expect("announce");
    let names: Vec<&str> = members.iter().map(|m| m.replica.as_str()).collect();
    assert_eq!(names, ["d", "e2"], "live members, by name: {members:?}");
    store.leave("d").await.expect("leave");
    let members = store
        .announce("e2", "http://e", ttl)
        .await
        .expect("announce");
    assert_eq!(members.len(), 1, "a replica that left is gone: {members:?}");

    // Holders are the unlapsed leases; a lease handed over moves with a new fence that
    // fences the giver, and the receiver's claim renews it.
    let holders = store.holders().await.expect("holders");
    let named: Vec<(u32, &str, &str)> = holders
        .iter()
        .map(|h| (h.shard, h.replica.as_str(), h.address.as_str()))
        .collect();
    assert_eq!(
        named,
        [
            (0, "b", "http://b"),
            (1, "d", "http://d"),
            (2, "e2", "http://e")
        ]
    );
    let given = store
        .hand_over(&b, "f", "http://f", ttl)
        .await
        .expect("hand over")
        .expect("the holder's lease is handed over");
    assert_ne!(given, b);
    assert_eq!(
        store
            .hand_over(&b, "g", "http://g", ttl)
            .await
            .expect("hand over"),
        None,
        "a lease no longer current is not handed over again"
    );
    match store.claim(0, "f", "http://f", ttl).await.expect("claim") {
        Claim::Held { lease, renewed } => {
            assert!(renewed, "the receiver holds the shard already");
            assert_eq!(lease, given);
        }
        other => panic!("the receiver holds the shard, got {other:?}"),
    }
    assert_eq!(
        store.claim(0, "b", "http://b", ttl).await.expect("claim"),
        Claim::Elsewhere {
            address: "http://f".into()
        }
    );
    let refused = store
        .apply_fenced(
            Some(&b),
            vec![Write::Contact(Box::new(record(
                "fenced-4",
                ContactState::Queued,
                "",
            )))],
        )
        .await
        .expect_err("the giver's commit is fenced");
    assert!(matches!(refused, baton_store::StoreError::Fenced(_)));
}

#[tokio::test]
async fn on_redis_leases_hold_one_replica_at_a_time_and_fence_its_commits() {
    let server = RedisServer::start();
    let store = open_redis(&server.url()).await.expect("open");
    leases_hold_one_replica_at_a_time_and_fence_its_commits(&store).await;
}

#[tokio::test]
async fn on_a_cluster_leases_hold_one_replica_at_a_time_and_fence_its_commits() {
    let cluster = RedisCluster::start();
    let db = RedisDb::connect_with(&cluster.url(), "routing", &RedisCluster::options())
        .await
        .expect("connect");
    leases_hold_one_replica_at_a_time_and_fence_its_commits(&RedisRoutingStore::new(db)).await;
}
