//! Helpers for cross-service scenarios: a mesh started exactly as `baton serve all` starts it
//! (every service on a free port of 127.0.0.1, talking gRPC), clients for each service, and an
//! agent desktop that holds an `AgentSession` stream.

pub mod linkage;
pub mod otlp;
pub mod people;
pub mod pki;
pub mod raw;

use std::{path::Path, time::Duration};

use baton::{
    config::{MeshConfig, ServiceName, StoreKind},
    mesh::Mesh,
};
use baton_auth::{Role, Roles, Tenants, dev::DevCredentials, reload::Watched};
use baton_proto::v1::{
    self as pb, context_service_client::ContextServiceClient,
    identity_service_client::IdentityServiceClient,
    recommendation_service_client::RecommendationServiceClient,
    routing_service_client::RoutingServiceClient,
};
use baton_runtime::{
    client::{ClientChannel, ClientConfig, connect_lazy},
    shutdown::Shutdown,
};
use baton_store::redis_db::{RedisCluster, RedisServer};

/// How long a scenario waits for something the mesh should do promptly.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Where a test mesh keeps its state: a fresh data directory, and with Redis a throwaway
/// `redis-server` (or Redis Cluster) of its own. All go when this is dropped.
#[derive(Debug)]
pub struct Stores {
    dir: tempfile::TempDir,
    redis: Option<RedisServer>,
    cluster: Option<RedisCluster>,
}

impl Stores {
    /// The embedded store in a fresh directory.
    pub fn embedded() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            redis: None,
            cluster: None,
        }
    }

    /// A fresh three-master Redis Cluster, reached through `--redis-cluster` with every
    /// master as a seed.
    pub fn redis_cluster() -> Self {
        Self {
            cluster: Some(RedisCluster::start()),
            ..Self::embedded()
        }
    }

    /// A fresh `redis-server` (the data directory still holds the token key ring).
    pub fn redis() -> Self {
        Self {
            redis: Some(RedisServer::start()),
            ..Self::embedded()
        }
    }

    /// Kills the Redis server (SIGKILL) and starts it again on the same port and data, as
    /// after a crash. Panics when not on Redis.
    pub fn crash_redis(&mut self) {
        self.redis
            .as_mut()
            .expect("these stores are on Redis")
            .crash_and_restart();
    }

    /// The Redis server's URL, when on one Redis server (not a cluster).
    pub fn redis_url(&self) -> Option<String> {
        self.redis.as_ref().map(RedisServer::url)
    }

    /// A test configuration on these stores.
    pub fn config(&self) -> MeshConfig {
        let mut config = MeshConfig::for_tests(self.dir.path().to_path_buf());
        if let Some(redis) = &self.redis {
            config.store = StoreKind::Redis;
            config.redis_url = redis.url();
        }
        if let Some(cluster) = &self.cluster {
            config.store = StoreKind::Redis;
            config.redis_cluster = true;
            config.redis_url = cluster.url();
        }
        config
    }
}

/// Turns `async fn name(stores: Stores)` scenarios into one test per backend:
/// `embedded::name` and `redis::name`.
#[macro_export]
macro_rules! on_every_store {
    ($($name:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::Stores::embedded()).await
                }
            )+
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::Stores::redis()).await
                }
            )+
        }
    };
}

/// A running mesh with a client for each service.
#[derive(Debug)]
pub struct TestMesh {
    /// The services.
    mesh: Mesh,
    /// Its configuration (kept to restart on the same data).
    pub config: MeshConfig,
    /// The harness's own bearer token: a development principal holding every role for every
    /// tenant, so scenarios can play gateway, desks, supervisor and CRM import at once.
    pub token: Watched<String>,
    /// IdentityService client.
    pub identity: IdentityServiceClient<ClientChannel>,
    /// ContextService client.
    pub context: ContextServiceClient<ClientChannel>,
    /// RoutingService client.
    pub routing: RoutingServiceClient<ClientChannel>,
    /// RecommendationService client.
    pub recommendation: RecommendationServiceClient<ClientChannel>,
}

impl TestMesh {
    /// Starts all four services on free ports with data in `data_dir`.
    pub async fn start(data_dir: &Path) -> TestMesh {
        Self::start_with(MeshConfig::for_tests(data_dir.to_path_buf())).await
    }

    /// Starts all four services with `config`.
    pub async fn start_with(config: MeshConfig) -> TestMesh {
        let mesh = Mesh::start(&[ServiceName::All], &config, Shutdown::new())
            .await
            .expect("mesh starts");
        // Without development credentials (anonymous or configured keys), no token.
        let minted = DevCredentials::load(&config.data_dir).ok().map(|dev| {
            dev.mint(
                "test-harness",
                &Tenants::Any,
                Roles::of(&Role::ALL),
                None,
                Duration::from_secs(24 * 3600),
            )
            .expect("harness token")
        });
        let clients = ClientConfig {
            credentials: minted.clone().map(Watched::fixed),
            // A mesh serving TLS is reached with the CA it was configured with.
            tls: harness_tls(&config),
            // Scenarios wait on streams and slow steps themselves.
            request_timeout_ms: 30_000,
            ..ClientConfig::default()
        };
        let token = Watched::fixed(minted.unwrap_or_default());
        let channel = |s| {
            let url = mesh.url(s).expect("service started");
            connect_lazy(&url, &clients).expect("valid url")
        };
        TestMesh {
            token,
            identity: IdentityServiceClient::new(channel(ServiceName::Identity)),
            context: ContextServiceClient::new(channel(ServiceName::Context)),
            routing: RoutingServiceClient::new(channel(ServiceName::Routing)),
            recommendation: RecommendationServiceClient::new(channel(ServiceName::Recommendation)),
            mesh,
            config,
        }
    }

    /// A channel to `service` carrying `token` (`None`: no credentials at all).
    pub fn channel_as(&self, service: ServiceName, token: Option<String>) -> ClientChannel {
        let clients = ClientConfig {
            credentials: token.map(Watched::fixed),
            tls: harness_tls(&self.config),
            ..ClientConfig::default()
        };
        connect_lazy(&self.url(service), &clients).expect("valid url")
    }

    /// A development token for one principal of this mesh.
    pub fn token_for(
        &self,
        subject: &str,
        tenants: &Tenants,
        roles: &[Role],
        agent_id: Option<&str>,
    ) -> String {
        dev_credentials(&self.config)
            .mint(
                subject,
                tenants,
                Roles::of(roles),
                agent_id,
                Duration::from_secs(3600),
            )
            .expect("token")
    }

    /// Where `service` listens.
    pub fn url(&self, service: ServiceName) -> String {
        self.mesh.url(service).expect("service started")
    }

    /// How an operator command (`baton queues`, `baton import ...`) reaches this mesh: with a
    /// token minted from its development credentials.
    pub fn cli_access(&self) -> baton::client::AccessArgs {
        baton::client::AccessArgs {
            token: None,
            data_dir: self.config.data_dir.clone(),
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }

    /// Where the Prometheus scrape endpoint listens.
    pub fn metrics_addr(&self) -> std::net::SocketAddr {
        self.mesh.metrics_addr()
    }

    /// Stops every service and waits for the drain.
    pub async fn stop(self) -> MeshConfig {
        tokio::time::timeout(PATIENCE, self.mesh.stop())
            .await
            .expect("mesh stops within the drain deadline")
            .expect("mesh stops cleanly");
        self.config
    }
}

/// How the harness reaches a mesh serving TLS: trusting the mesh's CA, presenting no client
/// certificate (the mesh's own would make every call routing's).
fn harness_tls(config: &MeshConfig) -> Option<Watched<tonic::transport::ClientTlsConfig>> {
    let tls = baton_runtime::tls::TlsConfig {
        tls_cert_file: None,
        tls_key_file: None,
        ..config.tls.clone()
    };
    tls.client(Duration::ZERO).expect("client tls")
}

/// The development credentials a mesh on `config` created in its data directory.
pub fn dev_credentials(config: &MeshConfig) -> DevCredentials {
    DevCredentials::load(&config.data_dir).expect("the mesh created development credentials")
}

/// The number after `name` among a bench's command-line arguments; `default` when `name` is
/// absent or not followed by a number.
pub fn number_arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A port of 127.0.0.1 nothing listens on now, for a server whose address must be known
/// before it starts (a routing replica advertising where it is).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A fresh tenant id, so scenarios never see each other's data.
pub fn tenant() -> String {
    format!("t-{}", uuid::Uuid::new_v4().simple())
}

/// A fresh idempotency key.
pub fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An identifier.
pub fn ident(
    kind: pb::IdentifierKind,
    value: &str,
    assurance: pb::IdentifierAssurance,
) -> pb::Identifier {
    pb::Identifier {
        kind: kind as i32,
        value: value.to_owned(),
        assurance: assurance as i32,
        ..Default::default()
    }
}

/// Creates (or updates) an agent with skills, a tier, per-channel capacity and a presence.
pub async fn agent(
    routing: &mut RoutingServiceClient<ClientChannel>,
    tenant: &str,
    agent_id: &str,
    tier: u32,
    skills: &[(&str, u32)],
    capacities: &[(pb::Channel, u32)],
    presence: pb::Presence,
) -> pb::Agent {
    routing
        .set_agent_state(pb::SetAgentStateRequest {
            tenant_id: tenant.to_owned(),
            agent_id: agent_id.to_owned(),
            presence: presence as i32,
            display_name: Some(agent_id.to_owned()),
            tier: Some(tier),
            skills: Some(pb::SkillSet {
                skills: skills
                    .iter()
                    .map(|(name, proficiency)| pb::Skill {
                        name: (*name).to_owned(),
                        proficiency: *proficiency,
                    })
                    .collect(),
            }),
            capacities: Some(pb::CapacitySet {
                capacities: capacities
                    .iter()
                    .map(|(channel, max)| pb::ChannelCapacity {
                        channel: *channel as i32,
                        max_contacts: *max,
                        exclusive: false,
                    })
                    .collect(),
            }),
            queues: None,
            idempotency_key: key(),
            team: None,
        })
        .await
        .expect("agent state set")
        .into_inner()
        .agent
        .expect("agent returned")
}

/// Creates (or updates) an available agent with no skills, serving one channel.
pub async fn available_agent(
    routing: &mut RoutingServiceClient<ClientChannel>,
    tenant: &str,
    agent_id: &str,
    tier: u32,
    channel: pb::Channel,
    max_contacts: u32,
) -> pb::Agent {
    let capacities = [(channel, max_contacts)];
    agent(
        routing,
        tenant,
        agent_id,
        tier,
        &[],
        &capacities,
        pb::Presence::Available,
    )
    .await
}

/// Imports one CRM record into identity, as a nightly sync would.
pub async fn import_profile(
    identity: &mut IdentityServiceClient<ClientChannel>,
    tenant: &str,
    record: pb::ProfileRecord,
) {
    identity
        .upsert_profile(pb::UpsertProfileRequest {
            tenant_id: tenant.to_owned(),
            records: vec![record],
            idempotency_key: key(),
        })
        .await
        .expect("crm import");
}

/// A transfer target: any agent serving `channel` (a channel switch).
pub fn to_channel(channel: pb::Channel) -> Option<pb::TransferTarget> {
    Some(pb::TransferTarget {
        target: Some(pb::transfer_target::Target::Channel(channel as i32)),
        required_skills: vec![],
    })
}

/// A transfer target: any agent of `tier`.
pub fn to_tier(tier: u32) -> Option<pb::TransferTarget> {
    Some(pb::TransferTarget {
        target: Some(pb::transfer_target::Target::Tier(tier)),
        required_skills: vec![],
    })
}

/// What the next agent is told: a summary and why the contact moves (empty for none).
pub fn handover(summary: &str, reason: &str) -> Option<pb::Handover> {
    Some(pb::Handover {
        summary: summary.to_owned(),
        reason: reason.to_owned(),
        ..Default::default()
    })
}

/// An agent desktop whose failures fail the test.
#[derive(Debug)]
pub struct Desk(baton::desk::Desk);

impl Desk {
    /// Opens a session and waits for the welcome.
    pub async fn open(
        routing: &mut RoutingServiceClient<ClientChannel>,
        tenant: &str,
        agent_id: &str,
    ) -> Desk {
        Desk(
            baton::desk::Desk::open(routing, tenant, agent_id, PATIENCE)
                .await
                .expect("session opens"),
        )
    }

    /// Waits for the next offer.
    pub async fn offer(&mut self) -> pb::ContactOffer {
        self.0.offer().await.expect("an offer arrives")
    }

    /// Accepts an offer and waits until it is connected.
    pub async fn accept(&mut self, offer: &pb::ContactOffer) -> pb::Contact {
        self.0.accept(offer).await.expect("the offer connects")
    }

    /// Rejects an offer.
    pub async fn reject(&mut self, offer: &pb::ContactOffer, reason: &str) {
        self.0
            .reject(offer, reason)
            .await
            .expect("the rejection is sent");
    }
}

/// Opens a sealed token as `agent_id` would from their desktop.
pub async fn open_as_agent(
    routing: &mut RoutingServiceClient<ClientChannel>,
    tenant: &str,
    agent_id: &str,
    token: &[u8],
) -> Result<pb::ContextToken, tonic::Status> {
    routing
        .open_token(pb::OpenTokenRequest {
            tenant_id: tenant.to_owned(),
            token: token.to_vec(),
            opener: Some(pb::open_token_request::Opener::AgentId(agent_id.to_owned())),
        })
        .await
        .map(|r| r.into_inner().token.expect("token"))
}

/// An HTTP/1.1 answer: the status line, the headers (names lower-cased) and the body.
#[derive(Debug)]
pub struct HttpAnswer {
    /// `HTTP/1.1 200 OK`.
    pub status: String,
    /// Header names lower-cased.
    pub headers: std::collections::BTreeMap<String, String>,
    /// The body as text.
    pub body: String,
}

/// `GET path` over plain HTTP/1.1 (the metrics endpoint), within [`PATIENCE`].
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> HttpAnswer {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("request sent");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .await
            .expect("response read");
        response
    };
    let response = tokio::time::timeout(PATIENCE, exchange)
        .await
        .expect("the endpoint answers");
    let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    HttpAnswer {
        status,
        headers,
        body: body.to_owned(),
    }
}
