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

pub(crate) mod export;
mod logs;
pub mod standard;

use std::{io::IsTerminal as _, sync::OnceLock, time::Duration};

use clap::{Args, ValueEnum};
use opentelemetry::{KeyValue, trace::TracerProvider as _};
use opentelemetry_sdk::{
    Resource,
    resource::TelemetryResourceDetector,
    trace::{Sampler, SdkTracerProvider},
};
use tracing_subscriber::{
    EnvFilter, Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

pub use export::spans_dropped;
pub use logs::JsonLines;
pub use standard::{OtlpProtocol, OtlpTarget, ResourceAttributes, SamplerName, Signal};

use standard::{
    BSP_MAX_QUEUE_VAR, METRICS_PROTOCOL_VAR, PROTOCOL_VAR, SAMPLER_ARG_VAR, TRACES_PROTOCOL_VAR,
    TargetSettings,
};

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

/// Telemetry settings: baton's own, and the standard OpenTelemetry variables. Where a
/// standard variable and a `BATON_*` one say the same thing, the standard one wins.
#[derive(Args, Clone, Debug)]
pub struct TelemetryConfig {
    /// Log format.
    #[arg(long = "log-format", env = "BATON_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// `service.name` of exported spans and metrics, instead of `baton` or `baton-<service>`.
    #[arg(long = "service-name", env = "OTEL_SERVICE_NAME")]
    pub service_name: Option<String>,
    /// More resource attributes, `key=value` pairs separated by commas, values
    /// percent-encoded; a `service.name` here counts when `OTEL_SERVICE_NAME` is unset.
    #[arg(
        long = "resource-attributes",
        env = "OTEL_RESOURCE_ATTRIBUTES",
        value_parser = standard::parse_resource_attributes
    )]
    pub resource_attributes: Option<ResourceAttributes>,
    /// OTLP endpoint for every signal without one of its own (for example
    /// http://otel-collector:4317 for gRPC, http://otel-collector:4318 for http/protobuf, which
    /// appends /v1/traces and /v1/metrics); unset with no signal endpoint disables export.
    #[arg(long = "otlp-endpoint", env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// OTLP endpoint for spans, used as it is; enough on its own to export them.
    #[arg(
        long = "otlp-traces-endpoint",
        env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    )]
    pub otlp_traces_endpoint: Option<String>,
    /// OTLP endpoint for metrics, used as it is; enough on its own to push them.
    #[arg(
        long = "otlp-metrics-endpoint",
        env = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"
    )]
    pub otlp_metrics_endpoint: Option<String>,
    /// OTLP protocol of every signal without one of its own: grpc (the default) or
    /// http/protobuf.
    #[arg(
        long = "otlp-protocol",
        env = "OTEL_EXPORTER_OTLP_PROTOCOL",
        value_parser = standard::protocol_of(PROTOCOL_VAR)
    )]
    pub otlp_protocol: Option<OtlpProtocol>,
    /// OTLP protocol of spans: grpc or http/protobuf.
    #[arg(
        long = "otlp-traces-protocol",
        env = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        value_parser = standard::protocol_of(TRACES_PROTOCOL_VAR)
    )]
    pub otlp_traces_protocol: Option<OtlpProtocol>,
    /// OTLP protocol of metrics: grpc or http/protobuf.
    #[arg(
        long = "otlp-metrics-protocol",
        env = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        value_parser = standard::protocol_of(METRICS_PROTOCOL_VAR)
    )]
    pub otlp_metrics_protocol: Option<OtlpProtocol>,
    /// Which spans are recorded: always_on, always_off, traceidratio, parentbased_always_on,
    /// parentbased_always_off or parentbased_traceidratio; unset, parentbased_traceidratio.
    #[arg(
        long = "trace-sampler",
        env = "OTEL_TRACES_SAMPLER",
        value_parser = standard::parse_sampler
    )]
    pub sampler: Option<SamplerName>,
    /// The ratio of the ratio samplers, from 0 to 1: the share of new traces recorded and
    /// exported.
    #[arg(
        long = "trace-sample-ratio",
        env = "OTEL_TRACES_SAMPLER_ARG",
        default_value_t = 1.0,
        value_parser = parse_ratio
    )]
    pub sample_ratio: f64,
    /// Finished spans that may wait for the exporter; beyond that new spans are dropped and
    /// counted. Wins over `BATON_OTLP_MAX_QUEUE`.
    #[arg(
        long = "bsp-max-queue-size",
        env = "OTEL_BSP_MAX_QUEUE_SIZE",
        value_parser = queue_of(BSP_MAX_QUEUE_VAR)
    )]
    pub bsp_max_queue_size: Option<usize>,
    /// The older name of `OTEL_BSP_MAX_QUEUE_SIZE`, used when that is unset (deprecated).
    #[arg(
        long = "otlp-max-queue",
        env = "BATON_OTLP_MAX_QUEUE",
        default_value_t = 2048,
        value_parser = queue_of("BATON_OTLP_MAX_QUEUE")
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
            service_name: None,
            resource_attributes: None,
            otlp_endpoint: None,
            otlp_traces_endpoint: None,
            otlp_metrics_endpoint: None,
            otlp_protocol: None,
            otlp_traces_protocol: None,
            otlp_metrics_protocol: None,
            sampler: None,
            sample_ratio: 1.0,
            bsp_max_queue_size: None,
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
            "{SAMPLER_ARG_VAR}: expected a sampling ratio from 0 to 1 (0.25 records a quarter of new traces), got {value:?}"
        )),
    }
}

/// A parser of `var`'s queue sizes.
fn queue_of(
    var: &'static str,
) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |value: &str| match value.trim().parse::<usize>() {
        Ok(size) if (1..=MAX_QUEUE_LIMIT).contains(&size) => Ok(size),
        _ => Err(format!(
            "{var}: expected a number of spans from 1 to {MAX_QUEUE_LIMIT}, got {value:?}"
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
        if !(1..=MAX_QUEUE_LIMIT).contains(&self.max_queue()) {
            return Err(TelemetryError::Config(format!(
                "export queue must hold from 1 to {MAX_QUEUE_LIMIT} spans, got {}",
                self.max_queue()
            )));
        }
        for signal in [Signal::Traces, Signal::Metrics] {
            if let Some(target) = self.target(signal)
                && target.protocol == OtlpProtocol::HttpProtobuf
                && !target.endpoint.starts_with("http://")
            {
                return Err(TelemetryError::Config(format!(
                    "{signal:?} over http/protobuf need an http:// endpoint (TLS is for grpc only), got {:?}",
                    target.endpoint
                )));
            }
        }
        Ok(())
    }

    /// Where `signal` is exported, if anywhere.
    pub fn target(&self, signal: Signal) -> Option<OtlpTarget> {
        let (signal_endpoint, signal_protocol) = match signal {
            Signal::Traces => (&self.otlp_traces_endpoint, self.otlp_traces_protocol),
            Signal::Metrics => (&self.otlp_metrics_endpoint, self.otlp_metrics_protocol),
        };
        standard::target(
            signal,
            TargetSettings {
                signal_endpoint: signal_endpoint.as_deref(),
                signal_protocol,
                endpoint: self.otlp_endpoint.as_deref(),
                protocol: self.otlp_protocol,
            },
        )
    }

    /// The most finished spans that may wait for the exporter.
    pub fn max_queue(&self) -> usize {
        self.bsp_max_queue_size.unwrap_or(self.otlp_max_queue)
    }

    /// The sampler: the one named, else parent-based at the sampling ratio.
    fn sampler(&self) -> Sampler {
        self.sampler
            .unwrap_or(SamplerName::ParentBasedTraceIdRatio)
            .sampler(self.sample_ratio)
    }

    /// `service.name`: `OTEL_SERVICE_NAME`, else the one in `OTEL_RESOURCE_ATTRIBUTES`, else
    /// `default` (the name baton gives the process).
    pub fn service_name<'a>(&'a self, default: &'a str) -> &'a str {
        let set = |name: Option<&'a str>| name.map(str::trim).filter(|n| !n.is_empty());
        set(self.service_name.as_deref())
            .or_else(|| {
                set(self
                    .resource_attributes
                    .as_ref()
                    .and_then(|a| a.get("service.name")))
            })
            .unwrap_or(default)
    }

    /// Who is exporting traces or metrics: the telemetry SDK, the attributes of
    /// `OTEL_RESOURCE_ATTRIBUTES`, and the service, its version and which replica (the
    /// attributes given win over the last two, so an operator can name the instance). Without
    /// an `instance_id` the replica is a random id drawn once per process, so that its traces
    /// and its metrics name the same instance.
    pub(crate) fn resource(&self, default_service: &str) -> Resource {
        static RANDOM_INSTANCE: OnceLock<String> = OnceLock::new();
        let instance = self
            .instance_id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty())
            .unwrap_or_else(|| {
                RANDOM_INSTANCE
                    .get_or_init(|| uuid::Uuid::new_v4().to_string())
                    .as_str()
            })
            .to_owned();
        let given = self
            .resource_attributes
            .iter()
            .flat_map(|a| a.0.iter())
            .map(|(k, v)| KeyValue::new(k.clone(), v.clone()));
        Resource::builder_empty()
            .with_detector(Box::new(TelemetryResourceDetector))
            .with_attributes([
                KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
                KeyValue::new("service.instance.id", instance),
            ])
            .with_attributes(given)
            .with_service_name(self.service_name(default_service).to_owned())
            .build()
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
        let parse = queue_of(BSP_MAX_QUEUE_VAR);
        assert_eq!(parse("2048"), Ok(2048));
        for bad in ["0", "-1", "lots", "99999999999"] {
            let err = parse(bad).expect_err(bad);
            assert!(err.starts_with("OTEL_BSP_MAX_QUEUE_SIZE: "), "{err}");
        }
    }

    /// The settings as `baton serve` parses them, from flags alone.
    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        telemetry: TelemetryConfig,
    }

    #[test]
    fn a_bad_standard_value_stops_parsing_with_the_variable_named() {
        use clap::Parser as _;
        for (flag, value, variable) in [
            ("--trace-sampler", "sometimes", "OTEL_TRACES_SAMPLER"),
            (
                "--otlp-protocol",
                "http/json",
                "OTEL_EXPORTER_OTLP_PROTOCOL",
            ),
            (
                "--otlp-traces-protocol",
                "udp",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            ),
            ("--resource-attributes", "team", "OTEL_RESOURCE_ATTRIBUTES"),
            ("--bsp-max-queue-size", "0", "OTEL_BSP_MAX_QUEUE_SIZE"),
            ("--trace-sample-ratio", "2", "OTEL_TRACES_SAMPLER_ARG"),
        ] {
            let err = Cli::try_parse_from(["baton", flag, value]).expect_err(flag);
            assert!(err.to_string().contains(variable), "{flag}: {err}");
        }
        let parsed = Cli::try_parse_from([
            "baton",
            "--trace-sampler",
            "parentbased_always_off",
            "--otlp-traces-protocol",
            "http/protobuf",
        ])
        .expect("parses")
        .telemetry;
        assert_eq!(parsed.sampler, Some(SamplerName::ParentBasedAlwaysOff));
        assert_eq!(
            parsed.otlp_traces_protocol,
            Some(OtlpProtocol::HttpProtobuf)
        );
    }

    #[test]
    fn the_standard_queue_size_wins_over_the_older_name() {
        let older = TelemetryConfig {
            otlp_max_queue: 100,
            ..TelemetryConfig::default()
        };
        assert_eq!(older.max_queue(), 100);
        let both = TelemetryConfig {
            bsp_max_queue_size: Some(300),
            ..older
        };
        assert_eq!(both.max_queue(), 300);
        assert_eq!(TelemetryConfig::default().max_queue(), 2048);
        let zero = TelemetryConfig {
            bsp_max_queue_size: Some(0),
            ..TelemetryConfig::default()
        };
        assert!(matches!(zero.check(), Err(TelemetryError::Config(_))));
    }

    fn value(r: &Resource, key: &'static str) -> Option<String> {
        r.get(&opentelemetry::Key::from_static_str(key))
            .map(|v| v.to_string())
    }

    #[test]
    fn the_resource_names_service_version_and_instance() {
        let config = |instance: Option<&str>| TelemetryConfig {
            instance_id: instance.map(str::to_owned),
            ..TelemetryConfig::default()
        };
        let r = config(Some("routing-7d9f-abcde")).resource("baton-routing");
        assert_eq!(value(&r, "service.name").as_deref(), Some("baton-routing"));
        assert_eq!(
            value(&r, "service.version").as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(
            value(&r, "service.instance.id").as_deref(),
            Some("routing-7d9f-abcde")
        );
        assert_eq!(value(&r, "telemetry.sdk.language").as_deref(), Some("rust"));
        let anonymous = config(None).resource("baton");
        let id = value(&anonymous, "service.instance.id").expect("an instance id");
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        assert_eq!(
            value(&config(Some(" ")).resource("baton"), "service.instance.id"),
            Some(id),
            "traces and metrics of one process name one instance"
        );
    }

    #[test]
    fn the_service_name_is_the_standard_variable_then_the_attributes_then_baton_s() {
        let attributes = standard::parse_resource_attributes(
            "service.name=from-attributes,deployment.environment=staging,service.instance.id=pod-a",
        )
        .ok();
        let config = TelemetryConfig {
            resource_attributes: attributes.clone(),
            instance_id: Some("from-hostname".to_owned()),
            ..TelemetryConfig::default()
        };
        let r = config.resource("baton-routing");
        assert_eq!(
            value(&r, "service.name").as_deref(),
            Some("from-attributes")
        );
        assert_eq!(
            value(&r, "deployment.environment").as_deref(),
            Some("staging")
        );
        assert_eq!(
            value(&r, "service.instance.id").as_deref(),
            Some("pod-a"),
            "an attribute given wins over the host name"
        );
        let named = TelemetryConfig {
            service_name: Some("desk-routing".to_owned()),
            ..config.clone()
        };
        assert_eq!(
            value(&named.resource("baton-routing"), "service.name").as_deref(),
            Some("desk-routing")
        );
        let blank = TelemetryConfig {
            service_name: Some(" ".to_owned()),
            resource_attributes: None,
            ..config
        };
        assert_eq!(blank.service_name("baton-routing"), "baton-routing");
    }

    /// Whether a new root span is recorded under `config`'s sampler.
    fn records_new_traces(config: &TelemetryConfig) -> bool {
        use opentelemetry::trace::Span as _;
        let provider = SdkTracerProvider::builder()
            .with_sampler(config.sampler())
            .build();
        let span = provider.tracer("test").start("work");
        span.is_recording()
    }

    #[test]
    fn the_sampler_named_decides_which_new_traces_are_recorded() {
        let with = |sampler: Option<SamplerName>, ratio: f64| TelemetryConfig {
            sampler,
            sample_ratio: ratio,
            ..TelemetryConfig::default()
        };
        assert!(records_new_traces(&with(None, 1.0)));
        assert!(
            !records_new_traces(&with(None, 0.0)),
            "the ratio alone still works"
        );
        assert!(!records_new_traces(&with(
            Some(SamplerName::AlwaysOff),
            1.0
        )));
        assert!(!records_new_traces(&with(
            Some(SamplerName::ParentBasedAlwaysOff),
            1.0
        )));
        assert!(records_new_traces(&with(Some(SamplerName::AlwaysOn), 0.0)));
        assert!(records_new_traces(&with(
            Some(SamplerName::ParentBasedAlwaysOn),
            0.0
        )));
        assert!(!records_new_traces(&with(
            Some(SamplerName::TraceIdRatio),
            0.0
        )));
        assert!(records_new_traces(&with(
            Some(SamplerName::ParentBasedTraceIdRatio),
            1.0
        )));
    }

    #[test]
    fn the_traces_endpoint_alone_switches_export_on() {
        assert_eq!(TelemetryConfig::default().target(Signal::Traces), None);
        let config = TelemetryConfig {
            otlp_traces_endpoint: Some("http://collector:4318/v1/traces".to_owned()),
            otlp_protocol: Some(OtlpProtocol::HttpProtobuf),
            ..TelemetryConfig::default()
        };
        assert_eq!(
            config.target(Signal::Traces),
            Some(OtlpTarget {
                endpoint: "http://collector:4318/v1/traces".to_owned(),
                protocol: OtlpProtocol::HttpProtobuf,
            })
        );
        assert_eq!(
            config.target(Signal::Metrics),
            None,
            "metrics are pushed only where an endpoint is set for them"
        );
        let generic = TelemetryConfig {
            otlp_endpoint: Some("http://collector:4318".to_owned()),
            otlp_metrics_protocol: Some(OtlpProtocol::HttpProtobuf),
            ..TelemetryConfig::default()
        };
        assert_eq!(
            generic
                .target(Signal::Metrics)
                .map(|t| t.endpoint)
                .as_deref(),
            Some("http://collector:4318/v1/metrics")
        );
        assert_eq!(
            generic
                .target(Signal::Traces)
                .map(|t| t.endpoint)
                .as_deref(),
            Some("http://collector:4318")
        );
    }

    #[test]
    fn http_protobuf_to_an_https_endpoint_is_refused_at_start() {
        let config = TelemetryConfig {
            otlp_endpoint: Some("https://collector:4318".to_owned()),
            otlp_protocol: Some(OtlpProtocol::HttpProtobuf),
            ..TelemetryConfig::default()
        };
        let err = config.check().expect_err("refused");
        assert!(err.to_string().contains("http://"), "{err}");
    }

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
