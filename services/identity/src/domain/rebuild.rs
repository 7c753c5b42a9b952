//! RebuildIndex: the fuzzy index derived again from the profiles.
//!
//! The blocking keys and name counts are derived data: [`super::index::save`] keeps them in
//! step with every profile write, but profiles stored before fuzzy matching were never
//! filed, and a version that files profiles under other keys leaves the old ones behind. A
//! rebuild drops the tenant's blocking keys, files every profile again in batches, and then
//! replaces the name counts with a tally of what it filed, in one transaction, so term
//! frequencies never read as zero on the way.
//!
//! Writes go on meanwhile. A profile written during the rebuild is filed by its own write;
//! filing it again when the rebuild reaches it adds nothing, since membership is a set. The
//! counts are statistics (read outside conflict checks anyway): a profile renamed after the
//! rebuild counted it is counted under its old name until it is written again.

use std::collections::HashMap;

use super::index;
use crate::{
    Error,
    store::{Derived, IdentityStore},
};

/// Blocking keys dropped per transaction (by a backend that drops them a few at a time).
const CLEAR_BATCH: usize = 20_000;

/// How far a rebuild has come (see `RebuildIndexProgress` in the contract).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Profiles filed again so far.
    pub filed: u64,
    /// Profiles listed when filing began.
    pub total: u64,
    /// Distinct terms counted; set when done.
    pub terms: u64,
    /// Whether the rebuild finished.
    pub done: bool,
}

/// What one batch filed: its profiles and the terms they count.
#[derive(Clone, PartialEq, prost::Message)]
struct Filed {
    #[prost(uint64, tag = "1")]
    profiles: u64,
    #[prost(map = "string, uint64", tag = "2")]
    terms: HashMap<String, u64>,
}

/// Rebuilds `tenant`'s index, calling `report` after each step; `stop` is asked between
/// batches, and a rebuild it stops must be run again to be complete (fuzzy matching finds
/// only the profiles filed before the stop, until then).
pub async fn run<S: IdentityStore>(
    store: &S,
    tenant: &str,
    stop: impl Fn() -> bool,
    mut report: impl FnMut(Progress),
) -> Result<Progress, Error> {
    while store
        .write(tenant, None, |txn| {
            Ok(txn.clear_derived(Derived::Blocks, CLEAR_BATCH)?)
        })
        .await?
    {
        if stop() {
            return Err(Error::Stopped(
                "the index rebuild was stopped while clearing".into(),
            ));
        }
    }
    let ids = store.read(tenant, |view| Ok(view.profile_ids()?)).await?;
    let mut progress = Progress {
        total: ids.len() as u64,
        ..Progress::default()
    };
    report(progress);
    let mut tally: HashMap<String, u64> = HashMap::new();
    // As many per transaction as an import commits at once, for the same reason.
    for chunk in ids.chunks(S::IMPORT_BATCH) {
        if stop() {
            return Err(Error::Stopped(format!(
                "the index rebuild was stopped after filing {} of {} profiles",
                progress.filed, progress.total
            )));
        }
        let chunk = chunk.to_vec();
        let filed = store
            .write(tenant, None, move |txn| {
                let mut filed = Filed::default();
                for p in txn.profiles(&chunk)?.into_iter().flatten() {
                    for term in index::file(txn, &p)? {
                        *filed.terms.entry(term).or_default() += 1;
                    }
                    filed.profiles += 1;
                }
                Ok(filed)
            })
            .await?;
        for (term, n) in filed.terms {
            *tally.entry(term).or_default() += n;
        }
        progress.filed += filed.profiles;
        report(progress);
    }
    progress.terms = tally.len() as u64;
    store
        .write(tenant, None, move |txn| {
            while txn.clear_derived(Derived::Counts, usize::MAX)? {}
            for (term, n) in &tally {
                txn.count(term, i64::try_from(*n).unwrap_or(i64::MAX))?;
            }
            Ok(true)
        })
        .await?;
    progress.done = true;
    report(progress);
    Ok(progress)
}
