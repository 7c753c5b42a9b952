//! Logs and traces.
//!
//! Logs go to stderr: readable lines in development (coloured only when stderr is a terminal
//! and `NO_COLOR` is unset), one JSON object per line in production (`BATON_LOG_FORMAT=json`),
//! each carrying the `trace_id` and `span_id` of the span it was written in.
//!
//! Spans are exported over OTLP when an endpoint is set for them: the traces endpoint
//! (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, used as it is) or the generic one
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`), over gRPC or `http/protobuf`
//! (`OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`, else gRPC). The
//! resource names the process: `service.name` (`OTEL_SERVICE_NAME`, else a `service.name` in
//! `OTEL_RESOURCE_ATTRIBUTES`, else `baton` or `baton-<service>`), `service.version`,
//! `service.instance.id` (the pod name from `HOSTNAME`, else a random id) and whatever else
//! `OTEL_RESOURCE_ATTRIBUTES` adds. `OTEL_TRACES_SAMPLER` picks the sampler; unset, a call that
//! arrives in a recorded trace is always recorded and `OTEL_TRACES_SAMPLER_ARG` is the share of
//! new traces recorded, so a journey is exported whole or not at all. See [`standard`] for what
//! each standard variable may be.
//!
//! Export never holds up a call and never grows memory: finished spans wait in a queue of
//! `OTEL_BSP_MAX_QUEUE_SIZE` spans (`BATON_OTLP_MAX_QUEUE`, its older name, when unset) for a
//! background exporter; when it is full (the collector is down or slow) new spans are dropped
//! and counted ([`spans_dropped`]). Shutdown waits at most [`SHUTDOWN_TIMEOUT`] for the last
//! export.

mod config;
pub(crate) mod export;
mod logs;
pub mod standard;

use std::{io::IsTerminal as _, time::Duration};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::{
    EnvFilter, Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

pub use config::{LogFormat, TelemetryConfig};
pub use export::spans_dropped;
pub use logs::JsonLines;
pub use standard::{OtlpProtocol, OtlpTarget, ResourceAttributes, SamplerName, Signal};

/// The longest shutdown waits for the last spans to reach the collector.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);

/// Flushes exported spans when dropped; keep it alive for the life of the process.
#[derive(Debug)]
pub struct TelemetryGuard {
    /// Present when spans are recorded (export on, or JSON logs that name their trace).
    provider: Option<SdkTracerProvider>,
}

impl TelemetryGuard {
    /// Exports every span that has ended so far, waiting for the collector's answer (up to
    /// the SDK's flush timeout, 5 seconds).
    pub fn flush(&self) -> Result<(), TelemetryError> {
        match &self.provider {
            Some(provider) => provider
                .force_flush()
                .map_err(|e| TelemetryError::Export(e.to_string())),
            None => Ok(()),
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let Some(provider) = self.provider.take() else {
            return;
        };
        let dropped = spans_dropped();
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "trace spans were dropped because the export queue was full"
            );
        }
        // Bounded: a collector that does not answer must not keep the process from exiting.
        if let Err(err) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT) {
            eprintln!("trace export did not flush: {err}");
        }
    }
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// A setting is out of range.
    #[error("telemetry configuration: {0}")]
    Config(String),
    /// The OTLP exporter could not be built.
    #[error("otlp exporter: {0}")]
    Exporter(String),
    /// A global subscriber was already installed.
    #[error("tracing subscriber: {0}")]
    Subscriber(String),
    /// Spans could not be flushed.
    #[error("trace export: {0}")]
    Export(String),
}

/// Installs the global subscriber. `service` names the process in exported traces. `RUST_LOG`
/// filters logs (default `info`), `trace_filter` the exported spans. Must be called inside a
/// tokio runtime when an OTLP endpoint is configured.
pub fn init(service: &str, config: &TelemetryConfig) -> Result<TelemetryGuard, TelemetryError> {
    config.check()?;
    crate::trace::install_propagator();
    let log_filter = match &config.filter {
        Some(directives) => EnvFilter::try_new(directives)
            .map_err(|e| TelemetryError::Config(format!("log filter {directives:?}: {e}")))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let span_filter = EnvFilter::try_new(&config.trace_filter).map_err(|e| {
        TelemetryError::Config(format!("trace filter {:?}: {e}", config.trace_filter))
    })?;
    let provider = tracer_provider(service, config)?;
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("baton"))
            // Source locations, thread names and busy/idle times on every span cost CPU and
            // bytes on the hot path and tell an operator nothing the span name does not.
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(span_filter)
    });
    let registry = tracing_subscriber::registry().with(otel);
    let result = match config.log_format {
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(logs::colour(
                        std::io::stderr().is_terminal(),
                        std::env::var_os("NO_COLOR").as_deref(),
                    ))
                    .with_writer(std::io::stderr)
                    .with_filter(log_filter),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .event_format(JsonLines::default())
                    .with_writer(std::io::stderr)
                    .with_filter(log_filter),
            )
            .try_init(),
    };
    result.map_err(|e| TelemetryError::Subscriber(e.to_string()))?;
    Ok(TelemetryGuard { provider })
}

/// The tracer provider: exporting when an endpoint is set. JSON logs get one without an
/// exporter too, so that their lines carry the trace ids of the callers' traces; readable
/// development logs without export get none, and tracing costs nothing.
fn tracer_provider(
    service: &str,
    config: &TelemetryConfig,
) -> Result<Option<SdkTracerProvider>, TelemetryError> {
    let target = config.target(Signal::Traces);
    if target.is_none() && config.log_format != LogFormat::Json {
        return Ok(None);
    }
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(config.sampler())
        .with_resource(config.resource(service));
    if let Some(target) = target {
        let exporter = span_exporter(&target).map_err(TelemetryError::Exporter)?;
        builder =
            builder.with_span_processor(export::BoundedExport::new(exporter, config.max_queue()));
    }
    Ok(Some(builder.build()))
}

/// The OTLP span exporter for `target`. Endpoint and protocol are always given, so the
/// exporter's own reading of the environment never disagrees with ours.
fn span_exporter(target: &OtlpTarget) -> Result<opentelemetry_otlp::SpanExporter, String> {
    use opentelemetry_otlp::WithExportConfig as _;
    let builder = opentelemetry_otlp::SpanExporter::builder();
    match target.protocol {
        OtlpProtocol::Grpc => builder
            .with_tonic()
            .with_protocol(opentelemetry_otlp::Protocol::Grpc)
            .with_endpoint(&target.endpoint)
            .build(),
        OtlpProtocol::HttpProtobuf => builder
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(&target.endpoint)
            .build(),
    }
    .map_err(|e| format!("{} to {}: {e}", target.protocol, target.endpoint))
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use opentelemetry::trace::Tracer as _;

    use super::*;

    /// One HTTP request as a collector received it.
    #[derive(Debug)]
    struct Posted {
        path: String,
        content_type: Option<String>,
        body: Vec<u8>,
    }

    /// An OTLP/HTTP collector stub on a free loopback port: answers every POST with an empty
    /// (successful) protobuf response and sends what it was posted on `posted`.
    async fn http_collector() -> (
        std::net::SocketAddr,
        tokio::sync::mpsc::UnboundedReceiver<Posted>,
    ) {
        use http_body_util::BodyExt as _;
        use hyper_util::rt::TokioIo;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (posted, received) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let posted = posted.clone();
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let posted = posted.clone();
                        async move {
                            let path = request.uri().path().to_owned();
                            let content_type = request
                                .headers()
                                .get("content-type")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned);
                            let body = request.into_body().collect().await?.to_bytes().to_vec();
                            let _ = posted.send(Posted {
                                path,
                                content_type,
                                body,
                            });
                            let mut response = hyper::Response::new(http_body_util::Full::new(
                                bytes::Bytes::new(),
                            ));
                            response.headers_mut().insert(
                                "content-type",
                                http::HeaderValue::from_static("application/x-protobuf"),
                            );
                            Ok::<_, hyper::Error>(response)
                        }
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        (addr, received)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn spans_reach_a_collector_over_http_protobuf() {
        let (addr, mut posted) = http_collector().await;
        let config = TelemetryConfig {
            otlp_endpoint: Some(format!("http://{addr}")),
            otlp_protocol: Some(OtlpProtocol::HttpProtobuf),
            service_name: Some("desk-gateway".to_owned()),
            ..TelemetryConfig::default()
        };
        let provider = tracer_provider("baton-test", &config)
            .expect("exporter builds")
            .expect("export is on");
        drop(provider.tracer("test").start("checkout-over-http"));
        let flushing = provider.clone();
        tokio::task::spawn_blocking(move || flushing.force_flush())
            .await
            .expect("flush runs")
            .expect("the collector took the spans");
        let request = tokio::time::timeout(Duration::from_secs(5), posted.recv())
            .await
            .expect("a request arrived")
            .expect("the collector is up");
        assert_eq!(request.path, "/v1/traces");
        assert_eq!(
            request.content_type.as_deref(),
            Some("application/x-protobuf")
        );
        let contains = |needle: &[u8]| request.body.windows(needle.len()).any(|w| w == needle);
        assert!(contains(b"checkout-over-http"), "the span is in the body");
        assert!(contains(b"desk-gateway"), "the service name is in the body");
        tokio::task::spawn_blocking(move || provider.shutdown())
            .await
            .expect("shutdown runs")
            .expect("shuts down");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_closed_collector_port_costs_callers_nothing_and_shutdown_is_prompt() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener);
        let config = TelemetryConfig {
            otlp_endpoint: Some(format!("http://{addr}")),
            otlp_max_queue: 16,
            ..TelemetryConfig::default()
        };
        let provider = tracer_provider("baton-test", &config)
            .expect("exporter builds without a collector")
            .expect("export is on");
        let tracer = provider.tracer("test");
        let started = Instant::now();
        for _ in 0..1000 {
            drop(tracer.start("work"));
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        let guard = TelemetryGuard {
            provider: Some(provider),
        };
        let stopping = Instant::now();
        tokio::task::spawn_blocking(move || drop(guard))
            .await
            .expect("shutdown");
        assert!(
            stopping.elapsed() < SHUTDOWN_TIMEOUT + Duration::from_secs(1),
            "{:?}",
            stopping.elapsed()
        );
    }
}
