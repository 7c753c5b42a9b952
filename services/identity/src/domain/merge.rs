//! Explicit merges and their exact reversal.
//!
//! A merge folds one profile into another and writes a ledger entry holding the merged
//! profile as it was and exactly what moved to the survivor (identifiers, trait fields the
//! survivor lacked, attributes it lacked, retired ids, an earlier `customer_since`).
//! Unmerge takes exactly that back out and restores the merged profile, so a wrong merge
//! costs nothing but the time it stood.

use baton_proto::v1::{MergeProfilesResponse, PersonTraits, Profile, UnmergeProfileResponse};
use baton_runtime::time;
use uuid::Uuid;

use super::{
    index, person,
    profile::{self, Lookup},
};
use crate::{
    Error,
    normalize::IdentityKey,
    store::{AuditRecord, IdentityRead, IdentityWrite, MergeRecord},
};

/// A validated MergeProfiles request.
#[derive(Debug, Clone)]
pub struct MergeCommand {
    /// Tenant.
    pub tenant: String,
    /// The profile that remains.
    pub survivor_id: String,
    /// The profile folded in; its id is retired.
    pub merged_id: String,
    /// Why (audit).
    pub reason: String,
    /// Who asked (audit).
    pub actor_id: String,
    /// Idempotency key.
    pub idempotency_key: String,
}

/// A validated UnmergeProfile request.
#[derive(Debug, Clone)]
pub struct UnmergeCommand {
    /// Tenant.
    pub tenant: String,
    /// The merge to reverse.
    pub merge_id: String,
    /// Why (audit).
    pub reason: String,
    /// Who asked (audit).
    pub actor_id: String,
    /// Idempotency key.
    pub idempotency_key: String,
}

/// The live profile named exactly by `id`: unknown ids are NOT_FOUND and retired ones
/// FAILED_PRECONDITION (merging through a retired id would hide which profile is meant).
fn exactly<V: IdentityRead + ?Sized>(view: &V, id: &str) -> Result<Profile, Error> {
    match profile::find(view, id)? {
        Lookup::Live(p) => Ok(p),
        Lookup::Retired { survivor } => Err(Error::AlreadyMerged {
            id: id.to_owned(),
            survivor: survivor.customer_id,
        }),
        Lookup::Unknown => Err(Error::CustomerNotFound(id.to_owned())),
    }
}

/// Merges `cmd.merged_id` into `cmd.survivor_id`.
pub(super) fn merge(
    txn: &mut dyn IdentityWrite,
    cmd: &MergeCommand,
) -> Result<MergeProfilesResponse, Error> {
    if cmd.survivor_id == cmd.merged_id {
        return Err(Error::MergeIntoItself);
    }
    let now = time::now();
    let mut survivor = exactly(txn, &cmd.survivor_id)?;
    let merged = exactly(txn, &cmd.merged_id)?;
    if survivor.identifiers.len() + merged.identifiers.len() > profile::MAX_IDENTIFIERS {
        return Err(Error::TooManyIdentifiers(profile::MAX_IDENTIFIERS));
    }
    let attributes_added: std::collections::HashMap<String, String> = merged
        .attributes
        .iter()
        .filter(|(k, _)| !survivor.attributes.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if survivor.attributes.len() + attributes_added.len() > profile::MAX_ATTRIBUTES {
        return Err(Error::TooManyAttributes(profile::MAX_ATTRIBUTES));
    }

    // Identifiers: the index holds each identifier once, so none of the merged profile's
    // can already be on the survivor; every one moves.
    let mut moved = Vec::with_capacity(merged.identifiers.len());
    for linked in &merged.identifiers {
        if let Some(key) = linked.identifier.as_ref().and_then(IdentityKey::of_stored) {
            txn.set_owner(&key, &survivor.customer_id)?;
        }
        if let Some(identifier) = &linked.identifier {
            moved.push(identifier.clone());
        }
        survivor.identifiers.push(linked.clone());
    }
    let traits_filled = person::fill_empty(
        survivor.traits.get_or_insert_with(Default::default),
        &merged.traits.clone().unwrap_or_default(),
    );
    survivor.attributes.extend(attributes_added.clone());
    // Source records move whole; unmerge takes back exactly those the merged profile had.
    survivor.records.extend(merged.records.iter().cloned());
    let customer_since_before = survivor.customer_since;
    let earlier = match (survivor.customer_since, merged.customer_since) {
        (Some(s), Some(m)) => time::sort_key(&m) < time::sort_key(&s),
        (None, Some(_)) => true,
        _ => false,
    };
    if earlier {
        survivor.customer_since = merged.customer_since;
    }
    let mut retired_ids_added = vec![merged.customer_id.clone()];
    retired_ids_added.extend(merged.retired_ids.iter().cloned());
    survivor
        .retired_ids
        .extend(retired_ids_added.iter().cloned());

    profile::touch(&mut survivor, now);
    txn.retire(&merged.customer_id, &survivor.customer_id)?;
    index::remove(txn, &merged.customer_id)?;
    index::save(txn, &survivor)?;

    let merge_id = format!("mrg_{}", Uuid::now_v7());
    txn.put_merge_record(&MergeRecord {
        merge_id: merge_id.clone(),
        survivor_id: survivor.customer_id.clone(),
        merged_id: merged.customer_id.clone(),
        merged_profile: Some(merged),
        moved_identifiers: moved,
        traits_filled: Some(traits_filled),
        attributes_added,
        retired_ids_added,
        customer_since_changed: earlier,
        customer_since_before: if earlier { customer_since_before } else { None },
        merged_at: Some(now),
        reversed_at: None,
    })?;
    audit(
        txn,
        "merge",
        &merge_id,
        &survivor.customer_id,
        &cmd.merged_id,
        &cmd.actor_id,
        &cmd.reason,
    )?;
    tracing::info!(merge = %merge_id, customer = %survivor.customer_id, merged = %cmd.merged_id, "profiles merged");
    Ok(MergeProfilesResponse {
        survivor: Some(survivor),
        merge_id,
    })
}

/// Reverses one merge exactly.
pub(super) fn unmerge(
    txn: &mut dyn IdentityWrite,
    cmd: &UnmergeCommand,
) -> Result<UnmergeProfileResponse, Error> {
    let now = time::now();
    let Some(mut record) = txn.merge_record(&cmd.merge_id)? else {
        return Err(Error::MergeNotFound(cmd.merge_id.clone()));
    };
    if record.reversed_at.is_some() {
        return Err(Error::AlreadyReversed(cmd.merge_id.clone()));
    }
    let mut survivor = match profile::find(txn, &record.survivor_id)? {
        Lookup::Live(p) => p,
        Lookup::Retired { survivor } => {
            return Err(Error::SurvivorMergedSince {
                merge_id: cmd.merge_id.clone(),
                survivor: record.survivor_id.clone(),
                into: survivor.customer_id,
            });
        }
        Lookup::Unknown => return Err(Error::MergeNotFound(cmd.merge_id.clone())),
    };
    let Some(mut restored) = record.merged_profile.clone() else {
        return Err(Error::Inconsistent(
            "merge ledger entry without the merged profile",
        ));
    };

    // Identifiers go back in their current state (last seen, verified), as the survivor
    // holds them now.
    let moved: Vec<IdentityKey> = record
        .moved_identifiers
        .iter()
        .filter_map(IdentityKey::of_stored)
        .collect();
    for key in &moved {
        if let Some(pos) = survivor.identifiers.iter().position(|l| {
            l.identifier
                .as_ref()
                .and_then(IdentityKey::of_stored)
                .as_ref()
                == Some(key)
        }) {
            let linked = survivor.identifiers.remove(pos);
            if let Some(slot) = profile::linked_mut(&mut restored, key) {
                *slot = linked;
            }
        }
        txn.set_owner(key, &restored.customer_id)?;
    }
    if let Some(filled) = &record.traits_filled {
        let traits = survivor.traits.get_or_insert_with(PersonTraits::default);
        person::unfill(traits, filled);
    }
    for (key, value) in &record.attributes_added {
        if survivor.attributes.get(key) == Some(value) {
            survivor.attributes.remove(key);
        }
    }
    if record.customer_since_changed && survivor.customer_since == restored.customer_since {
        survivor.customer_since = record.customer_since_before;
    }
    survivor
        .retired_ids
        .retain(|id| !record.retired_ids_added.contains(id));
    // The records come back as the survivor holds them now (a source may have updated one
    // since the merge).
    let mut taken_back = Vec::new();
    survivor.records.retain(|r| {
        let moved = restored
            .records
            .iter()
            .any(|m| m.source == r.source && m.external_id == r.external_id);
        if moved {
            taken_back.push(r.clone());
        }
        !moved
    });
    for current in taken_back {
        if let Some(slot) = restored
            .records
            .iter_mut()
            .find(|m| m.source == current.source && m.external_id == current.external_id)
        {
            *slot = current;
        }
    }
    txn.unretire(&restored.customer_id)?;

    profile::touch(&mut survivor, now);
    // The restored profile continues its own revision history rather than rewinding it.
    restored.revision += 1;
    restored.updated_at = Some(now);
    index::save(txn, &survivor)?;
    index::save(txn, &restored)?;

    record.reversed_at = Some(now);
    txn.put_merge_record(&record)?;
    audit(
        txn,
        "unmerge",
        &cmd.merge_id,
        &survivor.customer_id,
        &restored.customer_id,
        &cmd.actor_id,
        &cmd.reason,
    )?;
    tracing::info!(merge = %cmd.merge_id, customer = %survivor.customer_id, restored = %restored.customer_id, "merge reversed");
    Ok(UnmergeProfileResponse {
        survivor: Some(survivor),
        restored: Some(restored),
    })
}

fn audit(
    txn: &mut dyn IdentityWrite,
    action: &str,
    merge_id: &str,
    customer_id: &str,
    other_customer_id: &str,
    actor_id: &str,
    reason: &str,
) -> Result<(), Error> {
    txn.append_audit(&AuditRecord {
        audit_id: Uuid::now_v7().to_string(),
        action: action.to_owned(),
        merge_id: merge_id.to_owned(),
        customer_id: customer_id.to_owned(),
        other_customer_id: other_customer_id.to_owned(),
        actor_id: actor_id.to_owned(),
        reason: reason.to_owned(),
        at: Some(time::now()),
    })?;
    Ok(())
}
