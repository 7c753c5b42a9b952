//! A journey through `baton serve all`, then a real scrape of its Prometheus endpoint: the
//! per-call metrics and routing's own metrics carry the values the journey produced.
//!
//! Metrics are per process, so this file holds one test: another running alongside it in the
//! same process would add its calls to the counts asserted here.

use std::collections::BTreeMap;

use baton_proto::v1::{self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind};
use baton_tests::{
    Desk, TestMesh, available_agent, handover, http_get as get, ident, key, open_as_agent, tenant,
    to_tier,
};

/// One sample of the text exposition format: `name{label="value",...} number`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a value");
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            // Label values here never contain `",`: every value is an id, code or name.
            let labels = labels
                .split("\",")
                .filter(|kv| !kv.is_empty())
                .filter_map(|kv| kv.split_once("=\""))
                .map(|(k, v)| (k.to_owned(), v.trim_end_matches('"').to_owned()))
                .collect();
            Sample {
                name: name.to_owned(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// The value of the one series of `name` carrying `labels` (among others); `None` when there
/// is none.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect();
    assert!(
        matching.len() <= 1,
        "{name} {labels:?} names one series: {matching:?}"
    );
    matching.first().map(|s| s.value)
}

#[tokio::test]
async fn a_journey_shows_in_the_scraped_metrics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut m = TestMesh::start(dir.path()).await;
    let t = tenant();
    for (id, tier) in [("t1-ann", 1), ("t1-cy", 1), ("t2-bo", 2)] {
        available_agent(&mut m.routing, &t, id, tier, pb::Channel::Chat, 1).await;
    }
    let mut ann = Desk::open(&mut m.routing, &t, "t1-ann").await;
    let mut cy = Desk::open(&mut m.routing, &t, "t1-cy").await;
    let mut bo = Desk::open(&mut m.routing, &t, "t2-bo").await;

    let started = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Chat as i32,
            identifiers: vec![ident(Kind::Login, "web|metrics-1", Assurance::Verified)],
            utterance: "my card was charged twice".into(),
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("contact starts")
        .into_inner();
    let contact = started.contact.expect("contact");
    assert_eq!(
        contact.verification.as_ref().map(|v| v.level),
        Some(pb::VerificationLevel::Verified as i32)
    );

    // Ann (first in line) rejects, Cy accepts, then warm-transfers to tier 2, where Bo accepts.
    let offer = ann.offer().await;
    ann.reject(&offer, "on a break").await;
    let offer = cy.offer().await;
    cy.accept(&offer).await;
    m.routing
        .transfer(pb::TransferRequest {
            tenant_id: t.clone(),
            contact_id: contact.contact_id.clone(),
            from_agent_id: "t1-cy".into(),
            target: to_tier(2),
            mode: pb::TransferMode::Warm as i32,
            handover: handover("charged twice, refund needs tier 2", ""),
            idempotency_key: key(),
        })
        .await
        .expect("warm transfer");
    let offer = bo.offer().await;
    bo.accept(&offer).await;

    // A second contact for a tier nobody serves: it waits.
    m.routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Chat as i32,
            tier: 3,
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("second contact starts");

    open_as_agent(&mut m.routing, &t, "t2-bo", &offer.token)
        .await
        .expect("the token opens");
    let mut tampered = offer.token.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    open_as_agent(&mut m.routing, &t, "t2-bo", &tampered)
        .await
        .expect_err("a tampered token is refused");

    let scrape = get(m.metrics_addr(), "/metrics").await;
    assert_eq!(scrape.status, "HTTP/1.1 200 OK");
    assert_eq!(
        scrape.headers.get("content-type").map(String::as_str),
        Some("text/plain; version=0.0.4")
    );
    let samples = parse(&scrape.body);
    let text = &scrape.body;
    let expect = |name: &str, labels: &[(&str, &str)], want: f64| {
        assert_eq!(
            value(&samples, name, labels),
            Some(want),
            "{name} {labels:?}\n{text}"
        );
    };

    // Per call, from the server layer of every service.
    let routing = ("rpc_service", "baton.v1.RoutingService");
    let ok = ("rpc_grpc_status_code", "0");
    let grpc = ("rpc_system", "grpc");
    let requests = "rpc_server_requests_total";
    expect(
        requests,
        &[grpc, routing, ("rpc_method", "StartContact"), ok],
        2.0,
    );
    expect(requests, &[routing, ("rpc_method", "Transfer"), ok], 1.0);
    expect(requests, &[routing, ("rpc_method", "OpenToken"), ok], 1.0);
    expect(
        requests,
        &[
            routing,
            ("rpc_method", "OpenToken"),
            ("rpc_grpc_status_code", "16"),
        ],
        1.0,
    );
    expect(
        "rpc_server_call_duration_seconds_count",
        &[grpc, routing, ("rpc_method", "StartContact"), ok],
        2.0,
    );
    let resolved = value(
        &samples,
        requests,
        &[
            ("rpc_service", "baton.v1.IdentityService"),
            ("rpc_method", "Resolve"),
            ok,
        ],
    );
    assert!(
        resolved.is_some_and(|n| n >= 1.0),
        "identity is measured too\n{text}"
    );

    // Routing's own.
    let offers = "baton_routing_offers_total";
    expect(offers, &[("outcome", "offered")], 3.0);
    expect(offers, &[("outcome", "rejected")], 1.0);
    expect(offers, &[("outcome", "accepted")], 2.0);
    assert_eq!(value(&samples, offers, &[("outcome", "timed_out")]), None);
    expect(
        "baton_routing_queue_wait_seconds_count",
        &[("tier", "1")],
        1.0,
    );
    expect(
        "baton_routing_queue_wait_seconds_count",
        &[("tier", "2")],
        1.0,
    );
    expect("baton_routing_queue_depth", &[("tier", "1")], 0.0);
    expect("baton_routing_queue_depth", &[("tier", "2")], 0.0);
    expect("baton_routing_queue_depth", &[("tier", "3")], 1.0);
    expect("baton_routing_transfers_total", &[("kind", "warm")], 1.0);
    expect(
        "baton_routing_reidentifications_avoided_total",
        &[("kind", "warm")],
        1.0,
    );
    expect("baton_routing_tokens_opened_total", &[], 1.0);
    expect(
        "baton_routing_tokens_refused_total",
        &[("reason", "seal")],
        1.0,
    );
    expect("baton_telemetry_spans_dropped_total", &[], 0.0);
    expect("target_info", &[("service_name", "baton")], 1.0);

    // Ids and personal data are never labels.
    for forbidden in [t.as_str(), contact.contact_id.as_str(), "metrics-1"] {
        assert!(!text.contains(forbidden), "{forbidden} in\n{text}");
    }

    let other = get(m.metrics_addr(), "/").await;
    assert_eq!(other.status, "HTTP/1.1 404 Not Found");
    m.stop().await;
}
