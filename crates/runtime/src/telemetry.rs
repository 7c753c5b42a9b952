//! Logs and traces.
//!
//! Logs go to stderr: readable lines in development (coloured only when stderr is a terminal
//! and `NO_COLOR` is unset), one JSON object per line in production (`BATON_LOG_FORMAT=json`),
//! each carrying the `trace_id` and `span_id` of the span it was written in.
//!
//! When `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans are exported over OTLP/gRPC with the
//! resource attributes `service.name` (`baton`, or `baton-<service>` for a single service),
//! `service.version` and `service.instance.id` (the pod name from `HOSTNAME`, else a random
//! id). `OTEL_TRACES_SAMPLER_ARG` is the share of new traces recorded; a call that arrives in a
//! recorded trace is always recorded, so a journey is exported whole or not at all.
//!
//! Export never holds up a call and never grows memory: finished spans wait in a queue of
//! `BATON_OTLP_MAX_QUEUE` spans for a background exporter; when it is full (the collector is
//! down or slow) new spans are dropped and counted ([`spans_dropped`]). Shutdown waits at most
//! [`SHUTDOWN_TIMEOUT`] for the last export.

pub(crate) mod export;
mod logs;

use std::{io::IsTerminal as _, sync::OnceLock, time::Duration};

use clap::{Args, ValueEnum};
use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_sdk::{
    Resource,
    trace::{Sampler, SdkTracerProvider},
};
use tracing_subscriber::{
    EnvFilter, Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

pub use export::spans_dropped;
pub use logs::JsonLines;

/// The longest shutdown waits for the last spans to reach the collector.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3);

/// The largest export queue accepted, in spans (a span is a few hundred bytes to a few KiB).
const MAX_QUEUE_LIMIT: usize = 1 << 20;

/// How logs are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event, for people; coloured on a terminal only.
    #[default]
    Pretty,
    /// One JSON object per event, with span fields and trace ids, for log pipelines.
    Json,
}

/// Telemetry settings.
#[derive(Args, Clone, Debug)]
pub struct TelemetryConfig {
    /// Log format.
    #[arg(long = "log-format", env = "BATON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// OTLP/gRPC endpoint for traces (for example http://otel-collector:4317); unset disables
    /// export.
    #[arg(long = "otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Share of new traces recorded and exported, from 0 to 1; calls inside a recorded trace
    /// are always recorded.
    #[arg(
        long = "trace-sample-ratio",
        env = "OTEL_TRACES_SAMPLER_ARG",
        default_value_t = 1.0,
        value_parser = parse_ratio
    )]
    pub sample_ratio: f64,
    /// Finished spans that may wait for the exporter; beyond that new spans are dropped and
    /// counted.
    #[arg(
        long = "otlp-max-queue",
        env = "BATON_OTLP_MAX_QUEUE",
        default_value_t = 2048,
        value_parser = parse_queue
    )]
    pub otlp_max_queue: usize,
    /// This process among the replicas of a service (`service.instance.id`): the pod name on
    /// Kubernetes; a random id when unset.
    #[arg(long = "instance-id", env = "HOSTNAME")]
    pub instance_id: Option<String>,
    /// A filter in `RUST_LOG` syntax that replaces `RUST_LOG` (for tests and tools that must
    /// not depend on the environment); not a flag.
    #[arg(skip)]
    pub filter: Option<String>,
    /// Which spans are exported, in `RUST_LOG` syntax. Separate from the log filter, so
    /// quieting logs never switches tracing off.
    #[arg(
        long = "trace-filter",
        env = "BATON_TRACE_FILTER",
        default_value = "info"
    )]
    pub trace_filter: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Pretty,
            otlp_endpoint: None,
            sample_ratio: 1.0,
            otlp_max_queue: 2048,
            instance_id: None,
            filter: None,
            trace_filter: "info".to_owned(),
        }
    }
}

fn parse_ratio(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(format!(
            "expected a sampling ratio from 0 to 1 (0.25 records a quarter of new traces), got {value:?}"
        )),
    }
}

fn parse_queue(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(size) if (1..=MAX_QUEUE_LIMIT).contains(&size) => Ok(size),
        _ => Err(format!(
            "expected a number of spans from 1 to {MAX_QUEUE_LIMIT}, got {value:?}"
        )),
    }
}

impl TelemetryConfig {
    /// Checks values set in code (flags and environment are checked while parsing).
    fn check(&self) -> Result<(), TelemetryError> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(TelemetryError::Config(format!(
                "sampling ratio must be from 0 to 1, got {}",
                self.sample_ratio
            )));
        }
        if !(1..=MAX_QUEUE_LIMIT).contains(&self.otlp_max_queue) {
            return Err(TelemetryError::Config(format!(
                "export queue must hold from 1 to {MAX_QUEUE_LIMIT} spans, got {}",
                self.otlp_max_queue
            )));
        }
        Ok(())
    }

    /// The OTLP endpoint, if export is on.
    fn endpoint(&self) -> Option<&str> {
        self.otlp_endpoint
            .as_deref()
            .filter(|e| !e.trim().is_empty())
    }
}

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
    let endpoint = config.endpoint();
    if endpoint.is_none() && config.log_format != LogFormat::Json {
        return Ok(None);
    }
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sample_ratio,
        ))))
        .with_resource(resource(service, config.instance_id.as_deref()));
    if let Some(endpoint) = endpoint {
        use opentelemetry_otlp::WithExportConfig as _;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        builder = builder
            .with_span_processor(export::BoundedExport::new(exporter, config.otlp_max_queue));
    }
    Ok(Some(builder.build()))
}

/// Who is exporting traces or metrics: the service, its version, and which replica. Without
/// an `instance_id` the replica is a random id drawn once per process, so that its traces and
/// its metrics name the same instance.
pub(crate) fn resource(service: &str, instance_id: Option<&str>) -> Resource {
    static RANDOM_INSTANCE: OnceLock<String> = OnceLock::new();
    let instance = instance_id
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| {
            RANDOM_INSTANCE
                .get_or_init(|| uuid::Uuid::new_v4().to_string())
                .as_str()
        })
        .to_owned();
    Resource::builder()
        .with_service_name(service.to_owned())
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", instance),
        ])
        .build()
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use opentelemetry::trace::{Tracer as _, TracerProvider as _};

    use super::*;

    #[test]
    fn sampling_ratios_outside_zero_to_one_are_refused() {
        assert_eq!(parse_ratio("0"), Ok(0.0));
        assert_eq!(parse_ratio("0.25"), Ok(0.25));
        assert_eq!(parse_ratio("1"), Ok(1.0));
        for bad in ["-0.1", "1.5", "half", "NaN", ""] {
            let err = parse_ratio(bad).expect_err(bad);
            assert!(err.contains("from 0 to 1"), "{err}");
        }
        let config = TelemetryConfig {
            sample_ratio: 2.0,
            ..TelemetryConfig::default()
        };
        assert!(matches!(config.check(), Err(TelemetryError::Config(_))));
    }

    #[test]
    fn queue_sizes_must_be_positive_and_bounded() {
        assert_eq!(parse_queue("2048"), Ok(2048));
        for bad in ["0", "-1", "lots", "99999999999"] {
            assert!(parse_queue(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_resource_names_service_version_and_instance() {
        let value = |r: &Resource, key: &'static str| {
            r.get(&opentelemetry::Key::from_static_str(key))
                .map(|v| v.to_string())
        };
        let r = resource("baton-routing", Some("routing-7d9f-abcde"));
        assert_eq!(value(&r, "service.name").as_deref(), Some("baton-routing"));
        assert_eq!(
            value(&r, "service.version").as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(
            value(&r, "service.instance.id").as_deref(),
            Some("routing-7d9f-abcde")
        );
        let anonymous = resource("baton", None);
        let id = value(&anonymous, "service.instance.id").expect("an instance id");
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        assert_eq!(
            value(&resource("baton", Some(" ")), "service.instance.id"),
            Some(id),
            "traces and metrics of one process name one instance"
        );
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
