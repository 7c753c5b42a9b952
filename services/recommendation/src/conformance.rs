//! The behaviour every [`RecommendationStore`] backend must show, as async checks generic over
//! the trait. Each check wants a fresh, empty store and panics on a failure; a backend's test
//! file runs each one (see `tests/store_conformance.rs` for the embedded backend).

#![doc(hidden)]

use baton_auth::Principal;
use baton_auth::digest::{self, RequestDigest};
use baton_proto::v1::{
    ActionRule, Article, CatalogItem, OfferOutcome, OfferRecord, Purchase, PurchaseStatus,
    ReasonConfirmed,
};
use baton_store::StoreError;

use crate::store::{ArticleCorpus, Forgotten, PurchaseKind, ReasonPage, RecommendationStore};

const T: &str = "tenant-a";
const OTHER: &str = "tenant-b";

/// Every check, by name, so a backend's tests can run them one by one.
pub const CHECKS: &[&str] = &[
    "catalog_upserts_are_idempotent_and_readable",
    "catalog_sample_skips_inactive_items",
    "articles_and_synonyms_move_the_corpus_version",
    "purchases_teach_owned_sets_and_the_log",
    "repeat_and_returned_purchases_teach_nothing",
    "outcomes_apply_once_per_idempotency_key",
    "a_key_reused_for_another_request_is_refused",
    "keys_of_different_callers_are_independent",
    "an_outcome_key_is_the_tenants",
    "the_latest_offer_answer_wins",
    "forgetting_removes_every_personal_record",
    "tenants_never_see_each_other",
    "concurrent_purchases_each_teach_once",
    "ownership_is_asked_product_by_product",
    "a_return_unlearns_what_its_purchase_taught",
    "confirmed_reasons_are_logged_once_in_order_and_forgotten_with_their_customer",
    "action_rules_are_replaced_whole",
    "offer_inputs_are_read_together",
];

/// The digest of the request described by `request`: the same description is the same
/// request (a retry), another is another request.
pub fn sent(request: &str) -> RequestDigest {
    digest::of(&request.to_owned())
}

/// Whether `result` is the refusal of a key reused with another request.
fn is_reused<T: std::fmt::Debug>(result: &Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::KeyReused { .. }))
}

pub fn item(id: &str, active: bool) -> CatalogItem {
    CatalogItem {
        product_id: id.into(),
        name: format!("name of {id}"),
        category: "running".into(),
        active,
        ..Default::default()
    }
}

pub fn purchase(order: &str, product: &str, status: PurchaseStatus) -> Purchase {
    Purchase {
        order_id: order.into(),
        product_id: product.into(),
        product_name: format!("name of {product}"),
        status: status as i32,
        ..Default::default()
    }
}

fn answer(offer: &str, product: &str, outcome: OfferOutcome) -> OfferRecord {
    OfferRecord {
        offer_id: offer.into(),
        product_id: product.into(),
        outcome: outcome as i32,
        at: None,
    }
}

fn article(id: &str, title: &str, body: &str) -> Article {
    Article {
        article_id: id.into(),
        title: title.into(),
        body: body.into(),
        tags: vec!["delivery".into()],
        language: "en".into(),
    }
}

fn ids(items: &[CatalogItem]) -> Vec<&str> {
    items.iter().map(|i| i.product_id.as_str()).collect()
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

async fn buy<S: RecommendationStore>(store: &S, tenant: &str, customer: &str, products: &[&str]) {
    for product in products {
        store
            .record_purchase(
                tenant,
                customer,
                &format!("buy-{customer}-{product}"),
                &sent(&format!("buy-{customer}-{product}")),
                purchase(
                    &format!("o-{customer}-{product}"),
                    product,
                    PurchaseStatus::Ordered,
                ),
            )
            .await
            .expect("record purchase");
    }
}

/// One purchase log entry as the checks compare them.
type Event = (String, String, PurchaseKind);

fn event(customer: &str, product: &str, kind: PurchaseKind) -> Event {
    (customer.to_owned(), product.to_owned(), kind)
}

/// The tenant's whole purchase log, oldest first.
async fn purchase_log<S: RecommendationStore>(store: &S, tenant: &str) -> Vec<Event> {
    let page = store
        .purchases_after(tenant, "", 10_000)
        .await
        .expect("purchase log");
    page.entries
        .into_iter()
        .map(|e| {
            (
                e.event.customer_id.clone(),
                e.event.product_id.clone(),
                e.event.kind(),
            )
        })
        .collect()
}

/// Which of `products` the customer owns.
async fn owns<S: RecommendationStore>(store: &S, customer: &str, products: &[&str]) -> Vec<String> {
    store
        .owned_among(T, customer, strings(products))
        .await
        .expect("owned")
        .into_iter()
        .collect()
}

/// Runs one check by name on `store`.
pub async fn run<S: RecommendationStore>(name: &str, store: &S) {
    match name {
        "catalog_upserts_are_idempotent_and_readable" => {
            catalog_upserts_are_idempotent_and_readable(store).await
        }
        "catalog_sample_skips_inactive_items" => catalog_sample_skips_inactive_items(store).await,
        "articles_and_synonyms_move_the_corpus_version" => {
            articles_and_synonyms_move_the_corpus_version(store).await
        }
        "purchases_teach_owned_sets_and_the_log" => {
            purchases_teach_owned_sets_and_the_log(store).await
        }
        "repeat_and_returned_purchases_teach_nothing" => {
            repeat_and_returned_purchases_teach_nothing(store).await
        }
        "outcomes_apply_once_per_idempotency_key" => {
            outcomes_apply_once_per_idempotency_key(store).await
        }
        "a_key_reused_for_another_request_is_refused" => {
            a_key_reused_for_another_request_is_refused(store).await
        }
        "keys_of_different_callers_are_independent" => {
            keys_of_different_callers_are_independent(store).await
        }
        "an_outcome_key_is_the_tenants" => an_outcome_key_is_the_tenants(store).await,
        "the_latest_offer_answer_wins" => the_latest_offer_answer_wins(store).await,
        "forgetting_removes_every_personal_record" => {
            forgetting_removes_every_personal_record(store).await
        }
        "tenants_never_see_each_other" => tenants_never_see_each_other(store).await,
        "concurrent_purchases_each_teach_once" => concurrent_purchases_each_teach_once(store).await,
        "ownership_is_asked_product_by_product" => {
            ownership_is_asked_product_by_product(store).await
        }
        "a_return_unlearns_what_its_purchase_taught" => {
            a_return_unlearns_what_its_purchase_taught(store).await
        }
        "confirmed_reasons_are_logged_once_in_order_and_forgotten_with_their_customer" => {
            confirmed_reasons_are_logged_once_in_order_and_forgotten_with_their_customer(store)
                .await
        }
        "action_rules_are_replaced_whole" => action_rules_are_replaced_whole(store).await,
        "offer_inputs_are_read_together" => offer_inputs_are_read_together(store).await,
        other => panic!("no conformance check named {other}"),
    }
}

pub async fn catalog_upserts_are_idempotent_and_readable<S: RecommendationStore>(store: &S) {
    let n = store
        .upsert_catalog(T, "k1", &sent("k1"), vec![item("a", true), item("b", true)])
        .await
        .expect("upsert");
    assert_eq!(n, 2);
    // The same request again: the first answer, and no change.
    let again = store
        .upsert_catalog(T, "k1", &sent("k1"), vec![item("a", true), item("b", true)])
        .await
        .expect("retry");
    assert_eq!(again, 2);
    // The same key with a different request: refused, and no change.
    let other = store
        .upsert_catalog(T, "k1", &sent("k1 with c"), vec![item("c", true)])
        .await;
    assert!(is_reused(&other), "{other:?}");
    let found = store
        .catalog_items(T, strings(&["a", "b", "c", "missing"]))
        .await
        .expect("read");
    assert_eq!(ids(&found), ["a", "b"]);

    // A new key replaces an item.
    let mut renamed = item("a", false);
    renamed.name = "new name".into();
    store
        .upsert_catalog(T, "k2", &sent("k2"), vec![renamed])
        .await
        .expect("replace");
    let found = store.catalog_items(T, strings(&["a"])).await.expect("read");
    assert_eq!(found[0].name, "new name");
    assert!(!found[0].active);
}

pub async fn catalog_sample_skips_inactive_items<S: RecommendationStore>(store: &S) {
    assert!(store.catalog_sample(T, 10).await.expect("empty").is_empty());
    store
        .upsert_catalog(
            T,
            "k",
            &sent("k"),
            vec![
                item("a", false),
                item("b", true),
                item("c", true),
                item("d", true),
            ],
        )
        .await
        .expect("upsert");
    let sample = store.catalog_sample(T, 2).await.expect("sample");
    assert_eq!(ids(&sample), ["b", "c"]);
}

/// Every article or synonym change moves the version; a retry does not. The corpus holds
/// every article once, in id order, the last write of each winning, with the version it was
/// read at.
pub async fn articles_and_synonyms_move_the_corpus_version<S: RecommendationStore>(store: &S) {
    assert_eq!(store.articles_version(T).await.expect("version"), 0);
    assert_eq!(
        store.article_corpus(T).await.expect("empty"),
        ArticleCorpus::default()
    );
    let kettle = article("a2", "Kettle descaling", "Use vinegar for the kettle");
    let parcel = article("a1", "Where is my parcel?", "Track it");
    assert_eq!(
        store
            .upsert_articles(T, "k1", &sent("k1"), vec![kettle, parcel.clone()])
            .await
            .expect("upsert"),
        2
    );
    let v1 = store.articles_version(T).await.expect("version");
    assert!(v1 > 0, "an upsert moves the version");
    store
        .upsert_articles(T, "k1", &sent("k1"), vec![parcel.clone()])
        .await
        .expect("retry");
    assert_eq!(store.articles_version(T).await.expect("version"), v1);

    let toaster = article("a2", "Toaster crumbs", "Empty the tray");
    store
        .upsert_articles(T, "k2", &sent("k2"), vec![toaster.clone()])
        .await
        .expect("replace");
    let v2 = store.articles_version(T).await.expect("version");
    assert!(v2 > v1, "a replace moves the version");

    let groups = vec![
        strings(&["direct debit", "autopay"]),
        strings(&["parcel", "package"]),
    ];
    assert_eq!(
        store
            .set_synonyms(T, "k3", &sent("k3"), groups.clone())
            .await
            .expect("synonyms"),
        2
    );
    let v3 = store.articles_version(T).await.expect("version");
    assert!(v3 > v2, "synonyms move the version");
    let corpus = store.article_corpus(T).await.expect("corpus");
    assert_eq!(
        corpus,
        ArticleCorpus {
            version: v3,
            articles: vec![parcel, toaster],
            synonyms: groups,
        }
    );

    store
        .set_synonyms(T, "k4", &sent("k4"), Vec::new())
        .await
        .expect("clear");
    let corpus = store.article_corpus(T).await.expect("corpus");
    assert!(corpus.synonyms.is_empty());
    assert!(corpus.version > v3);
    let stored = store
        .articles(T, strings(&["a2", "missing"]))
        .await
        .expect("articles");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].title, "Toaster crumbs");
}

fn action_rule(reason: &str, action: &str) -> ActionRule {
    ActionRule {
        reason_code: reason.into(),
        case_status: 0,
        action: Some(baton_proto::v1::NextBestAction {
            code: action.into(),
            label: action.into(),
            rationale: String::new(),
        }),
    }
}

/// A tenant's action rules read back in order; setting them again replaces them all, an
/// empty list clears them, a retry changes nothing and other tenants never see them.
pub async fn action_rules_are_replaced_whole<S: RecommendationStore>(store: &S) {
    assert!(store.action_rules(T).await.expect("none").is_empty());
    let first = vec![
        action_rule("lost_card", "freeze_card"),
        action_rule("refund", "check"),
    ];
    assert_eq!(
        store
            .set_action_rules(T, "a1", &sent("a1"), first.clone())
            .await
            .expect("set"),
        2
    );
    assert_eq!(store.action_rules(T).await.expect("rules"), first);
    let second = vec![action_rule("roaming", "add_travel_pass")];
    store
        .set_action_rules(T, "a2", &sent("a2"), second.clone())
        .await
        .expect("replace");
    // A retry of the first answers as it did and writes nothing.
    assert_eq!(
        store
            .set_action_rules(T, "a1", &sent("a1"), first)
            .await
            .expect("retry"),
        2
    );
    assert_eq!(store.action_rules(T).await.expect("rules"), second);
    assert!(store.action_rules(OTHER).await.expect("other").is_empty());
    store
        .set_action_rules(T, "a3", &sent("a3"), Vec::new())
        .await
        .expect("clear");
    assert!(store.action_rules(T).await.expect("cleared").is_empty());
}

fn confirmed(code: &str, utterance: &str) -> ReasonConfirmed {
    ReasonConfirmed {
        code: code.into(),
        utterance: utterance.into(),
        ..Default::default()
    }
}

/// The reason log keeps each confirmation once, in the order recorded, pages from any cursor,
/// and loses a forgotten customer's entries, which moves its generation.
pub async fn confirmed_reasons_are_logged_once_in_order_and_forgotten_with_their_customer<
    S: RecommendationStore,
>(
    store: &S,
) {
    assert_eq!(
        store.reasons_after(T, "", 10).await.expect("empty"),
        ReasonPage::default()
    );
    for (customer, key, code) in [
        ("c1", "r1", "refund"),
        ("c2", "r2", "lost_card"),
        ("c1", "r3", "roaming"),
    ] {
        store
            .record_reason(T, customer, key, &sent(key), confirmed(code, "said"))
            .await
            .expect("record");
    }
    // A retry records nothing more; the key used for another outcome is refused.
    store
        .record_reason(T, "c1", "r1", &sent("r1"), confirmed("refund", "said"))
        .await
        .expect("retry");
    let reused = store
        .record_reason(T, "c1", "r1", &sent("other"), confirmed("refund", "said"))
        .await;
    assert!(is_reused(&reused), "{reused:?}");

    let page = store.reasons_after(T, "", 10).await.expect("log");
    let codes: Vec<&str> = page
        .entries
        .iter()
        .map(|e| e.reason.code.as_str())
        .collect();
    assert_eq!(codes, ["refund", "lost_card", "roaming"]);
    assert_eq!(page.entries[1].customer_id, "c2");
    let generation = page.generation;
    let first = store.reasons_after(T, "", 1).await.expect("first");
    assert_eq!(first.entries.len(), 1);
    let rest = store
        .reasons_after(T, &first.entries[0].cursor, 10)
        .await
        .expect("rest");
    let codes: Vec<&str> = rest
        .entries
        .iter()
        .map(|e| e.reason.code.as_str())
        .collect();
    assert_eq!(codes, ["lost_card", "roaming"]);
    let none = store
        .reasons_after(T, &page.entries[2].cursor, 10)
        .await
        .expect("none after the last");
    assert!(none.entries.is_empty());
    assert!(
        store
            .reasons_after(OTHER, "", 10)
            .await
            .expect("other")
            .entries
            .is_empty()
    );

    let forgotten = store
        .forget_customer(T, "c1", "f1", &sent("f1"))
        .await
        .expect("forget");
    assert_eq!(forgotten.records_removed, 2);
    let page = store.reasons_after(T, "", 10).await.expect("log");
    assert!(page.generation > generation, "erasure moves the generation");
    let left: Vec<&str> = page
        .entries
        .iter()
        .map(|e| e.customer_id.as_str())
        .collect();
    assert_eq!(left, ["c2"]);
}

/// A returned product leaves the customer's owned set, with one buyer and one co-purchase
/// per pair fewer, once no other purchase of it by them stands: a second order of it keeps it
/// owned until that one is returned too.
pub async fn a_return_unlearns_what_its_purchase_taught<S: RecommendationStore>(store: &S) {
    let give_back = |customer: &'static str, order: &'static str| async move {
        let key = format!("return-{order}");
        store
            .record_purchase(
                T,
                customer,
                &key,
                &sent(&key),
                purchase(order, "socks", PurchaseStatus::Returned),
            )
            .await
            .expect("return");
    };
    buy(store, T, "c1", &["shoes", "socks"]).await;
    buy(store, T, "c2", &["shoes", "socks"]).await;
    assert_eq!(purchase_log(store, T).await.len(), 4);

    give_back("c1", "o-c1-socks").await;
    let log = purchase_log(store, T).await;
    assert_eq!(log.len(), 5);
    assert_eq!(log[4], event("c1", "socks", PurchaseKind::Returned));
    assert_eq!(owns(store, "c1", &["shoes", "socks"]).await, ["shoes"]);
    assert_eq!(
        owns(store, "c2", &["shoes", "socks"]).await,
        ["shoes", "socks"]
    );

    // c2 orders socks again, then returns the first pair: still an owner.
    store
        .record_purchase(
            T,
            "c2",
            "again",
            &sent("again"),
            purchase("o-2", "socks", PurchaseStatus::Ordered),
        )
        .await
        .expect("second order");
    give_back("c2", "o-c2-socks").await;
    assert_eq!(purchase_log(store, T).await.len(), 5);
    assert_eq!(
        owns(store, "c2", &["shoes", "socks"]).await,
        ["shoes", "socks"]
    );

    give_back("c2", "o-2").await;
    let log = purchase_log(store, T).await;
    assert_eq!(log.len(), 6);
    assert_eq!(log[5], event("c2", "socks", PurchaseKind::Returned));
    assert_eq!(owns(store, "c2", &["shoes", "socks"]).await, ["shoes"]);
    // Returning it again changes nothing.
    give_back("c2", "o-2").await;
    assert_eq!(owns(store, "c2", &["shoes", "socks"]).await, ["shoes"]);
    assert_eq!(purchase_log(store, T).await.len(), 6);
}

/// `owned_among` answers exactly which of the products asked about a customer owns: not
/// those another customer (or another tenant's customer of the same id) bought, not one
/// only returned, and nothing for a customer never seen or an empty question.
pub async fn ownership_is_asked_product_by_product<S: RecommendationStore>(store: &S) {
    buy(store, T, "c1", &["shoes", "socks"]).await;
    buy(store, T, "c2", &["gel"]).await;
    buy(store, "other-tenant", "c1", &["hat"]).await;
    store
        .record_purchase(
            T,
            "c1",
            "returned-scarf",
            &sent("returned-scarf"),
            purchase("o-scarf", "scarf", PurchaseStatus::Returned),
        )
        .await
        .expect("returned purchase");
    let asked = strings(&["gel", "hat", "scarf", "shoes", "socks", "nothing"]);
    let owned = store
        .owned_among(T, "c1", asked.clone())
        .await
        .expect("owned");
    assert_eq!(owned, strings(&["shoes", "socks"]).into_iter().collect());
    assert!(
        store
            .owned_among(T, "nobody", asked)
            .await
            .expect("owned")
            .is_empty()
    );
    assert!(
        store
            .owned_among(T, "c1", Vec::new())
            .await
            .expect("owned")
            .is_empty()
    );
}

pub async fn purchases_teach_owned_sets_and_the_log<S: RecommendationStore>(store: &S) {
    buy(store, T, "c1", &["shoes", "socks"]).await;
    buy(store, T, "c2", &["shoes", "socks", "gel"]).await;
    buy(store, T, "c3", &["gel"]).await;

    let bought = |c, p| event(c, p, PurchaseKind::Bought);
    assert_eq!(
        purchase_log(store, T).await,
        [
            bought("c1", "shoes"),
            bought("c1", "socks"),
            bought("c2", "shoes"),
            bought("c2", "socks"),
            bought("c2", "gel"),
            bought("c3", "gel"),
        ]
    );
    // Read on from a cursor, page by page.
    let first = store.purchases_after(T, "", 2).await.expect("first page");
    assert_eq!(first.entries.len(), 2);
    let rest = store
        .purchases_after(T, &first.entries[1].cursor, 10)
        .await
        .expect("rest");
    assert_eq!(rest.entries.len(), 4);
    assert_eq!(rest.entries[0].event.customer_id, "c2");
    assert!(
        store
            .purchases_after(T, &rest.entries[3].cursor, 10)
            .await
            .expect("end")
            .entries
            .is_empty()
    );

    assert_eq!(
        owns(store, "c2", &["gel", "shoes", "socks", "cap"]).await,
        ["gel", "shoes", "socks"]
    );
}

pub async fn repeat_and_returned_purchases_teach_nothing<S: RecommendationStore>(store: &S) {
    buy(store, T, "c1", &["shoes"]).await;
    store
        .record_purchase(
            T,
            "c1",
            "again",
            &sent("again"),
            purchase("o-2", "shoes", PurchaseStatus::Ordered),
        )
        .await
        .expect("repeat");
    store
        .record_purchase(
            T,
            "c1",
            "ret",
            &sent("ret"),
            purchase("o-3", "socks", PurchaseStatus::Returned),
        )
        .await
        .expect("returned");
    assert_eq!(
        purchase_log(store, T).await,
        [event("c1", "shoes", PurchaseKind::Bought)]
    );
    assert_eq!(owns(store, "c1", &["shoes", "socks"]).await, ["shoes"]);
}

pub async fn outcomes_apply_once_per_idempotency_key<S: RecommendationStore>(store: &S) {
    let shoes = || purchase("o-1", "shoes", PurchaseStatus::Ordered);
    store
        .record_purchase(T, "c1", "same", &sent("c1 buys shoes"), shoes())
        .await
        .expect("first");
    store
        .record_purchase(T, "c1", "same", &sent("c1 buys shoes"), shoes())
        .await
        .expect("retry");
    let socks = store
        .record_purchase(
            T,
            "c1",
            "same",
            &sent("c1 buys socks"),
            purchase("o-2", "socks", PurchaseStatus::Ordered),
        )
        .await;
    assert!(is_reused(&socks), "{socks:?}");
    let offer = store
        .record_offer_answer(
            T,
            "c1",
            "same",
            &sent("c1 declines gel"),
            answer("of-1", "gel", OfferOutcome::Declined),
        )
        .await;
    assert!(is_reused(&offer), "same key, other kind: {offer:?}");
    let record = store.customer_record(T, "c1").await.expect("record");
    assert_eq!(owns(store, "c1", &["shoes", "gel"]).await, ["shoes"]);
    assert!(record.offers.is_empty());
    assert_eq!(
        purchase_log(store, T).await,
        [event("c1", "shoes", PurchaseKind::Bought)]
    );
}

/// Every mutation refuses a key that comes back with a different request, and changes
/// nothing; the first request still gets its first answer.
pub async fn a_key_reused_for_another_request_is_refused<S: RecommendationStore>(store: &S) {
    let first = sent("the first request");
    let other = sent("another request");

    assert_eq!(
        store
            .upsert_catalog(T, "k", &first, vec![item("a", true)])
            .await
            .expect("catalog"),
        1
    );
    let refused = store
        .upsert_catalog(T, "k", &other, vec![item("b", true), item("c", true)])
        .await;
    assert!(is_reused(&refused), "catalog: {refused:?}");
    let found = store
        .catalog_items(T, strings(&["a", "b", "c"]))
        .await
        .expect("items");
    assert_eq!(ids(&found), ["a"]);
    assert_eq!(
        store
            .upsert_catalog(T, "k", &first, vec![item("a", true)])
            .await
            .expect("catalog retry"),
        1
    );

    let articles = |id: &str| vec![article(id, "Kettle", "kettle")];
    assert_eq!(
        store
            .upsert_articles(T, "k", &first, articles("a1"))
            .await
            .expect("articles"),
        1
    );
    let refused = store.upsert_articles(T, "k", &other, articles("a2")).await;
    assert!(is_reused(&refused), "articles: {refused:?}");
    let found = store
        .articles(T, strings(&["a1", "a2"]))
        .await
        .expect("articles");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].article_id, "a1");

    let shoes = || purchase("o-1", "shoes", PurchaseStatus::Ordered);
    store
        .record_purchase(T, "c1", "k", &first, shoes())
        .await
        .expect("purchase");
    let refused = store
        .record_purchase(
            T,
            "c1",
            "k",
            &other,
            purchase("o-2", "socks", PurchaseStatus::Ordered),
        )
        .await;
    assert!(is_reused(&refused), "purchase: {refused:?}");
    store
        .record_purchase(T, "c1", "k", &first, shoes())
        .await
        .expect("purchase retry");

    let gel = || answer("of-1", "gel", OfferOutcome::Declined);
    store
        .record_offer_answer(T, "c1", "k-offer", &first, gel())
        .await
        .expect("offer");
    let refused = store
        .record_offer_answer(
            T,
            "c1",
            "k-offer",
            &other,
            answer("of-2", "cap", OfferOutcome::Accepted),
        )
        .await;
    assert!(is_reused(&refused), "offer: {refused:?}");

    let nobody = store
        .forget_customer(T, "c-nobody", "k-forget", &first)
        .await
        .expect("forget");
    assert_eq!(nobody, Forgotten::default());
    let refused = store.forget_customer(T, "c1", "k-forget", &other).await;
    assert!(is_reused(&refused), "forget: {refused:?}");
    assert_eq!(
        store
            .forget_customer(T, "c-nobody", "k-forget", &first)
            .await
            .expect("forget retry"),
        nobody
    );

    let record = store.customer_record(T, "c1").await.expect("record");
    assert_eq!(owns(store, "c1", &["shoes", "gel"]).await, ["shoes"]);
    assert_eq!(record.offers, [gel()]);
}

/// Keys are scoped to their caller: the same key from two callers is two requests. A second
/// caller's different request is applied, not refused, and its same request is applied again,
/// not answered from the first caller's memory.
pub async fn keys_of_different_callers_are_independent<S: RecommendationStore>(store: &S) {
    let [ann, bob, cid] = ["desk-ann", "desk-bob", "desk-cid"].map(|subject| Principal {
        subject: subject.into(),
        ..Principal::for_tests()
    });
    let named = |name: &str| {
        let mut a = item("a", true);
        a.name = name.into();
        vec![a]
    };
    store
        .upsert_catalog(
            T,
            &ann.scoped_key("k"),
            &sent("a named first"),
            named("first"),
        )
        .await
        .expect("ann");
    let bobs = store
        .upsert_catalog(T, &bob.scoped_key("k"), &sent("b"), vec![item("b", true)])
        .await
        .expect("bob's own request");
    assert_eq!(bobs, 1);
    store
        .upsert_catalog(T, "rename", &sent("a named second"), named("second"))
        .await
        .expect("rename");
    store
        .upsert_catalog(
            T,
            &cid.scoped_key("k"),
            &sent("a named first"),
            named("first"),
        )
        .await
        .expect("cid");
    let found = store
        .catalog_items(T, strings(&["a", "b"]))
        .await
        .expect("items");
    assert_eq!(ids(&found), ["a", "b"]);
    assert_eq!(found[0].name, "first", "cid was answered from ann's memory");

    for (caller, customer, product) in [(&ann, "c1", "shoes"), (&bob, "c2", "socks")] {
        store
            .record_purchase(
                T,
                customer,
                &caller.scoped_key("k"),
                &sent(&format!("{customer} buys {product}")),
                purchase("o-1", product, PurchaseStatus::Ordered),
            )
            .await
            .expect("purchase");
        assert_eq!(
            owns(store, customer, &[product, "nothing"]).await,
            [product]
        );
    }
}

/// An idempotency key belongs to the tenant: used again for another customer (another
/// request), it is refused and changes nothing, also when both calls race.
pub async fn an_outcome_key_is_the_tenants<S: RecommendationStore>(store: &S) {
    store
        .record_purchase(
            T,
            "c1",
            "k",
            &sent("c1 buys shoes"),
            purchase("o-1", "shoes", PurchaseStatus::Ordered),
        )
        .await
        .expect("first");
    let c2 = store
        .record_purchase(
            T,
            "c2",
            "k",
            &sent("c2 buys socks"),
            purchase("o-2", "socks", PurchaseStatus::Ordered),
        )
        .await;
    assert!(is_reused(&c2), "{c2:?}");
    let c2 = owns(store, "c2", &["socks"]).await;
    assert!(c2.is_empty(), "a reused key was applied: {c2:?}");

    let (cap, gel) = (sent("c3 buys a cap"), sent("c4 buys gel"));
    let (a, b) = tokio::join!(
        store.record_purchase(
            T,
            "c3",
            "race",
            &cap,
            purchase("o-3", "cap", PurchaseStatus::Ordered)
        ),
        store.record_purchase(
            T,
            "c4",
            "race",
            &gel,
            purchase("o-4", "gel", PurchaseStatus::Ordered)
        ),
    );
    let outcomes = [&a, &b].map(|r| match r {
        Ok(()) => "applied",
        r if is_reused(r) => "refused",
        other => panic!("racing purchase failed: {other:?}"),
    });
    assert!(
        outcomes == ["applied", "refused"] || outcomes == ["refused", "applied"],
        "{outcomes:?}"
    );
    let owners = [
        owns(store, "c3", &["cap"]).await.len(),
        owns(store, "c4", &["gel"]).await.len(),
    ];
    assert_eq!(
        owners.iter().sum::<usize>(),
        1,
        "one of the racing calls applies: {owners:?}"
    );
}

pub async fn the_latest_offer_answer_wins<S: RecommendationStore>(store: &S) {
    store
        .record_offer_answer(
            T,
            "c1",
            "k1",
            &sent("k1"),
            answer("of-1", "gel", OfferOutcome::Ignored),
        )
        .await
        .expect("first");
    store
        .record_offer_answer(
            T,
            "c1",
            "k2",
            &sent("k2"),
            answer("of-1", "gel", OfferOutcome::Declined),
        )
        .await
        .expect("second");
    store
        .record_offer_answer(
            T,
            "c1",
            "k3",
            &sent("k3"),
            answer("of-2", "cap", OfferOutcome::Accepted),
        )
        .await
        .expect("other offer");
    let record = store.customer_record(T, "c1").await.expect("record");
    let answers: Vec<(&str, OfferOutcome)> = record
        .offers
        .iter()
        .map(|o| (o.offer_id.as_str(), o.outcome()))
        .collect();
    assert_eq!(
        answers,
        [
            ("of-1", OfferOutcome::Declined),
            ("of-2", OfferOutcome::Accepted)
        ]
    );
    // Only the decline teaches the co-purchase model.
    assert_eq!(
        purchase_log(store, T).await,
        [event("c1", "gel", PurchaseKind::Declined)]
    );
}

pub async fn forgetting_removes_every_personal_record<S: RecommendationStore>(store: &S) {
    buy(store, T, "c1", &["shoes", "socks"]).await;
    buy(store, T, "c10", &["shoes"]).await;
    store
        .record_offer_answer(
            T,
            "c1",
            "k",
            &sent("k"),
            answer("of-1", "gel", OfferOutcome::Declined),
        )
        .await
        .expect("answer");

    let forgotten = store
        .forget_customer(T, "c1", "f1", &sent("f1"))
        .await
        .expect("forget");
    // Two purchases, two owned products, one offer answer, three purchase log entries (two
    // bought, one declined).
    assert_eq!(
        forgotten,
        Forgotten {
            found: true,
            records_removed: 8
        }
    );
    assert_eq!(
        store
            .forget_customer(T, "c1", "f1", &sent("f1"))
            .await
            .expect("retry"),
        forgotten
    );
    assert_eq!(
        store
            .forget_customer(T, "c1", "f2", &sent("f2"))
            .await
            .expect("again"),
        Forgotten {
            found: false,
            records_removed: 0
        }
    );
    let record = store.customer_record(T, "c1").await.expect("record");
    assert!(record.offers.is_empty());
    assert!(owns(store, "c1", &["shoes", "socks"]).await.is_empty());
    // A customer whose id starts with the forgotten one's is untouched, in the log too; and
    // the log's generation moved, so every replica's model learns it again without them.
    assert_eq!(owns(store, "c10", &["shoes"]).await, ["shoes"]);
    let page = store.purchases_after(T, "", 10).await.expect("log");
    assert_eq!(page.generation, 1);
    let log: Vec<&str> = page
        .entries
        .iter()
        .map(|e| e.event.customer_id.as_str())
        .collect();
    assert_eq!(log, ["c10"]);
}

pub async fn tenants_never_see_each_other<S: RecommendationStore>(store: &S) {
    store
        .upsert_catalog(T, "k", &sent("k"), vec![item("a", true)])
        .await
        .expect("catalog");
    store
        .upsert_articles(T, "k", &sent("k"), vec![article("a1", "Kettle", "kettle")])
        .await
        .expect("articles");
    buy(store, T, "c1", &["a", "b"]).await;
    store
        .record_offer_answer(
            T,
            "c1",
            "k-offer",
            &sent("k-offer"),
            answer("of-1", "gel", OfferOutcome::Declined),
        )
        .await
        .expect("answer");

    assert!(
        store
            .catalog_items(OTHER, strings(&["a"]))
            .await
            .expect("items")
            .is_empty()
    );
    assert!(
        store
            .catalog_sample(OTHER, 10)
            .await
            .expect("sample")
            .is_empty()
    );
    assert_eq!(
        store.article_corpus(OTHER).await.expect("corpus"),
        ArticleCorpus::default()
    );
    assert!(
        store
            .articles(OTHER, strings(&["a1"]))
            .await
            .expect("articles")
            .is_empty()
    );
    assert!(purchase_log(store, OTHER).await.is_empty());
    assert!(
        store
            .owned_among(OTHER, "c1", strings(&["a"]))
            .await
            .expect("owned")
            .is_empty()
    );
    assert_eq!(
        store.customer_record(OTHER, "c1").await.expect("record"),
        Default::default()
    );
    // The same idempotency key in another tenant is another request.
    assert_eq!(
        store
            .upsert_catalog(
                OTHER,
                "k",
                &sent("k"),
                vec![item("x", true), item("y", true)]
            )
            .await
            .expect("other catalog"),
        2
    );
    assert_eq!(
        store
            .forget_customer(OTHER, "c1", "f", &sent("f"))
            .await
            .expect("forget"),
        Forgotten::default()
    );
    assert_eq!(owns(store, "c1", &["a", "b"]).await, ["a", "b"]);
    assert_eq!(purchase_log(store, T).await.len(), 3);
}

pub async fn concurrent_purchases_each_teach_once<S: RecommendationStore>(store: &S) {
    // Interleaved on one task: every write reads before any commits, so a backend that
    // decides on stale reads logs a purchase twice or counts a buyer twice. The fourth is a retry of
    // the first (same idempotency key) arriving while the first is in flight.
    tokio::join!(
        buy(store, T, "c1", &["a"]),
        buy(store, T, "c1", &["b"]),
        buy(store, T, "c1", &["c"]),
        buy(store, T, "c1", &["a"]),
        buy(store, T, "c2", &["a"]),
        buy(store, T, "c3", &["a"]),
    );
    let mut log = purchase_log(store, T).await;
    log.sort_by(|x, y| (&x.0, &x.1).cmp(&(&y.0, &y.1)));
    let bought = |c, p| event(c, p, PurchaseKind::Bought);
    assert_eq!(
        log,
        [
            bought("c1", "a"),
            bought("c1", "b"),
            bought("c1", "c"),
            bought("c2", "a"),
            bought("c3", "a"),
        ]
    );
    assert_eq!(owns(store, "c1", &["a", "b", "c"]).await, ["a", "b", "c"]);
    assert_eq!(owns(store, "c3", &["a", "b", "c"]).await, ["a"]);
}

/// `offer_inputs` answers what `catalog_items`, `owned_among` and `customer_record` would,
/// for a customer and for an unidentified contact.
pub async fn offer_inputs_are_read_together<S: RecommendationStore>(store: &S) {
    store
        .upsert_catalog(
            T,
            "k",
            &sent("k"),
            vec![item("shoes", true), item("gel", true)],
        )
        .await
        .expect("catalog");
    buy(store, T, "c1", &["shoes", "cap"]).await;
    store
        .record_offer_answer(
            T,
            "c1",
            "answer",
            &sent("answer"),
            answer("of-1", "gel", OfferOutcome::Declined),
        )
        .await
        .expect("answer");
    let asked = strings(&["gel", "shoes", "cap", "nothing"]);
    let inputs = store
        .offer_inputs(T, "c1", asked.clone())
        .await
        .expect("inputs");
    assert_eq!(ids(&inputs.items), ["gel", "shoes"]);
    assert_eq!(
        inputs.owned,
        strings(&["cap", "shoes"]).into_iter().collect()
    );
    assert_eq!(
        inputs.record,
        store.customer_record(T, "c1").await.expect("record")
    );
    assert_eq!(inputs.record.offers.len(), 1);

    let anonymous = store
        .offer_inputs(T, "", asked.clone())
        .await
        .expect("anonymous");
    assert_eq!(ids(&anonymous.items), ["gel", "shoes"]);
    assert!(anonymous.owned.is_empty() && anonymous.record.offers.is_empty());
    let nothing_asked = store
        .offer_inputs(T, "c1", Vec::new())
        .await
        .expect("nothing asked");
    assert!(nothing_asked.items.is_empty() && nothing_asked.owned.is_empty());
    assert_eq!(nothing_asked.record.offers.len(), 1);
    let other = store.offer_inputs(OTHER, "c1", asked).await.expect("other");
    assert_eq!(other, Default::default());
}
