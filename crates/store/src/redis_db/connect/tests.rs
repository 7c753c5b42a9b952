use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};

use super::*;
use crate::redis_db::{RedisDb, RedisServer, ServerTls};

/// A certificate authority made for one test (no key material is ever kept on disk beyond the
/// test's temporary directories).
struct Ca(CertifiedIssuer<'static, KeyPair>);

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("ca key");
        Self(CertifiedIssuer::self_signed(params, key).expect("ca certificate"))
    }

    fn pem(&self) -> String {
        self.0.pem()
    }

    /// A certificate for 127.0.0.1 signed by this CA, and its key, both PEM.
    fn issue(&self, usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let mut params = CertificateParams::new(names).expect("params");
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.0).expect("certificate");
        (cert.pem(), key.serialize_pem())
    }

    /// A server that serves TLS with a certificate of this CA.
    fn server(&self, client_ca: Option<&Ca>) -> RedisServer {
        let (cert, key) = self.issue(ExtendedKeyUsagePurpose::ServerAuth);
        RedisServer::builder()
            .tls(ServerTls {
                cert,
                key,
                client_ca: client_ca.map(Ca::pem),
            })
            .start()
    }
}

/// Files a test hands to the options, in a directory removed when the test ends.
struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Self {
        Self(tempfile::tempdir().expect("tempdir"))
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, contents).expect("write");
        path
    }
}

async fn ping(db: &RedisDb) -> String {
    redis::cmd("PING")
        .query_async(&mut db.conn())
        .await
        .expect("ping")
}

/// Checks that a subscriber of `db` connects as `db` did (password, TLS) and hears a publish.
async fn subscribes(db: &RedisDb) {
    use crate::redis_db::Heard;
    let channel = db.channel("check");
    let mut subscriber = db.subscriber(&channel);
    let wait = std::time::Duration::from_secs(10);
    let heard = tokio::time::timeout(wait, subscriber.next()).await;
    assert_eq!(heard.ok(), Some(Heard::Subscribed));
    let _: u64 = redis::cmd("PUBLISH")
        .arg(&channel)
        .arg("hello")
        .query_async(&mut db.conn())
        .await
        .expect("publish");
    let heard = tokio::time::timeout(wait, subscriber.next()).await;
    assert_eq!(heard.ok(), Some(Heard::Message(b"hello".to_vec())));
}

fn is_config(err: &StoreError) -> bool {
    matches!(err, StoreError::Config(_))
}

#[tokio::test]
async fn a_password_from_a_file_authenticates() {
    let server = RedisServer::builder().requirepass("correct horse").start();
    let files = Files::new();
    let options = RedisOptions {
        password_file: Some(files.write("password", "correct horse\n")),
        ..RedisOptions::default()
    };
    let db = RedisDb::connect_with(&server.url(), "test", &options)
        .await
        .expect("connects");
    assert_eq!(ping(&db).await, "PONG");
    subscribes(&db).await;
}

#[tokio::test]
async fn a_wrong_or_missing_password_is_refused_with_a_message_saying_so() {
    let server = RedisServer::builder().requirepass("correct horse").start();
    let files = Files::new();
    let file = files.write("password", "battery staple\n");
    let options = RedisOptions {
        password_file: Some(file.clone()),
        ..RedisOptions::default()
    };
    let err = RedisDb::connect_with(&server.url(), "test", &options)
        .await
        .expect_err("wrong password");
    let message = err.to_string();
    assert!(is_config(&err), "{message}");
    assert!(
        message.contains(&format!(
            "redis at {} refused the password in {}",
            server.address(),
            file.display()
        )),
        "{message}"
    );
    assert!(!message.contains("battery"), "{message}");

    let err = RedisDb::connect(&server.url(), "test")
        .await
        .expect_err("no password");
    assert!(is_config(&err), "{err}");
    assert!(err.to_string().contains("requires a password"), "{err}");
}

#[tokio::test]
async fn an_acl_user_named_in_the_url_authenticates_with_the_password_file() {
    let server = RedisServer::builder()
        .args(&["--user", "baton", "on", ">s3cret", "~*", "&*", "+@all"])
        .start();
    let files = Files::new();
    let options = RedisOptions {
        password_file: Some(files.write("password", "s3cret\r\n")),
        ..RedisOptions::default()
    };
    let url = server.url().replace("redis://", "redis://baton@");
    let db = RedisDb::connect_with(&url, "test", &options)
        .await
        .expect("connects");
    let user: String = redis::cmd("ACL")
        .arg("WHOAMI")
        .query_async(&mut db.conn())
        .await
        .expect("whoami");
    assert_eq!(user, "baton");

    let err = RedisDb::connect(&url, "test")
        .await
        .expect_err("a user without a password");
    assert!(err.to_string().contains("names the user baton"), "{err}");
}

#[tokio::test]
async fn a_password_in_both_the_url_and_a_file_is_refused_before_connecting() {
    let files = Files::new();
    let options = RedisOptions {
        password_file: Some(files.write("password", "from-file")),
        ..RedisOptions::default()
    };
    let err = RedisDb::connect_with("redis://:in-url@127.0.0.1:1/", "test", &options)
        .await
        .expect_err("two passwords");
    assert!(is_config(&err), "{err}");
    assert!(err.to_string().contains("keep only the file"), "{err}");
    assert!(!err.to_string().contains("in-url"), "{err}");
}

#[tokio::test]
async fn a_password_file_loses_its_trailing_line_breaks_and_must_hold_one() {
    let files = Files::new();
    let password = read_password(&files.write("a", "p a s s\r\n\n"))
        .await
        .expect("read");
    assert_eq!(password, "p a s s");
    let err = read_password(&files.write("b", "\n"))
        .await
        .expect_err("empty");
    assert!(err.to_string().contains("is empty"), "{err}");
    let missing = files.0.path().join("missing");
    let err = read_password(&missing).await.expect_err("missing");
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
}

#[test]
fn urls_in_messages_never_show_user_information() {
    assert_eq!(
        redacted("redis://user:pw@host:6379/0"),
        "redis://***@host:6379/0"
    );
    assert_eq!(redacted("rediss://:p@ss@host/"), "rediss://***@host/");
    assert_eq!(redacted("redis://host:6379/"), "redis://host:6379/");
    assert_eq!(redacted("pw@host"), "***@host");
}

#[tokio::test]
async fn a_url_that_does_not_parse_is_shown_without_its_password() {
    let err = RedisDb::connect("redis://user:hunter2@host:notaport/", "test")
        .await
        .expect_err("bad port");
    assert!(is_config(&err), "{err}");
    assert!(err.to_string().contains("redis://***@host"), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn rediss_with_the_ca_file_connects() {
    let ca = Ca::new("baton test ca");
    let server = ca.server(None);
    assert!(server.url().starts_with("rediss://"));
    let files = Files::new();
    let options = RedisOptions {
        ca_file: Some(files.write("ca.crt", &ca.pem())),
        ..RedisOptions::default()
    };
    let db = RedisDb::connect_with(&server.url(), "test", &options)
        .await
        .expect("connects over TLS");
    assert_eq!(ping(&db).await, "PONG");
}

#[tokio::test]
async fn a_server_whose_certificate_another_ca_signed_is_refused() {
    let ca = Ca::new("baton test ca");
    let other = Ca::new("someone else's ca");
    let server = other.server(None);
    let files = Files::new();
    let options = RedisOptions {
        ca_file: Some(files.write("ca.crt", &ca.pem())),
        ..RedisOptions::default()
    };
    let err = RedisDb::connect_with(&server.url(), "test", &options)
        .await
        .expect_err("signed by another ca");
    let message = err.to_string();
    assert!(is_config(&err), "{message}");
    assert!(
        message.contains(&format!(
            "redis at {} presented a certificate baton does not trust",
            server.address()
        )),
        "{message}"
    );

    // Without a CA file the system's roots decide, and they do not know a test CA either.
    let err = RedisDb::connect(&server.url(), "test")
        .await
        .expect_err("unknown to the system roots");
    assert!(err.to_string().contains("a CA the system trusts"), "{err}");
}

#[tokio::test]
async fn a_server_requiring_client_certificates_admits_one_its_ca_signed() {
    let ca = Ca::new("baton test ca");
    let clients = Ca::new("baton client ca");
    let server = ca.server(Some(&clients));
    let (cert, key) = clients.issue(ExtendedKeyUsagePurpose::ClientAuth);
    let files = Files::new();
    let without = RedisOptions {
        ca_file: Some(files.write("ca.crt", &ca.pem())),
        ..RedisOptions::default()
    };
    let with = RedisOptions {
        client_cert_file: Some(files.write("client.crt", &cert)),
        client_key_file: Some(files.write("client.key", &key)),
        ..without.clone()
    };
    let db = RedisDb::connect_with(&server.url(), "test", &with)
        .await
        .expect("connects with a client certificate");
    assert_eq!(ping(&db).await, "PONG");
    subscribes(&db).await;
    let err = RedisDb::connect_with(&server.url(), "test", &without)
        .await
        .expect_err("no client certificate");
    assert!(is_config(&err), "{err}");
    assert!(
        err.to_string().contains("requires a client certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn tls_files_are_checked_before_connecting() {
    let ca = Ca::new("baton test ca");
    let (cert, _) = ca.issue(ExtendedKeyUsagePurpose::ClientAuth);
    let files = Files::new();
    let ca_file = files.write("ca.crt", &ca.pem());
    let refusal = |options: RedisOptions, url: &'static str| async move {
        let err = RedisDb::connect_with(url, "test", &options)
            .await
            .expect_err("refused");
        assert!(is_config(&err), "{err}");
        err.to_string()
    };
    let tls = "rediss://127.0.0.1:1/";

    let plain = RedisOptions {
        ca_file: Some(ca_file.clone()),
        ..RedisOptions::default()
    };
    assert!(
        refusal(plain, "redis://127.0.0.1:1/")
            .await
            .contains("rediss://")
    );

    let empty = RedisOptions {
        ca_file: Some(files.write("empty.crt", "")),
        ..RedisOptions::default()
    };
    assert!(
        refusal(empty, tls)
            .await
            .contains("holds no PEM certificate")
    );

    let no_key = RedisOptions {
        ca_file: Some(ca_file.clone()),
        client_cert_file: Some(files.write("client.crt", &cert)),
        ..RedisOptions::default()
    };
    assert!(refusal(no_key, tls).await.contains("give both files"));

    let swapped = RedisOptions {
        ca_file: Some(ca_file),
        client_cert_file: Some(files.write("client.crt", &cert)),
        client_key_file: Some(files.write("client.key", &cert)),
        ..RedisOptions::default()
    };
    assert!(refusal(swapped, tls).await.contains("no PEM private key"));

    let insecure = RedisOptions::default();
    assert!(
        refusal(insecure, "rediss://127.0.0.1:1/#insecure")
            .await
            .contains("#insecure")
    );
}
