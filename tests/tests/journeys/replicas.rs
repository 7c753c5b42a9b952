//! Routing on two replicas sharing one Redis: a call may reach either, the replica holding the
//! tenant's shard decides it, a replica that stops hands its tenants over with nothing lost,
//! and the tenants of one that dies are taken over once its lease lapses.

use std::time::Duration;

use baton::config::{MeshConfig, ServiceName};
use baton::mesh::Mesh;
use baton_auth::reload::Watched;
use baton_proto::v1::{
    self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind,
    routing_service_client::RoutingServiceClient,
};
use baton_runtime::client::{ClientChannel, ClientConfig, connect_lazy};
use baton_runtime::shutdown::Shutdown;
use baton_tests::{
    Desk, PATIENCE, Stores, TestMesh, available_agent, free_port, ident, key, tenant,
};

/// The first replica's configuration: the whole mesh on `stores`, routing advertising where
/// it listens, with one-second leases.
fn first(stores: &Stores) -> MeshConfig {
    let mut config = stores.config();
    config.routing_port = free_port();
    config.routing_advertise_url = format!("http://127.0.0.1:{}", config.routing_port);
    config.routing_lease_secs = 1;
    config
}

/// A second routing replica beside `m`: same store and data directory (token keys,
/// development credentials), calling `m`'s identity, context and recommendation.
fn second(m: &TestMesh) -> MeshConfig {
    let mut config = m.config.clone();
    config.routing_port = free_port();
    config.routing_advertise_url = format!("http://127.0.0.1:{}", config.routing_port);
    config.identity_url = Some(m.url(ServiceName::Identity));
    config.context_url = Some(m.url(ServiceName::Context));
    config.recommendation_url = Some(m.url(ServiceName::Recommendation));
    config.metrics.port = 0;
    config
}

/// A routing client for the replica configured by `config`, calling as the harness.
fn client(m: &TestMesh, config: &MeshConfig) -> RoutingServiceClient<ClientChannel> {
    let clients = ClientConfig {
        credentials: Some(Watched::fixed(m.token.get().to_string())),
        request_timeout_ms: 30_000,
        ..ClientConfig::default()
    };
    let url = format!("http://127.0.0.1:{}", config.routing_port);
    RoutingServiceClient::new(connect_lazy(&url, &clients).expect("url"))
}

fn start(t: &str, email: &str) -> pb::StartContactRequest {
    pb::StartContactRequest {
        tenant_id: t.to_owned(),
        channel: pb::Channel::Voice as i32,
        identifiers: vec![ident(Kind::Email, email, Assurance::Verified)],
        utterance: "my card was declined".into(),
        idempotency_key: key(),
        ..Default::default()
    }
}

#[tokio::test]
async fn either_replica_takes_any_call_and_a_replica_that_stops_hands_its_tenants_over() {
    let stores = Stores::redis();
    let mut m = TestMesh::start_with(first(&stores)).await;
    let config = second(&m);
    let replica = Mesh::start(&[ServiceName::Routing], &config, Shutdown::new())
        .await
        .expect("second replica starts");
    let mut other = client(&m, &config);

    // The tenant's first call reaches the second replica, which takes its shard; the desk is
    // connected there too, and the contact starts through the first replica.
    let t = tenant();
    available_agent(&mut other, &t, "ann", 1, pb::Channel::Voice, 1).await;
    let mut desk = Desk::open(&mut other, &t, "ann").await;
    let started = m
        .routing
        .start_contact(start(&t, "nils.holm@example.net"))
        .await
        .expect("a contact starts through the replica not routing its tenant")
        .into_inner();
    let contact = started.contact.expect("contact");
    let offer = desk.offer().await;
    assert_eq!(
        offer.contact.as_ref().map(|c| c.contact_id.as_str()),
        Some(contact.contact_id.as_str())
    );
    desk.accept(&offer).await;
    for routing in [&mut m.routing, &mut other] {
        let seen = routing
            .get_contact(pb::GetContactRequest {
                tenant_id: t.clone(),
                contact_id: contact.contact_id.clone(),
            })
            .await
            .expect("either replica reads the contact")
            .into_inner()
            .contact
            .expect("contact");
        assert_eq!(seen.state, pb::ContactState::Connected as i32);
        assert_eq!(seen.agent_id, "ann");
    }
    drop(desk);

    // The replica routing the tenant stops; the other takes the tenant over on its next
    // call, with the connected contact as it was, and ends it.
    tokio::time::timeout(PATIENCE, replica.stop())
        .await
        .expect("the replica stops within the drain")
        .expect("stops cleanly");
    let ended = m
        .routing
        .end_contact(pb::EndContactRequest {
            tenant_id: t.clone(),
            contact_id: contact.contact_id.clone(),
            agent_id: "ann".into(),
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("the surviving replica took the tenant over")
        .into_inner();
    assert_eq!(
        ended.contact.expect("contact").state,
        pb::ContactState::Ended as i32
    );
    m.stop().await;
}

#[tokio::test]
async fn a_dead_replicas_waiting_contacts_are_taken_over_when_its_lease_lapses() {
    let stores = Stores::redis();
    let mut m = TestMesh::start_with(first(&stores)).await;
    let config = second(&m);

    // The second replica runs on a runtime of its own, so dropping that runtime kills it as
    // SIGKILL would: no drain, no lease handed back.
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (kill_tx, kill_rx) = std::sync::mpsc::channel::<()>();
    let replica_config = config.clone();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let mesh = runtime
            .block_on(Mesh::start(
                &[ServiceName::Routing],
                &replica_config,
                Shutdown::new(),
            ))
            .expect("second replica starts");
        started_tx.send(()).expect("started");
        let _ = kill_rx.recv();
        runtime.shutdown_background();
        drop(mesh);
    });
    started_rx.recv().expect("second replica started");
    let mut other = client(&m, &config);

    // The second replica routes the tenant: its agent is away, so the contact waits.
    let t = tenant();
    available_agent(&mut other, &t, "bo", 1, pb::Channel::Voice, 1).await;
    other
        .set_agent_state(pb::SetAgentStateRequest {
            tenant_id: t.clone(),
            agent_id: "bo".into(),
            presence: pb::Presence::Away as i32,
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("away");
    let waiting = other
        .start_contact(start(&t, "greta.lund@example.net"))
        .await
        .expect("contact starts")
        .into_inner()
        .contact
        .expect("contact");
    assert_eq!(waiting.state, pb::ContactState::Queued as i32);

    kill_tx.send(()).expect("kill");
    thread.join().expect("the replica's thread ends");

    // Calls for the tenant fail while the dead replica's lease lasts, then the survivor
    // takes the shard, with the waiting contact, and offers it.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let agent = loop {
        match m
            .routing
            .set_agent_state(pb::SetAgentStateRequest {
                tenant_id: t.clone(),
                agent_id: "bo".into(),
                presence: pb::Presence::Available as i32,
                idempotency_key: key(),
                ..Default::default()
            })
            .await
        {
            Ok(answer) => break answer.into_inner().agent.expect("agent"),
            Err(status) if status.code() == tonic::Code::Unavailable => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the dead replica's tenant was never taken over: {status:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => panic!("unexpected answer while taking over: {status:?}"),
        }
    };
    assert_eq!(agent.presence, pb::Presence::Available as i32);
    let mut desk = Desk::open(&mut m.routing, &t, "bo").await;
    let offer = desk.offer().await;
    assert_eq!(
        offer.contact.as_ref().map(|c| c.contact_id.as_str()),
        Some(waiting.contact_id.as_str()),
        "the contact that waited at the dead replica is offered by the survivor"
    );
    desk.accept(&offer).await;
    drop(desk);
    m.stop().await;
}

/// Holders of the shards of the routing store at `url`, counted by address.
async fn holding(
    store: &baton_routing::RedisRoutingStore,
) -> std::collections::BTreeMap<String, usize> {
    use baton_routing::store::RoutingStore;
    let mut by_address = std::collections::BTreeMap::new();
    for holder in store.holders().await.expect("holders") {
        *by_address.entry(holder.address).or_insert(0) += 1;
    }
    by_address
}

#[tokio::test]
async fn a_replica_that_joins_is_handed_its_share_of_the_tenants_with_their_waiting_contacts() {
    const SHARDS: u32 = 4;
    let stores = Stores::redis();
    let mut config = first(&stores);
    config.routing_shards = SHARDS;
    config.routing_rebalance = true;
    let mut m = TestMesh::start_with(config.clone()).await;
    let store = baton_routing::open_redis(&stores.redis_url().expect("on redis"))
        .await
        .expect("routing store");

    // One tenant in each shard, each with a contact waiting for an agent, all routed by the
    // only replica.
    let mut tenants: Vec<Option<String>> = vec![None; SHARDS as usize];
    while tenants.iter().any(Option::is_none) {
        let t = tenant();
        let shard = baton_routing::shards::shard_of(&t, SHARDS) as usize;
        tenants[shard].get_or_insert(t);
    }
    let mut waiting = Vec::new();
    for t in tenants.into_iter().flatten() {
        let contact = m
            .routing
            .start_contact(start(&t, "maja.berg@example.net"))
            .await
            .expect("contact starts")
            .into_inner()
            .contact
            .expect("contact");
        assert_eq!(contact.state, pb::ContactState::Queued as i32);
        waiting.push((t, contact.contact_id));
    }
    assert_eq!(
        holding(&store).await.get(&config.routing_advertise_url),
        Some(&(SHARDS as usize)),
        "the only replica holds every shard"
    );

    // A second replica joins and is handed half of them.
    let joined = second(&m);
    let replica = Mesh::start(&[ServiceName::Routing], &joined, Shutdown::new())
        .await
        .expect("second replica starts");
    let even = std::collections::BTreeMap::from([
        (config.routing_advertise_url.clone(), SHARDS as usize / 2),
        (joined.routing_advertise_url.clone(), SHARDS as usize / 2),
    ]);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let now = holding(&store).await;
        if now == even {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the shards were not shared out: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Every waiting contact is still there, wherever its tenant went: an agent connected to
    // the joined replica is offered it.
    let mut other = client(&m, &joined);
    for (t, contact_id) in &waiting {
        available_agent(&mut other, t, "ida", 1, pb::Channel::Voice, 1).await;
        let mut desk = Desk::open(&mut other, t, "ida").await;
        let offer = desk.offer().await;
        assert_eq!(
            offer.contact.as_ref().map(|c| c.contact_id.as_str()),
            Some(contact_id.as_str()),
            "a contact waiting in a tenant that moved is offered"
        );
        desk.accept(&offer).await;
    }
    tokio::time::timeout(PATIENCE, replica.stop())
        .await
        .expect("the replica stops within the drain")
        .expect("stops cleanly");
    m.stop().await;
}
