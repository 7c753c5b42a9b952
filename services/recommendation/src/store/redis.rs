//! The Redis backend: the embedded backend's state in Redis (keys laid out for Redis Cluster),
//! through the shared plumbing in [`baton_store::redis_db`].
//!
//! # Keys
//!
//! Every key is `baton:recommendation:{<tenant>}:<kind>␟<parts>` (`␟` is 0x1F, see
//! [`RedisDb::key`]). The tenant is the hash tag: one tenant's keys share a slot, so one commit
//! may write any of them, and no key is ever shared between tenants.
//!
//! | key                                   | type       | holds                                          |
//! |---------------------------------------|------------|------------------------------------------------|
//! | `catalog`                             | hash       | product id → `CatalogItem`                     |
//! | `catalog_active`                      | sorted set | active product ids, all scored 0 (id order)    |
//! | `articles`                            | hash       | article id → `Article`                         |
//! | `synonyms`                            | string     | `SetSynonymsRequest` holding only the groups   |
//! | `action_rules`                        | string     | `SetActionRulesRequest` holding only the rules |
//! | `reasons`                             | stream     | the reason log: field `r`, a `RecordOutcomeRequest` with the customer and the `ReasonConfirmed` |
//! | `reason_generation`                   | counter    | the reason log's generation, moved by erasure  |
//! | `purchase_log`                        | stream     | the purchase log: field `p`, a `PurchaseEvent` |
//! | `purchase_generation`                 | counter    | the purchase log's generation, moved by erasure |
//! | `purchases␟<customer>`                | hash       | `<order>␟<product>` → `Purchase` as recorded   |
//! | `offers␟<customer>`                   | hash       | offer id → the latest `OfferRecord`            |
//! | `owned␟<customer>`                    | sorted set | products bought, all scored 0 (id order)       |
//! | `answer␟<op>␟<key>`                   | string     | a remembered answer (digest, then answer)      |
//! | `answers`                             | hash       | `<op>␟<key>` → a remembered answer, likewise   |
//! | `version␟catalog`, `version␟articles`, `version␟actions`, `version␟customer␟<customer>` | counter | commit guards |
//!
//! `version␟articles` doubles as the articles version: every article or synonym commit bumps
//! it, and the corpus is read with it in one `MULTI` block.
//!
//! Sets scored 0 list their members in byte order, the order of the embedded backend's keys
//! (ids hold no control characters, so the separator sorts before any id character). The time
//! a product was first bought is not kept: nothing reads it.
//!
//! # Atomicity
//!
//! Every mutation is one guarded commit ([`RedisDb::commit`]): read the guard together with
//! whatever the decision needs (the remembered answer first: returned when it was for the same
//! request, refused when its digest is another request's), build the writes, the answer and
//! the request's digest ([`idempotency::seal`]) among them, and commit them in one script that applies nothing if the guard moved; on a
//! conflict, read and decide again, up to [`MAX_ATTEMPTS`] times. The guards are as narrow as
//! the decisions:
//!
//! - catalog upserts: `version␟catalog` (they read only their remembered answer);
//! - article upserts and synonym changes: `version␟articles` (they read only their remembered
//!   answer, and the guard's bump is what tells replicas to rebuild their search index);
//! - purchases, offer answers and erasure: `version␟customer␟<customer>`. They decide on that
//!   customer's records alone; what a purchase adds tenant-wide (a `purchase_log` entry) is
//!   written in the same script and commutes, so different customers never conflict.
//!
//! Their answers are remembered per tenant, as in the embedded backend, in one hash
//! (`answers`, field `<operation>␟<idempotency key>`) that no customer's guard orders. So the
//! commit also checks that the field is still absent ([`Writes::expect_field`]): of two
//! customers using one key at once, one commits and the other reads again and finds the
//! answer, and its digest, exactly as a retry does. The field names no customer, so nothing about an erased
//! customer stays in a key name.
//!
//! Reads need no guard: each is one round trip, a `MULTI` block where it reads more than one
//! key that must agree.
//!
//! `catalog_sample` reads an index of active items, so retired items never crowd it out. Erasing
//! a customer reads the purchase log through to find their entries (the embedded backend keeps
//! an index of them): a stream entry's id is only known once the script that adds it has run.
//!
//! Keys earlier versions wrote and nothing reads any more (`pairs␟<product>`, `buyers`,
//! `postings␟<term>`, `article_terms␟<article>`) can be deleted at leisure.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;

use baton_auth::digest::RequestDigest;
use baton_proto::v1::{
    ActionRule, Article, CatalogItem, ForgetCustomerResponse, OfferRecord, Purchase,
    PurchaseStatus, ReasonConfirmed, RecordOutcomeRequest, SetActionRulesRequest,
    SetSynonymsRequest, UpsertArticlesResponse, UpsertCatalogResponse,
};
use baton_store::StoreError;
use baton_store::codec::{decode, encode};
use baton_store::idempotency::{open, seal};
use baton_store::keys::SEP;
use baton_store::redis::{self, Pipeline};
use baton_store::redis_db::{Commit, MAX_ATTEMPTS, RedisDb, Writes, back_off, contended};

use super::embedded::{logged, synonym_groups, unlogged};
use super::{
    ArticleCorpus, CustomerRecord, Forgotten, LoggedPurchase, MAX_CUSTOMER_RECORDS,
    MAX_LOGGED_PURCHASES, MAX_LOGGED_REASONS, OfferInputs, PurchaseEvent, PurchaseKind,
    PurchasePage, ReasonPage, RecommendationStore, Replacement, op,
};

/// The recommendation state in Redis. Cheap to clone; clones share the connection.
#[derive(Clone, Debug)]
pub struct RedisRecommendationStore {
    /// The shared connection, and the key builder for the `recommendation` service.
    db: RedisDb,
}

impl RedisRecommendationStore {
    /// A store over `db` (connected for the `recommendation` service).
    pub fn new(db: RedisDb) -> Self {
        Self { db }
    }

    fn keys<'a>(&'a self, tenant: &'a str) -> Keys<'a> {
        Keys {
            db: &self.db,
            tenant,
        }
    }

    /// Runs a pipeline (a `MULTI` block when built with `atomic()`) in one round trip.
    async fn query<T: redis::FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, StoreError> {
        Ok(pipe.query_async(&mut self.db.conn()).await?)
    }

    /// Whether a purchase of `product` other than the record `except` (`order SEP product`)
    /// stands, not returned, in the customer's purchases hash `purchases`.
    async fn still_bought(
        &self,
        purchases: &str,
        except: &str,
        product: &str,
    ) -> Result<bool, StoreError> {
        let (records,): (HashMap<String, Vec<u8>>,) =
            self.query(redis::pipe().hgetall(purchases)).await?;
        let suffix = format!("{SEP}{product}");
        for (field, bytes) in &records {
            if field != except
                && field.ends_with(&suffix)
                && decode::<Purchase>(bytes)?.status() != PurchaseStatus::Returned
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Applies `r` to the record at `key` under `guard` (whose bump is what the change moves);
    /// a retry returns the first answer and writes nothing.
    async fn replace(
        &self,
        keys: &Keys<'_>,
        guard: &str,
        key: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        r: Replacement,
    ) -> Result<u32, StoreError> {
        let answer_key = &keys.answer(r.op, idempotency_key);
        let r = &r;
        retry(r.op, || async move {
            let (version, answer): (Option<u64>, Option<Vec<u8>>) = self
                .query(redis::pipe().atomic().get(guard).get(answer_key))
                .await?;
            if let Some(record) = answer {
                return Ok(Some((r.count)(&open(&record, digest, r.op)?)?));
            }
            let mut writes = Writes::new();
            match &r.record {
                Some(bytes) => writes.set(key, bytes),
                None => writes.del(key),
            };
            writes.set(answer_key, &seal(digest, &r.answer));
            let done = self.commit(guard, version, &writes).await?;
            Ok(done.then_some(r.held))
        })
        .await
    }

    /// The generation under `generation` and up to `limit` entries of the stream `log` after
    /// the one at `after` (from the start when empty), read together.
    async fn log_page(
        &self,
        generation: &str,
        log: &str,
        after: &str,
        limit: usize,
    ) -> Result<(u64, StreamEntries), StoreError> {
        if limit == 0 {
            return Ok((0, Vec::new()));
        }
        let start = if after.is_empty() {
            "-".to_owned()
        } else {
            format!("({after}")
        };
        let (generation, entries): (Option<u64>, StreamEntries) = self
            .query(
                redis::pipe()
                    .atomic()
                    .get(generation)
                    .cmd("XRANGE")
                    .arg(log)
                    .arg(start)
                    .arg("+")
                    .arg("COUNT")
                    .arg(limit),
            )
            .await?;
        Ok((generation.unwrap_or(0), entries))
    }

    /// The ids of the customer's entries in the stream `log`, read page by page; `customer_of`
    /// reads the customer from an entry's value.
    async fn entries_of(
        &self,
        log: &str,
        customer: &str,
        customer_of: fn(&[u8]) -> Result<String, StoreError>,
    ) -> Result<Vec<String>, StoreError> {
        const PAGE: usize = 10_000;
        let mut theirs = Vec::new();
        let mut start = "-".to_owned();
        loop {
            let (entries,): (StreamEntries,) = self
                .query(
                    redis::pipe()
                        .cmd("XRANGE")
                        .arg(log)
                        .arg(&start)
                        .arg("+")
                        .arg("COUNT")
                        .arg(PAGE),
                )
                .await?;
            let full = entries.len() == PAGE;
            for (id, fields) in entries {
                let bytes = fields
                    .get(1)
                    .ok_or_else(|| StoreError::Corrupt(format!("log entry {id} has no value")))?;
                start = format!("({id}");
                if customer_of(bytes)? == customer {
                    theirs.push(id);
                }
            }
            if !full {
                return Ok(theirs);
            }
        }
    }

    /// Commits `writes` if `guard` still holds `version` (absent reads as 0); false when
    /// another writer got there first.
    async fn commit(
        &self,
        guard: &str,
        version: Option<u64>,
        writes: &Writes,
    ) -> Result<bool, StoreError> {
        let done = self.db.commit(guard, version.unwrap_or(0), writes).await?;
        Ok(matches!(done, Commit::Done(_)))
    }

    /// The stored messages under `ids` in the hash `key`, in the order asked; unknown ids are
    /// skipped.
    async fn get_many<M>(&self, key: String, ids: &[String]) -> Result<Vec<M>, StoreError>
    where
        M: prost::Message + Default,
    {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let found: (Vec<Option<Vec<u8>>>,) = self
            .query(redis::pipe().cmd("HMGET").arg(key).arg(ids))
            .await?;
        found.0.into_iter().flatten().map(|v| decode(&v)).collect()
    }
}

/// Entries of an `XRANGE`: the id, and the fields and values in turn.
type StreamEntries = Vec<(String, Vec<Vec<u8>>)>;

/// The reason log entries of an `XRANGE` reply.
fn logged_reasons(entries: StreamEntries) -> Result<Vec<super::LoggedReason>, StoreError> {
    entries
        .into_iter()
        .map(|(id, fields)| {
            let bytes = fields.get(1).ok_or_else(|| {
                StoreError::Corrupt(format!("reason log entry {id} has no value"))
            })?;
            unlogged(id, decode::<RecordOutcomeRequest>(bytes)?)
        })
        .collect()
}

/// A customer's record from their `offers` hash. A customer answers each offer once at most
/// (later answers replace earlier ones), so the hash is as small as the tenant's set of offers.
fn record_of(offers: BTreeMap<String, Vec<u8>>) -> Result<CustomerRecord, StoreError> {
    let offers = offers
        .into_values()
        .take(MAX_CUSTOMER_RECORDS)
        .map(|v| decode::<OfferRecord>(&v))
        .collect::<Result<_, _>>()?;
    Ok(CustomerRecord { offers })
}

/// The purchase log entries of an `XRANGE` reply.
fn logged_purchases(entries: StreamEntries) -> Result<Vec<LoggedPurchase>, StoreError> {
    entries
        .into_iter()
        .map(|(id, fields)| {
            let bytes = fields.get(1).ok_or_else(|| {
                StoreError::Corrupt(format!("purchase log entry {id} has no value"))
            })?;
            Ok(LoggedPurchase {
                event: decode(bytes)?,
                cursor: id,
            })
        })
        .collect()
}

/// Appends `event` to the tenant's purchase log in `writes`, dropping the oldest entry past
/// [`MAX_LOGGED_PURCHASES`].
fn log_purchase(writes: &mut Writes, keys: &Keys<'_>, event: &PurchaseEvent) {
    let cap = MAX_LOGGED_PURCHASES.to_string();
    writes.command(
        "XADD",
        &keys.purchase_log(),
        &[b"MAXLEN", cap.as_bytes(), b"*", b"p", &encode(event)],
    );
}

/// The articles version, the articles hash and the synonyms, as one `MULTI` block reads them.
type CorpusRead = (Option<u64>, BTreeMap<String, Vec<u8>>, Option<Vec<u8>>);

/// The keys of one tenant; the module docs say what each holds.
struct Keys<'a> {
    db: &'a RedisDb,
    tenant: &'a str,
}

impl Keys<'_> {
    fn key(&self, parts: &[&str]) -> String {
        self.db.key(self.tenant, parts)
    }

    fn catalog(&self) -> String {
        self.key(&["catalog"])
    }

    fn catalog_active(&self) -> String {
        self.key(&["catalog_active"])
    }

    fn catalog_guard(&self) -> String {
        self.key(&["version", "catalog"])
    }

    fn articles(&self) -> String {
        self.key(&["articles"])
    }

    fn synonyms(&self) -> String {
        self.key(&["synonyms"])
    }

    fn action_rules(&self) -> String {
        self.key(&["action_rules"])
    }

    fn actions_guard(&self) -> String {
        self.key(&["version", "actions"])
    }

    fn reasons(&self) -> String {
        self.key(&["reasons"])
    }

    fn reason_generation(&self) -> String {
        self.key(&["reason_generation"])
    }

    fn articles_guard(&self) -> String {
        self.key(&["version", "articles"])
    }

    fn purchases(&self, customer: &str) -> String {
        self.key(&["purchases", customer])
    }

    fn offers(&self, customer: &str) -> String {
        self.key(&["offers", customer])
    }

    fn owned(&self, customer: &str) -> String {
        self.key(&["owned", customer])
    }

    fn customer_guard(&self, customer: &str) -> String {
        self.key(&["version", "customer", customer])
    }

    fn purchase_log(&self) -> String {
        self.key(&["purchase_log"])
    }

    fn purchase_generation(&self) -> String {
        self.key(&["purchase_generation"])
    }

    /// A tenant-wide remembered answer. The idempotency key goes last: it is the one part
    /// not validated as an id, so it may hold the separator.
    fn answer(&self, operation: &str, idempotency_key: &str) -> String {
        self.key(&["answer", operation, idempotency_key])
    }

    /// The hash of the remembered answers to calls about one customer (see the module docs).
    fn answers(&self) -> String {
        self.key(&["answers"])
    }
}

/// Runs one read-decide-commit `attempt` until it commits (it returns `None` on a conflict),
/// at most [`MAX_ATTEMPTS`] times, pausing a little longer after each conflict.
async fn retry<T, F, Fut>(operation: &str, mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, StoreError>>,
{
    for n in 0..MAX_ATTEMPTS {
        if let Some(done) = attempt().await? {
            return Ok(done);
        }
        tracing::debug!(operation, attempt = n + 1, "commit conflicted, retrying");
        tokio::time::sleep(back_off(n)).await;
    }
    Err(contended(operation))
}

/// The `stop` index of a `ZRANGE` reading `limit` members; `None` when nothing is to be read
/// (a stop of -1 would read everything).
fn last_index(limit: usize) -> Option<isize> {
    limit
        .checked_sub(1)
        .map(|n| isize::try_from(n).unwrap_or(isize::MAX))
}

impl RecommendationStore for RedisRecommendationStore {
    #[tracing::instrument(skip_all, fields(tenant = %tenant, items = items.len()))]
    async fn upsert_catalog(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        items: Vec<CatalogItem>,
    ) -> Result<u32, StoreError> {
        let keys = &self.keys(tenant);
        let items = &items;
        let guard = &keys.catalog_guard();
        let answer_key = &keys.answer(op::UPSERT_CATALOG, idempotency_key);
        retry(op::UPSERT_CATALOG, || async move {
            let (version, answer): (Option<u64>, Option<Vec<u8>>) = self
                .query(redis::pipe().atomic().get(guard).get(answer_key))
                .await?;
            if let Some(record) = answer {
                let answer = open(&record, digest, op::UPSERT_CATALOG)?;
                return Ok(Some(decode::<UpsertCatalogResponse>(&answer)?.upserted));
            }
            let (catalog, active) = (keys.catalog(), keys.catalog_active());
            let mut writes = Writes::new();
            for item in items {
                let id = item.product_id.as_bytes();
                writes.hset(&catalog, id, &encode(item));
                if item.active {
                    writes.zadd(&active, 0.0, id);
                } else {
                    writes.zrem(&active, id);
                }
            }
            let upserted = u32::try_from(items.len()).unwrap_or(u32::MAX);
            writes.set(
                answer_key,
                &seal(digest, &encode(&UpsertCatalogResponse { upserted })),
            );
            let done = self.commit(guard, version, &writes).await?;
            Ok(done.then_some(upserted))
        })
        .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, ids = product_ids.len()))]
    async fn catalog_items(
        &self,
        tenant: &str,
        product_ids: Vec<String>,
    ) -> Result<Vec<CatalogItem>, StoreError> {
        self.get_many(self.keys(tenant).catalog(), &product_ids)
            .await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, limit))]
    async fn catalog_sample(
        &self,
        tenant: &str,
        limit: usize,
    ) -> Result<Vec<CatalogItem>, StoreError> {
        let Some(stop) = last_index(limit) else {
            return Ok(Vec::new());
        };
        let keys = self.keys(tenant);
        let (ids,): (Vec<String>,) = self
            .query(redis::pipe().zrange(keys.catalog_active(), 0, stop))
            .await?;
        // An item retired between the two reads is still skipped.
        let items: Vec<CatalogItem> = self.get_many(keys.catalog(), &ids).await?;
        Ok(items.into_iter().filter(|i| i.active).collect())
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, articles = articles.len()))]
    async fn upsert_articles(
        &self,
        tenant: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
        articles: Vec<Article>,
    ) -> Result<u32, StoreError> {
        let keys = &self.keys(tenant);
        let articles = &articles;
        let guard = &keys.articles_guard();
        let answer_key = &keys.answer(op::UPSERT_ARTICLES, idempotency_key);
        retry(op::UPSERT_ARTICLES, || async move {
            let (version, answer): (Option<u64>, Option<Vec<u8>>) = self
                .query(redis::pipe().atomic().get(guard).get(answer_key))
                .await?;
            if let Some(record) = answer {
                let answer = open(&record, digest, op::UPSERT_ARTICLES)?;
                return Ok(Some(decode::<UpsertArticlesResponse>(&answer)?.upserted));
            }
            let mut writes = Writes::new();
            for article in articles {
                writes.hset(
                    &keys.articles(),
                    article.article_id.as_bytes(),
                    &encode(article),
                );
            }
            let upserted = u32::try_from(articles.len()).unwrap_or(u32::MAX);
            writes.set(
                answer_key,
                &seal(digest, &encode(&UpsertArticlesResponse { upserted })),
            );
            let done = self.commit(guard, version, &writes).await?;
            Ok(done.then_some(upserted))
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
        let keys = self.keys(tenant);
        let (guard, key) = (keys.articles_guard(), keys.synonyms());
        let r = Replacement::synonyms(groups);
        self.replace(&keys, &guard, &key, idempotency_key, digest, r)
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
        let keys = self.keys(tenant);
        let (guard, key) = (keys.actions_guard(), keys.action_rules());
        let r = Replacement::action_rules(rules);
        self.replace(&keys, &guard, &key, idempotency_key, digest, r)
            .await
    }

    async fn action_rules(&self, tenant: &str) -> Result<Vec<ActionRule>, StoreError> {
        let found: (Option<Vec<u8>>,) = self
            .query(redis::pipe().get(self.keys(tenant).action_rules()))
            .await?;
        match found.0 {
            Some(bytes) => Ok(decode::<SetActionRulesRequest>(&bytes)?.rules),
            None => Ok(Vec::new()),
        }
    }

    async fn articles_version(&self, tenant: &str) -> Result<u64, StoreError> {
        self.db.version(&self.keys(tenant).articles_guard()).await
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant))]
    async fn article_corpus(&self, tenant: &str) -> Result<ArticleCorpus, StoreError> {
        let keys = self.keys(tenant);
        let (version, articles, synonyms): CorpusRead = self
            .query(
                redis::pipe()
                    .atomic()
                    .get(keys.articles_guard())
                    .hgetall(keys.articles())
                    .get(keys.synonyms()),
            )
            .await?;
        Ok(ArticleCorpus {
            version: version.unwrap_or(0),
            articles: articles
                .values()
                .map(|bytes| decode::<Article>(bytes))
                .collect::<Result<_, _>>()?,
            synonyms: match synonyms {
                Some(bytes) => synonym_groups(decode::<SetSynonymsRequest>(&bytes)?),
                None => Vec::new(),
            },
        })
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, ids = article_ids.len()))]
    async fn articles(
        &self,
        tenant: &str,
        article_ids: Vec<String>,
    ) -> Result<Vec<Article>, StoreError> {
        self.get_many(self.keys(tenant).articles(), &article_ids)
            .await
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
        let keys = &self.keys(tenant);
        let purchase = &purchase;
        let guard = &keys.customer_guard(customer_id);
        let (answers, field) = (
            &keys.answers(),
            &answer_field(op::RECORD_OUTCOME, idempotency_key),
        );
        let owned_key = &keys.owned(customer_id);
        let product = purchase.product_id.as_str();
        let learn = purchase.status() != PurchaseStatus::Returned;
        let at = super::purchase_time(purchase);
        retry(op::RECORD_OUTCOME, || async move {
            let (version, answered, already_owned): (Option<u64>, Option<Vec<u8>>, Option<f64>) =
                self.query(
                    redis::pipe()
                        .atomic()
                        .get(guard)
                        .hget(answers, field)
                        .zscore(owned_key, product),
                )
                .await?;
            if let Some(record) = answered {
                open(&record, digest, op::RECORD_OUTCOME)?;
                return Ok(Some(()));
            }
            let mut writes = Writes::new();
            let record = format!("{}{SEP}{product}", purchase.order_id);
            writes.hset(
                &keys.purchases(customer_id),
                record.as_bytes(),
                &encode(purchase),
            );
            // A product already owned teaches nothing new (repeat buys would otherwise count
            // twice); one returned is unlearned once no other purchase of it stands.
            if learn && already_owned.is_none() {
                writes.zadd(owned_key, 0.0, product.as_bytes());
                let event = PurchaseEvent::new(customer_id, product, PurchaseKind::Bought, at);
                log_purchase(&mut writes, keys, &event);
            } else if !learn
                && already_owned.is_some()
                && !self
                    .still_bought(&keys.purchases(customer_id), &record, product)
                    .await?
            {
                writes.command("ZREM", owned_key, &[product.as_bytes()]);
                let event = PurchaseEvent::new(customer_id, product, PurchaseKind::Returned, at);
                log_purchase(&mut writes, keys, &event);
            }
            remember(&mut writes, answers, field, digest, b"");
            Ok(self.commit(guard, version, &writes).await?.then_some(()))
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
        let keys = &self.keys(tenant);
        let answer = &answer;
        let guard = &keys.customer_guard(customer_id);
        let (answers, field) = (
            &keys.answers(),
            &answer_field(op::RECORD_OUTCOME, idempotency_key),
        );
        retry(op::RECORD_OUTCOME, || async move {
            let (version, answered): (Option<u64>, Option<Vec<u8>>) = self
                .query(redis::pipe().atomic().get(guard).hget(answers, field))
                .await?;
            if let Some(record) = answered {
                open(&record, digest, op::RECORD_OUTCOME)?;
                return Ok(Some(()));
            }
            let mut writes = Writes::new();
            writes.hset(
                &keys.offers(customer_id),
                answer.offer_id.as_bytes(),
                &encode(answer),
            );
            if let Some(event) = super::declined(customer_id, answer) {
                log_purchase(&mut writes, keys, &event);
            }
            remember(&mut writes, answers, field, digest, b"");
            Ok(self.commit(guard, version, &writes).await?.then_some(()))
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
        let keys = &self.keys(tenant);
        let guard = &keys.customer_guard(customer_id);
        let (answers, field) = (
            &keys.answers(),
            &answer_field(op::RECORD_OUTCOME, idempotency_key),
        );
        let entry = &encode(&logged(customer_id, reason));
        let cap = MAX_LOGGED_REASONS.to_string();
        let cap = cap.as_bytes();
        retry(op::RECORD_OUTCOME, || async move {
            let (version, answered): (Option<u64>, Option<Vec<u8>>) = self
                .query(redis::pipe().atomic().get(guard).hget(answers, field))
                .await?;
            if let Some(record) = answered {
                open(&record, digest, op::RECORD_OUTCOME)?;
                return Ok(Some(()));
            }
            let mut writes = Writes::new();
            writes.command(
                "XADD",
                &keys.reasons(),
                &[b"MAXLEN", cap, b"*", b"r", entry],
            );
            remember(&mut writes, answers, field, digest, b"");
            Ok(self.commit(guard, version, &writes).await?.then_some(()))
        })
        .await
    }

    async fn reasons_after(
        &self,
        tenant: &str,
        after: &str,
        limit: usize,
    ) -> Result<ReasonPage, StoreError> {
        let keys = self.keys(tenant);
        let (generation, entries) = self
            .log_page(&keys.reason_generation(), &keys.reasons(), after, limit)
            .await?;
        Ok(ReasonPage {
            generation,
            entries: logged_reasons(entries)?,
        })
    }

    async fn purchases_after(
        &self,
        tenant: &str,
        after: &str,
        limit: usize,
    ) -> Result<PurchasePage, StoreError> {
        let keys = self.keys(tenant);
        let (generation, entries) = self
            .log_page(
                &keys.purchase_generation(),
                &keys.purchase_log(),
                after,
                limit,
            )
            .await?;
        Ok(PurchasePage {
            generation,
            entries: logged_purchases(entries)?,
        })
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, customer = %customer_id, products = product_ids.len()))]
    async fn offer_inputs(
        &self,
        tenant: &str,
        customer_id: &str,
        product_ids: Vec<String>,
    ) -> Result<OfferInputs, StoreError> {
        let keys = self.keys(tenant);
        if customer_id.is_empty() {
            return Ok(OfferInputs {
                items: self.get_many(keys.catalog(), &product_ids).await?,
                ..OfferInputs::default()
            });
        }
        if product_ids.is_empty() {
            return Ok(OfferInputs {
                record: self.customer_record(tenant, customer_id).await?,
                ..OfferInputs::default()
            });
        }
        type Read = (
            Vec<Option<Vec<u8>>>,
            Vec<Option<f64>>,
            BTreeMap<String, Vec<u8>>,
        );
        let (items, scores, offers): Read = self
            .query(
                redis::pipe()
                    .atomic()
                    .cmd("HMGET")
                    .arg(keys.catalog())
                    .arg(&product_ids)
                    .cmd("ZMSCORE")
                    .arg(keys.owned(customer_id))
                    .arg(&product_ids)
                    .hgetall(keys.offers(customer_id)),
            )
            .await?;
        Ok(OfferInputs {
            items: items
                .into_iter()
                .flatten()
                .map(|v| decode(&v))
                .collect::<Result<_, _>>()?,
            owned: product_ids
                .into_iter()
                .zip(scores)
                .filter_map(|(product, score)| score.map(|_| product))
                .collect(),
            record: record_of(offers)?,
        })
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, customer = %customer_id))]
    async fn customer_record(
        &self,
        tenant: &str,
        customer_id: &str,
    ) -> Result<CustomerRecord, StoreError> {
        let keys = self.keys(tenant);
        let (offers,): (BTreeMap<String, Vec<u8>>,) = self
            .query(redis::pipe().hgetall(keys.offers(customer_id)))
            .await?;
        record_of(offers)
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, customer = %customer_id, products = product_ids.len()))]
    async fn owned_among(
        &self,
        tenant: &str,
        customer_id: &str,
        product_ids: Vec<String>,
    ) -> Result<BTreeSet<String>, StoreError> {
        if product_ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let (scores,): (Vec<Option<f64>>,) = self
            .query(
                redis::pipe()
                    .cmd("ZMSCORE")
                    .arg(self.keys(tenant).owned(customer_id))
                    .arg(&product_ids),
            )
            .await?;
        Ok(product_ids
            .into_iter()
            .zip(scores)
            .filter_map(|(product, score)| score.map(|_| product))
            .collect())
    }

    #[tracing::instrument(skip_all, fields(tenant = %tenant, customer = %customer_id))]
    async fn forget_customer(
        &self,
        tenant: &str,
        customer_id: &str,
        idempotency_key: &str,
        digest: &RequestDigest,
    ) -> Result<Forgotten, StoreError> {
        let keys = &self.keys(tenant);
        let guard = &keys.customer_guard(customer_id);
        let (answers, field) = (
            &keys.answers(),
            &answer_field(op::FORGET_CUSTOMER, idempotency_key),
        );
        let personal = &[
            keys.purchases(customer_id),
            keys.offers(customer_id),
            keys.owned(customer_id),
        ];
        let [purchases, offers, owned] = personal;
        retry(op::FORGET_CUSTOMER, || async move {
            let (version, answer, purchased, answered, owned_count): (
                Option<u64>,
                Option<Vec<u8>>,
                u64,
                u64,
                u64,
            ) = self
                .query(
                    redis::pipe()
                        .atomic()
                        .get(guard)
                        .hget(answers, field)
                        .hlen(purchases)
                        .hlen(offers)
                        .zcard(owned),
                )
                .await?;
            if let Some(record) = answer {
                let answer = open(&record, digest, op::FORGET_CUSTOMER)?;
                let answer = decode::<ForgetCustomerResponse>(&answer)?;
                return Ok(Some(Forgotten {
                    found: answer.found,
                    records_removed: answer.records_removed,
                }));
            }
            // Read after the guard: a reason recorded for them in between moves it, and this
            // attempt conflicts.
            let theirs = self
                .entries_of(&keys.reasons(), customer_id, |bytes| {
                    Ok(decode::<RecordOutcomeRequest>(bytes)?.customer_id)
                })
                .await?;
            let events = self
                .entries_of(&keys.purchase_log(), customer_id, |bytes| {
                    Ok(decode::<PurchaseEvent>(bytes)?.customer_id)
                })
                .await?;
            // The remembered answers to this customer's outcomes stay: they hold only the
            // digest of the request, and they stop a late retry from recording an erased
            // outcome again.
            let removed =
                purchased + answered + owned_count + theirs.len() as u64 + events.len() as u64;
            let mut writes = Writes::new();
            for key in personal {
                writes.del(key);
            }
            if !theirs.is_empty() {
                let ids: Vec<&[u8]> = theirs.iter().map(|id| id.as_bytes()).collect();
                writes.command("XDEL", &keys.reasons(), &ids);
                writes.command("INCR", &keys.reason_generation(), &[]);
            }
            if !events.is_empty() {
                let ids: Vec<&[u8]> = events.iter().map(|id| id.as_bytes()).collect();
                writes.command("XDEL", &keys.purchase_log(), &ids);
                writes.command("INCR", &keys.purchase_generation(), &[]);
            }
            let answer = ForgetCustomerResponse {
                found: removed > 0,
                records_removed: removed,
            };
            remember(&mut writes, answers, field, digest, &encode(&answer));
            let done = self.commit(guard, version, &writes).await?;
            Ok(done.then_some(Forgotten {
                found: answer.found,
                records_removed: removed,
            }))
        })
        .await
    }
}

/// The field of `answers` remembering `idempotency_key` on `operation`.
fn answer_field(operation: &str, idempotency_key: &str) -> String {
    format!("{operation}{SEP}{idempotency_key}")
}

/// Remembers `answer` to the request whose digest is `digest` in `field` of the tenant's
/// `answers`, if no one did since the decision read it as absent (another customer's commit
/// with the same key, under another guard).
fn remember(
    writes: &mut Writes,
    answers: &str,
    field: &str,
    digest: &RequestDigest,
    answer: &[u8],
) {
    writes.expect_field(answers, field.as_bytes(), None).hset(
        answers,
        field.as_bytes(),
        &seal(digest, answer),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_limit_reads_nothing() {
        assert_eq!(last_index(0), None);
        assert_eq!(last_index(1), Some(0));
        assert_eq!(last_index(usize::MAX), Some(isize::MAX));
    }
}
