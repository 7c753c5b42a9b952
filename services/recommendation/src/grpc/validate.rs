//! Request checks. Each collects every problem into field violations (`INVALID_ARGUMENT`) so
//! a caller fixes them all at once; bounds are the ones the proto comments promise. Sizes come
//! first: a list's length before its items, a string's length before its characters, so an
//! oversized field is one violation and no work.

use std::collections::BTreeMap;

use baton_proto::v1::record_outcome_request::Outcome;
use baton_proto::v1::{
    AutomatedStep, Case, CaseStatus, Channel, ContextSnapshot, ForgetCustomerRequest, Interaction,
    OfferOutcome, OfferRecord, Purchase, PurchaseStatus, RecommendRequest, RecordOutcomeRequest,
    SetActionRulesRequest, SetSynonymsRequest, UpsertArticlesRequest, UpsertCatalogRequest,
};
use baton_runtime::validate::{
    MAX_CODE_LEN, MAX_ID_LEN, MAX_REASON_LABEL_LEN, MAX_TEXT_LEN, PLAIN_CODE, Violations,
    is_plain_code,
};
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
/// Synonym groups a tenant holds.
pub const MAX_SYNONYM_GROUPS: usize = 1_000;
/// Words or phrases per synonym group.
pub const MAX_SYNONYM_TERMS: usize = 32;
/// Longest currency code a snapshot's purchase carries (context's bound).
const MAX_SNAPSHOT_CURRENCY_LEN: usize = 8;
/// The snapshot's list bounds, as the context contract states them.
const SNAPSHOT_BOUNDS: SnapshotBounds = SnapshotBounds {
    open_cases: 20,
    notes_per_case: 20,
    recent_interactions: 50,
    channels_per_interaction: 20,
    agents_per_interaction: 20,
    notes_per_interaction: 10,
    purchases: 50,
    offers: 50,
    resolved_cases: 10,
    automated_steps: 20,
};

struct SnapshotBounds {
    open_cases: usize,
    notes_per_case: usize,
    recent_interactions: usize,
    channels_per_interaction: usize,
    agents_per_interaction: usize,
    notes_per_interaction: usize,
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
        snapshot(&mut v, ctx);
    }
    v.check()
}

/// Checks the sizes in a snapshot routing passed on: every list against the bound context
/// promises, every string against context's own limits, items only of lists within bounds.
fn snapshot(v: &mut Violations, ctx: &ContextSnapshot) {
    let b = &SNAPSHOT_BOUNDS;
    v.optional_id("context.customer_id", &ctx.customer_id);
    if v.max_items("context.open_cases", ctx.open_cases.len(), b.open_cases) {
        for (i, c) in ctx.open_cases.iter().enumerate() {
            case(v, &format!("context.open_cases[{i}]"), c);
        }
    }
    let interactions = "context.recent_interactions";
    if v.max_items(
        interactions,
        ctx.recent_interactions.len(),
        b.recent_interactions,
    ) {
        for (i, it) in ctx.recent_interactions.iter().enumerate() {
            interaction(v, &format!("{interactions}[{i}]"), it);
        }
    }
    if v.max_items("context.purchases", ctx.purchases.len(), b.purchases) {
        for (i, p) in ctx.purchases.iter().enumerate() {
            purchase(v, &format!("context.purchases[{i}]"), p);
        }
    }
    if v.max_items("context.offers", ctx.offers.len(), b.offers) {
        for (i, o) in ctx.offers.iter().enumerate() {
            offer(v, &format!("context.offers[{i}]"), o);
        }
    }
    if v.max_items(
        "context.resolved_cases",
        ctx.resolved_cases.len(),
        b.resolved_cases,
    ) {
        for (i, c) in ctx.resolved_cases.iter().enumerate() {
            case(v, &format!("context.resolved_cases[{i}]"), c);
        }
    }
    if v.max_items(
        "context.automated_steps",
        ctx.automated_steps.len(),
        b.automated_steps,
    ) {
        for (i, s) in ctx.automated_steps.iter().enumerate() {
            automated_step(v, &format!("context.automated_steps[{i}]"), s);
        }
    }
}

fn case(v: &mut Violations, path: &str, c: &Case) {
    v.optional_id(&format!("{path}.case_id"), &c.case_id);
    v.text(&format!("{path}.subject"), &c.subject, MAX_TITLE_LEN);
    v.text(&format!("{path}.category"), &c.category, MAX_ID_LEN);
    v.optional_id(&format!("{path}.owner_agent_id"), &c.owner_agent_id);
    v.optional_id(&format!("{path}.contact_id"), &c.contact_id);
    let notes = format!("{path}.notes");
    if v.max_items(&notes, c.notes.len(), SNAPSHOT_BOUNDS.notes_per_case) {
        for (i, note) in c.notes.iter().enumerate() {
            let at = format!("{notes}[{i}]");
            v.text(&format!("{at}.text"), &note.text, MAX_TEXT_LEN);
            v.optional_id(&format!("{at}.contact_id"), &note.contact_id);
            if let Some(author) = &note.author {
                v.optional_id(&format!("{at}.author.id"), &author.id);
            }
        }
    }
}

fn interaction(v: &mut Violations, path: &str, it: &Interaction) {
    let b = &SNAPSHOT_BOUNDS;
    v.optional_id(&format!("{path}.contact_id"), &it.contact_id);
    v.max_items(
        &format!("{path}.channels"),
        it.channels.len(),
        b.channels_per_interaction,
    );
    v.text(&format!("{path}.utterance"), &it.utterance, MAX_TEXT_LEN);
    v.text(&format!("{path}.intent"), &it.intent, MAX_ID_LEN);
    v.text(&format!("{path}.summary"), &it.summary, MAX_TEXT_LEN);
    v.text(
        &format!("{path}.reason_code"),
        &it.reason_code,
        MAX_CODE_LEN,
    );
    v.text(
        &format!("{path}.reason_label"),
        &it.reason_label,
        MAX_REASON_LABEL_LEN,
    );
    let agents = format!("{path}.agent_ids");
    if v.max_items(&agents, it.agent_ids.len(), b.agents_per_interaction) {
        for (i, agent) in it.agent_ids.iter().enumerate() {
            v.optional_id(&format!("{agents}[{i}]"), agent);
        }
    }
    let notes = format!("{path}.notes");
    if v.max_items(&notes, it.notes.len(), b.notes_per_interaction) {
        for (i, note) in it.notes.iter().enumerate() {
            v.text(&format!("{notes}[{i}]"), note, MAX_TEXT_LEN);
        }
    }
}

fn purchase(v: &mut Violations, path: &str, p: &Purchase) {
    v.optional_id(&format!("{path}.order_id"), &p.order_id);
    v.optional_id(&format!("{path}.product_id"), &p.product_id);
    v.text(
        &format!("{path}.product_name"),
        &p.product_name,
        MAX_TITLE_LEN,
    );
    v.text(&format!("{path}.category"), &p.category, MAX_ID_LEN);
    if let Some(amount) = &p.amount {
        v.text(
            &format!("{path}.amount.currency"),
            &amount.currency,
            MAX_SNAPSHOT_CURRENCY_LEN,
        );
    }
}

fn offer(v: &mut Violations, path: &str, o: &OfferRecord) {
    v.optional_id(&format!("{path}.offer_id"), &o.offer_id);
    v.optional_id(&format!("{path}.product_id"), &o.product_id);
}

fn automated_step(v: &mut Violations, path: &str, s: &AutomatedStep) {
    v.text(&format!("{path}.system"), &s.system, MAX_ID_LEN);
    v.text(&format!("{path}.step"), &s.step, MAX_TITLE_LEN);
    v.text(&format!("{path}.outcome"), &s.outcome, MAX_ID_LEN);
}

/// Checks a RecordOutcome request; returns the outcome it carries.
pub fn record_outcome(req: &RecordOutcomeRequest) -> Result<Outcome, Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.id("customer_id", &req.customer_id);
    v.optional_id("contact_id", &req.contact_id);
    v.idempotency_key(&req.idempotency_key);
    match &req.outcome {
        None => v.add("outcome", "is required: set offer, purchase or reason"),
        Some(Outcome::Offer(answer)) => {
            v.id("offer.offer_id", &answer.offer_id);
            v.id("offer.product_id", &answer.product_id);
            v.enum_value::<OfferOutcome>("offer.outcome", answer.outcome, true);
        }
        Some(Outcome::Reason(r)) => {
            if !is_plain_code(&r.code) {
                v.add("reason.code", PLAIN_CODE);
            }
            v.text("reason.utterance", &r.utterance, MAX_TEXT_LEN);
            v.text("reason.intent", &r.intent, MAX_ID_LEN);
            v.text("reason.label", &r.label, MAX_TITLE_LEN);
            if r.utterance.trim().is_empty() && r.intent.trim().is_empty() {
                v.add("reason.utterance", "or reason.intent is required");
            }
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

/// Action rules a tenant holds.
pub const MAX_ACTION_RULES: usize = 500;
/// Longest rationale of an action rule.
pub const MAX_RATIONALE_LEN: usize = 1024;

/// Checks a SetActionRules request.
pub fn set_action_rules(req: &SetActionRulesRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.idempotency_key(&req.idempotency_key);
    if v.max_items("rules", req.rules.len(), MAX_ACTION_RULES) {
        for (i, rule) in req.rules.iter().enumerate() {
            if !is_plain_code(&rule.reason_code) {
                v.add(format!("rules[{i}].reason_code"), PLAIN_CODE);
            }
            v.enum_value::<CaseStatus>(&format!("rules[{i}].case_status"), rule.case_status, false);
            match &rule.action {
                None => v.add(format!("rules[{i}].action"), "is required"),
                Some(a) => {
                    if !is_plain_code(&a.code) {
                        v.add(format!("rules[{i}].action.code"), PLAIN_CODE);
                    }
                    v.required_text(&format!("rules[{i}].action.label"), &a.label, MAX_TITLE_LEN);
                    v.text(
                        &format!("rules[{i}].action.rationale"),
                        &a.rationale,
                        MAX_RATIONALE_LEN,
                    );
                }
            }
        }
    }
    v.check()
}

/// Checks a SetSynonyms request.
pub fn set_synonyms(req: &SetSynonymsRequest) -> Result<(), Status> {
    let mut v = Violations::new();
    v.tenant(&req.tenant_id);
    v.idempotency_key(&req.idempotency_key);
    if v.max_items("groups", req.groups.len(), MAX_SYNONYM_GROUPS) {
        for (i, group) in req.groups.iter().enumerate() {
            let field = format!("groups[{i}].terms");
            if group.terms.len() < 2 {
                v.add(&field, "must have at least 2 words or phrases");
            }
            if v.max_items(&field, group.terms.len(), MAX_SYNONYM_TERMS) {
                for (j, term) in group.terms.iter().enumerate() {
                    v.required_text(&format!("{field}[{j}]"), term, MAX_LABEL_LEN);
                }
            }
        }
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
            if v.max_items(&format!("articles[{i}].tags"), a.tags.len(), MAX_TAGS) {
                for (j, tag) in a.tags.iter().enumerate() {
                    v.text(&format!("articles[{i}].tags[{j}]"), tag, MAX_LABEL_LEN);
                }
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

#[cfg(test)]
mod tests {
    use baton_proto::v1::{Article, CatalogItem};
    use baton_runtime::validate::field_violations;
    use prost::Message as _;

    use super::*;

    fn fields(status: &Status) -> Vec<String> {
        field_violations(status)
            .into_iter()
            .map(|(f, _)| f)
            .collect()
    }

    fn recommend_with(context: ContextSnapshot) -> RecommendRequest {
        RecommendRequest {
            tenant_id: "t1".into(),
            customer_id: "c1".into(),
            context: Some(context),
            ..RecommendRequest::default()
        }
    }

    #[test]
    fn a_confirmed_reason_needs_a_plain_code_and_something_said() {
        let with = |code: &str, utterance: &str, intent: &str| RecordOutcomeRequest {
            tenant_id: "t1".into(),
            customer_id: "c1".into(),
            idempotency_key: "k".into(),
            outcome: Some(Outcome::Reason(baton_proto::v1::ReasonConfirmed {
                code: code.into(),
                utterance: utterance.into(),
                intent: intent.into(),
                label: String::new(),
            })),
            ..RecordOutcomeRequest::default()
        };
        assert!(record_outcome(&with("lost_card", "my wallet", "")).is_ok());
        assert!(record_outcome(&with("lost_card", "", "card_services")).is_ok());
        let status = record_outcome(&with("Lost Card!", "my wallet", "")).expect_err("bad code");
        assert_eq!(fields(&status), ["reason.code"]);
        let status = record_outcome(&with("lost_card", " ", "")).expect_err("nothing said");
        assert_eq!(fields(&status), ["reason.utterance"]);
        let long = "x".repeat(MAX_TEXT_LEN + 1);
        let status = record_outcome(&with("lost_card", &long, "")).expect_err("too long");
        assert_eq!(fields(&status), ["reason.utterance"]);
    }

    #[test]
    fn action_rules_need_plain_codes_and_a_label() {
        let with = |reason: &str, code: &str, label: &str| SetActionRulesRequest {
            tenant_id: "t1".into(),
            idempotency_key: "k".into(),
            rules: vec![baton_proto::v1::ActionRule {
                reason_code: reason.into(),
                case_status: CaseStatus::WaitingOnCustomer as i32,
                action: Some(baton_proto::v1::NextBestAction {
                    code: code.into(),
                    label: label.into(),
                    rationale: String::new(),
                }),
            }],
        };
        assert!(set_action_rules(&with("lost_card", "freeze_card", "Freeze")).is_ok());
        let status = set_action_rules(&with("Lost", "freeze card", "")).expect_err("bad");
        assert_eq!(
            fields(&status),
            [
                "rules[0].reason_code",
                "rules[0].action.code",
                "rules[0].action.label"
            ]
        );
    }

    #[test]
    fn synonym_groups_need_two_members_each() {
        let with = |groups: Vec<Vec<&str>>| SetSynonymsRequest {
            tenant_id: "t1".into(),
            idempotency_key: "k".into(),
            groups: groups
                .into_iter()
                .map(|g| baton_proto::v1::SynonymGroup {
                    terms: g.into_iter().map(str::to_owned).collect(),
                })
                .collect(),
        };
        assert!(set_synonyms(&with(vec![])).is_ok());
        assert!(set_synonyms(&with(vec![vec!["wifi", "internet"]])).is_ok());
        let status = set_synonyms(&with(vec![vec!["wifi"]])).expect_err("alone");
        assert_eq!(fields(&status), ["groups[0].terms"]);
        let status = set_synonyms(&with(vec![vec!["wifi", ""]])).expect_err("empty");
        assert_eq!(fields(&status), ["groups[0].terms[1]"]);
    }

    #[test]
    fn an_oversized_snapshot_list_is_one_violation_and_a_short_message() {
        assert!(recommend(&recommend_with(ContextSnapshot::default())).is_ok());
        let bad_case = Case {
            subject: "s".repeat(1 << 16),
            ..Case::default()
        };
        let status = recommend(&recommend_with(ContextSnapshot {
            open_cases: vec![bad_case; 100_000],
            ..ContextSnapshot::default()
        }))
        .expect_err("invalid");
        assert_eq!(fields(&status), ["context.open_cases"]);
        assert!(status.message().len() < 1024, "{}", status.message());
    }

    #[test]
    fn an_interactions_lists_are_bounded_before_their_items_are_read() {
        let status = recommend(&recommend_with(ContextSnapshot {
            recent_interactions: vec![Interaction {
                channels: vec![0; 100_000],
                agent_ids: vec!["\u{7}".into(); 100_000],
                notes: vec!["n".repeat(MAX_TEXT_LEN + 1); 100_000],
                ..Interaction::default()
            }],
            ..ContextSnapshot::default()
        }))
        .expect_err("invalid");
        assert_eq!(
            fields(&status),
            [
                "context.recent_interactions[0].channels",
                "context.recent_interactions[0].agent_ids",
                "context.recent_interactions[0].notes"
            ]
        );
    }

    #[test]
    fn snapshot_strings_are_bounded() {
        let status = recommend(&recommend_with(ContextSnapshot {
            purchases: vec![Purchase {
                product_name: "p".repeat(MAX_TITLE_LEN + 1),
                ..Purchase::default()
            }],
            automated_steps: vec![AutomatedStep {
                step: "s".repeat(MAX_TITLE_LEN + 1),
                ..AutomatedStep::default()
            }],
            ..ContextSnapshot::default()
        }))
        .expect_err("invalid");
        assert_eq!(
            fields(&status),
            [
                "context.purchases[0].product_name",
                "context.automated_steps[0].step"
            ]
        );
    }

    #[test]
    fn oversized_upserts_are_refused_without_looking_at_their_items() {
        let status = upsert_catalog(&UpsertCatalogRequest {
            tenant_id: "t1".into(),
            items: vec![CatalogItem::default(); 100_000],
            idempotency_key: "k".into(),
        })
        .expect_err("invalid");
        assert_eq!(fields(&status), ["items"]);
        let status = upsert_articles(&UpsertArticlesRequest {
            tenant_id: "t1".into(),
            articles: vec![Article::default(); 100_000],
            idempotency_key: "k".into(),
        })
        .expect_err("invalid");
        assert_eq!(fields(&status), ["articles"]);
        let status = upsert_articles(&UpsertArticlesRequest {
            tenant_id: "t1".into(),
            articles: vec![Article {
                article_id: "a1".into(),
                title: "Returns".into(),
                tags: vec!["t".repeat(1000); 100_000],
                ..Article::default()
            }],
            idempotency_key: "k".into(),
        })
        .expect_err("invalid");
        assert_eq!(fields(&status), ["articles[0].tags"]);
    }

    #[test]
    fn a_full_snapshot_fits_the_message_limit() {
        let text = |len: usize| "x".repeat(len);
        let b = &SNAPSHOT_BOUNDS;
        let full_case = Case {
            case_id: text(MAX_ID_LEN),
            subject: text(MAX_TITLE_LEN),
            category: text(MAX_ID_LEN),
            owner_agent_id: text(MAX_ID_LEN),
            contact_id: text(MAX_ID_LEN),
            notes: vec![
                baton_proto::v1::ProgressNote {
                    text: text(MAX_TEXT_LEN),
                    contact_id: text(MAX_ID_LEN),
                    author: Some(baton_proto::v1::Actor {
                        kind: 2,
                        id: text(MAX_ID_LEN),
                    }),
                    at: None,
                };
                b.notes_per_case
            ],
            ..Case::default()
        };
        let full_interaction = Interaction {
            contact_id: text(MAX_ID_LEN),
            channels: vec![1; b.channels_per_interaction],
            utterance: text(MAX_TEXT_LEN),
            intent: text(MAX_ID_LEN),
            summary: text(MAX_TEXT_LEN),
            agent_ids: vec![text(MAX_ID_LEN); b.agents_per_interaction],
            notes: vec![text(MAX_TEXT_LEN); b.notes_per_interaction],
            ..Interaction::default()
        };
        let req = RecommendRequest {
            utterance: text(MAX_TEXT_LEN),
            ..recommend_with(ContextSnapshot {
                open_cases: vec![full_case.clone(); b.open_cases],
                recent_interactions: vec![full_interaction; b.recent_interactions],
                resolved_cases: vec![full_case; b.resolved_cases],
                ..ContextSnapshot::default()
            })
        };
        assert!(recommend(&req).is_ok());
        let len = req.encoded_len();
        assert!(len * 2 <= crate::MAX_REQUEST_BYTES, "{len}");
    }

    #[test]
    fn a_full_article_upsert_fits_the_message_limit() {
        let text = |len: usize, tag: &str| format!("{tag}{}", "x".repeat(len - tag.len()));
        let req = UpsertArticlesRequest {
            tenant_id: "t".repeat(64),
            articles: (0..MAX_ARTICLES)
                .map(|i| Article {
                    article_id: text(MAX_ID_LEN, &format!("a{i}-")),
                    title: text(MAX_TITLE_LEN, "t"),
                    body: text(MAX_BODY_LEN, "b"),
                    tags: (0..MAX_TAGS)
                        .map(|j| text(MAX_LABEL_LEN, &format!("{j}-")))
                        .collect(),
                    language: text(MAX_LABEL_LEN, "en-"),
                })
                .collect(),
            idempotency_key: "k".repeat(128),
        };
        assert!(upsert_articles(&req).is_ok());
        let len = req.encoded_len();
        assert!(len <= crate::MAX_REQUEST_BYTES, "{len}");
    }
}
