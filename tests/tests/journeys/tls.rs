//! The mesh with TLS and mutual TLS: plaintext to a TLS port, client certificates as
//! credentials, expired and foreign certificates, and a server certificate rotated in place.

use std::{path::Path, time::Duration};

use baton::{
    config::{MeshConfig, ServiceName},
    mesh::Mesh,
};
use baton_auth::{Role, Roles, Tenants, jwt::Claims, jwt::Signer};
use baton_proto::v1::{
    self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind,
    routing_service_client::RoutingServiceClient,
};
use baton_runtime::{client::with_credentials, shutdown::Shutdown};
use baton_tests::{PATIENCE, ident, key, pki::Ca, tenant};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

const ROUTING_URI: &str = "spiffe://test.local/baton/*/service/routing";

struct TlsMesh {
    mesh: Mesh,
    dir: tempfile::TempDir,
    ca: Ca,
    other_ca: Ca,
    signer: Signer,
}

async fn start() -> TlsMesh {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, other_ca) = (Ca::new("baton test ca"), Ca::new("another ca"));
    // The server certificate doubles as routing's client certificate, naming the service.
    let (cert, key) = ca.issue(&[ROUTING_URI], 30).write(dir.path(), "server");
    let bundle = dir.path().join("cas.pem");
    std::fs::write(&bundle, format!("{}{}", ca.pem(), other_ca.pem())).expect("bundle");
    let secret = dir.path().join("callers.secret");
    std::fs::write(&secret, "a secret of at least thirty-two bytes, for tests").expect("secret");
    let mut config = MeshConfig::for_tests(dir.path().join("data"));
    config.tls.tls_cert_file = Some(cert);
    config.tls.tls_key_file = Some(key);
    config.tls.tls_client_ca_file = Some(bundle.clone());
    config.tls.tls_ca_file = Some(bundle);
    config.auth.jwt_keys = vec![secret.clone()];
    config.auth.credentials_reload_secs = 1;
    config.health_port = Some(0);
    let mesh = Mesh::start(&[ServiceName::All], &config, Shutdown::new())
        .await
        .expect("mesh starts with TLS");
    TlsMesh {
        mesh,
        dir,
        ca,
        other_ca,
        signer: Signer::from_file(&secret).expect("signer"),
    }
}

impl TlsMesh {
    fn port(&self) -> u16 {
        self.mesh
            .addr(ServiceName::Routing)
            .expect("routing")
            .port()
    }

    fn gateway_token(&self, tenant: &str) -> String {
        self.signer
            .sign(&Claims::new(
                "gw",
                &Tenants::one(tenant),
                Roles::of(&[Role::Gateway]),
                None,
                Duration::from_secs(600),
                "baton",
            ))
            .expect("token")
    }

    /// A TLS client trusting `ca_pem`, presenting `identity` if given.
    async fn client(
        &self,
        ca_pem: &str,
        identity: Option<(&Path, &Path)>,
        token: Option<String>,
    ) -> Result<RoutingServiceClient<baton_runtime::client::ClientChannel>, tonic::transport::Error>
    {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca_pem))
            .domain_name("localhost");
        if let Some((cert, key)) = identity {
            tls = tls.identity(Identity::from_pem(
                std::fs::read(cert).expect("cert"),
                std::fs::read(key).expect("key"),
            ));
        }
        let channel = Endpoint::from_shared(format!("https://localhost:{}", self.port()))
            .expect("url")
            .tls_config(tls)?
            .connect()
            .await?;
        Ok(RoutingServiceClient::new(with_credentials(
            channel,
            token.map(baton_auth::reload::Watched::fixed),
            PATIENCE,
        )))
    }
}

fn start_request(tenant: &str) -> pb::StartContactRequest {
    pb::StartContactRequest {
        tenant_id: tenant.to_owned(),
        channel: pb::Channel::Chat as i32,
        identifiers: vec![ident(Kind::Email, "ann@example.com", Assurance::Verified)],
        utterance: "my router drops".into(),
        self_service: true,
        idempotency_key: key(),
        ..Default::default()
    }
}

#[tokio::test]
async fn plaintext_is_refused_and_tls_callers_are_served_through_mutual_tls_between_services() {
    let m = start().await;
    let t = tenant();
    let plaintext = Endpoint::from_shared(format!("http://127.0.0.1:{}", m.port()))
        .expect("url")
        .connect_timeout(Duration::from_secs(2));
    let plain_call = async {
        let channel = plaintext.connect().await?;
        RoutingServiceClient::new(channel)
            .start_contact(start_request(&t))
            .await
            .map_err(|e| Box::new(e) as Box<dyn std::error::Error>)?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    assert!(plain_call.await.is_err(), "plaintext to a TLS port");

    // A bearer token over TLS: routing then calls identity, context and recommendation over
    // mutual TLS with its own certificate, which names it as a service.
    let mut gateway = m
        .client(&m.ca.pem(), None, Some(m.gateway_token(&t)))
        .await
        .expect("tls connects");
    let started = gateway
        .start_contact(start_request(&t))
        .await
        .expect("served over tls")
        .into_inner();
    assert!(
        !started.partial,
        "identity, context and recommendation answered over mTLS"
    );
    assert!(!started.contact.expect("contact").customer_id.is_empty());

    // A client certificate naming a gateway is a credential of its own.
    let (cert, key) =
        m.ca.issue(
            &[&format!("spiffe://test.local/baton/{t}/gateway/ivr-1")],
            30,
        )
        .write(m.dir.path(), "ivr");
    let mut ivr = m
        .client(&m.ca.pem(), Some((&cert, &key)), None)
        .await
        .expect("mtls connects");
    ivr.start_contact(start_request(&t))
        .await
        .expect("a certificate principal is served");
    let err = ivr
        .start_contact(start_request(&tenant()))
        .await
        .expect_err("its certificate names one tenant");
    assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
    m.mesh.stop().await.expect("stops");
}

#[tokio::test]
async fn expired_and_foreign_client_certificates_get_no_connection() {
    let m = start().await;
    let t = tenant();
    let uri = format!("spiffe://test.local/baton/{t}/gateway/ivr-1");
    let (cert, key) = m.ca.issue(&[&uri], -1).write(m.dir.path(), "expired");
    let expired = async {
        m.client(&m.ca.pem(), Some((&cert, &key)), None)
            .await
            .ok()?
            .start_contact(start_request(&t))
            .await
            .ok()
    };
    assert!(expired.await.is_none(), "an expired client certificate");
    let stranger = Ca::new("stranger");
    let (cert, key) = stranger.issue(&[&uri], 30).write(m.dir.path(), "stranger");
    let foreign = async {
        m.client(&m.ca.pem(), Some((&cert, &key)), None)
            .await
            .ok()?
            .start_contact(start_request(&t))
            .await
            .ok()
    };
    assert!(foreign.await.is_none(), "a certificate of an unknown CA");
    m.mesh.stop().await.expect("stops");
}

#[tokio::test]
async fn a_server_certificate_rotated_in_place_is_served_to_new_connections() {
    let m = start().await;
    let t = tenant();
    let other = m.other_ca.pem();
    assert!(
        m.client(&other, None, None).await.is_err(),
        "the old certificate is not from the other CA"
    );
    m.other_ca
        .issue(&[ROUTING_URI], 30)
        .write(m.dir.path(), "server");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut rotated = loop {
        if let Ok(client) = m.client(&other, None, Some(m.gateway_token(&t))).await {
            break client;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rotated within patience"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    rotated
        .start_contact(start_request(&t))
        .await
        .expect("served with the rotated certificate");
    m.mesh.stop().await.expect("stops");
}

#[tokio::test]
async fn probes_ask_a_plaintext_port_that_serves_health_and_nothing_else() {
    use tonic_health::pb::{
        HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
    };
    let m = start().await;
    let addr = m.mesh.probe_addr().expect("a probe port");
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect()
        .await
        .expect("plaintext connects");
    let mut health = HealthClient::new(channel.clone());
    for service in ["baton.v1.RoutingService", "baton.v1.IdentityService", ""] {
        let status = health
            .check(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .expect("health answers")
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service:?}");
    }
    let other = RoutingServiceClient::new(channel)
        .start_contact(start_request(&tenant()))
        .await
        .expect_err("only health is served there");
    assert_eq!(other.code(), tonic::Code::Unimplemented, "{other:?}");
    m.mesh.stop().await.expect("stops");
}
