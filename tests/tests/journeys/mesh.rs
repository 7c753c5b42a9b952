//! The mesh as an operator sees it: health, reflection, and data that survives a restart.

use std::time::Duration;

use baton::{
    config::{ServiceName, StoreKind},
    mesh::Mesh,
};
use baton_proto::v1::{self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind};
use baton_runtime::shutdown::Shutdown;
use baton_tests::{Desk, Stores, TestMesh, available_agent, ident, key, open_as_agent, tenant};
use tokio_stream::StreamExt as _;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_reflection::pb::{
    v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    },
    v1alpha,
};

baton_tests::on_every_store!(data_survives_a_restart_of_the_mesh);

#[tokio::test]
async fn data_survives_a_restart_of_the_mesh_on_a_redis_cluster() {
    data_survives_a_restart_of_the_mesh(Stores::redis_cluster()).await
}

const SERVICES: [(ServiceName, &str); 4] = [
    (ServiceName::Identity, "baton.v1.IdentityService"),
    (ServiceName::Context, "baton.v1.ContextService"),
    (ServiceName::Routing, "baton.v1.RoutingService"),
    (
        ServiceName::Recommendation,
        "baton.v1.RecommendationService",
    ),
];

#[tokio::test]
async fn every_service_reports_serving_and_lists_only_itself_by_reflection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = TestMesh::start(dir.path()).await;
    for (service, name) in SERVICES {
        // Health answers anyone (Kubernetes probes carry no credentials) ...
        let anonymous = m.channel_as(service, None);
        let mut health = HealthClient::new(anonymous.clone());
        for probe in [name, ""] {
            let status = health
                .check(HealthCheckRequest {
                    service: probe.to_owned(),
                })
                .await
                .expect("health answers")
                .into_inner()
                .status;
            assert_eq!(
                status,
                ServingStatus::Serving as i32,
                "{name} probe {probe:?}"
            );
        }

        // ... reflection any authenticated caller.
        let channel = m.channel_as(service, Some(m.token.get().to_string()));
        let mut reflection = ServerReflectionClient::new(channel);
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut answers = reflection
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect("reflection answers")
            .into_inner();
        let answer = answers.next().await.expect("one answer").expect("no error");
        let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
            panic!("expected a service list");
        };
        let mut listed: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        listed.sort();
        // Only what this port serves, though all four run in this one process: a client that
        // lists the services here can call every one of them.
        let mut expected = vec![
            name,
            "baton.v1.AuditService",
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ];
        expected.sort_unstable();
        assert_eq!(listed, expected, "{name}'s port");

        // The older reflection version, which some tools still ask first, lists the same.
        let mut reflection = v1alpha::server_reflection_client::ServerReflectionClient::new(
            m.channel_as(service, Some(m.token.get().to_string())),
        );
        let request = v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
            ),
        };
        let answer = reflection
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect("v1alpha reflection answers")
            .into_inner()
            .next()
            .await
            .expect("one answer")
            .expect("no error");
        let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
            answer.message_response
        else {
            panic!("expected a service list");
        };
        let mut listed: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        listed.sort();
        assert_eq!(listed, expected, "{name}'s port, v1alpha");
    }
    m.stop().await;
}

async fn data_survives_a_restart_of_the_mesh(stores: Stores) {
    let mut m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    available_agent(&mut m.routing, &t, "ana", 1, pb::Channel::Chat, 2).await;
    let mut desk = Desk::open(&mut m.routing, &t, "ana").await;
    let started = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Chat as i32,
            identifiers: vec![ident(
                Kind::Email,
                "rosa.lind@example.net",
                Assurance::Verified,
            )],
            utterance: "my card was declined".into(),
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("contact starts")
        .into_inner();
    let contact = started.contact.expect("contact");
    let offer = desk.offer().await;
    desk.accept(&offer).await;
    drop(desk);

    let config = m.stop().await;
    let mut m = TestMesh::start_with(config).await;

    let again = m
        .routing
        .get_contact(pb::GetContactRequest {
            tenant_id: t.clone(),
            contact_id: contact.contact_id.clone(),
        })
        .await
        .expect("the contact is still known")
        .into_inner()
        .contact
        .expect("contact");
    assert_eq!(again.customer_id, contact.customer_id);
    assert_eq!(
        again.state,
        pb::ContactState::Connected as i32,
        "still with its agent"
    );

    let resolved = m
        .identity
        .resolve(pb::ResolveRequest {
            tenant_id: t.clone(),
            identifiers: vec![ident(
                Kind::Email,
                "Rosa.Lind@example.net",
                Assurance::Claimed,
            )],
            lookup_only: true,
            ..Default::default()
        })
        .await
        .expect("resolve")
        .into_inner();
    assert_eq!(
        resolved.customer_id, contact.customer_id,
        "identity remembers the customer"
    );

    let snapshot = m
        .context
        .get_context(pb::GetContextRequest {
            tenant_id: t.clone(),
            customer_id: contact.customer_id.clone(),
            max_interactions: 0,
            merged_ids: Vec::new(),
        })
        .await
        .expect("context")
        .into_inner()
        .snapshot
        .expect("snapshot");
    assert!(
        snapshot
            .recent_interactions
            .iter()
            .any(|i| i.contact_id == contact.contact_id)
    );

    let token = open_as_agent(&mut m.routing, &t, "ana", &started.token)
        .await
        .expect("a token minted before the restart still opens (the key ring persisted)");
    assert_eq!(token.contact_id, contact.contact_id);
    m.stop().await;
}

#[tokio::test]
async fn an_unreachable_redis_stops_the_mesh_at_start() {
    let stores = Stores::embedded();
    let mut config = stores.config();
    config.store = StoreKind::Redis;
    config.redis_url = "redis://127.0.0.1:1/".to_owned();
    let err = Mesh::start(&[ServiceName::All], &config, Shutdown::new())
        .await
        .expect_err("nothing listens on port 1");
    let message = err.to_string();
    assert!(
        message.contains("store") && message.contains("127.0.0.1:1"),
        "{message}"
    );
}

/// Calls until the answer is not UNAVAILABLE (a service's first store call after Redis went
/// away fails while its connection re-establishes), at most 5 s.
macro_rules! once_available {
    ($call:expr) => {{
        let mut answer = None;
        for _ in 0..50 {
            match $call.await {
                Ok(ok) => {
                    answer = Some(ok.into_inner());
                    break;
                }
                Err(status) => {
                    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
        answer.expect("answers once Redis is back")
    }};
}

/// Redis crashes and comes back under a running mesh: what was acknowledged before is still
/// there, and every service reconnects by itself.
#[tokio::test]
async fn the_mesh_rides_out_a_redis_crash() {
    let mut stores = Stores::redis();
    let mut m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    let start = |email: &str| pb::StartContactRequest {
        tenant_id: t.clone(),
        channel: pb::Channel::Chat as i32,
        identifiers: vec![ident(Kind::Email, email, Assurance::Verified)],
        utterance: "my card was declined".into(),
        idempotency_key: key(),
        ..Default::default()
    };
    let before = m
        .routing
        .start_contact(start("ida.berg@example.net"))
        .await
        .expect("contact starts")
        .into_inner()
        .contact
        .expect("contact");

    stores.crash_redis();

    let resolve = pb::ResolveRequest {
        tenant_id: t.clone(),
        identifiers: vec![ident(
            Kind::Email,
            "ida.berg@example.net",
            Assurance::Claimed,
        )],
        lookup_only: true,
        ..Default::default()
    };
    let resolved = once_available!(m.identity.resolve(resolve.clone()));
    assert_eq!(
        resolved.customer_id, before.customer_id,
        "the customer acknowledged before the crash is still known"
    );
    let get_context = pb::GetContextRequest {
        tenant_id: t.clone(),
        customer_id: before.customer_id.clone(),
        ..Default::default()
    };
    let context = once_available!(m.context.get_context(get_context.clone()))
        .snapshot
        .expect("snapshot");
    assert!(
        context.version > 0,
        "the history written before the crash is there"
    );
    let get_contact = pb::GetContactRequest {
        tenant_id: t.clone(),
        contact_id: before.contact_id.clone(),
    };
    let contact = once_available!(m.routing.get_contact(get_contact.clone()))
        .contact
        .expect("contact");
    assert_eq!(contact.customer_id, before.customer_id);

    // Every service is back: a new contact resolves, is recorded and gets recommendations.
    let after = once_available!(m.routing.start_contact(start("ove.lund@example.net")))
        .contact
        .expect("contact");
    assert_ne!(after.customer_id, before.customer_id);
    let history = m
        .context
        .get_context(pb::GetContextRequest {
            tenant_id: t.clone(),
            customer_id: after.customer_id.clone(),
            ..Default::default()
        })
        .await
        .expect("context answers at once now")
        .into_inner()
        .snapshot
        .expect("snapshot");
    assert!(history.version > 0, "the new contact was recorded");
}

#[tokio::test]
async fn on_the_stop_signal_health_says_not_serving_before_the_port_closes_routing_stops_first_and_watches_end()
 {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = baton::config::MeshConfig::for_tests(dir.path().to_path_buf());
    config.server.stop_grace_ms = 600;
    let m = TestMesh::start_with(config).await;
    let routing = m.channel_as(ServiceName::Routing, None);
    let routing_url = m.url(ServiceName::Routing);
    let identity = m.channel_as(ServiceName::Identity, None);
    let ask = |service: &'static str| HealthCheckRequest {
        service: service.to_owned(),
    };
    let mut watch = HealthClient::new(routing.clone())
        .watch(ask("baton.v1.RoutingService"))
        .await
        .expect("watch opens")
        .into_inner();
    let first = watch.next().await.expect("an update").expect("no error");
    assert_eq!(first.status, ServingStatus::Serving as i32);

    let started = tokio::time::Instant::now();
    let stopping = tokio::spawn(m.stop());
    let told = watch.next().await.expect("an update").expect("no error");
    assert_eq!(
        told.status,
        ServingStatus::NotServing as i32,
        "the watch is told"
    );
    // Still accepting during the grace: a fresh check hears NOT_SERVING, not a refusal ...
    let fresh = baton_runtime::client::connect_lazy(
        &routing_url,
        &baton_runtime::client::ClientConfig::default(),
    )
    .expect("url");
    let checked = HealthClient::new(fresh)
        .check(ask("baton.v1.RoutingService"))
        .await
        .expect("a check during the grace is answered")
        .into_inner();
    assert_eq!(checked.status, ServingStatus::NotServing as i32);
    // ... while identity, which routing calls, still serves until routing has drained.
    let identity_now = HealthClient::new(identity)
        .check(ask("baton.v1.IdentityService"))
        .await
        .expect("identity answers")
        .into_inner();
    assert_eq!(identity_now.status, ServingStatus::Serving as i32);
    // The open watch ends rather than holding the drain (20 s would be the deadline).
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = watch.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the watch is still open");
    stopping.await.expect("the mesh stops");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "an open watch held the stop for {:?}",
        started.elapsed()
    );
}
