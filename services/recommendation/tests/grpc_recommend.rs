//! Recommend over real gRPC: reasons, actions, offers, articles and the greeting together, and
//! how recorded outcomes change what is offered.

mod common;

use baton_proto::v1::{OfferOutcome, OfferRecord, PurchaseStatus};
use common::*;

const T: &str = "acme";

#[tokio::test]
async fn one_call_returns_reasons_actions_offers_articles_and_a_greeting() {
    let mut s = start().await;
    catalog(
        &mut s,
        T,
        "cat-1",
        vec![
            item("shoes", "Trail shoes", "running", false),
            item("socks", "Merino socks", "running", false),
        ],
    )
    .await;
    articles(
        &mut s,
        T,
        "art-1",
        vec![
            article(
                "kb-parcel",
                "Where is my parcel?",
                &["delivery"],
                "Track a late parcel from the order page.",
            ),
            article(
                "kb-password",
                "Reset your password",
                &["login"],
                "Use the link.",
            ),
        ],
    )
    .await;

    let mut context = snapshot("c1", 365 * 10 + 5);
    let mut late = owned("123", "shoes", "Trail shoes", PurchaseStatus::Shipped);
    late.promised_by = ago(3, 60);
    context.purchases = vec![late];
    context.recent_interactions = vec![unresolved_chat(2)];
    let mut request = recommend_request(T, "c1", context, "where is my parcel");
    request.given_name = "Miles".into();
    let r = recommend(&mut s, request).await;

    assert_eq!(r.model_version, "rules-2");
    assert_eq!(r.reasons[0].code, "late_delivery");
    let order = r.reasons[0]
        .evidence
        .iter()
        .find(|e| e.kind == "order")
        .expect("order evidence");
    assert_eq!(order.ref_id, "123");
    assert_eq!(order.text, "order 123 (Trail shoes) is 3 days late");
    assert!(r.reasons.iter().any(|r| r.code == "repeat_contact"));
    assert_eq!(r.actions[0].code, "give_delivery_update");

    assert_eq!(offered(&r), ["socks"], "owned shoes are never offered");
    assert_eq!(r.offers_suppressed_reason, "");
    assert!(!r.offers[0].offer_id.is_empty());

    assert_eq!(r.articles[0].article_id, "kb-parcel");
    assert_eq!(r.articles.len(), 1);
    assert_eq!(
        r.articles[0].snippet,
        "Track a late parcel from the order page."
    );

    let greeting = r.greeting.expect("greeting");
    assert_eq!(
        greeting.text,
        "Welcome back, Miles. Thank you for being with us for 10 years. \
         Last time we spoke on chat about your late order."
    );
    assert_eq!(greeting.facts[0], "customer for 10 years");
}

#[tokio::test]
async fn co_purchases_learned_from_outcomes_change_the_ranking() {
    let mut s = start().await;
    catalog(
        &mut s,
        T,
        "cat",
        vec![
            item("shoes", "Trail shoes", "running", false),
            item("socks", "Merino socks", "running", false),
            item("bottle", "Water bottle", "outdoor", false),
        ],
    )
    .await;
    for customer in ["b1", "b2", "b3", "b4", "b5"] {
        buy(&mut s, T, customer, &["bottle"]).await;
    }
    let mut context = snapshot("probe", 400);
    context.purchases = vec![owned(
        "9",
        "shoes",
        "Trail shoes",
        PurchaseStatus::Delivered,
    )];
    let request = recommend_request(T, "probe", context, "");

    let before = recommend(&mut s, request.clone()).await;
    assert_eq!(offered(&before)[0], "bottle");
    assert_eq!(before.offers[0].explanation, "popular in outdoor");

    for customer in ["x1", "x2", "x3"] {
        buy(&mut s, T, customer, &["shoes", "socks"]).await;
    }
    // The model reads the purchase log again in the background, a second after it last did:
    // the purchases show within a few seconds.
    let mut after = recommend(&mut s, request.clone()).await;
    for _ in 0..50 {
        if offered(&after) != offered(&before) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        after = recommend(&mut s, request.clone()).await;
    }
    assert_eq!(offered(&after), ["socks", "bottle"]);
    assert_eq!(
        after.offers[0].explanation,
        "customers who bought Trail shoes often buy Merino socks"
    );
    assert!(after.offers[0].score > after.offers[1].score);
    assert!(after.offers.iter().all(|o| (0.0..=1.0).contains(&o.score)));
}

#[tokio::test]
async fn declined_offers_are_not_offered_again() {
    let mut s = start().await;
    catalog(
        &mut s,
        T,
        "cat",
        vec![
            item("socks", "Merino socks", "running", false),
            item("gel", "Energy gel", "nutrition", false),
            item("cap", "Running cap", "running", false),
        ],
    )
    .await;
    s.client
        .record_outcome(offer_outcome(
            T,
            "c1",
            "socks",
            OfferOutcome::Declined,
            "ans-1",
        ))
        .await
        .expect("record decline");
    let mut context = snapshot("c1", 30);
    context.offers = vec![OfferRecord {
        offer_id: "older".into(),
        product_id: "gel".into(),
        outcome: OfferOutcome::Declined as i32,
        at: ago(10, 0),
    }];
    let r = recommend(&mut s, recommend_request(T, "c1", context, "")).await;
    assert_eq!(offered(&r), ["cap"]);
}

#[tokio::test]
async fn an_open_complaint_pauses_promotions_and_says_why() {
    let mut s = start().await;
    catalog(
        &mut s,
        T,
        "cat",
        vec![
            item("promo", "Spring bundle", "running", true),
            item("lid", "Replacement lid", "spares", false),
        ],
    )
    .await;
    let mut context = snapshot("c1", 30);
    context.open_cases = vec![case("case-1", "Broken kettle", true)];
    let r = recommend(&mut s, recommend_request(T, "c1", context, "")).await;
    assert_eq!(offered(&r), ["lid"]);
    assert_eq!(
        r.offers_suppressed_reason,
        "open complaint: promotions are paused"
    );
    assert_eq!(r.reasons[0].code, "complaint");
    assert_eq!(r.actions[0].code, "acknowledge_complaint");

    let calm = recommend(&mut s, recommend_request(T, "c1", snapshot("c1", 30), "")).await;
    assert_eq!(offered(&calm), ["lid", "promo"]);
    assert_eq!(calm.offers_suppressed_reason, "");
}

#[tokio::test]
async fn an_unidentified_contact_gets_only_generic_results() {
    let mut s = start().await;
    catalog(
        &mut s,
        T,
        "cat",
        vec![
            item("shoes", "Trail shoes", "running", false),
            item("never-bought", "Tent", "camping", false),
        ],
    )
    .await;
    buy(&mut s, T, "b1", &["shoes"]).await;
    // Whatever context comes along is not used without a customer.
    let mut context = snapshot("", 3_650);
    context.open_cases = vec![case("case-1", "Broken kettle", true)];
    let mut request = recommend_request(T, "", context, "I was charged twice");
    request.given_name = "Miles".into();
    let r = recommend(&mut s, request).await;
    assert_eq!(offered(&r), ["shoes"]);
    assert_eq!(r.offers_suppressed_reason, "");
    let codes: Vec<&str> = r.reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["billing_question"]);
    assert_eq!(
        r.greeting.expect("greeting").text,
        "Welcome, Miles! How can we help today?"
    );
}

#[tokio::test]
async fn limits_cut_every_list() {
    let mut s = start().await;
    catalog(
        &mut s,
        T,
        "cat",
        (0..6)
            .map(|i| item(&format!("p{i}"), &format!("Product {i}"), "misc", false))
            .collect(),
    )
    .await;
    let mut request = recommend_request(
        T,
        "c1",
        snapshot("c1", 30),
        "invoice refund cancel password mortgage",
    );
    let defaults = recommend(&mut s, request.clone()).await;
    assert_eq!(defaults.offers.len(), 3);
    assert_eq!(defaults.reasons.len(), 3);
    request.max_offers = 5;
    request.max_reasons = 1;
    let custom = recommend(&mut s, request).await;
    assert_eq!(custom.offers.len(), 5);
    assert_eq!(custom.reasons.len(), 1);
    assert_eq!(custom.actions.len(), 1);
}
