//! Malformed requests get INVALID_ARGUMENT with field violations a caller can act on.

use baton_proto::v1::{self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind};
use baton_runtime::validate::field_violations;
use baton_tests::{TestMesh, ident, key, tenant};
use tonic::Code;

fn fields(status: &tonic::Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    field_violations(status)
        .into_iter()
        .map(|(f, _)| f)
        .collect()
}

#[tokio::test]
async fn malformed_requests_name_their_fields() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut m = TestMesh::start(dir.path()).await;
    let t = tenant();

    let status = m
        .identity
        .resolve(pb::ResolveRequest {
            tenant_id: t.clone(),
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect_err("no identifiers and no traits");
    assert!(!fields(&status).is_empty(), "{status:?}");
    assert!(
        status.message().contains("identifiers"),
        "{}",
        status.message()
    );

    let status = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: 99,
            identifiers: vec![pb::Identifier {
                kind: 42,
                value: "x".into(),
                ..Default::default()
            }],
            utterance: "a".repeat(5000),
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect_err("unknown enums and an oversized utterance");
    let f = fields(&status);
    for expected in ["channel", "identifiers[0].kind", "utterance"] {
        assert!(f.iter().any(|x| x == expected), "{expected} in {f:?}");
    }

    let status = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: String::new(),
            channel: pb::Channel::Voice as i32,
            identifiers: vec![ident(Kind::Phone, "+1 212 555 0100", Assurance::Observed)],
            ..Default::default()
        })
        .await
        .expect_err("no tenant, from a caller of every tenant");
    assert_eq!(fields(&status), ["tenant_id"], "{status:?}");
    let status = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Voice as i32,
            identifiers: vec![ident(Kind::Phone, "+1 212 555 0100", Assurance::Observed)],
            ..Default::default()
        })
        .await
        .expect_err("no idempotency key");
    assert!(
        fields(&status).contains(&"idempotency_key".to_owned()),
        "{status:?}"
    );

    let status = m
        .context
        .append_event(pb::AppendEventRequest {
            tenant_id: t.clone(),
            customer_id: "c-1".into(),
            event: Some(pb::Event::default()),
            idempotency_key: key(),
            expected_version: 0,
        })
        .await
        .expect_err("an event with no payload");
    assert!(!fields(&status).is_empty());

    let status = m
        .recommendation
        .recommend(pb::RecommendRequest {
            tenant_id: t.clone(),
            max_offers: 11,
            ..Default::default()
        })
        .await
        .expect_err("too many offers asked");
    assert!(fields(&status).contains(&"max_offers".to_owned()));
    m.stop().await;
}
