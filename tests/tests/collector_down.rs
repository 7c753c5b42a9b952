//! A collector that accepts connections and never answers (the worst kind of down): the mesh
//! keeps serving, the export queue stays bounded and counts what it drops, and shutdown does
//! not wait for the collector longer than its bound.
//!
//! Its own test binary: the tracing subscriber and the drop count are process-wide.

use std::time::{Duration, Instant};

use baton_proto::v1::{self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind};
use baton_runtime::telemetry::{self, SHUTDOWN_TIMEOUT, TelemetryConfig};
use baton_tests::{PATIENCE, TestMesh, ident, key, otlp, tenant};

#[tokio::test(flavor = "multi_thread")]
async fn a_silent_collector_costs_calls_nothing_and_every_drop_is_counted() {
    let addr = otlp::black_hole().await;
    let guard = telemetry::init(
        "baton",
        &TelemetryConfig {
            otlp_endpoint: Some(format!("http://{addr}")),
            otlp_max_queue: 32,
            filter: Some("info".into()),
            ..TelemetryConfig::default()
        },
    )
    .expect("telemetry starts without a collector");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut m = TestMesh::start(dir.path()).await;
    let t = tenant();

    // Each start makes a couple of dozen spans: far more than the queue holds while the first
    // export hangs.
    let started = Instant::now();
    for n in 0..30 {
        let answer = tokio::time::timeout(
            PATIENCE,
            m.routing.start_contact(pb::StartContactRequest {
                tenant_id: t.clone(),
                channel: pb::Channel::Chat as i32,
                identifiers: vec![ident(
                    Kind::Login,
                    &format!("web|silent-{n}"),
                    Assurance::Verified,
                )],
                utterance: "where is my order".into(),
                self_service: true,
                idempotency_key: key(),
                ..Default::default()
            }),
        )
        .await
        .expect("a call never waits for the collector")
        .expect("the contact starts")
        .into_inner();
        assert!(!answer.partial, "nothing degrades: {n}");
    }
    assert!(
        started.elapsed() < PATIENCE,
        "30 starts took {:?}",
        started.elapsed()
    );
    let dropped = telemetry::spans_dropped();
    assert!(dropped > 0, "a full queue drops and counts");

    m.stop().await;
    let stopping = Instant::now();
    tokio::task::spawn_blocking(move || drop(guard))
        .await
        .expect("telemetry shuts down");
    assert!(
        stopping.elapsed() < SHUTDOWN_TIMEOUT + Duration::from_secs(2),
        "shutdown waited {:?} for a silent collector",
        stopping.elapsed()
    );
}
