//! The one server bootstrap every service runs behind.
//!
//! Each service listens on its own port with: the standard gRPC health service (reporting the
//! service and the whole server), server reflection listing only what the port serves, the
//! tower stack below and, with an audit log, `AuditService`. On the stop signal health turns
//! NOT_SERVING, the listener stops accepting and in-flight calls drain until the drain
//! deadline.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use baton_auth::{AuditSink, AuthLayer, audit::AuditLogService};
use clap::Args;
use tokio::net::TcpListener;
use tonic::{service::Routes, transport::Server};
use tonic_health::ServingStatus;

use crate::{
    deadline::DeadlineLayer, incoming, metrics::RpcMetricsLayer, shutdown::Shutdown,
    tls::ServerTls, trace::TraceLayer,
};

/// Who may connect and call: the auth layer, TLS, and how long a handshake may take.
#[derive(Clone, Debug)]
pub struct Security {
    /// Authenticates and authorizes every call.
    pub auth: AuthLayer,
    /// TLS, when configured; plaintext otherwise.
    pub tls: Option<ServerTls>,
    /// How long a new connection has to finish its TLS handshake and HTTP/2 preface.
    pub handshake_timeout: Duration,
    /// The process's plaintext probe port's health, which every server also reports to (the
    /// kubelet's gRPC probes speak neither TLS nor credentials).
    pub probes: Option<tonic_health::server::HealthReporter>,
    /// The process's audit log, if it keeps one: the auth layer records privileged calls in
    /// it, and every port serves `AuditService` over it.
    pub audit: Option<Arc<dyn AuditSink>>,
}

/// Server settings shared by every service.
#[derive(Args, Clone, Debug)]
pub struct ServerConfig {
    /// Longest any single call may run on the server.
    #[arg(
        long = "request-timeout-ms",
        env = "BATON_REQUEST_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub request_timeout_ms: u64,
    /// Calls in flight per connection before new ones are shed with UNAVAILABLE.
    #[arg(
        long = "max-concurrent-requests",
        env = "BATON_MAX_CONCURRENT_REQUESTS",
        default_value_t = 512
    )]
    pub max_concurrent_requests: usize,
    /// How long, after the stop signal, health answers NOT_SERVING while new connections are
    /// still accepted, so that probes and balancers see it before the port closes.
    #[arg(
        long = "stop-grace-ms",
        env = "BATON_STOP_GRACE_MS",
        default_value_t = 1000
    )]
    pub stop_grace_ms: u64,
    /// How long in-flight calls may take to finish after the stop signal.
    #[arg(
        long = "drain-timeout-secs",
        env = "BATON_DRAIN_TIMEOUT_SECS",
        default_value_t = 20
    )]
    pub drain_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            request_timeout_ms: 10_000,
            max_concurrent_requests: 512,
            stop_grace_ms: 1000,
            drain_timeout_secs: 20,
        }
    }
}

/// Why a server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Reflection could not be built from the descriptor set.
    #[error("reflection: {0}")]
    Reflection(String),
    /// The transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The listener's address could not be read.
    #[error("listener: {0}")]
    Listener(#[from] std::io::Error),
}

/// One gRPC service ready to serve: its fully qualified name (for health) and its routes.
#[derive(Debug)]
pub struct ServiceRoutes {
    /// `baton.v1.IdentityService` and so on.
    pub name: &'static str,
    /// The generated server, as routes.
    pub routes: Routes,
    /// Work the service finishes once its calls have drained (routing handing its shards
    /// back), awaited before the server counts as stopped.
    pub finishing: Option<tokio::task::JoinHandle<()>>,
}

impl ServiceRoutes {
    /// Wraps a generated server (`IdentityServiceServer::new(..)`).
    pub fn new<S>(name: &'static str, service: S) -> Self
    where
        S: tower::Service<
                http::Request<tonic::body::Body>,
                Response = http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        Self {
            name,
            routes: Routes::new(service),
            finishing: None,
        }
    }

    /// Has the server, once drained, also wait for `task` (bounded by the drain deadline).
    pub fn finishing_with(mut self, task: tokio::task::JoinHandle<()>) -> Self {
        self.finishing = Some(task);
        self
    }
}

/// The fully qualified names of the services one port serves: `service`, `AuditService` when
/// the process keeps an audit log, health, and both versions of reflection.
fn served_services(service: &'static str, audit: bool) -> Vec<&'static str> {
    let mut served = vec![service];
    if audit {
        served.push(baton_proto::service_names::AUDIT);
    }
    served.extend([
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ]);
    served
}

/// A reflection builder that lists only `served`, over every descriptor those services use
/// (both reflection versions included, so each listed name resolves on either).
fn reflection(served: &[&'static str]) -> tonic_reflection::server::Builder<'static> {
    served.iter().fold(
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(baton_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            ),
        |builder, name| builder.with_service_name(*name),
    )
}

/// Binds `addr` (port 0 picks a free port) so the caller learns the address before serving.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    Ok(TcpListener::bind(addr).await?)
}

/// Serves `service` on `listener` until `shutdown` fires and in-flight calls have drained (or
/// the drain deadline passed).
pub async fn serve(
    listener: TcpListener,
    service: ServiceRoutes,
    config: &ServerConfig,
    security: &Security,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let addr = listener.local_addr()?;
    let reporter = tonic_health::server::HealthReporter::new();
    let health = crate::health::server(reporter.clone(), shutdown.clone());
    let reporters: Vec<_> = std::iter::once(reporter)
        .chain(security.probes.clone())
        .collect();
    for reporter in &reporters {
        reporter
            .set_service_status(service.name, ServingStatus::Serving)
            .await;
        reporter
            .set_service_status("", ServingStatus::Serving)
            .await;
    }

    // Reflection lists what this port serves, not every service of the contract: a client
    // that lists services here can call each one it is told of.
    let served = served_services(service.name, security.audit.is_some());
    let reflection_v1 = reflection(&served)
        .build_v1()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;
    let reflection_v1alpha = reflection(&served)
        .build_v1alpha()
        .map_err(|e| ServeError::Reflection(e.to_string()))?;

    let name = service.name;
    let finishing = service.finishing;
    let grace = Duration::from_millis(config.stop_grace_ms);
    let stop = {
        let shutdown = shutdown.clone();
        async move {
            shutdown.triggered().await;
            for reporter in &reporters {
                reporter
                    .set_service_status(name, ServingStatus::NotServing)
                    .await;
                reporter
                    .set_service_status("", ServingStatus::NotServing)
                    .await;
            }
            // Still accepting, so a probe or balancer asking now hears NOT_SERVING rather
            // than a refused connection.
            tokio::time::sleep(grace).await;
            tracing::info!(service = name, "not serving, draining in-flight calls");
        }
    };

    tracing::info!(service = name, %addr, "serving");
    let server = Server::builder()
        // Bound every call, whatever the caller asked for.
        .timeout(Duration::from_millis(config.request_timeout_ms))
        // Limit in-flight calls per connection ...
        .concurrency_limit_per_connection(config.max_concurrent_requests)
        // ... and shed the excess with UNAVAILABLE instead of queueing it.
        .load_shed(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        // One span per call, child of the caller's trace.
        .layer(TraceLayer)
        // Count and time every call by service, method and status code.
        .layer(RpcMetricsLayer::global())
        // Keep the caller's deadline for the calls this one makes.
        .layer(DeadlineLayer)
        // Who is calling, whether the table lets them, and within their limits; privileged
        // calls recorded in the audit log before they are handed on.
        .layer(match &security.audit {
            Some(sink) => security.auth.clone().with_audit(sink.clone()),
            None => security.auth.clone(),
        })
        // A request over the size limit is RESOURCE_EXHAUSTED, as gRPC specifies.
        .layer(tower::util::MapResponseLayer::new(
            oversized_is_resource_exhausted,
        ))
        .add_routes(service.routes)
        .add_optional_service(
            security
                .audit
                .clone()
                .map(|sink| AuditLogService::new(sink).into_server()),
        )
        .add_service(health)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        // TLS and the HTTP/2 preface within the handshake timeout, Nagle off.
        .serve_with_incoming_shutdown(
            incoming::accept(listener, security.tls.clone(), security.handshake_timeout),
            stop,
        );

    let drain = Duration::from_secs(config.drain_timeout_secs);
    let served = async {
        server.await?;
        if let Some(task) = finishing
            && let Err(err) = task.await
        {
            tracing::error!(service = name, error = %err, "the service's closing work failed");
        }
        Ok::<(), ServeError>(())
    };
    tokio::select! {
        result = served => result?,
        () = async { shutdown.triggered().await; tokio::time::sleep(drain).await } => {
            tracing::warn!(service = name, drain_secs = config.drain_timeout_secs, "drain deadline passed, closing remaining calls");
        }
    }
    tracing::info!(service = name, "stopped");
    Ok(())
}

/// tonic answers a request larger than the decoding limit with `OUT_OF_RANGE`; gRPC's status
/// for it, which clients in every language expect, is `RESOURCE_EXHAUSTED`.
fn oversized_is_resource_exhausted(
    mut response: http::Response<tonic::body::Body>,
) -> http::Response<tonic::body::Body> {
    let headers = response.headers_mut();
    let oversized = headers.get("grpc-status").is_some_and(|s| s == "11")
        && headers
            .get("grpc-message")
            .and_then(|m| m.to_str().ok())
            .is_some_and(|m| m.contains("decoded%20message%20length%20too%20large"));
    if oversized {
        let code = (tonic::Code::ResourceExhausted as i32).to_string();
        if let Ok(value) = http::HeaderValue::from_str(&code) {
            headers.insert("grpc-status", value);
        }
    }
    response
}

/// Serves the standard health service alone, in plaintext and without credentials, on
/// `listener` until `shutdown`: the port the kubelet's gRPC probes ask. It says which services
/// serve and nothing else, so it needs no protection beyond not being routed to.
///
/// `health` is the server half of the reporter given to every service's [`Security::probes`].
pub async fn serve_probes(
    listener: TcpListener,
    health: Routes,
    handshake_timeout: Duration,
    shutdown: Shutdown,
) -> Result<(), ServeError> {
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "serving health probes (plaintext, health only)");
    Server::builder()
        .add_routes(health)
        .serve_with_incoming_shutdown(
            incoming::accept(listener, None, handshake_timeout),
            shutdown.triggered(),
        )
        .await?;
    Ok(())
}
