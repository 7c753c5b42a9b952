//! The conformance suite on every store backend (Redis as one server and as a three-master
//! Redis Cluster), and what survives restarting each (reopening the embedded file, a crash of
//! the Redis server).

use std::time::Duration;

use baton_proto::v1::{Agent, Channel, Contact, ContactState, audience::Target};
use baton_routing::domain::record::{ContactRecord, audience};
use baton_routing::domain::state::RoutingState;
use baton_routing::store::{RoutingStore, Write};
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
