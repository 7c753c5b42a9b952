//! The attacks tried against the running mesh from outside, each with the refusal it must get
//! (code and message), and legitimate traffic on the same server succeeding around it.
//!
//! | attack | expected |
//! |---|---|
//! | any RPC without credentials | `UNAUTHENTICATED` |
//! | any RPC by a role its rule does not name | `PERMISSION_DENIED` naming the permission |
//! | a request naming another tenant (both stores) | `PERMISSION_DENIED` naming the tenant |
//! | a forged, expired or foreign bearer token | `UNAUTHENTICATED` saying why |
//! | another agent's session, or a second session for one agent | `PERMISSION_DENIED`, `ALREADY_EXISTS` |
//! | an offer's token opened by another agent | `PERMISSION_DENIED` |
//! | an idempotency key replayed with another request | `INVALID_ARGUMENT`, nothing disclosed |
//! | 100,000 invalid identifiers | `INVALID_ARGUMENT` in a bounded message |
//! | a 5 MB message | `RESOURCE_EXHAUSTED` |
//! | bytes that are not a message | `INVALID_ARGUMENT` |
//! | a silent or half-sent connection | closed after the handshake timeout |
//! | more calls than the rate limit, more streams than the cap | `RESOURCE_EXHAUSTED` |
//! | plaintext to a TLS port, an expired or foreign client certificate | no connection |

use std::time::Duration;

use baton::config::{MeshConfig, ServiceName};
use baton_auth::{
    Role, Tenants,
    policy::{self, TABLE},
};
use baton_proto::v1::{
    self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind,
    context_service_client::ContextServiceClient, identity_service_client::IdentityServiceClient,
    routing_service_client::RoutingServiceClient,
};
use baton_tests::{PATIENCE, Stores, TestMesh, ident, key, raw, tenant};
use bytes::Bytes;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tonic::Code;

fn service_of(path: &str) -> ServiceName {
    if path.starts_with("/baton.v1.IdentityService/") {
        ServiceName::Identity
    } else if path.starts_with("/baton.v1.ContextService/") {
        ServiceName::Context
    } else if path.starts_with("/baton.v1.RecommendationService/") {
        ServiceName::Recommendation
    } else {
        ServiceName::Routing
    }
}

fn start_request(tenant: &str, email: &str) -> pb::StartContactRequest {
    pb::StartContactRequest {
        tenant_id: tenant.to_owned(),
        channel: pb::Channel::Chat as i32,
        identifiers: vec![ident(Kind::Email, email, Assurance::Verified)],
        utterance: "where is my order".into(),
        self_service: true,
        idempotency_key: key(),
        ..Default::default()
    }
}

/// A gateway of `tenant` starts a self-service contact: the legitimate traffic that must keep
/// working whatever was refused before it. Returns the customer.
async fn legitimate_start(m: &TestMesh, tenant: &str) -> String {
    let token = m.token_for("gw-legit", &Tenants::one(tenant), &[Role::Gateway], None);
    let mut gateway = RoutingServiceClient::new(m.channel_as(ServiceName::Routing, Some(token)));
    gateway
        .start_contact(start_request(tenant, "legit@example.com"))
        .await
        .expect("legitimate traffic keeps succeeding")
        .into_inner()
        .contact
        .expect("contact")
        .customer_id
}

#[tokio::test]
async fn every_rpc_refuses_anonymous_callers_and_every_role_its_rule_does_not_name() {
    let stores = Stores::embedded();
    let m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    for rule in TABLE {
        let service = service_of(rule.path);
        let status = raw::call(m.channel_as(service, None), rule.path, Bytes::new()).await;
        assert_eq!(status.code(), Code::Unauthenticated, "{}", rule.path);
        for role in Role::ALL {
            let token = m.token_for(
                &format!("probe-{role}"),
                &Tenants::one(&t),
                &[role],
                Some("probe"),
            );
            let call = raw::call(m.channel_as(service, Some(token)), rule.path, Bytes::new());
            // A call the layer admits may wait on a stream; only the layer's answer matters.
            let status = tokio::time::timeout(Duration::from_secs(3), call).await;
            let denied = matches!(&status, Ok(s) if s.code() == Code::PermissionDenied
                && s.message().contains(rule.permission));
            assert_eq!(
                denied,
                !rule.roles().contains(role),
                "{} as {role}: {status:?}",
                rule.path
            );
        }
    }
    let unknown = raw::call(
        m.channel_as(ServiceName::Routing, Some(m.token.get().to_string())),
        "/baton.v1.RoutingService/Backdoor",
        Bytes::new(),
    )
    .await;
    assert_eq!(unknown.code(), Code::PermissionDenied, "{unknown:?}");
    legitimate_start(&m, &t).await;
    m.stop().await;
}

#[tokio::test]
async fn forged_expired_and_foreign_bearer_tokens_are_unauthenticated() {
    let stores = Stores::embedded();
    let m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    let foreign = baton_auth::jwt::Signer::from_secret("baton-dev", &[7u8; 32])
        .expect("signer")
        .sign(&baton_auth::jwt::Claims::new(
            "gw",
            &Tenants::one(&t),
            baton_auth::Roles::of(&[Role::Gateway]),
            None,
            Duration::from_secs(60),
            "baton",
        ))
        .expect("signs");
    // Claims widened to every tenant, under the signature of a genuine token.
    let good = m.token_for("gw", &Tenants::one(&t), &[Role::Gateway], None);
    let wide = m.token_for("gw", &Tenants::Any, &[Role::Gateway, Role::Admin], None);
    let (good_parts, wide_parts): (Vec<&str>, Vec<&str>) =
        (good.split('.').collect(), wide.split('.').collect());
    let forged = format!("{}.{}.{}", good_parts[0], wide_parts[1], good_parts[2]);
    for (token, why) in [
        (foreign, "signature"),
        (forged, "signature"),
        ("garbage".to_owned(), "well-formed"),
    ] {
        let mut c = RoutingServiceClient::new(m.channel_as(ServiceName::Routing, Some(token)));
        let err = c
            .start_contact(start_request(&t, "x@example.com"))
            .await
            .expect_err("refused");
        assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
        assert!(err.message().contains(why), "{why}: {}", err.message());
    }
    legitimate_start(&m, &t).await;
    m.stop().await;
}

async fn cross_tenant_requests_are_refused(stores: Stores) {
    let m = TestMesh::start_with(stores.config()).await;
    let (a, b) = (tenant(), tenant());
    let gw_b = m.token_for("gw-b", &Tenants::one(&b), &[Role::Gateway], None);
    let err = RoutingServiceClient::new(m.channel_as(ServiceName::Routing, Some(gw_b)))
        .start_contact(start_request(&a, "a@example.com"))
        .await
        .expect_err("another tenant");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains(&a), "{}", err.message());

    // mallory, an agent of b, tries to create herself in a's queue
    let mallory = m.token_for(
        "mallory",
        &Tenants::one(&b),
        &[Role::Agent],
        Some("mallory"),
    );
    let err = RoutingServiceClient::new(m.channel_as(ServiceName::Routing, Some(mallory)))
        .set_agent_state(pb::SetAgentStateRequest {
            tenant_id: a.clone(),
            agent_id: "mallory".into(),
            presence: pb::Presence::Available as i32,
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect_err("another tenant");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");

    // an administrator of b reads, merges and forgets nothing of a
    let admin_b = m.token_for("admin-b", &Tenants::one(&b), &[Role::Admin], None);
    let mut identity =
        IdentityServiceClient::new(m.channel_as(ServiceName::Identity, Some(admin_b.clone())));
    let err = identity
        .get_profile(pb::GetProfileRequest {
            tenant_id: a.clone(),
            customer_id: "c1".into(),
        })
        .await
        .expect_err("another tenant");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = ContextServiceClient::new(m.channel_as(ServiceName::Context, Some(admin_b)))
        .forget_customer(pb::ForgetCustomerRequest {
            tenant_id: a.clone(),
            customer_id: "c1".into(),
            ..Default::default()
        })
        .await
        .expect_err("another tenant");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    legitimate_start(&m, &a).await;
    m.stop().await;
}

#[tokio::test]
async fn amplified_oversized_and_undecodable_requests_are_refused_cheaply() {
    let stores = Stores::embedded();
    let m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    let token = m.token_for("gw", &Tenants::one(&t), &[Role::Gateway], None);
    let mut gw = RoutingServiceClient::new(m.channel_as(ServiceName::Routing, Some(token.clone())));

    let mut many = start_request(&t, "a@example.com");
    many.identifiers = (0..100_000)
        .map(|i| ident(Kind::Phone, &format!("not a phone {i}"), Assurance::Claimed))
        .collect();
    let err = gw.start_contact(many).await.expect_err("too many");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    assert!(err.message().len() < 1024, "{} bytes", err.message().len());

    // Under the size limit, too many items are one violation, found before any item is read.
    let mut many = start_request(&t, "a@example.com");
    many.identifiers = (0..2_000)
        .map(|i| ident(Kind::Phone, &format!("x{i}"), Assurance::Claimed))
        .collect();
    let err = gw.start_contact(many).await.expect_err("too many");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let violations = baton_runtime::validate::field_violations(&err);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].0, "identifiers", "{violations:?}");
    assert!(err.message().len() < 1024, "{} bytes", err.message().len());

    let mut huge = start_request(&t, "a@example.com");
    huge.utterance = "x".repeat(5 << 20);
    let err = gw.start_contact(huge).await.expect_err("too large");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");

    let garbage = raw::call(
        m.channel_as(ServiceName::Routing, Some(token)),
        "/baton.v1.RoutingService/StartContact",
        Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
    )
    .await;
    assert_eq!(garbage.code(), Code::InvalidArgument, "{garbage:?}");
    legitimate_start(&m, &t).await;
    m.stop().await;
}

/// Reads from `stream` until the server closes it; true when it did within [`PATIENCE`].
async fn closed_by_server(stream: &mut tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; 256];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, read).await.is_ok()
}

#[tokio::test]
async fn silent_and_half_sent_connections_are_closed_after_the_handshake_timeout() {
    let stores = Stores::embedded();
    let mut config = stores.config();
    config.tls.handshake_timeout_ms = 200;
    let m = TestMesh::start_with(config).await;
    let addr = m
        .url(ServiceName::Routing)
        .trim_start_matches("http://")
        .to_owned();
    let mut silent = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connects");
    let mut half = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connects");
    half.write_all(b"PRI * HTTP/2.0\r\n").await.expect("writes");
    assert!(
        closed_by_server(&mut silent).await,
        "silent connection closed"
    );
    assert!(closed_by_server(&mut half).await, "half preface closed");
    legitimate_start(&m, &tenant()).await;
    m.stop().await;
}

#[tokio::test]
async fn a_caller_over_its_rate_or_stream_limit_is_refused_and_others_are_not() {
    let stores = Stores::embedded();
    let mut config: MeshConfig = stores.config();
    config.auth.rate_limit_per_sec = 5;
    config.auth.rate_limit_burst = 5;
    config.auth.max_streams_per_caller = 1;
    let m = TestMesh::start_with(config).await;
    let t = tenant();
    let token = m.token_for("gw-busy", &Tenants::one(&t), &[Role::Gateway], None);
    let mut busy = RoutingServiceClient::new(m.channel_as(ServiceName::Routing, Some(token)));
    let mut refused = None;
    for _ in 0..20 {
        let answer = busy
            .get_contact(pb::GetContactRequest {
                tenant_id: t.clone(),
                contact_id: "none".into(),
            })
            .await;
        if let Err(e) = answer
            && e.code() == Code::ResourceExhausted
        {
            refused = Some(e);
            break;
        }
    }
    let refused = refused.expect("the limit is reached within 20 calls");
    assert!(refused.message().contains("rate limit"), "{refused:?}");
    let customer = legitimate_start(&m, &t).await;

    let watcher = m.token_for("sup", &Tenants::one(&t), &[Role::Supervisor], None);
    let mut context = ContextServiceClient::new(m.channel_as(ServiceName::Context, Some(watcher)));
    let watch = pb::WatchContextRequest {
        tenant_id: t.clone(),
        customer_id: customer,
        ..Default::default()
    };
    let first = context
        .watch_context(watch.clone())
        .await
        .expect("first watch");
    let err = context
        .watch_context(watch.clone())
        .await
        .expect_err("over the stream cap");
    assert_eq!(err.code(), Code::ResourceExhausted, "{err:?}");
    drop(first);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match context.watch_context(watch.clone()).await {
            Ok(_) => break,
            Err(e) if e.code() == Code::ResourceExhausted => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the slot comes back"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    m.stop().await;
}

#[test]
fn the_authorization_table_names_a_permission_for_every_rpc() {
    for rule in TABLE {
        assert!(matches!(
            policy::decide(rule.path),
            policy::Decision::Rule(_)
        ));
        assert!(rule.permission.contains('.'), "{}", rule.permission);
    }
}

#[test]
fn the_readme_prints_the_authorization_table_as_enforced() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    assert!(
        readme.contains(&policy::markdown()),
        "README.md's authorization table differs from crates/auth/src/policy.rs; paste:\n{}",
        policy::markdown()
    );
}

async fn an_agents_session_and_tokens_are_hers_alone(stores: Stores) {
    let m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    let one = Tenants::one(&t);
    let routing_as =
        |token: String| RoutingServiceClient::new(m.channel_as(ServiceName::Routing, Some(token)));
    let mut supervisor = routing_as(m.token_for("sup", &one, &[Role::Supervisor], None));
    for agent in ["ann", "bob"] {
        baton_tests::available_agent(&mut supervisor, &t, agent, 1, pb::Channel::Chat, 1).await;
    }
    let mut ann = routing_as(m.token_for("desk-ann", &one, &[Role::Agent], Some("ann")));
    let mut bob = routing_as(m.token_for("desk-bob", &one, &[Role::Agent], Some("bob")));

    // bob cannot hold ann's session, and ann cannot hold two.
    let hijack = baton::desk::Desk::open(&mut bob, &t, "ann", PATIENCE)
        .await
        .expect_err("bob as ann");
    assert!(
        hijack.to_string().contains("may not act as agent ann"),
        "{hijack}"
    );
    let mut ann_desk = baton_tests::Desk::open(&mut ann, &t, "ann").await;
    let second = baton::desk::Desk::open(&mut ann, &t, "ann", PATIENCE)
        .await
        .expect_err("a second session");
    assert!(
        second.to_string().contains("already has an open session"),
        "{second}"
    );

    // The contact goes to ann (bob has no session): its token is hers.
    let gateway = m.token_for("gw", &one, &[Role::Gateway], None);
    let mut start = start_request(&t, "c@example.com");
    start.self_service = false;
    routing_as(gateway)
        .start_contact(start)
        .await
        .expect("started");
    let offer = ann_desk.offer().await;
    let err = baton_tests::open_as_agent(&mut bob, &t, "bob", &offer.token)
        .await
        .expect_err("bob opens ann's token");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = baton_tests::open_as_agent(&mut bob, &t, "ann", &offer.token)
        .await
        .expect_err("bob names ann");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let opened = baton_tests::open_as_agent(&mut ann, &t, "ann", &offer.token)
        .await
        .expect("ann opens her token");
    assert_eq!(
        opened.contact_id,
        offer.contact.expect("contact").contact_id
    );
    supervisor
        .open_token(pb::OpenTokenRequest {
            tenant_id: t.clone(),
            token: offer.token.clone(),
            opener: None,
        })
        .await
        .expect("a supervisor opens any token of the tenant");
    m.stop().await;
}

async fn a_replayed_idempotency_key_with_another_request_discloses_nothing(stores: Stores) {
    let m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    let gateway = m.token_for("gw", &Tenants::one(&t), &[Role::Gateway], None);
    let mut gw = RoutingServiceClient::new(m.channel_as(ServiceName::Routing, Some(gateway)));
    let first = start_request(&t, "first@example.com");
    let answer = gw
        .start_contact(first.clone())
        .await
        .expect("first")
        .into_inner();
    let contact = answer.contact.expect("contact").contact_id;
    let mut replay = start_request(&t, "mallory@example.com");
    replay.idempotency_key = first.idempotency_key.clone();
    let err = gw.start_contact(replay).await.expect_err("another request");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("idempotency_key"),
        "{}",
        err.message()
    );
    assert!(!err.message().contains(&contact), "{}", err.message());
    assert!(
        !err.message().contains("first@example.com"),
        "{}",
        err.message()
    );
    let retry = gw
        .start_contact(first)
        .await
        .expect("a true retry")
        .into_inner();
    assert_eq!(retry.contact.expect("contact").contact_id, contact);
    m.stop().await;
}

baton_tests::on_every_store!(
    cross_tenant_requests_are_refused,
    an_agents_session_and_tokens_are_hers_alone,
    a_replayed_idempotency_key_with_another_request_discloses_nothing,
);
