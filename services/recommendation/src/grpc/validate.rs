//! Request checks. Each collects every problem into field violations (`INVALID_ARGUMENT`) so
//! a caller fixes them all at once; bounds are the ones the proto comments promise.

use std::collections::BTreeMap;

use baton_proto::v1::record_outcome_request::Outcome;
use baton_proto::v1::{
    Channel, ForgetCustomerRequest, OfferOutcome, PurchaseStatus, RecommendRequest,
    RecordOutcomeRequest, UpsertArticlesRequest, UpsertCatalogRequest,
};
use baton_runtime::validate::{MAX_TEXT_LEN, Violations};
use tonic::Status;

use crate::recommend::Limits;

/// Catalog items per UpsertCatalog call.
pub const MAX_CATALOG_ITEMS: usize = 500;
/// Articles per UpsertArticles call.
pub const MAX_ARTICLES: usize = 200;
/// Longest article title, product name or erasure reason.
pub const MAX_TITLE_LEN: usize = 256;
/// Longest given name (as `PersonTraits.given_name`).
pub const MAX_NAME_LEN: usize = 128;
/// Longest article body.
pub const MAX_BODY_LEN: usize = 64 * 1024;
/// Longest category, tag or language tag.
pub const MAX_LABEL_LEN: usize = 64;
/// Tags per article.
pub const MAX_TAGS: usize = 32;
/// The snapshot's list bounds, as the context contract states them.
const SNAPSHOT_BOUNDS: SnapshotBounds = SnapshotBounds {
    open_cases: 20,
    notes_per_case: 20,
    recent_interactions: 50,
    purchases: 50,
    offers: 50,
    resolved_cases: 10,
    automated_steps: 20,
};

struct SnapshotBounds {
    open_cases: usize,
    notes_per_case: usize,
    recent_interactions: usize,
    purchases: usize,
    offers: usize,
    resolved_cases: usize,
    automated_steps: usize,
}

fn limit(v: &mut Violations, field: &str, raw: u32) {
    if raw as usize > Limits::MAX {
        v.add(
            field,
            format!(
                "must be at most {} (0 means {})",
                Limits::MAX,
                Limits::DEFAULT
            ),
        );
    }
}

/// Checks a Recommend request.
pub fn recommend(req: &RecommendRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.optional_id("customer_id", &req.customer_id);
    v.text("utterance", &req.utterance, MAX_TEXT_LEN);
    v.optional_id("intent", &req.intent);
    v.enum_value::<Channel>("channel", req.channel, false);
    v.text("given_name", &req.given_name, MAX_NAME_LEN);
    limit(&mut v, "max_offers", req.max_offers);
    limit(&mut v, "max_reasons", req.max_reasons);
    limit(&mut v, "max_articles", req.max_articles);
    if let Some(ctx) = &req.context {
        if !ctx.customer_id.is_empty()
            && !req.customer_id.is_empty()
            && ctx.customer_id != req.customer_id
        {
            v.add(
                "context.customer_id",
                "must be the request's customer_id: the context is for another customer",
            );
        }
        let b = &SNAPSHOT_BOUNDS;
        v.max_items("context.open_cases", ctx.open_cases.len(), b.open_cases);
        for (i, case) in ctx.open_cases.iter().enumerate() {
            v.max_items(
                &format!("context.open_cases[{i}].notes"),
                case.notes.len(),
                b.notes_per_case,
            );
        }
        v.max_items(
            "context.recent_interactions",
            ctx.recent_interactions.len(),
            b.recent_interactions,
        );
        v.max_items("context.purchases", ctx.purchases.len(), b.purchases);
        v.max_items("context.offers", ctx.offers.len(), b.offers);
        v.max_items(
            "context.resolved_cases",
            ctx.resolved_cases.len(),
            b.resolved_cases,
        );
        v.max_items(
            "context.automated_steps",
            ctx.automated_steps.len(),
            b.automated_steps,
        );
    }
    v.check()
}

/// Checks a RecordOutcome request; returns the outcome it carries.
pub fn record_outcome(req: &RecordOutcomeRequest) -> Result<Outcome, Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.id("customer_id", &req.customer_id);
    v.optional_id("contact_id", &req.contact_id);
    v.idempotency_key(&req.idempotency_key);
    match &req.outcome {
        None => v.add("outcome", "is required: set offer or purchase"),
        Some(Outcome::Offer(answer)) => {
            v.id("offer.offer_id", &answer.offer_id);
            v.id("offer.product_id", &answer.product_id);
            v.enum_value::<OfferOutcome>("offer.outcome", answer.outcome, true);
        }
        Some(Outcome::Purchase(p)) => {
            v.id("purchase.order_id", &p.order_id);
            v.id("purchase.product_id", &p.product_id);
            v.text("purchase.product_name", &p.product_name, MAX_TITLE_LEN);
            v.text("purchase.category", &p.category, MAX_LABEL_LEN);
            v.enum_value::<PurchaseStatus>("purchase.status", p.status, false);
            if let Some(amount) = &p.amount {
                v.text("purchase.amount.currency", &amount.currency, 3);
            }
        }
    }
    v.check()?;
    req.outcome
        .clone()
        .ok_or_else(|| Status::invalid_argument("outcome is required"))
}

/// Flags ids that appear twice in one request: which copy should win would be a guess.
fn duplicates<'a>(v: &mut Violations, list: &str, field: &str, ids: impl Iterator<Item = &'a str>) {
    let mut first: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, id) in ids.enumerate() {
        if id.is_empty() {
            continue;
        }
        if let Some(j) = first.get(id) {
            v.add(
                format!("{list}[{i}].{field}"),
                format!("duplicates {list}[{j}]"),
            );
        } else {
            first.insert(id, i);
        }
    }
}

/// Checks an UpsertCatalog request.
pub fn upsert_catalog(req: &UpsertCatalogRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.idempotency_key(&req.idempotency_key);
    if req.items.is_empty() {
        v.add("items", "must have at least 1 item");
    }
    v.max_items("items", req.items.len(), MAX_CATALOG_ITEMS);
    // Per-item checks only within the bound: one violation says it all for an oversize list.
    if req.items.len() <= MAX_CATALOG_ITEMS {
        for (i, item) in req.items.iter().enumerate() {
            v.id(&format!("items[{i}].product_id"), &item.product_id);
            v.required_text(&format!("items[{i}].name"), &item.name, MAX_TITLE_LEN);
            v.text(
                &format!("items[{i}].category"),
                &item.category,
                MAX_LABEL_LEN,
            );
            v.text(
                &format!("items[{i}].description"),
                &item.description,
                MAX_TEXT_LEN,
            );
            if let Some(price) = &item.price {
                v.text(&format!("items[{i}].price.currency"), &price.currency, 3);
            }
        }
        duplicates(
            &mut v,
            "items",
            "product_id",
            req.items.iter().map(|i| i.product_id.as_str()),
        );
    }
    v.check()
}

/// Checks an UpsertArticles request.
pub fn upsert_articles(req: &UpsertArticlesRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.idempotency_key(&req.idempotency_key);
    if req.articles.is_empty() {
        v.add("articles", "must have at least 1 article");
    }
    v.max_items("articles", req.articles.len(), MAX_ARTICLES);
    if req.articles.len() <= MAX_ARTICLES {
        for (i, a) in req.articles.iter().enumerate() {
            v.id(&format!("articles[{i}].article_id"), &a.article_id);
            v.required_text(&format!("articles[{i}].title"), &a.title, MAX_TITLE_LEN);
            v.text(&format!("articles[{i}].body"), &a.body, MAX_BODY_LEN);
            v.max_items(&format!("articles[{i}].tags"), a.tags.len(), MAX_TAGS);
            for (j, tag) in a.tags.iter().enumerate().take(MAX_TAGS) {
                v.text(&format!("articles[{i}].tags[{j}]"), tag, MAX_LABEL_LEN);
            }
            v.text(
                &format!("articles[{i}].language"),
                &a.language,
                MAX_LABEL_LEN,
            );
        }
        duplicates(
            &mut v,
            "articles",
            "article_id",
            req.articles.iter().map(|a| a.article_id.as_str()),
        );
    }
    v.check()
}

/// Checks a ForgetCustomer request.
pub fn forget_customer(req: &ForgetCustomerRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.id("customer_id", &req.customer_id);
    v.text("reason", &req.reason, MAX_TITLE_LEN);
    v.idempotency_key(&req.idempotency_key);
    v.check()
}
