//! The store conformance suite on both backends (Redis as one server and as a three-master
//! Redis Cluster), and durability: across reopening the embedded store, and across a crash of
//! the Redis server.

use baton_proto::v1::{CatalogItem, OfferOutcome, OfferRecord, PurchaseStatus};
use baton_recommendation::conformance::{self, CHECKS, sent};
use baton_recommendation::{
    RecommendationStore, RedisRecommendationStore, open_embedded, open_redis,
};
use baton_store::redis_db::{RedisCluster, RedisDb, RedisServer};

macro_rules! checks {
    ($($name:ident),* $(,)?) => {
        /// Each check on a fresh data directory.
        mod embedded {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let store = open_embedded(dir.path()).expect("open");
                    conformance::run(stringify!($name), &store).await;
                }
            )*
        }

        /// Each check on a fresh `redis-server` of its own.
        mod redis {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let server = RedisServer::start();
                    let store = open_redis(&server.url()).await.expect("connect");
                    conformance::run(stringify!($name), &store).await;
                }
            )*
        }

        /// Each check on a fresh three-master Redis Cluster of its own.
        mod redis_cluster {
            use super::*;
            $(
                #[tokio::test]
                async fn $name() {
                    let cluster = RedisCluster::start();
                    let db = RedisDb::connect_with(
                        &cluster.url(),
                        "recommendation",
                        &RedisCluster::options(),
                    )
                    .await
                    .expect("connect to the cluster");
                    let store = RedisRecommendationStore::new(db);
                    conformance::run(stringify!($name), &store).await;
                }
            )*
        }

        #[test]
        fn every_conformance_check_runs() {
            assert_eq!([$(stringify!($name)),*].as_slice(), CHECKS);
        }
    };
}

checks!(
    catalog_upserts_are_idempotent_and_readable,
    catalog_sample_skips_inactive_items,
    articles_and_synonyms_move_the_corpus_version,
    purchases_teach_owned_sets_and_the_log,
    repeat_and_returned_purchases_teach_nothing,
    outcomes_apply_once_per_idempotency_key,
    a_key_reused_for_another_request_is_refused,
    keys_of_different_callers_are_independent,
    an_outcome_key_is_the_tenants,
    the_latest_offer_answer_wins,
    forgetting_removes_every_personal_record,
    tenants_never_see_each_other,
    concurrent_purchases_each_teach_once,
    ownership_is_asked_product_by_product,
    a_return_unlearns_what_its_purchase_taught,
    confirmed_reasons_are_logged_once_in_order_and_forgotten_with_their_customer,
    action_rules_are_replaced_whole,
    offer_inputs_are_read_together,
);

/// The catalog [`write_everything`] writes.
fn catalog() -> Vec<CatalogItem> {
    vec![CatalogItem {
        product_id: "shoes".into(),
        name: "Trail shoes".into(),
        active: true,
        ..Default::default()
    }]
}

/// Writes one of everything the store keeps, each write acknowledged.
async fn write_everything<S: RecommendationStore>(store: &S) {
    store
        .upsert_catalog("t", "cat", &sent("cat"), catalog())
        .await
        .expect("catalog");
    let article = baton_proto::v1::Article {
        article_id: "kb".into(),
        title: "Kettle care".into(),
        ..Default::default()
    };
    store
        .upsert_articles("t", "art", &sent("art"), vec![article])
        .await
        .expect("articles");
    for (customer, product) in [("c1", "shoes"), ("c1", "socks")] {
        store
            .record_purchase(
                "t",
                customer,
                &format!("{customer}-{product}"),
                &sent(&format!("{customer}-{product}")),
                conformance::purchase("o", product, PurchaseStatus::Ordered),
            )
            .await
            .expect("purchase");
    }
    store
        .record_offer_answer(
            "t",
            "c1",
            "ans",
            &sent("ans"),
            OfferRecord {
                offer_id: "of".into(),
                product_id: "gel".into(),
                outcome: OfferOutcome::Declined as i32,
                at: None,
            },
        )
        .await
        .expect("answer");
}

/// Checks that everything [`write_everything`] wrote is there, answers included.
async fn check_everything<S: RecommendationStore>(store: &S) {
    assert_eq!(
        store
            .catalog_items("t", vec!["shoes".into()])
            .await
            .expect("catalog")
            .len(),
        1
    );
    let corpus = store.article_corpus("t").await.expect("corpus");
    assert_eq!(corpus.articles.len(), 1);
    assert!(corpus.version > 0);
    let record = store.customer_record("t", "c1").await.expect("record");
    assert_eq!(record.offers.len(), 1);
    let owned = store
        .owned_among("t", "c1", vec!["shoes".into(), "socks".into()])
        .await
        .expect("owned");
    assert_eq!(owned.len(), 2);
    // Two purchases and the decline.
    let log = store.purchases_after("t", "", 10).await.expect("log");
    assert_eq!(log.entries.len(), 3);
    // A retry after the restart is still recognised.
    assert_eq!(
        store
            .upsert_catalog("t", "cat", &sent("cat"), catalog())
            .await
            .expect("retry"),
        1
    );
    // And so is the request it was bound to.
    let other = store
        .upsert_catalog("t", "cat", &sent("another catalog"), Vec::new())
        .await;
    assert!(
        matches!(other, Err(baton_store::StoreError::KeyReused { .. })),
        "{other:?}"
    );
}

#[tokio::test]
async fn everything_survives_reopening_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open_embedded(dir.path()).expect("open");
        write_everything(&store).await;
    }
    let store = open_embedded(dir.path()).expect("reopen");
    check_everything(&store).await;
}

#[tokio::test]
async fn acknowledged_writes_survive_a_redis_crash() {
    let mut server = RedisServer::start();
    {
        let store = open_redis(&server.url()).await.expect("connect");
        write_everything(&store).await;
    }
    // SIGKILL: nothing is flushed on the way down, so only what was fsynced before each
    // acknowledgement is there after the restart.
    server.crash_and_restart();
    let store = open_redis(&server.url()).await.expect("reconnect");
    check_everything(&store).await;
}
