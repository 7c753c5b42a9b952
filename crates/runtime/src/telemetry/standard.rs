//! The standard OpenTelemetry settings: what each `OTEL_*` value may be, and how the endpoint,
//! protocol, sampler and resource of a signal follow from them.
//!
//! The values are read with the rest of the configuration (see
//! [`TelemetryConfig`](super::TelemetryConfig)); a bad one stops the process at start with a
//! message naming the variable. What follows from them is computed here, from the parsed
//! values alone, so it is tested without touching the process environment.

use std::fmt;

use opentelemetry_sdk::trace::Sampler;

/// `OTEL_TRACES_SAMPLER`: which new spans are recorded.
pub const SAMPLER_VAR: &str = "OTEL_TRACES_SAMPLER";
/// `OTEL_TRACES_SAMPLER_ARG`: the ratio of the ratio samplers.
pub const SAMPLER_ARG_VAR: &str = "OTEL_TRACES_SAMPLER_ARG";
/// `OTEL_EXPORTER_OTLP_PROTOCOL`: the protocol of every signal without one of its own.
pub const PROTOCOL_VAR: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`.
pub const TRACES_PROTOCOL_VAR: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
/// `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL`.
pub const METRICS_PROTOCOL_VAR: &str = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL";
/// `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs added to the resource.
pub const RESOURCE_ATTRIBUTES_VAR: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// `OTEL_BSP_MAX_QUEUE_SIZE`: the batch span processor's queue.
pub const BSP_MAX_QUEUE_VAR: &str = "OTEL_BSP_MAX_QUEUE_SIZE";

/// The samplers `OTEL_TRACES_SAMPLER` may name, as the specification spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplerName {
    /// `always_on`: every span, whatever the caller decided.
    AlwaysOn,
    /// `always_off`: no span.
    AlwaysOff,
    /// `traceidratio`: the ratio of traces, whatever the caller decided.
    TraceIdRatio,
    /// `parentbased_always_on`: as the caller decided; every new trace.
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`: as the caller decided; no new trace.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio`: as the caller decided; the ratio of new traces.
    ParentBasedTraceIdRatio,
}

impl SamplerName {
    /// Every sampler with its name.
    const NAMES: [(&'static str, SamplerName); 6] = [
        ("always_on", SamplerName::AlwaysOn),
        ("always_off", SamplerName::AlwaysOff),
        ("traceidratio", SamplerName::TraceIdRatio),
        ("parentbased_always_on", SamplerName::ParentBasedAlwaysOn),
        ("parentbased_always_off", SamplerName::ParentBasedAlwaysOff),
        (
            "parentbased_traceidratio",
            SamplerName::ParentBasedTraceIdRatio,
        ),
    ];

    /// The SDK's sampler; `ratio` is used by the ratio samplers only.
    pub fn sampler(self, ratio: f64) -> Sampler {
        match self {
            SamplerName::AlwaysOn => Sampler::AlwaysOn,
            SamplerName::AlwaysOff => Sampler::AlwaysOff,
            SamplerName::TraceIdRatio => Sampler::TraceIdRatioBased(ratio),
            SamplerName::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            SamplerName::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            SamplerName::ParentBasedTraceIdRatio => {
                Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
            }
        }
    }
}

/// Reads an `OTEL_TRACES_SAMPLER` value.
pub(crate) fn parse_sampler(value: &str) -> Result<SamplerName, String> {
    let value = value.trim();
    if let Some((_, name)) = SamplerName::NAMES
        .iter()
        .find(|(spelled, _)| spelled.eq_ignore_ascii_case(value))
    {
        return Ok(*name);
    }
    let known = SamplerName::NAMES.map(|(spelled, _)| spelled).join(", ");
    if ["jaeger_remote", "parentbased_jaeger_remote", "xray"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(value))
    {
        return Err(format!(
            "{SAMPLER_VAR}: the sampler {value:?} is not supported here; use one of {known}"
        ));
    }
    Err(format!(
        "{SAMPLER_VAR}: unknown sampler {value:?}; expected one of {known}"
    ))
}

/// The wire protocol of an OTLP export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `grpc`: OTLP/gRPC, usually on port 4317. baton's default.
    #[default]
    Grpc,
    /// `http/protobuf`: binary protobuf in HTTP POSTs, usually on port 4318.
    HttpProtobuf,
}

impl fmt::Display for OtlpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OtlpProtocol::Grpc => "grpc",
            OtlpProtocol::HttpProtobuf => "http/protobuf",
        })
    }
}

/// A parser of `var`'s protocol values, for the generic and the per-signal variables.
pub(crate) fn protocol_of(
    var: &'static str,
) -> impl Fn(&str) -> Result<OtlpProtocol, String> + Clone + Send + Sync + 'static {
    move |value: &str| match value.trim() {
        "grpc" => Ok(OtlpProtocol::Grpc),
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        "http/json" => Err(format!(
            "{var}: http/json is not supported; use grpc or http/protobuf"
        )),
        other => Err(format!(
            "{var}: unknown protocol {other:?}; expected grpc or http/protobuf"
        )),
    }
}

/// A signal exported over OTLP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metrics.
    Metrics,
}

impl Signal {
    /// The path OTLP/HTTP appends to the generic endpoint for this signal.
    fn http_path(self) -> &'static str {
        match self {
            Signal::Traces => "v1/traces",
            Signal::Metrics => "v1/metrics",
        }
    }
}

/// Where one signal goes, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtlpTarget {
    /// The exporter's URL, used as it is.
    pub endpoint: String,
    /// How the exporter speaks to it.
    pub protocol: OtlpProtocol,
}

/// The settings for one signal, as configured: its own and the generic ones.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TargetSettings<'a> {
    /// `OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT`.
    pub signal_endpoint: Option<&'a str>,
    /// `OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL`.
    pub signal_protocol: Option<OtlpProtocol>,
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: Option<&'a str>,
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub protocol: Option<OtlpProtocol>,
}

/// Where `signal` is exported, or `None` when no endpoint is set for it: the signal's own
/// endpoint as it is, else the generic endpoint (with `/v1/traces` or `/v1/metrics` appended
/// for OTLP/HTTP, as the specification says). The signal's own protocol wins over the generic
/// one; without either, gRPC.
pub(crate) fn target(signal: Signal, settings: TargetSettings<'_>) -> Option<OtlpTarget> {
    let set = |value: Option<&str>| {
        value
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let protocol = settings
        .signal_protocol
        .or(settings.protocol)
        .unwrap_or_default();
    let endpoint = match set(settings.signal_endpoint) {
        Some(endpoint) => endpoint,
        None => {
            let base = set(settings.endpoint)?;
            match protocol {
                OtlpProtocol::Grpc => base,
                OtlpProtocol::HttpProtobuf => {
                    format!("{}/{}", base.trim_end_matches('/'), signal.http_path())
                }
            }
        }
    };
    Some(OtlpTarget { endpoint, protocol })
}

/// The attributes of `OTEL_RESOURCE_ATTRIBUTES`, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceAttributes(pub Vec<(String, String)>);

impl ResourceAttributes {
    /// The value given for `key`, the last one if given twice.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, values
/// percent-encoded where they hold a comma, an equals sign, a space or anything beyond ASCII
/// (`deployment.environment=prod,team=contact%20centre`). Empty entries are skipped.
pub(crate) fn parse_resource_attributes(value: &str) -> Result<ResourceAttributes, String> {
    let mut pairs = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Some((key, raw)) = entry.split_once('=') else {
            return Err(format!(
                "{RESOURCE_ATTRIBUTES_VAR}: expected key=value pairs separated by commas, got {entry:?}"
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!(
                "{RESOURCE_ATTRIBUTES_VAR}: an attribute has no key in {entry:?}"
            ));
        }
        let value = percent_decode(raw.trim()).ok_or_else(|| {
            format!(
                "{RESOURCE_ATTRIBUTES_VAR}: the value of {key:?} is not valid percent-encoded UTF-8"
            )
        })?;
        pairs.push((key.to_owned(), value));
    }
    Ok(ResourceAttributes(pairs))
}

/// `%XX` escapes to bytes; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplers_are_read_as_the_specification_names_them() {
        assert_eq!(parse_sampler("always_off"), Ok(SamplerName::AlwaysOff));
        assert_eq!(parse_sampler("always_on"), Ok(SamplerName::AlwaysOn));
        assert_eq!(parse_sampler("traceidratio"), Ok(SamplerName::TraceIdRatio));
        assert_eq!(
            parse_sampler(" parentbased_traceidratio "),
            Ok(SamplerName::ParentBasedTraceIdRatio)
        );
        assert_eq!(
            parse_sampler("parentbased_always_off"),
            Ok(SamplerName::ParentBasedAlwaysOff)
        );
        let unknown = parse_sampler("sometimes").expect_err("unknown");
        assert!(unknown.starts_with("OTEL_TRACES_SAMPLER: "), "{unknown}");
        assert!(unknown.contains("\"sometimes\""), "{unknown}");
        assert!(unknown.contains("parentbased_always_on"), "{unknown}");
        let unsupported = parse_sampler("jaeger_remote").expect_err("unsupported");
        assert!(unsupported.contains("not supported"), "{unsupported}");
    }

    #[test]
    fn protocols_are_grpc_or_http_protobuf() {
        let parse = protocol_of(TRACES_PROTOCOL_VAR);
        assert_eq!(parse("grpc"), Ok(OtlpProtocol::Grpc));
        assert_eq!(parse("http/protobuf"), Ok(OtlpProtocol::HttpProtobuf));
        for bad in ["http/json", "http", "GRPC2", ""] {
            let err = parse(bad).expect_err(bad);
            assert!(
                err.starts_with("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "),
                "{err}"
            );
        }
    }

    #[test]
    fn the_signal_endpoint_alone_enables_export_and_is_used_as_it_is() {
        let traces = |settings| target(Signal::Traces, settings);
        assert_eq!(traces(TargetSettings::default()), None);
        assert_eq!(
            traces(TargetSettings {
                endpoint: Some("  "),
                ..TargetSettings::default()
            }),
            None,
            "an empty endpoint is none"
        );
        assert_eq!(
            traces(TargetSettings {
                signal_endpoint: Some("http://collector:4317"),
                ..TargetSettings::default()
            }),
            Some(OtlpTarget {
                endpoint: "http://collector:4317".to_owned(),
                protocol: OtlpProtocol::Grpc
            })
        );
        assert_eq!(
            traces(TargetSettings {
                signal_endpoint: Some("http://collector:4318/custom"),
                signal_protocol: Some(OtlpProtocol::HttpProtobuf),
                endpoint: Some("http://other:4318"),
                ..TargetSettings::default()
            }),
            Some(OtlpTarget {
                endpoint: "http://collector:4318/custom".to_owned(),
                protocol: OtlpProtocol::HttpProtobuf
            }),
            "the signal's endpoint wins and gets no path"
        );
    }

    #[test]
    fn the_generic_endpoint_gets_the_signal_path_over_http_only() {
        let generic = |protocol, signal_protocol| TargetSettings {
            endpoint: Some("http://collector:4318/"),
            protocol,
            signal_protocol,
            ..TargetSettings::default()
        };
        let endpoint = |signal, settings| target(signal, settings).map(|t| t.endpoint);
        assert_eq!(
            endpoint(Signal::Traces, generic(None, None)).as_deref(),
            Some("http://collector:4318/")
        );
        assert_eq!(
            endpoint(
                Signal::Traces,
                generic(Some(OtlpProtocol::HttpProtobuf), None)
            )
            .as_deref(),
            Some("http://collector:4318/v1/traces")
        );
        assert_eq!(
            endpoint(
                Signal::Metrics,
                generic(Some(OtlpProtocol::HttpProtobuf), None)
            )
            .as_deref(),
            Some("http://collector:4318/v1/metrics")
        );
        let signal_wins = target(
            Signal::Traces,
            generic(Some(OtlpProtocol::HttpProtobuf), Some(OtlpProtocol::Grpc)),
        )
        .expect("a target");
        assert_eq!(signal_wins.protocol, OtlpProtocol::Grpc);
        assert_eq!(signal_wins.endpoint, "http://collector:4318/");
    }

    #[test]
    fn resource_attributes_are_pairs_with_percent_encoded_values() {
        let parsed = parse_resource_attributes(
            "deployment.environment=prod, team=contact%20centre,,k8s.namespace.name=baton,team=floor%2C%20east",
        )
        .expect("parses");
        assert_eq!(parsed.get("deployment.environment"), Some("prod"));
        assert_eq!(parsed.get("k8s.namespace.name"), Some("baton"));
        assert_eq!(parsed.get("team"), Some("floor, east"), "the last one wins");
        assert_eq!(parsed.0.len(), 4);
        assert_eq!(
            parse_resource_attributes(""),
            Ok(ResourceAttributes::default())
        );
        for bad in ["team", "=prod", "team=%zz", "team=%c3", "team=50%"] {
            let err = parse_resource_attributes(bad).expect_err(bad);
            assert!(err.starts_with("OTEL_RESOURCE_ATTRIBUTES: "), "{err}");
        }
    }
}
