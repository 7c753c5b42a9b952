//! `make demo` against a mesh started as `make run` starts it: the demo finds the development
//! credentials in the data directory and walks every journey, authenticated.

use baton::{config::ServiceName, demo};
use baton_tests::{Stores, TestMesh};

#[tokio::test]
async fn the_demo_runs_every_journey_with_the_development_credentials() {
    let stores = Stores::embedded();
    let m = TestMesh::start_with(stores.config()).await;
    let config = demo::DemoConfig {
        routing_url: m.url(ServiceName::Routing),
        identity_url: m.url(ServiceName::Identity),
        context_url: m.url(ServiceName::Context),
        token: None,
        data_dir: m.config.data_dir.clone(),
    };
    let mut out = Vec::new();
    demo::run(&config, &mut out).await.expect("the demo runs");
    let told = String::from_utf8(out).expect("text");
    assert!(told.starts_with("baton demo (tenant "), "{told}");

    let elsewhere = demo::DemoConfig {
        data_dir: m.config.data_dir.join("nowhere"),
        ..config
    };
    let err = demo::run(&elsewhere, &mut Vec::new())
        .await
        .expect_err("no credentials there");
    assert!(err.to_string().contains("--token"), "{err}");
    m.stop().await;
}
