//! Knowledge articles that may help with this contact.
//!
//! **Interim retrieval** until full-text search (a tantivy index) replaces it: plain term
//! overlap. An article is indexed as its distinct terms (lower case, split on anything that is
//! not a letter or digit, stopwords dropped), each marked with the fields it occurs in. A query
//! is the terms of the utterance, the intent and the labels of the top reasons. An article
//! scores the sum over query terms of the best field it has the term in (title 3, tags 2,
//! body 1), divided by 3 × the number of query terms, so scores stay in [0, 1]. No stemming,
//! no term frequencies, no phrase matching: enough to surface "Where is my parcel?" for a late
//! delivery, not more.

use baton_proto::v1::{Article, ArticleRef, ContactReason};

use super::text::{prefix_chars, terms};

/// The term occurs in the title.
pub const IN_TITLE: u8 = 1;
/// The term occurs in a tag.
pub const IN_TAGS: u8 = 2;
/// The term occurs in the body.
pub const IN_BODY: u8 = 4;
/// Distinct body terms indexed per article: a 64 KiB body could otherwise index thousands;
/// the first ones (where the topic usually is) are enough for term overlap.
pub const MAX_BODY_TERMS: usize = 1_024;
/// Query terms used: more add noise and store reads, not relevance.
pub const MAX_QUERY_TERMS: usize = 32;
/// Characters of the body shown as the snippet.
pub const SNIPPET_CHARS: usize = 160;

/// One indexed term of one article.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting {
    /// The term.
    pub term: String,
    /// The article holding it.
    pub article_id: String,
    /// `IN_TITLE | IN_TAGS | IN_BODY` bits.
    pub fields: u8,
}

/// An article with the terms to index it under.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexedArticle {
    /// The article as given.
    pub article: Article,
    /// `(term, fields)`, sorted by term, distinct.
    pub terms: Vec<(String, u8)>,
}

/// The terms to index an article under.
pub fn index(article: Article) -> IndexedArticle {
    let mut found: std::collections::BTreeMap<String, u8> = std::collections::BTreeMap::new();
    for term in terms(&article.title) {
        *found.entry(term).or_default() |= IN_TITLE;
    }
    for tag in &article.tags {
        for term in terms(tag) {
            *found.entry(term).or_default() |= IN_TAGS;
        }
    }
    for term in terms(&article.body).into_iter().take(MAX_BODY_TERMS) {
        *found.entry(term).or_default() |= IN_BODY;
    }
    IndexedArticle {
        article,
        terms: found.into_iter().collect(),
    }
}

/// The query for this contact: terms of the utterance, the intent and the reasons' labels.
pub fn query_terms(utterance: &str, intent: &str, reasons: &[ContactReason]) -> Vec<String> {
    let mut text = format!("{utterance} {}", intent.replace('_', " "));
    for reason in reasons {
        text.push(' ');
        text.push_str(&reason.label);
    }
    let mut query = terms(&text);
    query.truncate(MAX_QUERY_TERMS);
    query
}

fn field_weight(fields: u8) -> f64 {
    if fields & IN_TITLE != 0 {
        3.0
    } else if fields & IN_TAGS != 0 {
        2.0
    } else if fields & IN_BODY != 0 {
        1.0
    } else {
        0.0
    }
}

/// `(article id, score)` for the best `limit` articles matching `query`, best first (ties by
/// id). Postings for terms outside the query are ignored.
pub fn rank(query: &[String], postings: &[Posting], limit: usize) -> Vec<(String, f64)> {
    if query.is_empty() {
        return Vec::new();
    }
    let mut best: std::collections::BTreeMap<(&str, &str), f64> = Default::default();
    for p in postings.iter().filter(|p| query.contains(&p.term)) {
        let w = field_weight(p.fields);
        let slot = best.entry((&p.article_id, &p.term)).or_default();
        *slot = slot.max(w);
    }
    let mut scores: std::collections::BTreeMap<&str, f64> = Default::default();
    for ((article, _), w) in best {
        *scores.entry(article).or_default() += w;
    }
    let denominator = 3.0 * query.len() as f64;
    let mut ranked: Vec<(String, f64)> = scores
        .into_iter()
        .filter(|(_, s)| *s > 0.0)
        .map(|(a, s)| (a.to_owned(), (s / denominator).clamp(0.0, 1.0)))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(limit);
    ranked
}

/// The reference returned for an article.
pub fn article_ref(article: &Article, score: f64) -> ArticleRef {
    ArticleRef {
        article_id: article.article_id.clone(),
        title: article.title.clone(),
        score,
        snippet: prefix_chars(&article.body, SNIPPET_CHARS),
    }
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

    fn postings(articles: Vec<Article>) -> Vec<Posting> {
        articles
            .into_iter()
            .map(index)
            .flat_map(|a| {
                let id = a.article.article_id.clone();
                a.terms.into_iter().map(move |(term, fields)| Posting {
                    term,
                    article_id: id.clone(),
                    fields,
                })
            })
            .collect()
    }

    #[test]
    fn indexing_marks_fields() {
        let a = index(article(
            "a1",
            "Late parcel",
            &["delivery"],
            "Your parcel is late.",
        ));
        assert_eq!(
            a.terms,
            [
                ("delivery".to_owned(), IN_TAGS),
                ("late".to_owned(), IN_TITLE | IN_BODY),
                ("parcel".to_owned(), IN_TITLE | IN_BODY),
            ]
        );
    }

    #[test]
    fn titles_outweigh_tags_outweigh_bodies() {
        let index = postings(vec![
            article("body", "Other", &[], "about a refund"),
            article("tag", "Other", &["refund"], ""),
            article("title", "Refund rules", &[], ""),
            article("none", "Password reset", &["login"], "steps"),
        ]);
        let ranked = rank(&["refund".to_owned()], &index, 10);
        let ids: Vec<&str> = ranked.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(ids, ["title", "tag", "body"]);
        assert_eq!(ranked[0].1, 1.0);
    }

    #[test]
    fn query_uses_utterance_intent_and_reason_labels() {
        let reasons = [ContactReason {
            code: "late_delivery".into(),
            label: "Late delivery".into(),
            ..Default::default()
        }];
        assert_eq!(
            query_terms("where is my parcel", "order_status", &reasons),
            ["parcel", "order", "status", "late", "delivery"]
        );
    }

    #[test]
    fn snippet_is_the_start_of_the_body() {
        let long = "x".repeat(500);
        let r = article_ref(&article("a", "T", &[], &long), 0.5);
        assert_eq!(r.snippet.chars().count(), SNIPPET_CHARS);
    }

    proptest! {
        #[test]
        fn scores_are_bounded_and_sorted(
            bodies in prop::collection::vec("[a-d ]{0,40}", 0..8),
            query in prop::collection::vec("[a-d]{1,2}", 0..6),
            limit in 0usize..5,
        ) {
            let index = postings(
                bodies
                    .iter()
                    .enumerate()
                    .map(|(i, b)| article(&format!("a{i}"), b, &[b], b))
                    .collect(),
            );
            let mut query = query;
            query.sort();
            query.dedup();
            let ranked = rank(&query, &index, limit);
            prop_assert!(ranked.len() <= limit);
            prop_assert!(ranked.iter().all(|(_, s)| *s > 0.0 && *s <= 1.0));
            prop_assert!(ranked.windows(2).all(|w| w[0].1 >= w[1].1));
        }
    }
}
