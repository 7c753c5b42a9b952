//! A `dns:///` dependency spreads calls over every address its name resolves to.

use std::{collections::BTreeSet, net::SocketAddr, sync::Arc, time::Duration};

use baton_runtime::client::{ClientConfig, Resolver, balanced};
use tokio::{net::TcpListener, sync::Mutex};
use tokio_stream::wrappers::TcpListenerStream;
use tonic_health::{
    ServingStatus,
    pb::{HealthCheckRequest, health_client::HealthClient},
};

/// Two "pods" that tell themselves apart by the status they report for one probe name.
async fn pod(status: ServingStatus) -> SocketAddr {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_service_status("pod", status).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    addr
}

/// Answers with whatever the test put in.
#[derive(Clone)]
struct Fixed(Arc<Mutex<Vec<SocketAddr>>>);

impl Resolver for Fixed {
    async fn resolve(&self, _host: &str, _port: u16) -> std::io::Result<Vec<SocketAddr>> {
        Ok(self.0.lock().await.clone())
    }
}

async fn statuses_seen(
    client: &mut HealthClient<tonic::transport::Channel>,
    calls: usize,
) -> BTreeSet<i32> {
    let mut seen = BTreeSet::new();
    for _ in 0..calls {
        if let Ok(answer) = client
            .check(HealthCheckRequest {
                service: "pod".into(),
            })
            .await
        {
            seen.insert(answer.into_inner().status);
        }
    }
    seen
}

#[tokio::test]
async fn calls_reach_every_resolved_address_and_follow_changes() {
    let a = pod(ServingStatus::Serving).await;
    let b = pod(ServingStatus::NotServing).await;
    let addrs = Arc::new(Mutex::new(vec![a, b]));
    let config = ClientConfig {
        resolve_interval_secs: 1,
        ..ClientConfig::default()
    };
    let channel = balanced("pods".into(), 0, &config, Fixed(addrs.clone()));
    let mut client = HealthClient::new(channel);

    // The balancer learns its endpoints asynchronously; give it a bounded number of tries.
    let mut seen = BTreeSet::new();
    for _ in 0..50 {
        seen.extend(statuses_seen(&mut client, 20).await);
        if seen.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(seen.len(), 2, "both pods answered: {seen:?}");

    // Pod b goes away from DNS: after the next resolution only pod a answers.
    *addrs.lock().await = vec![a];
    let mut only_a = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if statuses_seen(&mut client, 20).await == BTreeSet::from([ServingStatus::Serving as i32]) {
            only_a = true;
            break;
        }
    }
    assert!(only_a, "the removed pod stopped receiving calls");
}
