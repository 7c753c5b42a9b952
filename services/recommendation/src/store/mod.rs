//! What the service keeps: the catalog, knowledge articles and synonyms (read whole into each
//! replica's search index, rebuilt when their version moves), recorded outcomes per customer
//! with their owned sets, and two logs each replica learns its models from: confirmed reasons and
//! purchase events (purchases, returns, declined offers).
//!
//! [`RecommendationStore`] is the seam: the embedded redb backend ([`EmbeddedRecommendationStore`])
//! and the Redis backend ([`RedisRecommendationStore`]) implement it, and [`crate::conformance`]
//! holds the one suite both must pass. Every method is scoped to a tenant; every mutation takes the caller's idempotency
//! key (scoped to the caller) and the digest of the request it came with, and applies at most
//! once per key, committed with the change: a retry (same key, same digest) gets the first
//! answer, the same key with another digest is refused with [`StoreError::KeyReused`].

mod embedded;
mod redis;
mod tables;

use std::collections::BTreeSet;
use std::future::Future;

use baton_auth::digest::RequestDigest;
use baton_proto::v1::{
    ActionRule, Article, CatalogItem, OfferRecord, Purchase, ReasonConfirmed,
    SetActionRulesRequest, SetActionRulesResponse, SetSynonymsResponse,
};
pub use baton_store::StoreError;
use baton_store::codec::{decode, encode};

pub use self::embedded::EmbeddedRecommendationStore;
pub use self::redis::RedisRecommendationStore;

/// Offer answers read back per customer (their declines are never offered again; whether a
/// candidate is owned is asked with `owned_among`, which has no bound).
pub const MAX_CUSTOMER_RECORDS: usize = 1_000;

/// Operation names under which idempotency answers are remembered.
mod op {
    pub const UPSERT_CATALOG: &str = "upsert_catalog";
    pub const UPSERT_ARTICLES: &str = "upsert_articles";
    pub const SET_SYNONYMS: &str = "set_synonyms";
    pub const SET_ACTION_RULES: &str = "set_action_rules";
    /// Purchases and offer answers share one: a key names one outcome, whatever its kind.
    pub const RECORD_OUTCOME: &str = "record_outcome";
    pub const FORGET_CUSTOMER: &str = "forget_customer";
}

/// What the service learned from one customer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CustomerRecord {
    /// The latest answer to each offer, by offer id order, up to [`MAX_CUSTOMER_RECORDS`].
    pub offers: Vec<OfferRecord>,
}

/// What offers need from the store about their candidates for one customer, read at once.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OfferInputs {
    /// The candidates' catalog items, in the order asked; unknown ids are skipped.
    pub items: Vec<CatalogItem>,
    /// Which candidates the customer owns, exactly.
    pub owned: BTreeSet<String>,
    /// The customer's record.
    pub record: CustomerRecord,
}

/// The result of erasing a customer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Forgotten {
    /// Whether anything was held.
    pub found: bool,
    /// Records removed.
    pub records_removed: u64,
}

/// A tenant's one record replaced whole (synonyms, action rules), as both backends apply it:
/// once per idempotency key, the answer a count of what is now held.
struct Replacement {
    /// The operation its answers are remembered under.
    op: &'static str,
    /// The encoded record, or `None` to remove it.
    record: Option<Vec<u8>>,
    /// How many entries the record holds: the answer.
    held: u32,
    /// The answer as remembered.
    answer: Vec<u8>,
    /// The count back from a remembered answer.
    count: fn(&[u8]) -> Result<u32, StoreError>,
}

impl Replacement {
    fn synonyms(groups: Vec<Vec<String>>) -> Self {
        let held = u32::try_from(groups.len()).unwrap_or(u32::MAX);
        Self {
            op: op::SET_SYNONYMS,
            record: (!groups.is_empty()).then(|| encode(&embedded::synonym_record(groups))),
            held,
            answer: encode(&SetSynonymsResponse { groups: held }),
            count: |bytes| Ok(decode::<SetSynonymsResponse>(bytes)?.groups),
        }
    }

    fn action_rules(rules: Vec<ActionRule>) -> Self {
        let held = u32::try_from(rules.len()).unwrap_or(u32::MAX);
        let record = (!rules.is_empty()).then(|| {
            encode(&SetActionRulesRequest {
                rules,
                ..Default::default()
            })
        });
        Self {
            op: op::SET_ACTION_RULES,
            record,
            held,
            answer: encode(&SetActionRulesResponse { rules: held }),
            count: |bytes| Ok(decode::<SetActionRulesResponse>(bytes)?.rules),
        }
    }
}

/// Confirmed reasons a tenant's log holds at most: the newest, older ones dropped as new ones
/// come (a replica that learned them keeps what it learned).
pub const MAX_LOGGED_REASONS: usize = 100_000;

/// One entry of a tenant's reason log.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedReason {
    /// Where it is in the log: pass the last one read to read on after it. Opaque, ordered as
    /// the log is.
    pub cursor: String,
    /// The customer it was confirmed for (erasure removes it with them).
    pub customer_id: String,
    /// The reason as confirmed.
    pub reason: ReasonConfirmed,
}

/// A page of a tenant's reason log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReasonPage {
    /// Moves whenever entries leave the log other than by age (a customer forgotten): a
    /// model that learned from an earlier generation must learn again from the start.
    pub generation: u64,
    /// Entries after the cursor asked for, oldest first.
    pub entries: Vec<LoggedReason>,
}

/// Purchase events a tenant's log holds at most: the newest, older ones dropped as new ones
/// come (a replica that learned them keeps what it learned).
pub const MAX_LOGGED_PURCHASES: usize = 1_000_000;

/// What a purchase event says about a product, as the purchase log holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum PurchaseKind {
    /// Not set (never written).
    Unspecified = 0,
    /// The customer's first standing purchase of the product: they own it now.
    Bought = 1,
    /// Their last standing purchase of it came back: they no longer own it.
    Returned = 2,
    /// They declined it when offered.
    Declined = 3,
}

/// One entry of a tenant's purchase log, as stored.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PurchaseEvent {
    /// The customer (erasure removes the entry with them).
    #[prost(string, tag = "1")]
    pub customer_id: String,
    /// The product.
    #[prost(string, tag = "2")]
    pub product_id: String,
    /// What happened.
    #[prost(enumeration = "PurchaseKind", tag = "3")]
    pub kind: i32,
    /// When it happened, seconds since the epoch (the purchase's time when it has one, else
    /// when it was recorded).
    #[prost(int64, tag = "4")]
    pub at: i64,
}

impl PurchaseEvent {
    /// An event of `kind`.
    pub fn new(customer_id: &str, product_id: &str, kind: PurchaseKind, at: i64) -> Self {
        Self {
            customer_id: customer_id.to_owned(),
            product_id: product_id.to_owned(),
            kind: kind as i32,
            at,
        }
    }
}

/// When a purchase was made, seconds since the epoch (0 when it says nothing).
fn purchase_time(purchase: &Purchase) -> i64 {
    purchase.purchased_at.as_ref().map_or(0, |t| t.seconds)
}

/// The purchase log's event for an offer answer: a decline, or nothing.
fn declined(customer: &str, answer: &OfferRecord) -> Option<PurchaseEvent> {
    let declined = answer.outcome() == baton_proto::v1::OfferOutcome::Declined;
    (declined && !answer.product_id.is_empty()).then(|| {
        let at = answer.at.as_ref().map_or(0, |t| t.seconds);
        PurchaseEvent::new(customer, &answer.product_id, PurchaseKind::Declined, at)
    })
}

/// One entry of a tenant's purchase log, where it is in the log.
#[derive(Clone, Debug, PartialEq)]
pub struct LoggedPurchase {
    /// Where it is in the log: pass the last one read to read on after it. Opaque, ordered as
    /// the log is.
    pub cursor: String,
    /// The event.
    pub event: PurchaseEvent,
}

/// A page of a tenant's purchase log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PurchasePage {
    /// Moves whenever entries leave the log other than by age (a customer forgotten): a
    /// model that learned from an earlier generation must learn again from the start.
    pub generation: u64,
    /// Entries after the cursor asked for, oldest first.
    pub entries: Vec<LoggedPurchase>,
}

/// Everything article search indexes for one tenant, as of one version.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArticleCorpus {
    /// The tenant's [`RecommendationStore::articles_version`] these were read at.
    pub version: u64,
    /// Every article, in article-id order.
    pub articles: Vec<Article>,
    /// The synonym groups, as last set.
    pub synonyms: Vec<Vec<String>>,
}

/// The service's state, per tenant.
pub trait RecommendationStore: Send + Sync + 'static {
    /// Creates or replaces catalog items; returns how many were written (a retry with the same
    /// key returns the first answer and writes nothing).
    fn upsert_catalog(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        items: Vec<CatalogItem>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// The catalog items with these product ids; unknown ids are skipped.
    fn catalog_items(
        &self,
        tenant: &str,
        product_ids: Vec<String>,
    ) -> impl Future<Output = Result<Vec<CatalogItem>, StoreError>> + Send;

    /// Up to `limit` active catalog items in product-id order: candidates before anything
    /// has been learned.
    fn catalog_sample(
        &self,
        tenant: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<CatalogItem>, StoreError>> + Send;

    /// Creates or replaces articles; returns how many were written. Moves the tenant's
    /// articles version.
    fn upsert_articles(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        articles: Vec<Article>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Replaces the tenant's synonym groups; returns how many are held. Moves the tenant's
    /// articles version.
    fn set_synonyms(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        groups: Vec<Vec<String>>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// Replaces the tenant's next-best-action rules; returns how many are held.
    fn set_action_rules(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        rules: Vec<ActionRule>,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;

    /// The tenant's next-best-action rules, in the order they are tried.
    fn action_rules(
        &self,
        tenant: &str,
    ) -> impl Future<Output = Result<Vec<ActionRule>, StoreError>> + Send;

    /// A number that moves whenever the tenant's articles or synonyms change (0 before the
    /// first change): a replica's search index is current while it was built at this version.
    fn articles_version(
        &self,
        tenant: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Every article and synonym group of the tenant, read at one version.
    fn article_corpus(
        &self,
        tenant: &str,
    ) -> impl Future<Output = Result<ArticleCorpus, StoreError>> + Send;

    /// The articles with these ids; unknown ids are skipped.
    fn articles(
        &self,
        tenant: &str,
        article_ids: Vec<String>,
    ) -> impl Future<Output = Result<Vec<Article>, StoreError>> + Send;

    /// Records a purchase. The first purchase of a product by a customer adds the product to
    /// their owned set and appends a [`PurchaseKind::Bought`] event to the tenant's purchase
    /// log. A purchase recorded as returned is kept and, once no other purchase of that product
    /// by the customer stands, takes that back: the product leaves the owned set, and a
    /// [`PurchaseKind::Returned`] event is logged. Either way the write is a bounded number of keys, whatever the customer owns.
    fn record_purchase(
        &self,
        tenant: &str,
        customer_id: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        purchase: Purchase,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records the latest answer to an offer (replacing an earlier answer to the same offer);
    /// a decline also appends a [`PurchaseKind::Declined`] event to the purchase log.
    fn record_offer_answer(
        &self,
        tenant: &str,
        customer_id: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        answer: OfferRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// What was learned from one customer.
    fn customer_record(
        &self,
        tenant: &str,
        customer_id: &str,
    ) -> impl Future<Output = Result<CustomerRecord, StoreError>> + Send;

    /// Which of `product_ids` the customer owns, exactly, however many products they own
    /// (the owned set in [`Self::customer_record`] is read back capped, so eligibility is
    /// checked here, candidate by candidate).
    fn owned_among(
        &self,
        tenant: &str,
        customer_id: &str,
        product_ids: Vec<String>,
    ) -> impl Future<Output = Result<BTreeSet<String>, StoreError>> + Send;

    /// The catalog items of `product_ids`, which of them the customer owns and the customer's
    /// record, in one read: what a Recommend asks of the store for its offers. An empty
    /// customer id owns nothing and has no record.
    fn offer_inputs(
        &self,
        tenant: &str,
        customer_id: &str,
        product_ids: Vec<String>,
    ) -> impl Future<Output = Result<OfferInputs, StoreError>> + Send;

    /// Up to `limit` entries of the tenant's purchase log after the one at `after` (from the
    /// start when empty), with the log's generation.
    fn purchases_after(
        &self,
        tenant: &str,
        after: &str,
        limit: usize,
    ) -> impl Future<Output = Result<PurchasePage, StoreError>> + Send;

    /// Appends a confirmed reason to the tenant's reason log (at most once per key, like
    /// every outcome), dropping the oldest entry past [`MAX_LOGGED_REASONS`].
    fn record_reason(
        &self,
        tenant: &str,
        customer_id: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        reason: ReasonConfirmed,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `limit` entries of the tenant's reason log after the one at `after` (from the
    /// start when empty), with the log's generation.
    fn reasons_after(
        &self,
        tenant: &str,
        after: &str,
        limit: usize,
    ) -> impl Future<Output = Result<ReasonPage, StoreError>> + Send;

    /// Erases everything recorded about one customer: their purchases, offer answers, owned
    /// set, purchase events and confirmed reasons (which moves the generation of each log
    /// they were in).
    fn forget_customer(
        &self,
        tenant: &str,
        customer_id: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
    ) -> impl Future<Output = Result<Forgotten, StoreError>> + Send;
}
