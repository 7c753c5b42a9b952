//! Metrics: OpenTelemetry instruments, scraped by Prometheus and pushed over OTLP.
//!
//! [`init`] builds the process's meter provider and installs it as the global one: a
//! Prometheus reader always (served at `GET /metrics` by [`serve_metrics`]), and an OTLP/gRPC
//! periodic exporter when an endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`, the same
//! variable that switches on trace export). Code that records uses
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
//! | `rpc.server.requests` | `rpc_server_requests_total` | `rpc.service`, `rpc.method`, `rpc.grpc.status_code` |
//! | `rpc.server.duration` (s) | `rpc_server_duration_seconds` | the same |
//! | `baton.telemetry.spans_dropped` | `baton_telemetry_spans_dropped_total` | none |
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
/// the life of the process. `service` (`service.name`) and `instance_id`
/// (`service.instance.id`; when unset, the random id the traces carry too) say who is
/// measuring; with `otlp_endpoint` set and not empty, metrics are also pushed there over
/// OTLP/gRPC (every 60 s, or `OTEL_METRIC_EXPORT_INTERVAL` ms). Must be called inside a tokio
/// runtime when pushing.
///
/// Safe to call more than once: while a guard is alive, later calls share its provider (and
/// ignore their arguments), so several meshes in one test process record into one registry.
/// Values are per process: tests that run in parallel in one process see each other's calls.
pub fn init(
    service: &str,
    instance_id: Option<&str>,
    otlp_endpoint: Option<&str>,
) -> Result<MetricsGuard, MetricsError> {
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
        .with_resource(crate::telemetry::resource(service, instance_id));
    if let Some(endpoint) = otlp_endpoint.filter(|e| !e.is_empty()) {
        use opentelemetry_otlp::WithExportConfig as _;
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| MetricsError::Exporter(e.to_string()))?;
        builder = builder.with_periodic_exporter(exporter);
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
        let first = init("baton-test", Some("replica-1"), None).expect("installs");
        let second = init("ignored", None, None).expect("shares");
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
        let fresh = init("baton-test", None, None).expect("installs again");
        let text = render(fresh.registry()).expect("renders");
        assert!(
            value(&text, "baton_telemetry_spans_dropped_total").is_some(),
            "a fresh provider reports the process's drops too: {text}"
        );
    }
}
