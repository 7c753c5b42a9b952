//! Offers: catalog items the customer is likely to want, with the reason for each.
//!
//! Pure: the caller gathers the stored signals ([`OfferSignals`]) and this module decides.
//! Rules that always hold, whatever scores say:
//! - never an inactive item, one the customer owns (a purchase not returned) or one they
//!   declined;
//! - no promotional item while a complaint is open, and the response says so;
//! - an unidentified contact gets popular items only (nothing personal is known).
//!
//! Score, in [0, 1]: `0.8 × affinity + 0.2 × popularity`. Affinity is what the tenant's
//! co-purchase model ([`super::purchase_model`]) says the customer's products point to,
//! scaled to the best candidate's; the explanation names the owned product that contributed
//! most. Popularity is the item's buyer count relative to the most bought candidate, so a
//! customer with little history still gets sensible offers. `baton eval recommend` measures
//! the whole against popularity alone; the rules above hold whatever the scores say.

use std::collections::{BTreeMap, BTreeSet};

use baton_proto::v1::{
    CaseStatus, CatalogItem, ContextSnapshot, Offer, OfferOutcome, OfferRecord, PurchaseStatus,
};

pub use super::purchase_model::Affinity;
use super::text::clip;

/// Why offers are cut down while a complaint is open.
pub const COMPLAINT_SUPPRESSION: &str = "open complaint: promotions are paused";
/// Product names quoted in explanations are cut to this many characters.
pub const MAX_NAME_CHARS: usize = 60;
const AFFINITY_WEIGHT: f64 = 0.8;
const POPULARITY_WEIGHT: f64 = 0.2;

/// What the model and the store know that bears on offers.
#[derive(Clone, Debug, Default)]
pub struct OfferSignals {
    /// What the customer's products point to, from the co-purchase model.
    pub affinities: Vec<Affinity>,
    /// Distinct buyers per product, for candidates and anchors.
    pub popularity: BTreeMap<String, u64>,
    /// Catalog items by product id: candidates, and anchors for their names.
    pub catalog: BTreeMap<String, CatalogItem>,
    /// Display names of owned products as the purchases know them.
    pub owned_names: BTreeMap<String, String>,
    /// Catalog items to fall back on when learned signals give too few candidates (a new
    /// tenant with a catalog and no purchases yet).
    pub fallback: Vec<CatalogItem>,
}

/// Who the offers are for and what constrains them.
#[derive(Clone, Copy, Debug)]
pub struct OfferContext<'a> {
    /// Tenant, for offer ids.
    pub tenant: &'a str,
    /// The customer; empty for an unidentified contact.
    pub customer_id: &'a str,
    /// Products the customer owns.
    pub owned: &'a BTreeSet<String>,
    /// Products the customer declined.
    pub declined: &'a BTreeSet<String>,
    /// Set while promotions are paused, with the reason.
    pub suppressed: Option<&'static str>,
    /// How many offers to return.
    pub limit: usize,
}

/// The offers and, when some were held back, why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OfferList {
    /// Best first.
    pub offers: Vec<Offer>,
    /// Empty unless promotions are paused.
    pub suppressed_reason: String,
}

/// Products the snapshot shows the customer owning: any purchase it lists that was not
/// returned. Older purchases that fell off its bounded list are asked of the store, product
/// by product, once the candidates are known.
pub fn owned_products(snapshot: &ContextSnapshot) -> BTreeSet<String> {
    snapshot
        .purchases
        .iter()
        .filter(|p| p.status() != PurchaseStatus::Returned && !p.product_id.is_empty())
        .map(|p| p.product_id.clone())
        .collect()
}

/// Products the customer declined, in the snapshot or as recorded here.
pub fn declined_products(snapshot: &ContextSnapshot, stored: &[OfferRecord]) -> BTreeSet<String> {
    snapshot
        .offers
        .iter()
        .chain(stored)
        .filter(|o| o.outcome() == OfferOutcome::Declined && !o.product_id.is_empty())
        .map(|o| o.product_id.clone())
        .collect()
}

/// Why promotions are paused, if they are: any open complaint.
pub fn suppression(snapshot: &ContextSnapshot) -> Option<&'static str> {
    snapshot
        .open_cases
        .iter()
        .any(|c| c.complaint && c.status() != CaseStatus::Resolved)
        .then_some(COMPLAINT_SUPPRESSION)
}

/// A stable offer id for this customer and product: the same recommendation asked twice
/// names its offers the same way, so outcomes recorded against either match.
pub fn offer_id(tenant: &str, customer_id: &str, product_id: &str) -> String {
    // FNV-1a over the parts with a separator; 128 bits laid into a version-8 (custom) UUID.
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut hash = OFFSET;
    for part in [tenant, customer_id, product_id] {
        for byte in part.bytes().chain([0x1f]) {
            hash ^= u128::from(byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    uuid::Builder::from_custom_bytes(hash.to_be_bytes())
        .into_uuid()
        .to_string()
}

/// One candidate while ranking.
struct Candidate<'a> {
    item: &'a CatalogItem,
    affinity: f64,
    /// The owned product that adds most to `affinity`.
    anchor: Option<&'a str>,
    buyers: u64,
}

/// Ranks the offerable candidates and cuts them to the limit.
pub fn rank(ctx: &OfferContext<'_>, signals: &OfferSignals) -> OfferList {
    let identified = !ctx.customer_id.is_empty();
    let paused = |item: &CatalogItem| ctx.suppressed.is_some() && item.promotional;
    let offerable = |item: &CatalogItem| {
        item.active
            && !item.product_id.is_empty()
            && !ctx.owned.contains(&item.product_id)
            && !ctx.declined.contains(&item.product_id)
            && !paused(item)
    };
    let buyers = |product: &str| signals.popularity.get(product).copied().unwrap_or(0);

    // Candidates: what is popular, what the model points to, then the fallback items.
    let learned = |product: &str| signals.catalog.get(product);
    let mut items: Vec<&CatalogItem> = signals
        .popularity
        .iter()
        .filter(|(_, n)| **n > 0)
        .filter_map(|(p, _)| learned(p))
        .collect();
    if identified {
        items.extend(
            signals
                .affinities
                .iter()
                .filter_map(|a| learned(&a.product)),
        );
        items.extend(signals.fallback.iter());
    }
    let mut candidates: BTreeMap<&str, Candidate<'_>> = BTreeMap::new();
    for item in items {
        if offerable(item) {
            candidates
                .entry(item.product_id.as_str())
                .or_insert_with(|| Candidate {
                    item,
                    affinity: 0.0,
                    anchor: None,
                    buyers: buyers(&item.product_id),
                });
        }
    }

    if identified {
        for a in &signals.affinities {
            if ctx.owned.contains(&a.anchor)
                && let Some(candidate) = candidates.get_mut(a.product.as_str())
            {
                candidate.affinity = a.affinity.max(0.0);
                candidate.anchor = (a.affinity > 0.0).then_some(a.anchor.as_str());
            }
        }
    }

    let most_buyers = candidates
        .values()
        .map(|c| c.buyers)
        .max()
        .unwrap_or(0)
        .max(1);
    let most_affinity = candidates.values().map(|c| c.affinity).fold(0.0, f64::max);
    let mut scored: Vec<(f64, &Candidate<'_>)> = candidates
        .values()
        .map(|c| {
            let popularity = c.buyers as f64 / most_buyers as f64;
            let affinity = if most_affinity > 0.0 {
                c.affinity / most_affinity
            } else {
                0.0
            };
            let score = AFFINITY_WEIGHT * affinity + POPULARITY_WEIGHT * popularity;
            (score.clamp(0.0, 1.0), c)
        })
        .collect();
    scored.sort_by(|(a, ca), (b, cb)| {
        b.total_cmp(a)
            .then_with(|| ca.item.product_id.cmp(&cb.item.product_id))
    });
    scored.truncate(ctx.limit);

    let offers = scored
        .into_iter()
        .map(|(score, c)| Offer {
            offer_id: offer_id(ctx.tenant, ctx.customer_id, &c.item.product_id),
            product_id: c.item.product_id.clone(),
            name: c.item.name.clone(),
            score,
            explanation: explain(c, signals),
        })
        .collect();
    OfferList {
        offers,
        suppressed_reason: ctx.suppressed.unwrap_or_default().to_owned(),
    }
}

/// The sentence saying why an item is offered.
fn explain(candidate: &Candidate<'_>, signals: &OfferSignals) -> String {
    let item = candidate.item;
    let name = clip(display_name(item), MAX_NAME_CHARS);
    let category = clip(&item.category, MAX_NAME_CHARS);
    if let Some(anchor) = candidate.anchor {
        let anchor_name = signals
            .owned_names
            .get(anchor)
            .filter(|n| !n.is_empty())
            .map(String::as_str)
            .or_else(|| signals.catalog.get(anchor).map(display_name))
            .unwrap_or(anchor);
        return format!(
            "customers who bought {} often buy {name}",
            clip(anchor_name, MAX_NAME_CHARS)
        );
    }
    match (candidate.buyers > 0, category.is_empty()) {
        (true, false) => format!("popular in {category}"),
        (true, true) => "popular with our customers".to_owned(),
        (false, false) => format!("from our {category} range"),
        (false, true) => "from our range".to_owned(),
    }
}

fn display_name(item: &CatalogItem) -> &str {
    if item.name.is_empty() {
        &item.product_id
    } else {
        &item.name
    }
}

#[cfg(test)]
#[path = "offers_tests.rs"]
mod tests;
