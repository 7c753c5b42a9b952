//! The store conformance suite on a three-master Redis Cluster, as the Redis store's own tests
//! run it on one `redis-server`.

use baton_context::{RedisContextStore, conformance};
use baton_store::redis_db::{RedisCluster, RedisDb};

async fn open(cluster: &RedisCluster) -> RedisContextStore {
    let db = RedisDb::connect_with(&cluster.url(), "context", &RedisCluster::options())
        .await
        .expect("connect to the cluster");
    RedisContextStore::new(db)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_cluster_store_passes_the_conformance_suite() {
    let cluster = RedisCluster::start();
    conformance::run_all(|| open(&cluster)).await;
}
