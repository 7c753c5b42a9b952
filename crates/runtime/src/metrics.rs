//! Metrics: OpenTelemetry instruments, scraped by Prometheus and pushed over OTLP.
//!
//! [`init`] builds the process's meter provider and installs it as the global one: a
//! Prometheus reader always (served at `GET /metrics` by [`serve_metrics`]), and an OTLP
//! periodic exporter when an endpoint is configured for metrics
//! (`OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` as for traces),
//! over gRPC or `http/protobuf` as `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL` or
//! `OTEL_EXPORTER_OTLP_PROTOCOL` say. Code that records uses
//! `opentelemetry::global::meter`, so it is the same with or without a provider, and costs next
//! to nothing when none is installed (unit tests, tools).
//!
//! An instrument is bound to the provider that was global when the instrument was created:
//! servers and services create theirs when they are built, after [`init`].
//!
//! # What is measured
//!
//! | instrument | Prometheus name | attributes |
//! |---|---|---|
//! | `rpc.server.call.duration` (s) | `rpc_server_call_duration_seconds` | `rpc.system` (`grpc`), `rpc.service`, `rpc.method`, `rpc.grpc.status_code` |
//! | `rpc.server.requests` | `rpc_server_requests_total` | the same |
//! | `baton.telemetry.spans_dropped` | `baton_telemetry_spans_dropped_total` | none |
//! | `baton.rpc.client.retries` | `baton_rpc_client_retries_total` | `rpc.service`, `outcome` ([`crate::retry`]) |
//!
//! Services add their own (routing: queue depth and wait, offers, transfers, tokens,
//! re-identifications avoided). Attribute values come from closed sets (rpc names, status
//! codes, tiers, outcomes, reasons): never a tenant, customer or contact id, never personal
//! data, so the number of series stays bounded whatever callers send.
//!
//! # Layout
//!
//! - `rpc`: [`RpcMetricsLayer`], the server layer measuring every call.
//! - `scrape`: [`serve_metrics`], the HTTP endpoint Prometheus scrapes.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use clap::Args;
use opentelemetry_sdk::metrics::SdkMeterProvider;

use crate::telemetry::{OtlpProtocol, OtlpTarget, Signal, TelemetryConfig};

mod rpc;
mod scrape;

pub use rpc::RpcMetricsLayer;
pub use scrape::serve_metrics;

/// The meter name of what the runtime measures (the `otel_scope_name` label in Prometheus).
pub const METER: &str = "baton-runtime";

/// Content type of the Prometheus text exposition format.
pub const TEXT_FORMAT: &str = prometheus::TEXT_FORMAT;

/// Metrics settings.
#[derive(Args, Clone, Debug)]
pub struct MetricsConfig {
    /// Port of the Prometheus scrape endpoint (`GET /metrics`), one per process whatever the
    /// services it runs; 0 picks a free port.
    #[arg(
        long = "metrics-port",
        env = "BATON_METRICS_PORT",
        default_value_t = 9464
    )]
    pub port: u16,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self { port: 9464 }
    }
}

/// Why metrics could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The Prometheus reader could not be registered.
    #[error("prometheus exporter: {0}")]
    Prometheus(String),
    /// The OTLP exporter could not be built.
    #[error("otlp metrics exporter: {0}")]
    Exporter(String),
}

/// The installed provider and the registry its Prometheus reader writes to.
#[derive(Debug)]
struct Installed {
    /// The global meter provider.
    provider: SdkMeterProvider,
    /// What the scrape endpoint renders.
    registry: prometheus::Registry,
}

impl Drop for Installed {
    fn drop(&mut self) {
        // Pushes the last OTLP export; the Prometheus reader has nothing to flush.
        if let Err(err) = self.provider.shutdown() {
            eprintln!("metrics export did not flush: {err}");
        }
    }
}

/// The provider every live [`MetricsGuard`] shares; empty once the last guard is dropped.
static INSTALLED: Mutex<Weak<Installed>> = Mutex::new(Weak::new());

/// A handle on the process's metrics. Clones share one provider; when the last handle in the
/// process is dropped, the provider is flushed and shut down, and the next [`init`] installs a
/// fresh one.
#[derive(Clone, Debug)]
pub struct MetricsGuard {
    /// Shared with every other guard of the process.
    installed: Arc<Installed>,
}

impl MetricsGuard {
    /// The registry the scrape endpoint renders.
    pub fn registry(&self) -> &prometheus::Registry {
        &self.installed.registry
    }
}

/// Installs the process's meter provider as the global one and returns the guard to keep for
/// the life of the process. `telemetry` says who is measuring (`service.name`, by default
/// `service`, and the rest of the resource traces carry) and where metrics are pushed over OTLP
/// besides the scrape endpoint (every 60 s, or `OTEL_METRIC_EXPORT_INTERVAL` ms). Must be
/// called inside a tokio runtime when pushing.
///
/// Safe to call more than once: while a guard is alive, later calls share its provider (and
/// ignore their arguments), so several meshes in one test process record into one registry.
/// Values are per process: tests that run in parallel in one process see each other's calls.
pub fn init(service: &str, telemetry: &TelemetryConfig) -> Result<MetricsGuard, MetricsError> {
    let mut slot = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(installed) = slot.upgrade() {
        return Ok(MetricsGuard { installed });
    }
    let registry = prometheus::Registry::new();
    let prometheus = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .build()
        .map_err(|e| MetricsError::Prometheus(e.to_string()))?;
    let mut builder = SdkMeterProvider::builder()
        .with_reader(prometheus)
        .with_resource(telemetry.resource(service));
    if let Some(target) = telemetry.target(Signal::Metrics) {
        builder = builder.with_periodic_exporter(metric_exporter(&target)?);
    }
    let provider = builder.build();
    opentelemetry::global::set_meter_provider(provider.clone());
    // Read from the exporter's own count when metrics are collected, so that a dropped span
    // costs one atomic add and nothing here; the series exists from the start, at 0.
    opentelemetry::global::meter(METER)
        .u64_observable_counter("baton.telemetry.spans_dropped")
        .with_description("Spans the trace exporter dropped instead of exporting")
        .with_unit("{span}")
        .with_callback(|counter| counter.observe(crate::telemetry::spans_dropped(), &[]))
        .build();
    let installed = Arc::new(Installed { provider, registry });
    *slot = Arc::downgrade(&installed);
    Ok(MetricsGuard { installed })
}

/// The OTLP metric exporter for `target`, endpoint and protocol given explicitly.
fn metric_exporter(
    target: &OtlpTarget,
) -> Result<opentelemetry_otlp::MetricExporter, MetricsError> {
    use opentelemetry_otlp::WithExportConfig as _;
    let builder = opentelemetry_otlp::MetricExporter::builder();
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
    .map_err(|e| MetricsError::Exporter(format!("{} to {}: {e}", target.protocol, target.endpoint)))
}

/// Renders `registry` in the Prometheus text exposition format.
pub fn render(registry: &prometheus::Registry) -> Result<String, MetricsError> {
    prometheus::TextEncoder::new()
        .encode_to_string(&registry.gather())
        .map_err(|e| MetricsError::Prometheus(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, name: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn one_provider_is_shared_while_a_guard_lives_and_replaced_after() {
        let replica = TelemetryConfig {
            instance_id: Some("replica-1".to_owned()),
            ..TelemetryConfig::default()
        };
        let first = init("baton-test", &replica).expect("installs");
        let second = init("ignored", &TelemetryConfig::default()).expect("shares");
        assert!(Arc::ptr_eq(&first.installed, &second.installed));

        crate::telemetry::export::count_dropped(3);
        let text = render(first.registry()).expect("renders");
        assert!(text.contains("service_name=\"baton-test\""), "{text}");
        assert!(text.contains("service_instance_id=\"replica-1\""), "{text}");
        let dropped = value(&text, "baton_telemetry_spans_dropped_total");
        assert!(dropped.is_some_and(|n| n >= 3.0), "{text}");

        let old = Arc::downgrade(&first.installed);
        drop(first);
        assert!(old.upgrade().is_some(), "a guard is still alive");
        drop(second);
        assert!(
            old.upgrade().is_none(),
            "the last guard shut the provider down"
        );
        let fresh = init("baton-test", &TelemetryConfig::default()).expect("installs again");
        let text = render(fresh.registry()).expect("renders");
        assert!(
            value(&text, "baton_telemetry_spans_dropped_total").is_some(),
            "a fresh provider reports the process's drops too: {text}"
        );
    }
}
