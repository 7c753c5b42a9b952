//! Offline evaluation of article search against relevance judgements.
//!
//! Every judged query is searched in the tenant's index exactly as `Recommend` searches it
//! ([`ArticleIndex::search`]), and in a character-trigram TF-IDF index of the same articles
//! built in the same run ([`TrigramIndex`]): the baseline any search should beat, since it
//! already tolerates typos and shared word stems. Each is scored by precision at
//! [`CUTOFF`] (relevant articles among the first three, over three), recall at [`CUTOFF`]
//! and the reciprocal rank of the first relevant article (0 when none is in the first ten),
//! averaged over the queries.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use baton_proto::v1::Article;

use crate::recommend::articles::{ArticleIndex, SearchError};

/// The list length precision and recall are measured at.
pub const CUTOFF: usize = 3;
/// The list length the reciprocal rank looks into.
pub const DEPTH: usize = 10;

/// One judged query: what a customer said and the articles that answer it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    /// The query text.
    pub query: String,
    /// The ids of every article judged relevant.
    pub relevant: BTreeSet<String>,
}

/// Averages over the judged queries for one ranker.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scores {
    /// Mean precision at [`CUTOFF`].
    pub precision: f64,
    /// Mean recall at [`CUTOFF`].
    pub recall: f64,
    /// Mean reciprocal rank within [`DEPTH`].
    pub mrr: f64,
}

/// What an evaluation measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArticlesReport {
    /// Articles indexed.
    pub articles: usize,
    /// Queries judged.
    pub queries: usize,
    /// baton's search.
    pub baton: Scores,
    /// The character-trigram TF-IDF baseline.
    pub trigram: Scores,
    /// The queries baton found nothing relevant for in its first [`CUTOFF`], with what it
    /// returned, for whoever tunes the articles.
    pub missed: Vec<(String, Vec<String>)>,
}

impl fmt::Display for ArticlesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} articles, {} judged queries",
            self.articles, self.queries
        )?;
        writeln!(f, "{:<16} {:>8} {:>8} {:>8}", "", "P@3", "R@3", "MRR@10")?;
        for (name, s) in [("baton", self.baton), ("trigram tf-idf", self.trigram)] {
            writeln!(
                f,
                "{name:<16} {:>8.3} {:>8.3} {:>8.3}",
                s.precision, s.recall, s.mrr
            )?;
        }
        if self.trigram.precision > 0.0 {
            writeln!(
                f,
                "baton / trigram P@3: {:.2}x",
                self.baton.precision / self.trigram.precision
            )?;
        }
        for (query, got) in &self.missed {
            writeln!(f, "missed: {query:?} -> {}", got.join(", "))?;
        }
        Ok(())
    }
}

/// Searches every judged query both ways and scores them.
pub fn evaluate(
    articles: &[Article],
    synonyms: &[Vec<String>],
    judged: &[Judged],
) -> Result<ArticlesReport, SearchError> {
    let index = ArticleIndex::build(articles, synonyms)?;
    let trigram = TrigramIndex::build(articles);
    let mut baton = Vec::with_capacity(judged.len());
    let mut baseline = Vec::with_capacity(judged.len());
    let mut missed = Vec::new();
    for j in judged {
        let found: Vec<String> = index
            .search(&j.query, DEPTH)?
            .into_iter()
            .map(|a| a.article_id)
            .collect();
        let scores = score(&found, &j.relevant);
        if scores.precision == 0.0 {
            missed.push((
                j.query.clone(),
                found.iter().take(CUTOFF).cloned().collect(),
            ));
        }
        baton.push(scores);
        baseline.push(score(&trigram.search(&j.query, DEPTH), &j.relevant));
    }
    Ok(ArticlesReport {
        articles: articles.len(),
        queries: judged.len(),
        baton: mean(&baton),
        trigram: mean(&baseline),
        missed,
    })
}

/// The scores of one ranked list.
fn score(ranked: &[String], relevant: &BTreeSet<String>) -> Scores {
    let hits = ranked
        .iter()
        .take(CUTOFF)
        .filter(|id| relevant.contains(*id))
        .count() as f64;
    let first = ranked
        .iter()
        .take(DEPTH)
        .position(|id| relevant.contains(id));
    Scores {
        precision: hits / CUTOFF as f64,
        recall: if relevant.is_empty() {
            0.0
        } else {
            hits / relevant.len() as f64
        },
        mrr: first.map_or(0.0, |p| 1.0 / (p + 1) as f64),
    }
}

fn mean(all: &[Scores]) -> Scores {
    let n = all.len().max(1) as f64;
    Scores {
        precision: all.iter().map(|s| s.precision).sum::<f64>() / n,
        recall: all.iter().map(|s| s.recall).sum::<f64>() / n,
        mrr: all.iter().map(|s| s.mrr).sum::<f64>() / n,
    }
}

/// Character-trigram TF-IDF with cosine similarity, over each article's title, tags and body:
/// the text lower-cased, split into words on anything that is not a letter or digit, each
/// word padded with a space on both sides and cut into every three characters; a trigram
/// weighs `(1 + ln tf) × (1 + ln((1 + N) / (1 + df)))`, and vectors are L2-normalized.
#[derive(Debug)]
pub struct TrigramIndex {
    ids: Vec<String>,
    vectors: Vec<BTreeMap<String, f64>>,
    idf: BTreeMap<String, f64>,
}

impl TrigramIndex {
    /// Indexes `articles`.
    pub fn build(articles: &[Article]) -> Self {
        let counts: Vec<BTreeMap<String, u32>> = articles
            .iter()
            .map(|a| trigrams(&format!("{} {} {}", a.title, a.tags.join(" "), a.body)))
            .collect();
        let mut df: BTreeMap<&str, u32> = BTreeMap::new();
        for c in &counts {
            for t in c.keys() {
                *df.entry(t).or_default() += 1;
            }
        }
        let n = articles.len() as f64;
        let idf: BTreeMap<String, f64> = df
            .into_iter()
            .map(|(t, d)| (t.to_owned(), 1.0 + ((1.0 + n) / (1.0 + f64::from(d))).ln()))
            .collect();
        let vectors = counts.iter().map(|c| weigh(c, &idf)).collect();
        Self {
            ids: articles.iter().map(|a| a.article_id.clone()).collect(),
            vectors,
            idf,
        }
    }

    /// The ids of the best `limit` articles for `text`, best first (ties by id); articles
    /// sharing no trigram with it are never returned.
    pub fn search(&self, text: &str, limit: usize) -> Vec<String> {
        let query = weigh(&trigrams(text), &self.idf);
        let mut ranked: Vec<(f64, &str)> = self
            .vectors
            .iter()
            .zip(&self.ids)
            .map(|(v, id)| {
                let dot = query
                    .iter()
                    .filter_map(|(t, w)| v.get(t).map(|x| x * w))
                    .sum::<f64>();
                (dot, id.as_str())
            })
            .filter(|(s, _)| *s > 0.0)
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        ranked
            .into_iter()
            .take(limit)
            .map(|(_, id)| id.to_owned())
            .collect()
    }
}

fn trigrams(text: &str) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for word in text
        .to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let padded: Vec<char> = format!(" {word} ").chars().collect();
        for gram in padded.windows(3) {
            *out.entry(gram.iter().collect()).or_default() += 1;
        }
    }
    out
}

/// TF-IDF weights of `counts`, L2-normalized; trigrams no article holds are dropped.
fn weigh(counts: &BTreeMap<String, u32>, idf: &BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    let mut v: BTreeMap<String, f64> = counts
        .iter()
        .filter_map(|(t, c)| {
            idf.get(t)
                .map(|i| (t.clone(), (1.0 + f64::from(*c).ln()) * i))
        })
        .collect();
    let norm = v.values().map(|w| w * w).sum::<f64>().sqrt();
    if norm > 0.0 {
        v.values_mut().for_each(|w| *w /= norm);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str, title: &str, body: &str) -> Article {
        Article {
            article_id: id.into(),
            title: title.into(),
            body: body.into(),
            ..Article::default()
        }
    }

    fn judged(query: &str, relevant: &[&str]) -> Judged {
        Judged {
            query: query.into(),
            relevant: relevant.iter().map(|r| (*r).to_owned()).collect(),
        }
    }

    #[test]
    fn the_baseline_ranks_by_shared_trigrams() {
        let index = TrigramIndex::build(&[
            article("pay", "Payment failed", "your card was declined"),
            article("pwd", "Password reset", "use the link"),
        ]);
        // "paymnt" shares " pa" with "password" too, and far more with "payment".
        assert_eq!(index.search("paymnt", 3), ["pay", "pwd"]);
        assert_eq!(index.search("reset my password", 3)[0], "pwd");
        assert!(index.search("zzzz", 3).is_empty());
    }

    #[test]
    fn precision_recall_and_reciprocal_rank_are_counted() {
        let ranked: Vec<String> = ["x", "a", "y", "b"].map(String::from).into();
        let relevant: BTreeSet<String> = ["a", "b"].map(String::from).into();
        let s = score(&ranked, &relevant);
        assert!((s.precision - 1.0 / 3.0).abs() < 1e-9);
        assert!((s.recall - 0.5).abs() < 1e-9);
        assert!((s.mrr - 0.5).abs() < 1e-9);
        assert_eq!(score(&[], &relevant), Scores::default());
    }

    #[test]
    fn a_report_names_both_rankers_and_the_misses() {
        let articles = [
            article("pay", "Payment failed", "card declined"),
            article("pwd", "Password reset", "use the link"),
        ];
        let report = evaluate(
            &articles,
            &[],
            &[
                judged("my payment failed", &["pay"]),
                judged("router", &["pwd"]),
            ],
        )
        .expect("evaluate");
        assert_eq!((report.articles, report.queries), (2, 2));
        assert!((report.baton.precision - 1.0 / 6.0).abs() < 1e-9);
        assert_eq!(report.missed.len(), 1);
        let text = report.to_string();
        assert!(text.contains("trigram tf-idf") && text.contains("missed: \"router\""));
    }
}
