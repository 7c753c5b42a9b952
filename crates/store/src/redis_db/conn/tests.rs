//! The store's plumbing on a three-master Redis Cluster.

use crate::{
    StoreError, redis,
    redis_db::{CLUSTER_MASTERS, Commit, RedisCluster, RedisDb, Writes},
};

async fn db(cluster: &RedisCluster) -> RedisDb {
    RedisDb::connect_with(&cluster.url(), "test", &RedisCluster::options())
        .await
        .expect("connect to the cluster")
}

/// The slot of `key`, as the cluster computes it.
async fn slot(db: &RedisDb, key: &str) -> u16 {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut db.conn())
        .await
        .expect("keyslot")
}

/// How many keys the node at `url` holds itself.
async fn keys_on(url: &str) -> u64 {
    let client = redis::Client::open(url).expect("client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to one node");
    redis::cmd("DBSIZE")
        .query_async(&mut conn)
        .await
        .expect("dbsize")
}

/// Groups whose keys, between them, land on every master.
fn groups() -> Vec<String> {
    (0..48).map(|n| format!("t{n}")).collect()
}

#[tokio::test]
async fn a_commit_on_a_cluster_applies_every_write_or_none() {
    let cluster = RedisCluster::start();
    let db = db(&cluster).await;
    assert!(db.is_cluster());
    for group in groups() {
        let guard = db.key(&group, &["version"]);
        let (a, h, z) = (
            db.key(&group, &["a"]),
            db.key(&group, &["h"]),
            db.key(&group, &["z"]),
        );
        let mut w = Writes::new();
        w.set(&a, b"1").hset(&h, b"f", b"v").zadd(&z, 2.5, b"m");
        assert_eq!(
            db.commit(&guard, 0, &w).await.expect("commit"),
            Commit::Done(1)
        );
        // A stale version changes nothing.
        let mut stale = Writes::new();
        stale.set(&a, b"stale").del(&h);
        assert_eq!(
            db.commit(&guard, 0, &stale).await.expect("commit"),
            Commit::Conflict
        );
        let (value, field, score): (Option<String>, Option<String>, f64) = redis::pipe()
            .atomic()
            .get(&a)
            .hget(&h, "f")
            .zscore(&z, "m")
            .query_async(&mut db.conn())
            .await
            .expect("read back");
        assert_eq!(value.as_deref(), Some("1"), "{group}");
        assert_eq!(field.as_deref(), Some("v"), "{group}");
        assert_eq!(score, 2.5);
        assert_eq!(db.version(&guard).await.expect("version"), 1);
    }
}

#[tokio::test]
async fn keys_of_one_group_land_in_one_slot() {
    let cluster = RedisCluster::start();
    let db = db(&cluster).await;
    let mut slots = std::collections::BTreeSet::new();
    for group in groups() {
        let guard = slot(&db, &db.key(&group, &["version"])).await;
        for parts in [
            &["events", "alice"][..],
            &["view", "bob"],
            &["append", "k\u{1f}x"],
        ] {
            assert_eq!(slot(&db, &db.key(&group, parts)).await, guard, "{group}");
        }
        slots.insert(guard);
    }
    assert!(slots.len() > 1, "different groups spread over slots");
}

#[tokio::test]
async fn one_seed_is_enough_to_reach_every_master() {
    let cluster = RedisCluster::start();
    let urls = cluster.node_urls();
    assert_eq!(urls.len(), CLUSTER_MASTERS);
    let db = RedisDb::connect_with(&urls[0], "test", &RedisCluster::options())
        .await
        .expect("connect through one seed");
    for group in groups() {
        let mut w = Writes::new();
        w.set(&db.key(&group, &["a"]), group.as_bytes());
        assert_eq!(
            db.commit(&db.key(&group, &["version"]), 0, &w)
                .await
                .expect("commit"),
            Commit::Done(1)
        );
    }
    for url in &urls {
        assert!(keys_on(url).await > 0, "{url} holds none of the keys");
    }
    // A scan walks every master, not only the one it reaches first.
    let mut found = db.scan("baton:test:*:a", 100).await.expect("scan");
    let mut expected: Vec<String> = groups().iter().map(|g| db.key(g, &["a"])).collect();
    found.sort();
    expected.sort();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn every_master_must_fsync_every_write() {
    let cluster = RedisCluster::start();
    let urls = cluster.node_urls();
    let client = redis::Client::open(urls[2].as_str()).expect("client");
    let mut weak = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to one node");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("appendfsync")
        .arg("everysec")
        .query_async(&mut weak)
        .await
        .expect("config set");
    let err = RedisDb::connect_with(&urls[0], "test", &RedisCluster::options())
        .await
        .expect_err("a weak master is refused");
    let port = urls[2]
        .trim_start_matches("redis://127.0.0.1:")
        .trim_end_matches('/');
    assert!(
        matches!(&err, StoreError::Config(m) if m.contains("appendfsync everysec") && m.contains(port)),
        "{err}"
    );
}

#[tokio::test]
async fn several_urls_without_the_cluster_option_are_refused() {
    let err = RedisDb::connect("redis://127.0.0.1:1/,redis://127.0.0.1:2/", "test")
        .await
        .expect_err("several servers are a cluster");
    assert!(
        matches!(&err, StoreError::Config(m) if m.contains("cluster")),
        "{err}"
    );
}

#[tokio::test]
async fn every_node_takes_the_password_from_the_file() {
    let cluster = RedisCluster::start_with_password("s3cret-cluster");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("password");
    let options = |password: &str| {
        std::fs::write(&file, format!("{password}\n")).expect("write password file");
        crate::redis_db::RedisOptions {
            password_file: Some(file.clone()),
            ..RedisCluster::options()
        }
    };
    let seed = &cluster.node_urls()[0];
    let err = RedisDb::connect_with(seed, "test", &options("wrong"))
        .await
        .expect_err("a wrong password is refused");
    assert!(
        matches!(&err, StoreError::Config(m) if m.contains("refused the password in")),
        "{err}"
    );
    // Without one, the cluster says that it needs one.
    let err = RedisDb::connect_with(seed, "test", &RedisCluster::options())
        .await
        .expect_err("no password");
    assert!(
        matches!(&err, StoreError::Config(m) if m.contains("requires a password")),
        "{err}"
    );

    let db = RedisDb::connect_with(seed, "test", &options("s3cret-cluster"))
        .await
        .expect("connect with the password file");
    // Groups on every master: the nodes found through the seed take the password too.
    for group in groups() {
        let mut w = Writes::new();
        w.set(&db.key(&group, &["a"]), b"1");
        assert_eq!(
            db.commit(&db.key(&group, &["version"]), 0, &w)
                .await
                .expect("commit"),
            Commit::Done(1)
        );
    }
}

#[tokio::test]
async fn wait_is_answered_by_the_master_of_the_commits_slot() {
    // Only the first master (slots 0 to 5460) has a replica: `WAIT 1` succeeds for a commit
    // there and only there, so each answer shows which master the `WAIT` reached.
    let cluster = RedisCluster::start_with_replica();
    let db = db(&cluster).await.wait_for_replicas(1);
    let (mut replicated, mut not) = (0, 0);
    // A few groups (each refused `WAIT` takes its whole timeout), on both kinds of master.
    for group in groups().into_iter().take(8) {
        let guard = db.key(&group, &["version"]);
        let mut w = Writes::new();
        w.set(&db.key(&group, &["a"]), b"1");
        let outcome = db.commit(&guard, 0, &w).await;
        if slot(&db, &guard).await <= 5460 {
            outcome.expect("the first master's replica acknowledges");
            replicated += 1;
        } else {
            let err = outcome.expect_err("no replica of this master");
            assert!(err.to_string().contains("only 0 of 1"), "{group}: {err}");
            not += 1;
        }
    }
    assert!(replicated > 0 && not > 0, "{replicated} and {not}");
}
