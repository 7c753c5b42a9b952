//! Offline evaluation of offers: leave-last-out by time.
//!
//! Each customer's purchases are ordered by time and the last one is held out. Every other
//! purchase is learned through the store exactly as `RecordOutcome` learns it, into a store
//! of the caller's choosing (a fresh one: evaluation writes a whole tenant), and the
//! co-purchase model reads the purchase log through before the first offer is asked for. Then every
//! customer with something held out asks for ten offers, as a contact would, and the
//! evaluation reports how often the held-out product is among them (hit rate at 10) and how
//! high (NDCG at 10: 1 / log2(rank + 1) for a hit at rank 1..10). Popularity (the products
//! with the most buyers in what was learned, less what the customer owns) is measured on the
//! same split in the same run, so the two figures are comparable whatever the data.

pub mod articles;
pub mod reasons;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use baton_auth::digest;
use baton_proto::v1::{CatalogItem, ContextSnapshot, Purchase, PurchaseStatus};
use tokio::task::JoinSet;

use crate::recommend::Limits;
use crate::store::{RecommendationStore, StoreError};
use crate::{Error, RecommendQuery, Recommender};

/// The tenant an evaluation writes.
pub const TENANT: &str = "eval";
/// The list length measured.
pub const CUTOFF: usize = 10;
/// Catalog items written per call.
const CATALOG_BATCH: usize = 500;
/// Customers learned side by side.
const LEARNERS: usize = 32;

/// One purchase of the data set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Who bought.
    pub customer: String,
    /// What.
    pub product: String,
    /// When, seconds since the epoch (any monotonic clock will do).
    pub at: i64,
}

/// Hit rate and NDCG at [`CUTOFF`] for one way of choosing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scores {
    /// Share of customers whose held-out product was offered.
    pub hit_rate: f64,
    /// Mean discounted gain of the held-out product's rank.
    pub ndcg: f64,
}

/// What an evaluation measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Rows read.
    pub rows: usize,
    /// Distinct products.
    pub products: usize,
    /// Customers with a product held out (two or more distinct purchases).
    pub customers: usize,
    /// Purchases learned.
    pub learned: usize,
    /// Time spent learning them.
    pub learning: Duration,
    /// baton's offers.
    pub baton: Scores,
    /// The most bought products the customer does not own.
    pub popularity: Scores,
    /// Recommend latencies, sorted.
    pub latencies: Vec<Duration>,
}

impl Report {
    /// The latency at quantile `q` (0..=1) of the Recommend calls.
    pub fn latency(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let at = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies[at]
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = self.learned as f64 / self.learning.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "{} rows, {} products, {} customers held out; learned {} purchases in {:.1} s ({rate:.0}/s)",
            self.rows,
            self.products,
            self.customers,
            self.learned,
            self.learning.as_secs_f64()
        )?;
        writeln!(f, "{:<12} {:>8} {:>9}", "", "HR@10", "NDCG@10")?;
        for (name, s) in [("baton", self.baton), ("popularity", self.popularity)] {
            writeln!(f, "{name:<12} {:>8.4} {:>9.4}", s.hit_rate, s.ndcg)?;
        }
        let ratio = if self.popularity.hit_rate > 0.0 {
            format!("{:.2}x", self.baton.hit_rate / self.popularity.hit_rate)
        } else {
            "n/a".to_owned()
        };
        write!(
            f,
            "baton / popularity HR@10: {ratio}; Recommend p50 {:.2} ms, p99 {:.2} ms",
            self.latency(0.5).as_secs_f64() * 1e3,
            self.latency(0.99).as_secs_f64() * 1e3
        )
    }
}

/// Each customer's distinct products in time order (first purchase of each; ties by product).
fn histories(rows: &[Row]) -> BTreeMap<&str, Vec<(&str, i64)>> {
    let mut first: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for r in rows {
        let at = first.entry((&r.customer, &r.product)).or_insert(r.at);
        *at = (*at).min(r.at);
    }
    let mut by_customer: BTreeMap<&str, Vec<(&str, i64)>> = BTreeMap::new();
    for ((customer, product), at) in first {
        by_customer.entry(customer).or_default().push((product, at));
    }
    for history in by_customer.values_mut() {
        history.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(b.0)));
    }
    by_customer
}

/// What is learned of a history: all but its last product.
fn training<'a>(history: &'a [(&'a str, i64)]) -> &'a [(&'a str, i64)] {
    &history[..history.len().saturating_sub(1)]
}

fn gain(rank: Option<usize>) -> (f64, f64) {
    match rank {
        Some(r) if r < CUTOFF => (1.0, 1.0 / ((r + 2) as f64).log2()),
        _ => (0.0, 0.0),
    }
}

/// Runs the evaluation over `rows` into `store`, which should be empty. `progress` is called
/// with (done, total) while learning and while recommending.
pub async fn recommend<S: RecommendationStore + Send + Sync + 'static>(
    store: S,
    rows: &[Row],
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<Report, Error> {
    let histories = histories(rows);
    let products: BTreeSet<&str> = rows.iter().map(|r| r.product.as_str()).collect();
    let recommender = Recommender::new(store);
    let store = recommender.store();

    let items: Vec<CatalogItem> = products
        .iter()
        .map(|p| CatalogItem {
            product_id: (*p).to_owned(),
            name: (*p).to_owned(),
            active: true,
            ..Default::default()
        })
        .collect();
    for (i, batch) in items.chunks(CATALOG_BATCH).enumerate() {
        let key = format!("catalog-{i}");
        let d = digest::of(&CatalogItem::default());
        store
            .upsert_catalog(TENANT, &key, &d, batch.to_vec())
            .await?;
    }

    // Customers with two or more products: the last is held out, the rest is learned.
    let held_out: Vec<(&str, &[(&str, i64)])> = histories
        .iter()
        .filter(|(_, h)| h.len() >= 2)
        .map(|(c, h)| (*c, h.as_slice()))
        .collect();
    let mut buyers: BTreeMap<&str, u64> = BTreeMap::new();
    for (product, _) in held_out.iter().flat_map(|(_, h)| training(h)) {
        *buyers.entry(product).or_default() += 1;
    }
    let learned: usize = held_out.iter().map(|(_, h)| training(h).len()).sum();

    // Customers side by side (as many callers would send them, so commits are shared), each
    // one's purchases in order.
    let mut queue = held_out.iter().map(|(customer, history)| {
        let purchases: Vec<Purchase> = training(history)
            .iter()
            .map(|(product, at)| Purchase {
                order_id: format!("{customer}/{product}"),
                product_id: (*product).to_owned(),
                status: PurchaseStatus::Delivered as i32,
                purchased_at: Some(prost_types::Timestamp {
                    seconds: *at,
                    nanos: 0,
                }),
                ..Default::default()
            })
            .collect();
        ((*customer).to_owned(), purchases)
    });
    let started = Instant::now();
    let mut finished = 0;
    let mut running = JoinSet::new();
    loop {
        while running.len() < LEARNERS {
            let Some((customer, purchases)) = queue.next() else {
                break;
            };
            let recommender = recommender.clone();
            running.spawn(async move {
                for purchase in purchases {
                    let key = format!("purchase/{customer}/{}", purchase.product_id);
                    let d = digest::of(&purchase);
                    recommender
                        .store()
                        .record_purchase(TENANT, &customer, &key, &d, purchase)
                        .await?;
                }
                Ok::<_, StoreError>(())
            });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        done.map_err(|e| StoreError::Task(e.to_string()))??;
        finished += 1;
        if finished % 100 == 0 || finished == held_out.len() {
            progress("learning", finished, held_out.len());
        }
    }
    recommender.learn_purchases(TENANT).await?;
    let learning = started.elapsed();
    let mut popular: Vec<(&str, u64)> = buyers.into_iter().collect();
    popular.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));

    let mut baton = Scores::default();
    let mut popularity = Scores::default();
    let mut latencies = Vec::with_capacity(held_out.len());
    for (done, (customer, history)) in held_out.iter().enumerate() {
        let last = history[history.len() - 1];
        let now = last.1;
        let query = RecommendQuery {
            tenant: TENANT.to_owned(),
            customer_id: (*customer).to_owned(),
            snapshot: ContextSnapshot::default(),
            utterance: String::new(),
            intent: String::new(),
            given_name: String::new(),
            limits: Limits {
                offers: CUTOFF,
                reasons: 0,
                articles: 0,
            },
            now,
        };
        let asked = Instant::now();
        let answer = recommender.recommend(&query).await?;
        latencies.push(asked.elapsed());
        let rank = answer.offers.iter().position(|o| o.product_id == last.0);
        let (hit, ndcg) = gain(rank);
        baton.hit_rate += hit;
        baton.ndcg += ndcg;

        let owned: BTreeSet<&str> = training(history).iter().map(|(p, _)| *p).collect();
        let rank = popular
            .iter()
            .filter(|(p, _)| !owned.contains(p))
            .take(CUTOFF)
            .position(|(p, _)| *p == last.0);
        let (hit, ndcg) = gain(rank);
        popularity.hit_rate += hit;
        popularity.ndcg += ndcg;
        if (done + 1) % 100 == 0 {
            progress("recommending", done + 1, held_out.len());
        }
    }
    let n = held_out.len().max(1) as f64;
    for s in [&mut baton, &mut popularity] {
        s.hit_rate /= n;
        s.ndcg /= n;
    }
    latencies.sort();
    Ok(Report {
        rows: rows.len(),
        products: products.len(),
        customers: held_out.len(),
        learned,
        learning,
        baton,
        popularity,
        latencies,
    })
}

/// A synthetic purchase history with structure a recommender can find and a popularity
/// skew that makes best sellers a strong baseline: products fall into `groups` of related
/// ones (a range and its accessories, a genre); nearly half of each customer's purchases
/// are best sellers of the whole range, the rest from one or two groups they favour, the
/// group's first products most often. Deterministic for a seed.
pub fn synthetic(seed: u64, customers: usize, products: usize, groups: usize) -> Vec<Row> {
    let mut state = seed;
    let mut next = move || {
        // SplitMix64.
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let groups = groups.clamp(1, products.max(1));
    let per_group = products / groups;
    // Within a group, product i is picked with weight 1 / (i + 1).
    let skewed = |r: u64, n: usize| -> usize {
        let total: f64 = (1..=n).map(|i| 1.0 / i as f64).sum();
        let mut x = (r as f64 / u64::MAX as f64) * total;
        for i in 0..n {
            x -= 1.0 / (i + 1) as f64;
            if x <= 0.0 {
                return i;
            }
        }
        n - 1
    };
    let mut rows = Vec::new();
    for c in 0..customers {
        let favourite = (next() % groups as u64) as usize;
        let second = (next() % groups as u64) as usize;
        let count = 4 + (next() % 24) as usize;
        let mut at = 1_600_000_000 + (next() % 10_000_000) as i64;
        for _ in 0..count {
            let roll = next() % 20;
            let product = if roll < 9 {
                // What everyone buys: the whole range, the best sellers far more often.
                skewed(next(), products)
            } else {
                let group = if roll < 16 { favourite } else { second };
                group * per_group + skewed(next(), per_group)
            };
            at += 3_600 + (next() % 600_000) as i64;
            rows.push(Row {
                customer: format!("c{c:05}"),
                product: format!("p{product:05}"),
                at,
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmbeddedRecommendationStore;

    #[test]
    fn histories_keep_each_product_once_at_its_first_purchase() {
        let row = |c: &str, p: &str, at| Row {
            customer: c.into(),
            product: p.into(),
            at,
        };
        let rows = [
            row("a", "x", 30),
            row("a", "y", 10),
            row("a", "x", 5),
            row("b", "z", 1),
        ];
        let h = histories(&rows);
        assert_eq!(h["a"], vec![("x", 5), ("y", 10)]);
        assert_eq!(h["b"], vec![("z", 1)]);
    }

    #[test]
    fn gains_count_only_the_first_ten_ranks() {
        assert_eq!(gain(Some(0)), (1.0, 1.0));
        assert!((gain(Some(1)).1 - 1.0 / 3f64.log2()).abs() < 1e-12);
        assert_eq!(gain(Some(10)), (0.0, 0.0));
        assert_eq!(gain(None), (0.0, 0.0));
    }

    /// The sample shipped for `baton eval recommend` is [`synthetic`]'s output, so it can be
    /// made again (`BATON_WRITE_SAMPLES=1` rewrites it).
    #[test]
    fn the_shipped_sample_is_the_synthetic_history() {
        let mut csv = String::from("customer,product,timestamp\n");
        for r in synthetic(7, 300, 400, 20) {
            csv.push_str(&format!("{},{},{}\n", r.customer, r.product, r.at));
        }
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/purchases.csv");
        if std::env::var_os("BATON_WRITE_SAMPLES").is_some() {
            std::fs::write(path, &csv).expect("test setup");
        }
        assert_eq!(std::fs::read_to_string(path).expect("test setup"), csv);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn offers_beat_popularity_on_structured_purchases() {
        let dir = tempfile::tempdir().expect("test setup");
        let store = EmbeddedRecommendationStore::open(dir.path()).expect("test setup");
        let rows = synthetic(7, 300, 400, 20);
        let report = recommend(store, &rows, |_, _, _| {})
            .await
            .expect("test setup");
        assert_eq!(report.customers, 300, "{report}");
        assert!(report.popularity.hit_rate > 0.0, "{report}");
        // Nearly half of every history is best sellers, so popularity is a strong baseline
        // here; what beats it is finding the groups a customer favours.
        assert!(
            report.baton.hit_rate >= 1.15 * report.popularity.hit_rate,
            "{report}"
        );
        assert!(report.baton.ndcg > report.popularity.ndcg, "{report}");
    }
}
