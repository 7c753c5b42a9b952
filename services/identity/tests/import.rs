//! ImportProfiles over real gRPC, for what the journeys cannot easily show: a stream open
//! when the process begins stopping ends with UNAVAILABLE saying what committed,
//! TrainMatcher validates before it trains, and RebuildIndex streams its progress to the end
//! (or says it was stopped).

use std::sync::Arc;

use baton_auth::{AssumeLayer, Principal};
use baton_identity::{EmbeddedIdentityStore, IdentityStore};
use baton_proto::v1::{
    Identifier, IdentifierKind, ImportProfilesRequest, ProfileRecord, RebuildIndexRequest,
    ResolveDecision, ResolveRequest, TrainMatcherRequest,
    identity_service_client::IdentityServiceClient,
};
use baton_runtime::shutdown::Shutdown;
use tokio::{net::TcpListener, sync::mpsc};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::Code;

/// A server whose calls all come from the test principal, and its stop signal.
async fn serve(dir: &std::path::Path) -> (String, Shutdown) {
    let store = baton_identity::open_embedded(dir).expect("open store");
    let shutdown = Shutdown::new();
    let svc = baton_identity::grpc_service(store, Default::default(), shutdown.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .layer(AssumeLayer(Arc::new(Principal::for_tests())))
            .add_service(svc)
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .expect("serve");
    });
    (format!("http://{addr}"), shutdown)
}

fn records(from: u32, n: u32) -> Vec<ProfileRecord> {
    (from..from + n)
        .map(|i| ProfileRecord {
            external_id: format!("crm-{i}"),
            source: "crm".into(),
            ..Default::default()
        })
        .collect()
}

#[tokio::test]
async fn an_import_open_at_shutdown_ends_unavailable_saying_what_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, shutdown) = serve(dir.path()).await;
    let mut client = IdentityServiceClient::connect(url).await.expect("connect");
    let (tx, rx) = mpsc::channel(4);
    let mut watcher = client.clone();
    let call = tokio::spawn(async move { client.import_profiles(ReceiverStream::new(rx)).await });
    // Two full batches, then the stream stays open.
    let batch = <EmbeddedIdentityStore as IdentityStore>::IMPORT_BATCH as u32;
    let total = 2 * batch;
    for start in (0..total).step_by(500) {
        tx.send(ImportProfilesRequest {
            tenant_id: if start == 0 {
                "acme".into()
            } else {
                String::new()
            },
            records: records(start, 500.min(total - start)),
        })
        .await
        .expect("sent");
    }
    // Once the last record sent is on file, stop the server while the stream is still open.
    let last = Identifier {
        kind: IdentifierKind::CrmId as i32,
        value: format!("crm-{}", total - 1),
        namespace: "crm".into(),
        ..Default::default()
    };
    let committed = async {
        loop {
            let found = watcher
                .resolve(ResolveRequest {
                    tenant_id: "acme".into(),
                    identifiers: vec![last.clone()],
                    lookup_only: true,
                    ..Default::default()
                })
                .await
                .expect("resolves")
                .into_inner();
            if found.decision == ResolveDecision::Matched as i32 {
                return;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), committed)
        .await
        .expect("both batches commit");
    shutdown.trigger();
    let status = call
        .await
        .expect("joined")
        .expect_err("stopped before the stream ended");
    drop(tx);
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains(&format!(
            "{total} records were committed before the import stopped"
        )),
        "{status:?}"
    );
}

#[tokio::test]
async fn training_validates_its_request_before_the_domain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, _shutdown) = serve(dir.path()).await;
    let mut client = IdentityServiceClient::connect(url).await.expect("connect");
    let status = client
        .train_matcher(TrainMatcherRequest {
            tenant_id: "acme".into(),
            max_pairs: u32::MAX,
        })
        .await
        .expect_err("too many pairs");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("max_pairs"), "{status:?}");
}

#[tokio::test]
async fn a_rebuild_streams_its_progress_and_a_stopped_one_says_to_run_it_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, shutdown) = serve(dir.path()).await;
    let mut client = IdentityServiceClient::connect(url).await.expect("connect");
    let total = 1_200;
    let requests: Vec<ImportProfilesRequest> = (0..total)
        .step_by(500)
        .map(|start| ImportProfilesRequest {
            tenant_id: "acme".into(),
            records: records(start, 500.min(total - start)),
        })
        .collect();
    client
        .import_profiles(tokio_stream::iter(requests))
        .await
        .expect("imported");
    let rebuild = || RebuildIndexRequest {
        tenant_id: "acme".into(),
    };
    let mut stream = client
        .rebuild_index(rebuild())
        .await
        .expect("rebuilds")
        .into_inner();
    let mut seen = Vec::new();
    while let Some(p) = stream.message().await.expect("progress") {
        seen.push(p);
    }
    let last = seen.last().expect("some progress");
    assert!(last.done, "{seen:?}");
    assert_eq!(
        (last.profiles_filed, last.profiles_total),
        (u64::from(total), u64::from(total))
    );
    assert!(seen.len() >= 3, "progress comes batch by batch: {seen:?}");
    assert!(
        seen.windows(2)
            .all(|w| w[0].profiles_filed <= w[1].profiles_filed),
        "{seen:?}"
    );

    shutdown.trigger();
    let mut stream = client
        .rebuild_index(rebuild())
        .await
        .expect("answers")
        .into_inner();
    let status = loop {
        match stream.message().await {
            Ok(Some(p)) => assert!(!p.done, "a stopping service finishes no rebuild: {p:?}"),
            Ok(None) => panic!("the stream ended without saying the rebuild stopped"),
            Err(status) => break status,
        }
    };
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(status.message().contains("run it again"), "{status:?}");
}
