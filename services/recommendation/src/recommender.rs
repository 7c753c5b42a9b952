//! The use cases: gather what the store knows, hand it to the pure [`crate::recommend`]
//! modules, and record what the service learns. No gRPC types here; the adapter in
//! `grpc.rs` validates requests and maps errors.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use baton_auth::digest::RequestDigest;
use baton_proto::v1::record_outcome_request::Outcome;
use baton_proto::v1::{
    Article, ArticleRef, CatalogItem, ContactReason, ContextSnapshot, OfferRecord, Purchase,
    Recommendations,
};
use prost_types::Timestamp;

use crate::Error;
use crate::recommend::actions::next_best_actions;
use crate::recommend::articles::{self, article_ref, query_terms};
use crate::recommend::greeting::{GreetingInput, greet};
use crate::recommend::offers::{
    self, OfferContext, OfferList, OfferSignals, declined_products, owned_products, suppression,
};
use crate::recommend::reasons::{ReasonInput, likely_reasons};
use crate::recommend::{Limits, MODEL_VERSION};
use crate::store::{CustomerRecord, Forgotten, RecommendationStore};

/// Owned products whose co-purchases are looked up: the most recent ones say most.
const MAX_ANCHORS: usize = 50;
/// Co-purchases read per anchor.
const CO_PURCHASES_PER_ANCHOR: usize = 20;
/// Popular products considered as candidates.
const POPULAR_CANDIDATES: usize = 50;
/// Catalog items read as a fallback when learned candidates run short.
const FALLBACK_ITEMS: usize = 50;
/// Postings read per query term (interim index; see [`crate::recommend::articles`]).
const POSTINGS_PER_TERM: usize = 500;

/// One validated Recommend call.
#[derive(Clone, Debug, Default)]
pub struct RecommendQuery {
    /// Tenant.
    pub tenant: String,
    /// The customer; empty for an unidentified contact.
    pub customer_id: String,
    /// The customer's context as routing passed it.
    pub snapshot: ContextSnapshot,
    /// What the customer said.
    pub utterance: String,
    /// The detected intent.
    pub intent: String,
    /// For the greeting.
    pub given_name: String,
    /// List sizes.
    pub limits: Limits,
    /// The current time, seconds since the epoch.
    pub now: i64,
}

/// Recommends and learns, over any [`RecommendationStore`].
#[derive(Debug)]
pub struct Recommender<S> {
    /// Shared with every clone of the adapter.
    store: Arc<S>,
}

impl<S> Clone for Recommender<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
        }
    }
}

impl<S: RecommendationStore> Recommender<S> {
    /// A recommender over `store`.
    pub fn new(store: S) -> Self {
        Self {
            store: Arc::new(store),
        }
    }

    /// Everything recommended for one contact.
    pub async fn recommend(&self, query: &RecommendQuery) -> Result<Recommendations, Error> {
        // Nothing personal is used for an unidentified contact, whatever context came along.
        let unknown = ContextSnapshot::default();
        let identified = !query.customer_id.is_empty();
        let snapshot = if identified {
            &query.snapshot
        } else {
            &unknown
        };

        let reasons = likely_reasons(
            &ReasonInput {
                snapshot,
                utterance: &query.utterance,
                intent: &query.intent,
                now: query.now,
            },
            query.limits.reasons,
        );
        let actions = next_best_actions(&reasons);
        let greeting = greet(&GreetingInput {
            given_name: &query.given_name,
            identified,
            snapshot,
            reasons: &reasons,
            now: query.now,
        });
        let offers = self.offers(query, snapshot).await?;
        let articles = self.articles(query, &reasons).await?;
        Ok(Recommendations {
            reasons,
            actions,
            offers: offers.offers,
            offers_suppressed_reason: offers.suppressed_reason,
            articles,
            greeting: Some(greeting),
            model_version: MODEL_VERSION.to_owned(),
        })
    }

    async fn offers(
        &self,
        query: &RecommendQuery,
        snapshot: &ContextSnapshot,
    ) -> Result<OfferList, Error> {
        let tenant = query.tenant.as_str();
        let identified = !query.customer_id.is_empty();
        let record = if identified {
            self.store
                .customer_record(tenant, &query.customer_id)
                .await?
        } else {
            CustomerRecord::default()
        };
        let owned = owned_products(snapshot, &record.owned);
        let declined = declined_products(snapshot, &record.offers);

        // Anchors: owned products, the snapshot's (newest first) before older ones.
        let mut anchors: Vec<String> = Vec::new();
        let newest_first = snapshot
            .purchases
            .iter()
            .map(|p| &p.product_id)
            .chain(&record.owned);
        for product in newest_first {
            if owned.contains(product) && !anchors.contains(product) {
                anchors.push(product.clone());
            }
            if anchors.len() == MAX_ANCHORS {
                break;
            }
        }
        let co_purchases = if identified && !anchors.is_empty() {
            self.store
                .co_purchases(tenant, anchors.clone(), CO_PURCHASES_PER_ANCHOR)
                .await?
        } else {
            Vec::new()
        };
        // Popular products come with their buyer counts, so only the others' are read; and a
        // read with nothing to look up is not made (Recommend runs on every StartContact).
        let mut popularity: BTreeMap<String, u64> = self
            .store
            .popular(tenant, POPULAR_CANDIDATES)
            .await?
            .into_iter()
            .collect();
        let uncounted: BTreeSet<String> = anchors
            .iter()
            .chain(co_purchases.iter().map(|c| &c.product))
            .filter(|p| !popularity.contains_key(*p))
            .cloned()
            .collect();
        let wanted: Vec<String> = popularity.keys().chain(&uncounted).cloned().collect();
        if !uncounted.is_empty() {
            let counts = self
                .store
                .popularity(tenant, uncounted.into_iter().collect())
                .await?;
            popularity.extend(counts);
        }
        let catalog: BTreeMap<String, CatalogItem> = if wanted.is_empty() {
            BTreeMap::new()
        } else {
            self.store
                .catalog_items(tenant, wanted)
                .await?
                .into_iter()
                .map(|item| (item.product_id.clone(), item))
                .collect()
        };

        let fresh = catalog
            .keys()
            .filter(|p| !owned.contains(*p) && !declined.contains(*p))
            .count();
        let fallback = if identified && fresh < query.limits.offers {
            self.store.catalog_sample(tenant, FALLBACK_ITEMS).await?
        } else {
            Vec::new()
        };
        let owned_names = snapshot
            .purchases
            .iter()
            .filter(|p| !p.product_name.is_empty())
            .map(|p| (p.product_id.clone(), p.product_name.clone()))
            .collect();

        let signals = OfferSignals {
            co_purchases,
            popularity,
            catalog,
            owned_names,
            fallback,
        };
        Ok(offers::rank(
            &OfferContext {
                tenant,
                customer_id: &query.customer_id,
                owned: &owned,
                declined: &declined,
                suppressed: suppression(snapshot),
                limit: query.limits.offers,
            },
            &signals,
        ))
    }

    async fn articles(
        &self,
        query: &RecommendQuery,
        reasons: &[ContactReason],
    ) -> Result<Vec<ArticleRef>, Error> {
        let terms = query_terms(&query.utterance, &query.intent, reasons);
        if terms.is_empty() || query.limits.articles == 0 {
            return Ok(Vec::new());
        }
        let postings = self
            .store
            .postings(&query.tenant, terms.clone(), POSTINGS_PER_TERM)
            .await?;
        let ranked = articles::rank(&terms, &postings, query.limits.articles);
        if ranked.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ranked.iter().map(|(id, _)| id.clone()).collect();
        let found: BTreeMap<String, Article> = self
            .store
            .articles(&query.tenant, ids)
            .await?
            .into_iter()
            .map(|a| (a.article_id.clone(), a))
            .collect();
        Ok(ranked
            .iter()
            .filter_map(|(id, score)| found.get(id).map(|a| article_ref(a, *score)))
            .collect())
    }

    /// Records a purchase or an offer answer, at `now`.
    pub async fn record_outcome(
        &self,
        tenant: &str,
        customer_id: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        outcome: Outcome,
        now: Timestamp,
    ) -> Result<(), Error> {
        match outcome {
            Outcome::Purchase(made) => {
                let purchase = Purchase {
                    order_id: made.order_id,
                    product_id: made.product_id,
                    product_name: made.product_name,
                    category: made.category,
                    amount: made.amount,
                    status: made.status,
                    purchased_at: Some(now),
                    promised_by: made.promised_by,
                    delivered_at: None,
                };
                self.store
                    .record_purchase(tenant, customer_id, idempotency_key, digest, purchase)
                    .await?;
            }
            Outcome::Offer(answer) => {
                let record = OfferRecord {
                    offer_id: answer.offer_id,
                    product_id: answer.product_id,
                    outcome: answer.outcome,
                    at: Some(now),
                };
                self.store
                    .record_offer_answer(tenant, customer_id, idempotency_key, digest, record)
                    .await?;
            }
        }
        Ok(())
    }

    /// Creates or replaces catalog items.
    pub async fn upsert_catalog(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        items: Vec<CatalogItem>,
    ) -> Result<u32, Error> {
        Ok(self
            .store
            .upsert_catalog(tenant, idempotency_key, digest, items)
            .await?)
    }

    /// Creates or replaces articles, indexing their terms.
    pub async fn upsert_articles(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        articles: Vec<Article>,
    ) -> Result<u32, Error> {
        let indexed = articles.into_iter().map(articles::index).collect();
        Ok(self
            .store
            .upsert_articles(tenant, idempotency_key, digest, indexed)
            .await?)
    }

    /// Erases what was learned from one customer.
    pub async fn forget_customer(
        &self,
        tenant: &str,
        customer_id: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
    ) -> Result<Forgotten, Error> {
        Ok(self
            .store
            .forget_customer(tenant, customer_id, idempotency_key, digest)
            .await?)
    }
}
