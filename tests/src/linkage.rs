//! Record linkage measured online, through the identity service as callers drive it.
//!
//! Two modes. **Dedup**: records arrive one at a time, in a shuffled order, through
//! [`Identity::import`]; each lands on a customer, and the customers are the predicted
//! clusters. **Link**: set A is imported, then each record of set B is resolved with
//! `lookup_only`; a MATCHED answer pairs it with every A record on that customer.
//!
//! Scores are pairwise: a predicted pair is two records on one customer, a true pair two
//! records of one person; precision, recall and F1 compare the two sets. Beside them, the
//! false merges among hard negatives: pairs of different people in one hard-negative group
//! (twins, a parent and child of one name, ...) that ended on one customer. A matcher may
//! miss duplicates; it must not merge these.
//!
//! Which identifiers a record presents is part of the experiment ([`Ids`]). Traits alone
//! measure the fuzzy matcher; a national id shows what an exact key buys; phone and e-mail
//! too are closest to a CRM export, but a household's shared phone then joins its members
//! by the contract's own rule (an identifier belongs to one customer), so that set measures
//! the rule as much as the matcher.
//!
//! [`read_febrl`] reads the FEBRL synthetic data sets (a public benchmark) into the same
//! records, so the evaluation can run on them too.

use std::{
    collections::HashMap,
    fmt,
    path::Path,
    time::{Duration, Instant},
};

use baton_identity::{Error, Identity, IdentityStore, grpc::validate};
use baton_proto::v1::{
    CalendarDate, Channel, Identifier, IdentifierAssurance, IdentifierKind, PersonTraits,
    PostalAddress, ProfileRecord, ResolveDecision, ResolveRequest, UpsertProfileRequest,
};

use crate::people::{Address, Date, Record, Rng};

/// The identifiers each record presents besides its traits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ids {
    /// Traits only: what the fuzzy matcher has to go on.
    None,
    /// Traits and the national id.
    NationalId,
    /// Traits, national id, phone and e-mail.
    All,
}

impl fmt::Display for Ids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "traits only",
            Self::NationalId => "traits + national id",
            Self::All => "traits + national id, phone, e-mail",
        })
    }
}

/// The record's traits as the contract carries them.
pub fn traits(r: &Record) -> PersonTraits {
    PersonTraits {
        given_name: r.given_name.clone(),
        family_name: r.family_name.clone(),
        date_of_birth: r.date_of_birth.map(|d| CalendarDate {
            year: d.year,
            month: d.month,
            day: d.day,
        }),
        address: r.address.as_ref().map(|a| PostalAddress {
            lines: a.lines.clone(),
            locality: a.locality.clone(),
            region: a.region.clone(),
            postal_code: a.postal_code.clone(),
            country_code: a.country_code.clone(),
        }),
        language: String::new(),
    }
}

/// The record's identifiers that `ids` selects. A system of record supplied them: observed.
pub fn identifiers(r: &Record, ids: Ids) -> Vec<Identifier> {
    let one = |kind: IdentifierKind, value: &Option<String>| {
        value.as_ref().map(|v| Identifier {
            kind: kind as i32,
            value: v.clone(),
            assurance: IdentifierAssurance::Observed as i32,
            namespace: String::new(),
            default_region: if kind == IdentifierKind::Phone {
                "US".to_owned()
            } else {
                String::new()
            },
        })
    };
    let mut out = Vec::new();
    if ids != Ids::None {
        out.extend(one(IdentifierKind::NationalId, &r.national_id));
    }
    if ids == Ids::All {
        out.extend(one(IdentifierKind::Phone, &r.phone));
        out.extend(one(IdentifierKind::Email, &r.email));
    }
    out
}

/// The record as an import carries it: its id as the external id in `source`.
pub fn profile_record(r: &Record, source: &str, ids: Ids) -> ProfileRecord {
    ProfileRecord {
        external_id: r.id.clone(),
        source: source.to_owned(),
        identifiers: identifiers(r, ids),
        traits: Some(traits(r)),
        ..Default::default()
    }
}

/// Pair counts of one evaluation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pairs {
    /// Pairs of records of one person.
    pub truth: u64,
    /// Pairs of records the service put on one customer.
    pub predicted: u64,
    /// Pairs in both.
    pub correct: u64,
}

impl Pairs {
    /// Correct / predicted; 1 when nothing was predicted (no claim, no mistake).
    pub fn precision(&self) -> f64 {
        ratio(self.correct, self.predicted)
    }

    /// Correct / truth; 1 when there was nothing to find.
    pub fn recall(&self) -> f64 {
        ratio(self.correct, self.truth)
    }

    /// The harmonic mean of precision and recall: 2·correct / (truth + predicted).
    pub fn f1(&self) -> f64 {
        ratio(2 * self.correct, self.truth + self.predicted)
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        1.0
    } else {
        num as f64 / den as f64
    }
}

/// What an evaluation needs to know about a record: who it is, and its hard-negative group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truth {
    /// The person.
    pub entity: u64,
    /// The hard-negative group, if any.
    pub group: Option<u64>,
}

impl From<&Record> for Truth {
    fn from(r: &Record) -> Self {
        Self {
            entity: r.entity,
            group: r.group.map(|g| g.id),
        }
    }
}

/// Pairwise scores and false merges of one evaluation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scores {
    /// Pairwise counts.
    pub pairs: Pairs,
    /// Pairs of different people in one hard-negative group (the chances to go wrong).
    pub hard_negative_pairs: u64,
    /// Of those, the pairs that ended on one customer.
    pub false_merges: u64,
}

fn pairs_of(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

fn count<K: std::hash::Hash + Eq>(keys: impl Iterator<Item = K>) -> HashMap<K, u64> {
    let mut counts = HashMap::new();
    for k in keys {
        *counts.entry(k).or_insert(0) += 1;
    }
    counts
}

fn get<K: std::hash::Hash + Eq>(counts: &HashMap<K, u64>, key: &K) -> u64 {
    counts.get(key).copied().unwrap_or(0)
}

fn pairs_within<K>(counts: &HashMap<K, u64>) -> u64 {
    counts.values().map(|&n| pairs_of(n)).sum()
}

/// Scores a clustering: `clusters[i]` is the customer record `truth[i]` landed on.
pub fn score_dedup(truth: &[Truth], clusters: &[u64]) -> Scores {
    assert_eq!(truth.len(), clusters.len(), "one cluster per record");
    let both = || truth.iter().zip(clusters);
    let grouped = || both().filter_map(|(t, &c)| t.group.map(|g| (g, c, t.entity)));
    let group_pairs = pairs_within(&count(truth.iter().filter_map(|t| t.group)))
        - pairs_within(&count(
            truth.iter().filter_map(|t| t.group.map(|g| (g, t.entity))),
        ));
    let merged =
        pairs_within(&count(grouped().map(|(g, c, _)| (g, c)))) - pairs_within(&count(grouped()));
    Scores {
        pairs: Pairs {
            truth: pairs_within(&count(truth.iter().map(|t| t.entity))),
            predicted: pairs_within(&count(clusters.iter())),
            correct: pairs_within(&count(both().map(|(t, c)| (t.entity, c)))),
        },
        hard_negative_pairs: group_pairs,
        false_merges: merged,
    }
}

/// Scores a linkage of B against A: `a_clusters[i]` is the customer of A's record i,
/// `b_matched[j]` the customer B's record j was matched to (`None`: not matched). Only
/// pairs across the sets count.
pub fn score_link(
    a: &[Truth],
    a_clusters: &[u64],
    b: &[Truth],
    b_matched: &[Option<u64>],
) -> Scores {
    assert_eq!(a.len(), a_clusters.len(), "one cluster per A record");
    assert_eq!(b.len(), b_matched.len(), "one answer per B record");
    let by_entity = count(a.iter().map(|t| t.entity));
    let by_group = count(a.iter().filter_map(|t| t.group));
    let by_group_entity = count(a.iter().filter_map(|t| t.group.map(|g| (g, t.entity))));
    let by_cluster = count(a_clusters.iter().copied());
    let by_cluster_entity = count(a.iter().zip(a_clusters).map(|(t, &c)| (c, t.entity)));
    let by_cluster_group = count(
        a.iter()
            .zip(a_clusters)
            .filter_map(|(t, &c)| t.group.map(|g| (c, g))),
    );
    let by_cluster_group_entity = count(
        a.iter()
            .zip(a_clusters)
            .filter_map(|(t, &c)| t.group.map(|g| (c, g, t.entity))),
    );
    let mut s = Scores::default();
    for (t, matched) in b.iter().zip(b_matched) {
        s.pairs.truth += get(&by_entity, &t.entity);
        if let Some(g) = t.group {
            s.hard_negative_pairs += get(&by_group, &g) - get(&by_group_entity, &(g, t.entity));
        }
        let Some(c) = *matched else { continue };
        s.pairs.predicted += get(&by_cluster, &c);
        s.pairs.correct += get(&by_cluster_entity, &(c, t.entity));
        if let Some(g) = t.group {
            s.false_merges +=
                get(&by_cluster_group, &(c, g)) - get(&by_cluster_group_entity, &(c, g, t.entity));
        }
    }
    s
}

/// What one evaluation found.
#[derive(Debug, Clone)]
pub struct Report {
    /// `dedup` or `link`.
    pub mode: &'static str,
    /// The identifiers presented.
    pub ids: Ids,
    /// Records fed (both sets for link).
    pub records: usize,
    /// The scores.
    pub scores: Scores,
    /// Records the service refused (each counts as its own customer).
    pub refused: usize,
    /// Answers by decision: unspecified, matched, new, ambiguous.
    pub decisions: [usize; 4],
    /// Wall time of the feeding.
    pub elapsed: Duration,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.scores.pairs;
        write!(
            f,
            "{} ({}): records={} precision={:.4} recall={:.4} f1={:.4} true_pairs={} \
             predicted_pairs={} hard_negative_pairs={} false_merges={} refused={} \
             matched={} new={} ambiguous={} unset={} secs={:.1}",
            self.mode,
            self.ids,
            self.records,
            p.precision(),
            p.recall(),
            p.f1(),
            p.truth,
            p.predicted,
            self.scores.hard_negative_pairs,
            self.scores.false_merges,
            self.refused,
            self.decisions[1],
            self.decisions[2],
            self.decisions[3],
            self.decisions[0],
            self.elapsed.as_secs_f64()
        )
    }
}

/// Gives customer ids small numbers, and refused records numbers of their own.
#[derive(Default)]
struct Labels {
    ids: HashMap<String, u64>,
    next: u64,
}

impl Labels {
    fn of(&mut self, customer: &str) -> u64 {
        if let Some(&n) = self.ids.get(customer) {
            return n;
        }
        let n = self.fresh();
        self.ids.insert(customer.to_owned(), n);
        n
    }

    fn fresh(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}

/// The customer each id is now (a merged-away customer answers with its survivor), so a
/// matcher that merges later still scores by where records ended.
async fn survivors<S: IdentityStore>(
    identity: &Identity<S>,
    tenant: &str,
    customers: &[Option<String>],
) -> Result<Vec<Option<String>>, Error> {
    let mut now: HashMap<String, String> = HashMap::new();
    for c in customers.iter().flatten() {
        if !now.contains_key(c) {
            let survivor = identity.profile(tenant, c).await?.customer_id;
            now.insert(c.clone(), survivor);
        }
    }
    Ok(customers
        .iter()
        .map(|c| c.as_ref().map(|c| now[c].clone()))
        .collect())
}

fn decision_slot(decision: i32) -> usize {
    match ResolveDecision::try_from(decision) {
        Ok(ResolveDecision::Matched) => 1,
        Ok(ResolveDecision::New) => 2,
        Ok(ResolveDecision::Ambiguous) => 3,
        _ => 0,
    }
}

/// Whether the record passes the checks the gRPC adapter makes before an import.
fn valid_for_import(tenant: &str, record: &ProfileRecord) -> bool {
    validate::upsert(
        UpsertProfileRequest {
            tenant_id: tenant.to_owned(),
            records: vec![record.clone()],
            idempotency_key: "linkage".to_owned(),
        },
        "",
    )
    .is_ok_and(|u| u.refused.is_empty())
}

/// Imports `records` in `batch`-sized calls; returns each record's customer (`None`:
/// refused) and the decisions.
async fn import_all<S: IdentityStore>(
    identity: &Identity<S>,
    tenant: &str,
    source: &str,
    records: &[&Record],
    ids: Ids,
    batch: usize,
) -> Result<(Vec<Option<String>>, [usize; 4]), Error> {
    let mut customers = Vec::with_capacity(records.len());
    let mut decisions = [0; 4];
    for chunk in records.chunks(batch.max(1)) {
        let mut sent = Vec::with_capacity(chunk.len());
        let mut positions = Vec::with_capacity(chunk.len());
        for r in chunk {
            let p = profile_record(r, source, ids);
            positions.push(valid_for_import(tenant, &p).then_some(sent.len()));
            if positions.last().is_some_and(Option::is_some) {
                sent.push(p);
            }
        }
        let answer = identity.import(tenant, sent).await?;
        for at in positions {
            let result = at.and_then(|i| answer.results.get(i));
            match result.filter(|r| r.error.is_empty()) {
                Some(r) => {
                    decisions[decision_slot(r.decision)] += 1;
                    customers.push(Some(r.customer_id.clone()));
                }
                None => customers.push(None),
            }
        }
    }
    Ok((customers, decisions))
}

fn label_all(labels: &mut Labels, customers: &[Option<String>]) -> Vec<u64> {
    customers
        .iter()
        .map(|c| match c {
            Some(c) => labels.of(c),
            None => labels.fresh(),
        })
        .collect()
}

/// Online dedup: `records` in an order shuffled by `seed`, imported one at a time.
pub async fn dedup<S: IdentityStore>(
    identity: &Identity<S>,
    tenant: &str,
    source: &str,
    records: &[Record],
    ids: Ids,
    seed: u64,
) -> Result<Report, Error> {
    let mut order: Vec<&Record> = records.iter().collect();
    Rng::new(seed).shuffle(&mut order);
    let began = Instant::now();
    let (customers, decisions) = import_all(identity, tenant, source, &order, ids, 1).await?;
    let elapsed = began.elapsed();
    let customers = survivors(identity, tenant, &customers).await?;
    explain_merges(&order, &customers);
    let refused = customers.iter().filter(|c| c.is_none()).count();
    let clusters = label_all(&mut Labels::default(), &customers);
    let truth: Vec<Truth> = order.iter().map(|r| Truth::from(*r)).collect();
    Ok(Report {
        mode: "dedup",
        ids,
        records: records.len(),
        scores: score_dedup(&truth, &clusters),
        refused,
        decisions,
        elapsed,
    })
}

/// Linkage: `a` imported (in batches), then each record of `b` resolved with `lookup_only`.
/// The decisions counted are B's; the elapsed time is B's resolves.
pub async fn link<S: IdentityStore>(
    identity: &Identity<S>,
    tenant: &str,
    source: &str,
    a: &[Record],
    b: &[Record],
    ids: Ids,
) -> Result<Report, Error> {
    let a_refs: Vec<&Record> = a.iter().collect();
    let (a_customers, _) = import_all(identity, tenant, source, &a_refs, ids, 500).await?;
    let a_customers = survivors(identity, tenant, &a_customers).await?;
    let mut refused = a_customers.iter().filter(|c| c.is_none()).count();
    let mut labels = Labels::default();
    let a_clusters = label_all(&mut labels, &a_customers);
    let mut decisions = [0; 4];
    let mut matched = Vec::with_capacity(b.len());
    let (mut misses, mut merges) = (explain_budget(), explain_budget());
    let began = Instant::now();
    for r in b {
        let request = ResolveRequest {
            tenant_id: tenant.to_owned(),
            identifiers: identifiers(r, ids),
            traits: Some(traits(r)),
            channel: Channel::Voice as i32,
            lookup_only: true,
            ..Default::default()
        };
        let digest = baton_auth::digest::of(&request);
        let Ok(cmd) = validate::resolve(request, "") else {
            refused += 1;
            matched.push(None);
            continue;
        };
        let answer = identity.resolve(cmd, digest).await?;
        decisions[decision_slot(answer.decision)] += 1;
        let hit = answer.decision == ResolveDecision::Matched as i32;
        if misses > 0 && !hit {
            misses -= 1;
            eprintln!("not matched: {r:?}\n  because {}", answer.reason);
        }
        if merges > 0 && hit {
            let partner = a_customers
                .iter()
                .position(|c| c.as_deref() == Some(answer.customer_id.as_str()))
                .map(|i| &a[i]);
            if let Some(other) = partner.filter(|o| o.entity != r.entity) {
                merges -= 1;
                eprintln!(
                    "false merge: {r:?}\n  with {other:?}\n  because {}",
                    answer.reason
                );
            }
        }
        matched.push(hit.then_some(answer.customer_id));
    }
    let elapsed = began.elapsed();
    let matched = survivors(identity, tenant, &matched).await?;
    // A customer no A record is on (impossible with lookup_only) gets a label of its own.
    let b_matched: Vec<Option<u64>> = matched
        .iter()
        .map(|c| c.as_ref().map(|c| labels.of(c)))
        .collect();
    let a_truth: Vec<Truth> = a.iter().map(Truth::from).collect();
    let b_truth: Vec<Truth> = b.iter().map(Truth::from).collect();
    Ok(Report {
        mode: "link",
        ids,
        records: a.len() + b.len(),
        scores: score_link(&a_truth, &a_clusters, &b_truth, &b_matched),
        refused,
        decisions,
        elapsed,
    })
}

/// Describes on stderr up to `BATON_LINKAGE_EXPLAIN` records placed with a customer that
/// an earlier record of another person is on.
fn explain_merges(records: &[&Record], customers: &[Option<String>]) {
    let mut budget = explain_budget();
    let mut first: std::collections::HashMap<&str, &Record> = std::collections::HashMap::new();
    for (r, c) in records.iter().zip(customers) {
        let Some(c) = c else { continue };
        let earlier = *first.entry(c.as_str()).or_insert(r);
        if budget > 0 && earlier.entity != r.entity {
            budget -= 1;
            eprintln!("false merge: {r:?}\n  with {earlier:?}");
        }
    }
}

/// How many unmatched B records, and how many wrongly matched ones, [`link`] describes on stderr: `BATON_LINKAGE_EXPLAIN`,
/// for looking into what a model misses (0 when unset).
fn explain_budget() -> usize {
    std::env::var("BATON_LINKAGE_EXPLAIN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Splits a generated population for linkage: A holds the originals, except those of one
/// person in ten, B every duplicate. So most B records have a partner in A, some have none
/// (the right answer is NEW), and a held-out twin's duplicates meet the other twin in A.
pub fn split_for_link(records: &[Record]) -> (Vec<Record>, Vec<Record>) {
    let a = records
        .iter()
        .filter(|r| r.copy == 0 && r.entity % 10 != 9)
        .cloned()
        .collect();
    let b = records.iter().filter(|r| r.copy > 0).cloned().collect();
    (a, b)
}

/// Reads a FEBRL data set (CSV with the header `rec_id, given_name, surname, street_number,
/// address_1, address_2, suburb, postcode, state, date_of_birth, soc_sec_id`). The person is
/// the number in `rec-<N>-org` / `rec-<N>-dup-<k>`; the date of birth is kept when
/// `YYYYMMDD` is a real date; the social security id becomes the national id. FEBRL has
/// no phone, e-mail or hard-negative labels.
pub fn read_febrl(path: &Path) -> Result<Vec<Record>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| format!("{}: empty", path.display()))?
        .split(',')
        .map(str::trim)
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("{}: no column {name}", path.display()))
    };
    let cols = [
        "rec_id",
        "given_name",
        "surname",
        "street_number",
        "address_1",
        "address_2",
        "suburb",
        "postcode",
        "state",
        "date_of_birth",
        "soc_sec_id",
    ]
    .map(column);
    let mut at = [0usize; 11];
    for (i, c) in cols.into_iter().enumerate() {
        at[i] = c?;
    }
    let mut records = Vec::new();
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let f = |i: usize| fields.get(at[i]).copied().unwrap_or_default().to_owned();
        let id = f(0);
        let entity = id
            .split('-')
            .nth(1)
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("{}:{}: rec_id {id:?}", path.display(), n + 2))?;
        let copy = u32::from(!id.ends_with("-org"));
        let street = format!("{} {}", f(3), f(4)).trim().to_owned();
        let lines: Vec<String> = [street, f(5)]
            .into_iter()
            .filter(|l| !l.is_empty())
            .collect();
        let address = Address {
            lines,
            locality: f(6),
            region: f(8),
            postal_code: f(7),
            country_code: "AU".to_owned(),
        };
        let present = !address.lines.is_empty()
            || !address.locality.is_empty()
            || !address.postal_code.is_empty();
        records.push(Record {
            id,
            entity,
            copy,
            group: None,
            given_name: f(1),
            family_name: f(2),
            date_of_birth: febrl_date(&f(9)),
            address: present.then_some(address),
            phone: None,
            email: None,
            national_id: Some(f(10)).filter(|s| !s.is_empty()),
            corruptions: Vec::new(),
        });
    }
    Ok(records)
}

fn febrl_date(text: &str) -> Option<Date> {
    if text.len() != 8 || !text.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let part = |r: std::ops::Range<usize>| text[r].parse::<i32>().ok();
    Date::new(part(0..4)?, part(4..6)?, part(6..8)?)
}

#[cfg(test)]
mod tests;
