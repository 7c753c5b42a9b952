//! One customer journey is one trace across the four services; a transfer much later is its
//! own trace, linked to the first. Spans leave through the real OTLP/gRPC exporter and arrive
//! at a receiver in this process, as they would at a collector.
//!
//! Its own test binary: the tracing subscriber is process-wide.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use baton_proto::v1::{self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind};
use baton_runtime::telemetry::{self, TelemetryConfig, TelemetryGuard};
use baton_runtime::trace;
use baton_tests::otlp::{self, Received, attr, hex};
use baton_tests::{
    Desk, PATIENCE, TestMesh, available_agent, handover, ident, key, open_as_agent, tenant, to_tier,
};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_proto::tonic::trace::v1::Span;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

const ROUTING: &str = "baton.v1.RoutingService";
const IDENTITY: &str = "baton.v1.IdentityService";
const CONTEXT: &str = "baton.v1.ContextService";
const RECOMMENDATION: &str = "baton.v1.RecommendationService";

/// The trace id of a span of this process, as hex.
fn trace_of(span: &tracing::Span) -> String {
    span.context().span().span_context().trace_id().to_string()
}

/// A request carrying the current span's trace context, as a traced gateway sends it.
fn traced<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    trace::inject_current(request.metadata_mut());
    request
}

/// The spans received so far, by trace.
fn by_trace(received: &Received) -> HashMap<String, Vec<Span>> {
    let mut traces: HashMap<String, Vec<Span>> = HashMap::new();
    for (_, span) in received.spans() {
        traces.entry(hex(&span.trace_id)).or_default().push(span);
    }
    traces
}

fn is_server(span: &Span) -> bool {
    span.name.starts_with("baton.v1.") && attr(span, "rpc.service").is_some()
}

fn server_of<'a>(spans: &'a [Span], service: &str, method: &str) -> Option<&'a Span> {
    spans.iter().find(|s| {
        is_server(s)
            && attr(s, "rpc.service") == Some(service)
            && attr(s, "rpc.method") == Some(method)
    })
}

/// Flushes until `ready` holds for what arrived: a span ends (and is queued for export) a
/// moment after its answer reached the caller.
async fn wait_for(
    guard: &TelemetryGuard,
    received: &Received,
    ready: impl Fn(&HashMap<String, Vec<Span>>) -> bool,
) -> HashMap<String, Vec<Span>> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        guard.flush().expect("spans flush");
        let traces = by_trace(received);
        if ready(&traces) {
            return traces;
        }
        assert!(
            Instant::now() < deadline,
            "spans did not arrive: {:#?}",
            traces
                .values()
                .flatten()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_journey_is_one_trace_across_four_services_and_a_later_transfer_links_to_it() {
    let (addr, received) = otlp::start().await;
    let guard = telemetry::init(
        "baton",
        &TelemetryConfig {
            otlp_endpoint: Some(format!("http://{addr}")),
            sample_ratio: 1.0,
            // Quiet logs must not quiet the traces: spans have their own filter.
            filter: Some("error".into()),
            ..TelemetryConfig::default()
        },
    )
    .expect("telemetry starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut m = TestMesh::start(dir.path()).await;
    let t = tenant();
    available_agent(&mut m.routing, &t, "chat-ann", 1, pb::Channel::Chat, 3).await;
    // Tier 2 has someone who could take the transfer below (a transfer nobody could ever
    // take is refused), not at a desk yet.
    available_agent(&mut m.routing, &t, "chat-tim", 2, pb::Channel::Chat, 3).await;
    let mut desk = Desk::open(&mut m.routing, &t, "chat-ann").await;

    // The gateway's trace: the contact starts and an agent takes it.
    let start_root = tracing::info_span!("gateway.start_contact");
    let journey = trace_of(&start_root);
    let started = m
        .routing
        .start_contact(
            async {
                traced(pb::StartContactRequest {
                    tenant_id: t.clone(),
                    channel: pb::Channel::Chat as i32,
                    identifiers: vec![ident(Kind::Login, "web|trace-7741", Assurance::Verified)],
                    utterance: "my parcel is late".into(),
                    idempotency_key: key(),
                    ..Default::default()
                })
            }
            .instrument(start_root.clone())
            .await,
        )
        .await
        .expect("contact starts")
        .into_inner();
    drop(start_root);
    let contact = started.contact.expect("contact");
    let offer = desk.offer().await;
    desk.accept(&offer).await;
    let token = open_as_agent(&mut m.routing, &t, "chat-ann", &offer.token)
        .await
        .expect("token opens");
    assert!(
        token.origin_traceparent.contains(&journey),
        "the token names the journey's trace: {:?}",
        token.origin_traceparent
    );

    // Much later, from the agent's desktop: a cold transfer to tier 2, in a trace of its own.
    let transfer_root = tracing::info_span!("desk.transfer");
    let later = trace_of(&transfer_root);
    assert_ne!(later, journey);
    let request = async {
        traced(pb::TransferRequest {
            tenant_id: t.clone(),
            contact_id: contact.contact_id.clone(),
            from_agent_id: "chat-ann".into(),
            target: to_tier(2),
            mode: pb::TransferMode::Cold as i32,
            handover: handover("parcel traced to the depot", ""),
            idempotency_key: key(),
        })
    }
    .instrument(transfer_root.clone())
    .await;
    m.routing.transfer(request).await.expect("transfer");
    drop(transfer_root);

    let traces = wait_for(&guard, &received, |traces| {
        let services = |id: &str| -> BTreeSet<String> {
            traces
                .get(id)
                .into_iter()
                .flatten()
                .filter_map(|s| attr(s, "rpc.service").map(str::to_owned))
                .collect()
        };
        let everyone: BTreeSet<String> = [ROUTING, IDENTITY, CONTEXT, RECOMMENDATION]
            .map(str::to_owned)
            .into();
        services(&journey) == everyone
            && traces
                .get(&later)
                .is_some_and(|spans| server_of(spans, RECOMMENDATION, "Recommend").is_some())
    })
    .await;

    // One trace for the start, through all four services.
    let spans = &traces[&journey];
    let routing = server_of(spans, ROUTING, "StartContact").expect("routing's server span");
    assert_eq!(attr(routing, "tenant"), Some(t.as_str()));
    assert_eq!(attr(routing, "contact"), Some(contact.contact_id.as_str()));
    for (service, method) in [
        (IDENTITY, "Resolve"),
        (CONTEXT, "AppendEvent"),
        (CONTEXT, "GetContext"),
        (RECOMMENDATION, "Recommend"),
    ] {
        assert!(
            server_of(spans, service, method).is_some(),
            "{service}/{method} in the journey's trace"
        );
    }

    // Parent and child: every call routing made hangs under routing's server span.
    let by_id: HashMap<Vec<u8>, &Span> = spans.iter().map(|s| (s.span_id.clone(), s)).collect();
    let downstream: Vec<&Span> = spans
        .iter()
        .filter(|s| is_server(s) && attr(s, "rpc.service") != Some(ROUTING))
        .collect();
    assert!(downstream.len() >= 4, "{} calls", downstream.len());
    for span in &downstream {
        let mut parent = by_id.get(&span.parent_span_id).copied();
        while let Some(p) = parent.filter(|p| !is_server(p)) {
            parent = by_id.get(&p.parent_span_id).copied();
        }
        let parent = parent.unwrap_or_else(|| panic!("{} has no routing parent", span.name));
        assert_eq!(
            parent.span_id, routing.span_id,
            "{} hangs under routing's StartContact",
            span.name
        );
    }

    // The transfer: another trace, linked to the journey's.
    let transfer_spans = &traces[&later];
    let transfer = server_of(transfer_spans, ROUTING, "Transfer").expect("routing's transfer span");
    assert_eq!(attr(transfer, "contact"), Some(contact.contact_id.as_str()));
    assert!(
        transfer_spans
            .iter()
            .any(|s| s.links.iter().any(|l| hex(&l.trace_id) == journey)),
        "a span of the transfer links to the journey's trace"
    );
    assert!(
        spans.iter().all(|s| s.links.is_empty()),
        "the start links to nothing"
    );

    // Every call routing made, in either trace, names the tenant and the contact.
    for span in spans.iter().chain(transfer_spans).filter(|s| is_server(s)) {
        assert_eq!(attr(span, "tenant"), Some(t.as_str()), "{}", span.name);
        assert_eq!(
            attr(span, "contact"),
            Some(contact.contact_id.as_str()),
            "{}",
            span.name
        );
    }

    m.stop().await;
    drop(guard);
}
