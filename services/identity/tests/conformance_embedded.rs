//! The store conformance suite on the embedded redb backend.

use baton_identity::{EmbeddedIdentityStore, conformance, open_embedded};
use tempfile::TempDir;

fn fresh() -> (TempDir, EmbeddedIdentityStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_embedded(dir.path()).expect("open");
    (dir, store)
}

#[tokio::test]
async fn primitives_round_trip() {
    let (_dir, store) = fresh();
    conformance::primitives_round_trip(&store).await;
}

#[tokio::test]
async fn failed_write_leaves_nothing() {
    let (_dir, store) = fresh();
    conformance::failed_write_leaves_nothing(&store).await;
}

#[tokio::test]
async fn idempotent_answers_are_remembered() {
    let (_dir, store) = fresh();
    conformance::idempotent_answers_are_remembered(&store).await;
}

#[tokio::test]
async fn tenants_are_isolated() {
    let (_dir, store) = fresh();
    conformance::tenants_are_isolated(&store).await;
}

#[tokio::test]
async fn answers_naming_a_customer_are_forgotten() {
    let (_dir, store) = fresh();
    conformance::answers_naming_a_customer_are_forgotten(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_resolves_create_one_customer() {
    let (_dir, store) = fresh();
    conformance::concurrent_resolves_create_one_customer(&store).await;
}

#[tokio::test]
async fn merge_unmerge_and_forget() {
    let (_dir, store) = fresh();
    conformance::merge_unmerge_and_forget(&store).await;
}

#[tokio::test]
async fn data_survives_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    conformance::data_survives_reopening(|| open_embedded(dir.path()).expect("open")).await;
}

#[tokio::test]
async fn reads_before_any_write_see_nothing() {
    let (_dir, store) = fresh();
    let identity = baton_identity::Identity::new(store);
    let err = identity
        .profile("t1", "cus_nobody")
        .await
        .expect_err("empty store");
    assert!(matches!(err, baton_identity::Error::CustomerNotFound(_)));
}
