//! `make bench-recommend`: Recommend in-process on the embedded store, against a bare read of
//! the same store measured in the same run.
//!
//! The tenant holds a catalog of `--items` products (10,000), a learned purchase history
//! (`--customers` other customers with ten purchases each), the shipped sample articles and
//! synonyms, and the shipped sample of confirmed reasons; one customer owns `--owned` products
//! (1,000). Each Recommend asks for offers, reasons and articles for that customer with one of
//! a few utterances. The baseline is `articles_version`, one read transaction through the same
//! store, which every Recommend makes anyway: the ratio is what the recommendation work costs
//! over touching the store at all. Learning is reported as purchases per second recorded by
//! [`CALLERS`] callers side by side (as a service sees them, so commits are shared), then for
//! the owner alone, one purchase after another; and as purchase events per second learned by
//! a replica's co-purchase model reading the whole log.
//!
//! `--short` is a CI-sized run (1,000 items, 200 owned, 100 customers, 300 samples).

use std::time::{Duration, Instant};

use baton_proto::v1::record_outcome_request::Outcome;
use baton_proto::v1::{Article, CatalogItem, PurchaseMade, PurchaseStatus, ReasonConfirmed};
use baton_recommendation::{RecommendQuery, RecommendationStore, Recommender, open_embedded};

/// Callers recording purchases side by side.
const CALLERS: usize = 32;

struct Args {
    items: usize,
    owned: usize,
    customers: usize,
    samples: usize,
}

fn args() -> Args {
    let mut a = Args {
        items: 10_000,
        owned: 1_000,
        customers: 1_000,
        samples: 3_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{flag} needs a number"))
        };
        match flag.as_str() {
            "--items" => a.items = value(),
            "--owned" => a.owned = value(),
            "--customers" => a.customers = value(),
            "--samples" => a.samples = value(),
            "--short" => {
                a = Args {
                    items: 1_000,
                    owned: 200,
                    customers: 100,
                    samples: 300,
                }
            }
            other => panic!("unknown flag {other}"),
        }
    }
    a.owned = a.owned.min(a.items);
    a
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A deterministic sequence (SplitMix64).
struct Seq(u64);

impl Seq {
    fn next(&mut self, below: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % below as u64) as usize
    }
}

/// Rows of a shipped sample CSV, split on commas outside quotes.
fn sample(name: &str) -> Vec<Vec<String>> {
    let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .skip(1)
        .map(|line| {
            let (mut fields, mut field, mut quoted) = (Vec::new(), String::new(), false);
            for c in line.chars() {
                match c {
                    '"' => quoted = !quoted,
                    ',' if !quoted => fields.push(std::mem::take(&mut field)),
                    c => field.push(c),
                }
            }
            fields.push(field);
            fields
        })
        .collect()
}

#[tokio::main]
async fn main() {
    let args = args();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = open_embedded(dir.path()).expect("the store");
    let r = Recommender::new(store);
    let digest = |s: &str| baton_auth::digest::of(&s.to_owned());
    let t = "bench";

    let items: Vec<CatalogItem> = (0..args.items)
        .map(|i| CatalogItem {
            product_id: format!("p{i:06}"),
            name: format!("product {i}"),
            category: format!("c{}", i % 50),
            active: true,
            ..CatalogItem::default()
        })
        .collect();
    for (n, chunk) in items.chunks(500).enumerate() {
        let key = format!("catalog-{n}");
        r.upsert_catalog(t, &key, &digest(&key), chunk.to_vec())
            .await
            .expect("catalog");
    }
    let articles: Vec<Article> = sample("articles.csv")
        .into_iter()
        .map(|f| Article {
            article_id: f[0].clone(),
            title: f[1].clone(),
            tags: f[2].split(';').map(str::to_owned).collect(),
            body: f[3].clone(),
            language: "en".into(),
        })
        .collect();
    r.upsert_articles(t, "articles", &digest("articles"), articles)
        .await
        .expect("articles");
    for (i, f) in sample("reasons.csv").into_iter().enumerate() {
        let key = format!("reason-{i}");
        let confirmed = ReasonConfirmed {
            code: f[3].clone(),
            utterance: f[1].clone(),
            intent: f[2].clone(),
            label: String::new(),
        };
        r.record_outcome(
            t,
            "someone",
            &key,
            &digest(&key),
            Outcome::Reason(confirmed),
            Default::default(),
        )
        .await
        .expect("reason");
    }

    let owner_of_purchases = r.clone();
    let buy = move |customer: String, product: String, n: usize| {
        let r = owner_of_purchases.clone();
        async move {
            let key = format!("{customer}-{n}");
            let made = PurchaseMade {
                order_id: key.clone(),
                product_id: product,
                status: PurchaseStatus::Delivered as i32,
                ..Default::default()
            };
            r.record_outcome(
                t,
                &customer,
                &key,
                &digest(&key),
                Outcome::Purchase(made),
                Default::default(),
            )
            .await
            .expect("purchase");
        }
    };
    let mut seq = Seq(7);
    // Each customer buys from a neighbourhood of the catalog, so co-purchases mean something.
    let histories: Vec<Vec<String>> = (0..args.customers)
        .map(|_| {
            let base = seq.next(args.items);
            (0..10)
                .map(|_| format!("p{:06}", (base + seq.next(200)) % args.items))
                .collect()
        })
        .collect();
    let learned: usize = histories.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    let mut queue = histories.into_iter().enumerate();
    loop {
        while callers.len() < CALLERS {
            let Some((c, products)) = queue.next() else {
                break;
            };
            let buy = buy.clone();
            callers.spawn(async move {
                for (n, product) in products.into_iter().enumerate() {
                    buy(format!("c{c}"), product, n).await;
                }
            });
        }
        if callers.join_next().await.is_none() {
            break;
        }
    }
    let others = started.elapsed();
    let started = Instant::now();
    for n in 0..args.owned {
        buy("owner".to_owned(), format!("p{n:06}"), n).await;
    }
    let owner = started.elapsed();
    let started = Instant::now();
    let events = r.learn_purchases(t).await.expect("learn the purchase log");
    let model = started.elapsed();

    let utterances = [
        "my payment failed yesterday",
        "the wifi keeps dropping",
        "where is my parcel",
        "I want to return the kettle",
    ];
    let query = |i: usize| RecommendQuery {
        tenant: t.to_owned(),
        customer_id: "owner".to_owned(),
        utterance: utterances[i % utterances.len()].to_owned(),
        ..RecommendQuery::default()
    };
    for i in 0..50 {
        r.recommend(&query(i)).await.expect("warm-up");
    }
    let (mut base, mut full) = (Vec::new(), Vec::new());
    for i in 0..args.samples {
        let at = Instant::now();
        r.store().articles_version(t).await.expect("baseline");
        base.push(at.elapsed());
        let at = Instant::now();
        let out = r.recommend(&query(i)).await.expect("recommend");
        full.push(at.elapsed());
        assert!(!out.offers.is_empty(), "offers for the owner");
    }
    base.sort();
    full.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "catalog {} items, {} customers x 10 purchases, owner owns {}",
        args.items, args.customers, args.owned
    );
    println!(
        "learning: {:.0} purchases/s recorded by {CALLERS} callers, {:.0} purchases/s by the owner alone; the model learned {events} events at {:.0}/s",
        learned as f64 / others.as_secs_f64(),
        args.owned as f64 / owner.as_secs_f64(),
        events as f64 / model.as_secs_f64()
    );
    for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
        let (b, f) = (percentile(&base, p), percentile(&full, p));
        println!(
            "Recommend {name} {:.0} us, bare store read {:.0} us, ratio {:.1}x",
            us(f),
            us(b),
            us(f) / us(b).max(1e-3)
        );
    }
}
