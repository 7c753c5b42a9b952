//! TrainMatcher: the tenant's own m and u probabilities, estimated from its profiles.
//!
//! Candidate pairs come the way queries find them (profiles sharing a blocking key), so the
//! estimate describes the pairs the decision actually meets; random pairs of the sample
//! give the u probabilities (nearly all of them are different people). Expectation–
//! maximisation then estimates the m probabilities and the share of candidate pairs that
//! are one person. The weights are stored with the tenant; every later Resolve and
//! UpsertProfile reads them.

use std::collections::{BTreeSet, HashMap};

use baton_proto::v1::{Profile, TrainMatcherResponse};
use baton_runtime::time;

use super::candidates;
use crate::{
    Error,
    compare::{self, Field, em},
    matching::blocking::{self, Members},
    standardize::{self, Person},
    store::{IdentityRead, MatchWeights},
};

/// Most profiles a training run reads.
pub const SAMPLE: usize = 20_000;

/// Candidate pairs compared when the caller does not say.
pub const DEFAULT_MAX_PAIRS: usize = 200_000;

/// Most iterations of expectation–maximisation.
const MAX_ITERATIONS: u32 = 100;

/// Comparison levels of one pair, one per [`Field::ALL`].
type Levels = Vec<Option<usize>>;

/// What the read phase collected.
struct Sample {
    profiles: u64,
    pairs: Vec<Levels>,
    random: Vec<Levels>,
}

/// Reads a sample of the tenant and compares its candidate pairs and random pairs.
fn collect<V: IdentityRead + ?Sized>(view: &V, max_pairs: usize) -> Result<Sample, Error> {
    let sample = view.sample_profiles(SAMPLE)?;
    let people: HashMap<&str, Person> = sample
        .iter()
        .filter_map(|p| {
            let person = standardize::person(p.traits.as_ref()?);
            (!person.is_empty()).then_some((p.customer_id.as_str(), person))
        })
        .collect();
    let mut pairs = Vec::new();
    let mut seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    'profiles: for p in &sample {
        let Some(a) = people.get(p.customer_id.as_str()) else {
            continue;
        };
        let keys: Vec<String> = blocking::profile_keys(p).into_iter().collect();
        for stored in view.blocks(&keys)? {
            for other in Members::decode(stored.as_deref()).ids {
                let Some((id, b)) = people.get_key_value(other.as_str()) else {
                    continue;
                };
                let pair = ordered(p.customer_id.as_str(), id);
                if pair.0 == pair.1 || !seen.insert(pair) {
                    continue;
                }
                pairs.push(levels(a, b));
                if pairs.len() >= max_pairs {
                    break 'profiles;
                }
            }
        }
    }
    let random = random_pairs(&sample, &people, max_pairs.min(pairs.len().max(1) * 4));
    Ok(Sample {
        profiles: sample.len() as u64,
        pairs,
        random,
    })
}

/// `n` pairs of distinct profiles picked evenly at random (a fixed seed, so a rerun on the
/// same data estimates the same weights).
fn random_pairs(sample: &[Profile], people: &HashMap<&str, Person>, n: usize) -> Vec<Levels> {
    let ids: Vec<&str> = sample
        .iter()
        .map(|p| p.customer_id.as_str())
        .filter(|id| people.contains_key(id))
        .collect();
    if ids.len() < 2 {
        return Vec::new();
    }
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        // SplitMix64.
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let len = ids.len() as u64;
    (0..n)
        .filter_map(|_| {
            let (i, j) = ((next() % len) as usize, (next() % len) as usize);
            (i != j).then(|| levels(&people[ids[i]], &people[ids[j]]))
        })
        .collect()
}

fn levels(a: &Person, b: &Person) -> Levels {
    let compared = compare::compare(a, b);
    Field::ALL
        .iter()
        .map(|f| {
            compared
                .iter()
                .find(|c| c.field == *f)
                .and_then(|c| c.level)
        })
        .collect()
}

fn ordered<'a>(a: &'a str, b: &'a str) -> (&'a str, &'a str) {
    if a <= b { (a, b) } else { (b, a) }
}

/// Estimates, stores and answers. `max_pairs` 0 means [`DEFAULT_MAX_PAIRS`].
pub(super) async fn run<S: crate::IdentityStore>(
    store: &S,
    tenant: &str,
    max_pairs: usize,
) -> Result<TrainMatcherResponse, Error> {
    let max_pairs = if max_pairs == 0 {
        DEFAULT_MAX_PAIRS
    } else {
        max_pairs
    };
    let (sample, start) = store
        .read(tenant, move |view| {
            Ok((collect(view, max_pairs)?, candidates::model(view)?))
        })
        .await?;
    let estimate = tokio::task::spawn_blocking(move || {
        let e = em::estimate(&start, &sample.pairs, &sample.random, MAX_ITERATIONS);
        (e, sample.profiles, sample.pairs.len() as u64)
    })
    .await
    .map_err(|e| Error::Store(baton_store::StoreError::Task(e.to_string())))?;
    let (estimate, profiles, pairs) = estimate;
    let fields = estimate.model.to_proto();
    let weights = MatchWeights {
        fields: fields.clone(),
        trained_at: Some(time::now()),
        profiles,
        pairs,
        match_share: estimate.match_share,
    };
    store
        .write(tenant, None, move |txn| {
            txn.put_weights(&weights)?;
            Ok(TrainMatcherResponse::default())
        })
        .await?;
    tracing::info!(
        profiles,
        pairs,
        iterations = estimate.iterations,
        converged = estimate.converged,
        "matcher trained"
    );
    Ok(TrainMatcherResponse {
        fields,
        profiles,
        pairs,
        iterations: estimate.iterations,
        converged: estimate.converged,
        match_share: estimate.match_share,
    })
}
