//! The embedded backend: one redb file, `recommendation.redb`, in the data directory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use baton_auth::digest::RequestDigest;
use baton_proto::v1::{
    ActionRule, Article, CatalogItem, ForgetCustomerResponse, OfferRecord, Purchase,
    PurchaseStatus, ReasonConfirmed, RecordOutcomeRequest, SetActionRulesRequest,
    SetSynonymsRequest, SynonymGroup, UpsertArticlesResponse, UpsertCatalogResponse,
    record_outcome_request::Outcome,
};
use baton_store::codec::{decode, encode};
use baton_store::idempotency::{recall, remember};
use baton_store::keys::{SEP, prefix_range, scoped};
use baton_store::redb::{ReadableTable, Table, TableDefinition, WriteTransaction};
use baton_store::{EmbeddedDb, StoreError, open_read};

use super::tables::{
    ACTION_RULES, ARTICLES, ARTICLES_VERSION, BUYERS, BUYERS_RANK, CATALOG, CO_PURCHASES,
    OFFER_ANSWERS, OWNED, PURCHASES, REASON_GENERATION, REASON_LOG, REASON_SEQ, SYNONYMS, bump,
    buyers_of_rank, drop_one, rank_key, remove_prefix, scan, split_rank,
};
use super::{
    ArticleCorpus, CustomerRecord, Forgotten, LoggedReason, MAX_CUSTOMER_RECORDS,
    MAX_LOGGED_REASONS, MAX_PAIRED_PRODUCTS, MAX_PAIRS_SCANNED, ReasonPage, RecommendationStore,
    Replacement, op,
};
use crate::recommend::offers::CoPurchase;

/// The recommendation state in a redb file. Cheap to clone; clones share the database.
#[derive(Clone, Debug)]
pub struct EmbeddedRecommendationStore {
    /// The service's database; transactions run on the blocking pool.
    db: EmbeddedDb,
}

impl EmbeddedRecommendationStore {
    /// Opens (creating if needed) `<data_dir>/recommendation.redb`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        Ok(Self {
            db: EmbeddedDb::open(data_dir, "recommendation")?,
        })
    }

    /// Applies `r` to the tenant's record in `table`, moving the articles version too when
    /// `moves_articles`; a retry returns the first answer and writes nothing.
    async fn replace(
        &self,
        table: TableDefinition<'static, &'static str, &'static [u8]>,
        moves_articles: bool,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        r: Replacement,
    ) -> Result<u32, StoreError> {
        let (tenant, idem, digest) = (tenant.to_owned(), idempotency_key.to_owned(), *digest);
        self.db
            .write(move |txn| {
                if let Some(answer) = recall(txn, &tenant, r.op, &idem, &digest)? {
                    return (r.count)(&answer);
                }
                let mut held = txn.open_table(table)?;
                match &r.record {
                    Some(bytes) => held.insert(tenant.as_str(), bytes.as_slice())?,
                    None => held.remove(tenant.as_str())?,
                };
                drop(held);
                if moves_articles {
                    bump(&mut txn.open_table(ARTICLES_VERSION)?, &tenant, 1)?;
                }
                remember(txn, &tenant, r.op, &idem, &digest, &r.answer)?;
                Ok(r.held)
            })
            .await
    }

    /// The stored messages of `ids` in `table`, in the order asked; unknown ids are skipped.
    async fn get_many<M>(
        &self,
        table: TableDefinition<'static, &'static str, &'static [u8]>,
        tenant: &str,
        ids: Vec<String>,
    ) -> Result<Vec<M>, StoreError>
    where
        M: prost::Message + Default + Send + 'static,
    {
        let tenant = tenant.to_owned();
        self.db
            .read(move |txn| {
                let Some(table) = open_read(txn, table)? else {
                    return Ok(Vec::new());
                };
                let mut found = Vec::new();
                for id in &ids {
                    if let Some(v) = table.get(scoped(&tenant, &[id]).as_str())? {
                        found.push(decode::<M>(v.value())?);
                    }
                }
                Ok(found)
            })
            .await
    }
}

impl RecommendationStore for EmbeddedRecommendationStore {
    #[tracing::instrument(skip_all, fields(tenant = %tenant, items = items.len()))]
    async fn upsert_catalog(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        items: Vec<CatalogItem>,
    ) -> Result<u32, StoreError> {
        let (tenant, idem, digest) = (tenant.to_owned(), idempotency_key.to_owned(), *digest);
        self.db
            .write(move |txn| {
                if let Some(answer) = recall(txn, &tenant, op::UPSERT_CATALOG, &idem, &digest)? {
                    return Ok(decode::<UpsertCatalogResponse>(&answer)?.upserted);
                }
                let mut table = txn.open_table(CATALOG)?;
                for item in &items {
                    table.insert(
                        scoped(&tenant, &[&item.product_id]).as_str(),
                        encode(item).as_slice(),
                    )?;
                }
                let upserted = u32::try_from(items.len()).unwrap_or(u32::MAX);
                let answer = encode(&UpsertCatalogResponse { upserted });
                remember(txn, &tenant, op::UPSERT_CATALOG, &idem, &digest, &answer)?;
                Ok(upserted)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, ids = product_ids.len()))]
    async fn catalog_items(
        &self,
        tenant: &str,
        product_ids: Vec<String>,
    ) -> Result<Vec<CatalogItem>, StoreError> {
        self.get_many(CATALOG, tenant, product_ids).await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, limit))]
    async fn catalog_sample(
        &self,
        tenant: &str,
        limit: usize,
    ) -> Result<Vec<CatalogItem>, StoreError> {
        // Inactive items are skipped; scanning a bounded multiple of the limit keeps a catalog
        // full of retired items from turning this into a full scan.
        let scan_limit = limit.saturating_mul(4);
        let tenant = tenant.to_owned();
        self.db
            .read(move |txn| {
                let Some(table) = open_read(txn, CATALOG)? else {
                    return Ok(Vec::new());
                };
                let items = scan(&table, &tenant, scan_limit, |_, bytes| {
                    decode::<CatalogItem>(bytes)
                })?;
                Ok(items.into_iter().filter(|i| i.active).take(limit).collect())
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, articles = articles.len()))]
    async fn upsert_articles(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        articles: Vec<Article>,
    ) -> Result<u32, StoreError> {
        let (tenant, idem, digest) = (tenant.to_owned(), idempotency_key.to_owned(), *digest);
        self.db
            .write(move |txn| {
                if let Some(answer) = recall(txn, &tenant, op::UPSERT_ARTICLES, &idem, &digest)? {
                    return Ok(decode::<UpsertArticlesResponse>(&answer)?.upserted);
                }
                let mut table = txn.open_table(ARTICLES)?;
                for article in &articles {
                    let key = scoped(&tenant, &[&article.article_id]);
                    table.insert(key.as_str(), encode(article).as_slice())?;
                }
                drop(table);
                bump(&mut txn.open_table(ARTICLES_VERSION)?, &tenant, 1)?;
                let upserted = u32::try_from(articles.len()).unwrap_or(u32::MAX);
                let answer = encode(&UpsertArticlesResponse { upserted });
                remember(txn, &tenant, op::UPSERT_ARTICLES, &idem, &digest, &answer)?;
                Ok(upserted)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, groups = groups.len()))]
    async fn set_synonyms(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        groups: Vec<Vec<String>>,
    ) -> Result<u32, StoreError> {
        let replacement = Replacement::synonyms(groups);
        self.replace(SYNONYMS, true, tenant, idempotency_key, digest, replacement)
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, rules = rules.len()))]
    async fn set_action_rules(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        rules: Vec<ActionRule>,
    ) -> Result<u32, StoreError> {
        let replacement = Replacement::action_rules(rules);
        self.replace(
            ACTION_RULES,
            false,
            tenant,
            idempotency_key,
            digest,
            replacement,
        )
        .await
    }

    async fn action_rules(&self, tenant: &str) -> Result<Vec<ActionRule>, StoreError> {
        let tenant = tenant.to_owned();
        self.db
            .read(move |txn| {
                let Some(table) = open_read(txn, ACTION_RULES)? else {
                    return Ok(Vec::new());
                };
                match table.get(tenant.as_str())? {
                    Some(bytes) => Ok(decode::<SetActionRulesRequest>(bytes.value())?.rules),
                    None => Ok(Vec::new()),
                }
            })
            .await
    }

    async fn articles_version(&self, tenant: &str) -> Result<u64, StoreError> {
        let tenant = tenant.to_owned();
        self.db
            .read(move |txn| {
                let Some(table) = open_read(txn, ARTICLES_VERSION)? else {
                    return Ok(0);
                };
                Ok(table.get(tenant.as_str())?.map(|v| v.value()).unwrap_or(0))
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    async fn article_corpus(&self, tenant: &str) -> Result<ArticleCorpus, StoreError> {
        let tenant = tenant.to_owned();
        self.db
            .read(move |txn| {
                let mut corpus = ArticleCorpus::default();
                if let Some(table) = open_read(txn, ARTICLES_VERSION)? {
                    corpus.version = table.get(tenant.as_str())?.map(|v| v.value()).unwrap_or(0);
                }
                if let Some(table) = open_read(txn, ARTICLES)? {
                    corpus.articles = scan(&table, &tenant, usize::MAX, |_, bytes| {
                        decode::<Article>(bytes)
                    })?;
                }
                if let Some(table) = open_read(txn, SYNONYMS)?
                    && let Some(bytes) = table.get(tenant.as_str())?
                {
                    corpus.synonyms = synonym_groups(decode(bytes.value())?);
                }
                Ok(corpus)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, ids = article_ids.len()))]
    async fn articles(
        &self,
        tenant: &str,
        article_ids: Vec<String>,
    ) -> Result<Vec<Article>, StoreError> {
        self.get_many(ARTICLES, tenant, article_ids).await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, customer = %customer_id))]
    async fn record_purchase(
        &self,
        tenant: &str,
        customer_id: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        purchase: Purchase,
    ) -> Result<(), StoreError> {
        let (tenant, customer, idem, digest) = (
            tenant.to_owned(),
            customer_id.to_owned(),
            idempotency_key.to_owned(),
            *digest,
        );
        self.db
            .write(move |txn| {
                if recall(txn, &tenant, op::RECORD_OUTCOME, &idem, &digest)?.is_some() {
                    return Ok(());
                }
                let record_key = scoped(
                    &tenant,
                    &[&customer, &purchase.order_id, &purchase.product_id],
                );
                txn.open_table(PURCHASES)?
                    .insert(record_key.as_str(), encode(&purchase).as_slice())?;
                learn(txn, &tenant, &customer, &purchase)?;
                remember(txn, &tenant, op::RECORD_OUTCOME, &idem, &digest, &[])?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, customer = %customer_id))]
    async fn record_offer_answer(
        &self,
        tenant: &str,
        customer_id: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        answer: OfferRecord,
    ) -> Result<(), StoreError> {
        let (tenant, customer, idem, digest) = (
            tenant.to_owned(),
            customer_id.to_owned(),
            idempotency_key.to_owned(),
            *digest,
        );
        self.db
            .write(move |txn| {
                if recall(txn, &tenant, op::RECORD_OUTCOME, &idem, &digest)?.is_some() {
                    return Ok(());
                }
                txn.open_table(OFFER_ANSWERS)?.insert(
                    scoped(&tenant, &[&customer, &answer.offer_id]).as_str(),
                    encode(&answer).as_slice(),
                )?;
                remember(txn, &tenant, op::RECORD_OUTCOME, &idem, &digest, &[])?;
                Ok(())
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, customer = %customer_id))]
    async fn record_reason(
        &self,
        tenant: &str,
        customer_id: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        reason: ReasonConfirmed,
    ) -> Result<(), StoreError> {
        let (tenant, customer, idem, digest) = (
            tenant.to_owned(),
            customer_id.to_owned(),
            idempotency_key.to_owned(),
            *digest,
        );
        self.db
            .write(move |txn| {
                if recall(txn, &tenant, op::RECORD_OUTCOME, &idem, &digest)?.is_some() {
                    return Ok(());
                }
                let seq = bump(&mut txn.open_table(REASON_SEQ)?, &tenant, 1)?;
                let mut log = txn.open_table(REASON_LOG)?;
                let entry = logged(&customer, reason);
                log.insert(reason_key(&tenant, seq).as_str(), encode(&entry).as_slice())?;
                if let Some(oldest) = seq.checked_sub(MAX_LOGGED_REASONS as u64) {
                    log.remove(reason_key(&tenant, oldest).as_str())?;
                }
                drop(log);
                remember(txn, &tenant, op::RECORD_OUTCOME, &idem, &digest, &[])?;
                Ok(())
            })
            .await
    }

    async fn reasons_after(
        &self,
        tenant: &str,
        after: &str,
        limit: usize,
    ) -> Result<ReasonPage, StoreError> {
        let (tenant, after) = (tenant.to_owned(), after.to_owned());
        self.db
            .read(move |txn| {
                let mut page = ReasonPage::default();
                if let Some(table) = open_read(txn, REASON_GENERATION)? {
                    page.generation = table.get(tenant.as_str())?.map(|v| v.value()).unwrap_or(0);
                }
                let Some(table) = open_read(txn, REASON_LOG)? else {
                    return Ok(page);
                };
                let (lo, hi) = prefix_range(&tenant);
                let start = if after.is_empty() {
                    std::ops::Bound::Included(lo.clone())
                } else {
                    std::ops::Bound::Excluded(scoped(&tenant, &[&after]))
                };
                let range = (
                    start.as_ref().map(String::as_str),
                    std::ops::Bound::Excluded(hi.as_str()),
                );
                for entry in table.range::<&str>(range)?.take(limit) {
                    let (k, v) = entry?;
                    let cursor = k.value().get(lo.len()..).unwrap_or_default().to_owned();
                    page.entries.push(unlogged(cursor, decode(v.value())?)?);
                }
                Ok(page)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, customer = %customer_id))]
    async fn customer_record(
        &self,
        tenant: &str,
        customer_id: &str,
    ) -> Result<CustomerRecord, StoreError> {
        let prefix = scoped(tenant, &[customer_id]);
        self.db
            .read(move |txn| {
                let mut record = CustomerRecord::default();
                if let Some(owned) = open_read(txn, OWNED)? {
                    record.owned = scan(&owned, &prefix, MAX_CUSTOMER_RECORDS, |product, _| {
                        Ok(product.to_owned())
                    })?
                    .into_iter()
                    .collect::<BTreeSet<_>>();
                }
                if let Some(offers) = open_read(txn, OFFER_ANSWERS)? {
                    record.offers = scan(&offers, &prefix, MAX_CUSTOMER_RECORDS, |_, bytes| {
                        decode::<OfferRecord>(bytes)
                    })?;
                }
                Ok(record)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, customer = %customer_id, products = product_ids.len()))]
    async fn owned_among(
        &self,
        tenant: &str,
        customer_id: &str,
        product_ids: Vec<String>,
    ) -> Result<BTreeSet<String>, StoreError> {
        let (tenant, customer) = (tenant.to_owned(), customer_id.to_owned());
        self.db
            .read(move |txn| {
                let Some(owned) = open_read(txn, OWNED)? else {
                    return Ok(BTreeSet::new());
                };
                let mut found = BTreeSet::new();
                for product in product_ids {
                    if owned
                        .get(scoped(&tenant, &[&customer, &product]).as_str())?
                        .is_some()
                    {
                        found.insert(product);
                    }
                }
                Ok(found)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, anchors = anchors.len()))]
    async fn co_purchases(
        &self,
        tenant: &str,
        anchors: Vec<String>,
        per_anchor: usize,
    ) -> Result<Vec<CoPurchase>, StoreError> {
        let tenant = tenant.to_owned();
        self.db
            .read(move |txn| {
                let Some(table) = open_read(txn, CO_PURCHASES)? else {
                    return Ok(Vec::new());
                };
                let mut out = Vec::new();
                for anchor in &anchors {
                    let mut rows = scan(
                        &table,
                        &scoped(&tenant, &[anchor]),
                        MAX_PAIRS_SCANNED,
                        |product, count| {
                            Ok(CoPurchase {
                                anchor: anchor.clone(),
                                product: product.to_owned(),
                                count,
                            })
                        },
                    )?;
                    rows.sort_by(|a, b| {
                        b.count
                            .cmp(&a.count)
                            .then_with(|| a.product.cmp(&b.product))
                    });
                    rows.truncate(per_anchor);
                    out.extend(rows);
                }
                Ok(out)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, limit))]
    async fn popular(&self, tenant: &str, limit: usize) -> Result<Vec<(String, u64)>, StoreError> {
        let tenant = tenant.to_owned();
        self.db
            .read(move |txn| {
                let Some(table) = open_read(txn, BUYERS_RANK)? else {
                    return Ok(Vec::new());
                };
                let rows = scan(&table, &tenant, limit, |suffix, ()| {
                    Ok(split_rank(suffix).and_then(|(rank, product)| {
                        buyers_of_rank(rank).map(|n| (product.to_owned(), n))
                    }))
                })?;
                Ok(rows.into_iter().flatten().collect())
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, ids = product_ids.len()))]
    async fn popularity(
        &self,
        tenant: &str,
        product_ids: Vec<String>,
    ) -> Result<BTreeMap<String, u64>, StoreError> {
        let tenant = tenant.to_owned();
        self.db
            .read(move |txn| {
                let Some(table) = open_read(txn, BUYERS)? else {
                    return Ok(BTreeMap::new());
                };
                let mut out = BTreeMap::new();
                for id in product_ids {
                    if let Some(v) = table.get(scoped(&tenant, &[&id]).as_str())? {
                        out.insert(id, v.value());
                    }
                }
                Ok(out)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, customer = %customer_id))]
    async fn forget_customer(
        &self,
        tenant: &str,
        customer_id: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
    ) -> Result<Forgotten, StoreError> {
        let (tenant, customer, idem, digest) = (
            tenant.to_owned(),
            customer_id.to_owned(),
            idempotency_key.to_owned(),
            *digest,
        );
        self.db
            .write(move |txn| {
                if let Some(answer) = recall(txn, &tenant, op::FORGET_CUSTOMER, &idem, &digest)? {
                    let answer = decode::<ForgetCustomerResponse>(&answer)?;
                    return Ok(Forgotten {
                        found: answer.found,
                        records_removed: answer.records_removed,
                    });
                }
                let prefix = scoped(&tenant, &[&customer]);
                // Buyer and co-purchase counts are deliberately kept: they are aggregates over
                // many customers and cannot be traced back to this one. The remembered answers
                // to this customer's RecordOutcome calls stay too: they hold only the digest of
                // the request, and they stop a late retry from recording an erased outcome again.
                let reasons = forget_reasons(txn, &tenant, &customer)?;
                let removed = remove_prefix(&mut txn.open_table(PURCHASES)?, &prefix)?
                    + remove_prefix(&mut txn.open_table(OFFER_ANSWERS)?, &prefix)?
                    + remove_prefix(&mut txn.open_table(OWNED)?, &prefix)?
                    + reasons;
                let answer = ForgetCustomerResponse {
                    found: removed > 0,
                    records_removed: removed,
                };
                remember(
                    txn,
                    &tenant,
                    op::FORGET_CUSTOMER,
                    &idem,
                    &digest,
                    &encode(&answer),
                )?;
                Ok(Forgotten {
                    found: answer.found,
                    records_removed: removed,
                })
            })
            .await
    }
}

/// The reason log's key of entry `seq`: fixed width, so key order is log order.
fn reason_key(tenant: &str, seq: u64) -> String {
    scoped(tenant, &[&format!("{seq:020}")])
}

/// A reason as the log holds it: with the customer it was confirmed for.
pub(super) fn logged(customer: &str, reason: ReasonConfirmed) -> RecordOutcomeRequest {
    RecordOutcomeRequest {
        customer_id: customer.to_owned(),
        outcome: Some(Outcome::Reason(reason)),
        ..Default::default()
    }
}

/// A log entry back from its stored form.
pub(super) fn unlogged(
    cursor: String,
    entry: RecordOutcomeRequest,
) -> Result<LoggedReason, StoreError> {
    match entry.outcome {
        Some(Outcome::Reason(reason)) => Ok(LoggedReason {
            cursor,
            customer_id: entry.customer_id,
            reason,
        }),
        _ => Err(StoreError::Corrupt(format!(
            "reason log entry {cursor} holds no reason"
        ))),
    }
}

/// Removes the customer's entries from the tenant's reason log, moving its generation when
/// there were any; returns how many.
fn forget_reasons(txn: &WriteTransaction, tenant: &str, customer: &str) -> Result<u64, StoreError> {
    let mut log = txn.open_table(REASON_LOG)?;
    let theirs = scan(&log, tenant, usize::MAX, |seq, bytes| {
        let entry: RecordOutcomeRequest = decode(bytes)?;
        Ok((entry.customer_id == customer).then(|| seq.to_owned()))
    })?;
    let mut removed = 0u64;
    for seq in theirs.into_iter().flatten() {
        log.remove(scoped(tenant, &[&seq]).as_str())?;
        removed += 1;
    }
    drop(log);
    if removed > 0 {
        bump(&mut txn.open_table(REASON_GENERATION)?, tenant, 1)?;
    }
    Ok(removed)
}

/// The owned products a purchase pairs with: at most [`MAX_PAIRED_PRODUCTS`] of them.
fn paired_with(
    owned: &impl ReadableTable<&'static str, i64>,
    tenant: &str,
    customer: &str,
) -> Result<Vec<String>, StoreError> {
    scan(
        owned,
        &scoped(tenant, &[customer]),
        MAX_PAIRED_PRODUCTS,
        |p, _| Ok(p.to_owned()),
    )
}

/// Counts one buyer more (`more`) or fewer of `product`, whose buyer also owns `others`: its
/// co-purchases with each of them both ways, its buyer count and its place in the ranking.
fn count_buyer(
    txn: &WriteTransaction,
    tenant: &str,
    product: &str,
    others: &[String],
    more: bool,
) -> Result<(), StoreError> {
    let step = |table: &mut Table<&str, u64>, key: &str| match more {
        true => bump(table, key, 1),
        false => drop_one(table, key),
    };
    let mut pairs = txn.open_table(CO_PURCHASES)?;
    for other in others {
        step(&mut pairs, &scoped(tenant, &[other, product]))?;
        step(&mut pairs, &scoped(tenant, &[product, other]))?;
    }
    let buyers = step(&mut txn.open_table(BUYERS)?, &scoped(tenant, &[product]))?;
    let before = if more {
        buyers.saturating_sub(1)
    } else {
        buyers + 1
    };
    let mut rank = txn.open_table(BUYERS_RANK)?;
    rank.remove(scoped(tenant, &[&rank_key(before), product]).as_str())?;
    if buyers > 0 {
        rank.insert(scoped(tenant, &[&rank_key(buyers), product]).as_str(), ())?;
    }
    Ok(())
}

/// Learns from one purchase record. The first purchase of a product by a customer pairs it
/// with what they own, counts one more buyer and adds it to their owned set; a product
/// already owned teaches nothing new (repeat buys would otherwise inflate pairs). A return
/// takes that back, with one co-purchase fewer for each pair it formed (whichever of the two
/// products was bought first), once no other purchase of the product by them stands.
fn learn(
    txn: &WriteTransaction,
    tenant: &str,
    customer: &str,
    purchase: &Purchase,
) -> Result<(), StoreError> {
    let product = purchase.product_id.as_str();
    let mut owned = txn.open_table(OWNED)?;
    let owned_key = scoped(tenant, &[customer, product]);
    let owns = owned.get(owned_key.as_str())?.is_some();
    if purchase.status() != PurchaseStatus::Returned {
        if owns {
            return Ok(());
        }
        let others = paired_with(&owned, tenant, customer)?;
        let bought_at = purchase.purchased_at.as_ref().map_or(0, |t| t.seconds);
        owned.insert(owned_key.as_str(), bought_at)?;
        return count_buyer(txn, tenant, product, &others, true);
    }
    if !owns || still_bought(txn, tenant, customer, product)? {
        return Ok(());
    }
    owned.remove(owned_key.as_str())?;
    let others = paired_with(&owned, tenant, customer)?;
    count_buyer(txn, tenant, product, &others, false)
}

/// Whether the customer has a purchase of `product` on record that was not returned.
fn still_bought(
    txn: &WriteTransaction,
    tenant: &str,
    customer: &str,
    product: &str,
) -> Result<bool, StoreError> {
    let (lo, hi) = prefix_range(&scoped(tenant, &[customer]));
    let suffix = format!("{SEP}{product}");
    let purchases = txn.open_table(PURCHASES)?;
    for entry in purchases.range::<&str>(lo.as_str()..hi.as_str())? {
        let (key, bytes) = entry?;
        if key.value().ends_with(&suffix)
            && decode::<Purchase>(bytes.value())?.status() != PurchaseStatus::Returned
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The stored form of a tenant's synonym groups.
pub(super) fn synonym_record(groups: Vec<Vec<String>>) -> SetSynonymsRequest {
    SetSynonymsRequest {
        groups: groups
            .into_iter()
            .map(|terms| SynonymGroup { terms })
            .collect(),
        ..Default::default()
    }
}

/// The groups back from their stored form.
pub(super) fn synonym_groups(record: SetSynonymsRequest) -> Vec<Vec<String>> {
    record.groups.into_iter().map(|g| g.terms).collect()
}
