//! The other RPCs over real gRPC: idempotency, erasure, tenant isolation, the caller's
//! tenants, bounds, malformed requests and shutdown.

mod common;

use baton_auth::{Principal, Tenants};
use baton_proto::v1::{
    ForgetCustomerRequest, OfferOutcome, RecordOutcomeRequest, UpsertArticlesRequest,
    UpsertCatalogRequest,
};
use baton_recommendation::RecommendationStore as _;
use baton_runtime::validate::field_violations;
use common::*;
use tonic::{Code, Status};

const T: &str = "acme";

fn fields(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    field_violations(status)
        .into_iter()
        .map(|(f, _)| f)
        .collect()
}

fn forget(customer: &str, key: &str) -> ForgetCustomerRequest {
    ForgetCustomerRequest {
        tenant_id: T.into(),
        customer_id: customer.into(),
        reason: "customer asked for erasure".into(),
        idempotency_key: key.into(),
    }
}

/// The violations of a key used again for a different request.
fn reused(status: &Status) -> Vec<(String, String)> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    field_violations(status)
}

const REUSED: [(&str, &str); 1] = [(
    "idempotency_key",
    "was already used for a different request",
)];

fn owned_pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(f, d)| ((*f).to_owned(), (*d).to_owned()))
        .collect()
}

#[tokio::test]
async fn record_outcome_applies_once_per_key() {
    let mut s = start().await;
    s.client
        .record_outcome(purchase_outcome(T, "c1", "shoes", "k1"))
        .await
        .expect("first");
    s.client
        .record_outcome(purchase_outcome(T, "c1", "shoes", "k1"))
        .await
        .expect("retry with the same key");
    let err = s
        .client
        .record_outcome(purchase_outcome(T, "c1", "socks", "k1"))
        .await
        .expect_err("the same key for another purchase");
    assert_eq!(reused(&err), owned_pairs(&REUSED));
    let owned = s
        .store
        .owned_among(T, "c1", vec!["shoes".into(), "socks".into()])
        .await
        .expect("owned");
    assert_eq!(owned.into_iter().collect::<Vec<_>>(), ["shoes"]);
    let log = s.store.purchases_after(T, "", 10).await.expect("log");
    assert_eq!(log.entries.len(), 1, "{log:?}");
}

#[tokio::test]
async fn upserts_answer_a_retry_with_the_first_answer() {
    let mut s = start().await;
    let first = s
        .client
        .upsert_catalog(UpsertCatalogRequest {
            tenant_id: T.into(),
            items: vec![item("a", "A", "x", false), item("b", "B", "x", false)],
            idempotency_key: "cat-1".into(),
        })
        .await
        .expect("first")
        .into_inner();
    assert_eq!(first.upserted, 2);
    let retry = s
        .client
        .upsert_catalog(UpsertCatalogRequest {
            tenant_id: T.into(),
            items: vec![item("a", "A", "x", false), item("b", "B", "x", false)],
            idempotency_key: "cat-1".into(),
        })
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(retry, first);
    let err = s
        .client
        .upsert_catalog(UpsertCatalogRequest {
            tenant_id: T.into(),
            items: vec![item("c", "C", "x", false)],
            idempotency_key: "cat-1".into(),
        })
        .await
        .expect_err("the same key for other items");
    assert_eq!(reused(&err), owned_pairs(&REUSED));
    let stored = s
        .store
        .catalog_items(T, vec!["c".into()])
        .await
        .expect("read");
    assert!(stored.is_empty(), "a refused request must not write");

    let request = UpsertArticlesRequest {
        tenant_id: T.into(),
        articles: vec![article("kb-1", "Refunds", &["refund"], "How refunds work")],
        idempotency_key: "art-1".into(),
    };
    let a = s
        .client
        .upsert_articles(request.clone())
        .await
        .expect("first");
    let b = s.client.upsert_articles(request).await.expect("retry");
    assert_eq!(a.into_inner(), b.into_inner());
}

#[tokio::test]
async fn forget_customer_erases_what_was_learned_from_them() {
    let mut s = start().await;
    catalog(
        &mut s,
        T,
        "cat",
        vec![item("socks", "Merino socks", "running", false)],
    )
    .await;
    buy(&mut s, T, "c1", &["shoes"]).await;
    s.client
        .record_outcome(offer_outcome(
            T,
            "c1",
            "socks",
            OfferOutcome::Declined,
            "ans",
        ))
        .await
        .expect("decline");
    let before = recommend(&mut s, recommend_request(T, "c1", snapshot("c1", 30), "")).await;
    assert!(offered(&before).is_empty());

    let gone = s
        .client
        .forget_customer(forget("c1", "f-1"))
        .await
        .expect("forget")
        .into_inner();
    assert!(gone.found);
    // The purchase, the owned product, the offer answer, and the purchase log's entries for
    // the purchase and the decline.
    assert_eq!(gone.records_removed, 5);
    let retry = s
        .client
        .forget_customer(forget("c1", "f-1"))
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(retry, gone);
    let again = s
        .client
        .forget_customer(forget("c1", "f-2"))
        .await
        .expect("again")
        .into_inner();
    assert!(!again.found);
    assert_eq!(again.records_removed, 0);

    let after = recommend(&mut s, recommend_request(T, "c1", snapshot("c1", 30), "")).await;
    assert_eq!(
        offered(&after),
        ["socks"],
        "the forgotten decline no longer applies"
    );
}

#[tokio::test]
async fn tenants_never_see_each_others_data() {
    let mut s = start().await;
    catalog(
        &mut s,
        "tenant-a",
        "cat",
        vec![item("shoes", "Trail shoes", "running", false)],
    )
    .await;
    articles(
        &mut s,
        "tenant-a",
        "art",
        vec![article(
            "kb-1",
            "Refund rules",
            &["refund"],
            "How refunds work",
        )],
    )
    .await;
    buy(&mut s, "tenant-a", "c1", &["shoes"]).await;

    let seen_by_a = recommend(
        &mut s,
        recommend_request("tenant-a", "c2", snapshot("c2", 30), "refund please"),
    )
    .await;
    assert_eq!(offered(&seen_by_a), ["shoes"]);
    assert_eq!(seen_by_a.articles.len(), 1);

    let seen_by_b = recommend(
        &mut s,
        recommend_request("tenant-b", "c2", snapshot("c2", 30), "refund please"),
    )
    .await;
    assert!(seen_by_b.offers.is_empty());
    assert!(seen_by_b.articles.is_empty());
    let forgotten_in_b = s
        .client
        .forget_customer(ForgetCustomerRequest {
            tenant_id: "tenant-b".into(),
            ..forget("c1", "f")
        })
        .await
        .expect("forget in b")
        .into_inner();
    assert!(!forgotten_in_b.found);
    let owned = s
        .store
        .owned_among("tenant-a", "c1", vec!["shoes".into()])
        .await
        .expect("a");
    assert_eq!(owned.len(), 1, "erasure in tenant b leaves tenant a alone");
}

#[tokio::test]
async fn malformed_requests_name_every_bad_field() {
    let mut s = start().await;

    let mut r = recommend_request(T, "c1", snapshot("c1", 30), "");
    r.max_offers = 11;
    let err = s.client.recommend(r).await.expect_err("max_offers 11");
    assert_eq!(fields(&err), ["max_offers"]);

    // A caller of many tenants must say which one.
    let r = recommend_request("", "c1", snapshot("c1", 30), "");
    let err = s.client.recommend(r).await.expect_err("no tenant");
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("tenant_id"), "{err:?}");

    let r = recommend_request(T, "c1", snapshot("someone-else", 30), "");
    let err = s.client.recommend(r).await.expect_err("context mismatch");
    assert_eq!(fields(&err), ["context.customer_id"]);

    let mut r = recommend_request(T, "c1", snapshot("c1", 30), "");
    r.max_reasons = 50;
    r.channel = 99;
    r.context.as_mut().expect("context").purchases = vec![Default::default(); 51];
    let err = s.client.recommend(r).await.expect_err("several");
    assert_eq!(
        fields(&err),
        ["channel", "max_reasons", "context.purchases"]
    );

    let err = s
        .client
        .upsert_catalog(UpsertCatalogRequest {
            tenant_id: T.into(),
            items: (0..501)
                .map(|i| item(&format!("p{i}"), "P", "x", false))
                .collect(),
            idempotency_key: "k".into(),
        })
        .await
        .expect_err("501 items");
    assert_eq!(fields(&err), ["items"]);

    let err = s
        .client
        .upsert_catalog(UpsertCatalogRequest {
            tenant_id: T.into(),
            items: vec![
                item("p1", "P", "x", false),
                item("p1", "P again", "x", false),
                item("", "", "x", false),
            ],
            idempotency_key: String::new(),
        })
        .await
        .expect_err("bad items");
    assert_eq!(
        fields(&err),
        [
            "idempotency_key",
            "items[2].product_id",
            "items[2].name",
            "items[1].product_id"
        ]
    );

    let err = s
        .client
        .upsert_articles(UpsertArticlesRequest {
            tenant_id: T.into(),
            articles: vec![article("kb", "", &[], &"x".repeat(64 * 1024 + 1))],
            idempotency_key: "k".into(),
        })
        .await
        .expect_err("bad article");
    assert_eq!(fields(&err), ["articles[0].title", "articles[0].body"]);

    let err = s
        .client
        .record_outcome(RecordOutcomeRequest {
            tenant_id: T.into(),
            customer_id: "c1".into(),
            ..Default::default()
        })
        .await
        .expect_err("no outcome");
    assert_eq!(fields(&err), ["idempotency_key", "outcome"]);

    let mut unanswered = offer_outcome(T, "", "socks", OfferOutcome::Unspecified, "k");
    unanswered.customer_id = String::new();
    let err = s
        .client
        .record_outcome(unanswered)
        .await
        .expect_err("bad offer");
    assert_eq!(fields(&err), ["customer_id", "offer.outcome"]);

    let err = s
        .client
        .forget_customer(forget("", "k"))
        .await
        .expect_err("no customer");
    assert_eq!(fields(&err), ["customer_id"]);
}

#[tokio::test]
async fn a_full_article_batch_fits_in_one_request() {
    let mut s = start().await;
    let body = "lorem ".repeat(64 * 1024 / 6);
    let batch = (0..200)
        .map(|i| {
            article(
                &format!("kb-{i}"),
                &format!("Article {i}"),
                &["bulk"],
                &body,
            )
        })
        .collect();
    let written = s
        .client
        .upsert_articles(UpsertArticlesRequest {
            tenant_id: T.into(),
            articles: batch,
            idempotency_key: "bulk".into(),
        })
        .await
        .expect("a 200-article batch of 64 KiB bodies is within the contract")
        .into_inner();
    assert_eq!(written.upserted, 200);
}

#[tokio::test]
async fn new_calls_are_refused_once_stopping_begins() {
    let mut s = start().await;
    s.shutdown.trigger();
    let err = s
        .client
        .recommend(recommend_request(T, "c1", snapshot("c1", 30), ""))
        .await
        .expect_err("stopping");
    assert_eq!(err.code(), Code::Unavailable);
    let err = s
        .client
        .record_outcome(purchase_outcome(T, "c1", "shoes", "k"))
        .await
        .expect_err("stopping");
    assert_eq!(err.code(), Code::Unavailable);
}

#[tokio::test]
async fn a_caller_of_one_tenant_is_refused_every_other_tenant() {
    let mut s = start_as(Some(Principal {
        tenants: Tenants::one("acme"),
        ..Principal::for_tests()
    }))
    .await;
    let err = s
        .client
        .record_outcome(purchase_outcome("globex", "c1", "shoes", "k1"))
        .await
        .expect_err("another tenant's outcome");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert!(err.message().contains("globex"), "{}", err.message());
    let codes = [
        s.client
            .recommend(recommend_request("globex", "c1", snapshot("c1", 30), ""))
            .await
            .map(drop),
        s.client
            .upsert_catalog(UpsertCatalogRequest {
                tenant_id: "globex".into(),
                items: vec![item("a", "A", "x", false)],
                idempotency_key: "cat".into(),
            })
            .await
            .map(drop),
        s.client
            .upsert_articles(UpsertArticlesRequest {
                tenant_id: "globex".into(),
                articles: vec![article("kb", "Refunds", &[], "How refunds work")],
                idempotency_key: "art".into(),
            })
            .await
            .map(drop),
        s.client
            .forget_customer(ForgetCustomerRequest {
                tenant_id: "globex".into(),
                ..forget("c1", "f")
            })
            .await
            .map(drop),
    ]
    .map(|r| r.expect_err("another tenant").code());
    assert_eq!(codes, [Code::PermissionDenied; 4]);
    let globex = s
        .store
        .owned_among("globex", "c1", vec!["shoes".into()])
        .await
        .expect("read");
    assert!(globex.is_empty(), "a refused outcome was recorded");

    // Naming no tenant means the caller's only one.
    s.client
        .record_outcome(purchase_outcome("", "c1", "shoes", "k1"))
        .await
        .expect("own tenant");
    let acme = s
        .store
        .owned_among("acme", "c1", vec!["shoes".into()])
        .await
        .expect("read");
    assert_eq!(acme.into_iter().collect::<Vec<_>>(), ["shoes"]);
}

#[tokio::test]
async fn a_call_that_reached_the_service_without_a_principal_is_unauthenticated() {
    let mut s = start_as(None).await;
    let err = s
        .client
        .record_outcome(purchase_outcome(T, "c1", "shoes", "k1"))
        .await
        .expect_err("no principal");
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let err = s
        .client
        .recommend(recommend_request(T, "c1", snapshot("c1", 30), ""))
        .await
        .expect_err("no principal");
    assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    let owned = s.store.purchases_after(T, "", 10).await.expect("read");
    assert!(owned.entries.is_empty());
}
