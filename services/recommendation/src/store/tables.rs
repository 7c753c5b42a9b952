//! The redb tables of the embedded backend and the small helpers every operation shares.
//!
//! Every key starts with the tenant (`baton_store::keys::scoped`), so a prefix scan never
//! crosses tenants. Ids are validated at the API boundary (no control characters), so the
//! separator can never appear inside a part.

use baton_store::StoreError;
use baton_store::keys::prefix_range;
use baton_store::redb::{ReadableTable, Table, TableDefinition, Value};

/// `tenant / product_id` → `CatalogItem`.
pub const CATALOG: TableDefinition<&str, &[u8]> = TableDefinition::new("rec_catalog");
/// `tenant / article_id` → `Article`.
pub const ARTICLES: TableDefinition<&str, &[u8]> = TableDefinition::new("rec_articles");
/// `tenant` → `SetSynonymsRequest` holding only the groups, as last set.
pub const SYNONYMS: TableDefinition<&str, &[u8]> = TableDefinition::new("rec_synonyms");
/// `tenant` → `SetActionRulesRequest` holding only the rules, as last set.
pub const ACTION_RULES: TableDefinition<&str, &[u8]> = TableDefinition::new("rec_action_rules");
/// `tenant` → the articles version, moved by every article or synonym change.
pub const ARTICLES_VERSION: TableDefinition<&str, u64> =
    TableDefinition::new("rec_articles_version");
/// `tenant / sequence` (20 digits) → `RecordOutcomeRequest` holding the customer and the
/// `ReasonConfirmed`: the reason log, oldest first.
pub const REASON_LOG: TableDefinition<&str, &[u8]> = TableDefinition::new("rec_reason_log");
/// `tenant` → the last sequence the reason log gave.
pub const REASON_SEQ: TableDefinition<&str, u64> = TableDefinition::new("rec_reason_seq");
/// `tenant` → the reason log's generation, moved by erasure.
pub const REASON_GENERATION: TableDefinition<&str, u64> =
    TableDefinition::new("rec_reason_generation");
/// `tenant / customer / order_id / product_id` → `Purchase` as recorded.
pub const PURCHASES: TableDefinition<&str, &[u8]> = TableDefinition::new("rec_purchases");
/// `tenant / customer / offer_id` → `OfferRecord`, the latest answer.
pub const OFFER_ANSWERS: TableDefinition<&str, &[u8]> = TableDefinition::new("rec_offer_answers");
/// `tenant / customer / product_id` → when first bought (seconds): the owned set.
pub const OWNED: TableDefinition<&str, i64> = TableDefinition::new("rec_owned");
/// `tenant / sequence` (20 digits) → `PurchaseEvent`: the purchase log, oldest first.
pub const PURCHASE_LOG: TableDefinition<&str, &[u8]> = TableDefinition::new("rec_purchase_log");
/// `tenant / customer / sequence` → (): each customer's entries in the purchase log, so
/// erasing them never reads the whole log.
pub const PURCHASE_LOG_BY_CUSTOMER: TableDefinition<&str, ()> =
    TableDefinition::new("rec_purchase_log_by_customer");
/// `tenant` → the last sequence the purchase log gave.
pub const PURCHASE_SEQ: TableDefinition<&str, u64> = TableDefinition::new("rec_purchase_seq");
/// `tenant` → the purchase log's generation, moved by erasure.
pub const PURCHASE_GENERATION: TableDefinition<&str, u64> =
    TableDefinition::new("rec_purchase_generation");
/// Tables earlier versions kept and nothing reads any more, dropped when a store opens:
/// co-purchase counts per pair (replaced by the purchase log), buyer counts and the ranking
/// by them (replaced by the counts each replica's purchase model keeps), and the interim
/// article term index with each article's terms (replaced by the search index each replica
/// builds).
pub const RETIRED: [TableDefinition<&str, u64>; 2] = [
    TableDefinition::new("rec_co_purchases"),
    TableDefinition::new("rec_buyers"),
];
/// Retired tables holding field bits.
pub const RETIRED_BITS: [TableDefinition<&str, u8>; 2] = [
    TableDefinition::new("rec_postings"),
    TableDefinition::new("rec_article_terms"),
];
/// Retired tables whose rows are keys alone.
pub const RETIRED_MARKS: [TableDefinition<&str, ()>; 1] = [TableDefinition::new("rec_buyers_rank")];

/// The fixed-width key part of log entry `seq`: key order is log order.
pub fn seq_part(seq: u64) -> String {
    format!("{seq:020}")
}

/// Calls `f` with the last key part and the value of every entry under `prefix`, in key
/// order, for at most `limit` entries; collects what `f` returns.
pub fn scan<V, T, R, F>(
    table: &T,
    prefix: &str,
    limit: usize,
    mut f: F,
) -> Result<Vec<R>, StoreError>
where
    V: Value + 'static,
    T: ReadableTable<&'static str, V>,
    F: for<'x> FnMut(&str, V::SelfType<'x>) -> Result<R, StoreError>,
{
    let (lo, hi) = prefix_range(prefix);
    let mut out = Vec::new();
    for entry in table.range::<&str>(lo.as_str()..hi.as_str())?.take(limit) {
        let (k, v) = entry?;
        let key = k.value();
        out.push(f(key.get(lo.len()..).unwrap_or_default(), v.value())?);
    }
    Ok(out)
}

/// Adds `by` to a counter and returns the new value.
pub fn bump(table: &mut Table<&str, u64>, key: &str, by: u64) -> Result<u64, StoreError> {
    let current = table.get(key)?.map(|v| v.value()).unwrap_or(0);
    let next = current.saturating_add(by);
    table.insert(key, next)?;
    Ok(next)
}

/// Removes every key under `prefix`; returns how many.
pub fn remove_prefix<V: Value + 'static>(
    table: &mut Table<&str, V>,
    prefix: &str,
) -> Result<u64, StoreError> {
    let (lo, hi) = prefix_range(prefix);
    let mut removed = 0u64;
    table.retain_in::<&str, _>(lo.as_str()..hi.as_str(), |_, _| {
        removed += 1;
        false
    })?;
    Ok(removed)
}
