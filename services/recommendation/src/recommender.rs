//! The use cases: gather what the store knows, hand it to the pure [`crate::recommend`]
//! modules, and record what the service learns. No gRPC types here; the adapter in
//! `grpc.rs` validates requests and maps errors.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use baton_auth::digest::RequestDigest;
use baton_proto::v1::record_outcome_request::Outcome;
use baton_proto::v1::{
    ActionRule, Article, ArticleRef, CaseStatus, CatalogItem, ContactReason, ContextSnapshot,
    OfferRecord, Purchase, Recommendations,
};
use prost_types::Timestamp;

use crate::Error;
use crate::recommend::actions::next_best_actions_with;
use crate::recommend::articles::{ArticleIndex, query_text};
use crate::recommend::greeting::{GreetingInput, greet};
use crate::recommend::offers::{
    self, OfferContext, OfferList, OfferSignals, declined_products, owned_products, suppression,
};
use crate::recommend::purchase_model::{ANCHORS, PurchaseModel};
use crate::recommend::reason_model::{Example, ReasonModel};
use crate::recommend::reasons::{Learned, ReasonInput, likely_reasons, likely_reasons_learned};
use crate::recommend::{Limits, MODEL_VERSION};
use crate::store::{Forgotten, OfferInputs, RecommendationStore};
use crate::tenant_cache::PerTenant;

/// Candidates the co-purchase model gives a Recommend, strongest first.
const MODEL_CANDIDATES: usize = 40;
/// Purchase log entries read per page while a model catches up, and learned per hold of the
/// model's lock (so a Recommend waits for at most that many).
const PURCHASE_PAGE: usize = 2_000;
const LEARNED_PER_LOCK: usize = 64;
/// Popular products considered as candidates.
const POPULAR_CANDIDATES: usize = 20;
/// Catalog items read as a fallback when learned candidates run short.
const FALLBACK_ITEMS: usize = 50;
/// Tenants whose article index a replica keeps at once; the least recently used goes first.
const INDEXED_TENANTS: usize = 256;
/// Tenants whose learned reason model a replica keeps at once.
const MODELLED_TENANTS: usize = 64;
/// How often a replica reads again what a tenant confirmed or configured (reason log, action
/// rules): learning lags a confirmation, and another replica's rule change shows, by at most
/// this; a Recommend in between costs no store read for them.
const REFRESH: std::time::Duration = std::time::Duration::from_secs(1);
/// Reason log entries read per page, and pages learned per refresh (a replica catching up on
/// a long log learns the rest on the next refreshes).
const REASON_PAGE: usize = 1_000;
const REASON_PAGES_PER_REFRESH: usize = 20;
/// Confirmed contacts a model must have learned before its predictions are used.
pub const MIN_LEARNED_EXAMPLES: u64 = 10;

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
    /// Each tenant's article index, with the articles version it was built at.
    indexes: Arc<PerTenant<(u64, Arc<ArticleIndex>)>>,
    /// One index build at a time: concurrent searches of a stale tenant wait for one rebuild.
    building: Arc<tokio::sync::Mutex<()>>,
    /// Each tenant's learned reason model, as of the last log entry it learned, behind its own
    /// lock: predictions share it, a refresh takes it alone (and never holds up another
    /// tenant).
    models: Arc<PerTenant<Arc<tokio::sync::RwLock<Modelled>>>>,
    /// Each tenant's action rules, and when they were read.
    rules: Arc<PerTenant<(std::time::Instant, Arc<Vec<ActionRule>>)>>,
    /// Each tenant's co-purchase model: Recommends read it, one background task at a time
    /// brings it up to date with the purchase log.
    purchase_models: Arc<PerTenant<Arc<PurchaseSlot>>>,
}

/// One tenant's co-purchase model and what keeps it current.
#[derive(Debug, Default)]
struct PurchaseSlot {
    /// The model, read by Recommends and written a few entries at a time while learning.
    learned: std::sync::RwLock<LearnedPurchases>,
    /// Held by the one task reading the log; with when the log was last read through.
    reading: Arc<tokio::sync::Mutex<Option<std::time::Instant>>>,
    /// Set once this replica's first read of the log has finished: every Recommend that
    /// arrives before then waits for that one read.
    loaded: tokio::sync::OnceCell<()>,
}

/// A co-purchase model and where in the tenant's purchase log it has got to.
#[derive(Clone, Debug, Default)]
struct LearnedPurchases {
    model: PurchaseModel,
    generation: u64,
    cursor: String,
}

impl PurchaseSlot {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, LearnedPurchases> {
        self.learned
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, LearnedPurchases> {
        self.learned
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<S> Clone for Recommender<S> {
    fn clone(&self) -> Self {
        Self {
            store: Arc::clone(&self.store),
            indexes: Arc::clone(&self.indexes),
            building: Arc::clone(&self.building),
            models: Arc::clone(&self.models),
            rules: Arc::clone(&self.rules),
            purchase_models: Arc::clone(&self.purchase_models),
        }
    }
}

/// One tenant's reason model and where in the log it has got to.
#[derive(Debug, Default)]
struct Modelled {
    model: ReasonModel,
    generation: u64,
    cursor: String,
    labels: BTreeMap<String, String>,
    /// When the log was last read; `None` before the first read.
    read_at: Option<std::time::Instant>,
}

impl Modelled {
    /// Whether the log is to be read again: never read, or last read [`REFRESH`] ago.
    fn due(&self) -> bool {
        self.read_at.is_none_or(|at| at.elapsed() >= REFRESH)
    }
}

impl<S: RecommendationStore> Recommender<S> {
    /// A recommender over `store`.
    pub fn new(store: S) -> Self {
        Self {
            store: Arc::new(store),
            indexes: Arc::new(PerTenant::new(INDEXED_TENANTS)),
            building: Arc::default(),
            models: Arc::new(PerTenant::new(MODELLED_TENANTS)),
            rules: Arc::new(PerTenant::new(INDEXED_TENANTS)),
            purchase_models: Arc::new(PerTenant::new(MODELLED_TENANTS)),
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

        let input = ReasonInput {
            snapshot,
            utterance: &query.utterance,
            intent: &query.intent,
            now: query.now,
        };
        let (reasons, model_version) = self
            .reasons(&query.tenant, &input, query.limits.reasons)
            .await;
        let cases: Vec<CaseStatus> = snapshot
            .open_cases
            .iter()
            .map(|c| c.status())
            .filter(|s| *s != CaseStatus::Resolved)
            .collect();
        let rules = self.action_rules(&query.tenant).await;
        let actions = next_best_actions_with(&reasons, &rules, &cases);
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
            model_version,
        })
    }

    /// The likely reasons, with the tenant's learned model when it has learned enough, and
    /// the version of what produced them: [`MODEL_VERSION`], with `+learned-N` when a model
    /// that learned N confirmed contacts took part. A model that cannot be brought up to date
    /// (the store failing) is used as it is, or left out: reasons never fail a Recommend.
    async fn reasons(
        &self,
        tenant: &str,
        input: &ReasonInput<'_>,
        max: usize,
    ) -> (Vec<ContactReason>, String) {
        let rules_only = || (likely_reasons(input, max), MODEL_VERSION.to_owned());
        if max == 0 || (input.utterance.trim().is_empty() && input.intent.trim().is_empty()) {
            return rules_only();
        }
        let held = self.models.get_or_insert_with(tenant, Arc::default);
        if held.read().await.due() {
            let mut refreshing = held.write().await;
            if let Err(err) = self.refresh(tenant, &mut refreshing).await {
                tracing::warn!(tenant, error = %err, "reason log unreadable; learned model not refreshed");
            }
        }
        let held = held.read().await;
        let examples = held.model.learned();
        if examples < MIN_LEARNED_EXAMPLES {
            return rules_only();
        }
        let predictions = held
            .model
            .predict(input.utterance, input.intent, max.max(3));
        let learned = Learned {
            predictions: &predictions,
            labels: &held.labels,
            examples,
        };
        (
            likely_reasons_learned(input, &learned, max),
            format!("{MODEL_VERSION}+learned-{examples}"),
        )
    }

    /// The tenant's action rules: as held when read within [`REFRESH`] (a change made
    /// through another replica shows within that), else read again. A store failure leaves
    /// the built-in actions, never a failed Recommend.
    async fn action_rules(&self, tenant: &str) -> Arc<Vec<ActionRule>> {
        let held = self.rules.get(tenant);
        if let Some((at, rules)) = &held
            && at.elapsed() < REFRESH
        {
            return Arc::clone(rules);
        }
        match self.store.action_rules(tenant).await {
            Ok(rules) => {
                let rules = Arc::new(rules);
                self.rules
                    .put(tenant, (std::time::Instant::now(), Arc::clone(&rules)));
                rules
            }
            Err(err) => {
                tracing::warn!(tenant, error = %err, "action rules unreadable; built-in actions only");
                held.map(|(_, rules)| rules).unwrap_or_default()
            }
        }
    }

    /// Replaces the tenant's action rules; this replica uses them from its next Recommend.
    pub async fn set_action_rules(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        rules: Vec<ActionRule>,
    ) -> Result<u32, Error> {
        let held = self
            .store
            .set_action_rules(tenant, idempotency_key, digest, rules)
            .await?;
        self.rules.remove(tenant);
        Ok(held)
    }

    /// Learns what the tenant's reason log holds past what `held` learned, when it was last
    /// read over [`REFRESH`] ago; starts over when the log's generation moved.
    async fn refresh(&self, tenant: &str, held: &mut Modelled) -> Result<(), Error> {
        // Another call may have refreshed it while this one waited for the lock.
        if !held.due() {
            return Ok(());
        }
        for _ in 0..REASON_PAGES_PER_REFRESH {
            let page = self
                .store
                .reasons_after(tenant, &held.cursor, REASON_PAGE)
                .await?;
            if page.generation != held.generation {
                *held = Modelled {
                    generation: page.generation,
                    ..Modelled::default()
                };
                continue;
            }
            let Some(last) = page.entries.last() else {
                break;
            };
            held.cursor = last.cursor.clone();
            let full = page.entries.len() == REASON_PAGE;
            let mut model = std::mem::take(&mut held.model);
            let entries = page.entries;
            let (model, labels) = tokio::task::spawn_blocking(move || {
                let mut labels = Vec::new();
                for e in entries {
                    if !e.reason.label.is_empty() {
                        labels.push((e.reason.code.clone(), e.reason.label.clone()));
                    }
                    model.learn(&Example {
                        utterance: e.reason.utterance,
                        intent: e.reason.intent,
                        code: e.reason.code,
                    });
                }
                (model, labels)
            })
            .await
            .map_err(|e| Error::Internal(format!("reason model learning: {e}")))?;
            held.model = model;
            held.labels.extend(labels);
            if !full {
                break;
            }
        }
        held.read_at = Some(std::time::Instant::now());
        Ok(())
    }

    /// Brings the tenant's co-purchase model up to date with its purchase log and returns
    /// how many events it has learned: reads the log through, after whatever read is under
    /// way. Recommend never waits for this (it starts a read in the background when one is
    /// due); evaluation and tests call it to know the model has seen everything recorded.
    pub async fn learn_purchases(&self, tenant: &str) -> Result<u64, Error> {
        let slot = self
            .purchase_models
            .get_or_insert_with(tenant, Arc::default);
        let mut reading = slot.reading.lock().await;
        read_purchase_log(self.store.as_ref(), tenant, &slot).await?;
        *reading = Some(std::time::Instant::now());
        Ok(slot.read().model.learned())
    }

    /// The tenant's co-purchase model slot. The Recommends a replica takes for a tenant
    /// before its model has first learned the log through all wait for that one read; after
    /// that, when the log was last read over [`REFRESH`] ago and no read is under way, a read
    /// starts in the background and this Recommend uses the model as it is.
    async fn purchase_model(&self, tenant: &str) -> Arc<PurchaseSlot> {
        let slot = self
            .purchase_models
            .get_or_insert_with(tenant, Arc::default);
        if slot.loaded.get().is_none() {
            slot.loaded
                .get_or_init(|| async {
                    let mut reading = slot.reading.lock().await;
                    if let Err(err) = read_purchase_log(self.store.as_ref(), tenant, &slot).await
                    {
                        tracing::warn!(tenant, error = %err, "purchase log unreadable; co-purchase model not learned");
                    }
                    *reading = Some(std::time::Instant::now());
                })
                .await;
            return slot;
        }
        let Ok(mut reading) = Arc::clone(&slot.reading).try_lock_owned() else {
            return slot;
        };
        if reading.is_some_and(|at| at.elapsed() < REFRESH) {
            return slot;
        }
        let (store, tenant, held) = (
            Arc::clone(&self.store),
            tenant.to_owned(),
            Arc::clone(&slot),
        );
        tokio::spawn(async move {
            if let Err(err) = read_purchase_log(store.as_ref(), &tenant, &held).await {
                tracing::warn!(tenant, error = %err, "purchase log unreadable; co-purchase model not refreshed");
            }
            *reading = Some(std::time::Instant::now());
        });
        slot
    }

    async fn offers(
        &self,
        query: &RecommendQuery,
        snapshot: &ContextSnapshot,
    ) -> Result<OfferList, Error> {
        let tenant = query.tenant.as_str();
        let identified = !query.customer_id.is_empty();
        let mut owned = owned_products(snapshot);
        // Declines in the snapshot are known now, those recorded here once the store is read.
        let mut declined = declined_products(snapshot, &[]);

        // Anchors: the customer's products, newest first: the snapshot's and what the model
        // learned, less whatever the snapshot shows returned.
        let returned: BTreeSet<&str> = snapshot
            .purchases
            .iter()
            .filter(|p| p.status() == baton_proto::v1::PurchaseStatus::Returned)
            .map(|p| p.product_id.as_str())
            .filter(|p| !owned.contains(*p))
            .collect();
        // What the model says, and buyer counts from it: popular products for anyone, the
        // candidates' counts, and what the customer's products point to.
        let slot = self.purchase_model(tenant).await;
        let (affinities, popularity) = {
            let learned = slot.read();
            let model = &learned.model;
            let mut popularity: BTreeMap<String, u64> = model
                .popular(POPULAR_CANDIDATES)
                .into_iter()
                .map(|(p, n)| (p.to_owned(), n))
                .collect();
            let affinities = if identified {
                let mut recent: Vec<(i64, &str)> = snapshot
                    .purchases
                    .iter()
                    .filter(|p| owned.contains(&p.product_id))
                    .map(|p| {
                        let at = p.purchased_at.as_ref().map_or(0, |t| t.seconds);
                        (at, p.product_id.as_str())
                    })
                    .collect();
                recent.sort_by_key(|r| std::cmp::Reverse(r.0));
                let mut anchors: Vec<&str> = Vec::with_capacity(ANCHORS);
                let history = model.history(&query.customer_id);
                for product in recent.iter().map(|(_, p)| *p).chain(history) {
                    if !returned.contains(product) && !anchors.contains(&product) {
                        anchors.push(product);
                    }
                    if anchors.len() == ANCHORS {
                        break;
                    }
                }
                let skip = |p: &str| owned.contains(p) || declined.contains(p);
                let affinities = model.affinities(&anchors, skip, MODEL_CANDIDATES);
                owned.extend(anchors.iter().map(|p| (*p).to_owned()));
                for a in &affinities {
                    popularity.insert(a.product.clone(), model.buyers(&a.product));
                }
                affinities
            } else {
                Vec::new()
            };
            (affinities, popularity)
        };
        // One read for the rest: the candidates' catalog items, whether the customer owns each
        // (asked candidate by candidate: exact however much they own), and their recorded
        // offer answers. Nothing is read for an unidentified contact with nothing to offer.
        let wanted: Vec<String> = popularity.keys().cloned().collect();
        let customer = if identified {
            query.customer_id.as_str()
        } else {
            ""
        };
        let inputs = if identified || !wanted.is_empty() {
            self.store.offer_inputs(tenant, customer, wanted).await?
        } else {
            OfferInputs::default()
        };
        owned.extend(inputs.owned);
        declined.extend(declined_products(
            &ContextSnapshot::default(),
            &inputs.record.offers,
        ));
        let catalog: BTreeMap<String, CatalogItem> = inputs
            .items
            .into_iter()
            .map(|item| (item.product_id.clone(), item))
            .collect();
        let fresh = catalog
            .keys()
            .filter(|p| !owned.contains(*p) && !declined.contains(*p))
            .count();
        let fallback = if identified && fresh < query.limits.offers {
            let sample = self.store.catalog_sample(tenant, FALLBACK_ITEMS).await?;
            let ids = sample.iter().map(|item| &item.product_id);
            owned.extend(
                self.owned_among(tenant, &query.customer_id, ids, &owned)
                    .await?,
            );
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
            affinities,
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
        if query.limits.articles == 0 {
            return Ok(Vec::new());
        }
        let text = query_text(&query.utterance, &query.intent, reasons);
        let index = self.article_index(&query.tenant).await?;
        Ok(index.search(&text, query.limits.articles)?)
    }

    /// The tenant's article index as of the store's current articles version: the one held
    /// when it is current, else one built from the store (on the blocking pool: a tenant with
    /// thousands of articles takes a while).
    pub async fn article_index(&self, tenant: &str) -> Result<Arc<ArticleIndex>, Error> {
        let current = |version: u64| {
            self.indexes
                .get(tenant)
                .and_then(|(built, index)| (built == version).then_some(index))
        };
        let version = self.store.articles_version(tenant).await?;
        if let Some(index) = current(version) {
            return Ok(index);
        }
        let _one_build = self.building.lock().await;
        // Another search may have built it while this one waited.
        let version = self.store.articles_version(tenant).await?;
        if let Some(index) = current(version) {
            return Ok(index);
        }
        let corpus = self.store.article_corpus(tenant).await?;
        let started = std::time::Instant::now();
        let index = tokio::task::spawn_blocking(move || {
            ArticleIndex::build(&corpus.articles, &corpus.synonyms).map(|i| (corpus.version, i))
        })
        .await
        .map_err(|e| Error::Internal(format!("article index build: {e}")))?;
        let (version, index) = index?;
        tracing::info!(
            tenant,
            version,
            articles = index.len(),
            ms = started.elapsed().as_millis() as u64,
            "article index built"
        );
        let index = Arc::new(index);
        self.indexes.put(tenant, (version, Arc::clone(&index)));
        Ok(index)
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
            Outcome::Reason(reason) => {
                self.store
                    .record_reason(tenant, customer_id, idempotency_key, digest, reason)
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

    /// Creates or replaces articles (every replica's index follows on its next search).
    pub async fn upsert_articles(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        articles: Vec<Article>,
    ) -> Result<u32, Error> {
        Ok(self
            .store
            .upsert_articles(tenant, idempotency_key, digest, articles)
            .await?)
    }

    /// Replaces the tenant's synonym groups.
    pub async fn set_synonyms(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        groups: Vec<Vec<String>>,
    ) -> Result<u32, Error> {
        Ok(self
            .store
            .set_synonyms(tenant, idempotency_key, digest, groups)
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

/// Reads the tenant's purchase log past what `slot` learned, through to its end, and learns
/// it: a few entries per hold of the model's lock, so Recommends keep reading the model
/// meanwhile. When the log's generation moved (a customer was forgotten), a new model learns
/// the log from the start aside and replaces the old one once it has caught up.
async fn read_purchase_log<S: RecommendationStore>(
    store: &S,
    tenant: &str,
    slot: &PurchaseSlot,
) -> Result<(), Error> {
    let (generation, mut cursor) = {
        let held = slot.read();
        (held.generation, held.cursor.clone())
    };
    let mut fresh: Option<LearnedPurchases> = None;
    loop {
        let page = store
            .purchases_after(tenant, &cursor, PURCHASE_PAGE)
            .await?;
        let expected = fresh.as_ref().map_or(generation, |f| f.generation);
        if page.generation != expected {
            fresh = Some(LearnedPurchases {
                generation: page.generation,
                ..LearnedPurchases::default()
            });
            cursor.clear();
            continue;
        }
        let Some(last) = page.entries.last() else {
            break;
        };
        cursor = last.cursor.clone();
        let full = page.entries.len() == PURCHASE_PAGE;
        match fresh.as_mut() {
            Some(aside) => {
                for entry in &page.entries {
                    aside.model.learn(&entry.event);
                }
                aside.cursor = cursor.clone();
            }
            None => {
                for chunk in page.entries.chunks(LEARNED_PER_LOCK) {
                    let mut held = slot.write();
                    for entry in chunk {
                        held.model.learn(&entry.event);
                    }
                    if let Some(last) = chunk.last() {
                        held.cursor = last.cursor.clone();
                    }
                }
            }
        }
        if !full {
            break;
        }
    }
    match fresh {
        Some(mut aside) => {
            aside.model.rank_popular();
            *slot.write() = aside;
        }
        None => slot.write().model.rank_popular(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    use baton_proto::v1::PurchaseStatus;

    use super::*;
    use crate::recommend::purchase_model::HISTORY;
    use crate::store::EmbeddedRecommendationStore;

    /// Records that `customer` bought each of `products`, an hour apart in that order.
    async fn buy<S: RecommendationStore>(
        recommender: &Recommender<S>,
        customer: &str,
        products: &[String],
    ) {
        let digest = |s: &str| baton_auth::digest::of(&s.to_owned());
        for (i, product) in products.iter().enumerate() {
            let key = format!("{customer}-{product}");
            let made = baton_proto::v1::PurchaseMade {
                order_id: key.clone(),
                product_id: product.clone(),
                status: PurchaseStatus::Delivered as i32,
                ..Default::default()
            };
            let at = Timestamp {
                seconds: 1_700_000_000 + 3_600 * i as i64,
                nanos: 0,
            };
            recommender
                .record_outcome(
                    "t",
                    customer,
                    &key,
                    &digest(&key),
                    Outcome::Purchase(made),
                    at,
                )
                .await
                .expect("purchase");
        }
    }

    /// Puts `names` in the tenant's catalog, each named "The <id>".
    async fn stock<S: RecommendationStore>(recommender: &Recommender<S>, names: &[&str]) {
        let items = names
            .iter()
            .map(|id| CatalogItem {
                product_id: (*id).to_owned(),
                name: format!("The {id}"),
                active: true,
                ..CatalogItem::default()
            })
            .collect();
        let digest = baton_auth::digest::of(&"catalog".to_owned());
        recommender
            .upsert_catalog("t", "catalog", &digest, items)
            .await
            .expect("catalog");
    }

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|p| (*p).to_owned()).collect()
    }

    fn query(customer: &str, offers: usize) -> RecommendQuery {
        RecommendQuery {
            tenant: "t".to_owned(),
            customer_id: customer.to_owned(),
            limits: Limits {
                offers,
                reasons: 1,
                articles: 0,
            },
            ..RecommendQuery::default()
        }
    }

    #[tokio::test]
    async fn nothing_owned_is_offered_however_much_the_customer_owns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::open_embedded(dir.path()).expect("store");
        let recommender = Recommender::new(store);
        let digest = |s: &str| baton_auth::digest::of(&s.to_owned());
        // The customer owns more than the model remembers of anyone, and everything they own
        // is popular and bought together with the rest of the catalog.
        let owned: Vec<String> = (0..HISTORY + 30).map(|i| format!("p{i:03}")).collect();
        let catalog: Vec<String> = (0..HISTORY + 40).map(|i| format!("p{i:03}")).collect();
        let items = catalog
            .iter()
            .map(|id| CatalogItem {
                product_id: id.clone(),
                name: format!("{id} by name"),
                active: true,
                ..CatalogItem::default()
            })
            .collect();
        recommender
            .upsert_catalog("t", "catalog", &digest("catalog"), items)
            .await
            .expect("catalog");
        for other in ["c2", "c3"] {
            buy(&recommender, other, &catalog).await;
        }
        buy(&recommender, "c1", &owned).await;
        recommender.learn_purchases("t").await.expect("learn");
        let offered = recommender
            .recommend(&query("c1", 10))
            .await
            .expect("recommend")
            .offers;
        let products: Vec<&str> = offered.iter().map(|o| o.product_id.as_str()).collect();
        assert_eq!(products.len(), 10, "{offered:?}");
        for product in &products {
            assert!(
                !owned.iter().any(|o| o == product),
                "owned product offered: {products:?}"
            );
        }
    }

    /// Recommends that reach a replica together, before it has read the tenant's purchase log,
    /// all answer from the learned model, not only the first of them.
    #[tokio::test]
    async fn recommends_arriving_together_all_wait_for_the_first_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::open_embedded(dir.path()).expect("store");
        let writer = Recommender::new(store.clone());
        stock(&writer, &["phone", "sleeve", "kettle", "toaster", "mug"]).await;
        for c in 0..6 {
            buy(
                &writer,
                &format!("k{c}"),
                &strings(&["kettle", "toaster", "mug"]),
            )
            .await;
        }
        for c in 0..3 {
            buy(&writer, &format!("p{c}"), &strings(&["phone", "sleeve"])).await;
        }
        buy(&writer, "me", &strings(&["phone"])).await;

        // A replica that has read nothing yet.
        let fresh = Arc::new(Recommender::new(store));
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let fresh = Arc::clone(&fresh);
                tokio::spawn(async move { fresh.recommend(&query("me", 1)).await })
            })
            .collect();
        for call in calls {
            let offers = call.await.expect("joined").expect("recommend").offers;
            assert_eq!(offers.len(), 1, "{offers:?}");
            assert_eq!(offers[0].product_id, "sleeve", "{offers:?}");
        }
    }

    #[tokio::test]
    async fn offers_follow_what_was_bought_next_on_every_replica() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::open_embedded(dir.path()).expect("store");
        let (one, two) = (Recommender::new(store.clone()), Recommender::new(store));
        let digest = |s: &str| baton_auth::digest::of(&s.to_owned());
        stock(
            &one,
            &[
                "phone", "case", "charger", "kettle", "toaster", "mug", "tea",
            ],
        )
        .await;
        // Kitchen things are what most people buy; phone buyers buy a case next.
        for c in 0..6 {
            buy(
                &one,
                &format!("k{c}"),
                &strings(&["kettle", "toaster", "mug", "tea"]),
            )
            .await;
        }
        for c in 0..3 {
            buy(&one, &format!("p{c}"), &strings(&["phone", "case"])).await;
        }
        buy(&one, "me", &strings(&["kettle", "phone"])).await;
        two.learn_purchases("t").await.expect("learn");
        let offers = two
            .recommend(&query("me", 3))
            .await
            .expect("recommend")
            .offers;
        assert_eq!(offers[0].product_id, "case", "{offers:?}");
        assert_eq!(
            offers[0].explanation,
            "customers who bought The phone often buy The case"
        );

        // A forgotten customer leaves every replica's model once it reads the log again.
        for c in 0..3 {
            two.forget_customer(
                "t",
                &format!("p{c}"),
                &format!("f{c}"),
                &digest(&format!("f{c}")),
            )
            .await
            .expect("forget");
        }
        one.learn_purchases("t").await.expect("learn");
        let offers = one
            .recommend(&query("me", 3))
            .await
            .expect("recommend")
            .offers;
        assert!(offers.iter().all(|o| o.product_id != "case"), "{offers:?}");
    }

    #[tokio::test]
    async fn every_replica_searches_the_articles_as_last_changed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::open_embedded(dir.path()).expect("store");
        // Two replicas over one store, each with its own index.
        let (one, two) = (Recommender::new(store.clone()), Recommender::new(store));
        let digest = |s: &str| baton_auth::digest::of(&s.to_owned());
        let article = |id: &str, title: &str| Article {
            article_id: id.to_owned(),
            title: title.to_owned(),
            ..Article::default()
        };
        let found = |r: Recommender<EmbeddedRecommendationStore>, utterance: &'static str| async move {
            let query = RecommendQuery {
                tenant: "t".to_owned(),
                utterance: utterance.to_owned(),
                ..RecommendQuery::default()
            };
            let articles = r.recommend(&query).await.expect("recommend").articles;
            articles
                .into_iter()
                .map(|a| a.article_id)
                .collect::<Vec<_>>()
        };
        assert!(found(two.clone(), "refund").await.is_empty());
        one.upsert_articles("t", "k1", &digest("k1"), vec![article("r", "Refunds")])
            .await
            .expect("upsert");
        assert_eq!(found(two.clone(), "refunded").await, ["r"]);
        // A replaced title is searched as replaced, on the replica that did not write it.
        one.upsert_articles("t", "k2", &digest("k2"), vec![article("r", "Exchanges")])
            .await
            .expect("replace");
        assert!(found(two.clone(), "refund").await.is_empty());
        one.set_synonyms(
            "t",
            "k3",
            &digest("k3"),
            vec![vec!["refund".to_owned(), "exchange".to_owned()]],
        )
        .await
        .expect("synonyms");
        assert_eq!(found(two.clone(), "refund").await, ["r"]);
        assert_eq!(found(one, "exchange").await, ["r"]);
    }

    #[tokio::test]
    async fn confirmed_reasons_teach_every_replica_the_tenants_own_reasons() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::open_embedded(dir.path()).expect("store");
        let (one, two) = (Recommender::new(store.clone()), Recommender::new(store));
        let digest = |s: &str| baton_auth::digest::of(&s.to_owned());
        let query = |utterance: &str| RecommendQuery {
            tenant: "t".to_owned(),
            customer_id: "c0".to_owned(),
            utterance: utterance.to_owned(),
            ..RecommendQuery::default()
        };
        let before = two
            .recommend(&query("my wallet was stolen"))
            .await
            .expect("recommend");
        assert_eq!(before.model_version, MODEL_VERSION);
        assert!(before.reasons.is_empty(), "{:?}", before.reasons);

        let said = [
            ("my wallet was stolen", "lost_card"),
            ("lost my card on the bus", "lost_card"),
            ("someone stole my purse with the card", "lost_card"),
            ("card missing since friday", "lost_card"),
            ("can't find my bank card anywhere", "lost_card"),
            ("going to spain, will my phone work", "roaming"),
            ("data abroad is not working", "roaming"),
            ("huge bill after my holiday abroad", "roaming"),
            ("turn on roaming for my trip", "roaming"),
            ("calling home from canada costs what", "roaming"),
        ];
        for (i, (utterance, code)) in said.iter().enumerate() {
            let key = format!("r{i}");
            let confirmed = baton_proto::v1::ReasonConfirmed {
                code: (*code).to_owned(),
                utterance: (*utterance).to_owned(),
                label: if *code == "lost_card" {
                    "Lost or stolen card".to_owned()
                } else {
                    String::new()
                },
                ..Default::default()
            };
            one.record_outcome(
                "t",
                &format!("c{i}"),
                &key,
                &digest(&key),
                Outcome::Reason(confirmed),
                Timestamp::default(),
            )
            .await
            .expect("record");
        }
        // The other replica read the log a moment ago: it learns once REFRESH passed.
        tokio::time::sleep(REFRESH).await;
        let after = two
            .recommend(&query("my wallet with the card in it was stolen"))
            .await
            .expect("recommend");
        assert_eq!(after.model_version, format!("{MODEL_VERSION}+learned-10"));
        assert_eq!(after.reasons[0].code, "lost_card", "{:?}", after.reasons);
        assert_eq!(after.reasons[0].label, "Lost or stolen card");
        assert!(
            after.reasons[0].evidence[0]
                .text
                .contains("learned from 10 confirmed contacts")
        );
        let abroad = two
            .recommend(&query("my data abroad"))
            .await
            .expect("recommend");
        assert_eq!(abroad.reasons[0].code, "roaming");
        assert_eq!(abroad.reasons[0].label, "Roaming");
    }
}
