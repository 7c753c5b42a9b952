//! `baton import catalog FILE.csv` and `baton import articles FILE.csv`: what recommendation
//! offers and what agents read, from files, into RecommendationService.
//!
//! Columns are found by header, whatever their case. Each row is checked on its own with the
//! service's own validation before anything is sent, so a bad row is reported with its line
//! and skipped and never refuses the rows sent with it; the good rows go in calls of the
//! most the service takes (500 items, 200 articles). Both calls replace by id, so importing
//! the same file again changes nothing.

use std::{
    collections::HashMap,
    hash::{DefaultHasher, Hash, Hasher},
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};

use baton_auth::Role;
use baton_proto::v1::{
    ActionRule, Article, CaseStatus, CatalogItem, Money, NextBestAction, SetActionRulesRequest,
    SetSynonymsRequest, SynonymGroup, UpsertArticlesRequest, UpsertCatalogRequest,
};
use baton_recommendation::validate;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::Refusal;
use baton_proto::v1::recommendation_service_client::RecommendationServiceClient;
use baton_runtime::client::ClientChannel;

use crate::client::{self, RecommendationClientArgs};

/// Longest one call is awaited.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// `baton import catalog` and `baton import articles`.
#[derive(Args, Debug)]
pub struct ContentArgs {
    /// The CSV file, with a header row.
    pub file: PathBuf,
    /// The tenant the content belongs to.
    #[arg(long)]
    pub tenant: String,
    /// Where the service is.
    #[command(flatten)]
    pub client: RecommendationClientArgs,
}

/// What an import of content did.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Items or articles the service wrote.
    pub written: u64,
    /// Rows that did not go in, in file order.
    pub refused: Vec<Refusal>,
}

impl Loaded {
    /// The summary an operator reads.
    pub fn print(&self, what: &str, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "{what} written {}", self.written)?;
        writeln!(out, "rows refused {}", self.refused.len())?;
        for r in &self.refused {
            match r.external_id.as_str() {
                "" => writeln!(out, "line {}: {}", r.line, r.reason)?,
                id => writeln!(out, "line {} (id {id}): {}", r.line, r.reason)?,
            }
        }
        Ok(())
    }
}

/// The header names of a file, lower-cased, by column.
struct Header(HashMap<String, usize>);

impl Header {
    fn read(reader: &mut csv::Reader<std::fs::File>) -> Result<Self, String> {
        let names = reader.headers().map_err(|e| format!("header: {e}"))?;
        Ok(Self(
            names
                .iter()
                .enumerate()
                .map(|(i, h)| (h.trim().to_lowercase(), i))
                .collect(),
        ))
    }

    /// The value of the first of `names` the file has, trimmed; empty when none.
    fn get<'r>(&self, row: &'r csv::StringRecord, names: &[&str]) -> &'r str {
        names
            .iter()
            .find_map(|n| self.0.get(*n))
            .and_then(|i| row.get(*i))
            .map_or("", str::trim)
    }

    fn has(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.0.contains_key(*n))
    }
}

const PRODUCT_ID: &[&str] = &["product_id", "id", "sku"];
const NAME: &[&str] = &["name", "title", "product_name"];
const ARTICLE_ID: &[&str] = &["article_id", "id"];
const TITLE: &[&str] = &["title", "name"];

/// What can be imported: a catalog item or an article, with the call that writes it.
trait Content: Clone + std::fmt::Debug + Sized {
    /// What the summary calls them.
    const WHAT: &'static str;
    /// Names the call in idempotency keys.
    const KIND: &'static str;
    /// The most one call takes.
    const PER_CALL: usize;
    /// The columns a file must have: the field, and the headers that may name it.
    const REQUIRED: &'static [(&'static str, &'static [&'static str])];
    /// The call's request.
    type Request;

    /// Reads one row.
    fn parse(header: &Header, row: &csv::StringRecord) -> Result<Self, String>;
    /// Its id, for the summary.
    fn id(&self) -> &str;
    /// The call writing `items`.
    fn request(tenant: &str, items: Vec<Self>, idempotency_key: String) -> Self::Request;
    /// The service's own checks of a request.
    fn check(request: &Self::Request) -> Result<(), tonic::Status>;
    /// Makes the call; how many were written.
    async fn send(
        client: &mut RecommendationServiceClient<ClientChannel>,
        request: Self::Request,
    ) -> Result<u32, tonic::Status>;
}

impl Content for CatalogItem {
    const WHAT: &'static str = "items";
    const KIND: &'static str = "catalog";
    const PER_CALL: usize = validate::MAX_CATALOG_ITEMS;
    const REQUIRED: &'static [(&'static str, &'static [&'static str])] =
        &[("product_id", PRODUCT_ID), ("name", NAME)];
    type Request = UpsertCatalogRequest;

    fn parse(header: &Header, row: &csv::StringRecord) -> Result<Self, String> {
        catalog_item(header, row)
    }
    fn id(&self) -> &str {
        &self.product_id
    }
    fn request(tenant: &str, items: Vec<Self>, idempotency_key: String) -> Self::Request {
        UpsertCatalogRequest {
            tenant_id: tenant.to_owned(),
            items,
            idempotency_key,
        }
    }
    fn check(request: &Self::Request) -> Result<(), tonic::Status> {
        validate::upsert_catalog(request)
    }
    async fn send(
        client: &mut RecommendationServiceClient<ClientChannel>,
        request: Self::Request,
    ) -> Result<u32, tonic::Status> {
        Ok(client.upsert_catalog(request).await?.into_inner().upserted)
    }
}

impl Content for Article {
    const WHAT: &'static str = "articles";
    const KIND: &'static str = "articles";
    const PER_CALL: usize = validate::MAX_ARTICLES;
    const REQUIRED: &'static [(&'static str, &'static [&'static str])] =
        &[("article_id", ARTICLE_ID), ("title", TITLE)];
    type Request = UpsertArticlesRequest;

    fn parse(header: &Header, row: &csv::StringRecord) -> Result<Self, String> {
        article(header, row)
    }
    fn id(&self) -> &str {
        &self.article_id
    }
    fn request(tenant: &str, articles: Vec<Self>, idempotency_key: String) -> Self::Request {
        UpsertArticlesRequest {
            tenant_id: tenant.to_owned(),
            articles,
            idempotency_key,
        }
    }
    fn check(request: &Self::Request) -> Result<(), tonic::Status> {
        validate::upsert_articles(request)
    }
    async fn send(
        client: &mut RecommendationServiceClient<ClientChannel>,
        request: Self::Request,
    ) -> Result<u32, tonic::Status> {
        Ok(client.upsert_articles(request).await?.into_inner().upserted)
    }
}

/// Reads `file` row by row, refusing the rows that cannot be read or that the service's
/// checks refuse on their own.
fn rows<T: Content>(file: &Path, tenant: &str) -> Result<(Vec<T>, Vec<Refusal>), String> {
    let opened = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(opened);
    let header = Header::read(&mut reader)?;
    for (field, names) in T::REQUIRED {
        if !header.has(names) {
            return Err(format!(
                "{}: no column for {field} (a header named one of {})",
                file.display(),
                names.join(", ")
            ));
        }
    }
    let (mut good, mut refused) = (Vec::new(), Vec::new());
    for (i, row) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                refused.push(refusal(line, String::new(), e.to_string()));
                continue;
            }
        };
        match T::parse(&header, &row) {
            Ok(value) => {
                let alone = T::request(tenant, vec![value.clone()], "check".to_owned());
                match T::check(&alone) {
                    Ok(()) => good.push(value),
                    Err(status) => {
                        refused.push(refusal(line, value.id().to_owned(), reason(&status)));
                    }
                }
            }
            Err(why) => refused.push(refusal(line, String::new(), why)),
        }
    }
    Ok((good, refused))
}

fn refusal(line: u64, external_id: String, reason: String) -> Refusal {
    Refusal {
        line,
        external_id,
        reason,
    }
}

/// A validation failure as one line: the field violations, without the request's indexes.
fn reason(status: &tonic::Status) -> String {
    let message = status.message();
    message
        .strip_prefix("invalid request: ")
        .unwrap_or(message)
        .replace("items[0].", "")
        .replace("articles[0].", "")
}

/// `yes`/`no` and the like; empty is `default`.
fn flag(value: &str, column: &str, default: bool) -> Result<bool, String> {
    match value.to_lowercase().as_str() {
        "" => Ok(default),
        "1" | "true" | "yes" | "y" => Ok(true),
        "0" | "false" | "no" | "n" => Ok(false),
        other => Err(format!("{column} {other:?} is neither yes nor no")),
    }
}

/// A price such as `19.99` or `20` in minor units (at most two decimals).
fn minor_units(value: &str) -> Result<i64, String> {
    let bad = || format!("price {value:?} is not an amount such as 19.99");
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 2 || !fraction.chars().all(|c| c.is_ascii_digit()) || whole.is_empty() {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let cents: i64 = format!("{fraction:0<2}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(if whole < 0 { -cents } else { cents }))
        .ok_or_else(bad)
}

fn catalog_item(h: &Header, row: &csv::StringRecord) -> Result<CatalogItem, String> {
    let price = match h.get(row, &["price", "amount"]) {
        "" => None,
        amount => {
            let currency = h.get(row, &["currency"]).to_uppercase();
            if currency.is_empty() {
                return Err("a price needs a currency column (EUR, USD, ...)".to_owned());
            }
            Some(Money {
                currency,
                minor_units: minor_units(amount)?,
            })
        }
    };
    Ok(CatalogItem {
        product_id: h.get(row, PRODUCT_ID).to_owned(),
        name: h.get(row, NAME).to_owned(),
        category: h.get(row, &["category"]).to_owned(),
        description: h.get(row, &["description"]).to_owned(),
        promotional: flag(h.get(row, &["promotional", "promo"]), "promotional", false)?,
        active: flag(h.get(row, &["active"]), "active", true)?,
        price,
    })
}

fn article(h: &Header, row: &csv::StringRecord) -> Result<Article, String> {
    let tags = h
        .get(row, &["tags", "tag"])
        .split([';', '|', ','])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    Ok(Article {
        article_id: h.get(row, ARTICLE_ID).to_owned(),
        title: h.get(row, TITLE).to_owned(),
        body: h.get(row, &["body", "text", "content"]).to_owned(),
        tags,
        language: h.get(row, &["language", "lang"]).to_owned(),
    })
}

/// An idempotency key naming exactly this call's content, so a retry of it is one call.
fn content_key<M: std::fmt::Debug>(kind: &str, messages: &[M]) -> String {
    let mut hasher = DefaultHasher::new();
    for m in messages {
        format!("{m:?}").hash(&mut hasher);
    }
    format!("import-{kind}-{:016x}", hasher.finish())
}

/// Runs `baton import catalog`; the summary goes to `out`.
pub async fn catalog(args: &ContentArgs, out: &mut dyn Write) -> Result<Loaded, String> {
    load::<CatalogItem>(args, out).await
}

/// Runs `baton import articles`; the summary goes to `out`.
pub async fn articles(args: &ContentArgs, out: &mut dyn Write) -> Result<Loaded, String> {
    load::<Article>(args, out).await
}

/// The articles of `file`, as `baton import articles` reads them; the first row refused
/// stops the read, named by its line.
pub fn read_articles(file: &Path) -> Result<Vec<Article>, String> {
    let (good, refused) = rows::<Article>(file, "check")?;
    match refused.first() {
        None => Ok(good),
        Some(r) => Err(format!(
            "{} line {}: {} ({} rows refused in all)",
            file.display(),
            r.line,
            r.reason,
            refused.len()
        )),
    }
}

/// Synonym groups from a text file: one group a line, its words or phrases separated by
/// commas; blank lines and lines starting with `#` are skipped. Each group is checked as
/// SetSynonyms checks it, and a bad one is named by its line.
pub fn read_synonyms(file: &Path) -> Result<Vec<Vec<String>>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut groups = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let terms: Vec<String> = line
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect();
        let alone = SetSynonymsRequest {
            tenant_id: "check".to_owned(),
            groups: vec![SynonymGroup {
                terms: terms.clone(),
            }],
            idempotency_key: "check".to_owned(),
        };
        validate::set_synonyms(&alone)
            .map_err(|s| format!("{} line {}: {}", file.display(), i + 1, reason(&s)))?;
        groups.push(terms);
    }
    Ok(groups)
}

/// Runs `baton import synonyms`: replaces the tenant's synonym groups with the file's.
pub async fn synonyms(args: &ContentArgs, out: &mut dyn Write) -> Result<u32, String> {
    let groups = read_synonyms(&args.file)?;
    let request = SetSynonymsRequest {
        tenant_id: args.tenant.clone(),
        groups: groups
            .into_iter()
            .map(|terms| SynonymGroup { terms })
            .collect(),
        idempotency_key: String::new(),
    };
    let request = SetSynonymsRequest {
        idempotency_key: content_key("synonyms", &request.groups),
        ..request
    };
    validate::set_synonyms(&request).map_err(|s| reason(&s))?;
    let mut client =
        client::recommendation(&args.client, &args.tenant, Role::Admin, CALL_TIMEOUT).await?;
    let held = client
        .set_synonyms(request)
        .await
        .map_err(|s| format!("{} ({:?})", s.message(), s.code()))?
        .into_inner()
        .groups;
    writeln!(out, "synonym groups held {held}").map_err(|e| format!("output: {e}"))?;
    Ok(held)
}

/// Action rules from a CSV file: `reason_code` (or `reason`), `action_code` (or `action`) and
/// `label` required, `case_status` (`open`, `in_progress`, `waiting_on_customer`, or empty
/// for any) and `rationale` optional; rows in the order they are tried. The whole set is
/// checked as SetActionRules checks it, a bad rule named by its line.
pub fn read_action_rules(file: &Path) -> Result<Vec<ActionRule>, String> {
    let opened = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(opened);
    let header = Header::read(&mut reader)?;
    const REASON: &[&str] = &["reason_code", "reason"];
    const ACTION: &[&str] = &["action_code", "action"];
    for (what, names) in [
        ("reason_code", REASON),
        ("action_code", ACTION),
        ("label", &["label"][..]),
    ] {
        if !header.has(names) {
            return Err(format!(
                "{}: no column for {what} (a header named one of {})",
                file.display(),
                names.join(", ")
            ));
        }
    }
    let mut rules = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = row.map_err(|e| format!("{} line {line}: {e}", file.display()))?;
        let status = match header
            .get(&row, &["case_status", "status"])
            .to_lowercase()
            .as_str()
        {
            "" | "any" => CaseStatus::Unspecified,
            "open" => CaseStatus::Open,
            "in_progress" => CaseStatus::InProgress,
            "waiting_on_customer" => CaseStatus::WaitingOnCustomer,
            other => {
                return Err(format!(
                    "{} line {line}: case status {other:?} is not open, in_progress or \
                     waiting_on_customer",
                    file.display()
                ));
            }
        };
        let rule = ActionRule {
            reason_code: header.get(&row, REASON).to_owned(),
            case_status: status as i32,
            action: Some(NextBestAction {
                code: header.get(&row, ACTION).to_owned(),
                label: header.get(&row, &["label"]).to_owned(),
                rationale: header.get(&row, &["rationale"]).to_owned(),
            }),
        };
        let alone = SetActionRulesRequest {
            tenant_id: "check".to_owned(),
            rules: vec![rule.clone()],
            idempotency_key: "check".to_owned(),
        };
        validate::set_action_rules(&alone)
            .map_err(|s| format!("{} line {line}: {}", file.display(), reason(&s)))?;
        rules.push(rule);
    }
    Ok(rules)
}

/// Runs `baton import actions`: replaces the tenant's action rules with the file's.
pub async fn actions(args: &ContentArgs, out: &mut dyn Write) -> Result<u32, String> {
    let rules = read_action_rules(&args.file)?;
    let request = SetActionRulesRequest {
        tenant_id: args.tenant.clone(),
        idempotency_key: content_key("actions", &rules),
        rules,
    };
    validate::set_action_rules(&request).map_err(|s| reason(&s))?;
    let mut client =
        client::recommendation(&args.client, &args.tenant, Role::Admin, CALL_TIMEOUT).await?;
    let held = client
        .set_action_rules(request)
        .await
        .map_err(|s| format!("{} ({:?})", s.message(), s.code()))?
        .into_inner()
        .rules;
    writeln!(out, "action rules held {held}").map_err(|e| format!("output: {e}"))?;
    Ok(held)
}

/// Reads the file, then writes its good rows in calls of the most the service takes, with a
/// progress bar on a terminal.
async fn load<T: Content>(args: &ContentArgs, out: &mut dyn Write) -> Result<Loaded, String> {
    let (good, refused) = rows::<T>(&args.file, &args.tenant)?;
    let mut client =
        client::recommendation(&args.client, &args.tenant, Role::Admin, CALL_TIMEOUT).await?;
    let mut loaded = Loaded {
        refused,
        ..Loaded::default()
    };
    let bar = ProgressBar::new(good.len() as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "[{{bar:30}}] {{pos}}/{{len}} {} {{per_sec}} eta {{eta}}",
            T::WHAT
        ))
        .map_err(|e| format!("progress: {e}"))?
        .progress_chars("=> "),
    );
    for chunk in good.chunks(T::PER_CALL) {
        let key = content_key(T::KIND, chunk);
        let request = T::request(&args.tenant, chunk.to_vec(), key);
        let written = T::send(&mut client, request).await.map_err(|s| {
            bar.abandon();
            stopped(&loaded, T::WHAT, &s)
        })?;
        loaded.written += u64::from(written);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    loaded
        .print(T::WHAT, out)
        .map_err(|e| format!("output: {e}"))?;
    Ok(loaded)
}

/// The error of a call that failed part-way: what was written before it.
fn stopped(loaded: &Loaded, what: &str, status: &tonic::Status) -> String {
    format!(
        "stopped after {} {what} were written: {} ({:?}); running the command again is safe",
        loaded.written,
        status.message(),
        status.code()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_in_minor_units() {
        assert_eq!(minor_units("19.99"), Ok(1999));
        assert_eq!(minor_units("20"), Ok(2000));
        assert_eq!(minor_units("0.5"), Ok(50));
        assert_eq!(minor_units("-3.25"), Ok(-325));
        for bad in ["19.999", "abc", ".5", "1.x", ""] {
            assert!(minor_units(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn synonym_files_hold_one_group_a_line() {
        let dir = tempfile::tempdir().expect("test setup");
        let path = dir.path().join("synonyms.txt");
        std::fs::write(
            &path,
            "# billing\ndirect debit, autopay\n\nparcel,package, box\n",
        )
        .expect("test setup");
        assert_eq!(
            read_synonyms(&path).expect("read"),
            [
                vec!["direct debit".to_owned(), "autopay".to_owned()],
                vec!["parcel".to_owned(), "package".to_owned(), "box".to_owned()],
            ]
        );
        std::fs::write(&path, "parcel, package\nalone\n").expect("test setup");
        let err = read_synonyms(&path).expect_err("a lone word is refused");
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn action_rule_files_are_read_in_order_and_checked() {
        let dir = tempfile::tempdir().expect("test setup");
        let path = dir.path().join("actions.csv");
        std::fs::write(
            &path,
            "reason_code,case_status,action_code,label,rationale\n\
             lost_card,,freeze_card,Freeze the card,stop any more payments\n\
             open_case_follow_up,waiting_on_customer,ask_for_documents,Ask for the documents,\n",
        )
        .expect("test setup");
        let rules = read_action_rules(&path).expect("read");
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].case_status(), CaseStatus::WaitingOnCustomer);
        assert_eq!(
            rules[0].action.as_ref().map(|a| a.code.as_str()),
            Some("freeze_card")
        );
        std::fs::write(
            &path,
            "reason,action,label,case_status\nlost_card,freeze,Freeze,closed\n",
        )
        .expect("test setup");
        let err = read_action_rules(&path).expect_err("a bad status");
        assert!(err.contains("line 2: case status \"closed\""), "{err}");
    }

    #[test]
    fn flags_read_yes_and_no() {
        assert_eq!(flag("", "active", true), Ok(true));
        assert_eq!(flag("No", "active", true), Ok(false));
        assert_eq!(flag("1", "promotional", false), Ok(true));
        assert!(flag("maybe", "active", true).is_err());
    }
}
