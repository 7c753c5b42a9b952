use baton_proto::v1::{CatalogItem, OfferOutcome, PurchaseStatus};
use proptest::prelude::*;

use super::*;
use crate::recommend::fixtures::{days_before, offer, open_case, purchase, snapshot};

fn item(id: &str, name: &str, category: &str, promotional: bool) -> CatalogItem {
    CatalogItem {
        product_id: id.into(),
        name: name.into(),
        category: category.into(),
        active: true,
        promotional,
        ..Default::default()
    }
}

fn catalog(items: &[CatalogItem]) -> BTreeMap<String, CatalogItem> {
    items
        .iter()
        .map(|i| (i.product_id.clone(), i.clone()))
        .collect()
}

fn popularity(counts: &[(&str, u64)]) -> BTreeMap<String, u64> {
    counts.iter().map(|(p, n)| ((*p).to_owned(), *n)).collect()
}

fn ctx<'a>(
    customer: &'a str,
    owned: &'a BTreeSet<String>,
    declined: &'a BTreeSet<String>,
    suppressed: Option<&'static str>,
) -> OfferContext<'a> {
    OfferContext {
        tenant: "t1",
        customer_id: customer,
        owned,
        declined,
        suppressed,
        limit: 10,
    }
}

fn ids(list: &OfferList) -> Vec<&str> {
    list.offers.iter().map(|o| o.product_id.as_str()).collect()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| (*s).to_owned()).collect()
}

fn shop() -> OfferSignals {
    OfferSignals {
        popularity: popularity(&[("shoes", 4), ("socks", 3), ("cap", 2), ("gel", 1)]),
        catalog: catalog(&[
            item("shoes", "Trail shoes", "running", false),
            item("socks", "Merino socks", "running", false),
            item("cap", "Running cap", "running", true),
            item("gel", "Energy gel", "nutrition", false),
        ]),
        ..Default::default()
    }
}

#[test]
fn owned_means_bought_and_not_returned() {
    let mut s = snapshot("c1", None);
    s.purchases = vec![
        purchase("1", "shoes", "Trail shoes", PurchaseStatus::Delivered),
        purchase("2", "cap", "Running cap", PurchaseStatus::Returned),
        purchase("3", "socks", "Merino socks", PurchaseStatus::Ordered),
    ];
    assert_eq!(owned_products(&s), set(&["shoes", "socks"]));
}

#[test]
fn offers_exclude_owned_and_declined_items() {
    let mut s = snapshot("c1", None);
    s.purchases = vec![purchase(
        "1",
        "shoes",
        "Trail shoes",
        PurchaseStatus::Delivered,
    )];
    s.offers = vec![offer("o-1", "socks", OfferOutcome::Declined)];
    let owned = owned_products(&s);
    let declined = declined_products(&s, &[offer("o-2", "gel", OfferOutcome::Declined)]);
    let list = rank(&ctx("c1", &owned, &declined, None), &shop());
    assert_eq!(ids(&list), ["cap"]);
    assert_eq!(list.suppressed_reason, "");
}

#[test]
fn an_open_complaint_pauses_promotions_only() {
    let mut s = snapshot("c1", None);
    s.open_cases = vec![open_case("c-1", "Rude driver", true, days_before(2), &[])];
    let suppressed = suppression(&s);
    assert_eq!(suppressed, Some("open complaint: promotions are paused"));
    let none = BTreeSet::new();
    let list = rank(&ctx("c1", &none, &none, suppressed), &shop());
    assert_eq!(ids(&list), ["shoes", "socks", "gel"]);
    assert_eq!(
        list.suppressed_reason,
        "open complaint: promotions are paused"
    );

    s.open_cases = vec![open_case(
        "c-2",
        "Address change",
        false,
        days_before(2),
        &[],
    )];
    assert_eq!(suppression(&s), None);
}

#[test]
fn affinities_outrank_popularity() {
    let owned = set(&["shoes"]);
    let none = BTreeSet::new();
    let mut signals = shop();
    signals.popularity.insert("gel".into(), 1);
    let before = rank(&ctx("c1", &owned, &none, None), &signals);
    assert_eq!(ids(&before)[0], "socks");
    assert_eq!(before.offers[0].explanation, "popular in running");

    signals.affinities = vec![Affinity {
        anchor: "shoes".into(),
        product: "gel".into(),
        affinity: 4.0,
    }];
    signals
        .owned_names
        .insert("shoes".into(), "Trail shoes".into());
    let after = rank(&ctx("c1", &owned, &none, None), &signals);
    assert_eq!(ids(&after)[0], "gel");
    assert_eq!(
        after.offers[0].explanation,
        "customers who bought Trail shoes often buy Energy gel"
    );
    assert!(after.offers.iter().all(|o| (0.0..=1.0).contains(&o.score)));
}

#[test]
fn affinities_from_products_not_owned_do_not_count() {
    let none = BTreeSet::new();
    let mut signals = shop();
    signals.affinities = vec![Affinity {
        anchor: "shoes".into(),
        product: "gel".into(),
        affinity: 4.0,
    }];
    let list = rank(&ctx("c1", &none, &none, None), &signals);
    assert_eq!(ids(&list)[0], "shoes");
}

#[test]
fn an_unidentified_contact_gets_popular_items_only() {
    let none = BTreeSet::new();
    let mut signals = shop();
    signals.affinities = vec![Affinity {
        anchor: "shoes".into(),
        product: "tent".into(),
        affinity: 9.0,
    }];
    signals
        .catalog
        .insert("tent".into(), item("tent", "Tent", "camping", false));
    signals.fallback = vec![item("stove", "Stove", "camping", false)];
    let list = rank(&ctx("", &none, &none, None), &signals);
    assert_eq!(ids(&list), ["shoes", "socks", "cap", "gel"]);
}

#[test]
fn a_catalog_without_purchases_falls_back_to_catalog_items() {
    let none = BTreeSet::new();
    let mut inactive = item("old", "Old model", "running", false);
    inactive.active = false;
    let signals = OfferSignals {
        fallback: vec![item("stove", "Stove", "camping", false), inactive],
        ..Default::default()
    };
    let list = rank(&ctx("c1", &none, &none, None), &signals);
    assert_eq!(ids(&list), ["stove"]);
    assert_eq!(list.offers[0].explanation, "from our camping range");
}

#[test]
fn limit_cuts_the_list() {
    let none = BTreeSet::new();
    let mut c = ctx("c1", &none, &none, None);
    c.limit = 2;
    assert_eq!(ids(&rank(&c, &shop())), ["shoes", "socks"]);
}

#[test]
fn offer_ids_are_stable_and_distinct() {
    let a = offer_id("t1", "c1", "shoes");
    assert_eq!(a, offer_id("t1", "c1", "shoes"));
    assert_ne!(a, offer_id("t1", "c1", "socks"));
    assert_ne!(a, offer_id("t1", "c2", "shoes"));
    assert_ne!(a, offer_id("t2", "c1", "shoes"));
    let parsed = uuid::Uuid::parse_str(&a).expect("a uuid");
    assert_eq!(parsed.get_version_num(), 8);
}

fn arb_item() -> impl Strategy<Value = CatalogItem> {
    ("p[0-9]", any::<bool>(), any::<bool>()).prop_map(|(id, active, promotional)| CatalogItem {
        product_id: id.clone(),
        name: format!("name {id}"),
        category: "cat".into(),
        active,
        promotional,
        ..Default::default()
    })
}

proptest! {
    #[test]
    fn offers_respect_every_rule(
        items in prop::collection::vec(arb_item(), 0..10),
        counts in prop::collection::vec(("p[0-9]", 0u64..20), 0..10),
        pairs in prop::collection::vec(("p[0-9]", "p[0-9]", 0.0f64..20.0), 0..10),
        owned in prop::collection::btree_set("p[0-9]", 0..4),
        declined in prop::collection::btree_set("p[0-9]", 0..4),
        suppressed in any::<bool>(),
        limit in 0usize..6,
        identified in any::<bool>(),
    ) {
        let catalog: BTreeMap<String, CatalogItem> =
            items.into_iter().map(|i| (i.product_id.clone(), i)).collect();
        let signals = OfferSignals {
            affinities: pairs
                .into_iter()
                .map(|(anchor, product, affinity)| Affinity { anchor, product, affinity })
                .collect(),
            popularity: counts.into_iter().collect(),
            fallback: catalog.values().cloned().collect(),
            catalog,
            ..Default::default()
        };
        let c = OfferContext {
            tenant: "t",
            customer_id: if identified { "c" } else { "" },
            owned: &owned,
            declined: &declined,
            suppressed: suppressed.then_some(COMPLAINT_SUPPRESSION),
            limit,
        };
        let list = rank(&c, &signals);
        prop_assert!(list.offers.len() <= limit);
        let mut seen = BTreeSet::new();
        for o in &list.offers {
            prop_assert!(seen.insert(o.product_id.clone()));
            prop_assert!((0.0..=1.0).contains(&o.score));
            prop_assert!(!owned.contains(&o.product_id));
            prop_assert!(!declined.contains(&o.product_id));
            let item = &signals.catalog[&o.product_id];
            prop_assert!(item.active);
            prop_assert!(!(suppressed && item.promotional));
        }
        prop_assert!(list.offers.windows(2).all(|w| w[0].score >= w[1].score));
    }
}
