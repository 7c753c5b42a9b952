//! Helpers for the gRPC tests: a real server on 127.0.0.1:0 over a fresh embedded store, and
//! request builders. The server installs a test principal in front of the service (every
//! role, every tenant) unless a test says otherwise.

#![allow(dead_code)]

use std::sync::Arc;

use baton_auth::{AssumeLayer, Principal};
use baton_proto::v1::recommendation_service_client::RecommendationServiceClient;
use baton_proto::v1::record_outcome_request::Outcome;
use baton_proto::v1::{
    Article, CaseStatus, CatalogItem, Channel, ContextSnapshot, Disposition, Interaction,
    OfferAnswered, OfferOutcome, Purchase, PurchaseMade, PurchaseStatus, RecommendRequest,
    Recommendations, RecordOutcomeRequest, Tenure, UpsertArticlesRequest, UpsertCatalogRequest,
};
use baton_recommendation::{EmbeddedRecommendationStore, grpc_service, open_embedded};
use baton_runtime::shutdown::Shutdown;
use prost_types::Timestamp;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Channel as GrpcChannel;

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// A running server and what tests need to poke at it.
pub struct TestServer {
    /// A connected client.
    pub client: RecommendationServiceClient<GrpcChannel>,
    /// The server's store (a clone sharing the same database), for checking what was written.
    pub store: EmbeddedRecommendationStore,
    /// The server's stop signal.
    pub shutdown: Shutdown,
    /// Keeps the data directory alive.
    _dir: TempDir,
}

/// Starts the service in-process on an ephemeral port, every call from the test principal.
pub async fn start() -> TestServer {
    start_as(Some(Principal::for_tests())).await
}

/// Starts the service with every call from `principal`; with `None`, without any auth layer,
/// so calls reach the service with no principal at all.
pub async fn start_as(principal: Option<Principal>) -> TestServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_embedded(dir.path()).expect("open store");
    let shutdown = Shutdown::new();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let svc = grpc_service(store.clone(), shutdown.clone());
    let incoming = TcpListenerStream::new(listener);
    match principal {
        Some(principal) => tokio::spawn(
            tonic::transport::Server::builder()
                .layer(AssumeLayer(Arc::new(principal)))
                .add_service(svc)
                .serve_with_incoming(incoming),
        ),
        None => tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(svc)
                .serve_with_incoming(incoming),
        ),
    };
    let client = RecommendationServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    TestServer {
        client,
        store,
        shutdown,
        _dir: dir,
    }
}

/// The time `days` days ago (and `extra` seconds more).
pub fn ago(days: i64, extra: i64) -> Option<Timestamp> {
    let now = baton_runtime::time::now();
    Some(Timestamp {
        seconds: now.seconds - days * DAY - extra,
        nanos: 0,
    })
}

/// A catalog item.
pub fn item(id: &str, name: &str, category: &str, promotional: bool) -> CatalogItem {
    CatalogItem {
        product_id: id.into(),
        name: name.into(),
        category: category.into(),
        description: String::new(),
        promotional,
        active: true,
        price: None,
    }
}

/// Writes catalog items.
pub async fn catalog(server: &mut TestServer, tenant: &str, key: &str, items: Vec<CatalogItem>) {
    server
        .client
        .upsert_catalog(UpsertCatalogRequest {
            tenant_id: tenant.into(),
            items,
            idempotency_key: key.into(),
        })
        .await
        .expect("upsert catalog");
}

/// An article.
pub fn article(id: &str, title: &str, tags: &[&str], body: &str) -> Article {
    Article {
        article_id: id.into(),
        title: title.into(),
        body: body.into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        language: "en".into(),
    }
}

/// Writes articles.
pub async fn articles(server: &mut TestServer, tenant: &str, key: &str, articles: Vec<Article>) {
    server
        .client
        .upsert_articles(UpsertArticlesRequest {
            tenant_id: tenant.into(),
            articles,
            idempotency_key: key.into(),
        })
        .await
        .expect("upsert articles");
}

/// A purchase outcome request.
pub fn purchase_outcome(
    tenant: &str,
    customer: &str,
    product: &str,
    key: &str,
) -> RecordOutcomeRequest {
    RecordOutcomeRequest {
        tenant_id: tenant.into(),
        customer_id: customer.into(),
        contact_id: String::new(),
        outcome: Some(Outcome::Purchase(PurchaseMade {
            order_id: format!("o-{key}"),
            product_id: product.into(),
            product_name: String::new(),
            category: String::new(),
            amount: None,
            status: PurchaseStatus::Ordered as i32,
            promised_by: None,
        })),
        idempotency_key: key.into(),
    }
}

/// An offer answer request.
pub fn offer_outcome(
    tenant: &str,
    customer: &str,
    product: &str,
    outcome: OfferOutcome,
    key: &str,
) -> RecordOutcomeRequest {
    RecordOutcomeRequest {
        tenant_id: tenant.into(),
        customer_id: customer.into(),
        contact_id: "contact-1".into(),
        outcome: Some(Outcome::Offer(OfferAnswered {
            offer_id: format!("offer-{product}"),
            product_id: product.into(),
            outcome: outcome as i32,
        })),
        idempotency_key: key.into(),
    }
}

/// Records that `customer` bought each product.
pub async fn buy(server: &mut TestServer, tenant: &str, customer: &str, products: &[&str]) {
    for product in products {
        server
            .client
            .record_outcome(purchase_outcome(
                tenant,
                customer,
                product,
                &format!("buy-{customer}-{product}"),
            ))
            .await
            .expect("record purchase");
    }
}

/// A purchase as the context snapshot lists it.
pub fn owned(order: &str, product: &str, name: &str, status: PurchaseStatus) -> Purchase {
    Purchase {
        order_id: order.into(),
        product_id: product.into(),
        product_name: name.into(),
        status: status as i32,
        ..Default::default()
    }
}

/// A snapshot for `customer`, a customer since `since_days` days ago.
pub fn snapshot(customer: &str, since_days: i64) -> ContextSnapshot {
    ContextSnapshot {
        customer_id: customer.into(),
        version: 7,
        tenure: Some(Tenure {
            customer_since: ago(since_days, 0),
            contact_count: 3,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A finished chat `days` days ago that left a follow-up.
pub fn unresolved_chat(days: i64) -> Interaction {
    Interaction {
        contact_id: "k-1".into(),
        channel: Channel::Chat as i32,
        channels: vec![Channel::Chat as i32],
        started_at: ago(days, 0),
        ended_at: ago(days, -600),
        disposition: Disposition::FollowUp as i32,
        summary: "asked about the order".into(),
        ..Default::default()
    }
}

/// An open case.
pub fn case(id: &str, subject: &str, complaint: bool) -> baton_proto::v1::Case {
    baton_proto::v1::Case {
        case_id: id.into(),
        subject: subject.into(),
        status: CaseStatus::Open as i32,
        complaint,
        opened_at: ago(2, 0),
        updated_at: ago(2, 0),
        ..Default::default()
    }
}

/// A Recommend request for `customer` with `snapshot`.
pub fn recommend_request(
    tenant: &str,
    customer: &str,
    snapshot: ContextSnapshot,
    utterance: &str,
) -> RecommendRequest {
    RecommendRequest {
        tenant_id: tenant.into(),
        customer_id: customer.into(),
        context: Some(snapshot),
        utterance: utterance.into(),
        intent: String::new(),
        channel: Channel::Voice as i32,
        given_name: String::new(),
        max_offers: 0,
        max_reasons: 0,
        max_articles: 0,
    }
}

/// Calls Recommend and unwraps the recommendations.
pub async fn recommend(server: &mut TestServer, request: RecommendRequest) -> Recommendations {
    server
        .client
        .recommend(request)
        .await
        .expect("recommend")
        .into_inner()
        .recommendations
        .expect("recommendations")
}

/// The product ids offered.
pub fn offered(r: &Recommendations) -> Vec<&str> {
    r.offers.iter().map(|o| o.product_id.as_str()).collect()
}
