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

    /// The store it recommends from and learns into.
    pub fn store(&self) -> &S {
        &self.store
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
        let mut owned = owned_products(snapshot, &record.owned);
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

        // An owned set read back in full is exact; one cut short is checked candidate by
        // candidate (a second read only for customers who own that much).
        let check_owned = identified && !record.owns_no_more();
        if check_owned {
            owned.extend(
                self.owned_among(tenant, &query.customer_id, catalog.keys(), &owned)
                    .await?,
            );
        }
        let fresh = catalog
            .keys()
            .filter(|p| !owned.contains(*p) && !declined.contains(*p))
            .count();
        let fallback = if identified && fresh < query.limits.offers {
            let sample = self.store.catalog_sample(tenant, FALLBACK_ITEMS).await?;
            if check_owned {
                let ids = sample.iter().map(|item| &item.product_id);
                owned.extend(
                    self.owned_among(tenant, &query.customer_id, ids, &owned)
                        .await?,
                );
            }
            sample
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

    /// Which of `candidates` the customer owns, asking the store about those not `known` to
    /// be owned already (nothing is asked when that leaves none).
    async fn owned_among<'a>(
        &self,
        tenant: &str,
        customer_id: &str,
        candidates: impl Iterator<Item = &'a String>,
        known: &BTreeSet<String>,
    ) -> Result<BTreeSet<String>, Error> {
        let ask: Vec<String> = candidates
            .filter(|p| !known.contains(*p))
            .cloned()
            .collect();
        if ask.is_empty() {
            return Ok(BTreeSet::new());
        }
        Ok(self.store.owned_among(tenant, customer_id, ask).await?)
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

#[cfg(test)]
mod tests {
    use std::future::Future;

    use baton_proto::v1::PurchaseStatus;

    use super::*;
    use crate::recommend::articles::{IndexedArticle, Posting};
    use crate::recommend::offers::CoPurchase;
    use crate::store::{EmbeddedRecommendationStore, StoreError};

    /// The embedded store, except that a customer's owned set reads back as a full set of
    /// other products, as it does for a customer who owns more than it reads back (the
    /// products read back being the first in id order).
    struct CutShort(EmbeddedRecommendationStore);

    impl RecommendationStore for CutShort {
        fn upsert_catalog(
            &self,
            tenant: &str,
            key: &str,
            digest: &RequestDigest,
            items: Vec<CatalogItem>,
        ) -> impl Future<Output = Result<u32, StoreError>> + Send {
            self.0.upsert_catalog(tenant, key, digest, items)
        }
        fn catalog_items(
            &self,
            tenant: &str,
            ids: Vec<String>,
        ) -> impl Future<Output = Result<Vec<CatalogItem>, StoreError>> + Send {
            self.0.catalog_items(tenant, ids)
        }
        fn catalog_sample(
            &self,
            tenant: &str,
            limit: usize,
        ) -> impl Future<Output = Result<Vec<CatalogItem>, StoreError>> + Send {
            self.0.catalog_sample(tenant, limit)
        }
        fn upsert_articles(
            &self,
            tenant: &str,
            key: &str,
            digest: &RequestDigest,
            articles: Vec<IndexedArticle>,
        ) -> impl Future<Output = Result<u32, StoreError>> + Send {
            self.0.upsert_articles(tenant, key, digest, articles)
        }
        fn postings(
            &self,
            tenant: &str,
            terms: Vec<String>,
            per_term: usize,
        ) -> impl Future<Output = Result<Vec<Posting>, StoreError>> + Send {
            self.0.postings(tenant, terms, per_term)
        }
        fn articles(
            &self,
            tenant: &str,
            ids: Vec<String>,
        ) -> impl Future<Output = Result<Vec<Article>, StoreError>> + Send {
            self.0.articles(tenant, ids)
        }
        fn record_purchase(
            &self,
            tenant: &str,
            customer: &str,
            key: &str,
            digest: &RequestDigest,
            purchase: Purchase,
        ) -> impl Future<Output = Result<(), StoreError>> + Send {
            self.0
                .record_purchase(tenant, customer, key, digest, purchase)
        }
        fn record_offer_answer(
            &self,
            tenant: &str,
            customer: &str,
            key: &str,
            digest: &RequestDigest,
            answer: OfferRecord,
        ) -> impl Future<Output = Result<(), StoreError>> + Send {
            self.0
                .record_offer_answer(tenant, customer, key, digest, answer)
        }
        async fn customer_record(
            &self,
            tenant: &str,
            customer: &str,
        ) -> Result<CustomerRecord, StoreError> {
            let mut record = self.0.customer_record(tenant, customer).await?;
            record.owned = (0..crate::store::MAX_CUSTOMER_RECORDS)
                .map(|i| format!("aa-{i:04}"))
                .collect();
            Ok(record)
        }
        fn owned_among(
            &self,
            tenant: &str,
            customer: &str,
            ids: Vec<String>,
        ) -> impl Future<Output = Result<BTreeSet<String>, StoreError>> + Send {
            self.0.owned_among(tenant, customer, ids)
        }
        fn co_purchases(
            &self,
            tenant: &str,
            anchors: Vec<String>,
            per_anchor: usize,
        ) -> impl Future<Output = Result<Vec<CoPurchase>, StoreError>> + Send {
            self.0.co_purchases(tenant, anchors, per_anchor)
        }
        fn popular(
            &self,
            tenant: &str,
            limit: usize,
        ) -> impl Future<Output = Result<Vec<(String, u64)>, StoreError>> + Send {
            self.0.popular(tenant, limit)
        }
        fn popularity(
            &self,
            tenant: &str,
            ids: Vec<String>,
        ) -> impl Future<Output = Result<BTreeMap<String, u64>, StoreError>> + Send {
            self.0.popularity(tenant, ids)
        }
        fn forget_customer(
            &self,
            tenant: &str,
            customer: &str,
            key: &str,
            digest: &RequestDigest,
        ) -> impl Future<Output = Result<Forgotten, StoreError>> + Send {
            self.0.forget_customer(tenant, customer, key, digest)
        }
    }

    #[tokio::test]
    async fn nothing_owned_is_offered_even_past_what_the_owned_set_reads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::open_embedded(dir.path()).expect("store");
        let recommender = Recommender::new(CutShort(store));
        let digest = |s: &str| baton_auth::digest::of(&s.to_owned());
        let items = ["boots", "laces", "polish", "socks"]
            .iter()
            .map(|id| CatalogItem {
                product_id: (*id).to_owned(),
                name: format!("{id} by name"),
                active: true,
                ..CatalogItem::default()
            })
            .collect();
        recommender
            .upsert_catalog("t", "catalog", &digest("catalog"), items)
            .await
            .expect("catalog");
        // Everything is popular; the customer owns two of the four.
        let buys = [
            ("c1", "boots"),
            ("c1", "laces"),
            ("c2", "boots"),
            ("c2", "laces"),
            ("c2", "polish"),
            ("c2", "socks"),
        ];
        for (customer, product) in buys {
            let key = format!("{customer}-{product}");
            let made = baton_proto::v1::PurchaseMade {
                order_id: key.clone(),
                product_id: product.to_owned(),
                status: PurchaseStatus::Delivered as i32,
                ..Default::default()
            };
            recommender
                .record_outcome(
                    "t",
                    customer,
                    &key,
                    &digest(&key),
                    Outcome::Purchase(made),
                    Timestamp::default(),
                )
                .await
                .expect("purchase");
        }
        let offered = recommender
            .recommend(&RecommendQuery {
                tenant: "t".to_owned(),
                customer_id: "c1".to_owned(),
                limits: Limits {
                    offers: 4,
                    reasons: 1,
                    articles: 0,
                },
                ..RecommendQuery::default()
            })
            .await
            .expect("recommend")
            .offers;
        let products: BTreeSet<&str> = offered.iter().map(|o| o.product_id.as_str()).collect();
        assert!(!products.is_empty(), "something is offered: {offered:?}");
        assert!(
            !products.contains("boots") && !products.contains("laces"),
            "owned products offered: {products:?}"
        );
    }
}
