//! ForgetCustomer across the mesh, called once on routing: the receipt names what each of
//! the four services removed, the customer is gone from identity and context, a repeat
//! returns the same receipt, a customer in a live contact is refused, and only an
//! administrator may call it. An erasure stopped by an
//! unavailable service says what is pending and finishes by itself after a restart.

use std::time::Duration;

use baton::config::ServiceName;
use baton_auth::{Role, Tenants};
use baton_proto::v1::{
    self as pb, IdentifierAssurance as Assurance, IdentifierKind as Kind,
    routing_service_client::RoutingServiceClient,
};
use baton_runtime::client::ClientChannel;
use baton_tests::{PATIENCE, Stores, TestMesh, ident, key, tenant};
use tonic::Code;

baton_tests::on_every_store!(
    one_call_erases_a_customer_everywhere_with_a_receipt,
    an_erasure_stopped_half_way_finishes_after_a_restart,
);

const EMAIL: &str = "Erin.Vale+shop@example.com";

/// A routing client for an administrator of `t`.
fn admin(m: &TestMesh, t: &str) -> RoutingServiceClient<ClientChannel> {
    let token = m.token_for("admin-ops", &Tenants::one(t), &[Role::Admin], None);
    RoutingServiceClient::new(m.channel_as(ServiceName::Routing, Some(token)))
}

/// A customer with a history everywhere: a self-service contact started by e-mail and ended
/// (identity, context, routing) and a purchase (recommendation). Returns the customer and
/// the contact.
async fn seed(m: &mut TestMesh, t: &str) -> (String, String) {
    let started = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.to_owned(),
            channel: pb::Channel::Email as i32,
            identifiers: vec![ident(Kind::Email, EMAIL, Assurance::Verified)],
            utterance: "where is my parcel".into(),
            self_service: true,
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("contact starts")
        .into_inner();
    let contact = started.contact.expect("contact");
    assert!(!contact.customer_id.is_empty(), "the e-mail identifies");
    m.routing
        .end_contact(pb::EndContactRequest {
            tenant_id: t.to_owned(),
            contact_id: contact.contact_id.clone(),
            disposition: pb::Disposition::Resolved as i32,
            summary: "parcel found".into(),
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("contact ends");
    m.recommendation
        .record_outcome(pb::RecordOutcomeRequest {
            tenant_id: t.to_owned(),
            customer_id: contact.customer_id.clone(),
            contact_id: contact.contact_id.clone(),
            outcome: Some(pb::record_outcome_request::Outcome::Purchase(
                pb::PurchaseMade {
                    order_id: "ord_1".into(),
                    product_id: "router-x".into(),
                    product_name: "Router X".into(),
                    ..Default::default()
                },
            )),
            idempotency_key: key(),
        })
        .await
        .expect("outcome recorded");
    (contact.customer_id, contact.contact_id)
}

fn forget(t: &str, customer: &str, idempotency_key: &str) -> pb::ForgetCustomerRequest {
    pb::ForgetCustomerRequest {
        tenant_id: t.to_owned(),
        customer_id: customer.to_owned(),
        reason: "erasure request".into(),
        idempotency_key: idempotency_key.to_owned(),
    }
}

/// The receipt names the four services in order, each having found something.
fn assert_everything_found(receipt: &pb::ForgetCustomerReceipt, t: &str, customer: &str) {
    assert_eq!(receipt.tenant_id, t);
    assert_eq!(receipt.customer_id, customer);
    assert!(receipt.completed_at.is_some());
    let services: Vec<&str> = receipt
        .erasures
        .iter()
        .map(|e| e.service.as_str())
        .collect();
    assert_eq!(
        services,
        ["identity", "context", "recommendation", "routing"]
    );
    for erasure in &receipt.erasures {
        assert!(
            erasure.found && erasure.records_removed > 0,
            "{} removed nothing: {receipt:?}",
            erasure.service
        );
    }
    let routing = &receipt.erasures[3];
    assert_eq!(routing.records_removed, 1, "the one ended contact");
}

/// The customer is gone from identity (the e-mail no longer resolves to them), from context
/// (an empty history) and from routing (the contact is not found).
async fn assert_gone(m: &mut TestMesh, t: &str, customer: &str, contact: &str) {
    let resolved = m
        .identity
        .resolve(pb::ResolveRequest {
            tenant_id: t.to_owned(),
            identifiers: vec![ident(Kind::Email, EMAIL, Assurance::Verified)],
            lookup_only: true,
            ..Default::default()
        })
        .await
        .expect("resolve")
        .into_inner();
    assert_ne!(resolved.customer_id, customer, "identity still knows them");
    let snapshot = m
        .context
        .get_context(pb::GetContextRequest {
            tenant_id: t.to_owned(),
            customer_id: customer.to_owned(),
            max_interactions: 10,
            merged_ids: Vec::new(),
        })
        .await
        .expect("context")
        .into_inner()
        .snapshot
        .unwrap_or_default();
    assert!(
        snapshot.recent_interactions.is_empty()
            && snapshot.purchases.is_empty()
            && snapshot.open_cases.is_empty(),
        "context still holds them: {snapshot:?}"
    );
    let status = m
        .routing
        .get_contact(pb::GetContactRequest {
            tenant_id: t.to_owned(),
            contact_id: contact.to_owned(),
        })
        .await
        .expect_err("the contact is erased");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
}

async fn one_call_erases_a_customer_everywhere_with_a_receipt(stores: Stores) {
    let mut m = TestMesh::start_with(stores.config()).await;
    let t = tenant();
    let (customer, contact) = seed(&mut m, &t).await;

    // Neither a gateway nor an agent may erase.
    for (role, agent) in [(Role::Gateway, None), (Role::Agent, Some("ann"))] {
        let token = m.token_for("not-admin", &Tenants::one(&t), &[role], agent);
        let mut routing =
            RoutingServiceClient::new(m.channel_as(ServiceName::Routing, Some(token)));
        let status = routing
            .forget_customer(forget(&t, &customer, &key()))
            .await
            .expect_err("refused");
        assert_eq!(
            status.code(),
            Code::PermissionDenied,
            "{role:?}: {status:?}"
        );
        assert!(status.message().contains("customers.forget"), "{status:?}");
    }

    let mut admin = admin(&m, &t);
    let k = key();
    let receipt = admin
        .forget_customer(forget(&t, &customer, &k))
        .await
        .expect("erased")
        .into_inner();
    assert_everything_found(&receipt, &t, &customer);
    assert_gone(&mut m, &t, &customer, &contact).await;

    // A repeat answers the same receipt; the key with another request is refused.
    let again = admin
        .forget_customer(forget(&t, &customer, &k))
        .await
        .expect("repeat")
        .into_inner();
    assert_eq!(again, receipt);
    let status = admin
        .forget_customer(forget(&t, "cust_other", &k))
        .await
        .expect_err("key reused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    // A customer in a live contact is not erased until it ends.
    let live = m
        .routing
        .start_contact(pb::StartContactRequest {
            tenant_id: t.clone(),
            channel: pb::Channel::Chat as i32,
            identifiers: vec![ident(Kind::Email, "sam@example.com", Assurance::Verified)],
            self_service: true,
            idempotency_key: key(),
            ..Default::default()
        })
        .await
        .expect("contact starts")
        .into_inner()
        .contact
        .expect("contact");
    let status = admin
        .forget_customer(forget(&t, &live.customer_id, &key()))
        .await
        .expect_err("a live contact");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(
        status.message(),
        format!(
            "customer has a live contact {}; end it first",
            live.contact_id
        )
    );

    m.stop().await;
}

async fn an_erasure_stopped_half_way_finishes_after_a_restart(stores: Stores) {
    let mut config = stores.config();
    // Routing cannot reach recommendation; the test still reaches it directly.
    config.recommendation_url = Some("http://127.0.0.1:1".into());
    let mut m = TestMesh::start_with(config).await;
    let t = tenant();
    let (customer, contact) = seed(&mut m, &t).await;

    let k = key();
    let status = admin(&m, &t)
        .forget_customer(forget(&t, &customer, &k))
        .await
        .expect_err("recommendation is unreachable");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status
            .message()
            .contains("done [identity, context], pending [recommendation, routing]"),
        "{status:?}"
    );

    let mut config = m.stop().await;
    config.recommendation_url = None;
    let mut m = TestMesh::start_with(config).await;

    // The restart resumes the job by itself: routing's last step erases the contact.
    let mut admin = admin(&m, &t);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let read = admin
            .get_contact(pb::GetContactRequest {
                tenant_id: t.clone(),
                contact_id: contact.clone(),
            })
            .await;
        match read {
            Err(status) if status.code() == Code::NotFound => break,
            _ => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the open erasure was not resumed after the restart"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let receipt = admin
        .forget_customer(forget(&t, &customer, &k))
        .await
        .expect("the retry answers the receipt")
        .into_inner();
    assert_everything_found(&receipt, &t, &customer);
    assert_gone(&mut m, &t, &customer, &contact).await;

    m.stop().await;
}
