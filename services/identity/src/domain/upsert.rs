//! UpsertProfile: bulk create-or-update from a system of record (a CRM export).
//!
//! Each record is found by its external id (a CRM_ID identifier in the record's source),
//! then by its other identifiers. A record that cannot be applied (an identifier that does
//! not normalize, one linked to another customer) is refused alone, with the reason in its
//! result; the other records still apply. Either every applicable record commits or, on a
//! storage failure, none does.

use baton_proto::v1::{
    Candidate, IdentifierAssurance, IdentifierKind, PersonTraits, Profile, ProfileRecord,
    ResolveDecision, SourceRecord, UpsertProfileResponse, UpsertResult,
};
use baton_runtime::time;
use prost_types::Timestamp;

use super::{MergeCommand, candidates, index, merge, person, profile};
use crate::{
    Error,
    compare::model::Model,
    matching::Decision,
    normalize::{self, IdentityKey, Normalized},
    store::IdentityWrite,
};

/// A validated UpsertProfile request.
#[derive(Debug, Clone)]
pub struct UpsertCommand {
    /// Tenant.
    pub tenant: String,
    /// At most 500 records, each with an external id and a source.
    pub records: Vec<ProfileRecord>,
    /// Idempotency key.
    pub idempotency_key: String,
}

/// The record's identifiers normalized, its external id first (as a CRM_ID in the source).
fn identifiers(record: &ProfileRecord) -> Result<Vec<Normalized>, String> {
    let external = Normalized {
        key: IdentityKey {
            kind: IdentifierKind::CrmId,
            namespace: normalize::namespace(IdentifierKind::CrmId, &record.source),
            value: record.external_id.trim().to_owned(),
        },
        // The source system supplied it; the customer never proved anything with it.
        assurance: IdentifierAssurance::Observed,
    };
    let mut all = vec![external];
    for (j, raw) in record.identifiers.iter().enumerate() {
        match normalize::identifier(raw) {
            Ok(n) => all.push(n),
            Err(invalid) => return Err(format!("identifiers[{j}].{invalid}")),
        }
    }
    Ok(profile::dedupe(all))
}

/// Applies every record in one transaction.
pub(super) fn apply(
    txn: &mut dyn IdentityWrite,
    cmd: &UpsertCommand,
) -> Result<UpsertProfileResponse, Error> {
    let now = time::now();
    let model = candidates::model(txn)?;
    let mut results = Vec::with_capacity(cmd.records.len());
    for record in &cmd.records {
        let mut result = UpsertResult {
            external_id: record.external_id.clone(),
            ..Default::default()
        };
        match upsert_one(txn, &model, &cmd.tenant, record, now)? {
            Ok(placed) => {
                result.customer_id = placed.customer_id;
                result.created = placed.created;
                result.decision = placed.decision as i32;
                result.candidates = placed.candidates;
                result.unchanged = placed.unchanged;
                result.merge_id = placed.merge_id;
            }
            Err(refused) => result.error = refused,
        }
        results.push(result);
    }
    let refused = results.iter().filter(|r| !r.error.is_empty()).count();
    tracing::info!(records = results.len(), refused, "profiles upserted");
    Ok(UpsertProfileResponse { results })
}

/// Where a record went.
struct Placed {
    customer_id: String,
    created: bool,
    decision: ResolveDecision,
    candidates: Vec<Candidate>,
    unchanged: bool,
    /// The ledger entry of a join by matching (empty otherwise).
    merge_id: String,
}

/// Most candidates a result lists.
const MAX_RESULT_CANDIDATES: usize = 3;

/// One record: `Ok(Ok(placed))` applied, `Ok(Err(why))` refused (nothing written for it),
/// `Err` a storage failure that aborts the batch.
///
/// A record whose external id is on file updates that customer (the source is the authority
/// for what it sends). A new external id is placed the way Resolve decides: it joins the
/// customer its identifiers or traits match, or starts a customer of its own (AMBIGUOUS when
/// candidates came close: an identifier already linked to someone else then stays there).
fn upsert_one(
    txn: &mut dyn IdentityWrite,
    model: &Model,
    tenant: &str,
    record: &ProfileRecord,
    now: Timestamp,
) -> Result<Result<Placed, String>, Error> {
    let presented = match identifiers(record) {
        Ok(p) => p,
        Err(why) => return Ok(Err(why)),
    };
    let found = candidates::find(txn, model, &presented, record.traits.as_ref())?;
    let owners = &found.owners;
    let close = || -> Vec<Candidate> {
        found
            .ranked
            .iter()
            .take(MAX_RESULT_CANDIDATES)
            .map(|s| s.candidate.clone())
            .collect()
    };
    let distinct: std::collections::BTreeSet<&String> = owners.iter().flatten().collect();
    if owners[0].is_none() && distinct.len() > 1 {
        return Ok(Err(
            "identifiers are linked to different customers".to_owned()
        ));
    }
    // Position 0 is the external id.
    let (target, decision, joined) = match (&owners[0], &found.decision) {
        (Some(known), _) => (
            found.profile(known).cloned(),
            ResolveDecision::Matched,
            false,
        ),
        (None, Decision::Matched { customer_id, .. }) => (
            found.profile(customer_id).cloned(),
            ResolveDecision::Matched,
            true,
        ),
        (None, Decision::Ambiguous { .. }) => (None, ResolveDecision::Ambiguous, false),
        (None, Decision::New { .. }) => (None, ResolveDecision::New, false),
    };
    if target.is_none() && decision == ResolveDecision::Matched {
        return Err(Error::Inconsistent("matched customer has no profile"));
    }
    // What this record links: everything, except on a customer of its own the identifiers
    // already linked elsewhere (they stay with their customer).
    let mut linking = Vec::with_capacity(presented.len());
    for (i, (n, owner)) in presented.iter().zip(owners).enumerate() {
        match (owner, &target) {
            (Some(o), Some(t)) if *o != t.customer_id => {
                let j = record_position(record, &presented[i]);
                return Ok(Err(format!(
                    "identifiers[{j}] is linked to another customer"
                )));
            }
            (Some(_), None) => {}
            _ => linking.push(n.clone()),
        }
    }
    let created = target.is_none();
    let original = target.clone();
    let mut p =
        target.unwrap_or_else(|| profile::new_profile(tenant, profile::new_customer_id(), now));
    let mut attributes = p.attributes.clone();
    attributes.extend(record.attributes.clone());
    if attributes.len() > profile::MAX_ATTRIBUTES {
        return Ok(Err(format!(
            "attributes would exceed {} entries on the profile",
            profile::MAX_ATTRIBUTES
        )));
    }
    let mut staged = p.clone();
    for n in &linking {
        match profile::attach(&mut staged, n, now) {
            Ok(_) => {}
            Err(Error::TooManyIdentifiers(max)) => {
                return Ok(Err(format!("the profile would exceed {max} identifiers")));
            }
            Err(e) => return Err(e),
        }
    }
    // Every check passed: stage the rest and write.
    if joined {
        return join(txn, tenant, record, &linking, &p.customer_id, &found, now).map(
            |(customer_id, merge_id)| {
                Ok(Placed {
                    customer_id,
                    created: false,
                    decision,
                    candidates: close(),
                    unchanged: false,
                    merge_id,
                })
            },
        );
    }
    for n in &linking {
        profile::link(txn, &mut p, n, now)?;
    }
    p.attributes = attributes;
    let traits = record.traits.clone().unwrap_or_default();
    let source = &presented[0].key.namespace;
    let external_id = record.external_id.trim();
    let record_changed = !p.records.iter().any(|r| {
        &r.source == source && r.external_id == external_id && r.traits.as_ref() == Some(&traits)
    });
    let on_record = p.traits.get_or_insert_with(Default::default);
    if record_changed {
        // The source changed what it holds: it is the authority for what it sends.
        person::replace_present(on_record, &traits);
    }
    if let Some(since) = record.customer_since {
        p.customer_since = Some(since);
    }
    keep_record(&mut p, source, external_id, traits, now);
    let placed = |p: &Profile, unchanged| Placed {
        customer_id: p.customer_id.clone(),
        created,
        decision,
        candidates: if owners[0].is_some() {
            Vec::new()
        } else {
            close()
        },
        unchanged,
        merge_id: String::new(),
    };
    if original.as_ref() == Some(&p) {
        return Ok(Ok(placed(&p, true)));
    }
    profile::touch(&mut p, now);
    index::save(txn, &p)?;
    Ok(Ok(placed(&p, false)))
}

/// Who the ledger names for joins the matcher made.
pub const MATCHER_ACTOR: &str = "identity-matcher";

/// A record with a new external id that matched `survivor_id` on its traits: it becomes a
/// customer of its own for a moment and is merged into the survivor at once, so the join is a
/// merge like any other, in the ledger with the matcher's score and reason, and
/// `UnmergeProfile` takes the record back out exactly. Returns the survivor's id and the
/// merge id.
fn join(
    txn: &mut dyn IdentityWrite,
    tenant: &str,
    record: &ProfileRecord,
    linking: &[Normalized],
    survivor_id: &str,
    found: &candidates::Found,
    now: Timestamp,
) -> Result<(String, String), Error> {
    let mut own = profile::new_profile(tenant, profile::new_customer_id(), now);
    for n in linking {
        profile::link(txn, &mut own, n, now)?;
    }
    let traits = record.traits.clone().unwrap_or_default();
    own.traits = Some(traits.clone());
    own.attributes = record.attributes.clone();
    own.customer_since = record.customer_since;
    keep_record(
        &mut own,
        &linking[0].key.namespace,
        record.external_id.trim(),
        traits,
        now,
    );
    profile::touch(&mut own, now);
    index::save(txn, &own)?;
    let score = found
        .ranked
        .iter()
        .find(|s| s.candidate.customer_id == survivor_id)
        .map_or(0.0, |s| s.weight);
    let why = match &found.decision {
        Decision::Matched { reason, .. } => reason.as_str(),
        _ => "matched",
    };
    // The ledger's reason is at most 256 bytes, like a caller's.
    let reason = baton_runtime::validate::cut(
        format!(
            "record {} joined by matching, weight {score:.1}: {why}",
            record.external_id.trim()
        ),
        256,
    );
    let merged = merge::merge(
        txn,
        &MergeCommand {
            tenant: tenant.to_owned(),
            survivor_id: survivor_id.to_owned(),
            merged_id: own.customer_id,
            reason,
            actor_id: MATCHER_ACTOR.to_owned(),
            idempotency_key: String::new(),
        },
    )?;
    Ok((survivor_id.to_owned(), merged.merge_id))
}

/// Files the record's traits on the profile under its source and external id, replacing an
/// earlier version of the same record; an unchanged record is left as it was (with its time).
fn keep_record(
    p: &mut Profile,
    source: &str,
    external_id: &str,
    traits: PersonTraits,
    now: Timestamp,
) {
    let entry = SourceRecord {
        source: source.to_owned(),
        external_id: external_id.to_owned(),
        traits: Some(traits),
        updated_at: Some(now),
    };
    match p
        .records
        .iter_mut()
        .find(|r| r.source == source && r.external_id == external_id)
    {
        Some(existing) if existing.traits == entry.traits => {}
        Some(existing) => *existing = entry,
        None => p.records.push(entry),
    }
}

/// The request position of a normalized identifier, for error texts.
fn record_position(record: &ProfileRecord, n: &Normalized) -> usize {
    record
        .identifiers
        .iter()
        .position(|raw| normalize::identifier(raw).is_ok_and(|m| m.key == n.key))
        .unwrap_or_default()
}
