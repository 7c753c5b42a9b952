//! Knowledge articles that may help with this contact: full-text search over one tenant's
//! articles.
//!
//! [`ArticleIndex`] is an in-memory tantivy index built from every article a tenant holds
//! (the recommender keeps one per tenant and rebuilds it when the store's articles version
//! moves). Titles, tags and bodies are indexed as separate fields through one analyzer: split
//! on anything that is not a letter or digit, tokens over [`MAX_TOKEN_CHARS`] dropped, lower
//! case, accents folded to ASCII, stopwords dropped, English (Porter 2) stemming — so
//! "failed", "failing" and "fails" meet at "fail".
//!
//! A query is the text of what the customer said, the intent and the labels of the top
//! reasons, run through the same analyzer. Each distinct term is searched in every field with
//! BM25, weighted title [`TITLE_BOOST`], tags [`TAGS_BOOST`], body 1, and the clauses summed.
//! A term of at least [`FUZZY_MIN_CHARS`] characters that no article holds is searched as a
//! fuzzy term instead — within one edit (two from [`TWO_EDITS_MIN_CHARS`]), a transposition
//! counting as one — at [`FUZZY_WEIGHT`] of the field's weight, so "paymnt" finds "payment"
//! without outranking an exact word. A term of a tenant's synonym group also searches every
//! other word of the group at [`SYNONYM_WEIGHT`]. Scores `s` are reported as `s / (s + 1)`,
//! in (0, 1), higher is better; the order is by score, then article id.

use std::collections::BTreeSet;

use baton_proto::v1::{Article, ArticleRef, ContactReason};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, INDEXED, IndexRecordOption, STORED, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use super::text::{STOPWORDS, prefix_chars};

/// Characters of the body shown as the snippet.
pub const SNIPPET_CHARS: usize = 160;
/// Tokens longer than this are ids or noise, not words: not indexed.
pub const MAX_TOKEN_CHARS: usize = 40;
/// Distinct query terms used: more add noise and time, not relevance.
pub const MAX_QUERY_TERMS: usize = 32;
/// Weight of a match in the title.
pub const TITLE_BOOST: f32 = 3.0;
/// Weight of a match in a tag.
pub const TAGS_BOOST: f32 = 2.0;
/// Shortest term matched fuzzily: shorter words are too close to too many others.
pub const FUZZY_MIN_CHARS: usize = 5;
/// Shortest term allowed two edits (a two-edit automaton costs several times a one-edit one:
/// 176 µs against 68 µs for a query holding a nine-letter unknown word).
pub const TWO_EDITS_MIN_CHARS: usize = 10;
/// A fuzzy clause's weight against an exact one in the same field.
pub const FUZZY_WEIGHT: f32 = 0.5;
/// A synonym clause's weight against the word the customer used.
pub const SYNONYM_WEIGHT: f32 = 0.8;
/// Memory the index writer may use while building (tantivy's minimum is 15 MB).
const WRITER_BUDGET: usize = 32 << 20;
/// The analyzer's name in the index's tokenizer manager.
const ANALYZER: &str = "baton_en";

/// What could not be indexed or searched: tantivy's own errors, which an in-memory index
/// only gives on a bug or when memory runs out.
#[derive(Debug, thiserror::Error)]
#[error("article search: {0}")]
pub struct SearchError(#[from] tantivy::TantivyError);

/// The text analysis shared by indexing and querying.
pub(crate) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_CHARS))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::remove(
            STOPWORDS.iter().map(|w| (*w).to_owned()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The analyzed tokens of `text`, in order, repeats kept.
pub(crate) fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        let term = &stream.token().text;
        // Single characters are initials or list markers, not topics.
        if term.chars().count() > 1 {
            out.push(term.clone());
        }
    }
    out
}

/// `tokens` without repeats, in order of first appearance.
fn distinct(tokens: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    tokens
        .iter()
        .filter(|t| seen.insert(t.as_str()))
        .cloned()
        .collect()
}

/// What is shown of a found article.
#[derive(Clone, Debug)]
struct Shown {
    id: String,
    title: String,
    snippet: String,
}

#[derive(Clone, Copy, Debug)]
struct Fields {
    slot: Field,
    title: Field,
    tags: Field,
    body: Field,
}

impl Fields {
    fn weighted(&self) -> [(Field, f32); 3] {
        [
            (self.title, TITLE_BOOST),
            (self.tags, TAGS_BOOST),
            (self.body, 1.0),
        ]
    }
}

/// One tenant's articles, searchable.
pub struct ArticleIndex {
    reader: Option<IndexReader>,
    fields: Fields,
    analyzer: TextAnalyzer,
    shown: Vec<Shown>,
    /// Each synonym group, each of its words or phrases as analyzed tokens.
    synonyms: Vec<Vec<Vec<String>>>,
}

impl std::fmt::Debug for ArticleIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArticleIndex")
            .field("articles", &self.shown.len())
            .field("synonyms", &self.synonyms.len())
            .finish_non_exhaustive()
    }
}

impl ArticleIndex {
    /// Indexes `articles`; `synonyms` are groups of words that mean the same to this tenant
    /// ("direct debit", "autopay"), each word analyzed as queries are.
    pub fn build(articles: &[Article], synonyms: &[Vec<String>]) -> Result<Self, SearchError> {
        let mut analyzer = analyzer();
        let mut builder = Schema::builder();
        let text = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let fields = Fields {
            slot: builder.add_u64_field("slot", STORED | INDEXED),
            title: builder.add_text_field("title", text.clone()),
            tags: builder.add_text_field("tags", text.clone()),
            body: builder.add_text_field("body", text),
        };
        let synonyms = synonym_map(&mut analyzer, synonyms);
        let shown: Vec<Shown> = articles
            .iter()
            .map(|a| Shown {
                id: a.article_id.clone(),
                title: a.title.clone(),
                snippet: prefix_chars(&a.body, SNIPPET_CHARS),
            })
            .collect();
        if articles.is_empty() {
            return Ok(Self {
                reader: None,
                fields,
                analyzer,
                shown,
                synonyms,
            });
        }
        let index = Index::create_in_ram(builder.build());
        index.tokenizers().register(ANALYZER, analyzer.clone());
        let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, WRITER_BUDGET)?;
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        for (slot, article) in articles.iter().enumerate() {
            let mut doc = TantivyDocument::new();
            doc.add_u64(fields.slot, slot as u64);
            doc.add_text(fields.title, &article.title);
            for tag in &article.tags {
                doc.add_text(fields.tags, tag);
            }
            doc.add_text(fields.body, &article.body);
            writer.add_document(doc)?;
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            reader: Some(reader),
            fields,
            analyzer,
            shown,
            synonyms,
        })
    }

    /// How many articles it holds.
    pub fn len(&self) -> usize {
        self.shown.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.shown.is_empty()
    }

    /// The terms `text` is searched with: analyzed as articles are, at most
    /// [`MAX_QUERY_TERMS`].
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let mut terms = distinct(&tokens(&mut analyzer, text));
        terms.truncate(MAX_QUERY_TERMS);
        terms
    }

    /// The terms the synonym groups add to `text`: every word of the other members of each
    /// group one of whose members `text` holds (a phrase counts only when its words come
    /// together and in order), less the terms `text` already has.
    pub fn synonym_terms(&self, text: &str) -> Vec<String> {
        let mut analyzer = self.analyzer.clone();
        let said = tokens(&mut analyzer, text);
        let holds = |phrase: &[String]| {
            !phrase.is_empty() && said.windows(phrase.len()).any(|w| w == phrase)
        };
        let mut added = Vec::new();
        for group in &self.synonyms {
            let Some(used) = group.iter().position(|m| holds(m)) else {
                continue;
            };
            for (i, member) in group.iter().enumerate() {
                if i != used {
                    added.extend(member.iter().cloned());
                }
            }
        }
        let mut seen: BTreeSet<String> = said.into_iter().collect();
        added.retain(|t| seen.insert(t.clone()));
        added.truncate(MAX_QUERY_TERMS);
        added
    }

    /// The best `limit` articles for `text`, best first.
    pub fn search(&self, text: &str, limit: usize) -> Result<Vec<ArticleRef>, SearchError> {
        let Some(reader) = &self.reader else {
            return Ok(Vec::new());
        };
        let terms = self.terms(text);
        if terms.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let searcher = reader.searcher();
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let mut add = |term: &str, weight: f32| -> Result<(), SearchError> {
            let held = self.fields.weighted().iter().try_fold(0u64, |n, (f, _)| {
                searcher
                    .doc_freq(&Term::from_field_text(*f, term))
                    .map(|d| n + d)
            })?;
            let edits = edits_allowed(term);
            for (field, boost) in self.fields.weighted() {
                let indexed = Term::from_field_text(field, term);
                let query: Box<dyn Query> = match (held, edits) {
                    (1.., _) => Box::new(TermQuery::new(indexed, IndexRecordOption::WithFreqs)),
                    (0, Some(edits)) => Box::new(BoostQuery::new(
                        Box::new(FuzzyTermQuery::new(indexed, edits, true)),
                        FUZZY_WEIGHT,
                    )),
                    (0, None) => continue,
                };
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(query, boost * weight)),
                ));
            }
            Ok(())
        };
        for term in &terms {
            add(term, 1.0)?;
        }
        for term in &self.synonym_terms(text) {
            add(term, SYNONYM_WEIGHT)?;
        }
        if clauses.is_empty() {
            return Ok(Vec::new());
        }
        let query = BooleanQuery::new(clauses);
        // Ties are broken by id, so ask for every article scoring as the last one asked for
        // may: a few more than `limit` is enough in practice; take them all when few.
        let wanted = (limit * 4).max(limit + 8).min(self.shown.len()).max(1);
        let found = searcher.search(&query, &TopDocs::with_limit(wanted).order_by_score())?;
        let mut ranked = Vec::with_capacity(found.len());
        for (score, address) in found {
            let doc: TantivyDocument = searcher.doc(address)?;
            let slot = doc
                .get_first(self.fields.slot)
                .and_then(|v| v.as_u64())
                .and_then(|s| usize::try_from(s).ok())
                .and_then(|s| self.shown.get(s));
            if let Some(shown) = slot
                && score > 0.0
            {
                ranked.push((f64::from(score), shown));
            }
        }
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
        ranked.truncate(limit);
        Ok(ranked
            .into_iter()
            .map(|(score, shown)| ArticleRef {
                article_id: shown.id.clone(),
                title: shown.title.clone(),
                score: score / (score + 1.0),
                snippet: shown.snippet.clone(),
            })
            .collect())
    }
}

/// Edits a fuzzy match of `term` may make, or none for a term too short to match fuzzily.
fn edits_allowed(term: &str) -> Option<u8> {
    match term.chars().count() {
        n if n >= TWO_EDITS_MIN_CHARS => Some(2),
        n if n >= FUZZY_MIN_CHARS => Some(1),
        _ => None,
    }
}

/// Every group's members as analyzed tokens; a member that analyzes to nothing (a stopword)
/// is dropped, and a group left with fewer than two members with it.
fn synonym_map(analyzer: &mut TextAnalyzer, groups: &[Vec<String>]) -> Vec<Vec<Vec<String>>> {
    groups
        .iter()
        .map(|group| {
            group
                .iter()
                .map(|member| tokens(analyzer, member))
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
        })
        .filter(|group| group.len() > 1)
        .collect()
}

/// The text searched for this contact: what the customer said, the intent and the top
/// reasons' labels — the same whatever the channel.
pub fn query_text(utterance: &str, intent: &str, reasons: &[ContactReason]) -> String {
    let mut text = format!("{utterance} {}", intent.replace('_', " "));
    for reason in reasons {
        text.push(' ');
        text.push_str(&reason.label);
    }
    text
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn article(id: &str, title: &str, tags: &[&str], body: &str) -> Article {
        Article {
            article_id: id.into(),
            title: title.into(),
            body: body.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            language: "en".into(),
        }
    }

    fn desk() -> Vec<Article> {
        vec![
            article(
                "pay-fail",
                "Why did my payment fail?",
                &["billing", "payments"],
                "A card payment or direct debit can be declined by the bank. Check the card \
                 details and retry the payment from the billing page.",
            ),
            article(
                "password",
                "Resetting your password",
                &["login", "account"],
                "Choose forgot password on the sign-in page and follow the link we e-mail you.",
            ),
            article(
                "late",
                "Where is my parcel?",
                &["delivery"],
                "Parcels usually arrive within three working days. Track the delivery from \
                 your orders page.",
            ),
            article(
                "router",
                "Broadband keeps dropping",
                &["connectivity"],
                "Restart the router, check the cables and run the line test.",
            ),
        ]
    }

    fn ids(found: &[ArticleRef]) -> Vec<&str> {
        found.iter().map(|a| a.article_id.as_str()).collect()
    }

    fn top(index: &ArticleIndex, text: &str) -> String {
        let found = index.search(text, 3).expect("search");
        found
            .first()
            .map(|a| a.article_id.clone())
            .unwrap_or_default()
    }

    #[test]
    fn stemming_meets_inflections() {
        let index = ArticleIndex::build(&desk(), &[]).expect("build");
        assert_eq!(index.terms("payments failing"), ["payment", "fail"]);
        assert_eq!(top(&index, "my payments keep failing"), "pay-fail");
        assert_eq!(top(&index, "the parcels were delivered late"), "late");
    }

    #[test]
    fn typos_are_matched_fuzzily() {
        let index = ArticleIndex::build(&desk(), &[]).expect("build");
        assert_eq!(top(&index, "my paymnt faild"), "pay-fail");
        assert_eq!(top(&index, "pasword reset"), "password");
        assert_eq!(top(&index, "brodband droping"), "router");
    }

    #[test]
    fn an_exact_word_outranks_a_fuzzy_one() {
        let index = ArticleIndex::build(
            &[
                article("exact", "Market", &[], ""),
                article("near", "Marker", &[], ""),
            ],
            &[],
        )
        .expect("build");
        // "market" is held, so it is searched exactly and "marker" is not found at all.
        assert_eq!(ids(&index.search("market", 3).expect("search")), ["exact"]);
        // A word no article holds finds both within one edit.
        assert_eq!(index.search("markex", 3).expect("search").len(), 2);
        // A short one is not matched fuzzily at all.
        assert!(index.search("mark", 3).expect("search").is_empty());
    }

    #[test]
    fn titles_outweigh_tags_outweigh_bodies() {
        let index = ArticleIndex::build(
            &[
                article("body", "Other", &[], "about a refund"),
                article("tag", "Other", &["refund"], ""),
                article("title", "Refund rules", &[], ""),
                article("none", "Password reset", &["login"], "steps"),
            ],
            &[],
        )
        .expect("build");
        let found = index.search("refund", 10).expect("search");
        assert_eq!(ids(&found), ["title", "tag", "body"]);
        assert!(found.iter().all(|a| a.score > 0.0 && a.score < 1.0));
    }

    #[test]
    fn synonyms_widen_a_query() {
        let articles = [article("dd", "Setting up autopay", &[], "monthly")];
        let plain = ArticleIndex::build(&articles, &[]).expect("build");
        assert!(plain.search("direct debit", 3).expect("search").is_empty());
        let groups = vec![vec!["direct debit".to_owned(), "autopay".to_owned()]];
        let widened = ArticleIndex::build(&articles, &groups).expect("build");
        assert_eq!(ids(&widened.search("direct debit", 3).expect("s")), ["dd"]);
    }

    #[test]
    fn a_phrase_synonym_needs_the_whole_phrase() {
        let articles = [
            article("refund", "Refund times", &[], ""),
            article("return", "Returns by post", &[], ""),
        ];
        let groups = vec![vec!["money back".to_owned(), "refund".to_owned()]];
        let index = ArticleIndex::build(&articles, &groups).expect("build");
        assert_eq!(
            index.synonym_terms("when do I get my money back"),
            ["refund"]
        );
        assert!(index.synonym_terms("back to the money").is_empty());
        assert_eq!(index.synonym_terms("a refund please"), ["money", "back"]);
        assert_eq!(top(&index, "my money back"), "refund");
    }

    #[test]
    fn nothing_is_found_in_nothing() {
        let empty = ArticleIndex::build(&[], &[]).expect("build");
        assert!(empty.search("payment", 3).expect("search").is_empty());
        let index = ArticleIndex::build(&desk(), &[]).expect("build");
        assert!(index.search("the and of", 3).expect("search").is_empty());
        assert!(index.search("payment", 0).expect("search").is_empty());
    }

    #[test]
    fn query_uses_utterance_intent_and_reason_labels() {
        let reasons = [ContactReason {
            code: "late_delivery".into(),
            label: "Late delivery".into(),
            ..Default::default()
        }];
        assert_eq!(
            query_text("where is my parcel", "order_status", &reasons),
            "where is my parcel order status Late delivery"
        );
    }

    #[test]
    fn snippet_is_the_start_of_the_body() {
        let long = format!("refund {}", "x".repeat(500));
        let index = ArticleIndex::build(&[article("a", "T", &[], &long)], &[]).expect("build");
        let found = index.search("refund", 1).expect("search");
        assert_eq!(found[0].snippet.chars().count(), SNIPPET_CHARS);
    }

    proptest! {
        #[test]
        fn scores_are_bounded_sorted_and_limited(
            bodies in prop::collection::vec("[a-f ]{0,40}", 0..8),
            query in "[a-f ]{0,20}",
            limit in 0usize..5,
        ) {
            let articles: Vec<Article> = bodies
                .iter()
                .enumerate()
                .map(|(i, b)| article(&format!("a{i}"), b, &[b], b))
                .collect();
            let index = ArticleIndex::build(&articles, &[]).expect("build");
            let found = index.search(&query, limit).expect("search");
            prop_assert!(found.len() <= limit);
            prop_assert!(found.iter().all(|a| a.score > 0.0 && a.score < 1.0));
            prop_assert!(found.windows(2).all(|w| w[0].score >= w[1].score));
            let distinct: BTreeSet<&str> = ids(&found).into_iter().collect();
            prop_assert_eq!(distinct.len(), found.len());
        }
    }
}
