//! Operations on one customer: fetch, link an identifier, erase.

use baton_proto::v1::{ForgetCustomerResponse, LinkIdentifierResponse, Profile};
use baton_runtime::time;
use uuid::Uuid;

use super::index;
use super::profile::{self, Linked};
use crate::{
    Error,
    normalize::Normalized,
    store::{AuditRecord, IdentityRead, IdentityWrite},
};

/// A validated LinkIdentifier request.
#[derive(Debug, Clone)]
pub struct LinkCommand {
    /// Tenant.
    pub tenant: String,
    /// The customer (a retired id is followed to its survivor).
    pub customer_id: String,
    /// The normalized identifier.
    pub identifier: Normalized,
    /// Idempotency key.
    pub idempotency_key: String,
}

/// A validated ForgetCustomer request.
#[derive(Debug, Clone)]
pub struct ForgetCommand {
    /// Tenant.
    pub tenant: String,
    /// The customer (a retired id erases the survivor it resolves to).
    pub customer_id: String,
    /// Why, for the audit trail.
    pub reason: String,
    /// Idempotency key.
    pub idempotency_key: String,
}

/// The live profile for `customer_id`, following a retired id to its survivor.
pub(super) fn get<V: IdentityRead + ?Sized>(view: &V, customer_id: &str) -> Result<Profile, Error> {
    profile::live(view, customer_id)?.ok_or_else(|| Error::CustomerNotFound(customer_id.to_owned()))
}

/// Links one identifier. Already on this customer: a no-op that may mark it verified.
pub(super) fn link(
    txn: &mut dyn IdentityWrite,
    cmd: &LinkCommand,
) -> Result<LinkIdentifierResponse, Error> {
    let now = time::now();
    let mut p = get(txn, &cmd.customer_id)?;
    if let Some(owner) = profile::owner(txn, &cmd.identifier.key)?
        && owner.customer_id != p.customer_id
    {
        return Err(Error::LinkedElsewhere);
    }
    match profile::link(txn, &mut p, &cmd.identifier, now)? {
        Linked::Unchanged => {}
        Linked::Added | Linked::Upgraded => {
            profile::touch(&mut p, now);
            index::save(txn, &p)?;
            tracing::info!(customer = %p.customer_id, "identifier linked");
        }
    }
    Ok(LinkIdentifierResponse { profile: Some(p) })
}

/// Erases a customer: the profile, its index entries, the ids retired into it, its merge
/// ledger entries (they hold profile snapshots) and remembered answers that name it. The
/// audit trail keeps that an erasure happened, with ids only.
pub(super) fn forget(
    txn: &mut dyn IdentityWrite,
    cmd: &ForgetCommand,
) -> Result<ForgetCustomerResponse, Error> {
    // Erasure cannot be undone, so it names its target exactly: a retired id is refused
    // rather than followed, since erasing the survivor would also erase whoever it was merged
    // with if that merge was a mistake. Erase the survivor, or unmerge first.
    let p = match profile::find(txn, &cmd.customer_id)? {
        profile::Lookup::Live(p) => p,
        profile::Lookup::Retired { survivor } => {
            return Err(Error::AlreadyMerged {
                id: cmd.customer_id.clone(),
                survivor: survivor.customer_id,
            });
        }
        profile::Lookup::Unknown => {
            return Ok(ForgetCustomerResponse {
                found: false,
                records_removed: 0,
            });
        }
    };
    let mut removed = 0u64;
    for key in profile::keys(&p) {
        removed += u64::from(txn.remove_owner(&key)?);
    }
    let mut ids = vec![p.customer_id.clone()];
    for retired in &p.retired_ids {
        removed += u64::from(txn.unretire(retired)?);
        ids.push(retired.clone());
    }
    for id in &ids {
        for merge_id in txn.merges_involving(id)? {
            removed += u64::from(txn.remove_merge_record(&merge_id)?);
        }
    }
    removed += u64::from(index::remove(txn, &p.customer_id)?);
    removed += txn.forget_answers_mentioning(&ids)?;
    txn.append_audit(&AuditRecord {
        audit_id: Uuid::now_v7().to_string(),
        action: "forget".to_owned(),
        customer_id: p.customer_id.clone(),
        reason: cmd.reason.clone(),
        at: Some(time::now()),
        ..Default::default()
    })?;
    tracing::info!(customer = %p.customer_id, records_removed = removed, "customer erased");
    Ok(ForgetCustomerResponse {
        found: true,
        records_removed: removed,
    })
}
