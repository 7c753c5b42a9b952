//! The embedded backend: one redb file, `recommendation.redb`, in the data directory.

use std::collections::BTreeSet;
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
use baton_store::redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};
use baton_store::{EmbeddedDb, StoreError, open_read};

use super::tables::{
    ACTION_RULES, ARTICLES, ARTICLES_VERSION, CATALOG, OFFER_ANSWERS, OWNED, PURCHASE_GENERATION,
    PURCHASE_LOG, PURCHASE_LOG_BY_CUSTOMER, PURCHASE_SEQ, PURCHASES, REASON_GENERATION, REASON_LOG,
    REASON_SEQ, RETIRED, RETIRED_BITS, RETIRED_MARKS, SYNONYMS, bump, remove_prefix, scan,
    seq_part,
};
use super::{
    ArticleCorpus, CustomerRecord, Forgotten, LoggedPurchase, LoggedReason, MAX_CUSTOMER_RECORDS,
    MAX_LOGGED_PURCHASES, MAX_LOGGED_REASONS, OfferInputs, PurchaseEvent, PurchaseKind,
    PurchasePage, ReasonPage, RecommendationStore, Replacement, op,
};

/// The recommendation state in a redb file. Cheap to clone; clones share the database.
#[derive(Clone, Debug)]
pub struct EmbeddedRecommendationStore {
    /// The service's database; transactions run on the blocking pool.
    db: EmbeddedDb,
}

impl EmbeddedRecommendationStore {
    /// Opens (creating if needed) `<data_dir>/recommendation.redb`.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let db = EmbeddedDb::open(data_dir, "recommendation")?;
        db.write_now(|txn| {
            for table in RETIRED {
                txn.delete_table(table)
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
            }
            for table in RETIRED_BITS {
                txn.delete_table(table)
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
            }
            for table in RETIRED_MARKS {
                txn.delete_table(table)
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
            }
            Ok(())
        })?;
        Ok(Self { db })
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
                if let Some(event) = super::declined(&customer, &answer) {
                    log_purchase(txn, &tenant, &event)?;
                }
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
                let entry = logged(&customer, reason.clone());
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
                let log = Log {
                    entries: REASON_LOG,
                    generation: REASON_GENERATION,
                };
                let (generation, entries) =
                    log.page(txn, &tenant, &after, limit, |cursor, bytes| {
                        unlogged(cursor, decode(bytes)?)
                    })?;
                Ok(ReasonPage {
                    generation,
                    entries,
                })
            })
            .await
    }

    async fn purchases_after(
        &self,
        tenant: &str,
        after: &str,
        limit: usize,
    ) -> Result<PurchasePage, StoreError> {
        let (tenant, after) = (tenant.to_owned(), after.to_owned());
        self.db
            .read(move |txn| {
                let log = Log {
                    entries: PURCHASE_LOG,
                    generation: PURCHASE_GENERATION,
                };
                let (generation, entries) =
                    log.page(txn, &tenant, &after, limit, |cursor, bytes| {
                        Ok(LoggedPurchase {
                            cursor,
                            event: decode(bytes)?,
                        })
                    })?;
                Ok(PurchasePage {
                    generation,
                    entries,
                })
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, customer = %customer_id, products = product_ids.len()))]
    async fn offer_inputs(
        &self,
        tenant: &str,
        customer_id: &str,
        product_ids: Vec<String>,
    ) -> Result<OfferInputs, StoreError> {
        let (tenant, customer) = (tenant.to_owned(), customer_id.to_owned());
        self.db
            .read(move |txn| {
                let mut inputs = OfferInputs::default();
                if let Some(catalog) = open_read(txn, CATALOG)? {
                    for id in &product_ids {
                        if let Some(v) = catalog.get(scoped(&tenant, &[id]).as_str())? {
                            inputs.items.push(decode(v.value())?);
                        }
                    }
                }
                if customer.is_empty() {
                    return Ok(inputs);
                }
                if let Some(owned) = open_read(txn, OWNED)? {
                    for id in product_ids {
                        let key = scoped(&tenant, &[&customer, &id]);
                        if owned.get(key.as_str())?.is_some() {
                            inputs.owned.insert(id);
                        }
                    }
                }
                inputs.record = read_record(txn, &tenant, &customer)?;
                Ok(inputs)
            })
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, customer = %customer_id))]
    async fn customer_record(
        &self,
        tenant: &str,
        customer_id: &str,
    ) -> Result<CustomerRecord, StoreError> {
        let (tenant, customer) = (tenant.to_owned(), customer_id.to_owned());
        self.db
            .read(move |txn| read_record(txn, &tenant, &customer))
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
                // The remembered answers to this customer's RecordOutcome calls stay: they hold
                // only the digest of the request, and they stop a late retry from recording an
                // erased outcome again.
                let reasons = forget_reasons(txn, &tenant, &customer)?;
                let events = forget_purchase_events(txn, &tenant, &customer)?;
                let removed = remove_prefix(&mut txn.open_table(PURCHASES)?, &prefix)?
                    + remove_prefix(&mut txn.open_table(OFFER_ANSWERS)?, &prefix)?
                    + remove_prefix(&mut txn.open_table(OWNED)?, &prefix)?
                    + reasons
                    + events;
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

/// What was learned from one customer, as `txn` sees it.
fn read_record(
    txn: &ReadTransaction,
    tenant: &str,
    customer: &str,
) -> Result<CustomerRecord, StoreError> {
    let mut record = CustomerRecord::default();
    if let Some(offers) = open_read(txn, OFFER_ANSWERS)? {
        let prefix = scoped(tenant, &[customer]);
        record.offers = scan(&offers, &prefix, MAX_CUSTOMER_RECORDS, |_, bytes| {
            decode::<OfferRecord>(bytes)
        })?;
    }
    Ok(record)
}

/// One of a tenant's logs: its entries by sequence, and its generation.
struct Log {
    entries: TableDefinition<'static, &'static str, &'static [u8]>,
    generation: TableDefinition<'static, &'static str, u64>,
}

impl Log {
    /// The log's generation and up to `limit` of its entries after the one at `after` (from
    /// the start when empty), each made by `entry` from its cursor and stored bytes.
    fn page<T>(
        &self,
        txn: &ReadTransaction,
        tenant: &str,
        after: &str,
        limit: usize,
        entry: impl Fn(String, &[u8]) -> Result<T, StoreError>,
    ) -> Result<(u64, Vec<T>), StoreError> {
        let generation = match open_read(txn, self.generation)? {
            Some(table) => table.get(tenant)?.map(|v| v.value()).unwrap_or(0),
            None => 0,
        };
        let Some(table) = open_read(txn, self.entries)? else {
            return Ok((generation, Vec::new()));
        };
        let (lo, hi) = prefix_range(tenant);
        let start = if after.is_empty() {
            std::ops::Bound::Included(lo.clone())
        } else {
            std::ops::Bound::Excluded(scoped(tenant, &[after]))
        };
        let range = (
            start.as_ref().map(String::as_str),
            std::ops::Bound::Excluded(hi.as_str()),
        );
        let mut entries = Vec::new();
        for stored in table.range::<&str>(range)?.take(limit) {
            let (k, v) = stored?;
            let cursor = k.value().get(lo.len()..).unwrap_or_default().to_owned();
            entries.push(entry(cursor, v.value())?);
        }
        Ok((generation, entries))
    }
}

/// The reason log's key of entry `seq`: fixed width, so key order is log order.
fn reason_key(tenant: &str, seq: u64) -> String {
    scoped(tenant, &[&seq_part(seq)])
}

/// Appends `event` to the tenant's purchase log, filed under its customer too, dropping the
/// oldest entry past [`MAX_LOGGED_PURCHASES`].
fn log_purchase(
    txn: &WriteTransaction,
    tenant: &str,
    event: &PurchaseEvent,
) -> Result<(), StoreError> {
    let seq = bump(&mut txn.open_table(PURCHASE_SEQ)?, tenant, 1)?;
    let mut log = txn.open_table(PURCHASE_LOG)?;
    let mut by_customer = txn.open_table(PURCHASE_LOG_BY_CUSTOMER)?;
    let part = seq_part(seq);
    log.insert(scoped(tenant, &[&part]).as_str(), encode(event).as_slice())?;
    by_customer.insert(scoped(tenant, &[&event.customer_id, &part]).as_str(), ())?;
    let Some(oldest) = seq.checked_sub(MAX_LOGGED_PURCHASES as u64) else {
        return Ok(());
    };
    let part = seq_part(oldest);
    if let Some(bytes) = log.remove(scoped(tenant, &[&part]).as_str())? {
        let gone: PurchaseEvent = decode(bytes.value())?;
        by_customer.remove(scoped(tenant, &[&gone.customer_id, &part]).as_str())?;
    }
    Ok(())
}

/// Removes the customer's entries from the tenant's purchase log, moving its generation when
/// there were any; returns how many.
fn forget_purchase_events(
    txn: &WriteTransaction,
    tenant: &str,
    customer: &str,
) -> Result<u64, StoreError> {
    let mut by_customer = txn.open_table(PURCHASE_LOG_BY_CUSTOMER)?;
    let prefix = scoped(tenant, &[customer]);
    let theirs = scan(&by_customer, &prefix, usize::MAX, |seq, ()| {
        Ok(seq.to_owned())
    })?;
    if theirs.is_empty() {
        return Ok(0);
    }
    remove_prefix(&mut by_customer, &prefix)?;
    let mut log = txn.open_table(PURCHASE_LOG)?;
    let mut removed = 0u64;
    for seq in &theirs {
        if log.remove(scoped(tenant, &[seq]).as_str())?.is_some() {
            removed += 1;
        }
    }
    drop(log);
    bump(&mut txn.open_table(PURCHASE_GENERATION)?, tenant, 1)?;
    Ok(removed)
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

/// Learns from one purchase record. The first purchase of a product by a customer adds it to
/// their owned set and logs the event; a product already owned teaches nothing new (repeat
/// buys would otherwise count twice). A return takes that back once no other purchase of the
/// product by them stands.
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
    let at = super::purchase_time(purchase);
    if purchase.status() != PurchaseStatus::Returned {
        if owns {
            return Ok(());
        }
        owned.insert(owned_key.as_str(), at)?;
        drop(owned);
        let event = PurchaseEvent::new(customer, product, PurchaseKind::Bought, at);
        return log_purchase(txn, tenant, &event);
    }
    if !owns || still_bought(txn, tenant, customer, product)? {
        return Ok(());
    }
    owned.remove(owned_key.as_str())?;
    drop(owned);
    let event = PurchaseEvent::new(customer, product, PurchaseKind::Returned, at);
    log_purchase(txn, tenant, &event)
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

#[cfg(test)]
mod tests {
    use baton_store::redb::{ReadableDatabase, TableHandle};

    use super::*;

    #[test]
    fn tables_an_earlier_version_kept_are_dropped_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = baton_store::redb::Database::create(dir.path().join("recommendation.redb"))
                .expect("an earlier store");
            let txn = db.begin_write().expect("write");
            txn.open_table(RETIRED[0])
                .expect("pairs")
                .insert("t\u{1f}a\u{1f}b", 3)
                .expect("a pair");
            txn.open_table(RETIRED_BITS[0])
                .expect("postings")
                .insert("t\u{1f}term\u{1f}a1", 1)
                .expect("a posting");
            txn.open_table(RETIRED_MARKS[0])
                .expect("ranking")
                .insert("t\u{1f}00000000000000000001\u{1f}a", ())
                .expect("a rank");
            txn.commit().expect("commit");
        }
        drop(EmbeddedRecommendationStore::open(dir.path()).expect("open"));
        let db = baton_store::redb::Database::create(dir.path().join("recommendation.redb"))
            .expect("reopen");
        let txn = db.begin_read().expect("read");
        let names: Vec<String> = txn
            .list_tables()
            .expect("tables")
            .map(|t| t.name().to_owned())
            .collect();
        assert!(
            !names.iter().any(|n| n.starts_with("rec_buyers")
                || n == "rec_co_purchases"
                || n == "rec_postings"),
            "{names:?}"
        );
    }
}
