use super::*;
use crate::redis_db::{RedisDb, RedisOptions, RedisServer};

const ALLOW_WEAK: RedisOptions = RedisOptions {
    password_file: None,
    ca_file: None,
    client_cert_file: None,
    client_key_file: None,
    allow_weak_durability: true,
    cluster: false,
};

async fn refusal(server: &RedisServer) -> String {
    let err = RedisDb::connect(&server.url(), "test")
        .await
        .expect_err("weak durability is refused");
    assert!(matches!(err, StoreError::Config(_)), "{err}");
    err.to_string()
}

#[test]
fn settings_are_judged_by_file_and_fsync_policy() {
    let config = |on: &str, fsync: &str| {
        from_config(&HashMap::from([
            ("appendonly".to_owned(), on.to_owned()),
            ("appendfsync".to_owned(), fsync.to_owned()),
        ]))
    };
    assert_eq!(config("yes", "always"), Durability::Strong);
    assert_eq!(
        config("yes", "everysec"),
        Durability::Weak("appendfsync everysec".into())
    );
    assert_eq!(
        config("no", "always"),
        Durability::Weak("appendonly no".into())
    );
    assert!(matches!(
        from_config(&HashMap::new()),
        Durability::Unknown(_)
    ));
    assert_eq!(
        from_info("# Persistence\r\nloading:0\r\naof_enabled:1\r\n"),
        Durability::FsyncUnknown
    );
    assert_eq!(
        from_info("aof_enabled:0\r\n"),
        Durability::Weak("appendonly no".into())
    );
    assert!(matches!(from_info("loading:0\r\n"), Durability::Unknown(_)));
}

#[tokio::test]
async fn a_server_without_an_append_only_file_is_refused() {
    let server = RedisServer::builder().appendonly("no").start();
    let message = refusal(&server).await;
    assert!(
        message.contains(&format!(
            "redis at {} has appendonly no: acknowledged writes could be lost on a crash; \
             set appendonly yes and appendfsync always, or pass --redis-allow-weak-durability",
            server.address()
        )),
        "{message}"
    );
}

#[tokio::test]
async fn a_server_fsyncing_once_a_second_is_refused() {
    let server = RedisServer::builder().appendfsync("everysec").start();
    let message = refusal(&server).await;
    assert!(
        message.contains(&format!(
            "redis at {} has appendfsync everysec",
            server.address()
        )),
        "{message}"
    );
}

#[tokio::test]
async fn weak_durability_starts_when_allowed() {
    for server in [
        RedisServer::builder().appendonly("no").start(),
        RedisServer::builder().appendfsync("everysec").start(),
    ] {
        let db = RedisDb::connect_with(&server.url(), "test", &ALLOW_WEAK)
            .await
            .expect("allowed");
        assert!(matches!(
            inspect(&mut db.conn()).await.expect("inspect"),
            Durability::Weak(_)
        ));
    }
}

#[tokio::test]
async fn with_config_renamed_the_append_only_file_is_checked_through_info() {
    let renamed = ["--rename-command", "CONFIG", ""];
    let server = RedisServer::builder().args(&renamed).start();
    let db = RedisDb::connect(&server.url(), "test")
        .await
        .expect("starts, with a warning");
    assert_eq!(
        inspect(&mut db.conn()).await.expect("inspect"),
        Durability::FsyncUnknown
    );

    let server = RedisServer::builder()
        .appendonly("no")
        .args(&renamed)
        .start();
    assert!(refusal(&server).await.contains("has appendonly no"));
}

/// A server whose user `baton` may run everything but `denied`.
fn server_denying(denied: &[&str]) -> RedisServer {
    let mut rules = vec!["--user", "baton", "on", ">pw", "~*", "&*", "+@all"];
    rules.extend(denied);
    RedisServer::builder().args(&rules).start()
}

fn as_baton(server: &RedisServer) -> String {
    server.url().replace("redis://", "redis://baton:pw@")
}

#[tokio::test]
async fn a_user_not_allowed_config_is_checked_through_info() {
    let server = server_denying(&["-config"]);
    let db = RedisDb::connect(&as_baton(&server), "test")
        .await
        .expect("starts, with a warning");
    assert_eq!(
        inspect(&mut db.conn()).await.expect("inspect"),
        Durability::FsyncUnknown
    );
}

#[tokio::test]
async fn a_user_allowed_neither_config_nor_info_starts_only_when_weak_durability_is_allowed() {
    let server = server_denying(&["-config", "-info"]);
    let err = RedisDb::connect(&as_baton(&server), "test")
        .await
        .expect_err("durability unknown");
    assert!(
        err.to_string()
            .contains("answers neither CONFIG GET nor INFO persistence"),
        "{err}"
    );
    RedisDb::connect_with(&as_baton(&server), "test", &ALLOW_WEAK)
        .await
        .expect("allowed");
}
