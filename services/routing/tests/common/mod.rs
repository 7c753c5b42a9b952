//! An in-process mesh: identity, context, recommendation and routing on 127.0.0.1:0, each a
//! real tonic server, routing calling the others through lazily connecting clients.
//!
//! Servers are built by hand, so no auth layer authenticates callers: each gets
//! `AssumeLayer` with the test harness's principal (every role, every tenant) instead. The
//! auth mesh ([`auth_mesh`]) puts the real `AuthLayer` in front of routing, and its callers
//! carry bearer JWTs.

// Each test binary uses part of the harness.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use baton_auth::jwt::{Claims, DEFAULT_AUDIENCE, Signer, Verifier};
use baton_auth::reload::Watched;
use baton_auth::{AssumeLayer, AuthLayer, Authenticator, Limits, Principal, Role, Roles, Tenants};

use baton_proto::v1::context_service_client::ContextServiceClient;
use baton_proto::v1::identity_service_client::IdentityServiceClient;
use baton_proto::v1::recommendation_service_client::RecommendationServiceClient;
use baton_proto::v1::routing_service_client::RoutingServiceClient;
use baton_proto::v1::{
    AgentHello, AgentSessionRequest, AgentSessionResponse, CapacitySet, Channel, ChannelCapacity,
    Identifier, IdentifierAssurance, IdentifierKind, Presence, QueueSet, SetAgentStateRequest,
    StartContactRequest, StartContactResponse, agent_session_request::Action,
    agent_session_response::Event,
};
use baton_routing::{Dependencies, RoutingConfig};
use baton_runtime::client::{ClientConfig, connect_lazy};
use baton_runtime::shutdown::Shutdown;
use baton_token::KeyRing;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel as Transport;
use tonic::{Status, Streaming};

pub const TENANT: &str = "acme";

/// The secret the auth mesh's JWTs are signed with.
const SECRET: &[u8] = b"routing-tests-secret-of-32-bytes!";

/// Binds 127.0.0.1:0 and serves `svc` on it behind `layer` until the test ends.
macro_rules! serve {
    ($svc:expr) => {
        serve!($svc, AssumeLayer(Arc::new(Principal::for_tests())))
    };
    ($svc:expr, $layer:expr) => {{
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let svc = $svc;
        let layer = $layer;
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .layer(layer)
                .add_service(svc)
                .serve_with_incoming(TcpListenerStream::new(listener))
                .await
        });
        addr
    }};
}

/// Adds `authorization: Bearer <jwt>` to every call, when it has a token.
#[derive(Clone, Debug, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

/// A routing client, calling as whoever its bearer token says.
pub type Client = RoutingServiceClient<InterceptedService<Transport, Bearer>>;

/// The running services and a client for routing, the service under test.
pub struct Mesh {
    /// Calls as the harness (without auth) or as a principal holding every role for every
    /// tenant (with auth).
    pub routing: Client,
    /// The connection to routing, for clients calling as someone else.
    channel: Transport,
    pub shutdown: Shutdown,
    /// Where routing calls context (nothing listens there until [`Mesh::start_context`] on a
    /// mesh built with context down).
    pub context_addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Mesh {
    /// Starts context where routing calls it, on the mesh's data directory (for a mesh built
    /// with context down).
    pub async fn start_context(&self) {
        let store = baton_context::open_embedded(self.dir.path()).expect("context store");
        let listener = TcpListener::bind(self.context_addr)
            .await
            .expect("context's port is still free");
        let svc = baton_context::grpc_service(store, self.shutdown.clone());
        tokio::spawn(
            tonic::transport::Server::builder()
                .layer(AssumeLayer(Arc::new(Principal::for_tests())))
                .add_service(svc)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
    }

    /// A context client, calling as the harness.
    pub async fn context(&self) -> ContextServiceClient<Transport> {
        ContextServiceClient::new(client_channel(self.context_addr).await)
    }

    /// A client calling as the principal `claims` describe (on the auth mesh).
    pub fn client_as(&self, claims: &Claims) -> Client {
        let jwt = Signer::from_secret("k", SECRET)
            .expect("signer")
            .sign(claims)
            .expect("sign");
        let value = format!("Bearer {jwt}").parse().expect("header value");
        RoutingServiceClient::with_interceptor(self.channel.clone(), Bearer(Some(value)))
    }

    /// A client for an agent desk of `tenant`: agent `agent_id` and nothing else.
    pub fn agent_desk(&self, tenant: &str, agent_id: &str) -> Client {
        self.client_as(&claims(
            &format!("desk-{agent_id}"),
            tenant,
            &[Role::Agent],
            Some(agent_id),
        ))
    }

    /// A client for a channel gateway of the test tenant.
    pub fn gateway(&self, subject: &str) -> Client {
        self.client_as(&claims(subject, TENANT, &[Role::Gateway], None))
    }

    /// A client for a supervisor of the test tenant.
    pub fn supervisor(&self) -> Client {
        self.client_as(&claims("sue", TENANT, &[Role::Supervisor], None))
    }
}

/// Claims of a principal of one tenant, valid for a minute.
pub fn claims(subject: &str, tenant: &str, roles: &[Role], agent_id: Option<&str>) -> Claims {
    Claims::new(
        subject,
        &Tenants::one(tenant),
        Roles::of(roles),
        agent_id,
        Duration::from_secs(60),
        DEFAULT_AUDIENCE,
    )
}

/// An address nothing listens on: calls to it fail at once with UNAVAILABLE.
async fn dead_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr")
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

async fn client_channel(addr: SocketAddr) -> Transport {
    Transport::from_shared(url(addr))
        .expect("url")
        .connect()
        .await
        .expect("connect")
}

/// Starts every service with `config`. With `identity_up` false, routing's identity client
/// points at a port nobody listens on.
pub async fn mesh_with(config: RoutingConfig, identity_up: bool) -> Mesh {
    build(config, identity_up, true, false, 0).await
}

/// Every service but context, which [`Mesh::start_context`] starts later.
pub async fn mesh_without_context() -> Mesh {
    build(RoutingConfig::default(), true, false, false, 0).await
}

/// The whole mesh with routing behind the real auth layer, accepting JWTs signed with the
/// test secret; `routing` calls as a principal with every role for every tenant.
pub async fn auth_mesh() -> Mesh {
    build(RoutingConfig::default(), true, true, true, 0).await
}

/// The whole mesh, with identity answering its first `refusals` calls UNAVAILABLE (as while
/// it restarts).
pub async fn mesh_with_identity_refusing(refusals: usize) -> Mesh {
    build(RoutingConfig::default(), true, true, false, refusals).await
}

async fn build(
    config: RoutingConfig,
    identity_up: bool,
    context_up: bool,
    auth: bool,
    identity_refusals: usize,
) -> Mesh {
    let dir = tempfile::tempdir().expect("tempdir");
    let shutdown = Shutdown::new();
    let identity_store = baton_identity::open_embedded(dir.path()).expect("identity store");
    let refusals = Arc::new(std::sync::atomic::AtomicUsize::new(identity_refusals));
    let refusing = tonic::service::InterceptorLayer::new(move |request| {
        let left = refusals.fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |n| n.checked_sub(1),
        );
        match left {
            Ok(_) => Err(Status::unavailable("identity is starting")),
            Err(_) => Ok(request),
        }
    });
    let identity_addr = serve!(
        baton_identity::grpc_service(identity_store, Default::default(), shutdown.clone()),
        tower::ServiceBuilder::new()
            .layer(AssumeLayer(Arc::new(Principal::for_tests())))
            .layer(refusing)
            .into_inner()
    );
    let context_addr = if context_up {
        let context_store = baton_context::open_embedded(dir.path()).expect("context store");
        serve!(baton_context::grpc_service(context_store, shutdown.clone()))
    } else {
        dead_address().await
    };
    let reco_store = baton_recommendation::open_embedded(dir.path()).expect("reco store");
    let reco_addr = serve!(baton_recommendation::grpc_service(
        reco_store,
        shutdown.clone()
    ));
    let identity_for_routing = if identity_up {
        identity_addr
    } else {
        dead_address().await
    };
    // Longer than production's 2 s: test binaries share the machine's cores, and a call that
    // ran out would turn a scenario into routing without an identified customer.
    let clients = ClientConfig {
        request_timeout_ms: 10_000,
        ..ClientConfig::default()
    };
    let deps = Dependencies {
        identity: IdentityServiceClient::new(
            connect_lazy(&url(identity_for_routing), &clients).expect("client"),
        ),
        context: ContextServiceClient::new(
            connect_lazy(&url(context_addr), &clients).expect("client"),
        ),
        recommendation: RecommendationServiceClient::new(
            connect_lazy(&url(reco_addr), &clients).expect("client"),
        ),
        retries: Default::default(),
    };
    let store = baton_routing::open_embedded(dir.path()).expect("routing store");
    let keys = KeyRing::generate("k1").expect("keys");
    let (routing_svc, _handed_back) = baton_routing::grpc_service(
        store,
        deps,
        keys,
        config,
        baton_routing::ShardConfig::single(),
        shutdown.clone(),
    )
    .await
    .expect("routing service");
    let routing_addr = if auth {
        let verifier = Verifier::from_secret("k", SECRET, DEFAULT_AUDIENCE).expect("verifier");
        let authenticator = Authenticator::new().with_verifier(Watched::fixed(verifier));
        serve!(
            routing_svc,
            AuthLayer::new(authenticator, Limits::default())
        )
    } else {
        serve!(routing_svc)
    };
    let channel = client_channel(routing_addr).await;
    let mut mesh = Mesh {
        routing: RoutingServiceClient::with_interceptor(channel.clone(), Bearer::default()),
        channel,
        shutdown,
        context_addr,
        dir,
    };
    if auth {
        mesh.routing = mesh.client_as(&Claims::new(
            "root",
            &Tenants::Any,
            Roles::of(&Role::ALL),
            None,
            Duration::from_secs(60),
            DEFAULT_AUDIENCE,
        ));
    }
    mesh
}

/// The whole mesh with default settings.
pub async fn mesh() -> Mesh {
    mesh_with(RoutingConfig::default(), true).await
}

/// Settings with a short offer timeout, for tests that let offers lapse.
pub fn quick_offers() -> RoutingConfig {
    RoutingConfig {
        offer_timeout: Duration::from_millis(300),
        ..RoutingConfig::default()
    }
}

/// Creates an available agent of `tier` taking `capacity` contacts on each of `channels`,
/// serving the `billing` queue.
pub async fn agent(mesh: &Mesh, id: &str, tier: u32, channels: &[(Channel, u32)]) {
    mesh.routing
        .clone()
        .set_agent_state(SetAgentStateRequest {
            tenant_id: TENANT.into(),
            agent_id: id.into(),
            presence: Presence::Available as i32,
            tier: Some(tier),
            capacities: Some(CapacitySet {
                capacities: channels
                    .iter()
                    .map(|(c, n)| ChannelCapacity {
                        channel: *c as i32,
                        max_contacts: *n,
                        exclusive: false,
                    })
                    .collect(),
            }),
            queues: Some(QueueSet {
                queue_ids: vec!["billing".into()],
            }),
            idempotency_key: format!("agent-{id}"),
            ..SetAgentStateRequest::default()
        })
        .await
        .expect("set agent");
}

/// An agent desktop: the sender for answers and the stream of events.
pub struct Desk {
    pub tx: mpsc::Sender<AgentSessionRequest>,
    pub events: Streaming<AgentSessionResponse>,
}

impl Desk {
    /// The next event.
    pub async fn next(&mut self) -> Event {
        self.events
            .message()
            .await
            .expect("stream ok")
            .and_then(|m| m.event)
            .expect("an event")
    }

    /// The next event, which must be an offer.
    pub async fn offer(&mut self) -> baton_proto::v1::ContactOffer {
        match self.next().await {
            Event::Offer(offer) => offer,
            other => panic!("expected an offer, got {other:?}"),
        }
    }

    pub async fn accept(&mut self, offer_id: &str) -> baton_proto::v1::ContactConnected {
        self.send(Action::Accept(baton_proto::v1::AcceptOffer {
            offer_id: offer_id.into(),
        }))
        .await;
        match self.next().await {
            Event::Connected(connected) => connected,
            other => panic!("expected connected, got {other:?}"),
        }
    }

    pub async fn reject(&mut self, offer_id: &str) {
        self.send(Action::Reject(baton_proto::v1::RejectOffer {
            offer_id: offer_id.into(),
            reason: "busy".into(),
        }))
        .await;
    }

    pub async fn send(&self, action: Action) {
        self.tx
            .send(AgentSessionRequest {
                action: Some(action),
            })
            .await
            .expect("session open");
    }
}

/// Opens a session for an agent and reads the welcome.
pub async fn desk(mesh: &Mesh, agent_id: &str) -> Desk {
    desk_on(&mesh.routing, agent_id).await.expect("session")
}

/// Opens a session through `client` whose hello names `agent_id`, and reads the welcome.
pub async fn desk_on(client: &Client, agent_id: &str) -> Result<Desk, Status> {
    let (tx, rx) = mpsc::channel(8);
    tx.send(AgentSessionRequest {
        action: Some(Action::Hello(AgentHello {
            tenant_id: TENANT.into(),
            agent_id: agent_id.into(),
        })),
    })
    .await
    .expect("hello");
    let events = client
        .clone()
        .agent_session(ReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut desk = Desk { tx, events };
    match desk.next().await {
        Event::Welcome(agent) => assert_eq!(agent.agent_id, agent_id),
        other => panic!("expected welcome, got {other:?}"),
    }
    Ok(desk)
}

/// A start request on `channel` for a caller identified by phone (observed: IDENTIFIED).
pub fn start_request(channel: Channel, key: &str) -> StartContactRequest {
    StartContactRequest {
        tenant_id: TENANT.into(),
        channel: channel as i32,
        identifiers: vec![Identifier {
            kind: IdentifierKind::Phone as i32,
            value: "+44 20 7946 0958".into(),
            assurance: IdentifierAssurance::Observed as i32,
            ..Identifier::default()
        }],
        utterance: "my card was declined twice".into(),
        intent: "card_declined".into(),
        idempotency_key: key.into(),
        ..StartContactRequest::default()
    }
}

/// Starts a contact.
pub async fn start(mesh: &Mesh, request: StartContactRequest) -> StartContactResponse {
    mesh.routing
        .clone()
        .start_contact(request)
        .await
        .expect("start")
        .into_inner()
}
