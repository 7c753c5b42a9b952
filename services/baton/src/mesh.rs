//! Starting any subset of the four services in one process.
//!
//! Every listener is bound before any service starts, so routing learns where its in-process
//! neighbours are (including free ports picked by the OS) and every service calls the others
//! over gRPC, exactly as across a cluster. The process's metrics are installed next, before
//! any service creates its instruments, and served on one port whatever the services.

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use baton_auth::{AuthLayer, config::AuthConfigError};
use baton_proto::service_names;
use baton_runtime::{
    client::{ClientConfig, ClientError, connect_lazy},
    metrics::{self, MetricsError, MetricsGuard},
    server::{self, Security, ServeError, ServiceRoutes},
    shutdown::Shutdown,
    tls::TlsError,
};
use baton_store::{StoreError, redis_db::RedisDb};
use baton_token::{KeyRing, KeyRingError};
use tokio::{
    net::TcpListener,
    task::{JoinHandle, JoinSet},
};

use crate::config::{MeshConfig, ServiceName, StoreKind};

/// Why the mesh could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// A port could not be bound.
    #[error("cannot listen for {service} on {addr}: {source}")]
    Bind {
        /// The service.
        service: &'static str,
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A store could not be opened.
    #[error("cannot open the {service} store: {source}")]
    Store {
        /// The service.
        service: &'static str,
        /// Why.
        source: StoreError,
    },
    /// The token key ring is invalid or unreadable.
    #[error("token keys: {0}")]
    Keys(#[from] KeyRingError),
    /// A dependency url is invalid.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Callers could not be authenticated as configured.
    #[error(transparent)]
    Auth(#[from] AuthConfigError),
    /// TLS could not be set up as configured.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A phone region is not one phone numbering knows.
    #[error("identity phone regions: {0}")]
    Regions(#[from] baton_identity::RegionError),
    /// Routing could not restore its state.
    #[error("routing: {0}")]
    Routing(String),
    /// Metrics could not be installed.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// `all` was passed where one service was meant.
    #[error("'all' names every service, not one")]
    NotAService,
    /// A server failed.
    #[error("{service}: {source}")]
    Serve {
        /// The service.
        service: &'static str,
        /// Why.
        source: ServeError,
    },
}

/// A running set of services.
#[derive(Debug)]
pub struct Mesh {
    /// Where each started service listens.
    addrs: BTreeMap<ServiceName, SocketAddr>,
    /// Stops every service.
    shutdown: Shutdown,
    /// Whether the services serve TLS.
    tls: bool,
    /// Where the plaintext health probe port listens, if configured.
    probe_addr: Option<SocketAddr>,
    /// One task per server.
    servers: JoinSet<(ServiceName, Result<(), ServeError>)>,
    /// Where the Prometheus scrape endpoint listens.
    metrics_addr: SocketAddr,
    /// The scrape endpoint's task; it ends on the stop signal.
    metrics_endpoint: JoinHandle<()>,
    /// Keeps the process's meter provider; dropping the last guard flushes it.
    metrics: MetricsGuard,
}

impl Mesh {
    /// Binds and starts `services` (`All` means the four).
    pub async fn start(
        services: &[ServiceName],
        config: &MeshConfig,
        shutdown: Shutdown,
    ) -> Result<Mesh, MeshError> {
        let wanted: Vec<ServiceName> = ServiceName::EACH
            .into_iter()
            .filter(|s| services.contains(&ServiceName::All) || services.contains(s))
            .collect();

        // Credentials and TLS first: a process that cannot authenticate its callers, or would
        // serve plaintext where it must not, stops before anything listens.
        let reload = Duration::from_secs(config.auth.credentials_reload_secs);
        let tls = config.tls.server(config.host, reload)?;
        let auth = config.auth.build(
            config.host,
            &config.data_dir,
            config.tls.verifies_client_certificates(),
        )?;
        let handshake_timeout = Duration::from_millis(config.tls.handshake_timeout_ms);
        // Checked whether or not identity is served here, so a bad value fails every start.
        let regions = config.phone_regions()?;
        let probes = tonic_health::server::HealthReporter::new();
        let probe_server = baton_runtime::health::server(probes.clone(), shutdown.clone());
        let security = Security {
            auth: AuthLayer::new(auth.authenticator.clone(), auth.limits),
            tls,
            handshake_timeout,
            probes: config.health_port.map(|_| probes),
            audit: Some(audit_log(config).await?),
        };
        let clients = ClientConfig {
            credentials: auth.service_token.clone(),
            tls: config.tls.client(reload)?,
            ..config.client.clone()
        };

        let mut listeners = Vec::new();
        let mut addrs = BTreeMap::new();
        for &service in &wanted {
            let addr = SocketAddr::new(config.host, port_of(config, service));
            let bind_error = |source| MeshError::Bind {
                service: service.as_str(),
                addr,
                source,
            };
            let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
            addrs.insert(service, listener.local_addr().map_err(bind_error)?);
            listeners.push((service, listener));
        }
        let mut probe_addr = None;
        let probe_listener = match config.health_port {
            Some(port) => {
                let addr = SocketAddr::new(config.host, port);
                let listener = TcpListener::bind(addr)
                    .await
                    .map_err(|source| MeshError::Bind {
                        service: "health probes",
                        addr,
                        source,
                    })?;
                probe_addr = listener.local_addr().ok();
                Some(listener)
            }
            None => None,
        };
        let metrics_addr = SocketAddr::new(config.host, config.metrics.port);
        let bind_error = |source| MeshError::Bind {
            service: "metrics",
            addr: metrics_addr,
            source,
        };
        let metrics_listener = TcpListener::bind(metrics_addr).await.map_err(bind_error)?;
        let metrics_addr = metrics_listener.local_addr().map_err(bind_error)?;

        // Before any service is built: instruments bind to the provider installed when they
        // are created.
        let metrics = metrics::init(&ServiceName::process_name(services), &config.telemetry)?;

        // Routing calls the others, so where it runs in this process it stops first: the
        // services it depends on stop once it has drained, and nothing it acknowledges while
        // draining is left half done. Everything else stops on the signal itself.
        // (A failure elsewhere stops the process, see `wait`, and so routing first too.)
        let downstream =
            (addrs.contains_key(&ServiceName::Routing) && addrs.len() > 1).then(Shutdown::new);
        let mut servers = JoinSet::new();
        for (service, listener) in listeners {
            let stop = match &downstream {
                Some(downstream) if service != ServiceName::Routing => downstream.clone(),
                _ => shutdown.clone(),
            };
            let routes = build(service, config, &clients, &addrs, &regions, stop.clone()).await?;
            let server_config = config.server.clone();
            let security = security.clone();
            let routing_stopped = downstream
                .clone()
                .filter(|_| service == ServiceName::Routing);
            servers.spawn(async move {
                let served = server::serve(listener, routes, &server_config, &security, stop).await;
                if let Some(stopped) = routing_stopped {
                    stopped.trigger();
                }
                (service, served)
            });
        }

        if let Some(listener) = probe_listener {
            let stop = shutdown.clone();
            let health = tonic::service::Routes::new(probe_server);
            servers.spawn(async move {
                (
                    ServiceName::All,
                    server::serve_probes(listener, health, handshake_timeout, stop).await,
                )
            });
        }
        let metrics_endpoint = tokio::spawn(metrics::serve_metrics(
            metrics_listener,
            metrics.registry().clone(),
            shutdown.clone(),
        ));
        Ok(Mesh {
            addrs,
            shutdown,
            tls: security.tls.is_some(),
            probe_addr,
            servers,
            metrics_addr,
            metrics_endpoint,
            metrics,
        })
    }

    /// Where `service` listens, if this mesh runs it.
    pub fn addr(&self, service: ServiceName) -> Option<SocketAddr> {
        self.addrs.get(&service).copied()
    }

    /// `http://addr` of `service`, if this mesh runs it (`https://localhost:port` with TLS).
    pub fn url(&self, service: ServiceName) -> Option<String> {
        let addr = self.addr(service)?;
        Some(if self.tls {
            format!("https://localhost:{}", addr.port())
        } else {
            format!("http://{addr}")
        })
    }

    /// Where the plaintext health probe port listens (`BATON_HEALTH_PORT`), if configured.
    pub fn probe_addr(&self) -> Option<SocketAddr> {
        self.probe_addr
    }

    /// Where the Prometheus scrape endpoint listens (`GET /metrics`).
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// The process's metrics, to read without going through the endpoint.
    pub fn metrics(&self) -> &MetricsGuard {
        &self.metrics
    }

    /// The stop signal this mesh watches.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Waits until every server has stopped (after the stop signal, or on a failure, which
    /// stops the others too).
    pub async fn wait(mut self) -> Result<(), MeshError> {
        let mut first_error = None;
        while let Some(joined) = self.servers.join_next().await {
            match joined {
                Ok((_, Ok(()))) => {}
                Ok((service, Err(source))) => {
                    tracing::error!(service = service.as_str(), error = %source, "server failed");
                    self.shutdown.trigger();
                    first_error.get_or_insert(MeshError::Serve {
                        service: service.as_str(),
                        source,
                    });
                }
                Err(join) => {
                    tracing::error!(error = %join, "server task failed");
                    self.shutdown.trigger();
                }
            }
        }
        // It ends on the stop signal, which has fired by now.
        if let Err(join) = self.metrics_endpoint.await {
            tracing::error!(error = %join, "metrics endpoint task failed");
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Triggers the stop signal and waits for every server to drain.
    pub async fn stop(self) -> Result<(), MeshError> {
        self.shutdown.trigger();
        self.wait().await
    }
}

fn port_of(config: &MeshConfig, service: ServiceName) -> u16 {
    match service {
        ServiceName::Identity => config.identity_port,
        ServiceName::Context => config.context_port,
        ServiceName::Routing => config.routing_port,
        ServiceName::Recommendation => config.recommendation_port,
        ServiceName::All => 0,
    }
}

/// The url routing uses for `service`: configured, else the in-process listener, else the
/// default port on loopback. With TLS a local url names `localhost`, which the certificate
/// of a process serving several services must carry.
fn dependency_url(
    configured: &Option<String>,
    service: ServiceName,
    config: &MeshConfig,
    local: &BTreeMap<ServiceName, SocketAddr>,
) -> String {
    if let Some(url) = configured {
        return url.clone();
    }
    let tls = config.tls.tls_cert_file.is_some();
    let port = local
        .get(&service)
        .map_or_else(|| port_of(config, service), SocketAddr::port);
    match (tls, local.get(&service)) {
        (true, _) => format!("https://localhost:{port}"),
        (false, Some(addr)) if !addr.ip().is_unspecified() => format!("http://{addr}"),
        (false, _) => format!("http://127.0.0.1:{port}"),
    }
}

async fn build(
    service: ServiceName,
    config: &MeshConfig,
    clients: &ClientConfig,
    local: &BTreeMap<ServiceName, SocketAddr>,
    regions: &baton_identity::PhoneRegions,
    shutdown: Shutdown,
) -> Result<ServiceRoutes, MeshError> {
    let store_error = |source| MeshError::Store {
        service: service.as_str(),
        source,
    };
    let dir = &config.data_dir;
    let redis = || async {
        RedisDb::connect_with(&config.redis_url, service.as_str(), &redis_options(config))
            .await
            .map(|db| db.wait_for_replicas(config.redis_wait_replicas))
            .map_err(store_error)
    };
    Ok(match (service, config.store) {
        (ServiceName::Identity, StoreKind::Embedded) => identity(
            baton_identity::open_embedded(dir).map_err(store_error)?,
            regions.clone(),
            shutdown,
        ),
        (ServiceName::Identity, StoreKind::Redis) => identity(
            baton_identity::RedisIdentityStore::new(redis().await?),
            regions.clone(),
            shutdown,
        ),
        (ServiceName::Context, StoreKind::Embedded) => context(
            baton_context::open_embedded(dir).map_err(store_error)?,
            shutdown,
        ),
        (ServiceName::Context, StoreKind::Redis) => context(
            baton_context::RedisContextStore::new(redis().await?),
            shutdown,
        ),
        (ServiceName::Recommendation, StoreKind::Embedded) => recommendation(
            baton_recommendation::open_embedded(dir).map_err(store_error)?,
            shutdown,
        ),
        (ServiceName::Recommendation, StoreKind::Redis) => recommendation(
            baton_recommendation::RedisRecommendationStore::new(redis().await?),
            shutdown,
        ),
        (ServiceName::Routing, StoreKind::Embedded) => {
            let store = baton_routing::open_embedded(dir).map_err(store_error)?;
            routing(store, config, clients, local, shutdown).await?
        }
        (ServiceName::Routing, StoreKind::Redis) => {
            let store = baton_routing::RedisRoutingStore::new(redis().await?);
            routing(store, config, clients, local, shutdown).await?
        }
        (ServiceName::All, _) => return Err(MeshError::NotAService),
    })
}

/// How every Redis connection of the process is made, besides its url.
fn redis_options(config: &MeshConfig) -> baton_store::redis_db::RedisOptions {
    baton_store::redis_db::RedisOptions {
        password_file: config.redis_password_file.clone(),
        ca_file: config.redis_ca_file.clone(),
        client_cert_file: config.redis_client_cert_file.clone(),
        client_key_file: config.redis_client_key_file.clone(),
        allow_weak_durability: config.redis_allow_weak_durability,
        cluster: config.redis_cluster,
    }
}

/// The process's audit log, on the configured store: `audit.redb` in the data directory, or
/// the services' Redis (keys `baton:audit:{<tenant>}:...`).
async fn audit_log(
    config: &MeshConfig,
) -> Result<std::sync::Arc<dyn baton_auth::AuditSink>, MeshError> {
    let store_error = |source| MeshError::Store {
        service: "audit",
        source,
    };
    Ok(match config.store {
        StoreKind::Embedded => std::sync::Arc::new(
            baton_store::audit::EmbeddedAuditLog::open(&config.data_dir).map_err(store_error)?,
        ),
        StoreKind::Redis => std::sync::Arc::new(baton_store::audit::RedisAuditLog::new(
            RedisDb::connect_with(&config.redis_url, "audit", &redis_options(config))
                .await
                .map_err(store_error)?
                .wait_for_replicas(config.redis_wait_replicas),
        )),
    })
}

fn identity<S: baton_identity::IdentityStore>(
    store: S,
    regions: baton_identity::PhoneRegions,
    shutdown: Shutdown,
) -> ServiceRoutes {
    tracing::info!(regions = %regions, "local phone numbers read in");
    ServiceRoutes::new(
        service_names::IDENTITY,
        baton_identity::grpc_service(store, regions, shutdown),
    )
}

fn context<S: baton_context::ContextStore>(store: S, shutdown: Shutdown) -> ServiceRoutes {
    ServiceRoutes::new(
        service_names::CONTEXT,
        baton_context::grpc_service(store, shutdown),
    )
}

fn recommendation<S: baton_recommendation::RecommendationStore>(
    store: S,
    shutdown: Shutdown,
) -> ServiceRoutes {
    ServiceRoutes::new(
        service_names::RECOMMENDATION,
        baton_recommendation::grpc_service(store, shutdown),
    )
}

/// Routing over `store`, with clients for its three dependencies and the token key ring.
async fn routing<S: baton_routing::RoutingStore>(
    store: S,
    config: &MeshConfig,
    clients: &ClientConfig,
    local: &BTreeMap<ServiceName, SocketAddr>,
    shutdown: Shutdown,
) -> Result<ServiceRoutes, MeshError> {
    let keys = match &config.token_keys {
        Some(spec) => KeyRing::parse(spec)?,
        None => KeyRing::load_or_create(&config.data_dir.join("token-keys"))?,
    };
    let url = |configured, s| dependency_url(configured, s, config, local);
    let deps = baton_routing::Dependencies {
        identity: baton_proto::v1::identity_service_client::IdentityServiceClient::new(
            connect_lazy(&url(&config.identity_url, ServiceName::Identity), clients)?,
        ),
        context: baton_proto::v1::context_service_client::ContextServiceClient::new(connect_lazy(
            &url(&config.context_url, ServiceName::Context),
            clients,
        )?),
        recommendation:
            baton_proto::v1::recommendation_service_client::RecommendationServiceClient::new(
                connect_lazy(
                    &url(&config.recommendation_url, ServiceName::Recommendation),
                    clients,
                )?,
            ),
        retries: Default::default(),
    };
    let routing_config = baton_routing::RoutingConfig {
        token_ttl: Duration::from_secs(config.token_ttl_secs),
        offer_timeout: Duration::from_secs(config.offer_timeout_secs),
        offer_cooldown: Duration::from_secs(config.offer_cooldown_secs),
        warm_transfer_timeout: Duration::from_secs(config.warm_transfer_timeout_secs),
        priority_aging: Duration::from_secs(config.priority_aging_secs),
    };
    let drain = Duration::from_secs(config.server.drain_timeout_secs);
    let sharing = if matches!(config.store, StoreKind::Embedded) {
        baton_routing::ShardConfig {
            drain,
            ..baton_routing::ShardConfig::single()
        }
    } else {
        baton_routing::ShardConfig {
            count: config.routing_shards,
            lease: Duration::from_secs(config.routing_lease_secs),
            address: config.routing_advertise_url.clone(),
            // A call sent on to another replica carries its caller's credentials, never this
            // process's, and may take as long as the call it serves.
            peers: ClientConfig {
                credentials: None,
                request_timeout_ms: config.server.request_timeout_ms,
                server_name: Some(config.routing_peer_server_name.clone()),
                ..clients.clone()
            },
            exclusive: false,
            drain,
            rebalance: config.routing_rebalance,
        }
    };
    let (svc, handed_back) =
        baton_routing::grpc_service(store, deps, keys, routing_config, sharing, shutdown)
            .await
            .map_err(|e| MeshError::Routing(e.to_string()))?;
    Ok(ServiceRoutes::new(service_names::ROUTING, svc).finishing_with(handed_back))
}
