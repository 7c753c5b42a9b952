//! A token that was tampered with, has expired, or is presented by the wrong tenant or the
//! wrong audience is refused with the right code and a message naming the failed check.

use std::time::{Duration, SystemTime};

use baton::config::MeshConfig;
use baton_proto::v1::{self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind};
use baton_runtime::time::to_timestamp;
use baton_tests::{TestMesh, available_agent, ident, key, open_as_agent, tenant};
use baton_token::KeyRing;
use tonic::Code;

struct Fixture {
    mesh: TestMesh,
    keys: KeyRing,
    tenant: String,
    token: Vec<u8>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let keys = KeyRing::generate("test-1").expect("key ring");
    let mut config = MeshConfig::for_tests(dir.path().to_path_buf());
    config.token_keys = Some(keys.to_spec());
    let mut mesh = TestMesh::start_with(config).await;
    let t = tenant();
    available_agent(&mut mesh.routing, &t, "tier1-ann", 1, pb::Channel::Voice, 1).await;
    available_agent(&mut mesh.routing, &t, "tier2-bo", 2, pb::Channel::Voice, 1).await;
    let started = mesh
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Voice as i32,
            identifiers: vec![ident(Kind::Phone, "+1 212 555 0199", Assurance::Observed)],
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("contact starts")
        .into_inner();
    Fixture {
        mesh,
        keys,
        tenant: t,
        token: started.token,
        _dir: dir,
    }
}

fn assert_refused(status: &tonic::Status, code: Code, check: &str) {
    assert_eq!(status.code(), code, "{status:?}");
    assert!(
        status.message().contains(check),
        "message names the {check} check: {}",
        status.message()
    );
}

#[tokio::test]
async fn a_valid_token_opens_for_its_audience() {
    let mut f = fixture().await;
    let token = open_as_agent(&mut f.mesh.routing, &f.tenant, "tier1-ann", &f.token)
        .await
        .expect("opens");
    assert_eq!(token.tenant_id, f.tenant);
    assert_eq!(
        token.audience.and_then(|a| a.target),
        Some(pb::audience::Target::Tier(1))
    );
    f.mesh.stop().await;
}

#[tokio::test]
async fn a_tampered_token_is_unauthenticated() {
    let mut f = fixture().await;
    let mut tampered = f.token.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    let status = open_as_agent(&mut f.mesh.routing, &f.tenant, "tier1-ann", &tampered)
        .await
        .expect_err("refused");
    assert_refused(&status, Code::Unauthenticated, "seal");

    let status = open_as_agent(&mut f.mesh.routing, &f.tenant, "tier1-ann", b"not a token")
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::Unauthenticated);
    f.mesh.stop().await;
}

#[tokio::test]
async fn an_expired_token_is_unauthenticated() {
    let mut f = fixture().await;
    let issued = SystemTime::now() - Duration::from_secs(7200);
    let expired = pb::ContextToken {
        version: baton_token::PAYLOAD_VERSION,
        token_id: "tok_old".into(),
        issuer: baton_token::ISSUER.into(),
        audience: Some(pb::Audience {
            target: Some(pb::audience::Target::Tier(1)),
        }),
        issued_at: Some(to_timestamp(issued)),
        expires_at: Some(to_timestamp(issued + Duration::from_secs(3600))),
        tenant_id: f.tenant.clone(),
        ..Default::default()
    };
    let sealed = f.keys.seal(&expired);
    let status = open_as_agent(&mut f.mesh.routing, &f.tenant, "tier1-ann", &sealed)
        .await
        .expect_err("refused");
    assert_refused(&status, Code::Unauthenticated, "expir");
    f.mesh.stop().await;
}

#[tokio::test]
async fn another_tenant_is_permission_denied() {
    let mut f = fixture().await;
    let other = tenant();
    available_agent(
        &mut f.mesh.routing,
        &other,
        "tier1-ann",
        1,
        pb::Channel::Voice,
        1,
    )
    .await;
    let status = open_as_agent(&mut f.mesh.routing, &other, "tier1-ann", &f.token)
        .await
        .expect_err("refused");
    assert_refused(&status, Code::PermissionDenied, "tenant");
    f.mesh.stop().await;
}

#[tokio::test]
async fn the_wrong_audience_is_permission_denied() {
    let mut f = fixture().await;
    let status = open_as_agent(&mut f.mesh.routing, &f.tenant, "tier2-bo", &f.token)
        .await
        .expect_err("refused");
    assert_refused(&status, Code::PermissionDenied, "audience");
    let status = open_as_agent(&mut f.mesh.routing, &f.tenant, "nobody", &f.token)
        .await
        .expect_err("refused");
    assert_refused(&status, Code::PermissionDenied, "audience");
    f.mesh.stop().await;
}

#[tokio::test]
async fn a_rotated_key_ring_still_opens_old_tokens() {
    let f = fixture().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rotated = f.keys.clone();
    rotated
        .push("test-2", baton_token::Key::generate())
        .expect("new key");
    let mut config = f.mesh.stop().await;
    config.data_dir = dir.path().to_path_buf();
    config.token_keys = Some(rotated.to_spec());
    let mut mesh = TestMesh::start_with(config).await;
    available_agent(
        &mut mesh.routing,
        &f.tenant,
        "tier1-ann",
        1,
        pb::Channel::Voice,
        1,
    )
    .await;
    let old = open_as_agent(&mut mesh.routing, &f.tenant, "tier1-ann", &f.token)
        .await
        .expect("old key still opens");
    assert_eq!(old.tenant_id, f.tenant);
    mesh.stop().await;
}
