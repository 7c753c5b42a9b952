//! What a process is told about its logs and traces: baton's own flags and variables and the
//! standard OpenTelemetry ones, each checked as it is read, and what follows from them (where
//! each signal goes, the sampler, the queue, the resource).

use std::sync::OnceLock;

use clap::{Args, ValueEnum};
use opentelemetry::KeyValue;
use opentelemetry_sdk::{Resource, resource::TelemetryResourceDetector, trace::Sampler};

use super::{
    TelemetryError,
    standard::{
        self, BSP_MAX_QUEUE_VAR, METRICS_PROTOCOL_VAR, OtlpProtocol, OtlpTarget, PROTOCOL_VAR,
        ResourceAttributes, SAMPLER_ARG_VAR, SamplerName, Signal, TRACES_PROTOCOL_VAR,
        TargetSettings,
    },
};

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
    pub(crate) fn check(&self) -> Result<(), TelemetryError> {
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
    pub(crate) fn sampler(&self) -> Sampler {
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

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
    use opentelemetry_sdk::trace::SdkTracerProvider;

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
}
