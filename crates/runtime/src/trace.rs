//! W3C trace context across services.
//!
//! Every server wraps each call in a `grpc.server` span whose parent is the caller's
//! `traceparent` (read from the gRPC metadata); every client built by [`crate::client`] writes
//! the current span's context into the outgoing metadata. So one customer journey is one trace
//! across routing, identity, context and recommendation.
//!
//! Span fields are ids only: the rpc path, and the tenant and contact routing passes along in
//! the `baton-tenant` and `baton-contact` metadata entries (or a handler records through
//! [`CallSpan`]). Never personal data.
//!
//! A contact's later hops happen in other traces (a transfer an hour after the start is a new
//! call from a desktop): routing keeps the first trace's [`current_traceparent`] with the
//! contact and links each later hop's span to it with [`link_current_to`].

use std::{
    future::Future,
    pin::Pin,
    task::{Context as TaskContext, Poll},
};

use opentelemetry::{
    Context,
    propagation::{Extractor, Injector, TextMapPropagator as _},
    trace::{SpanContext, TraceContextExt as _},
};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tonic::metadata::{MetadataKey, MetadataValue};
use tower::{Layer, Service};

use crate::grpc_call::{split_path, status_code};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Metadata entry naming the tenant a call acts for (set by routing on its outgoing calls).
pub const TENANT_METADATA_KEY: &str = "baton-tenant";
/// Metadata entry naming the contact a call is for.
pub const CONTACT_METADATA_KEY: &str = "baton-contact";

/// Installs the W3C trace-context propagator process-wide (idempotent), for code that reads
/// the global propagator. This module does not: it always speaks W3C, without taking the
/// global propagator's lock on every call.
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // W3C writes `tracestate` even when there is none; an empty entry says nothing.
        if value.is_empty() {
            return;
        }
        // Runs on every outgoing call: the W3C names need no parsing or allocation, and the
        // formatted value is moved into the metadata, not copied.
        let key = match key {
            "traceparent" => MetadataKey::from_static("traceparent"),
            "tracestate" => MetadataKey::from_static("tracestate"),
            other => match MetadataKey::from_bytes(other.as_bytes()) {
                Ok(key) => key,
                Err(_) => return,
            },
        };
        if let Ok(value) = MetadataValue::try_from(bytes::Bytes::from(value)) {
            self.0.insert(key, value);
        }
    }
}

/// Writes the current span's trace context into outgoing metadata.
pub fn inject_current(metadata: &mut tonic::metadata::MetadataMap) {
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut MetadataInjector(metadata));
}

/// The W3C `traceparent` of the current span, to remember for later links (empty when no
/// trace is being recorded).
pub fn current_traceparent() -> String {
    let cx = tracing::Span::current().context();
    let span = cx.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return String::new();
    }
    format!(
        "00-{}-{}-{:02x}",
        sc.trace_id(),
        sc.span_id(),
        sc.trace_flags().to_u8()
    )
}

/// Links the current span to the trace a `traceparent` names (for a transfer much later than
/// the contact's start). Malformed values are ignored.
pub fn link_current_to(traceparent: &str) {
    if let Some(sc) = parse_traceparent(traceparent) {
        tracing::Span::current().add_link(sc);
    }
}

fn parse_traceparent(value: &str) -> Option<SpanContext> {
    struct One<'a>(&'a str);
    impl Extractor for One<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            (key == "traceparent").then_some(self.0)
        }
        fn keys(&self) -> Vec<&str> {
            vec!["traceparent"]
        }
    }
    let cx: Context = TraceContextPropagator::new().extract(&One(value));
    let sc = cx.span().span_context().clone();
    sc.is_valid().then_some(sc)
}

/// The `grpc.server` span of the call being served, kept in the request's extensions so a
/// handler can put on it the ids it only learns from the message: the tenant of a call from
/// outside the mesh (gateways send no `baton-tenant`), the id of a contact it creates.
#[derive(Clone, Debug)]
pub struct CallSpan {
    /// The span [`TraceLayer`] opened for the call.
    span: tracing::Span,
    /// Whether the caller named the tenant in the metadata (then it is recorded already).
    has_tenant: bool,
    /// Whether the caller named the contact in the metadata.
    has_contact: bool,
}

impl CallSpan {
    /// The span of the call `request` belongs to; a span that records nothing when the
    /// request did not pass through [`TraceLayer`] (a handler called directly in a test).
    pub fn of<T>(request: &tonic::Request<T>) -> CallSpan {
        request
            .extensions()
            .get::<CallSpan>()
            .cloned()
            .unwrap_or_else(|| CallSpan {
                span: tracing::Span::none(),
                has_tenant: true,
                has_contact: true,
            })
    }

    /// Records the (validated) tenant, unless the caller's metadata named one.
    pub fn record_tenant(&self, tenant: &str) {
        if !self.has_tenant && !tenant.is_empty() {
            self.span.record("tenant", tenant);
        }
    }

    /// Records the (validated or newly minted) contact id, unless the caller's metadata named
    /// one.
    pub fn record_contact(&self, contact: &str) {
        if !self.has_contact && !contact.is_empty() {
            self.span.record("contact", contact);
        }
    }
}

/// Server layer: one span per call, child of the caller's trace.
#[derive(Clone, Copy, Debug, Default)]
pub struct TraceLayer;

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TraceService { inner }
    }
}

/// See [`TraceLayer`].
#[derive(Clone, Debug)]
pub struct TraceService<S> {
    /// The wrapped service.
    inner: S,
}

impl<S, B, R> Service<http::Request<B>> for TraceService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let headers = req.headers();
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        let (service, method) = split_path(req.uri().path());
        let meta = |key: &str| {
            headers
                .get(key)
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
        };
        let span = tracing::info_span!(
            "grpc.server",
            otel.name = %format_args!("{service}/{method}"),
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            tenant = tracing::field::Empty,
            contact = tracing::field::Empty,
            rpc.grpc.status_code = tracing::field::Empty,
        );
        // Recorded only when present, so that a handler can record them instead (and an
        // attribute is never exported twice).
        let tenant = meta(TENANT_METADATA_KEY);
        let contact = meta(CONTACT_METADATA_KEY);
        if let Some(tenant) = tenant {
            span.record("tenant", tenant);
        }
        if let Some(contact) = contact {
            span.record("contact", contact);
        }
        let call = CallSpan {
            span: span.clone(),
            has_tenant: tenant.is_some(),
            has_contact: contact.is_some(),
        };
        req.extensions_mut().insert(call);
        // An error here means no OpenTelemetry layer is installed: nothing to parent.
        let _ = span.set_parent(parent);
        let fut = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        let recorder = span.clone();
        Box::pin(
            async move {
                let result = fut.await;
                if let Ok(response) = &result {
                    // Unary errors and stream starts carry grpc-status in the headers.
                    recorder.record("rpc.grpc.status_code", status_code(response.headers()));
                }
                result
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_valid_traceparent_and_refuses_garbage() {
        let sc = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .expect("valid");
        assert_eq!(
            sc.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(parse_traceparent("garbage").is_none());
        assert!(parse_traceparent("").is_none());
    }

    #[test]
    fn injects_the_traceparent_and_no_empty_tracestate() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let sc = parse_traceparent(traceparent).expect("valid");
        let cx = Context::new().with_remote_span_context(sc);
        let mut metadata = tonic::metadata::MetadataMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut MetadataInjector(&mut metadata));
        assert_eq!(
            metadata.get("traceparent").and_then(|v| v.to_str().ok()),
            Some(traceparent)
        );
        assert!(metadata.get("tracestate").is_none());
    }
}
