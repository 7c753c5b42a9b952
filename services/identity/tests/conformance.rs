//! The store conformance suite on every backend: the embedded redb store, Redis on a
//! throwaway `redis-server` per test, and a throwaway three-master Redis Cluster per test. The Redis tests never skip: without `redis-server` they
//! fail and say how to install it.

/// One test per conformance check, each on a fresh store from `$fresh` (an async fn returning
/// what must stay alive for the test, and the store). Expanded in a module that imports
/// `baton_identity::conformance`.
macro_rules! conformance_suite {
    ($fresh:path) => {
        conformance_suite!(
            $fresh;
            primitives_round_trip,
            writes_are_visible_inside_their_transaction,
            failed_write_leaves_nothing,
            idempotent_answers_are_remembered,
            a_key_reused_for_another_request_is_refused,
            keys_of_different_callers_are_independent,
            tenants_are_isolated,
            answers_naming_a_customer_are_forgotten,
            concurrent_resolves_create_one_customer,
            merge_unmerge_and_forget,
            fuzzy_index_primitives,
            unmerge_restores_records_and_the_fuzzy_index_exactly,
            rebuilding_the_index_files_every_profile_again,
        );

        #[tokio::test]
        async fn reads_before_any_write_see_nothing() {
            let (_keep, store) = $fresh().await;
            let identity = baton_identity::Identity::new(store);
            let err = identity
                .profile("t1", "cus_nobody")
                .await
                .expect_err("empty store");
            assert!(matches!(err, baton_identity::Error::CustomerNotFound(_)));
        }
    };
    ($fresh:path; $($check:ident),+ $(,)?) => {
        $(
            // Several workers, so that the concurrency checks really run in parallel.
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                let (_keep, store) = $fresh().await;
                conformance::$check(&store).await;
            }
        )+
    };
}

mod embedded {
    use baton_identity::{EmbeddedIdentityStore, conformance, open_embedded};
    use tempfile::TempDir;

    async fn fresh() -> (TempDir, EmbeddedIdentityStore) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = open_embedded(dir.path()).expect("open");
        (dir, store)
    }

    conformance_suite!(fresh);

    #[tokio::test]
    async fn data_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        conformance::data_survives_reopening(|| open_embedded(dir.path()).expect("open")).await;
    }
}

mod redis_cluster {
    use baton_identity::{RedisIdentityStore, conformance};
    use baton_store::redis_db::{RedisCluster, RedisDb};

    async fn fresh() -> (RedisCluster, RedisIdentityStore) {
        let cluster = RedisCluster::start();
        let db = RedisDb::connect_with(&cluster.url(), "identity", &RedisCluster::options())
            .await
            .expect("connect to the cluster");
        (cluster, RedisIdentityStore::new(db))
    }

    conformance_suite!(fresh);
}

mod redis {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    use baton_identity::{Identity, IdentityStore, RedisIdentityStore, conformance, open_redis};
    use baton_proto::v1::Profile;
    use baton_store::{redis, redis_db::RedisServer};
    use tokio::runtime::Handle;

    async fn fresh() -> (RedisServer, RedisIdentityStore) {
        let server = RedisServer::start();
        let store = open_redis(&server.url()).await.expect("connect");
        (server, store)
    }

    conformance_suite!(fresh);

    fn profile(id: &str, revision: u64) -> Profile {
        Profile {
            customer_id: id.to_owned(),
            tenant_id: "t1".to_owned(),
            revision,
            ..Default::default()
        }
    }

    /// Puts `profiles` in one transaction of `store`.
    async fn put(store: &RedisIdentityStore, profiles: Vec<Profile>) {
        store
            .write("t1", None, move |txn| {
                for p in &profiles {
                    txn.put_profile(p)?;
                }
                Ok(Profile::default())
            })
            .await
            .expect("put");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn data_survives_reopening() {
        let server = RedisServer::start();
        let url = server.url();
        // Each call opens a new connection; the suite's `open` is synchronous.
        conformance::data_survives_reopening(|| {
            tokio::task::block_in_place(|| Handle::current().block_on(open_redis(&url)))
                .expect("connect")
        })
        .await;
    }

    #[tokio::test]
    async fn an_acknowledged_write_survives_a_crash() {
        let mut server = RedisServer::start();
        let resolve = |key: &str| {
            let raw = baton_proto::v1::Identifier {
                kind: baton_proto::v1::IdentifierKind::Phone as i32,
                value: "+1 201 555 0177".to_owned(),
                assurance: baton_proto::v1::IdentifierAssurance::Observed as i32,
                ..Default::default()
            };
            baton_identity::domain::ResolveCommand {
                tenant: "t1".to_owned(),
                identifiers: vec![baton_identity::normalize::identifier(&raw).expect("valid")],
                traits: None,
                channel: baton_proto::v1::Channel::Voice,
                lookup_only: false,
                proofs: Vec::new(),
                idempotency_key: key.to_owned(),
            }
        };
        let digest = |key: &str| conformance::digest_of(&resolve(key));
        let created = {
            let identity = Identity::new(open_redis(&server.url()).await.expect("connect"));
            identity
                .resolve(resolve("k"), digest("k"))
                .await
                .expect("resolve")
        };
        server.crash_and_restart();
        let identity = Identity::new(open_redis(&server.url()).await.expect("reconnect"));
        let stored = identity
            .profile("t1", &created.customer_id)
            .await
            .expect("profile after the crash");
        assert_eq!(stored.identifiers.len(), 1);
        let retried = identity
            .resolve(resolve("k"), digest("k"))
            .await
            .expect("retry");
        assert_eq!(retried, created, "remembered answer lost in the crash");
        let other_key = identity
            .resolve(resolve("k2"), digest("k2"))
            .await
            .expect("lookup");
        assert_eq!(
            other_key.customer_id, created.customer_id,
            "index entry lost in the crash"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_loses_a_race_runs_again_on_fresh_state() {
        let (_server, store) = fresh().await;
        put(&store, vec![profile("c1", 1)]).await;
        let runs = Arc::new(AtomicUsize::new(0));
        let (rival, handle, counter) = (store.clone(), Handle::current(), Arc::clone(&runs));
        let answer = store
            .write("t1", None, move |txn| {
                let seen = txn.profile("c1")?.map_or(0, |p| p.revision);
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    // Another writer commits after this transaction read.
                    handle.block_on(put(&rival, vec![profile("c1", 10)]));
                }
                txn.put_profile(&profile("c1", seen + 1))?;
                Ok(profile("c1", seen + 1))
            })
            .await
            .expect("write");
        assert_eq!(runs.load(Ordering::SeqCst), 2, "the stale run committed");
        assert_eq!(
            answer.revision, 11,
            "the rerun did not see the rival's write"
        );
        let stored = store
            .read("t1", |view| Ok(view.profile("c1")?.map(|p| p.revision)))
            .await
            .expect("read");
        assert_eq!(stored, Some(11));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_to_other_customers_of_the_tenant_do_not_conflict() {
        let (_server, store) = fresh().await;
        put(&store, vec![profile("c1", 1), profile("c2", 1)]).await;
        let runs = Arc::new(AtomicUsize::new(0));
        let (rival, handle, counter) = (store.clone(), Handle::current(), Arc::clone(&runs));
        let answer = store
            .write("t1", None, move |txn| {
                let seen = txn.profile("c1")?.map_or(0, |p| p.revision);
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    // Another writer commits to another customer of the same tenant.
                    handle.block_on(put(&rival, vec![profile("c2", 10)]));
                }
                txn.put_profile(&profile("c1", seen + 1))?;
                Ok(profile("c1", seen + 1))
            })
            .await
            .expect("write");
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "an unrelated write forced a rerun"
        );
        assert_eq!(answer.revision, 2);
        let stored = store
            .read("t1", |view| {
                Ok((
                    view.profile("c1")?.map(|p| p.revision),
                    view.profile("c2")?.map(|p| p.revision),
                ))
            })
            .await
            .expect("read");
        assert_eq!(stored, (Some(2), Some(10)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_overtaken_by_a_write_runs_again() {
        let (_server, store) = fresh().await;
        put(&store, vec![profile("c1", 1), profile("c2", 1)]).await;
        let runs = Arc::new(AtomicUsize::new(0));
        let (rival, handle, counter) = (store.clone(), Handle::current(), Arc::clone(&runs));
        let seen = store
            .read("t1", move |view| {
                let first = view.profile("c1")?.map(|p| p.revision);
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    // Both change between the two reads of the first run.
                    handle.block_on(put(&rival, vec![profile("c1", 2), profile("c2", 2)]));
                }
                Ok((first, view.profile("c2")?.map(|p| p.revision)))
            })
            .await
            .expect("read");
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        assert_eq!(seen, (Some(2), Some(2)), "a torn read was returned");
    }

    #[tokio::test]
    async fn every_key_of_a_tenant_carries_its_hash_tag() {
        let (server, store) = fresh().await;
        conformance::merge_unmerge_and_forget(&store).await;
        put(&store, vec![profile("c1", 1)]).await;
        let client = redis::Client::open(server.url()).expect("url");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut conn)
            .await
            .expect("keys");
        assert!(keys.len() > 5, "{keys:?}");
        for key in keys {
            assert!(key.starts_with("baton:identity:{t1}:"), "{key}");
        }
    }
}
