//! The one way services build clients for each other.
//!
//! Channels connect lazily (a service starts even when its dependencies are not up yet, and
//! reconnects by itself), with connect and request timeouts, and every call carries the
//! propagated deadline. Each channel has a circuit breaker ([`crate::breaker`]): a dependency
//! that keeps failing is not waited for on every call.
//!
//! A url `http://host:port` opens one HTTP/2 connection. A url `dns:///host:port` balances
//! calls over every address the name resolves to and re-resolves it periodically: behind a
//! Kubernetes headless Service that spreads load over all pods, where a ClusterIP Service would
//! pin the one long-lived connection to one pod.

use std::{collections::BTreeSet, net::SocketAddr, time::Duration};

use clap::Args;
use tonic::{
    Request, Status,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, ClientTlsConfig, Endpoint, channel::Change},
};

use baton_auth::reload::Watched;
use tonic::metadata::MetadataValue;

use crate::breaker::Breaker;
use crate::deadline;

/// Client settings shared by every outgoing channel.
#[derive(Args, Clone, Debug)]
pub struct ClientConfig {
    /// Give up connecting to a dependency after this many milliseconds.
    #[arg(
        long = "client-connect-timeout-ms",
        env = "BATON_CLIENT_CONNECT_TIMEOUT_MS",
        default_value_t = 1000
    )]
    pub connect_timeout_ms: u64,
    /// Longest a single call to a dependency may take, unless the caller's own deadline is
    /// sooner.
    #[arg(
        id = "client_request_timeout_ms",
        long = "client-timeout-ms",
        env = "BATON_CLIENT_TIMEOUT_MS",
        default_value_t = 2000
    )]
    pub request_timeout_ms: u64,
    /// How often a `dns:///` url is resolved again to follow pods coming and going.
    #[arg(
        long = "client-resolve-interval-secs",
        env = "BATON_CLIENT_RESOLVE_INTERVAL_SECS",
        default_value_t = 10
    )]
    pub resolve_interval_secs: u64,
    /// The bearer token sent on every call (the process's service token), if any; read from
    /// its file again when it changes.
    #[arg(skip)]
    pub credentials: Option<Watched<String>>,
    /// TLS for `https://` urls, and for `dns:///` urls when set (the server name verified is
    /// the url's host). A `dns:///` channel reconnects with the new configuration when its
    /// files change; an `https://` one keeps the configuration it started with.
    #[arg(skip)]
    pub tls: Option<Watched<ClientTlsConfig>>,
    /// The name an `https://` server's certificate is verified for, instead of the url's
    /// host: for peers reached by address (routing replicas at their pod IPs) whose
    /// certificate names their Service.
    #[arg(skip)]
    pub server_name: Option<String>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            connect_timeout_ms: 1000,
            request_timeout_ms: 2000,
            resolve_interval_secs: 10,
            credentials: None,
            tls: None,
            server_name: None,
        }
    }
}

/// A channel to another baton service with deadline propagation and a circuit breaker; wrap
/// it in a generated client (`IdentityServiceClient::new(channel)`).
pub type ClientChannel = InterceptedService<Breaker<Channel>, Propagate>;

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("invalid service url {url:?}: {reason}")]
pub struct ClientError {
    /// The url as configured.
    pub url: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Builds a lazily connecting channel to `url`: `http://host:port`, or `dns:///host:port` to
/// balance over every address of `host`. Must be called inside a tokio runtime.
pub fn connect_lazy(url: &str, config: &ClientConfig) -> Result<ClientChannel, ClientError> {
    let channel = match url.strip_prefix("dns:///") {
        Some(target) => {
            let (host, port) = split_host_port(target).ok_or_else(|| ClientError {
                url: url.to_owned(),
                reason: "expected dns:///host:port".into(),
            })?;
            balanced(host, port, config, DnsResolver)
        }
        None => endpoint(url, config)?.connect_lazy(),
    };
    Ok(InterceptedService::new(
        Breaker::new(channel, url),
        Propagate {
            timeout: Duration::from_millis(config.request_timeout_ms),
            credentials: config.credentials.clone(),
        },
    ))
}

/// Wraps a channel the caller connected itself (a tool that wants to fail fast when the mesh
/// is not there) with deadline propagation and `credentials`.
pub fn with_credentials(
    channel: Channel,
    credentials: Option<Watched<String>>,
    timeout: Duration,
) -> ClientChannel {
    InterceptedService::new(
        Breaker::new(channel, "the service called"),
        Propagate {
            timeout,
            credentials,
        },
    )
}

fn endpoint(url: &str, config: &ClientConfig) -> Result<Endpoint, ClientError> {
    let host = url
        .split_once("://")
        .and_then(|(_, rest)| split_host_port(rest.trim_end_matches('/')))
        .map(|(host, _)| host)
        .unwrap_or_default();
    endpoint_for(url, config.server_name.as_deref().unwrap_or(&host), config)
}

/// An endpoint for `url`, verifying `server_name` when it is `https://`.
fn endpoint_for(
    url: &str,
    server_name: &str,
    config: &ClientConfig,
) -> Result<Endpoint, ClientError> {
    let error = |reason: String| ClientError {
        url: url.to_owned(),
        reason,
    };
    let mut endpoint = Endpoint::from_shared(url.to_owned()).map_err(|e| error(e.to_string()))?;
    if url.starts_with("https://") {
        let tls = config
            .tls
            .as_ref()
            .map(|t| t.get().as_ref().clone())
            .ok_or_else(|| {
                error("an https:// dependency needs BATON_TLS_CA_FILE to verify it".into())
            })?;
        endpoint = endpoint
            .tls_config(tls.domain_name(server_name.to_owned()))
            .map_err(|e| error(e.to_string()))?;
    }
    Ok(endpoint
        .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true))
}

fn split_host_port(target: &str) -> Option<(String, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    Some((host.to_owned(), port.parse().ok()?))
}

/// Turns a name into addresses; a trait so tests can stand in for DNS.
pub trait Resolver: Send + Sync + 'static {
    /// Every address `host:port` resolves to now.
    fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> impl std::future::Future<Output = std::io::Result<Vec<SocketAddr>>> + Send;
}

/// The system resolver (in Kubernetes: cluster DNS, one A record per ready pod of a headless
/// Service).
#[derive(Clone, Copy, Debug)]
pub struct DnsResolver;

impl Resolver for DnsResolver {
    async fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host((host, port)).await?.collect())
    }
}

/// A channel balanced over whatever `resolver` says `host` is, kept current by a background
/// task that ends when the channel is dropped.
pub fn balanced<R: Resolver>(
    host: String,
    port: u16,
    config: &ClientConfig,
    resolver: R,
) -> Channel {
    let (channel, changes) = Channel::balance_channel::<SocketAddr>(64);
    let config = config.clone();
    tokio::spawn(async move {
        let mut current: BTreeSet<SocketAddr> = BTreeSet::new();
        let every = Duration::from_secs(config.resolve_interval_secs.max(1));
        let mut tls_seen = config.tls.as_ref().map(Watched::get);
        loop {
            // Rotated client certificates: every endpoint again, with the new configuration
            // (an insert under a known address replaces the endpoint).
            let tls_now = config.tls.as_ref().map(Watched::get);
            if let (Some(seen), Some(now)) = (&tls_seen, &tls_now)
                && !std::sync::Arc::ptr_eq(seen, now)
            {
                tracing::info!(%host, port, "client tls changed: reconnecting to every endpoint");
                current.clear();
            }
            tls_seen = tls_now;
            match resolver.resolve(&host, port).await {
                Ok(found) => {
                    let found: BTreeSet<SocketAddr> = found.into_iter().collect();
                    for gone in current.difference(&found) {
                        if changes.send(Change::Remove(*gone)).await.is_err() {
                            return;
                        }
                    }
                    for new in found.difference(&current) {
                        let scheme = if config.tls.is_some() {
                            "https"
                        } else {
                            "http"
                        };
                        let Ok(endpoint) =
                            endpoint_for(&format!("{scheme}://{new}"), &host, &config)
                        else {
                            continue;
                        };
                        if changes.send(Change::Insert(*new, endpoint)).await.is_err() {
                            return;
                        }
                    }
                    if found != current {
                        tracing::debug!(%host, port, endpoints = found.len(), "dependency endpoints changed");
                    }
                    current = found;
                }
                // Keep the endpoints we have: a DNS hiccup must not empty the balancer.
                Err(err) => tracing::warn!(%host, port, error = %err, "cannot resolve dependency"),
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = changes.closed() => return,
            }
        }
    });
    channel
}

/// Sets each outgoing call's `grpc-timeout` to the smaller of the client timeout and the
/// time left on the request being served, writes the current trace context, and presents the
/// client's credentials.
#[derive(Clone, Debug)]
pub struct Propagate {
    /// The client's own limit.
    timeout: Duration,
    /// The bearer token to present, if any.
    credentials: Option<Watched<String>>,
}

impl Interceptor for Propagate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let timeout = match deadline::remaining() {
            Some(left) if left.is_zero() => {
                return Err(Status::deadline_exceeded(
                    "deadline passed before calling a dependency",
                ));
            }
            Some(left) => left.min(self.timeout),
            None => self.timeout,
        };
        request.set_timeout(timeout);
        crate::trace::inject_current(request.metadata_mut());
        if let Some(credentials) = &self.credentials {
            let bearer = MetadataValue::try_from(format!("Bearer {}", credentials.get()))
                .map_err(|_| Status::internal("the service token is not a valid header value"))?;
            request.metadata_mut().insert("authorization", bearer);
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn rejects_a_malformed_url() {
        let err = connect_lazy("not a url", &ClientConfig::default()).expect_err("must fail");
        assert!(err.to_string().contains("not a url"));
        let err = connect_lazy("dns:///no-port", &ClientConfig::default()).expect_err("must fail");
        assert!(err.to_string().contains("dns:///host:port"));
    }

    #[test]
    fn splits_names_and_bracketed_addresses() {
        assert_eq!(
            split_host_port("identity-headless:50051"),
            Some(("identity-headless".into(), 50051))
        );
        assert_eq!(split_host_port("[::1]:7"), Some(("::1".into(), 7)));
        assert_eq!(split_host_port(":7"), None);
    }

    #[tokio::test(start_paused = true)]
    async fn sends_the_smaller_of_own_timeout_and_remaining_deadline() {
        let mut p = Propagate {
            timeout: Duration::from_secs(2),
            credentials: Some(Watched::fixed("t0k3n".to_owned())),
        };
        let req = p.call(Request::new(())).expect("ok");
        assert_eq!(
            req.metadata().get("grpc-timeout").map(|v| v.to_str().ok()),
            Some(Some("2000000u"))
        );
        assert_eq!(
            req.metadata().get("authorization").map(|v| v.to_str().ok()),
            Some(Some("Bearer t0k3n"))
        );
        let inner = deadline::with_timeout(Duration::from_millis(300), async move {
            p.call(Request::new(())).expect("ok")
        })
        .await;
        assert_eq!(
            inner
                .metadata()
                .get("grpc-timeout")
                .map(|v| v.to_str().ok()),
            Some(Some("300000u"))
        );
    }
}
