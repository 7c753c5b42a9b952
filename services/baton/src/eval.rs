//! `baton eval recommend FILE.csv`: offers measured against popularity, leave-last-out by
//! time, on purchases read from a file (see [`baton_recommendation::eval`]); and
//! `baton eval articles ARTICLES.csv QUERIES.csv`: article search measured against a
//! character-trigram TF-IDF baseline on relevance judgements (see
//! [`baton_recommendation::eval::articles`]).
//!
//! # `eval recommend`
//!
//! The file has a header row naming a customer column (`customer`, `customer_id`, `user`,
//! `user_id`, `userId`), a product column (`product`, `product_id`, `item`, `item_id`,
//! `movieId`) and a time column (`timestamp`, `time`, `at`, `purchased_at`) holding seconds
//! since the epoch; other columns are ignored, so a ratings export reads as it is. Nothing
//! running is needed: the evaluation learns into a fresh embedded store in a temporary
//! directory, which is removed afterwards.
//!
//! # `eval reasons`
//!
//! The file has a header naming a text column (`utterance`, `text`, `query`, `message`) and a
//! reason column (`reason`, `code`, `category`, `label`); an `intent` column and a time column
//! (as above) are read when present, and without times the file's order is time's.
//!
//! # `eval articles`
//!
//! The articles file is what `baton import articles` reads. The queries file has a header
//! naming a query column (`query`, `utterance`, `text`) and a column of the relevant article
//! ids (`relevant`, `article_id`, `articles`), several ids separated by `;`, `|` or spaces; a
//! query on several rows gathers their ids. `--synonyms FILE` searches with the synonym
//! groups `baton import synonyms` would load. Nothing running is needed either.

use std::io::Write;
use std::path::PathBuf;

use std::collections::{BTreeMap, BTreeSet};

use baton_recommendation::EmbeddedRecommendationStore;
use baton_recommendation::eval::articles::{ArticlesReport, Judged};
use baton_recommendation::eval::reasons::{Labelled, ReasonsReport};
use baton_recommendation::eval::{self, Report, Row};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `baton eval recommend`.
#[derive(Args, Debug)]
pub struct RecommendArgs {
    /// CSV of purchases: customer, product and time columns, with a header.
    #[arg(required_unless_present = "synthetic")]
    pub file: Option<PathBuf>,
    /// Instead of a file, a generated history of CUSTOMERS:PRODUCTS:GROUPS (the shipped
    /// sample is 300:400:20), seeded with `--seed`.
    #[arg(long, conflicts_with = "file", value_parser = parse_synthetic)]
    pub synthetic: Option<(usize, usize, usize)>,
    /// Seed of `--synthetic`.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// No progress bar (it is off anyway when stderr is not a terminal).
    #[arg(long)]
    pub quiet: bool,
}

/// Arguments of `baton eval reasons`.
#[derive(Args, Debug)]
pub struct ReasonsArgs {
    /// CSV of contacts with their confirmed reason: text and reason columns, with a header.
    pub file: PathBuf,
    /// Seed of the training order.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

const TEXT: &[&str] = &["utterance", "text", "query", "message"];
const REASON: &[&str] = &["reason", "code", "category", "label"];

/// Reads labelled contacts; a row without text and intent, or without a reason, is named by
/// its line.
pub fn read_labelled(file: &PathBuf) -> Result<Vec<Labelled>, String> {
    let (mut reader, columns) = Columns::open(file)?;
    let text = columns.required(TEXT, "text")?;
    let reason = columns.required(REASON, "reason")?;
    let (intent, time) = (columns.find(&["intent"]), columns.find(TIME));
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| format!("line {line}: {e}"))?;
        let field = |at: Option<usize>| at.and_then(|a| record.get(a)).unwrap_or("");
        let (utterance, intent, code) = (field(Some(text)), field(intent), field(Some(reason)));
        if utterance.is_empty() && intent.is_empty() {
            return Err(format!("line {line}: a text or an intent is required"));
        }
        if code.is_empty() {
            return Err(format!("line {line}: a reason is required"));
        }
        let at = match time.map(|t| field(Some(t))) {
            None | Some("") => i as i64,
            Some(t) => t
                .parse::<f64>()
                .map_err(|_| format!("line {line}: time {t:?} is not seconds since the epoch"))?
                as i64,
        };
        out.push(Labelled {
            at,
            utterance: utterance.to_owned(),
            intent: intent.to_owned(),
            code: code.to_owned(),
        });
    }
    if out.len() < 2 {
        return Err(format!(
            "{}: at least two contacts are needed (one to learn, one to hold out)",
            file.display()
        ));
    }
    Ok(out)
}

/// Runs `baton eval reasons` and prints its report to `out`.
pub fn reasons(args: &ReasonsArgs, out: &mut impl Write) -> Result<ReasonsReport, String> {
    let contacts = read_labelled(&args.file)?;
    let report = eval::reasons::evaluate(&contacts, args.seed);
    write!(out, "{report}").map_err(|e| e.to_string())?;
    Ok(report)
}

/// Arguments of `baton eval articles`.
#[derive(Args, Debug)]
pub struct ArticlesArgs {
    /// CSV of articles, as `baton import articles` reads it.
    pub articles: PathBuf,
    /// CSV of judged queries: a query column and a column of relevant article ids.
    pub queries: PathBuf,
    /// Synonym groups to search with, one group a line, separated by commas.
    #[arg(long)]
    pub synonyms: Option<PathBuf>,
}

const QUERY: &[&str] = &["query", "utterance", "text"];
const RELEVANT: &[&str] = &["relevant", "article_id", "articles", "relevant_ids"];

/// Reads judged queries; a bad row or an id no article has is named by its line.
pub fn read_judged(file: &PathBuf, known: &BTreeSet<&str>) -> Result<Vec<Judged>, String> {
    let (mut reader, columns) = Columns::open(file)?;
    let column = |names: &[&str], what: &str| columns.required(names, what);
    let (q, r) = (column(QUERY, "query")?, column(RELEVANT, "relevant")?);
    let mut gathered: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| format!("line {line}: {e}"))?;
        let query = record.get(q).unwrap_or("");
        if query.is_empty() {
            return Err(format!("line {line}: a query is required"));
        }
        let ids: Vec<&str> = record
            .get(r)
            .unwrap_or("")
            .split([';', '|', ' '])
            .filter(|id| !id.is_empty())
            .collect();
        if ids.is_empty() {
            return Err(format!(
                "line {line}: at least one relevant article is required"
            ));
        }
        if let Some(unknown) = ids.iter().find(|id| !known.contains(**id)) {
            return Err(format!("line {line}: no article has the id {unknown:?}"));
        }
        let entry = gathered
            .entry(query.to_owned())
            .or_insert_with(|| (line, BTreeSet::new()));
        entry.1.extend(ids.into_iter().map(str::to_owned));
    }
    if gathered.is_empty() {
        return Err(format!("{}: no queries", file.display()));
    }
    // In file order, as read.
    let mut judged: Vec<(usize, Judged)> = gathered
        .into_iter()
        .map(|(query, (line, relevant))| (line, Judged { query, relevant }))
        .collect();
    judged.sort_by_key(|(line, _)| *line);
    Ok(judged.into_iter().map(|(_, j)| j).collect())
}

/// Runs `baton eval articles` and prints its report to `out`.
pub fn articles(args: &ArticlesArgs, out: &mut impl Write) -> Result<ArticlesReport, String> {
    let articles = crate::import::content::read_articles(&args.articles)?;
    if articles.is_empty() {
        return Err(format!("{}: no articles", args.articles.display()));
    }
    let known: BTreeSet<&str> = articles.iter().map(|a| a.article_id.as_str()).collect();
    let judged = read_judged(&args.queries, &known)?;
    let synonyms = match &args.synonyms {
        Some(file) => crate::import::content::read_synonyms(file)?,
        None => Vec::new(),
    };
    let report =
        eval::articles::evaluate(&articles, &synonyms, &judged).map_err(|e| e.to_string())?;
    write!(out, "{report}").map_err(|e| e.to_string())?;
    Ok(report)
}

/// The header of a CSV file, to find columns by any of their usual names, whatever the case.
struct Columns {
    file: PathBuf,
    headers: csv::StringRecord,
}

impl Columns {
    /// Opens `file` (fields trimmed, rows of any length) and reads its header.
    fn open(file: &PathBuf) -> Result<(csv::Reader<std::fs::File>, Self), String> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_path(file)
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let headers = reader
            .headers()
            .map_err(|e| format!("{}: {e}", file.display()))?
            .clone();
        let file = file.clone();
        Ok((reader, Self { file, headers }))
    }

    /// The first column named one of `names`.
    fn find(&self, names: &[&str]) -> Option<usize> {
        self.headers
            .iter()
            .position(|h| names.contains(&h.to_lowercase().as_str()))
    }

    /// The first column named one of `names`, or an error naming `what` is missing.
    fn required(&self, names: &[&str], what: &str) -> Result<usize, String> {
        self.find(names).ok_or_else(|| {
            format!(
                "{}: no {what} column (one of {})",
                self.file.display(),
                names.join(", ")
            )
        })
    }
}

const CUSTOMER: &[&str] = &["customer", "customer_id", "user", "user_id", "userid"];
const PRODUCT: &[&str] = &["product", "product_id", "item", "item_id", "movieid"];
const TIME: &[&str] = &["timestamp", "time", "at", "purchased_at"];

/// Reads purchase rows; every bad row is named by its line.
pub fn read(file: &PathBuf) -> Result<Vec<Row>, String> {
    let (mut reader, columns) = Columns::open(file)?;
    let column = |names: &[&str], what: &str| columns.required(names, what);
    let (c, p, t) = (
        column(CUSTOMER, "customer")?,
        column(PRODUCT, "product")?,
        column(TIME, "time")?,
    );
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| format!("line {line}: {e}"))?;
        let field = |at: usize| record.get(at).unwrap_or("");
        let (customer, product) = (field(c), field(p));
        if customer.is_empty() || product.is_empty() {
            return Err(format!(
                "line {line}: a customer and a product are required"
            ));
        }
        let at = field(t).parse::<f64>().map_err(|_| {
            format!(
                "line {line}: time {:?} is not seconds since the epoch",
                field(t)
            )
        })?;
        rows.push(Row {
            customer: customer.to_owned(),
            product: product.to_owned(),
            at: at as i64,
        });
    }
    if rows.is_empty() {
        return Err(format!("{}: no purchases", file.display()));
    }
    Ok(rows)
}

fn parse_synthetic(spec: &str) -> Result<(usize, usize, usize), String> {
    let parts: Vec<usize> = spec
        .split(':')
        .map(|p| p.parse::<usize>().ok().filter(|n| *n > 0))
        .collect::<Option<_>>()
        .ok_or("expected three positive numbers, CUSTOMERS:PRODUCTS:GROUPS")?;
    match parts[..] {
        [c, p, g] if g <= p => Ok((c, p, g)),
        [_, _, _] => Err("GROUPS must not exceed PRODUCTS".to_owned()),
        _ => Err("expected CUSTOMERS:PRODUCTS:GROUPS".to_owned()),
    }
}

/// Runs the evaluation and prints its report to `out`.
pub async fn recommend(args: &RecommendArgs, out: &mut impl Write) -> Result<Report, String> {
    let rows = match (&args.file, args.synthetic) {
        (_, Some((customers, products, groups))) => {
            eval::synthetic(args.seed, customers, products, groups)
        }
        (Some(file), None) => read(file)?,
        (None, None) => return Err("a file or --synthetic is required".to_owned()),
    };
    let dir = tempfile::tempdir().map_err(|e| format!("temporary store: {e}"))?;
    let store = EmbeddedRecommendationStore::open(dir.path()).map_err(|e| e.to_string())?;
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:>13} [{bar:30}] {pos}/{len} customers")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    let report = eval::recommend(store, &rows, |stage, done, total| {
        bar.set_message(stage.to_owned());
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .await
    .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    writeln!(out, "{report}").map_err(|e| e.to_string())?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("test setup");
        let path = dir.path().join("purchases.csv");
        std::fs::write(&path, text).expect("test setup");
        (dir, path)
    }

    #[test]
    fn columns_are_found_by_their_usual_names_and_others_are_ignored() {
        let (_dir, path) = file("userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n");
        assert_eq!(
            read(&path).expect("test setup"),
            vec![Row {
                customer: "1".into(),
                product: "31".into(),
                at: 1_260_759_144,
            }]
        );
    }

    #[test]
    fn a_synthetic_spec_is_three_positive_numbers() {
        assert_eq!(parse_synthetic("300:400:20"), Ok((300, 400, 20)));
        assert!(parse_synthetic("300:400").is_err());
        assert!(parse_synthetic("300:0:20").is_err());
        assert!(parse_synthetic("300:10:20").is_err());
    }

    #[test]
    fn a_missing_column_or_a_bad_time_is_named() {
        let (_dir, path) = file("customer,product\na,b\n");
        let err = read(&path).expect_err("an error");
        assert!(err.contains("no time column"), "{err}");
        let (_dir, path) = file("customer,product,at\na,b,1\na,c,yesterday\n");
        let err = read(&path).expect_err("an error");
        assert!(err.starts_with("line 3: time \"yesterday\""), "{err}");
    }

    #[test]
    fn judged_queries_gather_their_rows_and_name_unknown_ids() {
        let known: BTreeSet<&str> = ["a", "b", "c"].into();
        let (_dir, path) = file("query,relevant\nmy card,a;b\nrefund,c\nmy card,c\n");
        let judged = read_judged(&path, &known).expect("read");
        assert_eq!(judged.len(), 2);
        assert_eq!(judged[0].query, "my card");
        assert_eq!(judged[0].relevant.len(), 3);
        let (_dir, path) = file("query,relevant\nmy card,a\nrefund,zz\n");
        let err = read_judged(&path, &known).expect_err("an unknown id");
        assert!(
            err.starts_with("line 3: no article has the id \"zz\""),
            "{err}"
        );
    }

    #[test]
    fn labelled_contacts_read_with_or_without_times() {
        let (_dir, path) = file("text,category\nmy card is lost,lost_card\nrefund please,refund\n");
        let rows = read_labelled(&path).expect("read");
        assert_eq!((rows[0].at, rows[1].at), (0, 1));
        assert_eq!(rows[1].code, "refund");
        let (_dir, path) = file("utterance,reason\nhello,\n");
        let err = read_labelled(&path).expect_err("no reason");
        assert!(err.starts_with("line 2: a reason is required"), "{err}");
    }

    #[test]
    fn the_shipped_reason_sample_is_learned_better_than_the_baselines() {
        let args = ReasonsArgs {
            file: concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../recommendation/testdata/reasons.csv"
            )
            .into(),
            seed: 7,
        };
        let mut out = Vec::new();
        let report = reasons(&args, &mut out).expect("evaluate");
        let out = String::from_utf8(out).expect("utf-8");
        assert!(report.held_out >= 50, "{out}");
        assert!(report.model.at_1 > report.majority.at_1, "{out}");
        assert!(report.model.at_1 > report.rules.at_1, "{out}");
        assert!(report.model.at_3 >= report.model.at_1, "{out}");
    }

    #[test]
    fn the_shipped_article_sample_beats_the_trigram_baseline() {
        let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../recommendation/testdata");
        let args = ArticlesArgs {
            articles: format!("{data}/articles.csv").into(),
            queries: format!("{data}/article_queries.csv").into(),
            synonyms: Some(format!("{data}/synonyms.txt").into()),
        };
        let mut out = Vec::new();
        let report = articles(&args, &mut out).expect("evaluate");
        let out = String::from_utf8(out).expect("utf-8");
        assert!(report.articles >= 30 && report.queries >= 20, "{out}");
        assert!(out.contains("P@3") && out.contains("trigram"), "{out}");
        assert!(report.baton.precision > report.trigram.precision, "{out}");
        assert!(report.baton.mrr > report.trigram.mrr, "{out}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_shipped_sample_is_evaluated_against_popularity() {
        let args = RecommendArgs {
            file: Some(
                concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../recommendation/testdata/purchases.csv"
                )
                .into(),
            ),
            synthetic: None,
            seed: 7,
            quiet: true,
        };
        let mut out = Vec::new();
        let report = recommend(&args, &mut out).await.expect("test setup");
        let out = String::from_utf8(out).expect("test setup");
        assert_eq!(report.customers, 300, "{out}");
        assert!(out.contains("HR@10") && out.contains("popularity"), "{out}");
        assert!(report.baton.hit_rate > report.popularity.hit_rate, "{out}");
    }
}
