//! The offers model: which products go with which, learned one purchase event at a time.
//!
//! Each replica keeps one per tenant in memory and feeds it the tenant's purchase log (see
//! [`crate::store::RecommendationStore::purchases_after`]), so learning costs the store one
//! appended entry per purchase, whatever the customer owns.
//!
//! - **Pairs from neighbours in time.** A purchase is paired with the customer's products
//!   bought just before and after it (at most [`WINDOW`] each way, in time order), weighted
//!   `1 / sqrt(distance)`: what people buy next to each other says more than what they bought
//!   years apart, and the cost of a purchase is bounded however much they own.
//! - **Bounded neighbours.** A product keeps its strongest [`KEEP_NEIGHBOURS`] partners; past
//!   twice that the weakest are dropped, so memory grows with the catalog, not the history.
//! - **Scoring.** A candidate's affinity sums, over the customer's newest [`ANCHORS`]
//!   products, the pair weight over `buyers(anchor)^0.7 × buyers(candidate)^0.3` (an
//!   asymmetric cosine: a best seller everyone buys with everything counts for less as an
//!   anchor, a little less as a candidate), each anchor weighted `(1 + age) ^ -0.75` where
//!   age 0 is the newest. The newest products say most about what comes next, and the older
//!   ones still say what the customer keeps coming back for.
//! - **Weak pairs count for less.** A pair's summed weight `w` counts as `w² / (w + 0.5)`
//!   (`SHRINK`): a pair one customer formed, or formed far apart, is as likely chance as
//!   taste, and in a sparse history such pairs otherwise outnumber the ones that matter.
//! - **Unlearning.** A return takes back the pairs the product forms with its neighbours and
//!   one buyer; a decline weakens the product's pairs with the customer's newest products.
//!
//! Deterministic: the same log learned in the same order gives the same model.

use std::collections::HashMap;

use crate::store::{PurchaseEvent, PurchaseKind};

/// Products each side of a purchase, in the customer's time order, that it is paired with.
pub const WINDOW: usize = 20;
/// Partners a product keeps (the strongest); the weakest go once it has twice as many.
pub const KEEP_NEIGHBOURS: usize = 256;
/// Products remembered per customer, newest kept: enough to pair a late-arriving purchase
/// with its neighbours and to anchor their offers.
pub const HISTORY: usize = 100;
/// The customer's newest products whose partners are scored.
pub const ANCHORS: usize = 50;
/// Most bought products kept ranked, for offers to a customer with little history.
pub const POPULAR: usize = 100;
/// How much a decline weakens a pair, against what buying both adds.
const DECLINE_WEIGHT: f32 = 0.5;
/// The share of a pair's normalization taken from the anchor's buyers (the rest from the
/// candidate's).
const ANCHOR_EXPONENT: f64 = 0.7;
/// How fast an anchor's weight falls with its age: `(1 + age) ^ -RECENCY_EXPONENT`.
const RECENCY_EXPONENT: f64 = 0.75;
/// How much a weak pair is discounted: a pair's weight `w` counts as `w² / (w + SHRINK)`.
const SHRINK: f64 = 0.5;
/// Weights at or below this are dropped.
const NEGLIGIBLE: f32 = 1e-4;

/// What the model says about one candidate.
#[derive(Clone, Debug, PartialEq)]
pub struct Affinity {
    /// The candidate product.
    pub product: String,
    /// How strongly the customer's products point to it (unbounded; compare within a list).
    pub affinity: f64,
    /// The customer's product that adds most to it, to explain the offer.
    pub anchor: String,
}

/// One tenant's co-purchase model.
#[derive(Clone, Debug, Default)]
pub struct PurchaseModel {
    /// Product id → its index in the vectors below.
    ids: HashMap<String, u32>,
    /// Index → product id.
    products: Vec<String>,
    /// Distinct buyers per product, as learned.
    buyers: Vec<u32>,
    /// `buyers ^ (1 - ANCHOR_EXPONENT)`, kept as buyers change.
    candidate_norm: Vec<f64>,
    /// Partners per product and their pair weights.
    neighbours: Vec<HashMap<u32, f32>>,
    /// Each customer's products in time order (oldest first), the newest [`HISTORY`].
    histories: HashMap<String, Vec<(i64, u32)>>,
    /// Events learned.
    learned: u64,
    /// The most bought products, most first, as of the last [`Self::rank_popular`].
    popular: Vec<u32>,
}

impl PurchaseModel {
    /// Events learned so far.
    pub fn learned(&self) -> u64 {
        self.learned
    }

    /// Products the model knows.
    pub fn products(&self) -> usize {
        self.products.len()
    }

    /// Distinct buyers of `product`, as learned (0 when unknown).
    pub fn buyers(&self, product: &str) -> u64 {
        self.ids
            .get(product)
            .map_or(0, |id| u64::from(self.buyers[*id as usize]))
    }

    /// Up to `limit` of the most bought products with their buyers, most first (ties by
    /// product id), as of the last [`Self::rank_popular`].
    pub fn popular(&self, limit: usize) -> Vec<(&str, u64)> {
        self.popular
            .iter()
            .take(limit)
            .map(|id| {
                let i = *id as usize;
                (self.products[i].as_str(), u64::from(self.buyers[i]))
            })
            .collect()
    }

    /// Ranks the [`POPULAR`] most bought products again, after learning a batch of events.
    pub fn rank_popular(&mut self) {
        let mut ranked: Vec<u32> = (0..self.products.len())
            .filter(|i| self.buyers[*i] > 0)
            .map(|i| i as u32)
            .collect();
        let order = |a: &u32, b: &u32| {
            let (a, b) = (*a as usize, *b as usize);
            self.buyers[b]
                .cmp(&self.buyers[a])
                .then_with(|| self.products[a].cmp(&self.products[b]))
        };
        if ranked.len() > POPULAR {
            ranked.select_nth_unstable_by(POPULAR, order);
            ranked.truncate(POPULAR);
        }
        ranked.sort_by(order);
        self.popular = ranked;
    }

    /// Learns one event of the purchase log.
    pub fn learn(&mut self, event: &PurchaseEvent) {
        self.learned += 1;
        let (customer, product) = (event.customer_id.as_str(), event.product_id.as_str());
        if customer.is_empty() || product.is_empty() {
            return;
        }
        match event.kind() {
            PurchaseKind::Bought => self.bought(customer, product, event.at),
            PurchaseKind::Returned => self.returned(customer, product),
            PurchaseKind::Declined => self.declined(customer, product),
            PurchaseKind::Unspecified => {}
        }
    }

    /// The customer's products as learned, newest first.
    pub fn history(&self, customer: &str) -> Vec<&str> {
        self.histories.get(customer).map_or_else(Vec::new, |h| {
            h.iter()
                .rev()
                .map(|(_, p)| self.products[*p as usize].as_str())
                .collect()
        })
    }

    /// The `limit` candidates the customer's products point to most, strongest first (ties
    /// by product id), leaving out `anchors` themselves and whatever `skip` says to.
    /// `anchors` are the customer's products, newest first.
    pub fn affinities(
        &self,
        anchors: &[&str],
        skip: impl Fn(&str) -> bool,
        limit: usize,
    ) -> Vec<Affinity> {
        // Per candidate: affinity, best anchor and what that anchor added.
        let mut scores: HashMap<u32, (f64, u32, f64)> = HashMap::new();
        let mut anchor_ids = Vec::new();
        for (age, anchor) in anchors.iter().take(ANCHORS).enumerate() {
            let Some(&a) = self.ids.get(*anchor) else {
                continue;
            };
            anchor_ids.push(a);
            let buyers = f64::from(self.buyers[a as usize].max(1));
            let recency = ((1 + age) as f64).powf(-RECENCY_EXPONENT);
            let weight = recency / buyers.powf(ANCHOR_EXPONENT);
            for (&c, &w) in &self.neighbours[a as usize] {
                let added = weight * strength(w) / self.candidate_norm[c as usize];
                let entry = scores.entry(c).or_insert((0.0, a, 0.0));
                entry.0 += added;
                if added > entry.2 {
                    entry.1 = a;
                    entry.2 = added;
                }
            }
        }
        let mut ranked: Vec<(f64, &str, u32)> = scores
            .into_iter()
            .filter(|(c, _)| !anchor_ids.contains(c))
            .map(|(c, (s, a, _))| (s, self.products[c as usize].as_str(), a))
            .filter(|(s, p, _)| *s > 0.0 && !skip(p))
            .collect();
        ranked.sort_by(|x, y| y.0.total_cmp(&x.0).then_with(|| x.1.cmp(y.1)));
        ranked.truncate(limit);
        ranked
            .into_iter()
            .map(|(affinity, product, a)| Affinity {
                product: product.to_owned(),
                affinity,
                anchor: self.products[a as usize].clone(),
            })
            .collect()
    }

    fn id(&mut self, product: &str) -> u32 {
        if let Some(&id) = self.ids.get(product) {
            return id;
        }
        let id = u32::try_from(self.products.len()).unwrap_or(u32::MAX);
        self.ids.insert(product.to_owned(), id);
        self.products.push(product.to_owned());
        self.buyers.push(0);
        self.candidate_norm.push(1.0);
        self.neighbours.push(HashMap::new());
        id
    }

    fn count_buyer(&mut self, id: u32, more: bool) {
        let buyers = &mut self.buyers[id as usize];
        *buyers = if more {
            buyers.saturating_add(1)
        } else {
            buyers.saturating_sub(1)
        };
        self.candidate_norm[id as usize] = f64::from((*buyers).max(1)).powf(1.0 - ANCHOR_EXPONENT);
    }

    fn bought(&mut self, customer: &str, product: &str, at: i64) {
        let id = self.id(product);
        let history = self.histories.entry(customer.to_owned()).or_default();
        if history.iter().any(|(_, p)| *p == id) {
            return;
        }
        let at_index = history.partition_point(|(t, _)| *t <= at);
        history.insert(at_index, (at, id));
        let pairs = window(history, at_index);
        if history.len() > HISTORY {
            history.remove(0);
        }
        for (other, distance) in pairs {
            let w = 1.0 / (distance as f32).sqrt();
            self.add(id, other, w);
            self.add(other, id, w);
        }
        self.count_buyer(id, true);
    }

    fn returned(&mut self, customer: &str, product: &str) {
        let Some(&id) = self.ids.get(product) else {
            return;
        };
        let Some(history) = self.histories.get_mut(customer) else {
            return;
        };
        let Some(index) = history.iter().position(|(_, p)| *p == id) else {
            return;
        };
        let pairs = window(history, index);
        history.remove(index);
        for (other, distance) in pairs {
            let w = 1.0 / (distance as f32).sqrt();
            self.take(id, other, w);
            self.take(other, id, w);
        }
        self.count_buyer(id, false);
    }

    fn declined(&mut self, customer: &str, product: &str) {
        let Some(&id) = self.ids.get(product) else {
            return;
        };
        let Some(history) = self.histories.get(customer) else {
            return;
        };
        let newest: Vec<u32> = history.iter().rev().take(WINDOW).map(|(_, p)| *p).collect();
        for (age, other) in newest.into_iter().enumerate() {
            let w = DECLINE_WEIGHT / ((age + 1) as f32).sqrt();
            self.take(id, other, w);
            self.take(other, id, w);
        }
    }

    fn add(&mut self, from: u32, to: u32, w: f32) {
        let partners = &mut self.neighbours[from as usize];
        *partners.entry(to).or_insert(0.0) += w;
        if partners.len() > 2 * KEEP_NEIGHBOURS {
            let mut kept: Vec<(u32, f32)> = partners.drain().collect();
            kept.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            kept.truncate(KEEP_NEIGHBOURS);
            partners.extend(kept);
        }
    }

    fn take(&mut self, from: u32, to: u32, w: f32) {
        let partners = &mut self.neighbours[from as usize];
        if let Some(weight) = partners.get_mut(&to) {
            *weight -= w;
            if *weight <= NEGLIGIBLE {
                partners.remove(&to);
            }
        }
    }
}

/// What a pair of summed weight `w` counts for in a score: `w² / (w + SHRINK)`, nearly `w`
/// for a pair many customers formed side by side, much less for one formed once or far
/// apart, which is as likely chance as taste.
fn strength(w: f32) -> f64 {
    let w = f64::from(w);
    w * w / (w + SHRINK)
}

/// The products within [`WINDOW`] places of `index` in `history`, with their distance.
fn window(history: &[(i64, u32)], index: usize) -> Vec<(u32, usize)> {
    let lo = index.saturating_sub(WINDOW);
    let hi = (index + WINDOW + 1).min(history.len());
    (lo..hi)
        .filter(|j| *j != index)
        .map(|j| (history[j].1, j.abs_diff(index)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(customer: &str, product: &str, kind: PurchaseKind, at: i64) -> PurchaseEvent {
        PurchaseEvent::new(customer, product, kind, at)
    }

    fn bought(model: &mut PurchaseModel, customer: &str, products: &[&str]) {
        for (at, p) in products.iter().enumerate() {
            model.learn(&event(customer, p, PurchaseKind::Bought, at as i64));
        }
    }

    fn top(model: &PurchaseModel, anchors: &[&str]) -> Vec<String> {
        model
            .affinities(anchors, |_| false, 10)
            .into_iter()
            .map(|a| a.product)
            .collect()
    }

    #[test]
    fn what_is_bought_together_is_offered_together() {
        let mut model = PurchaseModel::default();
        for c in 0..5 {
            bought(&mut model, &format!("c{c}"), &["phone", "case"]);
        }
        bought(&mut model, "x", &["phone", "charger"]);
        bought(&mut model, "y", &["kettle", "toaster"]);
        let offers = model.affinities(&["phone"], |_| false, 10);
        assert_eq!(offers[0].product, "case");
        assert_eq!(offers[0].anchor, "phone");
        assert_eq!(offers[1].product, "charger");
        assert_eq!(offers.len(), 2, "{offers:?}");
    }

    #[test]
    fn the_newest_products_weigh_most() {
        let mut model = PurchaseModel::default();
        for c in 0..3 {
            bought(&mut model, &format!("a{c}"), &["tent", "stove"]);
            bought(&mut model, &format!("b{c}"), &["laptop", "mouse"]);
        }
        assert_eq!(top(&model, &["laptop", "tent"])[0], "mouse");
        assert_eq!(top(&model, &["tent", "laptop"])[0], "stove");
    }

    #[test]
    fn neighbours_in_time_count_more_than_distant_ones() {
        let mut model = PurchaseModel::default();
        bought(&mut model, "c", &["a", "b", "x1", "x2", "x3", "x4", "far"]);
        let offers = model.affinities(&["a"], |_| false, 10);
        let weight = |p: &str| {
            offers
                .iter()
                .find(|o| o.product == p)
                .map(|o| o.affinity)
                .expect("paired")
        };
        assert!(weight("b") > weight("far"), "{offers:?}");
    }

    #[test]
    fn weak_pairs_are_discounted_more_than_strong_ones() {
        assert_eq!(strength(0.0), 0.0);
        let ratio = |w: f32| strength(w) / f64::from(w);
        // Always below the weight, and closer to it the stronger the pair.
        for (weak, strong) in [(0.2, 0.5), (0.5, 1.0), (1.0, 4.0), (4.0, 40.0)] {
            assert!(strength(weak) < strength(strong));
            assert!(ratio(weak) < ratio(strong), "{weak} against {strong}");
            assert!(ratio(strong) < 1.0);
        }
        // A pair formed once side by side keeps two thirds of its weight; one formed once
        // nine places apart (weight 1/3) keeps two fifths.
        assert!((ratio(1.0) - 2.0 / 3.0).abs() < 1e-9);
        assert!((ratio(1.0 / 3.0) - 0.4).abs() < 1e-6);
    }

    #[test]
    fn pairs_reach_only_the_window() {
        let mut model = PurchaseModel::default();
        let products: Vec<String> = (0..=WINDOW + 1).map(|i| format!("p{i:02}")).collect();
        let refs: Vec<&str> = products.iter().map(String::as_str).collect();
        bought(&mut model, "c", &refs);
        let partners: Vec<String> = model
            .affinities(&["p00"], |_| false, 100)
            .into_iter()
            .map(|a| a.product)
            .collect();
        assert_eq!(partners.len(), WINDOW);
        assert!(partners.contains(&products[WINDOW]));
        assert!(!partners.contains(&products[WINDOW + 1]));
    }

    #[test]
    fn a_late_purchase_is_placed_in_time_order() {
        let mut model = PurchaseModel::default();
        model.learn(&event("c", "b", PurchaseKind::Bought, 20));
        model.learn(&event("c", "a", PurchaseKind::Bought, 10));
        assert_eq!(model.history("c"), vec!["b", "a"]);
    }

    #[test]
    fn a_repeat_purchase_teaches_nothing() {
        let mut once = PurchaseModel::default();
        bought(&mut once, "c", &["a", "b"]);
        let mut twice = once.clone();
        twice.learn(&event("c", "b", PurchaseKind::Bought, 9));
        assert_eq!(
            once.affinities(&["a"], |_| false, 10),
            twice.affinities(&["a"], |_| false, 10)
        );
    }

    #[test]
    fn a_return_takes_back_what_the_purchase_taught() {
        let mut model = PurchaseModel::default();
        bought(&mut model, "c", &["a", "b"]);
        model.learn(&event("c", "b", PurchaseKind::Returned, 5));
        assert!(top(&model, &["a"]).is_empty());
        assert_eq!(model.history("c"), vec!["a"]);
        assert_eq!(model.buyers[model.ids["b"] as usize], 0);
    }

    #[test]
    fn a_decline_weakens_the_pair() {
        let mut model = PurchaseModel::default();
        for c in 0..2 {
            bought(&mut model, &format!("c{c}"), &["a", "b"]);
        }
        let before = model.affinities(&["a"], |_| false, 10)[0].affinity;
        bought(&mut model, "d", &["a"]);
        model.learn(&event("d", "b", PurchaseKind::Declined, 3));
        let after = model.affinities(&["a"], |_| false, 10)[0].affinity;
        assert!(after < before, "{after} !< {before}");
    }

    #[test]
    fn skipped_and_anchor_products_are_never_offered() {
        let mut model = PurchaseModel::default();
        bought(&mut model, "c", &["a", "b", "c"]);
        let offers = top(&model, &["a", "b"]);
        assert_eq!(offers, vec!["c".to_owned()]);
        assert!(
            model
                .affinities(&["a"], |p| p == "c", 10)
                .iter()
                .all(|o| o.product == "b")
        );
    }

    #[test]
    fn the_most_bought_come_first() {
        let mut model = PurchaseModel::default();
        bought(&mut model, "a", &["x", "y"]);
        bought(&mut model, "b", &["y", "z"]);
        bought(&mut model, "c", &["y", "z"]);
        assert!(model.popular(10).is_empty(), "ranked only when asked");
        model.rank_popular();
        assert_eq!(model.popular(10), [("y", 3), ("z", 2), ("x", 1)]);
        assert_eq!(model.popular(1), [("y", 3)]);
        assert_eq!(model.buyers("z"), 2);
        assert_eq!(model.buyers("nothing"), 0);
    }

    #[test]
    fn memory_is_bounded_per_product_and_customer() {
        let mut model = PurchaseModel::default();
        for c in 0..40 {
            let products: Vec<String> = (0..30).map(|i| format!("p{}", c * 30 + i)).collect();
            let mut with_hub: Vec<&str> = vec!["hub"];
            with_hub.extend(products.iter().map(String::as_str));
            bought(&mut model, &format!("c{c}"), &with_hub);
        }
        let hub = model.ids["hub"] as usize;
        assert!(model.neighbours[hub].len() <= 2 * KEEP_NEIGHBOURS);
        let many: Vec<String> = (0..HISTORY + 50).map(|i| format!("q{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        bought(&mut model, "big", &refs);
        assert_eq!(model.history("big").len(), HISTORY);
        assert_eq!(model.history("big")[0], many[many.len() - 1]);
    }
}
