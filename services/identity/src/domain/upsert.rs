//! UpsertProfile: bulk create-or-update from a system of record (a CRM export).
//!
//! Each record is found by its external id (a CRM_ID identifier in the record's source),
//! then by its other identifiers. A record that cannot be applied (an identifier that does
//! not normalize, one linked to another customer) is refused alone, with the reason in its
//! result; the other records still apply. Either every applicable record commits or, on a
//! storage failure, none does.

use baton_proto::v1::{
    IdentifierAssurance, IdentifierKind, ProfileRecord, UpsertProfileResponse, UpsertResult,
};
use baton_runtime::time;
use prost_types::Timestamp;

use super::{person, profile};
use crate::{
    Error,
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
    let mut results = Vec::with_capacity(cmd.records.len());
    for record in &cmd.records {
        let mut result = UpsertResult {
            external_id: record.external_id.clone(),
            ..Default::default()
        };
        match upsert_one(txn, &cmd.tenant, record, now)? {
            Ok((customer_id, created)) => {
                result.customer_id = customer_id;
                result.created = created;
            }
            Err(refused) => result.error = refused,
        }
        results.push(result);
    }
    let refused = results.iter().filter(|r| !r.error.is_empty()).count();
    tracing::info!(records = results.len(), refused, "profiles upserted");
    Ok(UpsertProfileResponse { results })
}

/// One record: `Ok(Ok((customer, created)))` applied, `Ok(Err(why))` refused (nothing
/// written for it), `Err` a storage failure that aborts the batch.
fn upsert_one(
    txn: &mut dyn IdentityWrite,
    tenant: &str,
    record: &ProfileRecord,
    now: Timestamp,
) -> Result<Result<(String, bool), String>, Error> {
    let presented = match identifiers(record) {
        Ok(p) => p,
        Err(why) => return Ok(Err(why)),
    };
    let (owners, profiles) = profile::owners(txn, presented.iter().map(|n| &n.key))?;
    // The record's own CRM id decides when it is known (its owner is the first profile
    // read); otherwise the other identifiers may name exactly one customer.
    let external_known = owners.first().is_some_and(Option::is_some);
    let mut distinct = profiles.into_iter();
    let target = match (external_known, distinct.next(), distinct.next()) {
        (true, first, _) => first,
        (false, None, _) => None,
        (false, Some(one), None) => {
            let same_source_record = profile::keys(&one).iter().any(|k| {
                k.kind == IdentifierKind::CrmId && k.namespace == presented[0].key.namespace
            });
            if same_source_record {
                return Ok(Err(
                    "identifiers are linked to a customer with another record in this source"
                        .to_owned(),
                ));
            }
            Some(one)
        }
        (false, Some(_), Some(_)) => {
            return Ok(Err(
                "identifiers are linked to different customers".to_owned()
            ));
        }
    };
    if let Some(t) = &target {
        // Index position 0 is the external id; request positions start after it.
        for (i, owner) in owners.iter().enumerate().skip(1) {
            if owner.as_ref().is_some_and(|o| *o != t.customer_id) {
                let j = record_position(record, &presented[i]);
                return Ok(Err(format!(
                    "identifiers[{j}] is linked to another customer"
                )));
            }
        }
    }
    let created = target.is_none();
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
    for n in &presented {
        match profile::attach(&mut staged, n, now) {
            Ok(_) => {}
            Err(Error::TooManyIdentifiers(max)) => {
                return Ok(Err(format!("the profile would exceed {max} identifiers")));
            }
            Err(e) => return Err(e),
        }
    }
    // Every check passed: write.
    for n in &presented {
        profile::link(txn, &mut p, n, now)?;
    }
    p.attributes = attributes;
    if let Some(traits) = &record.traits {
        person::replace_present(p.traits.get_or_insert_with(Default::default), traits);
    }
    if let Some(since) = record.customer_since {
        p.customer_since = Some(since);
    }
    profile::touch(&mut p, now);
    txn.put_profile(&p)?;
    Ok(Ok((p.customer_id, created)))
}

/// The request position of a normalized identifier, for error texts.
fn record_position(record: &ProfileRecord, n: &Normalized) -> usize {
    record
        .identifiers
        .iter()
        .position(|raw| normalize::identifier(raw).is_ok_and(|m| m.key == n.key))
        .unwrap_or_default()
}
